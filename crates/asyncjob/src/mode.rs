//! Whether the steps of a job are `Send` ([`Sendable`]) or may hold `Rc`/`RefCell` ([`Local`]).
//!
//! The mode is a type parameter of [`JobBuilder`](crate::JobBuilder),
//! [`JobDefinition`](crate::JobDefinition) and [`JobInstance`](crate::JobInstance). It decides
//! which bounds a step's future, output and the job input must meet, and which executor trait
//! runs the job: [`Executor`] for `Send` work, [`LocalExecutor`]
//! for `!Send` work. A [`Sendable`] definition is `Send + Sync` (its step functions are), so it
//! can live in a `static`; a [`Local`] one is not, since its step functions may capture `Rc`s
//! and other `!Send` values: keep it on its thread (a `thread_local!`, or build it where it
//! runs).

use std::future::Future;
use std::sync::Arc;

use crate::cell::{ErasedCell, OutputCell, StepCell, StepResult};
use crate::env::RunEnv;
use crate::error::JobError;
use crate::rt::{Blocking, Executor, LocalExecutor, SpawnError, Timer};

/// The steps of a job are `Send`: the job can run on a multi-threaded runtime, and on a local one.
///
/// This is the default mode.
#[derive(Debug)]
pub enum Sendable {}

/// The steps of a job may be `!Send` (hold `Rc`, `RefCell`, … across an `.await`): the job runs
/// on a [`LocalExecutor`].
#[derive(Debug)]
pub enum Local {}

/// A job mode: [`Sendable`] or [`Local`]. Sealed.
pub trait Mode: private::Sealed {}

impl Mode for Sendable {}
impl Mode for Local {}

pub(crate) mod private {
    use super::*;

    /// The per-mode types the engine works with. Not nameable outside the crate.
    pub trait Sealed: Sized + 'static {
        /// A type-erased step cell.
        type Cell: ?Sized + ErasedCell;
        /// A step's output of type `T`, as its dependents hold it.
        type Output<T: 'static>: ?Sized + OutputCell<T> + 'static;
        /// What a run of this mode spawns its tasks of type `T` on.
        type Spawner<T: 'static>: ?Sized + SpawnTask<Self, T>;
        /// The timer a run of this mode sleeps on.
        type Timer: ?Sized + Timer;
        /// How a definition of this mode holds one of its steps: `Send + Sync` for
        /// [`Sendable`], not for [`Local`] (whose step functions may hold `Rc`).
        type Node<I>: ?Sized + StepDef<I, Self>;

        /// Forgets that a cell is `Send`, so that a `Send` job can run on a local executor.
        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell>;

        /// A cell whose step fails at once with `error`.
        fn failed_cell(error: JobError) -> Arc<Self::Cell>;

