//! [smol](https://github.com/smol-rs/smol) adapter for [`asyncjob`]: [`SmolExecutor`] spawns a
//! job's steps on an [`async_executor::Executor`] (yours, or smol's global one) and sleeps on an
//! [`async_io::Timer`].
//!
//! [`SmolExecutor`] implements [`asyncjob::Executor`] and [`asyncjob::Timer`], and is
//! `Send + Sync + 'static`, so it is what
//! [`Runner::start`](asyncjob::Runner::start) asks for.
//!
//! * [`SmolExecutor::new`] spawns on an `Arc<async_executor::Executor<'static>>` that you own and
//!   run (with [`Executor::run`](async_executor::Executor::run) on as many threads as you like);
//! * [`SmolExecutor::global`] (also [`Default`]) spawns on smol's global executor, like
//!   [`smol::spawn`].
//!
//! For jobs whose steps are not `Send`, use the `asyncjob-local` crate.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use asyncjob::{BoxError, JobBuilder};
//! use asyncjob_smol::SmolExecutor;
//!
//! let mut job = JobBuilder::<u32>::new("double");
//! let double = job.step("double").run(|n| async move { Ok::<_, BoxError>(n * 2) })?;
//! let job = job.seal().with_result(&double)?;
//!
//! let ex = Arc::new(async_executor::Executor::new());
//! let instance = job.on(SmolExecutor::new(&ex)).start(21);
//! // Run the executor on this thread until the job is done.
//! let output = async_io::block_on(ex.run(instance.result()))?;
//! assert_eq!(output, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The executor on its own:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//! use asyncjob::{Executor, Timer};
//! use asyncjob_smol::SmolExecutor;
//!
//! let ex = Arc::new(async_executor::Executor::new());
//! let executor = SmolExecutor::new(&ex);
//!
//! let ran = Arc::new(AtomicBool::new(false));
//! let flag = ran.clone();
//! executor
//!     .spawn(Box::pin(async move { flag.store(true, Ordering::SeqCst) }))
//!     .expect("the executor is alive");
//!
//! // Run the executor on this thread until the sleep is over.
//! async_io::block_on(ex.run(executor.sleep(Duration::from_millis(10))));
//! assert!(ran.load(Ordering::SeqCst));
//!
//! // Dropping the executor shuts it down: spawning now fails.
//! drop(ex);
//! assert!(executor.spawn(Box::pin(async {})).is_err());
//! ```
//!
//! # Shutdown
//!
//! A [`SmolExecutor`] made with [`SmolExecutor::new`] holds the executor by [`Weak`] reference: it
//! never keeps your executor alive. Dropping the last `Arc` is how a smol executor shuts down:
//!
//! * the executor drops every task it still holds (their futures are dropped, without being polled
//!   again). asyncjob counts a step whose task was dropped as "executor shut down", so a job that
//!   was running ends instead of hanging;
//! * spawning afterwards returns [`SpawnError`] (and drops the future).
//!
//! Run the executor for as long as the job should make progress: tasks sit in the queue of an
//! executor that is alive but that no thread runs.
//!
//! smol's global executor never shuts down; its tasks are never dropped. It is run by the threads
//! smol starts on first use (`SMOL_THREADS`, default 1; with `SMOL_THREADS=0` nothing runs it).
//!
//! # Timer
//!
//! [`sleep`](asyncjob::Timer::sleep) is [`async_io::Timer::after`]. async-io timers are driven by
//! async-io's own reactor thread (or by [`async_io::block_on`] on the thread that awaits them), so
//! they work whatever executor polls them, need no runtime context, and keep working after the
//! executor is dropped. A duration too long to represent as a deadline sleeps forever.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::time::Duration;

use asyncjob::{Blocking, BoxFuture, Executor, SpawnError, Timer};

/// The core crate, re-exported: a user of this adapter needs no other dependency. Bring it into
/// scope under its own name with `use asyncjob_smol::asyncjob;` and write `asyncjob::…` as
/// with a direct dependency.
pub use asyncjob;

