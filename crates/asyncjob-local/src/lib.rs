//! A single-threaded runtime for [`asyncjob`]: runs jobs whose steps are not `Send` (they hold
//! `Rc`, `RefCell` and the like across an `.await`) on the current thread.
//!
//! [`LocalRuntime`] owns an [`async_executor::LocalExecutor`] and drives it on the calling thread
//! ([`LocalRuntime::block_on`], or [`LocalRuntime::run`] from inside another single-threaded
//! executor). Its [`LocalHandle`] is the handle a job is started with: it implements
//! [`asyncjob::LocalExecutor`] and [`asyncjob::Timer`] (so
//! [`Runner::start_local`](asyncjob::Runner::start_local) accepts it), and also
//! [`asyncjob::Executor`], since a `Send` future is a valid local future.
//!
//! Timers are [`async_io::Timer`]s: [`LocalRuntime::block_on`] parks the thread in
//! [`async_io::block_on`], which drives async-io's reactor while the executor is idle.
//!
//! # Example
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use asyncjob::{BoxError, JobBuilder};
//! use asyncjob_local::LocalRuntime;
//!
//! let mut job = JobBuilder::<u32>::new_local("count");
//! let count = job.step("count").run(|n| async move {
//!     // Not `Send`, and held across an `.await`: fine in a local job.
//!     let total = Rc::new(RefCell::new(0));
//!     for _ in 0..n {
//!         *total.borrow_mut() += 1;
//!         std::future::ready(()).await;
//!     }
//!     let total = *total.borrow();
//!     Ok::<_, BoxError>(total)
//! })?;
//! let job = job.seal().with_result(&count)?;
//!
//! let runtime = LocalRuntime::new();
//! let output = runtime.block_on(job.on(runtime.handle()).start_local(3).result())?;
//! assert_eq!(output, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The runtime on its own:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use asyncjob::{LocalExecutor, Timer};
//! use asyncjob_local::LocalRuntime;
//!
//! let runtime = LocalRuntime::new();
//! let spawner = runtime.handle();
//!
//! // `Rc<RefCell<_>>` is not `Send`: the future can only run on this thread.
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let task_log = log.clone();
//! let timer = spawner.clone();
//! spawner
//!     .spawn_local(Box::pin(async move {
//!         timer.sleep(Duration::from_millis(5)).await;
//!         task_log.borrow_mut().push("slept");
//!     }))
//!     .expect("the runtime is alive");
//!
//! // Drive the runtime on this thread until the task has written.
//! runtime.block_on(async {
//!     while log.borrow().is_empty() {
//!         spawner.sleep(Duration::from_millis(1)).await;
//!     }
//! });
//! assert_eq!(*log.borrow(), ["slept"]);
//!
//! // Dropping the runtime shuts it down: spawning now fails.
//! drop(runtime);
//! assert!(spawner.spawn_local(Box::pin(async {})).is_err());
//! ```
//!
//! # Shutdown
//!
//! [`LocalHandle`] holds the executor by [`Weak`] reference; only the [`LocalRuntime`] owns it.
//! Dropping the `LocalRuntime`:
//!
//! * drops every task the executor still holds (their futures are dropped without being polled
//!   again). asyncjob counts a step whose task was dropped as "executor shut down", so a job that
//!   was running ends instead of hanging;
//! * makes spawning through any [`LocalHandle`] return [`SpawnError`] (the future is dropped).
//!
//! Tasks only make progress while the runtime is driven ([`LocalRuntime::block_on`] or
//! [`LocalRuntime::run`]); between those calls they wait in the queue.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use asyncjob::{Blocking, BoxFuture, Executor, LocalBoxFuture, LocalExecutor, SpawnError, Timer};

/// The core crate, re-exported: a user of this adapter needs no other dependency. Bring it into
/// scope under its own name with `use asyncjob_local::asyncjob;` and write `asyncjob::…` as
/// with a direct dependency.
pub use asyncjob;

pub mod prelude {
    //! What a first job on one thread (`!Send` steps) needs, in one `use`: the core's
    //! [`asyncjob::prelude`], [`LocalRuntime`] and
    //! [`LocalHandle`].
    //!
    //! ```
    //! use std::{cell::RefCell, rc::Rc};
    //! use asyncjob_local::prelude::*;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let mut job = JobBuilder::<u32>::new_local("double");
    //! let double = job.step("double").try_run(|n| async move {
    //!     let cell = Rc::new(RefCell::new(n)); // !Send, held across an await
    //!     std::future::ready(()).await;
    //!     let doubled = *cell.borrow() * 2;
    //!     Ok(doubled)
    //! })?;
    //! let job = job.seal().with_result(&double)?;
    //!
    //! let runtime = LocalRuntime::new();
    //! let run = job.on(runtime.handle()).start_local(21);
    //! assert_eq!(runtime.block_on(run.result())?, 42);
    //! # Ok(())
    //! # }
    //! ```
    pub use asyncjob::prelude::*;

    pub use crate::{LocalHandle, LocalRuntime};
}

