//! Snapshots: a job's steps can be read while it runs and after it ended.

/// The tests of this behaviour: expanded by [`suite!`](crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_snapshots {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// While a job runs, its steps' states can be read: done, running and waiting steps show as
            /// such.
            fn step_states_are_readable_while_running(h) {
                type Gate = Arc<Mutex<Option<oneshot::Receiver<u32>>>>;
                type Started = Arc<Mutex<Option<oneshot::Sender<()>>>>;
                let mut job = JobBuilder::<(Gate, Started)>::$new("observed");
                let first = build(job.step("first").run(|_| async { Res::Ok(1u32) }));
                let blocked = build(job.step("blocked").after(&first).run(
                    |(gate, started): (Gate, Started), n| async move {
                        if let Some(tx) = started.lock().unwrap_or_else(|e| e.into_inner()).take() {
                            let _ = tx.send(());
                        }
                        let rx = gate.lock().unwrap_or_else(|e| e.into_inner()).take();
                        match rx {
                            Some(rx) => rx.await.map(|m| m + n).map_err(|_| "gate dropped"),
                            None => Err("no gate"),
                        }
                    },
                ));
                let last = build(
                    job.step("last")
                        .after(&blocked)
                        .run(|_, n| async move { Res::Ok(n * 10) }),
                );
                let job = build(job.seal().with_result(&last));

                let (release, gate) = oneshot::channel();
                let (started_tx, started) = oneshot::channel();
                let input = (
                    Arc::new(Mutex::new(Some(gate))),
                    Arc::new(Mutex::new(Some(started_tx))),
                );
                let instance = h.start_with_result(&job, input, JobOptions::new());
                h.block_on(started).expect("the blocked step starts");

                let state = |name: &str| instance.step_by_name(name).map(|s| s.state);
                assert_eq!(
                    state("first"),
                    Some(StepState::Succeeded),
                    "on {}",
                    h.name()
                );
                assert_eq!(state("blocked"), Some(StepState::Running));
                assert_eq!(state("last"), Some(StepState::Waiting));
                assert!(!instance.is_finished());
                let running = instance.step_by_name("blocked").expect("exists");
                assert!(running.started_at.is_some() && running.running.is_some());

                release.send(4).expect("the step waits for it");
                assert_eq!(h.block_on(instance.result()).expect("succeeds"), 50);
                assert!(instance.is_finished());
                assert_eq!(state("last"), Some(StepState::Succeeded));
            }

            /// After a successful run every step is `Succeeded` with a start time, a waiting time and a
            /// running time, and no error; a step became ready no earlier than its parent did.
            fn snapshots_after_success_have_times(h) {
                let mut job = JobBuilder::<()>::$new("timed");
                let a = build(job.step("a").run(|()| async { Res::Ok(1) }));
                let b = build(
                    job.step("b")
                        .after(&a)
                        .run(|(), a| async move { Res::Ok(a + 1) }),
                );
                let job = build(job.seal().with_result(&b));
                let instance = h.start_with_result(&job, (), JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                let steps = instance.steps();
                assert_eq!(steps.len(), 2);
                for step in &steps {
                    assert_eq!(
                        step.state,
                        StepState::Succeeded,
                        "{} on {}",
                        step.name,
                        h.name()
                    );
                    assert!(step.error.is_none());
                    assert!(step.started_at.is_some_and(|t| t >= instance.started_at()));
                    assert!(step.waiting.is_some() && step.running.is_some() && step.queued.is_some());
                }
                assert_eq!((&*steps[0].name, &*steps[1].name), ("a", "b"));
                assert!(steps[1].waiting >= steps[0].waiting);
                assert!(steps[1].started_at >= steps[0].started_at);
                assert_eq!(instance.step(&b).map(|s| s.index), Some(1));
            }
        }
    };
}
