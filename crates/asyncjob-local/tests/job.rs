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

/// A local definition's step functions may capture `!Send` values: here one
/// `Rc<RefCell<Vec<_>>>` log, shared by a root step (`run`), a dependent taking it through a
/// clone (`try_run`), a map over items and a step with the context (`run_with_context`), none
/// of which receive it through the job input. The definition lives in a `thread_local!`.
#[test]
fn local_step_functions_capture_rc() {
    type Log = Rc<RefCell<Vec<String>>>;
    fn logging_job(log: &Log) -> JobWithResult<u32, usize, Local> {
        let mut job = JobBuilder::<u32>::new_local("captures");
        let first = log.clone();
        let numbers = job
            .step("numbers")
            .run(move |n| {
                let log = first.clone();
                async move {
                    log.borrow_mut().push(format!("numbers {n}"));
                    Ok::<_, BoxError>((1..=n).collect::<Vec<u32>>())
                }
            })
            .expect("a well-formed step");
        let each = log.clone();
        let squares = job
            .step("square")
            .map(&numbers)
            .run(move |_, n: u32| {
                each.borrow_mut().push(format!("square {n}"));
                async move { Ok::<_, BoxError>(n * n) }
            })
            .expect("a well-formed step");
        let sum = log.clone();
        let total = job
            .step("total")
            .after(&squares)
            .try_run(move |_, squares| {
                let log = sum.clone();
                async move {
                    let total: u32 = squares.iter().sum();
                    log.borrow_mut().push(format!("total {total}"));
                    Ok(usize::try_from(total)?)
                }
            })
            .expect("a well-formed step");
        let last = log.clone();
        let len = job
            .step("len")
            .after(&total)
            .run_with_context(move |ctx: asyncjob::StepContext, _, total| {
                let logged = last.borrow().len();
                last.borrow_mut().push(format!("{} {logged}", ctx.step()));
                async move { Ok::<_, BoxError>(total) }
            })
            .expect("a well-formed step");
        job.seal().with_result(&len).expect("a step of this job")
    }

    thread_local! {
        static LOG: Log = Rc::new(RefCell::new(Vec::new()));
        static JOB: JobWithResult<u32, usize, Local> = LOG.with(logging_job);
    }

    let runtime = LocalRuntime::new();
    for (n, total) in [(3, 14), (2, 5)] {
        let instance = JOB.with(|job| job.on(runtime.handle()).start_local(n));
        let result = runtime.block_on(instance.result());
        assert_eq!(result.expect("the job succeeds"), total);
    }
    let log = LOG.with(|log| log.borrow().clone());
    assert_eq!(
        log,
        [
            "numbers 3",
            "square 1",
            "square 2",
            "square 3",
            "total 14",
            "len 5", //
            "numbers 2",
            "square 1",
            "square 2",
            "total 5",
            "len 10",
        ]
    );
}
