//! Load and leak checks: 10,000 instances of the SQL-summary job in flight at once, on tokio's
//! multi-thread runtime and on a smol executor, each run by 2 threads; every instance must end
//! with its typed result (or, for one in ten, with the connection error), and nothing of them may
//! be left afterwards.
//!
//! Two kinds of probe, both checked while the runtime is still running (a task parked for ever
//! would otherwise hide behind the runtime's shutdown) and again after it has shut down:
//!
//! * every step captures the job input, an `Arc<SqlLib>`: once all instances are dropped, the
//!   test must hold the only reference (no step future, task or instance state is left);
//! * a twin of the job, with the same steps and policies over the same library, counts its live
//!   step futures and its live outputs (every clone included): both must return to zero.
//!
//! The memory check (live bytes before and after) is in `tests/memory.rs`: it needs a global
//! allocator of its own.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{DefinitionError, JobBuilder, JobWithResult};
use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib, Summary};
use common::{INSTANCES, Kind, LoadRun, Runtime, SqlTimer, Watchdog, settle, sql_load};

/// One load at a time: each one keeps both cores busy, and two at once would only make each
/// slower (and the queries' 1 s timeout tighter).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn report(name: &str, kind: Kind, sql_timer: SqlTimer, run: &LoadRun) {
    println!(
        "{name}: {kind:?}, SQL timer {sql_timer:?}: {} instances ({} succeeded, {} failed), all \
         started in {:.2?}, all ended in {:.2?}; slowest query {:.2?}",
        run.instances, run.succeeded, run.failed, run.to_start, run.elapsed, run.slowest_query,
    );
}

/// 10,000 instances of `SQL_SUMMARY`, with the input probe.
fn sql_summary(name: &'static str, kind: Kind, sql_timer: SqlTimer) {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(name, Duration::from_secs(120));
    let runtime = Runtime::new(kind);
    let run = sql_load(
        &runtime,
        sql_timer,
        INSTANCES,
        &SQL_SUMMARY,
        Arc::clone,
        || (),
    );
    report(name, kind, sql_timer, &run);
    runtime.shutdown();
}

#[test]
fn tokio_sql_summary_10k_on_the_runtime_timer() {
    sql_summary(
        "tokio_sql_summary_10k_on_the_runtime_timer",
        Kind::Tokio,
        SqlTimer::Runtime,
    );
}

#[test]
fn tokio_sql_summary_10k_on_an_instant_sql_timer() {
    sql_summary(
        "tokio_sql_summary_10k_on_an_instant_sql_timer",
        Kind::Tokio,
        SqlTimer::Instant,
    );
}

#[test]
fn smol_sql_summary_10k_on_the_runtime_timer() {
    sql_summary(
        "smol_sql_summary_10k_on_the_runtime_timer",
        Kind::Smol,
        SqlTimer::Runtime,
    );
}

#[test]
fn smol_sql_summary_10k_on_an_instant_sql_timer() {
    sql_summary(
        "smol_sql_summary_10k_on_an_instant_sql_timer",
        Kind::Smol,
        SqlTimer::Instant,
    );
}

/// Live values of one kind: now, and the most at once.
#[derive(Debug, Default)]
struct Live {
    now: AtomicIsize,
    peak: AtomicIsize,
}

