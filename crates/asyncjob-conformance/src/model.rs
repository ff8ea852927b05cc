//! A model-based property test: random DAGs, run by the engine, checked against a plain
//! reference model of what every step should end as.
//!
//! [`random_dags_match_the_model`] generates (with [`proptest`]) job graphs of 1 to
//! [`MAX_STEPS`] steps. Step `i` depends only on steps before it, through every kind of
//! dependency: none, one handle, tuples of 2, 3 and 4 handles, a `Vec` of 0 to 6 handles
//! (`after(&vec)`), and ordering-only edges (`wait_for`, with one handle, a `Vec`, a tuple of
//! one `Vec` per kind, or one call per handle, before or after `after`). A dependency may be
//! taken as [`optional`](asyncjob::optional) or with [`allow_failure`](asyncjob::allow_failure):
//! alone (`after(optional(&a))`), in a `Vec` of one kind, in a mixed tuple
//! (`after((optional(&a), &b))`), in a nested one (`after((allow_failure(&a), (&b,
//! optional(&c))))`), in a tuple of one `Vec` per kind, and in `wait_for`. Each step outputs a
//! `u64` derived from its index and what it received, and records what that was: for each data
//! dependency, its output, `None`, or its error.
//!
//! Each step follows a *script*, one entry per attempt (the last one repeats): succeed, return
//! an error or panic (each after 0 to 3 `yield_now`s, never a wall-clock wait), panic while the
//! step function is called (before it returns its future), or hang until cancelled. A step may
//! have a retry policy (`Retry::fixed(n, d)`, `n` from 1 to 4) and a timeout. Timers are a
//! [`RecordingTimer`](crate::RecordingTimer): back-offs and timeouts complete at once, so a step
//! with a timeout is only given attempts that hang (and time out) or that end on their first
//! poll (which the engine polls before the timer, so they are not cut). A step may also have a
//! condition (`when`: over the job input for a root, over the input and its parents' outputs
//! for the others) that holds, does not hold or panics, and a fallback that makes the step's
//! output from its error or panics. A case draws one profile of how many steps fail (0 to 10 %)
//! and one of how many dependencies are optional or tolerant (0 to 60 %), how many steps have a
//! condition (0 to 15 %) or a fallback (0 to 40 %): none at all in one case in four, the plain
//! DAGs of the first model. Where there are any, the edges to a step that fails are mostly
//! tolerant and those to a step that is omitted mostly optional, and a step that fails has a
//! fallback a quarter of the time at least, so that tolerated failures, best-effort steps and
//! recoveries are common enough to be met in every run. One case in six runs in sequential mode
//! (`JobOptions::sequential`).
//!
//! # Limits, priorities and map steps
//!
//! Drawn apart from the steps, from one random `u128` per case (`draw_limits`, `draw_maps`),
//! and kept by the shrinking (but for a step's limits and priority, which it simplifies away):
//!
//! - 0 to 3 [`Limit`](asyncjob::Limit)s of 1 to 4 permits; a share of the steps (a quarter to
//!   nine tenths) needs one or two of them, a third have a priority from -5 to 5, one case in
//!   four has a `max_running` cap. A step that may hang without a timeout needs none, and the
//!   cap is above their number (their permits come back only when the test cancels them). Each
//!   step future holds its place in a gauge per limit it needs, and in the cap's, while it
//!   exists: the gauges are checked against the permits at every start (`Holding`); every
//!   limit is whole when `wait()` returns. Limits change no outcome: the model is the same.
//! - In half the cases, 1 to 3 map steps defined after the DAG's steps: `m{j} list` after a
//!   random step makes 0 to 50 items, `m{j}` maps over them (each item fails every attempt or
//!   0 to 3 times first, under the map's `retry`; its items may need a limit, run a few at a
//!   time), `m{j} sum` takes its output. `check_maps` predicts every item's state and attempts,
//!   the map's end (failed after a failed item, whose error is its root cause; an empty list is
//!   a success with `[]`) and its sum's, each given how its dependency ended; cut short by a
//!   cancellation, a step or an item may end `Cancelled` instead. No DAG step depends on a map
//!   (their outputs are `u64`s); the spawn-fault variant draws no maps.
//!
//! # Sub-jobs
//!
//! One case in four (from the bits of the case's `mode` draw, so it replays and shrinks; never
//! with spawn faults, and then without maps) runs its DAG as a sub-job (`SubJob`): sealed
//! with its last step as the result, spliced into a parent definition after a root entry step
//! (`job.step("sub").job(&dag, |input| input)`, index 0), and, half the time, followed by a
//! parent step `then` after the result's handle. The model is the DAG's own: step `i` runs as
//! `sub/s{i}` at index `i + 1` and must end exactly as it would alone (`dag_steps` gives the
//! checks the snapshots shifted back, the edge to the entry dropped; every injection and tick
//! is the same); the job's outcome is the same step's. `check_parent` checks the rest: the
//! entry succeeded once (or was cut short), each root of the sub-job depends on it,
//! `StepSnapshot::sub_job` is the entry's index for the sub-job's steps and `None` for the
//! parent's, and `then` ends as a plain dependent of the result step (`Succeeded` with its
//! output; else `Skipped`, `Omitted`, or `Cancelled`, also in sequential mode after a cancelled
//! step). The parent instance cannot read the inner steps through the sub-job's handles: their
//! outputs are those their functions made from what they received (the result step's is read
//! through the parent's handle).
//!
//! # The model
//!
//! Which of two causes reaches a step first (two failed dependencies; a failure that skips it
//! and an omission that omits it) is a race the model does not predict, and what the step's
//! dependents receive follows from it. So the model judges each step given how its
//! dependencies ended in the run, themselves judged first (in definition order: every step is
//! checked). Step `i` ends as:
//!
//! - **Skipped** (0 attempts) if a dependency it takes plainly or as optional failed or was
//!   skipped, or **Omitted** (0 attempts) if one it takes plainly was omitted; its error is
//!   `DependencyFailed` or `Omitted`, names the step, and its root cause is that of one of those
//!   dependencies' errors (exactly that one's, when there is only one such dependency).
//! - else **Cancelled** (0 attempts) if a dependency hangs or was cancelled (whatever the edge),
//!   or in sequential mode an earlier step did: the test cancels the instance once every other
//!   step has ended and the hanging steps are running.
//! - else it starts, and its condition and function receive, per data dependency, its output
//!   (it succeeded or recovered), `None` (omitted, taken as optional) or its error (taken with
//!   `allow_failure`). If its condition does not hold the step ends **Omitted** (no attempt, its
//!   function never called, an `Omitted` error naming itself as root cause); if it panics,
//!   **Failed** (`StepPanicked`, no attempt). Else it runs its script: attempt `a` succeeds
//!   (**Succeeded**, `a` attempts), hangs without a timeout (**Cancelled** by the test, `a`
//!   attempts), or fails — an error (`StepFailed`), a panic (`StepPanicked`), or a hang cut by
//!   the timeout (`TimedOut`) — and is tried again while the retry policy allows (`a < n`); the
//!   last failure makes the step **Failed**, or, with a fallback, **Recovered** with the
//!   fallback's output (its error: the failure it recovered from), or **Failed** with
//!   `StepPanicked` if the fallback panics.
//!
//! A step whose every dependent (one at least) takes it with `allow_failure` is best-effort: its
//! failure does not count. `wait()` returns the error of the first failed step in definition
//! order that is not best-effort, else a job-level `Cancelled` error if the test had to cancel,
//! else `Ok`.
//!
//! Every case also checks that no attempt (nor condition) starts before each of its
//! dependencies has ended, nor in sequential mode before every earlier step has (a logical
//! clock ticks at the start and end of every attempt, and at every call of a condition or a
//! fallback), that attempts of a step do not overlap, that each step function, condition and
//! fallback ran exactly as many times as the model says, with the arguments (every attempt the
//! same) and the error it says, and the snapshot agrees (`attempts`, `retried`, state, errors,
//! dependencies), that outputs are readable exactly for the steps that succeeded or recovered,
//! that the back-off sleeps asked of the timer are those of the retried attempts, that the
//! event log is a valid path of the state machine for each step, with each step queued only
//! after dependencies that let it run, that every step future has been dropped when `wait()`
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
//!   tick — then the step that made the tick calls `cancel()` itself, from inside its function,
//!   its future, its condition or its fallback, on the executor's thread (local instances,
//!   which cannot cross threads, are cancelled by the test's thread as soon as it sees the
//!   tick);
//! - fail-fast (`JobOptions::fail_fast`), which a failure that counts triggers and a
//!   best-effort one must not;
//! - a deadline, on a [`RecordingTimer::holding`](crate::RecordingTimer::holding) only the
//!   deadline's sleep: over at once (the deadline task cancels while `start` is still
//!   scheduling the roots), released by another thread at the moment `start` is called, or
//!   released by the step that makes a random tick.
//!
//! If the cancellation took effect (`cancel()` returned true; fail-fast with a failure that
//! counts; the deadline's sleep was released), the job's outcome is cut short, and the model
//! predicts the invariants of a cancellation instead of every end: when `wait()` returns every
//! step is in a final state; each step ends as the model says, or `Cancelled` after no more
//! attempts (and condition and fallback calls) than the model's (a step that failed ended as
//! the model says: a cancellation never turns into a failure); attempts, retried records,
//! back-off sleeps and timeouts agree with the attempts made; outputs are readable exactly for
//! the steps that succeeded or recovered; no step function is called after `wait()` returned;
//! `wait()` returns the error of the first failed step in definition order that counts, else
//! the cancellation's (`Cancelled`, or `DeadlineExceeded` for the deadline, both job-level); a
//! `cancel()` that returned true left a step cancelled or failed. A `cancel()` that returned
//! false (the job had ended), fail-fast without a failure that counts, or a deadline never
//! released must leave the outcome the model's, exactly.
//!
//! # Spawn faults
//!
//! [`random_dags_match_the_model_with_spawn_faults`] runs the same DAGs (never in sequential
//! mode) on a [`FaultyHarness`](crate::FaultyHarness), whose executor fails the `n`-th spawn of
//! the job (refuses it or panics in it; `n` random, mostly among the first four): the step
//! whose driver was refused must fail with `SpawnFailed` before its first attempt (and without
//! calling its condition or its fallback), the steps that depend on it be skipped (or, taking
//! it with `allow_failure`, receive its error), everything else end as the model says; no panic
//! may reach `start` or `wait()`.
//!
//! # Size and reproduction
//!
//! 256 cases per executor by default (about 100 steps each on average; about 2 s per executor
//! in a debug build on 2 loaded cores, where the first model took 2.5 to 3 s: drawing the DAGs
//! took most of that, and draws with XorShift now rather than ChaCha);
//! `ASYNCJOB_MODEL_CASES=10000` runs more (the suite's watchdog limit grows with it; 5,000
//! cases take 55 s on smol's two executors, 58 s on tokio's and 41 s on the local executor's
//! two modes, each pair run at once, debug build, 2 loaded cores). The
//! generator's seed is fixed ([`DEFAULT_SEED`]), so every run draws the same DAGs;
//! `ASYNCJOB_MODEL_SEED=<u64>` draws others. The test waits for the job without a clock: a case
//! that stops making progress for 15 to 30 s is printed before the process aborts.
//!
//! A failing DAG is shrunk by a graph-aware proptest value tree: first without its injection
//! (if it still fails, the injection was not needed), then run alone rather than as a
//! sub-job, then in parallel mode, then to its
//! shortest failing prefix (by bisection: a prefix of the DAG is the same graph cut short),
//! then without each step it can do without (edges to it dropped, later steps renumbered), then
//! with each step made simpler (plain, without ordering or data dependencies, without yields,
//! without its condition or its fallback, with plain edges). It is printed, one line per step,
//! with the problems found and the seed. Nothing is written to disk (failure persistence is
//! off).
//!
//! ```sh
//! cargo test -p asyncjob-tokio --test conformance random_dags
//! ASYNCJOB_MODEL_CASES=10000 cargo test -p asyncjob-local --test conformance random_dags
//! ASYNCJOB_MODEL_SEED=1 cargo test -p asyncjob-smol --test conformance random_dags
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak, mpsc};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{
    DefinitionError, JobBuilder, JobError, JobErrorKind, JobInstance, JobOptions, JobSnapshot,
    Limit, Local, Mode, NoParents, Parents, SendParents, Sendable, StepBuilder, StepHandle,
    StepSnapshot, StepState, allow_failure, optional,
};
use futures::future::BoxFuture;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};

use crate::suite::events::Edge;
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

/// A step's condition (`when`), by what it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    /// It holds: the step runs.
    Holds,
    /// It does not hold: the step is omitted.
    Fails,
    /// It panics: the step fails.
    Panics,
}

/// A step's fallback, by what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// It makes the step's output.
    Value,
    /// It panics: the step fails.
    Panics,
}

/// How a step takes the outputs of its parents: what it passes to `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fan {
    None,
    /// `after(&a)`, `after(optional(&a))` or `after(allow_failure(&a))`.
    One(Edge),
    /// `after((&a, &b))`.
    Two,
    /// `after((optional(&a), &b))`.
    TwoMixed,
    /// `after((&a, &b, &c))`.
    Three,
    /// `after((allow_failure(&a), (&b, optional(&c))))`: mixed, and nested.
    Triple,
    /// `after((&a, &b, &c, &d))`.
    Four,
    /// `after(vec)`, a `Vec` of up to this many handles (possibly none), all of one kind.
    Vec(Edge, usize),
    /// `after((plain, optional, tolerant))`, a tuple of three `Vec`s (each possibly empty), of
    /// up to this many handles in all: the dependencies of each kind, in that order.
    Groups(usize),
}

