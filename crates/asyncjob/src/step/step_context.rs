//! The step context: what a step added with
//! [`run_with_context`](crate::StepBuilder::run_with_context) learns about its run and can ask
//! of it — names, id and attempt; the run's timer; its cancellation; a pool for blocking work.
//!
//! A context is made per attempt, from what the run lends the step's driver (see
//! [`context`](super::context)) and what the run's [`RunEnv`] shares, so it is an owned value
//! the step can move into its future, into a task of its own, or into blocking work. What it
//! cannot do where it is used (sleep on a run without a timer, run blocking work on an executor
//! without a pool) fails the attempt with an error that says so, rather than hang or panic.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;

use crate::env::RunEnv;
use crate::id::JobId;
use crate::rt::{Blocking, BoxFuture, Timer};

/// What a step knows about its run and can ask of it: the job's and the step's names, the
/// instance's id, the attempt's number, the run's timer, its cancellation, and a pool for
/// blocking or CPU-heavy work. A step receives one per attempt when it is added with
/// [`run_with_context`](crate::StepBuilder::run_with_context).
///
/// It is owned, `Send + Sync` and cheap to clone (one reference count): move it into the step's
/// future, into a task of your own or into blocking work.
///
/// ```
/// use std::time::Duration;
/// use asyncjob::{JobBuilder, StepContext};
/// # use asyncjob::retry::Retry;
///
/// let mut job = JobBuilder::<u32>::new("poll");
/// job.step("wait for it")
///     .retry(Retry::fixed(3, Duration::ZERO))
///     .run_with_context(|ctx: StepContext, n| async move {
///         if ctx.attempt() < 2 {
///             return Err(format!("{}/{}: not yet", ctx.job(), ctx.step()));
///         }
///         ctx.sleep(Duration::from_millis(1)).await; // on the run's timer
///         // CPU-heavy work, off the executor's threads.
///         let sum = ctx.spawn_blocking(move || (0..n as u64).sum::<u64>()).await;
///         Ok(sum)
///     })?;
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
///
/// Not to be confused with [`intercept::StepContext`](crate::intercept::StepContext), the
/// borrowed description an [`Interceptor`](crate::intercept::Interceptor) receives.
#[derive(Clone)]
pub struct StepContext {
    attempt: Arc<Attempt>,
}

/// One attempt of one step, as its contexts see it.
struct Attempt {
    env: Arc<RunEnv>,
    index: usize,
    number: u32,
    id: JobId,
    timer: Option<Arc<dyn Timer + Send + Sync>>,
    can_sleep: bool,
    blocking: Option<Arc<dyn Blocking>>,
    /// What the context could not do: the attempt fails with it.
    fault: OnceLock<Fault>,
}

/// What a context could not do where it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    NoTimer,
    OffThread,
    NoBlocking,
    BlockingRefused,
    BlockingDropped,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::NoTimer => {
                "the step context cannot sleep: the run's timer cannot sleep (give the runner \
                 one with `.timer(..)`)"
            }
            Fault::OffThread => {
                "the step context cannot sleep here: a run on a local executor lends its timer \
                 only while the step is polled (sleep inside the step's own future)"
            }
            Fault::NoBlocking => {
                "the step context cannot run blocking work: the executor offers no pool for it \
                 (`Executor::blocking` returns `None`)"
            }
            Fault::BlockingRefused => "the executor's pool refused the blocking work (shut down)",
            Fault::BlockingDropped => {
                "the executor's pool dropped the blocking work without running it"
            }
        })
    }
}

impl std::error::Error for Fault {}

impl fmt::Debug for StepContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepContext")
            .field("job", &self.job())
            .field("job_id", &self.attempt.id)
            .field("step", &self.step())
            .field("attempt", &self.attempt.number)
            .finish_non_exhaustive()
    }
}

impl StepContext {
    pub(crate) fn new(env: &Arc<RunEnv>, index: usize, number: u32) -> Option<Self> {
        let run = env.context(super::context::run_context)?;
        Some(StepContext {
            attempt: Arc::new(Attempt {
                env: env.clone(),
                index,
                number,
                id: run.id.clone(),
                timer: run.timer.clone(),
                can_sleep: run.can_sleep,
                blocking: run.blocking.clone(),
                fault: OnceLock::new(),
            }),
        })
    }

