//! The engine: when a step is started, and on which driver. One [`Run`] per job instance, one
//! [`Driver`] task per step that becomes ready.
//!
//! A step is spawned only once all of its dependencies have succeeded: nothing sits parked on
//! its parents. When a step ends, the driver that ran it reports the end to the run's state
//! [`Machine`], releases the children whose last dependency it was, spawns every one of them but
//! one, and runs that one itself (no task, no queue hop for a chain). Every state change is
//! the state layer's ([`crate::state`]); this module only decides what runs next.

pub(crate) mod deadline;
mod frame;
pub(crate) mod limits;
mod sequential;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::cell::ErasedCell;
use crate::env::{RunContext, RunEnv};
use crate::error::JobError;
use crate::id::JobId;
use crate::limit::{AcquireAll, Permit};
use crate::mode::private::{Sealed, SpawnTask};
use crate::rt::{BoxFuture, SpawnError, Timer};
use crate::state::Machine;
use crate::state::events::{EventKind, EventLog};
use crate::state::items::ItemTable;
use crate::state::slot::{Ended, Stamp};
use crate::step::context::{self, RunHooks};
use crate::topology::Topology;

use limits::{RunLimits, StepLimits, Taking};

/// How often a driver runs a successor inline before it yields to the executor.
const INLINE_BUDGET: u32 = 64;

/// How a run is started: the parts of the options the engine reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// One step at a time, in definition order.
    pub(crate) sequential: bool,
    /// The first failure cancels the rest.
    pub(crate) fail_fast: bool,
}

/// What a run has only if its options or its definition ask for it.
pub(crate) struct RunParts {
    /// Its events, if it records them.
    pub(crate) log: Option<Arc<EventLog>>,
    /// Its permits, if a step takes any.
    pub(crate) limits: Option<RunLimits>,
    /// The priorities it gives steps (by index), instead of their definition's.
    pub(crate) priorities: Vec<(usize, i32)>,
}

/// One run of a job definition.
pub(crate) struct Run<X: Sealed> {
    pub(crate) machine: Machine,
    pub(crate) id: JobId,
    cells: Box<[Arc<X::Cell>]>,
    spawner: Arc<X::Spawner<Driver<X>>>,
    timer: Arc<X::Timer>,
    schedule: Schedule,
    env: Arc<RunEnv>,
    /// The permits its steps take, if any does.
    limits: Option<RunLimits>,
    /// The priorities it gives steps, instead of their definition's (for map items).
    priorities: Box<[(usize, i32)]>,
    origin: Instant,
    origin_wall: SystemTime,
}

impl<X: Sealed> std::fmt::Debug for Run<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("job", &self.topology().name)
            .field("id", &self.id)
            .field("finished", &self.machine.is_finished())
            .finish_non_exhaustive()
    }
}

impl<X: Sealed> Run<X> {
    /// Sets up a run; [`begin`](Self::begin) starts it.
    pub(crate) fn new(
        env: Arc<RunEnv>,
        cells: Box<[Arc<X::Cell>]>,
        spawner: Arc<X::Spawner<Driver<X>>>,
        timer: Arc<X::Timer>,
        id: JobId,
        schedule: Schedule,
        RunParts {
            log,
            limits,
            priorities,
        }: RunParts,
    ) -> Arc<Self> {
        Arc::new(Run {
            machine: Machine::new(env.topology.clone(), log),
            limits,
            priorities: priorities.into(),
            id,
            cells,
            spawner,
            origin: timer.now(),
            // The one reading of the wall clock: it only labels the pictures (every time they
            // show is an offset from `origin`, on the timer's clock).
            origin_wall: SystemTime::now(),
            timer,
            schedule,
            env,
        })
    }

    /// Queues and spawns the first steps: the roots, or in sequential mode the first step.
    pub(crate) fn begin(self: &Arc<Self>) {
        let _frame = frame::Frame::enter();
        if self.schedule.sequential {
            return sequential::begin(self);
        }
        let now = self.now();
        for &root in &self.topology().roots {
            // A cancellation racing this loop wins over roots it reaches first.
            if self.machine.queue(root, now) {
                self.spawn(root);
            }
        }
    }

