//! The engine: one [`Run`] per job instance, one [`Driver`] task per ready step.
//!
//! A step is spawned only once all of its dependencies have succeeded: nothing sits parked on
//! its parents. Each step's output lives in a [`futures_util::future::Shared`] (inside its
//! [`Cell`]), from which its dependents clone their inputs. When a step ends, the driver that ran
//! it counts down its children's pending dependencies; it spawns every child that became ready
//! but one, and runs that one itself (no task, no queue hop for a chain). Per step the engine
//! keeps a handful of atomics and reads the clock once per transition.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::Shared;
use futures_util::task::AtomicWaker;

use crate::context::{self, RunHooks};
use crate::error::JobError;
use crate::executor::{BoxFuture, Timer};
use crate::instance::{JobId, StepState};
use crate::intercept::Interceptors;
use crate::mode::private::{Sealed, Spawner as _};
use crate::mode::{Local, OutputRef, Sendable};

/// What a step's future resolves to.
pub(crate) type StepResult<T> = Result<T, JobError>;

/// The static shape of a definition, shared by the definition and every run of it.
#[derive(Debug)]
pub(crate) struct Topology {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) steps: Vec<StepMeta>,
    pub(crate) roots: Vec<usize>,
    /// The job-wide interceptors, run around every step.
    pub(crate) interceptors: Interceptors,
    /// Every instance is fail-fast ([`JobBuilder::fail_fast`](crate::JobBuilder::fail_fast)).
    pub(crate) fail_fast: bool,
}

/// One step of a [`Topology`].
#[derive(Debug)]
pub(crate) struct StepMeta {
    pub(crate) name: Arc<str>,
    /// Steps whose outputs this step takes, in the order the step function receives them.
    pub(crate) data: Vec<usize>,
    /// Steps this step waits for without taking their outputs.
    pub(crate) order: Vec<usize>,
    /// Steps that depend on this one (data or ordering).
    pub(crate) children: Vec<usize>,
    /// The step has an execution policy (retry, timeout) and needs the run's context.
    pub(crate) has_policy: bool,
}

impl StepMeta {
    pub(crate) fn dependency_count(&self) -> usize {
        self.data.len() + self.order.len()
    }
}

/// A step's cell, erased over the step's output and future types: what the run holds.
pub trait ErasedCell: 'static {
    /// Drives the step's future.
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>>;
    /// The output, if the step succeeded, as `&T`.
    fn output_any(&self, f: &mut dyn FnMut(&dyn Any));
    /// Stores a handle on this cell's output in `out`, an `Option<OutputRef<M, T>>` (see
    /// [`crate::mode`]); leaves `out` alone if the cell's mode or output type differ.
    fn capture(self: Arc<Self>, out: &mut dyn Any);
}

/// A step's output as its dependents hold it: typed over the output, erased over the step's
/// future.
pub trait OutputCell<T> {
    /// The output, once the step has succeeded.
    fn peek(&self) -> Option<&T>;
}

/// A step's cell: the `Shared` future that runs the step and then holds its output.
///
/// The step's future lives unboxed inside the `Shared` (one allocation for both). The driver
/// polls its own clone of the `Shared` (a `Shared` that has yielded its output lets go of it, so
/// the cell keeps another, never polled, for peeking). The mutex is uncontended: only the step's
/// driver polls. Dependents hold the cell itself, through an [`OutputCell`].
pub(crate) struct Cell<M, F: Future>
where
    F::Output: Clone,
{
    output: Shared<F>,
    driver: Mutex<Shared<F>>,
    mode: PhantomData<fn() -> M>,
}

impl<M, F: Future> Cell<M, F>
where
    F::Output: Clone,
{
    pub(crate) fn new(future: F) -> Arc<Self> {
        let output = futures_util::FutureExt::shared(future);
        Arc::new(Cell {
            driver: Mutex::new(output.clone()),
            output,
            mode: PhantomData,
        })
    }
}

