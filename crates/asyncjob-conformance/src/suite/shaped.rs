//! Graphs shaped at run time, part one: conditional steps ([`when`]), optional and
//! allowed-to-fail dependencies ([`optional`], [`allow_failure`]), fallbacks, and fan-in of any
//! mix, in parallel and sequential mode.
//!
//! [`when`]: asyncjob::StepBuilder::when
//! [`optional`]: asyncjob::optional
//! [`allow_failure`]: asyncjob::allow_failure

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_shaped {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// A condition that does not hold omits its step (its function is not called, it made no
            /// attempt) and, transitively, the steps that need it; an optional dependent gets `None`,
            /// an allowed-to-fail one an `Omitted` error; the job succeeds; the events say so.
            fn a_false_condition_omits_the_step_and_what_needs_it(h) {
                let calls = Arc::new(AtomicUsize::new(0));
                let mut job = JobBuilder::<bool>::$new("release");
                let counted = calls.clone();
                let notes = build(job.step("notes").when(|&wanted: &bool| wanted).run(move |_| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { Res::Ok(7u32) }
                }));
                let strict = build(job.step("strict").after(&notes).run(|_, n| async move { Res::Ok(n + 1) }));
                let grand = build(job.step("grand").after(&strict).run(|_, n| async move { Res::Ok(n + 1) }));
                let maybe = build(
                    job.step("maybe")
                        .after(asyncjob::optional(&notes))
                        .run(|_, n: Option<u32>| async move { Res::Ok(n) }),
                );
                let tolerant = build(
                    job.step("tolerant")
                        .after(asyncjob::allow_failure(&notes))
                        .run(|_, n: Result<u32, asyncjob::JobError>| async move {
                            Res::Ok(n.map_err(|e| (e.kind(), e.step().map(str::to_owned))))
                        }),
                );
                let job = job.seal();
                let instance = h.start(&job, false, JobOptions::new().record_events());
                h.block_on(instance.wait()).expect("an omitted step is not a failure");

                assert_eq!(calls.load(Ordering::SeqCst), 0, "on {}", h.name());
                let notes_step = instance.step(&notes).expect("a step of this job");
                assert_eq!(notes_step.state, StepState::Omitted);
                assert_eq!(notes_step.attempts, 0);
                let error = notes_step.error.expect("an omitted step says why");
                assert_eq!(error.kind(), JobErrorKind::Omitted);
                assert_eq!(error.to_string(), "step \"notes\" was omitted: its condition did not hold");
                for step in [&strict, &grand] {
                    let snapshot = instance.step(step).expect("a step of this job");
                    assert_eq!(snapshot.state, StepState::Omitted, "{}", snapshot.name);
                    let error = snapshot.error.expect("why");
                    assert_eq!(error.root_cause().step(), Some("notes"));
                    assert_eq!(snapshot.start_offset, None, "never queued");
                }
                assert_eq!(h.block_on(instance.output_of(&maybe)).expect("ran"), None);
                assert_eq!(
                    h.block_on(instance.output_of(&tolerant)).expect("ran"),
                    Err((JobErrorKind::Omitted, Some("notes".to_owned())))
                );
                let omitted = h.block_on(instance.output_of(&grand)).expect_err("omitted");
                assert!(omitted.is_omitted());

                let events: Vec<_> = h.block_on(futures::StreamExt::collect::<Vec<_>>(
                    instance.events().expect("recorded"),
                ));
                let ends_of = |name: &str| {
                    events
                        .iter()
                        .filter(|e| e.step_name() == Some(name))
                        .map(|e| e.kind.state())
                        .collect::<Vec<_>>()
                };
                assert_eq!(ends_of("strict"), [Some(StepState::Omitted)]);
                assert_eq!(ends_of("notes").last(), Some(&Some(StepState::Omitted)));
            }

            /// A condition over the input and the parents' outputs decides per run; a condition
            /// that panics fails its step (the function is not called).
            fn a_condition_sees_the_parents_and_a_panicking_one_fails_the_step(h) {
                let mut job = JobBuilder::<u32>::$new("conditions");
                let n = build(job.step("n").run(|n| async move { Res::Ok(n * 2) }));
                let big = build(
                    job.step("big")
                        .after(&n)
                        .when(|_: &u32, n: &u32| *n > 10)
                        .run(|_, n| async move { Res::Ok(n) }),
                );
                let job = job.seal();
                for (input, state) in [(3, StepState::Omitted), (6, StepState::Succeeded)] {
                    let instance = h.start(&job, input, JobOptions::new());
                    h.block_on(instance.wait()).expect("no failure");
                    assert_eq!(instance.step(&big).map(|s| s.state), Some(state), "input {input}");
                }

                let mut job = JobBuilder::<()>::$new("panicking condition");
                let called = Arc::new(AtomicUsize::new(0));
                let counted = called.clone();
                let bad = build(
                    job.step("bad")
                        .when(|_: &()| -> bool { panic!("no opinion") })
                        .run(move |_| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            async { Res::Ok(()) }
                        }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("the step fails");
                assert_eq!(error.kind(), JobErrorKind::StepPanicked);
                assert_eq!(error.step(), Some("bad"));
                assert_eq!(instance.step(&bad).map(|s| s.state), Some(StepState::Failed));
                assert_eq!(called.load(Ordering::SeqCst), 0);
            }

            /// A step whose every dependent allows it to fail is best-effort: it fails, its
            /// dependents run with its error, and the job succeeds, also fail-fast.
            fn an_allowed_failure_does_not_fail_the_job(h) {
                let mut job = JobBuilder::<()>::$new("best effort");
                let notify = build(job.step("notify").run(|_| async { Err::<(), _>("smtp is down") }));
                let report = build(
                    job.step("report")
                        .after(asyncjob::allow_failure(&notify))
                        .run(|_, sent: Result<(), asyncjob::JobError>| async move {
                            Res::Ok(sent.map_err(|e| format!("{e:#}")))
                        }),
                );
                let after = build(
                    job.step("after")
                        .wait_for(asyncjob::allow_failure(&notify))
                        .run(|_| async { Res::Ok("ran") }),
                );
                let job = build(job.seal().with_result(&report));
                for options in [JobOptions::new(), JobOptions::new().fail_fast()] {
                    let instance = h.start_with_result(&job, (), options);
                    h.block_on(instance.wait()).expect("notify's failure is allowed");
                    assert_eq!(
                        h.block_on(instance.result()).expect("report ran"),
                        Err("step \"notify\" of job \"best effort\" failed: smtp is down".to_owned()),
                        "on {}",
                        h.name()
                    );
                    assert_eq!(h.block_on(instance.output_of(&after)).expect("ran"), "ran");
                    assert_eq!(instance.step(&notify).map(|s| s.state), Some(StepState::Failed));
                    let error = h.block_on(instance.output_of(&notify)).expect_err("it failed");
                    assert_eq!(error.kind(), JobErrorKind::StepFailed);
                }
            }

            /// A failure that one dependent allows and another needs still fails the job; the
            /// tolerant dependent runs with the error, the strict one is skipped; a tolerant
            /// dependent of a skipped step gets the skip's error, with the root cause.
            fn a_failure_a_strict_dependent_needs_fails_the_job(h) {
                let mut job = JobBuilder::<()>::$new("mixed");
                let bad = build(job.step("bad").run(|_| async { Err::<u32, _>("broken") }));
                let strict = build(job.step("strict").after(&bad).run(|_, n| async move { Res::Ok(n) }));
                let tolerant = build(
                    job.step("tolerant")
                        .after(asyncjob::allow_failure(&bad))
                        .run(|_, n: Result<u32, asyncjob::JobError>| async move { Res::Ok(n.is_err()) }),
                );
                let of_skipped = build(
                    job.step("of skipped")
                        .after(asyncjob::allow_failure(&strict))
                        .run(|_, n: Result<u32, asyncjob::JobError>| async move {
                            let e = n.expect_err("strict was skipped");
                            Res::Ok((e.kind(), e.root_cause().step().map(str::to_owned)))
                        }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("strict needs bad");
                assert_eq!(error.step(), Some("bad"));
                assert_eq!(instance.step(&strict).map(|s| s.state), Some(StepState::Skipped));
                assert!(h.block_on(instance.output_of(&tolerant)).expect("ran"));
                assert_eq!(
                    h.block_on(instance.output_of(&of_skipped)).expect("ran"),
                    (JobErrorKind::DependencyFailed, Some("bad".to_owned()))
                );
            }

            /// A fallback recovers a step that failed after its retries: it ends `Recovered` with
            /// the fallback's output, keeps the error, its dependents run, the job succeeds.
            fn a_fallback_recovers_a_failed_step_after_its_retries(h) {
                let calls = Arc::new(AtomicUsize::new(0));
                let counted = calls.clone();
                let mut job = JobBuilder::<()>::$new("prices");
                let rate = build(
                    job.step("rate")
                        .retry(asyncjob::retry::Retry::fixed(3, std::time::Duration::ZERO))
                        .fallback(|error: &asyncjob::JobError| if error.attempts() == 3 { 1.5 } else { 0.0 })
                        .run(move |_| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            async { Err::<f64, _>("rates service is down") }
                        }),
                );
                let price = build(job.step("price").after(&rate).run(|_, r| async move { Res::Ok(r * 2.0) }));
                let job = build(job.seal().with_result(&price));
                let instance = h.start_with_result(&job, (), JobOptions::new().record_events());
                assert_eq!(h.block_on(instance.result()).expect("recovered"), 3.0);
                h.block_on(instance.wait()).expect("a recovered step is not a failure");
                assert_eq!(calls.load(Ordering::SeqCst), 3);
                let snapshot = instance.step(&rate).expect("a step of this job");
                assert_eq!(snapshot.state, StepState::Recovered);
                assert_eq!(snapshot.attempts, 3);
                let error = snapshot.error.expect("what it recovered from");
                assert_eq!(error.kind(), JobErrorKind::StepFailed);
                assert_eq!(h.block_on(instance.output_of(&rate)).expect("its fallback"), 1.5);
                assert_eq!(instance.output(&rate), Some(1.5));
                let events: Vec<_> = h.block_on(futures::StreamExt::collect::<Vec<_>>(
                    instance.events().expect("recorded"),
                ));
                let last = events.iter().rev().find(|e| e.step_name() == Some("rate"));
                assert!(matches!(last.map(|e| &e.kind), Some(asyncjob::EventKind::Recovered { .. })));

                // A fallback that panics fails the step.
                let mut job = JobBuilder::<()>::$new("panicking fallback");
                let bad = build(
                    job.step("bad")
                        .fallback(|_: &asyncjob::JobError| -> u32 { panic!("no fallback either") })
                        .run(|_| async { Err::<u32, _>("broken") }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("fails");
                assert_eq!(error.kind(), JobErrorKind::StepPanicked);
                assert!(error.to_string().contains("its fallback panicked: no fallback either"), "{error}");
                assert_eq!(instance.step(&bad).map(|s| s.state), Some(StepState::Failed));
            }

            /// Fan-in of any mix: a tuple of a handle, a `Vec` of handles, an allowed-to-fail and
            /// an optional handle, and a `Vec` of allowed-to-fail handles, each as typed.
            fn fan_in_of_any_mix(h) {
                let mut job = JobBuilder::<u32>::$new("mix");
                let config = build(job.step("config").run(|n| async move { Res::Ok(n) }));
                let files: Vec<StepHandle<String>> = (0..3)
                    .map(|i| build(job.step(format!("file {i}")).run(move |_| async move { Res::Ok(format!("f{i}")) })))
                    .collect();
                let notify = build(job.step("notify").run(|_| async { Err::<u8, _>("down") }));
                let dry = build(job.step("dry").when(|_: &u32| false).run(|_| async { Res::Ok(()) }));
                let all = build(
                    job.step("all")
                        .after((&config, &files, asyncjob::allow_failure(&notify), asyncjob::optional(&dry)))
                        .run(|_, (c, f, n, d): (u32, Vec<String>, Result<u8, asyncjob::JobError>, Option<()>)| async move {
                            Res::Ok(format!("{c} {} {} {}", f.join(","), n.is_ok(), d.is_some()))
                        }),
                );
                let tolerant: Vec<_> = files.iter().map(asyncjob::allow_failure).collect();
                let count = build(
                    job.step("count")
                        .after(&tolerant)
                        .run(|_, all: Vec<Result<String, asyncjob::JobError>>| async move {
                            Res::Ok(all.into_iter().filter(Result::is_ok).count())
                        }),
                );
                let job = job.seal();
                let instance = h.start(&job, 4, JobOptions::new());
                h.block_on(instance.wait()).expect("notify's failure is allowed");
                assert_eq!(h.block_on(instance.output_of(&all)).expect("ran"), "4 f0,f1,f2 false false");
                assert_eq!(h.block_on(instance.output_of(&count)).expect("ran"), 3);

                // The same dependency twice, also inside a `Vec`, is refused.
                let mut job = JobBuilder::<u32>::$new("twice");
                let a = build(job.step("a").run(|n| async move { Res::Ok(n) }));
                let twice = job.step("b").after(vec![a.clone(), a.clone()]).run(|_, v| async move { Res::Ok(v) });
                assert_eq!(
                    twice.expect_err("a is named twice").kind(),
                    asyncjob::DefinitionErrorKind::DuplicateDependency
                );
                let twice = job
                    .step("c")
                    .after((&a, asyncjob::allow_failure(&a)))
                    .run(|_, _| async move { Res::Ok(()) });
                assert!(twice.is_err());
            }

            /// Sequential mode follows the same rules: omitted and best-effort branches do not stop
            /// the steps after them.
            fn sequential_mode_omits_and_tolerates_the_same_way(h) {
                let mut job = JobBuilder::<()>::$new("sequential");
                let skip = build(job.step("skip").when(|_: &()| false).run(|_| async { Res::Ok(1u32) }));
                let after_skip = build(job.step("after skip").after(&skip).run(|_, n| async move { Res::Ok(n) }));
                let bad = build(job.step("bad").run(|_| async { Err::<u32, _>("broken") }));
                let last = build(
                    job.step("last")
                        .after((asyncjob::optional(&skip), asyncjob::allow_failure(&bad)))
                        .run(|_, (s, b): (Option<u32>, Result<u32, asyncjob::JobError>)| async move {
                            Res::Ok((s.is_none(), b.is_err()))
                        }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new().sequential());
                h.block_on(instance.wait()).expect("nothing fails the job");
                assert_eq!(instance.step(&after_skip).map(|s| s.state), Some(StepState::Omitted));
                assert_eq!(h.block_on(instance.output_of(&last)).expect("ran"), (true, true));
            }
        }
    };
}
