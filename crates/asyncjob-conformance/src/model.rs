//! A model-based property test: random DAGs, run by the engine, checked against a plain
//! reference model of what every step should end as.
//!
//! [`random_dags_match_the_model`] generates (with [`proptest`]) job graphs of 1 to
//! [`MAX_STEPS`] steps. Step `i` depends only on steps before it, through every kind of
//! dependency: none, one handle, tuples of 2, 3 and 4 handles, a `Vec` of 0 to 6 handles
//! (`after(&vec)`), and ordering-only edges (`wait_for`, with one handle, a `Vec`, or one call
//! per handle, before or after `after`). Each step outputs a `u64` derived from its index and
//! its parents' outputs, and checks that every parent's output reached it intact.
//!
//! Each step follows a *script*, one entry per attempt (the last one repeats): succeed, return
//! an error or panic (each after 0 to 3 `yield_now`s, never a wall-clock wait), panic while the
//! step function is called (before it returns its future), or hang until cancelled. A step may
//! have a retry policy (`Retry::fixed(n, d)`, `n` from 1 to 4) and a timeout. Timers are a
//! [`RecordingTimer`](crate::RecordingTimer): back-offs and timeouts complete at once, so a step
//! with a timeout is only given attempts that hang (and time out) or that end on their first
//! poll (which the engine polls before the timer, so they are not cut).
//!
//! # The model
//!
//! In definition order (a topological order), each step ends as:
//!
//! - **Skipped** (0 attempts) if a dependency failed or was skipped; its error is
//!   `DependencyFailed`, and its root cause is one of the failed steps above it (exactly that
//!   step, when only one failed step is above it: the engine keeps the first failure it sees).
//! - else **Cancelled** (0 attempts) if a dependency hangs or was cancelled: the test cancels
//!   the instance once every other step has ended and the hanging steps are running.
//! - else it runs its script: attempt `a` succeeds (**Succeeded**, `a` attempts), hangs without
//!   a timeout (**Cancelled** by the test, `a` attempts), or fails — an error (`StepFailed`), a
//!   panic (`StepPanicked`), or a hang cut by the timeout (`TimedOut`) — and is tried again
//!   while the retry policy allows (`a < n`); the last failure makes the step **Failed**.
//!
//! `wait()` then returns the error of the first failed step in definition order, else a
//! job-level `Cancelled` error if the test had to cancel, else `Ok`.
//!
//! Every case also checks that no attempt starts before each of its dependencies has
//! succeeded (a logical clock ticks at the start and end of every attempt), that attempts of a
//! step do not overlap, that each step function ran exactly as many times as the model says and
//! the snapshot agrees (`attempts`, `retried`, state, errors, dependencies), that outputs are
//! readable exactly for the succeeded steps, that the back-off sleeps asked of the timer are
//! those of the retried attempts, that every step future has been dropped when `wait()`
//! returns, and that no step function is called after it returned: the test lets the executor
//! run on until the job has let go of its input (every step future, driver and the run dropped;
//! a job still holding it 10 s later is reported) and compares the calls.
//!
//! # Injected cancellations
//!
//! About three cases in five also do one of these to the job, at a random point:
//!
//! - `cancel()`: right after `start` returns (on the test's thread, or from another thread that
//!   gets the instance as soon as `start` returns), or when the logical clock reaches a random
//!   tick — then the step that made the tick calls `cancel()` itself, from inside its function
//!   or its future on the executor's thread (local instances, which cannot cross threads, are
//!   cancelled by the test's thread as soon as it sees the tick);
//! - fail-fast (`JobOptions::fail_fast`);
//! - a deadline, on a [`RecordingTimer::holding`](crate::RecordingTimer::holding) only the
//!   deadline's sleep: over at once (the deadline task cancels while `start` is still
//!   scheduling the roots), released by another thread at the moment `start` is called, or
//!   released by the step that makes a random tick.
//!
//! If the cancellation took effect (`cancel()` returned true; fail-fast with a failing step;
//! the deadline's sleep was released), the job's outcome is cut short, and the model predicts
//! the invariants of a cancellation instead of every end: when `wait()` returns every step is
//! in a final state; each step ends as the model says, or `Cancelled` after no more attempts
//! than the model's (a step that failed ended as the model says: a cancellation never turns
//! into a failure); attempts, retried records, back-off sleeps and timeouts agree with the
//! attempts made; outputs are readable exactly for the succeeded steps; no step function is
//! called after `wait()` returned; `wait()` returns the error of the first failed step in
//! definition order, else the cancellation's (`Cancelled`, or `DeadlineExceeded` for the deadline, both
//! job-level); a `cancel()` that returned true left a step cancelled or failed. A `cancel()`
//! that returned false (the job had ended), fail-fast without failures, or a deadline never
//! released must leave the outcome the model's, exactly.
//!
//! # Spawn faults
//!
//! [`random_dags_match_the_model_with_spawn_faults`] runs the same DAGs on a
//! [`FaultyHarness`](crate::FaultyHarness), whose executor fails the `n`-th spawn of the job
//! (refuses it or panics in it; `n` random, mostly among the first four): the step whose
//! driver was refused must fail with `SpawnFailed` before its first attempt, the steps that
//! depend on it be skipped, everything else end as the model says; no panic may reach `start`
//! or `wait()`.
//!
//! # Size and reproduction
//!
//! 256 cases per executor by default (about 100 steps each on average; about 3 s per executor
//! in a debug build on 2 loaded cores, 5–6 s on `DelayedSpawns` and `ThreadPerTask`; it was
//! 1.8 s before the injections and the drain after `wait()`); `ASYNCJOB_MODEL_CASES=10000`
//! runs more (the suite's watchdog limit grows with it; before the injections, 10,000 cases
//! took 68 s on the local executor and 71 s on tokio multi-thread, debug build, 2 cores). The generator's seed is fixed ([`DEFAULT_SEED`]), so every run draws the same
//! DAGs; `ASYNCJOB_MODEL_SEED=<u64>` draws others. The test waits for the job without a clock:
//! a case that stops making progress for 15 to 30 s is printed before the process aborts.
//!
//! A failing DAG is shrunk by a graph-aware proptest value tree: first without its injection
//! (if it still fails, the injection was not needed), then to its shortest failing
//! prefix (by bisection: a prefix of the DAG is the same graph cut short), then without each
//! step it can do without (edges to it dropped, later steps renumbered), then with each step
//! made plain. It is printed, one line per step, with the problems found and the seed. Nothing
//! is written to disk (failure persistence is off).
//!
//! ```sh
//! cargo test -p asyncjob-tokio --test conformance random_dags
//! ASYNCJOB_MODEL_CASES=10000 cargo test -p asyncjob-local --test conformance random_dags
//! ASYNCJOB_MODEL_SEED=1 cargo test -p asyncjob-smol --test conformance random_dags
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{
    JobBuilder, JobError, JobErrorKind, JobInstance, JobOptions, Local, Mode, Sendable,
    StepBuilder, StepHandle, StepState,
};
use futures::future::BoxFuture;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};

use crate::suite::helpers::{for_mode, until, yield_now};
use crate::suite::{InMode, Starts};
use crate::{FaultyHarness, RecordingTimer};

/// The largest DAG the test generates.
pub const MAX_STEPS: usize = 200;

/// Cases per executor when `ASYNCJOB_MODEL_CASES` is not set.
pub const DEFAULT_CASES: u32 = 256;

/// The generator's seed when `ASYNCJOB_MODEL_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x6173_796e_636a_6f62; // "asyncjob"

