//! [`DelayedSpawns`]: an executor whose spawns arrive late and out of order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, SpawnError, Timer};

/// Holds every spawned future and hands it to the inner executor later, in a random order: a
/// background thread releases one held future at a time, picked at random (from a seeded
/// xorshift generator, so a seed gives the same picks for the same spawns), and yields between
/// releases (before releasing a lone future, and at random after a release), so futures
/// spawned together start in any order and after `spawn()` returned, often long after.
///
/// `spawn()` never fails. A future the inner executor refuses is dropped (asyncjob reports its
/// step as `SpawnFailed`). When the last clone is dropped, the thread releases what it still
/// holds and ends.
///
/// A [`Timer`] when `E` is one (sleeps are delegated, not delayed). Clones share the queue and
/// the counts.
///
/// ```
/// use asyncjob::{FuturesExecutor, JobBuilder};
/// use asyncjob_test::DelayedSpawns;
///
/// let pool = futures::executor::ThreadPool::builder().pool_size(2).create()?;
/// let executor = DelayedSpawns::new(FuturesExecutor::new(pool), 7);
///
/// let mut job = JobBuilder::<u32>::new("sum");
/// let parts: Vec<_> = (0..10u32)
///     .map(|i| job.step(format!("part {i}")).run(move |n| async move { Ok::<_, std::io::Error>(n + i) }))
///     .collect::<Result<_, _>>()?;
/// let sum = job.step("sum").after(&parts).run(|_, parts: Vec<u32>| async move {
///     Ok::<_, std::io::Error>(parts.iter().sum::<u32>())
/// })?;
/// let job = job.seal().with_result(&sum)?;
/// let output = futures::executor::block_on(job.on(executor.clone()).start(1).result())?;
/// assert_eq!(output, 55);
/// assert_eq!(executor.released(), executor.spawns());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DelayedSpawns<E> {
    inner: E,
    queue: Arc<Queue>,
    /// Shared by the clones only (not by the thread): the last one closes the queue.
    _open: Arc<Open>,
}

#[derive(Debug, Default)]
struct Queue {
    held: Mutex<Held>,
    changed: Condvar,
    spawns: AtomicUsize,
    released: AtomicUsize,
    refused: AtomicUsize,
}

#[derive(Default)]
struct Held {
    futures: Vec<BoxFuture<'static, ()>>,
    closed: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("futures", &self.futures.len())
            .field("closed", &self.closed)
            .finish()
    }
}

/// Closes the queue when the last [`DelayedSpawns`] clone is dropped.
#[derive(Debug)]
struct Open(Arc<Queue>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.changed.notify_all();
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The xorshift64 generator: tiny, seeded, and good enough to shuffle.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; any other seed works.
        XorShift(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

impl<E> DelayedSpawns<E>
where
    E: Executor + Clone + Send + 'static,
{
    /// Releases spawned futures to `inner` late and in an order drawn from `seed`.
    ///
    /// # Panics
    ///
    /// If the OS cannot start the releasing thread.
    pub fn new(inner: E, seed: u64) -> Self {
        let queue = Arc::new(Queue::default());
        let releaser = inner.clone();
        let released = queue.clone();
        let started = std::thread::Builder::new()
            .name("asyncjob-test delayed spawns".to_owned())
            .spawn(move || release(&released, &releaser, XorShift::new(seed)));
        if let Err(error) = started {
            panic!("DelayedSpawns: no thread to release spawns from: {error}");
        }
        DelayedSpawns {
            inner,
            _open: Arc::new(Open(queue.clone())),
            queue,
        }
    }
}

impl<E> DelayedSpawns<E> {
    /// The inner executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many futures have been spawned (through any clone).
    pub fn spawns(&self) -> usize {
        self.queue.spawns.load(Ordering::SeqCst)
    }

    /// How many have been handed to the inner executor (refused ones included).
    pub fn released(&self) -> usize {
        self.queue.released.load(Ordering::SeqCst)
    }

    /// How many the inner executor refused (and were dropped).
    pub fn refused(&self) -> usize {
        self.queue.refused.load(Ordering::SeqCst)
    }

    /// How many are held now, not yet released.
    pub fn held(&self) -> usize {
        self.queue.lock().futures.len()
    }
}

/// The releasing thread: one random held future at a time, with yields in between, until the
/// queue is closed and empty.
fn release<E: Executor>(queue: &Queue, inner: &E, mut rng: XorShift) {
    loop {
        {
            let mut held = queue.lock();
            while held.futures.is_empty() && !held.closed {
                held = queue
                    .changed
                    .wait(held)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if held.futures.is_empty() {
                return;
            }
        }
        let future = {
            let mut held = queue.lock();
            if held.futures.len() == 1 && !held.closed {
                // A lone future: let more spawns gather (so that there is an order to mix),
                // and the spawner run on (so that the future arrives late).
                drop(held);
                std::thread::yield_now();
                held = queue.lock();
            }
            let count = held.futures.len();
            if count == 0 {
                continue;
            }
            let at = rng.below(count);
            held.futures.swap_remove(at)
        };
        queue.released.fetch_add(1, Ordering::SeqCst);
        // A refused future has been dropped by `inner`.
        if inner.spawn(future).is_err() {
            queue.refused.fetch_add(1, Ordering::SeqCst);
        }
        // Every other release, on average: let the released future start before the next.
        if rng.below(2) == 0 {
            std::thread::yield_now();
        }
    }
}

impl<E: Executor> Executor for DelayedSpawns<E> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.queue.spawns.fetch_add(1, Ordering::SeqCst);
        self.queue.lock().futures.push(future);
        self.queue.changed.notify_all();
        Ok(())
    }
}

impl<E: Timer> Timer for DelayedSpawns<E> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}
