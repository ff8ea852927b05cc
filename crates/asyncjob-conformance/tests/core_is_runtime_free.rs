//! The core crate's normal dependency tree holds no async runtime. Checked on the resolved graph
//! from `cargo metadata`, not by reading Cargo.toml, so a runtime pulled in transitively (or by
//! a feature) is caught too.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

const RUNTIMES: [&str; 6] = [
    "tokio",
    "smol",
    "async-io",
    "async-std",
    "async-executor",
    "async-global-executor",
];

#[test]
fn core_normal_dependencies_contain_no_runtime() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");

    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("a resolved graph")
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let core = names
        .iter()
        .find(|(_, name)| **name == "asyncjob")
        .map(|(id, _)| *id)
        .expect("the core package");

    // Walk normal (non-dev, non-build) edges from the core.
    let mut seen = HashSet::from([core]);
    let mut stack = vec![core];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            let Some(pkg) = dep["pkg"].as_str() else {
                continue;
            };
            if normal && seen.insert(pkg) {
                stack.push(pkg);
            }
        }
    }
    let tree: Vec<&str> = seen.iter().map(|id| names[id]).collect();
    assert!(
        tree.contains(&"futures-util"),
        "the walk found the core's dependencies: {tree:?}"
    );
    for runtime in RUNTIMES {
        assert!(
            !tree.contains(&runtime),
            "{runtime} is in the core's dependency tree: {tree:?}"
        );
    }
}
