//! Jobs from the core crate, run on `TokioExecutor`.

use std::time::Duration;

use asyncjob::{BoxError, JobBuilder, JobWithResult, Timer};
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

const WAIT: Duration = Duration::from_secs(5);

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("multi-thread runtime")
}

/// `n` → `n * 2` (after a short sleep on `timer`) → its decimal text.
fn double_then_text(timer: TokioExecutor) -> JobWithResult<u32, String> {
    let mut job = JobBuilder::<u32>::new("double-then-text");
    let double = job
        .step("double")
        .run(move |n| {
            let timer = timer.clone();
            async move {
                timer.sleep(Duration::from_millis(5)).await;
                Ok::<_, BoxError>(n * 2)
            }
        })
        .expect("a well-formed step");
    let text = job
        .step("text")
        .after(&double)
        .run(|_, d| async move { Ok::<_, BoxError>(d.to_string()) })
        .expect("a well-formed step");
    job.seal().with_result(&text).expect("a step of this job")
}

/// A job whose only step never finishes.
fn forever() -> JobWithResult<(), ()> {
    let mut job = JobBuilder::<()>::new("forever");
    let step = job
        .step("forever")
        .run(|()| std::future::pending::<Result<(), BoxError>>())
        .expect("a well-formed step");
    job.seal().with_result(&step).expect("a step of this job")
}

#[test]
fn job_runs_on_the_current_runtime() {
    let runtime = multi_thread();
    let job = double_then_text(TokioExecutor::new());
    let result = runtime.block_on(async { job.start(TokioExecutor::new(), 21).result().await });
    assert_eq!(result.expect("the job succeeds"), "42");
}

#[test]
fn job_runs_on_a_pinned_runtime_awaited_elsewhere() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let job = double_then_text(executor.clone());
    let instance = job.start(executor, 5);
    // Await the result on another runtime.
    let result = Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime")
        .block_on(instance.result());
    assert_eq!(result.expect("the job succeeds"), "10");
}

#[test]
fn job_started_without_a_runtime_fails_to_spawn() {
    let job = double_then_text(TokioExecutor::new());
    let instance = job.start(TokioExecutor::new(), 1);
    let result = multi_thread().block_on(async {
        tokio::time::timeout(WAIT, instance.result())
            .await
            .expect("the job ends")
    });
    assert!(result.expect_err("no runtime").is_spawn_failed());
}

#[test]
fn runtime_shut_down_mid_run_ends_the_job() {
    let runtime = multi_thread();
    let instance = forever().start(TokioExecutor::with_handle(runtime.handle().clone()), ());
    drop(runtime);
    let result = multi_thread().block_on(async {
        tokio::time::timeout(WAIT, instance.result())
            .await
            .expect("the job ends")
    });
    assert!(result.expect_err("the runtime shut down").is_spawn_failed());
}