/// A single-threaded runtime for futures that are not `Send`.
///
/// It owns an [`async_executor::LocalExecutor`]; drive it with [`LocalRuntime::block_on`] (or
/// [`LocalRuntime::run`]) and spawn on it through a [`LocalHandle`] from
/// [`LocalRuntime::handle`]. Dropping it drops its pending tasks.
///
/// It is neither `Send` nor `Sync`: a local runtime stays on the thread that made it.
///
/// ```
/// use asyncjob_local::LocalRuntime;
///
/// let runtime = LocalRuntime::new();
/// assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
/// ```
#[derive(Debug, Default)]
pub struct LocalRuntime {
    executor: Rc<async_executor::LocalExecutor<'static>>,
}

impl LocalRuntime {
    /// Creates a runtime with no tasks.
    pub fn new() -> Self {
        LocalRuntime::default()
    }

    /// A handle that spawns on this runtime and sleeps; see [`LocalHandle`].
    pub fn handle(&self) -> LocalHandle {
        LocalHandle {
            executor: Rc::downgrade(&self.executor),
        }
    }

    /// Runs the spawned tasks on this thread until `future` completes, and returns its output.
    ///
    /// The thread sleeps (in [`async_io::block_on`]) while nothing is ready, and wakes for I/O and
    /// [`async_io::Timer`]s as well as for the tasks. Tasks still pending when `future` completes
    /// stay queued for the next call.
    ///
    /// Do not call it from inside a task or future that this runtime (or another executor on this
    /// thread) is polling: it would block that executor until `future` completes. There, await
    /// [`LocalRuntime::run`] instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(self.executor.run(future))
    }

    /// Runs the spawned tasks while awaiting `future`, and returns its output.
    ///
    /// The asynchronous form of [`LocalRuntime::block_on`], for driving this runtime from inside
    /// another executor on the same thread. The tasks only run while the returned future is
    /// polled.
    pub fn run<'a, F: Future + 'a>(&'a self, future: F) -> impl Future<Output = F::Output> + 'a {
        self.executor.run(future)
    }

    /// Runs one task that is ready, if there is one, and tells whether it did. Does not block.
    pub fn try_tick(&self) -> bool {
        self.executor.try_tick()
    }
}

/// Spawns futures on a [`LocalRuntime`] and sleeps on an [`async_io::Timer`].
///
/// Implements [`asyncjob::LocalExecutor`], [`asyncjob::Executor`] and [`asyncjob::Timer`]; it is
/// cheap to clone, `'static`, and neither `Send` nor `Sync`, so
/// [`Runner::start_local`](asyncjob::Runner::start_local) accepts it (and
/// [`Runner::start`](asyncjob::Runner::start), which needs `Send + Sync`, does not).
///
/// It refers to its runtime by [`Weak`] reference: once the [`LocalRuntime`] is dropped, spawning
/// returns [`SpawnError`]. Sleeping works regardless.
///
/// ```
/// use asyncjob::LocalExecutor;
/// use asyncjob_local::LocalRuntime;
///
/// let runtime = LocalRuntime::new();
/// let spawner = runtime.handle();
/// spawner.spawn_local(Box::pin(async {})).expect("the runtime is alive");
/// drop(runtime);
/// assert!(spawner.spawn_local(Box::pin(async {})).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct LocalHandle {
    executor: Weak<async_executor::LocalExecutor<'static>>,
}

impl LocalExecutor for LocalHandle {
    /// Spawns `future` on the runtime and detaches its task.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the [`LocalRuntime`] has been dropped; `future` is then dropped
    /// before this returns.
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.spawn_local_unboxed(future)
    }

    /// As [`spawn_local`](LocalExecutor::spawn_local), without boxing `future` first.
    ///
    /// # Errors
    ///
    /// As [`spawn_local`](LocalExecutor::spawn_local).
    fn spawn_local_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + 'static,
    {
        let executor = self.executor.upgrade().ok_or_else(SpawnError::shutdown)?;
        executor.spawn(future).detach();
        Ok(())
    }

    /// The `blocking` crate's thread pool (smol's): blocking work from a step's
    /// [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) runs there, off
    /// the runtime's one thread.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        Some(Arc::new(Unblock))
    }
}

/// The pool of [`blocking::unblock`].
#[derive(Debug)]
struct Unblock;

impl Blocking for Unblock {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError> {
        // The pool starts its threads on demand and panics if the OS refuses one.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            blocking::unblock(work).detach();
        }))
        .map_err(|_| SpawnError::shutdown())
    }
}

impl Executor for LocalHandle {
    /// Spawns `future` on the runtime's thread, like [`LocalExecutor::spawn_local`].
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the [`LocalRuntime`] has been dropped; `future` is then dropped
    /// before this returns.
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.spawn_local_unboxed(future)
    }

    /// As [`spawn`](Executor::spawn), without boxing `future` first.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Executor::spawn).
    fn spawn_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_local_unboxed(future)
    }

    /// As [`LocalExecutor::blocking`].
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        LocalExecutor::blocking(self)
    }
}

impl Timer for LocalHandle {
    /// Sleeps for `duration` with [`async_io::Timer::after`]; a duration too long to represent as
    /// a deadline sleeps forever.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }
}
