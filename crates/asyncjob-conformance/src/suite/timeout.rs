//! Timeouts: an attempt past its limit is dropped, fails with `TimedOut`, and can be retried.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_timeout {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// An attempt that runs past its timeout is dropped and fails with `TimedOut`; with a retry
            /// policy the next attempt runs.
            fn timeout_fires_drops_the_attempt_and_is_retried(h) {
                use asyncjob::retry::Retry;
                use std::time::Duration;
                type In = (Arc<Flaky>, Arc<Live>);
                let mut job = JobBuilder::<In>::$new("slow");
                let slow = build(
                    job.step("slow")
                        .timeout(Duration::from_millis(20))
                        .retry(Retry::fixed(3, Duration::ZERO))
                        .run(|(f, live): In| async move {
                            let _guard = LiveGuard::new(&live);
                            if f.call() == 1 {
                                futures::future::pending::<()>().await; // hangs: only the timeout ends it
                            }
                            Res::Ok("in time")
                        }),
                );
                let job = build(job.seal().with_result(&slow));
                let live = Arc::new(Live::default());
                let flaky = Arc::new(Flaky::default());
                let instance = h.start_with_result(&job, (flaky.clone(), live.clone()), JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result()).expect("second attempt"),
                    "in time",
                    "on {}",
                    h.name()
                );
                assert_eq!(flaky.calls(), 2);
                assert_eq!(
                    live.0.load(Ordering::SeqCst),
                    0,
                    "the timed-out attempt was dropped"
                );
                let snapshot = instance.step(&slow).expect("exists");
                assert_eq!(snapshot.attempts, 2);
                let retried = snapshot.retried.first().map(|r| (r.error.kind(), r.error.to_string()));
                assert_eq!(
                    retried,
                    Some((JobErrorKind::TimedOut, format!("step {:?} timed out after 20ms", snapshot.name))),
                    "on {}",
                    h.name()
                );

                // Without a retry policy the step fails with a timeout error, and dependents are skipped.
                let mut job = JobBuilder::<()>::$new("too slow");
                let stuck = build(
                    job.step("stuck")
                        .timeout(Duration::from_millis(5))
                        .run(|()| futures::future::pending::<Res<u8>>()),
                );
                build(
                    job.step("after")
                        .after(&stuck)
                        .run(|(), _| async { Res::Ok(()) }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("times out");
                assert_eq!(error.kind(), JobErrorKind::TimedOut, "on {}", h.name());
                assert!(error.is_timed_out());
                assert_eq!(error.to_string(), "step \"stuck\" timed out after 5ms");
                assert_eq!(
                    instance.step_by_name("after").map(|s| s.state),
                    Some(StepState::Skipped)
                );
            }
        }
    };
}
