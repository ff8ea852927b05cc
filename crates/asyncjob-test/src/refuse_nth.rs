//! [`RefuseNth`]: an executor that refuses one spawn (or every spawn from one on).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, LocalBoxFuture, LocalExecutor, SpawnError, Timer};

/// Refuses the `n`-th spawn (counting from 1, across clones) with [`SpawnError::shutdown`],
/// dropping its future, and hands every other one to the inner executor;
/// [`and_every_later`](Self::and_every_later) refuses the `n`-th and every spawn after it, as an
/// executor that shuts down does.
///
/// An [`Executor`] and a [`LocalExecutor`] as `E` is, and a [`Timer`] when `E` is one (sleeps
/// are delegated).
///
/// ```
/// use asyncjob::{FuturesExecutor, JobBuilder, JobErrorKind};
/// use asyncjob_test::RefuseNth;
///
/// let pool = futures::executor::ThreadPool::builder().pool_size(1).create()?;
/// let executor = RefuseNth::new(FuturesExecutor::new(pool), 1);
///
/// let mut job = JobBuilder::<u32>::new("refused");
/// let only = job.step("only").run(|n| async move { Ok::<_, std::io::Error>(n) })?;
/// let job = job.seal();
/// let error = futures::executor::block_on(job.on(executor.clone()).start(1).wait()).unwrap_err();
/// assert_eq!(error.kind(), JobErrorKind::SpawnFailed);
/// assert_eq!((executor.spawns(), executor.refused()), (1, 1));
/// # let _ = only;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RefuseNth<E> {
    inner: E,
    nth: usize,
    and_later: bool,
    spawns: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl<E> RefuseNth<E> {
    /// Refuses the `nth` spawn (from 1; 0 refuses none) and hands the others to `inner`.
    pub fn new(inner: E, nth: usize) -> Self {
        RefuseNth {
            inner,
            nth,
            and_later: false,
            spawns: Arc::default(),
            refused: Arc::default(),
        }
    }

    /// Refuses every spawn after the `nth` too.
    pub fn and_every_later(mut self) -> Self {
        self.and_later = true;
        self
    }

    /// The inner executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many spawns were asked for (refused ones included).
    pub fn spawns(&self) -> usize {
        self.spawns.load(Ordering::SeqCst)
    }

    /// How many were refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Counts a spawn; `true` if it is to be refused.
    fn refuses(&self) -> bool {
        let number = self.spawns.fetch_add(1, Ordering::SeqCst) + 1;
        let refuse = self.nth != 0 && (number == self.nth || (self.and_later && number > self.nth));
        if refuse {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        refuse
    }
}

impl<E: Executor> Executor for RefuseNth<E> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        if self.refuses() {
            drop(future);
            return Err(SpawnError::shutdown());
        }
        self.inner.spawn(future)
    }

    fn spawn_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.refuses() {
            drop(future);
            return Err(SpawnError::shutdown());
        }
        self.inner.spawn_unboxed(future)
    }
}

impl<E: LocalExecutor> LocalExecutor for RefuseNth<E> {
    fn spawn_local(&self, future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        if self.refuses() {
            drop(future);
            return Err(SpawnError::shutdown());
        }
        self.inner.spawn_local(future)
    }

    fn spawn_local_unboxed<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + 'static,
    {
        if self.refuses() {
            drop(future);
            return Err(SpawnError::shutdown());
        }
        self.inner.spawn_local_unboxed(future)
    }
}

impl<E: Timer> Timer for RefuseNth<E> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}
