//! Context enrichment: code of yours that runs around every poll of every attempt of a step,
//! knowing the job, the instance id, the step and the attempt — go-asyncjob's
//! `WithContextEnrichment`, done the way `tracing` instruments futures.
//!
//! An [`Interceptor`] is given a [`StepContext`] when an attempt starts and returns an
//! [`AttemptScope`], which is entered before each poll of the attempt's future and exited after
//! it. That is enough to put the attempt in a `tracing` span (see
//! [`TracingInterceptor`] with the `tracing` feature), to set a thread-local for the duration
//! of the step's code (a task-local, on any runtime), or to count and time attempts.
//!
//! Set one per step with [`StepBuilder::intercept`](crate::StepBuilder::intercept), or for every
//! step of a job with [`JobBuilder::intercept`](crate::JobBuilder::intercept) (the job's runs
//! outside the step's). Steps without interceptors (nor retry or timeout) pay nothing.
//!
#![cfg_attr(
    feature = "tracing",
    doc = "[`TracingInterceptor`]: crate::instrument::TracingInterceptor"
)]
#![cfg_attr(
    not(feature = "tracing"),
    doc = "[`TracingInterceptor`]: https://docs.rs/asyncjob/latest/asyncjob/instrument/struct.TracingInterceptor.html"
)]
//!
//! ```
//! use std::cell::RefCell;
//! use asyncjob::intercept::{AttemptScope, Interceptor, StepContext};
//!
//! thread_local!(static CURRENT_STEP: RefCell<Option<String>> = const { RefCell::new(None) });
//!
//! /// Makes the step's name readable from anywhere in its code, e.g. by a logger.
//! struct StepName;
//!
//! struct Scope(String);
//!
//! impl Interceptor for StepName {
//!     fn attempt(&self, context: &StepContext<'_>) -> Box<dyn AttemptScope> {
//!         Box::new(Scope(format!("{}/{}#{}", context.job, context.step, context.attempt)))
//!     }
//! }
//!
//! impl AttemptScope for Scope {
//!     fn enter(&self) {
//!         CURRENT_STEP.with(|c| *c.borrow_mut() = Some(self.0.clone()));
//!     }
//!     fn exit(&self) {
//!         CURRENT_STEP.with(|c| *c.borrow_mut() = None);
//!     }
//! }
//! # let mut job = asyncjob::JobBuilder::<()>::new("j");
//! # job.step("s").intercept(StepName).run(|()| async {
//! #     Ok::<_, String>(CURRENT_STEP.with(|c| c.borrow().clone()))
//! # }).unwrap();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::id::JobId;

/// Who is running: handed to an [`Interceptor`] when an attempt of a step starts.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StepContext<'a> {
    /// The job definition's name.
    pub job: &'a str,
    /// The instance's id.
    pub job_id: &'a JobId,
    /// The step's name.
    pub step: &'a str,
    /// The attempt's number, from 1.
    pub attempt: u32,
}

/// Wraps the attempts of steps: see the [module documentation](self).
pub trait Interceptor: Send + Sync + 'static {
    /// Called when an attempt starts; the scope returned is entered around every poll of it.
    fn attempt(&self, context: &StepContext<'_>) -> Box<dyn AttemptScope>;
}

/// What an [`Interceptor`] does around each poll of one attempt.
pub trait AttemptScope: Send {
    /// Called before each poll of the attempt's future.
    fn enter(&self);
    /// Called after each poll of the attempt's future (also if it panicked).
    fn exit(&self);
}

/// The interceptors of one step: the job's, then the step's.
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Vec<Arc<dyn Interceptor>>);

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interceptors({})", self.0.len())
    }
}

impl Interceptors {
    pub(crate) fn push(&mut self, interceptor: Arc<dyn Interceptor>) {
        self.0.push(interceptor);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn scopes(&self, context: &StepContext<'_>) -> Scopes {
        Scopes(self.0.iter().map(|i| i.attempt(context)).collect())
    }
}

/// The entered scopes of one attempt, outermost first.
pub(crate) struct Scopes(Vec<Box<dyn AttemptScope>>);

impl Scopes {
    pub(crate) fn none() -> Self {
        Scopes(Vec::new())
    }

    pub(crate) fn extend(&mut self, inner: Scopes) {
        self.0.extend(inner.0);
    }

    /// Runs `f` inside the scopes.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _exit = self.enter();
        f()
    }

    fn enter(&self) -> Exit<'_> {
        for scope in &self.0 {
            scope.enter();
        }
        Exit(&self.0)
    }
}

/// Exits the scopes, innermost first, when dropped (also on a panic).
struct Exit<'a>(&'a [Box<dyn AttemptScope>]);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        for scope in self.0.iter().rev() {
            scope.exit();
        }
    }
}

/// A future run inside [`Scopes`].
pub(crate) struct Scoped<F> {
    pub(crate) scopes: Scopes,
    pub(crate) future: F,
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _exit = this.scopes.enter();
        Pin::new(&mut this.future).poll(cx)
    }
}