    /// What this context could not do, if anything: the attempt fails with it.
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.attempt.fault.get().copied()
    }

    /// The job definition's name.
    pub fn job(&self) -> &str {
        &self.attempt.env.topology.name
    }

    /// The instance's id ([`JobOptions::with_id`](crate::JobOptions::with_id), or numbered).
    pub fn job_id(&self) -> &JobId {
        &self.attempt.id
    }

    /// The step's name.
    pub fn step(&self) -> &str {
        let steps = &self.attempt.env.topology.steps;
        steps.get(self.attempt.index).map_or("", |meta| &meta.name)
    }

    /// The attempt's number, from 1 (greater for the retries of a step with a
    /// [retry policy](crate::StepBuilder::retry)).
    pub fn attempt(&self) -> u32 {
        self.attempt.number
    }

    /// Completes after `duration` on the run's timer: the one the runner was given
    /// ([`Runner::timer`](crate::Runner::timer)) or the executor's own, so a test timer that
    /// records or fakes time sees it.
    ///
    /// If the run's timer cannot sleep ([`NoTimer`](crate::NoTimer)), or if the context of a
    /// run on a local executor is used outside the step's own future (the timer of such a run
    /// need not be `Send`: it is lent only while the step is polled), the sleep never completes
    /// and the attempt fails with an error that says why. [`can_sleep`](Self::can_sleep) tells
    /// beforehand.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let state = if !self.attempt.can_sleep {
            SleepState::Unavailable(self.attempt.clone(), Fault::NoTimer)
        } else if let Some(timer) = &self.attempt.timer {
            SleepState::Timer(timer.sleep(duration))
        } else {
            match super::context::sleep_in(&self.attempt.env, duration) {
                Some(sleep) => SleepState::Timer(sleep),
                None => SleepState::Unavailable(self.attempt.clone(), Fault::OffThread),
            }
        };
        Sleep { state }
    }

    /// `false` if the run's timer cannot sleep: [`sleep`](Self::sleep) would fail the attempt.
    pub fn can_sleep(&self) -> bool {
        self.attempt.can_sleep
    }

    /// `true` once the instance is cancelled ([`JobInstance::cancel`](crate::JobInstance::cancel),
    /// its deadline, or a fail-fast failure). For blocking work and tasks of your own: the
    /// step's own future is dropped at its next wake-up after a cancellation anyway.
    pub fn is_cancelled(&self) -> bool {
        self.attempt.env.is_cancelled()
    }

    /// Completes once the instance is cancelled (at once if it is already), for work of the
    /// step's that runs outside its future (a task of your own) or wants to stop early.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            env: self.attempt.env.clone(),
            key: None,
        }
    }

    /// Runs `work` on the executor's pool for blocking or CPU-heavy work ([`Executor::blocking`]:
    /// Tokio's `spawn_blocking`, smol's `unblock`), away from the threads that poll futures, and
    /// completes with its result.
    ///
    /// A panic in `work` is resumed in the step, which then fails as panicked. If the executor
    /// offers no pool, or its pool refuses or drops the work, the future never completes and
    /// the attempt fails with an error that says so; [`can_spawn_blocking`](Self::can_spawn_blocking)
    /// tells beforehand. Work that has started runs to its end even if the step is cancelled:
    /// move a clone of the context into it to check [`is_cancelled`](Self::is_cancelled).
    ///
    /// [`Executor::blocking`]: crate::Executor::blocking
    pub fn spawn_blocking<T, W>(&self, work: W) -> SpawnBlocking<T>
    where
        W: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let Some(pool) = &self.attempt.blocking else {
            return SpawnBlocking::failed(self, Fault::NoBlocking);
        };
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::Pending),
            waker: AtomicWaker::new(),
        });
        let reporter = Reporter(shared.clone());
        let job = Box::new(move || {
            let reporter = reporter;
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
            reporter.report(Slot::Done(outcome));
        });
        match pool.spawn_blocking(job) {
            Ok(()) => SpawnBlocking {
                state: BlockingState::Waiting(self.attempt.clone(), shared),
            },
            Err(_) => SpawnBlocking::failed(self, Fault::BlockingRefused),
        }
    }

    /// `false` if the executor offers no pool for blocking work:
    /// [`spawn_blocking`](Self::spawn_blocking) would fail the attempt.
    pub fn can_spawn_blocking(&self) -> bool {
        self.attempt.blocking.is_some()
    }
}

