//! The state layer: every state and transition of every step of a run, who may make it, and
//! what is counted. Nothing outside this module stores a step's state.
//!
//! [`slot`] holds one step's life as a single atomic word ([`slot::StepSlot`]); [`Machine`]
//! holds a run's steps and the protocol between them: how many steps have not ended, how a
//! failure skips the steps after it, how cancellation reaches every step, and how the run's
//! outcome is decided once the last step has ended. [`waiters`] is who is woken then.
//!
//! The protocol's invariants, checked by the loom model (`loom_tests` below, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p asyncjob --lib --release loom`):
//!
//! - every step ends exactly once, in a final state, and whoever makes that transition counts
//!   it: the run ends when the count reaches zero, so when it has ended every step is final;
//! - a step's driver owns it from `Running` until it ends: nothing else ends a running step,
//!   so a run never ends while a step's code can still run;
//! - cancellation either takes effect — every step that had not ended ends `Cancelled`, and
//!   [`Machine::cancel`] returns `true` — or finds every step ended and changes nothing;
//! - the outcome depends on the final states only: the first `Failed` step in definition
//!   order, else the cancellation's reason if a step ended `Cancelled`, else success.

pub(crate) mod events;
pub(crate) mod items;
pub(crate) mod slot;
pub(crate) mod waiters;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::JobError;
use crate::rt::SpawnError;
use crate::state::events::{EventItem, EventKind, EventLog, Recording};
use crate::state::items::{ItemTable, Maps};
use crate::state::waiters::StepWaiters;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::topology::{Edge, Topology};

use slot::{CancelEffect, Ended, Stamp, StepSlot};

/// The bits of [`Machine::remaining`] that count the steps that have not ended.
const STEPS: u64 = u32::MAX as u64;
/// One waiter, in [`Machine::remaining`].
const WATCHER: u64 = 1 << 32;
/// The bits of [`Machine::remaining`] that count the waiters.
const WATCHERS: u64 = !STEPS;
use waiters::Waiters;

/// Where a step of a job instance is in its life.
///
/// The variants are listed — and ordered, by [`Ord`] — in the order of a step's life:
/// `Waiting < Queued < AwaitingPermit < Running < Retrying`, then the final states
/// `Succeeded < Recovered < Failed < Skipped < Omitted < Cancelled`. [`StepState::ALL`] lists
/// them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StepState {
    /// Some of the step's dependencies have not succeeded yet.
    Waiting,
    /// The step's dependencies have succeeded; it is queued on the executor.
    Queued,
    /// The step waits for a permit of a [`Limit`](crate::Limit) it
    /// [needs](crate::StepBuilder::needs) (or of its instance's
    /// [cap](crate::JobOptions::max_running)), before its first attempt or before a retry;
    /// [`StepSnapshot::awaiting_permit`](crate::StepSnapshot::awaiting_permit) names the
    /// limit.
    AwaitingPermit,
    /// The step's future is running.
    Running,
    /// An attempt failed; the step waits out its retry policy's delay before the next one.
    Retrying,
    /// The step's future returned its output.
    Succeeded,
    /// The step failed, and its [fallback](crate::StepBuilder::fallback) made its output:
    /// failed and recovered. Its dependents run with that output; its snapshot keeps the
    /// error it recovered from. Not a failure of the job.
    Recovered,
    /// The step returned an error, panicked, timed out, or could not be run by the executor.
    Failed,
    /// The step did not run because a step it depends on failed.
    Skipped,
    /// The step did not run because its [condition](crate::StepBuilder::when) did not hold,
    /// or because a step it needs was omitted. Not a failure of the job.
    Omitted,
    /// The job was cancelled before the step ended.
    Cancelled,
}

impl StepState {
    /// Every state, in life-cycle order.
    pub const ALL: [StepState; 11] = [
        StepState::Waiting,
        StepState::Queued,
        StepState::AwaitingPermit,
        StepState::Running,
        StepState::Retrying,
        StepState::Succeeded,
        StepState::Recovered,
        StepState::Failed,
        StepState::Skipped,
        StepState::Omitted,
        StepState::Cancelled,
    ];

    /// `true` once the step will not change state any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StepState::Succeeded
                | StepState::Recovered
                | StepState::Failed
                | StepState::Skipped
                | StepState::Omitted
                | StepState::Cancelled
        )
    }

    /// A lower-case name for the state (`"waiting"`, `"running"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::Queued => "queued",
            StepState::AwaitingPermit => "awaiting permit",
            StepState::Running => "running",
            StepState::Retrying => "retrying",
            StepState::Succeeded => "succeeded",
            StepState::Recovered => "recovered",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Omitted => "omitted",
            StepState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attempt of a step that failed and was retried, and the back-off that followed it.
