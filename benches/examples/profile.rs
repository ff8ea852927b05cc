//! Runs one implementation of one shape on one runtime in a loop, for a profiler:
//!
//! ```text
//! cargo build --profile bench -p asyncjob-benches --example profile
//! valgrind --tool=callgrind target/release/examples/profile chain local asyncjob 1000 200
//! perf record -g target/release/examples/profile fanout tokio-mt2 c-spawn 1000 2000
//! ```
//!
//! Arguments: shape (`chain`, `fanout`, `lattice`), runtime (`local`, `tokio-ct`, `tokio-mt2`,
//! `smol`), implementation (`asyncjob`, `a-floor`, `b-shared`, `c-spawn`), steps, runs; or
//! `map <runtime> asyncjob <items> <runs>` for a map step's items.

use std::sync::Arc;

use asyncjob_benches::{Implementation, Job, Runner, RuntimeKind, Shape};

fn parse<T: Copy>(
    what: &str,
    value: Option<&String>,
    options: &[T],
    name: fn(T) -> &'static str,
) -> T {
    let value = value.map_or("", String::as_str);
    options
        .iter()
        .copied()
        .find(|&option| name(option) == value)
        .unwrap_or_else(|| {
            let names: Vec<_> = options.iter().map(|&o| name(o)).collect();
            eprintln!("{what}: expected one of {names:?}, got {value:?}");
            std::process::exit(2)
        })
}

fn number(what: &str, value: Option<&String>) -> usize {
    value.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("{what}: expected a number");
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("map") {
        return map(&args);
    }
    let shape = parse("shape", args.get(1), &Shape::ALL, Shape::name);
    let kind = parse("runtime", args.get(2), &RuntimeKind::ALL, RuntimeKind::name);
    let implementation = parse(
        "implementation",
        args.get(3),
        &Implementation::ALL,
        Implementation::name,
    );
    let steps = number("steps", args.get(4));
    let runs = number("runs", args.get(5));
    let graph = Arc::new(shape.graph(steps));
    let job = Job::build(&graph).expect("a well-formed job");
    let runner = Runner::new(kind);
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(runner.run(implementation, &job, &graph));
    }
    #[allow(clippy::cast_precision_loss)] // small counts
    let per_step = start.elapsed().as_nanos() as f64 / (runs * steps) as f64;
    println!(
        "{shape} {kind} {}: {per_step:.0} ns/step",
        implementation.name()
    );
}

/// `map <runtime> asyncjob <items> <runs>`: a map step over `items` items (the `map-{runtime}`
/// bench group's job), for comparing an item's cost with a step's.
fn map(args: &[String]) {
    let kind = parse("runtime", args.get(2), &RuntimeKind::ALL, RuntimeKind::name);
    if args.get(3).map(String::as_str) != Some("asyncjob") {
        eprintln!("implementation: a map runs on asyncjob only");
        std::process::exit(2)
    }
    let items = number("items", args.get(4));
    let runs = number("runs", args.get(5));
    let (job, _) = asyncjob_benches::limits::map(items).expect("a well-formed job");
    let runner = Runner::new(kind);
    let start = std::time::Instant::now();
    for _ in 0..runs {
        runner.asyncjob(std::hint::black_box(&job));
    }
    #[allow(clippy::cast_precision_loss)] // small counts
    let per_item = start.elapsed().as_nanos() as f64 / (runs * items) as f64;
    println!("map {kind} asyncjob: {per_item:.0} ns/item");
}
