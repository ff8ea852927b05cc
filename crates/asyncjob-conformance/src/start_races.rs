//! Cancellation, fail-fast and deadlines racing the start of a wide job (issue 12, item 1), and
//! the checks the adapters' stress tests share.
//!
//! A [`wide_job`] has only roots, so `start` schedules every step itself, one after the other,
//! while the executor's workers already run the first ones. A job-level cancel that fires in
//! that window (a deadline of zero, a failing root under fail-fast, or `cancel()` from the test)
//! must still end every step exactly once. Each step reports to a [`Probe`]: once the test has
//! seen `wait()` return it [`close`](Probe::close)s the probe, and any step function called or
//! step future polled after that is counted as late.
//!
//! What must hold whatever the timing (issue 12's invariants) is checked in two parts.
//! [`check_round`], right after `wait()` returned:
//!
//! - every step is final (none Waiting, Queued, Running or Retrying);
//! - the outcome agrees with the states: `cancel()` returned `true` iff some step ended
//!   `Cancelled`; `wait()` is the error of the first step in definition order that ended
//!   `Failed` (only the failing root may), else the cancellation's (cancelled or deadline) if
//!   some step was cancelled, else `Ok`.
//!
//! [`Round::final_check`], once the executor has run every task it had: no step function was
//! called and no step future polled since `wait()` returned. The adapters' `tests/stress.rs`
//! make it once the runtime has no task left, `tests/start_races.rs` after also shutting the
//! runtime down (joining its threads), and [`run_races`] at the end of all its rounds.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{
    JobBuilder, JobDefinition, JobError, JobErrorKind, JobInstance, JobOptions, Local, Mode,
    StepState,
};

use crate::suite::Starts;
use crate::suite::helpers::{for_mode, yield_now};

/// What the steps of a [`wide_job`] report: how often they were called, and whether they were
/// called or polled after the test saw `wait()` return.
#[derive(Debug, Default)]
pub struct Probe {
    /// The root that fails at once (for fail-fast), if any.
    failing: Option<usize>,
    calls: AtomicUsize,
    late_calls: AtomicUsize,
    late_polls: AtomicUsize,
    closed: AtomicBool,
}

impl Probe {
    /// A probe for a run in which root `failing` (if any) fails as soon as it is called.
    pub fn new(failing: Option<usize>) -> Arc<Self> {
        Arc::new(Probe {
            failing,
            ..Probe::default()
        })
    }

