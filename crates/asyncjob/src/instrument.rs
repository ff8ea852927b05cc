//! `tracing` integration (the `tracing` cargo feature): every attempt of a step in a span.
//!
//! [`TracingInterceptor`] is an [`Interceptor`] that opens an `INFO` span named `step` with the
//! fields `job`, `job_id`, `step` and `attempt` for each attempt of a step, and enters it around
//! every poll, so that whatever the step logs is attributed to it — on any runtime.
//!
//! ```
//! use asyncjob::JobBuilder;
//! use asyncjob::instrument::TracingInterceptor;
//!
//! let mut job = JobBuilder::<()>::new("traced");
//! job.intercept(TracingInterceptor::new()); // every step of the job
//! job.step("hello").run(|()| async {
//!     tracing::info!("inside the `step` span");
//!     Ok::<_, String>(())
//! })?;
//! # Ok::<_, asyncjob::DefinitionError>(())
//! ```

use tracing::{Span, info_span};

use crate::intercept::{AttemptScope, Interceptor, StepContext};

/// Puts each attempt of a step in a `step` span: see the [module documentation](self).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TracingInterceptor;

impl TracingInterceptor {
    /// The interceptor.
    pub fn new() -> Self {
        TracingInterceptor
    }
}

impl Interceptor for TracingInterceptor {
    fn attempt(&self, context: &StepContext<'_>) -> Box<dyn AttemptScope> {
        let span = info_span!(
            "step",
            job = context.job,
            job_id = %context.job_id,
            step = context.step,
            attempt = context.attempt,
        );
        Box::new(SpanScope(span))
    }
}

/// Enters its span around each poll. `Span::enter` returns a guard that borrows the span, which
/// cannot be kept between `enter` and `exit`, so this goes through the span's dispatcher, as
/// `Span::enter` itself does.
struct SpanScope(Span);

impl AttemptScope for SpanScope {
    fn enter(&self) {
        self.0.with_subscriber(|(id, dispatch)| dispatch.enter(id));
    }

    fn exit(&self) {
        self.0.with_subscriber(|(id, dispatch)| dispatch.exit(id));
    }
}
