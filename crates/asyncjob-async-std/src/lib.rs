//! [async-std](https://github.com/async-rs/async-std) adapter for [`asyncjob`]:
//! [`AsyncStdExecutor`] spawns a job's steps as async-std tasks on its global executor, sleeps on
//! async-std's timer and runs blocking work on its blocking pool.
//!
//! **async-std is discontinued**: its last release (1.13) asks its users to move to
//! [smol](https://github.com/smol-rs/smol). This crate is for applications that already run on
//! async-std; for new code use `asyncjob-smol`, which runs on the same executor and timer
//! crates (`async-executor`, `async-io`, `blocking`). It is kept minimal on purpose.
//!
//! [`AsyncStdExecutor`] implements [`asyncjob::Executor`] and [`asyncjob::Timer`], and is
//! `Send + Sync + 'static`, so it is what [`Runner::start`](asyncjob::Runner::start) asks for.
//! It has no state: async-std has one global executor, which every `AsyncStdExecutor` spawns on.
//!
//! # Example
//!
//! ```
//! use asyncjob::{BoxError, JobBuilder};
//! use asyncjob_async_std::AsyncStdExecutor;
//!
//! let mut job = JobBuilder::<u32>::new("double-then-text");
//! let double = job.step("double").run(|n| async move { Ok::<_, BoxError>(n * 2) })?;
//! let text = job
//!     .step("text")
//!     .after(&double)
//!     .run(|_, d| async move { Ok::<_, BoxError>(d.to_string()) })?;
//! let job = job.seal().with_result(&text)?;
//!
//! let output = async_std::task::block_on(async {
//!     job.on(AsyncStdExecutor::new()).start(21).result().await
//! })?;
//! assert_eq!(output, "42");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `start` needs no runtime context: the global executor's threads start on first use, so a job
//! may also be started from a plain thread and awaited anywhere (with any `block_on`).
//!
//! The executor on its own:
//!
//! ```
//! use std::time::Duration;
//! use asyncjob::{Executor, Timer};
//! use asyncjob_async_std::AsyncStdExecutor;
//!
//! let executor = AsyncStdExecutor::new();
//! let (tx, rx) = std::sync::mpsc::channel();
//! let timer = executor.clone();
//! executor
//!     .spawn(Box::pin(async move {
//!         timer.sleep(Duration::from_millis(1)).await;
//!         // A step runs as an async-std task: `task::current()` works in it.
//!         let _ = tx.send(async_std::task::try_current().is_some());
//!     }))
//!     .expect("the global executor accepts tasks");
//! assert_eq!(rx.recv(), Ok(true));
//! ```
//!
//! # What it offers, and what not
//!
//! | capability | how |
//! | --- | --- |
//! | [`Executor`] | [`async_std::task::Builder::spawn`] (as [`async_std::task::spawn`]), detached; a step driver is spawned without a box of its own ([`spawn_unboxed`](asyncjob::Executor::spawn_unboxed)) |
//! | [`Timer`] | [`async_io::Timer::after`], the timer behind [`async_std::task::sleep`]; the clock is [`Instant::now`] |
//! | [`Executor::blocking`] | [`async_std::task::spawn_blocking`], for [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) |
//! | [`LocalExecutor`](asyncjob::LocalExecutor) | **not offered**: async-std's `task::spawn_local` needs its `unstable` feature. For steps that are not `Send`, use `asyncjob-local` |
//!
//! Each step that is spawned is an async-std task, so async-std's task API works inside steps
//! ([`task::current`](async_std::task::current), [`task_local!`](async_std::task_local)); a
//! task-local set by the code that starts the job is not seen by its steps, which run in tasks
//! of their own.
//!
//! # Shutdown
//!
//! async-std's global executor lives as long as the process and never drops its tasks, so
//! spawning does not fail and a job's steps are never abandoned by it. Its threads (as many as
//! the machine has cores, or `ASYNC_STD_THREAD_COUNT`) start on the first spawn; if the OS
//! refuses a thread then, async-std panics, which [`AsyncStdExecutor`] reports as a
//! [`SpawnError`] instead (the step fails as `SpawnFailed`, the job ends).
//!
//! # Timer
//!
//! [`sleep`](asyncjob::Timer::sleep) is [`async_io::Timer::after`], whose deadline counts from the
//! call ([`async_std::task::sleep`] is the same timer, made when first polled). async-io timers are
//! driven by async-io's reactor (its own thread, or the thread blocked in
//! [`async_std::task::block_on`]), so they work whatever polls them and need no runtime context.
//! A duration too long to represent as a deadline sleeps forever.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncjob::{Blocking, BoxFuture, Executor, SpawnError, Timer};