pub mod prelude {
    //! What a first job on smol needs, in one `use`: the core's [`asyncjob::prelude`] and
    //! [`SmolExecutor`].
    //!
    //! ```
    //! use std::sync::Arc;
    //! use asyncjob_smol::prelude::*;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let mut job = JobBuilder::<u32>::new("double");
    //! let double = job.step("double").try_run(|n| async move { Ok(n * 2) })?;
    //! let job = job.seal().with_result(&double)?;
    //!
    //! let ex = Arc::new(async_executor::Executor::new());
    //! let run = job.on(SmolExecutor::new(&ex)).start(21);
    //! assert_eq!(async_io::block_on(ex.run(run.result()))?, 42);
    //! # Ok(())
    //! # }
    //! ```
    pub use asyncjob::prelude::*;

    pub use crate::SmolExecutor;
}

/// Spawns futures on an [`async_executor::Executor`] or on smol's global executor, and sleeps on an
/// [`async_io::Timer`].
///
/// Implements [`asyncjob::Executor`] and [`asyncjob::Timer`]; it is cheap to clone and
/// `Send + Sync + 'static`, so [`Runner::start`](asyncjob::Runner::start) accepts it.
///
/// ```
/// use std::sync::Arc;
/// use asyncjob_smol::SmolExecutor;
///
/// // Your own executor, which you run:
/// let ex = Arc::new(async_executor::Executor::new());
/// let executor = SmolExecutor::new(&ex);
///
/// // smol's global executor:
/// let global = SmolExecutor::global();
/// # let _ = (executor, global);
/// ```
#[derive(Debug, Clone)]
pub struct SmolExecutor {
    target: Target,
}

/// Where a [`SmolExecutor`] spawns.
#[derive(Debug, Clone)]
enum Target {
    /// A user-owned executor, shut down once the user drops it.
    Owned(Weak<async_executor::Executor<'static>>),
    /// smol's global executor ([`smol::spawn`]).
    Global,
}

impl SmolExecutor {
    /// Creates an executor that spawns on `executor`, which you keep and run.
    ///
    /// Only a [`Weak`] reference is kept: once you drop the last `Arc` to `executor`, it drops the
    /// tasks it holds and spawning returns [`SpawnError`].
    pub fn new(executor: &Arc<async_executor::Executor<'static>>) -> Self {
        SmolExecutor {
            target: Target::Owned(Arc::downgrade(executor)),
        }
    }

    /// Creates an executor that spawns on smol's global executor, like [`smol::spawn`].
    ///
    /// The global executor lives as long as the process, so spawning on it does not fail (unless
    /// smol cannot start its executor thread on first use, which is reported as [`SpawnError`]).
    pub const fn global() -> Self {
        SmolExecutor {
            target: Target::Global,
        }
    }

    /// `true` if this executor spawns on smol's global executor.
    pub fn is_global(&self) -> bool {
        matches!(self.target, Target::Global)
    }
}

impl Default for SmolExecutor {
    /// Same as [`SmolExecutor::global`].
    fn default() -> Self {
        SmolExecutor::global()
    }
}

impl From<&Arc<async_executor::Executor<'static>>> for SmolExecutor {
    fn from(executor: &Arc<async_executor::Executor<'static>>) -> Self {
        SmolExecutor::new(executor)
    }
}

impl Executor for SmolExecutor {
    /// Spawns `future` and detaches its task.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the executor has been dropped; `future` is then dropped before
    /// this returns.
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.spawn_unboxed(future)
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
        match &self.target {
            Target::Owned(executor) => {
                let executor = executor.upgrade().ok_or_else(SpawnError::shutdown)?;
                executor.spawn(future).detach();
                Ok(())
            }
            // `smol::spawn` starts the global executor's threads on first use and panics if the
            // OS refuses a thread: report that as a refusal rather than unwinding into the job.
            // `future` is dropped during the unwind.
            Target::Global => catch_unwind(AssertUnwindSafe(move || smol::spawn(future).detach()))
                .map_err(|_| SpawnError::shutdown()),
        }
    }

    /// smol's pool for blocking work ([`smol::unblock`], the `blocking` crate's threads), the
    /// same for every executor: what
    /// [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) uses.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        Some(Arc::new(Unblock))
    }
}

/// The pool of [`smol::unblock`].
#[derive(Debug)]
struct Unblock;

impl Blocking for Unblock {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError> {
        // The pool starts its threads on demand and panics if the OS refuses one.
        catch_unwind(AssertUnwindSafe(move || smol::unblock(work).detach()))
            .map_err(|_| SpawnError::shutdown())
    }
}

impl Timer for SmolExecutor {
    /// Sleeps for `duration` with [`async_io::Timer::after`].
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }
}
