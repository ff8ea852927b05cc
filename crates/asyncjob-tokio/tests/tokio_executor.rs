//! Behaviour of `TokioExecutor`: spawning, sleeping, and shutdown without panics.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use asyncjob::{Executor, SpawnError, Timer};
use asyncjob_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

const WAIT: Duration = Duration::from_secs(5);

fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime")
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("multi-thread runtime")
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(future).poll(&mut cx)
}

/// Counts how many times it is dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_start_bounds<E: Executor + Timer + Send + Sync + 'static>(_: &E) {}

#[test]
fn satisfies_the_bounds_of_start() {
    assert_start_bounds(&TokioExecutor::new());
    assert_start_bounds(&TokioExecutor::default());
}

#[test]
fn spawn_runs_on_the_current_runtime_current_thread() {
    let runtime = current_thread();
    let ran = runtime.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        TokioExecutor::new()
            .spawn(Box::pin(async move {
                let _ = tx.send(42);
            }))
            .expect("spawn inside the runtime");
        rx.await
    });
    assert_eq!(ran, Ok(42));
}

#[test]
fn spawn_runs_on_the_current_runtime_multi_thread() {
    let runtime = multi_thread();
    let ran = runtime.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        TokioExecutor::new()
            .spawn(Box::pin(async move {
                let _ = tx.send(42);
            }))
            .expect("spawn inside the runtime");
        rx.await
    });
    assert_eq!(ran, Ok(42));
}

#[test]
fn pinned_executor_spawns_from_outside_the_runtime() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    assert!(executor.handle().is_some());
    let (tx, rx) = mpsc::channel();
    executor
        .spawn(Box::pin(async move {
            let _ = tx.send(7);
        }))
        .expect("spawn on a pinned runtime");
    assert_eq!(rx.recv_timeout(WAIT), Ok(7));
}

#[test]
fn pinned_executor_spawns_from_another_thread() {
    let runtime = multi_thread();
    let executor = TokioExecutor::from(runtime.handle().clone());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        executor.spawn(Box::pin(async move {
            let _ = tx.send(1);
        }))
    })
    .join()
    .expect("the spawning thread does not panic")
    .expect("spawn from another thread");
    assert_eq!(rx.recv_timeout(WAIT), Ok(1));
}

#[test]
fn spawn_without_a_runtime_is_refused_and_drops_the_future() {
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let result = TokioExecutor::new().spawn(Box::pin(async move {
        let _guard = guard;
    }));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Reported as "no runtime", with the fix, not as a shut-down executor.
    let error = result.expect_err("no runtime to spawn on");
    assert!(error.is_no_runtime() && !error.is_shutdown(), "{error:?}");
    let text = error.to_string();
    for part in ["no Tokio runtime", "TokioExecutor::with_handle"] {
        assert!(text.contains(part), "{text}");
    }
    assert!(!text.contains("shut down"), "{text}");
    // A runtime's own refusal after shutdown is still a shutdown.
    let runtime = current_thread();
    let handle = runtime.handle().clone();
    drop(runtime);
    let error = TokioExecutor::with_handle(handle)
        .spawn(Box::pin(async {}))
        .expect_err("shut down");
    assert!(error.is_shutdown() && !error.is_no_runtime(), "{error:?}");
}

#[test]
fn spawn_after_shutdown_is_refused_and_drops_the_future() {
    for runtime in [current_thread(), multi_thread()] {
        let handle = runtime.handle().clone();
        drop(runtime);

        let token = Arc::new(());
        let held = token.clone();
        let result = TokioExecutor::with_handle(handle).spawn(Box::pin(async move {
            let _held = held;
        }));
        assert_eq!(result, Err(SpawnError::shutdown()));
        assert_eq!(Arc::strong_count(&token), 1, "the future was dropped");
    }
}

