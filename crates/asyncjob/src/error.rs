//! Errors: [`DefinitionError`] for mistakes made while building a job, [`JobError`] for what
//! went wrong while running one.
//!
//! Both are structs over a private representation with a stable, matchable kind
//! ([`DefinitionErrorKind`], [`JobErrorKind`]), the name of the step concerned, and a
//! [`source`](std::error::Error::source) chain that leads to the root cause.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A boxed error as returned by a step: anything that converts into one (any
/// `std::error::Error + Send + Sync`, `String`, `&str`, `anyhow::Error`, …) can be returned.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of mistake a [`DefinitionError`] reports. Stable: match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefinitionErrorKind {
    /// Another step of the definition already has this name.
    DuplicateName,
    /// The name is empty or consists of white space only.
    InvalidName,
    /// A dependency handle belongs to another job definition.
    ForeignHandle,
    /// The same step was given twice as a dependency of one step.
    DuplicateDependency,
    /// The result step given to [`JobDefinition::with_result`](crate::JobDefinition::with_result)
    /// belongs to another job definition.
    ForeignResultStep,
    /// A map step and its items need the same [`Limit`](crate::Limit)
    /// ([`StepBuilder::needs`](crate::StepBuilder::needs) before `map`, and
    /// [`MapBuilder::needs`](crate::MapBuilder::needs)): the items would wait for the permit
    /// the map holds, forever with a limit of one. [`DefinitionError::limit`] names it.
    LimitNeededTwice,
    /// A step that adds a [sub-job](crate::StepBuilder::job) was given a retry policy, a
    /// timeout, an interceptor, a limit or a priority: a sub-job's steps keep their own, so
    /// these would apply to nothing. Give them to the sub-job's steps.
    SubJobOption,
}

/// A mistake in a job definition, reported when the step is added (or the result chosen).
///
/// It names the step being defined ([`step`](Self::step)) and, where one is involved, the
/// dependency at fault ([`dependency`](Self::dependency)).
#[derive(Clone, PartialEq, Eq)]
pub struct DefinitionError {
    kind: DefinitionErrorKind,
    job: Arc<str>,
    step: Arc<str>,
    dependency: Option<Arc<str>>,
}