    pub(crate) fn topology(&self) -> &Arc<Topology> {
        self.machine.topology()
    }

    /// The time since the run's start, on the timer's clock.
    pub(crate) fn now(&self) -> Stamp {
        Stamp::from_duration(self.elapsed())
    }

    pub(crate) fn cells(&self) -> &[Arc<X::Cell>] {
        &self.cells
    }

    pub(crate) fn origin_wall(&self) -> SystemTime {
        self.origin_wall
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.timer.now().saturating_duration_since(self.origin)
    }

    pub(crate) fn timer(&self) -> &X::Timer {
        &self.timer
    }

    /// The limits step `index` takes, if any.
    #[inline]
    pub(crate) fn limits_of(&self, index: usize) -> Option<&StepLimits> {
        self.limits.as_ref()?.of(index)
    }

    /// Step `index` ended: its acquisition of permits stops for good and the permits it holds
    /// are given back, if it takes any.
    fn release_permits(&self, index: usize) {
        if let Some(limits) = self.limits_of(index) {
            limits.settle();
        }
    }

    /// Step `index` waits for the limit at `position` of its limits (its driver only):
    /// `false` if the driver does not own the step.
    fn await_permit(&self, index: usize, limits: &StepLimits, position: usize) -> bool {
        limits.waiting_for(position);
        let name = limits.name(position).cloned().unwrap_or_else(|| "".into());
        self.machine.await_permit(index, &name, self.now())
    }

    /// Spawns a driver for the queued step `index`; if the executor refuses it (or panics),
    /// the step is abandoned. While the engine is nested on this thread (an executor that
    /// polls inside `spawn`), the spawn is deferred to the outermost frame.
    pub(crate) fn spawn(self: &Arc<Self>, index: usize) {
        let driver = Driver {
            run: self.clone(),
            current: index,
            phase: Phase::Queued,
        };
        if frame::is_nested() {
            frame::defer(move || {
                let run = driver.run.clone();
                run.spawn_now(driver);
            });
        } else {
            self.spawn_now(driver);
        }
    }

    fn spawn_now(self: &Arc<Self>, driver: Driver<X>) {
        let index = driver.current;
        // A driver the executor drops inside `spawn()` leaves the step to this function, which
        // knows the executor's reason.
        // (`catch_unwind` keeps a panicking `spawn()` from skipping `end_spawn`.)
        let previous = frame::begin_spawn(self.address(), index);
        let spawned =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.spawner.spawn_task(driver)));
        let dropped = frame::end_spawn(previous);
        match spawned {
            Ok(Ok(())) if dropped => self.abandon(index, None),
            Ok(Ok(())) => {}
            // An executor that refuses the driver yet keeps it loses the race for the step.
            Ok(Err(refused)) => self.abandon(index, Some(refused)),
            Err(panic) => {
                crate::panic::drop_quietly(panic);
                self.abandon(index, None);
            }
        }
    }

    /// The run's address: which run a driver belongs to, for [`frame::begin_spawn`].
    fn address(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Cancels the run: steps that have not started never will, running steps are dropped at
    /// their next wake-up. `false` if the run had already ended or been cancelled.
    pub(crate) fn cancel(&self, reason: JobError) -> bool {
        self.machine.cancel(
            reason,
            self.now(),
            || self.env.cancel(),
            |index| self.release_permits(index),
        )
    }

    /// Step `index` cannot run (its driver was refused, for `reason` if the executor gave one,
    /// or dropped). In sequential mode nobody else would run the steps after it, so they cannot
    /// run either.
    fn abandon(self: &Arc<Self>, index: usize, reason: Option<SpawnError>) {
        let now = self.now();
        let mut released = Vec::new();
        let ended = self.machine.abandon(index, now, reason, &mut released, || {
            self.release_permits(index)
        });
        if ended.is_none() {
            self.release_permits(index);
            return;
        }
        if self.schedule.sequential {
            sequential::abandon_rest(self, index, now);
        }
        if ended == Some(Ended::Failed) {
            self.after_failure(index);
        }
        if !self.schedule.sequential {
            self.release(released, now);
        }
    }

    /// Step `index` failed: cancels the run if it is fail-fast, unless the failure is allowed.
    fn after_failure(&self, index: usize) {
        if self.schedule.fail_fast && self.machine.failure_counts(index) {
            self.cancel(JobError::cancelled_job(&self.topology().name));
        }
    }

    /// Queues and spawns `released`: steps whose last dependency ended without an output, at
    /// `now` or later, and which take it whatever its outcome.
    fn release(self: &Arc<Self>, released: Vec<usize>, now: Stamp) {
        for step in released {
            let at = self.now().max(now);
            if self.machine.queue(step, at) {
                self.spawn(step);
            }
        }
    }

    /// Records the end of step `index` at `now` and releases its successors. Returns the
    /// successor the caller should run itself, with the time it became ready.
    fn complete(
        self: &Arc<Self>,
        index: usize,
        outcome: Result<(), JobError>,
        now: Stamp,
    ) -> Option<(usize, Stamp)> {
        let mut released = Vec::new();
        let ended = self.machine.finish(index, outcome, now, &mut released, || {
            self.release_permits(index)
        });
        if ended.is_none() {
            self.release_permits(index);
        }
        if ended == Some(Ended::Failed) {
            self.after_failure(index);
        }
        let has_output = ended.is_some_and(Ended::has_output);
        if self.schedule.sequential {
            return sequential::next(self, index, has_output);
        }
        if !has_output {
            self.release(released, now);
            return None;
        }
        let topology = self.topology();
        let mut inline: Option<(usize, Stamp)> = None;
        for &child in &topology.steps[index].children {
            if !self.machine.dependency_done(child) {
                continue;
            }
            // The child became ready now. With other dependencies, one of them may have ended
            // after `now` on another thread: read the clock again, after they all have.
            let at = if topology.steps[child].dependency_count() == 1 {
                now
            } else {
                // (At least `now`: an injected clock need not be monotonic.)
                self.now().max(now)
            };
            if !self.machine.queue(child, at) {
                continue;
            }
            if let Some((previous, _)) = inline.replace((child, at)) {
                self.spawn(previous);
            }
        }
        inline
    }
}

