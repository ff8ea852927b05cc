//! Job instances: one run of a definition, its state, its steps and its result.

mod start;

pub use start::{ExecutorTimer, Runner, StartMode, TimerSource};

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::cell::ErasedCell;
use crate::engine::Run;
use crate::error::JobError;
use crate::graph::builder::StepHandle;
use crate::id::JobId;
use crate::mode::{Mode, Sendable};
use crate::state::events::{Events, EventsDisabled, Observer};
use crate::state::items::ItemSnapshot;
use crate::state::slot::StepView;
use crate::state::{RetriedAttempt, StepState};

/// How to start a job instance: its id, whether its steps run one at a time, its failure
/// policy and deadline, and who watches it (events, observers). Given to
/// [`Runner::options`](crate::Runner::options).
///
/// ```
/// use asyncjob::JobOptions;
/// let options = JobOptions::new().with_id("request-42").sequential().record_events();
/// # let _ = options;
/// ```
#[derive(Clone, Default)]
pub struct JobOptions {
    pub(crate) id: Option<JobId>,
    pub(crate) sequential: bool,
    /// `None`: as the definition says ([`JobBuilder::fail_fast`](crate::JobBuilder::fail_fast)).
    pub(crate) fail_fast: Option<bool>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) record_events: bool,
    pub(crate) observers: Vec<Arc<dyn Observer>>,
    /// `None`: as the definition says ([`JobBuilder::max_running`](crate::JobBuilder::max_running)).
    pub(crate) max_running: Option<usize>,
    /// Steps whose priority this instance sets ([`priority`](Self::priority)):
    /// definition id, step index and name, priority.
    pub(crate) priorities: Vec<(u64, usize, Arc<str>, i32)>,
}

impl fmt::Debug for JobOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOptions")
            .field("id", &self.id)
            .field("sequential", &self.sequential)
            .field("fail_fast", &self.fail_fast)
            .field("deadline", &self.deadline)
            .field("record_events", &self.record_events)
            .field("observers", &self.observers.len())
            .field("max_running", &self.max_running)
            .field("priorities", &self.priorities.len())
            .finish()
    }
}