/// The number of cases asked for by `ASYNCJOB_MODEL_CASES`, else [`DEFAULT_CASES`].
pub fn model_cases() -> u32 {
    std::env::var("ASYNCJOB_MODEL_CASES")
        .ok()
        .and_then(|cases| cases.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn model_seed() -> u64 {
    std::env::var("ASYNCJOB_MODEL_SEED")
        .ok()
        .and_then(|seed| seed.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

// ---------------------------------------------------------------------------------------------
// The generated graph.

/// One attempt of a step's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Succeeds after this many `yield_now`s.
    Ok(u8),
    /// Returns an error after this many `yield_now`s.
    Err(u8),
    /// Panics (inside the future) after this many `yield_now`s.
    Panic(u8),
    /// Panics while the step function is called, before it returns a future.
    PanicInFn,
    /// Never ends: cut by the step's timeout if it has one, else cancelled by the test.
    Hang,
}

/// How a step takes the outputs of its parents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fan {
    None,
    One,
    Two,
    Three,
    Four,
    /// `after(&vec)`, with up to this many handles (possibly none).
    Vec(usize),
}

/// A step as generated: dependencies as raw picks, resolved against the step's position (so
/// that shrinking, which removes steps, keeps every graph valid).
#[derive(Debug, Clone)]
struct StepSpec {
    fan: Fan,
    data: Vec<Index>,
    order: Vec<Index>,
    /// Bit 0: one `wait_for` call per handle; bit 1: `wait_for` before `after`; bit 2: zero
    /// back-off delay; bit 3: policies set before the dependencies.
    flags: u8,
    behaviour: Behaviour,
}

#[derive(Debug, Clone)]
struct Behaviour {
    script: Vec<Attempt>,
    /// `Retry::fixed(max_attempts, …)`.
    retry: Option<u32>,
    timeout: bool,
}

/// A generated DAG: how far back parents are picked from, and the steps.
#[derive(Debug, Clone)]
struct DagSpec {
    /// Parents are picked among the `window` previous steps (0: among all of them).
    window: usize,
    steps: Vec<StepSpec>,
}

/// A step with its dependencies resolved to indices of earlier steps.
#[derive(Debug, Clone)]
struct Step {
    fan: Fan,
    data: Vec<usize>,
    order: Vec<usize>,
    order_per_handle: bool,
    order_first: bool,
    policies_first: bool,
    backoff: Duration,
    timeout: Option<Duration>,
    retry: Option<u32>,
    script: Vec<Attempt>,
}

impl Step {
    fn attempt(&self, number: u32) -> Attempt {
        let at = usize::try_from(number.saturating_sub(1)).unwrap_or(usize::MAX);
        self.script
            .get(at)
            .or(self.script.last())
            .copied()
            .unwrap_or(Attempt::Ok(0))
    }
}

#[derive(Debug, Clone)]
struct Dag {
    steps: Vec<Step>,
    /// What the case does to the job besides running it.
    inject: Inject,
}

/// Something a case does to the job at a random point, besides running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inject {
    /// Nothing: the job runs as the model says.
    None,
    /// `cancel()`, at that point.
    Cancel(At),
    /// `JobOptions::fail_fast()`.
    FailFast,
    /// A deadline ([`DEADLINE`]) whose sleep ends at that point.
    Deadline(At),
    /// The executor refuses (or panics in) its `n`-th spawn of the job.
    SpawnFault(usize),
}

/// When an injected cancellation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At once: `cancel()` right after `start` returns, on the same thread; a deadline sleep
    /// that is over as soon as it is asked for (the deadline task cancels while `start` is
    /// still scheduling the roots).
    Start,
    /// A deadline sleep released by another thread at the moment `start` is called.
    Racing,
    /// When the logical clock reaches this tick (a step starts or ends an attempt): `cancel()`
    /// is called by that step itself (from inside the step function or its future, on the
    /// executor's thread) when the instance can cross threads, else by the test's thread as
    /// soon as it sees the tick; a deadline sleep is released by that step.
    Tick(u64),
}

/// The deadline of the cases that inject one: longer than any back-off or timeout, so that its
/// sleep is told apart from theirs.
const DEADLINE: Duration = Duration::from_secs(10_000_000);

impl fmt::Display for Inject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inject::None => f.write_str("nothing"),
            Inject::Cancel(At::Start) => f.write_str("cancel() right after start returns"),
            Inject::Cancel(At::Racing) => f.write_str("cancel() from a thread racing start"),
            Inject::Cancel(At::Tick(t)) => write!(f, "cancel() at tick {t}"),
            Inject::FailFast => f.write_str("fail-fast"),
            Inject::Deadline(At::Start) => f.write_str("a deadline that is over at once"),
            Inject::Deadline(At::Racing) => {
                f.write_str("a deadline released by a thread racing start")
            }
            Inject::Deadline(At::Tick(t)) => write!(f, "a deadline released at tick {t}"),
            Inject::SpawnFault(n) => write!(f, "spawn #{n} fails"),
        }
    }
}

impl DagSpec {
    fn resolve(&self) -> Dag {
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, spec)| resolve_step(i, spec, self.window))
            .collect();
        Dag {
            steps,
            inject: Inject::None,
        }
    }
}

/// The fan of the kind of `fan` for `parents` distinct parents.
fn fan_for(fan: Fan, parents: usize) -> Fan {
    match (fan, parents) {
        (Fan::Vec(_), n) => Fan::Vec(n),
        (_, 0) => Fan::None,
        (_, 1) => Fan::One,
        (_, 2) => Fan::Two,
        (_, 3) => Fan::Three,
        _ => Fan::Four,
    }
}

fn resolve_step(i: usize, spec: &StepSpec, window: usize) -> Step {
    let span = if window == 0 { i } else { i.min(window) };
    let pick = |index: &Index| i - 1 - index.index(span);
    let mut data: Vec<usize> = Vec::new();
    if span > 0 {
        for index in &spec.data {
            let parent = pick(index);
            if !data.contains(&parent) {
                data.push(parent);
            }
        }
    }
    let wanted = match spec.fan {
        Fan::None => 0,
        Fan::One => 1,
        Fan::Two => 2,
        Fan::Three => 3,
        Fan::Four => 4,
        Fan::Vec(n) => n,
    };
    data.truncate(wanted);
    // A tuple needs as many distinct parents as its arity: settle for a smaller one.
    let fan = fan_for(spec.fan, data.len());
    let mut order: Vec<usize> = Vec::new();
    if span > 0 {
        for index in &spec.order {
            let parent = pick(index);
            if !data.contains(&parent) && !order.contains(&parent) {
                order.push(parent);
            }
        }
    }
    let behaviour = &spec.behaviour;
    Step {
        fan,
        data,
        order,
        order_per_handle: spec.flags & 1 != 0,
        order_first: spec.flags & 2 != 0,
        policies_first: spec.flags & 8 != 0,
        backoff: if spec.flags & 4 != 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(1 + i as u64)
        },
        timeout: behaviour
            .timeout
            .then(|| Duration::from_secs(100_000 + i as u64)),
        retry: behaviour.retry,
        script: behaviour.script.clone(),
    }
}

impl fmt::Display for Dag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  injected: {}", self.inject)?;
        for (i, step) in self.steps.iter().enumerate() {
            write!(f, "  s{i}:")?;
            if step.fan != Fan::None {
                let kind = if matches!(step.fan, Fan::Vec(_)) {
                    "vec"
                } else {
                    "tuple"
                };
                write!(f, " after {kind}{:?}", step.data)?;
            }
            if !step.order.is_empty() {
                let how = if step.order_per_handle { "each" } else { "all" };
                write!(f, " wait_for({how}){:?}", step.order)?;
            }
            if let Some(n) = step.retry {
                write!(f, " retry(fixed {n}, {:?})", step.backoff)?;
            }
            if let Some(limit) = step.timeout {
                write!(f, " timeout({limit:?})")?;
            }
            writeln!(f, " script {:?}", step.script)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// How often, in a thousand steps, a step of a case ends badly (fails or hangs): a failure
/// skips everything below it, so large graphs need few of them to keep running deep.
const BAD_PER_MILLE: [u32; 4] = [0, 5, 25, 100];

fn yields() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 2 => 1u8..=3]
}

/// A failing attempt (for the failures before a retried step's last attempt).
fn failure() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        4 => yields().prop_map(Attempt::Err),
        2 => yields().prop_map(Attempt::Panic),
        1 => Just(Attempt::PanicInFn),
    ]
}

/// A failing attempt of a step with a timeout: it hangs (and times out) or fails on its first
/// poll.
fn timed_failure() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        4 => Just(Attempt::Hang),
        1 => Just(Attempt::Err(0)),
        1 => Just(Attempt::Panic(0)),
        1 => Just(Attempt::PanicInFn),
    ]
}

fn plain(script: Vec<Attempt>) -> Behaviour {
    Behaviour {
        script,
        retry: None,
        timeout: false,
    }
}

/// `failures` then `last`, under `Retry::fixed(attempts, …)`.
fn retried(mut failures: Vec<Attempt>, last: Attempt, attempts: u32, timeout: bool) -> Behaviour {
    failures.push(last);
    Behaviour {
        script: failures,
        retry: Some(attempts),
        timeout,
    }
}

/// A step that ends well: it succeeds, at once or after retried failures and timeouts.
fn good() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        12 => yields().prop_map(|y| plain(vec![Attempt::Ok(y)])),
        // Fails k times, then succeeds, within a policy of k + 1 to 4 attempts.
        3 => (proptest::collection::vec(failure(), 0..=3), yields(), 0u32..=3).prop_map(
            |(failures, y, spare)| {
                let n = (failures.len() as u32 + 1 + spare).min(4);
                retried(failures, Attempt::Ok(y), n, false)
            }
        ),
        // Times out (or fails) k times, then ends on its first poll; with a timeout alone
        // (no policy) when k = 0.
        2 => (proptest::collection::vec(timed_failure(), 0..=2), 0u32..=2, any::<bool>())
            .prop_map(|(failures, spare, policy)| {
                let n = failures.len() as u32 + 1 + spare;
                let mut b = retried(failures, Attempt::Ok(0), n, true);
                if n == 1 && !policy {
                    b.retry = None;
                }
                b
            }),
    ]
}

/// A step that ends badly: it fails (at once, or after its policy gives up) or hangs.
fn bad() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        3 => failure().prop_map(|a| plain(vec![a])),
        2 => Just(plain(vec![Attempt::Hang])),
        // Fails every attempt its policy allows (the last failure repeats).
        2 => (proptest::collection::vec(failure(), 1..=4), 1u32..=4)
            .prop_map(|(mut failures, n)| {
                let last = failures.pop().unwrap_or(Attempt::Err(0));
                retried(failures, last, n, false)
            }),
        // Fails k times, then hangs, within a policy of more than k attempts.
        1 => (proptest::collection::vec(failure(), 1..=2), 0u32..=1).prop_map(
            |(failures, spare)| {
                let n = failures.len() as u32 + 1 + spare;
                retried(failures, Attempt::Hang, n, false)
            }
        ),
        // Times out every attempt (with or without a policy).
        2 => (proptest::collection::vec(timed_failure(), 1..=3), proptest::option::of(1u32..=3))
            .prop_map(|(script, retry)| Behaviour {
                script,
                retry,
                timeout: true,
            }),
    ]
}

