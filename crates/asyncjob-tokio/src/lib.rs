//! [Tokio](https://tokio.rs) adapter for [`asyncjob`]: [`TokioExecutor`] spawns a job's steps on a
//! Tokio runtime and sleeps on its timer.
//!
//! [`TokioExecutor`] implements [`asyncjob::Executor`] and [`asyncjob::Timer`], and is
//! `Send + Sync + 'static`, so it is what
//! [`JobDefinition::start`](asyncjob::JobDefinition::start) asks for. It works on current-thread
//! and multi-thread runtimes alike.
//!
//! * [`TokioExecutor::new`] uses whichever runtime is current when a future is spawned (like
//!   `tokio::spawn`, but without the panic when there is none: it reports a
//!   [`SpawnError`] instead);
//! * [`TokioExecutor::with_handle`] pins one runtime, so it can be used from any thread.
//!
//! # Example
//!
//! ```
//! use asyncjob::{BoxError, JobBuilder};
//! use asyncjob_tokio::TokioExecutor;
//!
//! let mut job = JobBuilder::<u32>::new("double");
//! let double = job.step("double").run(|n| async move { Ok::<_, BoxError>(n * 2) })?;
//! let job = job.seal().with_result(&double)?;
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! let output = runtime.block_on(async {
//!     // Inside the runtime, `TokioExecutor::new()` finds it.
//!     job.start(TokioExecutor::new(), 21).result().await
//! })?;
//! assert_eq!(output, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The executor on its own, spawning and sleeping from outside the runtime:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use asyncjob::{Executor, Timer};
//! use asyncjob_tokio::TokioExecutor;
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .enable_time() // `Timer` needs Tokio's time driver.
//!     .build()
//!     .expect("a runtime");
//!
//! // Pin the runtime: this executor works from any thread, inside the runtime or not.
//! let executor = TokioExecutor::with_handle(runtime.handle().clone());
//!
//! let (tx, rx) = std::sync::mpsc::channel();
//! let timer = executor.clone();
//! executor
//!     .spawn(Box::pin(async move {
//!         let started = Instant::now();
//!         timer.sleep(Duration::from_millis(10)).await;
//!         let _ = tx.send(started.elapsed());
//!     }))
//!     .expect("the runtime is running");
//!
//! let slept = rx.recv().expect("the task ran");
//! assert!(slept >= Duration::from_millis(10));
//! ```
//!
//! # Shutdown
//!
//! When the runtime shuts down (it is dropped, or
//! [`shutdown_background`](tokio::runtime::Runtime::shutdown_background) or
//! [`shutdown_timeout`](tokio::runtime::Runtime::shutdown_timeout) is called), Tokio drops every
//! task it still holds without polling it again. asyncjob counts a step whose task was dropped as
//! "executor shut down", so the job ends instead of hanging. After shutdown, spawning returns a
//! [`SpawnError`] (Tokio drops the future at once; nothing panics).
//!
//! # Timer
//!
//! Each [`sleep`](asyncjob::Timer::sleep) runs `tokio::time::sleep` in a small task spawned on the
//! runtime, so the Tokio timer is always created and polled inside the runtime, whichever thread
//! awaits the returned future. That makes the sleep panic-free where a bare `tokio::time::Sleep`
//! panics (created outside a runtime, or polled after the runtime shut down). Dropping the returned
//! future aborts that task. Where no Tokio timer can serve the sleep, it behaves as follows:
//!
//! | situation | the sleep future |
//! | --- | --- |
//! | runtime running, time driver enabled | completes once the duration has elapsed |
//! | runtime shut down (before or during the sleep) | never completes |
//! | no runtime ([`TokioExecutor::new`], sleep both made and polled outside any runtime) | never completes |
//! | runtime built without [`enable_time`](tokio::runtime::Builder::enable_time) | completes at once (Tokio prints its "timers are disabled" panic message from the timer task, which it catches) |
//!
//! An unpinned sleep ([`TokioExecutor::new`]) made outside any runtime looks for the current
//! runtime again when polled, so `runtime.block_on(executor.sleep(duration))` works; its deadline
//! still counts from the call to `sleep`.
//!
//! A sleep that never completes cannot hang a job: in the first two cases the runtime has also
//! dropped (or refused) the job's tasks, and asyncjob reports the executor as shut down.
//! Runtimes from `#[tokio::main]`, `#[tokio::test]` and `Runtime::new()` have the time driver
//! enabled.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, SpawnError, Timer};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns futures on a Tokio runtime and sleeps on its timer.
///
/// Implements [`asyncjob::Executor`] and [`asyncjob::Timer`]; it is cheap to clone and
/// `Send + Sync + 'static`, so [`JobDefinition::start`](asyncjob::JobDefinition::start) accepts it.
///
/// Either follows the current runtime ([`TokioExecutor::new`], also [`Default`]) or is pinned to
/// one ([`TokioExecutor::with_handle`], also `From<Handle>`).
///
/// ```
/// use asyncjob_tokio::TokioExecutor;
///
/// // Follows the runtime current at each spawn.
/// let executor = TokioExecutor::new();
///
/// // Pinned to one runtime.
/// let runtime = tokio::runtime::Runtime::new().expect("a runtime");
/// let pinned = TokioExecutor::with_handle(runtime.handle().clone());
/// # let _ = (executor, pinned);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TokioExecutor {
    handle: Option<Handle>,
}

impl TokioExecutor {
    /// Creates an executor that uses the runtime current at each spawn or sleep
    /// ([`Handle::try_current`]).
    ///
    /// Used where no runtime is current (on a thread that is neither a runtime worker nor inside
    /// [`Handle::enter`] or [`Runtime::block_on`](tokio::runtime::Runtime::block_on)),
    /// [`spawn`](asyncjob::Executor::spawn) returns a [`SpawnError`], and
    /// [`sleep`](asyncjob::Timer::sleep) returns a future that looks for a runtime again each time
    /// it is polled (its deadline still counts from the call) and never completes if it finds none.
    /// Use [`TokioExecutor::with_handle`] when the job may be driven from outside the runtime.
    pub const fn new() -> Self {
        TokioExecutor { handle: None }
    }

    /// Creates an executor pinned to the runtime behind `handle`, usable from any thread.
    pub const fn with_handle(handle: Handle) -> Self {
        TokioExecutor {
            handle: Some(handle),
        }
    }

    /// The pinned runtime, or `None` if this executor follows the current runtime.
    pub fn handle(&self) -> Option<&Handle> {
        self.handle.as_ref()
    }

    /// Runs `f` with the runtime to use now, or returns `None` if there is none.
    fn with_runtime<R>(&self, f: impl FnOnce(&Handle) -> R) -> Option<R> {
        match &self.handle {
            Some(handle) => Some(f(handle)),
            None => Handle::try_current().ok().map(|handle| f(&handle)),
        }
    }
}

impl From<Handle> for TokioExecutor {
    fn from(handle: Handle) -> Self {
        TokioExecutor::with_handle(handle)
    }
}

impl Executor for TokioExecutor {
    /// Spawns `future` with [`Handle::spawn`] and detaches it.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if there is no runtime (see [`TokioExecutor::new`]) or if the runtime
    /// has shut down; in both cases `future` is dropped before this returns.
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
        let task = self.with_runtime(move |handle| handle.spawn(future));
        if task.is_some_and(accepted) {
            Ok(())
        } else {
            Err(SpawnError::shutdown())
        }
    }
}