impl Fan {
    /// How many parents it takes (at most, for the `Vec`s).
    fn arity(self) -> usize {
        match self {
            Fan::None => 0,
            Fan::One(_) => 1,
            Fan::Two | Fan::TwoMixed => 2,
            Fan::Three | Fan::Triple => 3,
            Fan::Four => 4,
            Fan::Vec(_, n) | Fan::Groups(n) => n,
        }
    }

    /// The kind of the edge in each position of a tuple (`None` for the `Vec`s, whose kinds are
    /// drawn).
    fn pattern(self) -> Option<&'static [Edge]> {
        use Edge::{Optional, Strict, Tolerant};
        Some(match self {
            Fan::None => &[],
            Fan::One(Strict) => &[Strict],
            Fan::One(Optional) => &[Optional],
            Fan::One(Tolerant) => &[Tolerant],
            Fan::Two => &[Strict, Strict],
            Fan::TwoMixed => &[Optional, Strict],
            Fan::Three => &[Strict, Strict, Strict],
            Fan::Triple => &[Tolerant, Strict, Optional],
            Fan::Four => &[Strict, Strict, Strict, Strict],
            Fan::Vec(..) | Fan::Groups(_) => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Fan::None => "nothing",
            Fan::One(_) => "one",
            Fan::Two | Fan::Three | Fan::Four => "tuple",
            Fan::TwoMixed | Fan::Triple => "mixed tuple",
            Fan::Vec(..) => "vec",
            Fan::Groups(_) => "vec per kind",
        }
    }
}

/// A step as generated: dependencies as raw picks, resolved against the step's position (so
/// that shrinking, which removes steps, keeps every graph valid).
#[derive(Debug, Clone)]
struct StepSpec {
    fan: Fan,
    data: Vec<Index>,
    order: Vec<Index>,
    /// Per thousand, what decides the kind of the edges a fan does not fix ([`edge_kind`]): 6
    /// for data dependencies, then 3 for ordering.
    edges: Vec<u32>,
    /// Bit 0: one `wait_for` call per handle; bit 1: `wait_for` before `after`; bit 2: zero
    /// back-off delay; bit 3: policies set before the dependencies.
    flags: u8,
    behaviour: Behaviour,
    condition: Option<Cond>,
    fallback: Option<Recovery>,
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
    /// Edges taken as optional or with `allow_failure`, per thousand (see [`edge_kind`]).
    soft: u32,
    steps: Vec<StepSpec>,
}

/// A step with its dependencies resolved to indices of earlier steps.
#[derive(Debug, Clone)]
struct Step {
    fan: Fan,
    /// The data dependencies, in the order the step receives them, and how it takes each.
    data: Vec<usize>,
    data_edges: Vec<Edge>,
    /// The ordering dependencies, in the order they are given, and how it takes each.
    order: Vec<usize>,
    order_edges: Vec<Edge>,
    order_per_handle: bool,
    order_first: bool,
    policies_first: bool,
    backoff: Duration,
    timeout: Option<Duration>,
    retry: Option<u32>,
    script: Vec<Attempt>,
    condition: Option<Cond>,
    fallback: Option<Recovery>,
    /// The limits it needs (indices into [`Dag::limits`], distinct, at most two).
    needs: Vec<usize>,
    /// Its priority (`StepBuilder::priority`; 0, the default, is not set).
    priority: i32,
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

    /// Every dependency, data then ordering, with how the step takes it.
    fn deps(&self) -> impl Iterator<Item = (usize, Edge)> + '_ {
        let data = self
            .data
            .iter()
            .copied()
            .zip(self.data_edges.iter().copied());
        let order = self
            .order
            .iter()
            .copied()
            .zip(self.order_edges.iter().copied());
        data.chain(order)
    }

    /// How the step takes step `dep`, if it depends on it.
    fn edge_to(&self, dep: usize) -> Option<Edge> {
        self.deps().find(|&(p, _)| p == dep).map(|(_, edge)| edge)
    }
}

#[derive(Debug, Clone)]
struct Dag {
    steps: Vec<Step>,
    /// What the case does to the job besides running it.
    inject: Inject,
    /// Run with `JobOptions::sequential`.
    sequential: bool,
    /// The permits of each limit of the case (`Limit::new`, 1 to 4 permits), which its steps
    /// may need.
    limits: Vec<usize>,
    /// `JobOptions::max_running`, if the case caps its running steps.
    max_running: Option<usize>,
    /// The map steps defined below the DAG's steps, each over a list made from one of them.
    maps: Vec<MapCase>,
    /// Run as a sub-job of a parent definition, if set (see [`SubJob`]).
    sub: Option<SubJob>,
}

/// How a case runs its DAG as a sub-job: the DAG (no maps) is sealed with its last step as
/// the result, and a parent definition runs it after an entry step `sub`
/// (`job.step("sub").job(&dag, |input| input)`: index 0, the DAG's step `i` at index `i + 1`,
/// named `sub/s{i}`), and, if `then`, a final step `then` that takes the result plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SubJob {
    then: bool,
}

/// The name of the sub-job's entry step in the parent definition.
const SUB_ENTRY: &str = "sub";

/// The name of the parent's final step, after the sub-job's result.
const SUB_THEN: &str = "then";

impl Dag {
    /// The name of DAG step `i` in the job run: `s{i}`, or `sub/s{i}` in a sub-job.
    fn name(&self, i: usize) -> String {
        match self.sub {
            Some(_) => format!("{SUB_ENTRY}/s{i}"),
            None => format!("s{i}"),
        }
    }
}

/// A map step of a case, defined after the DAG's steps with two steps of its own: `m{j} list`
/// (`after` DAG step `parent`) makes a `Vec` of `len` items from the parent's output, `m{j}`
/// maps over it (each item following a script drawn from `seed`, under the map's `retry`),
/// and `m{j} sum` takes the map's output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MapCase {
    parent: usize,
    len: usize,
    /// `Retry::fixed(n, 0)` for each item.
    retry: Option<u32>,
    /// Items that fail every attempt, per thousand (the others fail 0 to 3 times first).
    fail_per_mille: u32,
    seed: u64,
    /// The limit each item needs (`MapBuilder::needs`), an index into [`Dag::limits`].
    needs: Option<usize>,
    /// `MapBuilder::limit`: items run at once.
    limit: Option<usize>,
    priority: i32,
}

impl Dag {
    /// Its first `len` steps (and the maps over them).
    fn prefix(&self, len: usize) -> Dag {
        Dag {
            steps: self.steps[..len].to_vec(),
            maps: self
                .maps
                .iter()
                .filter(|map| map.parent < len)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
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
    /// When the logical clock reaches this tick (a step starts or ends an attempt, or calls its
    /// condition or its fallback): `cancel()` is called by that step itself (from inside the
    /// step function, its future, its condition or its fallback, on the executor's thread) when
    /// the instance can cross threads, else by the test's thread as soon as it sees the tick; a
    /// deadline sleep is released by that step.
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
        let ends = self.steps.iter().map(StepSpec::end).collect::<Vec<_>>();
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, spec)| resolve_step(i, spec, self, &ends))
            .collect();
        Dag {
            steps,
            inject: Inject::None,
            sequential: false,
            limits: Vec::new(),
            max_running: None,
            maps: Vec::new(),
            sub: None,
        }
    }
}

/// How a step's own script and condition end it, if it runs: what its dependents' edges are
/// drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// With an output (it succeeds, or recovers), or it hangs.
    Output,
    /// It fails.
    Fails,
    /// Its condition does not hold.
    Omitted,
}

impl StepSpec {
    fn end(&self) -> End {
        match self.condition {
            Some(Cond::Fails) => return End::Omitted,
            Some(Cond::Panics) => return End::Fails,
            Some(Cond::Holds) | None => {}
        }
        if self.fallback == Some(Recovery::Value) || !self.behaviour.fails() {
            End::Output
        } else {
            End::Fails
        }
    }
}

impl Behaviour {
    /// Its last attempt fails (it neither succeeds nor hangs).
    fn fails(&self) -> bool {
        let attempt = |n: usize| self.script.get(n).or(self.script.last()).copied();
        let tries = self.retry.unwrap_or(1).max(1) as usize;
        (0..tries).all(|n| match attempt(n) {
            Some(Attempt::Ok(_)) | None => false,
            Some(Attempt::Hang) => self.timeout,
            Some(_) => true,
        })
    }
}

/// The kind of an edge drawn as `x` (below 1000) in a DAG with `soft` soft edges per thousand,
/// to a dependency that ends `end`: half optional and half tolerant; but when the DAG has soft
/// edges at all, an edge to a step that fails is soft 85 times in 100 (mostly tolerant), one to
/// a step that is omitted 70 times in 100 (mostly optional). A dependent that tolerates a
/// failure or an omission needs one to tolerate, and a failing step is best-effort only if
/// every dependent tolerates it.
fn edge_kind(x: u32, soft: u32, end: End) -> Edge {
    let (soft, optional) = match end {
        _ if soft == 0 => (0, 0),
        End::Output => (soft, soft / 2),
        End::Fails => (soft.max(850), soft.max(850) / 8),
        End::Omitted => (soft.max(700), soft.max(700) * 3 / 4),
    };
    if x < optional {
        Edge::Optional
    } else if x < soft {
        Edge::Tolerant
    } else {
        Edge::Strict
    }
}

/// Sorts `deps` (and their `edges` with them) by kind, plain first, keeping the order within a
/// kind: the order in which a tuple of one `Vec` per kind gives them.
fn group_by_kind(deps: &mut Vec<usize>, edges: &mut Vec<Edge>) {
    let mut pairs: Vec<(usize, Edge)> = deps.iter().copied().zip(edges.iter().copied()).collect();
    pairs.sort_by_key(|&(_, edge)| edge);
    (*deps, *edges) = pairs.into_iter().unzip();
}

/// The fan that takes exactly the dependencies `data`, with the kinds `edges`, given the fan
/// that was drawn (or was before a shrink): a `Vec` stays a `Vec` if its kinds still agree, a
/// tuple of `Vec`s stays one; anything else becomes the tuple of that pattern, or a tuple of
/// `Vec`s if there is none (which orders the dependencies by kind).
fn fit(fan: Fan, data: &mut Vec<usize>, edges: &mut Vec<Edge>) -> Fan {
    use Edge::{Optional, Strict, Tolerant};
    let n = data.len();
    match fan {
        Fan::Vec(kind, _) if edges.iter().all(|&edge| edge == kind) => return Fan::Vec(kind, n),
        Fan::Groups(_) => {
            group_by_kind(data, edges);
            return Fan::Groups(n);
        }
        _ => {}
    }
    match edges.as_slice() {
        [] => Fan::None,
        [edge] => Fan::One(*edge),
        [Strict, Strict] => Fan::Two,
        [Optional, Strict] => Fan::TwoMixed,
        [Strict, Strict, Strict] => Fan::Three,
        [Tolerant, Strict, Optional] => Fan::Triple,
        [Strict, Strict, Strict, Strict] => Fan::Four,
        _ => {
            group_by_kind(data, edges);
            Fan::Groups(n)
        }
    }
}

/// Step `i` of `dag`, whose steps end as `ends`, with its dependencies resolved.
fn resolve_step(i: usize, spec: &StepSpec, dag: &DagSpec, ends: &[End]) -> Step {
    let window = dag.window;
    let span = if window == 0 { i } else { i.min(window) };
    let pick = |index: &Index| i - 1 - index.index(span);
    // The kind of the edge drawn `k`-th, to step `p`.
    let drawn = |k: usize, p: usize| {
        let x = spec.edges.get(k).copied().unwrap_or(1000);
        edge_kind(x, dag.soft, ends[p])
    };
    let mut data: Vec<usize> = Vec::new();
    if span > 0 {
        for index in &spec.data {
            let parent = pick(index);
            if !data.contains(&parent) {
                data.push(parent);
            }
        }
    }
    data.truncate(spec.fan.arity());
    // One kind for a `Vec`: the first parent's.
    let first = data.first().map_or(Edge::Strict, |&p| drawn(0, p));
    let (fan, mut data_edges): (Fan, Vec<Edge>) = match (spec.fan, spec.fan.pattern()) {
        (Fan::One(_), _) => (Fan::One(first), vec![first; data.len()]),
        (Fan::Vec(_, n), _) => (Fan::Vec(first, n), vec![first; data.len()]),
        (fan, Some(pattern)) => (fan, pattern.iter().copied().take(data.len()).collect()),
        (fan, None) => (
            fan,
            data.iter().enumerate().map(|(k, &p)| drawn(k, p)).collect(),
        ),
    };
    // A tuple needs as many distinct parents as its arity: settle for a smaller one.
    let fan = fit(fan, &mut data, &mut data_edges);
    let mut order: Vec<usize> = Vec::new();
    let mut order_edges: Vec<Edge> = Vec::new();
    if span > 0 {
        for (k, index) in spec.order.iter().enumerate() {
            let parent = pick(index);
            if !data.contains(&parent) && !order.contains(&parent) {
                order.push(parent);
                order_edges.push(drawn(6 + k, parent));
            }
        }
    }
    let order_per_handle = spec.flags & 1 != 0;
    if !order_per_handle {
        // Given at once: one `Vec` per kind.
        group_by_kind(&mut order, &mut order_edges);
    }
    let behaviour = &spec.behaviour;
    Step {
        fan,
        data,
        data_edges,
        order,
        order_edges,
        order_per_handle,
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
        condition: spec.condition,
        fallback: spec.fallback,
        needs: Vec::new(),
        priority: 0,
    }
}

/// `[1, 3?, 4~]`: the dependencies, `?` for optional, `~` for `allow_failure`.
fn deps_text(deps: &[usize], edges: &[Edge]) -> String {
    let deps: Vec<String> = deps
        .iter()
        .zip(edges)
        .map(|(p, edge)| match edge {
            Edge::Strict => format!("{p}"),
            Edge::Optional => format!("{p}?"),
            Edge::Tolerant => format!("{p}~"),
        })
        .collect();
    format!("[{}]", deps.join(", "))
}

