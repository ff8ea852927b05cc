//! What the step futures of one run share with the run: the definition's topology, for the
//! names in their errors, and the run's cancellation signal, which wakes every pending step.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use crate::error::JobError;
use crate::topology::Topology;

/// What the step futures of one run share (they cannot hold the run itself: it owns them): the
/// definition's topology, for the names in their errors, and the run's cancellation signal.
#[derive(Debug)]
pub(crate) struct RunEnv {
    pub(crate) topology: Arc<Topology>,
    cancelled: AtomicBool,
    /// One waker per step, registered only while the step's future is pending.
    wakers: Box<[AtomicWaker]>,
}

impl RunEnv {
    pub(crate) fn new(topology: &Arc<Topology>) -> Arc<Self> {
        Arc::new(RunEnv {
            topology: topology.clone(),
            cancelled: AtomicBool::new(false),
            wakers: (0..topology.steps.len())
                .map(|_| AtomicWaker::new())
                .collect(),
        })
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