///
/// Times are offsets from the start of the instance, on the run's [`Timer`](crate::Timer)'s
/// clock. An attempt starts when the back-off before it ends: the time between
/// [`end_offset`](Self::end_offset) and [`next_start_offset`](Self::next_start_offset) is
/// back-off, not running time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetriedAttempt {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it started, from the start of the instance.
    pub start_offset: Duration,
    /// When it failed, from the start of the instance.
    pub end_offset: Duration,
    /// Its error, typed as the step's final error would be: of kind
    /// [`StepFailed`](crate::JobErrorKind::StepFailed) (with the step's own error as its
    /// [`source`](std::error::Error::source) and [`step_error`](JobError::step_error)),
    /// [`StepPanicked`](crate::JobErrorKind::StepPanicked) (its message, without the payload,
    /// which was dropped) or [`TimedOut`](crate::JobErrorKind::TimedOut); naming the step, with
    /// [`attempts`](JobError::attempts) the number of this attempt. `{:#}` shows its causes.
    pub error: JobError,
    /// The back-off the retry policy asked for after this attempt: the delay before the next
    /// one. The time actually spent in it is [`backoff_spent`](Self::backoff_spent).
    pub backoff: Duration,
    /// When the next attempt started, from the start of the instance: when the back-off ended.
    /// `None` while the back-off lasts, and if the step ended during it (it was cancelled).
    pub next_start_offset: Option<Duration>,
}

impl RetriedAttempt {
    /// How long the step waited between this attempt and the next, as measured on the run's
    /// clock: at least [`backoff`](Self::backoff) on a timer that keeps its word, more if the
    /// executor was busy. `None` until the next attempt has started.
    pub fn backoff_spent(&self) -> Option<Duration> {
        self.next_start_offset
            .map(|next| next.saturating_sub(self.end_offset))
    }
}

/// The steps of one run and the protocol between them.
#[derive(Debug)]
pub(crate) struct Machine {
    topology: Arc<Topology>,
    slots: Box<[StepSlot]>,
    /// Steps that have not ended.
    ///
    /// The low 32 bits count the steps that have not ended; the high 32 bits count who waits
    /// for a step to end ([`poll_step_ended`](Self::poll_step_ended)). One word, so that a
    /// step's end learns whether anyone waits from the decrement it makes anyway, and a waiter
    /// that counts itself in after that decrement reads from it (and so sees the step ended).
    remaining: AtomicU64,
    /// `cancel` has been called (by the caller, fail-fast or the deadline): only the first
    /// call proceeds.
    cancel_requested: AtomicBool,
    /// That call found a step that had not ended.
    cancel_effective: AtomicBool,
    /// Why the run was cancelled; set before any step can end `Cancelled`.
    reason: OnceLock<JobError>,
    /// A step has ended `Failed`.
    failed: AtomicBool,
    outcome: OnceLock<Result<(), JobError>>,
    waiters: Waiters,
    /// Who waits for a step to end ([`JobInstance::output_of`](crate::JobInstance::output_of)).
    step_waiters: StepWaiters,
    /// The run's events, if it records them: every transition is then made under its lock.
    log: Option<Arc<EventLog>>,
    /// The items of the run's map steps, registered as each starts.
    maps: Maps,
}

