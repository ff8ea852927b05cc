//! Building a job: [`JobBuilder`] adds steps, [`StepBuilder`] describes one, [`StepHandle`]
//! names a step's typed output.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{BoxError, DefinitionError, DefinitionErrorKind, JobError};
use crate::intercept::{Interceptor, Interceptors};
use crate::limit::{self, Limit};
use crate::mode::{Local, Mode, Sendable};
use crate::retry::RetryPolicy;

use super::definition::{JobDefinition, JobWithResult, SubStep};
use super::extras::{Always, Condition, Fallback, FallbackWith, NoFallback, When, WhenInput};
pub use super::handle::StepHandle;
use super::parents::{After, Dependencies, IntoParents, Parents, SendParents};
use crate::topology::{Edge, StepMeta, Topology};

/// Builds a job definition, one step at a time, then [`seal`](Self::seal)s it.
///
/// A step can only depend on steps added before it, so the graph is acyclic by construction,
/// and the order of addition is a topological order.
///
/// `I` is the job input, cloned into every step. `M` is the [mode](crate::mode): [`Sendable`]
/// (the default, for steps whose futures are `Send`) or [`Local`] (for steps that hold `Rc`,
/// `RefCell`, …).
pub struct JobBuilder<I, M: Mode = Sendable> {
    id: u64,
    name: Arc<str>,
    steps: Vec<StepMeta>,
    nodes: Vec<Box<M::Node<I>>>,
    names: HashSet<Arc<str>>,
    interceptors: Interceptors,
    fail_fast: bool,
    /// A step has a retry policy or a timeout.
    needs_timer: bool,
    max_running: Option<usize>,
}

impl<I, M: Mode> fmt::Debug for JobBuilder<I, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobBuilder")
            .field("name", &self.name)
            .field("steps", &self.steps.len())
            .finish()
    }
}

impl<I> JobBuilder<I, Sendable> {
    /// Starts a definition of `Send` steps named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self::with_mode(name)
    }

    /// Starts a definition of steps that may be `!Send` (their futures and outputs may hold
    /// `Rc`, `RefCell`, …), named `name`. Its instances run on a
    /// [`LocalExecutor`](crate::LocalExecutor).
    pub fn new_local(name: impl Into<Arc<str>>) -> JobBuilder<I, Local> {
        JobBuilder::with_mode(name)
    }
}

impl<I, M: Mode> JobBuilder<I, M> {
    fn with_mode(name: impl Into<Arc<str>>) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        JobBuilder {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            steps: Vec::new(),
            nodes: Vec::new(),
            names: HashSet::new(),
            interceptors: Interceptors::default(),
            fail_fast: false,
            needs_timer: false,
            max_running: None,
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many steps have been added.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// `true` if no step has been added.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Begins a step named `name`. Describe it with the [`StepBuilder`] methods, then add it
    /// with [`run`](StepBuilder::run).
    pub fn step(&mut self, name: impl Into<Arc<str>>) -> StepBuilder<'_, I, M> {
        StepBuilder {
            job: self,
            name: name.into(),
            parents: NoParents(()),
            order: Vec::new(),
            options: StepOptions::default(),
            condition: Always,
            fallback: NoFallback,
        }
    }

    /// Runs `interceptor` around every attempt of every step of the job (outside the steps' own
    /// interceptors): see [`intercept`](crate::intercept).
    pub fn intercept(&mut self, interceptor: impl Interceptor) -> &mut Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Makes every instance of the job fail-fast, as if started with
    /// [`JobOptions::fail_fast`](crate::JobOptions::fail_fast): the first failure cancels the rest.
    /// An instance started with
    /// [`JobOptions::continue_on_failure`](crate::JobOptions::continue_on_failure) opts out.
    pub fn fail_fast(&mut self) -> &mut Self {
        self.fail_fast = true;
        self
    }

