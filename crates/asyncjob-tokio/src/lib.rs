//! [Tokio](https://tokio.rs) adapter for [`asyncjob`]: [`TokioExecutor`] spawns a job's steps on a
//! Tokio runtime and sleeps on its timer.
//!
//! [`TokioExecutor`] implements [`asyncjob::Executor`] and [`asyncjob::Timer`], and is
//! `Send + Sync + 'static`, so it is what
//! [`Runner::start`](asyncjob::Runner::start) asks for. It works on current-thread
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
//!     job.on(TokioExecutor::new()).start(21).result().await
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
//! Each [`sleep`](asyncjob::Timer::sleep) is a `tokio::time::Sleep` of the executor's runtime
//! (the pinned one, entered for the call with [`Handle::enter`] if need be, or else the current
//! one), boxed: no task is spawned for it, and it follows the runtime's clock, also a paused one
//! (Tokio's `start_paused`, `tokio::time::advance`). Its deadline counts from the call to
//! `sleep`. Dropping the future cancels the timer.
//!
//! A bare `tokio::time::Sleep` panics when polled after its runtime shut down. The runtime's own
//! tasks never see that (Tokio drops them before it stops its time driver), so a sleep polled
//! where its runtime is current is polled directly; polled anywhere else (awaited from another
//! runtime or a plain thread), it hands its deadline to a task of its runtime and waits for that
//! task, which the runtime refuses or drops when it shuts down. So:
//!
//! | situation | the sleep future |
//! | --- | --- |
//! | runtime running, time driver enabled | completes once the duration has elapsed (on the runtime's clock) |
//! | polled where its runtime is not current (or made, pinned, by a thread-local destructor that runs after Tokio's) | as above, through one task of its runtime (aborted when the future is dropped) |
//! | runtime shut down (before or during the sleep), polled outside it | never completes; no panic |
//! | no runtime ([`TokioExecutor::new`], sleep both made and polled outside any runtime) | never completes; no panic |
//! | runtime built without [`enable_time`](tokio::runtime::Builder::enable_time) | `sleep` panics (or, made outside any runtime by [`TokioExecutor::new`], its first poll does) with a message that names the runtime's missing time driver and `enable_time()` |
//! | polled on a thread that entered the runtime without being one of its workers ([`Handle::block_on`], [`Handle::enter`]) while the runtime shuts down | panics, as a bare `tokio::time::Sleep` does |
//!
//! asyncjob contains a panicking sleep: a timeout or retry back-off whose sleep panics fails the
//! step with [`StepPanicked`](asyncjob::JobErrorKind::StepPanicked) and that message (so a
//! missing time driver never shows as an instant timeout), and a deadline whose sleep panics
//! ends the job with an error that says the deadline's timer failed. Tokio's panic hook prints
//! Tokio's own "timers are disabled" message as well.
//!
//! An unpinned sleep ([`TokioExecutor::new`]) made outside any runtime looks for the current
//! runtime again when polled, so `runtime.block_on(executor.sleep(duration))` works; its deadline
//! still counts from the call to `sleep`.
//!
//! A sleep that never completes cannot hang a job: where the runtime shut down it has also
//! dropped (or refused) the job's tasks, and asyncjob reports the executor as shut down; with no
//! runtime at all, the job's steps are refused too. Runtimes from `#[tokio::main]`,
//! `#[tokio::test]` and `Runtime::new()` have the time driver enabled.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncjob::{Blocking, BoxFuture, Executor, SpawnError, Timer};
use pin_project_lite::pin_project;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The core crate, re-exported: a user of this adapter needs no other dependency. Bring it into
/// scope under its own name with `use asyncjob_tokio::asyncjob;` and write `asyncjob::…` as
/// with a direct dependency.
pub use asyncjob;

pub mod prelude {
    //! What a first job on Tokio needs, in one `use`: the core's [`asyncjob::prelude`] and
    //! [`TokioExecutor`].
    //!
    //! ```
    //! use asyncjob_tokio::prelude::*;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let mut job = JobBuilder::<u32>::new("double");
    //! let double = job.step("double").try_run(|n| async move { Ok(n * 2) })?;
    //! let job = job.seal().with_result(&double)?;
    //!
    //! let runtime = tokio::runtime::Runtime::new()?;
    //! let output = runtime.block_on(async { job.on(TokioExecutor::new()).start(21).result().await })?;
    //! assert_eq!(output, 42);
    //! # Ok(())
    //! # }
    //! ```
    pub use asyncjob::prelude::*;

    pub use crate::TokioExecutor;
}

