//! The asyncjob behaviour suite on smol's executor: driven by the test thread alone, and by two
//! worker threads.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Sendable,
};
use asyncjob_conformance::{Harness, RecordingTimer};
use asyncjob_smol::SmolExecutor;

type Ex = async_executor::Executor<'static>;

struct Smol {
    name: &'static str,
    executor: Arc<Ex>,
    /// For the threaded variant: closing the channel stops the worker threads.
    workers: Option<(smol::channel::Sender<()>, Vec<JoinHandle<()>>)>,
}

impl Drop for Smol {
    fn drop(&mut self) {
        if let Some((stop, threads)) = self.workers.take() {
            drop(stop);
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

impl Smol {
    fn single_thread() -> Self {
        Smol {
            name: "smol single-thread",
            executor: Arc::new(Ex::new()),
            workers: None,
        }
    }

    fn two_threads() -> Self {
        let executor = Arc::new(Ex::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..2)
            .map(|_| {
                let executor = executor.clone();
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    let _ = async_io::block_on(executor.run(stopped.recv()));
                })
            })
            .collect();
        Smol {
            name: "smol 2 threads",
            executor,
            workers: Some((stop, threads)),
        }
    }
}

impl Harness for Smol {
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        if self.workers.is_some() {
            async_io::block_on(future)
        } else {
            async_io::block_on(self.executor.run(future))
        }
    }

    fn offers_blocking(&self) -> bool {
        // The adapter's `Executor::blocking`: smol's `unblock`.
        true
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(SmolExecutor::new(&self.executor))
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
        job.on(SmolExecutor::new(&self.executor))
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
        job.on(SmolExecutor::new(&self.executor))
            .options(options)
            .start(input)
    }
}

mod single_thread {
    use super::*;
    asyncjob_conformance::suite!(Smol::single_thread());
}

mod two_threads {
    use super::*;
    asyncjob_conformance::suite!(Smol::two_threads());
}
