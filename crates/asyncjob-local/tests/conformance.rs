//! The asyncjob behaviour suite on the local executor, with `Send` definitions
//! (`JobBuilder::new`) and local ones (`JobBuilder::new_local`).

use std::future::Future;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Local,
};
use asyncjob_conformance::{Harness, LocalHarness, RecordingTimer};
use asyncjob_local::LocalRuntime;

struct Runtime(LocalRuntime);

impl Harness for Runtime {
    type Mode = Local;

    fn name(&self) -> &'static str {
        "local"
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        // `LocalHandle::blocking`: the `blocking` crate's pool.
        true
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.0.handle()).options(options).start_local(input)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.0.handle())
            .timer(timer)
            .options(options)
            .start_local(input)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        job.on(self.0.handle()).options(options).start_local(input)
    }
}

impl LocalHarness for Runtime {
    fn start_local<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static,
    {
        job.on(self.0.handle()).options(options).start_local(input)
    }

    fn start_local_with_timer<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static,
    {
        job.on(self.0.handle())
            .timer(timer)
            .options(options)
            .start_local(input)
    }

    fn start_local_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + 'static,
        O: Clone + 'static,
    {
        job.on(self.0.handle()).options(options).start_local(input)
    }
}

asyncjob_conformance::suite!(Runtime(LocalRuntime::new()), Sendable, Local);
