//! A step's panic keeps its payload for the caller (`JobError::take_panic_payload`, so that it
//! can be resumed), and a payload whose own destructor panics is contained wherever it is
//! dropped (issue 12, item 7).

// The steps panic before they return.
#![allow(unreachable_code)]

use std::time::Duration;

use asyncjob::{BoxFuture, FuturesExecutor, JobBuilder, JobErrorKind, StepState, Timer};
use futures::executor::LocalPool;

#[derive(Clone)]
struct NoSleep;

impl Timer for NoSleep {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[derive(Debug, PartialEq)]
struct Payload(u32);

/// A panic payload whose destructor panics too.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's destructor panics");
    }
}

#[test]
fn the_payload_of_a_step_panic_can_be_taken_once_and_resumed() {
    let mut job = JobBuilder::<()>::new("payload");
    let boom = job
        .step("boom")
        .run(|()| async { Ok::<u8, String>(std::panic::panic_any(Payload(7))) })
        .expect("a step");
    job.step("after")
        .after(&boom)
        .run(|(), n: u8| async move { Ok::<_, String>(n) })
        .expect("a step");
    let mut pool = LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(NoSleep)
        .start_local(());
    let error = pool.run_until(instance.wait()).expect_err("it panicked");
    assert_eq!(error.kind(), JobErrorKind::StepPanicked);
    assert_eq!(error.step(), Some("boom"));
    assert_eq!(
        error.panic_message(),
        Some("a panic with a non-string payload")
    );
    let clone = error.clone();
    let payload = clone.take_panic_payload().expect("the payload");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(7)));
    assert!(
        error.take_panic_payload().is_none(),
        "taken once, by any clone"
    );
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        std::panic::resume_unwind(payload)
    }));
    let resumed = resumed.expect_err("resumed");
    assert_eq!(resumed.downcast_ref::<Payload>(), Some(&Payload(7)));
}

#[test]
fn a_payload_whose_destructor_panics_is_contained() {
    let mut job = JobBuilder::<()>::new("bomb");
    job.step("bomb")
        .run(|()| async { Ok::<(), String>(std::panic::panic_any(Bomb)) })
        .expect("a step");
    job.step("fine")
        .run(|()| async { Ok::<_, String>(()) })
        .expect("a step");
    let job = job.seal();
    for _ in 0..3 {
        let mut pool = LocalPool::new();
        let instance = job
            .on(FuturesExecutor::new(pool.spawner()))
            .timer(NoSleep)
            .start_local(());
        // The pool would re-raise a panic that escaped a task; run_until returns instead.
        let error = pool.run_until(instance.wait()).expect_err("it panicked");
        assert_eq!(error.kind(), JobErrorKind::StepPanicked);
        assert_eq!(error.step(), Some("bomb"));
        assert_eq!(
            instance.step_by_name("fine").map(|s| s.state),
            Some(StepState::Succeeded)
        );
        // Dropping every error and the instance drops the payload: quietly.
        drop(error);
        drop(instance);
        pool.run();
    }
}
