//! The whole behaviour suite on an executor whose spawns arrive late and out of order
//! (`asyncjob_test::DelayedSpawns`: a thread releases held futures to a `futures` thread pool
//! of 2 threads one at a time, in a seeded random order, yielding in between).

use asyncjob::FuturesExecutor;
use asyncjob_conformance::Spawning;
use asyncjob_test::{DelayedSpawns, ThreadTimer};
use futures::executor::ThreadPool;

/// The shuffling seed: fixed, so that the order of releases depends only on the spawns.
const SEED: u64 = 12;

fn harness() -> Spawning<DelayedSpawns<FuturesExecutor<ThreadPool>>, ThreadTimer> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    Spawning::new(
        "DelayedSpawns over a futures ThreadPool",
        DelayedSpawns::new(FuturesExecutor::new(pool), SEED),
    )
    .with_timer(ThreadTimer)
}

asyncjob_conformance::suite!(harness());
