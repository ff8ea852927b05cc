//! Starting a definition: one run, on an executor, with a timer and options.
//!
//! There is one way to start: [`JobDefinition::on`] (or [`JobWithResult::on`]) names the
//! executor and returns a [`Runner`]; the runner takes an optional timer and options, then
//! [`Runner::start`] (steps on an [`Executor`]) or [`Runner::start_local`] (steps on a
//! [`LocalExecutor`]) starts one instance.

use std::fmt;
use std::sync::Arc;

use crate::engine::deadline::DeadlineTask;
use crate::engine::limits::RunLimits;
use crate::engine::{Driver, Run, RunParts, Schedule};
use crate::env::RunEnv;
use crate::error::JobError;
use crate::graph::definition::{JobDefinition, JobWithResult};
use crate::id::JobId;
use crate::mode::private::{Sealed, SpawnTask};
use crate::mode::{Local, Mode, Sendable};
use crate::rt::{Executor, LocalExecutor, SpawnError, Timer};
use crate::state::events::EventLog;

use super::{JobInstance, JobInstanceWithResult, JobOptions};

/// One run of a definition, about to start: the executor it runs on, the timer it sleeps on
/// and its [`JobOptions`]. Made by [`JobDefinition::on`] or [`JobWithResult::on`]; consumed by
/// [`start`](Self::start) or [`start_local`](Self::start_local).
///
/// The timer is the executor's own unless [`timer`](Self::timer) gives another (every adapter's
/// executor has one; [`FuturesExecutor`](crate::FuturesExecutor) has none, which is enough for
/// a job that never sleeps).
///
/// ```
/// # use asyncjob::{JobBuilder, FuturesExecutor, JobOptions};
/// # let mut job = JobBuilder::<u32>::new("hello");
/// # job.step("greet").run(|n| async move { Ok::<_, String>(n + 1) })?;
/// # let job = job.seal();
/// let pool = futures::executor::ThreadPool::new().unwrap();
/// let instance = job
///     .on(FuturesExecutor::new(pool))
///     .options(JobOptions::new().with_id("request-42"))
///     .start(7);
/// futures::executor::block_on(instance.wait())?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a runner does nothing until `start` or `start_local` is called"]
pub struct Runner<'d, D: ?Sized, E, T = ExecutorTimer> {
    definition: &'d D,
    executor: E,
    timer: T,
    options: JobOptions,
}

/// The default timer of a [`Runner`]: the executor's own (the executor implements [`Timer`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutorTimer;

impl<D: ?Sized, E: fmt::Debug, T: fmt::Debug> fmt::Debug for Runner<'_, D, E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("executor", &self.executor)
            .field("timer", &self.timer)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'d, D: ?Sized, E, T> Runner<'d, D, E, T> {
    /// Sleeps (retry back-off, timeouts, the deadline) and reads the clock through `timer`
    /// instead of the executor's own timer: a test timer that records or fakes time, or a timer
    /// for an executor that has none. `timer` is a [`Timer`], or [`ExecutorTimer`] (the
    /// default) for the executor's own ([`TimerSource`] says which types start).
    pub fn timer<T2>(self, timer: T2) -> Runner<'d, D, E, T2> {
        Runner {
            definition: self.definition,
            executor: self.executor,
            timer,
            options: self.options,
        }
    }

    /// Starts the instance with these options (id, sequential, failure policy, deadline).
    pub fn options(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }
}

/// Where a [`Runner`] takes its timer from: [`ExecutorTimer`] (the executor's own) or a
/// [`Timer`] given to [`Runner::timer`]. Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no timer to a run on `{E}`",
    label = "the runner's timer",
    note = "`ExecutorTimer` (the default) takes the executor's own timer, so the executor must implement `asyncjob::Timer`",
    note = "otherwise give the runner a timer: `.timer(my_timer)`, or `.timer(asyncjob::NoTimer)` for a job without retry, timeout or deadline"
)]
pub trait TimerSource<E, X: Mode>: private::Sealed {
    #[doc(hidden)]
    fn into_timer(self, executor: &Arc<E>) -> Arc<<X as Sealed>::Timer>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::ExecutorTimer {}
    impl<T: crate::rt::Timer> Sealed for T {}
}

impl<E: Timer + Send + Sync + 'static> TimerSource<E, Sendable> for ExecutorTimer {
    fn into_timer(self, executor: &Arc<E>) -> Arc<<Sendable as Sealed>::Timer> {
        executor.clone()
    }
}

impl<E: Timer + 'static> TimerSource<E, Local> for ExecutorTimer {
    fn into_timer(self, executor: &Arc<E>) -> Arc<<Local as Sealed>::Timer> {
        executor.clone()
    }
}

