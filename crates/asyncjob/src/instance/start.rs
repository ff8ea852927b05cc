//! Starting a definition: one run, on an executor, with options.

use std::sync::Arc;

use crate::engine::deadline::DeadlineTask;
use crate::engine::{Driver, Run, Schedule};
use crate::env::RunEnv;
use crate::error::JobError;
use crate::graph::definition::{JobDefinition, JobWithResult};
use crate::id::JobId;
use crate::mode::private::{Sealed, SpawnTask};
use crate::mode::{Local, Mode, Sendable};
use crate::rt::{Executor, LocalExecutor, SpawnError, Timer};

use super::{JobInstance, JobInstanceWithResult, JobOptions};

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
    let run = Run::<X>::new(env, cells, spawner, timer, id, schedule);
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
    /// Starts an instance on a [`LocalExecutor`]: the job's steps, `Send` or not, run on that
    /// executor's thread. Returns at once.
    pub fn start_local<E>(&self, executor: E, input: I) -> JobInstance<Local>
    where
        E: LocalExecutor + Timer + 'static,
    {
        self.start_local_with(executor, input, JobOptions::default())
    }

    /// As [`start_local`](Self::start_local), with [`JobOptions`].
    pub fn start_local_with<E>(
        &self,
        executor: E,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Local>
    where
        E: LocalExecutor + Timer + 'static,
    {
        let env = RunEnv::new(self.topology_arc());
        let cells = self
            .instantiate(&input, &env)
            .into_iter()
            .map(M::into_local)
            .collect();
        let executor = Arc::new(executor);
        let run = launch::<Local>(
            env,
            cells,
            executor.clone(),
            executor.clone(),
            |task| executor.spawn_task(task),
            &options,
            self.topology().fail_fast,
        );
        JobInstance { run }
    }
}
impl<I> JobDefinition<I, Sendable> {
    /// Starts an instance on an [`Executor`]. Returns at once; every step starts as soon as its
    /// dependencies have succeeded.
    ///
    /// ```
    /// # use asyncjob::{JobBuilder, FuturesExecutor};
    /// let mut job = JobBuilder::<u32>::new("hello");
    /// job.step("greet").run(|n| async move { Ok::<_, String>(format!("hello {n}")) })?;
    /// let job = job.seal();
    ///
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// let instance = job.start(FuturesExecutor::new(pool), 7);
    /// futures::executor::block_on(instance.wait()).unwrap();
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    pub fn start<E>(&self, executor: E, input: I) -> JobInstance<Sendable>
    where
        E: Executor + Timer + Send + Sync + 'static,
    {
        self.start_with(executor, input, JobOptions::default())
    }

    /// As [`start`](Self::start), with [`JobOptions`].
    pub fn start_with<E>(&self, executor: E, input: I, options: JobOptions) -> JobInstance<Sendable>
    where
        E: Executor + Timer + Send + Sync + 'static,
    {
        let env = RunEnv::new(self.topology_arc());
        let cells = self.instantiate(&input, &env).into_boxed_slice();
        let executor = Arc::new(executor);
        let run = launch::<Sendable>(
            env,
            cells,
            executor.clone(),
            executor.clone(),
            |task| executor.spawn_task(task),
            &options,
            self.topology().fail_fast,
        );
        JobInstance { run }
    }
}

impl<I, O: Clone + 'static, M: Mode> JobWithResult<I, O, M> {
    /// As [`JobDefinition::start_local`], keeping the result typed.
    pub fn start_local<E>(&self, executor: E, input: I) -> JobInstanceWithResult<O, Local>
    where
        E: LocalExecutor + Timer + 'static,
    {
        self.start_local_with(executor, input, JobOptions::default())
    }

    /// As [`JobDefinition::start_local_with`], keeping the result typed.
    pub fn start_local_with<E>(
        &self,
        executor: E,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        E: LocalExecutor + Timer + 'static,
    {
        let instance = self.definition().start_local_with(executor, input, options);
        JobInstanceWithResult::new(instance, self.result_step().clone())
    }
}

impl<I, O: Clone + 'static> JobWithResult<I, O, Sendable> {
    /// As [`JobDefinition::start`], keeping the result typed.
    pub fn start<E>(&self, executor: E, input: I) -> JobInstanceWithResult<O, Sendable>
    where
        E: Executor + Timer + Send + Sync + 'static,
    {
        self.start_with(executor, input, JobOptions::default())
    }

    /// As [`JobDefinition::start_with`], keeping the result typed.
    pub fn start_with<E>(
        &self,
        executor: E,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Sendable>
    where
        E: Executor + Timer + Send + Sync + 'static,
    {
        let instance = self.definition().start_with(executor, input, options);
        JobInstanceWithResult::new(instance, self.result_step().clone())
    }
}