/// The core crate, re-exported: a user of this adapter needs no other dependency. Bring it into
/// scope under its own name with `use asyncjob_async_std::asyncjob;` and write `asyncjob::…` as
/// with a direct dependency.
pub use asyncjob;

pub mod prelude {
    //! What a first job on async-std needs, in one `use`: the core's [`asyncjob::prelude`] and
    //! [`AsyncStdExecutor`].
    //!
    //! ```
    //! use asyncjob_async_std::prelude::*;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let mut job = JobBuilder::<u32>::new("double");
    //! let double = job.step("double").try_run(|n| async move { Ok(n * 2) })?;
    //! let job = job.seal().with_result(&double)?;
    //!
    //! let run = job.on(AsyncStdExecutor::new()).start(21);
    //! assert_eq!(async_std::task::block_on(run.result())?, 42);
    //! # Ok(())
    //! # }
    //! ```
    pub use asyncjob::prelude::*;

    pub use crate::AsyncStdExecutor;
}

/// The code block of the README, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_md {}

/// Spawns futures as tasks of async-std's global executor, sleeps on async-std's timer
/// ([`async_io::Timer`]) and runs blocking work on async-std's blocking pool.
///
/// Implements [`asyncjob::Executor`] and [`asyncjob::Timer`]; it holds nothing, is free to clone
/// and `Send + Sync + 'static`, so [`Runner::start`](asyncjob::Runner::start) accepts it.
///
/// ```
/// use asyncjob_async_std::AsyncStdExecutor;
///
/// let executor = AsyncStdExecutor::new();
/// let same = AsyncStdExecutor::default();
/// # let _ = (executor, same);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AsyncStdExecutor {}

impl AsyncStdExecutor {
    /// Creates an executor that spawns on async-std's global executor, like
    /// [`async_std::task::spawn`]. The same as [`Default`].
    pub const fn new() -> Self {
        AsyncStdExecutor {}
    }
}

impl Executor for AsyncStdExecutor {
    /// Spawns `future` as an async-std task and detaches it.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] (and drops `future`) only if async-std could not start its
    /// executor's threads on first use; the global executor never shuts down.
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
        // `Builder::spawn` starts the global executor's threads on first use and panics if the OS
        // refuses one (and every later spawn panics too, on the poisoned runtime): report that
        // as a refusal rather than unwinding into the job. `future` is dropped during the unwind.
        // Dropping async-std's `JoinHandle` detaches the task.
        match catch_unwind(AssertUnwindSafe(move || {
            async_std::task::Builder::new().spawn(future)
        })) {
            Ok(Ok(_detached)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(SpawnError::shutdown()),
        }
    }

    /// async-std's pool for blocking work ([`async_std::task::spawn_blocking`]): what
    /// [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) uses.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        Some(Arc::new(SpawnBlocking))
    }
}

/// The pool of [`async_std::task::spawn_blocking`].
#[derive(Debug)]
struct SpawnBlocking;

impl Blocking for SpawnBlocking {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError> {
        // The pool (and the task that awaits the work) start threads on demand, and panic if the
        // OS refuses one. Dropping the `JoinHandle` detaches the work; it still runs.
        catch_unwind(AssertUnwindSafe(move || {
            drop(async_std::task::spawn_blocking(work));
        }))
        .map_err(|_| SpawnError::shutdown())
    }
}

impl Timer for AsyncStdExecutor {
    /// Sleeps for `duration` with [`async_io::Timer::after`] (the timer of
    /// [`async_std::task::sleep`]); the deadline counts from this call.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    /// [`Instant::now`]: the clock async-io's timers follow.
    fn now(&self) -> Instant {
        Instant::now()
    }
}