/// Spawns futures on a Tokio runtime and sleeps on its timer.
///
/// Implements [`asyncjob::Executor`] and [`asyncjob::Timer`]; it is cheap to clone and
/// `Send + Sync + 'static`, so [`Runner::start`](asyncjob::Runner::start) accepts it.
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
    /// [`spawn`](asyncjob::Executor::spawn) returns a [`SpawnError`] that
    /// [`is_no_runtime`](SpawnError::is_no_runtime) (its message says so, and how to fix it), and
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

    /// Runs `f` with the runtime to use now; the error to report if there is none.
    fn with_runtime<R>(&self, f: impl FnOnce(&Handle) -> R) -> Result<R, SpawnError> {
        match &self.handle {
            Some(handle) => Ok(f(handle)),
            None => match Handle::try_current() {
                Ok(handle) => Ok(f(&handle)),
                Err(error) if error.is_missing_context() => Err(SpawnError::no_runtime(NO_RUNTIME)),
                // Tokio's thread-local is gone: this thread is exiting, past any runtime.
                Err(_) => Err(SpawnError::shutdown()),
            },
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
    /// Returns [`SpawnError`] if there is no runtime ([`SpawnError::is_no_runtime`]: see
    /// [`TokioExecutor::new`]) or if the runtime has shut down ([`SpawnError::is_shutdown`]); in
    /// both cases `future` is dropped before this returns.
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
        let task = self.with_runtime(move |handle| handle.spawn(future))?;
        if accepted(task) {
            Ok(())
        } else {
            Err(SpawnError::shutdown())
        }
    }

    /// Tokio's pool for blocking work ([`Handle::spawn_blocking`]), on the same runtime as the
    /// spawns: what [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) uses.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        Some(Arc::new(TokioBlocking {
            handle: self.handle.clone(),
        }))
    }
}

/// The blocking pool of a [`TokioExecutor`]'s runtime.
#[derive(Debug)]
struct TokioBlocking {
    /// As [`TokioExecutor::handle`]: `None` follows the current runtime.
    handle: Option<Handle>,
}

impl Blocking for TokioBlocking {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError> {
        // A runtime that has shut down drops `work`, which the step then sees.
        let spawned = match &self.handle {
            Some(handle) => Some(handle.spawn_blocking(work)),
            None => Handle::try_current()
                .ok()
                .map(|handle| handle.spawn_blocking(work)),
        };
        spawned.map(drop).ok_or_else(SpawnError::shutdown)
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

/// The message of the [`SpawnError`] of a [`TokioExecutor::new`] used where no runtime is current.
const NO_RUNTIME: &str = "asyncjob-tokio: no Tokio runtime is current on this thread: start the \
    job inside one (in `#[tokio::main]`, a task, `Runtime::block_on` or `Handle::enter`), or pin \
    one with `TokioExecutor::with_handle(handle)`";

/// The longest sleep handed to Tokio (about 30 years), which keeps deadlines representable.
const MAX_SLEEP: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

/// The panic of a sleep on a runtime without a time driver. Tokio's own message ("timers are
/// disabled") names `enable_time` too, but not what needed the timer.
const NO_TIME_DRIVER: &str = "asyncjob-tokio: the Tokio runtime has no time driver, which \
    timeouts, retry back-offs and deadlines need: build the runtime with `enable_time()` (or \
    `enable_all()`)";

impl Timer for TokioExecutor {
    /// Sleeps for `duration` on the runtime's timer: the future is a `tokio::time::Sleep` of the
    /// pinned runtime, or else of the runtime current now, and no task is spawned for it (see the
    /// [crate docs](crate#timer) for a sleep polled outside its runtime, and for one made without
    /// any runtime).
    ///
    /// # Panics
    ///
    /// If the runtime was built without [`enable_time`](tokio::runtime::Builder::enable_time),
    /// with a message that says so: here, or, for a sleep of [`TokioExecutor::new`] made outside
    /// any runtime, when it is first polled. asyncjob reports it as the step's panic
    /// ([`StepPanicked`](asyncjob::JobErrorKind::StepPanicked)) or, for a deadline, as the failure
    /// of the deadline's timer.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let state = match &self.handle {
            Some(handle) => match Handle::try_current() {
                // Called from a thread-local destructor, after Tokio's own thread-local: the
                // runtime cannot be entered here, so a task of it waits out the timer.
                Err(error) if error.is_thread_local_destroyed() => {
                    State::task(handle, Deadline::after(duration))
                }
                _ => {
                    // Bind the timer to the pinned runtime, whichever runtime (if any) is current.
                    let _entered = handle.enter();
                    State::timer(handle.clone(), Deadline::after(duration))
                }
            },
            None => match Handle::try_current() {
                Ok(handle) => State::timer(handle, Deadline::after(duration)),
                // No runtime: look for one again when first polled (as in
                // `runtime.block_on(executor.sleep(..))`).
                Err(_) => State::Unstarted {
                    deadline: Deadline::after(duration),
                },
            },
        };
        Box::pin(Sleep { state })
    }

