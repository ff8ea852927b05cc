//! The model-based test of random DAGs on executors that fail one spawn of each job at a
//! random point: `asyncjob_test::RefuseNth` (the spawn returns `SpawnError`) and
//! `asyncjob_test::PanicInSpawn` (the spawn panics), over a `futures` thread pool of 2 threads.
//! The refused step must fail with `SpawnFailed` before its first attempt, its dependents be
//! skipped, and the rest of the job end as the model says; no panic may reach the caller.
//!
//! `ASYNCJOB_MODEL_CASES` and `ASYNCJOB_MODEL_SEED` work as for the suite's model test.

use std::time::Duration;

use asyncjob::FuturesExecutor;
use asyncjob_conformance::{Fault, Faulty, Watchdog, watchdog_limit};
use asyncjob_test::ThreadTimer;
use futures::executor::ThreadPool;

fn harness(name: &'static str, fault: Fault) -> Faulty<FuturesExecutor<ThreadPool>> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    Faulty::with_timer(name, fault, FuturesExecutor::new(pool), ThreadTimer)
}

fn limit() -> Duration {
    watchdog_limit()
}

#[test]
fn random_dags_match_the_model_when_a_spawn_is_refused() {
    let _watchdog = Watchdog::new(
        "random_dags_match_the_model_when_a_spawn_is_refused",
        limit(),
    );
    asyncjob_conformance::random_dags_match_the_model_with_spawn_faults(&harness(
        "RefuseNth over a futures ThreadPool",
        Fault::Refuse,
    ));
}

#[test]
fn random_dags_match_the_model_when_a_spawn_panics() {
    let _watchdog = Watchdog::new("random_dags_match_the_model_when_a_spawn_panics", limit());
    asyncjob_conformance::random_dags_match_the_model_with_spawn_faults(&harness(
        "PanicInSpawn over a futures ThreadPool",
        Fault::Panic,
    ));
}
