//! One step's life in one run: a single atomic word holds the step's state, a flag and the
//! time it entered that state; every transition is a compare-and-swap on that word, made by a
//! method here that says who may call it.
//!
//! ```text
//! Waiting ──queue──► Queued ──start──► Running ◄──resume── Backoff
//!    │                 │  │             ▲  └──back_off──────►│ │
//!    │                 │  └await_permit►Permit◄──await_permit─┘ │
//!    │ skip / omit     │ cancel/abandon │ finish / abandon      │ finish / abandon
//!    ▼                 ▼                ▼                       ▼
//! Skipped | Omitted  Cancelled | Failed   Succeeded | Recovered | Failed | Omitted | Cancelled
//! ```
//!
//! (`finish` ends a step `Omitted` when its condition did not hold, `Recovered` when its
//! fallback made its output. `Permit` leads to `Running` by `start` before the first attempt,
//! by `resume` before a retry; `finish` and `abandon` end it too.)
//!
//! Ownership: `Waiting` and `Queued` steps are nobody's — the run (`queue`, `skip`, `cancel`)
//! and the step's driver (`start`, `await_permit`, `abandon`) race for them, and the CAS picks
//! one. `Running`, `Backoff` and `Permit` steps belong to their driver: only it moves them on
//! (`back_off`, `await_permit`, `resume`, `finish`, `abandon`); `cancel` only sets the
//! [`CANCEL`] flag on them, and the driver then ends them `Cancelled`, whatever the step's
//! future returned. Whoever makes the transition into a final state counts the step's end,
//! exactly once.
//!
//! Times: the word carries the time the step entered its current state. Before a transition
//! leaves `Queued`, its first `Permit` or its first `Running`, the time it entered that state
//! is archived (`queued_at`, `permit_at`, `started_at`), so a reader that loads the word sees
//! every earlier time too.
//! Racing writers of an archive write the same value: the entry time of one state.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::JobError;
use crate::sync::{AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::{RetriedAttempt, StepState};

const PHASE: u64 = 0b1111;
const WAITING: u64 = 0;
const QUEUED: u64 = 1;
const RUNNING: u64 = 2;
const BACKOFF: u64 = 3;
/// Waiting for a permit of a [`Limit`](crate::Limit) before an attempt.
const PERMIT: u64 = 4;
// The final phases: every phase from `SUCCEEDED` on.
const SUCCEEDED: u64 = 5;
const FAILED: u64 = 6;
const SKIPPED: u64 = 7;
const CANCELLED: u64 = 8;
const OMITTED: u64 = 9;
const RECOVERED: u64 = 10;
/// Set by `cancel` on a step its driver owns: the driver ends it `Cancelled`.
const CANCEL: u64 = 1 << 4;
const STAMP_SHIFT: u32 = 8;
/// An archive not written yet.
const NONE: u64 = u64::MAX;

/// How many retried attempts a step keeps: the first [`KEEP_FIRST`] and the last
/// [`KEEP_LAST`]; the others are only counted.
pub(crate) const KEEP_FIRST: usize = 8;
/// See [`KEEP_FIRST`].
pub(crate) const KEEP_LAST: usize = 8;

/// A time, in nanoseconds since the run's origin (56 bits: about 833 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    pub(crate) fn from_duration(since_origin: Duration) -> Self {
        let nanos = u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX);
        Stamp(nanos.min(u64::MAX >> STAMP_SHIFT))
    }

    pub(crate) fn duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

fn pack(phase: u64, flags: u64, at: Stamp) -> u64 {
    phase | flags | (at.0 << STAMP_SHIFT)
}

fn phase(word: u64) -> u64 {
    word & PHASE
}

fn entered(word: u64) -> Stamp {
    Stamp(word >> STAMP_SHIFT)
}

fn archived(cell: &AtomicU64) -> Option<Stamp> {
    match cell.load(Ordering::Acquire) {
        NONE => None,
        at => Some(Stamp(at)),
    }
}

