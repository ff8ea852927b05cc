//! `TokioExecutor` as a timer: each sleep is a `tokio::time::Sleep` of the executor's runtime (no
//! task per sleep), it follows the runtime's clock (also a paused one), and on a runtime built
//! without a time driver it panics with a message that names `enable_time`, which the engine
//! reports as the step's panic or as the failure of the deadline's timer — never as a timeout.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{BoxError, JobBuilder, JobDefinition, JobErrorKind, JobOptions, StepState, Timer};
use asyncjob_conformance::Watchdog;
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

const HOUR: Duration = Duration::from_secs(3600);
const WATCHDOG: Duration = Duration::from_secs(30);

/// Runtimes without a time driver, of both flavours.
fn runtimes_without_time() -> [(&'static str, Runtime); 2] {
    [
        (
            "current-thread",
            Builder::new_current_thread().build().expect("a runtime"),
        ),
        (
            "multi-thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("a runtime"),
        ),
    ]
}

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

/// The message of a caught panic.
fn message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Yields to the runtime until `condition` holds; fails after many rounds (no clock involved).
async fn until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..100_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what} never happened");
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(future).poll(&mut cx)
}

#[test]
fn sleep_without_a_time_driver_panics_naming_enable_time() {
    for (flavour, runtime) in runtimes_without_time() {
        // Made inside the runtime (unpinned), made outside it (pinned), and made outside any
        // runtime then polled inside this one: each panics, none completes.
        let inside = runtime.block_on(async {
            std::panic::catch_unwind(|| TokioExecutor::new().sleep(HOUR)).map(drop)
        });
        let pinned = TokioExecutor::with_handle(runtime.handle().clone());
        let outside = std::panic::catch_unwind(|| pinned.sleep(HOUR)).map(drop);
        let unstarted = TokioExecutor::new().sleep(HOUR);
        let polled = runtime.block_on(async {
            std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(unstarted))).map(drop)
        });
        for (case, outcome) in [("inside", inside), ("outside", outside), ("polled", polled)] {
            let panic = outcome.expect_err("no time driver: the sleep panics");
            let message = message(&*panic);
            assert!(
                message.contains("enable_time"),
                "{flavour}, {case}: {message:?} does not name `enable_time`"
            );
        }
    }
}

/// A step under a timeout, and a step in a retry back-off, on a runtime without a time driver:
/// the step panics with the message naming `enable_time`; it does not time out at once.
#[test]
fn timeout_and_back_off_without_a_time_driver_fail_the_step_as_a_panic() {
    let _watchdog = Watchdog::new("timeout_and_back_off_without_a_time_driver", WATCHDOG);
    for (flavour, runtime) in runtimes_without_time() {
        for case in ["timeout", "back-off"] {
            let mut job = JobBuilder::<()>::new(case);
            let step = job.step("step");
            let step = match case {
                "timeout" => step
                    .timeout(Duration::from_secs(30))
                    .run(|()| std::future::pending::<Result<(), BoxError>>()),
                _ => step
                    .retry(Retry::fixed(3, Duration::from_secs(1)))
                    .run(|()| async { Err::<(), BoxError>("refused".into()) }),
            }
            .expect("a well-formed step");
            job.step("after")
                .wait_for(&step)
                .run(|()| async { Ok::<_, BoxError>(()) })
                .expect("a well-formed step");
            let definition = job.seal();
            let executor = TokioExecutor::with_handle(runtime.handle().clone());
            let error = runtime
                .block_on(definition.on(executor).start(()).wait())
                .expect_err("the step cannot be timed");
            assert_eq!(
                error.kind(),
                JobErrorKind::StepPanicked,
                "{flavour}, {case}: {error}"
            );
            assert_eq!(error.step(), Some("step"), "{flavour}, {case}");
            let message = error.panic_message().unwrap_or_default();
            assert!(
                message.contains("enable_time"),
                "{flavour}, {case}: {message:?}"
            );
            assert!(error.to_string().contains("enable_time"), "{error}");
        }
    }
}

/// A job with a deadline on a runtime without a time driver ends with the error that its
/// deadline's timer failed (naming `enable_time`), not with "ran past its deadline".
#[test]
fn deadline_without_a_time_driver_ends_the_job_with_the_timer_failure() {
    let _watchdog = Watchdog::new("deadline_without_a_time_driver", WATCHDOG);
    for (flavour, runtime) in runtimes_without_time() {
        let mut job = JobBuilder::<()>::new("bounded");
        job.step("forever")
            .run(|()| std::future::pending::<Result<(), BoxError>>())
            .expect("a well-formed step");
        let definition = job.seal();
        let executor = TokioExecutor::with_handle(runtime.handle().clone());
        let options = JobOptions::new().deadline(HOUR);
        let instance = definition.on(executor).options(options).start(());
        let error = runtime
            .block_on(instance.wait())
            .expect_err("the deadline cannot be kept");
        let text = error.to_string();
        assert!(!text.contains("ran past its deadline"), "{flavour}: {text}");
        assert!(text.contains("timer of its deadline"), "{flavour}: {text}");
        assert!(text.contains("enable_time"), "{flavour}: {text}");
        // On bae8de9's engine this occasionally reads Pending on the multi-thread runtime: the
        // deadline's cancel races `start` scheduling the root (issue 12, item 1).
        assert_eq!(instance.steps()[0].state, StepState::Cancelled, "{flavour}");
    }
}

