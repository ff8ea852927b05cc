//! Snapshots: a job's steps can be read while it runs and after it ended.
//!
//! Snapshots and recorded times agree with the dependencies (issue 12, items 13 and 14).
//!
//! In one snapshot, read while the job runs, a step that is Queued, Running, Retrying or has
//! Succeeded has every dependency Succeeded, and a Running step has a start time. In the
//! recorded times, also those of the finished job, a step became ready no earlier than each of
//! its dependencies ended, and started no earlier than it became ready.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use asyncjob::{JobSnapshot, StepState};

/// The layers of the layered job.
pub const LAYERS: usize = 20;
/// The steps of each layer.
pub const WIDTH: usize = 50;

/// What a set of snapshots got wrong: a count per kind of problem, and the first example.
#[derive(Debug, Default)]
pub struct Problems {
    counts: std::collections::BTreeMap<&'static str, (usize, String)>,
}

impl Problems {
    /// Counts a problem of `kind`; `example` describes it, if it is the first.
    pub fn add(&mut self, kind: &'static str, example: impl FnOnce() -> String) {
        let entry = self.counts.entry(kind).or_insert_with(|| (0, example()));
        entry.0 += 1;
    }

    /// No problem was found.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Every kind of problem, with its count and first example.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (kind, (count, example)) in &self.counts {
            let _ = write!(out, "\n  {count} × {kind}, e.g. {example}");
        }
        out
    }
}

fn ms(offset: Duration) -> String {
    format!("{offset:?}")
}

/// Checks the recorded times of every step of `snapshot` against its dependencies'.
pub fn check_times(snapshot: &JobSnapshot, problems: &mut Problems) {
    for step in &snapshot.steps {
        let dependencies = step
            .data_dependencies
            .iter()
            .chain(&step.ordering_dependencies);
        if let Some(ready) = step.ready_offset {
            for &dependency in dependencies {
                let parent = &snapshot.steps[dependency];
                match parent.end_offset {
                    Some(end) if end <= ready => {}
                    Some(end) => problems.add("step ready before a dependency ended", || {
                        format!(
                            "{} ready at {}, its dependency {} ended at {}",
                            step.name,
                            ms(ready),
                            parent.name,
                            ms(end)
                        )
                    }),
                    None => problems.add("step ready, a dependency not ended", || {
                        format!(
                            "{} ready at {}, its dependency {} {} with no end",
                            step.name,
                            ms(ready),
                            parent.name,
                            parent.state
                        )
                    }),
                }
            }
        }
        match (step.ready_offset, step.start_offset) {
            (Some(ready), Some(start)) if start < ready => {
                problems.add("step started before it was ready", || {
                    format!(
                        "{} started at {}, ready at {}",
                        step.name,
                        ms(start),
                        ms(ready)
                    )
                });
            }
            (None, Some(start)) => problems.add("step started, never ready", || {
                format!("{} started at {}", step.name, ms(start))
            }),
            _ => {}
        }
    }
}

/// Checks the states of `snapshot` against the dependencies.
pub fn check_states(snapshot: &JobSnapshot, problems: &mut Problems) {
    for step in &snapshot.steps {
        let ahead = matches!(
            step.state,
            StepState::Queued | StepState::Running | StepState::Retrying | StepState::Succeeded
        );
        if ahead {
            let dependencies = step
                .data_dependencies
                .iter()
                .chain(&step.ordering_dependencies);
            for &dependency in dependencies {
                let parent = &snapshot.steps[dependency];
                if parent.state != StepState::Succeeded {
                    problems.add("step ahead of a dependency", || {
                        format!(
                            "{} {} while its dependency {} {}",
                            step.name, step.state, parent.name, parent.state
                        )
                    });
                }
            }
        }
        if step.state == StepState::Running && step.start_offset.is_none() {
            problems.add("Running step without a start time", || {
                step.name.to_string()
            });
        }
    }
}

/// The pairs of the pairs job.
pub const PAIRS: usize = 50;

/// Where the parents of each pair of `pairs_job` meet.
#[derive(Debug)]
pub struct Arrivals(Vec<Pair>);

/// The two parents of a pair: the threads they started on, and how many have arrived.
#[derive(Debug, Default)]
struct Pair {
    threads: Mutex<[Option<ThreadId>; 2]>,
    arrived: AtomicUsize,
}

impl Arrivals {
    /// Nobody has arrived.
    pub fn new() -> Arc<Self> {
        Arc::new(Arrivals((0..PAIRS).map(|_| Pair::default()).collect()))
    }

    /// Parent `side` of `pair` starts, on this thread.
    pub fn start(&self, pair: usize, side: usize) {
        let mut threads = self.0[pair]
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        threads[side] = Some(std::thread::current().id());
    }

    /// Parent `side` of `pair` is about to end: if the other parent started on another thread,
    /// waits for it (spinning, a bounded number of turns), so that both end at the same moment.
    pub fn meet(&self, pair: usize, side: usize) {
        let pair = &self.0[pair];
        pair.arrived.fetch_add(1, Ordering::SeqCst);
        let other = pair.threads.lock().unwrap_or_else(PoisonError::into_inner)[1 - side];
        if other.is_none_or(|thread| thread == std::thread::current().id()) {
            return;
        }
        for _ in 0..200_000 {
            if pair.arrived.load(Ordering::SeqCst) >= 2 {
                return;
            }
            std::hint::spin_loop();
        }
    }
}