    /// Caps every instance of the job: at most `steps` of its steps run at once (the others
    /// wait, [`AwaitingPermit`](crate::StepState::AwaitingPermit), and go by
    /// [priority](StepBuilder::priority), then in the order they became ready). An instance
    /// started with [`JobOptions::max_running`](crate::JobOptions::max_running) uses that cap
    /// instead. A step counts while an attempt runs, not while it backs off between attempts;
    /// a [map step](StepBuilder::map) counts once, however many items it runs.
    ///
    /// The instance's cap is taken before any [`Limit`] a step needs. A cap of 0 lets no step
    /// run: each fails at once ([`NoPermits`](crate::JobErrorKind::NoPermits)).
    pub fn max_running(&mut self, steps: usize) -> &mut Self {
        self.max_running = Some(steps);
        self
    }

    /// Seals the definition: no step can be added any more, and it can be started any number
    /// of times, concurrently.
    pub fn seal(mut self) -> JobDefinition<I, M> {
        // The one place that decides which steps run the full step body.
        if !self.interceptors.is_empty() {
            for meta in &mut self.steps {
                meta.needs_context = true;
            }
        }
        for meta in &mut self.steps {
            meta.failure_tolerated = !meta.children.is_empty()
                && meta.soft_children.len() == meta.children.len()
                && meta
                    .soft_children
                    .iter()
                    .all(|(_, edge)| *edge == Edge::Tolerant);
        }
        let roots = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, meta)| meta.dependency_count() == 0)
            .map(|(index, _)| index)
            .collect();
        let has_limits = self.steps.iter().any(|meta| !meta.limits.is_empty());
        let topology = Topology {
            id: self.id,
            name: self.name,
            steps: self.steps,
            roots,
            interceptors: self.interceptors,
            fail_fast: self.fail_fast,
            needs_timer: self.needs_timer,
            has_limits,
            max_running: self.max_running,
        };
        JobDefinition::new(Arc::new(topology), self.nodes)
    }

    /// Checks a new step against the definition; returns its data and ordering dependencies.
    fn check(
        &self,
        name: &Arc<str>,
        parents: &dyn Dependencies,
        order: &[(u64, usize, Arc<str>, Edge)],
    ) -> Result<Edges, DefinitionError> {
        let error = |kind, dep: Option<&Arc<str>>| {
            DefinitionError::new(kind, &self.name, name, dep.cloned())
        };
        if name.trim().is_empty() {
            return Err(error(DefinitionErrorKind::InvalidName, None));
        }
        if self.names.contains(name) {
            return Err(error(DefinitionErrorKind::DuplicateName, None));
        }
        let mut data = Vec::new();
        let mut foreign = None;
        parents.visit(&mut |dep| {
            if dep.definition != self.id {
                foreign.get_or_insert_with(|| dep.name.clone());
            } else {
                data.push((dep.index, dep.edge));
            }
        });
        let mut ordering = Vec::with_capacity(order.len());
        for (definition, index, dep, edge) in order {
            if *definition != self.id {
                foreign.get_or_insert_with(|| dep.clone());
            }
            ordering.push((*index, *edge));
        }
        if let Some(dep) = foreign {
            return Err(error(DefinitionErrorKind::ForeignHandle, Some(&dep)));
        }
        let mut seen = HashSet::with_capacity(data.len() + ordering.len());
        for &(index, _) in data.iter().chain(&ordering) {
            if !seen.insert(index) {
                let dep = self.steps[index].name.clone();
                return Err(error(DefinitionErrorKind::DuplicateDependency, Some(&dep)));
            }
        }
        Ok((data, ordering))
    }

    fn push(
        &mut self,
        name: Arc<str>,
        (data, order): Edges,
        needs_context: bool,
        (limits, priority): (Vec<Limit>, i32),
        node: Box<M::Node<I>>,
    ) -> usize {
        let index = self.steps.len();
        for &(parent, edge) in data.iter().chain(&order) {
            let parent = &mut self.steps[parent];
            parent.children.push(index);
            if edge != Edge::Strict {
                parent.soft_children.push((index, edge));
            }
        }
        // A step that takes a dependency whatever its outcome reads the dependency's error
        // from the run while it is polled: it runs the full step body.
        let tolerant = data.iter().any(|&(_, edge)| edge == Edge::Tolerant);
        self.names.insert(name.clone());
        self.steps.push(StepMeta {
            name,
            data: data.into_iter().map(|(index, _)| index).collect(),
            order: order.into_iter().map(|(index, _)| index).collect(),
            children: Vec::new(),
            soft_children: Vec::new(),
            failure_tolerated: false,
            needs_context: needs_context || tolerant,
            limits: limits.into(),
            priority,
            sub_job: None,
        });
        self.nodes.push(node);
        index
    }
}

