//! The runtime is injected: spawning and sleeping are delegated to the traits in this module.
//!
//! The core never names a runtime. An adapter crate (`asyncjob-tokio`, `asyncjob-smol`,
//! `asyncjob-async-std`, `asyncjob-local`) or a few lines of your own code implement these traits for the runtime you
//! already use; [`FuturesExecutor`] covers anything that implements [`futures_task::Spawn`] or
//! [`futures_task::LocalSpawn`].
//!
//! # Writing an adapter
//!
//! Three capabilities, one trait each:
//!
//! * [`Executor`] spawns a `Send` future (used by [`Runner::start`](crate::Runner::start));
//! * [`LocalExecutor`] spawns a `!Send` future on the current thread (used by
//!   [`Runner::start_local`](crate::Runner::start_local));
//! * [`Timer`] sleeps (used by retry back-off and timeouts).
//!
//! A complete adapter for a runtime asyncjob does not ship, here a thread-per-task "runtime" built
//! on `std` alone, looks like this:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use asyncjob::{BoxFuture, Executor, SpawnError, Timer};
//!
//! /// Runs every future on a thread of its own (a toy, but a complete one).
//! #[derive(Debug, Clone, Copy, Default)]
//! struct ThreadPerTask;
//!
//! impl Executor for ThreadPerTask {
//!     fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
//!         std::thread::Builder::new()
//!             .spawn(move || futures::executor::block_on(future))
//!             .map(drop)
//!             .map_err(|_| SpawnError::shutdown())
//!     }
//! }
//!
//! impl Timer for ThreadPerTask {
//!     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
//!         let (tx, rx) = futures::channel::oneshot::channel::<()>();
//!         std::thread::spawn(move || {
//!             std::thread::sleep(duration);
//!             let _ = tx.send(());
//!         });
//!         Box::pin(async move {
//!             let _ = rx.await;
//!         })
//!     }
//! }
//!
//! # use asyncjob::JobBuilder;
//! let mut job = JobBuilder::<u32>::new("double");
//! let double = job.step("double").run(|n| async move { Ok::<_, std::io::Error>(n * 2) }).unwrap();
//! let job = job.seal().with_result(&double).unwrap();
//! let out = futures::executor::block_on(job.on(ThreadPerTask).start(21).result()).unwrap();
//! assert_eq!(out, 42);
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_task::{FutureObj, LocalFutureObj, LocalSpawn, Spawn};

/// An owned, boxed, `Send` future: the unit of work handed to an [`Executor`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An owned, boxed future that need not be `Send`: the unit of work handed to a
/// [`LocalExecutor`].
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Spawns `Send` futures onto a runtime.
///
/// Implement it for a handle to your runtime (it is cheap to clone and usually `Send + Sync`, so
/// that steps running on worker threads can spawn their successors). A job started with
/// [`Runner::start`](crate::Runner::start) requires `Send + Sync` of the executor;
/// the trait itself does not, so single-threaded executors may implement it too.
///
/// Spawning may fail, typically because the runtime is shutting down. The step that could not be
/// spawned then fails with an error of kind [`JobErrorKind::SpawnFailed`](crate::JobErrorKind);
/// the job never hangs waiting for it.
pub trait Executor {
    /// Spawns `future` to run to completion in the background.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the runtime cannot accept the future (it is shut down).
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError>;

    /// Spawns a future of a concrete type. The default boxes it and calls
    /// [`spawn`](Self::spawn); an adapter whose runtime takes futures of any type (as Tokio's
    /// and `async-executor`'s do) overrides it to spare that allocation: asyncjob spawns each
    /// step that does not run inline through this method.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the runtime cannot accept the future (it is shut down).
    fn spawn_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
        Self: Sized,
    {
        self.spawn(Box::pin(future))
    }

    /// The runtime's pool for blocking or CPU-heavy work, which steps reach through
    /// [`StepContext::spawn_blocking`](crate::StepContext::spawn_blocking). The default is
    /// `None`: the executor offers none, and a step that asks for one fails with a clear
    /// error. The shipped adapters return their runtime's pool (Tokio's `spawn_blocking`,
    /// smol's `unblock`, async-std's `spawn_blocking`).
    ///
    /// A query rather than a trait of its own so that every executor keeps working unchanged
    /// and a run needs no extra type parameter; it is asked once per run, at the first attempt
    /// of a step that takes a context.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        None
    }
}

/// Runs blocking or CPU-heavy work on threads where blocking is fine, away from the executor's
/// own: what an [`Executor::blocking`] (or [`LocalExecutor::blocking`]) returns.
///
/// ```
/// use std::sync::Arc;
/// use asyncjob::{BoxFuture, Blocking, Executor, SpawnError};
///
/// /// One thread per piece of work (a toy: a real pool reuses its threads).
/// struct ThreadPerWork;
///
/// impl Blocking for ThreadPerWork {
///     fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send>) -> Result<(), SpawnError> {
///         std::thread::Builder::new()
///             .spawn(work)
///             .map(drop)
///             .map_err(|_| SpawnError::shutdown())
///     }
/// }
///
/// # struct MyExecutor;
/// impl Executor for MyExecutor {
///     fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
/// #       let _ = future;
///         // ...
/// #       Ok(())
///     }
///
///     fn blocking(&self) -> Option<Arc<dyn Blocking>> {
///         Some(Arc::new(ThreadPerWork))
///     }
/// }
/// ```
pub trait Blocking: Send + Sync {
    /// Runs `work` to completion on a thread where it may block.
    ///
    /// If the pool drops `work` without running it, the step waiting for it fails; a panic in
    /// `work` is caught by asyncjob (the pool never sees it) and fails the step that waits.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the pool cannot accept the work (it is shut down).
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError>;
}

