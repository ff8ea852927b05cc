//! The go-asyncjob README's SQL summary job, on tokio: prints the typed result, a table of the
//! steps with their state and timings, the instance as Graphviz DOT and as a Mermaid Gantt
//! chart, and writes the pictures to a folder.
//!
//! Run it with `cargo run -p asyncjob-examples --example sql_summary [-- OUTPUT_DIR]`. The folder
//! (by default `asyncjob-sql-summary` in `$CARGO_TARGET_DIR`, or in `target` if that is not set)
//! gets:
//!
//! * `job.dot`: the definition, as Graphviz DOT;
//! * `instance.dot`: this run, coloured by state, with times in the tooltips;
//! * `instance.svg` and `job.svg`: both rendered by Graphviz, if `dot` is on the PATH;
//! * `gantt.md`: the run as a Mermaid Gantt chart, in a Markdown code block (GitHub draws it);
//! * `trace.json`: the run as a Chrome trace (open it in <https://ui.perfetto.dev>);
//! * `snapshot.json`: the data behind the pictures, serialised (the core's `serde` feature);
//! * `report.html`: the report page (`asyncjob-report`): graph, timeline, steps and critical
//!   path, in one self-contained file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use asyncjob_examples::print_steps;
use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib};
use asyncjob_report::ReportExt as _;
use asyncjob_tokio::TokioExecutor;

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let out_dir = std::env::args_os().nth(1).map_or_else(
        || asyncjob_examples::target_dir().join("asyncjob-sql-summary"),
        PathBuf::from,
    );

    let executor = TokioExecutor::new();
    let lib = Arc::new(SqlLib::new(executor.clone(), Duration::from_millis(5)));

    let instance = SQL_SUMMARY.on(executor).start(lib.clone());
    let summary = instance.result().await?;
    // The result resolves when "Summarize" ends; the e-mail goes after it. Wait for every step,
    // so that the pictures show the whole run.
    instance.wait().await?;

    println!(
        "job {} ({}) succeeded: {summary:?}",
        instance.name(),
        instance.id()
    );
    println!("emails sent: {}\n", lib.emails_sent());
    print_steps(&instance);

    // One snapshot for every picture, so that they all show the same moment.
    let snapshot = instance.snapshot();
    let instance_dot = snapshot.to_dot();
    let gantt = format!("```mermaid\n{}```\n", snapshot.to_mermaid_gantt());
    println!("\nThe instance, as Graphviz DOT:\n\n{instance_dot}");
    println!("The instance, as a Mermaid Gantt chart:\n\n{gantt}");

    std::fs::create_dir_all(&out_dir)?;
    let write = |name: &str, text: &str| std::fs::write(out_dir.join(name), text);
    write("job.dot", &SQL_SUMMARY.to_dot())?;
    write("instance.dot", &instance_dot)?;
    write("gantt.md", &gantt)?;
    write("trace.json", &snapshot.to_chrome_trace())?;
    write("snapshot.json", &serde_json::to_string_pretty(&snapshot)?)?;
    write("report.html", &snapshot.to_html())?;
    let rendered = render_svg(&out_dir, "instance")? && render_svg(&out_dir, "job")?;

    let shown = std::path::absolute(&out_dir).unwrap_or_else(|_| out_dir.clone());
    println!(
        "Wrote job.dot, instance.dot, gantt.md, trace.json, snapshot.json and report.html to {}",
        shown.display()
    );
    if rendered {
        println!("and, with Graphviz, instance.svg and job.svg");
    } else {
        println!("(note: Graphviz's `dot` is not on the PATH, so no SVG was rendered)");
    }
    Ok(())
}

/// Renders `dir/name.dot` to `dir/name.svg` with Graphviz: `false` if `dot` is not installed.
fn render_svg(dir: &Path, name: &str) -> Result<bool, Error> {
    let input = dir.join(format!("{name}.dot"));
    let output = dir.join(format!("{name}.svg"));
    let result = Command::new("dot")
        .arg("-Tsvg")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .status();
    match result {
        Ok(status) if status.success() => Ok(true),
        Ok(status) => Err(format!("dot -Tsvg {} failed: {status}", input.display()).into()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error.into()),
    }
}
