//! The asyncjob behaviour suite on async-std's global executor.
//!
//! async-std has one executor per process, so every test of this file shares it (and its
//! threads: one per core, or `ASYNC_STD_THREAD_COUNT`); the test thread blocks in
//! `async_std::task::block_on`, which also drives async-io's reactor while it waits.

use std::future::Future;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Sendable,
};
use asyncjob_async_std::AsyncStdExecutor;
use asyncjob_conformance::{Harness, RecordingTimer};

struct AsyncStd;

impl Harness for AsyncStd {
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        "async-std"
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        // The adapter's `Executor::blocking`: async-std's `spawn_blocking`.
        true
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(AsyncStdExecutor::new())
            .options(options)
            .start(input)
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
        job.on(AsyncStdExecutor::new())
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
        job.on(AsyncStdExecutor::new())
            .options(options)
            .start(input)
    }
}

asyncjob_conformance::suite!(AsyncStd);