impl<B: Blocking + ?Sized> Blocking for Arc<B> {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) -> Result<(), SpawnError> {
        (**self).spawn_blocking(work)
    }
}

/// Spawns futures that are not `Send` onto a single-threaded runtime.
///
/// Jobs whose steps hold `Rc`, `RefCell` or other `!Send` values across an `.await` are built with
/// [`JobBuilder::new_local`](crate::JobBuilder::new_local) and started with
/// [`Runner::start_local`](crate::Runner::start_local) on a `LocalExecutor`. Any job
/// (also one of `Send` steps) can run on a `LocalExecutor`.
pub trait LocalExecutor {
    /// Spawns `future` to run to completion on this executor's thread.
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the executor cannot accept the future (it is shut down).
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError>;

    /// Spawns a future of a concrete type. The default boxes it and calls
    /// [`spawn_local`](Self::spawn_local); an adapter whose runtime takes futures of any type
    /// overrides it to spare that allocation (see [`Executor::spawn_unboxed`]).
    ///
    /// # Errors
    ///
    /// Returns [`SpawnError`] if the executor cannot accept the future (it is shut down).
    fn spawn_local_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + 'static,
        Self: Sized,
    {
        self.spawn_local(Box::pin(future))
    }

    /// The runtime's pool for blocking or CPU-heavy work: as [`Executor::blocking`]. The
    /// default is `None`.
    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        None
    }
}

/// Time, as the engine sees it: sleeping (retry back-off, timeouts, deadlines) and reading the
/// clock (every time a snapshot, a picture or a duration reports).
///
/// The engine reads no clock but [`now`](Self::now), so a test timer that fakes time (see
/// `asyncjob-test`) drives the pictures too. A job without retry, timeout or deadline never
/// sleeps: it runs on an executor without a timer ([`NoTimer`]); one that needs to sleep and has
/// no timer ends at once with a [`TimerMissing`](crate::JobErrorKind::TimerMissing) error.
pub trait Timer {
    /// Returns a future that completes once `duration` has elapsed.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// The current time on this timer's clock. The default is [`Instant::now`].
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// `false` for a timer that cannot sleep ([`NoTimer`]): a job that needs to sleep is then
    /// refused at start instead of failing later. The default is `true`.
    fn can_sleep(&self) -> bool {
        true
    }
}

/// The timer of an executor that has none: it reads the system's monotonic clock, and cannot
/// sleep. A job with a retry policy, a timeout or a deadline that is started with it ends at
/// once, before any step runs, with an error of kind
/// [`TimerMissing`](crate::JobErrorKind::TimerMissing).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct NoTimer;

impl Timer for NoTimer {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        // Never asked for: a job that sleeps is refused at start. Should it be asked anyway,
        // the sleep never completes rather than pretending time has passed.
        Box::pin(std::future::pending())
    }

    fn can_sleep(&self) -> bool {
        false
    }
}

// The pointer impls forward every method, `spawn_unboxed` too: a job started on an
// `Arc<TokioExecutor>` spawns its drivers unboxed, as one started on the `TokioExecutor` does.
// Trait objects (which cannot spawn unboxed) get impls of their own.
macro_rules! forward_executor {
    ($($pointer:ty),* $(,)?) => {$(
        impl<E: Executor> Executor for $pointer {
            fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
                (**self).spawn(future)
            }

            fn spawn_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
            where
                F: Future<Output = ()> + Send + 'static,
            {
                (**self).spawn_unboxed(future)
            }

            fn blocking(&self) -> Option<Arc<dyn Blocking>> {
                (**self).blocking()
            }
        }
    )*};
}

macro_rules! forward_local_executor {
    ($($pointer:ty),* $(,)?) => {$(
        impl<E: LocalExecutor> LocalExecutor for $pointer {
            fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
                (**self).spawn_local(future)
            }

            fn spawn_local_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
            where
                F: Future<Output = ()> + 'static,
            {
                (**self).spawn_local_unboxed(future)
            }

            fn blocking(&self) -> Option<Arc<dyn Blocking>> {
                LocalExecutor::blocking(&**self)
            }
        }
    )*};
}

forward_executor!(Arc<E>, &E, Box<E>);
forward_local_executor!(Arc<E>, std::rc::Rc<E>, &E, Box<E>);

impl Executor for Arc<dyn Executor + Send + Sync> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        (**self).spawn(future)
    }

    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        (**self).blocking()
    }
}