    fn called(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.late_calls.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn polled(&self) {
        if self.closed.load(Ordering::SeqCst) {
            self.late_polls.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Marks the job as over (call it as soon as `wait()` has returned); returns the number of
    /// step-function calls so far.
    pub fn close(&self) -> usize {
        self.closed.store(true, Ordering::SeqCst);
        self.calls.load(Ordering::SeqCst)
    }

    /// Step-function calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Step functions called after [`close`](Self::close).
    pub fn late_calls(&self) -> usize {
        self.late_calls.load(Ordering::SeqCst)
    }

    /// Step futures polled after [`close`](Self::close).
    pub fn late_polls(&self) -> usize {
        self.late_polls.load(Ordering::SeqCst)
    }
}

/// The name of root `index` of a [`wide_job`].
pub fn root_name(index: usize) -> String {
    format!("root {index}")
}

/// The body of [`wide_job`], built with `JobBuilder::$new`.
macro_rules! wide_job_of_mode {
    ($roots:expr, $new:ident) => {{
        let roots = $roots;
        let mut job = JobBuilder::<Arc<Probe>>::$new("wide");
        for index in 0..roots {
            job.step(root_name(index))
                .run(move |probe: Arc<Probe>| {
                    probe.called();
                    async move {
                        probe.polled();
                        if probe.failing == Some(index) {
                            return Err("root failed");
                        }
                        yield_now().await;
                        probe.polled();
                        Ok(())
                    }
                })
                .unwrap_or_else(|error| panic!("the wide job is well formed: {error}"));
        }
        job.seal()
    }};
}

/// A job of `roots` independent root steps. Each step function reports its call to the
/// [`Probe`]; its future reports each poll, yields once, and succeeds. The probe's failing root
/// instead fails on its first poll with `"root failed"`.
pub fn wide_job(roots: usize) -> JobDefinition<Arc<Probe>> {
    wide_job_of_mode!(roots, new)
}

/// The [`wide_job`] as a local definition (`JobBuilder::new_local`).
pub fn wide_local_job(roots: usize) -> JobDefinition<Arc<Probe>, Local> {
    wide_job_of_mode!(roots, new_local)
}

/// The [`wide_job`] as a definition of mode `D`: [`wide_job`] or [`wide_local_job`].
pub fn wide_job_in<D: Mode>(roots: usize) -> JobDefinition<Arc<Probe>, D> {
    for_mode::<D, _, _, _>(|| wide_job(roots), || wide_local_job(roots))
        .expect("a definition mode is Sendable or Local")
}

/// What ends a round early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Race {
    /// A deadline of zero, which fires while `start` is still scheduling the roots.
    Deadline,
    /// Fail-fast, with root 0 failing as soon as it is called.
    FailFast,
    /// `cancel()` from the test thread as soon as `start` has returned.
    Cancel,
    /// `cancel()` from the test thread once about half the step functions have been called
    /// (for executors whose workers run the steps while the test thread waits; elsewhere a
    /// bounded spin, then `cancel()` before any step ran).
    CancelMidway,
    /// Fail-fast with root 0 failing at once, and a deadline of zero: whichever comes first.
    FailFastAndDeadline,
}

impl Race {
    /// The races of the behaviour suite's test, which run on any executor.
    pub const ALL: [Race; 3] = [Race::Deadline, Race::FailFast, Race::Cancel];

    /// Every race, for the stress tests on multi-threaded runtimes.
    pub const STRESS: [Race; 5] = [
        Race::Deadline,
        Race::FailFast,
        Race::Cancel,
        Race::CancelMidway,
        Race::FailFastAndDeadline,
    ];

    /// The options to start a round with.
    pub fn options(self) -> JobOptions {
        match self {
            Race::Deadline => JobOptions::new().deadline(Duration::ZERO),
            Race::FailFast => JobOptions::new().fail_fast(),
            Race::Cancel | Race::CancelMidway => JobOptions::new(),
            Race::FailFastAndDeadline => JobOptions::new().fail_fast().deadline(Duration::ZERO),
        }
    }

    /// The root that fails in a round of this race.
    pub fn failing(self) -> Option<usize> {
        matches!(self, Race::FailFast | Race::FailFastAndDeadline).then_some(0)
    }

    /// The kind of `wait()`'s error when the round was cut short and no step failed.
    fn cut_short(self) -> JobErrorKind {
        match self {
            Race::Deadline | Race::FailFastAndDeadline => JobErrorKind::DeadlineExceeded,
            Race::FailFast | Race::Cancel | Race::CancelMidway => JobErrorKind::Cancelled,
        }
    }

    /// Whether the test calls `cancel()` in this race.
    fn cancels(self) -> bool {
        matches!(self, Race::Cancel | Race::CancelMidway)
    }
}

/// A round that has been run and checked up to `wait()`: keep it to check, once the executor
/// has run everything it had or has been shut down, that no step function was called since
/// ([`Round::final_check`]).
#[derive(Debug)]
pub struct Round {
    /// The round's probe.
    pub probe: Arc<Probe>,
    /// Step-function calls when the test saw `wait()` return.
    pub calls_at_wait: usize,
    /// What `cancel()` returned ([`Race::Cancel`] only).
    pub cancel_returned: Option<bool>,
    /// The checks made right after `wait()` returned ([`check_round`]).
    pub checked: Result<(), String>,
}

impl Round {
    /// The checks made when `wait()` returned, and that no step function was called and no
    /// step future polled since; call it once the executor has had every chance to run what it
    /// still had (best: its tasks ran to their end, then it was shut down and its threads
    /// joined).
    ///
    /// # Errors
    ///
    /// A description of every invariant that did not hold.
    pub fn final_check(&self) -> Result<(), String> {
        let mut problems: Vec<String> = self.checked.clone().err().into_iter().collect();
        let calls = self.probe.calls();
        if calls != self.calls_at_wait {
            problems.push(format!(
                "{} step functions were called after wait() returned ({} when it returned, {} \
                 at the end)",
                calls - self.calls_at_wait,
                self.calls_at_wait,
                calls
            ));
        }
        if self.probe.late_polls() > 0 {
            problems.push(format!(
                "{} step futures were polled after wait() returned",
                self.probe.late_polls()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Starts a round of `race` on `job` with `start`, waits for it with `block_on`, and checks the
/// invariants of the module documentation ([`Round::checked`]).
pub fn run_round<M: Mode, D: Mode>(
    job: &JobDefinition<Arc<Probe>, D>,
    race: Race,
    start: impl FnOnce(&JobDefinition<Arc<Probe>, D>, Arc<Probe>, JobOptions) -> JobInstance<M>,
    block_on: impl FnOnce(Pin<Box<dyn Future<Output = Result<(), JobError>>>>) -> Result<(), JobError>,
) -> Round {
    let probe = Probe::new(race.failing());
    let instance = start(job, probe.clone(), race.options());
    if race == Race::CancelMidway {
        let half = job.len() / 2;
        for _ in 0..10_000_000 {
            if probe.calls() >= half {
                break;
            }
            std::hint::spin_loop();
        }
    }
    let cancel_returned = race.cancels().then(|| instance.cancel());
    let outcome = block_on(Box::pin(instance.wait()));
    let calls_at_wait = probe.close();
    let checked = check_round(&instance, race, &outcome, cancel_returned);
    Round {
        probe,
        calls_at_wait,
        cancel_returned,
        checked,
    }
}

/// Checks a round right after `wait()` returned `outcome`: see the module documentation.
///
/// # Errors
///
/// A description of every invariant that did not hold.
pub fn check_round<M: Mode>(
    instance: &JobInstance<M>,
    race: Race,
    outcome: &Result<(), JobError>,
    cancel_returned: Option<bool>,
) -> Result<(), String> {
    let steps = instance.steps();
    let count = |state: StepState| steps.iter().filter(|s| s.state == state).count();
    let mut problems = String::new();
    let unfinished: Vec<String> = [
        StepState::Waiting,
        StepState::Queued,
        StepState::Running,
        StepState::Retrying,
    ]
    .into_iter()
    .filter(|&state| count(state) > 0)
    .map(|state| format!("{} {state}", count(state)))
    .collect();
    if !unfinished.is_empty() {
        let _ = write!(
            problems,
            "; wait() returned with steps not ended: {}",
            unfinished.join(", ")
        );
    }
    let cancelled = count(StepState::Cancelled);
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| s.state == StepState::Failed)
        .map(|s| &*s.name)
        .collect();
    let failing = race.failing().map(root_name);
    // The failing root fails unless a deadline cancelled it first.
    let expected_failed = match (&failing, race) {
        (None, _) => failed.is_empty(),
        (Some(root), Race::FailFastAndDeadline) => failed.is_empty() || failed == [root],
        (Some(root), _) => failed == [root],
    };
    if !expected_failed {
        let _ = write!(
            problems,
            "; failed steps: {failed:?}, expected {:?}",
            failing.iter().collect::<Vec<_>>()
        );
    }
    // The job's error: the first failure in definition order, else the cancellation's, else Ok.
    match (failed.first(), outcome) {
        (Some(&first), Err(error))
            if error.kind() == JobErrorKind::StepFailed && error.step() == Some(first) => {}
        (Some(&first), other) => {
            let _ = write!(
                problems,
                "; wait() returned {other:?}, not the failure of {first:?}"
            );
        }
        (None, Ok(())) if cancelled > 0 => {
            let _ = write!(
                problems,
                "; wait() returned Ok although {cancelled} steps were cancelled"
            );
        }
        (None, Ok(())) => {}
        (None, Err(error)) if error.kind() == race.cut_short() && cancelled > 0 => {}
        (None, Err(error)) => {
            let _ = write!(
                problems,
                "; wait() returned {error:?} with {cancelled} steps cancelled and none failed"
            );
        }
    }
    if let Some(returned) = cancel_returned {
        if returned != (cancelled > 0) {
            let _ = write!(
                problems,
                "; cancel() returned {returned} but {cancelled} steps ended Cancelled"
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{race:?} round of {} roots: {}",
            steps.len(),
            problems.trim_start_matches("; ")
        ))
    }
}

/// Runs `rounds` rounds of every [`Race`] on the harness.
///
/// A harness cannot be shut down, so calls after `wait()` returned are counted at the end: by
/// then the executor has run every later round, plenty of time for a step left behind to run.
///
/// # Panics
///
/// On the first round that breaks an invariant (see the module documentation), and at the end
/// if a round's step functions were called or its futures polled after its `wait()` returned.
pub fn run_races<S: Starts>(h: &S, roots: usize, rounds: usize) {
    let job = wide_job_in::<S::Definitions>(roots);
    let mut done = Vec::new();
    for number in 0..rounds {
        for race in Race::ALL {
            let round = run_round(
                &job,
                race,
                |job, probe, options| h.start(job, probe, options),
                |wait| h.block_on(wait),
            );
            if let Err(problem) = &round.checked {
                panic!("on {}, round {number}: {problem}", h.name());
            }
            done.push((number, race, round));
        }
    }
    h.block_on(async {
        for _ in 0..100 {
            yield_now().await;
        }
    });
    for (number, race, round) in done {
        if let Err(problem) = round.final_check() {
            panic!("on {}, {race:?} round {number}: {problem}", h.name());
        }
    }
}

/// How many rounds the adapters' stress tests run, and on how many roots: the default fits a
/// debug build in CI; `ASYNCJOB_STRESS=1` runs the long variant.
#[derive(Debug, Clone, Copy)]
pub struct StressPlan {
    /// Rounds on a job of [`roots`](Self::roots) roots, going through [`Race::STRESS`] in turn.
    pub rounds: usize,
    /// The width of the job of the many rounds.
    pub roots: usize,
    /// Rounds on a job of [`wide_roots`](Self::wide_roots) roots.
    pub wide_rounds: usize,
    /// The width of the job of the few wide rounds.
    pub wide_roots: usize,
}

impl StressPlan {
    /// The default plan: 1,000 rounds of 1,000 roots and 10 of 20,000 roots.
    pub const DEFAULT: StressPlan = StressPlan {
        rounds: 1_000,
        roots: 1_000,
        wide_rounds: 10,
        wide_roots: 20_000,
    };

    /// The long plan: 20,000 rounds of 1,000 roots and 500 of 20,000 roots.
    pub const LONG: StressPlan = StressPlan {
        rounds: 20_000,
        roots: 1_000,
        wide_rounds: 500,
        wide_roots: 20_000,
    };

    /// [`LONG`](Self::LONG) if the environment variable `ASYNCJOB_STRESS` is `1`, else
    /// [`DEFAULT`](Self::DEFAULT).
    pub fn from_env() -> Self {
        match std::env::var("ASYNCJOB_STRESS").as_deref() {
            Ok("1") => Self::LONG,
            _ => Self::DEFAULT,
        }
    }
}

/// Runs the rounds of `plan`: each is started with `start`, waited for with `block_on`, and
/// checked ([`check_round`]); then `settle` must return only once the executor has run every
/// task it had to its end, and the round's calls are checked ([`Round::final_check`]).
///
/// # Panics
///
/// If any round broke an invariant: the message counts them and shows the first ten.
pub fn stress<M: Mode>(
    executor: &str,
    plan: StressPlan,
    start: impl Fn(&JobDefinition<Arc<Probe>>, Arc<Probe>, JobOptions) -> JobInstance<M>,
    block_on: impl Fn(Pin<Box<dyn Future<Output = Result<(), JobError>>>>) -> Result<(), JobError>,
    settle: impl Fn(),
) {
    let mut failures = Vec::new();
    let mut per_race = [(0usize, 0usize); Race::STRESS.len()];
    for (roots, rounds) in [
        (plan.roots, plan.rounds),
        (plan.wide_roots, plan.wide_rounds),
    ] {
        let job = wide_job(roots);
        for number in 0..rounds {
            let which = number % Race::STRESS.len();
            let round = run_round(&job, Race::STRESS[which], &start, &block_on);
            settle();
            per_race[which].1 += 1;
            if let Err(problem) = round.final_check() {
                per_race[which].0 += 1;
                failures.push(format!("{roots} roots, round {number}: {problem}"));
            }
        }
    }
    let summary: Vec<String> = Race::STRESS
        .iter()
        .zip(per_race)
        .map(|(race, (failed, run))| format!("{race:?} {failed}/{run}"))
        .collect();
    assert!(
        failures.is_empty(),
        "on {executor}: rounds failed ({}); the first ones:\n{}",
        summary.join(", "),
        failures[..failures.len().min(10)].join("\n")
    );
}
