//! Building a job: [`JobBuilder`] adds steps, [`StepBuilder`] describes one, [`StepHandle`]
//! names a step's typed output.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;

use crate::definition::{JobDefinition, StepDef};
use crate::engine::{Cell, StepMeta, StepResult, Topology};
use crate::error::{BoxError, DefinitionError, DefinitionErrorKind, JobError};
use crate::mode::private::Sealed;
use crate::mode::{Local, Mode, Sendable};
use crate::parents::{Dependencies, IntoParents, Parents, SendParents};

/// The typed handle of a step: what later steps name to depend on it, and what gives its
/// output back from an instance ([`JobInstance::output`](crate::JobInstance::output)).
///
/// Handles are tied to the definition they were made by; giving one to another definition is a
/// [`DefinitionErrorKind::ForeignHandle`] error. Cheap to clone.
pub struct StepHandle<T> {
    definition: u64,
    index: usize,
    name: Arc<str>,
    _output: PhantomData<fn() -> T>,
}

impl<T> StepHandle<T> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The step's position in its definition (the order in which steps were added).
    pub fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn definition_id(&self) -> u64 {
        self.definition
    }
}

impl<T> Clone for StepHandle<T> {
    fn clone(&self) -> Self {
        StepHandle {
            definition: self.definition,
            index: self.index,
            name: self.name.clone(),
            _output: PhantomData,
        }
    }
}

impl<T> fmt::Debug for StepHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepHandle")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("output", &std::any::type_name::<T>())
            .finish()
    }
}

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
        }
    }

    /// Seals the definition: no step can be added any more, and it can be started any number
    /// of times, concurrently.
    pub fn seal(self) -> JobDefinition<I, M> {
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
        });
        self.nodes.push(node);
        index
    }
}

/// The parents of a step that has none yet: [`StepBuilder::after`] has not been called.
#[derive(Debug)]
pub struct NoParents(());

/// Describes one step: its dependencies, then its function ([`run`](Self::run)).
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
        }
    }

    fn without_parents(self) -> StepBuilder<'a, I, M, ()> {
        StepBuilder {
            job: self.job,
            name: self.name,
            parents: (),
            order: self.order,
        }
    }
}

impl<'a, I, M: Mode, P: Dependencies> StepBuilder<'a, I, M, P> {
    fn finish<O>(
        self,
        make: impl FnOnce(P) -> Box<dyn StepDef<I, M>>,
    ) -> Result<StepHandle<O>, DefinitionError> {
        let dependencies = self.job.check(&self.name, &self.parents, &self.order)?;
        let node = make(self.parents);
        let index = self.job.push(self.name.clone(), dependencies, node);
        Ok(StepHandle {
            definition: self.job.id,
            index,
            name: self.name,
            _output: PhantomData,
        })
    }
}

/// Marks the types a step node's function works with, without owning any.
type Types<Fut, O, E> = PhantomData<fn() -> (Fut, O, E)>;

/// The step node of a definition: its parents and its function.
struct StepNode<P, F, Fut, O, E> {
    parents: P,
    function: Arc<F>,
    _types: Types<Fut, O, E>,
}

impl<P, F, Fut, O, E> StepNode<P, F, Fut, O, E> {
    fn new(parents: P, function: F) -> Self {
        StepNode {
            parents,
            function: Arc::new(function),
            _types: PhantomData,
        }
    }
}

/// The future of one step of one run: read the parents' outputs, call the function, await it,
/// and turn errors and panics into a [`JobError`] naming the step.
async fn step_body<M, P, I, F, Fut, O, E>(
    captured: P::Captured,
    input: I,
    function: Arc<F>,
    topology: Arc<Topology>,
    index: usize,
) -> StepResult<O>
where
    M: Mode,
    P: Parents<M>,
    F: Fn(I, P::Output) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    let name = |t: &Arc<Topology>| {
        t.steps
            .get(index)
            .map(|m| m.name.clone())
            .unwrap_or_default()
    };
    let Some(args) = P::read(&captured) else {
        let message = "a dependency's output is missing";
        return Err(JobError::internal(
            &topology.name,
            &name(&topology),
            message,
        ));
    };
    drop(captured);
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| function(input, args))) {
        Ok(future) => future,
        Err(panic) => {
            return Err(JobError::panicked(
                &topology.name,
                &name(&topology),
                panic_message(panic),
            ));
        }
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(JobError::failed(
            &topology.name,
            &name(&topology),
            error.into(),
        )),
        Err(panic) => Err(JobError::panicked(
            &topology.name,
            &name(&topology),
            panic_message(panic),
        )),
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic with a non-string payload".to_owned(),
        },
    }
}

impl<I, P, F, Fut, O, E> StepDef<I, Sendable> for StepNode<P, F, Fut, O, E>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    F: Fn(I, P::Output) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Clone + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    fn instantiate(
        &self,
        input: &I,
        topology: &Arc<Topology>,
        index: usize,
        cells: &[Box<<Sendable as Sealed>::Cell>],
    ) -> Option<Box<<Sendable as Sealed>::Cell>> {
        let captured = self.parents.capture(cells)?;
        let body = step_body::<Sendable, P, I, F, Fut, O, E>(
            captured,
            input.clone(),
            self.function.clone(),
            topology.clone(),
            index,
        );
        let future: <Sendable as Sealed>::Future<StepResult<O>> = Box::pin(body);
        Some(Box::new(Cell::new(future)))
    }
}

impl<I, P, F, Fut, O, E> StepDef<I, Local> for StepNode<P, F, Fut, O, E>
where
    I: Clone + 'static,
    P: Parents<Local>,
    F: Fn(I, P::Output) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + 'static,
    O: Clone + 'static,
    E: Into<BoxError> + 'static,
{
    fn instantiate(
        &self,
        input: &I,
        topology: &Arc<Topology>,
        index: usize,
        cells: &[Box<<Local as Sealed>::Cell>],
    ) -> Option<Box<<Local as Sealed>::Cell>> {
        let captured = self.parents.capture(cells)?;
        let body = step_body::<Local, P, I, F, Fut, O, E>(
            captured,
            input.clone(),
            self.function.clone(),
            topology.clone(),
            index,
        );
        let future: <Local as Sealed>::Future<StepResult<O>> = Box::pin(body);
        Some(Box::new(Cell::new(future)))
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
            .finish(|parents| Box::new(StepNode::new(parents, function)))
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
        self.finish(|parents| Box::new(StepNode::new(parents, function)))
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
            .finish(|parents| Box::new(StepNode::new(parents, function)))
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
        self.finish(|parents| Box::new(StepNode::new(parents, function)))
    }
}
