//! The step context (issue 13): a step added with `run_with_context` learns the job's and the
//! step's names, the instance's id and the attempt's number; it sleeps on the runner's timer,
//! sees the cancellation, and runs blocking work on the executor's pool (or fails clearly where
//! the executor has none).

use std::time::Duration;

/// What a context step records of each of its attempts: job, instance id, step, attempt.
pub type Seen = (String, String, String, u32);

/// The sleep a test holds on the recording timer.
pub const HELD: Duration = Duration::from_millis(1234);

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_step_context {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::time::Duration;

        use asyncjob::retry::Retry;
        use asyncjob::StepContext;

        use $crate::suite::step_context::{Seen, HELD};

        fn seen(ctx: &StepContext) -> Seen {
            (
                ctx.job().to_owned(),
                ctx.job_id().to_string(),
                ctx.step().to_owned(),
                ctx.attempt(),
            )
        }

        fn is_local<X: asyncjob::Mode>(_: &asyncjob::JobInstance<X>) -> bool {
            std::any::TypeId::of::<X>() == std::any::TypeId::of::<Local>()
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// A step retried twice and a dependent of it, both taking the context, beside a plain
            /// step: each attempt's context names the job, the instance's id, the step and the
            /// attempt (1, 2, 3 for the retried step; 1 for the other); the plain step runs as
            /// before, and the dependent receives its parents' outputs after the context.
            fn the_context_names_the_job_the_instance_the_step_and_the_attempt(h) {
                type In = Arc<Mutex<Vec<Seen>>>;
                let mut job = JobBuilder::<In>::$new("context");
                let flaky = build(
                    job.step("flaky")
                        .retry(Retry::fixed(5, Duration::ZERO))
                        .run_with_context(|ctx: StepContext, log: In| async move {
                            log.lock().unwrap().push(seen(&ctx));
                            if ctx.attempt() < 3 {
                                return Err(format!("attempt {}", ctx.attempt()));
                            }
                            Ok(ctx.attempt())
                        }),
                );
                let plain = build(job.step("plain").run(|_: In| async { Ok::<_, Infallible>(7u32) }));
                let after = build(
                    job.step("after")
                        .after((&flaky, &plain))
                        .run_with_context(|ctx: StepContext, log: In, (f, p)| async move {
                            log.lock().unwrap().push(seen(&ctx));
                            Ok::<_, Infallible>(f * 10 + p)
                        }),
                );
                let job = build(job.seal().with_result(&after));
                let log: In = Arc::default();
                let instance = h.start_with_result(
                    &job,
                    log.clone(),
                    JobOptions::new().with_id("ctx-42"),
                );
                let result = h.block_on(instance.result());
                assert_eq!(result.ok(), Some(37), "on {}", h.name());
                let record = |step: &str, attempt| {
                    ("context".to_owned(), "ctx-42".to_owned(), step.to_owned(), attempt)
                };
                assert_eq!(
                    *log.lock().unwrap(),
                    [record("flaky", 1), record("flaky", 2), record("flaky", 3), record("after", 1)],
                    "on {}",
                    h.name()
                );
                let snapshot = instance.step(&flaky).expect("the step exists");
                assert_eq!(snapshot.attempts, 3, "on {}", h.name());
            }

            /// A context step sleeps twice: both sleeps are asked of the runner's timer (a
            /// `RecordingTimer` records them), and the step waits for them: while the timer
            /// holds the second, the step has not ended; released, it succeeds.
            fn sleep_uses_the_runners_timer(h) {
                let mut job = JobBuilder::<()>::$new("sleeper");
                let step = build(job.step("nap").run_with_context(|ctx: StepContext, ()| async move {
                    assert!(ctx.can_sleep());
                    ctx.sleep(Duration::from_millis(5)).await;
                    ctx.sleep(HELD).await;
                    Ok::<_, Infallible>("rested")
                }));
                let job = job.seal();
                let timer = RecordingTimer::holding([HELD]);
                let instance = h.start_with_timer(&job, (), JobOptions::new(), timer.clone());
                h.block_on(until(|| timer.pending() == [HELD]));
                assert_eq!(
                    instance.step(&step).map(|s| s.state),
                    Some(StepState::Running),
                    "on {}: the step waits for the held sleep",
                    h.name()
                );
                assert_eq!(timer.release(HELD), 1);
                h.block_on(instance.wait()).expect("the step succeeds");
                assert_eq!(instance.output(&step), Some("rested"), "on {}", h.name());
                assert_eq!(timer.sleeps(), [Duration::from_millis(5), HELD], "on {}", h.name());
            }

            /// A context step hands a clone of its context out, then hangs: the context is not
            /// cancelled; `instance.cancel()` completes its `cancelled()` future (one made before
            /// the cancellation and one after), `is_cancelled()` turns true, and the step ends
            /// `Cancelled` (its own future dropped: it needs no code to return early).
            fn cancelled_completes_on_cancel(h) {
                type In = Arc<Mutex<Option<oneshot::Sender<StepContext>>>>;
                let mut job = JobBuilder::<In>::$new("cancellable");
                let step = build(job.step("hang").run_with_context(|ctx: StepContext, out: In| async move {
                    if let Some(out) = out.lock().unwrap().take() {
                        let _ = out.send(ctx.clone());
                    }
                    std::future::pending::<()>().await;
                    Ok::<_, Infallible>(())
                }));
                let job = job.seal();
                let (tx, rx) = oneshot::channel();
                let instance = h.start(&job, Arc::new(Mutex::new(Some(tx))), JobOptions::new());
                let ctx = h.block_on(rx).expect("the step hands its context out");
                assert!(!ctx.is_cancelled(), "on {}", h.name());
                let early = ctx.cancelled();
                assert!(instance.cancel(), "on {}", h.name());
                h.block_on(early);
                h.block_on(ctx.cancelled());
                assert!(ctx.is_cancelled(), "on {}", h.name());
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert_eq!(error.kind(), JobErrorKind::Cancelled, "on {}", h.name());
                assert_eq!(
                    instance.step(&step).map(|s| s.state),
                    Some(StepState::Cancelled),
                    "on {}",
                    h.name()
                );
            }

            /// A context handed out of the step, sleeping outside the step's future (here on the
            /// test's thread): in a run on a `Send` executor it sleeps on the runner's timer
            /// (recorded, held, then released) while the step goes on; in a run on a local
            /// executor, whose timer is lent only while the step is polled, it fails the attempt
            /// with an error that says so, and asks the timer for nothing.
            fn a_context_sleeps_outside_its_step_where_the_run_allows(h) {
                type In = Arc<Mutex<Option<oneshot::Sender<StepContext>>>>;
                let mut job = JobBuilder::<In>::$new("outside");
                let step = build(job.step("lend").run_with_context(|ctx: StepContext, out: In| async move {
                    if let Some(out) = out.lock().unwrap().take() {
                        let _ = out.send(ctx.clone());
                    }
                    std::future::pending::<()>().await;
                    Ok::<_, Infallible>(())
                }));
                let job = job.seal();
                let timer = RecordingTimer::holding([HELD]);
                let (tx, rx) = oneshot::channel();
                let instance = h.start_with_timer(
                    &job,
                    Arc::new(Mutex::new(Some(tx))),
                    JobOptions::new(),
                    timer.clone(),
                );
                let ctx = h.block_on(rx).expect("the step hands its context out");
                let mut sleep = ctx.sleep(HELD);
                assert!(futures::FutureExt::now_or_never(&mut sleep).is_none());
                if is_local(&instance) {
                    let error = h.block_on(instance.wait()).expect_err("the attempt fails");
                    assert_eq!(error.kind(), JobErrorKind::StepFailed, "on {}", h.name());
                    let cause = error.source().map(|c| c.to_string()).unwrap_or_default();
                    assert!(cause.contains("cannot sleep here"), "on {}: {cause}", h.name());
                    assert!(timer.sleeps().is_empty(), "on {}", h.name());
                } else {
                    assert_eq!(timer.pending(), [HELD], "on {}", h.name());
                    assert_eq!(timer.release(HELD), 1);
                    assert_eq!(futures::FutureExt::now_or_never(&mut sleep), Some(()));
                    assert_eq!(
                        instance.step(&step).map(|s| s.state),
                        Some(StepState::Running),
                        "on {}",
                        h.name()
                    );
                    assert!(instance.cancel());
                    let _ = h.block_on(instance.wait());
                }
                assert!(instance.step(&step).is_some_and(|s| s.state.is_finished()), "on {}", h.name());
            }

            /// Blocking work from a context step: where the harness's executor offers a pool,
            /// the work runs and its result is the step's, and a panic in the work fails the
            /// step as panicked; where it offers none, the step fails with an error that says
            /// the executor offers no pool.
            fn blocking_work_runs_on_the_executors_pool(h) {
                let mut job = JobBuilder::<u64>::$new("blocking");
                let sum = build(job.step("sum").run_with_context(|ctx: StepContext, n| async move {
                    let offered = ctx.can_spawn_blocking();
                    let sum = ctx.spawn_blocking(move || (1..=n).sum::<u64>()).await;
                    Ok::<_, Infallible>((offered, sum))
                }));
                let panics = build(job.step("panics").run_with_context(|ctx: StepContext, _| async move {
                    ctx.spawn_blocking(|| -> u64 { panic!("blocking work panicked") }).await;
                    Ok::<_, Infallible>(())
                }));
                let job = job.seal();
                let instance = h.start(&job, 100, JobOptions::new());
                let _ = h.block_on(instance.wait());
                let panicked = instance.step(&panics).expect("the step exists");
                assert_eq!(panicked.state, StepState::Failed, "on {}", h.name());
                let error = panicked.error.expect("a failed step has an error");
                if h.offers_blocking() {
                    assert_eq!(instance.output(&sum), Some((true, 5050)), "on {}", h.name());
                    assert_eq!(error.kind(), JobErrorKind::StepPanicked, "on {}: {error}", h.name());
                    assert!(
                        format!("{error:?}").contains("blocking work panicked"),
                        "on {}: {error:?}",
                        h.name()
                    );
                } else {
                    for error in [error, instance.step(&sum).and_then(|s| s.error).expect("failed")] {
                        assert_eq!(error.kind(), JobErrorKind::StepFailed, "on {}", h.name());
                        let cause = error.source().map(|c| c.to_string()).unwrap_or_default();
                        assert!(cause.contains("offers no pool"), "on {}: {cause}", h.name());
                    }
                }
            }
        }
    };
}
