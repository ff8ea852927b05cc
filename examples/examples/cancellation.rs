//! Cancelling a job: explicitly, by a deadline, and by dropping a guard. Cancelled steps never
//! start; running ones are dropped; the instance can still be inspected and drawn.
//!
//! Run it with `cargo run -p asyncjob-examples --example cancellation`.

use std::time::Duration;

use asyncjob::{JobBuilder, JobOptions, Timer};
use asyncjob_tokio::TokioExecutor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let executor = TokioExecutor::new();

    // fetch (fast) → crunch (slow: an hour) → publish
    let mut job = JobBuilder::<TokioExecutor>::new("report");
    let fetch = job
        .step("fetch")
        .run(|_| async { Ok::<_, String>(42u64) })?;
    let crunch = job
        .step("crunch")
        .after(&fetch)
        .run(|timer: TokioExecutor, n| async move {
            timer.sleep(Duration::from_secs(3600)).await;
            Ok::<_, String>(n * 2)
        })?;
    job.step("publish")
        .after(&crunch)
        .run(|_, n| async move { Ok::<_, String>(n) })?;
    let job = job.seal();

    // 1. Cancel explicitly once the slow step is running.
    let instance = job.on(executor.clone()).start(executor.clone());
    while instance.step_by_name("crunch").map(|s| s.state.as_str()) != Some("running") {
        tokio::task::yield_now().await;
    }
    instance.cancel();
    let error = instance.wait().await.expect_err("cancelled");
    println!("cancel():   {error}");
    for step in instance.steps() {
        println!("    {:<8} {}", step.name, step.state);
    }

    // 2. A deadline cancels the job on the executor's timer.
    let options = JobOptions::new().deadline(Duration::from_millis(20));
    let instance = job
        .on(executor.clone())
        .options(options)
        .start(executor.clone());
    println!(
        "deadline:   {}",
        instance.wait().await.expect_err("too slow")
    );

    // 3. A guard cancels the job when it goes out of scope.
    let instance = job.on(executor.clone()).start(executor.clone());
    {
        let _guard = instance.cancel_on_drop();
        tokio::task::yield_now().await;
    }
    println!(
        "guard:      {}",
        instance.wait().await.expect_err("cancelled")
    );

    // A cancelled instance can still be drawn.
    println!("\n{}", instance.to_dot());
    Ok(())
}
