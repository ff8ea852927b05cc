//! Ready-made harnesses over any executor: [`Spawning`] for an [`asyncjob::Executor`] (the
//! caller blocks with `futures::executor::block_on`), [`LocalPoolHarness`] for a
//! [`asyncjob::LocalExecutor`] over a `futures` [`LocalPool`], and [`Faulty`], whose executor
//! refuses, or panics in, one spawn of each job (for
//! [`random_dags_match_the_model_with_spawn_faults`](crate::random_dags_match_the_model_with_spawn_faults)).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use asyncjob::{
    Executor, ExecutorTimer, FuturesExecutor, JobDefinition, JobInstance, JobInstanceWithResult,
    JobOptions, JobWithResult, Local, LocalExecutor, Sendable, Timer, TimerSource,
};
use asyncjob_test::{PanicInSpawn, RefuseNth, ThreadTimer};
use futures::executor::{LocalPool, LocalSpawner};

use crate::{Harness, LocalHarness, RecordingTimer};

/// A harness over any `Send` executor `E`, sleeping on its own timer or on one given to
/// [`with_timer`](Spawning::with_timer): jobs start with
/// [`Runner::start`](asyncjob::Runner::start), the test blocks with `futures::executor::block_on`.
#[derive(Debug, Clone)]
pub struct Spawning<E, T = ExecutorTimer> {
    name: &'static str,
    executor: E,
    timer: T,
}

impl<E> Spawning<E> {
    /// Starts jobs on `executor`, sleeping on its own timer; `name` is for messages.
    pub fn new(name: &'static str, executor: E) -> Self {
        Spawning {
            name,
            executor,
            timer: ExecutorTimer,
        }
    }
}

impl<E, T> Spawning<E, T> {
    /// Sleeps on `timer` instead of the executor's timer (for an executor that has none).
    pub fn with_timer<T2: Timer>(self, timer: T2) -> Spawning<E, T2> {
        Spawning {
            name: self.name,
            executor: self.executor,
            timer,
        }
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }
}

impl<E, T> Harness for Spawning<E, T>
where
    E: Executor + Clone + Send + Sync + 'static,
    T: TimerSource<E, Sendable> + Clone,
{
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        Executor::blocking(&self.executor).is_some()
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(self.timer.clone())
            .options(options)
            .start(input)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(timer)
            .options(options)
            .start(input)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(self.timer.clone())
            .options(options)
            .start(input)
    }
}

/// The spawner a [`LocalPoolHarness`] gives its executor: the pool's. Its jobs sleep on a
/// [`ThreadTimer`] (or the test's [`RecordingTimer`]).
pub type PoolSpawner = FuturesExecutor<LocalSpawner>;

/// A harness over a local executor `E` built on a `futures` [`LocalPool`] (for example
/// `asyncjob_test::PollInSpawn` over its spawner): jobs start with
/// [`Runner::start_local`](asyncjob::Runner::start_local), the test blocks by running the pool.
#[derive(Debug)]
pub struct LocalPoolHarness<E> {
    name: &'static str,
    pool: RefCell<LocalPool>,
    executor: E,
}

impl<E> LocalPoolHarness<E> {
    /// A new pool; `wrap` makes the executor under test from the pool's spawner.
    pub fn new(name: &'static str, wrap: impl FnOnce(PoolSpawner) -> E) -> Self {
        let pool = LocalPool::new();
        let executor = wrap(FuturesExecutor::new(pool.spawner()));
        LocalPoolHarness {
            name,
            pool: RefCell::new(pool),
            executor,
        }
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }
}

impl<E> Harness for LocalPoolHarness<E>
where
    E: LocalExecutor + Clone + 'static,
{
    type Mode = Local;

    fn name(&self) -> &'static str {
        self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.pool.borrow_mut().run_until(future)
    }

    fn offers_blocking(&self) -> bool {
        LocalExecutor::blocking(&self.executor).is_some()
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(ThreadTimer)
            .options(options)
            .start_local(input)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(timer)
            .options(options)
            .start_local(input)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        job.on(self.executor.clone())
            .timer(ThreadTimer)
            .options(options)
            .start_local(input)
    }
}

impl<E> LocalHarness for LocalPoolHarness<E>
where
    E: LocalExecutor + Clone + 'static,
{
    fn start_local<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static,
    {
        job.on(self.executor.clone())
            .timer(ThreadTimer)
            .options(options)
            .start_local(input)
    }

    fn start_local_with_timer<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static,
    {
        job.on(self.executor.clone())
            .timer(timer)
            .options(options)
            .start_local(input)
    }

    fn start_local_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + 'static,
        O: Clone + 'static,
    {
        job.on(self.executor.clone())
            .timer(ThreadTimer)
            .options(options)
            .start_local(input)
    }
}

