//! Stress test of issue 12 on Tokio's multi-thread runtime (2 workers): thousands of rounds of
//! `start` racing `cancel()`, fail-fast, a deadline of zero and both at once, on jobs of 1,000
//! and 20,000 roots ([`asyncjob_conformance::start_races`]).
//!
//! Every round checks: when `wait()` returns every step has ended; no step function is called
//! and no step future polled after that (counted once the runtime has no task left); `cancel()`
//! returned `true` iff some step ended `Cancelled`; `wait()` is the first failure in definition
//! order, else the cancellation's, else `Ok`.
//!
//! | variable | rounds | takes (debug build, 2 cores) |
//! |---|---|---|
//! | none | 1,000 of 1,000 roots, 10 of 20,000 | a few seconds |
//! | `ASYNCJOB_STRESS=1` | 20,000 of 1,000 roots, 500 of 20,000 | minutes |
//!
//! ```sh
//! cargo test -p asyncjob-tokio --test stress
//! ASYNCJOB_STRESS=1 cargo test -p asyncjob-tokio --test stress
//! ```

use std::time::Duration;

use asyncjob_conformance::Watchdog;
use asyncjob_conformance::start_races::{StressPlan, stress};
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::Builder;

#[test]
fn start_races_cancel_fail_fast_and_deadlines_on_multi_thread() {
    let plan = StressPlan::from_env();
    let limit = Duration::from_secs(if plan.rounds > StressPlan::DEFAULT.rounds {
        3_600
    } else {
        120
    });
    let _watchdog = Watchdog::new("tokio stress", limit);
    let runtime = Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let metrics = runtime.metrics();
    stress(
        "tokio multi-thread",
        plan,
        |job, probe, options| job.on(executor.clone()).options(options).start(probe),
        |wait| runtime.block_on(wait),
        || {
            runtime.block_on(async {
                while metrics.num_alive_tasks() > 0 {
                    tokio::task::yield_now().await;
                }
            });
        },
    );
}
