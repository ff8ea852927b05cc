//! Memory returns after a load: live heap bytes (counted by a global allocator) before and after
//! 10,000 instances of the SQL-summary job, on tokio's multi-thread runtime and on a smol
//! executor, each run by 2 threads, must be within [`MARGIN`] of each other.
//!
//! Each runtime is warmed up first with two full loads, so that its queues, slabs, timer wheel
//! and thread-locals have grown to the size the load needs; what a third load leaves behind is
//! then what the jobs leak. The allocator is `cap`'s `Cap<System>`, which counts without any
//! `unsafe` in this crate; a test binary has one global allocator, hence a file of its own.

mod common;

use std::alloc::System;
use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use asyncjob_examples::sql::SQL_SUMMARY;
use cap::Cap;
use common::{INSTANCES, Kind, Runtime, STEPS, SqlTimer, Watchdog, settle, sql_load};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// How many more live bytes than before a load may remain after it: room for what a runtime
/// keeps, whose size varies a little from one run to the next. A leak of 26 bytes per instance
/// (of one step future in 25 instances) is more.
const MARGIN: usize = 256 * 1024;

/// The loads of this file run one at a time: the allocator counts the whole process.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Live bytes once nothing allocates or frees any more (the runtime is idle).
fn quiet_live_bytes() -> usize {
    settle("the heap is quiet", || {
        let before = ALLOCATOR.allocated();
        std::thread::sleep(Duration::from_millis(50));
        let after = ALLOCATOR.allocated();
        if before == after {
            Ok(after)
        } else {
            Err(format!("{before} then {after} live bytes"))
        }
    })
}

fn memory_returns(name: &'static str, kind: Kind) {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(name, Duration::from_secs(180));
    let runtime = Runtime::new(kind);
    for _ in 0..2 {
        sql_load(
            &runtime,
            SqlTimer::Runtime,
            INSTANCES,
            &SQL_SUMMARY,
            Arc::clone,
            || (),
        );
    }
    let before = quiet_live_bytes();
    let in_flight = Cell::new(0);
    let run = sql_load(
        &runtime,
        SqlTimer::Runtime,
        INSTANCES,
        &SQL_SUMMARY,
        Arc::clone,
        || in_flight.set(ALLOCATOR.allocated()),
    );
    // Tasks may still be freeing what they held (an aborted timer task, say): wait for them.
    let after = settle("live bytes return to within the margin", || {
        let live = ALLOCATOR.allocated();
        if live <= before + MARGIN {
            Ok(live)
        } else {
            Err(format!(
                "{live} live bytes, {} more than the {before} before the load (margin {MARGIN})",
                live - before
            ))
        }
    });
    let settled = quiet_live_bytes();
    runtime.shutdown();
    let delta = if settled >= before {
        format!("+{}", settled - before)
    } else {
        format!("-{}", before - settled)
    };
    let in_flight = in_flight.get();
    println!(
        "{name}: {} instances × {STEPS} steps in {:.2?}; live bytes: {before} before, {in_flight} \
         with all instances in flight ({} per instance), {after} after ({settled} once quiet: \
         {delta}, margin {MARGIN}); {} after the runtime shut down",
        run.instances,
        run.elapsed,
        in_flight.saturating_sub(before) / run.instances,
        ALLOCATOR.allocated(),
    );
    assert!(
        settled <= before + MARGIN,
        "{settled} live bytes after, {before} before"
    );
}

#[test]
fn tokio_memory_returns_after_10k_sql_jobs() {
    memory_returns("tokio_memory_returns_after_10k_sql_jobs", Kind::Tokio);
}

#[test]
fn smol_memory_returns_after_10k_sql_jobs() {
    memory_returns("smol_memory_returns_after_10k_sql_jobs", Kind::Smol);
}
