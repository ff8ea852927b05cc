//! Jobs from the core crate, run on `SmolExecutor`.

use std::sync::Arc;
use std::time::Duration;

use asyncjob::{BoxError, JobBuilder, JobError, JobWithResult, Timer};
use asyncjob_smol::SmolExecutor;

const WAIT: Duration = Duration::from_secs(5);

type SmolEx = async_executor::Executor<'static>;

/// `n` → `n * 2` (after a short sleep on `timer`) → its decimal text.
fn double_then_text(timer: SmolExecutor) -> JobWithResult<u32, String> {
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

/// Awaits `result` for at most `WAIT`.
fn block_on_with_timeout<O>(
    result: impl std::future::Future<Output = Result<O, JobError>>,
) -> Result<O, JobError> {
    async_io::block_on(smol::future::or(async { Some(result.await) }, async {
        async_io::Timer::after(WAIT).await;
        None
    }))
    .expect("the job ends")
}

#[test]
fn job_runs_on_an_owned_executor() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let instance = double_then_text(executor.clone()).on(executor).start(21);
    let result = async_io::block_on(ex.run(instance.result()));
    assert_eq!(result.expect("the job succeeds"), "42");
}

#[test]
fn job_runs_on_the_global_executor() {
    let executor = SmolExecutor::global();
    let instance = double_then_text(executor.clone()).on(executor).start(5);
    assert_eq!(
        block_on_with_timeout(instance.result()).expect("the job succeeds"),
        "10"
    );
}

#[test]
fn executor_dropped_mid_run_ends_the_job() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let instance = double_then_text(executor.clone()).on(executor).start(1);
    // Run the first step until it is parked on its timer, then shut the executor down.
    while ex.try_tick() {}
    drop(ex);
    let result = block_on_with_timeout(instance.result());
    assert!(
        result
            .expect_err("the executor shut down")
            .root_cause()
            .is_spawn_failed()
    );
}

#[test]
fn job_started_on_a_dropped_executor_fails_to_spawn() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    drop(ex);
    let instance = double_then_text(executor.clone()).on(executor).start(1);
    let result = block_on_with_timeout(instance.result());
    assert!(
        result
            .expect_err("the executor shut down")
            .root_cause()
            .is_spawn_failed()
    );
}
