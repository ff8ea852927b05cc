//! A timer that fails — one whose sleeps never complete (it was "dropped"), one whose sleeps
//! panic (as a bare `tokio::time::Sleep` does once its runtime's time driver has shut down) —
//! under each policy that sleeps: a retry back-off, a step timeout and a job deadline.
//!
//! Everything runs on a `LocalPool` driven by the test thread, the strictest executor: a panic
//! in a task comes out of `run_until` into the test. Nothing here waits on the wall clock.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{
    BoxFuture, FuturesExecutor, JobBuilder, JobDefinition, JobErrorKind, JobInstance, JobOptions,
    Local, StepState, Timer,
};
use futures::executor::LocalPool;

/// The message of Tokio's panic when a timer is polled after its runtime shut down.
const TOKIO_SHUTDOWN: &str = "A Tokio 1.x context was found, but it is being shutdown.";

/// A timer that has been dropped: its sleeps never complete.
#[derive(Debug, Clone, Copy)]
struct Stopped;

impl Timer for Stopped {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

/// A timer whose sleeps panic when first polled.
#[derive(Debug, Clone, Copy)]
struct Panicking;

impl Timer for Panicking {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async { panic!("{TOKIO_SHUTDOWN}") })
    }
}

/// Counts live step futures.
#[derive(Debug, Default)]
struct Live(AtomicUsize);

struct Guard(Arc<Live>);

impl Guard {
    fn new(live: &Arc<Live>) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        Guard(live.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// "step" fails and is retried after a back-off.
    BackOff,
    /// "step" never ends; its timeout should end it.
    Timeout,
    /// "step" never ends; the job's deadline should end it.
    Deadline,
}

const SHORT: Duration = Duration::from_millis(10);

/// `step` (under `policy`) → `after`.
fn job(policy: Policy) -> JobDefinition<Arc<Live>> {
    let mut job = JobBuilder::<Arc<Live>>::new("timer faults");
    let step = job.step("step");
    let step = match policy {
        Policy::BackOff => step
            .retry(Retry::fixed(3, SHORT))
            .run(|live: Arc<Live>| async move {
                let _guard = Guard::new(&live);
                Err::<(), _>("refused")
            }),
        Policy::Timeout => step.timeout(SHORT).run(|live: Arc<Live>| async move {
            let _guard = Guard::new(&live);
            std::future::pending::<Result<(), String>>().await
        }),
        Policy::Deadline => step.run(|live: Arc<Live>| async move {
            let _guard = Guard::new(&live);
            std::future::pending::<Result<(), String>>().await
        }),
    }
    .expect("a well-formed step");
    job.step("after")
        .wait_for(&step)
        .run(|_| async { Ok::<_, String>(()) })
        .expect("a well-formed step");
    job.seal()
}

fn start<T: Timer + Clone + 'static>(
    policy: Policy,
    timer: T,
) -> (LocalPool, JobInstance<Local>, Arc<Live>) {
    let pool = LocalPool::new();
    let options = match policy {
        Policy::Deadline => JobOptions::new().deadline(SHORT),
        _ => JobOptions::new(),
    };
    let live = Arc::new(Live::default());
    let instance = job(policy)
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(timer)
        .options(options)
        .start_local(live.clone());
    (pool, instance, live)
}

/// Runs every task that can make progress; fails the test if a panic comes out of the executor.
fn run_until_stalled(pool: &mut LocalPool, what: &str) {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| pool.run_until_stalled()));
    assert!(outcome.is_ok(), "{what}: a panic escaped into the caller");
}

