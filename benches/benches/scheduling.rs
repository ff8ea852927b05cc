//! Scheduling overhead of asyncjob against hand-written baselines.
//!
//! For every shape (chain, fan-out/fan-in, lattice), size (10, 1,000, 10,000 steps) and runtime
//! (local executor, tokio current-thread, tokio multi-thread with two workers, smol), one group
//! `{shape}-{runtime}` times one job run of each implementation:
//!
//! * `asyncjob`: `start()` + `wait()` of a definition built and sealed once, outside the loop;
//! * `a-floor`: one task awaiting each step's ready future in topological order;
//! * `b-shared`: hand-wired `Shared` outputs, driven by one task;
//! * `c-spawn`: hand-wired `Shared` outputs, one task per step spawned with the runtime's own
//!   spawn, each awaiting its parents' handles.
//!
//! Throughput is set to the number of steps, so criterion also prints steps per second; the
//! report (`docs/performance.md`) divides the median time per run by the number of steps.
//!
//! The `startup` group times `start()` + `wait()` of a one-step job on each runtime, and building
//! and sealing a definition of 1,000 steps.
//!
//! With `ASYNCJOB_BENCH_HUGE=1`, the `huge-{shape}-{runtime}` groups also run chains and fan-outs
//! of 100,000 steps (slow; not run by CI).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use asyncjob_benches::{Implementation, Job, Runner, RuntimeKind, Shape};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

const SIZES: [usize; 3] = [10, 1_000, 10_000];
const HUGE: usize = 100_000;

fn shapes(c: &mut Criterion) {
    for shape in Shape::ALL {
        for kind in RuntimeKind::ALL {
            bench_shape(c, &format!("{shape}-{kind}"), shape, kind, &SIZES);
        }
    }
}

fn huge(c: &mut Criterion) {
    if std::env::var_os("ASYNCJOB_BENCH_HUGE").is_none_or(|v| v != "1") {
        return;
    }
    for shape in [Shape::Chain, Shape::FanOut] {
        for kind in RuntimeKind::ALL {
            bench_shape(c, &format!("huge-{shape}-{kind}"), shape, kind, &[HUGE]);
        }
    }
}

fn bench_shape(c: &mut Criterion, name: &str, shape: Shape, kind: RuntimeKind, sizes: &[usize]) {
    let runner = Runner::new(kind);
    let mut group = c.benchmark_group(name);
    for &steps in sizes {
        let graph = Arc::new(shape.graph(steps));
        let job = Job::build(&graph).expect("a well-formed job");
        group.throughput(Throughput::Elements(steps as u64));
        if steps >= 1_000 {
            // One run takes from tens of microseconds to tens of milliseconds: fewer, flat
            // samples keep the short measurement times honest.
            group.sampling_mode(SamplingMode::Flat);
            group.sample_size(20);
        } else {
            group.sampling_mode(SamplingMode::Auto);
            group.sample_size(100);
        }
        for implementation in Implementation::ALL {
            group.bench_with_input(
                BenchmarkId::new(implementation.name(), steps),
                &steps,
                |b, _| b.iter(|| black_box(runner.run(implementation, &job, &graph))),
            );
        }
    }
    group.finish();
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    let graph = Arc::new(Shape::Chain.graph(1));
    let job = Job::build(&graph).expect("a well-formed job");
    for kind in RuntimeKind::ALL {
        let runner = Runner::new(kind);
        group.bench_function(BenchmarkId::new("start-wait-1-step", kind), |b| {
            b.iter(|| runner.asyncjob(&job));
        });
        group.bench_function(BenchmarkId::new("c-spawn-1-step", kind), |b| {
            b.iter(|| black_box(runner.spawn_per_step(&graph)));
        });
    }
    for shape in Shape::ALL {
        let graph = shape.graph(1_000);
        group.bench_function(BenchmarkId::new("build-seal-1000", shape), |b| {
            b.iter(|| Job::build(black_box(&graph)).expect("a well-formed job"));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = shapes, huge, startup
}
criterion_main!(benches);
