//! Building a job: [`JobBuilder`] adds steps, [`StepBuilder`] describes one, [`StepHandle`]
//! names a step's typed output.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{BoxError, DefinitionError, DefinitionErrorKind};
use crate::intercept::{Interceptor, Interceptors};
use crate::mode::{Local, Mode, Sendable};
use crate::retry::RetryPolicy;

use super::definition::{JobDefinition, StepDef};
pub use super::handle::StepHandle;
use super::parents::{Dependencies, IntoParents, Parents, SendParents};
use crate::topology::{StepMeta, Topology};

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
    nodes: Vec<Box<dyn StepDef<I, M>>>,
    names: HashSet<Arc<str>>,
    interceptors: Interceptors,
    fail_fast: bool,
    /// A step has a retry policy or a timeout.
    needs_timer: bool,
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

    /// Seals the definition: no step can be added any more, and it can be started any number
    /// of times, concurrently.
    pub fn seal(mut self) -> JobDefinition<I, M> {
        // The one place that decides which steps run the full step body.
        if !self.interceptors.is_empty() {
            for meta in &mut self.steps {
                meta.needs_context = true;
            }
        }
        let roots = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, meta)| meta.dependency_count() == 0)
            .map(|(index, _)| index)
            .collect();
        let topology = Topology {
            id: self.id,
            name: self.name,
            steps: self.steps,
            roots,
            interceptors: self.interceptors,
            fail_fast: self.fail_fast,
            needs_timer: self.needs_timer,
        };
        JobDefinition::new(Arc::new(topology), self.nodes)
    }

    /// Checks a new step against the definition; returns its data and ordering dependencies.
    fn check(
        &self,
        name: &Arc<str>,
        parents: &dyn Dependencies,
        order: &[(u64, usize, Arc<str>)],
    ) -> Result<(Vec<usize>, Vec<usize>), DefinitionError> {
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
                data.push(dep.index);
            }
        });
        let mut ordering = Vec::with_capacity(order.len());
        for (definition, index, dep) in order {
            if *definition != self.id {
                foreign.get_or_insert_with(|| dep.clone());
            }
            ordering.push(*index);
        }
        if let Some(dep) = foreign {
            return Err(error(DefinitionErrorKind::ForeignHandle, Some(&dep)));
        }
        let mut seen = HashSet::with_capacity(data.len() + ordering.len());
        for &index in data.iter().chain(&ordering) {
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
        (data, order): (Vec<usize>, Vec<usize>),
        needs_context: bool,
        node: Box<dyn StepDef<I, M>>,
    ) -> usize {
        let index = self.steps.len();
        for &parent in data.iter().chain(&order) {
            self.steps[parent].children.push(index);
        }
        self.names.insert(name.clone());
        self.steps.push(StepMeta {
            name,
            data,
            order,
            children: Vec::new(),
            needs_context,
        });
        self.nodes.push(node);
        index
    }
}

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
pub struct StepBuilder<'a, I, M: Mode, P = NoParents> {
    job: &'a mut JobBuilder<I, M>,
    name: Arc<str>,
    parents: P,
    order: Vec<(u64, usize, Arc<str>)>,
    options: StepOptions,
}