/// A timer whose sleeps never complete: the policy never fires, so the job does not end on its
/// own, but it can be cancelled: `wait()` ends, the step's future is dropped.
#[test]
fn a_stopped_timer_leaves_the_job_cancellable() {
    for policy in [Policy::BackOff, Policy::Timeout, Policy::Deadline] {
        let (mut pool, instance, live) = start(policy, Stopped);
        run_until_stalled(&mut pool, &format!("{policy:?}"));
        assert!(!instance.is_finished(), "{policy:?}: the timer never fires");
        let step = instance.step_by_name("step").expect("exists");
        let expected = match policy {
            Policy::BackOff => StepState::Retrying,
            Policy::Timeout | Policy::Deadline => StepState::Running,
        };
        assert_eq!(step.state, expected, "{policy:?}");
        assert_eq!(
            live.0.load(Ordering::SeqCst),
            usize::from(policy != Policy::BackOff)
        );

        assert!(instance.cancel(), "{policy:?}");
        let error = pool.run_until(instance.wait()).expect_err("cancelled");
        assert_eq!(
            (error.kind(), error.step()),
            (JobErrorKind::Cancelled, None)
        );
        assert_eq!(live.0.load(Ordering::SeqCst), 0, "{policy:?}: dropped");
        let states: Vec<_> = instance.steps().iter().map(|s| s.state).collect();
        assert_eq!(states, [StepState::Cancelled, StepState::Cancelled]);
        if policy == Policy::BackOff {
            assert_eq!(instance.steps()[0].retried.len(), 1);
        }
    }
}

/// A timer whose sleeps panic, under a retry back-off or a step timeout: the panic does not
/// escape into the caller, the step fails with an error naming it, its dependent is skipped, and
/// `wait()` ends.
#[test]
fn a_panicking_timer_fails_the_step_without_a_panic_escaping() {
    for policy in [Policy::BackOff, Policy::Timeout] {
        let (mut pool, instance, live) = start(policy, Panicking);
        run_until_stalled(&mut pool, &format!("{policy:?}"));
        assert!(instance.is_finished(), "{policy:?}: the job ended");
        let error = pool
            .run_until(instance.wait())
            .expect_err("the step failed");
        assert_eq!(error.step(), Some("step"), "{policy:?}: {error}");
        assert_eq!(live.0.load(Ordering::SeqCst), 0, "{policy:?}: dropped");
        let step = instance.step_by_name("step").expect("exists");
        assert_eq!(step.state, StepState::Failed, "{policy:?}");
        let after = instance.step_by_name("after").expect("exists");
        assert_eq!(after.state, StepState::Skipped, "{policy:?}");
        // Everything can still be looked at.
        assert!(instance.to_dot().contains("failed"));
        assert!(instance.to_mermaid_gantt().contains("section step"));
        assert!(instance.to_chrome_trace().contains("\"step\""));
    }
}

/// What the step's error should say when its timer panics: that the timer failed, with the
/// panic's message — not "the executor is shut down" (what a dropped task means).
#[test]
fn a_panicking_timer_is_reported_as_such() {
    for policy in [Policy::BackOff, Policy::Timeout] {
        let (mut pool, instance, _) = start(policy, Panicking);
        run_until_stalled(&mut pool, &format!("{policy:?}"));
        let error = pool
            .run_until(instance.wait())
            .expect_err("the step failed");
        assert_eq!(
            (error.kind(), error.step()),
            (JobErrorKind::StepPanicked, Some("step")),
            "{policy:?}: {error}"
        );
        assert!(
            error.to_string().contains(TOKIO_SHUTDOWN),
            "{policy:?}: {error}"
        );
    }
}

/// A deadline whose timer panics: the panic does not escape, and the job does not run on
/// unbounded: it ends at once with a job-level error that says the deadline's timer failed.
#[test]
fn a_panicking_deadline_timer_ends_the_job() {
    let (mut pool, instance, live) = start(Policy::Deadline, Panicking);
    run_until_stalled(&mut pool, "Deadline");
    assert!(instance.is_finished(), "the job ended");
    let error = pool.run_until(instance.wait()).expect_err("cancelled");
    assert_eq!(
        (error.kind(), error.step()),
        (JobErrorKind::DeadlineTimerFailed, None)
    );
    assert_eq!(
        error.to_string(),
        format!("job \"timer faults\": the timer of its deadline of 10ms failed: {TOKIO_SHUTDOWN}")
    );
    assert_eq!(live.0.load(Ordering::SeqCst), 0, "dropped");
    let states: Vec<_> = instance.steps().iter().map(|s| s.state).collect();
    assert_eq!(states, [StepState::Cancelled, StepState::Cancelled]);
}
