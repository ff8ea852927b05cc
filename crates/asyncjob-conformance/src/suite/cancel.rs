//! Cancellation: `cancel()` and `cancel_on_drop` drop running steps, stop waiting ones and end
//! the job, also while a step backs off or has policies.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_cancel {
    ($harness:expr, $new:ident, $mode:ident) => {
        use super::jobs::hanging_job;

        $crate::__suite_tests! { ($harness, $mode)
            /// `cancel()` while a step runs and others wait: the running future is dropped, the waiting
            /// steps never start, every step ends `Cancelled`, and `wait()` reports `Cancelled`.
            fn cancel_drops_running_steps_and_stops_waiting_ones(h) {
                let live = Arc::new(Live::default());
                let started = Arc::new(Flaky::default());
                let instance = h.start(
                    &hanging_job(),
                    (live.clone(), started.clone()),
                    JobOptions::new(),
                );
                until_called(h, &started);
                assert_eq!(live.0.load(Ordering::SeqCst), 1, "the root runs");
                assert!(instance.cancel(), "on {}", h.name());
                assert!(!instance.cancel(), "a second cancel does nothing");
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert_eq!(error.kind(), JobErrorKind::Cancelled, "on {}", h.name());
                assert!(error.is_cancelled() && error.step().is_none());
                assert_eq!(error.to_string(), "job \"hanging\" was cancelled");
                assert_eq!(
                    live.0.load(Ordering::SeqCst),
                    0,
                    "the running future was dropped"
                );
                assert_eq!(started.calls(), 1, "the waiting steps never ran");
                for step in instance.steps() {
                    assert_eq!(
                        step.state,
                        StepState::Cancelled,
                        "{} on {}",
                        step.name,
                        h.name()
                    );
                    assert!(step.error.is_some_and(|e| e.is_cancelled()));
                }
                assert!(instance.is_cancelled() && instance.is_finished());
                assert!(
                    instance
                        .to_dot()
                        .contains(asyncjob::visual::fill_color(StepState::Cancelled))
                );
            }

            /// `cancel()` right after `start()`: nothing that had not started runs afterwards; the job ends.
            fn cancel_right_after_start_ends_the_job(h) {
                let live = Arc::new(Live::default());
                let started = Arc::new(Flaky::default());
                let instance = h.start(
                    &hanging_job(),
                    (live.clone(), started.clone()),
                    JobOptions::new(),
                );
                assert!(instance.cancel());
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert!(error.is_cancelled(), "on {}", h.name());
                assert_eq!(live.0.load(Ordering::SeqCst), 0);
                for step in instance.steps() {
                    assert_eq!(
                        step.state,
                        StepState::Cancelled,
                        "{} on {}",
                        step.name,
                        h.name()
                    );
                }
                // Cancelling a finished job does nothing.
                let mut job = JobBuilder::<()>::$new("quick");
                build(job.step("only").run(|()| async { Res::Ok(()) }));
                let instance = h.start(&job.seal(), (), JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                assert!(!instance.cancel());
                h.block_on(instance.wait()).expect("still a success");
            }

            /// `cancel()` while a step waits out its retry back-off ends it at once.
            fn cancel_interrupts_a_retry_back_off(h) {
                use asyncjob::retry::Retry;
                let mut job = JobBuilder::<Arc<Flaky>>::$new("backing off");
                build(
                    job.step("again")
                        .retry(Retry::fixed(3, std::time::Duration::from_secs(3600)))
                        .run(|f: Arc<Flaky>| async move { Err::<(), _>(format!("try {}", f.call())) }),
                );
                let flaky = Arc::new(Flaky::default());
                let instance = h.start(&job.seal(), flaky.clone(), JobOptions::new());
                h.block_on(until(|| {
                    instance.step_by_name("again").map(|s| s.state) == Some(StepState::Retrying)
                }));
                assert!(instance.cancel());
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert!(error.is_cancelled(), "on {}", h.name());
                assert_eq!(flaky.calls(), 1);
                let step = instance.step_by_name("again").expect("exists");
                assert_eq!((step.state, step.retried.len()), (StepState::Cancelled, 1));
            }

            /// Dropping a `cancel_on_drop` guard cancels the job; a disarmed guard lets it run on.
            fn cancel_on_drop_guard_cancels(h) {
                let live = Arc::new(Live::default());
                let started = Arc::new(Flaky::default());
                let instance = h.start(
                    &hanging_job(),
                    (live.clone(), started.clone()),
                    JobOptions::new(),
                );
                until_called(h, &started);
                let guard = instance.cancel_on_drop();
                drop(guard);
                assert!(
                    h.block_on(instance.wait())
                        .expect_err("cancelled")
                        .is_cancelled(),
                    "on {}",
                    h.name()
                );
                assert_eq!(live.0.load(Ordering::SeqCst), 0);

                let mut job = JobBuilder::<()>::$new("kept");
                let only = build(job.step("only").run(|()| async {
                    yield_now().await;
                    Res::Ok(5)
                }));
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let instance = instance.cancel_on_drop().disarm();
                h.block_on(instance.wait()).expect("not cancelled");
                assert_eq!(instance.output(&only), Some(5));
            }

            /// `cancel()` drops a running step that has execution policies (retry, timeout) too.
            fn cancel_drops_a_running_step_with_policies(h) {
                use asyncjob::retry::Retry;
                type In = (Arc<Live>, Arc<Flaky>);
                let mut job = JobBuilder::<In>::$new("policies");
                build(
                    job.step("hangs")
                        .retry(Retry::fixed(3, std::time::Duration::ZERO))
                        .timeout(std::time::Duration::from_secs(3600))
                        .run(|(live, started): In| async move {
                            let _guard = LiveGuard::new(&live);
                            started.call();
                            futures::future::pending::<()>().await;
                            Res::Ok(())
                        }),
                );
                let live = Arc::new(Live::default());
                let started = Arc::new(Flaky::default());
                let instance = h.start(
                    &job.seal(),
                    (live.clone(), started.clone()),
                    JobOptions::new(),
                );
                until_called(h, &started);
                assert!(instance.cancel());
                assert!(
                    h.block_on(instance.wait())
                        .expect_err("cancelled")
                        .is_cancelled(),
                    "on {}",
                    h.name()
                );
                assert_eq!(
                    live.0.load(Ordering::SeqCst),
                    0,
                    "the running attempt was dropped"
                );
                assert_eq!(
                    instance.step_by_name("hangs").map(|s| s.state),
                    Some(StepState::Cancelled)
                );
            }
        }
    };
}