/// How a step ended, as the transition that ended it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Succeeded,
    /// Failed, and its fallback made its output: its dependents run as after a success.
    Recovered,
    Failed,
    /// Its condition did not hold (or, from [`StepSlot::omit`], a dependency was omitted).
    Omitted,
    Cancelled,
}

impl Ended {
    /// The step's dependents may take its output.
    pub(crate) fn has_output(self) -> bool {
        matches!(self, Ended::Succeeded | Ended::Recovered)
    }
}

/// What [`StepSlot::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelEffect {
    /// The step had not started: it is now `Cancelled`, and the caller counts its end.
    Ended,
    /// The step's driver owns it: it will end `Cancelled` (and the driver counts it).
    Flagged,
    /// The step had already ended `Cancelled`.
    WasCancelled,
    /// The step had already ended otherwise.
    WasEnded,
}

/// The attempts of a step that failed and were retried: the first [`KEEP_FIRST`], the last
/// [`KEEP_LAST`], and how many in between were dropped; and the step's time split between
/// attempts and back-offs, counted over every attempt (the dropped ones too).
#[derive(Debug, Default)]
pub(crate) struct RetryLog {
    pub(crate) kept: Vec<RetriedAttempt>,
    pub(crate) omitted: u32,
    /// Time spent in the attempts that failed and were retried.
    ran: Duration,
    /// Time spent in the back-offs that have ended (the next attempt started).
    backed_off: Duration,
    /// When the current attempt started, if it is not the first (whose start is `started_at`).
    resumed: Option<Stamp>,
    /// When the back-off under way started, if one is.
    backing_off: Option<Stamp>,
    /// Time spent waiting for permits between attempts (the waits that have ended).
    permit_waited: Duration,
    /// When the wait for permits under way between attempts started, if one is.
    permit_since: Option<Stamp>,
}

impl RetryLog {
    fn push(&mut self, attempt: RetriedAttempt) {
        if self.kept.len() == KEEP_FIRST + KEEP_LAST {
            self.kept.remove(KEEP_FIRST);
            self.omitted = self.omitted.saturating_add(1);
        }
        self.kept.push(attempt);
    }
}

/// A step as read at one moment: the state and every time from one load of the word.
#[derive(Debug, Clone)]
pub(crate) struct StepView {
    pub(crate) state: StepState,
    pub(crate) ready: Option<Stamp>,
    pub(crate) started: Option<Stamp>,
    pub(crate) ended: Option<Stamp>,
    pub(crate) attempts: u32,
    pub(crate) retried: Vec<RetriedAttempt>,
    pub(crate) retried_omitted: u32,
    /// When the step first waited for a permit, if it did.
    pub(crate) permit: Option<Stamp>,
    /// The step waits for a permit now.
    pub(crate) awaiting_permit: bool,
    /// From the [`RetryLog`], read with `retried`.
    ran: Duration,
    backed_off: Duration,
    resumed: Option<Stamp>,
    backing_off: Option<Stamp>,
    permit_waited: Duration,
    permit_since: Option<Stamp>,
}

impl StepView {
    /// The time the step spent running its attempts, if it started, and the time it spent in
    /// back-off between them, until its end or, if it has not ended, until `now` (since the
    /// start of the run). The two add up to the time from its first start.
    ///
    /// Both come from the retry log alone (and the step's first start and end): the log is
    /// written before the transition it records, so a reader that sees the log a moment ahead
    /// of the word still gets two times that add up.
    pub(crate) fn running_and_backoff(&self, now: Duration) -> (Option<Duration>, Duration) {
        let until = self.ended.map_or(now, Stamp::duration);
        let since = |at: Stamp| until.saturating_sub(at.duration());
        let backoff = self.backed_off + self.backing_off.map_or(Duration::ZERO, since);
        let running = self.started.map(|first| {
            let current = match (self.backing_off, self.permit_since) {
                (None, None) => since(self.resumed.unwrap_or(first)),
                _ => Duration::ZERO,
            };
            self.ran + current
        });
        (running, backoff)
    }

