//! A step's cell: the future that runs one step of one run, and then the output it produced.
//!
//! A run makes one cell per step when it starts. The step's driver polls the future (the only
//! code that does); once it completes, the future is dropped and the output is stored, and the
//! step's dependents read it through an [`OutputCell`], cloning it once each. The step's own
//! completion never clones its output.
//!
//! This is the part of [`futures_util::future::Shared`] the engine needs — one producer, a
//! readable output — without what it does not: `Shared` hands a clone of the output to every
//! handle that polls it (so the driver would clone each output once and drop it), and keeps a
//! second allocation and a waker slab for handles that await it. Nothing here awaits a cell:
//! the engine starts a step only once its parents have ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use crate::error::JobError;

/// What a step's future resolves to.
pub(crate) type StepResult<T> = Result<T, JobError>;

/// A step's cell, erased over the step's output and future types: what the run holds.
pub trait ErasedCell: 'static {
    /// Drives the step's future. `Ready` once it has completed: `Ok` with the output stored.
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>>;
    /// Drops the step's future, if it has not completed (the step will never be polled again).
    fn drop_future(&self);
    /// The output, if the step produced one, as `&T`.
    fn output_any(&self, f: &mut dyn FnMut(&dyn Any));
    /// Stores a handle on this cell's output in `out`, an `Option<Arc<dyn OutputCell<T> ..>>`
    /// of the cell's mode (see [`crate::mode`]); leaves `out` alone if the types differ.
    fn capture(self: Arc<Self>, out: &mut dyn Any);
}

/// A step's output as its dependents hold it: typed over the output, erased over the step's
/// future.
pub trait OutputCell<T> {
    /// The output, once the step has produced it.
    fn peek(&self) -> Option<&T>;
}

/// The cell of one step. `SEND` tells the mode: a `Send` cell is captured by its dependents as
/// `Arc<dyn OutputCell<T> + Send + Sync>`, a local one as `Arc<dyn OutputCell<T>>`.
///
/// The future is boxed (pinned) because the cell is shared and `forbid(unsafe_code)` rules out
/// pinning it in place; the mutex is uncontended, only the step's driver polls.
pub(crate) struct StepCell<F, T, const SEND: bool> {
    future: Mutex<Option<Pin<Box<F>>>>,
    output: OnceLock<T>,
}

impl<F, T, const SEND: bool> StepCell<F, T, SEND>
where
    F: Future<Output = StepResult<T>>,
{
    pub(crate) fn new(future: F) -> Arc<Self> {
        Arc::new(StepCell {
            future: Mutex::new(Some(Box::pin(future))),
            output: OnceLock::new(),
        })
    }

    fn poll_inner(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        let mut slot = self.future.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(Err(JobError::internal(
                &"".into(),
                &"".into(),
                "a step was polled after it completed",
            )));
        };
        let outcome = match future.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        // Drop the future before the output is published: its destructor may panic, which
        // then fails the step (the driver catches it) rather than leaving a half-done one.
        let future = slot.take();
        drop(slot);
        drop(future);
        Poll::Ready(outcome.map(|value| {
            let _ = self.output.set(value);
        }))
    }

    fn drop_inner(&self) {
        let future = self
            .future
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(future);
    }
}

impl<F, T: 'static, const SEND: bool> OutputCell<T> for StepCell<F, T, SEND> {
    fn peek(&self) -> Option<&T> {
        self.output.get()
    }
}

impl<F, T> ErasedCell for StepCell<F, T, true>
where
    F: Future<Output = StepResult<T>> + Send + 'static,
    T: Send + Sync + 'static,
{
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        self.poll_inner(cx)
    }

    fn drop_future(&self) {
        self.drop_inner();
    }

    fn output_any(&self, f: &mut dyn FnMut(&dyn Any)) {
        if let Some(value) = self.output.get() {
            f(value);
        }
    }

    fn capture(self: Arc<Self>, out: &mut dyn Any) {
        if let Some(out) = out.downcast_mut::<Option<Arc<dyn OutputCell<T> + Send + Sync>>>() {
            *out = Some(self);
        }
    }
}

impl<F, T> ErasedCell for StepCell<F, T, false>
where
    F: Future<Output = StepResult<T>> + 'static,
    T: 'static,
{
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        self.poll_inner(cx)
    }

    fn drop_future(&self) {
        self.drop_inner();
    }

    fn output_any(&self, f: &mut dyn FnMut(&dyn Any)) {
        if let Some(value) = self.output.get() {
            f(value);
        }
    }

    fn capture(self: Arc<Self>, out: &mut dyn Any) {
        if let Some(out) = out.downcast_mut::<Option<Arc<dyn OutputCell<T>>>>() {
            *out = Some(self);
        }
    }
}
