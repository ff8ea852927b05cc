//! Limits and priorities: shared pools of permits that steps (and map items) need, an
//! instance's cap on running steps, and the priorities that order the grants.
//!
//! Time is a held [`RecordingTimer`](crate::RecordingTimer) on a fake clock: a step "works" by
//! sleeping on it, and the test decides when each sleep ends, so "N run while N are ready" is
//! checked at every step of the run, not sampled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the steps under a limit that run at once, and the most that ever did.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    /// A step starts: counts it in (and the new most, if it is one).
    pub fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(self.clone())
    }

    /// The most that ran at once.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// How many run now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
}

/// Counts a step out of its [`Gauge`] when dropped (whether its future ends or is dropped).
#[derive(Debug)]
pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_limits {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::time::Duration;

        use asyncjob::retry::Retry;
        use asyncjob::{EventKind, Limit, Timer};
        use $crate::suite::limits::Gauge;

        fn ms(n: u64) -> Duration {
            Duration::from_millis(n)
        }

        fn events_of<X: asyncjob::Mode>(
            h: &impl Starts,
            instance: &asyncjob::JobInstance<X>,
            result: &Result<(), asyncjob::JobError>,
        ) -> Vec<asyncjob::Event> {
            let events: Vec<_> = h.block_on(futures::StreamExt::collect::<Vec<_>>(
                instance.events().expect("recorded"),
            ));
            let problems = $crate::suite::events::check_log(&events, &instance.snapshot(), result);
            assert!(problems.is_empty(), "on {}: {problems:#?}", h.name());
            events
        }

        /// The states of a step's events, in order.
        fn kinds_of(events: &[asyncjob::Event], step: &str) -> Vec<String> {
            events
                .iter()
                .filter(|event| event.step_name() == Some(step))
                .filter(|event| event.step.as_ref().is_some_and(|s| s.item.is_none()))
                .map(|event| match &event.kind {
                    EventKind::AwaitingPermit { limit } => format!("awaiting {limit}"),
                    EventKind::Running { attempt } => format!("running {attempt}"),
                    kind => kind.state().map_or("job ended", |state| state.as_str()).to_owned(),
                })
                .collect()
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// Twelve steps need a limit of three permits and each works 10 ms: at every moment
            /// exactly three run and the others wait `AwaitingPermit` for "db" — never more,
            /// and no permit idle while a step waits — so the job takes four rounds, 40 ms, and
            /// the steps waited 0, 10, 20 and 30 ms (three of each).
            fn a_limit_caps_the_running_steps_and_keeps_its_permits_busy(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let db = Limit::new("db", 3);
                let gauge = Arc::new(Gauge::default());
                let mut job = JobBuilder::<RecordingTimer>::$new("queries");
                for n in 0..12 {
                    let gauge = gauge.clone();
                    build(job.step(format!("q{n}")).needs(&db).run(move |timer: RecordingTimer| {
                        let entered = gauge.enter();
                        async move {
                            timer.sleep(ms(10)).await;
                            drop(entered);
                            Res::Ok(n)
                        }
                    }));
                }
                let job = job.seal();
                let instance = h.start_with_timer(&job, timer.clone(), JobOptions::new().record_events(), timer.clone());
                for round in 0..4usize {
                    let left = 12 - 3 * round;
                    // (A step is counted in the limit's queue a moment before it is seen waiting.)
                    let awaiting = || {
                        let snapshot = instance.snapshot();
                        snapshot.steps.iter().filter(|s| s.state == StepState::AwaitingPermit).count()
                    };
                    h.block_on(until(|| {
                        timer.pending().len() == 3 && db.waiting() == left - 3 && awaiting() == left - 3
                    }));
                    assert_eq!((gauge.now(), db.available()), (3, 0), "round {round} on {}", h.name());
                    let snapshot = instance.snapshot();
                    let count = |state| snapshot.steps.iter().filter(|s| s.state == state).count();
                    assert_eq!(count(StepState::Running), 3, "round {round} on {}", h.name());
                    assert_eq!(count(StepState::AwaitingPermit), left - 3, "round {round} on {}", h.name());
                    for step in snapshot.steps.iter().filter(|s| s.state == StepState::AwaitingPermit) {
                        assert_eq!(step.awaiting_permit.as_deref(), Some("db"), "on {}", h.name());
                        assert_eq!(step.start_offset, None, "on {}", h.name());
                    }
                    assert_eq!(timer.release(ms(10)), 3, "round {round} on {}", h.name());
                }
                let result = h.block_on(instance.wait());
                result.clone().unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                assert_eq!(gauge.most(), 3, "on {}", h.name());
                assert_eq!((db.available(), db.waiting()), (3, 0), "on {}", h.name());
                let snapshot = instance.snapshot();
                assert_eq!(snapshot.elapsed, ms(40), "on {}", h.name());
                let mut waits: Vec<_> = snapshot.steps.iter().map(|s| s.permit_wait).collect();
                waits.sort();
                let expected: Vec<_> = [0, 10, 20, 30].iter().flat_map(|&w| [ms(w); 3]).collect();
                assert_eq!(waits, expected, "on {}", h.name());
                for step in &snapshot.steps {
                    assert_eq!((step.state, step.attempts), (StepState::Succeeded, 1));
                    assert_eq!(step.awaiting_permit, None);
                    if step.permit_wait > Duration::ZERO {
                        assert_eq!(step.permit_offset, Some(ms(0)), "{} on {}", step.name, h.name());
                        assert_eq!(step.start_offset, Some(step.permit_wait), "{} on {}", step.name, h.name());
                    } else {
                        assert_eq!(step.permit_offset, None, "{} on {}", step.name, h.name());
                    }
                }
                let events = events_of(h, &instance, &result);
                let waited = snapshot.steps.iter().find(|s| s.permit_wait == ms(30)).expect("a last one");
                // The pictures draw the wait.
                let gantt = snapshot.to_mermaid_gantt();
                let bar = format!("    awaiting permit :done, s{}p, 0, 30\n", waited.index);
                assert!(gantt.contains(&bar), "on {}:\n{gantt}", h.name());
                assert!(snapshot.to_dot().contains("permit wait: 30.000ms"), "on {}", h.name());
                assert!(snapshot.to_chrome_trace().contains("\"name\":\"awaiting permit\""), "on {}", h.name());
                assert_eq!(
                    kinds_of(&events, &waited.name),
                    ["queued", "awaiting db", "running 1", "succeeded"],
                    "on {}",
                    h.name()
                );
                let first = snapshot.steps.iter().find(|s| s.permit_wait.is_zero()).expect("a first one");
                assert_eq!(kinds_of(&events, &first.name), ["queued", "running 1", "succeeded"]);
            }

            /// With a limit of one held, steps that wait for it get it by priority (the
            /// definition's, or the instance's override), and steps of equal priority in the
            /// order they began to wait.
            fn priorities_order_the_grants(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let one = Limit::new("one", 1);
                let order = Arc::new(Mutex::new(Vec::<String>::new()));
                let mut job = JobBuilder::<RecordingTimer>::$new("grants");
                build(job.step("hold").needs(&one).run(|timer: RecordingTimer| async move {
                    timer.sleep(ms(100)).await;
                    Res::Ok(())
                }));
                // Ticks of 1, 2, 3 ms make the steps after them ready one at a time.
                let ticks: Vec<_> = (1..=3u64)
                    .map(|n| build(job.step(format!("tick{n}")).run(move |timer: RecordingTimer| async move {
                        timer.sleep(ms(n)).await;
                        Res::Ok(())
                    })))
                    .collect();
                let mut add = |name: &str, after: &StepHandle<()>, priority: i32| {
                    let order = order.clone();
                    let name = name.to_owned();
                    build(job.step(name.clone()).wait_for(after).needs(&one).priority(priority).run(move |_| {
                        order.lock().expect("unpoisoned").push(name.clone());
                        async { Res::Ok(()) }
                    }))
                };
                let low = add("low", &ticks[0], 1);
                add("high", &ticks[0], 5);
                add("mid", &ticks[0], 3);
                // Equal priorities (2), ready at 1, 2 and 3 ms.
                add("fifo1", &ticks[0], 2);
                add("fifo2", &ticks[1], 2);
                add("fifo3", &ticks[2], 2);
                let job = job.seal();
                for (options, expected) in [
                    (JobOptions::new(), ["high", "mid", "fifo1", "fifo2", "fifo3", "low"]),
                    (JobOptions::new().priority(&low, 9), ["low", "high", "mid", "fifo1", "fifo2", "fifo3"]),
                ] {
                    order.lock().expect("unpoisoned").clear();
                    let instance = h.start_with_timer(&job, timer.clone(), options, timer.clone());
                    h.block_on(until(|| timer.pending().contains(&ms(100)) && timer.pending().len() == 4));
                    let mut waiting = 0;
                    for (tick, ready) in [(1, 4), (2, 1), (3, 1)] {
                        assert_eq!(timer.release(ms(tick)), 1);
                        waiting += ready;
                        h.block_on(until(|| one.waiting() == waiting));
                    }
                    assert_eq!(timer.release(ms(100)), 1);
                    h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                    assert_eq!(*order.lock().expect("unpoisoned"), expected, "on {}", h.name());
                    assert_eq!(one.available(), 1);
                }
            }

            /// A retry's back-off gives the permit back (another step runs meanwhile); the next
            /// attempt waits for it again, `AwaitingPermit`, and that wait is timed apart from
            /// the back-off.
            fn a_back_off_gives_the_permit_back(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let one = Limit::new("one", 1);
                let calls = Arc::new(AtomicUsize::new(0));
                let counted = calls.clone();
                let mut job = JobBuilder::<RecordingTimer>::$new("backoff");
                let flaky = build(
                    job.step("flaky")
                        .needs(&one)
                        .retry(Retry::fixed(2, ms(10)))
                        .run(move |_| {
                            let call = counted.fetch_add(1, Ordering::SeqCst);
                            async move { if call == 0 { Err("not yet".to_owned()) } else { Ok(call) } }
                        }),
                );
                let tick = build(job.step("tick").run(|timer: RecordingTimer| async move {
                    timer.sleep(ms(1)).await;
                    Res::Ok(())
                }));
                build(job.step("other").wait_for(&tick).needs(&one).run(|timer: RecordingTimer| async move {
                    timer.sleep(ms(20)).await;
                    Res::Ok(())
                }));
                let job = job.seal();
                let instance = h.start_with_timer(&job, timer.clone(), JobOptions::new().record_events(), timer.clone());
                // flaky failed and backs off: its permit is free again.
                h.block_on(until(|| timer.pending() == [ms(10), ms(1)] || timer.pending() == [ms(1), ms(10)]));
                h.block_on(until(|| instance.step(&flaky).map(|s| s.state) == Some(StepState::Retrying)));
                assert_eq!(one.available(), 1, "on {}", h.name());
                // other takes it.
                assert_eq!(timer.release(ms(1)), 1);
                h.block_on(until(|| timer.pending().contains(&ms(20))));
                assert_eq!(one.available(), 0);
                // The back-off ends (at 10 ms): flaky waits for the permit until other ends (at 21 ms).
                assert_eq!(timer.release(ms(10)), 1);
                h.block_on(until(|| {
                    one.waiting() == 1
                        && instance.step(&flaky).map(|s| s.state) == Some(StepState::AwaitingPermit)
                }));
                let step = instance.step(&flaky).expect("a step");
                assert_eq!(step.state, StepState::AwaitingPermit, "on {}", h.name());
                assert_eq!(step.awaiting_permit.as_deref(), Some("one"));
                assert_eq!(timer.release(ms(20)), 1);
                let result = h.block_on(instance.wait());
                result.clone().unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let step = instance.step(&flaky).expect("a step");
                assert_eq!((step.state, step.attempts), (StepState::Succeeded, 2));
                assert_eq!(step.backoff, ms(10), "on {}", h.name());
                assert_eq!(step.permit_wait, ms(11), "on {}", h.name());
                assert_eq!(step.running, Some(ms(0)), "on {}", h.name());
                assert_eq!(step.end_offset, Some(ms(21)), "on {}", h.name());
                let events = events_of(h, &instance, &result);
                assert_eq!(
                    kinds_of(&events, "flaky"),
                    ["queued", "running 1", "retrying", "awaiting one", "running 2", "succeeded"],
                    "on {}",
                    h.name()
                );
            }

            /// A cancellation reaches a step waiting for a permit: it ends `Cancelled` without
            /// an attempt, leaves the limit's queue, and the job ends.
            fn cancel_reaches_a_step_waiting_for_a_permit(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let one = Limit::new("one", 1);
                let mut job = JobBuilder::<RecordingTimer>::$new("cancel");
                build(job.step("hold").needs(&one).run(|timer: RecordingTimer| async move {
                    timer.sleep(ms(100)).await;
                    Res::Ok(())
                }));
                let tick = build(job.step("tick").run(|timer: RecordingTimer| async move {
                    timer.sleep(ms(1)).await;
                    Res::Ok(())
                }));
                let waits = build(job.step("waits").wait_for(&tick).needs(&one).run(|_| async { Res::Ok(()) }));
                let job = job.seal();
                let instance = h.start_with_timer(&job, timer.clone(), JobOptions::new().record_events(), timer.clone());
                h.block_on(until(|| timer.pending().contains(&ms(100)) && timer.pending().contains(&ms(1))));
                timer.release(ms(1));
                h.block_on(until(|| {
                    one.waiting() == 1
                        && instance.step(&waits).map(|s| s.state) == Some(StepState::AwaitingPermit)
                }));
                timer.advance(ms(4));
                assert!(instance.cancel(), "on {}", h.name());
                let result = h.block_on(instance.wait());
                let error = result.clone().expect_err("cancelled");
                assert_eq!(error.kind(), JobErrorKind::Cancelled, "on {}", h.name());
                let step = instance.step(&waits).expect("a step");
                assert_eq!((step.state, step.attempts, step.start_offset), (StepState::Cancelled, 0, None));
                assert_eq!(step.permit_wait, ms(4), "on {}", h.name());
                assert_eq!((one.waiting(), one.available()), (0, 1), "on {}", h.name());
                let events = events_of(h, &instance, &result);
                assert_eq!(kinds_of(&events, "waits"), ["queued", "awaiting one", "cancelled"]);
            }

            /// A limit without permits could never let its steps run: they fail at once with
            /// `NoPermits` naming the limit, without an attempt, and their dependents are
            /// skipped; an instance capped at 0 fails every root so.
            fn a_limit_without_permits_fails_its_steps_at_once(h) {
                let none = Limit::new("none", 0);
                let mut job = JobBuilder::<()>::$new("empty");
                let needs = build(job.step("needs").needs(&none).run(|_| async { Res::Ok(1) }));
                let after = build(job.step("after").after(&needs).run(|_, n: i32| async move { Res::Ok(n) }));
                let free = build(job.step("free").run(|_| async { Res::Ok(2) }));
                let job = job.seal();
                let instance = h.start(&job, (), JobOptions::new());
                let error = h.block_on(instance.wait()).expect_err("fails");
                assert_eq!((error.kind(), error.step(), error.limit()), (JobErrorKind::NoPermits, Some("needs"), Some("none")));
                assert_eq!(error.to_string(), "step \"needs\" cannot run: the limit \"none\" it needs has no permits");
                let step = instance.step(&needs).expect("a step");
                assert_eq!((step.state, step.attempts, step.start_offset), (StepState::Failed, 0, None));
                assert_eq!(instance.step(&after).map(|s| s.state), Some(StepState::Skipped));
                assert_eq!(instance.step(&free).map(|s| s.state), Some(StepState::Succeeded));

                let capped = h.start(&job, (), JobOptions::new().max_running(0));
                let error = h.block_on(capped.wait()).expect_err("fails");
                assert_eq!((error.kind(), error.limit()), (JobErrorKind::NoPermits, Some("max_running")));
                assert_eq!(capped.step(&free).map(|s| s.state), Some(StepState::Failed));
            }

            /// `max_running` caps one instance (the definition's cap, or the options'): the
            /// others wait for "max_running", in rounds; a map step counts once however many
            /// of its items run.
            fn max_running_caps_an_instance(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let mut job = JobBuilder::<RecordingTimer>::$new("capped");
                job.max_running(2);
                for n in 0..6 {
                    build(job.step(format!("s{n}")).run(move |timer: RecordingTimer| async move {
                        timer.sleep(ms(10)).await;
                        Res::Ok(n)
                    }));
                }
                let job = job.seal();
                for (options, cap) in [(JobOptions::new(), 2), (JobOptions::new().max_running(3), 3)] {
                    let instance = h.start_with_timer(&job, timer.clone(), options, timer.clone());
                    for round in 0..6 / cap {
                        let left = 6 - cap * round;
                        h.block_on(until(|| {
                            let snapshot = instance.snapshot();
                            let waiting = snapshot.steps.iter().filter(|s| s.state == StepState::AwaitingPermit).count();
                            timer.pending().len() == cap && waiting == left - cap
                        }));
                        let snapshot = instance.snapshot();
                        let running = snapshot.steps.iter().filter(|s| s.state == StepState::Running).count();
                        assert_eq!(running, cap, "round {round} on {}", h.name());
                        for step in snapshot.steps.iter().filter(|s| s.state == StepState::AwaitingPermit) {
                            assert_eq!(step.awaiting_permit.as_deref(), Some("max_running"));
                        }
                        assert_eq!(timer.release(ms(10)), cap);
                    }
                    h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                }

                let mut job = JobBuilder::<RecordingTimer>::$new("one map");
                let items = build(job.step("items").run(|_| async { Res::Ok((0..4u64).collect::<Vec<_>>()) }));
                let each = build(job.step("each").map(&items).run(|timer: RecordingTimer, n: u64| async move {
                    timer.sleep(ms(10)).await;
                    Res::Ok(n)
                }));
                let job = job.seal();
                let instance = h.start_with_timer(&job, timer.clone(), JobOptions::new().max_running(1), timer.clone());
                // The map's four items run at once, under the cap's one permit.
                h.block_on(until(|| timer.pending().len() == 4));
                assert_eq!(timer.release(ms(10)), 4);
                assert_eq!(h.block_on(instance.output_of(&each)).expect("ran"), [0, 1, 2, 3]);
            }

            /// Each item of a map can need a limit: the items of two instances of a map share
            /// it, two at a time in all, the others `AwaitingPermit` for it.
            fn map_items_share_a_limit_across_instances(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let fetch = Limit::new("fetch", 2);
                let gauge = Arc::new(Gauge::default());
                let mut job = JobBuilder::<RecordingTimer>::$new("crawl");
                let pages = build(job.step("pages").run(|_| async { Res::Ok((0..5u32).collect::<Vec<_>>()) }));
                let counted = gauge.clone();
                let fetched = build(job.step("fetch").map(&pages).needs(&fetch).run(move |timer: RecordingTimer, page: u32| {
                    let entered = counted.enter();
                    async move {
                        timer.sleep(ms(10)).await;
                        drop(entered);
                        Res::Ok(page * 2)
                    }
                }));
                let job = job.seal();
                let a = h.start_with_timer(&job, timer.clone(), JobOptions::new().record_events(), timer.clone());
                let b = h.start_with_timer(&job, timer.clone(), JobOptions::new(), timer.clone());
                for round in 0..5usize {
                    let left = 10 - 2 * round;
                    let waiting = || -> usize {
                        [&a, &b]
                            .iter()
                            .filter_map(|instance| instance.step(&fetched))
                            .map(|step| step.items.iter().filter(|i| i.state == StepState::AwaitingPermit).count())
                            .sum()
                    };
                    // (An item is counted in the limit's queue a moment before it is seen waiting.)
                    h.block_on(until(|| {
                        timer.pending().len() == 2 && fetch.waiting() == left - 2 && waiting() == left - 2
                    }));
                    assert_eq!(gauge.now(), 2, "round {round} on {}", h.name());
                    assert_eq!(timer.release(ms(10)), 2);
                }
                let ra = h.block_on(a.wait());
                ra.clone().unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                h.block_on(b.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                assert_eq!(gauge.most(), 2, "on {}", h.name());
                assert_eq!((fetch.available(), fetch.waiting()), (2, 0));
                assert_eq!(h.block_on(a.output_of(&fetched)).expect("ran"), [0, 2, 4, 6, 8]);
                let events = events_of(h, &a, &ra);
                assert!(events.iter().any(|e| matches!(&e.kind, EventKind::AwaitingPermit { limit } if &**limit == "fetch")
                    && e.step.as_ref().is_some_and(|s| s.item.is_some())));
            }

            /// Steps that need the same two limits, declared in either order, never wait for
            /// each other: every step takes them in one order.
            fn steps_needing_several_limits_never_deadlock(h) {
                let a = Limit::new("a", 1);
                let b = Limit::new("b", 1);
                let gauge = Arc::new(Gauge::default());
                let mut job = JobBuilder::<()>::$new("two");
                for n in 0..40 {
                    let (first, second) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    let gauge = gauge.clone();
                    build(job.step(format!("s{n}")).needs(first).needs(second).run(move |_| {
                        let entered = gauge.enter();
                        async move {
                            yield_now().await;
                            drop(entered);
                            Res::Ok(n)
                        }
                    }));
                }
                let job = job.seal();
                for _ in 0..5 {
                    let instance = h.start(&job, (), JobOptions::new());
                    h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                }
                assert_eq!(gauge.most(), 1, "on {}", h.name());
                assert_eq!((a.available(), b.available()), (1, 1));
            }

            /// 10,000 instances share one limit of 4: all finish, never more than 4 at once,
            /// and the limit is whole again at the end. A step that panics gives its permit back.
            fn ten_thousand_instances_share_a_limit_of_four(h) {
                let shared = Limit::new("shared", 4);
                let gauge = Arc::new(Gauge::default());
                let mut job = JobBuilder::<u32>::$new("many");
                let first = build(job.step("first").run(|n| async move { Res::Ok(n) }));
                let counted = gauge.clone();
                build(job.step("limited").after(&first).needs(&shared).run(move |_, n: u32| {
                    let entered = counted.enter();
                    async move {
                        yield_now().await;
                        drop(entered);
                        if n % 1000 == 999 {
                            panic!("instance {n} panics");
                        }
                        Res::Ok(n)
                    }
                }));
                let job = job.seal();
                let instances: Vec<_> = (0..10_000u32).map(|n| h.start(&job, n, JobOptions::new())).collect();
                let mut failed = 0;
                for instance in &instances {
                    if let Err(error) = h.block_on(instance.wait()) {
                        assert_eq!(error.kind(), JobErrorKind::StepPanicked, "on {}", h.name());
                        failed += 1;
                    }
                }
                assert_eq!(failed, 10, "on {}", h.name());
                assert!(gauge.most() <= 4, "{} at once on {}", gauge.most(), h.name());
                assert_eq!((shared.available(), shared.waiting()), (4, 0), "on {}", h.name());
            }
        }
    };
}