impl Attempt {
    /// Records what the context could not do, and wakes the step so that its attempt fails.
    fn fail(&self, fault: Fault) {
        let _ = self.fault.set(fault);
        self.env.wake(self.index);
    }
}

/// The future of [`StepContext::sleep`].
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    state: SleepState,
}

enum SleepState {
    Timer(BoxFuture<'static, ()>),
    Unavailable(Arc<Attempt>, Fault),
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SleepState::Timer(_) => "sleeping",
            SleepState::Unavailable(..) => "unavailable",
        };
        f.debug_tuple("Sleep").field(&state).finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.state {
            SleepState::Timer(sleep) => sleep.as_mut().poll(cx),
            SleepState::Unavailable(attempt, fault) => {
                attempt.fail(*fault);
                Poll::Pending
            }
        }
    }
}

/// The future of [`StepContext::cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled {
    env: Arc<RunEnv>,
    key: Option<usize>,
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("cancelled", &self.env.is_cancelled())
            .finish()
    }
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.env.is_cancelled() {
            return Poll::Ready(());
        }
        this.env.poll_cancelled(&mut this.key, cx)
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.env.forget_cancel_waiter(key);
        }
    }
}

/// Where blocking work leaves its result for the step.
struct Shared<T> {
    slot: Mutex<Slot<T>>,
    waker: AtomicWaker,
}

enum Slot<T> {
    Pending,
    Done(std::thread::Result<T>),
    /// The pool dropped the work without running it.
    Dropped,
    Taken,
}

/// Travels with the work: reports its outcome, or, dropped unrun, that it was dropped.
struct Reporter<T>(Arc<Shared<T>>);

impl<T> Reporter<T> {
    fn report(&self, outcome: Slot<T>) {
        let mut slot = self.0.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*slot, Slot::Pending) {
            *slot = outcome;
        }
        drop(slot);
        self.0.waker.wake();
    }
}

impl<T> Drop for Reporter<T> {
    fn drop(&mut self) {
        // After `report`, the slot is no longer pending and this changes nothing.
        self.report(Slot::Dropped);
    }
}

/// The future of [`StepContext::spawn_blocking`]: the work's result.
#[must_use = "futures do nothing unless polled (the work runs anyway)"]
pub struct SpawnBlocking<T> {
    state: BlockingState<T>,
}

enum BlockingState<T> {
    Waiting(Arc<Attempt>, Arc<Shared<T>>),
    Failed(Arc<Attempt>, Fault),
}

impl<T> SpawnBlocking<T> {
    fn failed(context: &StepContext, fault: Fault) -> Self {
        SpawnBlocking {
            state: BlockingState::Failed(context.attempt.clone(), fault),
        }
    }
}

impl<T> fmt::Debug for SpawnBlocking<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            BlockingState::Waiting(..) => "waiting",
            BlockingState::Failed(..) => "failed",
        };
        f.debug_tuple("SpawnBlocking").field(&state).finish()
    }
}

impl<T> Future for SpawnBlocking<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let fault = match &this.state {
            BlockingState::Failed(attempt, fault) => {
                attempt.fail(*fault);
                return Poll::Pending;
            }
            BlockingState::Waiting(attempt, shared) => {
                shared.waker.register(cx.waker());
                let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
                match std::mem::replace(&mut *slot, Slot::Taken) {
                    Slot::Done(Ok(output)) => return Poll::Ready(output),
                    // Resumed in the step, whose own guard turns it into a panicked attempt.
                    Slot::Done(Err(panic)) => std::panic::resume_unwind(panic),
                    Slot::Pending => {
                        *slot = Slot::Pending;
                        return Poll::Pending;
                    }
                    Slot::Dropped | Slot::Taken => (attempt.clone(), Fault::BlockingDropped),
                }
            }
        };
        this.state = BlockingState::Failed(fault.0.clone(), fault.1);
        fault.0.fail(fault.1);
        Poll::Pending
    }
}
