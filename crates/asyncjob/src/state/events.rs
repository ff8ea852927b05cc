//! The transitions of a run, as data: [`Event`]s, the [`Observer`]s called at each, and the
//! [`Events`] stream that replays them to any number of subscribers.
//!
//! A run records events only when asked to ([`JobOptions::record_events`] or
//! [`JobOptions::observe`](crate::JobOptions::observe)): otherwise the machine holds no log and
//! a transition costs one branch more. When it records, every transition of the machine is made
//! under the log's lock and appended in the same critical section, so the log's order is the
//! order in which the transitions took effect: a step's events are in order, and a dependent's
//! `Queued` comes after its parents' `Succeeded`. The log keeps every event of the run (memory
//! proportional to the job's own event count; nothing per subscriber but a cursor), so a
//! subscriber that arrives late first receives the transitions so far, then the live ones, and
//! a slow subscriber never holds up a step.
//!
//! [`JobOptions::record_events`]: crate::JobOptions::record_events

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_core::stream::FusedStream;

use crate::error::JobError;
use crate::state::StepState;
use crate::topology::Topology;

/// One transition of a running job.
///
/// Step events name the step ([`step`](Self::step)) and number its transitions from 1
/// ([`EventStep::seq`]); the last event of a run is [`EventKind::JobEnded`], after which an
/// [`Events`] stream ends.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// The step that made the transition; `None` for an event about the whole job.
    pub step: Option<EventStep>,
    /// When, from the start of the instance, on the run's clock ([`Timer::now`]). Never less
    /// than the offset of the event before it in the log (a transition whose time was read
    /// just before another's took effect is stamped with the later time).
    ///
    /// [`Timer::now`]: crate::Timer::now
    pub offset: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// The step an [`Event`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStep {
    /// The step's index in its definition (the order in which steps were added).
    pub index: usize,
    /// The step's name.
    pub name: Arc<str>,
    /// The number of this transition among the step's own, from 1 — or, for an event of an
    /// item of a map step, among the item's own.
    pub seq: u32,
    /// The item of a map step ([`StepBuilder::map`](crate::StepBuilder::map)) the event is
    /// about; `None` for the step's own transitions.
    pub item: Option<EventItem>,
}

/// The item of a map step an [`Event`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventItem {
    /// The item's position in the map's input, from 0.
    pub position: usize,
    /// The item's key ([`MapBuilder::key`](crate::MapBuilder::key), or its position).
    pub key: Arc<str>,
    /// The item's name: `map[key]`.
    pub name: Arc<str>,
}

/// What an [`Event`] reports: a step entering a state, or the job ending.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventKind {
    /// The step's dependencies have succeeded and it was handed to the executor
    /// ([`StepState::Queued`]).
    Queued,
    /// The step (or item) waits for a permit of the limit named `limit`
    /// ([`StepState::AwaitingPermit`]), before an attempt. A step that needs several limits
    /// has one such event for each it has to wait for.
    AwaitingPermit {
        /// The name of the [`Limit`](crate::Limit).
        limit: Arc<str>,
    },
    /// Attempt `attempt` (from 1) started ([`StepState::Running`]).
    Running {
        /// The attempt's number, from 1.
        attempt: u32,
    },
    /// Attempt `attempt` failed with `error`; the next one starts after `backoff`
    /// ([`StepState::Retrying`]).
    Retrying {
        /// The failed attempt's number, from 1.
        attempt: u32,
        /// Why it failed.
        error: JobError,
        /// The delay the retry policy asked for before the next attempt.
        backoff: Duration,
    },
    /// The step succeeded ([`StepState::Succeeded`]).
    Succeeded,
    /// The step failed and its fallback made its output ([`StepState::Recovered`]).
    Recovered {
        /// The error it recovered from.
        error: JobError,
    },
    /// The step failed ([`StepState::Failed`]): its error, or `SpawnFailed` when the executor
    /// refused it.
    Failed {
        /// The step's error.
        error: JobError,
    },
    /// The step was skipped because a dependency failed ([`StepState::Skipped`]);
    /// [`JobError::root_cause`] names the step that failed first.
    Skipped {
        /// The step's error, of kind `DependencyFailed`.
        error: JobError,
    },
    /// The step did not run: its condition did not hold, or a step it needs was omitted
    /// ([`StepState::Omitted`]).
    Omitted {
        /// Why, of kind [`Omitted`](crate::JobErrorKind::Omitted).
        error: JobError,
    },
    /// The step was cancelled ([`StepState::Cancelled`]).
    Cancelled {
        /// Why the run was cancelled (the caller, fail-fast, the deadline).
        reason: JobError,
    },
    /// Every step has ended; `outcome` is what [`JobInstance::wait`] returns. The last event.
    ///
    /// [`JobInstance::wait`]: crate::JobInstance::wait
    JobEnded {
        /// The job's outcome.
        outcome: Result<(), JobError>,
    },
}

