//! Memory per step instance per run: allocation calls, bytes allocated and peak live bytes,
//! counted by a global allocator, for each shape at 1,000 steps on the local executor and on
//! tokio's current-thread runtime. asyncjob's figures sit beside those of the hand-written
//! baselines (b) and (c) on the same runtime.
//!
//! Not a criterion bench: run it with `cargo bench -p asyncjob-benches --bench memory`. It prints a
//! Markdown table. Arguments (cargo passes `--bench`, criterion options may follow) are ignored.
//!
//! Each figure is the mean over [`RUNS`] runs, after [`WARM_UP`] runs that let the runtime grow
//! its queues, divided by the number of steps. The definition is built and sealed before counting:
//! what is counted is one `start()` + `wait()` (the instance, its steps' futures and outputs, the
//! tasks), as for the baselines one wiring of the graph and its run.

#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncjob_benches::{Implementation, Job, Runner, RuntimeKind, Shape};

/// Wraps the system allocator, counting allocation calls, bytes requested and live bytes.
struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn count(requested: usize, grown: usize) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(requested, Ordering::Relaxed);
    let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// `GlobalAlloc` is an unsafe trait: implementing it is the only way to observe every allocation
// of the process. This is the one `unsafe` of the benches: each method forwards its arguments
// unchanged to `System` (so the caller's guarantees are exactly those `System` needs) and only
// updates atomic counters besides.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` (through this wrapper) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation counts as one call of `new_size` bytes.
        let old = layout.size();
        if new_size >= old {
            count(new_size, new_size - old);
        } else {
            CALLS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
        }
        // SAFETY: `ptr` was allocated by `System` (through this wrapper) with `layout`; the
        // caller upholds `GlobalAlloc::realloc`'s contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const STEPS: usize = 1_000;
const WARM_UP: usize = 3;
const RUNS: usize = 20;

/// Per step instance per run.
struct Figures {
    calls: f64,
    bytes: f64,
    peak: f64,
}

fn measure(run: impl Fn()) -> Figures {
    for _ in 0..WARM_UP {
        run();
    }
    let (mut calls, mut bytes, mut peak) = (0, 0, 0);
    for _ in 0..RUNS {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        let (calls0, bytes0) = (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
        run();
        calls += CALLS.load(Ordering::Relaxed) - calls0;
        bytes += BYTES.load(Ordering::Relaxed) - bytes0;
        peak += PEAK.load(Ordering::Relaxed).saturating_sub(live);
    }
    #[allow(clippy::cast_precision_loss)] // small counts
    let per_step = |total: usize| total as f64 / (RUNS * STEPS) as f64;
    Figures {
        calls: per_step(calls),
        bytes: per_step(bytes),
        peak: per_step(peak),
    }
}

fn main() {
    println!("Memory per step instance per run ({STEPS} steps, mean of {RUNS} runs)");
    println!();
    println!(
        "| shape | runtime | implementation | allocations / step | bytes allocated / step | peak live bytes / step |"
    );
    println!("|---|---|---|---:|---:|---:|");
    for shape in Shape::ALL {
        let graph = Arc::new(shape.graph(STEPS));
        let job = Job::build(&graph).expect("a well-formed job");
        for kind in [RuntimeKind::Local, RuntimeKind::TokioCurrentThread] {
            let runner = Runner::new(kind);
            for implementation in [
                Implementation::Asyncjob,
                Implementation::Shared,
                Implementation::SpawnPerStep,
            ] {
                let figures = measure(|| {
                    std::hint::black_box(runner.run(implementation, &job, &graph));
                });
                println!(
                    "| {shape} | {kind} | {} | {:.2} | {:.0} | {:.0} |",
                    implementation.name(),
                    figures.calls,
                    figures.bytes,
                    figures.peak,
                );
            }
        }
    }
}