/// A harness whose executor fails one spawn of the next job it starts, as the model-based test
/// with spawn faults asks.
pub trait FaultyHarness: Harness {
    /// Makes the `nth` spawn (from 1) of the next job started fail; 0: none.
    fn arm(&self, nth: usize);

    /// How many spawns of the last job started failed so far.
    fn faults(&self) -> usize;
}

/// How a [`Faulty`] harness fails a spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `spawn()` returns `SpawnError` ([`RefuseNth`]).
    Refuse,
    /// `spawn()` panics ([`PanicInSpawn`]).
    Panic,
}

/// A [`FaultyHarness`] over a `Send` executor `E`: each job is started on a fresh [`RefuseNth`]
/// or [`PanicInSpawn`] around `E`, armed for the spawn [`arm`](FaultyHarness::arm) asked for.
pub struct Faulty<E> {
    name: &'static str,
    fault: Fault,
    inner: E,
    timer: Arc<dyn Timer + Send + Sync>,
    armed: AtomicUsize,
    /// The executor of the last job started, for its fault count.
    last: Mutex<Option<FaultyExecutor<E>>>,
}

impl<E: fmt::Debug> fmt::Debug for Faulty<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty")
            .field("name", &self.name)
            .field("fault", &self.fault)
            .field("inner", &self.inner)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

impl<E> Faulty<E> {
    /// Fails spawns on `inner` in the way `fault` says, sleeping on `inner`'s timer; `name` is
    /// for messages.
    pub fn new(name: &'static str, fault: Fault, inner: E) -> Self
    where
        E: Timer + Clone + Send + Sync + 'static,
    {
        let timer = Arc::new(inner.clone());
        Self::with_timer(name, fault, inner, timer)
    }

    /// As [`new`](Self::new), sleeping on `timer` (for an executor that has no timer).
    pub fn with_timer(
        name: &'static str,
        fault: Fault,
        inner: E,
        timer: impl Timer + Send + Sync + 'static,
    ) -> Self {
        Faulty {
            name,
            fault,
            inner,
            timer: Arc::new(timer),
            armed: AtomicUsize::new(0),
            last: Mutex::new(None),
        }
    }
}

impl<E> Faulty<E>
where
    E: Executor + Clone + Send + Sync + 'static,
{
    /// Runs `start` with the executor for the next job: `inner` wrapped in the armed fault.
    fn with_executor<R>(&self, start: impl FnOnce(FaultyExecutor<E>) -> R) -> R {
        let nth = self.armed.swap(0, Ordering::SeqCst);
        let executor = match self.fault {
            Fault::Refuse => FaultyExecutor::Refuse(RefuseNth::new(self.inner.clone(), nth)),
            Fault::Panic => FaultyExecutor::Panic(PanicInSpawn::new(self.inner.clone(), nth)),
        };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(executor.clone());
        start(executor)
    }
}

/// The executor a [`Faulty`] harness starts a job on.
#[derive(Debug, Clone)]
enum FaultyExecutor<E> {
    Refuse(RefuseNth<E>),
    Panic(PanicInSpawn<E>),
}

impl<E: Executor> Executor for FaultyExecutor<E> {
    fn spawn(&self, future: asyncjob::BoxFuture<'static, ()>) -> Result<(), asyncjob::SpawnError> {
        match self {
            FaultyExecutor::Refuse(e) => e.spawn(future),
            FaultyExecutor::Panic(e) => e.spawn(future),
        }
    }

    fn spawn_unboxed<F>(&self, future: F) -> Result<(), asyncjob::SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            FaultyExecutor::Refuse(e) => e.spawn_unboxed(future),
            FaultyExecutor::Panic(e) => e.spawn_unboxed(future),
        }
    }
}

impl<E> Harness for Faulty<E>
where
    E: Executor + Clone + Send + Sync + 'static,
{
    type Mode = Sendable;

    fn name(&self) -> &'static str {
        self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    fn start<I>(&self, job: &JobDefinition<I>, input: I, options: JobOptions) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        self.with_executor(|executor| {
            job.on(executor)
                .timer(self.timer.clone())
                .options(options)
                .start(input)
        })
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance
    where
        I: Clone + Send + Sync + 'static,
    {
        self.with_executor(|executor| job.on(executor).timer(timer).options(options).start(input))
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        self.with_executor(|executor| {
            job.on(executor)
                .timer(self.timer.clone())
                .options(options)
                .start(input)
        })
    }
}

impl<E> FaultyHarness for Faulty<E>
where
    E: Executor + Clone + Send + Sync + 'static,
{
    fn arm(&self, nth: usize) {
        self.armed.store(nth, Ordering::SeqCst);
    }

    fn faults(&self) -> usize {
        match &*self.last.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(FaultyExecutor::Refuse(e)) => e.refused(),
            Some(FaultyExecutor::Panic(e)) => e.panicked(),
            None => 0,
        }
    }
}