fn behaviour(bad_per_mille: u32) -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        1000 - bad_per_mille => good(),
        bad_per_mille => bad(),
    ]
}

fn fan() -> impl Strategy<Value = Fan> {
    prop_oneof![
        3 => Just(Fan::None),
        6 => Just(Fan::One),
        3 => Just(Fan::Two),
        2 => Just(Fan::Three),
        1 => Just(Fan::Four),
        3 => (0usize..=6).prop_map(Fan::Vec),
    ]
}

fn step_spec(bad_per_mille: u32) -> impl Strategy<Value = StepSpec> {
    (
        fan(),
        proptest::collection::vec(any::<Index>(), 6),
        prop_oneof![
            3 => Just(Vec::new()),
            2 => proptest::collection::vec(any::<Index>(), 1..=3),
        ],
        any::<u8>(),
        behaviour(bad_per_mille),
    )
        .prop_map(|(fan, data, order, flags, behaviour)| StepSpec {
            fan,
            data,
            order,
            flags,
            behaviour,
        })
}

fn dag_spec() -> impl Strategy<Value = DagSpec> {
    (
        0..BAD_PER_MILLE.len(),
        prop_oneof![Just(0usize), Just(2), Just(8)],
    )
        .prop_flat_map(|(profile, window)| {
            let bad = BAD_PER_MILLE[profile];
            proptest::collection::vec(step_spec(bad), 1..=MAX_STEPS)
                .prop_map(move |steps| DagSpec { window, steps })
        })
}

/// Random DAGs, drawn by [`dag_spec`] and resolved, with a shrinking of their own that knows
/// they are graphs (proptest's generic shrinking of the spec would rewire every later step when
/// it removes one). A failing DAG is cut to its shortest failing prefix (by bisection: steps
/// depend only on earlier ones, so a prefix is the same graph cut short), then loses the steps
/// it can do without (last first, the edges to them dropped), then has each remaining step
/// made plain: a first-poll success without policies, dependencies or yields.
#[derive(Debug)]
struct Dags {
    /// Draw spawn faults (for a harness whose executor fails spawns) instead of cancellations.
    spawn_faults: bool,
}

/// A random injection for a DAG of `len` steps, from two random picks.
fn inject(len: usize, spawn_faults: bool, kind: u8, pick: Index) -> Inject {
    let ticks = 2 * len + 2;
    let tick = || At::Tick(1 + pick.index(ticks) as u64);
    if spawn_faults {
        // Mostly early spawns (a job's first spawns are its roots'), some anywhere.
        return match kind % 8 {
            0 => Inject::None,
            1..=4 => Inject::SpawnFault(1 + pick.index(4)),
            _ => Inject::SpawnFault(1 + pick.index(len.max(1))),
        };
    }
    match kind % 20 {
        0..=7 => Inject::None,
        8 | 9 => Inject::Cancel(At::Start),
        10 => Inject::Cancel(At::Racing),
        11..=13 => Inject::Cancel(tick()),
        14..=16 => Inject::FailFast,
        17 => Inject::Deadline(At::Start),
        18 => Inject::Deadline(At::Racing),
        _ => Inject::Deadline(tick()),
    }
}

impl Strategy for Dags {
    type Tree = DagTree;
    type Value = Dag;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let mut dag = dag_spec().new_tree(runner)?.current().resolve();
        let (kind, pick) = (any::<u8>(), any::<Index>()).new_tree(runner)?.current();
        dag.inject = inject(dag.steps.len(), self.spawn_faults, kind, pick);
        let shrink = if dag.inject == Inject::None {
            Shrink::Prefix {
                lo: dag.steps.len().min(1),
            }
        } else {
            Shrink::Plain
        };
        Ok(DagTree {
            failing: dag.clone(),
            current: dag,
            shrink,
            trying: false,
        })
    }
}

/// Where the shrinking of a [`DagTree`] is.
#[derive(Debug, Clone, Copy)]
enum Shrink {
    /// Trying the DAG without its injection.
    Plain,
    /// Bisecting the prefix length: prefixes shorter than `lo` pass.
    Prefix {
        lo: usize,
    },
    /// Removing step `next` (then the ones before it).
    Remove {
        next: usize,
    },
    /// Simplifying step `step` in the way numbered `how`.
    Simplify {
        step: usize,
        how: u8,
    },
    Done,
}

#[derive(Debug)]
struct DagTree {
    current: Dag,
    /// The smallest DAG known to fail.
    failing: Dag,
    shrink: Shrink,
    /// `current` is a candidate smaller than `failing`, being tried.
    trying: bool,
}

impl DagTree {
    /// Moves `current` to the next smaller candidate after `failing`; `false` if none is left.
    fn next_candidate(&mut self) -> bool {
        loop {
            let n = self.failing.steps.len();
            match self.shrink {
                Shrink::Plain => {
                    if self.failing.inject == Inject::None {
                        self.shrink = Shrink::Prefix { lo: n.min(1) };
                        continue;
                    }
                    self.current = Dag {
                        steps: self.failing.steps.clone(),
                        inject: Inject::None,
                    };
                    return true;
                }
                Shrink::Prefix { lo } => {
                    if lo < n {
                        let len = lo + (n - lo) / 2;
                        self.current = Dag {
                            steps: self.failing.steps[..len].to_vec(),
                            inject: self.failing.inject,
                        };
                        return true;
                    }
                    // The last step is needed (the prefix would be shorter): it stays.
                    self.shrink = Shrink::Remove {
                        next: n.saturating_sub(2),
                    };
                }
                Shrink::Remove { next } => {
                    if next + 1 < n {
                        self.current = self.failing.without(next);
                        return true;
                    }
                    self.shrink = match next {
                        0 => Shrink::Simplify { step: 0, how: 0 },
                        _ => Shrink::Remove { next: next - 1 },
                    };
                }
                Shrink::Simplify { step, how } => {
                    if step >= n {
                        self.shrink = Shrink::Done;
                        continue;
                    }
                    let candidate = self.failing.simplified(step, how);
                    self.shrink = if how >= 3 {
                        Shrink::Simplify {
                            step: step + 1,
                            how: 0,
                        }
                    } else {
                        Shrink::Simplify { step, how: how + 1 }
                    };
                    if let Some(candidate) = candidate {
                        self.current = candidate;
                        return true;
                    }
                }
                Shrink::Done => return false,
            }
        }
    }

    /// After a candidate was tried: move on past the shrinking step that made it.
    fn advance(&mut self, failed: bool) {
        match self.shrink {
            // Plain or not, the prefixes are next.
            Shrink::Plain => {
                self.shrink = Shrink::Prefix {
                    lo: self.current.steps.len().min(1),
                };
            }
            Shrink::Prefix { .. } => {
                if !failed {
                    self.shrink = Shrink::Prefix {
                        lo: self.current.steps.len() + 1,
                    };
                }
            }
            Shrink::Remove { next } => {
                self.shrink = if next == 0 {
                    Shrink::Simplify { step: 0, how: 0 }
                } else {
                    Shrink::Remove { next: next - 1 }
                };
            }
            // `next_candidate` has already moved past it.
            Shrink::Simplify { .. } | Shrink::Done => {}
        }
    }
}

impl ValueTree for DagTree {
    type Value = Dag;

    fn current(&self) -> Dag {
        self.current.clone()
    }

    /// `current` fails: keep it, and try something smaller.
    fn simplify(&mut self) -> bool {
        if self.trying {
            self.advance(true);
            self.failing = self.current.clone();
        }
        self.trying = self.next_candidate();
        self.trying
    }

    /// `current` passes: go back to the last failing DAG, and try something else.
    fn complicate(&mut self) -> bool {
        if self.trying {
            self.advance(false);
            self.current = self.failing.clone();
        }
        self.trying = self.next_candidate();
        self.trying
    }
}