impl JobOptions {
    /// The defaults: a process-unique id, steps run in parallel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the instance a caller-chosen id.
    pub fn with_id(mut self, id: impl Into<JobId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Runs the steps one at a time, in the order they were added to the definition (a
    /// topological order), like go-asyncjob's `WithSequentialExecution`.
    pub fn sequential(mut self) -> Self {
        self.sequential = true;
        self
    }

    /// Cancels the rest of the job as soon as a step fails. By default (as in go-asyncjob) the
    /// branches that do not depend on the failed step go on, unless the definition is fail-fast
    /// ([`JobBuilder::fail_fast`](crate::JobBuilder::fail_fast)).
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = Some(true);
        self
    }

    /// Lets the branches that do not depend on a failed step go on, even if the definition is
    /// fail-fast ([`JobBuilder::fail_fast`](crate::JobBuilder::fail_fast)): the instance's
    /// choice wins over the definition's.
    pub fn continue_on_failure(mut self) -> Self {
        self.fail_fast = Some(false);
        self
    }

    /// Cancels the job if it has not ended `deadline` after it started; it then ends with an
    /// error of kind [`DeadlineExceeded`](crate::JobErrorKind::DeadlineExceeded) about the whole job. Time is
    /// measured by the executor's [`Timer`](crate::Timer).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Records every transition of every step, so that [`JobInstance::events`] can replay
    /// them to any number of subscribers, from the start, however late they subscribe.
    ///
    /// Without it (or [`observe`](Self::observe)) a run keeps no log and its transitions cost
    /// nothing more; with it, each transition is appended to a log under a lock (see
    /// `docs/performance.md` for what that costs per step).
    pub fn record_events(mut self) -> Self {
        self.record_events = true;
        self
    }

    /// Calls `observer` synchronously at each transition of the run (see [`Observer`]); may be
    /// given several times. Implies [`record_events`](Self::record_events).
    pub fn observe(mut self, observer: impl Observer) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Caps the instance: at most `steps` of its steps run at once (instead of the
    /// definition's [`max_running`](crate::JobBuilder::max_running), if it has one). The
    /// others wait [`AwaitingPermit`](crate::StepState::AwaitingPermit) for the cap (named
    /// `"max_running"` in the snapshot and the events), by priority, then in the order they
    /// became ready. See [`JobBuilder::max_running`](crate::JobBuilder::max_running).
    pub fn max_running(mut self, steps: usize) -> Self {
        self.max_running = Some(steps);
        self
    }

    /// Gives `step` the priority `priority` in this instance, instead of the definition's
    /// ([`StepBuilder::priority`](crate::StepBuilder::priority)): among the steps waiting for
    /// a permit of a [`Limit`](crate::Limit) (or of the instance's cap), the highest priority
    /// goes first. A handle of another definition than the one started ends the instance at
    /// once, before any step runs, with an error of kind
    /// [`UnknownStep`](crate::JobErrorKind::UnknownStep).
    pub fn priority<O>(mut self, step: &StepHandle<O>, priority: i32) -> Self {
        self.priorities.push((
            step.definition_id(),
            step.index(),
            step.name_arc().clone(),
            priority,
        ));
        self
    }
}

/// What a job instance knows about one of its steps, at the moment it was asked.
///
/// Times come twice: as wall-clock instants ([`started_at`](Self::started_at),
/// [`ended_at`](Self::ended_at)) and as offsets from the start of the instance
/// ([`ready_offset`](Self::ready_offset), [`start_offset`](Self::start_offset),
/// [`end_offset`](Self::end_offset)), measured on a monotonic clock; the offsets are what the
/// pictures of the `visual` module are drawn from.
///
/// Dependencies are given as step indices (positions in the definition, as in
/// [`index`](Self::index) and in [`JobSnapshot::steps`]): cheap, and unambiguous whatever the
/// names.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepSnapshot {
    /// The step's name.
    pub name: Arc<str>,
    /// The step's position in the definition (the order steps were added).
    pub index: usize,
    /// Where the step is in its life.
    pub state: StepState,
    /// The indices of the steps whose outputs this step takes, in the order its function
    /// receives them.
    pub data_dependencies: Vec<usize>,
    /// The indices of the steps this step waits for without taking their outputs.
    pub ordering_dependencies: Vec<usize>,
    /// For a step of a [sub-job](crate::StepBuilder::job): the index of the step that added
    /// the sub-job (its entry, named after it), the innermost one if sub-jobs nest; `None`
    /// for a step of the job itself.
    pub sub_job: Option<usize>,
    /// How many attempts the step made, retries included: 0 until it starts (and for a step
    /// whose function was never called: omitted, or ended by its condition), 1 for a step
    /// that ran once, `1 + n` for a step its retry policy tried again `n` times. The retried
    /// attempts are in [`retried`](Self::retried); the last one is described by the step's
    /// own state, times and error.
    pub attempts: u32,
    /// The attempts that failed and were retried under the step's retry policy, oldest first
    /// (the last attempt is described by the step's own times, state and error).
    pub retried: Vec<RetriedAttempt>,
    /// How many retried attempts are not in [`retried`](Self::retried): a step keeps its first
    /// 8 and its last 8 retried attempts, and only counts the others.
    pub retried_omitted: u32,
    /// When the step's future first ran (wall clock), if it has.
    pub started_at: Option<SystemTime>,
    /// When the step ended (wall clock): it succeeded, failed, was skipped or cancelled.
    pub ended_at: Option<SystemTime>,
    /// How long the step waited in the executor's queue once ready, if it started (or began
    /// to wait for a permit): until its driver took it.
    pub queued: Option<Duration>,
    /// The name of the [`Limit`](crate::Limit) the step waits for, while it is
    /// [`AwaitingPermit`](StepState::AwaitingPermit).
    pub awaiting_permit: Option<Arc<str>>,
    /// When, after the start of the instance, the step began to wait for a permit before its
    /// first attempt, if it had to.
    pub permit_offset: Option<Duration>,
    /// How long the step waited for permits of its limits (so far, if it waits), before its
    /// first attempt and between attempts; zero for a step that never waited.
    pub permit_wait: Duration,
    /// How long the step's attempts ran (so far, if one is running), if it started: the time
    /// from its first start to its end less [`backoff`](Self::backoff).
    pub running: Option<Duration>,
    /// How long the step waited in back-off between attempts, under its retry policy (so far,
    /// if it is [`Retrying`](StepState::Retrying)); zero for a step that was not retried.
    pub backoff: Duration,
    /// When, after the start of the instance, the step's dependencies had all succeeded: how
    /// long it waited for them.
    pub ready_offset: Option<Duration>,
    /// When, after the start of the instance, the step's future first ran.
    pub start_offset: Option<Duration>,
    /// When, after the start of the instance, the step ended.
    pub end_offset: Option<Duration>,
    /// The step's error, if it failed, was skipped, omitted or cancelled; for a
    /// [`Recovered`](StepState::Recovered) step, the error it recovered from.
    pub error: Option<JobError>,
    /// The items of a [map step](crate::StepBuilder::map), once it has read them, in item
    /// order; empty for other steps.
    pub items: Vec<ItemSnapshot>,
}

/// One step's state, attempts and times, read from that step alone by
/// [`JobInstance::step_times`]: the fields of a [`StepSnapshot`] that cost no copy.
///
/// Each field means what the [`StepSnapshot`] field of the same name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepTimes {
    /// Where the step is in its life.
    pub state: StepState,
    /// How many attempts the step made, retries included (see [`StepSnapshot::attempts`]).
    pub attempts: u32,
    /// When the step's future first ran (wall clock), if it has.
    pub started_at: Option<SystemTime>,
    /// When the step ended (wall clock).
    pub ended_at: Option<SystemTime>,
    /// How long the step waited in the executor's queue once ready, if it started.
    pub queued: Option<Duration>,
    /// When, after the start of the instance, the step began to wait for a permit.
    pub permit_offset: Option<Duration>,
    /// How long the step waited for permits of its limits.
    pub permit_wait: Duration,
    /// How long the step's attempts ran (so far, if one is running), if it started.
    pub running: Option<Duration>,
    /// How long the step waited in back-off between attempts.
    pub backoff: Duration,
    /// When, after the start of the instance, the step was ready to run.
    pub ready_offset: Option<Duration>,
    /// When, after the start of the instance, the step's future first ran.
    pub start_offset: Option<Duration>,
    /// When, after the start of the instance, the step ended.
    pub end_offset: Option<Duration>,
}

