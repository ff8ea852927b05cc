//! Fail-fast: the first failure cancels the rest of the job, unless the instance opts out.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_fail_fast {
    ($harness:expr, $new:ident, $mode:ident) => {
        fn fail_fast_run<S: Starts<Definitions = $mode>>(h: &S, per_definition: bool) {
            type In = (Arc<Live>, Arc<Flaky>);
            let mut job = JobBuilder::<In>::$new("fail fast");
            if per_definition {
                job.fail_fast();
            }
            build(job.step("hangs").run(|(live, started): In| async move {
                let _guard = LiveGuard::new(&live);
                started.call();
                futures::future::pending::<()>().await;
                Res::Ok(())
            }));
            build(job.step("fails").run(|(_, started): In| async move {
                // Fail only once the other branch is running, so that there is something to cancel.
                until(|| started.calls() > 0).await;
                Err::<(), _>("broken")
            }));
            let live = Arc::new(Live::default());
            let input = (live.clone(), Arc::new(Flaky::default()));
            let options = if per_definition {
                JobOptions::new()
            } else {
                JobOptions::new().fail_fast()
            };
            let instance = h.start(&job.seal(), input, options);
            let error = h.block_on(instance.wait()).expect_err("fails");
            assert_eq!(
                (error.kind(), error.step()),
                (JobErrorKind::StepFailed, Some("fails")),
                "on {}",
                h.name()
            );
            assert_eq!(
                live.0.load(Ordering::SeqCst),
                0,
                "the hanging branch was dropped"
            );
            let state = |name: &str| instance.step_by_name(name).map(|s| s.state);
            assert_eq!(
                (state("hangs"), state("fails")),
                (Some(StepState::Cancelled), Some(StepState::Failed))
            );
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// With `fail_fast`, the first failure cancels the rest of the job (a hanging branch is dropped)
            /// and `wait()` reports the failure.
            fn fail_fast_cancels_other_branches(h) {
                // Asked for by the instance, then by the definition.
                for per_definition in [false, true] {
                    fail_fast_run(h, per_definition);
                }
            }

            /// An instance started with `continue_on_failure` opts out of its definition's fail-fast: the
            /// independent branch runs to its end.
            fn an_instance_can_opt_out_of_a_fail_fast_definition(h) {
                let mut job = JobBuilder::<Arc<Flaky>>::$new("opt out");
                job.fail_fast();
                build(job.step("fails").run(|_| async { Err::<(), _>("broken") }));
                build(job.step("goes on").run(|failed: Arc<Flaky>| async move {
                    // Ends only once the other branch has failed (and would have cancelled this one).
                    until(|| failed.calls() > 0).await;
                    Res::Ok(())
                }));
                let job = job.seal();
                let flaky = Arc::new(Flaky::default());
                let probe = flaky.clone();
                let instance = h.start(&job, flaky, JobOptions::new().continue_on_failure());
                h.block_on(until(|| {
                    instance.step_by_name("fails").map(|s| s.state) == Some(StepState::Failed)
                }));
                probe.call();
                let error = h.block_on(instance.wait()).expect_err("one step failed");
                assert_eq!(error.step(), Some("fails"), "on {}", h.name());
                assert_eq!(
                    instance.step_by_name("goes on").map(|s| s.state),
                    Some(StepState::Succeeded),
                    "on {}: the definition's fail-fast was overridden",
                    h.name()
                );
            }
        }
    };
}
