//! Job instances: one run of a definition, its state, its steps and its result.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::builder::StepHandle;
use crate::engine::{ErasedCell, Run};
use crate::error::JobError;
use crate::mode::{Mode, Sendable};

/// Where a step of a job instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum StepState {
    /// Some of the step's dependencies have not succeeded yet.
    Waiting = 0,
    /// The step's dependencies have succeeded; it is queued on the executor.
    Pending = 1,
    /// The step's future is running.
    Running = 2,
    /// The step's future returned its output.
    Succeeded = 3,
    /// The step returned an error, panicked, or could not be run by the executor.
    Failed = 4,
    /// The step did not run because a step it depends on failed.
    Skipped = 5,
    /// The job was cancelled before the step ended.
    Cancelled = 6,
}

impl StepState {
    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            0 => StepState::Waiting,
            1 => StepState::Pending,
            2 => StepState::Running,
            3 => StepState::Succeeded,
            4 => StepState::Failed,
            5 => StepState::Skipped,
            _ => StepState::Cancelled,
        }
    }

    /// `true` once the step will not change state any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StepState::Succeeded | StepState::Failed | StepState::Skipped | StepState::Cancelled
        )
    }

    /// A lower-case name for the state (`"waiting"`, `"running"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identifier of a job instance: chosen by the caller
/// ([`JobOptions::with_id`]) or numbered by the process (`#1`, `#2`, …).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JobId(IdRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum IdRepr {
    Seq(u64),
    Custom(Arc<str>),
}

impl JobId {
    /// An identifier chosen by the caller.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        JobId(IdRepr::Custom(id.into()))
    }

    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        JobId(IdRepr::Seq(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            IdRepr::Seq(n) => write!(f, "#{n}"),
            IdRepr::Custom(id) => f.write_str(id),
        }
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        JobId::new(id)
    }
}

impl From<String> for JobId {
    fn from(id: String) -> Self {
        JobId::new(id)
    }
}

/// How to start a job instance: its id, and whether its steps run one at a time.
///
/// ```
/// use asyncjob::JobOptions;
/// let options = JobOptions::new().with_id("request-42").sequential();
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    pub(crate) id: Option<JobId>,
    pub(crate) sequential: bool,
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
}

/// What a job instance knows about one of its steps, at the moment it was asked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepSnapshot {
    /// The step's name.
    pub name: Arc<str>,
    /// The step's position in the definition (the order steps were added).
    pub index: usize,
    /// Where the step is in its life.
    pub state: StepState,
    /// When the step's future first ran (wall clock), if it has.
    pub started_at: Option<SystemTime>,
    /// How long the step waited for its dependencies (from the start of the job until it was
    /// ready), if it became ready.
    pub waiting: Option<Duration>,
    /// How long the step waited in the executor's queue once ready, if it started.
    pub queued: Option<Duration>,
    /// How long the step's future ran (so far, if it is still running).
    pub running: Option<Duration>,
    /// The step's error, if it failed, was skipped or cancelled.
    pub error: Option<JobError>,
}

/// One run of a [`JobDefinition`](crate::JobDefinition): started with an input on an executor,
/// it runs on its own; this handle looks at it and waits for it.
///
/// Dropping the handle does not stop the job: its steps keep running on the executor, as
/// goroutines do in go-asyncjob. Cheap to clone. `Send + Sync` in the [`Sendable`] mode.
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
        &self.run.topology.name
    }

    /// `true` once every step has ended.
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
    }

    /// Waits until every step has ended.
    ///
    /// # Errors
    ///
    /// The error of the step that failed first (the root cause), if any step failed.
    pub fn wait(&self) -> impl Future<Output = Result<(), JobError>> + use<X> {
        let run = self.run.clone();
        async move {
            std::future::poll_fn(|cx| run.poll_finished(cx)).await;
            match run.first_error() {
                Some(error) => Err(error.clone()),
                None => Ok(()),
            }
        }
    }

    /// The error of the step that failed first, if one has.
    pub fn error(&self) -> Option<JobError> {
        self.run.first_error().cloned()
    }

    /// The wall-clock time at which the instance started.
    pub fn started_at(&self) -> SystemTime {
        self.run.origin_wall()
    }

    /// A snapshot of every step, in definition order.
    pub fn steps(&self) -> Vec<StepSnapshot> {
        (0..self.run.slots().len())
            .filter_map(|index| self.snapshot_of(index))
            .collect()
    }

    /// A snapshot of one step, found by name.
    pub fn step_by_name(&self, name: &str) -> Option<StepSnapshot> {
        let index = self
            .run
            .topology
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

    /// The output of the step behind `handle`, if it has succeeded (a clone of it).
    ///
    /// `None` while the step has not succeeded, and for a handle of another definition.
    pub fn output<T: Clone + 'static>(&self, handle: &StepHandle<T>) -> Option<T> {
        let index = self.index_of(handle)?;
        let cell: &X::Cell = self.run.cells().get(index)?;
        let mut out = None;
        cell.output_any(&mut |value: &dyn Any| out = value.downcast_ref::<T>().cloned());
        out
    }

    fn index_of<T>(&self, handle: &StepHandle<T>) -> Option<usize> {
        (handle.definition_id() == self.run.topology.id).then_some(handle.index())
    }

    fn snapshot_of(&self, index: usize) -> Option<StepSnapshot> {
        let meta = self.run.topology.steps.get(index)?;
        let slot = self.run.slots().get(index)?;
        // Read the state first: the times and error below are at least as recent.
        let state = slot.state();
        let times = self.run.times(index)?;
        let started_at = times.started.map(|t| self.run.origin_wall() + t);
        let running = times.started.map(|start| {
            let end = times.ended.unwrap_or_else(|| self.run.elapsed());
            end.saturating_sub(start)
        });
        Some(StepSnapshot {
            name: meta.name.clone(),
            index,
            state,
            started_at,
            waiting: times.ready,
            queued: times
                .ready
                .zip(times.started)
                .map(|(ready, start)| start.saturating_sub(ready)),
            running,
            error: slot.error().cloned(),
        })
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

    /// Waits until every step has ended, then gives the result step's output.
    ///
    /// # Errors
    ///
    /// As [`JobInstance::wait`]: the root-cause error if any step failed, even one the result
    /// step does not depend on (go-asyncjob does the same).
    pub fn result(&self) -> impl Future<Output = Result<O, JobError>> + use<O, X> {
        let wait = self.instance.wait();
        let this = self.clone();
        async move {
            wait.await?;
            this.instance.output(&this.handle).ok_or_else(|| {
                // Every step succeeded, so the output is there; report rather than panic.
                let run = &this.instance.run;
                let message = "the result step succeeded but its output is missing";
                JobError::internal(&run.topology.name, this.handle.name_arc(), message)
            })
        }
    }
}