impl<I, M: Mode, P> fmt::Debug for StepBuilder<'_, I, M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBuilder")
            .field("job", &self.job.name)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'a, I, M: Mode, P> StepBuilder<'a, I, M, P> {
    /// Makes the step wait for `dependencies` (a handle, a tuple of handles or a `Vec` of
    /// handles) without taking their outputs: go-asyncjob's `ExecuteAfter`. Can be called more
    /// than once.
    pub fn wait_for<D: Dependencies>(mut self, dependencies: D) -> Self {
        dependencies.visit(&mut |dep| {
            self.order
                .push((dep.definition, dep.index, dep.name.clone()));
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
}

impl<'a, I, M: Mode> StepBuilder<'a, I, M, NoParents> {
    /// Makes the step take the outputs of `parents`, and run once they have succeeded.
    ///
    /// `parents` is one handle (the function receives its output), a tuple of handles (a tuple
    /// of outputs) or a `Vec` or slice of handles of one type (a `Vec` of outputs). See
    /// [`IntoParents`].
    pub fn after<P: IntoParents>(self, parents: P) -> StepBuilder<'a, I, M, P::Parents> {
        StepBuilder {
            job: self.job,
            name: self.name,
            parents: parents.into_parents(),
            order: self.order,
            options: self.options,
        }
    }

    pub(crate) fn without_parents(self) -> StepBuilder<'a, I, M, ()> {
        StepBuilder {
            job: self.job,
            name: self.name,
            parents: (),
            order: self.order,
            options: self.options,
        }
    }
}

impl<'a, I, M: Mode, P: Dependencies> StepBuilder<'a, I, M, P> {
    fn finish<O>(
        self,
        make: impl FnOnce(P, StepOptions) -> Box<dyn StepDef<I, M>>,
    ) -> Result<StepHandle<O>, DefinitionError> {
        self.finish_step(false, make)
    }

    /// Checks and adds the step made by `make`; `with_context`: its function takes the step
    /// context ([`crate::step`] adds such steps), so it runs the full step body.
    pub(crate) fn finish_step<O>(
        self,
        with_context: bool,
        make: impl FnOnce(P, StepOptions) -> Box<dyn StepDef<I, M>>,
    ) -> Result<StepHandle<O>, DefinitionError> {
        let dependencies = self.job.check(&self.name, &self.parents, &self.order)?;
        let needs_context = with_context || !self.options.is_plain();
        self.job.needs_timer |= self.options.retry.is_some() || self.options.timeout.is_some();
        let node = make(self.parents, self.options);
        let index = self
            .job
            .push(self.name.clone(), dependencies, needs_context, node);
        Ok(StepHandle::new(self.job.id, index, self.name))
    }
}

/// Marks the types a step node's function works with, without owning any.
type Types<Fut, O, E> = PhantomData<fn() -> (Fut, O, E)>;

/// How a step is run beyond its function: retry policy and timeout.
#[derive(Clone, Default)]
pub(crate) struct StepOptions {
    pub(crate) retry: Option<Arc<dyn RetryPolicy>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) interceptors: Interceptors,
}

impl StepOptions {
    fn is_plain(&self) -> bool {
        self.retry.is_none() && self.timeout.is_none() && self.interceptors.is_empty()
    }
}

/// A step's function and options, shared by every run.
pub(crate) struct StepFn<F> {
    pub(crate) function: F,
    pub(crate) options: StepOptions,
}

/// The step node of a definition: its parents and its function. How it runs is the step
/// layer's business ([`crate::step`]).
pub(crate) struct StepNode<P, F, Fut, O, E> {
    pub(crate) parents: P,
    pub(crate) function: Arc<StepFn<F>>,
    _types: Types<Fut, O, E>,
}

impl<P, F, Fut, O, E> StepNode<P, F, Fut, O, E> {
    pub(crate) fn new(parents: P, function: F, options: StepOptions) -> Self {
        StepNode {
            parents,
            function: Arc::new(StepFn { function, options }),
            _types: PhantomData,
        }
    }
}

impl<'a, I> StepBuilder<'a, I, Sendable, NoParents>
where
    I: Clone + Send + Sync + 'static,
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
    {
        let function = move |input: I, (): ()| function(input);
        self.without_parents()
            .finish(|parents, options| Box::new(StepNode::new(parents, function, options)))
    }
}

impl<'a, I, P> StepBuilder<'a, I, Sendable, P>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
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
    {
        self.finish(|parents, options| Box::new(StepNode::new(parents, function, options)))
    }
}

impl<'a, I> StepBuilder<'a, I, Local, NoParents>
where
    I: Clone + 'static,
{
    /// Adds the step with its function, which receives the job input and returns a future of
    /// `Result<O, E>`; the future and `O` need not be `Send`. Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `run`.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
    {
        let function = move |input: I, (): ()| function(input);
        self.without_parents()
            .finish(|parents, options| Box::new(StepNode::new(parents, function, options)))
    }
}

impl<'a, I, P> StepBuilder<'a, I, Local, P>
where
    I: Clone + 'static,
    P: Parents<Local>,
{
    /// Adds the step with its function, which receives the job input and the outputs of the
    /// step's parents; the future and `O` need not be `Send`. Returns the step's typed handle.
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `run`.
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I, P::Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
    {
        self.finish(|parents, options| Box::new(StepNode::new(parents, function, options)))
    }
}
