//! What the load test (`tests/load.rs`) and the memory test (`tests/memory.rs`) share: the two
//! runtimes, a gate that holds every instance in flight until all have started, a watchdog, and
//! one load run of the SQL-summary job with its checks.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code, reason = "shared by several test binaries")]

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use asyncjob::{BoxFuture, Executor, JobErrorKind, JobWithResult, SpawnError, StepState, Timer};
use asyncjob_examples::sql::{SqlError, SqlLib, Summary};
use asyncjob_smol::SmolExecutor;
use asyncjob_tokio::TokioExecutor;

/// Instances per load run: all in flight at once.
pub(crate) const INSTANCES: usize = 10_000;
/// Every `FAIL_EVERY`-th instance gets a SQL library whose connections always fail.
pub(crate) const FAIL_EVERY: usize = 10;
/// Steps in the SQL-summary job.
pub(crate) const STEPS: usize = 8;
/// The SQL summary of the fake library: 10 rows of each table, `1..=10` and twice that.
pub(crate) const SUMMARY: Summary = Summary {
    rows: 20,
    total: 165,
};
/// How long anything may take to settle (counts to drop to zero, memory to be freed) before the
/// test fails. A bound for a hang, not a timing assertion: a leak never settles.
pub(crate) const SETTLE: Duration = Duration::from_secs(30);

pub(crate) use asyncjob_conformance::Watchdog;

/// Polls `check` until it returns `Ok`, or fails the test with its last error after [`SETTLE`].
pub(crate) fn settle<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(error) if started.elapsed() > SETTLE => {
                panic!("{what}: not settled after {SETTLE:?}: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// The runtimes under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// tokio's multi-thread runtime, 2 workers.
    Tokio,
    /// an `async_executor::Executor` run by 2 threads of its own.
    Smol,
}

/// A running runtime with 2 threads.
#[derive(Debug)]
pub(crate) enum Runtime {
    Tokio(tokio::runtime::Runtime),
    Smol {
        ex: Arc<async_executor::Executor<'static>>,
        stop: smol::channel::Sender<()>,
        threads: Vec<JoinHandle<()>>,
    },
}

impl Runtime {
    pub(crate) fn new(kind: Kind) -> Self {
        match kind {
            Kind::Tokio => Runtime::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime"),
            ),
            Kind::Smol => {
                let ex = Arc::new(async_executor::Executor::new());
                let (stop, stopped) = smol::channel::bounded::<()>(1);
                let threads = (0..2)
                    .map(|n| {
                        let (ex, stopped) = (ex.clone(), stopped.clone());
                        std::thread::Builder::new()
                            .name(format!("smol-{n}"))
                            .spawn(move || {
                                let _ = async_io::block_on(ex.run(stopped.recv()));
                            })
                            .expect("a thread")
                    })
                    .collect();
                Runtime::Smol { ex, stop, threads }
            }
        }
    }

    /// The executor (and timer) that jobs are started on.
    pub(crate) fn executor(&self) -> AnyExecutor {
        match self {
            Runtime::Tokio(rt) => {
                AnyExecutor::Tokio(TokioExecutor::with_handle(rt.handle().clone()))
            }
            Runtime::Smol { ex, .. } => AnyExecutor::Smol(SmolExecutor::new(ex)),
        }
    }

    /// Waits for `future` on the calling thread (the runtime's own threads go on running tasks).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Runtime::Tokio(rt) => rt.block_on(future),
            Runtime::Smol { .. } => async_io::block_on(future),
        }
    }

    /// Shuts the runtime down and joins its threads.
    pub(crate) fn shutdown(self) {
        match self {
            Runtime::Tokio(rt) => drop(rt),
            Runtime::Smol { ex, stop, threads } => {
                stop.close();
                for thread in threads {
                    thread.join().expect("a smol thread ran to the end");
                }
                drop(ex);
            }
        }
    }
}

/// The executor of either runtime, as one type.
#[derive(Debug, Clone)]
pub(crate) enum AnyExecutor {
    Tokio(TokioExecutor),
    Smol(SmolExecutor),
}

impl Executor for AnyExecutor {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        match self {
            AnyExecutor::Tokio(executor) => executor.spawn(future),
            AnyExecutor::Smol(executor) => executor.spawn(future),
        }
    }
}

impl Timer for AnyExecutor {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        match self {
            AnyExecutor::Tokio(executor) => executor.sleep(duration),
            AnyExecutor::Smol(executor) => executor.sleep(duration),
        }
    }
}