impl EventKind {
    /// The state the step entered; `None` for [`JobEnded`](Self::JobEnded).
    pub fn state(&self) -> Option<StepState> {
        Some(match self {
            EventKind::Queued => StepState::Queued,
            EventKind::AwaitingPermit { .. } => StepState::AwaitingPermit,
            EventKind::Running { .. } => StepState::Running,
            EventKind::Retrying { .. } => StepState::Retrying,
            EventKind::Succeeded => StepState::Succeeded,
            EventKind::Recovered { .. } => StepState::Recovered,
            EventKind::Failed { .. } => StepState::Failed,
            EventKind::Skipped { .. } => StepState::Skipped,
            EventKind::Omitted { .. } => StepState::Omitted,
            EventKind::Cancelled { .. } => StepState::Cancelled,
            EventKind::JobEnded { .. } => return None,
        })
    }
}

impl Event {
    /// The name of the step, for a step event.
    pub fn step_name(&self) -> Option<&str> {
        self.step.as_ref().map(|step| &*step.name)
    }

    /// The index of the step, for a step event.
    pub fn step_index(&self) -> Option<usize> {
        self.step.as_ref().map(|step| step.index)
    }
}

impl fmt::Display for Event {
    /// One line: `+12.5ms "fetch" #3 retrying (attempt 1, back-off 100ms): …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{:?} ", self.offset)?;
        if let Some(step) = &self.step {
            match &step.item {
                Some(item) => write!(f, "{:?} #{} ", &*item.name, step.seq)?,
                None => write!(f, "{:?} #{} ", &*step.name, step.seq)?,
            }
        }
        match &self.kind {
            EventKind::Queued => f.write_str("queued"),
            EventKind::AwaitingPermit { limit } => write!(f, "awaiting a permit of {limit:?}"),
            EventKind::Running { attempt } => write!(f, "running (attempt {attempt})"),
            EventKind::Retrying {
                attempt,
                error,
                backoff,
            } => write!(
                f,
                "retrying (attempt {attempt} failed, back-off {backoff:?}): {error}"
            ),
            EventKind::Succeeded => f.write_str("succeeded"),
            EventKind::Recovered { error } => write!(f, "recovered from: {error}"),
            EventKind::Failed { error } => write!(f, "failed: {error}"),
            EventKind::Skipped { error } => write!(f, "skipped: {error}"),
            EventKind::Omitted { error } => write!(f, "omitted: {error}"),
            EventKind::Cancelled { reason } => write!(f, "cancelled: {reason}"),
            EventKind::JobEnded { outcome: Ok(()) } => f.write_str("job ended: succeeded"),
            EventKind::JobEnded {
                outcome: Err(error),
            } => write!(f, "job ended: {error}"),
        }
    }
}