impl<I, M: Mode> JobBuilder<I, M> {
    /// The names the steps of `sub` take when added by step `prefix`: `prefix/step`. `Err` if
    /// one is taken.
    fn sub_job_names(
        &self,
        prefix: &Arc<str>,
        sub: &Topology,
    ) -> Result<Vec<Arc<str>>, DefinitionError> {
        let mut names = Vec::with_capacity(sub.steps.len());
        for meta in &sub.steps {
            let name: Arc<str> = format!("{prefix}/{}", meta.name).into();
            if self.names.contains(&name) {
                let kind = DefinitionErrorKind::DuplicateName;
                return Err(DefinitionError::new(kind, &self.name, &name, None));
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Adds the steps of `sub` after its entry step `entry` (the last step added), named
    /// `names`: each keeps its dependencies, edges, limits and priority, and a root of the
    /// sub-job, or a step that may run although a dependency did not succeed, also depends on
    /// the entry (so every step of the sub-job runs only once the entry has made its input).
    fn splice<I2>(
        &mut self,
        entry: usize,
        sub: &JobDefinition<I2, M>,
        names: Vec<Arc<str>>,
        node: impl Fn(SubStep<I2, M>) -> Box<M::Node<I>>,
    ) {
        let topology = sub.topology();
        let base = entry + 1;
        self.needs_timer |= topology.needs_timer;
        for (position, (meta, name)) in topology.steps.iter().zip(names).enumerate() {
            let edge = |&parent: &usize| (base + parent, topology.steps[parent].edge_to(position));
            let data: Vec<(usize, Edge)> = meta.data.iter().map(edge).collect();
            let mut order: Vec<(usize, Edge)> = meta.order.iter().map(edge).collect();
            let gated = data
                .iter()
                .chain(&order)
                .all(|&(_, edge)| edge == Edge::Strict);
            if meta.dependency_count() == 0 || !gated {
                order.push((entry, Edge::Strict));
            }
            let limits = (meta.limits.to_vec(), meta.priority);
            let step = SubStep {
                sub: sub.clone(),
                position,
                entry,
            };
            let index = self.push(name, (data, order), meta.needs_context, limits, node(step));
            self.steps[index].sub_job = Some(meta.sub_job.map_or(entry, |inner| base + inner));
        }
    }
}

/// A step's data and ordering dependencies, with the kind of each edge.
type Edges = (Vec<(usize, Edge)>, Vec<(usize, Edge)>);

/// The parents of a step that has none yet: [`StepBuilder::after`] has not been called.
#[derive(Debug)]
pub struct NoParents(());

/// Describes one step: its dependencies, then its function ([`run`](Self::run), or
/// [`run_with_context`](Self::run_with_context) for a function that takes the
/// [`StepContext`](crate::StepContext)).
///
/// ```
/// # use asyncjob::JobBuilder;
/// # type E = std::convert::Infallible;
/// let mut job = JobBuilder::<u64>::new("example");
/// let a = job.step("a").run(|n| async move { Ok::<_, E>(n + 1) })?;
/// let b = job.step("b").run(|n| async move { Ok::<_, E>(format!("{n}")) })?;
/// let log = job.step("log").run(|_| async move { Ok::<_, E>(()) })?;
/// // `c` receives the outputs of `a` and `b`, and also waits for `log` (without its output).
/// let c = job
///     .step("c")
///     .after((&a, &b))
///     .wait_for(&log)
///     .run(|n, (a, b)| async move { Ok::<_, E>(format!("{n} {a} {b}")) })?;
/// # let _ = c;
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
///
/// `C` and `F` are the step's [condition](Self::when) and [fallback](Self::fallback), if it has
/// them ([`Always`] and [`NoFallback`] if not).
pub struct StepBuilder<'a, I, M: Mode, P = NoParents, C = Always, F = NoFallback> {
    job: &'a mut JobBuilder<I, M>,
    name: Arc<str>,
    parents: P,
    order: Vec<(u64, usize, Arc<str>, Edge)>,
    options: StepOptions,
    condition: C,
    fallback: F,
}

impl<I, M: Mode, P, C, F> fmt::Debug for StepBuilder<'_, I, M, P, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBuilder")
            .field("job", &self.job.name)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'a, I, M: Mode, P, C, F> StepBuilder<'a, I, M, P, C, F> {
    /// The same step with its parents, condition and fallback replaced by `change`.
    fn rebuild<P2, C2, F2>(
        self,
        change: impl FnOnce(P, C, F) -> (P2, C2, F2),
    ) -> StepBuilder<'a, I, M, P2, C2, F2> {
        let (parents, condition, fallback) = change(self.parents, self.condition, self.fallback);
        StepBuilder {
            job: self.job,
            name: self.name,
            parents,
            order: self.order,
            options: self.options,
            condition,
            fallback,
        }
    }

    /// Makes the step wait for `dependencies` (a handle, a tuple of handles or a `Vec` of
    /// handles) without taking their outputs: go-asyncjob's `ExecuteAfter`. Can be called more
    /// than once. A dependency wrapped in [`allow_failure`](crate::allow_failure) is waited for
    /// whatever becomes of it; one wrapped in [`optional`](crate::optional) may be omitted.
    pub fn wait_for<D: Dependencies>(mut self, dependencies: D) -> Self {
        dependencies.visit(&mut |dep| {
            self.order
                .push((dep.definition, dep.index, dep.name.clone(), dep.edge));
        });
        self
    }

    /// Retries the step under `policy` when an attempt fails (returns an error, panics or times
    /// out): the policy decides from the failure and the attempt number whether, and after how
    /// long, to try again. See [`Retry`](crate::retry::Retry) for the built-in policies.
    ///
    /// Every attempt calls the step function afresh, with a clone of the job input and of its
    /// parents' outputs. Failed attempts are kept in the step's
    /// [`snapshot`](crate::StepSnapshot::retried); the final error says how many attempts were
    /// made ([`JobError::attempts`](crate::JobError::attempts)).
    pub fn retry(mut self, policy: impl RetryPolicy) -> Self {
        self.options.retry = Some(Arc::new(policy));
        self
    }

    /// Fails an attempt of the step that runs longer than `limit` (its future is dropped), with
    /// an error of kind [`TimedOut`](crate::JobErrorKind::TimedOut); a
    /// [retry policy](Self::retry) may then try again. Time is measured by the executor's
    /// [`Timer`](crate::Timer).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.options.timeout = Some(limit);
        self
    }

