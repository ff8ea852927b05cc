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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::engine::{Cell, Driver, ErasedCell, Run, StepResult};
use crate::error::JobError;
use crate::executor::{BoxFuture, Executor, LocalBoxFuture, LocalExecutor, SpawnError, Timer};

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
        /// A step's boxed future.
        type Future<T: 'static>: Future<Output = T> + Unpin + 'static;
        /// A type-erased step cell.
        type Cell: ?Sized + ErasedCell;
        /// The executor a run of this mode spawns on.
        type Spawner: ?Sized;
        /// The timer a run of this mode sleeps on.
        type Timer: ?Sized + Timer;

        /// Forgets that a cell is `Send`, so that a `Send` job can run on a local executor.
        fn into_local(cell: Box<Self::Cell>) -> Box<dyn ErasedCell>;

        /// A cell whose step fails at once with `error`.
        fn failed_cell(error: JobError) -> Box<Self::Cell>;

        /// Spawns the task that cancels `run` at its deadline. If the executor refuses it, the
        /// run has no deadline (it cannot run anyway: its first step is refused too).
        fn spawn_deadline(run: &Arc<Run<Self>>, deadline: Duration);

        /// Spawns a driver. A driver that is dropped unpolled fails its step, so an error needs
        /// no further handling by the caller.
        fn spawn(spawner: &Self::Spawner, driver: Driver<Self>) -> Result<(), SpawnError>;
    }

    impl Sealed for Sendable {
        type Future<T: 'static> = BoxFuture<'static, T>;
        type Cell = dyn ErasedCell + Send + Sync;
        type Spawner = dyn Executor + Send + Sync;
        type Timer = dyn Timer + Send + Sync;

        fn into_local(cell: Box<Self::Cell>) -> Box<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Box<Self::Cell> {
            let future: Self::Future<StepResult<()>> = Box::pin(std::future::ready(Err(error)));
            Box::new(Cell::new(future))
        }

        fn spawn(spawner: &Self::Spawner, driver: Driver<Self>) -> Result<(), SpawnError> {
            spawner.spawn(Box::pin(Contained(Some(driver))))
        }

        fn spawn_deadline(run: &Arc<Run<Self>>, deadline: Duration) {
            let _ = run.spawner().spawn(Box::pin(deadline_task(run, deadline)));
        }
    }

    impl Sealed for Local {
        type Future<T: 'static> = LocalBoxFuture<'static, T>;
        type Cell = dyn ErasedCell;
        type Spawner = dyn LocalExecutor;
        type Timer = dyn Timer;

        fn into_local(cell: Box<Self::Cell>) -> Box<dyn ErasedCell> {
            cell
        }

        fn failed_cell(error: JobError) -> Box<Self::Cell> {
            let future: Self::Future<StepResult<()>> = Box::pin(std::future::ready(Err(error)));
            Box::new(Cell::new(future))
        }

        fn spawn(spawner: &Self::Spawner, driver: Driver<Self>) -> Result<(), SpawnError> {
            spawner.spawn_local(Box::pin(Contained(Some(driver))))
        }

        fn spawn_deadline(run: &Arc<Run<Self>>, deadline: Duration) {
            let _ = run
                .spawner()
                .spawn_local(Box::pin(deadline_task(run, deadline)));
        }
    }
}

/// A driver, with any panic that escapes it contained: a panic that is not the step's own (those
/// are caught and reported by the step), such as one from the timer's sleep, drops the driver at
/// once — which fails its step and skips its dependents — instead of unwinding into the executor
/// (which, depending on the executor, would kill a worker thread or reach whoever drives it).
#[derive(Debug)]
struct Contained<F>(Option<F>);

impl<F: Future<Output = ()> + Unpin> Future for Contained<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(future) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(future).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) | Err(_) => {
                self.0 = None;
                Poll::Ready(())
            }
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
            let reason =
                JobError::deadline_timer_failed(&run.topology.name, deadline, panic_message(panic));
            run.cancel(reason);
        }
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

/// The `Shared` output of a step of type `T` in mode `M`.
pub(crate) type SharedOutput<M, T> =
    futures_util::future::Shared<<M as private::Sealed>::Future<StepResult<T>>>;

/// The concrete cell of a step of type `T` in mode `M`.
pub(crate) type CellOf<M, T> = Cell<<M as private::Sealed>::Future<StepResult<T>>>;
