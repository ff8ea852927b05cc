//! Behaviour of `SmolExecutor`: spawning, sleeping, and shutdown by dropping the executor.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use asyncjob::{Executor, SpawnError, Timer};
use asyncjob_smol::SmolExecutor;

const WAIT: Duration = Duration::from_secs(5);

type SmolEx = async_executor::Executor<'static>;

fn assert_start_bounds<E: Executor + Timer + Send + Sync + 'static>(_: &E) {}

/// Counts how many times it is dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn satisfies_the_bounds_of_start() {
    let ex = Arc::new(SmolEx::new());
    assert_start_bounds(&SmolExecutor::new(&ex));
    assert_start_bounds(&SmolExecutor::global());
    assert!(SmolExecutor::default().is_global());
    assert!(!SmolExecutor::from(&ex).is_global());
}

#[test]
fn spawn_runs_on_the_owned_executor() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let (tx, rx) = smol::channel::bounded(1);
    executor
        .spawn(Box::pin(async move {
            let _ = tx.send(42).await;
        }))
        .expect("the executor is alive");
    assert_eq!(async_io::block_on(ex.run(rx.recv())), Ok(42));
}

#[test]
fn spawn_runs_on_an_executor_run_by_several_threads() {
    let ex = Arc::new(SmolEx::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let stopped = stopped.clone();
            thread::spawn(move || async_io::block_on(ex.run(stopped.recv())))
        })
        .collect();

    let executor = SmolExecutor::new(&ex);
    let (tx, rx) = mpsc::channel();
    for n in 0..8 {
        let tx = tx.clone();
        executor
            .spawn(Box::pin(async move {
                let _ = tx.send(n);
            }))
            .expect("the executor is alive");
    }
    let mut got: Vec<i32> = (0..8)
        .map(|_| rx.recv_timeout(WAIT).expect("a task ran"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..8).collect::<Vec<_>>());

    stop.close();
    for runner in runners {
        let _ = runner.join().expect("runner thread");
    }
}

#[test]
fn spawn_after_the_executor_is_dropped_is_refused_and_drops_the_future() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    drop(ex);

    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let result = executor.spawn(Box::pin(async move {
        let _guard = guard;
    }));
    assert_eq!(result, Err(SpawnError::shutdown()));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_executor_drops_its_tasks() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let token = Arc::new(());

    // One task that never ran, one that ran and is parked on a timer.
    let held = token.clone();
    executor
        .spawn(Box::pin(async move {
            let _held = held;
            std::future::pending::<()>().await;
        }))
        .expect("the executor is alive");
    let held = token.clone();
    let timer = executor.clone();
    executor
        .spawn(Box::pin(async move {
            let _held = held;
            timer.sleep(Duration::from_secs(3600)).await;
        }))
        .expect("the executor is alive");
    while ex.try_tick() {}
    assert_eq!(Arc::strong_count(&token), 3);

    drop(ex);
    assert_eq!(Arc::strong_count(&token), 1, "both tasks were dropped");
}

#[test]
fn spawning_from_a_task_dropped_at_shutdown_is_refused() {
    struct SpawnOnDrop {
        executor: SmolExecutor,
        outcome: mpsc::Sender<Result<(), SpawnError>>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let _ = self.outcome.send(self.executor.spawn(Box::pin(async {})));
        }
    }

    let ex = Arc::new(SmolEx::new());
    let (tx, rx) = mpsc::channel();
    let on_drop = SpawnOnDrop {
        executor: SmolExecutor::new(&ex),
        outcome: tx,
    };
    SmolExecutor::new(&ex)
        .spawn(Box::pin(async move {
            let _on_drop = on_drop;
            std::future::pending::<()>().await;
        }))
        .expect("the executor is alive");
    drop(ex);
    assert_eq!(rx.try_recv(), Ok(Err(SpawnError::shutdown())));
}

#[test]
fn sleep_lasts_at_least_the_duration() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let duration = Duration::from_millis(20);
    let started = Instant::now();
    async_io::block_on(ex.run(executor.sleep(duration)));
    let elapsed = started.elapsed();
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_inside_a_spawned_task_lasts_at_least_the_duration() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    let duration = Duration::from_millis(20);
    let (tx, rx) = smol::channel::bounded(1);
    let timer = executor.clone();
    executor
        .spawn(Box::pin(async move {
            let started = Instant::now();
            timer.sleep(duration).await;
            let _ = tx.send(started.elapsed()).await;
        }))
        .expect("the executor is alive");
    let elapsed = async_io::block_on(ex.run(rx.recv())).expect("the task ran");
    assert!(elapsed >= duration, "slept {elapsed:?}, asked {duration:?}");
}

#[test]
fn sleep_works_after_the_executor_is_dropped() {
    let ex = Arc::new(SmolEx::new());
    let executor = SmolExecutor::new(&ex);
    drop(ex);
    let duration = Duration::from_millis(10);
    let started = Instant::now();
    async_io::block_on(executor.sleep(duration));
    assert!(started.elapsed() >= duration);
}

#[test]
fn sleep_of_the_longest_duration_does_not_panic() {
    let sleep = SmolExecutor::global().sleep(Duration::MAX);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pin!(sleep).poll(&mut cx).is_pending());
}

#[test]
fn global_executor_spawns_and_sleeps() {
    let executor = SmolExecutor::global();
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
