//! Ordering: a step runs once, after its dependencies and as soon as they have succeeded;
//! roots run concurrently; `sequential` runs one step at a time; long chains complete.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_ordering {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// A three-level diamond (a → b, c, d → e(b, c), f(c, d) → g(e, f)) runs every step exactly
            /// once, and no step starts before each of its dependencies has ended.
            fn diamond_runs_each_step_once_after_its_dependencies(h) {
                #[derive(Default)]
                struct Log {
                    runs: Mutex<HashMap<&'static str, (usize, usize, usize)>>,
                    clock: Clock,
                }
                impl Log {
                    async fn step(&self, name: &'static str, value: u64) -> Res<u64> {
                        let start = self.clock.tick();
                        yield_now().await;
                        let end = self.clock.tick();
                        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
                        let entry = runs.entry(name).or_insert((0, start, end));
                        entry.0 += 1;
                        Ok(value)
                    }
                }

                let mut job = JobBuilder::<Arc<Log>>::$new("diamond");
                let a = build(
                    job.step("a")
                        .run(|log| async move { log.step("a", 1).await }),
                );
                let b = build(
                    job.step("b")
                        .after(&a)
                        .run(|log, a| async move { log.step("b", a + 10).await }),
                );
                let c = build(
                    job.step("c")
                        .after(&a)
                        .run(|log, a| async move { log.step("c", a + 20).await }),
                );
                let d = build(
                    job.step("d")
                        .after(&a)
                        .run(|log, a| async move { log.step("d", a + 30).await }),
                );
                let e = build(
                    job.step("e")
                        .after((&b, &c))
                        .run(|log, (b, c)| async move { log.step("e", b + c).await }),
                );
                let f = build(
                    job.step("f")
                        .after((&c, &d))
                        .run(|log, (c, d)| async move { log.step("f", c * d).await }),
                );
                let g = build(
                    job.step("g")
                        .after((&e, &f))
                        .run(|log, (e, f)| async move { log.step("g", e + f).await }),
                );
                let job = build(job.seal().with_result(&g));

                let log = Arc::new(Log::default());
                let instance = h.start_with_result(&job, log.clone(), JobOptions::new());
                let result = h.block_on(instance.result()).expect("every step succeeds");
                assert_eq!(result, (11 + 21) + 21 * 31, "on {}", h.name());

                let runs = log.runs.lock().unwrap_or_else(|e| e.into_inner());
                for name in ["a", "b", "c", "d", "e", "f", "g"] {
                    assert_eq!(
                        runs.get(name).map(|r| r.0),
                        Some(1),
                        "{name} runs once on {}",
                        h.name()
                    );
                }
                let edges = [
                    ("a", "b"),
                    ("a", "c"),
                    ("a", "d"),
                    ("b", "e"),
                    ("c", "e"),
                    ("c", "f"),
                    ("d", "f"),
                    ("e", "g"),
                    ("f", "g"),
                ];
                for (parent, child) in edges {
                    let parent_end = runs[parent].2;
                    let child_start = runs[child].1;
                    assert!(
                        parent_end < child_start,
                        "{child} started (tick {child_start}) before {parent} ended (tick {parent_end}) on {}",
                        h.name()
                    );
                }
            }

            /// With `JobOptions::sequential`, no two steps run at once, and they run in definition order.
            fn sequential_option_runs_one_step_at_a_time_in_order(h) {
                #[derive(Default)]
                struct Probe {
                    running: AtomicUsize,
                    most: AtomicUsize,
                    order: Mutex<Vec<usize>>,
                }
                impl Probe {
                    async fn step(&self, index: usize) -> Res<usize> {
                        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                        self.most.fetch_max(now, Ordering::SeqCst);
                        self.order
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(index);
                        yield_now().await;
                        yield_now().await;
                        self.running.fetch_sub(1, Ordering::SeqCst);
                        Ok(index)
                    }
                }
                let mut job = JobBuilder::<Arc<Probe>>::$new("sequential");
                let roots: Vec<StepHandle<usize>> = (0..4)
                    .map(|i| {
                        build(
                            job.step(format!("root {i}"))
                                .run(move |p| async move { p.step(i).await }),
                        )
                    })
                    .collect();
                let fan = build(
                    job.step("fan")
                        .after(&roots)
                        .run(|p, _| async move { p.step(4).await }),
                );
                let x = build(
                    job.step("x")
                        .after(&fan)
                        .run(|p, _| async move { p.step(5).await }),
                );
                let y = build(
                    job.step("y")
                        .after(&fan)
                        .run(|p, _| async move { p.step(6).await }),
                );
                let z = build(
                    job.step("z")
                        .after((&x, &y))
                        .run(|p, _| async move { p.step(7).await }),
                );
                let job = build(job.seal().with_result(&z));

                let probe = Arc::new(Probe::default());
                let instance = h.start_with_result(&job, probe.clone(), JobOptions::new().sequential());
                assert_eq!(h.block_on(instance.result()).expect("succeeds"), 7);
                assert_eq!(
                    probe.most.load(Ordering::SeqCst),
                    1,
                    "one at a time on {}",
                    h.name()
                );
                let order = probe
                    .order
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                assert_eq!(
                    order,
                    (0..8).collect::<Vec<_>>(),
                    "definition order on {}",
                    h.name()
                );

                // Sequential mode still skips dependents of a failure, and runs the rest.
                let mut job = JobBuilder::<()>::$new("sequential failure");
                let bad = build(job.step("bad").run(|()| async { Err::<(), _>("no") }));
                build(
                    job.step("skipped")
                        .after(&bad)
                        .run(|(), ()| async { Res::Ok(()) }),
                );
                let fine = build(job.step("fine").run(|()| async { Res::Ok(3) }));
                let job = build(job.seal().with_result(&fine));
                let instance = h.start_with_result(&job, (), JobOptions::new().sequential());
                let error = h.block_on(instance.wait()).expect_err("fails");
                assert_eq!(error.step(), Some("bad"));
                assert_eq!(
                    instance.step_by_name("skipped").map(|s| s.state),
                    Some(StepState::Skipped)
                );
                assert_eq!(instance.output(&fine), Some(3));
            }

            /// A step starts as soon as its own dependencies have succeeded: a chain of ten steps runs to
            /// its end while an unrelated step of the first layer is still blocked — and it is the end of
            /// the chain that unblocks it. An engine that ran layer by layer would hang here.
            fn ready_step_is_never_held_back_by_a_slow_unrelated_step(h) {
                type Gate = Arc<Mutex<(Option<oneshot::Sender<()>>, Option<oneshot::Receiver<()>>)>>;
                let mut job = JobBuilder::<Gate>::$new("maximal parallelism");
                let slow = build(job.step("slow").run(|gate: Gate| async move {
                    let rx = gate.lock().unwrap_or_else(|e| e.into_inner()).1.take();
                    match rx {
                        Some(rx) => rx.await.map_err(|_| "the chain dropped the gate"),
                        None => Err("no gate"),
                    }
                }));
                let mut link = build(job.step("chain 0").run(|_| async { Res::Ok(0u32) }));
                for i in 1..10 {
                    link = build(
                        job.step(format!("chain {i}"))
                            .after(&link)
                            .run(|_, n| async move {
                                yield_now().await;
                                Res::Ok(n + 1)
                            }),
                    );
                }
                let end = build(
                    job.step("chain end")
                        .after(&link)
                        .run(|gate: Gate, n| async move {
                            let tx = gate.lock().unwrap_or_else(|e| e.into_inner()).0.take();
                            let _ = tx.map(|tx| tx.send(()));
                            Res::Ok(n)
                        }),
                );
                let done = build(
                    job.step("done")
                        .after((&slow, &end))
                        .run(|_, ((), n)| async move { Res::Ok(n) }),
                );
                let job = build(job.seal().with_result(&done));

                let (tx, rx) = oneshot::channel();
                let gate: Gate = Arc::new(Mutex::new((Some(tx), Some(rx))));
                let instance = h.start_with_result(&job, gate, JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result()).expect("succeeds"),
                    9,
                    "on {}",
                    h.name()
                );
            }

            /// Two root steps run at the same time: each waits for the other to have started.
            fn roots_run_concurrently(h) {
                type Meet = Arc<Mutex<Vec<Option<oneshot::Sender<()>>>>>;
                type Wait = Arc<Mutex<Vec<Option<oneshot::Receiver<()>>>>>;
                let mut job = JobBuilder::<(Meet, Wait)>::$new("rendezvous");
                let mut roots = Vec::new();
                for me in 0..2usize {
                    roots.push(build(job.step(format!("root {me}")).run(
                        move |(meet, wait): (Meet, Wait)| async move {
                            let tx = meet.lock().unwrap_or_else(|e| e.into_inner())[me].take();
                            let rx = wait.lock().unwrap_or_else(|e| e.into_inner())[1 - me].take();
                            if let Some(tx) = tx {
                                let _ = tx.send(());
                            }
                            match rx {
                                Some(rx) => rx.await.map(|()| me).map_err(|_| "the other root vanished"),
                                None => Err("no channel"),
                            }
                        },
                    )));
                }
                let both = build(
                    job.step("both")
                        .after(&roots)
                        .run(|_, v: Vec<usize>| async move { Res::Ok(v) }),
                );
                let job = build(job.seal().with_result(&both));
                let (t0, r0) = oneshot::channel();
                let (t1, r1) = oneshot::channel();
                let meet: Meet = Arc::new(Mutex::new(vec![Some(t0), Some(t1)]));
                let wait: Wait = Arc::new(Mutex::new(vec![Some(r0), Some(r1)]));
                let instance = h.start_with_result(&job, (meet, wait), JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result()).expect("succeeds"),
                    vec![0, 1],
                    "on {}",
                    h.name()
                );
            }

            /// A chain of 10,000 steps completes (the engine runs successors inline, yielding to the
            /// executor now and then).
            fn long_chain_completes(h) {
                let mut job = JobBuilder::<u64>::$new("chain");
                let mut link = build(job.step("0").run(|n| async move { Res::Ok(n) }));
                for i in 1..10_000u64 {
                    link = build(
                        job.step(i.to_string())
                            .after(&link)
                            .run(|_, n| async move { Res::Ok(n + 1) }),
                    );
                }
                let job = build(job.seal().with_result(&link));
                let instance = h.start_with_result(&job, 1, JobOptions::new());
                assert_eq!(
                    h.block_on(instance.result()).expect("succeeds"),
                    10_000,
                    "on {}",
                    h.name()
                );
            }

            /// An ordering-only dependency makes a step wait for another without taking its output.
            fn ordering_only_dependency_waits(h) {
                let clock = Clock::default();
                let mut job = JobBuilder::<Clock>::$new("ordering");
                let first = build(job.step("first").run(|c: Clock| async move {
                    yield_now().await;
                    yield_now().await;
                    Res::Ok(c.tick())
                }));
                let second = build(
                    job.step("second")
                        .wait_for(&first)
                        .run(|c: Clock| async move { Res::Ok(c.tick()) }),
                );
                let job = build(job.seal().with_result(&second));
                let instance = h.start_with_result(&job, clock, JobOptions::new());
                let second_tick = h.block_on(instance.result()).expect("succeeds");
                let first_tick = instance.output(&first).expect("first succeeded");
                assert!(first_tick < second_tick, "on {}", h.name());
            }
        }
    };
}