/// What a job instance knows about itself and all of its steps, at one moment: the data behind
/// the renderings of the `visual` module, for a dashboard of your own.
///
/// Made by [`JobInstance::snapshot`]. Every time in it was read before
/// [`elapsed`](Self::elapsed), so no offset of a step is later than `elapsed`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobSnapshot {
    /// The name of the job definition.
    pub name: Arc<str>,
    /// The instance's id.
    pub id: JobId,
    /// The wall-clock time at which the instance started.
    pub started_at: SystemTime,
    /// How long after the start of the instance the snapshot was taken; once the job has
    /// finished, how long it ran (until its last step ended), so that the snapshots of a
    /// finished job are all the same.
    pub elapsed: Duration,
    /// `true` if every step had ended when the snapshot was taken.
    pub finished: bool,
    /// The error of the step that failed first, if one had.
    pub error: Option<JobError>,
    /// Every step, in definition order: `steps[i].index == i`.
    pub steps: Vec<StepSnapshot>,
}

impl JobSnapshot {
    /// The step called `name`, if there is one.
    pub fn step_by_name(&self, name: &str) -> Option<&StepSnapshot> {
        self.steps.iter().find(|step| &*step.name == name)
    }
}

/// One run of a [`JobDefinition`](crate::JobDefinition): started with an input on an executor,
/// it runs on its own; this handle looks at it and waits for it.
///
/// Dropping the handle does not stop the job: its steps keep running on the executor, as
/// goroutines do in go-asyncjob. To stop it, call [`cancel`](Self::cancel), or hold the guard
/// of [`cancel_on_drop`](Self::cancel_on_drop). Cheap to clone. `Send + Sync` in the [`Sendable`] mode.
pub struct JobInstance<X: Mode = Sendable> {
    pub(crate) run: Arc<Run<X>>,
}

