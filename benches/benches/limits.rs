//! What a limit costs (issue 15), and what a map item costs.
//!
//! For every runtime (local executor, tokio current-thread, tokio multi-thread with two workers,
//! smol), the group `limits-{runtime}` times one run of 1,000 independent no-op steps:
//!
//! * `asyncjob-limit`: every step `needs` one `Limit` of 8 permits;
//! * `asyncjob`: the same definition without the limit;
//! * `spawn-semaphore`: one task per step spawned with the runtime's own spawn, each holding a
//!   permit of an `async_lock::Semaphore` of 8 around its work, then every task awaited;
//! * `spawn`: the same tasks without the semaphore;
//! * `c-spawn`: the scheduling benches' baseline (c) on the same graph (`Shared` outputs).
//!
//! The group `map-{runtime}` times a map of 10,000 items (a root producing them, one map step),
//! against the scheduling benches' fan-out of 10,000 steps run by asyncjob and by baseline (c).
//!
//! Throughput is set to the number of steps (items), so criterion also prints steps per second.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_lock::Semaphore;
use asyncjob::Limit;
use asyncjob_benches::limits::{independent, independent_graph, map};
use asyncjob_benches::{Job, Runner, RuntimeKind, Shape};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

const STEPS: usize = 1_000;
const PERMITS: usize = 8;
const ITEMS: usize = 10_000;

fn limits(c: &mut Criterion) {
    let limit = Limit::new("bench", PERMITS);
    let limited = independent(STEPS, Some(&limit)).expect("a well-formed job");
    let free = independent(STEPS, None).expect("a well-formed job");
    let graph = Arc::new(independent_graph(STEPS));
    let semaphore = Arc::new(Semaphore::new(PERMITS));
    for kind in RuntimeKind::ALL {
        let runner = Runner::new(kind);
        let mut group = c.benchmark_group(format!("limits-{kind}"));
        group.throughput(Throughput::Elements(STEPS as u64));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(20);
        group.bench_function(BenchmarkId::new("asyncjob-limit", STEPS), |b| {
            b.iter(|| runner.asyncjob(&limited));
        });
        group.bench_function(BenchmarkId::new("asyncjob", STEPS), |b| {
            b.iter(|| runner.asyncjob(&free));
        });
        group.bench_function(BenchmarkId::new("spawn-semaphore", STEPS), |b| {
            b.iter(|| black_box(runner.spawn_each(STEPS, Some(&semaphore))));
        });
        group.bench_function(BenchmarkId::new("spawn", STEPS), |b| {
            b.iter(|| black_box(runner.spawn_each(STEPS, None)));
        });
        group.bench_function(BenchmarkId::new("c-spawn", STEPS), |b| {
            b.iter(|| black_box(runner.spawn_per_step(&graph)));
        });
        group.finish();
    }
}

fn maps(c: &mut Criterion) {
    let (mapped, _) = map(ITEMS).expect("a well-formed job");
    let graph = Arc::new(Shape::FanOut.graph(ITEMS));
    let fan_out = Job::build(&graph).expect("a well-formed job");
    for kind in RuntimeKind::ALL {
        let runner = Runner::new(kind);
        let mut group = c.benchmark_group(format!("map-{kind}"));
        group.throughput(Throughput::Elements(ITEMS as u64));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(20);
        group.bench_function(BenchmarkId::new("asyncjob-map", ITEMS), |b| {
            b.iter(|| runner.asyncjob(&mapped));
        });
        group.bench_function(BenchmarkId::new("asyncjob-fanout", ITEMS), |b| {
            b.iter(|| runner.asyncjob(&fan_out));
        });
        group.bench_function(BenchmarkId::new("c-spawn-fanout", ITEMS), |b| {
            b.iter(|| black_box(runner.spawn_per_step(&graph)));
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = limits, maps
}
criterion_main!(benches);