    /// The time the step spent waiting for permits of its [limits](crate::Limit), before its
    /// first attempt and between attempts, until its end or `now`.
    pub(crate) fn permit_wait(&self, now: Duration) -> Duration {
        let until = self.ended.map_or(now, Stamp::duration);
        let first = self.permit.map_or(Duration::ZERO, |since| {
            let to = self.started.map_or(until, Stamp::duration);
            to.saturating_sub(since.duration())
        });
        let current = self.permit_since.map_or(Duration::ZERO, |since| {
            until.saturating_sub(since.duration())
        });
        first + self.permit_waited + current
    }
}

/// The live state of one step of one run.
#[derive(Debug)]
pub(crate) struct StepSlot {
    word: AtomicU64,
    /// Dependencies that have not ended in a way that lets the step run yet.
    pending: AtomicUsize,
    queued_at: AtomicU64,
    permit_at: AtomicU64,
    started_at: AtomicU64,
    /// Attempts made, for steps whose body records them (0: derive from `started`).
    attempts: AtomicU32,
    /// The error of a `Failed` step that ran (set by its driver), of a `Skipped` or `Omitted`
    /// step (set by whoever ended it), or what a `Recovered` step recovered from, before the
    /// transition. Other errors are derived from the state.
    error: OnceLock<JobError>,
    /// Made by the first retry: a step that is not retried keeps its slot small.
    retries: Mutex<Option<Box<RetryLog>>>,
}

impl StepSlot {
    pub(crate) fn new(dependencies: usize) -> Self {
        StepSlot {
            word: AtomicU64::new(pack(WAITING, 0, Stamp(0))),
            pending: AtomicUsize::new(dependencies),
            queued_at: AtomicU64::new(NONE),
            permit_at: AtomicU64::new(NONE),
            started_at: AtomicU64::new(NONE),
            attempts: AtomicU32::new(0),
            error: OnceLock::new(),
            retries: Mutex::new(None),
        }
    }

    /// Archives the entry time of the state `word` is leaving, if it is one that is kept.
    fn archive(&self, word: u64) {
        match phase(word) {
            QUEUED => self.queued_at.store(entered(word).0, Ordering::Release),
            // Only the first wait for a permit (before the first attempt) is archived; later
            // ones are in the retry log.
            PERMIT
                if self.permit_at.load(Ordering::Relaxed) == NONE
                    && self.started_at.load(Ordering::Relaxed) == NONE =>
            {
                self.permit_at.store(entered(word).0, Ordering::Release);
            }
            // Only the first `Running` is archived. It is archived before the step can be
            // `Running` again (when it backs off), and racing archivers write the same value.
            RUNNING if self.started_at.load(Ordering::Relaxed) == NONE => {
                self.started_at.store(entered(word).0, Ordering::Release);
            }
            _ => {}
        }
    }