/// Which timer the fake SQL library sleeps on. (The job's own timer, for retry back-off and the
/// queries' timeouts, is always the runtime's.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlTimer {
    /// The runtime's timer: every SQL call sleeps 1 ms per unit of work.
    Runtime,
    /// A timer that completes at once.
    Instant,
}

/// Holds every sleep of the SQL library until [`Gate::open`], counting the sleeps that reached
/// it: with every instance's two root steps parked at the gate, all instances are in flight at
/// once.
#[derive(Debug)]
pub(crate) struct Gate {
    open: smol::channel::Sender<()>,
    closed: smol::channel::Receiver<()>,
    arrived: Arc<AtomicUsize>,
}

impl Gate {
    pub(crate) fn new() -> Self {
        let (open, closed) = smol::channel::bounded(1);
        Gate {
            open,
            closed,
            arrived: Arc::default(),
        }
    }

    /// A timer whose sleeps wait for the gate, then sleep on `inner` (`None`: not at all).
    pub(crate) fn timer(&self, inner: Option<AnyExecutor>) -> GatedTimer {
        GatedTimer {
            gate: self.closed.clone(),
            arrived: self.arrived.clone(),
            inner,
        }
    }

    /// How many sleeps have reached the gate.
    pub(crate) fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Lets every sleep, waiting or to come, through.
    pub(crate) fn open(&self) {
        self.open.close();
    }
}

/// The timer of [`Gate::timer`].
#[derive(Debug)]
pub(crate) struct GatedTimer {
    gate: smol::channel::Receiver<()>,
    arrived: Arc<AtomicUsize>,
    inner: Option<AnyExecutor>,
}

impl Timer for GatedTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let gate = self.gate.clone();
        let arrived = self.arrived.clone();
        let sleep = self.inner.as_ref().map(|timer| timer.sleep(duration));
        Box::pin(async move {
            arrived.fetch_add(1, Ordering::SeqCst);
            // Nothing is ever sent: `recv` ends when the gate closes the channel.
            let _ = gate.recv().await;
            if let Some(sleep) = sleep {
                sleep.await;
            }
        })
    }
}

/// The job's own timer in a load run: the runtime's, with the queries' 1 s timeout stretched to
/// [`TIMEOUT_STRETCH`] times as long; retry back-off (2 to 20 ms) is left as it is.
///
/// With 10,000 instances released at once, a query's attempt waits behind the whole backlog of
/// the runtime: up to about 0.95 s of its 1 s on tokio in a debug build on 2 cores (0.2 s on
/// smol), nearly all of it queueing. A timeout there would be the job's policy at work, not a
/// fault, and would make the outcome depend on the machine's speed; stretched, a query that
/// times out means a hang of its own, and the test can require that none does. The timeouts are
/// still armed and dropped on the runtime's timer, 18,000 per run.
#[derive(Debug, Clone)]
pub(crate) struct Patient(pub(crate) AnyExecutor);

/// How much longer than asked a [`Patient`] timer waits for sleeps of a second or more.
pub(crate) const TIMEOUT_STRETCH: u32 = 30;

impl Timer for Patient {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration >= Duration::from_secs(1) {
            self.0.sleep(duration * TIMEOUT_STRETCH)
        } else {
            self.0.sleep(duration)
        }
    }
}

/// What one load run saw.
#[derive(Debug)]
pub(crate) struct LoadRun {
    pub(crate) instances: usize,
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    /// The longest `QueryTable` step (the job's timeout for one is 1 s; see [`Patient`]).
    pub(crate) slowest_query: Duration,
    /// From the first `start` until every instance has started and reached the gate.
    pub(crate) to_start: Duration,
    /// From the first `start` to the last result.
    pub(crate) elapsed: Duration,
}

