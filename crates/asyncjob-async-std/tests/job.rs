//! Jobs from the core crate, run on `AsyncStdExecutor`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncjob::{BoxError, JobBuilder, JobError, JobWithResult, StepContext, Timer};
use asyncjob_async_std::AsyncStdExecutor;

const WAIT: Duration = Duration::from_secs(10);

/// `n` → `n * 2` (after a short sleep on async-std's timer) → its decimal text.
fn double_then_text() -> JobWithResult<u32, String> {
    let mut job = JobBuilder::<u32>::new("double-then-text");
    let double = job
        .step("double")
        .run(|n| async move {
            AsyncStdExecutor::new()
                .sleep(Duration::from_millis(5))
                .await;
            Ok::<_, BoxError>(n * 2)
        })
        .expect("a well-formed step");
    let text = job
        .step("text")
        .after(&double)
        .run(|_, d| async move { Ok::<_, BoxError>(d.to_string()) })
        .expect("a well-formed step");
    job.seal().with_result(&text).expect("a step of this job")
}

/// Blocks on `result` for at most `WAIT`.
fn block_on_with_timeout<O>(
    result: impl std::future::Future<Output = Result<O, JobError>>,
) -> Result<O, JobError> {
    async_std::task::block_on(async_std::future::timeout(WAIT, result)).expect("the job ends")
}

#[test]
fn job_runs_on_the_global_executor() {
    let job = double_then_text();
    let result =
        block_on_with_timeout(async { job.on(AsyncStdExecutor::new()).start(21).result().await });
    assert_eq!(result.expect("the job succeeds"), "42");
}

#[test]
fn job_started_outside_any_task_runs() {
    // No runtime context is needed to start: the global executor's threads run the steps.
    let instance = double_then_text().on(AsyncStdExecutor::default()).start(5);
    assert_eq!(
        block_on_with_timeout(instance.result()).expect("the job succeeds"),
        "10"
    );
}

#[test]
fn steps_run_as_async_std_tasks() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut job = JobBuilder::<Arc<Mutex<Vec<bool>>>>::new("tasks");
    let a = job
        .step("a")
        .run(|seen| async move {
            seen.lock()
                .expect("unpoisoned")
                .push(async_std::task::try_current().is_some());
            Ok::<_, BoxError>(())
        })
        .expect("a well-formed step");
    job.step("b")
        .after(&a)
        .run(|seen, ()| async move {
            seen.lock()
                .expect("unpoisoned")
                .push(async_std::task::try_current().is_some());
            Ok::<_, BoxError>(())
        })
        .expect("a well-formed step");
    let job = job.seal();
    // Started and awaited from a plain thread, outside any async-std task: only the tasks the
    // executor spawned can see a current task.
    assert!(async_std::task::try_current().is_none());
    let instance = job.on(AsyncStdExecutor::new()).start(seen.clone());
    async_io::block_on(async_std::future::timeout(WAIT, instance.wait()))
        .expect("the job ends")
        .expect("the job succeeds");
    assert_eq!(*seen.lock().expect("unpoisoned"), [true, true]);
}

#[test]
fn a_timeout_fires_on_async_std_timer() {
    let mut job = JobBuilder::<()>::new("slow");
    let slow = job
        .step("slow")
        .timeout(Duration::from_millis(10))
        .run(|()| std::future::pending::<Result<(), BoxError>>())
        .expect("a well-formed step");
    let job = job.seal().with_result(&slow).expect("a step of this job");
    let error = block_on_with_timeout(job.on(AsyncStdExecutor::new()).start(()).result())
        .expect_err("the step times out");
    assert!(error.root_cause().is_timed_out(), "{error:#}");
    assert_eq!(error.root_cause().step(), Some("slow"));
}

#[test]
fn blocking_work_runs_off_the_steps_thread() {
    let mut job = JobBuilder::<u64>::new("sum");
    let sum = job
        .step("sum")
        .run_with_context(|ctx: StepContext, n| async move {
            let step_thread = std::thread::current().id();
            let (sum, work_thread) = ctx
                .spawn_blocking(move || ((1..=n).sum::<u64>(), std::thread::current().id()))
                .await;
            Ok::<_, BoxError>((sum, work_thread != step_thread))
        })
        .expect("a well-formed step");
    let job = job.seal().with_result(&sum).expect("a step of this job");
    let (sum, elsewhere) =
        block_on_with_timeout(job.on(AsyncStdExecutor::new()).start(100).result())
            .expect("the job succeeds");
    assert_eq!(sum, 5050);
    assert!(elsewhere, "the work ran on the step's own thread");
}

#[test]
fn jobs_started_from_many_tasks_all_finish() {
    let job = Arc::new(double_then_text());
    let tasks: Vec<_> = (0..64u32)
        .map(|n| {
            let job = job.clone();
            async_std::task::spawn(async move {
                job.on(AsyncStdExecutor::new()).start(n).result().await
            })
        })
        .collect();
    let results = block_on_with_timeout(async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await?);
        }
        Ok(results)
    })
    .expect("every job succeeds");
    let expected: Vec<String> = (0..64u32).map(|n| (n * 2).to_string()).collect();
    assert_eq!(results, expected);
}