impl<X: Sealed> RunHooks for Run<X> {
    fn job_id(&self) -> JobId {
        self.id.clone()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.timer.sleep(duration)
    }

    fn attempt_started(&self, index: usize, attempt: u32) {
        self.machine.attempt_started(index, attempt, self.now());
    }

    fn attempt_failed(&self, index: usize, attempt: u32, error: JobError, backoff: Duration) {
        self.machine
            .attempt_failed(index, attempt, error, backoff, self.now());
        // A back-off gives the step's permits back.
        if let Some(limits) = self.limits_of(index) {
            limits.release();
        }
    }

    fn acquire(&self, index: usize) -> Option<AcquireAll> {
        self.limits_of(index).map(StepLimits::acquire)
    }

    fn awaiting_permit(&self, index: usize, position: usize) {
        if let Some(limits) = self.limits_of(index) {
            self.await_permit(index, limits, position);
        }
    }

    fn priority(&self, index: usize) -> Option<i32> {
        self.priorities
            .iter()
            .rev()
            .find(|(step, _)| *step == index)
            .map(|(_, priority)| *priority)
    }

    fn hold(&self, index: usize, permits: Vec<Permit>) {
        if let Some(limits) = self.limits_of(index) {
            limits.hold(permits);
        }
    }

    fn run_context(&self) -> RunContext {
        RunContext {
            id: self.id.clone(),
            timer: X::shared_timer(&self.timer),
            can_sleep: self.timer.can_sleep(),
            blocking: self.spawner.blocking(),
        }
    }

    fn is_run(&self, env: &RunEnv) -> bool {
        std::ptr::eq(&*self.env, env)
    }

    fn error_of(&self, index: usize) -> Option<JobError> {
        self.machine.error_of(index)
    }

    fn recovered(&self, index: usize, error: JobError) {
        self.machine.recovered(index, error);
    }

    fn register_items(&self, table: Arc<ItemTable>) {
        self.machine.register_items(table);
    }

    fn item(&self, table: &ItemTable, position: usize, kind: EventKind) {
        self.machine.item(table, position, kind, self.now());
    }
}

