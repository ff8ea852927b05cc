//! What a step's future can ask of the run that drives it — a timer, and somewhere to record
//! its attempts — without holding on to the run.
//!
//! A step future lives inside a cell that the run owns, so it cannot own the run (that would
//! be a cycle), and a `Send` step may run on a local executor whose timer is not `Send`. So the
//! driver lends the run to the step for the duration of each poll, through a thread-local, and
//! only for steps that need it (a retry policy, a timeout or interceptors: decided once, when
//! the definition is sealed): plain steps pay nothing.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use crate::env::{RunContext, RunEnv};
use crate::error::JobError;
use crate::id::JobId;
use crate::limit::{AcquireAll, Permit};
use crate::rt::BoxFuture;
use crate::state::events::EventKind;
use crate::state::items::ItemTable;

/// What a run offers the step it is polling.
pub(crate) trait RunHooks {
    /// A future that completes after `duration`, on the run's timer.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// Attempt `attempt` of step `index` is starting.
    fn attempt_started(&self, index: usize, attempt: u32);
    /// The id of the run.
    fn job_id(&self) -> JobId;
    /// Attempt `attempt` of step `index` failed with `error` and will be retried after
    /// `backoff`.
    fn attempt_failed(&self, index: usize, attempt: u32, error: JobError, backoff: Duration);
    /// The permits step `index` takes before each attempt, if it needs any.
    fn acquire(&self, index: usize) -> Option<AcquireAll>;
    /// Step `index` waits for a permit of the limit at `position` of its limits, before a
    /// retry.
    fn awaiting_permit(&self, index: usize, position: usize);
    /// The priority the run gives step `index`, if it overrides the definition's.
    fn priority(&self, index: usize) -> Option<i32>;
    /// Step `index` holds `permits` for its next attempt (given back at its end or back-off).
    fn hold(&self, index: usize, permits: Vec<Permit>);
    /// What the step contexts of the run share (asked once per run).
    fn run_context(&self) -> RunContext;
    /// `true` if `env` is this run's.
    fn is_run(&self, env: &RunEnv) -> bool;
    /// The error of step `index` if it has ended without succeeding (for a step that takes it
    /// with [`allow_failure`](crate::allow_failure)).
    fn error_of(&self, index: usize) -> Option<JobError>;
    /// Step `index` failed with `error` and its fallback made its output: it will end
    /// `Recovered`.
    fn recovered(&self, index: usize, error: JobError);
    /// The map step of `table` has read its items.
    fn register_items(&self, table: Arc<ItemTable>);
    /// Item `position` of the map step of `table` enters the state of `kind`, now.
    fn item(&self, table: &ItemTable, position: usize, kind: EventKind);
}

thread_local! {
    static CURRENT: RefCell<Option<(Arc<dyn RunHooks>, usize)>> = const { RefCell::new(None) };
}

/// Lends `hooks` to the step `index` while `poll` runs.
pub(crate) fn enter<R>(hooks: Arc<dyn RunHooks>, index: usize, poll: impl FnOnce() -> R) -> R {
    struct Restore(Option<(Arc<dyn RunHooks>, usize)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|current| current.borrow_mut().replace((hooks, index)));
    let _restore = Restore(previous);
    poll()
}

fn with<R>(f: impl FnOnce(&dyn RunHooks, usize) -> R) -> Option<R> {
    CURRENT.with(|current| {
        let current = current.borrow();
        current.as_ref().map(|(hooks, index)| f(&**hooks, *index))
    })
}

/// A sleep on the current run's timer; `None` outside a driver's poll (which asyncjob never
/// does to a step with a policy).
pub(crate) fn sleep(duration: Duration) -> Option<BoxFuture<'static, ()>> {
    with(|hooks, _| hooks.sleep(duration))
}

/// Records that attempt `attempt` of the current step starts; `false` outside a driver's poll
/// (which asyncjob never does to a step that needs its context: the step then fails).
pub(crate) fn attempt_started(attempt: u32) -> bool {
    with(|hooks, index| hooks.attempt_started(index, attempt)).is_some()
}

pub(crate) fn attempt_failed(attempt: u32, error: JobError, backoff: Duration) {
    with(|hooks, index| hooks.attempt_failed(index, attempt, error, backoff));
}

/// The id of the current run.
pub(crate) fn job_id() -> Option<JobId> {
    with(|hooks, _| hooks.job_id())
}

/// What the step contexts of the current run share; `None` outside a driver's poll.
pub(crate) fn run_context() -> Option<RunContext> {
    with(|hooks, _| hooks.run_context())
}

/// A sleep on the timer of the run of `env`, if a driver of that run is polling on this thread
/// (how the context of a local run, whose timer need not be `Send`, sleeps).
pub(crate) fn sleep_in(env: &RunEnv, duration: Duration) -> Option<BoxFuture<'static, ()>> {
    with(|hooks, _| hooks.is_run(env).then(|| hooks.sleep(duration))).flatten()
}

/// The error of step `index` of the current run, if it ended without succeeding; `None` outside
/// a driver's poll.
pub(crate) fn error_of(index: usize) -> Option<JobError> {
    with(|hooks, _| hooks.error_of(index)).flatten()
}

/// Records that the current step recovered from `error` with its fallback; `false` outside a
/// driver's poll.
pub(crate) fn recovered(error: JobError) -> bool {
    with(|hooks, index| hooks.recovered(index, error)).is_some()
}

/// Registers the item table of the current map step; `false` outside a driver's poll.
pub(crate) fn register_items(table: Arc<ItemTable>) -> bool {
    with(|hooks, _| hooks.register_items(table)).is_some()
}

/// Records a transition of item `position` of the current map step; `false` outside a
/// driver's poll.
pub(crate) fn item(table: &ItemTable, position: usize, kind: EventKind) -> bool {
    with(|hooks, _| hooks.item(table, position, kind)).is_some()
}

/// The permits the current step takes before each attempt; `None` if it needs none (or
/// outside a driver's poll).
pub(crate) fn acquire() -> Option<AcquireAll> {
    with(|hooks, index| hooks.acquire(index)).flatten()
}

/// Records that the current step waits for the limit at `position` of its limits.
pub(crate) fn awaiting_permit(position: usize) {
    with(|hooks, index| hooks.awaiting_permit(index, position));
}

/// The current step holds `permits` for its next attempt.
pub(crate) fn hold(permits: Vec<Permit>) {
    with(|hooks, index| hooks.hold(index, permits));
}

/// The priority the current run gives the current step, if it overrides the definition's.
pub(crate) fn priority() -> Option<i32> {
    with(|hooks, index| hooks.priority(index)).flatten()
}