/// Called synchronously at each transition of a run, on the thread that made it (or on one
/// that was delivering events then): for metrics and logs without a task.
///
/// Every observer of a run sees every event once, in the log's order. Keep it quick: the step
/// that made the transition waits for it. An observer that panics is contained — the step
/// carries on, and the observer is called no more; the panic is reported by
/// [`JobInstance::observer_panics`](crate::JobInstance::observer_panics).
///
/// Closures taking `&Event` are observers:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use asyncjob::{EventKind, JobOptions};
///
/// let retries = Arc::new(AtomicUsize::new(0));
/// let counter = retries.clone();
/// let options = JobOptions::new().observe(move |event: &asyncjob::Event| {
///     if let EventKind::Retrying { .. } = event.kind {
///         counter.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// # let _ = options;
/// ```
pub trait Observer: Send + Sync + 'static {
    /// One transition.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> Observer for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

/// [`JobInstance::events`](crate::JobInstance::events) on an instance that records no events:
/// start it with [`JobOptions::record_events`](crate::JobOptions::record_events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventsDisabled;

impl fmt::Display for EventsDisabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "this job instance records no events: start it with `JobOptions::record_events()`",
        )
    }
}

impl std::error::Error for EventsDisabled {}

/// The events of one run: the log, its readers' wakers and the observers.
pub(crate) struct EventLog {
    topology: Arc<Topology>,
    observers: Box<[Arc<dyn Observer>]>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    /// Per step, the number of its transitions so far.
    seqs: Vec<u32>,
    /// `JobEnded` is in the log.
    ended: bool,
    /// Streams waiting for the next event.
    wakers: Vec<Waker>,
    /// The offset of the last event.
    last_offset: Duration,
    /// How many events the observers have been given.
    delivered: usize,
    /// A thread is giving events to the observers (outside the lock).
    delivering: bool,
    /// Per observer, `true` once it panicked.
    disabled: Vec<bool>,
    /// The panics of observers, as text.
    panics: Vec<String>,
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLog")
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

/// The log's lock, held while a transition is made and appended. Dropping it releases the lock,
/// then wakes the streams and gives the observers the new events.
pub(crate) struct Recording<'a> {
    log: &'a EventLog,
    inner: Option<MutexGuard<'a, Inner>>,
}

impl Recording<'_> {
    /// Appends the transition of step `index` into `kind` at `offset`.
    pub(crate) fn step(&mut self, index: usize, offset: Duration, kind: EventKind) {
        let name = self.log.topology.step_name(index);
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let Some(seq) = inner.seqs.get_mut(index) else {
            return;
        };
        *seq = seq.saturating_add(1);
        let seq = *seq;
        let offset = offset.max(inner.last_offset);
        inner.last_offset = offset;
        inner.events.push(Event {
            step: Some(EventStep {
                index,
                name,
                seq,
                item: None,
            }),
            offset,
            kind,
        });
    }

    /// Appends the transition `seq` of item `item` of map step `index` into `kind` at `offset`.
    pub(crate) fn item(
        &mut self,
        index: usize,
        item: EventItem,
        seq: u32,
        offset: Duration,
        kind: EventKind,
    ) {
        let name = self.log.topology.step_name(index);
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let offset = offset.max(inner.last_offset);
        inner.last_offset = offset;
        inner.events.push(Event {
            step: Some(EventStep {
                index,
                name,
                seq,
                item: Some(item),
            }),
            offset,
            kind,
        });
    }

    /// Appends the end of the job (once).
    pub(crate) fn ended(&mut self, offset: Duration, outcome: Result<(), JobError>) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        if inner.ended {
            return;
        }
        inner.ended = true;
        let offset = offset.max(inner.last_offset);
        inner.last_offset = offset;
        inner.events.push(Event {
            step: None,
            offset,
            kind: EventKind::JobEnded { outcome },
        });
    }
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        let wakers = std::mem::take(&mut inner.wakers);
        let deliver = !self.log.observers.is_empty()
            && !inner.delivering
            && inner.delivered < inner.events.len();
        if deliver {
            inner.delivering = true;
        }
        drop(inner);
        // After the lock is released: a waker may run a reader at once, and an observer may
        // make a transition (cancel the job, say).
        for waker in wakers {
            waker.wake();
        }
        if deliver {
            self.log.deliver();
        }
    }
}

