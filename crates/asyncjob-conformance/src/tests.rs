//! The behaviours. Each is a function generic over the [`Harness`]; [`suite!`](crate::suite)
//! turns each into a test.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asyncjob::{DefinitionError, JobBuilder, JobErrorKind, JobOptions, StepHandle, StepState};
use futures::channel::oneshot;
use futures::future::join_all;

use crate::Harness;

type Res<T> = Result<T, Infallible>;

/// A clock that counts events, to order them without reading time.
#[derive(Debug, Default, Clone)]
struct Clock(Arc<AtomicUsize>);

impl Clock {
    fn tick(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// Yields to the executor once.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Resolves once `condition` holds, yielding to the executor in between.
pub(crate) async fn until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        yield_now().await;
    }
}

pub(crate) fn build<T>(result: Result<T, DefinitionError>) -> T {
    result.unwrap_or_else(|error| panic!("the test job is well formed: {error}"))
}

/// Outputs reach their dependents, typed, for one parent, tuples of 2 to 8 parents of
/// different types, a `Vec` of parents, and none (a root step).
pub fn typed_outputs_flow_for_every_arity<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u8>::new("arity");
    let a = build(job.step("u8").run(|n| async move { Res::Ok(n) }));
    let b = build(
        job.step("u16")
            .run(|n| async move { Res::Ok(u16::from(n) * 2) }),
    );
    let c = build(
        job.step("u32")
            .run(|n| async move { Res::Ok(u32::from(n) * 3) }),
    );
    let d = build(
        job.step("u64")
            .run(|n| async move { Res::Ok(u64::from(n) * 4) }),
    );
    let e = build(
        job.step("string")
            .run(|n| async move { Res::Ok(format!("s{n}")) }),
    );
    let f = build(job.step("bool").run(|n| async move { Res::Ok(n % 2 == 1) }));
    let g = build(job.step("char").run(|_| async move { Res::Ok('x') }));
    let hh = build(job.step("vec").run(|n| async move { Res::Ok(vec![n; 2]) }));

    let one = build(
        job.step("one")
            .after(&a)
            .run(|_, a: u8| async move { Res::Ok(format!("{a}")) }),
    );
    let two = build(
        job.step("two")
            .after((&a, &b))
            .run(|_, (a, b): (u8, u16)| async move { Res::Ok(format!("{a},{b}")) }),
    );
    let three = build(
        job.step("three")
            .after((&a, &b, &c))
            .run(|_, (a, b, c): (u8, u16, u32)| async move { Res::Ok(format!("{a},{b},{c}")) }),
    );
    let four = build(job.step("four").after((&a, &b, &c, &d)).run(
        |_, (a, b, c, d): (u8, u16, u32, u64)| async move { Res::Ok(format!("{a},{b},{c},{d}")) },
    ));
    let five = build(job.step("five").after((&a, &b, &c, &d, &e)).run(
        |_, (a, b, c, d, e): (u8, u16, u32, u64, String)| async move {
            Res::Ok(format!("{a},{b},{c},{d},{e}"))
        },
    ));
    let six = build(job.step("six").after((&a, &b, &c, &d, &e, &f)).run(
        |_, (a, b, c, d, e, f): (u8, u16, u32, u64, String, bool)| async move {
            Res::Ok(format!("{a},{b},{c},{d},{e},{f}"))
        },
    ));
    let seven = build(job.step("seven").after((&a, &b, &c, &d, &e, &f, &g)).run(
        |_, (a, b, c, d, e, f, g): (u8, u16, u32, u64, String, bool, char)| async move {
            Res::Ok(format!("{a},{b},{c},{d},{e},{f},{g}"))
        },
    ));
    let eight = build(job.step("eight").after((&a, &b, &c, &d, &e, &f, &g, &hh)).run(
        |_, (a, b, c, d, e, f, g, h): (u8, u16, u32, u64, String, bool, char, Vec<u8>)| async move {
            Res::Ok(format!("{a},{b},{c},{d},{e},{f},{g},{h:?}"))
        },
    ));
    let all = vec![one, two, three, four, five, six, seven, eight];
    let joined = build(
        job.step("joined")
            .after(&all)
            .run(
                |n, parts: Vec<String>| async move { Res::Ok(format!("{n}|{}", parts.join("|"))) },
            ),
    );
    let job = build(job.seal().with_result(&joined));

    let instance = h.start_with_result(&job, 5, JobOptions::new());
    let result = h.block_on(instance.result()).expect("every step succeeds");
    assert_eq!(
        result,
        "5|5|5,10|5,10,15|5,10,15,20|5,10,15,20,s5|5,10,15,20,s5,true\
         |5,10,15,20,s5,true,x|5,10,15,20,s5,true,x,[5, 5]",
        "on {}",
        h.name()
    );
}