impl fmt::Display for Dag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  injected: {}; {} mode (p? optional(&p), p~ allow_failure(&p))",
            self.inject,
            if self.sequential {
                "sequential"
            } else {
                "parallel"
            }
        )?;
        if !self.limits.is_empty() || self.max_running.is_some() {
            let limits: Vec<String> = self
                .limits
                .iter()
                .enumerate()
                .map(|(l, permits)| format!("l{l}: {permits}"))
                .collect();
            writeln!(
                f,
                "  limits (permits): [{}]; max_running: {:?}",
                limits.join(", "),
                self.max_running
            )?;
        }
        if let Some(sub) = self.sub {
            writeln!(
                f,
                "  run as a sub-job: `{SUB_ENTRY}` (index 0) → these steps as `{SUB_ENTRY}/s<i>` \
                 (index i + 1), result s{}{}",
                self.steps.len().saturating_sub(1),
                if sub.then {
                    format!(" → `{SUB_THEN}` after it (index {})", self.steps.len() + 1)
                } else {
                    String::new()
                }
            )?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            write!(f, "  s{i}:")?;
            if step.fan != Fan::None {
                let deps = deps_text(&step.data, &step.data_edges);
                write!(f, " after {}{deps}", step.fan.name())?;
            }
            if !step.order.is_empty() {
                let how = if step.order_per_handle { "each" } else { "all" };
                let deps = deps_text(&step.order, &step.order_edges);
                write!(f, " wait_for({how}){deps}")?;
            }
            if let Some(condition) = step.condition {
                write!(f, " when({condition:?})")?;
            }
            if let Some(fallback) = step.fallback {
                write!(f, " fallback({fallback:?})")?;
            }
            if let Some(n) = step.retry {
                write!(f, " retry(fixed {n}, {:?})", step.backoff)?;
            }
            if let Some(limit) = step.timeout {
                write!(f, " timeout({limit:?})")?;
            }
            for l in &step.needs {
                write!(f, " needs(l{l})")?;
            }
            if step.priority != 0 {
                write!(f, " priority({})", step.priority)?;
            }
            writeln!(f, " script {:?}", step.script)?;
        }
        for (j, map) in self.maps.iter().enumerate() {
            writeln!(
                f,
                "  m{j}: map over {} items made by s{}: {map:?}",
                map.len, map.parent
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// How often, in a thousand steps, a step of a case ends badly (fails or hangs): a failure
/// skips everything below it, so large graphs need few of them to keep running deep.
const BAD_PER_MILLE: [u32; 4] = [0, 5, 25, 100];

/// What a case has beyond plain dependencies, per thousand: dependencies taken as optional or
/// with `allow_failure` (half each), steps with a condition, steps with a fallback. The first
/// profile has none of them: the DAGs of the first model. A condition that does not hold omits
/// everything below it that needs the step, as a failure skips it, so they stay rare.
const EXTRAS_PER_MILLE: [(u32, u32, u32); 4] =
    [(0, 0, 0), (100, 20, 100), (300, 60, 250), (600, 150, 400)];

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

/// Random bits, taken a few at a time.
struct Bits(u128);

impl Bits {
    fn take(&mut self, n: u32) -> u32 {
        let taken = (self.0 & ((1 << n) - 1)) as u32;
        self.0 >>= n;
        taken
    }

    /// A number below 1000, from 10 bits.
    fn per_mille(&mut self) -> u32 {
        (self.take(10) * 1000) >> 10
    }
}

/// What a step has beyond the shape of its dependencies, from one random `u128` (drawing is
/// the test's largest cost in a debug build: one draw does here what a dozen would): what
/// decides the kinds of its 9 edges (6 data, then 3 ordering), a condition for
/// `with_condition` steps per thousand (it holds for half of them), a fallback for
/// `with_fallback` per thousand, and for at least a quarter of those whose `behaviour` fails when
/// there are fallbacks at all (it only acts on those), and 8 bits of flags.
fn extras(
    raw: u128,
    (with_condition, with_fallback): (u32, u32),
    behaviour: &Behaviour,
) -> (Vec<u32>, Option<Cond>, Option<Recovery>, u8) {
    let mut bits = Bits(raw);
    let edges = (0..9).map(|_| bits.per_mille()).collect();
    let (x, kind) = (bits.per_mille(), bits.take(4));
    let condition = (x < with_condition).then_some(match kind {
        0..=7 => Cond::Holds,
        8..=14 => Cond::Fails,
        _ => Cond::Panics,
    });
    let (x, kind) = (bits.per_mille(), bits.take(3));
    let with_fallback = if with_fallback > 0 && behaviour.fails() {
        with_fallback.max(250)
    } else {
        with_fallback
    };
    let fallback = (x < with_fallback).then_some(if kind == 0 {
        Recovery::Panics
    } else {
        Recovery::Value
    });
    let flags = bits.take(8) as u8;
    (edges, condition, fallback, flags)
}

/// The shape of a step's data dependencies (the kind of a `One` or a `Vec` is drawn when it is
/// resolved); without soft edges (`soft` is 0), the mixed shapes are plain ones.
fn fan(soft: u32) -> impl Strategy<Value = Fan> {
    prop_oneof![
        3 => Just(Fan::None),
        6 => Just(Fan::One(Edge::Strict)),
        3 => Just(Fan::Two),
        1 => Just(Fan::TwoMixed),
        2 => Just(Fan::Three),
        1 => Just(Fan::Triple),
        1 => Just(Fan::Four),
        3 => (0usize..=6).prop_map(|n| Fan::Vec(Edge::Strict, n)),
        1 => (0usize..=6).prop_map(Fan::Groups),
    ]
    .prop_map(move |fan| match fan {
        Fan::TwoMixed if soft == 0 => Fan::Two,
        Fan::Triple if soft == 0 => Fan::Three,
        Fan::Groups(n) if soft == 0 => Fan::Vec(Edge::Strict, n),
        fan => fan,
    })
}

fn step_spec(bad_per_mille: u32, profile: (u32, u32, u32)) -> impl Strategy<Value = StepSpec> {
    (
        fan(profile.0),
        proptest::collection::vec(any::<Index>(), 6),
        prop_oneof![
            3 => Just(Vec::new()),
            2 => proptest::collection::vec(any::<Index>(), 1..=3),
        ],
        any::<u128>(),
        behaviour(bad_per_mille),
    )
        .prop_map(move |(fan, data, order, raw, behaviour)| {
            let (edges, condition, fallback, flags) =
                extras(raw, (profile.1, profile.2), &behaviour);
            StepSpec {
                fan,
                data,
                order,
                edges,
                flags,
                behaviour,
                condition,
                fallback,
            }
        })
}

fn dag_spec() -> impl Strategy<Value = DagSpec> {
    (
        0..BAD_PER_MILLE.len(),
        0..EXTRAS_PER_MILLE.len(),
        prop_oneof![Just(0usize), Just(2), Just(8)],
    )
        .prop_flat_map(|(bad, extras, window)| {
            let (bad, extras) = (BAD_PER_MILLE[bad], EXTRAS_PER_MILLE[extras]);
            proptest::collection::vec(step_spec(bad, extras), 1..=MAX_STEPS).prop_map(
                move |steps| DagSpec {
                    window,
                    soft: extras.0,
                    steps,
                },
            )
        })
}

/// Random DAGs, drawn by [`dag_spec`] and resolved, with a shrinking of their own that knows
/// they are graphs (proptest's generic shrinking of the spec would rewire every later step when
/// it removes one). A failing DAG is tried without its injection and in parallel mode, cut to
/// its shortest failing prefix (by bisection: steps depend only on earlier ones, so a prefix is
/// the same graph cut short), then loses the steps it can do without (last first, the edges to
/// them dropped), then has each remaining step made simpler.
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

impl Step {
    /// It may be left hanging until the test cancels the job (an attempt that hangs, without a
    /// timeout): a permit it held would never come back, so it needs no limit.
    fn may_hang(&self) -> bool {
        self.timeout.is_none() && self.script.contains(&Attempt::Hang)
    }
}

/// Draws, from one random `u64`, the limits of `dag` and what its steps need of them: 0 to 3
/// limits of 1 to 4 permits (none in one case in four), each step needing 0 to 2 of them (a
/// quarter, half or nine tenths of the steps need one at least, but never a step that may
/// hang), a priority from -5 to 5 for a third of the steps, and in one case in four a cap on
/// the running steps (above the number of steps that may hang, which hold their place until
/// the test cancels them; down to 1 otherwise). Drawn apart from the steps, so that drawing
/// them costs one random number per case.
fn draw_limits(dag: &mut Dag, raw: u64) {
    let mut state = raw;
    let mut next = |below: u64| {
        state = mix(state);
        state % below
    };
    let limits = next(4) as usize;
    dag.limits = (0..limits).map(|_| 1 + next(4) as usize).collect();
    let share = [250, 500, 900][next(3) as usize];
    for step in &mut dag.steps {
        step.needs.clear();
        if limits > 0 && !step.may_hang() && next(1000) < share {
            let first = next(limits as u64) as usize;
            step.needs.push(first);
            if limits > 1 && next(3) == 0 {
                let second = (first + 1 + next(limits as u64 - 1) as usize) % limits;
                step.needs.push(second);
            }
        }
        step.priority = if next(3) == 0 { next(11) as i32 - 5 } else { 0 };
    }
    dag.max_running = (next(4) == 0).then(|| {
        let hanging = dag.steps.iter().filter(|step| step.may_hang()).count();
        hanging + 1 + next(4) as usize
    });
}

/// Draws, from one random `u64`, the map steps of `dag` (after its limits): none in half the
/// cases, else 1 to 3, each over a list of 0 to 50 items made by a random step; items that fail
/// every attempt 0, 1, 5 or 20 times in a hundred (the others fail 0 to 3 times before they
/// succeed), half the maps retrying each item (2 to 4 attempts), some items needing a limit,
/// some maps running a few items at a time.
fn draw_maps(dag: &mut Dag, raw: u64) {
    let mut state = raw;
    let mut next = |below: u64| {
        state = mix(state);
        state % below
    };
    let steps = dag.steps.len() as u64;
    let maps = if next(2) == 0 { 0 } else { 1 + next(3) };
    let limits = dag.limits.len() as u64;
    dag.maps = (0..maps)
        .map(|_| MapCase {
            parent: next(steps) as usize,
            len: next(51) as usize,
            retry: (next(2) == 0).then(|| 2 + next(3) as u32),
            fail_per_mille: [0, 10, 50, 200][next(4) as usize],
            seed: next(u64::MAX),
            needs: (limits > 0 && next(2) == 0).then(|| next(limits) as usize),
            limit: (next(3) == 0).then(|| 1 + next(4) as usize),
            priority: next(11) as i32 - 5,
        })
        .collect();
}

impl Strategy for Dags {
    type Tree = DagTree;
    type Value = Dag;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let mut dag = dag_spec().new_tree(runner)?.current().resolve();
        let (kind, pick, mode, limits) = (any::<u8>(), any::<Index>(), any::<u8>(), any::<u128>())
            .new_tree(runner)?
            .current();
        draw_limits(&mut dag, limits as u64);
        // One case in four (never with spawn faults) runs the DAG as a sub-job, half of those
        // with a final parent step after its result; drawn from the bits of `mode` above the
        // six that choose sequential mode, so that existing cases keep their other draws.
        if !self.spawn_faults && (mode / 6) % 4 == 0 {
            dag.sub = Some(SubJob {
                then: (mode / 24) % 2 == 0,
            });
        }
        // (A refused spawn is checked on the DAG's steps only: no maps then; nor in a
        // sub-job, whose maps' outputs the parent's instance cannot read.)
        if !self.spawn_faults && dag.sub.is_none() {
            draw_maps(&mut dag, (limits >> 64) as u64);
        }
        dag.inject = inject(dag.steps.len(), self.spawn_faults, kind, pick);
        // In sequential mode, a job spawns one driver: spawn faults are drawn in parallel mode.
        dag.sequential = !self.spawn_faults && mode % 6 == 0;
        Ok(DagTree {
            failing: dag.clone(),
            current: dag,
            shrink: Shrink::Plain,
            trying: false,
        })
    }
}

/// Where the shrinking of a [`DagTree`] is.
#[derive(Debug, Clone, Copy)]
enum Shrink {
    /// Trying the DAG without its injection.
    Plain,
    /// Trying the DAG run alone, not as a sub-job.
    Alone,
    /// Trying the DAG in parallel mode.
    Parallel,
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

/// The ways [`Dag::simplified`] simplifies a step, numbered from 0.
const SIMPLIFICATIONS: u8 = 8;

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
                        self.shrink = Shrink::Alone;
                        continue;
                    }
                    self.current = Dag {
                        inject: Inject::None,
                        ..self.failing.clone()
                    };
                    return true;
                }
                Shrink::Alone => {
                    if self.failing.sub.is_none() {
                        self.shrink = Shrink::Parallel;
                        continue;
                    }
                    self.current = Dag {
                        sub: None,
                        ..self.failing.clone()
                    };
                    return true;
                }
                Shrink::Parallel => {
                    if !self.failing.sequential {
                        self.shrink = Shrink::Prefix { lo: n.min(1) };
                        continue;
                    }
                    self.current = Dag {
                        sequential: false,
                        ..self.failing.clone()
                    };
                    return true;
                }
                Shrink::Prefix { lo } => {
                    if lo < n {
                        let len = lo + (n - lo) / 2;
                        self.current = self.failing.prefix(len);
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
                    self.shrink = if how + 1 >= SIMPLIFICATIONS {
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
            // With its injection or without, the DAG alone is next, then parallel mode.
            Shrink::Plain => self.shrink = Shrink::Alone,
            Shrink::Alone => self.shrink = Shrink::Parallel,
            // Sequential or not, the prefixes are next.
            Shrink::Parallel => {
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
        let renumber = |deps: &[usize], edges: &[Edge]| -> (Vec<usize>, Vec<Edge>) {
            deps.iter()
                .zip(edges)
                .filter(|&(&p, _)| p != gone)
                .map(|(&p, &edge)| (if p > gone { p - 1 } else { p }, edge))
                .unzip()
        };
        let steps = self
            .steps
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != gone)
            .map(|(_, step)| {
                let mut step = step.clone();
                (step.data, step.data_edges) = renumber(&step.data, &step.data_edges);
                (step.order, step.order_edges) = renumber(&step.order, &step.order_edges);
                step.fan = fit(step.fan, &mut step.data, &mut step.data_edges);
                step
            })
            .collect();
        let maps = self
            .maps
            .iter()
            .filter(|map| map.parent != gone)
            .map(|map| MapCase {
                parent: map.parent - usize::from(map.parent > gone),
                ..map.clone()
            })
            .collect();
        Dag {
            steps,
            maps,
            ..self.clone()
        }
    }

    /// The DAG with step `i` simpler in the way numbered `how` (0: a plain success; 1: no
    /// ordering dependencies; 2: no data dependencies; 3: no yields; 4: no condition; 5: no
    /// fallback; 6: plain edges only; 7: no limits needed, no priority), or `None` if it is
    /// already.
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
            1 if !step.order.is_empty() => {
                step.order.clear();
                step.order_edges.clear();
            }
            2 if !step.data.is_empty() => {
                step.data.clear();
                step.data_edges.clear();
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
            4 if step.condition.is_some() => step.condition = None,
            5 if step.fallback.is_some() => step.fallback = None,
            6 if step.deps().any(|(_, edge)| edge != Edge::Strict) => {
                step.data_edges.fill(Edge::Strict);
                step.order_edges.fill(Edge::Strict);
                if let Fan::Vec(_, n) = step.fan {
                    step.fan = Fan::Vec(Edge::Strict, n);
                }
                step.fan = fit(step.fan, &mut step.data, &mut step.data_edges);
            }
            7 if !step.needs.is_empty() || step.priority != 0 => {
                step.needs.clear();
                step.priority = 0;
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

/// What the model expects of one step, given how its dependencies ended in the run.
#[derive(Debug, Clone)]
struct Expect {
    /// Its final state (for a step ended by its dependencies: the first of `causes`).
    state: StepState,
    /// For a step ended by its dependencies before it started: the states it may end in, with
    /// the root cause its error then has ([`identity`]), one per dependency that ends it so.
    causes: Vec<(StepState, String)>,
    /// Attempts made: calls of the step function.
    attempts: u32,
    /// The kind of its error: a failed step's; a recovered one's (what it recovered from);
    /// `Omitted` for one whose condition did not hold.
    kind: Option<JobErrorKind>,
    /// The message of that error's own cause (the step function's error, or the panic's
    /// message), for the kinds that have one.
    message: Option<String>,
    /// The kind of the failure its fallback is called with, if it is called.
    recovers: Option<JobErrorKind>,
    /// Left hanging (running, without a timeout) until the test cancels the job.
    hangs: bool,
    /// Its driver takes it, and calls its condition if it has one.
    starts: bool,
    /// What its condition and its function receive, if it starts.
    got: Vec<Got>,
    /// Its output, if it ends with one.
    value: Option<u64>,
}

impl Expect {
    /// A step that ends in `state` without starting.
    fn unstarted(state: StepState) -> Self {
        Expect {
            state,
            causes: Vec::new(),
            attempts: 0,
            kind: None,
            message: None,
            recovers: None,
            hangs: false,
            starts: false,
            got: Vec::new(),
            value: None,
        }
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A step's output: its index and what it received, in order.
fn output(index: usize, got: &[Got]) -> u64 {
    got.iter()
        .fold(mix(index as u64), |acc, got| mix(acc ^ got.value()))
}

/// The output of step `index`'s fallback.
fn fallback_value(index: usize) -> u64 {
    mix(!(index as u64))
}

/// `true` for the steps whose failure counts (it fails the job, and triggers fail-fast): all
/// but the best-effort ones, whose every dependent (one at least) takes them with
/// `allow_failure`.
fn counted_failures(dag: &Dag) -> Vec<bool> {
    let n = dag.steps.len();
    let (mut dependents, mut tolerant) = (vec![0usize; n], vec![0usize; n]);
    for step in &dag.steps {
        for (p, edge) in step.deps() {
            dependents[p] += 1;
            tolerant[p] += usize::from(edge == Edge::Tolerant);
        }
    }
    // Each map's list takes its parent plainly; the map's own three steps count.
    for map in &dag.maps {
        dependents[map.parent] += 1;
    }
    (0..n)
        .map(|i| dependents[i] == 0 || tolerant[i] < dependents[i])
        .chain(std::iter::repeat_n(true, 3 * dag.maps.len()))
        .collect()
}

/// What every step of `dag` should end as, given how the run ended its dependencies: `steps`
/// is the run's final snapshot of the steps, `outputs` their outputs, and `refused` the step
/// whose spawn the executor refused (it fails with `SpawnFailed` before it starts).
fn model(
    dag: &Dag,
    steps: &[StepSnapshot],
    outputs: &[Option<u64>],
    refused: Option<usize>,
) -> Vec<Expect> {
    let mut expects = Vec::with_capacity(dag.steps.len());
    // In sequential mode: a step before this one was cancelled (it hung, or came after one
    // that did), so this one was never reached.
    let mut halted = false;
    for (i, step) in dag.steps.iter().enumerate() {
        let mut causes = Vec::new();
        let mut blocked = dag.sequential && halted;
        for (p, edge) in step.deps() {
            let parent = &steps[p];
            let root = || {
                parent
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e| identity(e.root_cause()))
            };
            match parent.state {
                state if edge.lets_run(state) => {}
                StepState::Failed | StepState::Skipped => {
                    causes.push((StepState::Skipped, root()));
                }
                StepState::Omitted => causes.push((StepState::Omitted, root())),
                // Cancelled (or, wrongly, not final: that is reported apart).
                _ => blocked = true,
            }
        }
        halted |= steps[i].state == StepState::Cancelled;
        let expect = if let Some(&(state, _)) = causes.first() {
            Expect {
                causes,
                ..Expect::unstarted(state)
            }
        } else if blocked {
            Expect::unstarted(StepState::Cancelled)
        } else if refused == Some(i) {
            Expect {
                kind: Some(JobErrorKind::SpawnFailed),
                ..Expect::unstarted(StepState::Failed)
            }
        } else {
            let got = step
                .data
                .iter()
                .zip(&step.data_edges)
                .map(|(&p, &edge)| match steps[p].state {
                    StepState::Succeeded | StepState::Recovered => {
                        Got::Value(outputs[p].unwrap_or(NO_VALUE))
                    }
                    StepState::Omitted if edge == Edge::Optional => Got::Missing,
                    _ => Got::Error(steps[p].error.as_ref().map_or_else(String::new, identity)),
                })
                .collect();
            started(i, step, got)
        };
        expects.push(expect);
    }
    expects
}

/// What step `i` ends as once its driver has taken it, its condition and function receiving
/// `got`.
fn started(i: usize, step: &Step, got: Vec<Got>) -> Expect {
    let mut expect = Expect {
        starts: true,
        got,
        ..Expect::unstarted(StepState::Succeeded)
    };
    match step.condition {
        Some(Cond::Fails) => {
            expect.state = StepState::Omitted;
            expect.kind = Some(JobErrorKind::Omitted);
            return expect;
        }
        Some(Cond::Panics) => {
            expect.state = StepState::Failed;
            expect.kind = Some(JobErrorKind::StepPanicked);
            expect.message = Some(condition_panic_text(i));
            return expect;
        }
        Some(Cond::Holds) | None => {}
    }
    let max = step.retry.unwrap_or(1).max(1);
    let mut number = 1;
    let failure = loop {
        let failure = match (step.attempt(number), step.timeout) {
            (Attempt::Ok(_), _) => None,
            (Attempt::Err(_), _) => Some((JobErrorKind::StepFailed, Some(error_text(i, number)))),
            (Attempt::Panic(_), _) => Some((
                JobErrorKind::StepPanicked,
                Some(panic_text(i, number, "in the future")),
            )),
            (Attempt::PanicInFn, _) => Some((
                JobErrorKind::StepPanicked,
                Some(panic_text(i, number, "in the step function")),
            )),
            (Attempt::Hang, Some(_)) => Some((JobErrorKind::TimedOut, None)),
            (Attempt::Hang, None) => {
                // Until the test cancels it: a cancelled step does not fall back.
                expect.attempts = number;
                expect.state = StepState::Cancelled;
                expect.hangs = true;
                return expect;
            }
        };
        if failure.is_some() && number < max {
            number += 1;
            continue;
        }
        break failure;
    };
    expect.attempts = number;
    let Some((kind, message)) = failure else {
        expect.value = Some(output(i, &expect.got));
        return expect;
    };
    match step.fallback {
        None => {
            expect.state = StepState::Failed;
            expect.kind = Some(kind);
            expect.message = message;
        }
        Some(Recovery::Value) => {
            expect.state = StepState::Recovered;
            expect.kind = Some(kind);
            expect.message = message;
            expect.recovers = Some(kind);
            expect.value = Some(fallback_value(i));
        }
        Some(Recovery::Panics) => {
            expect.state = StepState::Failed;
            expect.kind = Some(JobErrorKind::StepPanicked);
            expect.message = Some(format!("its fallback panicked: {}", fallback_panic_text(i)));
            expect.recovers = Some(kind);
        }
    }
    expect
}

// ---------------------------------------------------------------------------------------------
// What the steps record while they run.

/// A process-unique marker in the message of every deliberate panic, so that the panic hook
/// can keep quiet about them.
const PANIC_MARKER: &str = "asyncjob-model: deliberate panic";

/// What a step received from one data dependency, as its condition or function records it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    /// The dependency's output.
    Value(u64),
    /// `None`: a dependency taken as optional was omitted.
    Missing,
    /// `Err`: a dependency taken with `allow_failure` ended without an output; its error, as
    /// [`identity`] writes it.
    Error(String),
}

/// What a step computes its output from, for `Got::Missing` and `Got::Error`.
const MISSING: u64 = 0x6d69_7373_696e_6700; // "missing"
const NO_VALUE: u64 = 0x6e6f_2076_616c_7565; // "no value"

impl Got {
    fn value(&self) -> u64 {
        match self {
            Got::Value(value) => *value,
            Got::Missing => MISSING,
            Got::Error(_) => NO_VALUE,
        }
    }
}

/// An error, as a string that tells it apart: its kind, step, attempts and text with causes.
fn identity(error: &JobError) -> String {
    format!(
        "{:?} of {:?} after {} attempts: {error:#}",
        error.kind(),
        error.step(),
        error.attempts()
    )
}

/// What a step's condition or function receives, which it records.
trait Received {
    fn record(&self, into: &mut Vec<Got>);
}

impl Received for u64 {
    fn record(&self, into: &mut Vec<Got>) {
        into.push(Got::Value(*self));
    }
}

impl Received for Option<u64> {
    fn record(&self, into: &mut Vec<Got>) {
        into.push(self.map_or(Got::Missing, Got::Value));
    }
}

impl Received for Result<u64, JobError> {
    fn record(&self, into: &mut Vec<Got>) {
        into.push(match self {
            Ok(value) => Got::Value(*value),
            Err(error) => Got::Error(identity(error)),
        });
    }
}

impl<T: Received> Received for Vec<T> {
    fn record(&self, into: &mut Vec<Got>) {
        for one in self {
            one.record(into);
        }
    }
}

macro_rules! received_tuples {
    ($( ($($T:ident $v:ident),+) )+) => {$(
        impl<$($T: Received),+> Received for ($($T,)+) {
            fn record(&self, into: &mut Vec<Got>) {
                let ($($v,)+) = self;
                $( $v.record(into); )+
            }
        }
    )+};
}

received_tuples! {
    (A a, B b)
    (A a, B b, C c)
    (A a, B b, C c, D d)
}

fn received<T: Received>(args: &T) -> Vec<Got> {
    let mut got = Vec::new();
    args.record(&mut got);
    got
}

#[derive(Debug, Default)]
struct StepLog {
    /// Calls of the step function, of the condition, of the fallback.
    calls: AtomicU32,
    checks: AtomicU32,
    recoveries: AtomicU32,
    /// Logical times (from 1; 0 = not yet): the step's first tick (its condition's call or its
    /// first attempt's start), its last tick, the last attempt's end.
    first_tick: AtomicU64,
    last_tick: AtomicU64,
    last_end: AtomicU64,
    /// An attempt without a timeout began to hang.
    hanging: AtomicBool,
    seen: Mutex<Seen>,
}

/// What a step's condition, function and fallback were given.
#[derive(Debug, Default, Clone)]
struct Seen {
    by_condition: Option<Vec<Got>>,
    /// By the first attempt (the others are compared with it as they are made).
    by_function: Option<Vec<Got>>,
    /// The error the fallback was called with: its kind, attempts and [`identity`].
    recovered_from: Option<(JobErrorKind, u32, String)>,
}

/// The job input: the scripts the steps follow, and what they record.
struct Ctx {
    clock: AtomicU64,
    steps: Vec<StepLog>,
    /// Per step: the scripted attempts and whether it has a timeout.
    scripts: Vec<(Vec<Attempt>, bool)>,
    conditions: Vec<Option<Cond>>,
    fallbacks: Vec<Option<Recovery>>,
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
    /// The permits of each limit, the limits each step needs, and the cap on running steps.
    permits: Vec<usize>,
    needs: Vec<Vec<usize>>,
    max_running: Option<usize>,
    /// Per limit: the step futures alive that need it; and the step futures running at all
    /// (for the cap). Checked against the permits at every start.
    gauges: Vec<AtomicUsize>,
    running: AtomicUsize,
    /// The map steps, and per map the calls of its function for each item.
    maps: Vec<MapCase>,
    item_calls: Vec<Vec<AtomicU32>>,
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
    fn new(dag: &Dag, deadline_timer: Option<RecordingTimer>) -> Self {
        Ctx {
            clock: AtomicU64::new(0),
            steps: dag.steps.iter().map(|_| StepLog::default()).collect(),
            scripts: dag
                .steps
                .iter()
                .map(|s| (s.script.clone(), s.timeout.is_some()))
                .collect(),
            conditions: dag.steps.iter().map(|s| s.condition).collect(),
            fallbacks: dag.steps.iter().map(|s| s.fallback).collect(),
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
            permits: dag.limits.clone(),
            needs: dag.steps.iter().map(|s| s.needs.clone()).collect(),
            max_running: dag.max_running,
            gauges: dag.limits.iter().map(|_| AtomicUsize::new(0)).collect(),
            running: AtomicUsize::new(0),
            maps: dag.maps.clone(),
            item_calls: dag
                .maps
                .iter()
                .map(|map| (0..map.len).map(|_| AtomicU32::new(0)).collect())
                .collect(),
        }
    }

    fn tick(&self) -> u64 {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        if tick == self.trigger {
            self.fire();
        }
        tick
    }

    /// A tick made by step `i`'s own code.
    fn step_tick(&self, i: usize) -> u64 {
        let tick = self.tick();
        let log = &self.steps[i];
        let _ = log
            .first_tick
            .compare_exchange(0, tick, Ordering::SeqCst, Ordering::SeqCst);
        log.last_tick.fetch_max(tick, Ordering::SeqCst);
        tick
    }

    fn seen(&self, i: usize) -> MutexGuard<'_, Seen> {
        self.steps[i].seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports a call of step `i`'s `what` made after `wait()` returned.
    fn check_not_waited(&self, i: usize, what: &str) {
        if self.waited.load(Ordering::SeqCst) {
            self.problem(format!("s{i}: {what} was called after wait() returned"));
        }
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

/// Holds step `i`'s place in the gauges of the limits it needs (and of the cap) while its
/// future runs: the gauges go up when it starts, and must then be within the permits; they go
/// down when it is dropped.
///
/// A map's items hold their place in the gauge of the limit they need, not in the cap's (a map
/// counts once in the cap, however many items run).
struct Holding {
    ctx: Arc<Ctx>,
    needs: Vec<usize>,
    capped: bool,
}

impl Holding {
    fn new(ctx: &Arc<Ctx>, who: &str, needs: &[usize], capped: bool) -> Self {
        let over = |what: String, now: usize, permits: usize| {
            ctx.problem(format!(
                "{who}: {now} futures running that need {what}, which has {permits} permits"
            ));
        };
        for &l in needs {
            let now = ctx.gauges[l].fetch_add(1, Ordering::SeqCst) + 1;
            if now > ctx.permits[l] {
                over(format!("l{l}"), now, ctx.permits[l]);
            }
        }
        if capped {
            let now = ctx.running.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(cap) = ctx.max_running.filter(|&cap| now > cap) {
                over("max_running".to_owned(), now, cap);
            }
        }
        Holding {
            ctx: ctx.clone(),
            needs: needs.to_vec(),
            capped,
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        for &l in &self.needs {
            self.ctx.gauges[l].fetch_sub(1, Ordering::SeqCst);
        }
        if self.capped {
            self.ctx.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Map steps.

/// The items `m{j} list` makes from its parent's output `value`: item `k` carries `k` in its
/// top 16 bits, so that the item function knows which item it runs.
fn list_items(value: u64, len: usize) -> Vec<u64> {
    (0..len as u64)
        .map(|k| (k << 48) | (mix(value ^ k) >> 16))
        .collect()
}

/// The output of an item that succeeds.
fn item_value(item: u64) -> u64 {
    mix(item ^ 0x6974_656d) // "item"
}

/// The output of `m{j} sum`, from the map's output.
fn sum_value(j: usize, outputs: &[u64]) -> u64 {
    outputs
        .iter()
        .fold(mix(j as u64 ^ 0x7375_6d00), |acc, &v| mix(acc ^ v)) // "sum"
}

/// Attempt `attempt` of item `k` of `map`: it succeeds, returns an error or panics (inside the
/// future), after 0 to 2 `yield_now`s. An item either fails every attempt or fails 0 to 3
/// times first.
fn item_attempt(map: &MapCase, k: usize, attempt: u32) -> Attempt {
    let h = mix(map.seed ^ ((k as u64) << 8));
    let always = h % 1000 < u64::from(map.fail_per_mille);
    let fails_first = if (h >> 10) % 10 < 7 {
        0
    } else {
        1 + (h >> 14) % 3
    };
    let a = mix(h ^ u64::from(attempt));
    let yields = (a % 3) as u8;
    if always || u64::from(attempt) <= fails_first {
        if (a >> 8) % 4 == 0 {
            Attempt::Panic(yields)
        } else {
            Attempt::Err(yields)
        }
    } else {
        Attempt::Ok(yields)
    }
}

/// How item `k` of `map` ends if it runs to its end: its state and attempts, and for a failure
/// the text its error has.
fn item_end(j: usize, map: &MapCase, k: usize) -> (StepState, u32, Option<String>) {
    let max = map.retry.unwrap_or(1).max(1);
    let mut attempt = 1;
    loop {
        match item_attempt(map, k, attempt) {
            Attempt::Ok(_) => return (StepState::Succeeded, attempt, None),
            _ if attempt < max => attempt += 1,
            failure => {
                return (
                    StepState::Failed,
                    attempt,
                    Some(item_text(j, k, attempt, failure)),
                );
            }
        }
    }
}

fn item_text(j: usize, k: usize, attempt: u32, failure: Attempt) -> String {
    match failure {
        Attempt::Panic(_) => format!("{PANIC_MARKER} in m{j}[{k}] attempt {attempt}"),
        _ => format!("m{j}[{k}] attempt {attempt} failed"),
    }
}

/// The function of map `j`, called for one item.
fn map_item(ctx: Arc<Ctx>, j: usize, item: u64) -> BoxFuture<'static, Result<u64, String>> {
    let k = usize::try_from(item >> 48).unwrap_or(usize::MAX);
    let Some(calls) = ctx.item_calls[j].get(k) else {
        ctx.problem(format!(
            "m{j}: called with an item ({item:#x}) it was not given"
        ));
        return Box::pin(async { Err("not an item".to_owned()) });
    };
    let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
    if ctx.waited.load(Ordering::SeqCst) {
        ctx.problem(format!(
            "m{j}: its function (item {k}, attempt {attempt}) was called after wait() returned"
        ));
    }
    let action = item_attempt(&ctx.maps[j], k, attempt);
    let live = Live::new(&ctx);
    Box::pin(async move {
        let _live = live;
        let needs: Vec<usize> = ctx.maps[j].needs.into_iter().collect();
        let _holding = Holding::new(&ctx, &format!("m{j}[{k}] attempt {attempt}"), &needs, false);
        let yields = match action {
            Attempt::Ok(y) | Attempt::Err(y) | Attempt::Panic(y) => y,
            _ => 0,
        };
        for _ in 0..yields {
            yield_now().await;
        }
        match action {
            Attempt::Ok(_) => Ok(item_value(item)),
            Attempt::Panic(_) => panic!("{}", item_text(j, k, attempt, action)),
            _ => Err(item_text(j, k, attempt, action)),
        }
    })
}

fn error_text(i: usize, attempt: u32) -> String {
    format!("s{i} attempt {attempt} failed")
}

fn panic_text(i: usize, attempt: u32, where_: &str) -> String {
    format!("{PANIC_MARKER} in s{i} attempt {attempt} ({where_})")
}

fn condition_panic_text(i: usize) -> String {
    format!("{PANIC_MARKER} in s{i}'s condition")
}

fn fallback_panic_text(i: usize) -> String {
    format!("{PANIC_MARKER} in s{i}'s fallback")
}

/// The body of every step: called with what it received from its data dependencies.
fn call(ctx: Arc<Ctx>, i: usize, got: Vec<Got>) -> BoxFuture<'static, Result<u64, String>> {
    let log = &ctx.steps[i];
    let attempt = log.calls.fetch_add(1, Ordering::SeqCst) + 1;
    ctx.check_not_waited(i, &format!("the step function (attempt {attempt})"));
    let start = ctx.step_tick(i);
    let previous_end = log.last_end.load(Ordering::SeqCst);
    if attempt > 1 && previous_end >= start {
        ctx.problem(format!(
            "s{i}: attempt {attempt} started (tick {start}) before attempt {} ended (tick {previous_end})",
            attempt - 1
        ));
    }
    let differs = {
        let mut seen = ctx.seen(i);
        match &seen.by_function {
            None => {
                seen.by_function = Some(got.clone());
                None
            }
            Some(first) => (*first != got).then(|| first.clone()),
        }
    };
    if let Some(first) = differs {
        ctx.problem(format!(
            "s{i} attempt {attempt}: received {got:?}, attempt 1 received {first:?}"
        ));
    }
    let value = output(i, &got);
    let (script, timeout) = &ctx.scripts[i];
    let at = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
    let action = script
        .get(at)
        .or(script.last())
        .copied()
        .unwrap_or(Attempt::Ok(0));
    let timeout = *timeout;
    if action == Attempt::PanicInFn {
        log.last_end.store(ctx.step_tick(i), Ordering::SeqCst);
        panic!("{}", panic_text(i, attempt, "in the step function"));
    }
    let live = Live::new(&ctx);
    Box::pin(async move {
        let _live = live;
        let _holding = Holding::new(
            &ctx,
            &format!("s{i} attempt {attempt}"),
            &ctx.needs[i],
            true,
        );
        let log = &ctx.steps[i];
        let end = |ctx: &Ctx| {
            let tick = ctx.step_tick(i);
            log.last_end.store(tick, Ordering::SeqCst);
        };
        match action {
            Attempt::Ok(yields) => {
                for _ in 0..yields {
                    yield_now().await;
                }
                end(&ctx);
                Ok(value)
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

/// The condition of every conditional step: called with what the step received.
fn condition(ctx: &Ctx, i: usize, got: Vec<Got>) -> bool {
    ctx.steps[i].checks.fetch_add(1, Ordering::SeqCst);
    ctx.check_not_waited(i, "the condition");
    ctx.step_tick(i);
    ctx.seen(i).by_condition.get_or_insert(got);
    match ctx.conditions[i] {
        Some(Cond::Fails) => false,
        Some(Cond::Panics) => panic!("{}", condition_panic_text(i)),
        Some(Cond::Holds) | None => true,
    }
}

/// The condition of a root step.
fn root_condition(i: usize) -> impl Fn(&Arc<Ctx>) -> bool + Send + Sync + 'static {
    move |ctx| condition(ctx, i, Vec::new())
}

/// The condition of a step whose parents give it a `T`.
fn condition_on<T: Received>(i: usize) -> impl Fn(&Arc<Ctx>, &T) -> bool + Send + Sync + 'static {
    move |ctx, args| condition(ctx, i, received(args))
}

/// The fallback of step `i`. It has no job input: it reaches the test's context through a weak
/// reference, which does not keep the input alive (the test checks that the job lets go of
/// it).
fn fallback(ctx: Weak<Ctx>, i: usize) -> impl Fn(&JobError) -> u64 + Send + Sync + 'static {
    move |error| {
        let Some(ctx) = ctx.upgrade() else {
            // The test holds the context until the job has ended: not reached.
            return fallback_value(i);
        };
        ctx.steps[i].recoveries.fetch_add(1, Ordering::SeqCst);
        ctx.check_not_waited(i, "the fallback");
        ctx.step_tick(i);
        ctx.seen(i).recovered_from = Some((error.kind(), error.attempts(), identity(error)));
        match ctx.fallbacks[i] {
            Some(Recovery::Panics) => panic!("{}", fallback_panic_text(i)),
            Some(Recovery::Value) | None => fallback_value(i),
        }
    }
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

type Builder<'a, M, P, C = asyncjob::Always, F = asyncjob::NoFallback> =
    StepBuilder<'a, Arc<Ctx>, M, P, C, F>;

fn wait_for<'a, M: Mode, P, C, F>(
    mut b: Builder<'a, M, P, C, F>,
    step: &Step,
    handles: &[StepHandle<u64>],
) -> Builder<'a, M, P, C, F> {
    let order: Vec<(&StepHandle<u64>, Edge)> = step
        .order
        .iter()
        .zip(&step.order_edges)
        .map(|(&p, &edge)| (&handles[p], edge))
        .collect();
    if order.len() == 1 || step.order_per_handle {
        for (handle, edge) in order {
            b = match edge {
                Edge::Strict => b.wait_for(handle),
                Edge::Optional => b.wait_for(optional(handle)),
                Edge::Tolerant => b.wait_for(allow_failure(handle)),
            };
        }
        return b;
    }
    // All at once: one `Vec` if they are of one kind, else a tuple of one `Vec` per kind (the
    // order in which `resolve_step` put them).
    let of = |kind: Edge| order.iter().filter(move |(_, edge)| *edge == kind);
    let strict: Vec<StepHandle<u64>> = of(Edge::Strict).map(|(h, _)| (*h).clone()).collect();
    let optionals: Vec<_> = of(Edge::Optional).map(|(h, _)| optional(h)).collect();
    let tolerant: Vec<_> = of(Edge::Tolerant).map(|(h, _)| allow_failure(h)).collect();
    match (strict.len(), optionals.len(), tolerant.len()) {
        (0, 0, 0) => b,
        (_, 0, 0) => b.wait_for(&strict),
        (0, _, 0) => b.wait_for(optionals),
        (0, 0, _) => b.wait_for(tolerant),
        _ => b.wait_for((strict, optionals, tolerant)),
    }
}

fn policies<'a, M: Mode, P, C, F>(
    mut b: Builder<'a, M, P, C, F>,
    step: &Step,
) -> Builder<'a, M, P, C, F> {
    if let Some(n) = step.retry {
        b = b.retry(Retry::fixed(n, step.backoff));
    }
    if let Some(limit) = step.timeout {
        b = b.timeout(limit);
    }
    b
}

/// A built job of mode `M`, and the handles of its steps in order (of the sub-job's
/// definition, for a case run as a sub-job: then the parent's handles of the result and of
/// the final step follow).
type Built<M> = (
    asyncjob::JobDefinition<Arc<Ctx>, M>,
    Vec<StepHandle<u64>>,
    Vec<MapHandles>,
    Option<SubHandles>,
);

/// The parent's handles of a sub-job case: the sub-job's result step, the final step.
type SubHandles = (StepHandle<u64>, Option<StepHandle<u64>>);

/// The handles of a map's three steps: its list, the map, its sum.
type MapHandles = (StepHandle<Vec<u64>>, StepHandle<Vec<u64>>, StepHandle<u64>);

/// Defines `$tail` and `$root`, which end the chain of a step of mode `$mode` whose parents
/// are set (`$tail`, generic over them) or which has none (`$root`): its condition, its
/// fallback, the ordering dependencies and policies not set before `after`, and `run`. The
/// condition and the fallback change the builder's type: there is one `run` for each of the
/// four combinations, and each is instantiated once per parent type.
macro_rules! define_tails {
    ($tail:ident, $root:ident, $mode:ty, $($parents:tt)+) => {
        fn $tail<P>(
            b: Builder<'_, $mode, P>,
            step: &Step,
            handles: &[StepHandle<u64>],
            i: usize,
            ctx: &Weak<Ctx>,
        ) -> Result<StepHandle<u64>, DefinitionError>
        where
            P: $($parents)+,
            P::Output: Received,
        {
            macro_rules! rest {
                ($b:expr) => {{
                    let mut b = $b;
                    if !step.order_first {
                        b = wait_for(b, step, handles);
                    }
                    if !step.policies_first {
                        b = policies(b, step);
                    }
                    b.run(move |ctx: Arc<Ctx>, args: P::Output| call(ctx, i, received(&args)))
                }};
            }
            let condition = || condition_on::<P::Output>(i);
            match (step.condition.is_some(), step.fallback.is_some()) {
                (false, false) => rest!(b),
                (true, false) => rest!(b.when(condition())),
                (false, true) => rest!(b.fallback(fallback(ctx.clone(), i))),
                (true, true) => rest!(b.when(condition()).fallback(fallback(ctx.clone(), i))),
            }
        }

        fn $root(
            b: Builder<'_, $mode, NoParents>,
            step: &Step,
            handles: &[StepHandle<u64>],
            i: usize,
            ctx: &Weak<Ctx>,
        ) -> Result<StepHandle<u64>, DefinitionError> {
            macro_rules! rest {
                ($b:expr) => {{
                    let mut b = $b;
                    if !step.order_first {
                        b = wait_for(b, step, handles);
                    }
                    if !step.policies_first {
                        b = policies(b, step);
                    }
                    b.run(move |ctx: Arc<Ctx>| call(ctx, i, Vec::new()))
                }};
            }
            match (step.condition.is_some(), step.fallback.is_some()) {
                (false, false) => rest!(b),
                (true, false) => rest!(b.when(root_condition(i))),
                (false, true) => rest!(b.fallback(fallback(ctx.clone(), i))),
                (true, true) => rest!(b.when(root_condition(i)).fallback(fallback(ctx.clone(), i))),
            }
        }
    };
}

define_tails!(tail_sendable, root_sendable, Sendable, SendParents);
define_tails!(tail_local, root_local, Local, Parents<Local>);

/// Defines `$name`, which builds a DAG as a definition of mode `$mode` (with
/// `JobBuilder::$new`), its steps ended by `$tail` and `$root`: the step functions are the same
/// in both modes, only the builder's `run` differs.
macro_rules! define_build {
    ($name:ident, $mode:ty, $new:ident, $tail:ident, $root:ident) => {
        fn $name(dag: &Dag, ctx: &Weak<Ctx>, limits: &[Limit]) -> Result<Built<$mode>, String> {
            let mut job = JobBuilder::<Arc<Ctx>>::$new("model");
            let mut handles: Vec<StepHandle<u64>> = Vec::with_capacity(dag.steps.len());
            for (i, step) in dag.steps.iter().enumerate() {
                let mut b = job.step(format!("s{i}"));
                for &l in &step.needs {
                    b = b.needs(&limits[l]);
                }
                if step.priority != 0 {
                    b = b.priority(step.priority);
                }
                if step.policies_first {
                    b = policies(b, step);
                }
                if step.order_first {
                    b = wait_for(b, step, &handles);
                }
                let h = |k: usize| &handles[step.data[k]];
                let of = |kind: Edge| {
                    step.data
                        .iter()
                        .zip(&step.data_edges)
                        .filter(move |&(_, &edge)| edge == kind)
                        .map(|(&p, _)| &handles[p])
                };
                let strict = || of(Edge::Strict).cloned().collect::<Vec<_>>();
                let optionals = || of(Edge::Optional).map(optional).collect::<Vec<_>>();
                let tolerant = || of(Edge::Tolerant).map(allow_failure).collect::<Vec<_>>();
                let added = match step.fan {
                    Fan::None => $root(b, step, &handles, i, ctx),
                    Fan::One(Edge::Strict) => $tail(b.after(h(0)), step, &handles, i, ctx),
                    Fan::One(Edge::Optional) => {
                        $tail(b.after(optional(h(0))), step, &handles, i, ctx)
                    }
                    Fan::One(Edge::Tolerant) => {
                        $tail(b.after(allow_failure(h(0))), step, &handles, i, ctx)
                    }
                    Fan::Two => $tail(b.after((h(0), h(1))), step, &handles, i, ctx),
                    Fan::TwoMixed => $tail(b.after((optional(h(0)), h(1))), step, &handles, i, ctx),
                    Fan::Three => $tail(b.after((h(0), h(1), h(2))), step, &handles, i, ctx),
                    Fan::Triple => $tail(
                        b.after((allow_failure(h(0)), (h(1), optional(h(2))))),
                        step,
                        &handles,
                        i,
                        ctx,
                    ),
                    Fan::Four => $tail(b.after((h(0), h(1), h(2), h(3))), step, &handles, i, ctx),
                    Fan::Vec(Edge::Strict, _) => $tail(b.after(&strict()), step, &handles, i, ctx),
                    Fan::Vec(Edge::Optional, _) => {
                        $tail(b.after(optionals()), step, &handles, i, ctx)
                    }
                    Fan::Vec(Edge::Tolerant, _) => {
                        $tail(b.after(tolerant()), step, &handles, i, ctx)
                    }
                    Fan::Groups(_) => $tail(
                        b.after((strict(), optionals(), tolerant())),
                        step,
                        &handles,
                        i,
                        ctx,
                    ),
                };
                handles.push(added.map_err(|e| format!("s{i} could not be added: {e}"))?);
            }
            let mut maps = Vec::with_capacity(dag.maps.len());
            for (j, map) in dag.maps.iter().enumerate() {
                let (parent, len) = (&handles[map.parent], map.len);
                let list = job
                    .step(format!("m{j} list"))
                    .after(parent)
                    .run(move |_: Arc<Ctx>, value: u64| async move {
                        Ok::<_, String>(list_items(value, len))
                    })
                    .map_err(|e| format!("m{j} list could not be added: {e}"))?;
                let mut b = job.step(format!("m{j}")).map(&list);
                if let Some(n) = map.retry {
                    b = b.retry(Retry::fixed(n, Duration::ZERO));
                }
                if let Some(l) = map.needs {
                    b = b.needs(&limits[l]);
                }
                if let Some(n) = map.limit {
                    b = b.limit(n);
                }
                if map.priority != 0 {
                    b = b.priority(map.priority);
                }
                let mapped = b
                    .run(move |ctx: Arc<Ctx>, item: u64| map_item(ctx, j, item))
                    .map_err(|e| format!("m{j} could not be added: {e}"))?;
                let sum = job
                    .step(format!("m{j} sum"))
                    .after(&mapped)
                    .run(move |_: Arc<Ctx>, outputs: Vec<u64>| async move {
                        Ok::<_, String>(sum_value(j, &outputs))
                    })
                    .map_err(|e| format!("m{j} sum could not be added: {e}"))?;
                maps.push((list, mapped, sum));
            }
            let definition = job.seal();
            let Some(sub) = dag.sub else {
                return Ok((definition, handles, maps, None));
            };
            let last = handles.last().ok_or("a sub-job without steps")?;
            let inner = definition
                .with_result(last)
                .map_err(|e| format!("the sub-job's result: {e}"))?;
            let mut parent = JobBuilder::<Arc<Ctx>>::$new("parent");
            let result = parent
                .step(SUB_ENTRY)
                .job(&inner, |ctx: Arc<Ctx>| ctx)
                .map_err(|e| format!("the sub-job could not be added: {e}"))?;
            let then = match sub.then {
                false => None,
                true => Some(
                    parent
                        .step(SUB_THEN)
                        .after(&result)
                        .run(|_: Arc<Ctx>, value: u64| async move { Ok::<_, String>(value) })
                        .map_err(|e| format!("{SUB_THEN} could not be added: {e}"))?,
                ),
            };
            Ok((parent.seal(), handles, maps, Some((result, then))))
        }
    };
}

define_build!(build_sendable, Sendable, new, tail_sendable, root_sendable);
define_build!(build_local, Local, new_local, tail_local, root_local);

/// Builds `dag` as a definition of mode `M`, whose fallbacks reach the test through `ctx` and
/// whose steps need `limits` (one per [`Dag::limits`]).
fn build<M: Mode>(dag: &Dag, ctx: &Weak<Ctx>, limits: &[Limit]) -> Result<Built<M>, String> {
    for_mode::<M, _, _, _>(
        || build_sendable(dag, ctx, limits),
        || build_local(dag, ctx, limits),
    )
    .unwrap_or_else(|| Err("a definition mode is Sendable or Local".to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Running a case and checking it.

fn kind_of(error: &JobError) -> String {
    format!("{:?} (step {:?})", error.kind(), error.step())
}

/// `true` if no step of the job can move any more, but for those left hanging: every step has
/// ended, hangs (running, its future parked for good), or waits with nothing that has ended
/// ending it (a failure or an omission still ending its dependents is not over) and behind a
/// step that has not ended (or, in sequential mode, after a hanging step).
fn stuck(dag: &Dag, ctx: &Ctx, states: &[StepSnapshot]) -> bool {
    let state = |i: usize| states.get(i).map_or(StepState::Queued, |s| s.state);
    let hangs =
        |i: usize| state(i) == StepState::Running && ctx.steps[i].hanging.load(Ordering::SeqCst);
    let mut after_a_hang = false;
    for (i, step) in dag.steps.iter().enumerate() {
        let settled = match state(i) {
            StepState::Running => hangs(i),
            StepState::Waiting => {
                let ended = step.deps().any(|(p, edge)| {
                    let end = state(p);
                    end.is_finished() && !edge.lets_run(end)
                });
                let open = step.deps().any(|(p, _)| !state(p).is_finished());
                !ended && (open || (dag.sequential && after_a_hang))
            }
            other => other.is_finished(),
        };
        if !settled {
            return false;
        }
        after_a_hang |= hangs(i);
    }
    // The maps' steps (which never hang) have ended, or wait behind a step that has not.
    let n = dag.steps.len();
    dag.maps.iter().enumerate().all(|(j, map)| {
        let at = n + 3 * j;
        [(at, map.parent), (at + 1, at), (at + 2, at + 1)]
            .into_iter()
            .all(|(me, dep)| match state(me) {
                StepState::Waiting => {
                    let ended = state(dep).is_finished() && !Edge::Strict.lets_run(state(dep));
                    let open = !state(dep).is_finished();
                    !ended && (open || (dag.sequential && after_a_hang))
                }
                other => other.is_finished(),
            })
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

/// The snapshots of the DAG's steps in a run of `dag`: all of them, or for a case run as a
/// sub-job, those of the sub-job's steps, as they would be alone (index shifted back by one,
/// their edge to the entry dropped; names and errors keep their `sub/` prefix).
fn dag_steps(dag: &Dag, steps: &[StepSnapshot]) -> Vec<StepSnapshot> {
    if dag.sub.is_none() {
        return steps.to_vec();
    }
    let shift = |deps: &[usize]| -> Vec<usize> {
        deps.iter().filter(|&&d| d != 0).map(|&d| d - 1).collect()
    };
    steps
        .iter()
        .skip(1)
        .take(dag.steps.len())
        .map(|step| {
            let mut step = step.clone();
            step.index = step.index.saturating_sub(1);
            step.data_dependencies = shift(&step.data_dependencies);
            step.ordering_dependencies = shift(&step.ordering_dependencies);
            step
        })
        .collect()
}

/// [`stuck`], for the whole run: for a sub-job case, also the entry has ended and the final
/// step has ended or waits (behind the result, or in sequential mode behind a hanging step).
fn run_stuck(dag: &Dag, ctx: &Ctx, states: &[StepSnapshot]) -> bool {
    let Some(sub) = dag.sub else {
        return stuck(dag, ctx, states);
    };
    let n = dag.steps.len();
    let state = |i: usize| states.get(i).map_or(StepState::Queued, |s| s.state);
    let then_settled = !sub.then
        || state(n + 1).is_finished()
        || (state(n + 1) == StepState::Waiting && (!state(n).is_finished() || dag.sequential));
    state(0).is_finished() && then_settled && stuck(dag, ctx, &dag_steps(dag, states))
}

/// The outputs of the DAG's steps in a sub-job case, whose parent instance cannot read them
/// through the sub-job's handles: for each step that succeeded or recovered, the output its
/// function made from what it received (or its fallback's), but for the result step, read
/// through the parent's handle (`result`).
fn sub_outputs(
    dag: &Dag,
    ctx: &Ctx,
    steps: &[StepSnapshot],
    result: Option<u64>,
) -> Vec<Option<u64>> {
    let last = dag.steps.len().saturating_sub(1);
    (0..dag.steps.len())
        .map(|i| match steps.get(i).map(|s| s.state) {
            _ if i == last => result,
            Some(StepState::Succeeded) => {
                ctx.seen(i).by_function.as_ref().map(|got| output(i, got))
            }
            Some(StepState::Recovered) => Some(fallback_value(i)),
            _ => None,
        })
        .collect()
}

/// Checks the parent's own steps in a sub-job case: the entry succeeded once (or, cut short,
/// was cancelled), every step's `sub_job` (the entry's index for the sub-job's steps), each
/// root of the sub-job depends on the entry, and the final step ended as a plain dependent of
/// the result step, with its output.
fn check_parent(
    problems: &mut Vec<String>,
    dag: &Dag,
    steps: &[StepSnapshot],
    then_output: Option<u64>,
    result_output: Option<u64>,
    weak: bool,
) {
    let Some(sub) = dag.sub else { return };
    let n = dag.steps.len();
    let expected = n + 1 + usize::from(sub.then);
    if steps.len() != expected {
        problems.push(format!(
            "{} steps in the snapshot of the parent, the model: {expected}",
            steps.len()
        ));
        return;
    }
    let entry = &steps[0];
    let entry_ok = (entry.state == StepState::Succeeded && entry.attempts == 1)
        || (weak && entry.state == StepState::Cancelled);
    if &*entry.name != SUB_ENTRY || !entry_ok {
        problems.push(format!(
            "the entry: {:?} {} after {} attempts, the model: `{SUB_ENTRY}` Succeeded after 1",
            entry.name, entry.state, entry.attempts
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let inner = (1..=n).contains(&i);
        if step.sub_job != inner.then_some(0) {
            problems.push(format!(
                "{}: sub_job {:?}, the model: {:?}",
                step.name,
                step.sub_job,
                inner.then_some(0)
            ));
        }
        if inner && dag.steps[i - 1].deps().next().is_none() {
            let on_entry =
                step.data_dependencies.contains(&0) || step.ordering_dependencies.contains(&0);
            if !on_entry {
                problems.push(format!(
                    "{}: a root of the sub-job, not after the entry",
                    step.name
                ));
            }
        }
    }
    if !sub.then {
        return;
    }
    let (result, then) = (&steps[n], &steps[n + 1]);
    // The result step's end decides (as for a DAG step, a failure or an omission ends it
    // first); else, in sequential mode, a cancelled step before it.
    let halted = dag.sequential && steps[..=n].iter().any(|s| s.state == StepState::Cancelled);
    let state = match result.state {
        StepState::Failed | StepState::Skipped => StepState::Skipped,
        StepState::Omitted => StepState::Omitted,
        _ if halted => StepState::Cancelled,
        StepState::Succeeded | StepState::Recovered => StepState::Succeeded,
        _ => StepState::Cancelled,
    };
    let cut = weak && then.state == StepState::Cancelled;
    let output = if then.state == StepState::Succeeded {
        result_output
    } else {
        None
    };
    if (!cut && then.state != state) || then_output != output || &*then.name != SUB_THEN {
        problems.push(format!(
            "{:?}: {} with output {then_output:?}, the model: `{SUB_THEN}` {state} (the result \
             step {} {}) with output {output:?}",
            then.name, then.state, result.name, result.state
        ));
    }
}

/// Runs one DAG on `h` and compares everything with the model; the problems found, if any.
///
/// A case with nothing injected (or a spawn fault) must match the model exactly. A case whose
/// injected cancellation took effect must meet the weaker invariants: every step final when
/// `wait()` returns; a step ends as the model says or `Cancelled` (after no more attempts than
/// the model's); no step function called after `wait()` returned; `wait()`'s error is that of
/// the first failed step in definition order that counts, else the cancellation's.
fn run_case<S: Starts>(h: &S, dag: &Dag, faults: Option<&SpawnFaults<'_>>) -> Vec<String> {
    let inject = dag.inject;
    let timer = match inject {
        Inject::Deadline(At::Racing | At::Tick(_)) => RecordingTimer::holding([DEADLINE]),
        _ => RecordingTimer::new(),
    };
    let deadline_timer = matches!(inject, Inject::Deadline(At::Tick(_))).then(|| timer.clone());
    let ctx = Arc::new(Ctx::new(dag, deadline_timer));
    let limits: Vec<Limit> = dag
        .limits
        .iter()
        .enumerate()
        .map(|(l, &permits)| Limit::new(format!("l{l}"), permits))
        .collect();
    let (job, handles, map_handles, sub_handles) =
        match build::<S::Definitions>(dag, &Arc::downgrade(&ctx), &limits) {
            Ok(built) => built,
            Err(problem) => return vec![problem],
        };
    // Every case records its events: the log is checked against the final states, which are
    // checked against the model.
    let mut options = JobOptions::new().record_events();
    if dag.sequential {
        options = options.sequential();
    }
    if let Some(cap) = dag.max_running {
        options = options.max_running(cap);
    }
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
                    && run_stuck(dag, &ctx, &instance.steps()))
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
    // Every permit is back, and nobody waits for one (checked below).
    let limits_at_wait: Vec<(usize, usize)> = limits
        .iter()
        .map(|limit| (limit.available(), limit.waiting()))
        .collect();
    *ctx.canceller.lock().unwrap_or_else(|e| e.into_inner()) = None;
    join_racer(racer);
    // A step that is calling cancel() has not yet recorded what it returned.
    h.block_on(until(|| {
        !ctx.cancelling.load(Ordering::SeqCst) || ctx.cancel_result().is_some()
    }));
    if instance.cancel() {
        problems.push("cancel() returned true after the job ended".to_owned());
    }
    let run_snapshot = instance.snapshot();
    // The DAG's steps, as if run alone (see `dag_steps`); the parent's are checked apart.
    let mut snapshot = run_snapshot.clone();
    snapshot.steps = dag_steps(dag, &run_snapshot.steps);
    let outputs: Vec<Option<u64>> = match &sub_handles {
        None => handles.iter().map(|h| instance.output(h)).collect(),
        Some((result, _)) => sub_outputs(dag, &ctx, &snapshot.steps, instance.output(result)),
    };
    let (result_output, then_output) = match &sub_handles {
        Some((result, then)) => (
            instance.output(result),
            then.as_ref().and_then(|then| instance.output(then)),
        ),
        None => (None, None),
    };
    let map_outputs: Vec<MapOutputs> = map_handles
        .iter()
        .map(|(list, map, sum)| MapOutputs {
            list: instance.output(list),
            map: instance.output(map),
            sum: instance.output(sum),
        })
        .collect();
    match instance.events() {
        Ok(events) => {
            let events: Vec<_> = futures::executor::block_on(futures::StreamExt::collect(events));
            let edge = |step: usize, dep: usize| match dag.sub {
                None => match dag.steps.get(step) {
                    Some(s) => s.edge_to(dep),
                    // The maps' steps take their one dependency plainly.
                    None => Some(Edge::Strict),
                },
                // In a sub-job, DAG step `i` is at `i + 1`: after the entry (0) plainly, as
                // the final step after the result.
                Some(_) => match (step.checked_sub(1).and_then(|s| dag.steps.get(s)), dep) {
                    (Some(_), 0) => Some(Edge::Strict),
                    (Some(s), dep) => s.edge_to(dep - 1),
                    (None, _) => Some(Edge::Strict),
                },
            };
            problems.extend(
                crate::suite::events::check_log_with(&events, &run_snapshot, &result, edge)
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
                e.kind() == JobErrorKind::SpawnFailed && e.step() == Some(&*dag.name(i))
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
    let counts = counted_failures(dag);
    let injected_cancel = ctx.cancel_result();
    // Did an injected cancellation take effect? Then the job's outcome is cut short.
    let weak = match inject {
        Inject::None | Inject::SpawnFault(_) => false,
        Inject::Cancel(_) => injected_cancel == Some(true),
        Inject::FailFast => snapshot
            .steps
            .iter()
            .zip(&counts)
            .any(|(step, &counts)| counts && step.state == StepState::Failed),
        Inject::Deadline(At::Start) => true,
        Inject::Deadline(_) => ctx.deadline_released.load(Ordering::SeqCst),
    };

    // Every limit is whole when `wait()` returns, however the job ended (a cancellation that
    // ends a queued step settles the permits its driver was taking before counting its end).
    for (limit, &(available, waiting)) in limits.iter().zip(&limits_at_wait) {
        if available != limit.permits() || waiting != 0 {
            problems.push(format!(
                "limit {} when wait() returned: {available} of {} permits free, {waiting} waiting",
                limit.name(),
                limit.permits(),
            ));
        }
    }

    // The whole run's steps count, the parent's too (which never fail): for a sub-job case,
    // the entry, the DAG's, and the final step.
    let run_counts: Vec<bool> = match dag.sub {
        None => counts.clone(),
        Some(sub) => std::iter::once(true)
            .chain(counts.iter().copied())
            .chain(sub.then.then_some(true))
            .collect(),
    };
    check_parent(
        &mut problems,
        dag,
        &run_snapshot.steps,
        then_output,
        result_output,
        weak,
    );
    let snapshot_ok = check_job(
        &mut problems,
        &run_snapshot,
        &result,
        JobCancels {
            own: own_cancel,
            injected: injected_cancel,
            deadline: matches!(inject, Inject::Deadline(_)),
        },
        &run_counts,
    ) && snapshot.steps.len() == dag.steps.len() + 3 * dag.maps.len();
    if snapshot_ok {
        let expects = model(dag, &snapshot.steps, &outputs, refused);
        if !weak {
            if unfinished && !own_cancel {
                problems.push("cancel() returned false on a job with hanging steps".to_owned());
            }
            let hanging = expects.iter().filter(|e| e.hangs).count();
            if unfinished != (hanging > 0) {
                problems.push(format!(
                    "the job {} by itself; the model: {hanging} steps hang",
                    if unfinished { "did not end" } else { "ended" },
                ));
            }
        }
        check_steps(
            &mut problems,
            &Case {
                dag,
                expects: &expects,
                ctx: &ctx,
                snapshot: &snapshot,
                outputs: &outputs,
                calls_at_wait: &calls_at_wait,
                weak,
            },
            &timer,
        );
        check_maps(
            &mut problems,
            dag,
            &ctx,
            &snapshot,
            (&outputs, &map_outputs),
            weak,
        );
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
    for limit in &limits {
        if limit.available() != limit.permits() || limit.waiting() != 0 {
            problems.push(format!(
                "limit {} once the job let go of its input: {} of {} permits free, {} waiting",
                limit.name(),
                limit.available(),
                limit.permits(),
                limit.waiting()
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
/// first failed step in definition order whose failure `counts`, else of the cancellation
/// that took effect. `false` if the snapshot has not one step per step of the DAG (nothing
/// more can be checked).
fn check_job(
    problems: &mut Vec<String>,
    snapshot: &JobSnapshot,
    result: &Result<(), JobError>,
    cancels: JobCancels,
    counts: &[bool],
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
    let failed =
        |i: usize, s: &StepSnapshot| s.state == StepState::Failed && counts.get(i) != Some(&false);
    let first_failed = snapshot
        .steps
        .iter()
        .enumerate()
        .position(|(i, s)| failed(i, s));
    let any_failed = snapshot.steps.iter().any(|s| s.state == StepState::Failed);
    let cancelled = snapshot
        .steps
        .iter()
        .any(|s| s.state == StepState::Cancelled);
    for (what, took_effect) in [
        ("the test's own cancel()", cancels.own),
        ("the injected cancel()", cancels.injected == Some(true)),
    ] {
        if took_effect && !cancelled && !any_failed {
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
                    "wait(): {}; the first failed step in definition order that counts is s{f}: {:?}",
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
            "wait(): {}, but no step failed (but best-effort ones) or was cancelled",
            kind_of(error)
        )),
        (Ok(()), None) => {}
    }
    if snapshot.steps.len() != counts.len() {
        problems.push(format!("{} steps in the snapshot", snapshot.steps.len()));
        return false;
    }
    true
}

/// One case's run, as [`check_steps`] reads it.
struct Case<'a> {
    dag: &'a Dag,
    /// The model's expectations, step by step.
    expects: &'a [Expect],
    ctx: &'a Ctx,
    snapshot: &'a JobSnapshot,
    outputs: &'a [Option<u64>],
    /// Calls of each step function when `wait()` returned.
    calls_at_wait: &'a [u32],
    /// A cancellation took effect: a step may have been cut short.
    weak: bool,
}

/// The message of the cause of `error`, for the kinds that have one: the step function's error
/// for `StepFailed`, the panic's message for `StepPanicked`.
fn error_message(error: &JobError) -> Option<String> {
    match error.kind() {
        JobErrorKind::StepFailed => error.step_error().map(|e| e.to_string()),
        JobErrorKind::StepPanicked => error.panic_message().map(str::to_owned),
        _ => None,
    }
}

/// Checks every step against the model: exactly, or (`weak`: a cancellation took effect) as the
/// model says or `Cancelled` after no more attempts than the model's.
fn check_steps(problems: &mut Vec<String>, case: &Case<'_>, timer: &RecordingTimer) {
    let Case {
        dag,
        expects,
        ctx,
        snapshot,
        outputs,
        calls_at_wait,
        weak,
    } = *case;
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
    // In sequential mode: the last tick of the steps before this one.
    let mut before = 0;

    for (i, ((step, expect), snap)) in dag
        .steps
        .iter()
        .zip(expects)
        .zip(&snapshot.steps)
        .enumerate()
    {
        let mut wrong = |what: String| problems.push(format!("s{i}: {what}"));
        let log = &ctx.steps[i];
        let name = dag.name(i);
        // Cut short by the cancellation: it may have ended before the model's end.
        let cut = weak && snap.state == StepState::Cancelled;
        if !cut && expect.causes.is_empty() && snap.state != expect.state {
            wrong(format!("state {}, the model: {}", snap.state, expect.state));
        }
        if !cut && !expect.causes.is_empty() {
            // Ended by a dependency: which one is a race.
            let root = snap.error.as_ref().map(|e| identity(e.root_cause()));
            let fits = expect
                .causes
                .iter()
                .any(|(state, cause)| *state == snap.state && root.as_ref() == Some(cause));
            if !fits {
                wrong(format!(
                    "{} with root cause {root:?}; the model: one of {:?}",
                    snap.state, expect.causes
                ));
            }
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
        // The condition and the fallback ran as often as the model says (cut short: at most).
        let checks = log.checks.load(Ordering::SeqCst);
        let expected = u32::from(expect.starts && step.condition.is_some());
        if checks != expected && !(cut && checks < expected) {
            wrong(format!(
                "its condition ran {checks} times, the model: {expected}"
            ));
        }
        if step.condition.is_some() && calls > 0 && checks == 0 {
            wrong("its function ran, its condition did not".to_owned());
        }
        let recoveries = log.recoveries.load(Ordering::SeqCst);
        let expected = u32::from(expect.recovers.is_some());
        if recoveries != expected && !(cut && recoveries < expected) {
            wrong(format!(
                "its fallback ran {recoveries} times, the model: {expected}"
            ));
        }
        let seen = ctx.seen(i).clone();
        if let (Some(kind), Some((given, attempts, _))) = (expect.recovers, &seen.recovered_from) {
            if *given != kind || *attempts != expect.attempts {
                wrong(format!(
                    "its fallback was given {given:?} after {attempts} attempts, the model: \
                     {kind:?} after {}",
                    expect.attempts
                ));
            }
        }
        // What it received, each data dependency's output, `None` or error.
        for (what, got) in [
            ("condition", &seen.by_condition),
            ("function", &seen.by_function),
        ] {
            if let Some(got) = got {
                if *got != expect.got {
                    wrong(format!(
                        "its {what} received {got:?}, the model: {:?}",
                        expect.got
                    ));
                }
            }
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
        // Started as the model says (cut short: perhaps not at all).
        let started = snap.started_at.is_some();
        if (started != expect.starts && !cut) || (started && !expect.starts) {
            wrong(format!(
                "started_at {:?}, the model: {}",
                snap.started_at,
                if expect.starts {
                    "started"
                } else {
                    "never started"
                }
            ));
        }
        if snap.attempts > 0 && !started {
            wrong(format!("{} attempts, never started", snap.attempts));
        }
        let hanging = log.hanging.load(Ordering::SeqCst);
        // (Cut short, a step may be cancelled before it begins to hang.)
        let may_not_hang = cut && !hanging;
        if hanging != expect.hangs && !may_not_hang {
            wrong(format!("hung: {hanging}, the model: {}", expect.hangs));
        }
        // The step's error (for a step ended by a dependency, its root cause is checked above).
        let own = |error: &JobError| error.step() == Some(&*name);
        match (snap.state, &snap.error) {
            (StepState::Succeeded, None) => {}
            (StepState::Failed | StepState::Recovered, Some(error)) => {
                let spawn_failed = expect.kind == Some(JobErrorKind::SpawnFailed);
                // (A step that never started has no attempts to count in its error.)
                if !own(error)
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
                let message = error_message(error);
                if message != expect.message {
                    wrong(format!(
                        "error text {message:?}, the model: {:?}",
                        expect.message
                    ));
                }
                let given = seen.recovered_from.as_ref().map(|(_, _, error)| error);
                if snap.state == StepState::Recovered && given != Some(&identity(error)) {
                    wrong(format!(
                        "recovered from {}, its fallback was given {given:?}",
                        identity(error)
                    ));
                }
            }
            (StepState::Skipped, Some(error))
                if error.kind() == JobErrorKind::DependencyFailed && own(error) => {}
            (StepState::Omitted, Some(error))
                if error.kind() == JobErrorKind::Omitted && own(error) =>
            {
                // Omitted by its own condition: its own root cause.
                let by_condition = expect.causes.is_empty() && expect.state == StepState::Omitted;
                if by_condition && error.root_cause().step() != Some(&*name) {
                    wrong(format!(
                        "omitted with root cause {}, the model: by its own condition",
                        kind_of(error.root_cause())
                    ));
                }
            }
            (StepState::Cancelled, Some(error)) if error.kind() == JobErrorKind::Cancelled => {}
            (state, error) => wrong(format!(
                "error {:?} in state {state}",
                error.as_ref().map(kind_of)
            )),
        }
        // Its output: readable once it succeeded or recovered.
        let expected = match snap.state {
            StepState::Succeeded | StepState::Recovered => expect.value,
            _ => None,
        };
        if outputs[i] != expected {
            wrong(format!(
                "output {:?} in state {}, the model: {expected:?}",
                outputs[i], snap.state
            ));
        }
        // Its own code ran after that of its dependencies (which had ended with an output, if
        // they had one) and, in sequential mode, after that of every earlier step.
        let first = log.first_tick.load(Ordering::SeqCst);
        if first != 0 {
            for (p, _) in step.deps() {
                let parent = ctx.steps[p].last_tick.load(Ordering::SeqCst);
                let with_output = matches!(
                    snapshot.steps[p].state,
                    StepState::Succeeded | StepState::Recovered
                );
                if parent >= first || (with_output && parent == 0) {
                    wrong(format!(
                        "started at tick {first}, but its dependency s{p} ({}) ran until tick \
                         {parent}",
                        snapshot.steps[p].state
                    ));
                }
            }
            if dag.sequential && before >= first {
                wrong(format!(
                    "started at tick {first}, before an earlier step's last tick {before} \
                     (sequential mode)"
                ));
            }
        }
        before = before.max(log.last_tick.load(Ordering::SeqCst));
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

/// The outputs of a map's three steps, as the instance gives them.
struct MapOutputs {
    list: Option<Vec<u64>>,
    map: Option<Vec<u64>>,
    sum: Option<u64>,
}

/// How a step that takes a dependency plainly ends, given the dependency's end: `None` if it
/// runs (unless `halted`: in sequential mode after a cancelled step, it is cancelled).
fn gate(dependency: StepState, halted: bool) -> Option<StepState> {
    match dependency {
        StepState::Succeeded | StepState::Recovered if !halted => None,
        StepState::Failed | StepState::Skipped => Some(StepState::Skipped),
        StepState::Omitted => Some(StepState::Omitted),
        _ => Some(StepState::Cancelled),
    }
}

/// Checks the maps' steps against the model, each given how its dependency ended in the run:
/// the list as its parent lets it; the map's every item, its state and attempts (its function
/// called as often), its error; the map's end (failed if an item failed, its output the items'
/// outputs in order, an empty `Vec` for no items); its sum skipped after a failed map. Cut
/// short (`weak`), a step or an item may end `Cancelled` instead, an item after no more
/// attempts than the model's.
fn check_maps(
    problems: &mut Vec<String>,
    dag: &Dag,
    ctx: &Ctx,
    snapshot: &JobSnapshot,
    (dag_outputs, outputs): (&[Option<u64>], &[MapOutputs]),
    weak: bool,
) {
    let n = dag.steps.len();
    let cancelled = |s: &StepSnapshot| s.state == StepState::Cancelled;
    let mut halted = dag.sequential && snapshot.steps[..n].iter().any(cancelled);
    for (j, (map, out)) in dag.maps.iter().zip(outputs).enumerate() {
        let at = n + 3 * j;
        let mut wrong = |what: String| problems.push(format!("m{j}: {what}"));
        let (list, mapped, sum) = (
            &snapshot.steps[at],
            &snapshot.steps[at + 1],
            &snapshot.steps[at + 2],
        );
        let fits = |actual: StepState, model: StepState| {
            actual == model || (weak && actual == StepState::Cancelled)
        };
        // The list.
        let parent = &snapshot.steps[map.parent];
        let model = gate(parent.state, halted).unwrap_or(StepState::Succeeded);
        if !fits(list.state, model) {
            wrong(format!(
                "its list {}, the model: {model} (s{} {})",
                list.state, map.parent, parent.state
            ));
        }
        // The items, made from the parent's output.
        let items = (list.state == StepState::Succeeded)
            .then(|| dag_outputs[map.parent].map(|value| list_items(value, map.len)))
            .flatten();
        let expected_list = items.clone();
        if out.list != expected_list {
            wrong(format!(
                "its list's output {:?}, the model: {expected_list:?}",
                out.list
            ));
        }
        halted |= dag.sequential && cancelled(list);
        // The map and its items.
        let ends: Vec<(StepState, u32, Option<String>)> =
            (0..map.len).map(|k| item_end(j, map, k)).collect();
        let model = match gate(list.state, halted) {
            Some(state) => state,
            None if ends.iter().any(|(state, _, _)| *state == StepState::Failed) => {
                StepState::Failed
            }
            None => StepState::Succeeded,
        };
        if !fits(mapped.state, model) {
            wrong(format!("{}, the model: {model}", mapped.state));
        }
        let ran = gate(list.state, halted).is_none();
        if ran && !(weak && cancelled(mapped)) && mapped.items.len() != map.len {
            wrong(format!(
                "{} items in its snapshot, the list has {}",
                mapped.items.len(),
                map.len
            ));
        }
        if !ran && !mapped.items.is_empty() {
            wrong(format!(
                "{} items in its snapshot, but it never ran",
                mapped.items.len()
            ));
        }
        for (k, item) in mapped.items.iter().enumerate() {
            let Some((state, attempts, text)) = ends.get(k) else {
                wrong(format!("item {k} is one too many"));
                break;
            };
            let calls = ctx.item_calls[j][k].load(Ordering::SeqCst);
            if calls != item.attempts {
                wrong(format!(
                    "item {k}: its function ran {calls} times, the snapshot counts {} attempts",
                    item.attempts
                ));
            }
            if weak && item.state == StepState::Cancelled {
                if item.attempts > *attempts {
                    wrong(format!(
                        "item {k} cancelled after {} attempts, the model: at most {attempts}",
                        item.attempts
                    ));
                }
                continue;
            }
            if item.state != *state || item.attempts != *attempts {
                wrong(format!(
                    "item {k} {} after {} attempts, the model: {state} after {attempts}",
                    item.state, item.attempts
                ));
            }
            let error = item.error.as_ref().map(|e| format!("{e:#}"));
            let fits = match (text, &error) {
                (None, None) => true,
                (Some(text), Some(error)) => error.contains(text.as_str()),
                _ => false,
            };
            if !fits {
                wrong(format!("item {k}: error {error:?}, the model: {text:?}"));
            }
        }
        // A failed map: after an item failed, its error's root cause the first failed item's.
        if mapped.state == StepState::Failed {
            let first = mapped
                .items
                .iter()
                .zip(&ends)
                .find(|(item, _)| item.state == StepState::Failed);
            let root = mapped
                .error
                .as_ref()
                .map(|e| format!("{:#}", e.root_cause()));
            match first {
                Some((_, (_, _, Some(text))))
                    if root
                        .as_ref()
                        .is_some_and(|root| root.contains(text.as_str())) => {}
                _ => wrong(format!(
                    "failed with root cause {root:?}, the first failed item: {:?}",
                    first.map(|(_, end)| &end.2)
                )),
            }
        }
        let expected_map = (mapped.state == StepState::Succeeded).then(|| {
            items
                .iter()
                .flatten()
                .map(|&item| item_value(item))
                .collect::<Vec<_>>()
        });
        if out.map != expected_map {
            wrong(format!(
                "its output {:?}, the model: {expected_map:?}",
                out.map
            ));
        }
        halted |= dag.sequential && cancelled(mapped);
        // Its sum.
        let model = gate(mapped.state, halted).unwrap_or(StepState::Succeeded);
        if !fits(sum.state, model) {
            wrong(format!("its sum {}, the model: {model}", sum.state));
        }
        let expected_sum = (sum.state == StepState::Succeeded)
            .then(|| out.map.as_ref().map(|outputs| sum_value(j, outputs)))
            .flatten();
        if out.sum != expected_sum {
            wrong(format!(
                "its sum's output {:?}, the model: {expected_sum:?}",
                out.sum
            ));
        }
        halted |= dag.sequential && cancelled(sum);
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
        // Drawing a DAG of 200 steps is most of a case's time in a debug build, and ChaCha (the
        // default) made it two thirds of the test's: XorShift draws the same DAGs for a seed,
        // at a third of the cost, and its quality is plenty for picking graphs.
        rng_algorithm: RngAlgorithm::XorShift,
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
