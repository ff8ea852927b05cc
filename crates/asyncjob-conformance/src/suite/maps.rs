//! Map steps: a step that runs once per item of a parent's output, each item tracked.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_maps {
    ($harness:expr, $new:ident, $mode:ident) => {
        use asyncjob::retry::Retry;

        fn events_of<X: asyncjob::Mode>(
            h: &impl Starts,
            instance: &asyncjob::JobInstance<X>,
            result: &Result<(), asyncjob::JobError>,
        ) {
            let events: Vec<_> = h.block_on(futures::StreamExt::collect::<Vec<_>>(
                instance.events().expect("recorded"),
            ));
            let problems = $crate::suite::events::check_log(&events, &instance.snapshot(), result);
            assert!(problems.is_empty(), "on {}: {problems:#?}", h.name());
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// A map runs its function once per item of its parent's output, known only at run
            /// time; its output is the items' outputs in item order; every item is in the
            /// snapshot under its key, and in the events; an empty input is an empty `Vec`.
            fn a_map_runs_once_per_item_in_item_order(h) {
                let mut job = JobBuilder::<u32>::$new("hash");
                let files = build(job.step("find").run(|n| async move {
                    Res::Ok((0..n).map(|i| format!("f{i}.rs")).collect::<Vec<String>>())
                }));
                let hashes = build(
                    job.step("hash")
                        .map(&files)
                        .key(|file: &String| file.clone())
                        .run(|_, file: String| async move { Res::Ok(file.len()) }),
                );
                let total = build(
                    job.step("total")
                        .after(&hashes)
                        .run(|_, lens: Vec<usize>| async move { Res::Ok(lens.iter().sum::<usize>()) }),
                );
                let job = job.seal();
                for n in [0u32, 1, 12, 50] {
                    let instance = h.start(&job, n, JobOptions::new().record_events());
                    let result = h.block_on(instance.wait());
                    result.clone().expect("every item succeeds");
                    let lens = h.block_on(instance.output_of(&hashes)).expect("the map succeeded");
                    let expected: Vec<usize> = (0..n).map(|i| format!("f{i}.rs").len()).collect();
                    assert_eq!(lens, expected, "n = {n} on {}", h.name());
                    assert_eq!(
                        h.block_on(instance.output_of(&total)).expect("ran"),
                        expected.iter().sum::<usize>()
                    );
                    let map = instance.step(&hashes).expect("a step");
                    assert_eq!(map.items.len(), n as usize);
                    for (position, item) in map.items.iter().enumerate() {
                        assert_eq!(item.position, position);
                        assert_eq!(&*item.name, format!("hash[f{position}.rs]"));
                        assert_eq!(item.state, StepState::Succeeded);
                        assert_eq!(item.attempts, 1);
                        assert!(item.start_offset <= item.end_offset);
                    }
                    events_of(h, &instance, &result);
                }
            }

            /// An item that fails fails the map once every item has ended, naming the first
            /// failed item as the root cause; items retry under the map's policy; the map's
            /// dependents are skipped; the other items succeed.
            fn a_failed_item_fails_the_map_and_items_retry(h) {
                let calls = Arc::new(Mutex::new(HashMap::<u32, u32>::new()));
                let counted = calls.clone();
                let mut job = JobBuilder::<()>::$new("items");
                let numbers = build(job.step("numbers").run(|_| async { Res::Ok((0..10u32).collect::<Vec<_>>()) }));
                let checked = build(
                    job.step("check")
                        .map(&numbers)
                        .retry(Retry::fixed(3, std::time::Duration::ZERO))
                        .run(move |_, n: u32| {
                            let call = {
                                let mut calls = counted.lock().expect("unpoisoned");
                                let call = calls.entry(n).or_insert(0);
                                *call += 1;
                                *call
                            };
                            async move {
                                match n {
                                    // 3 and 7 always fail; 5 fails once, then succeeds.
                                    3 | 7 => Err(format!("{n} is unlucky")),
                                    5 if call == 1 => Err("flaky".to_owned()),
                                    _ => Ok(n),
                                }
                            }
                        }),
                );
                let after = build(job.step("after").after(&checked).run(|_, v: Vec<u32>| async move { Res::Ok(v.len()) }));
                let instance = h.start(&job.seal(), (), JobOptions::new().record_events());
                let result = h.block_on(instance.wait());
                let error = result.clone().expect_err("the map fails");
                assert_eq!(error.step(), Some("check"), "on {}", h.name());
                assert_eq!(error.to_string(), "step \"check\" failed: its item \"check[3]\" failed");
                assert_eq!(error.root_cause().step(), Some("check[3]"));
                assert_eq!(
                    error.root_cause().source().map(|s| s.to_string()).as_deref(),
                    Some("3 is unlucky")
                );
                assert_eq!(instance.step(&after).map(|s| s.state), Some(StepState::Skipped));
                let map = instance.step(&checked).expect("a step");
                assert_eq!(map.state, StepState::Failed);
                for item in &map.items {
                    let (state, attempts) = match item.position {
                        3 | 7 => (StepState::Failed, 3),
                        5 => (StepState::Succeeded, 2),
                        _ => (StepState::Succeeded, 1),
                    };
                    assert_eq!((item.state, item.attempts), (state, attempts), "{}", item.name);
                }
                assert_eq!(calls.lock().expect("unpoisoned").values().sum::<u32>(), 8 + 3 + 3 + 1);
                events_of(h, &instance, &result);
            }

            /// A map with a limit never runs more than that many items at once.
            fn a_map_limit_caps_the_items_running_at_once(h) {
                let live = Arc::new(AtomicUsize::new(0));
                let peak = Arc::new(AtomicUsize::new(0));
                let (counted, seen) = (live.clone(), peak.clone());
                let mut job = JobBuilder::<()>::$new("capped");
                let numbers = build(job.step("numbers").run(|_| async { Res::Ok((0..40u32).collect::<Vec<_>>()) }));
                let mapped = build(
                    job.step("capped")
                        .map(&numbers)
                        .limit(3)
                        .run(move |_, n: u32| {
                            let (live, peak) = (counted.clone(), seen.clone());
                            async move {
                                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                                peak.fetch_max(now, Ordering::SeqCst);
                                // Give the other items a chance to start.
                                for _ in 0..3 {
                                    let mut yielded = false;
                                    futures::future::poll_fn(|cx| {
                                        if std::mem::replace(&mut yielded, true) {
                                            std::task::Poll::Ready(())
                                        } else {
                                            cx.waker().wake_by_ref();
                                            std::task::Poll::Pending
                                        }
                                    })
                                    .await;
                                }
                                live.fetch_sub(1, Ordering::SeqCst);
                                Res::Ok(n)
                            }
                        }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                assert_eq!(h.block_on(instance.output_of(&mapped)).expect("ran").len(), 40);
                assert_eq!(peak.load(Ordering::SeqCst), 3, "on {}", h.name());
            }

            /// `collect_failures()`: the map's output is every item's outcome in item order —
            /// failed items (after their retries) as their typed errors — and the map succeeds,
            /// its dependents run; the failed items are `Failed` in the snapshot and the events.
            fn a_map_can_collect_its_items_failures(h) {
                let mut job = JobBuilder::<()>::$new("collect");
                let numbers = build(job.step("numbers").run(|_| async { Res::Ok((0..6u32).collect::<Vec<_>>()) }));
                let checked = build(
                    job.step("check")
                        .map(&numbers)
                        .collect_failures()
                        .retry(Retry::fixed(2, std::time::Duration::ZERO))
                        .run(|_, n: u32| async move {
                            if n % 3 == 1 { Err(format!("{n} is odd one out")) } else { Ok(n * 10) }
                        }),
                );
                let counted = build(job.step("count").after(&checked).run(
                    |_, outcomes: Vec<Result<u32, asyncjob::JobError>>| async move {
                        Res::Ok(outcomes.iter().filter(|o| o.is_ok()).count())
                    },
                ));
                let instance = h.start(&job.seal(), (), JobOptions::new().record_events());
                let result = h.block_on(instance.wait());
                result.clone().unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                assert_eq!(h.block_on(instance.output_of(&counted)).expect("ran"), 4);
                let outcomes = h.block_on(instance.output_of(&checked)).expect("the map succeeded");
                assert_eq!(outcomes.len(), 6);
                for (n, outcome) in outcomes.iter().enumerate() {
                    match outcome {
                        Ok(value) => assert_eq!(*value, n as u32 * 10),
                        Err(error) => {
                            assert_eq!(n % 3, 1, "on {}", h.name());
                            let name = format!("check[{n}]");
                            assert_eq!((error.kind(), error.step(), error.attempts()), (JobErrorKind::StepFailed, Some(&*name), 2));
                            assert_eq!(error.source().map(|s| s.to_string()), Some(format!("{n} is odd one out")));
                        }
                    }
                }
                let map = instance.step(&checked).expect("a step");
                assert_eq!(map.state, StepState::Succeeded);
                let failed: Vec<_> = map.items.iter().filter(|i| i.state == StepState::Failed).map(|i| i.position).collect();
                assert_eq!(failed, [1, 4]);
                events_of(h, &instance, &result);
            }


            /// A map with a condition over the input and its items: when it does not hold the
            /// map is `Omitted` without running an item (its dependents omitted, or given `None`
            /// if they take it as optional), and the job succeeds; when it holds the map runs.
            fn a_conditional_map_is_omitted_or_runs(h) {
                let calls = Arc::new(AtomicUsize::new(0));
                let counted = calls.clone();
                let mut job = JobBuilder::<u32>::$new("conditional");
                let numbers = build(job.step("numbers").run(|n| async move { Res::Ok((0..n).collect::<Vec<u32>>()) }));
                let doubled = build(
                    job.step("double")
                        .map(&numbers)
                        .when(|_, items: &Vec<u32>| items.len() > 2)
                        .run(move |_, n: u32| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            async move { Res::Ok(n * 2) }
                        }),
                );
                let strict = build(job.step("sum").after(&doubled).run(|_, v: Vec<u32>| async move { Res::Ok(v.iter().sum::<u32>()) }));
                let loose = build(job.step("maybe").after(asyncjob::optional(&doubled)).run(
                    |_, v: Option<Vec<u32>>| async move { Res::Ok(v.map_or(0, |v| v.len())) },
                ));
                let job = job.seal();

                let instance = h.start(&job, 2, JobOptions::new().record_events());
                let result = h.block_on(instance.wait());
                result.clone().unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let map = instance.step(&doubled).expect("a step");
                assert_eq!((map.state, map.attempts, map.items.len()), (StepState::Omitted, 0, 0), "on {}", h.name());
                assert_eq!(instance.step(&strict).map(|s| s.state), Some(StepState::Omitted));
                assert_eq!(h.block_on(instance.output_of(&loose)).expect("ran"), 0);
                assert_eq!(calls.load(Ordering::SeqCst), 0);
                events_of(h, &instance, &result);

                let instance = h.start(&job, 4, JobOptions::new());
                h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                assert_eq!(h.block_on(instance.output_of(&strict)).expect("ran"), 12);
                assert_eq!(h.block_on(instance.output_of(&loose)).expect("ran"), 4);
                assert_eq!(calls.load(Ordering::SeqCst), 4);
            }


            /// Cancelling a job during a map ends the items that had not ended `Cancelled`, the
            /// map `Cancelled`, and `wait()` resolves; a map of 10,000 items runs, and one of
            /// 10,000 pending items cancels and drops.
            fn a_large_map_runs_cancels_and_drops(h) {
                let mut job = JobBuilder::<bool>::$new("large");
                let numbers = build(job.step("numbers").run(|_| async { Res::Ok((0..10_000u32).collect::<Vec<_>>()) }));
                let mapped = build(
                    job.step("each")
                        .map(&numbers)
                        .run(|hang: bool, n: u32| async move {
                            if hang {
                                futures::future::pending::<()>().await;
                            }
                            Res::Ok(u64::from(n))
                        }),
                );
                let job = job.seal();
                let instance = h.start(&job, false, JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                let out = h.block_on(instance.output_of(&mapped)).expect("ran");
                assert_eq!(out.len(), 10_000);
                assert_eq!(out.iter().sum::<u64>(), 9_999 * 10_000 / 2);

                let instance = h.start(&job, true, JobOptions::new().record_events());
                // Wait until the map is running its items, then cancel.
                h.block_on(futures::future::poll_fn(|cx| {
                    let started = instance.step(&mapped).is_some_and(|s| !s.items.is_empty());
                    if started {
                        std::task::Poll::Ready(())
                    } else {
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                }));
                assert!(instance.cancel());
                let result = h.block_on(instance.wait());
                assert!(result.as_ref().is_err_and(|e| e.is_cancelled()), "on {}", h.name());
                let map = instance.step(&mapped).expect("a step");
                assert_eq!(map.state, StepState::Cancelled);
                assert!(map.items.iter().all(|item| item.state == StepState::Cancelled));
                events_of(h, &instance, &result);
                drop(instance);
            }

            /// A map with a fallback that fails (an item failed) ends `Recovered` with the
            /// fallback's output, made from an error naming the failed item; its dependents
            /// run, the job succeeds, the items keep their states; a map that succeeds does not
            /// call it.
            fn a_map_with_a_fallback_recovers_from_a_failed_item(h) {
                let mut job = JobBuilder::<u32>::$new("prices");
                let shops = build(job.step("shops").run(|n: u32| async move { Res::Ok((0..n).collect::<Vec<u32>>()) }));
                let prices = build(
                    job.step("price")
                        .map(&shops)
                        .fallback(|error: &asyncjob::JobError| {
                            vec![error.root_cause().step().map_or(0, str::len) as u32]
                        })
                        .run(|_, shop: u32| async move {
                            if shop == 2 { Err(format!("shop {shop} is down")) } else { Ok(shop * 10) }
                        }),
                );
                let total = build(
                    job.step("total")
                        .after(&prices)
                        .run(|_, prices: Vec<u32>| async move { Res::Ok(prices.iter().sum::<u32>()) }),
                );
                let job = job.seal();
                let instance = h.start(&job, 4, JobOptions::new());
                h.block_on(instance.wait()).expect("the map recovered");
                let map = instance.step(&prices).expect("a step");
                assert_eq!(map.state, StepState::Recovered, "on {}", h.name());
                assert_eq!(map.error.expect("what it recovered from").root_cause().step(), Some("price[2]"));
                assert_eq!(map.items[2].state, StepState::Failed);
                assert_eq!(h.block_on(instance.output_of(&prices)).expect("recovered"), vec![8]);
                assert_eq!(h.block_on(instance.output_of(&total)).expect("ran"), 8);

                let instance = h.start(&job, 2, JobOptions::new());
                h.block_on(instance.wait()).expect("every item succeeds");
                assert_eq!(instance.step(&prices).expect("a step").state, StepState::Succeeded);
                assert_eq!(h.block_on(instance.output_of(&prices)).expect("ran"), vec![0, 10]);
            }
        }
    };
}