impl Dag {
    /// The DAG without step `gone`: edges to it are dropped, later steps renumbered.
    fn without(&self, gone: usize) -> Dag {
        let renumber = |deps: &[usize]| -> Vec<usize> {
            deps.iter()
                .filter(|&&p| p != gone)
                .map(|&p| if p > gone { p - 1 } else { p })
                .collect()
        };
        let steps = self
            .steps
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != gone)
            .map(|(_, step)| {
                let mut step = step.clone();
                step.data = renumber(&step.data);
                step.order = renumber(&step.order);
                step.fan = fan_for(step.fan, step.data.len());
                step
            })
            .collect();
        Dag {
            steps,
            inject: self.inject,
        }
    }

    /// The DAG with step `i` simpler in the way numbered `how` (0: a plain success; 1: no
    /// ordering dependencies; 2: no data dependencies; 3: no yields), or `None` if it is already.
    fn simplified(&self, i: usize, how: u8) -> Option<Dag> {
        let mut step = self.steps.get(i)?.clone();
        match how {
            0 => {
                if step.retry.is_none() && step.timeout.is_none() && step.script == [Attempt::Ok(0)]
                {
                    return None;
                }
                step.retry = None;
                step.timeout = None;
                step.script = vec![Attempt::Ok(0)];
            }
            1 if !step.order.is_empty() => step.order.clear(),
            2 if !step.data.is_empty() => {
                step.data.clear();
                step.fan = Fan::None;
            }
            3 => {
                let flat: Vec<Attempt> = step
                    .script
                    .iter()
                    .map(|a| match a {
                        Attempt::Ok(_) => Attempt::Ok(0),
                        Attempt::Err(_) => Attempt::Err(0),
                        Attempt::Panic(_) => Attempt::Panic(0),
                        other => *other,
                    })
                    .collect();
                if flat == step.script {
                    return None;
                }
                step.script = flat;
            }
            _ => return None,
        }
        let mut dag = self.clone();
        dag.steps[i] = step;
        Some(dag)
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model.

/// What the model expects of one step.
#[derive(Debug, Clone)]
struct Expect {
    state: StepState,
    attempts: u32,
    /// For a failed step: the kind of its error.
    kind: Option<JobErrorKind>,
    /// Left hanging (running, without a timeout) until the test cancels the job.
    hangs: bool,
    /// The failed steps above this one (for a skipped step: its possible root causes).
    failed_above: BTreeSet<usize>,
    /// The output, if the step runs (computed for every step: it is what it would output).
    value: u64,
}

#[derive(Debug)]
struct Model {
    steps: Vec<Expect>,
    failed: BTreeSet<usize>,
    hanging: usize,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A step's output: its index and its parents' outputs, in order.
fn output(index: usize, inputs: &[u64]) -> u64 {
    inputs
        .iter()
        .fold(mix(index as u64), |acc, &value| mix(acc ^ value))
}

/// What every step of `dag` ends as; `refused`: the step whose spawn the executor refused (it
/// fails with `SpawnFailed` before its first attempt).
fn model(dag: &Dag, refused: Option<usize>) -> Model {
    let mut steps: Vec<Expect> = Vec::with_capacity(dag.steps.len());
    for (i, step) in dag.steps.iter().enumerate() {
        let inputs: Vec<u64> = step.data.iter().map(|&p| steps[p].value).collect();
        let parents = step.data.iter().chain(&step.order).map(|&p| &steps[p]);
        let mut failed_above = BTreeSet::new();
        let mut blocked = false;
        for parent in parents.clone() {
            failed_above.extend(parent.failed_above.iter().copied());
            blocked |= parent.state == StepState::Cancelled;
        }
        for (&p, parent) in step.data.iter().chain(&step.order).zip(parents) {
            if parent.state == StepState::Failed {
                failed_above.insert(p);
            }
        }
        let value = output(i, &inputs);
        let mut expect = Expect {
            state: StepState::Succeeded,
            attempts: 0,
            kind: None,
            hangs: false,
            failed_above,
            value,
        };
        if !expect.failed_above.is_empty() {
            expect.state = StepState::Skipped;
        } else if blocked {
            expect.state = StepState::Cancelled;
        } else if refused == Some(i) {
            expect.state = StepState::Failed;
            expect.kind = Some(JobErrorKind::SpawnFailed);
        } else {
            let max = step.retry.unwrap_or(1).max(1);
            let mut number = 1;
            loop {
                let kind = match (step.attempt(number), step.timeout) {
                    (Attempt::Ok(_), _) => None,
                    (Attempt::Err(_), _) => Some(JobErrorKind::StepFailed),
                    (Attempt::Panic(_) | Attempt::PanicInFn, _) => Some(JobErrorKind::StepPanicked),
                    (Attempt::Hang, Some(_)) => Some(JobErrorKind::TimedOut),
                    (Attempt::Hang, None) => {
                        expect.state = StepState::Cancelled;
                        expect.hangs = true;
                        break;
                    }
                };
                if kind.is_some() && number < max {
                    number += 1;
                    continue;
                }
                if kind.is_some() {
                    expect.state = StepState::Failed;
                    expect.kind = kind;
                }
                break;
            }
            expect.attempts = number;
        }
        steps.push(expect);
    }
    let failed = (0..steps.len())
        .filter(|&i| steps[i].state == StepState::Failed)
        .collect();
    let hanging = steps.iter().filter(|s| s.hangs).count();
    Model {
        steps,
        failed,
        hanging,
    }
}

// ---------------------------------------------------------------------------------------------
// What the steps record while they run.

/// A process-unique marker in the message of every deliberate panic, so that the panic hook
/// can keep quiet about them.
const PANIC_MARKER: &str = "asyncjob-model: deliberate panic";

#[derive(Debug, Default)]
struct StepLog {
    calls: AtomicU32,
    /// Logical times (from 1; 0 = not yet): the first attempt's start, the successful
    /// attempt's end, the last attempt's end.
    first_start: AtomicU64,
    ok_end: AtomicU64,
    last_end: AtomicU64,
    /// An attempt without a timeout began to hang.
    hanging: AtomicBool,
}

/// The job input: the expectations the steps check, and what they record.
struct Ctx {
    clock: AtomicU64,
    steps: Vec<StepLog>,
    /// Per step: the scripted attempts and whether it has a timeout.
    scripts: Vec<(Vec<Attempt>, bool)>,
    /// Per step: the parent outputs it must receive, in order.
    inputs: Vec<Vec<u64>>,
    values: Vec<u64>,
    /// Step futures alive (created and not dropped).
    live: AtomicUsize,
    problems: Mutex<Vec<String>>,
    /// The tick at which the injected cancel or deadline release happens (0: none).
    trigger: u64,
    /// For a deadline released at `trigger`: the timer holding its sleep.
    deadline_timer: Option<RecordingTimer>,
    /// The deadline's sleep has been released (by the trigger or the racing thread).
    deadline_released: AtomicBool,
    /// For a cancel at `trigger`: how a step cancels the instance from its own thread, once the
    /// test has handed it over (cleared when `wait()` returns).
    canceller: Mutex<Option<RemoteCancel>>,
    /// The trigger was hit with no canceller at hand: the test's thread is to cancel.
    cancel_requested: AtomicBool,
    /// Another thread is calling the injected `cancel()` (and will record what it returned).
    cancelling: AtomicBool,
    /// What the injected `cancel()` returned: 0 not called, 1 false, 2 true.
    cancelled: AtomicU8,
    /// `wait()` has returned: no step function may be called any more.
    waited: AtomicBool,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("clock", &self.clock)
            .field("steps", &self.steps.len())
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    fn new(dag: &Dag, model: &Model, deadline_timer: Option<RecordingTimer>) -> Self {
        Ctx {
            clock: AtomicU64::new(0),
            steps: dag.steps.iter().map(|_| StepLog::default()).collect(),
            scripts: dag
                .steps
                .iter()
                .map(|s| (s.script.clone(), s.timeout.is_some()))
                .collect(),
            inputs: dag
                .steps
                .iter()
                .map(|s| s.data.iter().map(|&p| model.steps[p].value).collect())
                .collect(),
            values: model.steps.iter().map(|s| s.value).collect(),
            live: AtomicUsize::new(0),
            problems: Mutex::new(Vec::new()),
            trigger: match dag.inject {
                Inject::Cancel(At::Tick(t)) | Inject::Deadline(At::Tick(t)) => t,
                _ => 0,
            },
            deadline_timer,
            deadline_released: AtomicBool::new(false),
            canceller: Mutex::new(None),
            cancel_requested: AtomicBool::new(false),
            cancelling: AtomicBool::new(false),
            cancelled: AtomicU8::new(0),
            waited: AtomicBool::new(false),
        }
    }

    fn tick(&self) -> u64 {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        if tick == self.trigger {
            self.fire();
        }
        tick
    }

    /// The injected cancel or deadline, at its tick.
    fn fire(&self) {
        if let Some(timer) = &self.deadline_timer {
            self.release_deadline(timer);
            return;
        }
        let canceller = self
            .canceller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match canceller {
            Some(cancel) => {
                self.cancelling.store(true, Ordering::SeqCst);
                self.record_cancel(cancel());
            }
            None => self.cancel_requested.store(true, Ordering::SeqCst),
        }
    }

    /// Releases the deadline's sleep; `false` if it was not asked for yet. The flag is set
    /// first: the deadline may end the job before `release` returns.
    fn release_deadline(&self, timer: &RecordingTimer) -> bool {
        self.deadline_released.store(true, Ordering::SeqCst);
        let released = timer.release(DEADLINE) > 0;
        if !released {
            self.deadline_released.store(false, Ordering::SeqCst);
        }
        released
    }

    fn record_cancel(&self, took_effect: bool) {
        let _ = self.cancelled.compare_exchange(
            0,
            if took_effect { 2 } else { 1 },
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// What the injected `cancel()` returned, if it was called.
    fn cancel_result(&self) -> Option<bool> {
        match self.cancelled.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n == 2),
        }
    }

    fn problem(&self, problem: String) {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(problem);
    }

    fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Counts a step future alive while it exists.
struct Live(Arc<Ctx>);

impl Live {
    fn new(ctx: &Arc<Ctx>) -> Self {
        ctx.live.fetch_add(1, Ordering::SeqCst);
        Live(ctx.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

fn error_text(i: usize, attempt: u32) -> String {
    format!("s{i} attempt {attempt} failed")
}

fn panic_text(i: usize, attempt: u32, where_: &str) -> String {
    format!("{PANIC_MARKER} in s{i} attempt {attempt} ({where_})")
}

/// The body of every step: called with the parent outputs it received.
fn call(ctx: Arc<Ctx>, i: usize, got: Vec<u64>) -> BoxFuture<'static, Result<u64, String>> {
    let log = &ctx.steps[i];
    let attempt = log.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if ctx.waited.load(Ordering::SeqCst) {
        ctx.problem(format!(
            "s{i}: the step function was called (attempt {attempt}) after wait() returned"
        ));
    }
    let start = ctx.tick();
    if attempt == 1 {
        log.first_start.store(start, Ordering::SeqCst);
    }
    let previous_end = log.last_end.load(Ordering::SeqCst);
    if attempt > 1 && previous_end >= start {
        ctx.problem(format!(
            "s{i}: attempt {attempt} started (tick {start}) before attempt {} ended (tick {previous_end})",
            attempt - 1
        ));
    }
    if got != ctx.inputs[i] {
        ctx.problem(format!(
            "s{i} attempt {attempt}: received {got:?}, expected {:?}",
            ctx.inputs[i]
        ));
    }
    let (script, timeout) = &ctx.scripts[i];
    let at = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
    let action = script
        .get(at)
        .or(script.last())
        .copied()
        .unwrap_or(Attempt::Ok(0));
    let timeout = *timeout;
    if action == Attempt::PanicInFn {
        log.last_end.store(ctx.tick(), Ordering::SeqCst);
        panic!("{}", panic_text(i, attempt, "in the step function"));
    }
    let live = Live::new(&ctx);
    Box::pin(async move {
        let _live = live;
        let log = &ctx.steps[i];
        let end = |ctx: &Ctx| {
            let tick = ctx.tick();
            log.last_end.store(tick, Ordering::SeqCst);
            tick
        };
        match action {
            Attempt::Ok(yields) => {
                for _ in 0..yields {
                    yield_now().await;
                }
                let tick = end(&ctx);
                log.ok_end.store(tick, Ordering::SeqCst);
                Ok(ctx.values[i])
            }
            Attempt::Err(yields) => {
                for _ in 0..yields {
                    yield_now().await;
                }
                end(&ctx);
                Err(error_text(i, attempt))
            }
            Attempt::Panic(yields) => {
                for _ in 0..yields {
                    yield_now().await;
                }
                end(&ctx);
                panic!("{}", panic_text(i, attempt, "in the future"));
            }
            Attempt::PanicInFn | Attempt::Hang => {
                if !timeout {
                    log.hanging.store(true, Ordering::SeqCst);
                }
                futures::future::pending::<()>().await;
                Err("unreachable: a hanging step ended".to_owned())
            }
        }
    })
}

/// Keeps the default panic hook quiet about the deliberate panics of the model's steps (there
/// are thousands); every other panic is reported as usual.
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with(PANIC_MARKER)
                && !message.starts_with(asyncjob_test::PANIC_MESSAGE)
            {
                previous(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// Building the job.

type Builder<'a, M, P> = StepBuilder<'a, Arc<Ctx>, M, P>;

fn wait_for<'a, M: Mode, P>(
    mut b: Builder<'a, M, P>,
    step: &Step,
    handles: &[StepHandle<u64>],
) -> Builder<'a, M, P> {
    let order: Vec<StepHandle<u64>> = step.order.iter().map(|&p| handles[p].clone()).collect();
    match order.len() {
        0 => b,
        1 => b.wait_for(&order[0]),
        _ if step.order_per_handle => {
            for handle in &order {
                b = b.wait_for(handle);
            }
            b
        }
        _ => b.wait_for(&order),
    }
}

fn policies<'a, M: Mode, P>(mut b: Builder<'a, M, P>, step: &Step) -> Builder<'a, M, P> {
    if let Some(n) = step.retry {
        b = b.retry(Retry::fixed(n, step.backoff));
    }
    if let Some(limit) = step.timeout {
        b = b.timeout(limit);
    }
    b
}

/// A built job of mode `M`, and the handles of its steps in order.
type Built<M> = (asyncjob::JobDefinition<Arc<Ctx>, M>, Vec<StepHandle<u64>>);

/// Defines `$name`, which builds a DAG as a definition of mode `$mode` (with
/// `JobBuilder::$new`): the step functions are the same in both modes, only the builder's
/// `run` differs.
macro_rules! define_build {
    ($name:ident, $mode:ty, $new:ident) => {
        fn $name(dag: &Dag) -> Result<Built<$mode>, String> {
            let mut job = JobBuilder::<Arc<Ctx>>::$new("model");
            let mut handles: Vec<StepHandle<u64>> = Vec::with_capacity(dag.steps.len());
            for (i, step) in dag.steps.iter().enumerate() {
                let mut b = job.step(format!("s{i}"));
                if step.policies_first {
                    b = policies(b, step);
                }
                if step.order_first {
                    b = wait_for(b, step, &handles);
                }
                // The rest of the chain once `after` fixed the parents' type.
                macro_rules! finish {
                    ($b:expr, |$ctx:ident, $args:tt: $ty:ty| $got:expr) => {{
                        let mut b = $b;
                        if !step.order_first {
                            b = wait_for(b, step, &handles);
                        }
                        if !step.policies_first {
                            b = policies(b, step);
                        }
                        b.run(move |$ctx: Arc<Ctx>, $args: $ty| call($ctx, i, $got))
                    }};
                }
                let h = |k: usize| &handles[step.data[k]];
                let handle = match step.fan {
                    Fan::None => {
                        let mut b = b;
                        if !step.order_first {
                            b = wait_for(b, step, &handles);
                        }
                        if !step.policies_first {
                            b = policies(b, step);
                        }
                        b.run(move |ctx: Arc<Ctx>| call(ctx, i, Vec::new()))
                    }
                    Fan::One => finish!(b.after(h(0)), |ctx, a: u64| vec![a]),
                    Fan::Two => {
                        finish!(b.after((h(0), h(1))), |ctx, (a, b): (u64, u64)| vec![a, b])
                    }
                    Fan::Three => {
                        finish!(
                            b.after((h(0), h(1), h(2))),
                            |ctx, (a, b, c): (u64, u64, u64)| vec![a, b, c]
                        )
                    }
                    Fan::Four => finish!(b.after((h(0), h(1), h(2), h(3))), |ctx,
                                                                             (a, b, c, d): (
                        u64,
                        u64,
                        u64,
                        u64
                    )| vec![
                        a, b, c, d
                    ]),
                    Fan::Vec(_) => {
                        let parents: Vec<StepHandle<u64>> =
                            step.data.iter().map(|&p| handles[p].clone()).collect();
                        finish!(b.after(&parents), |ctx, got: Vec<u64>| got)
                    }
                };
                handles.push(handle.map_err(|e| format!("s{i} could not be added: {e}"))?);
            }
            Ok((job.seal(), handles))
        }
    };
}

define_build!(build_sendable, Sendable, new);
define_build!(build_local, Local, new_local);

/// Builds `dag` as a definition of mode `M`.
fn build<M: Mode>(dag: &Dag) -> Result<Built<M>, String> {
    for_mode::<M, _, _, _>(|| build_sendable(dag), || build_local(dag))
        .unwrap_or_else(|| Err("a definition mode is Sendable or Local".to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Running a case and checking it.

fn kind_of(error: &JobError) -> String {
    format!("{:?} (step {:?})", error.kind(), error.step())
}

/// `true` if no step of the job can move any more, but for those left hanging: every step has
/// ended, hangs (running, its future parked for good), or waits behind such a step, with none
/// of its dependencies failed (a failure that is still skipping its dependents is not over).
fn stuck(dag: &Dag, ctx: &Ctx, states: &[asyncjob::StepSnapshot]) -> bool {
    let state = |i: usize| states.get(i).map_or(StepState::Queued, |s| s.state);
    (0..dag.steps.len()).all(|i| match state(i) {
        StepState::Running => ctx.steps[i].hanging.load(Ordering::SeqCst),
        StepState::Waiting => {
            let step = &dag.steps[i];
            let mut deps = step.data.iter().chain(&step.order).map(|&p| state(p));
            let all_fine = deps.clone().all(|s| {
                matches!(
                    s,
                    StepState::Succeeded | StepState::Waiting | StepState::Running
                )
            });
            all_fine && deps.any(|s| matches!(s, StepState::Waiting | StepState::Running))
        }
        other => other.is_finished(),
    })
}

/// What the model needs of a job mode: a way to cancel an instance from another thread (a
/// step's, or a thread racing the test's), where the mode's instances can cross threads.
pub trait ModelMode: Mode {
    /// A `cancel()` of `instance` callable from any thread, if instances of this mode are
    /// `Send`; `None` for local ones (the test's thread cancels them).
    fn remote_cancel(instance: &JobInstance<Self>) -> Option<RemoteCancel>;
}

/// A `cancel()` of an instance, callable from any thread; returns what `cancel()` returned.
pub type RemoteCancel = Arc<dyn Fn() -> bool + Send + Sync>;

impl ModelMode for Sendable {
    fn remote_cancel(instance: &JobInstance<Self>) -> Option<RemoteCancel> {
        let instance = instance.clone();
        Some(Arc::new(move || instance.cancel()))
    }
}

impl ModelMode for Local {
    fn remote_cancel(_: &JobInstance<Self>) -> Option<RemoteCancel> {
        None
    }
}

/// How a case arms the executor's spawn fault, and learns how many spawns failed.
struct SpawnFaults<'a> {
    arm: &'a dyn Fn(usize),
    count: &'a dyn Fn() -> usize,
}

/// How long after `wait()` returned the job may still hold its input (the steps' futures, the
/// drivers, the run): far above the microseconds it takes, a bound on a leak, not a timing.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

fn panic_payload_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(not a string)".to_owned())
}

/// Runs one DAG on `h` and compares everything with the model; the problems found, if any.
///
/// A case with nothing injected (or a spawn fault) must match the model exactly. A case whose
/// injected cancellation took effect must meet the weaker invariants: every step final when
/// `wait()` returns; a step ends as the model says or `Cancelled` (after no more attempts than
/// the model's); no step function called after `wait()` returned; `wait()`'s error is that of
/// the first failed step in definition order, else the cancellation's.
fn run_case<S: Starts>(h: &S, dag: &Dag, faults: Option<&SpawnFaults<'_>>) -> Vec<String> {
    let base = model(dag, None);
    let (job, handles) = match build::<S::Definitions>(dag) {
        Ok(built) => built,
        Err(problem) => return vec![problem],
    };
    let inject = dag.inject;
    let timer = match inject {
        Inject::Deadline(At::Racing | At::Tick(_)) => RecordingTimer::holding([DEADLINE]),
        _ => RecordingTimer::new(),
    };
    let deadline_timer = matches!(inject, Inject::Deadline(At::Tick(_))).then(|| timer.clone());
    let ctx = Arc::new(Ctx::new(dag, &base, deadline_timer));
    // Every case records its events: the log is checked against the final states, which are
    // checked against the model.
    let mut options = JobOptions::new().record_events();
    match inject {
        Inject::FailFast => options = options.fail_fast(),
        Inject::Deadline(_) => options = options.deadline(DEADLINE),
        _ => {}
    }
    let armed = match (inject, faults) {
        (Inject::SpawnFault(n), Some(faults)) => {
            (faults.arm)(n);
            true
        }
        (_, Some(faults)) => {
            (faults.arm)(0);
            false
        }
        (_, None) => false,
    };
    let mut problems = Vec::new();

    // A thread racing `start`: it releases the deadline's sleep as soon as it exists, or
    // cancels the instance as soon as it is handed over.
    let stop = Arc::new(AtomicBool::new(false));
    let (hand_over, handed) = mpsc::channel::<RemoteCancel>();
    let racer = match inject {
        Inject::Deadline(At::Racing) => {
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let (ctx, timer, stop, go) =
                (ctx.clone(), timer.clone(), stop.clone(), barrier.clone());
            let racer = std::thread::spawn(move || {
                go.wait();
                while !stop.load(Ordering::SeqCst) && !ctx.release_deadline(&timer) {
                    std::thread::yield_now();
                }
            });
            barrier.wait();
            Some(racer)
        }
        Inject::Cancel(At::Racing) => {
            let ctx = ctx.clone();
            Some(std::thread::spawn(move || {
                if let Ok(cancel) = handed.recv() {
                    ctx.cancelling.store(true, Ordering::SeqCst);
                    ctx.record_cancel(cancel());
                }
            }))
        }
        _ => None,
    };
    let join_racer = |racer: Option<std::thread::JoinHandle<()>>| {
        stop.store(true, Ordering::SeqCst);
        if let Some(racer) = racer {
            let _ = racer.join();
        }
    };

    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.start_with_timer(&job, ctx.clone(), options, timer.clone())
    }));
    let instance = match started {
        Ok(instance) => instance,
        Err(panic) => {
            drop(hand_over);
            join_racer(racer);
            return vec![format!(
                "start panicked (no panic may reach the caller): {}",
                panic_payload_text(&*panic)
            )];
        }
    };
    match inject {
        Inject::Cancel(At::Start) => ctx.record_cancel(instance.cancel()),
        Inject::Cancel(At::Racing) => match S::Instances::remote_cancel(&instance) {
            Some(cancel) => {
                let _ = hand_over.send(cancel);
            }
            None => ctx.record_cancel(instance.cancel()),
        },
        Inject::Cancel(At::Tick(_)) => {
            *ctx.canceller.lock().unwrap_or_else(|e| e.into_inner()) =
                S::Instances::remote_cancel(&instance);
        }
        _ => {}
    }
    drop(hand_over);
    // Whatever happens below, leave nothing hanging on the executor.
    let guard = instance.cancel_on_drop();

    // Wait until the job is finished, or stuck: nothing can happen any more but for the steps
    // left hanging. This does not ask the model, so that a job that differs from it is reported,
    // not waited for. Then cancel what is left. A cancel asked for by a step that could not
    // make it itself is made here, as soon as it is seen.
    loop {
        h.block_on(until(|| {
            instance.is_finished()
                || ctx.cancel_requested.load(Ordering::SeqCst)
                || (ctx
                    .steps
                    .iter()
                    .any(|log| log.hanging.load(Ordering::SeqCst))
                    && stuck(dag, &ctx, &instance.steps()))
        }));
        if ctx.cancel_requested.swap(false, Ordering::SeqCst) {
            ctx.record_cancel(instance.cancel());
            continue;
        }
        break;
    }
    let unfinished = !instance.is_finished();
    let own_cancel = unfinished && instance.cancel();
    let result = h.block_on(instance.wait());
    ctx.waited.store(true, Ordering::SeqCst);
    let calls_at_wait: Vec<u32> = ctx
        .steps
        .iter()
        .map(|log| log.calls.load(Ordering::SeqCst))
        .collect();
    let live = ctx.live.load(Ordering::SeqCst);
    if live != 0 {
        problems.push(format!(
            "{live} step futures still alive when wait() returned"
        ));
    }
    *ctx.canceller.lock().unwrap_or_else(|e| e.into_inner()) = None;
    join_racer(racer);
    // A step that is calling cancel() has not yet recorded what it returned.
    h.block_on(until(|| {
        !ctx.cancelling.load(Ordering::SeqCst) || ctx.cancel_result().is_some()
    }));
    if instance.cancel() {
        problems.push("cancel() returned true after the job ended".to_owned());
    }
    let snapshot = instance.snapshot();
    match instance.events() {
        Ok(events) => {
            let events: Vec<_> = futures::executor::block_on(futures::StreamExt::collect(events));
            problems.extend(
                crate::suite::events::check_log(&events, &snapshot, &result)
                    .into_iter()
                    .map(|problem| format!("event log: {problem}")),
            );
        }
        Err(error) => problems.push(format!("event log: {error}")),
    }
    drop(guard);

    // The step the executor refused, if it refused one: the model then fails it, unstarted.
    let spawn_failed: Vec<usize> = (0..snapshot.steps.len())
        .filter(|&i| {
            snapshot.steps[i].error.as_ref().is_some_and(|e| {
                e.kind() == JobErrorKind::SpawnFailed && e.step() == Some(&*format!("s{i}"))
            })
        })
        .collect();
    let failed_spawns = faults.map_or(0, |faults| (faults.count)());
    let refused = match (armed && failed_spawns > 0, spawn_failed.as_slice()) {
        (false, []) => None,
        (true, [step]) => Some(*step),
        (_, steps) => {
            problems.push(format!(
                "steps {steps:?} failed to spawn; the executor failed {failed_spawns} spawns"
            ));
            steps.first().copied()
        }
    };
    let model = if refused.is_some() {
        model(dag, refused)
    } else {
        base
    };
    let injected_cancel = ctx.cancel_result();
    // Did an injected cancellation take effect? Then the job's outcome is cut short.
    let weak = match inject {
        Inject::None | Inject::SpawnFault(_) => false,
        Inject::Cancel(_) => injected_cancel == Some(true),
        Inject::FailFast => !model.failed.is_empty(),
        Inject::Deadline(At::Start) => true,
        Inject::Deadline(_) => ctx.deadline_released.load(Ordering::SeqCst),
    };
    if !weak {
        if unfinished && !own_cancel {
            problems.push("cancel() returned false on a job with hanging steps".to_owned());
        }
        if unfinished != (model.hanging > 0) {
            problems.push(format!(
                "the job {} by itself; the model: {} steps hang",
                if unfinished { "did not end" } else { "ended" },
                model.hanging
            ));
        }
    }

    let snapshot_ok = check_job(
        &mut problems,
        &snapshot,
        &result,
        JobCancels {
            own: own_cancel,
            injected: injected_cancel,
            deadline: matches!(inject, Inject::Deadline(_)),
        },
        dag.steps.len(),
    );
    if snapshot_ok {
        check_steps(
            &mut problems,
            dag,
            &model,
            &ctx,
            &snapshot,
            &timer,
            weak,
            &calls_at_wait,
        );
        for (i, handle) in handles.iter().enumerate() {
            let out = instance.output(handle);
            let expected =
                (snapshot.steps[i].state == StepState::Succeeded).then_some(model.steps[i].value);
            if out != expected {
                problems.push(format!(
                    "s{i}: output {out:?} in state {}, the model: {expected:?}",
                    snapshot.steps[i].state
                ));
            }
        }
    }

    // Let the executor run on until the job has let go of its input (every step future, driver
    // and the run itself dropped): no step function may have been called meanwhile.
    drop(instance);
    let draining = std::time::Instant::now();
    h.block_on(until(|| {
        Arc::strong_count(&ctx) == 1 || draining.elapsed() > DRAIN_LIMIT
    }));
    if Arc::strong_count(&ctx) > 1 {
        problems.push(format!(
            "{DRAIN_LIMIT:?} after wait() returned, the job still holds its input ({} references): \
             a step, a driver or the run outlives the job",
            Arc::strong_count(&ctx) - 1
        ));
    }
    for (i, (log, &at_wait)) in ctx.steps.iter().zip(&calls_at_wait).enumerate() {
        let now = log.calls.load(Ordering::SeqCst);
        if now != at_wait {
            problems.push(format!(
                "s{i}: its function was called {} more times after wait() returned",
                now - at_wait
            ));
        }
    }
    // A deadline task still waiting (it should have ended with the job) may end now.
    timer.release(DEADLINE);
    problems.extend(ctx.problems());
    problems
}

/// The cancellations of a case, and what they returned.
struct JobCancels {
    /// The test's own `cancel()` of a job left with hanging steps took effect.
    own: bool,
    /// What the injected `cancel()` returned, if it was called.
    injected: Option<bool>,
    /// A deadline was set.
    deadline: bool,
}

/// Checks the job as a whole: finished, every step final, and `wait()`'s result that of the
/// first failed step in definition order, else of the cancellation that took effect. `false`
/// if the snapshot has not one step per step of the DAG (nothing more can be checked).
fn check_job(
    problems: &mut Vec<String>,
    snapshot: &asyncjob::JobSnapshot,
    result: &Result<(), JobError>,
    cancels: JobCancels,
    steps: usize,
) -> bool {
    if !snapshot.finished {
        problems.push("the snapshot after wait() is not finished".to_owned());
    }
    if snapshot.error.as_ref().map(kind_of) != result.as_ref().err().map(kind_of) {
        problems.push("snapshot.error differs from wait()'s error".to_owned());
    }
    for (i, step) in snapshot.steps.iter().enumerate() {
        if !step.state.is_finished() {
            problems.push(format!(
                "s{i}: {} when wait() returned (not a final state)",
                step.state
            ));
        }
    }
    let first_failed = snapshot
        .steps
        .iter()
        .position(|s| s.state == StepState::Failed);
    let cancelled = snapshot
        .steps
        .iter()
        .any(|s| s.state == StepState::Cancelled);
    for (what, took_effect) in [
        ("the test's own cancel()", cancels.own),
        ("the injected cancel()", cancels.injected == Some(true)),
    ] {
        if took_effect && !cancelled && first_failed.is_none() {
            problems.push(format!(
                "{what} returned true, yet no step was cancelled and none failed"
            ));
        }
    }
    match (result, first_failed) {
        (Err(error), Some(f)) => {
            let own = snapshot.steps[f].error.as_ref();
            let same = own.is_some_and(|own| {
                error.step() == own.step()
                    && error.kind() == own.kind()
                    && error.attempts() == own.attempts()
            });
            if !same {
                problems.push(format!(
                    "wait(): {}; the first failed step in definition order is s{f}: {:?}",
                    kind_of(error),
                    own.map(kind_of)
                ));
            }
        }
        (Ok(()), Some(f)) => problems.push(format!("wait(): Ok, but s{f} failed")),
        (result, None) if cancelled => {
            let reason = if cancels.own || cancels.injected == Some(true) {
                Some(JobErrorKind::Cancelled)
            } else if cancels.deadline {
                Some(JobErrorKind::DeadlineExceeded)
            } else {
                problems.push("steps were cancelled, but nothing cancelled the job".to_owned());
                None
            };
            let fits = result
                .as_ref()
                .err()
                .is_some_and(|e| Some(e.kind()) == reason && e.step().is_none());
            if reason.is_some() && !fits {
                problems.push(format!(
                    "wait(): {:?}; the model: the job's own {reason:?} error",
                    result.as_ref().map_err(kind_of)
                ));
            }
        }
        (Err(error), None) => problems.push(format!(
            "wait(): {}, but no step failed or was cancelled",
            kind_of(error)
        )),
        (Ok(()), None) => {}
    }
    if snapshot.steps.len() != steps {
        problems.push(format!("{} steps in the snapshot", snapshot.steps.len()));
        return false;
    }
    true
}

/// Checks every step against the model: exactly, or (`weak`: a cancellation took effect) as the
/// model says or `Cancelled` after no more attempts than the model's.
#[allow(clippy::too_many_arguments)]
fn check_steps(
    problems: &mut Vec<String>,
    dag: &Dag,
    model: &Model,
    ctx: &Ctx,
    snapshot: &asyncjob::JobSnapshot,
    timer: &RecordingTimer,
    weak: bool,
    calls_at_wait: &[u32],
) {
    let sleeps = timer.sleeps();
    let mut sleeps_by_length: HashMap<Duration, usize> = HashMap::new();
    for sleep in &sleeps {
        *sleeps_by_length.entry(*sleep).or_default() += 1;
    }
    if matches!(dag.inject, Inject::Deadline(_)) {
        let asked = sleeps_by_length.remove(&DEADLINE).unwrap_or(0);
        if asked > 1 {
            problems.push(format!("{asked} deadline sleeps for one job"));
        }
    }

    for (i, ((step, expect), snap)) in dag
        .steps
        .iter()
        .zip(&model.steps)
        .zip(&snapshot.steps)
        .enumerate()
    {
        let mut wrong = |what: String| problems.push(format!("s{i}: {what}"));
        let log = &ctx.steps[i];
        // Cut short by the cancellation: it may have ended before the model's last attempt.
        let cut = weak && snap.state == StepState::Cancelled;
        if snap.state != expect.state && !cut {
            wrong(format!("state {}, the model: {}", snap.state, expect.state));
        }
        if cut && snap.attempts > expect.attempts {
            wrong(format!(
                "cancelled after {} attempts, the model: at most {}",
                snap.attempts, expect.attempts
            ));
        }
        if !cut && snap.attempts != expect.attempts {
            wrong(format!(
                "{} attempts in the snapshot, the model: {}",
                snap.attempts, expect.attempts
            ));
        }
        let calls = calls_at_wait[i];
        if calls != snap.attempts {
            wrong(format!(
                "the function ran {calls} times, the snapshot counts {} attempts",
                snap.attempts
            ));
        }
        // The retried attempts: all but the last, and (cut in its back-off) the last too.
        let retried_range = if cut {
            snap.attempts.saturating_sub(1) as usize..=snap.attempts as usize
        } else {
            let retried = expect.attempts.saturating_sub(1) as usize;
            retried..=retried
        };
        let retried = snap.retried.len();
        if !retried_range.contains(&retried) {
            wrong(format!(
                "{retried} retried attempts, the model: {retried_range:?}"
            ));
        }
        for (n, attempt) in snap.retried.iter().enumerate() {
            let number = n as u32 + 1;
            let (kind, expected) = match step.attempt(number) {
                Attempt::Err(_) => (Some(JobErrorKind::StepFailed), error_text(i, number)),
                Attempt::Panic(_) => (
                    Some(JobErrorKind::StepPanicked),
                    panic_text(i, number, "in the future"),
                ),
                Attempt::PanicInFn => (
                    Some(JobErrorKind::StepPanicked),
                    panic_text(i, number, "in the step function"),
                ),
                Attempt::Hang => (Some(JobErrorKind::TimedOut), "timed out".to_owned()),
                Attempt::Ok(_) => (None, "(no failure: it succeeded)".to_owned()),
            };
            // The retried attempt's error is typed: its kind, the step, the attempt's number,
            // and (with `{:#}`) the step's own error text.
            let error = &attempt.error;
            let text = format!("{error:#}");
            if attempt.attempt != number
                || Some(error.kind()) != kind
                || error.step() != Some(&*snap.name)
                || error.attempts() != number
                || !text.contains(&expected)
            {
                wrong(format!(
                    "retried attempt {n}: #{} {:?} {text:?} (attempts {}), the model: #{number} \
                     {kind:?} {expected:?}",
                    attempt.attempt,
                    error.kind(),
                    error.attempts()
                ));
            }
        }
        if snap.data_dependencies != step.data || snap.ordering_dependencies != step.order {
            wrong(format!(
                "dependencies {:?} / {:?}, built as {:?} / {:?}",
                snap.data_dependencies, snap.ordering_dependencies, step.data, step.order
            ));
        }
        // A step cut short may have been cancelled after it started, before its first attempt.
        let started_unattempted = cut && snap.attempts == 0;
        if snap.started_at.is_some() != (snap.attempts > 0) && !started_unattempted {
            wrong(format!(
                "started_at {:?} after {} attempts",
                snap.started_at, snap.attempts
            ));
        }
        let hanging = log.hanging.load(Ordering::SeqCst);
        // (Cut short, a step may be cancelled before it begins to hang.)
        let may_not_hang = cut && !hanging;
        if hanging != expect.hangs && !may_not_hang {
            wrong(format!("hung: {hanging}, the model: {}", expect.hangs));
        }
        // The step's error.
        match (snap.state, &snap.error) {
            (StepState::Succeeded, None) => {}
            (StepState::Failed, Some(error)) => {
                let spawn_failed = expect.kind == Some(JobErrorKind::SpawnFailed);
                // (A step that never started has no attempts to count in its error.)
                if error.step() != Some(&*format!("s{i}"))
                    || Some(error.kind()) != expect.kind
                    || (error.attempts() != expect.attempts && !spawn_failed)
                {
                    wrong(format!(
                        "error {} after {}, the model: {:?} after {}",
                        kind_of(error),
                        error.attempts(),
                        expect.kind,
                        expect.attempts
                    ));
                }
                let last = step.attempt(expect.attempts);
                let text = match last {
                    _ if spawn_failed => None,
                    Attempt::Err(_) => error.step_error().map(|e| e.to_string()),
                    Attempt::Panic(_) | Attempt::PanicInFn => {
                        error.panic_message().map(str::to_owned)
                    }
                    _ => None,
                };
                let expected = match last {
                    _ if spawn_failed => None,
                    Attempt::Err(_) => Some(error_text(i, expect.attempts)),
                    Attempt::Panic(_) => Some(panic_text(i, expect.attempts, "in the future")),
                    Attempt::PanicInFn => {
                        Some(panic_text(i, expect.attempts, "in the step function"))
                    }
                    _ => None,
                };
                if text != expected {
                    wrong(format!("error text {text:?}, the model: {expected:?}"));
                }
            }
            (StepState::Skipped, Some(error)) => {
                let cause = error.root_cause();
                let root = (0..dag.steps.len()).find(|&p| Some(&*format!("s{p}")) == cause.step());
                let fits = root.is_some_and(|p| {
                    expect.failed_above.contains(&p)
                        && snapshot.steps[p].state == StepState::Failed
                        && Some(cause.kind()) == model.steps[p].kind
                });
                if error.kind() != JobErrorKind::DependencyFailed
                    || error.step() != Some(&*format!("s{i}"))
                    || !fits
                {
                    wrong(format!(
                        "error {}, root cause {}; the model: skipped because of one of {:?}",
                        kind_of(error),
                        kind_of(cause),
                        expect.failed_above
                    ));
                }
            }
            (StepState::Cancelled, Some(error)) => {
                if error.kind() != JobErrorKind::Cancelled {
                    wrong(format!("error {}, the model: Cancelled", kind_of(error)));
                }
            }
            (state, error) => wrong(format!(
                "error {:?} in state {state}",
                error.as_ref().map(kind_of)
            )),
        }
        // Dependencies had succeeded before the first attempt started.
        let start = log.first_start.load(Ordering::SeqCst);
        if start != 0 {
            for &p in step.data.iter().chain(&step.order) {
                let parent_end = ctx.steps[p].ok_end.load(Ordering::SeqCst);
                if parent_end == 0 || parent_end >= start {
                    wrong(format!(
                        "started at tick {start}, but its dependency s{p} succeeded at tick {parent_end}"
                    ));
                }
            }
        }
        // The back-off sleeps: one per retried attempt (none for a zero delay).
        if step.retry.is_some() && !step.backoff.is_zero() {
            let asked = sleeps_by_length.remove(&step.backoff).unwrap_or(0);
            // Cut in its back-off, a step may have recorded the failed attempt and not asked
            // for the sleep yet, or the other way round.
            let fits = if cut {
                (snap.attempts.saturating_sub(1) as usize..=snap.attempts as usize).contains(&asked)
            } else {
                asked == retried
            };
            if !fits {
                wrong(format!(
                    "{asked} back-off sleeps of {:?}, for {retried} retried attempts",
                    step.backoff
                ));
            }
        }
        // The timeouts: at least one per attempt that timed out, at most one per attempt.
        if let Some(limit) = step.timeout {
            let asked = sleeps_by_length.remove(&limit).unwrap_or(0);
            let attempts = 1..=snap.attempts;
            // The last attempt of a step cut short may have been cut before it timed out.
            let timed_out = attempts
                .clone()
                .filter(|&n| step.attempt(n) == Attempt::Hang && !(cut && n == snap.attempts))
                .count();
            let at_most = attempts
                .filter(|&n| step.attempt(n) != Attempt::PanicInFn)
                .count();
            if asked < timed_out || asked > at_most {
                wrong(format!(
                    "{asked} timeout sleeps of {limit:?}, the model: {timed_out} to {at_most}"
                ));
            }
        }
    }
    if !sleeps_by_length.is_empty() {
        problems.push(format!("unexpected sleeps: {sleeps_by_length:?}"));
    }
}

/// Stops the process, naming the case, if a case makes no progress for a long time: a hang
/// becomes a failure that says which DAG hung.
struct Stall {
    current: Arc<Mutex<String>>,
    done: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
}

impl Stall {
    const LIMIT: Duration = Duration::from_secs(15);

    fn new(executor: String) -> Self {
        let current = Arc::new(Mutex::new(String::new()));
        let done = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let (watched, progress) = (current.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = u64::MAX;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::LIMIT) {
                let now = progress.load(Ordering::SeqCst);
                if now == last {
                    let case = watched.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    eprintln!(
                        "random_dags_match_the_model on {executor}: a case made no progress for \
                         {:?} (seed {}): aborting. The case:\n{case}",
                        Self::LIMIT,
                        model_seed()
                    );
                    std::process::exit(101);
                }
                last = now;
            }
        });
        Stall {
            current,
            done,
            stop: Some(stop),
        }
    }

    fn case(&self, dag: &Dag) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = dag.to_string();
    }

    fn done(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Random DAGs of up to [`MAX_STEPS`] steps, with every kind of dependency, errors, panics,
/// hangs, retries and timeouts, end exactly as a reference model says; with a `cancel()`,
/// fail-fast or a deadline injected at a random point in some of them, the job meets the
/// invariants a cancellation leaves.
///
/// [`model_cases`] cases (`ASYNCJOB_MODEL_CASES`, 256 by default), drawn from a fixed seed
/// ([`DEFAULT_SEED`], or `ASYNCJOB_MODEL_SEED`). The model, the checks and the shrinking of a
/// failing DAG are described at the top of `src/model.rs`.
pub fn random_dags_match_the_model<S: Starts>(h: &S) {
    run_model(
        h,
        "random_dags_match_the_model",
        Dags {
            spawn_faults: false,
        },
        None,
    );
}

/// [`random_dags_match_the_model`] on a harness whose executor fails one spawn of a case (it
/// refuses it, or panics in it: see [`Faulty`](crate::Faulty)), at a random point: the
/// refused step must fail with `SpawnFailed` before its first attempt and the steps that
/// depend on it be skipped; everything else ends as the model says.
pub fn random_dags_match_the_model_with_spawn_faults<H>(h: &H)
where
    H: FaultyHarness,
{
    let arm = |n: usize| h.arm(n);
    let count = || h.faults();
    run_model(
        &InMode::<_, Sendable>::new(h),
        "random_dags_match_the_model_with_spawn_faults",
        Dags { spawn_faults: true },
        Some(&SpawnFaults {
            arm: &arm,
            count: &count,
        }),
    );
}

fn run_model<S: Starts>(h: &S, test: &str, dags: Dags, faults: Option<&SpawnFaults<'_>>) {
    quiet_deliberate_panics();
    let cases = model_cases();
    let seed = model_seed();
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 10_000,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let stall = Stall::new(h.name().to_owned());
    let count = AtomicU64::new(0);
    let first_failure = AtomicU64::new(0);
    let result = runner.run(&dags, |dag| {
        let number = count.fetch_add(1, Ordering::SeqCst) + 1;
        stall.case(&dag);
        let problems = run_case(h, &dag, faults);
        stall.done();
        if problems.is_empty() {
            Ok(())
        } else {
            let _ = first_failure.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
            let shown = problems.len().min(20);
            let mut message = problems[..shown].join("\n");
            if problems.len() > shown {
                message.push_str(&format!("\n… and {} more", problems.len() - shown));
            }
            Err(TestCaseError::fail(message))
        }
    });
    drop(stall);
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, dag)) => panic!(
            "{test} failed on {}: case {} of {cases} (seed {seed}) did not \
             match the model; shrunk to this DAG of {} steps:\n{}\n{reason}\n\
             Run it again with ASYNCJOB_MODEL_SEED={seed} ASYNCJOB_MODEL_CASES={cases}.",
            h.name(),
            first_failure.load(Ordering::SeqCst),
            dag.steps.len(),
            dag,
        ),
        Err(TestError::Abort(reason)) => {
            panic!("{test} aborted on {} (seed {seed}): {reason}", h.name())
        }
    }
}