/// Sleeps made and polled on the runtime, from its `block_on` future and from a task, add no
/// task: the runtime counts only the task that made them.
#[test]
fn a_sleep_on_its_runtime_spawns_no_task() {
    const SLEEPS: usize = 100;
    let runtime = current_thread();
    let (in_block_on, in_task) = runtime.block_on(async {
        let executor = TokioExecutor::new();
        let metrics = tokio::runtime::Handle::current().metrics();
        let mut sleeps: Vec<_> = (0..SLEEPS).map(|_| executor.sleep(HOUR)).collect();
        for sleep in &mut sleeps {
            assert!(poll_once(sleep.as_mut()).is_pending());
        }
        let in_block_on = metrics.num_alive_tasks();
        drop(sleeps);
        let in_task = tokio::spawn(async move {
            let mut sleeps: Vec<_> = (0..SLEEPS).map(|_| executor.sleep(HOUR)).collect();
            for sleep in &mut sleeps {
                assert!(poll_once(sleep.as_mut()).is_pending());
            }
            metrics.num_alive_tasks()
        })
        .await
        .expect("the task ends");
        (in_block_on, in_task)
    });
    assert_eq!(in_block_on, 0, "{SLEEPS} sleeps in block_on");
    assert_eq!(in_task, 1, "{SLEEPS} sleeps in one task (the task itself)");
}

/// Two roots that wait for ever, under a one-hour deadline: the job with one root held in a
/// one-hour retry back-off and the other under a one-hour timeout keeps exactly as many tasks
/// alive as the same job without back-off or timeout (the engine's drivers and deadline task):
/// the back-off and the timeout cost no task.
#[test]
fn a_job_in_a_back_off_and_under_a_timeout_has_no_timer_tasks() {
    fn job(timed: bool) -> JobDefinition<()> {
        let mut job = JobBuilder::<()>::new(if timed { "timed" } else { "control" });
        let first = job.step("first");
        let first = if timed {
            first
                .retry(Retry::fixed(3, HOUR))
                .run(|()| async { Err::<(), BoxError>("refused".into()) })
        } else {
            first.run(|()| std::future::pending::<Result<(), BoxError>>())
        };
        first.expect("a well-formed step");
        let second = job.step("second");
        let second = if timed { second.timeout(HOUR) } else { second };
        second
            .run(|()| std::future::pending::<Result<(), BoxError>>())
            .expect("a well-formed step");
        job.seal()
    }

    // A runtime each: a deadline task may outlive its job (issue 12, item 9).
    let [control, timed] = [false, true].map(|timed| {
        current_thread().block_on(async {
            let instance = job(timed)
                .on(TokioExecutor::new())
                .options(JobOptions::new().deadline(HOUR))
                .start(());
            let first = if timed {
                StepState::Retrying
            } else {
                StepState::Running
            };
            until("both steps held", || {
                let steps = instance.steps();
                steps[0].state == first && steps[1].state == StepState::Running
            })
            .await;
            let alive = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            assert!(instance.cancel());
            let _ = instance.wait().await;
            alive
        })
    });
    println!("alive tasks: {control} without back-off and timeout, {timed} with them");
    assert_eq!(timed, control, "the back-off and the timeout spawned tasks");
}

/// On a paused clock the runtime jumps to the next timer: a step that fails once waits out its
/// one-hour back-off in no real time, under a two-hour timeout and a three-hour deadline, and the
/// job's recorded time is the virtual hour.
#[test]
fn sleeps_follow_the_runtimes_paused_clock() {
    let _watchdog = Watchdog::new("sleeps_follow_the_runtimes_paused_clock", WATCHDOG);
    let runtime = Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = attempts.clone();
    let mut job = JobBuilder::<()>::new("patient");
    job.step("flaky")
        .retry(Retry::fixed(2, HOUR))
        .timeout(2 * HOUR)
        .run(move |()| {
            let attempt = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if attempt == 0 {
                    Err::<(), BoxError>("not yet".into())
                } else {
                    Ok(())
                }
            }
        })
        .expect("a well-formed step");
    let definition = job.seal();
    let elapsed = runtime.block_on(async {
        let started = tokio::time::Instant::now();
        let options = JobOptions::new().deadline(3 * HOUR);
        definition
            .on(TokioExecutor::new())
            .options(options)
            .start(())
            .wait()
            .await
            .expect("the second attempt succeeds");
        started.elapsed()
    });
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(
        (HOUR..HOUR + Duration::from_secs(1)).contains(&elapsed),
        "virtual time {elapsed:?}, expected the one-hour back-off"
    );
}

/// `tokio::time::advance` moves a sleep made by the executor: it is the runtime's own timer.
#[test]
fn advancing_the_paused_clock_ends_the_sleep() {
    let runtime = Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut sleep = TokioExecutor::new().sleep(HOUR);
        assert!(poll_once(sleep.as_mut()).is_pending());
        tokio::time::advance(HOUR - Duration::from_millis(1)).await;
        assert!(poll_once(sleep.as_mut()).is_pending(), "before the hour");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(poll_once(sleep.as_mut()).is_ready(), "at the hour");
    });
}