    /// Runs `interceptor` around every attempt of this step (inside the job's interceptors):
    /// go-asyncjob's `WithContextEnrichment`. See [`intercept`](crate::intercept).
    pub fn intercept(mut self, interceptor: impl Interceptor) -> Self {
        self.options.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Makes the step need a permit of `limit` for each attempt: it waits
    /// ([`AwaitingPermit`](crate::StepState::AwaitingPermit)) while every permit is taken, and
    /// gives its permit back when it ends and while it backs off between attempts. Can be
    /// called for several limits: the step takes them one at a time, in one order common to
    /// every step (so two steps never wait for each other), and runs once it holds them all.
    /// Giving the same limit twice counts once.
    ///
    /// Called before [`map`](Self::map), the map step as a whole holds the permit while its
    /// items run; [`MapBuilder::needs`](crate::MapBuilder::needs) makes each item need one.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, Limit};
    /// # type E = std::convert::Infallible;
    /// let db = Limit::new("db", 4);
    /// let mut job = JobBuilder::<u32>::new("import");
    /// let rows = job.step("rows").needs(&db).priority(10).run(|n| async move { Ok::<_, E>(n) })?;
    /// # let _ = rows;
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    pub fn needs(mut self, limit: &Limit) -> Self {
        self.options.limits.push(limit.clone());
        self
    }

    /// Sets the step's priority (0 by default): when a [`Limit`] it needs (or the instance's
    /// [cap](JobBuilder::max_running)) has no free permit, the waiting step with the highest
    /// priority gets the next one; equal priorities are served in the order they asked. An
    /// instance can set another with [`JobOptions::priority`](crate::JobOptions::priority). A step
    /// that needs no limit is not affected.
    pub fn priority(mut self, priority: i32) -> Self {
        self.options.priority = priority;
        self
    }
}

impl<'a, I, M: Mode, F> StepBuilder<'a, I, M, NoParents, Always, F> {
    /// Makes the step take the outputs of `parents`, and run once they have succeeded.
    ///
    /// `parents` is one handle (the function receives its output), a tuple (a tuple of
    /// outputs), a `Vec` or slice of handles of one type (a `Vec` of outputs), a handle taken
    /// as [`optional`](crate::optional) or with [`allow_failure`](crate::allow_failure), or any
    /// mix of these in a tuple. See [`IntoParents`].
    pub fn after<P: IntoParents>(
        self,
        parents: P,
    ) -> StepBuilder<'a, I, M, After<P::Parents>, Always, F> {
        self.rebuild(|_, _, kept| (After(parents.into_parents()), Always, kept))
    }