impl LocalExecutor for std::rc::Rc<dyn LocalExecutor> {
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        (**self).spawn_local(future)
    }

    fn blocking(&self) -> Option<Arc<dyn Blocking>> {
        (**self).blocking()
    }
}

macro_rules! forward_timer {
    ($($pointer:ty),* $(,)?) => {$(
        impl<T: Timer + ?Sized> Timer for $pointer {
            fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
                (**self).sleep(duration)
            }

            fn now(&self) -> Instant {
                (**self).now()
            }

            fn can_sleep(&self) -> bool {
                (**self).can_sleep()
            }
        }
    )*};
}

forward_timer!(Arc<T>, std::rc::Rc<T>, &T, Box<T>);

/// The executor refused a future: it has shut down, or (for an adapter that follows the
/// runtime current on the calling thread) there was no runtime to spawn on.
///
/// Opaque, like [`futures_task::SpawnError`]: tell the two apart with
/// [`is_shutdown`](Self::is_shutdown) and [`is_no_runtime`](Self::is_no_runtime).
///
/// ```
/// use asyncjob::SpawnError;
///
/// let refused = SpawnError::no_runtime("no runtime is current: call inside one");
/// assert!(refused.is_no_runtime() && !refused.is_shutdown());
/// assert_eq!(refused.to_string(), "no runtime is current: call inside one");
/// assert_eq!(SpawnError::shutdown().to_string(), "the executor is shut down");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SpawnError {
    /// `None`: shut down; else there was no runtime, and what the adapter says about it.
    no_runtime: Option<&'static str>,
}

impl SpawnError {
    /// The executor has shut down and accepts no more futures.
    pub fn shutdown() -> Self {
        SpawnError { no_runtime: None }
    }

    /// There is no runtime to spawn on where the executor was called (it follows the
    /// runtime current on the calling thread, and none is). `message` is the error's `Display`
    /// text: say which runtime was missing and how to provide one.
    pub fn no_runtime(message: &'static str) -> Self {
        SpawnError {
            no_runtime: Some(message),
        }
    }

    /// `true` if the executor has shut down ([`shutdown`](Self::shutdown)).
    pub fn is_shutdown(&self) -> bool {
        self.no_runtime.is_none()
    }

    /// `true` if there was no runtime to spawn on ([`no_runtime`](Self::no_runtime)).
    pub fn is_no_runtime(&self) -> bool {
        self.no_runtime.is_some()
    }
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.no_runtime {
            None => "shutdown",
            Some(_) => "no runtime",
        };
        f.debug_tuple("SpawnError").field(&reason).finish()
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.no_runtime.unwrap_or("the executor is shut down"))
    }
}

impl std::error::Error for SpawnError {}

impl From<futures_task::SpawnError> for SpawnError {
    fn from(_: futures_task::SpawnError) -> Self {
        SpawnError::shutdown()
    }
}

/// Adapts anything that implements [`futures_task::Spawn`] (such as
/// `futures::executor::ThreadPool`) into an [`Executor`], and anything that implements
/// [`futures_task::LocalSpawn`] (such as `futures::executor::LocalSpawner`) into a
/// [`LocalExecutor`].
///
/// It has no timer of its own (its [`Timer`] is that of [`NoTimer`]): a job without retry,
/// timeout or deadline runs on it as it is; give the others a timer with
/// [`Runner::timer`](crate::Runner::timer).
///
/// ```
/// use asyncjob::FuturesExecutor;
/// # use std::time::Duration;
/// # use asyncjob::{BoxFuture, JobBuilder, Timer};
/// # struct MyTimer;
/// # impl Timer for MyTimer { fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> { Box::pin(async {}) } }
/// # let mut job = JobBuilder::<()>::new("job");
/// # job.step("s").retry(asyncjob::retry::Retry::fixed(2, Duration::ZERO)).run(|_| async { Ok::<_, String>(()) })?;
/// # let job = job.seal();
///
/// let pool = futures::executor::ThreadPool::builder().pool_size(2).create().unwrap();
/// let instance = job.on(FuturesExecutor::new(pool)).timer(MyTimer).start(());
/// # futures::executor::block_on(instance.wait())?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct FuturesExecutor<S> {
    spawner: S,
}

impl<S> FuturesExecutor<S> {
    /// Wraps a [`futures_task::Spawn`] or [`futures_task::LocalSpawn`] implementation.
    pub fn new(spawner: S) -> Self {
        FuturesExecutor { spawner }
    }

    /// The wrapped spawner.
    pub fn spawner(&self) -> &S {
        &self.spawner
    }
}

impl<S: Spawn> Executor for FuturesExecutor<S> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.spawner
            .spawn_obj(FutureObj::new(future))
            .map_err(SpawnError::from)
    }
}

impl<S: LocalSpawn> LocalExecutor for FuturesExecutor<S> {
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.spawner
            .spawn_local_obj(LocalFutureObj::new(future))
            .map_err(SpawnError::from)
    }
}

/// No timer: reads the system's clock and cannot sleep, as [`NoTimer`].
impl<S> Timer for FuturesExecutor<S> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        NoTimer.sleep(duration)
    }

    fn can_sleep(&self) -> bool {
        false
    }
}