impl<E, T: Timer + Send + Sync + 'static> TimerSource<E, Sendable> for T {
    fn into_timer(self, _: &Arc<E>) -> Arc<<Sendable as Sealed>::Timer> {
        Arc::new(self)
    }
}

impl<E, T: Timer + 'static> TimerSource<E, Local> for T {
    fn into_timer(self, _: &Arc<E>) -> Arc<<Local as Sealed>::Timer> {
        Arc::new(self)
    }
}

/// Sets up a run of mode `X` and starts it: spawns its deadline's task (through
/// `spawn_deadline`), then its first steps.
fn launch<X: Sealed>(
    env: Arc<RunEnv>,
    cells: Box<[Arc<X::Cell>]>,
    spawner: Arc<X::Spawner<Driver<X>>>,
    timer: Arc<X::Timer>,
    spawn_deadline: impl FnOnce(DeadlineTask<X>) -> Result<(), SpawnError>,
    options: &JobOptions,
    definition_fail_fast: bool,
) -> Arc<Run<X>> {
    let schedule = Schedule {
        sequential: options.sequential,
        fail_fast: options.fail_fast.unwrap_or(definition_fail_fast),
    };
    let id = options.id.clone().unwrap_or_else(JobId::next);
    let needs_timer = run_needs_timer(&env, options);
    let can_sleep = timer.can_sleep();
    let log = (options.record_events || !options.observers.is_empty()).then(|| {
        Arc::new(EventLog::new(
            env.topology.clone(),
            options.observers.clone(),
        ))
    });
    let topology = env.topology.clone();
    let foreign = options
        .priorities
        .iter()
        .find(|(definition, ..)| *definition != topology.id)
        .map(|(_, _, name, _)| name.clone());
    let priorities: Vec<(usize, i32)> = options
        .priorities
        .iter()
        .map(|&(_, index, _, priority)| (index, priority))
        .collect();
    let cap = options.max_running.or(topology.max_running);
    let limits = RunLimits::new(&topology, cap, &priorities);
    let run = Run::<X>::new(
        env,
        cells,
        spawner,
        timer,
        id,
        schedule,
        RunParts {
            log,
            limits,
            priorities,
        },
    );
    if let Some(step) = foreign {
        run.cancel(JobError::unknown_step(&topology.name, &step));
        return run;
    }
    if needs_timer && !can_sleep {
        // Refused before any step runs: every step ends cancelled, with this reason.
        run.cancel(JobError::timer_missing(&run.topology().name));
        return run;
    }
    if let Some(deadline) = options.deadline {
        if let Some(task) = DeadlineTask::new(&run, deadline) {
            let spawned =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawn_deadline(task)));
            let refused = match spawned {
                Ok(Ok(())) => false,
                Ok(Err(_)) => true,
                Err(panic) => {
                    crate::panic::drop_quietly(panic);
                    true
                }
            };
            if refused {
                let reason = JobError::deadline_timer_failed(
                    &run.topology().name,
                    deadline,
                    "the executor refused the deadline's task".to_owned(),
                );
                run.cancel(reason);
            }
        }
    }
    run.begin();
    run
}

fn run_needs_timer(env: &RunEnv, options: &JobOptions) -> bool {
    env.topology.needs_timer || options.deadline.is_some()
}

impl<I, M: Mode> JobDefinition<I, M> {
    /// Prepares a run of this definition on `executor`; [`Runner::start`] or
    /// [`Runner::start_local`] starts it.
    ///
    /// ```
    /// # use asyncjob::{JobBuilder, FuturesExecutor};
    /// let mut job = JobBuilder::<u32>::new("hello");
    /// job.step("greet").run(|n| async move { Ok::<_, String>(format!("hello {n}")) })?;
    /// let job = job.seal();
    ///
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// let instance = job.on(FuturesExecutor::new(pool)).start(7);
    /// futures::executor::block_on(instance.wait()).unwrap();
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    pub fn on<E>(&self, executor: E) -> Runner<'_, Self, E> {
        Runner {
            definition: self,
            executor,
            timer: ExecutorTimer,
            options: JobOptions::default(),
        }
    }
}

impl<I, O, M: Mode> JobWithResult<I, O, M> {
    /// Prepares a run of this definition on `executor`, keeping the result typed: the runner's
    /// `start` returns a [`JobInstanceWithResult`].
    pub fn on<E>(&self, executor: E) -> Runner<'_, Self, E> {
        Runner {
            definition: self,
            executor,
            timer: ExecutorTimer,
            options: JobOptions::default(),
        }
    }
}

