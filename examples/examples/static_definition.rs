//! A job definition built once per process, in a `static LazyLock`, and started concurrently
//! from many tokio tasks on a multi-threaded runtime: each start is a separate instance, with its
//! own input, id, outputs and state.
//!
//! Run it with `cargo run -p asyncjob-examples --example static_definition`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use asyncjob::{BoxError, DefinitionError, JobBuilder, JobOptions, JobWithResult};
use asyncjob_tokio::TokioExecutor;

/// A quote request: the job input.
#[derive(Debug)]
struct Request {
    customer: u32,
    items: Vec<u64>,
}

/// The job's result.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Quote {
    customer: u32,
    subtotal: u64,
    discount_percent: u64,
    total: u64,
}

/// How many times the definition was built: once, however many jobs run.
static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// The definition, built on first use and shared by every instance.
static QUOTE: LazyLock<JobWithResult<Arc<Request>, Quote>> =
    LazyLock::new(|| build().expect("the quote job is well formed"));

fn build() -> Result<JobWithResult<Arc<Request>, Quote>, DefinitionError> {
    BUILDS.fetch_add(1, Ordering::SeqCst);
    let mut job = JobBuilder::<Arc<Request>>::new("quote");
    // Two independent lookups, side by side.
    let tier = job
        .step("customer tier")
        .run(|req: Arc<Request>| async move {
            tokio::time::sleep(Duration::from_millis(2)).await; // a call to a customer service
            Ok::<_, BoxError>(req.customer % 3)
        })?;
    let subtotal = job
        .step("price items")
        .run(|req: Arc<Request>| async move {
            tokio::time::sleep(Duration::from_millis(3)).await; // a call to a price service
            Ok::<_, BoxError>(req.items.iter().sum::<u64>())
        })?;
    // Then one step with both outputs.
    let quote = job.step("apply discount").after((&tier, &subtotal)).run(
        |req: Arc<Request>, (tier, subtotal)| async move {
            let discount_percent = u64::from(tier) * 5;
            Ok::<_, BoxError>(Quote {
                customer: req.customer,
                subtotal,
                discount_percent,
                total: subtotal * (100 - discount_percent) / 100,
            })
        },
    )?;
    job.seal().with_result(&quote)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const REQUESTS: u32 = 200;
    let started = Instant::now();

    // One tokio task per request; each starts an instance of the shared definition.
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|customer| {
            tokio::spawn(async move {
                let request = Arc::new(Request {
                    customer,
                    items: (1..=u64::from(customer % 7) + 1).map(|i| i * 100).collect(),
                });
                let options = JobOptions::new().with_id(format!("request-{customer}"));
                let instance = QUOTE
                    .on(TokioExecutor::new())
                    .options(options)
                    .start(request);
                let quote = instance.result().await?;
                Ok::<_, asyncjob::JobError>((instance.id().to_string(), quote))
            })
        })
        .collect();

    let mut quotes = Vec::with_capacity(tasks.len());
    for task in tasks {
        quotes.push(task.await??);
    }
    let elapsed = started.elapsed();

    for (id, quote) in quotes.iter().take(5) {
        println!("{id}: {quote:?}");
    }
    println!("…");
    let revenue: u64 = quotes.iter().map(|(_, quote)| quote.total).sum();
    println!(
        "\n{} quotes in {:.1} ms, from {} build of the definition; total quoted: {revenue}",
        quotes.len(),
        elapsed.as_secs_f64() * 1e3,
        BUILDS.load(Ordering::SeqCst),
    );

    assert_eq!(quotes.len(), REQUESTS as usize);
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    for (customer, (id, quote)) in (0..).zip(&quotes) {
        assert_eq!(
            (id.as_str(), quote.customer),
            (&*format!("request-{customer}"), customer)
        );
    }
    Ok(())
}