impl<X: Mode> Clone for JobInstance<X> {
    fn clone(&self) -> Self {
        JobInstance {
            run: self.run.clone(),
        }
    }
}

impl<X: Mode> fmt::Debug for JobInstance<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobInstance")
            .field("job", &self.name())
            .field("id", &self.run.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<X: Mode> JobInstance<X> {
    /// The instance's id.
    pub fn id(&self) -> &JobId {
        &self.run.id
    }

    /// The name of the job definition.
    pub fn name(&self) -> &str {
        &self.run.topology().name
    }

    /// `true` once every step has ended.
    pub fn is_finished(&self) -> bool {
        self.run.machine.is_finished()
    }

    /// Waits until every step has ended. Once it has returned, no step's code runs any more.
    ///
    /// A `Wait` that is dropped before the job ends leaves nothing behind in the instance.
    ///
    /// # Errors
    ///
    /// If a step failed, the error of the first failed step in definition order (a step that
    /// did not run because a dependency failed is skipped, not failed); otherwise, if the job
    /// was cancelled (by [`cancel`](Self::cancel), fail-fast or its deadline) before every step
    /// ended, an error of kind [`Cancelled`](crate::JobErrorKind::Cancelled) or
    /// [`DeadlineExceeded`](crate::JobErrorKind::DeadlineExceeded) about the whole job.
    pub fn wait(&self) -> Wait<X> {
        Wait {
            run: self.run.clone(),
            key: None,
        }
    }

    /// Cancels the instance: steps that have not started never will, and the futures of running
    /// steps are dropped; every step that had not ended ends [`Cancelled`](StepState::Cancelled),
    /// even one whose future completes in the meantime. [`wait`](Self::wait) then reports an
    /// error of kind [`Cancelled`](crate::JobErrorKind::Cancelled), unless a step had failed.
    /// The instance can still be inspected and drawn.
    ///
    /// Returns `true` if the cancellation took effect; `false` if the instance had already been
    /// cancelled, or every step had already ended (then nothing changes).
    pub fn cancel(&self) -> bool {
        self.run
            .cancel(JobError::cancelled_job(&self.run.topology().name))
    }

    /// `true` once a cancellation ([`cancel`](Self::cancel), fail-fast or the deadline) took
    /// effect.
    pub fn is_cancelled(&self) -> bool {
        self.run.machine.is_cancelled()
    }

    /// A guard that cancels the instance when dropped. Dropping a [`JobInstance`] itself lets
    /// the job run on (as goroutines do in go-asyncjob); hold this guard instead to tie the job
    /// to a scope.
    pub fn cancel_on_drop(&self) -> CancelOnDrop<X> {
        CancelOnDrop {
            instance: self.clone(),
            armed: true,
        }
    }

    /// The job's error as it stands: the error [`wait`](Self::wait) returns once the job has
    /// ended; before, the error of the first failed step in definition order, if one has.
    pub fn error(&self) -> Option<JobError> {
        match self.run.machine.outcome() {
            Some(outcome) => outcome.clone().err(),
            None => self.run.machine.current_error(),
        }
    }

    /// Every event of the instance, as a [`Stream`](futures_core::Stream): the transitions so
    /// far, then the live ones, ending after [`EventKind::JobEnded`](crate::EventKind). Any
    /// number of streams may be taken, at any time, on any thread; each sees every event, in
    /// the same order.
    ///
    /// # Errors
    ///
    /// [`EventsDisabled`] if the instance was started without
    /// [`JobOptions::record_events`] (or [`JobOptions::observe`]): it keeps no log.
    pub fn events(&self) -> Result<Events, EventsDisabled> {
        self.run
            .machine
            .log()
            .map(|log| log.subscribe())
            .ok_or(EventsDisabled)
    }

    /// The panics of the instance's [`Observer`]s, as text, in order: each observer that
    /// panicked was called no more after its panic. Empty when none panicked.
    pub fn observer_panics(&self) -> Vec<String> {
        self.run
            .machine
            .log()
            .map(|log| log.observer_panics())
            .unwrap_or_default()
    }

    /// Resolves as soon as the step behind `handle` has ended, whatever the other steps do:
    /// with a clone of its output, or with its error.
    ///
    /// # Errors
    ///
    /// The step's error: its own ([`StepFailed`](crate::JobErrorKind::StepFailed), …), or
    /// [`DependencyFailed`](crate::JobErrorKind::DependencyFailed) naming the root cause if it
    /// was skipped, or [`Cancelled`](crate::JobErrorKind::Cancelled);
    /// [`UnknownStep`](crate::JobErrorKind::UnknownStep) for a handle of another definition.
    pub fn output_of<T: Clone + 'static>(&self, handle: &StepHandle<T>) -> StepOutput<T, X> {
        StepOutput {
            instance: self.clone(),
            index: self.index_of(handle),
            name: handle.name_arc().clone(),
            watching: false,
            _output: std::marker::PhantomData,
        }
    }

    /// The wall-clock time at which the instance started.
    pub fn started_at(&self) -> SystemTime {
        self.run.origin_wall()
    }

    /// A snapshot of the instance and every step.
    ///
    /// ```
    /// # use asyncjob::{JobBuilder, FuturesExecutor, StepState};
    /// let mut job = JobBuilder::<u32>::new("snap");
    /// let a = job.step("a").run(|n| async move { Ok::<_, String>(n + 1) })?;
    /// job.step("b").after(&a).run(|_, a| async move { Ok::<_, String>(a * 2) })?;
    /// let job = job.seal();
    ///
    /// let mut pool = futures::executor::LocalPool::new();
    /// let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(1);
    /// pool.run_until(instance.wait()).unwrap();
    ///
    /// let snapshot = instance.snapshot();
    /// assert!(snapshot.finished);
    /// let b = snapshot.step_by_name("b").unwrap();
    /// assert_eq!((b.state, b.attempts), (StepState::Succeeded, 1));
    /// assert_eq!(b.data_dependencies, [0]); // "a"
    /// assert!(b.end_offset.unwrap() <= snapshot.elapsed);
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    pub fn snapshot(&self) -> JobSnapshot {
        // Finished first: if it reads true, every step read below has ended.
        let finished = self.is_finished();
        let (steps, now) = self.snapshots(0..self.run.machine.len());
        // A finished job is measured to the end of its last step: its snapshots stay the same.
        let elapsed = if finished {
            let ends = steps.iter().filter_map(|step| step.end_offset);
            ends.max().unwrap_or(Duration::ZERO)
        } else {
            now
        };
        JobSnapshot {
            name: self.run.topology().name.clone(),
            id: self.run.id.clone(),
            started_at: self.run.origin_wall(),
            elapsed,
            finished,
            error: self.error(),
            steps,
        }
    }

    /// A snapshot of every step, in definition order.
    pub fn steps(&self) -> Vec<StepSnapshot> {
        self.snapshots(0..self.run.machine.len()).0
    }

    /// A snapshot of one step, found by name.
    pub fn step_by_name(&self, name: &str) -> Option<StepSnapshot> {
        let index = self
            .run
            .topology()
            .steps
            .iter()
            .position(|meta| &*meta.name == name)?;
        self.snapshot_of(index)
    }

    /// A snapshot of the step behind `handle`; `None` if the handle belongs to another definition.
    pub fn step<T>(&self, handle: &StepHandle<T>) -> Option<StepSnapshot> {
        self.index_of(handle)
            .and_then(|index| self.snapshot_of(index))
    }

    /// The state of the step behind `handle`, read from its own slot alone (one atomic load):
    /// the cheap question for polling a step. `None` if the handle belongs to another
    /// definition.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// let mut job = JobBuilder::<u32>::new("one");
    /// let double = job.step("double").try_run(|n| async move { Ok(n * 2) })?;
    /// let job = job.seal();
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(21);
    /// futures::executor::block_on(run.wait())?;
    /// assert_eq!(run.step_state(&double), Some(StepState::Succeeded));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn step_state<T>(&self, handle: &StepHandle<T>) -> Option<StepState> {
        let index = self.index_of(handle)?;
        Some(self.run.machine.slot(index)?.state())
    }

    /// The state, attempts and times of the step behind `handle`, read from its own slot
    /// alone: unlike [`step`](Self::step), no name, dependencies, error, retried attempts nor
    /// items are copied, and no other step is read. `None` if the handle belongs to another
    /// definition.
    pub fn step_times<T>(&self, handle: &StepHandle<T>) -> Option<StepTimes> {
        let index = self.index_of(handle)?;
        let view = self.run.machine.slot(index)?.view();
        Some(self.times_of(&view, self.run.elapsed()))
    }

    /// The output of the step behind `handle`, if it has succeeded or
    /// [recovered](StepState::Recovered) (a clone of it).
    ///
    /// `None` while the step has not succeeded (also for a step whose future completed after
    /// a cancellation reached it: it ended `Cancelled`), and for a handle of another definition.
    pub fn output<T: Clone + 'static>(&self, handle: &StepHandle<T>) -> Option<T> {
        let index = self.index_of(handle)?;
        if !matches!(
            self.run.machine.slot(index)?.state(),
            StepState::Succeeded | StepState::Recovered
        ) {
            return None;
        }
        let cell: &X::Cell = self.run.cells().get(index)?;
        let mut out = None;
        cell.output_any(&mut |value: &dyn Any| out = value.downcast_ref::<T>().cloned());
        out
    }

    /// The output of step `index`, which has ended, or its error (for a cancelled step, why
    /// the run was cancelled: the caller, fail-fast, the deadline).
    fn ended_output<T: Clone + 'static>(
        &self,
        index: usize,
        name: &Arc<str>,
    ) -> Result<T, JobError> {
        let run = &self.run;
        let recovered = run
            .machine
            .slot(index)
            .is_some_and(|slot| slot.state() == StepState::Recovered);
        if let Some(error) = run.machine.error_of(index).filter(|_| !recovered) {
            return Err(match error.kind() {
                crate::JobErrorKind::Cancelled => run.machine.cancel_reason().unwrap_or(error),
                _ => error,
            });
        }
        let mut out = None;
        if let Some(cell) = run.cells().get(index) {
            let cell: &X::Cell = cell;
            cell.output_any(&mut |value: &dyn Any| out = value.downcast_ref::<T>().cloned());
        }
        out.ok_or_else(|| {
            // The step succeeded, so the output is there; report rather than panic.
            let message = "the step succeeded but its output is missing";
            JobError::internal(&run.topology().name, name, message)
        })
    }

    fn index_of<T>(&self, handle: &StepHandle<T>) -> Option<usize> {
        (handle.definition_id() == self.run.topology().id).then_some(handle.index())
    }

    fn snapshot_of(&self, index: usize) -> Option<StepSnapshot> {
        self.snapshots(index..index + 1).0.pop()
    }

    /// Snapshots of the steps in `indices`, and the time since the start of the run at which
    /// they were taken: read after every step, so that no step's time is later.
    ///
    /// The steps are read last to first. A step's state only moves forward, and a step only
    /// leaves `Waiting` after its dependencies (which come before it) have succeeded; reading a
    /// step before its dependencies therefore never shows it ahead of them.
    fn snapshots(&self, indices: std::ops::Range<usize>) -> (Vec<StepSnapshot>, Duration) {
        let machine = &self.run.machine;
        let mut raw: Vec<(usize, StepView)> = indices
            .rev()
            .filter_map(|index| Some((index, machine.slot(index)?.view())))
            .collect();
        raw.reverse();
        let now = self.run.elapsed();
        let steps = raw
            .into_iter()
            .filter_map(|(index, view)| self.build_snapshot(index, view, now))
            .collect();
        (steps, now)
    }

    /// The state, attempts and times of a step as `view` read them, `now` after the start.
    fn times_of(&self, view: &StepView, now: Duration) -> StepTimes {
        let origin = self.run.origin_wall();
        let ready = view.ready.map(|at| at.duration());
        let started = view.started.map(|at| at.duration());
        let ended = view.ended.map(|at| at.duration());
        let (running, backoff) = view.running_and_backoff(now);
        let permit = view.permit.map(|at| at.duration());
        StepTimes {
            state: view.state,
            attempts: view.attempts,
            started_at: started.map(|t| origin + t),
            ended_at: ended.map(|t| origin + t),
            queued: ready
                .zip(permit.or(started))
                .map(|(ready, taken)| taken.saturating_sub(ready)),
            permit_offset: permit,
            permit_wait: view.permit_wait(now),
            running,
            backoff,
            ready_offset: ready,
            start_offset: started,
            end_offset: ended,
        }
    }

    fn build_snapshot(&self, index: usize, view: StepView, now: Duration) -> Option<StepSnapshot> {
        let meta = self.run.topology().steps.get(index)?;
        let times = self.times_of(&view, now);
        let awaiting_permit = if view.awaiting_permit {
            self.run
                .limits_of(index)
                .and_then(|limits| limits.awaited().cloned())
        } else {
            None
        };
        let error = match view.state {
            state if state.is_finished() => self.run.machine.error_of(index),
            _ => None,
        };
        Some(StepSnapshot {
            name: meta.name.clone(),
            index,
            state: view.state,
            data_dependencies: meta.data.clone(),
            ordering_dependencies: meta.order.clone(),
            sub_job: meta.sub_job,
            attempts: times.attempts,
            retried: view.retried,
            retried_omitted: view.retried_omitted,
            started_at: times.started_at,
            ended_at: times.ended_at,
            queued: times.queued,
            awaiting_permit,
            permit_offset: times.permit_offset,
            permit_wait: times.permit_wait,
            running: times.running,
            backoff: times.backoff,
            ready_offset: times.ready_offset,
            start_offset: times.start_offset,
            end_offset: times.end_offset,
            error,
            items: self
                .run
                .machine
                .items_of(index)
                .map(|table| table.snapshot(now))
                .unwrap_or_default(),
        })
    }
}