impl<X: Sealed> Drop for Run<X> {
    fn drop(&mut self) {
        // A step's future holds its parents' cells. Dropping the cells last-to-first frees each
        // future before the parents it refers to, so a long chain of unfinished steps is freed
        // iteratively rather than by a recursion as deep as the chain. A destructor that
        // panics (an output's, a future's) is contained: the run may be dropped by a driver,
        // inside the executor.
        let mut cells = std::mem::take(&mut self.cells).into_vec();
        while let Some(cell) = cells.pop() {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(cell))) {
                crate::panic::drop_quietly(panic);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The step is queued; this driver has not taken it yet.
    Queued,
    /// The step waits for the permits of its limits (taken by its [`StepLimits`]' acquisition);
    /// it is still `Queued` (nobody's) until it first has to wait.
    Permits,
    /// As `Permits`, once the step had to wait: it is `AwaitingPermit`, and the driver's.
    AwaitingPermit,
    /// The driver has taken the step (`Running`): only it may end it.
    Running,
    /// The driver has nothing left to do.
    Done,
}

/// The task that runs a ready step, and then, inline, successors of it.
pub(crate) struct Driver<X: Sealed> {
    run: Arc<Run<X>>,
    current: usize,
    phase: Phase,
}

impl<X: Sealed> std::fmt::Debug for Driver<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("step", &self.current)
            .field("phase", &self.phase)
            .finish()
    }
}

impl<X: Sealed> Driver<X> {
    /// Polls the current step's future. The step's own code runs under its own
    /// `catch_unwind`; this one contains a panic from what surrounds it (the timer, a retry
    /// policy, an interceptor, a destructor), which fails the step instead of unwinding into
    /// the executor.
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        let run = &self.run;
        let index = self.current;
        let poll = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let cell = &run.cells[index];
            if run.topology().steps[index].needs_context {
                let hooks: Arc<dyn RunHooks> = run.clone();
                context::enter(hooks, index, || cell.poll_step(cx))
            } else {
                cell.poll_step(cx)
            }
        }));
        match poll {
            Ok(poll) => poll,
            Err(panic) => {
                let topology = run.topology();
                let message = crate::panic::into_message(panic);
                Poll::Ready(Err(JobError::panicked(
                    &topology.name,
                    &topology.step_name(index),
                    message,
                )))
            }
        }
    }
}

impl<X: Sealed> Future for Driver<X> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _frame = frame::Frame::enter();
        let this = self.get_mut();
        let mut budget = INLINE_BUDGET;
        let mut ready_at = None;
        loop {
            let index = this.current;
            if matches!(this.phase, Phase::Queued) {
                // Once a cancellation is under way a queued step is not started: the
                // cancellation ends it (it has not reached it yet, or the step would not be
                // queued any more).
                if this.run.machine.is_cancel_requested() {
                    this.phase = Phase::Done;
                    return Poll::Ready(());
                }
                match this.run.limits_of(index) {
                    None => {
                        let now = ready_at.take().unwrap_or_else(|| this.run.now());
                        if !this.run.machine.start(index, now) {
                            // Cancelled or abandoned before it could start: nothing left to do.
                            this.phase = Phase::Done;
                            return Poll::Ready(());
                        }
                        this.phase = Phase::Running;
                    }
                    Some(limits) => {
                        if !limits.begin_acquire() {
                            // Ended while queued (cancelled or abandoned).
                            this.phase = Phase::Done;
                            return Poll::Ready(());
                        }
                        this.phase = Phase::Permits;
                    }
                }
            }
            let outcome = match this.phase {
                Phase::Permits | Phase::AwaitingPermit => {
                    let run = &this.run;
                    let mut taken = this.phase == Phase::AwaitingPermit;
                    let polled = permits(run, index, &mut taken, &mut ready_at, cx);
                    if taken {
                        this.phase = Phase::AwaitingPermit;
                    }
                    match polled {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(true)) => {
                            this.phase = Phase::Running;
                            continue;
                        }
                        Poll::Ready(Ok(false)) => {
                            this.phase = Phase::Done;
                            return Poll::Ready(());
                        }
                        Poll::Ready(Err(outcome)) => outcome,
                    }
                }
                _ => match this.poll_step(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(outcome) => outcome,
                },
            };
            this.phase = Phase::Done;
            let now = this.run.now();
            let Some((next, at)) = this.run.complete(index, outcome, now) else {
                return Poll::Ready(());
            };
            this.current = next;
            this.phase = Phase::Queued;
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ready_at = Some(at);
        }
    }
}