impl<M, F, T> Cell<M, F>
where
    F: Future<Output = StepResult<T>>,
    T: Clone,
{
    fn poll_driver(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        let mut driver = self.driver.lock().unwrap_or_else(PoisonError::into_inner);
        Pin::new(&mut *driver).poll(cx).map(|out| out.map(drop))
    }
}

impl<M, F, T> OutputCell<T> for Cell<M, F>
where
    F: Future<Output = StepResult<T>>,
    T: Clone,
{
    fn peek(&self) -> Option<&T> {
        match self.output.peek() {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }
}

impl<F, T> ErasedCell for Cell<Sendable, F>
where
    F: Future<Output = StepResult<T>> + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        self.poll_driver(cx)
    }

    fn output_any(&self, f: &mut dyn FnMut(&dyn Any)) {
        if let Some(value) = self.peek() {
            f(value);
        }
    }

    fn capture(self: Arc<Self>, out: &mut dyn Any) {
        if let Some(out) = out.downcast_mut::<Option<OutputRef<Sendable, T>>>() {
            *out = Some(self);
        }
    }
}

impl<F, T> ErasedCell for Cell<Local, F>
where
    F: Future<Output = StepResult<T>> + 'static,
    T: Clone + 'static,
{
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<Result<(), JobError>> {
        self.poll_driver(cx)
    }

    fn output_any(&self, f: &mut dyn FnMut(&dyn Any)) {
        if let Some(value) = self.peek() {
            f(value);
        }
    }

    fn capture(self: Arc<Self>, out: &mut dyn Any) {
        if let Some(out) = out.downcast_mut::<Option<OutputRef<Local, T>>>() {
            *out = Some(self);
        }
    }
}

const NOT_SET: u64 = 0;

/// The live state of one step of one run.
#[derive(Debug)]
pub(crate) struct StepSlot {
    state: AtomicU8,
    pending: AtomicUsize,
    /// Nanoseconds since the run's origin, plus one (0 = not yet).
    ready_at: AtomicU64,
    started_at: AtomicU64,
    ended_at: AtomicU64,
    error: OnceLock<JobError>,
    /// Attempts made, for steps with a retry policy (0: not recorded, see `attempts()`).
    attempts: AtomicU32,
    /// The attempts that failed and were retried.
    retried: Mutex<Vec<RetriedAttempt>>,
}

/// An attempt of a step that failed and was retried.
#[derive(Debug, Clone)]
pub(crate) struct RetriedAttempt {
    pub(crate) attempt: u32,
    pub(crate) started: Duration,
    pub(crate) ended: Duration,
    pub(crate) error: String,
}

