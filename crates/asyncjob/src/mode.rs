//! Whether the steps of a job are `Send` ([`Sendable`]) or may hold `Rc`/`RefCell` ([`Local`]).
//!
//! The mode is a type parameter of [`JobBuilder`](crate::JobBuilder),
//! [`JobDefinition`](crate::JobDefinition) and [`JobInstance`](crate::JobInstance). It decides
//! which bounds a step's future, output and the job input must meet, and which executor trait
//! runs the job: [`Executor`] for `Send` work, [`LocalExecutor`]
//! for `!Send` work. A definition is `Send + Sync` in both modes (step functions are always
//! `Send + Sync`), so a local definition can live in a `static` too.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Cell, Driver, ErasedCell, OutputCell, Run, StepResult};
use crate::error::JobError;
use crate::executor::{Executor, LocalExecutor, SpawnError, Timer};

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

    /// The per-mode types and operations the engine needs. Not nameable outside the crate.
    pub trait Sealed: Sized + 'static {
        /// A type-erased step cell.
        type Cell: ?Sized + ErasedCell;
        /// A step's output of type `T`, as its dependents hold it.
        type Output<T: 'static>: ?Sized + OutputCell<T> + 'static;
        /// The executor a run of this mode spawns on.
        type Spawner: ?Sized + Spawner<Self>;
        /// The timer a run of this mode sleeps on.
        type Timer: ?Sized + Timer;

        /// Forgets that a cell is `Send`, so that a `Send` job can run on a local executor.
        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell>;

        /// A cell whose step fails at once with `error`.
        fn failed_cell(error: JobError) -> Arc<Self::Cell>;
    }

    /// An executor as the engine sees it: one that spawns drivers of mode `X` without boxing them
    /// when the executor can ([`Executor::spawn_unboxed`]).
    pub trait Spawner<X: Sealed> {
        /// Spawns a driver. A driver that is dropped unpolled fails its step, so an error needs
        /// no further handling by the caller.
        fn spawn_driver(&self, driver: Driver<X>) -> Result<(), SpawnError>;

        /// Spawns the task that cancels `run` at its deadline. If the executor refuses it, the
        /// run has no deadline (it cannot run anyway: its first step is refused too).
        fn spawn_deadline(&self, run: &Arc<Run<X>>, deadline: Duration);
    }

    impl<E: Executor> Spawner<Sendable> for E {
        fn spawn_driver(&self, driver: Driver<Sendable>) -> Result<(), SpawnError> {
            self.spawn_unboxed(driver)
        }

        fn spawn_deadline(&self, run: &Arc<Run<Sendable>>, deadline: Duration) {
            let _ = self.spawn_unboxed(deadline_task(run, deadline));
        }
    }

    impl<E: LocalExecutor> Spawner<Local> for E {
        fn spawn_driver(&self, driver: Driver<Local>) -> Result<(), SpawnError> {
            self.spawn_local_unboxed(driver)
        }

        fn spawn_deadline(&self, run: &Arc<Run<Local>>, deadline: Duration) {
            let _ = self.spawn_local_unboxed(deadline_task(run, deadline));
        }
    }

    impl Sealed for Sendable {
        type Cell = dyn ErasedCell + Send + Sync;
        type Output<T: 'static> = dyn OutputCell<T> + Send + Sync;
        type Spawner = dyn Spawner<Sendable> + Send + Sync;
        type Timer = dyn Timer + Send + Sync;

        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Arc<Self::Cell> {
            Cell::<Self, _>::new(std::future::ready(StepResult::<()>::Err(error)))
        }
    }

    impl Sealed for Local {
        type Cell = dyn ErasedCell;
        type Output<T: 'static> = dyn OutputCell<T>;
        type Spawner = dyn Spawner<Local>;
        type Timer = dyn Timer;

        fn into_local(cell: Arc<Self::Cell>) -> Arc<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Arc<Self::Cell> {
            Cell::<Self, _>::new(std::future::ready(StepResult::<()>::Err(error)))
        }
    }
}

/// The task that cancels `run` at its deadline. If the timer fails (its sleep panics), the
/// deadline cannot be kept: the run is ended at once with an error that says so, rather than
/// left to run unbounded.
fn deadline_task<X: private::Sealed>(
    run: &Arc<Run<X>>,
    deadline: Duration,
) -> impl Future<Output = ()> + use<X> {
    let weak = Arc::downgrade(run);
    let task = std::panic::catch_unwind(AssertUnwindSafe(|| run.deadline_task(deadline)));
    async move {
        let outcome = match task {
            Ok(task) => futures_util::FutureExt::catch_unwind(AssertUnwindSafe(task)).await,
            Err(panic) => Err(panic),
        };
        if let (Err(panic), Some(run)) = (outcome, weak.upgrade()) {
            let reason = JobError::deadline_timer_failed(
                &run.topology.name,
                deadline,
                crate::builder::panic_message(panic),
            );
            run.cancel(reason);
        }
    }
}

/// A step's output of type `T` in mode `M`, as its dependents hold it.
pub(crate) type OutputRef<M, T> = Arc<<M as private::Sealed>::Output<T>>;
