//! Behaviour of `LocalRuntime` and `LocalHandle`: `!Send` futures, sleeping, and shutdown by
//! dropping the runtime.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use asyncjob::{Executor, LocalExecutor, SpawnError, Timer};
use asyncjob_local::{LocalHandle, LocalRuntime};

fn assert_start_local_bounds<E: LocalExecutor + Timer + 'static>(_: &E) {}
fn assert_executor<E: Executor + Timer + 'static>(_: &E) {}

/// Runs the runtime until `done` is set (sleeping 1 ms between checks).
fn run_until(runtime: &LocalRuntime, done: &Cell<bool>) {
    let timer = runtime.handle();
    runtime.block_on(async {
        while !done.get() {
            timer.sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn spawner_satisfies_the_bounds_of_start_local() {
    let runtime = LocalRuntime::new();
    assert_start_local_bounds(&runtime.handle());
    assert_executor(&runtime.handle());
}

#[test]
fn block_on_returns_the_output() {
    let runtime = LocalRuntime::default();
    assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
}

#[test]
fn spawn_local_runs_a_future_that_is_not_send() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    let state = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(false));

    let (task_state, task_done, timer) = (state.clone(), done.clone(), spawner.clone());
    spawner
        .spawn_local(Box::pin(async move {
            // The `Rc<RefCell<_>>` is held across an `.await`.
            task_state.borrow_mut().push(1);
            timer.sleep(Duration::from_millis(1)).await;
            task_state.borrow_mut().push(2);
            task_done.set(true);
        }))
        .expect("the runtime is alive");

    run_until(&runtime, &done);
    assert_eq!(*state.borrow(), [1, 2]);
}

#[test]
fn executor_spawn_runs_a_send_future() {
    let runtime = LocalRuntime::new();
    let (tx, rx) = std::sync::mpsc::channel();
    Executor::spawn(
        &runtime.handle(),
        Box::pin(async move {
            let _ = tx.send(7);
        }),
    )
    .expect("the runtime is alive");
    while runtime.try_tick() {}
    assert_eq!(rx.try_recv(), Ok(7));
}

#[test]
fn tasks_can_spawn_tasks() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    let done = Rc::new(Cell::new(false));
    let (inner, inner_done) = (spawner.clone(), done.clone());
    spawner
        .spawn_local(Box::pin(async move {
            inner
                .spawn_local(Box::pin(async move { inner_done.set(true) }))
                .expect("the runtime is alive");
        }))
        .expect("the runtime is alive");
    run_until(&runtime, &done);
}

#[test]
fn run_drives_the_runtime_from_another_executor() {
    let runtime = LocalRuntime::new();
    let done = Rc::new(Cell::new(false));
    let task_done = done.clone();
    runtime
        .handle()
        .spawn_local(Box::pin(async move { task_done.set(true) }))
        .expect("the runtime is alive");
    let timer = runtime.handle();
    // `async_io::block_on` stands in for any single-threaded executor.
    async_io::block_on(runtime.run(async {
        while !done.get() {
            timer.sleep(Duration::from_millis(1)).await;
        }
    }));
}

#[test]
fn sleep_lasts_at_least_the_duration() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    let duration = Duration::from_millis(20);
    let started = Instant::now();
    runtime.block_on(spawner.sleep(duration));
    let elapsed = started.elapsed();
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_inside_a_task_lasts_at_least_the_duration() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    let duration = Duration::from_millis(20);
    let elapsed = Rc::new(Cell::new(None));
    let done = Rc::new(Cell::new(false));
    let (timer, task_elapsed, task_done) = (spawner.clone(), elapsed.clone(), done.clone());
    spawner
        .spawn_local(Box::pin(async move {
            let started = Instant::now();
            timer.sleep(duration).await;
            task_elapsed.set(Some(started.elapsed()));
            task_done.set(true);
        }))
        .expect("the runtime is alive");
    run_until(&runtime, &done);
    let elapsed = elapsed.get().expect("the task ran");
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn spawn_after_the_runtime_is_dropped_is_refused_and_drops_the_future() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    drop(runtime);

    let token = Rc::new(());
    let held = token.clone();
    let result = spawner.spawn_local(Box::pin(async move {
        let _held = held;
    }));
    assert_eq!(result, Err(SpawnError::shutdown()));
    assert_eq!(Rc::strong_count(&token), 1, "the future was dropped");

    let result = Executor::spawn(&spawner, Box::pin(async {}));
    assert_eq!(result, Err(SpawnError::shutdown()));
}

#[test]
fn dropping_the_runtime_drops_its_tasks() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    let token = Rc::new(());

    // One task that never ran, one that ran and is parked on a timer.
    let held = token.clone();
    spawner
        .spawn_local(Box::pin(async move {
            let _held = held;
            std::future::pending::<()>().await;
        }))
        .expect("the runtime is alive");
    let (held, timer) = (token.clone(), spawner.clone());
    spawner
        .spawn_local(Box::pin(async move {
            let _held = held;
            timer.sleep(Duration::from_secs(3600)).await;
        }))
        .expect("the runtime is alive");
    while runtime.try_tick() {}
    assert_eq!(Rc::strong_count(&token), 3);

    drop(runtime);
    assert_eq!(Rc::strong_count(&token), 1, "both tasks were dropped");
}

#[test]
fn spawning_from_a_task_dropped_at_shutdown_is_refused() {
    struct SpawnOnDrop {
        spawner: LocalHandle,
        outcome: Rc<Cell<Option<Result<(), SpawnError>>>>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            self.outcome
                .set(Some(self.spawner.spawn_local(Box::pin(async {}))));
        }
    }

    let runtime = LocalRuntime::new();
    let outcome = Rc::new(Cell::new(None));
    let on_drop = SpawnOnDrop {
        spawner: runtime.handle(),
        outcome: outcome.clone(),
    };
    runtime
        .handle()
        .spawn_local(Box::pin(async move {
            let _on_drop = on_drop;
            std::future::pending::<()>().await;
        }))
        .expect("the runtime is alive");
    drop(runtime);
    assert_eq!(outcome.take(), Some(Err(SpawnError::shutdown())));
}

#[test]
fn sleep_works_after_the_runtime_is_dropped() {
    let runtime = LocalRuntime::new();
    let spawner = runtime.handle();
    drop(runtime);
    let duration = Duration::from_millis(10);
    let started = Instant::now();
    async_io::block_on(spawner.sleep(duration));
    assert!(started.elapsed() >= duration);
}

#[test]
fn sleep_of_the_longest_duration_does_not_panic() {
    let runtime = LocalRuntime::new();
    let sleep = runtime.handle().sleep(Duration::MAX);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pin!(sleep).poll(&mut cx).is_pending());
}
