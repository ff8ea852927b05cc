//! One job reused inside another: a `build` job (fetch the sources, compile, test, package) is
//! defined once, in a `static`, and used twice as a sub-job of a `release` job — once per
//! target — whose last step publishes both packages. The build's steps appear in the release's
//! snapshot, events and pictures under nested names (`linux/compile`, `macos/test`, …), drawn
//! in DOT as one cluster per use; a failure in one of them fails the release as any step's
//! would.
//!
//! Run it with `cargo run -p asyncjob-examples --example sub_jobs`. It prints the release's
//! steps, then writes the DOT graph and the Gantt chart to `$CARGO_TARGET_DIR` (or `target/`).

use std::sync::LazyLock;
use std::time::Duration;

use asyncjob::{BoxError, DefinitionError, JobBuilder, JobDefinition, JobWithResult, StepHandle};
use asyncjob_tokio::TokioExecutor;

/// What one build makes.
#[derive(Debug, Clone)]
struct Package {
    target: String,
    bytes: usize,
}

/// The build of one target: its input is the target's name.
static BUILD: LazyLock<JobWithResult<String, Package>> =
    LazyLock::new(|| build_job().expect("the build job is well formed"));

fn build_job() -> Result<JobWithResult<String, Package>, DefinitionError> {
    let mut job = JobBuilder::<String>::new("build");
    let sources = job.step("fetch").try_run(|target: String| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(format!("sources for {target}"))
    })?;
    let binary = job
        .step("compile")
        .after(&sources)
        .try_run(|_, sources: String| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(sources.len() * 1_000)
        })?;
    let tested = job
        .step("test")
        .after(&binary)
        .try_run(|_, _binary: usize| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })?;
    let package = job
        .step("package")
        .after(&binary)
        .wait_for(&tested)
        .try_run(|target: String, binary: usize| async move {
            Ok(Package {
                target,
                bytes: binary + 512,
            })
        })?;
    job.seal().with_result(&package)
}

/// The release: two builds, then one publication of both.
fn release_job() -> Result<(JobDefinition<Vec<String>>, StepHandle<String>), DefinitionError> {
    let mut job = JobBuilder::<Vec<String>>::new("release");
    let linux = job
        .step("linux")
        .job(&BUILD, |targets: Vec<String>| targets[0].clone())?;
    let macos = job
        .step("macos")
        .job(&BUILD, |targets: Vec<String>| targets[1].clone())?;
    let publish = job.step("publish").after((&linux, &macos)).try_run(
        |_, (linux, macos): (Package, Package)| async move {
            Ok(format!(
                "published {} ({} bytes) and {} ({} bytes)",
                linux.target, linux.bytes, macos.target, macos.bytes
            ))
        },
    )?;
    Ok((job.seal(), publish))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (release, publish) = release_job()?;
    let targets = vec!["x86_64-linux".to_owned(), "aarch64-macos".to_owned()];
    let instance = release.on(TokioExecutor::new()).start(targets);
    instance.wait().await?;
    println!("{}", instance.output_of(&publish).await?);

    println!("\n{:<18} {:<10} sub-job of", "step", "state");
    let snapshot = instance.snapshot();
    for step in &snapshot.steps {
        let parent = step
            .sub_job
            .map_or("-", |entry| &*snapshot.steps[entry].name);
        println!("{:<18} {:<10} {parent}", step.name, step.state.to_string());
    }

    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from("target"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let dot = dir.join("sub_jobs.dot");
    std::fs::write(&dot, instance.to_dot())?;
    let gantt = dir.join("sub_jobs-gantt.md");
    std::fs::write(
        &gantt,
        format!("```mermaid\n{}```\n", instance.to_mermaid_gantt()),
    )?;
    println!("\nwrote {} and {}", dot.display(), gantt.display());
    Ok(())
}