    /// Makes the step conditional: when its dependencies allow it to run, `condition` is asked
    /// first, with the job input, and if it returns `false` the step is
    /// [omitted](crate::StepState::Omitted): its function is not called, and the job does not
    /// fail. Its dependents are omitted too, unless they take it as
    /// [`optional`](crate::optional) (they get `None`) or with
    /// [`allow_failure`](crate::allow_failure). A panicking condition fails the step.
    ///
    /// For a step with parents, call `when` after [`after`](Self::after): its condition then
    /// takes the parents' outputs too.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// # type E = std::convert::Infallible;
    /// struct Release { dry_run: bool }
    /// # impl Clone for Release { fn clone(&self) -> Self { Release { dry_run: self.dry_run } } }
    /// let mut job = JobBuilder::<Release>::new("release");
    /// let build = job.step("build").run(|_| async { Ok::<_, E>(42) })?;
    /// let publish = job.step("publish").after(&build)
    ///     .when(|release: &Release, _artifact: &i32| !release.dry_run)
    ///     .run(|_, artifact| async move { Ok::<_, E>(artifact) })?;
    /// let job = job.seal();
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(Release { dry_run: true });
    /// futures::executor::block_on(run.wait())?; // an omitted step is not a failure
    /// assert_eq!(run.step(&publish).unwrap().state, StepState::Omitted);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn when<G>(self, condition: G) -> StepBuilder<'a, I, M, NoParents, WhenInput<G>, F>
    where
        G: Fn(&I) -> bool + Send + Sync + 'static,
    {
        self.rebuild(|kept, _, fallback| (kept, WhenInput(condition), fallback))
    }
}

impl<'a, I, M: Mode, P: Parents<M>, F> StepBuilder<'a, I, M, P, Always, F> {
    /// Makes the step conditional, on the job input and its parents' outputs: see the root
    /// steps' [`when`](StepBuilder::when).
    pub fn when<G>(self, condition: G) -> StepBuilder<'a, I, M, P, When<G>, F>
    where
        G: Fn(&I, &P::Output) -> bool + Send + Sync + 'static,
    {
        self.rebuild(|kept, _, fallback| (kept, When(condition), fallback))
    }
}

impl<'a, I, M: Mode, P, C> StepBuilder<'a, I, M, P, C, NoFallback> {
    /// Gives the step a fallback (uber-go/cff's `FallbackWith`): when the step fails — its last
    /// attempt returned an error, panicked or timed out, after any retries — `fallback` makes
    /// its output from the error instead, and the step ends
    /// [`Recovered`](crate::StepState::Recovered): failed and recovered. Its dependents run with
    /// that output, and the job does not fail; the step's snapshot keeps the error.
    ///
    /// A step skipped because a dependency failed, or cancelled, does not fall back. A
    /// panicking fallback fails the step.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// let mut job = JobBuilder::<()>::new("prices");
    /// let rate = job.step("rate")
    ///     .fallback(|_error| 1.0)
    ///     .run(|_| async { Err::<f64, _>("rates service is down") })?;
    /// let job = job.seal().with_result(&rate)?;
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(());
    /// assert_eq!(futures::executor::block_on(run.result())?, 1.0);
    /// let step = run.step(&rate).unwrap();
    /// assert_eq!(step.state, StepState::Recovered);
    /// assert!(step.error.is_some()); // what it recovered from
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallback<G, O>(self, fallback: G) -> StepBuilder<'a, I, M, P, C, FallbackWith<G>>
    where
        G: Fn(&JobError) -> O + Send + Sync + 'static,
    {
        self.rebuild(|parents, condition, _| (parents, condition, FallbackWith(fallback)))
    }
}

