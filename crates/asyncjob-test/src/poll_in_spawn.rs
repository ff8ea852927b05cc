//! [`PollInSpawn`]: an executor that polls a future inside `spawn()`, on the caller's thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Context;
use std::time::Duration;

use asyncjob::{BoxFuture, Executor, LocalBoxFuture, LocalExecutor, SpawnError, Timer};
use futures::task::ArcWake;

/// Polls every spawned future once inside `spawn()`, on the caller's thread, before handing it
/// to the inner executor: legal for an executor (nothing in the `Spawn` contract forbids it),
/// and the executor that finds code which is not reentrant.
///
/// As an [`Executor`] (inner `E: Executor`): the first poll runs inside `spawn()` with a waker
/// that re-spawns the future on `E`; if it is still pending, it is handed to `E` at once (one
/// extra poll there). Every wake-up after that is a fresh spawn on `E` of one poll of the
/// future, so a future moves between the inner executor's tasks (and threads) on every wake.
/// If `E` refuses the hand-over, the future is dropped and `spawn()` returns the error; if it
/// refuses a later wake-up, the future is dropped.
///
/// As a [`LocalExecutor`] (inner `E: LocalExecutor`): the first poll runs inside
/// `spawn_local()` with a waker that does nothing; if the future is pending, it is spawned on
/// `E`, which polls it again at once with its own waker (so a wake-up during the first poll is
/// not lost).
///
/// A [`Timer`] when `E` is one (sleeps are delegated), so it can be passed to
/// [`JobDefinition::on`](asyncjob::JobDefinition::on) as it is. Clones share
/// their counts.
///
/// ```
/// use asyncjob::{FuturesExecutor, JobBuilder};
/// use asyncjob_test::PollInSpawn;
///
/// let pool = futures::executor::ThreadPool::builder().pool_size(2).create()?;
/// let executor = PollInSpawn::new(FuturesExecutor::new(pool));
///
/// let mut job = JobBuilder::<u32>::new("double");
/// let double = job.step("double").run(|n| async move { Ok::<_, std::io::Error>(n * 2) })?;
/// let job = job.seal().with_result(&double)?;
/// let output = futures::executor::block_on(job.on(executor.clone()).start(21).result())?;
/// assert_eq!(output, 42);
/// assert!(executor.spawns() >= 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Over a `futures::executor::LocalPool`, for local jobs:
///
/// ```
/// use asyncjob::{FuturesExecutor, JobBuilder};
/// use asyncjob_test::PollInSpawn;
///
/// let mut pool = futures::executor::LocalPool::new();
/// let executor = PollInSpawn::new(FuturesExecutor::new(pool.spawner()));
///
/// let mut job = JobBuilder::<u32>::new_local("double");
/// let double = job.step("double").run(|n| async move { Ok::<_, std::io::Error>(n * 2) })?;
/// let job = job.seal().with_result(&double)?;
/// let instance = job.on(executor.clone()).start_local(21);
/// // The step ran inside `start_local`, in `spawn_local()`:
/// assert_eq!(executor.ended_in_spawn(), 1);
/// assert_eq!(pool.run_until(instance.result())?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PollInSpawn<E> {
    inner: E,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    spawns: AtomicUsize,
    ended_in_spawn: AtomicUsize,
}

impl<E> PollInSpawn<E> {
    /// Polls inside `spawn()`, then hands pending futures to `inner`.
    pub fn new(inner: E) -> Self {
        PollInSpawn {
            inner,
            counts: Arc::default(),
        }
    }

    /// The inner executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many futures have been spawned (through any clone).
    pub fn spawns(&self) -> usize {
        self.counts.spawns.load(Ordering::SeqCst)
    }

    /// How many spawned futures completed during their first poll, inside `spawn()`.
    pub fn ended_in_spawn(&self) -> usize {
        self.counts.ended_in_spawn.load(Ordering::SeqCst)
    }
}