/// `shutdown_background` returns before the workers have stopped: a spawn racing with it may be
/// accepted, but the future is dropped all the same, and nothing panics.
#[test]
fn spawn_during_shutdown_background_drops_the_future() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    runtime.shutdown_background();
    let token = Arc::new(());
    let held = token.clone();
    let _accepted_or_refused = executor.spawn(Box::pin(async move {
        let _held = held;
        std::future::pending::<()>().await;
    }));
    let deadline = Instant::now() + WAIT;
    while Arc::strong_count(&token) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(Arc::strong_count(&token), 1, "the future was dropped");
}

#[test]
fn shutdown_drops_pending_tasks() {
    for runtime in [current_thread(), multi_thread()] {
        let executor = TokioExecutor::with_handle(runtime.handle().clone());
        let token = Arc::new(());
        let held = token.clone();
        executor
            .spawn(Box::pin(async move {
                let _held = held;
                std::future::pending::<()>().await;
            }))
            .expect("spawn on a running runtime");
        assert_eq!(Arc::strong_count(&token), 2);
        drop(runtime);
        assert_eq!(Arc::strong_count(&token), 1, "the task was dropped");
    }
}

/// asyncjob reacts to a dropped task by spawning or sleeping from the drop: that must not panic.
#[test]
fn spawning_and_sleeping_from_a_task_dropped_at_shutdown_does_not_panic() {
    struct SpawnOnDrop {
        executor: TokioExecutor,
        outcome: mpsc::Sender<Result<(), SpawnError>>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            drop(self.executor.sleep(Duration::from_millis(1)));
            let _ = self.outcome.send(self.executor.spawn(Box::pin(async {})));
        }
    }

    for runtime in [current_thread(), multi_thread()] {
        let (tx, rx) = mpsc::channel();
        for executor in [
            TokioExecutor::new(),
            TokioExecutor::with_handle(runtime.handle().clone()),
        ] {
            let on_drop = SpawnOnDrop {
                executor,
                outcome: tx.clone(),
            };
            runtime.spawn(async move {
                let _on_drop = on_drop;
                std::future::pending::<()>().await;
            });
        }
        drop(tx);
        drop(runtime);
        // Both tasks were dropped, and neither could spawn on the runtime shutting down.
        let outcomes: Vec<_> = rx.iter().collect();
        assert_eq!(
            outcomes,
            [Err(SpawnError::shutdown()), Err(SpawnError::shutdown())]
        );
    }
}

