//! Issue 12, item 10: an executor that polls a future inside `spawn()` ([`PollInSpawn`]) makes
//! no recursion in the engine. How deeply `spawn()` calls nest on one thread does not grow
//! with the depth of the graph, and a 20,000-level comb runs.
//!
//! A comb is a chain (the spine) each of whose steps also has a leaf (a tooth), defined after
//! the next spine step: when a spine step ends it releases two children at once, so the engine
//! spawns one of them, and `PollInSpawn` runs that one inside the spawn. An engine that spawns
//! from inside a step's poll then nests one `spawn()` per level.
//!
//! The nesting is measured first, on combs of 10 and 200 levels (small enough not to overflow a
//! stack even where it grows), so that a reentrant engine fails an assertion here rather than
//! abort the process on the 20,000-level comb.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{
    BoxFuture, Executor, FuturesExecutor, JobBuilder, JobWithResult, SpawnError, Timer,
};
use asyncjob_test::{PollInSpawn, Watchdog};
use futures::executor::ThreadPool;

thread_local! {
    /// How many `spawn()` calls of a [`Nesting`] are on this thread's stack.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Wraps an executor and records the deepest nesting of its `spawn()` calls on any thread.
#[derive(Debug, Clone)]
struct Nesting<E> {
    inner: E,
    deepest: Arc<AtomicUsize>,
}

impl<E> Nesting<E> {
    fn new(inner: E) -> Self {
        Nesting {
            inner,
            deepest: Arc::default(),
        }
    }

    fn deepest(&self) -> usize {
        self.deepest.load(Ordering::SeqCst)
    }
}

impl<E: Executor> Executor for Nesting<E> {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        let depth = DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        self.deepest.fetch_max(depth, Ordering::SeqCst);
        let spawned = self.inner.spawn(future);
        DEPTH.with(|depth| depth.set(depth.get() - 1));
        spawned
    }
}

impl<E: Timer> Timer for Nesting<E> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}

/// A comb of `levels` spine steps, each with a tooth; the result is the last spine step.
fn comb(levels: usize) -> JobWithResult<(), u64> {
    let mut job = JobBuilder::<()>::new("comb");
    let mut spine = job
        .step("spine 0")
        .run(|()| async { Ok::<_, String>(0u64) })
        .expect("a well-formed step");
    for level in 1..levels {
        let next = job
            .step(format!("spine {level}"))
            .after(&spine)
            .run(|(), n: u64| async move { Ok::<_, String>(n + 1) })
            .expect("a well-formed step");
        job.step(format!("tooth {}", level - 1))
            .after(&spine)
            .run(|(), n: u64| async move { Ok::<_, String>(n) })
            .expect("a well-formed step");
        spine = next;
    }
    job.seal().with_result(&spine).expect("a step of this job")
}

fn executor() -> Nesting<PollInSpawn<FuturesExecutor<ThreadPool>>> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    Nesting::new(PollInSpawn::new(FuturesExecutor::new(pool)))
}

/// Runs a comb of `levels` levels; returns the deepest nesting of `spawn()` calls seen.
fn run_comb(levels: usize) -> usize {
    let executor = executor();
    let instance = comb(levels).on(executor.clone()).start(());
    let result = futures::executor::block_on(instance.result());
    assert_eq!(
        result.ok(),
        Some(levels as u64 - 1),
        "the comb of {levels} levels runs"
    );
    executor.deepest()
}

#[test]
fn spawns_do_not_nest_deeper_with_the_depth_of_the_graph() {
    let _watchdog = Watchdog::new("nesting of spawns", Duration::from_secs(120));
    let shallow = run_comb(10);
    let deep = run_comb(200);
    assert!(
        deep <= shallow + 2,
        "spawn() calls nested {deep} deep on one thread for a 200-level comb, {shallow} for a \
         10-level one: the engine spawns from inside the poll that PollInSpawn runs in spawn()"
    );
}

#[test]
fn a_20000_level_comb_runs_on_an_executor_that_polls_in_spawn() {
    let _watchdog = Watchdog::new("20,000-level comb", Duration::from_secs(120));
    // Not before the nesting is known to be bounded: a reentrant engine overflows the stack
    // here, which aborts the process.
    let deep = run_comb(200);
    assert!(
        deep <= 16,
        "spawn() calls nest {deep} deep for a 200-level comb"
    );
    // On a thread of a known, ordinary stack size (the root's spawn, and so its poll, happens
    // inside `start`, on this thread).
    let runner = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| run_comb(20_000))
        .expect("a thread");
    let deepest = runner.join().expect("the 20,000-level comb runs");
    assert!(
        deepest <= 16,
        "spawn() calls nest {deepest} deep for a 20,000-level comb"
    );
}