    /// Moves the word on as `next` decides from the current one (`None`: not from here);
    /// returns the word it moved from, or the word that stopped it.
    fn transition(&self, next: impl Fn(u64) -> Option<u64>) -> Result<u64, u64> {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let Some(new) = next(current) else {
                return Err(current);
            };
            self.archive(current);
            match self
                .word
                .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(current),
                Err(actual) => current = actual,
            }
        }
    }

    /// One of the step's dependencies ended in a way that lets the step run (it succeeded or
    /// recovered, or the step takes it whatever its outcome); `true` if it was the last one.
    /// Called once per dependency, by whoever ended the dependency.
    pub(crate) fn dependency_done(&self) -> bool {
        self.pending.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// `Waiting → Queued`, at `at`: the step's dependencies have succeeded (or it has none) and a
    /// driver is about to be spawned. Called by the run. `false` if the step was cancelled.
    pub(crate) fn queue(&self, at: Stamp) -> bool {
        self.transition(|w| (phase(w) == WAITING).then(|| pack(QUEUED, 0, at)))
            .is_ok()
    }

    /// `Queued | Permit → Running`, at `at`: the driver takes the step, or, before its first
    /// attempt, the step got its permits. `false` if it was cancelled or abandoned first (the
    /// driver then leaves it alone), or if cancellation reached it while it waited for a
    /// permit (its driver then ends it).
    pub(crate) fn start(&self, at: Stamp) -> bool {
        self.transition(|w| match phase(w) {
            QUEUED => Some(pack(RUNNING, 0, at)),
            PERMIT if w & CANCEL == 0 => Some(pack(RUNNING, 0, at)),
            _ => None,
        })
        .is_ok()
    }

    /// `Queued | Backoff → Permit`, at `at`: the step waits for a permit of a
    /// [limit](crate::Limit) before its first attempt (from `Queued`: the driver takes the
    /// step) or before a retry (from `Backoff`, whose end is logged first). Driver only.
    /// `false` if a `Queued` step was cancelled or abandoned first, or if the step was
    /// elsewhere.
    pub(crate) fn await_permit(&self, at: Stamp) -> bool {
        let current = self.word.load(Ordering::Acquire);
        if phase(current) == BACKOFF {
            let mut log = self.log();
            let log = log.get_or_insert_with(Box::default);
            if let Some(since) = log.backing_off.take() {
                log.backed_off += at.duration().saturating_sub(since.duration());
            }
            log.permit_since = Some(at);
        }
        self.transition(|w| match phase(w) {
            QUEUED => Some(pack(PERMIT, 0, at)),
            BACKOFF => Some(pack(PERMIT, w & CANCEL, at)),
            _ => None,
        })
        .is_ok()
    }

    /// Records the number of the attempt that is starting. Driver only.
    pub(crate) fn set_attempt(&self, attempt: u32) {
        self.attempts.store(attempt, Ordering::Release);
    }

    /// `Running → Backoff`, at `at`: attempt `attempt` failed with `error` and will be retried
    /// after `backoff`. Driver only. The attempt is logged before the transition, so a reader
    /// that sees `Backoff` sees it. `true` if the step was running.
    pub(crate) fn back_off(
        &self,
        attempt: u32,
        error: JobError,
        backoff: Duration,
        at: Stamp,
    ) -> bool {
        let current = self.word.load(Ordering::Acquire);
        if phase(current) != RUNNING {
            return false;
        }
        let started = entered(current);
        let record = RetriedAttempt {
            attempt,
            start_offset: started.duration(),
            end_offset: at.duration(),
            error,
            backoff,
            next_start_offset: None,
        };
        {
            let mut log = self.log();
            let log = log.get_or_insert_with(Box::default);
            log.push(record);
            log.ran += at.duration().saturating_sub(started.duration());
            log.backing_off = Some(at);
        }
        self.transition(|w| (phase(w) == RUNNING).then(|| pack(BACKOFF, w & CANCEL, at)))
            .is_ok()
    }

    /// `Backoff | Permit → Running`, at `at`: attempt `attempt` starts, its back-off (and its
    /// wait for permits) over. Driver only. The back-off's end is logged before the
    /// transition. `true` if the step was backing off or waiting for a permit.
    pub(crate) fn resume(&self, attempt: u32, at: Stamp) -> bool {
        self.set_attempt(attempt);
        if !matches!(phase(self.word.load(Ordering::Acquire)), BACKOFF | PERMIT) {
            return false;
        }
        {
            let mut log = self.log();
            let log = log.get_or_insert_with(Box::default);
            if let Some(since) = log.backing_off.take() {
                log.backed_off += at.duration().saturating_sub(since.duration());
            }
            if let Some(since) = log.permit_since.take() {
                log.permit_waited += at.duration().saturating_sub(since.duration());
            }
            log.resumed = Some(at);
            if let Some(last) = log.kept.last_mut() {
                last.next_start_offset = Some(at.duration());
            }
        }
        self.transition(|w| {
            matches!(phase(w), BACKOFF | PERMIT).then(|| pack(RUNNING, w & CANCEL, at))
        })
        .is_ok()
    }

    fn log(&self) -> impl std::ops::DerefMut<Target = Option<Box<RetryLog>>> + '_ {
        self.retries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Running | Backoff | Permit → Succeeded | Failed | Cancelled`, at `at`. Driver only. A step that
    /// cancellation reached ends `Cancelled`, whatever `outcome` says; so does one whose
    /// outcome is a cancellation. `None` if the driver did not own the step (nothing to count).
    ///
    /// A step that [recovered](Self::recovered) ends `Recovered` on success; one whose outcome
    /// is an omission ends `Omitted`.
    pub(crate) fn finish(&self, outcome: Result<(), JobError>, at: Stamp) -> Option<Ended> {
        let target = match outcome {
            Ok(()) if self.error.get().is_some() => RECOVERED,
            Ok(()) => SUCCEEDED,
            Err(error) if error.is_cancelled() => CANCELLED,
            Err(error) => {
                let target = if error.is_omitted() { OMITTED } else { FAILED };
                let _ = self.error.set(error);
                target
            }
        };
        self.end_owned(target, at)
    }

    /// The running step failed with `error`, and its fallback made its output: it will end
    /// `Recovered`. Driver only, before [`finish`](Self::finish).
    pub(crate) fn recovered(&self, error: JobError) {
        let _ = self.error.set(error);
    }

    fn end_owned(&self, target: u64, at: Stamp) -> Option<Ended> {
        let from = self
            .transition(|w| {
                let to = if w & CANCEL != 0 { CANCELLED } else { target };
                matches!(phase(w), RUNNING | BACKOFF | PERMIT).then(|| pack(to, 0, at))
            })
            .ok()?;
        Some(if from & CANCEL != 0 {
            Ended::Cancelled
        } else {
            match target {
                SUCCEEDED => Ended::Succeeded,
                RECOVERED => Ended::Recovered,
                FAILED => Ended::Failed,
                OMITTED => Ended::Omitted,
                _ => Ended::Cancelled,
            }
        })
    }

    /// `Waiting → Skipped`, at `at`: a dependency failed or was skipped. Called by the run;
    /// `error` is stored first. `false` if the step had left `Waiting` (it was cancelled).
    pub(crate) fn skip(&self, error: impl FnOnce() -> JobError, at: Stamp) -> bool {
        if phase(self.word.load(Ordering::Acquire)) != WAITING {
            return false;
        }
        let _ = self.error.set(error());
        self.transition(|w| (phase(w) == WAITING).then(|| pack(SKIPPED, 0, at)))
            .is_ok()
    }

    /// `Waiting → Omitted`, at `at`: a dependency the step needs was omitted. Called by the
    /// run; `error` is stored first. `false` if the step had left `Waiting` (it was cancelled,
    /// or skipped).
    pub(crate) fn omit(&self, error: impl FnOnce() -> JobError, at: Stamp) -> bool {
        if phase(self.word.load(Ordering::Acquire)) != WAITING {
            return false;
        }
        let _ = self.error.set(error());
        self.transition(|w| (phase(w) == WAITING).then(|| pack(OMITTED, 0, at)))
            .is_ok()
    }

    /// Cancellation reaches the step, at `at`. Called by the run.
    pub(crate) fn cancel(&self, at: Stamp) -> CancelEffect {
        let moved = self.transition(|w| match phase(w) {
            WAITING | QUEUED => Some(pack(CANCELLED, 0, at.max(entered(w)))),
            RUNNING | BACKOFF | PERMIT if w & CANCEL == 0 => Some(w | CANCEL),
            _ => None,
        });
        match moved {
            Ok(from) if matches!(phase(from), WAITING | QUEUED) => CancelEffect::Ended,
            Ok(_) => CancelEffect::Flagged,
            Err(w) if matches!(phase(w), RUNNING | BACKOFF | PERMIT) => CancelEffect::Flagged,
            Err(w) if phase(w) == CANCELLED => CancelEffect::WasCancelled,
            Err(_) => CancelEffect::WasEnded,
        }
    }

    /// The step cannot be run or finished: the executor refused its driver or dropped it.
    /// A `Queued` step ends `Failed` without having run (anyone may call this: the CAS decides
    /// against `start` and `cancel`); a `Running | Backoff | Permit` step ends `Failed` with
    /// `error`, or
    /// `Cancelled` if cancellation had reached it (its driver only). `None` if the step was
    /// elsewhere.
    pub(crate) fn abandon(&self, error: impl FnOnce() -> JobError, at: Stamp) -> Option<Ended> {
        let current = self.word.load(Ordering::Acquire);
        match phase(current) {
            QUEUED => {
                let failed = self
                    .transition(|w| {
                        (phase(w) == QUEUED).then(|| pack(FAILED, 0, at.max(entered(w))))
                    })
                    .is_ok();
                // The step never ran: nothing else can have stored an error. (A reader in
                // between sees `SpawnFailed` without the executor's reason.)
                failed.then(|| {
                    let _ = self.error.set(error());
                    Ended::Failed
                })
            }
            RUNNING | BACKOFF | PERMIT => {
                let _ = self.error.set(error());
                self.end_owned(FAILED, at)
            }
            _ => None,
        }
    }

    /// The step's current state.
    pub(crate) fn state(&self) -> StepState {
        decode(self.word.load(Ordering::Acquire))
    }

    /// `true` if the step is `Failed`.
    pub(crate) fn is_failed(&self) -> bool {
        phase(self.word.load(Ordering::Acquire)) == FAILED
    }

    /// The stored error (see the field's documentation for which steps have one).
    pub(crate) fn stored_error(&self) -> Option<&JobError> {
        self.error.get()
    }

    /// The step's state and times, all from one moment: the word is read before and after
    /// the other fields, and the read is repeated (a few times at most) if it moved.
    pub(crate) fn view(&self) -> StepView {
        let mut word = self.word.load(Ordering::Acquire);
        let mut tries = 0;
        loop {
            let view = self.view_at(word);
            let again = self.word.load(Ordering::Acquire);
            tries += 1;
            if again == word || tries == 4 {
                return view;
            }
            word = again;
        }
    }

    fn view_at(&self, word: u64) -> StepView {
        let ph = phase(word);
        let at = entered(word);
        let ready = match ph {
            WAITING => None,
            QUEUED => Some(at),
            _ => archived(&self.queued_at),
        };
        let started = match ph {
            RUNNING => archived(&self.started_at).or(Some(at)),
            _ => archived(&self.started_at),
        };
        let ended = (ph >= SUCCEEDED).then_some(at);
        let permit = match archived(&self.permit_at) {
            Some(at) => Some(at),
            None if ph == PERMIT && started.is_none() => Some(at),
            None => None,
        };
        let attempts = match self.attempts.load(Ordering::Acquire) {
            // An omitted step's function was not called.
            _ if ph == OMITTED => 0,
            // Nor that of a step its condition ended (it panicked, or did not hold and a
            // cancellation ended the step `Cancelled`): started, it made no attempt.
            0 if self
                .error
                .get()
                .is_some_and(|error| error.attempts() == 0 || error.is_omitted()) =>
            {
                0
            }
            0 => u32::from(started.is_some()),
            n => n,
        };
        let view = {
            let log = self.log();
            let empty = RetryLog::default();
            let log = log.as_deref().unwrap_or(&empty);
            (
                log.kept.clone(),
                log.omitted,
                log.ran,
                log.backed_off,
                log.resumed,
                log.backing_off,
                log.permit_waited,
                log.permit_since,
            )
        };
        let (
            retried,
            retried_omitted,
            ran,
            backed_off,
            resumed,
            backing_off,
            permit_waited,
            permit_since,
        ) = view;
        StepView {
            state: decode(word),
            ready,
            started,
            ended,
            attempts,
            retried,
            retried_omitted,
            permit,
            awaiting_permit: ph == PERMIT,
            ran,
            backed_off,
            resumed,
            backing_off,
            permit_waited,
            permit_since,
        }
    }
}

fn decode(word: u64) -> StepState {
    match phase(word) {
        WAITING => StepState::Waiting,
        QUEUED => StepState::Queued,
        RUNNING => StepState::Running,
        BACKOFF => StepState::Retrying,
        PERMIT => StepState::AwaitingPermit,
        SUCCEEDED => StepState::Succeeded,
        FAILED => StepState::Failed,
        SKIPPED => StepState::Skipped,
        OMITTED => StepState::Omitted,
        RECOVERED => StepState::Recovered,
        // CANCELLED, and the phases no transition makes.
        _ => StepState::Cancelled,
    }
}