impl DefinitionError {
    pub(crate) fn new(
        kind: DefinitionErrorKind,
        job: &Arc<str>,
        step: &Arc<str>,
        dependency: Option<Arc<str>>,
    ) -> Self {
        DefinitionError {
            kind,
            job: job.clone(),
            step: step.clone(),
            dependency,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> DefinitionErrorKind {
        self.kind
    }

    /// The name of the step being defined (or chosen as result).
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The name of the job definition.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The name of the dependency at fault, for [`ForeignHandle`](DefinitionErrorKind::ForeignHandle)
    /// and [`DuplicateDependency`](DefinitionErrorKind::DuplicateDependency).
    pub fn dependency(&self) -> Option<&str> {
        match self.kind {
            DefinitionErrorKind::LimitNeededTwice => None,
            _ => self.dependency.as_deref(),
        }
    }

    /// The name of the limit at fault, for
    /// [`LimitNeededTwice`](DefinitionErrorKind::LimitNeededTwice).
    pub fn limit(&self) -> Option<&str> {
        match self.kind {
            DefinitionErrorKind::LimitNeededTwice => self.dependency.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Debug for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefinitionError")
            .field("kind", &self.kind)
            .field("job", &self.job)
            .field("step", &self.step)
            .field("dependency", &self.dependency)
            .finish()
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (job, step) = (&self.job, &self.step);
        let dep = self.dependency.as_deref().unwrap_or("?");
        match self.kind {
            DefinitionErrorKind::DuplicateName => {
                write!(f, "job {job:?}: a step named {step:?} already exists")
            }
            DefinitionErrorKind::InvalidName => {
                write!(
                    f,
                    "job {job:?}: invalid step name {step:?} (empty or blank)"
                )
            }
            DefinitionErrorKind::ForeignHandle => write!(
                f,
                "job {job:?}, step {step:?}: dependency {dep:?} belongs to another job definition"
            ),
            DefinitionErrorKind::DuplicateDependency => write!(
                f,
                "job {job:?}, step {step:?}: dependency {dep:?} is given more than once"
            ),
            DefinitionErrorKind::ForeignResultStep => write!(
                f,
                "job {job:?}: result step {step:?} belongs to another job definition"
            ),
            DefinitionErrorKind::LimitNeededTwice => write!(
                f,
                "job {job:?}, map step {step:?}: the map and its items both need the limit {dep:?}"
            ),
            DefinitionErrorKind::SubJobOption => write!(
                f,
                "job {job:?}, sub-job step {step:?}: a retry policy, timeout, interceptor, limit \
                 or priority applies to the sub-job's own steps, not to the step that adds it"
            ),
        }
    }
}

impl StdError for DefinitionError {}

/// What kind of failure a [`JobError`] reports. Stable: match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobErrorKind {
    /// The step's future returned an error; [`source`](std::error::Error::source) is that error.
    StepFailed,
    /// The step's function or future panicked; [`JobError::panic_message`] has the message.
    StepPanicked,
    /// The step did not run because a step it depends on failed;
    /// [`JobError::root_cause`] is that step's error.
    DependencyFailed,
    /// The executor refused to run the step or dropped it before it finished (it shut down).
    SpawnFailed,
    /// The job instance was cancelled (by [`JobInstance::cancel`](crate::JobInstance::cancel)
    /// or a fail-fast failure) before the step ended; about the whole job (no
    /// [`step`](JobError::step)), the instance was cancelled.
    Cancelled,
    /// The step's last attempt ran longer than its timeout
    /// ([`StepBuilder::timeout`](crate::StepBuilder::timeout)).
    TimedOut,
    /// The job ran past its [deadline](crate::JobOptions::deadline) and was cancelled. About
    /// the whole job: [`step`](JobError::step) is `None`.
    DeadlineExceeded,
    /// The job's deadline could not be kept: its timer failed (panicked) or the executor
    /// refused the deadline's task, and the job was cancelled at once rather than left to run
    /// unbounded. About the whole job.
    DeadlineTimerFailed,
    /// asyncjob broke one of its own rules. Never the step's fault: please report it.
    Internal,
    /// The job needs a timer (a step has a retry policy or a timeout, or the job a deadline) and
    /// was started on an executor without one ([`NoTimer`](crate::NoTimer)): it ended at once,
    /// before any step ran. About the whole job.
    TimerMissing,
    /// The step did not run because its [condition](crate::StepBuilder::when) did not hold,
    /// or because a dependency it needs was omitted ([`JobError::root_cause`] is then that
    /// dependency's). Not a failure: the job does not fail for it. The error of an
    /// [`Omitted`](crate::StepState::Omitted) step, as [`output_of`](crate::JobInstance::output_of)
    /// and [`allow_failure`](crate::allow_failure) give it.
    Omitted,
    /// A step was asked for by a [`StepHandle`](crate::StepHandle) of another definition
    /// ([`JobInstance::output_of`](crate::JobInstance::output_of)): the caller's mistake, about
    /// no step of this job.
    UnknownStep,
    /// The step (or map item) needs a [`Limit`](crate::Limit) that has no permits at all (or
    /// its instance's [cap](crate::JobOptions::max_running) is 0), so it could never run: it
    /// failed at once, without an attempt. [`JobError::limit`] names the limit.
    NoPermits,
}

/// Why a step, and so its job, did not succeed.
///
/// Every error names the step it is about ([`step`](Self::step)). A step skipped because a
/// dependency failed carries the error of the step that failed first in its ancestry
/// ([`root_cause`](Self::root_cause)), which is also its [`source`](std::error::Error::source), so
/// the whole chain down to the step's own error is reachable through `source()`.
///
/// # Display
///
/// `{}` says what went wrong in one line, naming the step (or the job, for an error about the
/// whole job), without the causes: `step "fetch" failed after 3 attempts`. The alternate form
/// `{:#}` names the job too and appends the causes, the `Display` texts of the
/// [`source`](std::error::Error::source) chain, each after `: ` — the step's own error and its
/// sources, or, for a skipped step, the error of the step that failed and its causes:
///
/// ```text
/// step "fetch" of job "j" failed after 3 attempts: connection refused: os error 111
/// ```
///
/// As with `{}`, the text is on one line: line breaks and other control characters in the
/// causes are written escaped (`\n`). A chain that loops back ends before the first cause met
/// again, and at most 64 causes are shown; a chain cut short ends in `: …`.
///
/// ```
/// # use asyncjob::{FuturesExecutor, JobBuilder};
/// let mut job = JobBuilder::<()>::new("j");
/// job.step("fetch").run(|()| async {
///     let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
///     Err::<(), _>(refused)
/// })?;
/// let mut pool = futures::executor::LocalPool::new();
/// let instance = job.seal().on(FuturesExecutor::new(pool.spawner())).start_local(());
/// let error = pool.run_until(instance.wait()).unwrap_err();
/// assert_eq!(error.to_string(), r#"step "fetch" failed"#);
/// assert_eq!(format!("{error:#}"), r#"step "fetch" of job "j" failed: connection refused"#);
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
///
/// Cheap to clone.
#[derive(Clone)]
pub struct JobError {
    inner: Arc<Inner>,
}

struct Inner {
    kind: JobErrorKind,
    job: Arc<str>,
    /// `None` for an error about the whole job.
    step: Option<Arc<str>>,
    detail: Detail,
    attempts: u32,
}

/// A panic payload kept in an error. Its destructor is user code that may panic too: that panic
/// is contained (see [`crate::panic::drop_quietly`]), wherever the last clone of the error goes.
struct Payload(Option<Box<dyn Any + Send + 'static>>);

impl Drop for Payload {
    fn drop(&mut self) {
        if let Some(payload) = self.0.take() {
            crate::panic::drop_quietly(payload);
        }
    }
}

enum Detail {
    None,
    Source(BoxError),
    /// The panic's message, and its payload until a caller takes it.
    Panic(String, Mutex<Payload>),
    Cause(JobError),
    Timeout(std::time::Duration),
    /// The timer of the job's deadline failed (its sleep panicked with this message).
    DeadlineTimer(std::time::Duration, String),
    /// The name of the limit a step could not get a permit of.
    Limit(Arc<str>),
}

impl JobError {
    fn new(kind: JobErrorKind, job: &Arc<str>, step: &Arc<str>, detail: Detail) -> Self {
        Self::about(kind, job, Some(step.clone()), detail)
    }

    fn about(kind: JobErrorKind, job: &Arc<str>, step: Option<Arc<str>>, detail: Detail) -> Self {
        JobError {
            inner: Arc::new(Inner {
                kind,
                job: job.clone(),
                step,
                detail,
                attempts: 1,
            }),
        }
    }

    pub(crate) fn failed(job: &Arc<str>, step: &Arc<str>, source: BoxError) -> Self {
        Self::new(JobErrorKind::StepFailed, job, step, Detail::Source(source))
    }

    /// A panic whose payload is gone (or is not the step's to give, e.g. a timer's).
    pub(crate) fn panicked(job: &Arc<str>, step: &Arc<str>, message: String) -> Self {
        Self::new(
            JobErrorKind::StepPanicked,
            job,
            step,
            Detail::Panic(message, Mutex::new(Payload(None))),
        )
    }

    /// A panic of the step's own code, keeping its payload for
    /// [`take_panic_payload`](Self::take_panic_payload).
    pub(crate) fn panicked_with(
        job: &Arc<str>,
        step: &Arc<str>,
        message: String,
        payload: Box<dyn Any + Send + 'static>,
    ) -> Self {
        Self::new(
            JobErrorKind::StepPanicked,
            job,
            step,
            Detail::Panic(message, Mutex::new(Payload(Some(payload)))),
        )
    }

    pub(crate) fn dependency_failed(job: &Arc<str>, step: &Arc<str>, cause: &JobError) -> Self {
        let root = cause.root_cause().clone();
        Self::new(
            JobErrorKind::DependencyFailed,
            job,
            step,
            Detail::Cause(root),
        )
    }

    /// A failure of asyncjob itself, reported against the step rather than by a panic.
    pub(crate) fn internal(job: &Arc<str>, step: &Arc<str>, message: &str) -> Self {
        let message = format!("asyncjob internal error: {message} (please report this)");
        let step = (!step.is_empty()).then(|| step.clone());
        Self::about(
            JobErrorKind::Internal,
            job,
            step,
            Detail::Source(message.into()),
        )
    }

    /// `step` (named by a handle) is not a step of `job`.
    pub(crate) fn unknown_step(job: &Arc<str>, step: &Arc<str>) -> Self {
        Self::new(JobErrorKind::UnknownStep, job, step, Detail::None)
    }

    /// The step (or item) `step` needs the limit `limit`, which has no permits.
    pub(crate) fn no_permits(job: &Arc<str>, step: &Arc<str>, limit: &Arc<str>) -> Self {
        Self::new(
            JobErrorKind::NoPermits,
            job,
            step,
            Detail::Limit(limit.clone()),
        )
    }

    /// The name of the [`Limit`](crate::Limit) at fault, for an error of kind
    /// [`NoPermits`](JobErrorKind::NoPermits).
    pub fn limit(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Limit(name) => Some(name),
            _ => None,
        }
    }

    pub(crate) fn timed_out(job: &Arc<str>, step: &Arc<str>, limit: std::time::Duration) -> Self {
        Self::new(JobErrorKind::TimedOut, job, step, Detail::Timeout(limit))
    }

    /// What went wrong in the step itself, without the job's and step's names: the step's
    /// error text, `panicked: …`, `timed out after …`.
    pub(crate) fn cause_text(&self) -> String {
        match &self.inner.detail {
            Detail::Source(source) if self.inner.kind == JobErrorKind::Internal => {
                format!("asyncjob internal error: {source}")
            }
            Detail::Source(source) => source.to_string(),
            Detail::Panic(message, _) => format!("panicked: {message}"),
            Detail::Timeout(limit) => format!("timed out after {limit:?}"),
            Detail::Cause(cause) => cause.cause_text(),
            Detail::DeadlineTimer(_, message) => message.clone(),
            Detail::Limit(limit) => format!("limit {limit:?} has no permits"),
            Detail::None => self.to_string(),
        }
    }

    /// Records that the step was tried `attempts` times before this error.
    pub(crate) fn after_attempts(mut self, attempts: u32) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.attempts = attempts;
        }
        self
    }

