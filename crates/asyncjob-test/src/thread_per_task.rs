//! [`ThreadPerTask`]: an executor that runs every future on a fresh OS thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, SpawnError, Timer};

use crate::ThreadTimer;

/// Runs every spawned future on a new OS thread of its own (`futures::executor::block_on`
/// there): true parallelism for every step, no queue, no worker reuse. `spawn()` fails with
/// [`SpawnError::shutdown`] if the OS cannot start a thread.
///
/// Its [`Timer`] is `T`, by default a [`ThreadTimer`]. Clones share their counts.
///
/// ```
/// use asyncjob::JobBuilder;
/// use asyncjob_test::ThreadPerTask;
///
/// let executor = ThreadPerTask::new();
/// let mut job = JobBuilder::<u32>::new("double");
/// let double = job.step("double").run(|n| async move { Ok::<_, std::io::Error>(n * 2) })?;
/// let job = job.seal().with_result(&double)?;
/// assert_eq!(futures::executor::block_on(job.on(executor.clone()).start(21).result())?, 42);
/// assert!(executor.spawns() >= 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ThreadPerTask<T = ThreadTimer> {
    timer: T,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    spawns: AtomicUsize,
    running: AtomicUsize,
}

/// Counts a task thread as running while it exists.
struct Running(Arc<Counts>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ThreadPerTask {
    /// A thread per task, sleeping on a [`ThreadTimer`].
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T> ThreadPerTask<T> {
    /// The same executor with another timer.
    pub fn with_timer<U: Timer>(self, timer: U) -> ThreadPerTask<U> {
        ThreadPerTask {
            timer,
            counts: self.counts,
        }
    }

    /// How many futures have been spawned (through any clone).
    pub fn spawns(&self) -> usize {
        self.counts.spawns.load(Ordering::SeqCst)
    }

    /// How many task threads are still running (their future has not ended, or is being
    /// dropped).
    pub fn running(&self) -> usize {
        self.counts.running.load(Ordering::SeqCst)
    }
}

impl<T> Executor for ThreadPerTask<T> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.counts.spawns.fetch_add(1, Ordering::SeqCst);
        self.counts.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.counts.clone());
        std::thread::Builder::new()
            .name("asyncjob-test task".to_owned())
            .spawn(move || {
                let _running = running;
                futures::executor::block_on(future);
            })
            .map(drop)
            .map_err(|_| SpawnError::shutdown())
    }
}

impl<T: Timer> Timer for ThreadPerTask<T> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.timer.sleep(duration)
    }
}
