//! Jobs from the core crate whose steps are not `Send`, run on `LocalRuntime`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncjob::{BoxError, JobBuilder, JobWithResult, Local};
use asyncjob_local::LocalRuntime;

/// `n` → a `Vec` built in an `Rc<RefCell<_>>` held across an `.await` → its length.
fn not_send_steps() -> JobWithResult<u32, usize, Local> {
    let mut job = JobBuilder::<u32>::new_local("not-send");
    let collect = job
        .step("collect")
        .run(|n| async move {
            let cell = Rc::new(RefCell::new(Vec::new()));
            for i in 0..n {
                cell.borrow_mut().push(i);
                async_io::Timer::after(Duration::from_millis(1)).await;
            }
            let collected = cell.borrow().clone();
            Ok::<_, BoxError>(collected)
        })
        .expect("a well-formed step");
    let len = job
        .step("len")
        .after(&collect)
        .run(|_, v: Vec<u32>| async move {
            let shared = Rc::new(v);
            async_io::Timer::after(Duration::from_millis(1)).await;
            Ok::<_, BoxError>(shared.len())
        })
        .expect("a well-formed step");
    job.seal().with_result(&len).expect("a step of this job")
}

#[test]
fn job_of_not_send_steps_runs() {
    let runtime = LocalRuntime::new();
    let instance = not_send_steps().on(runtime.handle()).start_local(3);
    let result = runtime.block_on(instance.result());
    assert_eq!(result.expect("the job succeeds"), 3);
}

#[test]
fn runtime_dropped_mid_run_ends_the_job() {
    let runtime = LocalRuntime::new();
    let instance = not_send_steps().on(runtime.handle()).start_local(1000);
    while runtime.try_tick() {}
    drop(runtime);
    let result = async_io::block_on(instance.result());
    assert!(
        result
            .expect_err("the runtime was dropped")
            .root_cause()
            .is_spawn_failed()
    );
}

#[test]
fn job_started_on_a_dropped_runtime_fails_to_spawn() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    drop(runtime);
    let result = async_io::block_on(not_send_steps().on(spawner).start_local(1).result());
    assert!(
        result
            .expect_err("the runtime was dropped")
            .root_cause()
            .is_spawn_failed()
    );
}