/// Tells whether Tokio accepted the task just spawned (`false`: it refused it). A runtime that has
/// shut down accepts `Handle::spawn` but cancels (drops) the task before returning, so the task is
/// already finished and its join handle yields a cancellation.
///
/// A task that merely finished very quickly on another worker yields its output instead, and one
/// that cannot be told apart yet (the caller's cooperative budget is spent) counts as accepted:
/// either way the future is then Tokio's to run or drop, which asyncjob accounts for.
fn accepted(mut task: JoinHandle<()>) -> bool {
    if !task.is_finished() {
        return true;
    }
    let mut cx = Context::from_waker(Waker::noop());
    !matches!(
        Pin::new(&mut task).poll(&mut cx),
        Poll::Ready(Err(error)) if error.is_cancelled()
    )
}

/// The longest sleep handed to Tokio (about 30 years), which keeps deadlines representable.
const MAX_SLEEP: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

impl Timer for TokioExecutor {
    /// Sleeps for `duration` on the runtime's timer (see the [crate docs](crate#timer) for what
    /// happens without a running runtime or time driver). Never panics.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Fix the deadline now, not when the timer task first runs: neither a busy runtime nor a
        // late first poll may make the sleep longer than asked.
        let deadline = Deadline {
            at: tokio::time::Instant::now().checked_add(duration.min(MAX_SLEEP)),
            duration,
        };
        let state = match self.with_runtime(|handle| deadline.spawn_timer(handle)) {
            Some(task) => State::Waiting(task),
            // Not pinned and no runtime current: look for one again when first polled (as in
            // `runtime.block_on(executor.sleep(..))`).
            None => State::Unstarted(deadline),
        };
        Box::pin(Sleep { state })
    }
}

/// When a sleep ends.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    /// `None` if the deadline is not representable (then `duration` is handed to Tokio, which
    /// clamps it).
    at: Option<tokio::time::Instant>,
    duration: Duration,
}

impl Deadline {
    /// Spawns the task that waits on Tokio's timer; created inside the task, the timer is always
    /// created and polled within the runtime.
    fn spawn_timer(self, handle: &Handle) -> JoinHandle<()> {
        handle.spawn(async move {
            match self.at {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => tokio::time::sleep(self.duration).await,
            }
        })
    }
}

/// The future returned by [`TokioExecutor::sleep`]: waits for the timer task.
#[derive(Debug)]
struct Sleep {
    state: State,
}

#[derive(Debug)]
enum State {
    /// No runtime was current when the sleep was made ([`TokioExecutor::new`] only).
    Unstarted(Deadline),
    /// The timer task is running (or was refused: then it yields a cancellation).
    Waiting(JoinHandle<()>),
    /// The outcome is known not to be "slept" (the runtime shut down): pending for good.
    Never,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let State::Unstarted(deadline) = self.state {
            match Handle::try_current() {
                Ok(handle) => self.state = State::Waiting(deadline.spawn_timer(&handle)),
                // Still no runtime: nothing could ever wake this future.
                Err(_) => return Poll::Pending,
            }
        }
        let State::Waiting(task) = &mut self.state else {
            return Poll::Pending;
        };
        // A `JoinHandle` must not be polled again once it has returned `Ready`: forget it first.
        let outcome = std::task::ready!(Pin::new(task).poll(cx));
        self.state = State::Never;
        match outcome {
            // The timer fired.
            Ok(()) => Poll::Ready(()),
            // `tokio::time::sleep` panicked in the timer task: the runtime has no time driver.
            // Waiting forever would hang retries; completing at once does not.
            Err(error) if error.is_panic() => Poll::Ready(()),
            // The runtime shut down and dropped the timer task (or refused it).
            Err(_) => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Waiting(task) = &self.state {
            task.abort();
        }
    }
}