/// One transition of a run that records events: `change` makes it and `record` appends its
/// event (given what `change` returned), both under the log's lock, which is released on return
/// (waking the streams and giving the observers the new event).
///
/// The hot transitions (queue, start, finish) branch on the log themselves and call this only
/// when there is one: out of line and cold, so that an unwatched transition pays one branch and
/// not the guard's frame, drop glue and the closures' captures.
#[cold]
#[inline(never)]
fn recorded<T>(
    log: &EventLog,
    change: impl FnOnce() -> T,
    record: impl FnOnce(&mut Recording<'_>, &T),
) -> T {
    let mut recording = log.record();
    let value = change();
    record(&mut recording, &value);
    value
}

impl Machine {
    pub(crate) fn new(topology: Arc<Topology>, log: Option<Arc<EventLog>>) -> Self {
        let slots = topology
            .steps
            .iter()
            .map(|meta| StepSlot::new(meta.dependency_count()))
            .collect();
        let machine = Machine {
            remaining: AtomicU64::new(
                u64::try_from(topology.steps.len()).unwrap_or(u64::MAX) & STEPS,
            ),
            topology,
            slots,
            cancel_requested: AtomicBool::new(false),
            cancel_effective: AtomicBool::new(false),
            reason: OnceLock::new(),
            failed: AtomicBool::new(false),
            outcome: OnceLock::new(),
            waiters: Waiters::default(),
            step_waiters: StepWaiters::default(),
            log,
            maps: Maps::default(),
        };
        if machine.slots.is_empty() {
            machine.complete(Stamp::from_duration(Duration::ZERO));
        }
        machine
    }

    pub(crate) fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn slot(&self, index: usize) -> Option<&StepSlot> {
        self.slots.get(index)
    }

    /// A dependency of step `index` ended in a way that lets it run (it succeeded, or
    /// recovered); `true` if it was its last one.
    pub(crate) fn dependency_done(&self, index: usize) -> bool {
        self.slots[index].dependency_done()
    }

    /// The run's event log, if it records events.
    pub(crate) fn log(&self) -> Option<&Arc<EventLog>> {
        self.log.as_ref()
    }

    /// Holds the event log's lock, if there is a log, while one transition is made.
    #[inline]
    fn record(&self) -> Option<Recording<'_>> {
        self.log.as_deref().map(EventLog::record)
    }

    /// Map step `table.index` has read its items.
    pub(crate) fn register_items(&self, table: Arc<ItemTable>) {
        self.maps.register(table);
    }

    /// The items of map step `index`, once it has read them.
    pub(crate) fn items_of(&self, index: usize) -> Option<Arc<ItemTable>> {
        self.maps.of(index)
    }

    /// Item `position` of the map step of `table` enters the state of `kind`, at `at` (map
    /// step's driver only).
    pub(crate) fn item(&self, table: &ItemTable, position: usize, kind: EventKind, at: Stamp) {
        let Some(state) = kind.state() else {
            return;
        };
        let (attempt, error) = match &kind {
            EventKind::Running { attempt } => (*attempt, None),
            EventKind::Failed { error } | EventKind::Skipped { error } => (0, Some(error.clone())),
            EventKind::Cancelled { reason } => (0, Some(reason.clone())),
            _ => (0, None),
        };
        let mut recording = self.record();
        let Some(seq) = table.set(position, state, attempt, error, at.duration()) else {
            return;
        };
        if let Some(recording) = recording.as_mut() {
            let (key, name) = table.key_and_name(position);
            let item = EventItem {
                position,
                key,
                name,
            };
            recording.item(table.index, item, seq, at.duration(), kind);
        }
    }

    /// `Waiting → Queued`: see [`StepSlot::queue`].
    pub(crate) fn queue(&self, index: usize, at: Stamp) -> bool {
        let Some(log) = self.log.as_deref() else {
            return self.slots[index].queue(at);
        };
        recorded(
            log,
            move || self.slots[index].queue(at),
            move |recording, &queued| {
                if queued {
                    recording.step(index, at.duration(), EventKind::Queued);
                }
            },
        )
    }

    /// `Queued → Running`: see [`StepSlot::start`].
    pub(crate) fn start(&self, index: usize, at: Stamp) -> bool {
        let Some(log) = self.log.as_deref() else {
            return self.slots[index].start(at);
        };
        recorded(
            log,
            move || self.slots[index].start(at),
            move |recording, &started| {
                if started {
                    recording.step(index, at.duration(), EventKind::Running { attempt: 1 });
                }
            },
        )
    }

    /// Step `index` waits for a permit of `limit` (driver only): `Queued | Backoff → Permit`
    /// when it starts waiting (see [`StepSlot::await_permit`]), or, already waiting, for the
    /// next of its limits. `false` if the driver does not own the step (it was cancelled or
    /// abandoned before it could be taken).
    pub(crate) fn await_permit(&self, index: usize, limit: &Arc<str>, at: Stamp) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        let mut recording = self.record();
        let waiting = slot.state() == StepState::AwaitingPermit || slot.await_permit(at);
        if let (true, Some(recording)) = (waiting, recording.as_mut()) {
            let kind = EventKind::AwaitingPermit {
                limit: limit.clone(),
            };
            recording.step(index, at.duration(), kind);
        }
        waiting
    }

    /// Attempt `attempt` of a running step starts (the first without a transition).
    pub(crate) fn attempt_started(&self, index: usize, attempt: u32, at: Stamp) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if attempt <= 1 {
            slot.set_attempt(attempt);
            return;
        }
        let mut recording = self.record();
        if let (true, Some(recording)) = (slot.resume(attempt, at), recording.as_mut()) {
            recording.step(index, at.duration(), EventKind::Running { attempt });
        }
    }

    /// Attempt `attempt` of a running step failed with `error` and will be retried after
    /// `backoff`.
    pub(crate) fn attempt_failed(
        &self,
        index: usize,
        attempt: u32,
        error: JobError,
        backoff: Duration,
        at: Stamp,
    ) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let mut recording = self.record();
        let backed_off = slot.back_off(attempt, error.clone(), backoff, at);
        if let (true, Some(recording)) = (backed_off, recording.as_mut()) {
            let kind = EventKind::Retrying {
                attempt,
                error,
                backoff,
            };
            recording.step(index, at.duration(), kind);
        }
    }

    /// The driver of step `index` reports its outcome (driver only). Counts the step's end
    /// and, on a failure, skips the steps that depend on it. `None` if the driver did not own
    /// the step.
    ///
    /// Steps whose last dependency this end resolved without their being skipped or omitted
    /// (they take this step with [`allow_failure`](crate::allow_failure) or
    /// [`optional`](crate::optional)) are pushed on `released`, for the caller to queue; on a
    /// success the caller releases the children itself.
    ///
    /// `settle` runs once the step is final and before its end is counted: what the step held
    /// (its permits) is given back before the run can be seen to end.
    pub(crate) fn finish(
        &self,
        index: usize,
        outcome: Result<(), JobError>,
        at: Stamp,
        released: &mut Vec<usize>,
        settle: impl FnOnce(),
    ) -> Option<Ended> {
        let ended = match self.log.as_deref() {
            None => self.slots[index].finish(outcome, at),
            Some(log) => recorded(
                log,
                move || self.slots[index].finish(outcome, at),
                move |recording, &ended| {
                    if let Some(ended) = ended {
                        recording.step(index, at.duration(), self.end_event(index, ended));
                    }
                },
            ),
        }?;
        settle();
        self.ended(index, ended, at, released);
        Some(ended)
    }

    /// Step `index` (running) failed with `error` and recovered with its fallback.
    pub(crate) fn recovered(&self, index: usize, error: JobError) {
        if let Some(slot) = self.slots.get(index) {
            slot.recovered(error);
        }
    }

    /// `true` if a failure of step `index` fails the job (see
    /// [`StepMeta::failure_tolerated`](crate::topology::StepMeta::failure_tolerated)).
    pub(crate) fn failure_counts(&self, index: usize) -> bool {
        self.topology
            .steps
            .get(index)
            .is_none_or(|meta| !meta.failure_tolerated)
    }

    /// The event of step `index` ending `ended`.
    fn end_event(&self, index: usize, ended: Ended) -> EventKind {
        let error = || {
            self.error_of(index).unwrap_or_else(|| {
                let topology = &self.topology;
                JobError::internal(&topology.name, &topology.step_name(index), "no error")
            })
        };
        match ended {
            Ended::Succeeded => EventKind::Succeeded,
            Ended::Recovered => EventKind::Recovered { error: error() },
            Ended::Failed => EventKind::Failed { error: error() },
            Ended::Omitted => EventKind::Omitted { error: error() },
            Ended::Cancelled => EventKind::Cancelled {
                reason: self.reason.get().cloned().unwrap_or_else(error),
            },
        }
    }

    /// Step `index` cannot run or finish (see [`StepSlot::abandon`]); counts its end.
    /// Steps released by the end are pushed on `released`, and `settle` runs, as by
    /// [`finish`](Self::finish).
    pub(crate) fn abandon(
        &self,
        index: usize,
        at: Stamp,
        reason: Option<SpawnError>,
        released: &mut Vec<usize>,
        settle: impl FnOnce(),
    ) -> Option<Ended> {
        let topology = &self.topology;
        let error =
            || JobError::spawn_failed_for(&topology.name, &topology.step_name(index), reason);
        let ended = {
            let mut recording = self.record();
            let ended = self.slots.get(index)?.abandon(error, at)?;
            if let Some(recording) = recording.as_mut() {
                recording.step(index, at.duration(), self.end_event(index, ended));
            }
            ended
        };
        settle();
        self.ended(index, ended, at, released);
        Some(ended)
    }

    #[inline]
    fn ended(&self, index: usize, ended: Ended, at: Stamp, released: &mut Vec<usize>) {
        match ended {
            Ended::Failed => {
                if self.failure_counts(index) {
                    self.failed.store(true, Ordering::Release);
                }
                self.propagate(index, at, released);
            }
            Ended::Omitted => self.propagate(index, at, released),
            Ended::Succeeded | Ended::Recovered | Ended::Cancelled => {}
        }
        self.end_one(at);
    }

    /// Step `index` ended without an output (failed or omitted): each step that depends on it
    /// is skipped (after a failure) or omitted (after an omission) — and so on down, from each
    /// step that is — unless it takes the step with
    /// [`allow_failure`](crate::allow_failure) (or, after an omission, as
    /// [`optional`](crate::optional)): that dependency is then resolved, and a step whose last
    /// one it was is pushed on `released`.
    fn propagate(&self, index: usize, at: Stamp, released: &mut Vec<usize>) {
        let topology = &self.topology;
        let mut stack = vec![index];
        while let Some(step) = stack.pop() {
            let Some(cause) = self.error_of(step) else {
                continue;
            };
            let omitted = cause.is_omitted();
            let meta = &topology.steps[step];
            for &child in &meta.children {
                let resolved = match meta.edge_to(child) {
                    Edge::Tolerant => true,
                    Edge::Optional => omitted,
                    Edge::Strict => false,
                };
                if resolved {
                    if self.slots[child].dependency_done() {
                        released.push(child);
                    }
                    continue;
                }
                if self.end_waiting(child, &cause, omitted, at) {
                    stack.push(child);
                    self.end_one(at);
                }
            }
        }
    }

    /// `Waiting → Skipped` (after `cause`, a failure) or `Waiting → Omitted` (after `cause`, an
    /// omission) for step `step`; `true` if it made the transition (the caller counts it).
    fn end_waiting(&self, step: usize, cause: &JobError, omitted: bool, at: Stamp) -> bool {
        let topology = &self.topology;
        let name = || topology.step_name(step);
        let mut recording = self.record();
        let slot = &self.slots[step];
        let ended = if omitted {
            slot.omit(
                || JobError::omitted_after(&topology.name, &name(), cause),
                at,
            )
        } else {
            slot.skip(
                || JobError::dependency_failed(&topology.name, &name(), cause),
                at,
            )
        };
        if let (true, Some(recording)) = (ended, recording.as_mut()) {
            if let Some(error) = slot.stored_error().cloned() {
                let kind = if omitted {
                    EventKind::Omitted { error }
                } else {
                    EventKind::Skipped { error }
                };
                recording.step(step, at.duration(), kind);
            }
        }
        ended
    }

    /// Cancels the run with `reason`, at `at`; `signal` wakes the steps' futures and is
    /// called after the reason is stored and before any step is reached. `true` if the
    /// cancellation took effect (a step had not ended); `false` if the run had ended or
    /// been cancelled already, or every step had ended.
    ///
    /// `settle(index)` runs for each step the cancellation ends (a waiting or queued one), once
    /// it is final and before its end is counted, outside the event log's lock: what the step
    /// held (a queued step's driver may be taking permits) is given back before the run can be
    /// seen to end.
    pub(crate) fn cancel(
        &self,
        reason: JobError,
        at: Stamp,
        signal: impl FnOnce(),
        settle: impl Fn(usize),
    ) -> bool {
        if self.is_finished() || self.cancel_requested.swap(true, Ordering::AcqRel) {
            return false;
        }
        let _ = self.reason.set(reason);
        signal();
        let mut effective = false;
        for (index, slot) in self.slots.iter().enumerate() {
            let effect = {
                let mut recording = self.record();
                let effect = slot.cancel(at);
                if let (CancelEffect::Ended, Some(recording)) = (effect, recording.as_mut()) {
                    let reason = self.reason.get().cloned().unwrap_or_else(|| {
                        JobError::cancelled(&self.topology.name, &self.topology.step_name(index))
                    });
                    recording.step(index, at.duration(), EventKind::Cancelled { reason });
                }
                effect
            };
            match effect {
                CancelEffect::Ended => {
                    effective = true;
                    settle(index);
                    self.end_one(at);
                }
                CancelEffect::Flagged | CancelEffect::WasCancelled => effective = true,
                CancelEffect::WasEnded => {}
            }
        }
        if effective {
            self.cancel_effective.store(true, Ordering::Release);
        }
        effective
    }

    /// `true` once [`cancel`](Self::cancel) has been requested: steps should stop.
    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Acquire)
    }

    /// `true` once a cancellation took effect.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel_effective.load(Ordering::Acquire)
    }

    /// A step has ended (at `at`): counts it, and wakes who waits for steps to end.
    #[inline]
    fn end_one(&self, at: Stamp) {
        let before = self.remaining.fetch_sub(1, Ordering::AcqRel);
        if before & WATCHERS != 0 {
            self.step_waiters.wake();
        }
        if before & STEPS == 1 {
            self.complete(at);
        }
    }

    /// The last step has ended (at `at`): decides the outcome, records it, and wakes the
    /// waiters.
    fn complete(&self, at: Stamp) {
        let outcome = match self.current_error() {
            Some(error) => Err(error),
            None => Ok(()),
        };
        if let Some(mut recording) = self.record() {
            recording.ended(at.duration(), outcome.clone());
        }
        let _ = self.outcome.set(outcome);
        self.waiters.finish();
    }

    /// `Ready` once step `index` has ended; until then registers `cx`'s waker. `watching`
    /// tracks whether this caller is counted as a watcher (see [`StepWaiters`]); call
    /// [`stop_watching`](Self::stop_watching) when done if it is `true`.
    pub(crate) fn poll_step_ended(
        &self,
        index: usize,
        watching: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let ended = || {
            self.slots
                .get(index)
                .is_none_or(|slot| slot.state().is_finished())
        };
        if ended() {
            return Poll::Ready(());
        }
        if !*watching {
            *watching = true;
            self.remaining.fetch_add(WATCHER, Ordering::AcqRel);
        }
        self.step_waiters.register(cx);
        if ended() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Stops counting a caller of [`poll_step_ended`](Self::poll_step_ended) as a watcher.
    pub(crate) fn stop_watching(&self, watching: &mut bool) {
        if std::mem::take(watching) {
            self.remaining.fetch_sub(WATCHER, Ordering::AcqRel);
        }
    }

    /// The run's error as the steps stand: the first `Failed` step's in definition order,
    /// else the cancellation's reason if a step ended `Cancelled`.
    pub(crate) fn current_error(&self) -> Option<JobError> {
        if self.failed.load(Ordering::Acquire) {
            let counted = |index: usize| self.failure_counts(index);
            if let Some(index) =
                (0..self.slots.len()).find(|&i| self.slots[i].is_failed() && counted(i))
            {
                return self.error_of(index);
            }
        }
        if self.is_cancel_requested()
            && self
                .slots
                .iter()
                .any(|slot| slot.state() == StepState::Cancelled)
        {
            return self.reason.get().cloned();
        }
        None
    }

    /// The error of step `index`, derived from its state: a stored error for a `Failed` step
    /// that ran and for a `Skipped` or `Omitted` one, and what a `Recovered` one recovered
    /// from; `SpawnFailed` for a `Failed` step that never ran; `Cancelled` for a cancelled
    /// one.
    pub(crate) fn error_of(&self, index: usize) -> Option<JobError> {
        let slot = self.slots.get(index)?;
        let topology = &self.topology;
        match slot.state() {
            StepState::Failed => Some(slot.stored_error().cloned().unwrap_or_else(|| {
                JobError::spawn_failed(&topology.name, &topology.step_name(index))
            })),
            StepState::Skipped | StepState::Omitted | StepState::Recovered => {
                slot.stored_error().cloned()
            }
            StepState::Cancelled => Some(JobError::cancelled(
                &topology.name,
                &topology.step_name(index),
            )),
            _ => None,
        }
    }

    /// Why the run was cancelled, once it was.
    pub(crate) fn cancel_reason(&self) -> Option<JobError> {
        self.reason.get().cloned()
    }

    /// The outcome, once the run has ended.
    pub(crate) fn outcome(&self) -> Option<&Result<(), JobError>> {
        self.outcome.get()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.waiters.is_done()
    }

    /// `Ready` once the run has ended; see [`Waiters::poll`].
    pub(crate) fn poll_finished(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        self.waiters.poll(key, cx)
    }

    /// Forgets the waker registered under `key`.
    pub(crate) fn stop_waiting(&self, key: usize) {
        self.waiters.remove(key);
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
