//! What the step futures of one run share with the run: the definition's topology, for the
//! names in their errors, the run's cancellation signal, which wakes every pending step, and
//! what a [step context](crate::StepContext) needs of the run.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::error::JobError;
use crate::id::JobId;
use crate::rt::{Blocking, Timer};
// The same registry as the run's waiters (a utility with no dependency on the state layer's
// protocol); it is not duplicated here.
use crate::state::waiters::Waiters;
use crate::topology::Topology;

/// What the step contexts of one run share, read from the run at the first attempt of a step
/// that takes a context (runs without such steps never make it).
pub(crate) struct RunContext {
    pub(crate) id: JobId,
    /// The run's timer, if it may move between threads (`None` in a local run: the context
    /// then sleeps on the timer the driver lends for each poll).
    pub(crate) timer: Option<Arc<dyn Timer + Send + Sync>>,
    /// The run's timer can sleep (not [`NoTimer`](crate::NoTimer)).
    pub(crate) can_sleep: bool,
    /// The executor's pool for blocking work.
    pub(crate) blocking: Option<Arc<dyn Blocking>>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("id", &self.id)
            .field("shared_timer", &self.timer.is_some())
            .field("can_sleep", &self.can_sleep)
            .field("blocking", &self.blocking.is_some())
            .finish()
    }
}

/// What the step futures of one run share (they cannot hold the run itself: it owns them): the
/// definition's topology, for the names in their errors, and the run's cancellation signal.
#[derive(Debug)]
pub(crate) struct RunEnv {
    pub(crate) topology: Arc<Topology>,
    cancelled: AtomicBool,
    /// One waker per step, registered only while the step's future is pending.
    wakers: Box<[AtomicWaker]>,
    /// Futures of step contexts awaiting the cancellation ([`StepContext::cancelled`]).
    ///
    /// [`StepContext::cancelled`]: crate::StepContext::cancelled
    cancel_waiters: Waiters,
    context: OnceLock<RunContext>,
}

impl RunEnv {
    pub(crate) fn new(topology: &Arc<Topology>) -> Arc<Self> {
        Arc::new(RunEnv {
            topology: topology.clone(),
            cancelled: AtomicBool::new(false),
            wakers: (0..topology.steps.len())
                .map(|_| AtomicWaker::new())
                .collect(),
            cancel_waiters: Waiters::default(),
            context: OnceLock::new(),
        })
    }

    /// What step contexts need of the run: made by `make` on the first call.
    pub(crate) fn context(&self, make: impl FnOnce() -> Option<RunContext>) -> Option<&RunContext> {
        if let Some(context) = self.context.get() {
            return Some(context);
        }
        let made = make()?;
        Some(self.context.get_or_init(|| made))
    }

    /// `Ready` once the run is cancelled; otherwise registers the waker of the future holding
    /// `key` (see [`Waiters::poll`]).
    pub(crate) fn poll_cancelled(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        self.cancel_waiters.poll(key, cx)
    }

    /// The future holding `key` no longer awaits the cancellation.
    pub(crate) fn forget_cancel_waiter(&self, key: usize) {
        self.cancel_waiters.remove(key);
    }

    /// Registers `waker` to be woken by a cancellation, for step `index` (its driver, while the
    /// step waits for a permit; the step's future registers its own while it is pending).
    pub(crate) fn register(&self, index: usize, waker: &std::task::Waker) {
        if let Some(slot) = self.wakers.get(index) {
            slot.register(waker);
        }
    }

    /// Wakes step `index` if its future is pending (it then sees what changed).
    pub(crate) fn wake(&self, index: usize) {
        if let Some(waker) = self.wakers.get(index) {
            waker.wake();
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Sets the signal and wakes every pending step.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        for waker in self.wakers.iter() {
            waker.wake();
        }
        self.cancel_waiters.finish();
    }

    /// Runs `future` until it completes (`Some`) or the run is cancelled (`None`, and `future`
    /// is dropped by the caller).
    pub(crate) async fn guard<F: Future>(&self, index: usize, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if self.is_cancelled() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if let Some(waker) = self.wakers.get(index) {
                waker.register(cx.waker());
            }
            if self.is_cancelled() {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    pub(crate) fn cancelled_error(&self, index: usize) -> JobError {
        JobError::cancelled(&self.topology.name, &self.topology.step_name(index))
    }
}
