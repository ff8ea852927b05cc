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
//! [`check_round`] checks what must hold whatever the timing (issue 12's invariants):
//!
//! - when `wait()` returns, every step is final (none Waiting, Pending, Running or Retrying);
//! - no step function is called, and no step future polled, after `wait()` returned;
//! - the outcome agrees with the states: `cancel()` returned `true` iff some step ended
//!   `Cancelled`; `wait()` is the failing root's error if it failed, else the cancellation's
//!   (cancelled or deadline) if some step was cancelled, else `Ok`.
//!
//! [`Round::final_check`] adds one more, made once the executor has run what it had: the number
//! of step-function calls is still the one seen when `wait()` returned, and no step future was
//! polled since. The adapters' `tests/start_races.rs` and `tests/stress.rs` make it after letting
//! every task run to its end and shutting the runtime down (joining its threads).

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{
    JobBuilder, JobDefinition, JobError, JobErrorKind, JobInstance, JobOptions, Mode, StepState,
};

use crate::Harness;
use crate::tests::yield_now;

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

/// A job of `roots` independent root steps. Each step function reports its call to the
/// [`Probe`]; its future reports each poll, yields once, and succeeds. The probe's failing root
/// instead fails on its first poll with `"root failed"`.
pub fn wide_job(roots: usize) -> JobDefinition<Arc<Probe>> {
    let mut job = JobBuilder::<Arc<Probe>>::new("wide");
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
}

impl Race {
    /// Every race, for tests that go through them in turn.
    pub const ALL: [Race; 3] = [Race::Deadline, Race::FailFast, Race::Cancel];

    /// The options to start a round with.
    pub fn options(self) -> JobOptions {
        match self {
            Race::Deadline => JobOptions::new().deadline(Duration::ZERO),
            Race::FailFast => JobOptions::new().fail_fast(),
            Race::Cancel => JobOptions::new(),
        }
    }

    /// The root that fails in a round of this race.
    pub fn failing(self) -> Option<usize> {
        (self == Race::FailFast).then_some(0)
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
pub fn run_round<M: Mode>(
    job: &JobDefinition<Arc<Probe>>,
    race: Race,
    start: impl FnOnce(&JobDefinition<Arc<Probe>>, Arc<Probe>, JobOptions) -> JobInstance<M>,
    block_on: impl FnOnce(Pin<Box<dyn Future<Output = Result<(), JobError>>>>) -> Result<(), JobError>,
) -> Round {
    let probe = Probe::new(race.failing());
    let instance = start(job, probe.clone(), race.options());
    let cancel_returned = (race == Race::Cancel).then(|| instance.cancel());
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
        StepState::Pending,
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
    let expected_failed: Vec<String> = race.failing().map(root_name).into_iter().collect();
    if failed != expected_failed {
        let _ = write!(
            problems,
            "; failed steps: {failed:?}, expected {expected_failed:?}"
        );
    }
    match (race, outcome) {
        (Race::FailFast, Err(error))
            if error.kind() == JobErrorKind::StepFailed && error.step() == root_name(0) => {}
        (Race::FailFast, other) => {
            let _ = write!(
                problems,
                "; wait() returned {other:?}, not the failure of {:?}",
                root_name(0)
            );
        }
        (_, Ok(())) if cancelled > 0 => {
            let _ = write!(
                problems,
                "; wait() returned Ok although {cancelled} steps were cancelled"
            );
        }
        (_, Ok(())) => {}
        (Race::Deadline, Err(error)) if error.kind() == JobErrorKind::TimedOut => {}
        (Race::Cancel, Err(error)) if error.kind() == JobErrorKind::Cancelled => {}
        (_, Err(error)) => {
            let _ = write!(problems, "; wait() returned an unexpected error: {error}");
        }
    }
    if outcome.is_err() && race != Race::FailFast && cancelled == 0 {
        let _ = write!(
            problems,
            "; wait() reported a cancellation but no step ended Cancelled"
        );
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
pub fn run_races<H: Harness>(h: &H, roots: usize, rounds: usize) {
    let job = wide_job(roots);
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

/// A deadline of zero, fail-fast with a root failing at once, and `cancel()` right after
/// `start`, each on a job of 2,000 roots, 5 rounds: when `wait()` returns every step has ended,
/// no step function is called afterwards, and `cancel()`'s return and `wait()`'s outcome agree
/// with the steps' final states (issue 12, item 1).
pub fn cancel_fail_fast_and_deadline_race_the_start_of_2000_roots<H: Harness>(h: &H) {
    run_races(h, 2_000, 5);
}
