//! A job's deadline ends with the job (issue 12, item 9): once every step has ended, the task
//! that waits for the deadline ends too and drops its timer sleep, rather than holding it (and
//! a task) until the deadline would have passed.

use std::time::{Duration, Instant};

use asyncjob::{JobBuilder, JobOptions};
use futures::future::join_all;

use crate::suite::helpers::{build, yield_now};
use crate::{Harness, RecordingTimer};

const HOUR: Duration = Duration::from_secs(3600);
const JOBS: usize = 1_000;

/// How long the deadline tasks get to end once their jobs have: a bound that turns a deadline
/// task which never ends into a failure, not a measurement (on a sound engine they end at once).
const SETTLE: Duration = Duration::from_secs(10);

/// 1,000 one-step jobs with a deadline of an hour, on a timer that holds that sleep: once they
/// have all ended (their handles still held), every deadline sleep has been dropped.
pub fn a_finished_jobs_deadline_drops_its_timer_sleep<H: Harness>(h: &H) {
    let timer = RecordingTimer::holding([HOUR]);
    let mut job = JobBuilder::<()>::new("quick");
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