impl EventLog {
    pub(crate) fn new(topology: Arc<Topology>, observers: Vec<Arc<dyn Observer>>) -> Self {
        let inner = Inner {
            seqs: vec![0; topology.steps.len()],
            disabled: vec![false; observers.len()],
            ..Inner::default()
        };
        EventLog {
            topology,
            observers: observers.into_boxed_slice(),
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lock: the caller makes one transition and appends it.
    pub(crate) fn record(&self) -> Recording<'_> {
        Recording {
            log: self,
            inner: Some(self.lock()),
        }
    }

    /// Gives the observers every event they have not seen, in order, outside the lock. One
    /// thread delivers at a time (`delivering`); events appended meanwhile are picked up by
    /// its next round, so none is lost and none is delivered twice.
    fn deliver(&self) {
        loop {
            let (batch, disabled) = {
                let mut inner = self.lock();
                if inner.delivered == inner.events.len() {
                    inner.delivering = false;
                    return;
                }
                let batch = inner.events[inner.delivered..].to_vec();
                inner.delivered = inner.events.len();
                (batch, inner.disabled.clone())
            };
            for (n, observer) in self.observers.iter().enumerate() {
                if disabled.get(n).copied().unwrap_or(true) {
                    continue;
                }
                for event in &batch {
                    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        observer.on_event(event)
                    }));
                    if let Err(panic) = called {
                        let message = crate::panic::into_message(panic);
                        let mut inner = self.lock();
                        if let Some(flag) = inner.disabled.get_mut(n) {
                            *flag = true;
                        }
                        inner.panics.push(message);
                        break;
                    }
                }
            }
        }
    }

    /// The panics of observers so far.
    pub(crate) fn observer_panics(&self) -> Vec<String> {
        self.lock().panics.clone()
    }

    /// A stream of every event, from the first.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Events {
        Events {
            log: self.clone(),
            next: 0,
            done: false,
        }
    }
}

/// Every event of one job instance, as a [`Stream`]: first the transitions so far, then the
/// live ones, ending after [`EventKind::JobEnded`]. Made by
/// [`JobInstance::events`](crate::JobInstance::events); runtime-free, `Send`, and independent
/// of the instance (it may be polled on another thread or runtime than the job's).
///
/// ```
/// use futures::StreamExt;
/// # use asyncjob::{EventKind, FuturesExecutor, JobBuilder, JobOptions};
/// # let mut job = JobBuilder::<u32>::new("double");
/// # job.step("double").run(|n| async move { Ok::<_, std::io::Error>(n * 2) })?;
/// # let job = job.seal();
/// let pool = futures::executor::ThreadPool::new()?;
/// let instance = job
///     .on(FuturesExecutor::new(pool))
///     .options(JobOptions::new().record_events())
///     .start(21);
/// let events: Vec<_> = futures::executor::block_on(instance.events()?.collect());
/// let kinds: Vec<_> = events.iter().map(|e| e.kind.state()).collect();
/// use asyncjob::StepState::*;
/// assert_eq!(kinds, [Some(Queued), Some(Running), Some(Succeeded), None]);
/// assert!(matches!(events[3].kind, EventKind::JobEnded { outcome: Ok(()) }));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Events {
    log: Arc<EventLog>,
    next: usize,
    done: bool,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("next", &self.next)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut inner = this.log.lock();
        if let Some(event) = inner.events.get(this.next) {
            this.next += 1;
            return Poll::Ready(Some(event.clone()));
        }
        if inner.ended {
            this.done = true;
            return Poll::Ready(None);
        }
        if !inner.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            inner.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let inner = self.log.lock();
        (inner.events.len().saturating_sub(self.next), None)
    }
}

impl FusedStream for Events {
    fn is_terminated(&self) -> bool {
        self.done
    }
}
