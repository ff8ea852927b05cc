//! Retries and timeouts in the SQL summary job: the fake server refuses the first two
//! connections, so `GetConnection` succeeds on its third attempt under its exponential back-off
//! policy. Prints each step's attempts and the Gantt chart, where the failed attempts show.
//!
//! Run it with `cargo run -p asyncjob-examples --example sql_retries`.

use std::sync::Arc;
use std::time::Duration;

use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib};
use asyncjob_tokio::TokioExecutor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let executor = TokioExecutor::new();
    let lib = SqlLib::new(executor.clone(), Duration::from_millis(2)).fail_connections(2);

    let instance = SQL_SUMMARY.on(executor).start(Arc::new(lib));
    let summary = instance.result().await?;
    println!("succeeded despite a flaky server: {summary:?}\n");

    for step in instance.steps() {
        println!("{:<18} {} attempt(s)", step.name, step.attempts);
        for failed in &step.retried {
            println!("    attempt {} failed: {:#}", failed.attempt, failed.error);
        }
    }
    let connect = instance
        .step_by_name("GetConnection")
        .ok_or("no GetConnection step")?;
    assert_eq!(connect.attempts, 3);

    println!("\n```mermaid\n{}```", instance.to_mermaid_gantt());
    Ok(())
}
