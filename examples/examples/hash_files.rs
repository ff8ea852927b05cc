//! A pipeline whose width is found at run time: list the source files of a directory, hash
//! each (a [map step](asyncjob::StepBuilder::map): one tracked item per file, at most 4 at a
//! time), then report. The definition is built once, in a `static`, whatever the number of
//! files.
//!
//! Run it with `cargo run -p asyncjob-examples --example hash_files [DIR]` (default: the core
//! crate's `src`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::LazyLock;

use asyncjob::{BoxError, DefinitionError, JobBuilder, JobOptions, JobWithResult, StepState};
use asyncjob_tokio::TokioExecutor;

static HASH_TREE: LazyLock<JobWithResult<PathBuf, String>> =
    LazyLock::new(|| build().expect("the job is well formed"));

fn build() -> Result<JobWithResult<PathBuf, String>, DefinitionError> {
    let mut job = JobBuilder::<PathBuf>::new("hash tree");
    // How many files there are is known only when this step has run.
    let files = job.step("find files").run(|dir: PathBuf| async move {
        let found = tokio::task::spawn_blocking(move || find(&dir)).await??;
        Ok::<_, BoxError>(found)
    })?;
    let hashes = job
        .step("hash")
        .map(&files)
        .key(|file: &PathBuf| file.display().to_string())
        .limit(4)
        .run(|dir: PathBuf, file: PathBuf| async move {
            let bytes =
                tokio::task::spawn_blocking(move || std::fs::read(dir.join(file))).await??;
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            Ok::<_, BoxError>((bytes.len(), hasher.finish()))
        })?;
    let report = job.step("report").after((&files, &hashes)).run(
        |_, (files, hashes): (Vec<PathBuf>, Vec<(usize, u64)>)| async move {
            let bytes: usize = hashes.iter().map(|(len, _)| len).sum();
            let tree = hashes
                .iter()
                .fold(0u64, |acc, (_, h)| acc.rotate_left(5) ^ h);
            Ok::<_, BoxError>(format!(
                "{} files, {bytes} bytes, tree hash {tree:016x}",
                files.len()
            ))
        },
    )?;
    job.seal().with_result(&report)
}

/// The `.rs` files under `root`, relative to it, sorted.
fn find(root: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(root).map(PathBuf::from).unwrap_or(path);
                found.push(relative);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/asyncjob/src"),
        PathBuf::from,
    );
    let run = HASH_TREE
        .on(TokioExecutor::new())
        .options(JobOptions::new().record_events())
        .start(dir);
    println!("{}", run.result().await?);
    let map = run.step_by_name("hash").expect("the map step");
    assert!(
        map.items
            .iter()
            .all(|item| item.state == StepState::Succeeded)
    );
    for item in map.items.iter().take(5) {
        println!("  {:<60} {}", item.name, item.state);
    }
    if map.items.len() > 5 {
        println!("  … and {} more items", map.items.len() - 5);
    }
    let events = futures::StreamExt::count(run.events()?).await;
    println!(
        "{events} events, {} of them about items",
        2 * map.items.len()
    );
    Ok(())
}
