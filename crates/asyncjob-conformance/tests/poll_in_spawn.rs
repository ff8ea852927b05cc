//! The whole behaviour suite on an executor that polls every future once inside `spawn()`, on
//! the caller's thread, before handing it to a `futures` thread pool of 2 threads
//! (`asyncjob_test::PollInSpawn`): steps and their successors start inside the spawn that asked
//! for them, so code that is not reentrant (or recurses once per level of the graph) shows.

use asyncjob::FuturesExecutor;
use asyncjob_conformance::Spawning;
use asyncjob_test::{PollInSpawn, ThreadTimer};
use futures::executor::ThreadPool;

fn harness() -> Spawning<PollInSpawn<FuturesExecutor<ThreadPool>>, ThreadTimer> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    Spawning::new(
        "PollInSpawn over a futures ThreadPool",
        PollInSpawn::new(FuturesExecutor::new(pool)),
    )
    .with_timer(ThreadTimer)
}

asyncjob_conformance::suite!(harness());
