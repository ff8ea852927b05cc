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
    let result = runtime.block_on(async { job.on(TokioExecutor::new()).start(21).result().await });
    assert_eq!(result.expect("the job succeeds"), "42");
}

#[test]
fn job_runs_on_a_pinned_runtime_awaited_elsewhere() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let job = double_then_text(executor.clone());
    let instance = job.on(executor).start(5);
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
    let instance = job.on(TokioExecutor::new()).start(1);
    let result = multi_thread().block_on(async {
        tokio::time::timeout(WAIT, instance.result())
            .await
            .expect("the job ends")
    });
    let error = result.expect_err("no runtime");
    let cause = error.root_cause();
    assert!(cause.is_spawn_failed());
    // The job's error says what is wrong: no runtime, not a shut-down executor.
    let text = cause.to_string();
    assert!(
        text.contains("could not run") && text.contains("runtime"),
        "{text}"
    );
    assert!(!text.contains("shut down"), "{text}");
    let reason = std::error::Error::source(cause)
        .and_then(|source| source.downcast_ref::<asyncjob::SpawnError>())
        .expect("the executor's reason is the source");
    assert!(reason.is_no_runtime());
}

#[test]
fn runtime_shut_down_mid_run_ends_the_job() {
    let runtime = multi_thread();
    let instance = forever()
        .on(TokioExecutor::with_handle(runtime.handle().clone()))
        .start(());
    drop(runtime);
    let result = multi_thread().block_on(async {
        tokio::time::timeout(WAIT, instance.result())
            .await
            .expect("the job ends")
    });
    assert!(
        result
            .expect_err("the runtime shut down")
            .root_cause()
            .is_spawn_failed()
    );
}

/// Polls `condition` from the test thread (the runtime runs on its own workers) until it holds;
/// fails the test after `WAIT`.
fn until(what: &str, condition: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "{what} never happened");
        std::thread::yield_now();
    }
}

/// The runtime shuts down while a step waits out a retry back-off, while a step runs under a
/// timeout, and while a job runs under a deadline: each time the timer's sleep dies with the
/// runtime, the step is reported as "executor shut down", and `wait()` ends (awaited from
/// another runtime); nothing panics.
#[test]
fn runtime_shut_down_during_a_back_off_a_timeout_or_a_deadline_ends_the_job() {
    use asyncjob::retry::Retry;
    use asyncjob::{JobOptions, StepState};
    let hour = Duration::from_secs(3600);
    for case in ["back-off", "timeout", "deadline"] {
        let mut job = JobBuilder::<()>::new(case);
        let step = job.step("step");
        let step = match case {
            "back-off" => step
                .retry(Retry::fixed(3, hour))
                .run(|()| async { Err::<(), BoxError>("refused".into()) }),
            "timeout" => step
                .timeout(hour)
                .run(|()| std::future::pending::<Result<(), BoxError>>()),
            _ => step.run(|()| std::future::pending::<Result<(), BoxError>>()),
        }
        .expect("a well-formed step");
        job.step("after")
            .wait_for(&step)
            .run(|()| async { Ok::<_, BoxError>(()) })
            .expect("a well-formed step");
        let runtime = multi_thread();
        let options = if case == "deadline" {
            JobOptions::new().deadline(hour)
        } else {
            JobOptions::new()
        };
        let executor = TokioExecutor::with_handle(runtime.handle().clone());
        let instance = job.seal().on(executor).options(options).start(());
        let expected = if case == "back-off" {
            StepState::Retrying
        } else {
            StepState::Running
        };
        until(case, || instance.steps()[0].state == expected);
        drop(runtime);
        let result = Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("current-thread runtime")
            .block_on(async {
                tokio::time::timeout(WAIT, instance.wait())
                    .await
                    .expect("the job ends")
            });
        let error = result.expect_err("the runtime shut down");
        assert_eq!(
            error.to_string(),
            "step \"step\" could not run: the executor is shut down",
            "{case}"
        );
        let states: Vec<_> = instance.steps().iter().map(|s| s.state).collect();
        assert_eq!(states, [StepState::Failed, StepState::Skipped], "{case}");
    }
}

/// The runtime shuts down while one step holds the only permit of a limit and another waits for
/// it: the waiting step's driver is dropped, the step ends `Failed` (executor shut down) without
/// an attempt, both permits' holders give them back, and `wait()` ends.
#[test]
fn runtime_shut_down_while_a_step_awaits_a_permit_gives_everything_back() {
    use asyncjob::{Limit, StepState};

    let one = Limit::new("one", 1);
    let holding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut job = JobBuilder::<()>::new("permits");
    let held = holding.clone();
    let hold = job
        .step("hold")
        .needs(&one)
        .run(move |()| {
            held.store(true, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<Result<(), BoxError>>()
        })
        .expect("a well-formed step");
    // `waits` asks for the permit once `hold` has it.
    let gate = job
        .step("gate")
        .run(move |()| {
            let holding = holding.clone();
            async move {
                while !holding.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                Ok::<_, BoxError>(())
            }
        })
        .expect("a well-formed step");
    let waits = job
        .step("waits")
        .wait_for(&gate)
        .needs(&one)
        .run(|()| async { Ok::<_, BoxError>(()) })
        .expect("a well-formed step");
    let job = job.seal();
    let runtime = multi_thread();
    let instance = job
        .on(TokioExecutor::with_handle(runtime.handle().clone()))
        .start(());
    until("a step waits for the permit", || one.waiting() == 1);
    drop(runtime);
    let result = multi_thread().block_on(async {
        tokio::time::timeout(WAIT, instance.wait())
            .await
            .expect("the job ends")
    });
    let error = result.expect_err("the runtime shut down");
    assert!(error.root_cause().is_spawn_failed(), "{error:#}");
    let (running, waiting) = (
        instance.step(&hold).expect("a step"),
        instance.step(&waits).expect("a step"),
    );
    assert_eq!((running.state, running.attempts), (StepState::Failed, 1));
    assert_eq!((waiting.state, waiting.attempts), (StepState::Failed, 0));
    assert!(waiting.permit_offset.is_some() && waiting.start_offset.is_none());
    assert_eq!((one.available(), one.waiting()), (1, 0));
}
