//! [`PanicInSpawn`]: an executor whose `spawn()` panics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, LocalBoxFuture, LocalExecutor, SpawnError, Timer};

/// The start of the message of every panic a [`PanicInSpawn`] raises, so that a test's panic
/// hook can keep quiet about them.
pub const PANIC_MESSAGE: &str = "asyncjob-test: PanicInSpawn panics in spawn() (deliberately)";

/// Panics inside the `n`-th `spawn()` (counting from 1, across clones), dropping its future
/// while unwinding, and hands every other spawn to the inner executor;
/// [`and_every_later`](Self::and_every_later) panics in every spawn from the `n`-th on.
///
/// A panic in `spawn()` is a bug of the executor, but one that a library must survive: asyncjob
/// treats it as a refused spawn (the step fails with `SpawnFailed`). The panic message starts
/// with [`PANIC_MESSAGE`].
///
/// An [`Executor`] and a [`LocalExecutor`] as `E` is, and a [`Timer`] when `E` is one (sleeps
/// are delegated).
///
/// ```
/// use asyncjob::{BoxFuture, Executor};
/// use asyncjob_test::PanicInSpawn;
///
/// #[derive(Clone)]
/// struct Run;
/// impl Executor for Run {
///     fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), asyncjob::SpawnError> {
///         futures::executor::block_on(future);
///         Ok(())
///     }
/// }
///
/// let executor = PanicInSpawn::new(Run, 2);
/// assert!(executor.spawn(Box::pin(async {})).is_ok());
/// let second = std::panic::catch_unwind(|| executor.spawn(Box::pin(async {})));
/// assert!(second.is_err());
/// assert_eq!((executor.spawns(), executor.panicked()), (2, 1));
/// ```
#[derive(Debug, Clone)]
pub struct PanicInSpawn<E> {
    inner: E,
    nth: usize,
    and_later: bool,
    spawns: Arc<AtomicUsize>,
    panicked: Arc<AtomicUsize>,
}

impl<E> PanicInSpawn<E> {
    /// Panics in the `nth` spawn (from 1; 0 never panics) and hands the others to `inner`.
    pub fn new(inner: E, nth: usize) -> Self {
        PanicInSpawn {
            inner,
            nth,
            and_later: false,
            spawns: Arc::default(),
            panicked: Arc::default(),
        }
    }

    /// Panics in every spawn after the `nth` too.
    pub fn and_every_later(mut self) -> Self {
        self.and_later = true;
        self
    }

    /// The inner executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many spawns were asked for (those that panicked included).
    pub fn spawns(&self) -> usize {
        self.spawns.load(Ordering::SeqCst)
    }

    /// How many panicked.
    pub fn panicked(&self) -> usize {
        self.panicked.load(Ordering::SeqCst)
    }

    /// Counts a spawn and panics if it is the one; `future` is dropped while unwinding.
    fn maybe_panic<F>(&self, future: F) -> F {
        let number = self.spawns.fetch_add(1, Ordering::SeqCst) + 1;
        if self.nth != 0 && (number == self.nth || (self.and_later && number > self.nth)) {
            self.panicked.fetch_add(1, Ordering::SeqCst);
            let _dropped_while_unwinding = future;
            panic!("{PANIC_MESSAGE} (spawn #{number})");
        }
        future
    }
}

impl<E: Executor> Executor for PanicInSpawn<E> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        let future = self.maybe_panic(future);
        self.inner.spawn(future)
    }

    fn spawn_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let future = self.maybe_panic(future);
        self.inner.spawn_unboxed(future)
    }
}

impl<E: LocalExecutor> LocalExecutor for PanicInSpawn<E> {
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        let future = self.maybe_panic(future);
        self.inner.spawn_local(future)
    }

    fn spawn_local_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + 'static,
    {
        let future = self.maybe_panic(future);
        self.inner.spawn_local_unboxed(future)
    }
}

impl<E: Timer> Timer for PanicInSpawn<E> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}
