//! An executor that refuses work, or drops it, fails the steps concerned with a clear error;
//! the job never hangs and nothing panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{
    BoxFuture, Executor, JobBuilder, JobErrorKind, JobOptions, SpawnError, StepState, Timer,
};

type Res<T> = Result<T, std::convert::Infallible>;

/// Runs the first `limit` futures on a thread pool, then refuses.
#[derive(Clone)]
struct Refusing {
    pool: futures::executor::ThreadPool,
    limit: usize,
    spawned: Arc<AtomicUsize>,
}

impl Executor for Refusing {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        if self.spawned.fetch_add(1, Ordering::SeqCst) >= self.limit {
            return Err(SpawnError::shutdown());
        }
        futures::task::SpawnExt::spawn(&self.pool, future).map_err(SpawnError::from)
    }
}

impl Timer for Refusing {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Accepts every future and drops it unpolled, like a runtime shutting down.
#[derive(Clone, Copy)]
struct Dropping;

impl Executor for Dropping {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        drop(future);
        Ok(())
    }
}

impl Timer for Dropping {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

fn refusing(limit: usize) -> Refusing {
    Refusing {
        pool: futures::executor::ThreadPool::builder()
            .pool_size(1)
            .create()
            .expect("a pool"),
        limit,
        spawned: Arc::new(AtomicUsize::new(0)),
    }
}

/// root → {a, b}: `a` runs inline after root, `b` needs a spawn, which is refused.
#[test]
fn refused_spawn_fails_the_step_and_skips_its_dependents() {
    let mut job = JobBuilder::<()>::new("refused");
    let root = job.step("root").run(|()| async { Res::Ok(1) }).expect("ok");
    let a = job
        .step("a")
        .after(&root)
        .run(|(), n| async move { Res::Ok(n) })
        .expect("ok");
    let b = job
        .step("b")
        .after(&root)
        .run(|(), n| async move { Res::Ok(n) })
        .expect("ok");
    job.step("after b")
        .after(&b)
        .run(|(), n| async move { Res::Ok(n) })
        .expect("ok");
    let job = job.seal();
    let instance = job.on(refusing(1)).start(());
    let error = futures::executor::block_on(instance.wait()).expect_err("a spawn was refused");
    assert_eq!(error.kind(), JobErrorKind::SpawnFailed);
    assert!(error.is_spawn_failed());
    // `a` and `b` become ready together: one runs inline, the other needs the refused spawn.
    let failed = if instance.output(&a).is_some() {
        "b"
    } else {
        "a"
    };
    assert_eq!(error.step(), Some(failed));
    assert_eq!(
        error.to_string(),
        format!("step {failed:?} could not run: the executor is shut down")
    );
    assert_eq!(
        instance.step_by_name(failed).map(|s| s.state),
        Some(StepState::Failed)
    );
    if failed == "b" {
        let skipped = instance.step_by_name("after b").expect("exists");
        assert_eq!(skipped.state, StepState::Skipped);
        assert_eq!(
            skipped
                .error
                .map(|e| e.root_cause().step().unwrap_or_default().to_owned())
                .as_deref(),
            Some("b")
        );
    }
    let _ = b;
}

#[test]
fn refused_first_spawn_fails_every_root() {
    let mut job = JobBuilder::<()>::new("refused at once");
    let a = job.step("a").run(|()| async { Res::Ok(1) }).expect("ok");
    job.step("b").run(|()| async { Res::Ok(2) }).expect("ok");
    job.step("c")
        .after(&a)
        .run(|(), n| async move { Res::Ok(n) })
        .expect("ok");
    let instance = job.seal().on(refusing(0)).start(());
    assert!(instance.is_finished(), "nothing is left to run");
    let error = futures::executor::block_on(instance.wait()).expect_err("refused");
    assert_eq!(error.kind(), JobErrorKind::SpawnFailed);
    let states: Vec<_> = instance.steps().into_iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [StepState::Failed, StepState::Failed, StepState::Skipped]
    );
}

#[test]
fn dropped_tasks_fail_their_steps() {
    let mut job = JobBuilder::<()>::new("dropped");
    let a = job.step("a").run(|()| async { Res::Ok(1) }).expect("ok");
    job.step("b")
        .after(&a)
        .run(|(), n| async move { Res::Ok(n) })
        .expect("ok");
    let job = job.seal();
    for options in [JobOptions::new(), JobOptions::new().sequential()] {
        let instance = job.on(Dropping).options(options).start(());
        let error = futures::executor::block_on(instance.wait()).expect_err("dropped");
        assert_eq!(
            (error.kind(), error.step()),
            (JobErrorKind::SpawnFailed, Some("a"))
        );
        let b = instance.step_by_name("b").expect("exists");
        assert!(
            matches!(b.state, StepState::Skipped | StepState::Failed),
            "{:?}",
            b.state
        );
    }
}

#[test]
fn sequential_run_with_a_dropped_driver_fails_every_remaining_step() {
    let mut job = JobBuilder::<()>::new("sequential dropped");
    job.step("a").run(|()| async { Res::Ok(1) }).expect("ok");
    job.step("b").run(|()| async { Res::Ok(2) }).expect("ok");
    let instance = job
        .seal()
        .on(Dropping)
        .options(JobOptions::new().sequential())
        .start(());
    futures::executor::block_on(instance.wait()).expect_err("dropped");
    for step in instance.steps() {
        assert_eq!(step.state, StepState::Failed, "{}", step.name);
        assert!(step.error.is_some_and(|e| e.is_spawn_failed()));
    }
}
