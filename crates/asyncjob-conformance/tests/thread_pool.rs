//! The asyncjob behaviour suite on `futures::executor::ThreadPool`, through the core's
//! `FuturesExecutor` adapter: proof that anything implementing `futures::task::Spawn` runs jobs.
//! The adapter has no timer, so the runs sleep on `asyncjob_test::ThreadTimer`.

use asyncjob::FuturesExecutor;
use asyncjob_conformance::Spawning;
use asyncjob_test::ThreadTimer;
use futures::executor::ThreadPool;

fn harness() -> Spawning<FuturesExecutor<ThreadPool>, ThreadTimer> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    Spawning::new("futures ThreadPool", FuturesExecutor::new(pool)).with_timer(ThreadTimer)
}

asyncjob_conformance::suite!(harness());
