//! A job's deadline ends with the job (issue 12, item 9): once every step has ended, the task
//! that waits for the deadline ends too and drops its timer sleep, rather than holding it (and
//! a task) until the deadline would have passed.

use std::time::Duration;

/// The deadline of every job.
pub const HOUR: Duration = Duration::from_secs(3600);

/// How many jobs the test starts.
pub const JOBS: usize = 1_000;

/// How long the deadline tasks get to end once their jobs have: a bound that turns a deadline
/// task which never ends into a failure, not a measurement (on a sound engine they end at once).
pub const SETTLE: Duration = Duration::from_secs(10);

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_deadline_ends {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::time::Instant;

        use $crate::suite::deadline_ends::{HOUR, JOBS, SETTLE};

        $crate::__suite_tests! { ($harness, $mode)
            /// 1,000 one-step jobs with a deadline of an hour, on a timer that holds that sleep: once they
            /// have all ended (their handles still held), every deadline sleep has been dropped.
            fn a_finished_jobs_deadline_drops_its_timer_sleep(h) {
                let timer = RecordingTimer::holding([HOUR]);
                let mut job = JobBuilder::<()>::$new("quick");
                build(job.step("only").run(|()| async { Ok::<_, String>(()) }));
                let job = job.seal();
                let instances: Vec<_> = (0..JOBS)
                    .map(|_| {
                        let options = JobOptions::new().deadline(HOUR);
                        h.start_with_timer(&job, (), options, timer.clone())
                    })
                    .collect();
                let outcomes = h.block_on(join_all(instances.iter().map(|i| i.wait())));
                assert!(
                    outcomes.iter().all(Result::is_ok),
                    "on {}: every job succeeds",
                    h.name()
                );
                assert_eq!(
                    timer.sleeps().len(),
                    JOBS,
                    "on {}: one deadline sleep per job",
                    h.name()
                );
                let since = Instant::now();
                h.block_on(async {
                    while !timer.pending().is_empty() && since.elapsed() < SETTLE {
                        yield_now().await;
                    }
                });
                let pending = timer.pending().len();
                assert_eq!(
                    pending,
                    0,
                    "on {}: {pending} of {JOBS} finished jobs still hold their deadline's sleep ({SETTLE:?} \
                     after they ended)",
                    h.name()
                );
                drop(instances);
            }
        }
    };
}