    /// Tokio's clock (`tokio::time::Instant::now`): with Tokio's `test-util` and a paused
    /// runtime, the times of snapshots and pictures follow the paused clock too.
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
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
    /// `duration` from now. Fixed now, not when first polled: a late first poll may not make the
    /// sleep longer than asked. Inside a runtime, now is read on its clock (which may be paused).
    fn after(duration: Duration) -> Self {
        Deadline {
            at: tokio::time::Instant::now().checked_add(duration.min(MAX_SLEEP)),
            duration,
        }
    }

    /// Tokio's timer for this deadline, bound to the current runtime.
    ///
    /// # Panics
    ///
    /// With [`NO_TIME_DRIVER`] if the runtime has no time driver.
    fn timer(self) -> tokio::time::Sleep {
        let made = std::panic::catch_unwind(|| match self.at {
            Some(at) => tokio::time::sleep_until(at),
            None => tokio::time::sleep(self.duration),
        });
        match made {
            Ok(sleep) => sleep,
            // Tokio's panic hook has already reported its own message; replace the payload
            // (which is what asyncjob shows in the step's error) with one that says what
            // needed the timer.
            Err(panic) if is_time_driver_missing(&*panic) => {
                std::panic::resume_unwind(Box::new(NO_TIME_DRIVER))
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Tells whether `panic` is Tokio's "timers are disabled" panic.
fn is_time_driver_missing(panic: &(dyn Any + Send)) -> bool {
    let message = match panic.downcast_ref::<&str>() {
        Some(message) => message,
        None => panic.downcast_ref::<String>().map_or("", String::as_str),
    };
    message.contains("timers are disabled")
}

/// Tells whether `runtime` is the runtime current on this thread.
fn is_current(runtime: &Handle) -> bool {
    Handle::try_current().is_ok_and(|current| current.id() == runtime.id())
}

pin_project! {
    /// The future returned by [`TokioExecutor::sleep`].
    #[derive(Debug)]
    struct Sleep {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[derive(Debug)]
    #[project = StateProj]
    enum State {
        /// No runtime was current when the sleep was made ([`TokioExecutor::new`] only).
        Unstarted { deadline: Deadline },
        /// Tokio's timer, bound to `runtime`; polled directly wherever `runtime` is current.
        Timer {
            #[pin]
            sleep: tokio::time::Sleep,
            runtime: Handle,
        },
        /// Polled where its runtime is not current: a task of the runtime waits out the timer
        /// (it is refused, or dropped, when the runtime shuts down).
        Task { task: TimerTask },
        /// Known never to complete: the runtime shut down.
        Never,
    }
}

impl State {
    /// A sleep until `deadline` on `runtime`, which must be current.
    fn timer(runtime: Handle, deadline: Deadline) -> Self {
        State::Timer {
            sleep: deadline.timer(),
            runtime,
        }
    }

    /// A sleep until `deadline` waited out by a task of `runtime`, which is never polled after
    /// the runtime's time driver stopped (Tokio drops its tasks first).
    fn task(runtime: &Handle, deadline: Deadline) -> Self {
        let task = runtime.spawn(async move { deadline.timer().await });
        State::Task {
            task: TimerTask(task),
        }
    }
}

/// A task that waits out a timer; aborted when dropped.
#[derive(Debug)]
struct TimerTask(JoinHandle<()>);

impl Drop for TimerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Unstarted { deadline } => {
                    // Still no runtime: nothing could ever wake this future.
                    let Ok(runtime) = Handle::try_current() else {
                        return Poll::Pending;
                    };
                    let deadline = *deadline;
                    state.set(State::timer(runtime, deadline));
                }
                StateProj::Timer { sleep, runtime } => {
                    if is_current(runtime) {
                        return sleep.poll(cx);
                    }
                    // A `tokio::time::Sleep` polled after its runtime shut down panics. The
                    // runtime's own tasks are dropped before its time driver stops, so polled
                    // inside the runtime it cannot see that happen; polled from anywhere else it
                    // could, so a task of the runtime waits for it instead.
                    let deadline = Deadline {
                        at: Some(sleep.deadline()),
                        duration: Duration::ZERO,
                    };
                    let task = State::task(runtime, deadline);
                    state.set(task);
                }
                StateProj::Task { task } => {
                    // A `JoinHandle` must not be polled again once it has returned `Ready`:
                    // forget it first.
                    let outcome = std::task::ready!(Pin::new(&mut task.0).poll(cx));
                    state.set(State::Never);
                    return match outcome {
                        // The timer fired.
                        Ok(()) => Poll::Ready(()),
                        // The timer panicked: let the caller see it.
                        Err(error) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        // The runtime shut down and dropped the task (or refused it).
                        Err(_) => Poll::Pending,
                    };
                }
                StateProj::Never => return Poll::Pending,
            }
        }
    }
}
