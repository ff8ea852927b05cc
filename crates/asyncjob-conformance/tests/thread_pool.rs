//! The asyncjob behaviour suite on `futures::executor::ThreadPool`, through the core's
//! `FuturesExecutor` adapter: proof that anything implementing `futures::task::Spawn` runs jobs.

use std::future::Future;
use std::time::Duration;

use asyncjob::WithTimer;
use asyncjob::{
    BoxFuture, FuturesExecutor, JobDefinition, JobInstance, JobInstanceWithResult, JobOptions,
    JobWithResult, Sendable, Timer,
};
use asyncjob_conformance::{Harness, RecordingTimer};
use futures::executor::ThreadPool;

/// A timer that sleeps on a thread of its own: enough for a test harness.
#[derive(Debug, Clone, Copy)]
struct ThreadTimer;

impl Timer for ThreadTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            let _ = tx.send(());
        });
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

struct Pool(FuturesExecutor<ThreadPool, ThreadTimer>);

impl Pool {
    fn new() -> Self {
        let pool = ThreadPool::builder()
            .pool_size(2)
            .create()
            .expect("a thread pool");
        Pool(FuturesExecutor::new(pool).with_timer(ThreadTimer))
    }
}

impl Harness for Pool {
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        "futures ThreadPool"
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.start_with(self.0.clone(), input, options)
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
        job.start_with(WithTimer::new(self.0.clone(), timer), input, options)
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
        job.start_with(self.0.clone(), input, options)
    }
}

asyncjob_conformance::suite!(Pool::new());
