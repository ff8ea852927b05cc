//! The permits of one run: which [`Limit`]s each step takes (its instance's cap first, then
//! the limits it needs, in acquisition order), at which priority, and the permits it holds
//! while an attempt runs.
//!
//! A run whose steps need no limit, and which has no cap, has no [`RunLimits`] at all: its
//! drivers pay one branch per step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use std::task::Context;

use crate::limit::{self, AcquireAll, Acquired, Limit, Permit};
use crate::topology::Topology;

/// The name of an instance's own cap, as the snapshot, the events and the pictures show it.
pub(crate) const CAP_NAME: &str = "max_running";

/// No limit is waited for.
const NOT_WAITING: usize = usize::MAX;

/// Where the acquisition of a step's permits before its first attempt is.
#[derive(Debug)]
enum Acquiring {
    /// Not started, or over with the permits held.
    Idle,
    Active(AcquireAll),
    /// The step ended: nothing is to be taken any more.
    Closed,
}

/// What [`StepLimits::poll_acquire`] got to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Taking {
    /// Every permit is held by the step.
    Held,
    /// It waits for the limit at `position` (`newly`: it just began to).
    Waiting { position: usize, newly: bool },
    /// The limit at this position has no permits at all.
    Empty(usize),
}

/// The permits of one run.
#[derive(Debug)]
pub(crate) struct RunLimits {
    steps: Box<[StepLimits]>,
}

/// The limits of one step of a run, and the permits it holds.
#[derive(Debug)]
pub(crate) struct StepLimits {
    /// In acquisition order; empty if the step needs none.
    limits: Arc<[Limit]>,
    priority: i32,
    /// The permits of the attempt under way.
    held: Mutex<Vec<Permit>>,
    /// The permits its driver is taking before the first attempt (kept here rather than in the
    /// driver, so that drivers of steps without limits stay small).
    acquiring: Mutex<Acquiring>,
    /// The position in `limits` of the one the step waits for, or [`NOT_WAITING`].
    waiting_on: AtomicUsize,
}

impl RunLimits {
    /// The permits of a run of `topology` capped at `cap` steps at once, with the
    /// `priorities` overridden for this run; `None` if no step of it takes a permit.
    pub(crate) fn new(
        topology: &Topology,
        cap: Option<usize>,
        priorities: &[(usize, i32)],
    ) -> Option<Self> {
        if !topology.has_limits && cap.is_none() {
            return None;
        }
        let cap = cap.map(|steps| Limit::instance(Arc::from(CAP_NAME), steps));
        let steps = topology
            .steps
            .iter()
            .enumerate()
            .map(|(index, meta)| {
                let mut limits: Vec<Limit> = cap.iter().cloned().collect();
                limits.extend(meta.limits.iter().cloned());
                limit::acquisition_order(&mut limits);
                let priority = priorities
                    .iter()
                    .rev()
                    .find(|(step, _)| *step == index)
                    .map_or(meta.priority, |(_, priority)| *priority);
                StepLimits {
                    limits: limits.into(),
                    priority,
                    held: Mutex::new(Vec::new()),
                    acquiring: Mutex::new(Acquiring::Idle),
                    waiting_on: AtomicUsize::new(NOT_WAITING),
                }
            })
            .collect();
        Some(RunLimits { steps })
    }

    /// The limits of step `index`, if it takes any.
    #[inline]
    pub(crate) fn of(&self, index: usize) -> Option<&StepLimits> {
        self.steps.get(index).filter(|step| !step.limits.is_empty())
    }
}

impl StepLimits {
    /// Takes a permit of each of the step's limits.
    pub(crate) fn acquire(&self) -> AcquireAll {
        AcquireAll::new(self.limits.clone(), self.priority)
    }

    /// The driver starts taking the step's permits before its first attempt; `false` if the
    /// step has ended meanwhile (cancelled or abandoned while queued): nothing is taken.
    pub(crate) fn begin_acquire(&self) -> bool {
        let mut acquiring = self.acquiring();
        if matches!(*acquiring, Acquiring::Closed) {
            return false;
        }
        *acquiring = Acquiring::Active(self.acquire());
        true
    }

    /// Polls the acquisition under way (its driver's only). Permits it gets are held by the
    /// step at once, under the same lock, so that whoever ends the step (its driver, or a
    /// cancellation while it is queued) finds them in [`settle`](Self::settle). `None` if there
    /// is no acquisition (the step ended).
    pub(crate) fn poll_acquire(&self, cx: &mut Context<'_>) -> Option<Taking> {
        let mut acquiring = self.acquiring();
        let Acquiring::Active(acquire) = &mut *acquiring else {
            return None;
        };
        let mut newly = false;
        let taking = match acquire.poll_acquire(cx, &mut newly) {
            Acquired::All(permits) => {
                *acquiring = Acquiring::Idle;
                self.hold(permits);
                Taking::Held
            }
            Acquired::Waiting(position) => Taking::Waiting { position, newly },
            Acquired::Empty(position) => Taking::Empty(position),
        };
        Some(taking)
    }

    /// The step ends, or is no longer its driver's to run: its acquisition stops (leaving the
    /// limits' queues, giving back what it had taken) and never starts again, and the permits
    /// of its attempt are given back.
    pub(crate) fn settle(&self) {
        let acquire = std::mem::replace(&mut *self.acquiring(), Acquiring::Closed);
        // Dropped outside the lock: leaving a queue may pass a permit on.
        drop(acquire);
        self.release();
    }

    fn acquiring(&self) -> std::sync::MutexGuard<'_, Acquiring> {
        self.acquiring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The name of the limit at `position`.
    pub(crate) fn name(&self, position: usize) -> Option<&Arc<str>> {
        self.limits.get(position).map(Limit::name_arc)
    }

    /// The step now waits for the limit at `position`.
    pub(crate) fn waiting_for(&self, position: usize) {
        self.waiting_on.store(position, Ordering::Release);
    }

    /// The name of the limit the step waited for last (read while it waits).
    pub(crate) fn awaited(&self) -> Option<&Arc<str>> {
        self.name(self.waiting_on.load(Ordering::Acquire))
    }

    /// The step holds `permits` for its attempt.
    pub(crate) fn hold(&self, permits: Vec<Permit>) {
        let previous = std::mem::replace(&mut *self.held(), permits);
        drop(previous);
    }

    /// Gives back the permits of the step's attempt (it ended, or backs off).
    pub(crate) fn release(&self) {
        let permits = std::mem::take(&mut *self.held());
        // Dropped outside the lock: giving a permit back wakes its next holder.
        drop(permits);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Permit>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