/// Starts `instances` instances of `job` (the SQL-summary job, or a twin of it with the same
/// steps) on `runtime`, all in flight at once (held at a gate until every one has started),
/// every [`FAIL_EVERY`]-th with a library whose connections fail; checks every result, drops
/// every instance, and waits until both libraries (which every step captures, through `input`)
/// are referenced by this function alone. `in_flight` is called while every instance is in flight
/// (before the gate opens).
pub(crate) fn sql_load<I, O>(
    runtime: &Runtime,
    sql_timer: SqlTimer,
    instances: usize,
    job: &JobWithResult<I, O>,
    input: impl Fn(&Arc<SqlLib>) -> I,
    in_flight: impl FnOnce(),
) -> LoadRun
where
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + fmt::Debug + PartialEq<Summary> + 'static,
{
    let executor = runtime.executor();
    let gate = Gate::new();
    let inner = || match sql_timer {
        SqlTimer::Runtime => Some(executor.clone()),
        SqlTimer::Instant => None,
    };
    let latency = Duration::from_millis(1);
    let good = Arc::new(SqlLib::new(gate.timer(inner()), latency));
    let bad = Arc::new(SqlLib::new(gate.timer(inner()), latency).fail_connections(u32::MAX));
    let failing = |n: usize| n % FAIL_EVERY == 0;

    let started = Instant::now();
    let handles: Vec<_> = (0..instances)
        .map(|n| {
            let lib = if failing(n) { &bad } else { &good };
            job.on(executor.clone())
                .timer(Patient(executor.clone()))
                .start(input(lib))
        })
        .collect();
    // Both root steps of every instance are sleeping at the gate: all are in flight.
    settle(
        "every instance's two root steps reach the gate",
        || match gate.arrived() {
            n if n == 2 * instances => Ok(()),
            n => Err(format!("{n} of {} arrived", 2 * instances)),
        },
    );
    let to_start = started.elapsed();
    assert!(
        handles.iter().all(|instance| !instance.is_finished()),
        "an instance finished before the gate opened"
    );
    in_flight();
    gate.open();

    let results = runtime.block_on(async {
        let mut results = Vec::with_capacity(instances);
        for instance in &handles {
            results.push(instance.result().await);
            // `result()` resolves when `Summarize` ends; the branches beside it may still run.
            let _ = instance.wait().await;
        }
        results
    });
    let elapsed = started.elapsed();

    let mut run = LoadRun {
        instances,
        succeeded: 0,
        failed: 0,
        slowest_query: Duration::ZERO,
        to_start,
        elapsed,
    };
    for (n, (instance, result)) in handles.iter().zip(results).enumerate() {
        let steps = instance.steps();
        assert_eq!(steps.len(), STEPS);
        let state = |name: &str| {
            steps
                .iter()
                .find(|step| &*step.name == name)
                .map(|step| step.state)
        };
        if failing(n) {
            let error = result.expect_err("a job whose connections fail fails");
            // The result step was skipped; its error names the step that failed.
            assert_eq!(error.kind(), JobErrorKind::DependencyFailed, "instance {n}");
            assert_eq!(error.step(), Some("Summarize"), "instance {n}");
            let error = error.root_cause();
            assert_eq!(
                error.kind(),
                JobErrorKind::StepFailed,
                "instance {n}: {error}"
            );
            assert_eq!(error.step(), Some("GetConnection"), "instance {n}");
            assert_eq!(error.attempts(), 4, "instance {n}: every retry was used");
            let cause = error
                .step_error()
                .and_then(|cause| cause.downcast_ref::<SqlError>());
            assert_eq!(
                cause,
                Some(&SqlError::Unavailable("the SQL server".into())),
                "instance {n}"
            );
            assert_eq!(state("GetConnection"), Some(StepState::Failed));
            assert_eq!(state("CheckAuth"), Some(StepState::Succeeded));
            for name in [
                "GetTableClient1",
                "GetTableClient2",
                "QueryTable1",
                "QueryTable2",
                "Summarize",
                "EmailNotification",
            ] {
                assert_eq!(
                    state(name),
                    Some(StepState::Skipped),
                    "instance {n}: {name}"
                );
            }
            run.failed += 1;
        } else {
            let summary = result.unwrap_or_else(|error| panic!("instance {n} failed: {error}"));
            assert_eq!(summary, SUMMARY, "instance {n}");
            assert!(
                steps.iter().all(|step| step.state == StepState::Succeeded),
                "instance {n}: {steps:?}"
            );
            for query in steps.iter().filter(|step| step.name.starts_with("Query")) {
                assert_eq!(query.attempts, 1, "instance {n}: {} timed out", query.name);
                let running = query.running.unwrap_or_default();
                run.slowest_query = run.slowest_query.max(running);
            }
            run.succeeded += 1;
        }
    }
    let expected_failures = instances.div_ceil(FAIL_EVERY);
    assert_eq!(run.failed, expected_failures);
    assert_eq!(run.succeeded, instances - expected_failures);
    assert_eq!(good.emails_sent() as usize, run.succeeded);
    assert_eq!(bad.emails_sent(), 0);

    drop(handles);
    // Every step's future and every instance holds a clone of its input: once the counts are back
    // to 1, no step future, task or instance state of the run is left.
    settle("the SQL libraries are released by every step", || {
        match (Arc::strong_count(&good), Arc::strong_count(&bad)) {
            (1, 1) => Ok(()),
            (good, bad) => Err(format!(
                "{} references to the good library and {} to the failing one remain",
                good - 1,
                bad - 1
            )),
        }
    });
    run
}
