//! The suite's one list is complete: every behaviour module of `src/suite/` is expanded by
//! `suite!`, and no test of the crate is a plain function that nothing calls.
//!
//! A test written inside a behaviour's macro runs (that is what the macros are for), but three
//! mistakes would still compile without a warning: a new module of `src/suite/` left out of
//! `__suite_behaviours!`, a test written the old way, as a function generic over the harness
//! outside any macro, and a function inside a macro but outside its `__suite_tests!` block that
//! nothing calls (the code is expanded in another crate, where rustc's `dead_code` and clippy do
//! not report what an external macro expanded). This reads the sources and fails on each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Functions outside the macros that take a harness `h` first and are not tests: the entry
/// points the suite's tests (and the adapters' own tests) call.
const SHARED: [&str; 6] = [
    "random_dags_match_the_model",
    "random_dags_match_the_model_with_spawn_faults",
    "run_case",
    "run_model",
    "run_races",
    "until_called",
];

/// Files of `src/suite/` that are not behaviours.
const NOT_BEHAVIOURS: [&str; 2] = ["mod", "helpers"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `text` without its `macro_rules!` definitions (each ends at the first `}` in column 0).
fn outside_macros(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("macro_rules!") {
            inside = true;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
        if inside && line == "}" {
            inside = false;
        }
    }
    out
}

/// The entries `module macro,` of the list in `__suite_behaviours!`.
fn listed() -> BTreeSet<(String, String)> {
    let text = read(&src().join("suite/mod.rs"));
    let start = text
        .find("$crate::__suite_behaviours!(@each $new, $mode;")
        .expect("the list of behaviours");
    let end = start + text[start..].find(");").expect("the list's end");
    text[start..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| {
            let mut words = line.trim_end_matches(',').split_whitespace();
            let module = words.next().expect("a module").to_owned();
            let tests = words.next().expect("its macro").to_owned();
            (module, tests)
        })
        .collect()
}

#[test]
fn every_behaviour_module_is_expanded_by_the_suite() {
    let mod_rs = read(&src().join("suite/mod.rs"));
    let listed = listed();
    let mut behaviours = BTreeSet::new();
    let mut problems = Vec::new();
    for path in rust_files(&src().join("suite")) {
        let module = path.file_stem().and_then(|s| s.to_str()).expect("a name");
        if NOT_BEHAVIOURS.contains(&module) {
            continue;
        }
        behaviours.insert(module.to_owned());
        let text = read(&path);
        let tests = format!("__suite_{module}");
        if !mod_rs.contains(&format!("pub mod {module};")) {
            problems.push(format!(
                "src/suite/{module}.rs is not declared in src/suite/mod.rs"
            ));
        }
        let macros: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("macro_rules! "))
            .map(|rest| rest.trim_end_matches(" {"))
            .collect();
        if macros != [tests.as_str()] {
            problems.push(format!(
                "src/suite/{module}.rs defines the macros {macros:?}; a behaviour defines one, \
                 `{tests}`, whose expansion is its tests"
            ));
        }
        if !listed.contains(&(module.to_owned(), tests.clone())) {
            problems.push(format!(
                "src/suite/{module}.rs is missing from __suite_behaviours! in src/suite/mod.rs \
                 (add `{module} {tests},`): its tests never run"
            ));
        }
    }
    for (module, _) in &listed {
        if !behaviours.contains(module) {
            problems.push(format!(
                "__suite_behaviours! lists {module}, which has no file"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        behaviours.len() >= 20,
        "the behaviours were found: {behaviours:?}"
    );
}

/// The text of the `macro_rules!` definition in `text` (up to the first `}` in column 0).
fn the_macro(text: &str) -> Option<&str> {
    let start = text.find("\nmacro_rules!")?;
    let end = start + text[start..].find("\n}\n")?;
    Some(&text[start..end])
}

#[test]
fn every_function_of_a_behaviour_macro_is_a_test_or_called() {
    let mut problems = Vec::new();
    for path in rust_files(&src().join("suite")) {
        let module = path.file_stem().and_then(|s| s.to_str()).expect("a name");
        if NOT_BEHAVIOURS.contains(&module) {
            continue;
        }
        let text = read(&path);
        let Some(body) = the_macro(&text) else {
            continue;
        };
        let helpers = &body[..body.find("$crate::__suite_tests!").unwrap_or(body.len())];
        for line in helpers.lines() {
            let Some(rest) = line.trim_start().strip_prefix("fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let uses = body
                .match_indices(name.as_str())
                .filter(|(at, _)| {
                    let before = body[..*at].chars().next_back();
                    let after = body[at + name.len()..].chars().next();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
                .count();
            if uses < 2 {
                problems.push(format!(
                    "src/suite/{module}.rs: `fn {name}` is outside the `__suite_tests!` block \
                     and nothing calls it: a test there never runs; move it into the block as \
                     `fn {name}(h) {{ … }}`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_test_is_a_function_outside_the_macros() {
    let mut problems = Vec::new();
    for path in rust_files(&src()) {
        let text = outside_macros(&read(&path));
        // `fn name<…>(h: …` or `fn name(h: …`, possibly over several lines.
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (at, _) in flat.match_indices("fn ") {
            let rest = &flat[at + 3..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let Some(open) = rest.find('(') else { continue };
            let generics = &rest[name.len()..open];
            let takes_harness = rest[open + 1..].trim_start().starts_with("h:");
            if !name.is_empty()
                && takes_harness
                && (generics.is_empty() || generics.starts_with('<'))
                && !SHARED.contains(&name.as_str())
            {
                let file = path
                    .strip_prefix(src())
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                problems.push(format!(
                    "src/{file}: `fn {name}` takes a harness outside a behaviour's macro: a test \
                     there never runs; write it as `fn {name}(h) {{ … }}` in the macro of a \
                     module of src/suite/ (or add it to SHARED if it is an entry point)"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
