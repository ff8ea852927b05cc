//! Issue 12, item 1, on Tokio's multi-thread runtime (2 workers): a job-level cancel that fires
//! while `start` is still scheduling the roots of a wide job (a deadline of zero on 20,000
//! roots; fail-fast with one of 300 roots failing at once) ends every step exactly once, and
//! nothing runs after `wait()` returned.
//!
//! Each round runs on a runtime of its own. After `wait()` returned the test lets every task left
//! run to its end, then shuts the runtime down (joining its workers), and counts the step
//! functions called since `wait()` returned. The checks are those of
//! [`asyncjob_conformance::start_races`].

use asyncjob::JobDefinition;
use asyncjob_conformance::Watchdog;
use asyncjob_conformance::start_races::{Probe, Race, run_round, wide_job};
use asyncjob_tokio::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Builder;

/// Runs `rounds` rounds of `race` on `job`, each on a fresh 2-worker runtime; panics with every
/// failed round's problems.
fn rounds(job: &JobDefinition<Arc<Probe>>, race: Race, rounds: usize) {
    let mut failures = Vec::new();
    for number in 0..rounds {
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        let executor = TokioExecutor::with_handle(runtime.handle().clone());
        let round = run_round(
            job,
            race,
            |job, probe, options| job.on(executor).options(options).start(probe),
            |wait| runtime.block_on(wait),
        );
        // Let every task left run to its end (a step wrongly left pending would run now), then
        // drop the runtime, which joins its workers: nothing can run after this.
        let metrics = runtime.metrics();
        runtime.block_on(async {
            while metrics.num_alive_tasks() > 0 {
                tokio::task::yield_now().await;
            }
        });
        drop(runtime);
        if let Err(problem) = round.final_check() {
            failures.push(format!("round {number}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {rounds} rounds failed; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}

#[test]
fn a_zero_deadline_racing_the_start_of_20000_roots_ends_every_step_once() {
    let _watchdog = Watchdog::new("zero deadline, 20,000 roots", Duration::from_secs(120));
    rounds(&wide_job(20_000), Race::Deadline, 10);
}

#[test]
fn fail_fast_racing_the_start_of_300_roots_ends_every_step_once() {
    let _watchdog = Watchdog::new("fail-fast, 300 roots", Duration::from_secs(120));
    rounds(&wide_job(300), Race::FailFast, 200);
}

#[test]
fn cancel_racing_the_first_steps_of_2000_roots_agrees_with_the_states() {
    let _watchdog = Watchdog::new("cancel, 2,000 roots", Duration::from_secs(120));
    rounds(&wide_job(2_000), Race::Cancel, 50);
}