impl StepSlot {
    fn new(dependencies: usize) -> Self {
        StepSlot {
            state: AtomicU8::new(StepState::Waiting as u8),
            pending: AtomicUsize::new(dependencies),
            ready_at: AtomicU64::new(NOT_SET),
            started_at: AtomicU64::new(NOT_SET),
            ended_at: AtomicU64::new(NOT_SET),
            error: OnceLock::new(),
            attempts: AtomicU32::new(0),
            retried: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn state(&self) -> StepState {
        StepState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn error(&self) -> Option<&JobError> {
        self.error.get()
    }

    /// Attempts made so far: 0 before the step starts, 1 once it has (more under a retry policy).
    pub(crate) fn attempts(&self) -> u32 {
        match self.attempts.load(Ordering::Acquire) {
            0 => u32::from(self.started_at.load(Ordering::Acquire) != NOT_SET),
            n => n,
        }
    }

    /// The attempts that failed and were retried, oldest first.
    pub(crate) fn retried(&self) -> Vec<RetriedAttempt> {
        self.retried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Moves from `from` to `to`; false if the step was elsewhere.
    fn transition(&self, from: StepState, to: StepState) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// What the step futures of one run share (they cannot hold the run itself: it owns them): the
/// definition's topology, for the names in their errors, and the run's cancellation signal.
#[derive(Debug)]
pub(crate) struct RunEnv {
    pub(crate) topology: Arc<Topology>,
    cancelled: AtomicBool,
    /// One waker per step, registered only while the step's future is pending.
    wakers: Box<[AtomicWaker]>,
}

impl RunEnv {
    pub(crate) fn new(topology: &Arc<Topology>) -> Arc<Self> {
        Arc::new(RunEnv {
            topology: topology.clone(),
            cancelled: AtomicBool::new(false),
            wakers: (0..topology.steps.len())
                .map(|_| AtomicWaker::new())
                .collect(),
        })
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Sets the signal and wakes every pending step; `false` if it was already set.
    fn cancel(&self) -> bool {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return false;
        }
        for waker in self.wakers.iter() {
            waker.wake();
        }
        true
    }

    /// Runs `future` until it completes (`Some`) or the run is cancelled (`None`, and `future`
    /// is dropped by the caller).
    pub(crate) async fn guard<F: Future>(&self, index: usize, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if self.is_cancelled() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if let Some(waker) = self.wakers.get(index) {
                waker.register(cx.waker());
            }
            if self.is_cancelled() {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// When something happened, relative to the run's origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(u64);

/// The times of one step, as read from its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepTimes {
    pub(crate) ready: Option<Duration>,
    pub(crate) started: Option<Duration>,
    pub(crate) ended: Option<Duration>,
}

fn load_time(cell: &AtomicU64) -> Option<Duration> {
    match cell.load(Ordering::Acquire) {
        NOT_SET => None,
        n => Some(Duration::from_nanos(n - 1)),
    }
}

/// Who is waiting for the run to end.
#[derive(Debug, Default)]
struct Completion {
    done: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Completion {
    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_done() {
            return Poll::Ready(());
        }
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_done() {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn finish(&self) {
        let wakers = {
            let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
            self.done.store(true, Ordering::Release);
            std::mem::take(&mut *wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// One run of a job definition. (Public only in name: the module is private.)
pub struct Run<X: Sealed> {
    pub(crate) topology: Arc<Topology>,
    pub(crate) id: JobId,
    cells: Box<[Arc<X::Cell>]>,
    slots: Box<[StepSlot]>,
    spawner: Arc<X::Spawner>,
    timer: Arc<X::Timer>,
    sequential: bool,
    fail_fast: bool,
    env: Arc<RunEnv>,
    remaining: AtomicUsize,
    first_error: OnceLock<JobError>,
    completion: Completion,
    origin: Instant,
    origin_wall: SystemTime,
}

impl<X: Sealed> std::fmt::Debug for Run<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("job", &self.topology.name)
            .field("id", &self.id)
            .field("remaining", &self.remaining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// How often a driver runs a successor inline before it yields to the executor.
const INLINE_BUDGET: u32 = 64;

impl<X: Sealed> Run<X> {
    /// Sets up a run and starts its first steps.
    pub(crate) fn start(
        topology: Arc<Topology>,
        cells: Box<[Arc<X::Cell>]>,
        spawner: Arc<X::Spawner>,
        timer: Arc<X::Timer>,
        env: Arc<RunEnv>,
        id: JobId,
        options: &crate::instance::JobOptions,
    ) -> Arc<Self> {
        let sequential = options.sequential;
        let slots = topology
            .steps
            .iter()
            .map(|meta| StepSlot::new(meta.dependency_count()))
            .collect();
        let run = Arc::new(Run {
            id,
            cells,
            slots,
            spawner,
            timer,
            sequential,
            fail_fast: options.fail_fast || topology.fail_fast,
            env,
            remaining: AtomicUsize::new(topology.steps.len()),
            first_error: OnceLock::new(),
            completion: Completion::default(),
            origin: Instant::now(),
            origin_wall: SystemTime::now(),
            topology,
        });
        if let Some(deadline) = options.deadline {
            X::Spawner::spawn_deadline(&run.spawner, &run, deadline);
        }
        if run.topology.steps.is_empty() {
            run.completion.finish();
        } else if sequential {
            run.schedule(0);
        } else {
            let now = run.now();
            for &root in &run.topology.roots {
                let slot = &run.slots[root];
                slot.ready_at.store(now.0, Ordering::Relaxed);
                slot.state
                    .store(StepState::Pending as u8, Ordering::Release);
                run.schedule(root);
            }
        }
        run
    }

    fn now(&self) -> Stamp {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        Stamp(nanos + 1)
    }

    fn schedule(self: &Arc<Self>, index: usize) {
        let driver = Driver {
            run: self.clone(),
            current: index,
            phase: Phase::Ready,
            inline_at: None,
        };
        // On failure the driver has been dropped unpolled, and its drop failed the step.
        let _ = self.spawner.spawn_driver(driver);
    }

    pub(crate) fn slots(&self) -> &[StepSlot] {
        &self.slots
    }

    pub(crate) fn cells(&self) -> &[Arc<X::Cell>] {
        &self.cells
    }

    pub(crate) fn times(&self, index: usize) -> Option<StepTimes> {
        let slot = self.slots.get(index)?;
        Some(StepTimes {
            ready: load_time(&slot.ready_at),
            started: load_time(&slot.started_at),
            ended: load_time(&slot.ended_at),
        })
    }

    pub(crate) fn origin_wall(&self) -> SystemTime {
        self.origin_wall
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    pub(crate) fn first_error(&self) -> Option<&JobError> {
        self.first_error.get()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.completion.is_done()
    }

    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.completion.poll(cx)
    }

    /// Moves a ready step to `Running`, started at `now`; `false` if it was cancelled meanwhile.
    fn mark_running(&self, index: usize, now: Stamp) -> bool {
        let slot = &self.slots[index];
        if !slot.transition(StepState::Pending, StepState::Running) {
            return false;
        }
        if slot.ready_at.load(Ordering::Relaxed) == NOT_SET {
            slot.ready_at.store(now.0, Ordering::Relaxed);
        }
        slot.started_at.store(now.0, Ordering::Relaxed);
        true
    }

    /// Cancels the run: steps that have not started never will, running steps are dropped at
    /// their next wake-up. `false` if the run had already ended or been cancelled.
    pub(crate) fn cancel(&self, reason: JobError) -> bool {
        if self.is_finished() || !self.env.cancel() {
            return false;
        }
        let _ = self.first_error.set(reason);
        let now = self.now();
        for (index, slot) in self.slots.iter().enumerate() {
            let cancelled = slot.transition(StepState::Waiting, StepState::Cancelled)
                || slot.transition(StepState::Pending, StepState::Cancelled);
            if cancelled {
                let name = &self.topology.steps[index].name;
                let _ = slot
                    .error
                    .set(JobError::cancelled(&self.topology.name, name));
                slot.ended_at.store(now.0, Ordering::Relaxed);
                self.end_one();
            }
        }
        true
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.env.is_cancelled()
    }

    /// The task that cancels the run at its deadline. It holds the run weakly, so a run that
    /// ended in time is not kept alive by it.
    pub(crate) fn deadline_task(
        self: &Arc<Self>,
        deadline: Duration,
    ) -> impl Future<Output = ()> + use<X> {
        let run = Arc::downgrade(self);
        let sleep = self.timer.sleep(deadline);
        async move {
            sleep.await;
            if let Some(run) = run.upgrade() {
                let reason = JobError::deadline_exceeded(&run.topology.name, deadline);
                run.cancel(reason);
            }
        }
    }

    /// Counts one step as ended; the last one wakes the waiters.
    fn end_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.completion.finish();
        }
    }

    /// Records the end of a step that ran, and releases its successors. Returns the successor
    /// the caller should run itself, if any.
    fn complete(
        self: &Arc<Self>,
        index: usize,
        outcome: Result<(), JobError>,
        now: Stamp,
    ) -> Option<usize> {
        let slot = &self.slots[index];
        slot.ended_at.store(now.0, Ordering::Relaxed);
        let mut inline = None;
        match outcome {
            Ok(()) => {
                slot.state
                    .store(StepState::Succeeded as u8, Ordering::Release);
                for &child in &self.topology.steps[index].children {
                    let child_slot = &self.slots[child];
                    if child_slot.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
                        continue;
                    }
                    child_slot.ready_at.store(now.0, Ordering::Relaxed);
                    if self.sequential
                        || !child_slot.transition(StepState::Waiting, StepState::Pending)
                    {
                        continue;
                    }
                    match inline.replace(child) {
                        None => {}
                        Some(previous) => self.schedule(previous),
                    }
                }
            }
            Err(error) if error.is_cancelled() => {
                let _ = slot.error.set(error);
                slot.state
                    .store(StepState::Cancelled as u8, Ordering::Release);
            }
            Err(error) => {
                slot.state.store(StepState::Failed as u8, Ordering::Release);
                self.record_failure(index, error, now);
                if self.fail_fast {
                    let reason = JobError::cancelled_job(&self.topology.name);
                    self.cancel(reason);
                }
            }
        }
        self.end_one();
        inline
    }

    /// Stores a failure and skips every step that depends on the failed one.
    fn record_failure(&self, index: usize, error: JobError, now: Stamp) {
        let _ = self.first_error.set(error.clone());
        let mut stack: Vec<usize> = self.topology.steps[index].children.clone();
        let _ = self.slots[index].error.set(error.clone());
        while let Some(step) = stack.pop() {
            let slot = &self.slots[step];
            if !slot.transition(StepState::Waiting, StepState::Skipped) {
                continue;
            }
            let name = &self.topology.steps[step].name;
            let _ = slot.error.set(JobError::dependency_failed(
                &self.topology.name,
                name,
                &error,
            ));
            slot.ended_at.store(now.0, Ordering::Relaxed);
            stack.extend_from_slice(&self.topology.steps[step].children);
            self.end_one();
        }
    }

    /// The step at `index` cannot run or finish because the executor refused or dropped it.
    fn abandon(&self, index: usize, started: bool) {
        let now = self.now();
        let slot = &self.slots[index];
        let from = if started {
            StepState::Running
        } else if self.sequential {
            StepState::Waiting
        } else {
            StepState::Pending
        };
        let moved = slot.transition(from, StepState::Failed)
            || (started && slot.transition(StepState::Retrying, StepState::Failed));
        if moved {
            slot.ended_at.store(now.0, Ordering::Relaxed);
            let error =
                JobError::spawn_failed(&self.topology.name, &self.topology.steps[index].name);
            self.record_failure(index, error, now);
            self.end_one();
        }
        if self.sequential {
            // Nobody else will run the steps after this one.
            for later in index + 1..self.slots.len() {
                let slot = &self.slots[later];
                if slot.transition(StepState::Waiting, StepState::Failed) {
                    slot.ended_at.store(now.0, Ordering::Relaxed);
                    let name = &self.topology.steps[later].name;
                    let error = JobError::spawn_failed(&self.topology.name, name);
                    self.record_failure(later, error, now);
                    self.end_one();
                }
            }
        }
    }

    /// In sequential mode: the next step, in definition order, that can run.
    fn next_in_sequence(&self, after: usize) -> Option<usize> {
        (after + 1..self.slots.len()).find(|&i| self.slots[i].state() == StepState::Waiting)
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
        if let Some(slot) = self.slots.get(index) {
            slot.attempts.store(attempt, Ordering::Release);
            if attempt > 1 {
                slot.state
                    .store(StepState::Running as u8, Ordering::Release);
            }
        }
    }

    fn attempt_failed(&self, index: usize, attempt: u32, error: String) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let ended = Duration::from_nanos(self.now().0 - 1);
        let mut retried = slot.retried.lock().unwrap_or_else(PoisonError::into_inner);
        // An attempt starts where the previous one's back-off ended; the first with the step.
        let started = match retried.last() {
            Some(previous) => previous.ended,
            None => load_time(&slot.started_at).unwrap_or_default(),
        };
        let record = RetriedAttempt {
            attempt,
            started,
            ended,
            error,
        };
        retried.push(record);
        slot.state
            .store(StepState::Retrying as u8, Ordering::Release);
    }
}

impl<X: Sealed> Drop for Run<X> {
    fn drop(&mut self) {
        // A step's future holds its parents' `Shared` handles. Dropping the cells last-to-first
        // frees each future before the parents it refers to, so a long chain of unfinished steps
        // is freed iteratively rather than by a recursion as deep as the chain.
        let mut cells = std::mem::take(&mut self.cells).into_vec();
        while let Some(cell) = cells.pop() {
            drop(cell);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The step is ready; it has not been polled yet.
    Ready,
    /// The step's future has been polled at least once.
    Running,
    /// The driver has nothing left to do.
    Done,
}

/// The task that runs a ready step, and then, inline, successors of it.
pub struct Driver<X: Sealed> {
    run: Arc<Run<X>>,
    current: usize,
    phase: Phase,
    /// Set when the current step runs inline, right after the previous one: the previous
    /// step's end, which is also this step's start (one clock read for both transitions).
    inline_at: Option<Stamp>,
}

impl<X: Sealed> std::fmt::Debug for Driver<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("step", &self.current)
            .field("phase", &self.phase)
            .finish()
    }
}

impl<X: Sealed> Future for Driver<X> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut budget = INLINE_BUDGET;
        loop {
            let index = this.current;
            if this.phase == Phase::Ready {
                if this.run.sequential
                    && !this.run.slots[index].transition(StepState::Waiting, StepState::Pending)
                {
                    // Skipped while we were on our way.
                    match this.run.next_in_sequence(index) {
                        Some(next) => {
                            this.current = next;
                            continue;
                        }
                        None => {
                            this.phase = Phase::Done;
                            return Poll::Ready(());
                        }
                    }
                }
                let now = this.inline_at.take().unwrap_or_else(|| this.run.now());
                if !this.run.mark_running(index, now) {
                    // Cancelled before it could start: nothing left for this driver.
                    this.phase = Phase::Done;
                    return Poll::Ready(());
                }
                this.phase = Phase::Running;
            }
            let run = &this.run;
            // The step's own code runs under its own `catch_unwind`; this one contains a panic
            // from what surrounds it (the timer, a retry policy, an interceptor, a destructor),
            // which fails the step instead of unwinding into the executor.
            let poll = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if run.topology.steps[index].has_policy {
                    let hooks: Arc<dyn RunHooks> = run.clone();
                    context::enter(hooks, index, || run.cells[index].poll_step(cx))
                } else {
                    run.cells[index].poll_step(cx)
                }
            }));
            let outcome = match poll {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(outcome)) => outcome,
                Err(panic) => Err(JobError::panicked(
                    &run.topology.name,
                    &run.topology.steps[index].name,
                    crate::builder::panic_message(panic),
                )),
            };
            let now = this.run.now();
            let inline = this.run.complete(index, outcome, now);
            let next = if this.run.sequential {
                this.run.next_in_sequence(index)
            } else {
                inline
            };
            let Some(next) = next else {
                this.phase = Phase::Done;
                return Poll::Ready(());
            };
            this.current = next;
            this.phase = Phase::Ready;
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.inline_at = Some(now);
        }
    }
}

impl<X: Sealed> Drop for Driver<X> {
    fn drop(&mut self) {
        match self.phase {
            Phase::Done => {}
            Phase::Ready => self.run.abandon(self.current, false),
            Phase::Running => self.run.abandon(self.current, true),
        }
    }
}
