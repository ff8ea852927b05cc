//! Turns the criterion results of the `scheduling` bench into the Markdown tables of
//! `docs/performance.md`: ns per step (median time per run / steps) for asyncjob and each
//! baseline, and the ratios the targets are stated in.
//!
//! ```text
//! cargo run -p asyncjob-benches --release --bin bench-report -- [CRITERION_DIR [BASELINE...]]
//! ```
//!
//! `CRITERION_DIR` defaults to `criterion` in `$CARGO_TARGET_DIR` (`target/criterion` if that is
//! not set). Each `BASELINE` is a criterion baseline directory name (`new` for the last run, or a
//! name given to `--save-baseline`); with several, each figure is the lowest of their medians (on a
//! shared machine, the run least disturbed by other work). Default: `new`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use asyncjob_benches::{Implementation, RuntimeKind, Shape};

/// Where the results are: the criterion directory and the baselines to take the lowest of.
#[derive(Debug)]
struct Results {
    root: PathBuf,
    baselines: Vec<String>,
}

/// The median time per iteration, in nanoseconds, of one benchmark in one baseline.
fn median_in(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path.join("estimates.json")).ok()?;
    let rest = &text[text.find("\"median\"")?..];
    let rest = &rest[rest.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

/// The lowest median time per iteration over the baselines, in nanoseconds, of one benchmark,
/// if it has been run.
fn median(results: &Results, group: &str, function: &str, parameter: &str) -> Option<f64> {
    let dir = results.root.join(group).join(function).join(parameter);
    results
        .baselines
        .iter()
        .filter_map(|baseline| median_in(&dir.join(baseline)))
        .reduce(f64::min)
}

fn cell(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

#[allow(clippy::cast_precision_loss)] // step counts are small
fn per_step(
    root: &Results,
    group: &str,
    implementation: Implementation,
    steps: usize,
) -> Option<f64> {
    median(root, group, implementation.name(), &steps.to_string()).map(|ns| ns / steps as f64)
}

fn shape_table(out: &mut String, root: &Results, prefix: &str, shape: Shape, sizes: &[usize]) {
    let _ = writeln!(
        out,
        "| runtime | steps | asyncjob | with events | (a) floor | (b) shared | (c) spawn | asyncjob / (c) | asyncjob / (b) | events, extra ns/step |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for kind in RuntimeKind::ALL {
        let group = format!("{prefix}{shape}-{kind}");
        for &steps in sizes {
            let [aj, ev, a, b, c] = Implementation::ALL.map(|i| per_step(root, &group, i, steps));
            let extra = match (aj, ev) {
                (Some(aj), Some(ev)) => format!("{:+.0}", ev - aj),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {kind} | {steps} | {} | {} | {} | {} | {} | {} | {} | {extra} |",
                cell(aj),
                cell(ev),
                cell(a),
                cell(b),
                cell(c),
                ratio(aj, c),
                ratio(aj, b),
            );
        }
    }
    let _ = writeln!(out);
}

fn scaling_table(out: &mut String, root: &Results) {
    let _ = writeln!(
        out,
        "| shape | runtime | asyncjob | with events | (a) floor | (b) shared | (c) spawn |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for shape in Shape::ALL {
        for kind in RuntimeKind::ALL {
            let group = format!("{shape}-{kind}");
            let ratios = Implementation::ALL.map(|i| {
                ratio(
                    per_step(root, &group, i, 10_000),
                    per_step(root, &group, i, 1_000),
                )
            });
            let _ = writeln!(
                out,
                "| {shape} | {kind} | {} | {} | {} | {} | {} |",
                ratios[0], ratios[1], ratios[2], ratios[3], ratios[4]
            );
        }
    }
    let _ = writeln!(out);
}

fn startup_table(out: &mut String, root: &Results) {
    let _ = writeln!(out, "| what | runtime / shape | median |");
    let _ = writeln!(out, "|---|---|---:|");
    for kind in RuntimeKind::ALL {
        for (function, what) in [
            ("start-wait-1-step", "asyncjob `start()` + `wait()`, 1 step"),
            ("c-spawn-1-step", "(c) spawn-per-step, 1 step"),
        ] {
            let ns = median(root, "startup", function, kind.name());
            let _ = writeln!(out, "| {what} | {kind} | {} ns |", cell(ns));
        }
    }
    for shape in Shape::ALL {
        let ns = median(root, "startup", "build-seal-1000", shape.name());
        let _ = writeln!(
            out,
            "| build + seal, 1,000 steps | {shape} | {} µs ({} ns/step) |",
            ns.map_or_else(|| "–".to_owned(), |v| format!("{:.1}", v / 1e3)),
            ns.map_or_else(|| "–".to_owned(), |v| format!("{:.0}", v / 1e3)),
        );
    }
    let _ = writeln!(out);
}

/// Where criterion writes its results: `criterion` in `$CARGO_TARGET_DIR`, or in `target`.
fn default_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().map_or_else(default_root, PathBuf::from);
    let mut baselines: Vec<String> = args.collect();
    if baselines.is_empty() {
        baselines.push("new".to_owned());
    }
    let root = Results { root, baselines };
    let mut out = String::new();
    for shape in Shape::ALL {
        let _ = writeln!(out, "### {shape} (ns per step)\n");
        shape_table(&mut out, &root, "", shape, &[10, 1_000, 10_000]);
    }
    let _ = writeln!(out, "### Per-step cost at 10,000 steps / at 1,000 steps\n");
    scaling_table(&mut out, &root);
    let _ = writeln!(out, "### Start-up\n");
    startup_table(&mut out, &root);
    if median(&root, "huge-chain-local", "asyncjob", "100000").is_some() {
        for shape in [Shape::Chain, Shape::FanOut] {
            let _ = writeln!(out, "### {shape}, 100,000 steps (ns per step)\n");
            shape_table(&mut out, &root, "huge-", shape, &[100_000]);
        }
    }
    print!("{out}");
}
