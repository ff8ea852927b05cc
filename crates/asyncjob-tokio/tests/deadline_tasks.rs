//! Issue 12, item 9, on Tokio: a finished job leaves no task behind for its deadline, and a
//! sleep of `TokioExecutor` made inside a runtime is a plain `tokio::time::Sleep`, not a task.
//!
//! Tasks are counted with `RuntimeMetrics::num_alive_tasks`. The wait for them to end is
//! bounded (10 s), which turns a task that never ends into a failure; it measures nothing.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asyncjob::{JobBuilder, JobOptions, Timer};
use asyncjob_conformance::Watchdog;
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

const HOUR: Duration = Duration::from_secs(3600);
const SETTLE: Duration = Duration::from_secs(10);

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime")
}

/// Yields on `runtime` until it has no task left, for at most [`SETTLE`]; returns how many
/// are left.
fn alive_tasks_after_settling(runtime: &Runtime) -> usize {
    let metrics = runtime.metrics();
    let since = Instant::now();
    runtime.block_on(async {
        while metrics.num_alive_tasks() > 0 && since.elapsed() < SETTLE {
            tokio::task::yield_now().await;
        }
    });
    metrics.num_alive_tasks()
}

#[test]
fn finished_jobs_with_a_deadline_leave_no_task_behind() {
    let _watchdog = Watchdog::new("deadline tasks", Duration::from_secs(120));
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let mut job = JobBuilder::<()>::new("quick");
    job.step("only")
        .run(|()| async { Ok::<_, String>(()) })
        .expect("a well-formed step");
    let job = job.seal();
    let jobs = 1_000;
    let instances: Vec<_> = (0..jobs)
        .map(|_| {
            job.on(executor.clone())
                .options(JobOptions::new().deadline(HOUR))
                .start(())
        })
        .collect();
    for instance in &instances {
        runtime.block_on(instance.wait()).expect("the job succeeds");
    }
    let left = alive_tasks_after_settling(&runtime);
    assert_eq!(
        left, 0,
        "{left} tasks are still alive {SETTLE:?} after {jobs} jobs with a deadline of an hour \
         ended (their handles held)"
    );
    drop(instances);
}

#[test]
fn a_sleep_made_inside_the_runtime_spawns_no_task() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let metrics = runtime.metrics();
    let alive = runtime.block_on(async {
        let mut sleep = executor.sleep(HOUR);
        let pending = std::future::poll_fn(|cx: &mut Context<'_>| {
            Poll::Ready(sleep.as_mut().poll(cx).is_pending())
        })
        .await;
        assert!(pending, "an hour has not passed");
        let alive = metrics.num_alive_tasks();
        drop(sleep);
        alive
    });
    assert_eq!(
        alive, 0,
        "a pending sleep of an hour kept {alive} tasks alive"
    );
    assert_eq!(alive_tasks_after_settling(&runtime), 0);
}