impl<E> Executor for PollInSpawn<E>
where
    E: Executor + Clone + Send + Sync + 'static,
{
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.counts.spawns.fetch_add(1, Ordering::SeqCst);
        let task = Arc::new(Task {
            inner: self.inner.clone(),
            state: Mutex::new(State::Scheduled(future)),
        });
        match task.poll_once() {
            Polled::Ended => {
                self.counts.ended_in_spawn.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Polled::Woken => task.schedule(),
            Polled::Parked => task.hand_over(),
        }
    }
}

impl<E> LocalExecutor for PollInSpawn<E>
where
    E: LocalExecutor,
{
    fn spawn_local(&self, mut future: LocalBoxFuture<'static, ()>) -> Result<(), SpawnError> {
        self.counts.spawns.fetch_add(1, Ordering::SeqCst);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        if future.as_mut().poll(&mut cx).is_ready() {
            self.counts.ended_in_spawn.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        self.inner.spawn_local(future)
    }
}

impl<E: Timer> Timer for PollInSpawn<E> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}

/// A spawned future and the inner executor it is re-spawned on when woken.
struct Task<E> {
    inner: E,
    state: Mutex<State>,
}

/// Where a [`Task`]'s future is. Futures are never dropped with the lock held (a drop may wake
/// the task, which takes the lock).
enum State {
    /// Waiting for a wake-up.
    Idle(BoxFuture<'static, ()>),
    /// Woken: a poll of it is (about to be) spawned on the inner executor.
    Scheduled(BoxFuture<'static, ()>),
    /// Being polled (the future is on the poller's stack).
    Running,
    /// Being polled, and woken meanwhile: schedule it again after the poll.
    Notified,
    /// Ended, dropped, or refused by the inner executor (also after a panic in its poll, which
    /// leaves the state `Running` or `Notified` for good: the future is gone).
    Done,
}

/// What [`Task::poll_once`] did.
enum Polled {
    Ended,
    /// Pending, and not woken while polled (or there was nothing to poll).
    Parked,
    /// Pending and woken while polled: it is `Scheduled`, and the caller must spawn its poll.
    Woken,
}

impl<E> Task<E>
where
    E: Executor + Send + Sync + 'static,
{
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls the future once if it is scheduled.
    fn poll_once(self: &Arc<Self>) -> Polled {
        let mut future = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Running) {
                State::Scheduled(future) => future,
                other => {
                    *state = other;
                    return Polled::Parked;
                }
            }
        };
        let waker = futures::task::waker(self.clone());
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        let mut state = self.lock();
        if poll.is_ready() {
            *state = State::Done;
            drop(state);
            drop(future);
            return Polled::Ended;
        }
        match std::mem::replace(&mut *state, State::Done) {
            State::Notified => {
                *state = State::Scheduled(future);
                Polled::Woken
            }
            _ => {
                *state = State::Idle(future);
                Polled::Parked
            }
        }
    }

    /// Spawns one poll of a `Scheduled` future on the inner executor; drops it if refused.
    fn schedule(self: &Arc<Self>) -> Result<(), SpawnError> {
        let task = self.clone();
        let spawned = self.inner.spawn(Box::pin(async move {
            if let Polled::Woken = task.poll_once() {
                let _ = task.schedule();
            }
        }));
        if spawned.is_err() {
            let refused = std::mem::replace(&mut *self.lock(), State::Done);
            drop(refused);
        }
        spawned
    }

    /// After the first poll inside `spawn()`: hands a parked future to the inner executor.
    fn hand_over(self: &Arc<Self>) -> Result<(), SpawnError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Done) {
            State::Idle(future) => {
                *state = State::Scheduled(future);
                drop(state);
                self.schedule()
            }
            // Woken meanwhile (and scheduled by the waker), or already over.
            other => {
                *state = other;
                Ok(())
            }
        }
    }
}

impl<E> ArcWake for Task<E>
where
    E: Executor + Send + Sync + 'static,
{
    fn wake_by_ref(task: &Arc<Self>) {
        let mut state = task.lock();
        match std::mem::replace(&mut *state, State::Done) {
            State::Idle(future) => {
                *state = State::Scheduled(future);
                drop(state);
                let _ = task.schedule();
            }
            State::Running => *state = State::Notified,
            other => *state = other,
        }
    }
}