/// A three-level diamond (a → b, c, d → e(b, c), f(c, d) → g(e, f)) runs every step exactly
/// once, and no step starts before each of its dependencies has ended.
pub fn diamond_runs_each_step_once_after_its_dependencies<H: Harness>(h: &H) {
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

    let mut job = JobBuilder::<Arc<Log>>::new("diamond");
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

/// A step that returns an error fails; its dependents, transitively, are skipped with an error
/// naming it; independent branches run to success; `wait()` reports the root cause.
pub fn step_error_fails_dependents_and_spares_other_branches<H: Harness>(h: &H) {
    let mut job = JobBuilder::<()>::new("failing");
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
    let result_error = h.block_on(instance.result()).expect_err("no result");
    assert_eq!(result_error.step(), Some("bad"));

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
pub fn panic_is_caught_and_named<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u32>::new("panicking");
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
pub fn panic_while_creating_the_future_is_caught<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u32>::new("panicking early");
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

/// One definition started 100 times at once gives 100 independent, correct results.
pub fn same_definition_runs_100_times_concurrently<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u64>::new("concurrent");
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

/// With `JobOptions::sequential`, no two steps run at once, and they run in definition order.
pub fn sequential_option_runs_one_step_at_a_time_in_order<H: Harness>(h: &H) {
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
    let mut job = JobBuilder::<Arc<Probe>>::new("sequential");
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
    let mut job = JobBuilder::<()>::new("sequential failure");
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
pub fn ready_step_is_never_held_back_by_a_slow_unrelated_step<H: Harness>(h: &H) {
    type Gate = Arc<Mutex<(Option<oneshot::Sender<()>>, Option<oneshot::Receiver<()>>)>>;
    let mut job = JobBuilder::<Gate>::new("maximal parallelism");
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
pub fn roots_run_concurrently<H: Harness>(h: &H) {
    type Meet = Arc<Mutex<Vec<Option<oneshot::Sender<()>>>>>;
    type Wait = Arc<Mutex<Vec<Option<oneshot::Receiver<()>>>>>;
    let mut job = JobBuilder::<(Meet, Wait)>::new("rendezvous");
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

/// While a job runs, its steps' states can be read: done, running and waiting steps show as
/// such.
pub fn step_states_are_readable_while_running<H: Harness>(h: &H) {
    type Gate = Arc<Mutex<Option<oneshot::Receiver<u32>>>>;
    type Started = Arc<Mutex<Option<oneshot::Sender<()>>>>;
    let mut job = JobBuilder::<(Gate, Started)>::new("observed");
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
pub fn snapshots_after_success_have_times<H: Harness>(h: &H) {
    let mut job = JobBuilder::<()>::new("timed");
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
        assert!(step.ready_offset.is_some() && step.running.is_some() && step.queued.is_some());
    }
    assert_eq!((&*steps[0].name, &*steps[1].name), ("a", "b"));
    assert!(steps[1].ready_offset >= steps[0].ready_offset);
    assert!(steps[1].started_at >= steps[0].started_at);
    assert_eq!(instance.step(&b).map(|s| s.index), Some(1));
}

/// Each step's output can be read from the instance through its typed handle.
pub fn outputs_are_readable_per_step<H: Harness>(h: &H) {
    let mut job = JobBuilder::<String>::new("outputs");
    let len = build(
        job.step("len")
            .run(|s: String| async move { Res::Ok(s.len()) }),
    );
    let upper = build(
        job.step("upper")
            .run(|s: String| async move { Res::Ok(s.to_uppercase()) }),
    );
    let job = job.seal();
    let instance = h.start(&job, "abc".to_owned(), JobOptions::new());
    h.block_on(instance.wait()).expect("succeeds");
    assert_eq!(instance.output(&len), Some(3), "on {}", h.name());
    assert_eq!(instance.output(&upper).as_deref(), Some("ABC"));

    // A handle of another definition gives nothing, rather than another step's output.
    let mut other = JobBuilder::<String>::new("other");
    let foreign = build(
        other
            .step("len")
            .run(|s: String| async move { Res::Ok(s.len()) }),
    );
    assert_eq!(instance.output(&foreign), None);
    assert!(instance.step(&foreign).is_none());
}

/// A caller-chosen id is the instance's id.
pub fn caller_chosen_id_is_kept<H: Harness>(h: &H) {
    let mut job = JobBuilder::<()>::new("ids");
    build(job.step("only").run(|()| async { Res::Ok(()) }));
    let job = job.seal();
    let instance = h.start(&job, (), JobOptions::new().with_id("request-42"));
    assert_eq!(instance.id().to_string(), "request-42", "on {}", h.name());
    assert_eq!(instance.name(), "ids");
    h.block_on(instance.wait()).expect("succeeds");
}

/// A job without steps is finished as soon as it starts.
pub fn empty_job_finishes_at_once<H: Harness>(h: &H) {
    let job = JobBuilder::<()>::new("empty").seal();
    assert!(job.is_empty());
    let instance = h.start(&job, (), JobOptions::new());
    assert!(instance.is_finished(), "on {}", h.name());
    h.block_on(instance.wait()).expect("nothing can fail");
}

/// A chain of 10,000 steps completes (the engine runs successors inline, yielding to the
/// executor now and then).
pub fn long_chain_completes<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u64>::new("chain");
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

/// A root fans out to 500 steps whose outputs a sink takes as a `Vec`, in order.
pub fn wide_fan_out_and_vec_fan_in<H: Harness>(h: &H) {
    let mut job = JobBuilder::<u64>::new("fan");
    let root = build(job.step("root").run(|n| async move { Res::Ok(n) }));
    let leaves: Vec<_> = (0..500u64)
        .map(|i| {
            build(
                job.step(format!("leaf {i}"))
                    .after(&root)
                    .run(move |_, n| async move { Res::Ok(n + i) }),
            )
        })
        .collect();
    let sink = build(
        job.step("sink")
            .after(leaves.as_slice())
            .run(|_, v: Vec<u64>| async move { Res::Ok(v) }),
    );
    let job = build(job.seal().with_result(&sink));
    let instance = h.start_with_result(&job, 1000, JobOptions::new());
    let out = h.block_on(instance.result()).expect("succeeds");
    assert_eq!(out, (1000..1500).collect::<Vec<_>>(), "on {}", h.name());
}

/// An ordering-only dependency makes a step wait for another without taking its output.
pub fn ordering_only_dependency_waits<H: Harness>(h: &H) {
    let clock = Clock::default();
    let mut job = JobBuilder::<Clock>::new("ordering");
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

/// Errors chain: a skipped step's error → the failed step's error → the step's own error.
pub fn errors_chain_to_the_root_cause<H: Harness>(h: &H) {
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
    let mut job = JobBuilder::<()>::new("chain of causes");
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

/// Dropping every handle of a running instance does not stop it: its steps still run.
pub fn dropping_the_instance_handle_lets_the_job_finish<H: Harness>(h: &H) {
    let (tx, rx) = oneshot::channel::<u32>();
    type Tx = Arc<Mutex<Option<oneshot::Sender<u32>>>>;
    let mut job = JobBuilder::<Tx>::new("detached");
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

/// Counts calls, and fails the first `failures` of them.
#[derive(Debug, Default)]
struct Flaky {
    calls: AtomicUsize,
}

impl Flaky {
    fn call(&self) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A step that fails twice then succeeds is attempted exactly three times under a retry policy;
/// the failed attempts are kept, in order, and the dependents get the output.
pub fn retry_runs_exact_attempts_and_keeps_them<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    let mut job = JobBuilder::<Arc<Flaky>>::new("flaky");
    let flaky = build(
        job.step("flaky")
            .retry(Retry::fixed(5, std::time::Duration::ZERO))
            .run(|f: Arc<Flaky>| async move {
                let call = f.call();
                if call <= 2 {
                    return Err(format!("try {call}"));
                }
                Ok(call * 10)
            }),
    );
    let after = build(
        job.step("after")
            .after(&flaky)
            .run(|_, n| async move { Res::Ok(n + 1) }),
    );
    let job = build(job.seal().with_result(&after));
    let flaky_state = Arc::new(Flaky::default());
    let instance = h.start_with_result(&job, flaky_state.clone(), JobOptions::new());
    assert_eq!(
        h.block_on(instance.result())
            .expect("succeeds on the third try"),
        31,
        "on {}",
        h.name()
    );
    assert_eq!(flaky_state.calls(), 3);
    let step = instance.step_by_name("flaky").expect("exists");
    assert_eq!((step.state, step.attempts), (StepState::Succeeded, 3));
    let errors: Vec<_> = step
        .retried
        .iter()
        .map(|r| (r.attempt, r.error.as_str()))
        .collect();
    assert_eq!(errors, [(1, "try 1"), (2, "try 2")]);
    assert!(step.retried[0].end_offset <= step.retried[1].end_offset);
    assert_eq!(instance.step_by_name("after").map(|s| s.attempts), Some(1));
}

/// A step that always fails is attempted as often as the policy allows, then fails with an
/// error that says how many attempts were made.
pub fn retry_gives_up_after_max_attempts<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    let mut job = JobBuilder::<Arc<Flaky>>::new("hopeless");
    build(
        job.step("hopeless")
            .retry(Retry::exponential(3, std::time::Duration::from_micros(1)))
            .run(|f: Arc<Flaky>| async move { Err::<(), _>(format!("no {}", f.call())) }),
    );
    let flaky = Arc::new(Flaky::default());
    let instance = h.start(&job.seal(), flaky.clone(), JobOptions::new());
    let error = h.block_on(instance.wait()).expect_err("fails");
    assert_eq!(flaky.calls(), 3, "on {}", h.name());
    assert_eq!(
        (error.kind(), error.attempts()),
        (JobErrorKind::StepFailed, 3)
    );
    assert_eq!(
        error.to_string(),
        "step \"hopeless\" failed after 3 attempts"
    );
    assert_eq!(
        error.source().map(|s| s.to_string()).as_deref(),
        Some("no 3")
    );
    let step = instance.step_by_name("hopeless").expect("exists");
    assert_eq!(
        (step.state, step.attempts, step.retried.len()),
        (StepState::Failed, 3, 2)
    );
}

/// A policy can refuse to retry some errors: a fatal error fails the step at once.
pub fn retry_policy_can_refuse_some_errors<H: Harness>(h: &H) {
    use asyncjob::retry::{AttemptFailure, Retry};
    #[derive(Debug)]
    struct Fatal;
    impl std::fmt::Display for Fatal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fatal")
        }
    }
    impl std::error::Error for Fatal {}
    let policy = Retry::fixed(10, std::time::Duration::ZERO)
        .when(|failure| !matches!(failure, AttemptFailure::Error(e) if e.is::<Fatal>()));
    let mut job = JobBuilder::<Arc<Flaky>>::new("picky");
    build(
        job.step("fatal")
            .retry(policy.clone())
            .run(|f: Arc<Flaky>| async move {
                f.call();
                Err::<(), _>(Fatal)
            }),
    );
    let flaky = Arc::new(Flaky::default());
    let instance = h.start(&job.seal(), flaky.clone(), JobOptions::new());
    let error = h.block_on(instance.wait()).expect_err("fails");
    assert_eq!((flaky.calls(), error.attempts()), (1, 1), "on {}", h.name());
    assert!(error.step_error().is_some_and(|e| e.is::<Fatal>()));
}

/// A panicking attempt is retried like a failing one.
pub fn retry_recovers_from_a_panic<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    let mut job = JobBuilder::<Arc<Flaky>>::new("panicky");
    let step = build(
        job.step("panicky")
            .retry(Retry::fixed(2, std::time::Duration::ZERO))
            .run(|f: Arc<Flaky>| async move {
                if f.call() == 1 {
                    panic!("first try");
                }
                Res::Ok("second")
            }),
    );
    let job = build(job.seal().with_result(&step));
    let instance = h.start_with_result(&job, Arc::new(Flaky::default()), JobOptions::new());
    assert_eq!(
        h.block_on(instance.result()).expect("recovers"),
        "second",
        "on {}",
        h.name()
    );
    let snapshot = instance.step(&step).expect("exists");
    assert_eq!(
        snapshot.retried.first().map(|r| r.error.as_str()),
        Some("panicked: first try")
    );
}

/// Counts live futures: dropped ones are really gone.
#[derive(Debug, Default)]
struct Live(AtomicUsize);

struct LiveGuard(Arc<Live>);

impl LiveGuard {
    fn new(live: &Arc<Live>) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(live.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An attempt that runs past its timeout is dropped and fails with `TimedOut`; with a retry
/// policy the next attempt runs.
pub fn timeout_fires_drops_the_attempt_and_is_retried<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    use std::time::Duration;
    type In = (Arc<Flaky>, Arc<Live>);
    let mut job = JobBuilder::<In>::new("slow");
    let slow = build(
        job.step("slow")
            .timeout(Duration::from_millis(20))
            .retry(Retry::fixed(3, Duration::ZERO))
            .run(|(f, live): In| async move {
                let _guard = LiveGuard::new(&live);
                if f.call() == 1 {
                    futures::future::pending::<()>().await; // hangs: only the timeout ends it
                }
                Res::Ok("in time")
            }),
    );
    let job = build(job.seal().with_result(&slow));
    let live = Arc::new(Live::default());
    let flaky = Arc::new(Flaky::default());
    let instance = h.start_with_result(&job, (flaky.clone(), live.clone()), JobOptions::new());
    assert_eq!(
        h.block_on(instance.result()).expect("second attempt"),
        "in time",
        "on {}",
        h.name()
    );
    assert_eq!(flaky.calls(), 2);
    assert_eq!(
        live.0.load(Ordering::SeqCst),
        0,
        "the timed-out attempt was dropped"
    );
    let snapshot = instance.step(&slow).expect("exists");
    assert_eq!(snapshot.attempts, 2);
    assert_eq!(
        snapshot.retried.first().map(|r| r.error.as_str()),
        Some("timed out after 20ms")
    );

    // Without a retry policy the step fails with a timeout error, and dependents are skipped.
    let mut job = JobBuilder::<()>::new("too slow");
    let stuck = build(
        job.step("stuck")
            .timeout(Duration::from_millis(5))
            .run(|()| futures::future::pending::<Res<u8>>()),
    );
    build(
        job.step("after")
            .after(&stuck)
            .run(|(), _| async { Res::Ok(()) }),
    );
    let instance = h.start(&job.seal(), (), JobOptions::new());
    let error = h.block_on(instance.wait()).expect_err("times out");
    assert_eq!(error.kind(), JobErrorKind::TimedOut, "on {}", h.name());
    assert!(error.is_timed_out());
    assert_eq!(error.to_string(), "step \"stuck\" timed out after 5ms");
    assert_eq!(
        instance.step_by_name("after").map(|s| s.state),
        Some(StepState::Skipped)
    );
}

/// A job whose root step hangs (holding a drop-counted guard) and whose other steps wait for it.
fn hanging_job() -> asyncjob::JobDefinition<(Arc<Live>, Arc<Flaky>)> {
    type In = (Arc<Live>, Arc<Flaky>);
    let mut job = JobBuilder::<In>::new("hanging");
    let root = build(job.step("root").run(|(live, started): In| async move {
        let _guard = LiveGuard::new(&live);
        started.call();
        futures::future::pending::<()>().await;
        Res::Ok(1u32)
    }));
    let child = build(
        job.step("child")
            .after(&root)
            .run(|(_, f): In, n| async move {
                f.call();
                Res::Ok(n)
            }),
    );
    build(
        job.step("grandchild")
            .after(&child)
            .run(|(_, f): In, n| async move {
                f.call();
                Res::Ok(n)
            }),
    );
    job.seal()
}

/// Blocks until `flaky` has been called once (the root step is running).
fn until_called<H: Harness>(h: &H, flaky: &Flaky) {
    h.block_on(until(|| flaky.calls() > 0));
}

/// `cancel()` while a step runs and others wait: the running future is dropped, the waiting
/// steps never start, every step ends `Cancelled`, and `wait()` reports `Cancelled`.
pub fn cancel_drops_running_steps_and_stops_waiting_ones<H: Harness>(h: &H) {
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
pub fn cancel_right_after_start_ends_the_job<H: Harness>(h: &H) {
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
    let mut job = JobBuilder::<()>::new("quick");
    build(job.step("only").run(|()| async { Res::Ok(()) }));
    let instance = h.start(&job.seal(), (), JobOptions::new());
    h.block_on(instance.wait()).expect("succeeds");
    assert!(!instance.cancel());
    h.block_on(instance.wait()).expect("still a success");
}

/// `cancel()` while a step waits out its retry back-off ends it at once.
pub fn cancel_interrupts_a_retry_back_off<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    let mut job = JobBuilder::<Arc<Flaky>>::new("backing off");
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

/// With `fail_fast`, the first failure cancels the rest of the job (a hanging branch is dropped)
/// and `wait()` reports the failure.
pub fn fail_fast_cancels_other_branches<H: Harness>(h: &H) {
    // Asked for by the instance, then by the definition.
    for per_definition in [false, true] {
        fail_fast_run(h, per_definition);
    }
}

fn fail_fast_run<H: Harness>(h: &H, per_definition: bool) {
    type In = (Arc<Live>, Arc<Flaky>);
    let mut job = JobBuilder::<In>::new("fail fast");
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

/// An instance started with `continue_on_failure` opts out of its definition's fail-fast: the
/// independent branch runs to its end.
pub fn an_instance_can_opt_out_of_a_fail_fast_definition<H: Harness>(h: &H) {
    let mut job = JobBuilder::<Arc<Flaky>>::new("opt out");
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

/// A job that runs past its deadline is cancelled, and reports a job-level timeout.
pub fn deadline_cancels_a_late_job<H: Harness>(h: &H) {
    let live = Arc::new(Live::default());
    let options = JobOptions::new().deadline(std::time::Duration::from_millis(20));
    let instance = h.start(
        &hanging_job(),
        (live.clone(), Arc::new(Flaky::default())),
        options,
    );
    let error = h.block_on(instance.wait()).expect_err("too late");
    assert_eq!(
        error.kind(),
        JobErrorKind::DeadlineExceeded,
        "on {}",
        h.name()
    );
    assert_eq!(
        error.to_string(),
        "job \"hanging\" ran past its deadline of 20ms"
    );
    assert_eq!(live.0.load(Ordering::SeqCst), 0);
    assert!(
        instance
            .steps()
            .iter()
            .all(|s| s.state == StepState::Cancelled)
    );
}

/// Dropping a `cancel_on_drop` guard cancels the job; a disarmed guard lets it run on.
pub fn cancel_on_drop_guard_cancels<H: Harness>(h: &H) {
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

    let mut job = JobBuilder::<()>::new("kept");
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
pub fn cancel_drops_a_running_step_with_policies<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    type In = (Arc<Live>, Arc<Flaky>);
    let mut job = JobBuilder::<In>::new("policies");
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

/// Interceptors run around every attempt with the job, instance id, step and attempt number;
/// the job's run outside the step's.
pub fn interceptors_see_job_step_and_attempt<H: Harness>(h: &H) {
    use asyncjob::intercept::{AttemptScope, Interceptor, StepContext};
    use asyncjob::retry::Retry;

    type Log = Arc<Mutex<Vec<String>>>;
    struct Recorder(&'static str, Log);
    struct Scope(String, Log);
    impl Interceptor for Recorder {
        fn attempt(&self, c: &StepContext<'_>) -> Box<dyn AttemptScope> {
            let label = format!("{} {}/{}/{}#{}", self.0, c.job, c.job_id, c.step, c.attempt);
            Box::new(Scope(label, self.1.clone()))
        }
    }
    impl AttemptScope for Scope {
        fn enter(&self) {
            self.1
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("enter {}", self.0));
        }
        fn exit(&self) {
            self.1
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("exit {}", self.0));
        }
    }

    let log: Log = Arc::default();
    let mut job = JobBuilder::<Arc<Flaky>>::new("intercepted");
    job.intercept(Recorder("job", log.clone()));
    build(
        job.step("flaky")
            .retry(Retry::fixed(2, std::time::Duration::ZERO))
            .intercept(Recorder("step", log.clone()))
            .run(|f: Arc<Flaky>| async move {
                if f.call() == 1 {
                    return Err("first");
                }
                Ok(())
            }),
    );
    // A step without options of its own still runs inside the job's interceptors.
    build(job.step("plain").run(|_| async { Res::Ok(()) }));
    let instance = h.start(
        &job.seal(),
        Arc::new(Flaky::default()),
        JobOptions::new().with_id("i-1"),
    );
    h.block_on(instance.wait()).expect("succeeds");
    let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        log.contains(&"enter job intercepted/i-1/plain#1".to_owned()),
        "on {}: {log:?}",
        h.name()
    );
    assert!(
        !log.iter()
            .any(|l| l.starts_with("enter step intercepted/i-1/plain"))
    );
    let expected: Vec<String> = [1, 2]
        .iter()
        .flat_map(|n| {
            [
                format!("enter job intercepted/i-1/flaky#{n}"),
                format!("enter step intercepted/i-1/flaky#{n}"),
                format!("exit step intercepted/i-1/flaky#{n}"),
                format!("exit job intercepted/i-1/flaky#{n}"),
            ]
        })
        .collect();
    // Each attempt is entered and exited, properly nested, at least once (once for the call of
    // the step function, once per poll of its future). The other step may run in between.
    let log: Vec<String> = log.into_iter().filter(|l| l.contains("/flaky#")).collect();
    for (attempt, window) in expected.chunks(4).enumerate() {
        let first = log.iter().position(|l| l == &window[0]);
        let first = first.unwrap_or_else(|| {
            panic!(
                "attempt {} is entered on {}: {log:?}",
                attempt + 1,
                h.name()
            )
        });
        assert_eq!(&log[first..first + 4], window, "on {}", h.name());
    }
}

/// A process-wide `tracing` subscriber that records spans and their fields, and which spans were
/// entered. Set once; tests look only at the spans of their own job instance.
mod recorder {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// A span's name and fields.
    pub(crate) type SpanData = (String, BTreeMap<String, String>);

    #[derive(Default)]
    pub(crate) struct Recorder {
        next: AtomicU64,
        pub(crate) spans: Mutex<HashMap<u64, SpanData>>,
        pub(crate) entered: Mutex<HashSet<u64>>,
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    struct Global(&'static Recorder);

    impl Subscriber for Global {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attributes: &Attributes<'_>) -> Id {
            let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
            let mut fields = BTreeMap::new();
            attributes.record(&mut Fields(&mut fields));
            let name = attributes.metadata().name().to_owned();
            self.0
                .spans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, (name, fields));
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, id: &Id) {
            self.0
                .entered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.into_u64());
        }
        fn exit(&self, _: &Id) {}
    }

    pub(crate) fn get() -> &'static Recorder {
        static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder: &'static Recorder = Box::leak(Box::default());
            // Fails only if another global subscriber is set, which nothing here does.
            let _ = tracing::subscriber::set_global_default(Global(recorder));
            recorder
        })
    }
}

/// With the `tracing` feature, `TracingInterceptor` puts each attempt in a `step` span with the
/// job, instance id, step and attempt as fields, and enters it.
pub fn tracing_spans_carry_job_step_and_attempt<H: Harness>(h: &H) {
    use asyncjob::instrument::TracingInterceptor;
    use asyncjob::retry::Retry;

    let recorder = recorder::get();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let id = format!(
        "traced-{}-{}",
        h.name(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );

    let mut job = JobBuilder::<Arc<Flaky>>::new("traced");
    job.intercept(TracingInterceptor::new());
    build(
        job.step("flaky")
            .retry(Retry::fixed(2, std::time::Duration::ZERO))
            .run(|f: Arc<Flaky>| async move {
                if f.call() == 1 {
                    return Err("first");
                }
                Ok(())
            }),
    );
    let options = JobOptions::new().with_id(id.clone());
    let instance = h.start(&job.seal(), Arc::new(Flaky::default()), options);
    h.block_on(instance.wait()).expect("succeeds");

    let spans = recorder.spans.lock().unwrap_or_else(|e| e.into_inner());
    let entered = recorder.entered.lock().unwrap_or_else(|e| e.into_inner());
    let mut mine: Vec<(String, &str, bool)> = spans
        .iter()
        .filter(|(_, (_, fields))| fields.get("job_id") == Some(&id))
        .map(|(span, (name, fields))| {
            assert_eq!(name, "step");
            assert_eq!(fields.get("job").map(String::as_str), Some("traced"));
            assert_eq!(fields.get("step").map(String::as_str), Some("flaky"));
            let attempt = fields.get("attempt").map(String::as_str).unwrap_or("?");
            (attempt.to_owned(), "flaky", entered.contains(span))
        })
        .collect();
    mine.sort();
    assert_eq!(
        mine,
        [
            ("1".to_owned(), "flaky", true),
            ("2".to_owned(), "flaky", true)
        ],
        "on {}",
        h.name()
    );
}

/// Back-off delays go through the executor's timer, exactly as the policy computes them
/// (checked with a recording timer: no wall-clock time is involved).
pub fn retry_delays_follow_the_policy<H: Harness>(h: &H) {
    use asyncjob::retry::Retry;
    use std::time::Duration;
    let ms = Duration::from_millis;
    let mut job = JobBuilder::<Arc<Flaky>>::new("delays");
    build(
        job.step("exponential")
            .retry(Retry::exponential(5, ms(10)).max_delay(ms(50)))
            .run(|f: Arc<Flaky>| async move { Err::<(), _>(format!("no {}", f.call())) }),
    );
    build(
        job.step("linear")
            .retry(Retry::linear(3, ms(1), ms(2)))
            .run(|_| async { Err::<(), _>("never") }),
    );
    let timer = crate::RecordingTimer::default();
    let flaky = Arc::new(Flaky::default());
    let instance = h.start_with_timer(
        &job.seal(),
        flaky.clone(),
        JobOptions::new().sequential(),
        timer.clone(),
    );
    let error = h
        .block_on(instance.wait())
        .expect_err("every attempt fails");
    assert_eq!(
        (error.step(), error.attempts()),
        (Some("exponential"), 5),
        "on {}",
        h.name()
    );
    assert_eq!(flaky.calls(), 5);
    // Sequential, so the exponential step's four delays come first, then the linear step's two.
    assert_eq!(
        timer.sleeps(),
        [ms(10), ms(20), ms(40), ms(50), ms(1), ms(3)],
        "on {}",
        h.name()
    );
}

/// The steps of [`cancel_at_every_boundary_of_a_20_step_job`]: each waits at a gate the test
/// opens, one attempt at a time, and counts its starts and its live futures.
#[derive(Default)]
struct Gates {
    /// Attempts each step may finish.
    allowed: Vec<AtomicUsize>,
    /// Attempts each step has started (its function was called).
    started: Vec<AtomicUsize>,
    waiting: Mutex<Vec<std::task::Waker>>,
    live: Arc<Live>,
}

/// The step of the 20-step job that retries: its first two attempts fail.
const RETRYING: usize = 13;
/// Its back-off, on the held timer.
const BACK_OFF: std::time::Duration = std::time::Duration::from_millis(7);

impl Gates {
    fn new(steps: usize) -> Self {
        Gates {
            allowed: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            started: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            ..Gates::default()
        }
    }

    fn started(&self) -> Vec<usize> {
        self.started
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect()
    }

    /// Lets step `index` finish one more attempt.
    fn open(&self, index: usize) {
        self.allowed[index].fetch_add(1, Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiting {
            waker.wake();
        }
    }

    /// One attempt of step `index`: waits at its gate, then succeeds with `value` (the retrying
    /// step fails its first two attempts).
    async fn step(self: Arc<Self>, index: usize, value: u64) -> Result<u64, String> {
        let attempt = self.started[index].fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = LiveGuard::new(&self.live);
        std::future::poll_fn(|cx| {
            if self.allowed[index].load(Ordering::SeqCst) >= attempt {
                return std::task::Poll::Ready(());
            }
            self.waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(cx.waker().clone());
            if self.allowed[index].load(Ordering::SeqCst) >= attempt {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        if index == RETRYING && attempt < 3 {
            return Err(format!("attempt {attempt} fails"));
        }
        Ok(value + 1)
    }
}

/// root → a1 → a2 → a3 → f0…f7 → fan-in (`Vec`) → retrying (3 attempts, back-off) ─┐
/// root → timed (a timeout) ⇢ b1 → b2 ──────────────────────────────────────────────┴→ join
/// → tail → last.
fn twenty_steps() -> (asyncjob::JobDefinition<Arc<Gates>>, Vec<StepHandle<u64>>) {
    use asyncjob::retry::Retry;
    type G = Arc<Gates>;
    let mut job = JobBuilder::<G>::new("twenty");
    let mut all = Vec::new();
    let root = build(job.step("root").run(|g: G| g.step(0, 0)));
    all.push(root.clone());
    let mut link = root.clone();
    for (i, name) in [(1, "a1"), (2, "a2"), (3, "a3")] {
        link = build(job.step(name).after(&link).run(move |g: G, n| g.step(i, n)));
        all.push(link.clone());
    }
    let fan: Vec<_> = (4..12)
        .map(|i| {
            let name = format!("f{}", i - 4);
            build(job.step(name).after(&link).run(move |g: G, n| g.step(i, n)))
        })
        .collect();
    all.extend(fan.iter().cloned());
    let fan_in = build(
        job.step("fan-in")
            .after(&fan)
            .run(|g: G, ns: Vec<u64>| g.step(12, ns.iter().sum())),
    );
    all.push(fan_in.clone());
    let retrying = build(
        job.step("retrying")
            .after(&fan_in)
            .retry(Retry::fixed(3, BACK_OFF))
            .run(|g: G, n| g.step(RETRYING, n)),
    );
    all.push(retrying.clone());
    let timed = build(
        job.step("timed")
            .after(&root)
            .timeout(std::time::Duration::from_secs(3600))
            .run(|g: G, n| g.step(14, n)),
    );
    all.push(timed.clone());
    let b1 = build(job.step("b1").wait_for(&timed).run(|g: G| g.step(15, 0)));
    all.push(b1.clone());
    let b2 = build(job.step("b2").after(&b1).run(|g: G, n| g.step(16, n)));
    all.push(b2.clone());
    let join = build(
        job.step("join")
            .after((&retrying, &b2))
            .run(|g: G, (r, b)| g.step(17, r + b)),
    );
    all.push(join.clone());
    let tail = build(job.step("tail").after(&join).run(|g: G, n| g.step(18, n)));
    all.push(tail.clone());
    let last = build(job.step("last").after(&tail).run(|g: G, n| g.step(19, n)));
    all.push(last);
    (job.seal(), all)
}

/// What the test does to move the job on by one boundary.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// Open the gate of a step that then succeeds.
    Finish(usize),
    /// Open the gate of the retrying step, whose attempt then fails into its back-off.
    Fail,
    /// End the retrying step's back-off.
    EndBackOff,
}

/// Every step is cancelled at every boundary of its life: before the job starts, while it waits
/// for its dependencies, while it runs, and (for the retrying step) during each back-off and
/// each attempt. At each boundary the job is quiescent (every ready step is running, blocked at
/// its gate), then cancelled: `wait()` reports `Cancelled`, every started future (step attempts
/// and the timer's sleeps) is dropped, no step starts after the cancel, steps that had succeeded
/// keep their outputs, every other step ends `Cancelled`, and the instance can still be drawn.
pub fn cancel_at_every_boundary_of_a_20_step_job<H: Harness>(h: &H) {
    let (job, handles) = twenty_steps();
    let n = handles.len();
    assert_eq!(n, 20);
    let deps: Vec<Vec<usize>> = job
        .steps()
        .map(|s| {
            s.data_dependencies()
                .chain(s.ordering_dependencies())
                .map(|d| d.index())
                .collect()
        })
        .collect();
    // The whole run, one boundary at a time.
    let mut script: Vec<Move> = (0..=12).map(Move::Finish).collect();
    script.extend([Move::Fail, Move::EndBackOff, Move::Fail, Move::EndBackOff]);
    script.extend((RETRYING..n).map(Move::Finish));

    let mut seen_waiting = vec![false; n];
    let mut seen_running = vec![false; n];
    let mut seen_back_offs = 0;
    // Boundary 0 cancels right after `start`; boundary k > 0 makes k - 1 moves, lets the job
    // settle, then cancels (the last one lets the job finish instead).
    for boundary in 0..=script.len() + 1 {
        let moves = boundary.saturating_sub(1);
        let gates = Arc::new(Gates::new(n));
        let timer = crate::RecordingTimer::held();
        let instance = h.start_with_timer(&job, gates.clone(), JobOptions::new(), timer.clone());
        let mut done = vec![false; n];
        let mut attempts_of_retrying = 1;
        for &step in &script[..moves] {
            let state = |i: usize| instance.steps()[i].state;
            match step {
                Move::Finish(i) => {
                    gates.open(i);
                    h.block_on(until(|| state(i) == StepState::Succeeded));
                    done[i] = true;
                }
                Move::Fail => {
                    gates.open(RETRYING);
                    h.block_on(until(|| {
                        state(RETRYING) == StepState::Retrying
                            && timer.pending().contains(&BACK_OFF)
                    }));
                }
                Move::EndBackOff => {
                    assert_eq!(timer.release(BACK_OFF), 1, "on {}", h.name());
                    attempts_of_retrying += 1;
                    h.block_on(until(|| {
                        gates.started()[RETRYING] == attempts_of_retrying
                            && state(RETRYING) == StepState::Running
                    }));
                }
            }
        }
        let in_back_off = matches!(script[..moves].last(), Some(Move::Fail));
        // Quiescent: every ready step has started and is blocked, every other one waits.
        if boundary > 0 {
            h.block_on(until(|| {
                let steps = instance.steps();
                let started = gates.started();
                (0..n).all(|i| {
                    let ready = deps[i].iter().all(|&d| done[d]);
                    match (done[i], ready) {
                        (true, _) => steps[i].state == StepState::Succeeded,
                        (false, true) if i == RETRYING && in_back_off => {
                            steps[i].state == StepState::Retrying
                        }
                        (false, true) => started[i] >= 1 && steps[i].state == StepState::Running,
                        (false, false) => started[i] == 0 && steps[i].state == StepState::Waiting,
                    }
                })
            }));
        }
        let before = instance.snapshot();
        let started_before = gates.started();
        for (i, step) in before.steps.iter().enumerate() {
            match step.state {
                StepState::Waiting => seen_waiting[i] = true,
                StepState::Running => seen_running[i] = true,
                StepState::Retrying => seen_back_offs += 1,
                _ => {}
            }
        }
        if boundary > 0 {
            assert_eq!(gates.live.0.load(Ordering::SeqCst) > 0, !done[n - 1]);
        }

        if moves == script.len() {
            // The script runs the whole job: nothing left to cancel.
            assert!(!instance.cancel(), "on {}", h.name());
            h.block_on(instance.wait())
                .expect("the script runs the job to its end");
            assert_eq!(gates.live.0.load(Ordering::SeqCst), 0);
            assert_eq!(timer.pending(), [], "on {}", h.name());
            assert!(
                instance
                    .steps()
                    .iter()
                    .all(|s| s.state == StepState::Succeeded)
            );
            continue;
        }
        assert!(instance.cancel(), "boundary {boundary} on {}", h.name());
        let error = h.block_on(instance.wait()).expect_err("cancelled");
        let at = format!(
            "boundary {boundary} (before {:?}) on {}",
            script[moves],
            h.name()
        );
        assert_eq!(error.kind(), JobErrorKind::Cancelled, "{at}");
        assert_eq!(error.step(), None, "{at}");
        assert!(instance.is_finished() && instance.is_cancelled(), "{at}");
        assert!(!instance.cancel(), "{at}");
        assert_eq!(
            gates.live.0.load(Ordering::SeqCst),
            0,
            "{at}: step futures dropped"
        );
        assert_eq!(timer.pending(), [], "{at}: sleeps dropped");
        let started_after = gates.started();
        if boundary == 0 {
            // The root was spawned by `start`: it may have started before the cancel.
            assert!(started_after[0] <= 1, "{at}");
            assert!(
                started_after[1..].iter().all(|&s| s == 0),
                "{at}: {started_after:?}"
            );
        } else {
            assert_eq!(
                started_after, started_before,
                "{at}: a step started after the cancel"
            );
        }
        let after = instance.snapshot();
        assert!(after.finished, "{at}");
        for (i, step) in after.steps.iter().enumerate() {
            assert!(
                step.state.is_finished(),
                "{at}: {} is {}",
                step.name,
                step.state
            );
            if done[i] {
                assert_eq!(step.state, StepState::Succeeded, "{at}: {}", step.name);
                assert!(
                    instance.output(&handles[i]).is_some(),
                    "{at}: {}",
                    step.name
                );
                assert!(step.error.is_none());
            } else {
                assert_eq!(step.state, StepState::Cancelled, "{at}: {}", step.name);
                assert!(
                    instance.output(&handles[i]).is_none(),
                    "{at}: {}",
                    step.name
                );
                assert!(
                    step.error
                        .as_ref()
                        .is_some_and(|e| e.is_cancelled() && e.step() == Some(&*step.name)),
                    "{at}: {:?}",
                    step.error
                );
            }
        }
        let retried = after.steps[RETRYING].retried.len();
        assert_eq!(
            retried,
            attempts_of_retrying - 1 + usize::from(in_back_off),
            "{at}"
        );
        let dot = instance.to_dot();
        assert!(
            dot.starts_with("digraph") && dot.contains("label=\"retrying\\n"),
            "{at}"
        );
        assert!(instance.to_mermaid_gantt().contains("section last"), "{at}");
        assert!(instance.to_chrome_trace().contains("\"fan-in\""), "{at}");
    }
    let roots = [0];
    for i in 0..n {
        assert!(seen_running[i], "step {i} was cancelled while running");
        assert!(
            seen_waiting[i] || roots.contains(&i),
            "step {i} was cancelled while waiting"
        );
    }
    assert_eq!(seen_back_offs, 2, "cancelled in both back-offs");
}