        /// The run's timer, if it may be handed to a step context that moves between threads
        /// (`None` for a local run, whose timer need not be `Send`).
        fn shared_timer(timer: &Arc<Self::Timer>) -> Option<Arc<dyn Timer + Send + Sync>>;
    }

    /// How a definition makes the live form of one of its steps for one run.
    ///
    /// Here, beside [`Sealed::Node`], which names it. `RunEnv` is crate-private: the trait is
    /// reachable from outside only through the sealed trait, which nothing outside can name.
    #[allow(private_interfaces)]
    pub trait StepDef<I, M: Sealed> {
        /// Makes the step's cell (its future), given the cells made so far (those of every
        /// step before it). `index` is the step's place in the run; `base` is where the step's
        /// own definition begins in it (0, or the first step of a sub-job), so a dependency `d`
        /// of the definition is `cells[base + d]`. `None` only if a dependency's cell is of an
        /// unexpected type, which the builder rules out.
        fn instantiate(
            &self,
            input: InputRef<'_, M, I>,
            index: usize,
            base: usize,
            cells: &[Arc<M::Cell>],
            env: &Arc<RunEnv>,
        ) -> Option<Arc<M::Cell>>;
    }

    /// The input of a step, as a run gives it to [`StepDef::instantiate`]: the job's input, or,
    /// for a step of a sub-job, the output of the step that made the sub-job's input (read
    /// when the step runs: it is one of its dependencies).
    pub enum InputRef<'a, M: Sealed, I: 'static> {
        /// The job's input.
        Given(&'a I),
        /// The output of a sub-job's entry step.
        Entry(&'a OutputRef<M, I>),
    }

    impl<M: Sealed, I: 'static> std::fmt::Debug for InputRef<'_, M, I> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                InputRef::Given(_) => "InputRef::Given",
                InputRef::Entry(_) => "InputRef::Entry",
            })
        }
    }

    impl<M: Sealed, I: Clone + 'static> InputRef<'_, M, I> {
        /// What the step's future keeps of its input.
        pub(crate) fn to_owned(&self) -> StepInput<M, I> {
            match self {
                InputRef::Given(input) => StepInput::Given((*input).clone()),
                InputRef::Entry(entry) => StepInput::Entry(Arc::clone(entry)),
            }
        }
    }

    /// A step future's input: the value, or the sub-job entry's output that holds it.
    pub(crate) enum StepInput<M: Sealed, I: 'static> {
        /// The job's input.
        Given(I),
        /// The output of a sub-job's entry step.
        Entry(OutputRef<M, I>),
    }

    impl<M: Sealed, I: Clone + 'static> StepInput<M, I> {
        /// The input; `None` if the entry has no output (which its being a dependency of the
        /// step rules out).
        #[inline]
        pub(crate) fn take(self) -> Option<I> {
            match self {
                StepInput::Given(input) => Some(input),
                StepInput::Entry(entry) => entry.peek().cloned(),
            }
        }
    }

    /// Spawns tasks of one concrete type `T` in mode `M`, without boxing them when the executor
    /// can ([`Executor::spawn_unboxed`], [`LocalExecutor::spawn_local_unboxed`]).
    pub trait SpawnTask<M, T> {
        /// Spawns `task`. On an error the executor has dropped it.
        fn spawn_task(&self, task: T) -> Result<(), SpawnError>;

        /// The executor's pool for blocking work ([`Executor::blocking`]).
        fn blocking(&self) -> Option<Arc<dyn Blocking>>;
    }

    impl<E: Executor, T: Future<Output = ()> + Send + 'static> SpawnTask<Sendable, T> for E {
        fn spawn_task(&self, task: T) -> Result<(), SpawnError> {
            self.spawn_unboxed(task)
        }

        fn blocking(&self) -> Option<Arc<dyn Blocking>> {
            Executor::blocking(self)
        }
    }

    impl<E: LocalExecutor, T: Future<Output = ()> + 'static> SpawnTask<Local, T> for E {
        fn spawn_task(&self, task: T) -> Result<(), SpawnError> {
            self.spawn_local_unboxed(task)
        }

        fn blocking(&self) -> Option<Arc<dyn Blocking>> {
            LocalExecutor::blocking(self)
        }
    }

    impl Sealed for Sendable {
        type Cell = dyn ErasedCell + Send + Sync;
        type Output<T: 'static> = dyn OutputCell<T> + Send + Sync;
        type Spawner<T: 'static> = dyn SpawnTask<Sendable, T> + Send + Sync;
        type Timer = dyn Timer + Send + Sync;
        type Node<I> = dyn StepDef<I, Sendable> + Send + Sync;

        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Arc<Self::Cell> {
            StepCell::<_, (), true>::new(std::future::ready(StepResult::<()>::Err(error)))
        }

        fn shared_timer(timer: &Arc<Self::Timer>) -> Option<Arc<dyn Timer + Send + Sync>> {
            Some(timer.clone())
        }
    }

    impl Sealed for Local {
        type Cell = dyn ErasedCell;
        type Output<T: 'static> = dyn OutputCell<T>;
        type Spawner<T: 'static> = dyn SpawnTask<Local, T>;
        type Timer = dyn Timer;
        type Node<I> = dyn StepDef<I, Local>;

        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Arc<Self::Cell> {
            StepCell::<_, (), false>::new(std::future::ready(StepResult::<()>::Err(error)))
        }

        fn shared_timer(_: &Arc<Self::Timer>) -> Option<Arc<dyn Timer + Send + Sync>> {
            None
        }
    }
}

/// A step's output of type `T` in mode `M`, as its dependents hold it.
pub(crate) type OutputRef<M, T> = Arc<<M as private::Sealed>::Output<T>>;
