//! A release pipeline with branches that only apply sometimes and branches that may fail:
//!
//! - `publish` runs only when the release is not a dry run ([`StepBuilder::when`]); in a dry run
//!   it is *omitted* — not a failure — and so is `announce`, which needs it;
//! - `notify` (a chat message) is best-effort: its only dependent takes it with
//!   [`allow_failure`], so its failure neither fails the release nor, fail-fast, cancels it;
//! - `changelog` falls back to a generic text when the notes service is down
//!   ([`StepBuilder::fallback`]): it ends *recovered*;
//! - `summary` takes everything, of four kinds, in one tuple: a plain output, a `Vec` of
//!   outputs, an optional one ([`optional`]) and a fallible one.
//!
//! Run it with `cargo run -p asyncjob-examples --example release`.
//!
//! [`StepBuilder::when`]: asyncjob::StepBuilder::when
//! [`StepBuilder::fallback`]: asyncjob::StepBuilder::fallback
//! [`allow_failure`]: asyncjob::allow_failure
//! [`optional`]: asyncjob::optional

use std::sync::LazyLock;
use std::time::Duration;

use asyncjob::{
    BoxError, DefinitionError, JobBuilder, JobError, JobOptions, JobWithResult, StepState,
    allow_failure, optional,
};
use asyncjob_tokio::TokioExecutor;

/// The job input.
#[derive(Debug, Clone)]
struct Release {
    version: &'static str,
    dry_run: bool,
    targets: &'static [&'static str],
}

static RELEASE: LazyLock<JobWithResult<Release, String>> =
    LazyLock::new(|| build().expect("the release job is well formed"));

fn build() -> Result<JobWithResult<Release, String>, DefinitionError> {
    let mut job = JobBuilder::<Release>::new("release");
    let tests = job.step("tests").run(|_: Release| async {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok::<_, BoxError>(128u32) // tests passed
    })?;
    // One build per target (the targets are known when the definition is built).
    let builds = ["linux", "macos", "windows"]
        .into_iter()
        .map(|target| {
            job.step(format!("build {target}")).wait_for(&tests).run(
                move |release: Release| async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok::<_, BoxError>(format!("app-{}-{target}.tar.gz", release.version))
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Only for a real release.
    let publish = job
        .step("publish")
        .after(&builds)
        .when(|release: &Release, _artifacts: &Vec<String>| !release.dry_run)
        .run(|release: Release, artifacts: Vec<String>| async move {
            let wanted = artifacts
                .iter()
                .filter(|a| release.targets.iter().any(|t| a.contains(t)))
                .count();
            Ok::<_, BoxError>(wanted)
        })?;
    job.step("announce")
        .after(&publish)
        .run(|release: Release, count: usize| async move {
            Ok::<_, BoxError>(format!("{} is out ({count} artifacts)", release.version))
        })?;
    // Best-effort: the chat service is down today.
    let notify = job
        .step("notify")
        .wait_for(&tests)
        .run(|_: Release| async { Err::<(), _>("chat service: 503 Service Unavailable") })?;
    // Falls back to a generic text.
    let changelog = job
        .step("changelog")
        .fallback(|error: &JobError| format!("(no release notes: {})", error.root_cause()))
        .run(|_: Release| async { Err::<String, _>("notes service timed out") })?;
    let summary = job
        .step("summary")
        .after((
            &changelog,
            &builds,
            optional(&publish),
            allow_failure(&notify),
        ))
        .run(
            |release: Release,
             (notes, artifacts, published, notified): (
                String,
                Vec<String>,
                Option<usize>,
                Result<(), JobError>,
            )| async move {
                let published = match published {
                    Some(count) => format!("published {count}"),
                    None => "not published (dry run)".to_owned(),
                };
                let notified = match notified {
                    Ok(()) => "team notified".to_owned(),
                    Err(error) => format!("team not notified: {}", error.root_cause()),
                };
                Ok::<_, BoxError>(format!(
                    "{}: {} artifacts, {published}, {notified}; {notes}",
                    release.version,
                    artifacts.len()
                ))
            },
        )?;
    job.seal().with_result(&summary)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), JobError> {
    for dry_run in [true, false] {
        let release = Release {
            version: "v2.1.0",
            dry_run,
            targets: &["linux", "macos"],
        };
        // Fail-fast: a real failure would cancel the rest — the allowed one does not.
        let run = RELEASE
            .on(TokioExecutor::new())
            .options(JobOptions::new().fail_fast())
            .start(release);
        let summary = run.result().await?;
        run.wait().await?; // succeeds: nothing the release needs failed
        println!("dry run: {dry_run}\n  {summary}");
        for step in run.snapshot().steps {
            let why = match (&step.error, step.state) {
                (Some(error), StepState::Failed | StepState::Recovered | StepState::Omitted) => {
                    format!(" — {error:#}")
                }
                _ => String::new(),
            };
            println!("  {:<14} {}{why}", step.name, step.state);
        }
        let states = |state| {
            run.snapshot()
                .steps
                .iter()
                .filter(|s| s.state == state)
                .count()
        };
        assert_eq!(states(StepState::Omitted), if dry_run { 2 } else { 0 });
        assert_eq!(states(StepState::Recovered), 1);
        assert_eq!(states(StepState::Failed), 1);
    }
    Ok(())
}