impl<'a, I, M: Mode, C, F> StepBuilder<'a, I, M, NoParents, C, F> {
    pub(crate) fn without_parents(self) -> StepBuilder<'a, I, M, (), C, F> {
        self.rebuild(|_, condition, fallback| ((), condition, fallback))
    }
}

impl<'a, I, M: Mode, P: Dependencies, C, F> StepBuilder<'a, I, M, P, C, F> {
    /// Checks and adds the step made by `make`; `with_context`: its function takes the step
    /// context ([`crate::step`] adds such steps), so it runs the full step body, as a step
    /// with a condition or a fallback does.
    /// `Err` if the step itself needs one of `limits` (those its items need, for a map).
    pub(crate) fn check_item_limits(&self, limits: &[Limit]) -> Result<(), DefinitionError> {
        let shared = self
            .options
            .limits
            .iter()
            .find(|limit| limits.iter().any(|item| item.same_as(limit)));
        match shared {
            None => Ok(()),
            Some(limit) => Err(DefinitionError::new(
                DefinitionErrorKind::LimitNeededTwice,
                &self.job.name,
                &self.name,
                Some(limit.name_arc().clone()),
            )),
        }
    }

    /// Checks and adds the entry step made by `make`, then the steps of `sub` after it (see
    /// [`StepBuilder::job`]); returns the handle of `sub`'s result step in this definition.
    pub(crate) fn finish_sub_job<I2, O2, A>(
        self,
        sub: &JobWithResult<I2, O2, M>,
        make: impl FnOnce(P, StepOptions, C, F) -> Box<M::Node<I>>,
        node: impl Fn(SubStep<I2, M>) -> Box<M::Node<I>>,
    ) -> Result<StepHandle<O2>, DefinitionError>
    where
        C: Condition<I, A>,
        O2: Clone + 'static,
    {
        let options = &self.options;
        if !options.is_plain() || !options.limits.is_empty() || options.priority != 0 {
            let kind = DefinitionErrorKind::SubJobOption;
            return Err(DefinitionError::new(kind, &self.job.name, &self.name, None));
        }
        let names = self.job.sub_job_names(&self.name, sub.topology())?;
        let dependencies = self.job.check(&self.name, &self.parents, &self.order)?;
        let result = sub.result_step().index();
        let result_name = names.get(result).cloned().unwrap_or_default();
        let entry_node = make(self.parents, self.options, self.condition, self.fallback);
        let job = self.job;
        let entry = job.push(
            self.name,
            dependencies,
            C::PRESENT,
            (Vec::new(), 0),
            entry_node,
        );
        job.splice(entry, sub.definition(), names, node);
        Ok(StepHandle::new(job.id, entry + 1 + result, result_name))
    }

    pub(crate) fn finish_step<O, A>(
        self,
        with_context: bool,
        make: impl FnOnce(P, StepOptions, C, F) -> Box<M::Node<I>>,
    ) -> Result<StepHandle<O>, DefinitionError>
    where
        C: Condition<I, A>,
        F: Fallback<O>,
    {
        let dependencies = self.job.check(&self.name, &self.parents, &self.order)?;
        let needs_context = with_context || !self.options.is_plain() || C::PRESENT || F::PRESENT;
        self.job.needs_timer |= self.options.retry.is_some() || self.options.timeout.is_some();
        let mut limits = self.options.limits.clone();
        limit::acquisition_order(&mut limits);
        let limits = (limits, self.options.priority);
        let node = make(self.parents, self.options, self.condition, self.fallback);
        let index = self
            .job
            .push(self.name.clone(), dependencies, needs_context, limits, node);
        Ok(StepHandle::new(self.job.id, index, self.name))
    }
}

