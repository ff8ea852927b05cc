//! Issue 12, item 1, on smol's executor driven by 2 threads: a deadline of zero that fires while
//! `start` is still scheduling the 2,000 roots of a wide job ends every step exactly once, and
//! nothing runs after `wait()` returned.
//!
//! Each round runs on an executor of its own. After `wait()` returned the test lets the
//! executor run every task left to its end, then stops its threads and joins them, and counts
//! the step functions called since `wait()` returned. The checks are those of
//! [`asyncjob_conformance::start_races`].

use std::sync::Arc;
use std::time::Duration;

use asyncjob_conformance::Watchdog;
use asyncjob_conformance::start_races::{Race, run_round, wide_job};
use asyncjob_smol::SmolExecutor;

type Ex = async_executor::Executor<'static>;

#[test]
fn a_zero_deadline_racing_the_start_of_2000_roots_ends_every_step_once() {
    let _watchdog = Watchdog::new("zero deadline, 2,000 roots", Duration::from_secs(120));
    let job = wide_job(2_000);
    let rounds = 40;
    let mut failures = Vec::new();
    for number in 0..rounds {
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
        let round = run_round(
            &job,
            Race::Deadline,
            |job, probe, options| {
                job.on(SmolExecutor::new(&executor))
                    .options(options)
                    .start(probe)
            },
            async_io::block_on,
        );
        // Let every task left run to its end (a step wrongly left pending would run now), then
        // stop the threads: nothing can run after this.
        async_io::block_on(executor.run(async {
            while !executor.is_empty() {
                smol::future::yield_now().await;
            }
        }));
        drop(stop);
        for thread in threads {
            thread.join().expect("an executor thread");
        }
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
