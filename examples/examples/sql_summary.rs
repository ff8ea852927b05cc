//! The go-asyncjob README's SQL summary job, on tokio: prints the typed result and a table of
//! the steps with their state and timings.
//!
//! Run it with `cargo run -p asyncjob-examples --example sql_summary`.

use std::sync::Arc;
use std::time::Duration;

use asyncjob_examples::print_steps;
use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib};
use asyncjob_tokio::TokioExecutor;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let executor = TokioExecutor::new();
    let lib = Arc::new(SqlLib::new(executor.clone(), Duration::from_millis(5)));

    let instance = SQL_SUMMARY.start(executor, lib.clone());
    let summary = instance.result().await?;

    println!(
        "job {} ({}) succeeded: {summary:?}",
        instance.name(),
        instance.id()
    );
    println!("emails sent: {}\n", lib.emails_sent());
    print_steps(&instance);
    Ok(())
}
