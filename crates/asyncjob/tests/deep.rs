//! Very long chains run, and are dropped, without a stack overflow: the engine runs successors
//! in a loop (not by recursion) and frees unfinished steps last-to-first.

use asyncjob::{BoxFuture, FuturesSpawner, JobBuilder, JobDefinition, Timer};
use futures::executor::LocalPool;

type Res<T> = Result<T, std::convert::Infallible>;

#[derive(Clone)]
struct NoSleep;

impl Timer for NoSleep {
    fn sleep(&self, _: std::time::Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

const STEPS: u64 = 1_000_000;

fn chain() -> (JobDefinition<u64>, asyncjob::StepHandle<u64>) {
    let mut job = JobBuilder::<u64>::new("deep");
    let mut link = job
        .step("0")
        .run(|n| async move { Res::Ok(n) })
        .expect("ok");
    for i in 1..STEPS {
        link = job
            .step(i.to_string())
            .after(&link)
            .run(|_, n| async move { Res::Ok(n + 1) })
            .expect("ok");
    }
    (job.seal(), link)
}

#[test]
fn a_million_step_chain_runs_and_drops() {
    let (job, last) = chain();
    let mut pool = LocalPool::new();
    let executor = FuturesSpawner::new(pool.spawner()).with_timer(NoSleep);

    let instance = job.start_local(executor.clone(), 0);
    pool.run_until(instance.wait()).expect("succeeds");
    assert_eq!(instance.output(&last), Some(STEPS - 1));
    drop(instance);

    // Dropped before any step ran: a million unfinished step futures, each holding its parent's
    // output handle, are freed without recursing down the chain.
    let instance = job.start_local(executor, 0);
    drop(instance);
    drop(pool);
}