    /// Map step `step` failed because its item `item` failed (`item` is its root cause).
    pub(crate) fn item_failed(job: &Arc<str>, step: &Arc<str>, item: &JobError) -> Self {
        Self::new(
            JobErrorKind::StepFailed,
            job,
            step,
            Detail::Cause(item.clone()),
        )
    }

    /// The step's condition did not hold.
    pub(crate) fn omitted(job: &Arc<str>, step: &Arc<str>) -> Self {
        Self::new(JobErrorKind::Omitted, job, step, Detail::None)
    }

    /// The step was omitted because its dependency, omitted with `cause`, was.
    pub(crate) fn omitted_after(job: &Arc<str>, step: &Arc<str>, cause: &JobError) -> Self {
        let root = cause.root_cause().clone();
        Self::new(JobErrorKind::Omitted, job, step, Detail::Cause(root))
    }

    /// `true` if the step was omitted.
    pub fn is_omitted(&self) -> bool {
        self.kind() == JobErrorKind::Omitted
    }

    pub(crate) fn cancelled(job: &Arc<str>, step: &Arc<str>) -> Self {
        Self::new(JobErrorKind::Cancelled, job, step, Detail::None)
    }

    /// The job as a whole was cancelled.
    pub(crate) fn cancelled_job(job: &Arc<str>) -> Self {
        Self::about(JobErrorKind::Cancelled, job, None, Detail::None)
    }