impl Live {
    fn up(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn down(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn now(&self) -> isize {
        self.now.load(Ordering::SeqCst)
    }

    fn peak(&self) -> isize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// The counters of one run of the twin.
#[derive(Debug, Default)]
struct Probes {
    /// Step futures made and not yet dropped.
    futures: Live,
    /// Step outputs (and their clones) made and not yet dropped.
    outputs: Live,
}

/// The twin's input: the library, and the counters.
#[derive(Debug, Clone)]
struct Input {
    lib: Arc<SqlLib>,
    probes: Arc<Probes>,
}

/// Held by a step future from the moment the step function makes it until it is dropped.
#[derive(Debug)]
struct FutureProbe(Arc<Probes>);

impl FutureProbe {
    fn new(input: &Input) -> Self {
        input.probes.futures.up();
        FutureProbe(input.probes.clone())
    }
}

impl Drop for FutureProbe {
    fn drop(&mut self) {
        self.0.futures.down();
    }
}

/// A step output, counted from the moment it is made (and each clone from its cloning) until it
/// is dropped.
struct Counted<T> {
    value: T,
    probes: Arc<Probes>,
}

impl<T> Counted<T> {
    fn new(input: &Input, value: T) -> Self {
        input.probes.outputs.up();
        Counted {
            value,
            probes: input.probes.clone(),
        }
    }
}

impl<T: Clone> Clone for Counted<T> {
    fn clone(&self) -> Self {
        self.probes.outputs.up();
        Counted {
            value: self.value.clone(),
            probes: self.probes.clone(),
        }
    }
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.probes.outputs.down();
    }
}

impl<T: fmt::Debug> fmt::Debug for Counted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl PartialEq<Summary> for Counted<Summary> {
    fn eq(&self, other: &Summary) -> bool {
        self.value == *other
    }
}

/// A twin of `asyncjob_examples::sql::build`: the same steps, dependencies and policies over the
/// same library, with every step future and every output counted. With `leak`, `Summarize`
/// forgets a clone of one of its inputs (to show that the probes see a leak).
fn counted_sql_job(leak: bool) -> Result<JobWithResult<Input, Counted<Summary>>, DefinitionError> {
    // A step function: `$body` (an expression of `input` and the outputs) gives a
    // `Result<T, SqlError>`, whose `T` becomes a counted output.
    macro_rules! counted {
        (|$input:ident $(, $outputs:pat_param)?| $body:expr) => {
            move |$input: Input $(, $outputs)?| {
                let probe = FutureProbe::new(&$input);
                async move {
                    let _probe = probe;
                    let value = $body.await?;
                    Ok::<_, asyncjob_examples::sql::SqlError>(Counted::new(&$input, value))
                }
            }
        };
    }

    let mut job = JobBuilder::<Input>::new("sqlSummaryJob (counted)");
    let conn = job
        .step("GetConnection")
        .retry(Retry::exponential(4, Duration::from_millis(2)).max_delay(Duration::from_millis(20)))
        .run(counted!(|input| input.lib.connect()))?;
    let auth = job
        .step("CheckAuth")
        .run(counted!(|input| input.lib.check_auth()))?;
    let t1 = job
        .step("GetTableClient1")
        .after(&conn)
        .run(counted!(|input, conn| input
            .lib
            .table_client(&conn.value, "table1")))?;
    let t2 = job
        .step("GetTableClient2")
        .after(&conn)
        .run(counted!(|input, conn| input
            .lib
            .table_client(&conn.value, "table2")))?;
    let q1 = job
        .step("QueryTable1")
        .after(&t1)
        .wait_for(&auth)
        .timeout(Duration::from_secs(1))
        .retry(Retry::fixed(2, Duration::ZERO))
        .run(counted!(|input, client| input.lib.query(&client.value, 1)))?;
    let q2 = job
        .step("QueryTable2")
        .after(&t2)
        .wait_for(&auth)
        .timeout(Duration::from_secs(1))
        .retry(Retry::fixed(2, Duration::ZERO))
        .run(counted!(|input, client| input.lib.query(&client.value, 2)))?;
    let summary = job
        .step("Summarize")
        .after((&q1, &q2))
        .run(counted!(|input, (r1, r2)| {
            if leak {
                std::mem::forget(r1.clone());
            }
            input.lib.summarize(&r1.value, &r2.value)
        }))?;
    job.step("EmailNotification")
        .wait_for(&summary)
        .run(counted!(|input| input.lib.email()))?;
    job.seal().with_result(&summary)
}

/// Runs `instances` instances of the counted twin and returns the counters once every step
/// future has been dropped and both libraries are released.
fn counted(name: &'static str, kind: Kind, instances: usize, leak: bool) -> (LoadRun, Arc<Probes>) {
    let _watchdog = Watchdog::new(name, Duration::from_secs(120));
    let job = counted_sql_job(leak).expect("the counted SQL job is well formed");
    let probes = Arc::new(Probes::default());
    let runtime = Runtime::new(kind);
    let input = |lib: &Arc<SqlLib>| Input {
        lib: lib.clone(),
        probes: probes.clone(),
    };
    let run = sql_load(&runtime, SqlTimer::Runtime, instances, &job, input, || ());
    // `sql_load` has waited for the libraries to be released; the futures that held them are
    // gone, so this settles at once (it is a check, not a wait).
    settle("every step future is dropped", || {
        match probes.futures.now() {
            0 => Ok(()),
            n => Err(format!("{n} step futures are alive")),
        }
    });
    // Outputs live in the instances, which `sql_load` dropped: their last clones go with the
    // last step futures and tasks.
    if !leak {
        settle("every output is dropped", || match probes.outputs.now() {
            0 => Ok(()),
            n => Err(format!("{n} outputs are alive")),
        });
    }
    runtime.shutdown();
    assert_eq!(probes.futures.now(), 0, "after the runtime shut down");
    (run, probes)
}

fn counted_10k(name: &'static str, kind: Kind) {
    let _serial = one_at_a_time();
    let (run, probes) = counted(name, kind, INSTANCES, false);
    assert_eq!(probes.outputs.now(), 0, "after the runtime shut down");
    // The probes did count: the two root steps of every instance were alive at once.
    let roots = 2 * isize::try_from(INSTANCES).expect("a small number");
    assert!(probes.futures.peak() >= roots, "{probes:?}");
    assert!(probes.outputs.peak() > 0, "{probes:?}");
    report(name, kind, SqlTimer::Runtime, &run);
    println!(
        "{name}: at most {} step futures and {} outputs alive at once; 0 and 0 afterwards",
        probes.futures.peak(),
        probes.outputs.peak()
    );
}

#[test]
fn tokio_counted_10k_drop_every_step_future_and_output() {
    counted_10k(
        "tokio_counted_10k_drop_every_step_future_and_output",
        Kind::Tokio,
    );
}

#[test]
fn smol_counted_10k_drop_every_step_future_and_output() {
    counted_10k(
        "smol_counted_10k_drop_every_step_future_and_output",
        Kind::Smol,
    );
}

/// The probes can fail: a `Summarize` that forgets a clone of an output leaves exactly one live
/// output per successful instance, which the zero check above would report.
#[test]
fn the_output_probe_sees_a_leak() {
    let instances = 100;
    for kind in [Kind::Tokio, Kind::Smol] {
        let (run, probes) = counted("the_output_probe_sees_a_leak", kind, instances, true);
        let leaked = isize::try_from(run.succeeded).expect("a small number");
        settle("the leaked outputs are all that is left", || {
            match probes.outputs.now() {
                n if n == leaked => Ok(()),
                n => Err(format!("{n} outputs alive, {leaked} leaked")),
            }
        });
    }
}
