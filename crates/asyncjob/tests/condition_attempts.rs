//! A step its condition ended made no attempt: its function was never called, and its
//! snapshot, its error and its event log agree on that.

use asyncjob::{EventKind, FuturesExecutor, JobBuilder, JobErrorKind, JobOptions, StepState};
use futures::executor::LocalPool;

#[test]
fn a_panicking_condition_fails_its_step_without_an_attempt() {
    let mut job = JobBuilder::<()>::new("conditions");
    let panics = job
        .step("panics")
        .when(|()| panic!("the condition broke"))
        .run(|()| async { Ok::<u8, String>(1) })
        .expect("a step");
    let fails = job
        .step("fails")
        .when(|()| false)
        .run(|()| async { Ok::<u8, String>(2) })
        .expect("a step");
    let job = job.seal();
    let mut pool = LocalPool::new();
    let run = job
        .on(FuturesExecutor::new(pool.spawner()))
        .options(JobOptions::new().record_events())
        .start_local(());
    let error = pool
        .run_until(run.wait())
        .expect_err("the panic fails the job");
    assert_eq!(error.kind(), JobErrorKind::StepPanicked);

    let panicked = run.step(&panics).expect("a step of the run");
    assert_eq!(panicked.state, StepState::Failed);
    assert_eq!(panicked.attempts, 0, "its function was never called");
    assert!(panicked.started_at.is_some(), "its driver took it");
    assert_eq!(panicked.error.as_ref().map(|e| e.attempts()), Some(0));
    let omitted = run.step(&fails).expect("a step of the run");
    assert_eq!((omitted.state, omitted.attempts), (StepState::Omitted, 0));

    let events: Vec<_> =
        futures::executor::block_on(futures::StreamExt::collect(run.events().expect("recorded")));
    let runs = |name: &str| {
        events
            .iter()
            .filter(|e| e.step.as_ref().is_some_and(|s| &*s.name == name))
            .filter(|e| matches!(e.kind, EventKind::Running { .. }))
            .count()
    };
    assert_eq!((runs("panics"), runs("fails")), (1, 1), "each started once");
}