/// The future of [`JobInstance::wait`]: resolves once every step of the instance has ended.
///
/// Dropping it before then removes its waker from the instance.
#[must_use = "futures do nothing unless polled"]
pub struct Wait<X: Mode = Sendable> {
    run: Arc<Run<X>>,
    key: Option<usize>,
}

impl<X: Mode> fmt::Debug for Wait<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("job", &self.run.topology().name)
            .field("id", &self.run.id)
            .finish()
    }
}

impl<X: Mode> Future for Wait<X> {
    type Output = Result<(), JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this
            .run
            .machine
            .poll_finished(&mut this.key, cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        this.key = None;
        Poll::Ready(match this.run.machine.outcome() {
            Some(outcome) => outcome.clone(),
            None => Err(JobError::internal(
                &this.run.topology().name,
                &"".into(),
                "the job ended without an outcome",
            )),
        })
    }
}

impl<X: Mode> Drop for Wait<X> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.run.machine.stop_waiting(key);
        }
    }
}

/// The future of [`JobInstance::output_of`]: resolves once its step has ended.
///
/// Dropping it before then removes its waker from the instance.
#[must_use = "futures do nothing unless polled"]
pub struct StepOutput<T, X: Mode = Sendable> {
    instance: JobInstance<X>,
    /// `None` for a handle of another definition.
    index: Option<usize>,
    name: Arc<str>,
    watching: bool,
    _output: std::marker::PhantomData<fn() -> T>,
}