    /// The job needs a timer and has none.
    pub(crate) fn timer_missing(job: &Arc<str>) -> Self {
        Self::about(JobErrorKind::TimerMissing, job, None, Detail::None)
    }

    /// The job as a whole ran past its deadline.
    pub(crate) fn deadline_exceeded(job: &Arc<str>, deadline: std::time::Duration) -> Self {
        Self::about(
            JobErrorKind::DeadlineExceeded,
            job,
            None,
            Detail::Timeout(deadline),
        )
    }

    /// The job as a whole could not keep its deadline: its timer failed.
    pub(crate) fn deadline_timer_failed(
        job: &Arc<str>,
        deadline: std::time::Duration,
        message: String,
    ) -> Self {
        Self::about(
            JobErrorKind::DeadlineTimerFailed,
            job,
            None,
            Detail::DeadlineTimer(deadline, message),
        )
    }

    pub(crate) fn spawn_failed(job: &Arc<str>, step: &Arc<str>) -> Self {
        Self::new(JobErrorKind::SpawnFailed, job, step, Detail::None)
    }

    /// The executor refused to run `step`, for `reason` if it gave one.
    pub(crate) fn spawn_failed_for(
        job: &Arc<str>,
        step: &Arc<str>,
        reason: Option<crate::rt::SpawnError>,
    ) -> Self {
        match reason {
            Some(reason) => Self::new(
                JobErrorKind::SpawnFailed,
                job,
                step,
                Detail::Source(Box::new(reason)),
            ),
            None => Self::spawn_failed(job, step),
        }
    }

