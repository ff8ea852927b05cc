//! Shared pieces of the asyncjob examples: the go-asyncjob README's "SQL summary" job, over an
//! in-memory fake SQL library, and a table printer for job instances.

#![forbid(unsafe_code)]

pub mod sql;

use asyncjob::{JobInstance, Mode};

/// Where the examples write their outputs: `$CARGO_TARGET_DIR` when it is set (as cargo reads
/// it), else `target` (relative to the current directory, the workspace root under
/// `cargo run`).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || std::path::PathBuf::from("target"),
            std::path::PathBuf::from,
        )
}

/// Prints one line per step: name, state, time waiting for dependencies, time running.
pub fn print_steps<X: Mode>(instance: &JobInstance<X>) {
    println!(
        "{:<18} {:<10} {:>12} {:>12}",
        "step", "state", "waiting", "running"
    );
    for step in instance.steps() {
        let ms = |d: Option<std::time::Duration>| {
            d.map(|d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<18} {:<10} {:>12} {:>12}",
            step.name,
            step.state,
            ms(step.ready_offset),
            ms(step.running)
        );
    }
}