#[test]
fn sleep_lasts_at_least_the_duration_current_thread() {
    let runtime = current_thread();
    let duration = Duration::from_millis(20);
    let elapsed = runtime.block_on(async {
        let started = Instant::now();
        TokioExecutor::new().sleep(duration).await;
        started.elapsed()
    });
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_lasts_at_least_the_duration_multi_thread() {
    let runtime = multi_thread();
    let duration = Duration::from_millis(20);
    let elapsed = runtime.block_on(async {
        let started = Instant::now();
        TokioExecutor::new().sleep(duration).await;
        started.elapsed()
    });
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn pinned_sleep_can_be_awaited_outside_the_runtime() {
    let runtime = multi_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let duration = Duration::from_millis(20);
    let started = Instant::now();
    // A foreign executor (here the current-thread runtime) awaits a sleep timed by `runtime`.
    current_thread().block_on(executor.sleep(duration));
    let elapsed = started.elapsed();
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_without_a_runtime_never_completes_and_does_not_panic() {
    let sleep = TokioExecutor::new().sleep(Duration::ZERO);
    assert!(poll_once(sleep).is_pending());
}

#[test]
fn sleep_after_shutdown_never_completes_and_does_not_panic() {
    let runtime = current_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    drop(runtime);
    let mut sleep = executor.sleep(Duration::ZERO);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
}

/// A bare `tokio::time::Sleep` polled after its runtime shut down panics; ours stays pending.
#[test]
fn sleep_interrupted_by_shutdown_never_completes_and_does_not_panic() {
    for runtime in [current_thread(), multi_thread()] {
        let executor = TokioExecutor::with_handle(runtime.handle().clone());
        let mut sleep = executor.sleep(Duration::from_secs(3600));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        drop(runtime);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
    }
}

#[test]
fn unpinned_sleep_made_outside_the_runtime_finds_it_when_polled() {
    let duration = Duration::from_millis(20);
    let started = Instant::now();
    let sleep = TokioExecutor::new().sleep(duration);
    current_thread().block_on(sleep);
    let elapsed = started.elapsed();
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_of_the_longest_duration_does_not_panic() {
    let runtime = current_thread();
    runtime.block_on(async {
        let sleep = TokioExecutor::new().sleep(Duration::MAX);
        assert!(poll_once(sleep).is_pending());
    });
}

/// A sleep polled on its own runtime first, then from outside it after the runtime shut down,
/// stays pending (a bare `tokio::time::Sleep` would panic).
#[test]
fn sleep_polled_inside_then_after_shutdown_never_completes_and_does_not_panic() {
    for runtime in [current_thread(), multi_thread()] {
        let [mut sleep] = runtime.block_on(async {
            let mut sleep = TokioExecutor::new().sleep(Duration::from_secs(3600));
            assert!(poll_once(sleep.as_mut()).is_pending());
            [sleep]
        });
        drop(runtime);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
    }
}

/// Polled outside its runtime, a sleep is waited out by a task of the runtime; dropping the sleep
/// aborts that task.
#[test]
fn dropping_a_sleep_polled_outside_its_runtime_aborts_its_timer_task() {
    let runtime = current_thread();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    let mut sleep = executor.sleep(Duration::from_secs(3600));
    assert!(poll_once(sleep.as_mut()).is_pending());
    assert_eq!(runtime.metrics().num_alive_tasks(), 1, "the timer task");
    drop(sleep);
    runtime.block_on(async {
        // Let the runtime reap the aborted task.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
}

/// A pinned executor asked for a sleep from a thread-local destructor that runs after Tokio's own
/// thread-local is gone (it cannot enter the runtime there) still does not panic, and the sleep
/// completes.
#[test]
fn pinned_sleep_from_a_late_thread_local_destructor_does_not_panic() {
    struct SleepOnDrop {
        executor: TokioExecutor,
        outcome: mpsc::Sender<Option<bool>>,
    }
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            let late = tokio::runtime::Handle::try_current()
                .is_err_and(|error| error.is_thread_local_destroyed());
            let slept = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let sleep = self.executor.sleep(Duration::from_millis(1));
                // Awaited on another thread, where the pinned runtime is not current.
                std::thread::scope(|scope| {
                    scope
                        .spawn(|| current_thread().block_on(sleep))
                        .join()
                        .is_ok()
                })
            }));
            let _ = self.outcome.send(late.then_some(slept.unwrap_or(false)));
        }
    }
    thread_local! {
        static GUARD: std::cell::RefCell<Option<SleepOnDrop>> = const { std::cell::RefCell::new(None) };
    }

    let runtime = multi_thread();
    let (tx, rx) = mpsc::channel();
    let executor = TokioExecutor::with_handle(runtime.handle().clone());
    std::thread::spawn(move || {
        // Registered before Tokio's thread-local, so (destructors running in reverse order on
        // the platforms this is checked on) destroyed after it.
        GUARD.with(|guard| {
            *guard.borrow_mut() = Some(SleepOnDrop {
                executor,
                outcome: tx,
            });
        });
        let _ = tokio::runtime::Handle::try_current();
    })
    .join()
    .expect("the thread ends");
    match rx.recv_timeout(WAIT).expect("the destructor ran") {
        Some(slept) => assert!(slept, "the sleep panicked or did not complete"),
        None => println!("Tokio's thread-local outlived ours here: nothing checked"),
    }
}
