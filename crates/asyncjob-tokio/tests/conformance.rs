//! The asyncjob behaviour suite on tokio: the current-thread runtime and the multi-thread
//! runtime with two workers.

use std::future::Future;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Sendable,
};
use asyncjob_conformance::{Harness, RecordingTimer};
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

struct Tokio {
    name: &'static str,
    runtime: Runtime,
}

impl Tokio {
    fn current_thread() -> Self {
        let runtime = Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        Tokio {
            name: "tokio current-thread",
            runtime,
        }
    }

    fn multi_thread() -> Self {
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        Tokio {
            name: "tokio multi-thread",
            runtime,
        }
    }

    fn executor(&self) -> TokioExecutor {
        TokioExecutor::with_handle(self.runtime.handle().clone())
    }
}

impl Harness for Tokio {
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        // The adapter's `Executor::blocking`: Tokio's `spawn_blocking`.
        true
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor()).options(options).start(input)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor())
            .timer(timer)
            .options(options)
            .start(input)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        job.on(self.executor()).options(options).start(input)
    }
}

mod current_thread {
    use super::*;
    asyncjob_conformance::suite!(Tokio::current_thread());
}

mod multi_thread {
    use super::*;
    asyncjob_conformance::suite!(Tokio::multi_thread());
}