impl<T, X: Mode> fmt::Debug for StepOutput<T, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepOutput")
            .field("job", &self.instance.run.topology().name)
            .field("step", &self.name)
            .finish()
    }
}

impl<T: Clone + 'static, X: Mode> Future for StepOutput<T, X> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let run = &this.instance.run;
        let Some(index) = this.index else {
            return Poll::Ready(Err(JobError::unknown_step(
                &run.topology().name,
                &this.name,
            )));
        };
        if run
            .machine
            .poll_step_ended(index, &mut this.watching, cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        run.machine.stop_watching(&mut this.watching);
        Poll::Ready(this.instance.ended_output(index, &this.name))
    }
}

impl<T, X: Mode> Drop for StepOutput<T, X> {
    fn drop(&mut self) {
        self.instance.run.machine.stop_watching(&mut self.watching);
    }
}

/// Cancels its job instance when dropped: see [`JobInstance::cancel_on_drop`].
#[must_use = "dropping the guard cancels the job at once"]
#[derive(Debug)]
pub struct CancelOnDrop<X: Mode = Sendable> {
    instance: JobInstance<X>,
    armed: bool,
}

impl<X: Mode> CancelOnDrop<X> {
    /// Lets the job run on after all: the guard goes without cancelling it.
    pub fn disarm(mut self) -> JobInstance<X> {
        self.armed = false;
        self.instance.clone()
    }
}

