//! Issue 12 item 10 on the executors that poll inside `spawn()` (`asyncjob_test::PollInSpawn`,
//! over a thread pool and over a `LocalPool`): a comb of 20,000 levels — each spine step has
//! two children, the next spine step (defined first) and a leaf — completes, so the stack does
//! not grow with the depth of the graph.
//!
//! The suite's `long_chain_completes` does not show this: a chain's steps run inline, one after
//! the other, in one driver. Here the engine keeps the last ready child (the leaf) to run itself
//! and spawns the other (the next spine step), which `PollInSpawn` polls inside that `spawn()`:
//! an engine that spawns from inside a poll nests one poll per level, and overflows.
//! `ASYNCJOB_COMB_DEPTH` sets another depth.

use std::convert::Infallible;
use std::time::Duration;

use asyncjob::{FuturesExecutor, JobBuilder, JobWithResult};
use asyncjob_test::{PollInSpawn, Watchdog};

fn depth() -> u64 {
    std::env::var("ASYNCJOB_COMB_DEPTH")
        .ok()
        .and_then(|depth| depth.trim().parse().ok())
        .unwrap_or(20_000)
}

/// The comb: spine `0 → 1 → … → depth-1`, and a leaf under every spine step but the last. The
/// result is the last spine step's output, `depth - 1`.
fn comb(depth: u64) -> JobWithResult<u64, u64> {
    let mut job = JobBuilder::<u64>::new("comb");
    let mut spine = job
        .step("0")
        .run(|n| async move { Ok::<_, Infallible>(n) })
        .expect("a root");
    for i in 1..depth {
        let next = job
            .step(i.to_string())
            .after(&spine)
            .run(|_, n| async move { Ok::<_, Infallible>(n + 1) })
            .expect("a spine step");
        job.step(format!("leaf {i}"))
            .after(&spine)
            .run(|_, n| async move { Ok::<_, Infallible>(n) })
            .expect("a leaf");
        spine = next;
    }
    job.seal().with_result(&spine).expect("a result step")
}

#[test]
fn a_deep_comb_completes_when_spawn_polls_on_a_thread_pool() {
    let _watchdog = Watchdog::new("poll_in_spawn_depth thread pool", Duration::from_secs(120));
    let depth = depth();
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    let executor = PollInSpawn::new(FuturesExecutor::new(pool));
    let output = futures::executor::block_on(comb(depth).on(executor.clone()).start(0).result());
    assert_eq!(output.expect("the comb succeeds"), depth - 1);
    assert!(
        executor.spawns() >= depth as usize - 1,
        "the spine steps were spawned"
    );
}

#[test]
fn a_deep_comb_completes_when_spawn_polls_on_a_local_pool() {
    let _watchdog = Watchdog::new("poll_in_spawn_depth local pool", Duration::from_secs(120));
    let depth = depth();
    let mut pool = futures::executor::LocalPool::new();
    let executor = PollInSpawn::new(FuturesExecutor::new(pool.spawner()));
    let instance = comb(depth).on(executor.clone()).start_local(0);
    let output = pool.run_until(instance.result());
    assert_eq!(output.expect("the comb succeeds"), depth - 1);
    assert!(
        executor.spawns() >= depth as usize - 1,
        "the spine steps were spawned"
    );
}
