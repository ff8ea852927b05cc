//! Dynamic fan-in: how many steps run side by side is decided when the job is built (here from
//! the command line), and one step takes all of their outputs as a `Vec`, in order.
//!
//! The job sums the squares of a list of numbers: a `plan` step cuts the list into shards, one
//! step per shard sums the squares of its part, and `merge` adds up the partial results. The
//! steps are `Send`, and the definition runs here on `asyncjob-local`'s single-threaded runtime
//! (a `Send` job runs on a local executor too; on tokio it would be `job.start(..)`).
//!
//! The steps are added with `try_run`, whose error type is `BoxError`: `Ok(value)` needs no
//! annotation. Everything comes from one `use asyncjob_local::prelude::*;`.
//!
//! Run it with `cargo run -p asyncjob-examples --example fan_in [-- SHARDS]` (default 8).

use std::ops::Range;
use std::sync::Arc;

use asyncjob_examples::print_steps;
// One dependency: asyncjob-local re-exports the core, and its prelude adds `LocalRuntime`.
use asyncjob_local::prelude::*;

/// The job input: the numbers to process, shared by every step.
type Numbers = Arc<Vec<u64>>;

/// What one shard step computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partial {
    count: usize,
    sum_of_squares: u64,
}

/// The job's result.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    shards: usize,
    count: usize,
    sum_of_squares: u64,
}

/// The job, and the handles of its shard steps (to read their outputs).
struct SumOfSquares {
    job: JobWithResult<Numbers, Report>,
    shards: Vec<StepHandle<Partial>>,
}

/// Builds the job for `shards` shards.
fn build(shards: usize) -> Result<SumOfSquares, DefinitionError> {
    let mut job = JobBuilder::<Numbers>::new("sum of squares");

    // One root step decides which part of the input each shard takes.
    let plan = job
        .step("plan")
        .try_run(move |numbers: Numbers| async move {
            let len = numbers.len();
            let ranges: Vec<Range<usize>> = (0..shards)
                .map(|i| i * len / shards..(i + 1) * len / shards)
                .collect();
            Ok(Arc::new(ranges))
        })?;

    // One step per shard, each after `plan`: as many as asked for, named at run time.
    let parts = (0..shards)
        .map(|shard| {
            job.step(format!("shard {shard}")).after(&plan).try_run(
                move |numbers: Numbers, ranges: Arc<Vec<Range<usize>>>| async move {
                    let part = &numbers[ranges[shard].clone()];
                    Ok(Partial {
                        count: part.len(),
                        sum_of_squares: part.iter().map(|n| n * n).sum(),
                    })
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    // One step after all of them: it receives a `Vec<Partial>`, in the order of `parts`.
    let merge =
        job.step("merge")
            .after(&parts)
            .try_run(|_, partials: Vec<Partial>| async move {
                Ok(Report {
                    shards: partials.len(),
                    count: partials.iter().map(|p| p.count).sum(),
                    sum_of_squares: partials.iter().map(|p| p.sum_of_squares).sum(),
                })
            })?;

    Ok(SumOfSquares {
        job: job.seal().with_result(&merge)?,
        shards: parts,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shards = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse::<usize>()
            .map_err(|e| format!("SHARDS must be a number ({e}): {arg:?}"))?,
        None => 8,
    };
    if shards == 0 {
        return Err("SHARDS must be at least 1".into());
    }

    let SumOfSquares { job, shards: parts } = build(shards)?;
    println!("{}: {} steps ({shards} shards)\n", job.name(), job.len());

    let n: u64 = 100_000;
    let numbers: Numbers = Arc::new((1..=n).collect());

    let runtime = LocalRuntime::new();
    let instance = job.on(runtime.handle()).start_local(numbers);
    let report = runtime.block_on(instance.result())?;

    for (shard, handle) in parts.iter().enumerate() {
        if let Some(partial) = instance.output(handle) {
            println!("shard {shard}: {partial:?}");
        }
    }
    println!("\n{report:?}");

    // 1² + 2² + … + n² = n(n + 1)(2n + 1) / 6
    let expected = n * (n + 1) * (2 * n + 1) / 6;
    assert_eq!(report.sum_of_squares, expected);
    assert_eq!((report.shards, report.count), (shards, n as usize));
    println!("matches n(n + 1)(2n + 1) / 6 = {expected}\n");

    print_steps(&instance);
    Ok(())
}
