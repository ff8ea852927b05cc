//! Deadlines: a job that runs past its deadline is cancelled with a job-level error.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_deadline {
    ($harness:expr, $new:ident, $mode:ident) => {
        use super::jobs::hanging_job;

        $crate::__suite_tests! { ($harness, $mode)
            /// A job that runs past its deadline is cancelled, and reports a job-level timeout.
            fn deadline_cancels_a_late_job(h) {
                let live = Arc::new(Live::default());
                let options = JobOptions::new().deadline(std::time::Duration::from_millis(20));
                let instance = h.start(
                    &hanging_job(),
                    (live.clone(), Arc::new(Flaky::default())),
                    options,
                );
                let error = h.block_on(instance.wait()).expect_err("too late");
                assert_eq!(
                    error.kind(),
                    JobErrorKind::DeadlineExceeded,
                    "on {}",
                    h.name()
                );
                assert_eq!(
                    error.to_string(),
                    "job \"hanging\" ran past its deadline of 20ms"
                );
                assert_eq!(live.0.load(Ordering::SeqCst), 0);
                assert!(
                    instance
                        .steps()
                        .iter()
                        .all(|s| s.state == StepState::Cancelled)
                );
            }
        }
    };
}