/// Polls the permits of step `index` before its first attempt (see [`Phase::Permits`]):
/// `Ok(true)` once it holds them all and runs, `Ok(false)` if the step is no longer its
/// driver's to run (cancelled or abandoned while queued), `Err(outcome)` if it ended while it
/// waited (cancelled, or a limit has no permits): the driver then reports that outcome.
///
/// No lock of the limits is held while the state machine moves (it records events, whose
/// observers may cancel the run, which settles the step's permits).
fn permits<X: Sealed>(
    run: &Arc<Run<X>>,
    index: usize,
    taken: &mut bool,
    ready_at: &mut Option<Stamp>,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, Result<(), JobError>>> {
    let Some(limits) = run.limits_of(index) else {
        return Poll::Ready(Ok(false));
    };
    let topology = run.topology();
    loop {
        if *taken && run.machine.is_cancel_requested() {
            return Poll::Ready(Err(Err(run.env.cancelled_error(index))));
        }
        let Some(taking) = limits.poll_acquire(cx) else {
            // Ended while queued: whoever ended it settled its permits.
            return Poll::Ready(Ok(false));
        };
        match taking {
            Taking::Held => {
                let now = ready_at.take().unwrap_or_else(|| run.now());
                if run.machine.start(index, now) {
                    return Poll::Ready(Ok(true));
                }
                return Poll::Ready(if *taken {
                    // Cancellation reached it as it got its permits: it ends with them given
                    // back by its end.
                    Err(Err(run.env.cancelled_error(index)))
                } else {
                    // Ended while queued, by a cancellation that settles its permits; settle
                    // again in case it took them after.
                    limits.settle();
                    Ok(false)
                });
            }
            Taking::Empty(position) => {
                if !*taken && !run.await_permit(index, limits, position) {
                    return Poll::Ready(Ok(false));
                }
                *taken = true;
                let limit = limits.name(position).cloned().unwrap_or_else(|| "".into());
                let error =
                    JobError::no_permits(&topology.name, &topology.step_name(index), &limit);
                return Poll::Ready(Err(Err(error)));
            }
            Taking::Waiting { position, newly } => {
                if newly {
                    ready_at.take();
                    if !run.await_permit(index, limits, position) && !*taken {
                        return Poll::Ready(Ok(false));
                    }
                    *taken = true;
                }
                // A cancellation wakes the step through its waker in the run's environment.
                run.env.register(index, cx.waker());
                if run.machine.is_cancel_requested() {
                    continue;
                }
                return Poll::Pending;
            }
        }
    }
}

impl<X: Sealed> Drop for Driver<X> {
    fn drop(&mut self) {
        match self.phase {
            Phase::Done => {}
            Phase::Permits | Phase::AwaitingPermit => {
                // The executor dropped the driver while the step waited for its permits: the
                // wait ends here (its place in each queue is given up, when the step's end
                // settles its permits), and the step with it.
                self.run.abandon(self.current, None);
            }
            Phase::Queued => {
                if !frame::dropped_while_spawning(self.run.address(), self.current) {
                    self.run.abandon(self.current, None);
                }
            }
            Phase::Running => {
                // The executor dropped a step it was running (it shut down): the step's future
                // will never be polled again, so it is dropped now, before the step ends.
                // (A step that needs the run's context has it while its future is dropped: a
                // map step records its items' ends.)
                let run = &self.run;
                let index = self.current;
                let cell = &run.cells[index];
                let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    if run.topology().steps[index].needs_context {
                        let hooks: Arc<dyn RunHooks> = run.clone();
                        context::enter(hooks, index, || cell.drop_future());
                    } else {
                        cell.drop_future();
                    }
                }));
                if let Err(panic) = dropped {
                    crate::panic::drop_quietly(panic);
                }
                self.run.abandon(self.current, None);
            }
        }
    }
}
