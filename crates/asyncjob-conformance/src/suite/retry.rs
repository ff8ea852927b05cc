//! Retry: attempts, give-up, policies that refuse, panics retried, delays through the timer.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_retry {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// A step that fails twice then succeeds is attempted exactly three times under a retry policy;
            /// the failed attempts are kept, in order, and the dependents get the output.
            fn retry_runs_exact_attempts_and_keeps_them(h) {
                use asyncjob::retry::Retry;
                let mut job = JobBuilder::<Arc<Flaky>>::$new("flaky");
                let flaky = build(
                    job.step("flaky")
                        .retry(Retry::fixed(5, std::time::Duration::ZERO))
                        .run(|f: Arc<Flaky>| async move {
                            let call = f.call();
                            if call <= 2 {
                                return Err(format!("try {call}"));
                            }
                            Ok(call * 10)
                        }),
                );
                let after = build(
                    job.step("after")
                        .after(&flaky)
                        .run(|_, n| async move { Res::Ok(n + 1) }),
                );
                let job = build(job.seal().with_result(&after));
                let flaky_state = Arc::new(Flaky::default());
                let instance = h.start_with_result(&job, flaky_state.clone(), JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result())
                        .expect("succeeds on the third try"),
                    31,
                    "on {}",
                    h.name()
                );
                assert_eq!(flaky_state.calls(), 3);
                let step = instance.step_by_name("flaky").expect("exists");
                assert_eq!((step.state, step.attempts), (StepState::Succeeded, 3));
                let errors: Vec<_> = step
                    .retried
                    .iter()
                    .map(|r| {
                        let own = r.error.step_error().map(ToString::to_string);
                        (r.attempt, r.error.kind(), r.error.step(), r.error.attempts(), own)
                    })
                    .collect();
                let failed = |n: u32| {
                    let own = Some(format!("try {n}"));
                    (n, JobErrorKind::StepFailed, Some("flaky"), n, own)
                };
                assert_eq!(errors, [failed(1), failed(2)], "on {}", h.name());
                assert!(step.retried[0].end_offset <= step.retried[1].end_offset);
                assert_eq!(instance.step_by_name("after").map(|s| s.attempts), Some(1));
            }

            /// A step that always fails is attempted as often as the policy allows, then fails with an
            /// error that says how many attempts were made.
            fn retry_gives_up_after_max_attempts(h) {
                use asyncjob::retry::Retry;
                let mut job = JobBuilder::<Arc<Flaky>>::$new("hopeless");
                build(
                    job.step("hopeless")
                        .retry(Retry::exponential(3, std::time::Duration::from_micros(1)))
                        .run(|f: Arc<Flaky>| async move { Err::<(), _>(format!("no {}", f.call())) }),
                );
                let flaky = Arc::new(Flaky::default());
                let instance = h.start(&job.seal(), flaky.clone(), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("fails");
                assert_eq!(flaky.calls(), 3, "on {}", h.name());
                assert_eq!(
                    (error.kind(), error.attempts()),
                    (JobErrorKind::StepFailed, 3)
                );
                assert_eq!(
                    error.to_string(),
                    "step \"hopeless\" failed after 3 attempts"
                );
                assert_eq!(
                    error.source().map(|s| s.to_string()).as_deref(),
                    Some("no 3")
                );
                let step = instance.step_by_name("hopeless").expect("exists");
                assert_eq!(
                    (step.state, step.attempts, step.retried.len()),
                    (StepState::Failed, 3, 2)
                );
            }

            /// A policy can refuse to retry some errors: a fatal error fails the step at once.
            fn retry_policy_can_refuse_some_errors(h) {
                use asyncjob::retry::{AttemptFailure, Retry};
                #[derive(Debug)]
                struct Fatal;
                impl std::fmt::Display for Fatal {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("fatal")
                    }
                }
                impl std::error::Error for Fatal {}
                let policy = Retry::fixed(10, std::time::Duration::ZERO)
                    .when(|failure| !matches!(failure, AttemptFailure::Error(e) if e.is::<Fatal>()));
                let mut job = JobBuilder::<Arc<Flaky>>::$new("picky");
                build(
                    job.step("fatal")
                        .retry(policy.clone())
                        .run(|f: Arc<Flaky>| async move {
                            f.call();
                            Err::<(), _>(Fatal)
                        }),
                );
                let flaky = Arc::new(Flaky::default());
                let instance = h.start(&job.seal(), flaky.clone(), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("fails");
                assert_eq!((flaky.calls(), error.attempts()), (1, 1), "on {}", h.name());
                assert!(error.step_error().is_some_and(|e| e.is::<Fatal>()));
            }

            /// A panicking attempt is retried like a failing one.
            fn retry_recovers_from_a_panic(h) {
                use asyncjob::retry::Retry;
                let mut job = JobBuilder::<Arc<Flaky>>::$new("panicky");
                let step = build(
                    job.step("panicky")
                        .retry(Retry::fixed(2, std::time::Duration::ZERO))
                        .run(|f: Arc<Flaky>| async move {
                            if f.call() == 1 {
                                panic!("first try");
                            }
                            Res::Ok("second")
                        }),
                );
                let job = build(job.seal().with_result(&step));
                let instance = h.start_with_result(&job, Arc::new(Flaky::default()), JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result()).expect("recovers"),
                    "second",
                    "on {}",
                    h.name()
                );
                let snapshot = instance.step(&step).expect("exists");
                let retried = snapshot.retried.first().map(|r| (r.error.kind(), r.error.panic_message()));
                assert_eq!(
                    retried,
                    Some((JobErrorKind::StepPanicked, Some("first try"))),
                    "on {}",
                    h.name()
                );
            }

            /// Back-off delays go through the executor's timer, exactly as the policy computes them
            /// (checked with a recording timer: no wall-clock time is involved).
            fn retry_delays_follow_the_policy(h) {
                use asyncjob::retry::Retry;
                use std::time::Duration;
                let ms = Duration::from_millis;
                let mut job = JobBuilder::<Arc<Flaky>>::$new("delays");
                build(
                    job.step("exponential")
                        .retry(Retry::exponential(5, ms(10)).max_delay(ms(50)))
                        .run(|f: Arc<Flaky>| async move { Err::<(), _>(format!("no {}", f.call())) }),
                );
                build(
                    job.step("linear")
                        .retry(Retry::linear(3, ms(1), ms(2)))
                        .run(|_| async { Err::<(), _>("never") }),
                );
                let timer = RecordingTimer::default();
                let flaky = Arc::new(Flaky::default());
                let instance = h.start_with_timer(
                    &job.seal(),
                    flaky.clone(),
                    JobOptions::new().sequential(),
                    timer.clone(),
                );
                let error = h
                    .block_on(instance.wait())
                    .expect_err("every attempt fails");
                assert_eq!(
                    (error.step(), error.attempts()),
                    (Some("exponential"), 5),
                    "on {}",
                    h.name()
                );
                assert_eq!(flaky.calls(), 5);
                // Sequential, so the exponential step's four delays come first, then the linear step's two.
                assert_eq!(
                    timer.sleeps(),
                    [ms(10), ms(20), ms(40), ms(50), ms(1), ms(3)],
                    "on {}",
                    h.name()
                );
            }
        }
    };
}
