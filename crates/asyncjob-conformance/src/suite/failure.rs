//! Failures: errors and panics fail their step, skip its dependents, spare other branches, and
//! chain to the root cause.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_failure {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// A step that returns an error fails; its dependents, transitively, are skipped with an error
            /// naming it; independent branches run to success; `wait()` reports the root cause.
            fn step_error_fails_dependents_and_spares_other_branches(h) {
                let mut job = JobBuilder::<()>::$new("failing");
                let bad = build(
                    job.step("bad")
                        .run(|()| async { Err::<u32, _>(std::io::Error::other("the disk is on fire")) }),
                );
                let child = build(
                    job.step("child")
                        .after(&bad)
                        .run(|(), n| async move { Res::Ok(n + 1) }),
                );
                let grandchild = build(
                    job.step("grandchild")
                        .after(&child)
                        .run(|(), n| async move { Res::Ok(n + 1) }),
                );
                let good = build(job.step("good").run(|()| async { Res::Ok(1u32) }));
                let after_good = build(
                    job.step("after good")
                        .after(&good)
                        .run(|(), n| async move { Res::Ok(n + 1) }),
                );
                build(
                    job.step("waits for bad")
                        .wait_for(&bad)
                        .run(|()| async { Res::Ok(()) }),
                );
                let mixed = build(
                    job.step("mixed")
                        .after((&after_good, &grandchild))
                        .run(|(), (a, b)| async move { Res::Ok(a + b) }),
                );
                let job = build(job.seal().with_result(&mixed));
                let instance = h.start_with_result(&job, (), JobOptions::new());

                let error = h.block_on(instance.wait()).expect_err("the job fails");
                assert_eq!(error.kind(), JobErrorKind::StepFailed, "on {}", h.name());
                assert_eq!(error.step(), Some("bad"));
                assert_eq!(
                    error.source().map(|s| s.to_string()).as_deref(),
                    Some("the disk is on fire")
                );
                // The result step was skipped: its error says so and names the root cause.
                let result_error = h.block_on(instance.result()).expect_err("no result");
                assert_eq!(result_error.kind(), JobErrorKind::DependencyFailed);
                assert_eq!(result_error.step(), Some("mixed"));
                assert_eq!(result_error.root_cause().step(), Some("bad"));

                let state = |name: &str| instance.step_by_name(name).map(|s| s.state);
                assert_eq!(state("bad"), Some(StepState::Failed));
                assert_eq!(state("good"), Some(StepState::Succeeded));
                assert_eq!(state("after good"), Some(StepState::Succeeded));
                for skipped in ["child", "grandchild", "waits for bad", "mixed"] {
                    let snapshot = instance.step_by_name(skipped).expect("the step exists");
                    assert_eq!(
                        snapshot.state,
                        StepState::Skipped,
                        "{skipped} on {}",
                        h.name()
                    );
                    let error = snapshot.error.expect("a skipped step has an error");
                    assert_eq!(error.kind(), JobErrorKind::DependencyFailed);
                    assert_eq!(error.step(), Some(skipped));
                    assert_eq!(error.root_cause().step(), Some("bad"));
                    assert!(snapshot.started_at.is_none(), "{skipped} never started");
                }
                assert_eq!(instance.output(&after_good), Some(2));
                assert_eq!(instance.output(&child), None);
            }

            /// A step whose future panics fails with its panic message; its dependents are skipped.
            fn panic_is_caught_and_named(h) {
                let mut job = JobBuilder::<u32>::$new("panicking");
                let boom = build(job.step("boom").run(|n| async move {
                    yield_now().await;
                    if n > 0 {
                        panic!("boom {n}");
                    }
                    Res::Ok(n)
                }));
                let after = build(
                    job.step("after")
                        .after(&boom)
                        .run(|_, n| async move { Res::Ok(n) }),
                );
                let job = build(job.seal().with_result(&after));
                let instance = h.start_with_result(&job, 42, JobOptions::new());

                let error = h.block_on(instance.result()).expect_err("the job fails");
                assert_eq!(error.kind(), JobErrorKind::DependencyFailed, "on {}", h.name());
                let error = error.root_cause();
                assert_eq!(error.kind(), JobErrorKind::StepPanicked, "on {}", h.name());
                assert_eq!(error.step(), Some("boom"));
                assert_eq!(error.panic_message(), Some("boom 42"));
                let after = instance.step_by_name("after").expect("exists");
                assert_eq!(after.state, StepState::Skipped);
                assert_eq!(
                    after
                        .error
                        .map(|e| e.root_cause().step().unwrap_or_default().to_owned())
                        .as_deref(),
                    Some("boom")
                );
            }

            /// A step function that panics before returning its future fails the same way.
            fn panic_while_creating_the_future_is_caught(h) {
                let mut job = JobBuilder::<u32>::$new("panicking early");
                let boom = build(job.step("boom").run(|n| {
                    if n == 7 {
                        panic!("no future for {n}");
                    }
                    async move { Res::Ok(n) }
                }));
                let job = build(job.seal().with_result(&boom));
                let instance = h.start_with_result(&job, 7, JobOptions::new());
                let error = h.block_on(instance.result()).expect_err("the job fails");
                assert_eq!(error.kind(), JobErrorKind::StepPanicked, "on {}", h.name());
                assert_eq!(error.panic_message(), Some("no future for 7"));
            }

            /// Errors chain: a skipped step's error → the failed step's error → the step's own error.
            fn errors_chain_to_the_root_cause(h) {
                #[derive(Debug)]
                struct Inner;
                impl std::fmt::Display for Inner {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("inner cause")
                    }
                }
                impl std::error::Error for Inner {}
                #[derive(Debug)]
                struct Outer(Inner);
                impl std::fmt::Display for Outer {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("outer")
                    }
                }
                impl std::error::Error for Outer {
                    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                        Some(&self.0)
                    }
                }
                let mut job = JobBuilder::<()>::$new("chain of causes");
                let root = build(
                    job.step("root")
                        .run(|()| async { Err::<(), _>(Outer(Inner)) }),
                );
                build(
                    job.step("leaf")
                        .after(&root)
                        .run(|(), ()| async { Res::Ok(()) }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                h.block_on(instance.wait()).expect_err("fails");
                let leaf = instance
                    .step_by_name("leaf")
                    .and_then(|s| s.error)
                    .expect("skipped with an error");
                let chain: Vec<String> =
                    std::iter::successors(Some(&leaf as &(dyn std::error::Error + 'static)), |e| {
                        (*e).source()
                    })
                    .map(|e| e.to_string())
                    .collect();
                assert_eq!(
                    chain,
                    [
                        "step \"leaf\" was skipped: its dependency \"root\" failed",
                        "step \"root\" failed",
                        "outer",
                        "inner cause"
                    ],
                    "on {}",
                    h.name()
                );
            }
        }
    };
}