    /// The `Display` texts of the causes of this error along its
    /// [`source`](std::error::Error::source) chain, and whether the walk was cut short: it stops
    /// before a cause already met (a chain that loops back, which would otherwise be walked for
    /// ever) and after [`MAX_CAUSES`] causes.
    ///
    /// A cause counts as met if it is at the address of one met before and reads the same. The
    /// address alone would not do: an error whose source is its own first field shares its
    /// address and is no loop. Nor would address and vtable: the compiler makes one vtable per
    /// crate (or codegen unit) for the same type, so one error seen through two of them looks
    /// like two. Should two different errors share an address and a text, the one dropped reads
    /// as the one kept.
    pub(crate) fn causes(&self) -> (Vec<String>, bool) {
        let first: &(dyn StdError + 'static) = self;
        let mut met: Vec<(&(dyn StdError + 'static), String)> = vec![(first, self.to_string())];
        let mut next = first.source();
        let mut cut = false;
        while let Some(cause) = next {
            if met.len() > MAX_CAUSES {
                cut = true;
                break;
            }
            let text = cause.to_string();
            let again = met
                .iter()
                .any(|(seen, seen_text)| std::ptr::addr_eq(*seen, cause) && *seen_text == text);
            if again {
                cut = true;
                break;
            }
            met.push((cause, text));
            next = cause.source();
        }
        let causes = met.into_iter().skip(1).map(|(_, text)| text).collect();
        (causes, cut)
    }

    /// What went wrong.
    pub fn kind(&self) -> JobErrorKind {
        self.inner.kind
    }

    /// The name of the step this error is about; `None` for an error about the whole job (it
    /// was [cancelled](crate::JobInstance::cancel) or ran past its
    /// [deadline](crate::JobOptions::deadline)).
    pub fn step(&self) -> Option<&str> {
        self.inner.step.as_deref()
    }

    /// The name of the job definition.
    pub fn job(&self) -> &str {
        &self.inner.job
    }

    /// The error of the step where the failure began: `self` unless this is a
    /// [`DependencyFailed`](JobErrorKind::DependencyFailed) error.
    pub fn root_cause(&self) -> &JobError {
        match &self.inner.detail {
            Detail::Cause(cause) => cause,
            _ => self,
        }
    }

    /// The message of the panic, for [`StepPanicked`](JobErrorKind::StepPanicked).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Panic(message, _) => Some(message),
            _ => None,
        }
    }

    /// Takes the payload of the panic of a step's own code, for
    /// [`StepPanicked`](JobErrorKind::StepPanicked), so that the caller can
    /// [`resume_unwind`](std::panic::resume_unwind) it, as with tokio's `JoinError::into_panic`.
    ///
    /// The payload is shared by every clone of the error: the first call takes it, later calls
    /// (on any clone) return `None`, as they do for a panic whose payload asyncjob did not keep
    /// (one of a retried attempt, or of the code around a step: its timer, an interceptor, a
    /// destructor).
    pub fn take_panic_payload(&self) -> Option<Box<dyn Any + Send + 'static>> {
        match &self.inner.detail {
            Detail::Panic(_, payload) => payload
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0
                .take(),
            _ => None,
        }
    }

    /// How many times the step was tried: more than 1 when a retry policy retried it.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// `true` if the step's last attempt timed out.
    pub fn is_timed_out(&self) -> bool {
        self.kind() == JobErrorKind::TimedOut
    }

    /// `true` if the job ran past its deadline.
    pub fn is_deadline_exceeded(&self) -> bool {
        self.kind() == JobErrorKind::DeadlineExceeded
    }

    /// `true` if this is a bug of asyncjob's ([`Internal`](JobErrorKind::Internal)).
    pub fn is_internal(&self) -> bool {
        self.kind() == JobErrorKind::Internal
    }

    /// `true` if the step returned an error.
    pub fn is_step_failed(&self) -> bool {
        self.kind() == JobErrorKind::StepFailed
    }

    /// `true` if the step panicked.
    pub fn is_panic(&self) -> bool {
        self.kind() == JobErrorKind::StepPanicked
    }

