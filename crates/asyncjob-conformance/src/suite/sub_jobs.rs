//! Graphs shaped at run time, part three: sub-jobs ([`StepBuilder::job`]) — a sealed
//! definition used as steps of another, under nested names, tracked, drawn and cancelled like
//! any other step.
//!
//! [`StepBuilder::job`]: asyncjob::StepBuilder::job

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_sub_jobs {
    ($harness:expr, $new:ident, $mode:ident) => {
        /// A job of its own: the words of a text, their lengths (a map), their count (the
        /// result) and the longest (a branch the result does not depend on).
        fn words() -> asyncjob::JobWithResult<String, usize, $mode> {
            let mut words = JobBuilder::<String>::$new("words");
            let split = build(words.step("split").run(|text: String| async move {
                Res::Ok(text.split_whitespace().map(str::to_owned).collect::<Vec<String>>())
            }));
            let lens = build(
                words
                    .step("lens")
                    .map(&split)
                    .run(|_, word: String| async move { Res::Ok(word.len()) }),
            );
            let count = build(
                words
                    .step("count")
                    .after(&split)
                    .run(|_, words: Vec<String>| async move { Res::Ok(words.len()) }),
            );
            build(words.step("longest").after(&lens).run(|_, lens: Vec<usize>| async move {
                Res::Ok(lens.into_iter().max().unwrap_or(0))
            }));
            build(words.seal().with_result(&count))
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// A sub-job's steps are steps of the job under nested names, after the entry that
            /// makes their input; the handle is its result step's; each is in the snapshot (with
            /// the entry it belongs to), in the events (after the entry's success), and in the
            /// pictures: a DOT cluster, Gantt sections.
            fn a_sub_job_runs_under_nested_names_and_gives_its_result(h) {
                let words = words();
                let mut job = JobBuilder::<u32>::$new("docs");
                let text = build(job.step("read").run(|n: u32| async move {
                    Res::Ok(vec!["a bb ccc"; n as usize].join(" "))
                }));
                let sync = build(job.step("sync").after(&text).job(&words, |_, text: String| text));
                assert_eq!(sync.name(), "sync/count");
                let report = build(
                    job.step("report")
                        .after(&sync)
                        .run(|n: u32, count: usize| async move { Res::Ok(format!("{n}:{count}")) }),
                );
                let job = job.seal();
                let names: Vec<&str> = job.step_names().collect();
                assert_eq!(
                    names,
                    ["read", "sync", "sync/split", "sync/lens", "sync/count", "sync/longest", "report"]
                );
                let info = job.step_by_name("sync/lens").expect("a step");
                assert_eq!(info.sub_job().map(|entry| entry.name()), Some("sync"));
                assert!(job.step_by_name("sync").expect("a step").sub_job().is_none());
                assert!(job.to_dot().contains("subgraph \"cluster_j1\""));

                let instance = h.start(&job, 2, JobOptions::new().record_events());
                h.block_on(instance.wait()).expect("every step succeeds");
                assert_eq!(h.block_on(instance.output_of(&sync)).expect("ran"), 6, "on {}", h.name());
                assert_eq!(h.block_on(instance.output_of(&report)).expect("ran"), "2:6");
                let snapshot = instance.snapshot();
                for step in &snapshot.steps {
                    assert_eq!(step.state, StepState::Succeeded, "{} on {}", step.name, h.name());
                    let nested = step.name.starts_with("sync/");
                    assert_eq!(step.sub_job, nested.then_some(1), "{}", step.name);
                }
                let lens = snapshot.step_by_name("sync/lens").expect("a step");
                assert_eq!(lens.items.len(), 6);
                assert_eq!(&*lens.items[0].name, "sync/lens[0]");
                let longest = snapshot.step_by_name("sync/longest").expect("a step");
                assert_eq!(longest.data_dependencies, [3], "its own edge, moved");

                let events: Vec<_> = h.block_on(futures::StreamExt::collect::<Vec<_>>(
                    instance.events().expect("recorded"),
                ));
                let entry_done = events
                    .iter()
                    .position(|e| e.step_name() == Some("sync") && e.kind.state() == Some(StepState::Succeeded))
                    .expect("the entry succeeded");
                let first_nested = events
                    .iter()
                    .position(|e| e.step_name().is_some_and(|name| name.starts_with("sync/")))
                    .expect("the sub-job's steps have events");
                assert!(entry_done < first_nested, "on {}", h.name());
                let dot = instance.to_dot();
                assert!(dot.contains("subgraph \"cluster_j1\""), "{dot}");
                assert!(dot.contains("label=\"sync\""), "{dot}");
                let gantt = instance.to_mermaid_gantt();
                assert!(gantt.contains("section sync/split"), "{gantt}");
            }

            /// One definition used as two sub-jobs, and a sub-job inside a sub-job: names nest
            /// (`m1/a/x`), each use has its own steps and input, and the entries nest.
            fn sub_jobs_nest_and_one_definition_serves_several(h) {
                let mut inner = JobBuilder::<u32>::$new("inner");
                let x = build(inner.step("x").run(|n: u32| async move { Res::Ok(n + 1) }));
                let inner = build(inner.seal().with_result(&x));
                let mut middle = JobBuilder::<u32>::$new("middle");
                let a = build(middle.step("a").job(&inner, |n: u32| n * 10));
                let b = build(middle.step("b").after(&a).run(|_, v: u32| async move { Res::Ok(v + 1) }));
                let middle = build(middle.seal().with_result(&b));
                let mut job = JobBuilder::<u32>::$new("outer");
                let m1 = build(job.step("m1").job(&middle, |n: u32| n));
                let m2 = build(job.step("m2").job(&middle, |n: u32| n + 1));
                let sum = build(
                    job.step("sum")
                        .after((&m1, &m2))
                        .run(|_, (l, r): (u32, u32)| async move { Res::Ok(l + r) }),
                );
                let job = job.seal();
                let names: Vec<&str> = job.step_names().collect();
                assert_eq!(
                    names,
                    ["m1", "m1/a", "m1/a/x", "m1/b", "m2", "m2/a", "m2/a/x", "m2/b", "sum"]
                );
                let instance = h.start(&job, 1, JobOptions::new());
                h.block_on(instance.wait()).expect("every step succeeds");
                assert_eq!(h.block_on(instance.output_of(&sum)).expect("ran"), 12 + 22, "on {}", h.name());
                let entries: Vec<Option<usize>> = instance.steps().iter().map(|s| s.sub_job).collect();
                assert_eq!(
                    entries,
                    [None, Some(0), Some(1), Some(0), None, Some(4), Some(5), Some(4), None]
                );
                let dot = instance.to_dot();
                let outer = dot.find("subgraph \"cluster_j0\"").expect("m1's cluster");
                let nested = dot.find("subgraph \"cluster_j1\"").expect("m1/a's cluster");
                let next = dot.find("subgraph \"cluster_j4\"").expect("m2's cluster");
                assert!(outer < nested && nested < next, "{dot}");
            }

            /// A failure inside a sub-job fails the job, names the nested step, skips the
            /// sub-job's dependents and, fail-fast, cancels the job's other running steps; a
            /// cancellation of the job cancels the sub-job's running steps.
            fn failures_and_cancellation_cross_the_sub_job_both_ways(h) {
                type In = (Arc<Live>, Arc<Flaky>);
                let mut sub = JobBuilder::<Arc<Flaky>>::$new("flaky");
                let boom = build(sub.step("boom").run(|started: Arc<Flaky>| async move {
                    until(|| started.calls() > 0).await;
                    Err::<u32, String>("boom".to_owned())
                }));
                let sub = build(sub.seal().with_result(&boom));
                let mut job = JobBuilder::<In>::$new("release");
                build(job.step("slow").run(|(live, started): In| async move {
                    let _guard = LiveGuard::new(&live);
                    started.call();
                    futures::future::pending::<()>().await;
                    Res::Ok(())
                }));
                let sync = build(job.step("sync").job(&sub, |(_, started): In| started));
                let after = build(job.step("after").after(&sync).run(|_, n: u32| async move { Res::Ok(n) }));
                let job = job.seal();

                let live = Arc::new(Live::default());
                let started = Arc::new(Flaky::default());
                let input = (live.clone(), started.clone());
                let instance = h.start(&job, input, JobOptions::new().fail_fast());
                let error = h.block_on(instance.wait()).expect_err("boom");
                assert_eq!(error.kind(), JobErrorKind::StepFailed, "on {}", h.name());
                assert_eq!(error.step(), Some("sync/boom"));
                assert_eq!(live.0.load(Ordering::SeqCst), 0, "the slow step was dropped");
                let snapshot = instance.snapshot();
                assert_eq!(snapshot.step_by_name("slow").expect("a step").state, StepState::Cancelled);
                let after = instance.step(&after).expect("a step");
                assert_eq!(after.state, StepState::Skipped);
                assert_eq!(after.error.expect("why").root_cause().step(), Some("sync/boom"));

                // The other way: the job's cancellation reaches a running step of a sub-job.
                let mut hang = JobBuilder::<In>::$new("hang");
                let wait = build(hang.step("wait").run(|(live, started): In| async move {
                    let _guard = LiveGuard::new(&live);
                    started.call();
                    futures::future::pending::<()>().await;
                    Res::Ok(1u32)
                }));
                let hang = build(hang.seal().with_result(&wait));
                let mut job = JobBuilder::<In>::$new("outer");
                let nested = build(job.step("sync").job(&hang, |input: In| input));
                let job = job.seal();
                let (live, started) = (Arc::new(Live::default()), Arc::new(Flaky::default()));
                let instance = h.start(&job, (live.clone(), started.clone()), JobOptions::new());
                until_called(h, &started);
                assert!(instance.cancel());
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert_eq!(error.kind(), JobErrorKind::Cancelled, "on {}", h.name());
                assert_eq!(live.0.load(Ordering::SeqCst), 0, "the sub-job's step was dropped");
                assert_eq!(instance.step(&nested).expect("a step").state, StepState::Cancelled);
            }

            /// A condition on the entry makes the whole sub-job conditional: its steps are
            /// omitted, an optional dependent gets `None`, and the job succeeds.
            fn a_conditional_sub_job_is_omitted_whole(h) {
                let mut inner = JobBuilder::<u32>::$new("inner");
                let x = build(inner.step("x").run(|n: u32| async move { Res::Ok(n + 1) }));
                let inner = build(inner.seal().with_result(&x));
                let mut job = JobBuilder::<bool>::$new("maybe");
                let maybe = build(
                    job.step("maybe")
                        .when(|&wanted: &bool| wanted)
                        .job(&inner, |wanted: bool| u32::from(wanted)),
                );
                let used = build(
                    job.step("use")
                        .after(asyncjob::optional(&maybe))
                        .run(|_, v: Option<u32>| async move { Res::Ok(v) }),
                );
                let job = job.seal();
                let instance = h.start(&job, false, JobOptions::new());
                h.block_on(instance.wait()).expect("an omitted sub-job is not a failure");
                for step in ["maybe", "maybe/x"] {
                    let snapshot = instance.snapshot();
                    let state = snapshot.step_by_name(step).expect("a step").state;
                    assert_eq!(state, StepState::Omitted, "{step} on {}", h.name());
                }
                assert_eq!(h.block_on(instance.output_of(&used)).expect("ran"), None);
                let instance = h.start(&job, true, JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                assert_eq!(h.block_on(instance.output_of(&used)).expect("ran"), Some(2));
            }

            /// If the entry fails (its input function panics), no step of the sub-job runs, not
            /// even one that allows its dependency to fail; a best-effort step inside a sub-job
            /// stays best-effort.
            fn a_failed_entry_skips_every_step_of_the_sub_job(h) {
                let calls = Arc::new(AtomicUsize::new(0));
                let mut sub = JobBuilder::<u32>::$new("tolerant");
                let a = build(sub.step("a").run(|_: u32| async move { Err::<u32, String>("a".into()) }));
                let counted = calls.clone();
                let t = build(sub.step("t").after(asyncjob::allow_failure(&a)).run(
                    move |_, a: Result<u32, asyncjob::JobError>| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        async move { Res::Ok(a.is_err()) }
                    },
                ));
                let sub = build(sub.seal().with_result(&t));
                let mut job = JobBuilder::<u32>::$new("outer");
                let sync = build(job.step("sync").job(&sub, |n: u32| {
                    assert!(n > 0, "no input for the sub-job");
                    n
                }));
                let job = job.seal();

                let instance = h.start(&job, 0, JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("the entry panicked");
                assert_eq!(error.step(), Some("sync"), "on {}", h.name());
                assert_eq!(error.kind(), JobErrorKind::StepPanicked);
                assert_eq!(calls.load(Ordering::SeqCst), 0, "no step of the sub-job ran");
                for step in ["sync/a", "sync/t"] {
                    let snapshot = instance.snapshot();
                    let step = snapshot.step_by_name(step).expect("a step");
                    assert_eq!(step.state, StepState::Skipped, "{} on {}", step.name, h.name());
                }

                let instance = h.start(&job, 1, JobOptions::new());
                h.block_on(instance.wait()).expect("a's failure is tolerated by its one dependent");
                assert!(h.block_on(instance.output_of(&sync)).expect("ran"));
                assert_eq!(calls.load(Ordering::SeqCst), 1);
            }
        }
    };
}
