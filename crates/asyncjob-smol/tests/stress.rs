//! Stress test of issue 12 on smol's executor driven by 2 threads: thousands of rounds of
//! `start` racing `cancel()`, fail-fast, a deadline of zero and both at once, on jobs of 1,000
//! and 20,000 roots ([`asyncjob_conformance::start_races`]).
//!
//! Every round checks: when `wait()` returns every step has ended; no step function is called
//! and no step future polled after that (counted once the executor has no task left);
//! `cancel()` returned `true` iff some step ended `Cancelled`; `wait()` is the first failure in
//! definition order, else the cancellation's, else `Ok`.
//!
//! | variable | rounds | takes (debug build, 2 cores) |
//! |---|---|---|
//! | none | 1,000 of 1,000 roots, 10 of 20,000 | a few seconds |
//! | `ASYNCJOB_STRESS=1` | 20,000 of 1,000 roots, 500 of 20,000 | minutes |
//!
//! ```sh
//! cargo test -p asyncjob-smol --test stress
//! ASYNCJOB_STRESS=1 cargo test -p asyncjob-smol --test stress
//! ```

use std::sync::Arc;
use std::time::Duration;

use asyncjob_conformance::Watchdog;
use asyncjob_conformance::start_races::{StressPlan, stress};
use asyncjob_smol::SmolExecutor;

type Ex = async_executor::Executor<'static>;

#[test]
fn start_races_cancel_fail_fast_and_deadlines_on_two_threads() {
    let plan = StressPlan::from_env();
    let limit = Duration::from_secs(if plan.rounds > StressPlan::DEFAULT.rounds {
        3_600
    } else {
        120
    });
    let _watchdog = Watchdog::new("smol stress", limit);
    let executor = Arc::new(Ex::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || {
                let _ = async_io::block_on(executor.run(stopped.recv()));
            })
        })
        .collect();
    stress(
        "smol 2 threads",
        plan,
        |job, probe, options| {
            job.on(SmolExecutor::new(&executor))
                .options(options)
                .start(probe)
        },
        async_io::block_on,
        || {
            async_io::block_on(executor.run(async {
                while !executor.is_empty() {
                    smol::future::yield_now().await;
                }
            }));
        },
    );
    drop(stop);
    for thread in threads {
        thread.join().expect("an executor thread");
    }
}
