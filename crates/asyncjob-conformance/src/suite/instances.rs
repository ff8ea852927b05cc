//! Instances: one definition runs many times at once; ids, empty jobs, dropped handles.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_instances {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// One definition started 100 times at once gives 100 independent, correct results.
            fn same_definition_runs_100_times_concurrently(h) {
                let mut job = JobBuilder::<u64>::$new("concurrent");
                let a = build(job.step("a").run(|n| async move {
                    yield_now().await;
                    Res::Ok(n * 2)
                }));
                let b = build(job.step("b").run(|n| async move { Res::Ok(n + 1) }));
                let c = build(job.step("c").after((&a, &b)).run(|n, (a, b)| async move {
                    yield_now().await;
                    Res::Ok(a * 1000 + b * 10 + n % 10)
                }));
                let job = build(job.seal().with_result(&c));

                let instances: Vec<_> = (0..100u64)
                    .map(|n| h.start_with_result(&job, n, JobOptions::new()))
                    .collect();
                let results = h.block_on(join_all(instances.iter().map(|i| i.result())));
                for (n, result) in (0..100u64).zip(results) {
                    let expected = n * 2 * 1000 + (n + 1) * 10 + n % 10;
                    assert_eq!(
                        result.expect("succeeds"),
                        expected,
                        "instance {n} on {}",
                        h.name()
                    );
                }
                let ids: std::collections::HashSet<String> =
                    instances.iter().map(|i| i.id().to_string()).collect();
                assert_eq!(ids.len(), 100, "instances have distinct ids");
            }

            /// A caller-chosen id is the instance's id.
            fn caller_chosen_id_is_kept(h) {
                let mut job = JobBuilder::<()>::$new("ids");
                build(job.step("only").run(|()| async { Res::Ok(()) }));
                let job = job.seal();
                let instance = h.start(&job, (), JobOptions::new().with_id("request-42"));
                assert_eq!(instance.id().to_string(), "request-42", "on {}", h.name());
                assert_eq!(instance.name(), "ids");
                h.block_on(instance.wait()).expect("succeeds");
            }

            /// A job without steps is finished as soon as it starts.
            fn empty_job_finishes_at_once(h) {
                let job = JobBuilder::<()>::$new("empty").seal();
                assert!(job.is_empty());
                let instance = h.start(&job, (), JobOptions::new());
                assert!(instance.is_finished(), "on {}", h.name());
                h.block_on(instance.wait()).expect("nothing can fail");
            }

            /// Dropping every handle of a running instance does not stop it: its steps still run.
            fn dropping_the_instance_handle_lets_the_job_finish(h) {
                let (tx, rx) = oneshot::channel::<u32>();
                type Tx = Arc<Mutex<Option<oneshot::Sender<u32>>>>;
                let mut job = JobBuilder::<Tx>::$new("detached");
                let a = build(job.step("a").run(|_| async {
                    yield_now().await;
                    Res::Ok(20u32)
                }));
                build(job.step("report").after(&a).run(|tx: Tx, a| async move {
                    if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        let _ = tx.send(a + 1);
                    }
                    Res::Ok(())
                }));
                let instance = h.start(
                    &job.seal(),
                    Arc::new(Mutex::new(Some(tx))),
                    JobOptions::new(),
                );
                drop(instance);
                assert_eq!(
                    h.block_on(rx).expect("the job ran to the end"),
                    21,
                    "on {}",
                    h.name()
                );
            }
        }
    };
}