    /// `true` if the step was skipped because a dependency failed.
    pub fn is_dependency_failed(&self) -> bool {
        self.kind() == JobErrorKind::DependencyFailed
    }

    /// `true` if the executor refused or dropped the step.
    pub fn is_spawn_failed(&self) -> bool {
        self.kind() == JobErrorKind::SpawnFailed
    }

    /// `true` if the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == JobErrorKind::Cancelled
    }

    /// The error the step's future returned, for [`StepFailed`](JobErrorKind::StepFailed).
    pub fn step_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.inner.detail {
            Detail::Source(source) => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JobError");
        d.field("kind", &self.inner.kind)
            .field("job", &self.inner.job)
            .field("step", &self.inner.step);
        match &self.inner.detail {
            Detail::None => {}
            Detail::Source(source) => {
                d.field("source", source);
            }
            Detail::Panic(message, _) => {
                d.field("panic", message);
            }
            Detail::Cause(cause) => {
                d.field("root_cause", cause);
            }
            Detail::Timeout(limit) => {
                d.field("timeout", limit);
            }
            Detail::DeadlineTimer(deadline, message) => {
                d.field("deadline", deadline).field("timer_panic", message);
            }
            Detail::Limit(limit) => {
                d.field("limit", limit);
            }
        }
        if self.inner.attempts > 1 {
            d.field("attempts", &self.inner.attempts);
        }
        d.finish()
    }
}

impl fmt::Display for JobError {
    /// `{}`: what went wrong, naming the step (or the job); `{:#}`: the same naming the job
    /// too, followed by its causes (see [`JobError`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            self.fmt_head(f, true)?;
            let (causes, cut) = self.causes();
            // An internal error's message, and the text of an error about the whole job, are
            // their source: the head has shown it already.
            let shown = matches!(self.inner.detail, Detail::Source(_))
                && (self.inner.kind == JobErrorKind::Internal || self.inner.step.is_none());
            for cause in causes.into_iter().skip(usize::from(shown)) {
                write!(f, ": {}", OneLine(&cause))?;
            }
            if cut {
                f.write_str(": …")?;
            }
            return Ok(());
        }
        self.fmt_head(f, false)
    }
}

