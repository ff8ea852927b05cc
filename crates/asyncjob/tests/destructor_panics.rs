//! Panics in destructors never reach the executor (issue 12, items 6 and 7), on a `LocalPool`
//! driven by the test thread: there a panic that escapes a task comes out of `run` into the
//! test, where the executors of the behaviour suite would swallow it or lose a worker thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::retry::AttemptFailure;
use asyncjob::{BoxFuture, FuturesExecutor, JobBuilder, JobErrorKind, StepState, Timer};
use futures::executor::LocalPool;

/// A timer whose sleeps complete at once (nothing here sleeps).
#[derive(Debug, Clone, Copy)]
struct NoSleep;

impl Timer for NoSleep {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// An output whose original panics when dropped; clones do not.
#[derive(Debug)]
struct DropBomb {
    drops: Arc<AtomicUsize>,
    armed: bool,
}

impl Clone for DropBomb {
    fn clone(&self) -> Self {
        DropBomb {
            drops: self.drops.clone(),
            armed: false,
        }
    }
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if self.armed {
            self.drops.fetch_add(1, Ordering::SeqCst);
            if !std::thread::panicking() {
                panic!("the output's destructor panics");
            }
        }
    }
}

/// The caller lets go of its handle first, so the step's task is the run's last owner: the
/// output's destructor runs, and panics, in the executor's task, and the panic stays there.
#[test]
fn an_output_destructor_panicking_in_the_last_task_does_not_reach_the_executor() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut job = JobBuilder::<Arc<AtomicUsize>>::new_local("drop bomb");
    job.step("bomb")
        .run(|drops| async move { Ok::<_, String>(DropBomb { drops, armed: true }) })
        .expect("a well-formed step");
    let job = job.seal();
    let mut pool = LocalPool::new();
    let instance = job
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(NoSleep)
        .start_local(drops.clone());
    drop(instance);
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| pool.run()));
    assert!(
        ran.is_ok(),
        "the output destructor's panic escaped the job's task into the executor"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the output was dropped");
}

/// A panic payload that panics when dropped.
#[derive(Debug)]
struct PayloadBomb;

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the panic payload's destructor panics");
        }
    }
}

/// A retry policy panics with a payload whose destructor panics: the step fails as panicked,
/// and nothing comes out of the executor.
#[test]
fn a_panic_payload_whose_destructor_panics_does_not_reach_the_executor() {
    let mut job = JobBuilder::<()>::new_local("payload bomb");
    job.step("policy panics")
        .retry(|_: &AttemptFailure<'_>, _: u32| -> Option<Duration> {
            std::panic::panic_any(PayloadBomb)
        })
        .run(|()| async { Err::<(), _>("fails once") })
        .expect("a well-formed step");
    let job = job.seal();
    let mut pool = LocalPool::new();
    let instance = job
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(NoSleep)
        .start_local(());
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| pool.run_until(instance.wait())));
    let Ok(outcome) = outcome else {
        panic!("the payload destructor's panic escaped the job's task into the executor");
    };
    assert_eq!(
        outcome.map_err(|e| e.kind()),
        Err(JobErrorKind::StepPanicked)
    );
    assert_eq!(
        instance.step_by_name("policy panics").map(|s| s.state),
        Some(StepState::Failed)
    );
}