/// Checks the recorded times of every step of `snapshot`, as [`check_times`], and names the run.
pub fn check_finished(snapshot: &JobSnapshot, problems: &mut Problems) {
    assert!(snapshot.finished);
    check_times(snapshot, problems);
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_snapshots {
    ($harness:expr, $new:ident, $mode:ident) => {
        use asyncjob::JobDefinition;

        use $crate::suite::snapshots::{
            check_finished, check_states, check_times, Arrivals, Problems, LAYERS, PAIRS, WIDTH,
        };

        /// 20 layers of 50 steps; each step after the first layer takes the outputs of two steps of
        /// the layer before (the one above it and the one 7 to the right), and yields once.
        fn layered_job() -> JobDefinition<(), $mode> {
            let mut job = JobBuilder::<()>::$new("layers");
            let mut above: Vec<StepHandle<u64>> = (0..WIDTH)
                .map(|i| {
                    build(job.step(format!("0.{i}")).run(move |()| async move {
                        yield_now().await;
                        Ok::<_, String>(i as u64)
                    }))
                })
                .collect();
            for layer in 1..LAYERS {
                above = (0..WIDTH)
                    .map(|i| {
                        let parents = (&above[i], &above[(i + 7) % WIDTH]);
                        build(job.step(format!("{layer}.{i}")).after(parents).run(
                            |(), (a, b): (u64, u64)| async move {
                                yield_now().await;
                                Ok::<_, String>(a + b)
                            },
                        ))
                    })
                    .collect();
            }
            job.seal()
        }

        /// Pairs of roots that end at the same moment when they run on two threads (see
        /// [`Arrivals::meet`]), both parents of a join step; the first of each pair
        /// also has 16 leaf children, defined before the join, which it releases (and spawns) first.
        fn pairs_job() -> (JobDefinition<Arc<Arrivals>, $mode>, Vec<StepHandle<u64>>) {
            let mut job = JobBuilder::<Arc<Arrivals>>::$new("pairs");
            let mut joins = Vec::new();
            for pair in 0..PAIRS {
                let mut parent = |side: usize| {
                    let name = format!("{pair}{}", ["a", "b"][side]);
                    build(
                        job.step(name)
                            .run(move |arrivals: Arc<Arrivals>| async move {
                                arrivals.start(pair, side);
                                yield_now().await;
                                arrivals.meet(pair, side);
                                Ok::<_, String>(pair as u64)
                            }),
                    )
                };
                let (first, second) = (parent(0), parent(1));
                for leaf in 0..16 {
                    build(
                        job.step(format!("{pair}a.{leaf}"))
                            .after(&first)
                            .run(|_, n: u64| async move { Ok::<_, String>(n) }),
                    );
                }
                joins.push(build(
                    job.step(format!("{pair}c"))
                        .after((&first, &second))
                        .run(|_, (a, b): (u64, u64)| async move { Ok::<_, String>(a + b) }),
                ));
            }
            (job.seal(), joins)
        }

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
                h.block_on(instance.wait()).expect("every step succeeds");
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
                    assert!(step.ready_offset.is_some() && step.running.is_some() && step.queued.is_some());
                }
                assert_eq!((&*steps[0].name, &*steps[1].name), ("a", "b"));
                assert!(steps[1].ready_offset >= steps[0].ready_offset);
                assert!(steps[1].started_at >= steps[0].started_at);
                assert_eq!(instance.step(&b).map(|s| s.index), Some(1));
            }

            /// The 1,000-step layered job, 20 runs, read with `snapshot()` from the test's thread as fast
            /// as it can while it runs (on executors whose workers run the steps, concurrently with them):
            /// no snapshot shows a step Queued, Running or Succeeded while a dependency has not succeeded,
            /// a Running step without a start time, or a step ready before a dependency ended (issue 12,
            /// item 13).
            fn snapshots_read_while_a_layered_job_runs_agree_with_the_dependencies(h) {
                let job = layered_job();
                let mut problems = Problems::default();
                let mut snapshots = 0;
                let runs = 20;
                for _ in 0..runs {
                    let instance = h.start(&job, (), JobOptions::new());
                    h.block_on(async {
                        loop {
                            let snapshot = instance.snapshot();
                            snapshots += 1;
                            check_states(&snapshot, &mut problems);
                            check_times(&snapshot, &mut problems);
                            if snapshot.finished {
                                break;
                            }
                            yield_now().await;
                        }
                    });
                    h.block_on(instance.wait()).expect("every step succeeds");
                }
                assert!(
                    problems.is_empty(),
                    "on {}: {snapshots} snapshots of {runs} runs of a {}-step layered job:{}",
                    h.name(),
                    LAYERS * WIDTH,
                    problems.report()
                );
            }

            /// The 1,000-step layered job, 40 runs, and a job of 50 pairs of parents that end at the same
            /// moment (the first of each pair releasing 16 other children before the join), 40 runs: in
            /// each finished job every step became ready no earlier than each of its dependencies ended,
            /// and started no earlier than it became ready (issue 12, item 14).
            fn recorded_times_never_put_a_step_before_its_dependencies(h) {
                let mut problems = Problems::default();
                let runs = 40;
                let layered = layered_job();
                let (pairs, joins) = pairs_job();
                for _ in 0..runs {
                    let instance = h.start(&layered, (), JobOptions::new());
                    h.block_on(instance.wait()).expect("every step succeeds");
                    check_finished(&instance.snapshot(), &mut problems);
                    let instance = h.start(&pairs, Arrivals::new(), JobOptions::new());
                    h.block_on(instance.wait()).expect("every step succeeds");
                    assert!(joins.iter().all(|join| instance.output(join).is_some()));
                    check_finished(&instance.snapshot(), &mut problems);
                }
                assert!(
                    problems.is_empty(),
                    "on {}: {runs} finished runs each of a {}-step layered job and of {PAIRS} pairs of \
                     parents ending at once:{}",
                    h.name(),
                    LAYERS * WIDTH,
                    problems.report()
                );
            }
        }
    };
}