impl<X: Mode> std::ops::Deref for CancelOnDrop<X> {
    type Target = JobInstance<X>;

    fn deref(&self) -> &JobInstance<X> {
        &self.instance
    }
}

impl<X: Mode> Drop for CancelOnDrop<X> {
    fn drop(&mut self) {
        if self.armed {
            self.instance.cancel();
        }
    }
}

/// A job instance whose definition names a result step: [`result`](Self::result) gives that
/// step's output, typed. Everything else is on the [`JobInstance`] it dereferences to.
pub struct JobInstanceWithResult<O, X: Mode = Sendable> {
    instance: JobInstance<X>,
    handle: StepHandle<O>,
}

impl<O, X: Mode> Clone for JobInstanceWithResult<O, X> {
    fn clone(&self) -> Self {
        JobInstanceWithResult {
            instance: self.instance.clone(),
            handle: self.handle.clone(),
        }
    }
}

impl<O, X: Mode> fmt::Debug for JobInstanceWithResult<O, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobInstanceWithResult")
            .field("instance", &self.instance)
            .field("result_step", &self.handle.name())
            .finish()
    }
}

impl<O, X: Mode> std::ops::Deref for JobInstanceWithResult<O, X> {
    type Target = JobInstance<X>;

    fn deref(&self) -> &JobInstance<X> {
        &self.instance
    }
}

impl<O: Clone + 'static, X: Mode> JobInstanceWithResult<O, X> {
    pub(crate) fn new(instance: JobInstance<X>, handle: StepHandle<O>) -> Self {
        JobInstanceWithResult { instance, handle }
    }

    /// The underlying instance.
    pub fn instance(&self) -> &JobInstance<X> {
        &self.instance
    }

    /// Resolves as soon as the result step has ended: with its output, or its error. A step
    /// the result does not depend on may still be running, and its failure does not fail the
    /// result (unlike go-asyncjob's `Result`, which waits for the whole job and reports any
    /// failure); [`wait`](JobInstance::wait) waits for every step.
    ///
    /// # Errors
    ///
    /// The result step's error, as [`JobInstance::output_of`] gives it: a failure of the step
    /// or of a step it depends on (then [`root_cause`](JobError::root_cause) names it), or the
    /// cancellation.
    pub fn result(&self) -> StepOutput<O, X> {
        self.instance.output_of(&self.handle)
    }
}
