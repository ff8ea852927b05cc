//! Behaviour of `AsyncStdExecutor` on its own: spawning, sleeping, the clock and blocking work.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use asyncjob::{Blocking, Executor, Timer};
use asyncjob_async_std::AsyncStdExecutor;

const WAIT: Duration = Duration::from_secs(10);

fn assert_start_bounds<E: Executor + Timer + Send + Sync + 'static>(_: &E) {}

#[test]
fn satisfies_the_bounds_of_start() {
    assert_start_bounds(&AsyncStdExecutor::new());
    assert_start_bounds(&AsyncStdExecutor::default());
    assert_start_bounds(&Arc::new(AsyncStdExecutor::new()));
}

#[test]
fn spawn_runs_the_future_as_an_async_std_task() {
    let (tx, rx) = mpsc::channel();
    AsyncStdExecutor::new()
        .spawn(Box::pin(async move {
            let _ = tx.send(async_std::task::try_current().is_some());
        }))
        .expect("the global executor accepts tasks");
    assert_eq!(rx.recv_timeout(WAIT), Ok(true));
}

#[test]
fn spawn_unboxed_runs_the_future() {
    let (tx, rx) = mpsc::channel();
    AsyncStdExecutor::new()
        .spawn_unboxed(async move {
            let _ = tx.send(42);
        })
        .expect("the global executor accepts tasks");
    assert_eq!(rx.recv_timeout(WAIT), Ok(42));
}

#[test]
fn spawns_from_many_threads_all_run() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let spawners: Vec<_> = (0..4)
        .map(|_| {
            let ran = ran.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for _ in 0..100 {
                    let ran = ran.clone();
                    let tx = tx.clone();
                    AsyncStdExecutor::new()
                        .spawn_unboxed(async move {
                            ran.fetch_add(1, Ordering::SeqCst);
                            let _ = tx.send(());
                        })
                        .expect("the global executor accepts tasks");
                }
            })
        })
        .collect();
    for spawner in spawners {
        spawner.join().expect("a spawning thread");
    }
    for _ in 0..400 {
        rx.recv_timeout(WAIT).expect("a task ran");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 400);
}

#[test]
fn sleep_lasts_at_least_the_duration() {
    let duration = Duration::from_millis(20);
    let started = Instant::now();
    async_std::task::block_on(AsyncStdExecutor::new().sleep(duration));
    let elapsed = started.elapsed();
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_inside_a_spawned_task_lasts_at_least_the_duration() {
    let executor = AsyncStdExecutor::new();
    let duration = Duration::from_millis(20);
    let (tx, rx) = mpsc::channel();
    let timer = executor.clone();
    executor
        .spawn(Box::pin(async move {
            let started = Instant::now();
            timer.sleep(duration).await;
            let _ = tx.send(started.elapsed());
        }))
        .expect("the global executor accepts tasks");
    let elapsed = rx.recv_timeout(WAIT).expect("the task ran");
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_of_zero_is_ready_at_once() {
    let sleep = AsyncStdExecutor::new().sleep(Duration::ZERO);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pin!(sleep).poll(&mut cx).is_ready());
}

#[test]
fn sleep_of_the_longest_duration_does_not_panic() {
    let sleep = AsyncStdExecutor::new().sleep(Duration::MAX);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pin!(sleep).poll(&mut cx).is_pending());
}

#[test]
fn the_clock_is_the_monotonic_clock() {
    let executor = AsyncStdExecutor::new();
    let before = Instant::now();
    let now = executor.now();
    assert!(before <= now && now <= Instant::now());
    assert!(executor.can_sleep());
}

#[test]
fn blocking_work_runs_on_another_thread() {
    let pool = Executor::blocking(&AsyncStdExecutor::new()).expect("async-std offers a pool");
    let (tx, rx) = mpsc::channel();
    let caller = thread::current().id();
    pool.spawn_blocking(Box::new(move || {
        let _ = tx.send(thread::current().id());
    }))
    .expect("the pool accepts work");
    let worker = rx.recv_timeout(WAIT).expect("the work ran");
    assert_ne!(worker, caller);
}