impl JobError {
    /// The `Display` text of the error itself, without its causes; the step named with its
    /// job if `with_job`.
    fn fmt_head(&self, f: &mut fmt::Formatter<'_>, with_job: bool) -> fmt::Result {
        let job = &self.inner.job;
        let Some(step) = &self.inner.step else {
            return match &self.inner.detail {
                Detail::Timeout(deadline) => {
                    write!(f, "job {job:?} ran past its deadline of {deadline:?}")
                }
                Detail::DeadlineTimer(deadline, message) => write!(
                    f,
                    "job {job:?}: the timer of its deadline of {deadline:?} failed: {}",
                    OneLine(message)
                ),
                Detail::Source(source) => write!(f, "job {job:?}: {source}"),
                _ if self.inner.kind == JobErrorKind::TimerMissing => write!(
                    f,
                    "job {job:?} needs a timer (retry, timeout or deadline) and its executor has none"
                ),
                _ => write!(f, "job {job:?} was cancelled"),
            };
        };
        let step = StepName {
            step,
            job: with_job.then_some(&**job),
        };
        let attempts = match self.inner.attempts {
            0 | 1 => String::new(),
            n => format!(" after {n} attempts"),
        };
        match (&self.inner.kind, &self.inner.detail) {
            (JobErrorKind::StepFailed, Detail::Cause(item)) => write!(
                f,
                "step {step} failed: its item {:?} failed",
                item.step().unwrap_or_default()
            ),
            (JobErrorKind::StepFailed, _) => write!(f, "step {step} failed{attempts}"),
            (JobErrorKind::StepPanicked, Detail::Panic(message, _)) => {
                write!(f, "step {step} panicked{attempts}: {}", OneLine(message))
            }
            (JobErrorKind::StepPanicked, _) => write!(f, "step {step} panicked{attempts}"),
            (JobErrorKind::TimedOut, Detail::Timeout(limit)) => {
                write!(f, "step {step} timed out after {limit:?}")?;
                match self.inner.attempts {
                    0 | 1 => Ok(()),
                    n => write!(f, " (attempt {n})"),
                }
            }
            (JobErrorKind::TimedOut, _) => write!(f, "step {step} timed out{attempts}"),
            (JobErrorKind::DependencyFailed, Detail::Cause(cause)) => write!(
                f,
                "step {step} was skipped: its dependency {:?} failed",
                cause.step().unwrap_or_default()
            ),
            (JobErrorKind::DependencyFailed, _) => {
                write!(f, "step {step} was skipped: a dependency failed")
            }
            (JobErrorKind::SpawnFailed, Detail::Source(reason)) => {
                write!(f, "step {step} could not run: {reason}")
            }
            (JobErrorKind::SpawnFailed, _) => {
                write!(f, "step {step} could not run: the executor is shut down")
            }
            (JobErrorKind::Cancelled, _) => {
                write!(f, "step {step} did not finish: the job was cancelled")
            }
            (JobErrorKind::Omitted, Detail::Cause(cause)) => write!(
                f,
                "step {step} was omitted: its dependency {:?} was omitted",
                cause.step().unwrap_or_default()
            ),
            (JobErrorKind::Omitted, _) => {
                write!(f, "step {step} was omitted: its condition did not hold")
            }
            (JobErrorKind::Internal, Detail::Source(source)) => {
                write!(f, "step {step}: {source}")
            }
            (JobErrorKind::Internal, _) => write!(f, "step {step}: asyncjob internal error"),
            (JobErrorKind::NoPermits, Detail::Limit(limit)) => write!(
                f,
                "step {step} cannot run: the limit {limit:?} it needs has no permits"
            ),
            (JobErrorKind::NoPermits, _) => {
                write!(f, "step {step} cannot run: a limit it needs has no permits")
            }
            (JobErrorKind::UnknownStep, _) => write!(
                f,
                "job {job:?} has no step {step}: the handle comes from another definition"
            ),
            (
                JobErrorKind::DeadlineExceeded
                | JobErrorKind::DeadlineTimerFailed
                | JobErrorKind::TimerMissing,
                _,
            ) => {
                write!(
                    f,
                    "job {job:?}, step {:?}: the deadline ended the job",
                    step.step
                )
            }
        }
    }
}

/// A step's name as messages show it: quoted (`"fetch"`), and with its job in the alternate
/// form (`"fetch" of job "j"`).
struct StepName<'a> {
    step: &'a str,
    job: Option<&'a str>,
}

impl fmt::Display for StepName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.step)?;
        match self.job {
            Some(job) => write!(f, " of job {job:?}"),
            None => Ok(()),
        }
    }
}

/// The most causes of one error that `{:#}`, the pictures and the serialised snapshot show.
pub(crate) const MAX_CAUSES: usize = 64;

/// A panic's message as `Display` shows it: on one line. A failing `assert_eq!` panics with a
/// message of three lines; line breaks, other control characters, line and paragraph separators
/// and bidirectional controls are written escaped (`\n`, `\r`, `\t`, `\u{2028}`, …), the rest
/// as it is (a backslash too, so that a path stays readable). [`JobError::panic_message`] keeps
/// the message as it was.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| breaks_the_line(c)) {
            f.write_str(&rest[..at])?;
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                _ => write!(f, "{}", c.escape_unicode())?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// Tells whether `c` must not appear raw in a one-line message: it ends or breaks the line
/// (control characters, U+2028, U+2029) or can reorder what follows it on the line (bidi marks,
/// embeddings, overrides and isolates, and the byte-order mark).
fn breaks_the_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{FEFF}'
        )
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

impl StdError for JobError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.detail {
            Detail::Source(source) => Some(source.as_ref()),
            Detail::Cause(cause) => Some(cause),
            Detail::None
            | Detail::Panic(..)
            | Detail::Timeout(_)
            | Detail::DeadlineTimer(..)
            | Detail::Limit(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<JobError>();
        check::<DefinitionError>();
    }

    #[test]
    fn a_panic_message_displays_on_one_line() {
        let job: Arc<str> = "j".into();
        let message =
            "assertion `left == right` failed\n  left: 1\r\n right: 2\tC:\\x\u{2028}\u{202E}\0é";
        let error = JobError::panicked(&job, &"a".into(), message.to_owned());
        assert_eq!(
            error.to_string(),
            "step \"a\" panicked: assertion `left == right` failed\\n  left: 1\\r\\n right: \
             2\\tC:\\x\\u{2028}\\u{202e}\\u{0}é"
        );
        assert_eq!(error.panic_message(), Some(message));
        let timer =
            JobError::deadline_timer_failed(&job, std::time::Duration::ZERO, message.into());
        let text = timer.to_string();
        assert!(!text.chars().any(breaks_the_line), "{text:?}");
        assert!(text.ends_with("\\u{0}é"), "{text:?}");
    }

