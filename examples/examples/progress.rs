//! A progress bar over a job of 300 steps, driven by the job's event stream.
//!
//! 100 files are fetched, parsed and indexed (three steps each). Every seventh fetch fails its
//! first attempt and is retried after 20 ms; fetching file 50 fails every time, so its parse and
//! index steps are skipped. The bar counts steps that ended; its message says how many run and
//! how many wait out a back-off; retries and failures are printed above it as they happen.
//!
//! ```text
//! cargo run -p asyncjob-examples --example progress
//! ```
//!
//! On a terminal the bar redraws in place; elsewhere (CI, a pipe) indicatif draws nothing and
//! only the lines and the summary are printed. The example checks its own counts and exits
//! with an error if the events disagree with the snapshot.

use std::collections::HashSet;
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{EventKind, JobBuilder, JobDefinition, JobOptions, StepState};
use asyncjob_tokio::TokioExecutor;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

/// How many files the job processes (three steps each).
const FILES: u32 = 100;
/// The file whose fetch always fails.
const BROKEN: u32 = 50;

#[derive(Debug)]
struct FetchError(u32);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "file {} is not there", self.0)
    }
}

impl std::error::Error for FetchError {}

/// The job: for each file, fetch → parse → index. The input is the time a step takes.
fn pipeline() -> Result<JobDefinition<Duration>, asyncjob::DefinitionError> {
    let mut job = JobBuilder::<Duration>::new("index the files");
    for file in 0..FILES {
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let fetch = job
            .step(format!("fetch {file}"))
            .retry(Retry::fixed(3, Duration::from_millis(20)))
            .run(move |work: Duration| {
                let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    tokio::time::sleep(work * (1 + file % 5)).await;
                    if file == BROKEN || (file % 7 == 0 && attempt == 0) {
                        return Err(FetchError(file));
                    }
                    Ok(vec![file as u8; 64])
                }
            })?;
        let parse = job.step(format!("parse {file}")).after(&fetch).run(
            |work: Duration, bytes: Vec<u8>| async move {
                tokio::time::sleep(work).await;
                Ok::<_, FetchError>(bytes.len())
            },
        )?;
        job.step(format!("index {file}")).after(&parse).run(
            |work: Duration, len: usize| async move {
                tokio::time::sleep(work).await;
                Ok::<_, FetchError>(len)
            },
        )?;
    }
    Ok(job.seal())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let job = pipeline()?;
    let steps = job.steps().count() as u64;
    let instance = job
        .on(TokioExecutor::new())
        .options(JobOptions::new().record_events())
        .start(Duration::from_millis(2));

    let bar = ProgressBar::new(steps);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} steps ended, {elapsed} · {msg}",
    )?);
    let (mut running, mut backing_off) = (HashSet::new(), HashSet::new());
    let (mut retries, mut failed, mut skipped) = (0, 0, 0);
    let mut events = instance.events()?;
    while let Some(event) = events.next().await {
        let index = event.step_index();
        match &event.kind {
            EventKind::Running { .. } => {
                backing_off.remove(&index);
                running.insert(index);
            }
            EventKind::Retrying {
                attempt, backoff, ..
            } => {
                retries += 1;
                running.remove(&index);
                backing_off.insert(index);
                let name = event.step_name().unwrap_or_default();
                bar.println(format!(
                    "{name}: attempt {attempt} failed, retrying in {backoff:?}"
                ));
            }
            EventKind::Failed { error } => {
                failed += 1;
                bar.println(format!("{error:#}"));
            }
            EventKind::Skipped { .. } => skipped += 1,
            EventKind::JobEnded { outcome } => {
                let verdict = match outcome {
                    Ok(()) => "every step succeeded".to_owned(),
                    Err(error) => format!("failed: {error}"),
                };
                bar.finish_with_message(verdict);
                continue;
            }
            _ => {}
        }
        if event.kind.state().is_some_and(StepState::is_finished) {
            running.remove(&index);
            backing_off.remove(&index);
            bar.inc(1);
        }
        bar.set_message(format!(
            "{} running, {} in back-off",
            running.len(),
            backing_off.len()
        ));
    }

    let snapshot = instance.snapshot();
    let count = |state| snapshot.steps.iter().filter(|s| s.state == state).count();
    println!(
        "{} steps: {} succeeded, {failed} failed, {skipped} skipped, {retries} retries",
        steps,
        count(StepState::Succeeded)
    );
    // The stream and the snapshot tell the same story.
    let expected_retries = (0..FILES).filter(|f| f % 7 == 0).count() + 2;
    if failed != count(StepState::Failed)
        || skipped != count(StepState::Skipped)
        || (failed, skipped, retries) != (1, 2, expected_retries)
    {
        return Err("the event stream disagrees with the job".into());
    }
    Ok(())
}