impl<I: 'static, M: Mode, E, T> Runner<'_, JobDefinition<I, M>, E, T>
where
    E: LocalExecutor + 'static,
    T: TimerSource<E, Local>,
{
    /// Starts an instance on the [`LocalExecutor`]: the job's steps, `Send` or not, run on that
    /// executor's thread. Returns at once.
    pub fn start_local(self, input: I) -> JobInstance<Local> {
        let definition = self.definition;
        let env = RunEnv::new(definition.topology_arc());
        let cells = definition
            .instantiate(&input, &env)
            .into_iter()
            .map(M::into_local)
            .collect();
        let executor = Arc::new(self.executor);
        let timer = self.timer.into_timer(&executor);
        let run = launch::<Local>(
            env,
            cells,
            executor.clone(),
            timer,
            |task| executor.spawn_task(task),
            &self.options,
            definition.topology().fail_fast,
        );
        JobInstance { run }
    }
}

/// The mode whose definitions [`Runner::start`] starts: [`Sendable`]. A local definition's
/// `start` does not compile, with a message that points at
/// [`start_local`](Runner::start_local). Sealed.
#[diagnostic::on_unimplemented(
    message = "`start` runs a job of `Send` steps, and this definition is local",
    label = "a definition made with `JobBuilder::new_local`",
    note = "start a local definition with `start_local(input)`, on a `LocalExecutor` (asyncjob-local's `LocalRuntime::handle()`, or `FuturesExecutor` over a `LocalSpawn` such as `futures::executor::LocalPool::spawner()`)",
    note = "or build it with `JobBuilder::new`, if its steps are `Send`"
)]
pub trait StartMode: Mode + sendable::Sealed {
    #[doc(hidden)]
    fn as_sendable<I>(definition: &JobDefinition<I, Self>) -> &JobDefinition<I, Sendable>;
}

mod sendable {
    pub trait Sealed {}
    impl Sealed for crate::mode::Sendable {}
}

impl StartMode for Sendable {
    fn as_sendable<I>(definition: &JobDefinition<I, Self>) -> &JobDefinition<I, Sendable> {
        definition
    }
}

impl<I: 'static, M: Mode, E, T> Runner<'_, JobDefinition<I, M>, E, T>
where
    E: Executor + Send + Sync + 'static,
    T: TimerSource<E, Sendable>,
{
    /// Starts an instance on the [`Executor`]. Returns at once; every step starts as soon as
    /// its dependencies have succeeded.
    ///
    /// Only for a definition of `Send` steps (`M` is [`Sendable`]); a local one starts with
    /// [`start_local`](Self::start_local).
    pub fn start(self, input: I) -> JobInstance<Sendable>
    where
        M: StartMode,
    {
        let definition = M::as_sendable(self.definition);
        let env = RunEnv::new(definition.topology_arc());
        let cells = definition.instantiate(&input, &env).into_boxed_slice();
        let executor = Arc::new(self.executor);
        let timer = self.timer.into_timer(&executor);
        let run = launch::<Sendable>(
            env,
            cells,
            executor.clone(),
            timer,
            |task| executor.spawn_task(task),
            &self.options,
            definition.topology().fail_fast,
        );
        JobInstance { run }
    }
}

impl<'d, I: 'static, O: Clone + 'static, M: Mode, E, T> Runner<'d, JobWithResult<I, O, M>, E, T>
where
    E: LocalExecutor + 'static,
    T: TimerSource<E, Local>,
{
    /// As [`start_local`](Runner::start_local) for a [`JobDefinition`], keeping the result
    /// typed.
    pub fn start_local(self, input: I) -> JobInstanceWithResult<O, Local> {
        let with_result: &'d JobWithResult<I, O, M> = self.definition;
        let instance = self.retarget(with_result.definition()).start_local(input);
        JobInstanceWithResult::new(instance, with_result.result_step().clone())
    }
}

impl<'d, I: 'static, O: Clone + 'static, M: Mode, E, T> Runner<'d, JobWithResult<I, O, M>, E, T>
where
    E: Executor + Send + Sync + 'static,
    T: TimerSource<E, Sendable>,
{
    /// As [`start`](Runner::start) for a [`JobDefinition`], keeping the result typed.
    pub fn start(self, input: I) -> JobInstanceWithResult<O, Sendable>
    where
        M: StartMode,
    {
        let with_result: &'d JobWithResult<I, O, M> = self.definition;
        let definition = M::as_sendable(with_result.definition());
        let instance = self.retarget(definition).start(input);
        JobInstanceWithResult::new(instance, with_result.result_step().clone())
    }
}

impl<'d, D: ?Sized, E, T> Runner<'d, D, E, T> {
    /// The same run, of another definition (the one a [`JobWithResult`] wraps).
    fn retarget<D2: ?Sized>(self, definition: &'d D2) -> Runner<'d, D2, E, T> {
        Runner {
            definition,
            executor: self.executor,
            timer: self.timer,
            options: self.options,
        }
    }
}