    /// An error whose `Display` is `text` and whose source is `source`.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn alternate_display_names_the_job_and_appends_the_causes() {
        let job: Arc<str> = "j".into();
        let os = Layer("os error 111", None);
        let refused = Layer("connection refused", Some(Box::new(os)));
        let failed = JobError::failed(&job, &"fetch".into(), Box::new(refused)).after_attempts(3);
        assert_eq!(failed.to_string(), "step \"fetch\" failed after 3 attempts");
        assert_eq!(
            format!("{failed:#}"),
            "step \"fetch\" of job \"j\" failed after 3 attempts: connection refused: os error 111"
        );
        // A skipped step: its own text, then the failed step's error and its causes.
        let skipped = JobError::dependency_failed(&job, &"store".into(), &failed);
        assert_eq!(
            format!("{skipped:#}"),
            "step \"store\" of job \"j\" was skipped: its dependency \"fetch\" failed: step \
             \"fetch\" failed after 3 attempts: connection refused: os error 111"
        );
        // Without causes, only the job is added.
        let panicked = JobError::panicked(&job, &"a".into(), "boom".into());
        assert_eq!(
            format!("{panicked:#}"),
            "step \"a\" of job \"j\" panicked: boom"
        );
        let timed_out = JobError::timed_out(&job, &"a".into(), std::time::Duration::from_millis(5));
        assert_eq!(
            format!("{timed_out:#}"),
            "step \"a\" of job \"j\" timed out after 5ms"
        );
        // About the whole job, and internal errors: the text is not repeated as a cause.
        assert_eq!(
            format!("{:#}", JobError::cancelled_job(&job)),
            "job \"j\" was cancelled"
        );
        let internal = JobError::internal(&job, &"a".into(), "oops");
        assert_eq!(
            format!("{internal:#}"),
            "step \"a\" of job \"j\": asyncjob internal error: oops (please report this)"
        );
        // On one line, whatever the causes say.
        let multi = JobError::failed(&job, &"m".into(), "line 1\nline 2".into());
        assert_eq!(
            format!("{multi:#}"),
            "step \"m\" of job \"j\" failed: line 1\\nline 2"
        );
    }

    #[test]
    fn alternate_display_stops_at_a_loop_and_after_64_causes() {
        /// An error that is its own source.
        #[derive(Debug)]
        struct Loop;
        impl fmt::Display for Loop {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("again")
            }
        }
        impl StdError for Loop {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(self)
            }
        }
        let job: Arc<str> = "j".into();
        let looped = JobError::failed(&job, &"l".into(), Box::new(Loop));
        assert_eq!(
            format!("{looped:#}"),
            "step \"l\" of job \"j\" failed: again: …"
        );
        let mut deep = Layer("0", None);
        for _ in 0..100 {
            deep = Layer("deeper", Some(Box::new(deep)));
        }
        let deep = JobError::failed(&job, &"d".into(), Box::new(deep));
        let text = format!("{deep:#}");
        assert_eq!(text.matches(": deeper").count(), MAX_CAUSES);
        assert!(text.ends_with(": …"), "{text}");
    }

    #[test]
    fn dependency_failure_chains_to_the_root_cause() {
        let job: Arc<str> = "j".into();
        let io = std::io::Error::other("disk on fire");
        let root = JobError::failed(&job, &"a".into(), Box::new(io));
        let mid = JobError::dependency_failed(&job, &"b".into(), &root);
        let leaf = JobError::dependency_failed(&job, &"c".into(), &mid);
        assert_eq!(leaf.root_cause().step(), Some("a"));
        let chain: Vec<String> =
            std::iter::successors(Some(&leaf as &(dyn StdError + 'static)), |e| (*e).source())
                .map(|e| e.to_string())
                .collect();
        assert_eq!(
            chain,
            [
                "step \"c\" was skipped: its dependency \"a\" failed",
                "step \"a\" failed",
                "disk on fire"
            ]
        );
    }
}