/// Marks the types a step node's function works with, without owning any.
pub(crate) type Types<Fut, O, E> = PhantomData<fn() -> (Fut, O, E)>;

/// How a step is run beyond its function: retry policy, timeout, interceptors, limits and
/// priority.
#[derive(Clone, Default)]
pub(crate) struct StepOptions {
    pub(crate) retry: Option<Arc<dyn RetryPolicy>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) interceptors: Interceptors,
    /// The limits the step needs (kept in its [`StepMeta`]: the engine takes them).
    pub(crate) limits: Vec<Limit>,
    pub(crate) priority: i32,
}

impl StepOptions {
    fn is_plain(&self) -> bool {
        self.retry.is_none() && self.timeout.is_none() && self.interceptors.is_empty()
    }
}

/// A step's function, options, condition and fallback, shared by every run.
pub(crate) struct StepFn<F, C = Always, Fb = NoFallback> {
    pub(crate) function: F,
    pub(crate) options: StepOptions,
    pub(crate) condition: C,
    pub(crate) fallback: Fb,
}

/// The step node of a definition: its parents and its function. How it runs is the step
/// layer's business ([`crate::step`]).
pub(crate) struct StepNode<P, F, Fut, O, E, C = Always, Fb = NoFallback> {
    pub(crate) parents: P,
    pub(crate) function: Arc<StepFn<F, C, Fb>>,
    _types: Types<Fut, O, E>,
}

impl<P, F, Fut, O, E, C, Fb> StepNode<P, F, Fut, O, E, C, Fb> {
    pub(crate) fn new(
        parents: P,
        function: F,
        options: StepOptions,
        condition: C,
        fallback: Fb,
    ) -> Self {
        StepNode {
            parents,
            function: Arc::new(StepFn {
                function,
                options,
                condition,
                fallback,
            }),
            _types: PhantomData,
        }
    }
}

impl<'a, I, C, Fb> StepBuilder<'a, I, Sendable, NoParents, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    C: Condition<I, ()>,
{
    /// Adds the step with its function, which receives the job input and returns a future of
    /// `Result<O, E>`. Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// A [`DefinitionError`] naming the step if its name is blank or taken, or if a
    /// [`wait_for`](Self::wait_for) dependency belongs to another definition or is repeated.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = move |input: I, (): ()| function(input);
        self.without_parents()
            .finish_step(false, |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            })
    }
}

impl<'a, I, P, C, Fb> StepBuilder<'a, I, Sendable, P, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    C: Condition<I, P::Output>,
{
    /// Adds the step with its function, which receives the job input and the outputs of the
    /// step's parents (see [`after`](Self::after)), and returns a future of `Result<O, E>`.
    /// Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// A [`DefinitionError`] naming the step if its name is blank or taken, or if a dependency
    /// belongs to another definition or is given twice.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I, P::Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        self.finish_step(false, |parents, options, condition, fallback| {
            Box::new(StepNode::new(
                parents, function, options, condition, fallback,
            ))
        })
    }
}

impl<'a, I, C, Fb> StepBuilder<'a, I, Local, NoParents, C, Fb>
where
    I: Clone + 'static,
    C: Condition<I, ()>,
{
    /// Adds the step with its function, which receives the job input and returns a future of
    /// `Result<O, E>`; the function (which may capture an `Rc`), its future and `O` need not be
    /// `Send`. Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `run`.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = move |input: I, (): ()| function(input);
        self.without_parents()
            .finish_step(false, |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            })
    }
}

impl<'a, I, P, C, Fb> StepBuilder<'a, I, Local, P, C, Fb>
where
    I: Clone + 'static,
    P: Parents<Local>,
    C: Condition<I, P::Output>,
{
    /// Adds the step with its function, which receives the job input and the outputs of the step's
    /// parents; the function (which may capture an `Rc`), its future and `O` need not be `Send`.
    /// Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `run`.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I, P::Output) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        self.finish_step(false, |parents, options, condition, fallback| {
            Box::new(StepNode::new(
                parents, function, options, condition, fallback,
            ))
        })
    }
}
