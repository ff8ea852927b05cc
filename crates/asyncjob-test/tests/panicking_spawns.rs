//! Issue 12, item 2 (and the engine's rule 10): a `spawn()` that panics counts as a refused
//! spawn. The step it was for fails with `SpawnFailed`, its dependents are skipped, the rest of
//! the job runs, `wait()` returns, and no panic reaches the caller of `start` or the executor.
//!
//! The executor is [`PanicInSpawn`] over a `futures` thread pool of two threads. A hang of
//! `wait()` is turned into a failure by a bounded wait on a [`ThreadTimer`] (it measures
//! nothing), and the [`Watchdog`] ends the process if even that does not return.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use asyncjob::{
    FuturesExecutor, JobBuilder, JobDefinition, JobError, JobErrorKind, JobInstance, JobOptions,
    StepState, Timer,
};
use asyncjob_test::{PanicInSpawn, ThreadTimer, Watchdog};
use futures::executor::ThreadPool;
use futures::future::{Either, select};

type Pool = FuturesExecutor<ThreadPool>;

const HANG: Duration = Duration::from_secs(20);

fn pool() -> Pool {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    FuturesExecutor::new(pool)
}

/// A root with three children (`a`, `b`, `c`) and a grandchild under `a`, so that the root's
/// end releases three steps at once (the engine spawns some of them).
fn fan_out() -> JobDefinition<()> {
    let mut job = JobBuilder::<()>::new("fan out");
    let root = job
        .step("root")
        .run(|()| async { Ok::<_, String>(1u32) })
        .expect("a well-formed step");
    let mut children = Vec::new();
    for name in ["a", "b", "c"] {
        let child = job
            .step(name)
            .after(&root)
            .run(|(), n: u32| async move { Ok::<_, String>(n) })
            .expect("a well-formed step");
        children.push(child);
    }
    job.step("a's child")
        .after(&children[0])
        .run(|(), n: u32| async move { Ok::<_, String>(n) })
        .expect("a well-formed step");
    job.seal()
}

/// `wait()`, or `None` if it has not returned after [`HANG`].
fn wait_bounded(instance: &JobInstance) -> Option<Result<(), JobError>> {
    let timeout = ThreadTimer.sleep(HANG);
    match futures::executor::block_on(select(Box::pin(instance.wait()), timeout)) {
        Either::Left((outcome, _)) => Some(outcome),
        Either::Right(_) => None,
    }
}

/// Checks that exactly `failed` steps failed, all with `SpawnFailed`, that their dependents
/// were skipped and that every other step succeeded; returns the names of the failed steps.
fn check_outcome(instance: &JobInstance, outcome: &Result<(), JobError>) -> Vec<String> {
    let steps = instance.steps();
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| s.state == StepState::Failed)
        .collect();
    for step in &failed {
        assert_eq!(
            step.error.as_ref().map(JobError::kind),
            Some(JobErrorKind::SpawnFailed),
            "{} failed for its refused spawn",
            step.name
        );
    }
    for step in &steps {
        let after_failed = step
            .data_dependencies
            .iter()
            .any(|&d| matches!(steps[d].state, StepState::Failed | StepState::Skipped));
        let expected = if step.state == StepState::Failed {
            StepState::Failed
        } else if after_failed {
            StepState::Skipped
        } else {
            StepState::Succeeded
        };
        assert_eq!(step.state, expected, "step {}", step.name);
    }
    match failed.first() {
        Some(first) => assert!(
            outcome.as_ref().is_err_and(
                |e| e.kind() == JobErrorKind::SpawnFailed && e.step() == Some(&*first.name)
            ),
            "wait() returned {outcome:?}"
        ),
        None => assert!(outcome.is_ok(), "wait() returned {outcome:?}"),
    }
    failed.iter().map(|s| s.name.to_string()).collect()
}

/// The executor still runs a job (its threads survived).
fn survives(executor: &PanicInSpawn<Pool>) {
    let mut job = JobBuilder::<()>::new("afterwards");
    job.step("fine")
        .run(|()| async { Ok::<_, String>(()) })
        .expect("a well-formed step");
    let instance = job
        .seal()
        .on(executor.inner().clone())
        .options(JobOptions::new())
        .start(());
    assert!(
        matches!(wait_bounded(&instance), Some(Ok(()))),
        "the executor still runs jobs"
    );
}

#[test]
fn a_panicking_spawn_while_a_step_releases_its_children_fails_that_child_only() {
    let _watchdog = Watchdog::new("panicking spawn of a child", Duration::from_secs(120));
    for nth in [2, 3, 4] {
        let executor = PanicInSpawn::new(pool(), nth);
        let instance = fan_out()
            .on(executor.clone())
            .options(JobOptions::new())
            .start(());
        let outcome = wait_bounded(&instance).unwrap_or_else(|| {
            let states: Vec<_> = instance
                .steps()
                .iter()
                .map(|s| format!("{}={}", s.name, s.state))
                .collect();
            panic!(
                "spawn #{nth} panicked ({} panics in {} spawns): wait() has not returned after \
                 {HANG:?}; states: {}",
                executor.panicked(),
                executor.spawns(),
                states.join(" ")
            )
        });
        let failed = check_outcome(&instance, &outcome);
        if executor.panicked() == 1 {
            assert_eq!(failed.len(), 1, "one step per panicking spawn: {failed:?}");
        } else {
            assert!(
                failed.is_empty(),
                "no spawn panicked, no step failed: {failed:?}"
            );
        }
        survives(&executor);
    }
}

#[test]
fn spawns_that_all_panic_fail_their_steps_and_wait_returns() {
    let _watchdog = Watchdog::new("every spawn panics", Duration::from_secs(120));
    // From the first spawn on (in `start`, for the root) and from the second on (children).
    for nth in [1, 2] {
        let executor = PanicInSpawn::new(pool(), nth).and_every_later();
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
            fan_out()
                .on(executor.clone())
                .options(JobOptions::new())
                .start(())
        }));
        let Ok(instance) = started else {
            panic!("a panic in spawn() #{nth} reached the caller of start");
        };
        let outcome = wait_bounded(&instance)
            .unwrap_or_else(|| panic!("spawns panicking from #{nth} on: wait() hung"));
        let failed = check_outcome(&instance, &outcome);
        assert!(!failed.is_empty(), "some spawn panicked");
        survives(&executor);
    }
}
