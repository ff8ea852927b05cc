//! The pictures of jobs (Graphviz DOT, Mermaid Gantt, Chrome trace) and the snapshot behind
//! them: validity with hostile step names, one colour per state, determinism.
//!
//! DOT is checked with a DOT parser (`graphviz-rust`) and, when Graphviz's `dot` is on the PATH,
//! by rendering it to SVG; the trace with `serde_json`; the Gantt chart line by line against
//! Mermaid's Gantt grammar.

use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncjob::visual::{fill_color, line_color};
use asyncjob::{
    BoxFuture, FuturesExecutor, JobBuilder, JobDefinition, JobInstance, JobOptions, JobSnapshot,
    Local, StepHandle, StepState, Timer,
};
use futures::channel::oneshot;
use futures::executor::{LocalPool, LocalSpawner};
use graphviz_rust::dot_structures::{
    Edge, EdgeTy, Graph, GraphAttributes, Id, Node, NodeId, Stmt, Subgraph, Vertex,
};

/// A timer whose sleeps end at once, for the jobs here that retry or have a deadline.
#[derive(Debug, Clone, Copy)]
struct NoSleep;

impl Timer for NoSleep {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn executor(pool: &LocalPool) -> FuturesExecutor<LocalSpawner> {
    FuturesExecutor::new(pool.spawner())
}

// ---------------------------------------------------------------------------------------------
// DOT, read back.

type Attrs = BTreeMap<String, String>;

#[derive(Debug)]
struct Dot {
    nodes: BTreeMap<String, Attrs>,
    edges: Vec<(String, String, Attrs)>,
    /// By cluster id: its graph attributes and the ids of the nodes declared in it.
    clusters: BTreeMap<String, (Attrs, Vec<String>)>,
}

impl Dot {
    fn node(&self, id: &str) -> &Attrs {
        self.nodes.get(id).unwrap_or_else(|| panic!("no node {id}"))
    }

    fn edge(&self, from: &str, to: &str) -> &Attrs {
        self.edges
            .iter()
            .find(|(f, t, _)| f == from && t == to)
            .map(|(_, _, attrs)| attrs)
            .unwrap_or_else(|| panic!("no edge {from} -> {to}"))
    }
}

/// The text of a DOT id: a quoted string unescaped as Graphviz reads a label (`\"`, `\\`, `\n`,
/// then HTML entities).
fn id_text(id: &Id) -> String {
    match id {
        Id::Escaped(quoted) => {
            let inner = &quoted[1..quoted.len() - 1];
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(other) => out.push(other),
                        None => panic!("dangling backslash in {quoted}"),
                    }
                } else {
                    out.push(c);
                }
            }
            out.replace("&amp;", "&")
        }
        Id::Html(s) | Id::Plain(s) | Id::Anonymous(s) => s.clone(),
    }
}

fn node_id(id: &NodeId) -> String {
    id_text(&id.0)
}

fn attrs(list: &[graphviz_rust::dot_structures::Attribute]) -> Attrs {
    list.iter()
        .map(|a| (id_text(&a.0), id_text(&a.1)))
        .collect()
}

/// Parses DOT (panicking with the parser's message if it is not valid) into nodes and edges.
fn parse_dot(text: &str) -> Dot {
    let graph = graphviz_rust::parse(text).unwrap_or_else(|e| {
        let head: String = text.chars().take(2_000).collect();
        panic!("invalid DOT: {e}\n{head}")
    });
    let Graph::DiGraph { stmts, .. } = graph else {
        panic!("not a digraph")
    };
    let mut dot = Dot {
        nodes: BTreeMap::new(),
        edges: Vec::new(),
        clusters: BTreeMap::new(),
    };
    read_statements(&mut dot, stmts, None);
    // Every edge joins declared nodes.
    for (from, to, attrs) in &dot.edges {
        assert!(dot.nodes.contains_key(from) && dot.nodes.contains_key(to));
        // An edge cut at a cluster's border starts inside it.
        if let Some(cluster) = attrs.get("ltail") {
            let members = &dot.clusters.get(cluster).expect("ltail names a cluster").1;
            assert!(members.contains(from), "{from} is not in {cluster}");
        }
    }
    dot
}

/// Reads `stmts` into `dot`; `cluster`: the id of the cluster they are in.
fn read_statements(dot: &mut Dot, stmts: Vec<Stmt>, cluster: Option<&str>) {
    for stmt in stmts {
        match stmt {
            Stmt::Node(Node { id, attributes }) => {
                let id = node_id(&id);
                if let Some(cluster) = cluster {
                    let members = &mut dot.clusters.get_mut(cluster).expect("opened").1;
                    members.push(id.clone());
                }
                let previous = dot.nodes.insert(id.clone(), attrs(&attributes));
                assert!(previous.is_none(), "node {id:?} declared twice");
            }
            Stmt::Edge(Edge {
                ty: EdgeTy::Pair(Vertex::N(from), Vertex::N(to)),
                attributes,
            }) => dot
                .edges
                .push((node_id(&from), node_id(&to), attrs(&attributes))),
            Stmt::Edge(other) => panic!("unexpected edge {other:?}"),
            Stmt::Subgraph(Subgraph { id, stmts }) => {
                assert!(cluster.is_none(), "a cluster in a cluster");
                let id = id_text(&id);
                assert!(id.starts_with("cluster_"), "subgraph {id} is not a cluster");
                let graph_attrs = stmts.iter().find_map(|stmt| match stmt {
                    Stmt::GAttribute(GraphAttributes::Graph(list)) => Some(attrs(list)),
                    _ => None,
                });
                let previous = dot
                    .clusters
                    .insert(id.clone(), (graph_attrs.unwrap_or_default(), Vec::new()));
                assert!(previous.is_none(), "cluster {id} declared twice");
                read_statements(dot, stmts, Some(&id));
            }
            _ => {}
        }
    }
}

/// Renders DOT with Graphviz, if `dot` is installed; `false` if it is not.
fn render_with_graphviz(text: &str) -> bool {
    use std::io::Write as _;
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("note: Graphviz `dot` is not on the PATH; DOT checked with the parser only");
        return false;
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("dot runs");
    writer.join().expect("writer").expect("dot reads its input");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "dot -Tsvg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "dot -Tsvg warned: {stderr}");
    let svg = String::from_utf8(output.stdout).expect("SVG is UTF-8");
    assert!(svg.contains("<svg"));
    true
}

/// What a name looks like once Graphviz has read it back: line breaks as `\n`, tabs as spaces,
/// other control characters as U+FFFD.
fn dot_form(name: &str) -> String {
    let name = name.replace("\r\n", "\n").replace('\r', "\n");
    name.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// The first 64 characters of a name, `…` for the rest.
fn shortened(name: &str) -> String {
    if name.chars().count() <= 64 {
        name.to_owned()
    } else {
        let head: String = name.chars().take(63).collect();
        format!("{head}…")
    }
}

// ---------------------------------------------------------------------------------------------
// Mermaid, read back.

const MERMAID_FORBIDDEN: [char; 7] = [':', ';', '#', '%', '<', '>', '`'];

#[derive(Debug)]
struct Bar {
    label: String,
    tags: Vec<String>,
    id: String,
    start: u128,
    end: u128,
}

#[derive(Debug)]
struct Gantt {
    sections: Vec<(String, Vec<Bar>)>,
}

/// Checks a Gantt chart line by line against what Mermaid's Gantt lexer accepts.
fn parse_gantt(text: &str) -> Gantt {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("gantt"));
    let mut gantt = Gantt {
        sections: Vec::new(),
    };
    let mut ids = HashSet::new();
    for line in lines {
        let line = line
            .strip_prefix("    ")
            .unwrap_or_else(|| panic!("unindented line {line:?}"));
        assert!(!line.chars().any(char::is_control), "{line:?}");
        if let Some(title) = line.strip_prefix("title ") {
            assert!(!title.contains(MERMAID_FORBIDDEN), "{title:?}");
        } else if line == "dateFormat x" || line == "todayMarker off" {
        } else if let Some(axis) = line.strip_prefix("axisFormat ") {
            assert!(axis == "%S.%L" || axis == "%H:%M:%S", "{axis}");
        } else if let Some(name) = line.strip_prefix("section ") {
            assert!(!name.contains(MERMAID_FORBIDDEN), "{name:?}");
            assert_eq!(name, name.trim());
            assert!(!name.is_empty() && name.chars().count() <= 64, "{name:?}");
            gantt.sections.push((name.to_owned(), Vec::new()));
        } else {
            let (label, data) = line
                .split_once(" :")
                .unwrap_or_else(|| panic!("not a task: {line:?}"));
            assert!(!label.contains(':') && !data.contains([':', '#', ';']));
            let mut fields: Vec<&str> = data.split(", ").collect();
            assert!(fields.len() >= 3, "{line:?}");
            let end = fields.pop().and_then(|f| f.parse().ok()).expect("end");
            let start = fields.pop().and_then(|f| f.parse().ok()).expect("start");
            let id = fields.pop().expect("id").to_owned();
            assert!(start <= end, "{line:?}");
            assert!(ids.insert(id.clone()), "duplicate task id {id}");
            for tag in &fields {
                assert!(["done", "active", "crit"].contains(tag), "{tag}");
            }
            let section = gantt.sections.last_mut().expect("a task in a section");
            section.1.push(Bar {
                label: label.to_owned(),
                tags: fields.iter().map(|t| (*t).to_owned()).collect(),
                id,
                start,
                end,
            });
        }
    }
    gantt
}

// ---------------------------------------------------------------------------------------------
// Hostile names.

fn hostile_names() -> Vec<String> {
    vec![
        "plain".into(),
        "say \"hi\"".into(),
        "back\\slash\\".into(),
        "\\N \\G \\l \\n \\".into(),
        "two\nlines\r\nand\rmore".into(),
        "<b>html</b> & &amp; &lt; <<table>>".into(),
        "{ record | shape } -> -- ; [x=1] }".into(),
        "colon: semi; hash# percent %% comment %%{init}%%".into(),
        "```\nfenced".into(),
        "ünïcödé 名前 🚀 שלום e\u{301}".into(),
        "tab\there\u{1}\u{7f}\u{85}\u{2028}".into(),
        "\u{1}\u{2}".into(),
        "digraph".into(),
        "s0".into(),
        "job".into(),
        "a\"\\<{".repeat(2_000),
        // Added by the reliability audit (issue 6): Mermaid arrows and keywords after a line
        // break, NUL, bidi overrides and isolates, ZWJ emoji, BOM and zero-width space, leading
        // combining marks, and names that are only NUL or only a zero-width space.
        "arrow --> b -.-> c ==> d --x e ---".into(),
        "x\ntitle t\nsection s\ndateFormat YYYY\nclick s0 href \"javascript:alert(1)\"".into(),
        "nul\0byte\0".into(),
        "\u{202E}override\u{202C} \u{2067}isolate\u{2069} \u{200F}rlm ltr\u{200E}".into(),
        "👩\u{200D}👩\u{200D}👧 zwj \u{FEFF}bom \u{200B}zwsp 🏳\u{FE0F}\u{200D}🌈".into(),
        "\u{301}\u{302}\u{20DD} leading combining marks".into(),
        "\0".into(),
        "\u{200B}".into(),
    ]
}

const HOSTILE_JOB: &str = "job \"x\" {\n} \\ <g> # : ;";
const HOSTILE_ERROR: &str = "bad \"news\"\n\\ <{&amp;}> \u{1} \u{2028}";

/// A chain of steps with hostile names (data and ordering edges alternating), then a failing
/// step and one it skips.
fn hostile_job() -> (JobDefinition<u32>, Vec<String>) {
    let mut names = hostile_names();
    let mut job = JobBuilder::<u32>::new(HOSTILE_JOB);
    let mut previous: Option<StepHandle<u32>> = None;
    for (i, name) in names.iter().enumerate() {
        let handle = match &previous {
            None => job
                .step(name.as_str())
                .run(|n| async move { Ok::<_, Error>(n) }),
            Some(p) if i % 2 == 1 => job
                .step(name.as_str())
                .after(p)
                .run(|_, x| async move { Ok::<_, Error>(x + 1) }),
            Some(p) => job
                .step(name.as_str())
                .wait_for(p)
                .run(|n| async move { Ok::<_, Error>(n) }),
        };
        previous = Some(handle.expect("a valid name"));
    }
    let last = previous.expect("steps");
    let fail = "fails \"loudly\"\n<&>";
    let failing = job
        .step(fail)
        .after(&last)
        .run(|_, _| async { Err::<u32, Error>(HOSTILE_ERROR.into()) })
        .expect("valid");
    let skipped = "skipped {because}";
    job.step(skipped)
        .after(&failing)
        .run(|_, x| async move { Ok::<_, Error>(x) })
        .expect("valid");
    names.push(fail.into());
    names.push(skipped.into());
    (job.seal(), names)
}

fn run_hostile() -> (JobDefinition<u32>, JobInstance<Local>, Vec<String>) {
    let (job, names) = hostile_job();
    let mut pool = LocalPool::new();
    let options = JobOptions::new().with_id("id \"1\"\n#;:<>");
    let instance = job.on(executor(&pool)).options(options).start_local(1);
    let error = pool.run_until(instance.wait()).expect_err("a step fails");
    assert_eq!(error.step(), Some("fails \"loudly\"\n<&>"));
    (job, instance, names)
}

#[test]
fn hostile_names_make_valid_dot() {
    let (job, instance, names) = run_hostile();
    for (text, live) in [(job.to_dot(), false), (instance.to_dot(), true)] {
        let dot = parse_dot(&text);
        assert_eq!(dot.nodes.len(), names.len() + 1);
        let root = dot.node("job");
        assert_eq!(root["shape"], "triangle");
        assert_eq!(root["label"], dot_form(&shortened(HOSTILE_JOB)));
        assert!(root["tooltip"].starts_with(&dot_form(HOSTILE_JOB)));
        for (index, name) in names.iter().enumerate() {
            let node = dot.node(&format!("s{index}"));
            let label = dot_form(&shortened(name));
            if live {
                let state = instance.steps()[index].state;
                assert!(
                    node["label"].starts_with(&format!("{label}\n{state}")),
                    "{:?} vs {label:?}",
                    node["label"]
                );
            } else {
                assert_eq!(node["label"], label);
            }
            let tooltip = &node["tooltip"];
            assert!(tooltip.starts_with(&format!("{}\n", dot_form(name))));
        }
        if live {
            let failing = dot.node(&format!("s{}", names.len() - 2));
            assert!(
                failing["tooltip"].contains(&dot_form(HOSTILE_ERROR)),
                "{:?}",
                failing["tooltip"]
            );
        }
        // A root edge, then one edge per dependency.
        assert_eq!(dot.edges.len(), names.len());
        render_with_graphviz(&text);
    }
}

#[test]
fn hostile_names_make_a_valid_gantt_chart() {
    let (_, instance, names) = run_hostile();
    let text = instance.to_mermaid_gantt();
    let gantt = parse_gantt(&text);
    assert_eq!(gantt.sections.len(), names.len());
    assert_eq!(gantt.sections[0].0, "plain");
    assert_eq!(gantt.sections[2].0, "back\\slash\\");
    assert_eq!(
        gantt.sections[7].0,
        "colon\u{2236} semi, hash\u{266F} percent \u{66A}\u{66A} comment \u{66A}\u{66A}{init}\u{66A}\u{66A}"
    );
    assert_eq!(gantt.sections[11].0, "step 11"); // only control characters
    assert_eq!(gantt.sections[15].0.chars().count(), 64);
    assert_eq!(gantt.sections[18].0, "nul byte");
    assert_eq!(gantt.sections[22].0, "step 22"); // only NUL
    for (index, (_, bars)) in gantt.sections.iter().enumerate() {
        assert!(
            bars.iter()
                .all(|bar| bar.id.starts_with(&format!("s{index}")))
        );
    }
}

#[test]
fn hostile_names_make_a_valid_chrome_trace() {
    let (_, instance, names) = run_hostile();
    let text = instance.to_chrome_trace();
    let trace: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(trace["otherData"]["job"], HOSTILE_JOB);
    assert_eq!(trace["otherData"]["job_id"], "id \"1\"\n#;:<>");
    let events = trace["traceEvents"].as_array().expect("events");
    let mut attempts = 0;
    for event in events {
        let tid = event["tid"].as_u64().expect("tid") as usize;
        let step = tid.checked_sub(1).map(|i| names[i].as_str());
        match event["ph"].as_str() {
            Some("M") if event["name"] == "thread_name" => {
                assert_eq!(event["args"]["name"], step.unwrap_or("job"));
            }
            Some("M") => {}
            Some("X") => {
                assert!(event["ts"].as_f64().expect("ts") >= 0.0);
                assert!(event["dur"].as_f64().expect("dur") >= 0.0);
                let args = &event["args"];
                assert_eq!(args["job"], HOSTILE_JOB);
                assert_eq!(args["job_id"], "id \"1\"\n#;:<>");
                if let Some(step) = step {
                    assert_eq!(args["step"], step);
                }
                if event["cat"] == "attempt" {
                    attempts += 1;
                    assert_eq!(event["name"], step.expect("a step"));
                    assert_eq!(args["attempt"], 1);
                    if args["state"] == "failed" {
                        let error = args["error"].as_str().expect("error");
                        assert!(error.ends_with(HOSTILE_ERROR), "{error:?}");
                    }
                }
            }
            other => panic!("unexpected event type {other:?}"),
        }
    }
    // Every step but the skipped one ran once.
    assert_eq!(attempts, names.len() - 1);
}

// ---------------------------------------------------------------------------------------------
// States and colours.

type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// ok → blocked (waits on the gate) → after blocked; boom (fails) → after boom → after that.
fn states_job() -> JobDefinition<Gate> {
    let mut job = JobBuilder::<Gate>::new("states");
    let ok = job
        .step("ok")
        .run(|_| async { Ok::<_, Error>(1u32) })
        .expect("valid");
    let boom = job
        .step("boom")
        .run(|_| async { Err::<u32, Error>("kaboom".into()) })
        .expect("valid");
    let after_boom = job
        .step("after boom")
        .after(&boom)
        .run(|_, _| async { Ok::<_, Error>(()) })
        .expect("valid");
    job.step("after that")
        .wait_for(&after_boom)
        .run(|_| async { Ok::<_, Error>(()) })
        .expect("valid");
    let blocked = job
        .step("blocked")
        .after(&ok)
        .run(|gate: Gate, _| async move {
            let rx = gate.lock().expect("not poisoned").take();
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Ok::<_, Error>(())
        })
        .expect("valid");
    job.step("after blocked")
        .wait_for(&blocked)
        .run(|_| async { Ok::<_, Error>(()) })
        .expect("valid");
    job.seal()
}

fn assert_coloured(dot: &Dot, snapshot: &JobSnapshot) {
    for step in &snapshot.steps {
        let node = dot.node(&format!("s{}", step.index));
        assert_eq!(node["fillcolor"], fill_color(step.state), "{}", step.name);
        assert_eq!(node["color"], line_color(step.state), "{}", step.name);
        let tooltip = &node["tooltip"];
        assert!(tooltip.contains(&format!("\nstate: {}\n", step.state)));
        assert!(tooltip.contains(&format!("\nattempts: {}", step.attempts)));
        for &parent in step
            .data_dependencies
            .iter()
            .chain(&step.ordering_dependencies)
        {
            let edge = dot.edge(&format!("s{parent}"), &format!("s{}", step.index));
            assert_eq!(edge["color"], line_color(snapshot.steps[parent].state));
        }
    }
}

/// The RFC 3339 time after `label` in a tooltip.
fn rfc3339_after<'a>(tooltip: &'a str, label: &str) -> &'a str {
    let at = tooltip.find(label).expect("label") + label.len();
    let time = &tooltip[at..at + 27];
    let bytes = time.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let expected_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 26);
        assert_eq!(b.is_ascii_digit(), expected_digit, "{time}");
    }
    assert_eq!(
        (
            bytes[4], bytes[7], bytes[10], bytes[13], bytes[16], bytes[19], bytes[26]
        ),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z'),
        "{time}"
    );
    time
}

#[test]
fn instance_dot_colours_every_state_while_running() {
    let job = states_job();
    let (tx, rx) = oneshot::channel();
    let mut pool = LocalPool::new();
    let instance = job
        .on(executor(&pool))
        .start_local(Arc::new(Mutex::new(Some(rx))));

    // Not yet polled: the roots are pending, the rest waiting.
    let snapshot = instance.snapshot();
    let state = |s: &JobSnapshot, name: &str| s.step_by_name(name).expect("a step").state;
    assert_eq!(state(&snapshot, "ok"), StepState::Queued);
    assert_eq!(state(&snapshot, "blocked"), StepState::Waiting);
    let dot = parse_dot(&snapshot.to_dot());
    assert_coloured(&dot, &snapshot);
    assert_eq!(dot.node("job")["fillcolor"], fill_color(StepState::Running));
    assert!(dot.node("s0")["tooltip"].contains("\nqueued: "));

    // Run until "blocked" waits on its gate.
    pool.run_until_stalled();
    let snapshot = instance.snapshot();
    let expected = [
        ("ok", StepState::Succeeded),
        ("boom", StepState::Failed),
        ("after boom", StepState::Skipped),
        ("after that", StepState::Skipped),
        ("blocked", StepState::Running),
        ("after blocked", StepState::Waiting),
    ];
    for (name, expected) in expected {
        assert_eq!(state(&snapshot, name), expected, "{name}");
    }
    let text = snapshot.to_dot();
    let dot = parse_dot(&text);
    assert_coloured(&dot, &snapshot);
    render_with_graphviz(&text);
    assert_eq!(dot.node("job")["fillcolor"], fill_color(StepState::Running));
    assert_eq!(
        dot.edge("job", "s0")["color"],
        line_color(StepState::Running)
    );

    let blocked = &dot.node("s4")["tooltip"];
    rfc3339_after(blocked, "\nstarted: ");
    assert!(blocked.contains("\nrunning: ") && blocked.contains(" (so far)"));
    assert!(!blocked.contains("\nended: "));
    let boom = &dot.node("s1")["tooltip"];
    rfc3339_after(boom, "\nended: ");
    assert!(
        boom.contains("\nerror: step \"boom\" failed: kaboom"),
        "{boom}"
    );
    let skipped = &dot.node("s2")["tooltip"];
    assert!(skipped.contains("\nattempts: 0"));
    assert!(skipped.contains("\nerror: step \"after boom\" was skipped"));
    let waiting = &dot.node("s5")["tooltip"];
    assert!(waiting.contains("\nwaiting: ") && waiting.contains(" (so far)"));

    // The Gantt chart and the trace render the running job too.
    let gantt = parse_gantt(&snapshot.to_mermaid_gantt());
    let (_, bars) = &gantt.sections[4];
    assert_eq!(bars[1].label, "running");
    assert_eq!(bars[1].tags, ["active"]);
    let (_, bars) = &gantt.sections[1];
    assert_eq!(bars[1].tags, ["crit"]);
    let (_, bars) = &gantt.sections[5];
    assert_eq!(
        (bars.len(), bars[0].tags.as_slice()),
        (1, &["active".to_owned()][..])
    );
    let trace: serde_json::Value =
        serde_json::from_str(&snapshot.to_chrome_trace()).expect("valid JSON");
    assert_eq!(trace["otherData"]["finished"], false);

    // Open the gate: everything ends; the job failed.
    tx.send(()).expect("the step waits");
    pool.run_until(instance.wait()).expect_err("boom failed");
    let snapshot = instance.snapshot();
    assert!(snapshot.finished);
    assert_eq!(state(&snapshot, "after blocked"), StepState::Succeeded);
    let dot = parse_dot(&snapshot.to_dot());
    assert_coloured(&dot, &snapshot);
    assert_eq!(dot.node("job")["fillcolor"], fill_color(StepState::Failed));
    assert!(dot.node("job")["tooltip"].contains("\nerror: step \"boom\" failed: kaboom"));
}

// ---------------------------------------------------------------------------------------------
// Determinism, structure, the snapshot.

/// The go-asyncjob README's SQL summary shape.
fn summary_job() -> JobDefinition<()> {
    let mut job = JobBuilder::<()>::new("sqlSummaryJob");
    let ok = |()| async { Ok::<_, Error>(1u32) };
    let conn = job.step("GetConnection").run(ok).expect("valid");
    let auth = job.step("CheckAuth").run(ok).expect("valid");
    let t1 = job
        .step("GetTableClient1")
        .after(&conn)
        .run(|(), c| async move { Ok::<_, Error>(c) })
        .expect("valid");
    let t2 = job
        .step("GetTableClient2")
        .after(&conn)
        .run(|(), c| async move { Ok::<_, Error>(c) })
        .expect("valid");
    let q1 = job
        .step("QueryTable1")
        .after(&t1)
        .wait_for(&auth)
        .run(|(), c| async move { Ok::<_, Error>(c) })
        .expect("valid");
    let q2 = job
        .step("QueryTable2")
        .after(&t2)
        .wait_for(&auth)
        .run(|(), c| async move { Ok::<_, Error>(c) })
        .expect("valid");
    let summary = job
        .step("Summarize")
        .after((&q1, &q2))
        .run(|(), (a, b)| async move { Ok::<_, Error>(a + b) })
        .expect("valid");
    job.step("EmailNotification")
        .wait_for(&summary)
        .run(ok)
        .expect("valid");
    job.seal()
}

#[test]
fn definition_dot_is_deterministic_and_complete() {
    let first = summary_job().to_dot();
    let second = summary_job().to_dot();
    assert_eq!(first, second, "same definition, same bytes");
    let job = summary_job();
    assert_eq!(job.to_dot(), job.to_dot());

    let dot = parse_dot(&first);
    assert_eq!(dot.nodes.len(), 9);
    assert_eq!(dot.node("s7")["label"], "EmailNotification");
    // Roots hang from the job; data edges are solid, ordering-only edges dashed.
    assert_eq!(dot.edge("job", "s0")["style"], "bold");
    assert_eq!(dot.edge("job", "s1")["style"], "bold");
    assert_eq!(dot.edge("s0", "s2")["style"], "solid");
    assert_eq!(dot.edge("s4", "s6")["style"], "solid");
    assert_eq!(dot.edge("s1", "s4")["style"], "dashed");
    assert_eq!(dot.edge("s6", "s7")["style"], "dashed");
    assert_ne!(
        dot.edge("s1", "s4").get("arrowhead"),
        dot.edge("s0", "s2").get("arrowhead")
    );
    let dashed = dot
        .edges
        .iter()
        .filter(|e| e.2["style"] == "dashed")
        .count();
    assert_eq!((dot.edges.len(), dashed), (11, 3));
    render_with_graphviz(&first);
}

#[test]
fn renderings_of_one_snapshot_are_deterministic() {
    let job = summary_job();
    let mut pool = LocalPool::new();
    let instance = job.on(executor(&pool)).start_local(());
    pool.run_until(instance.wait()).expect("succeeds");
    let snapshot = instance.snapshot();
    assert_eq!(snapshot.to_dot(), snapshot.to_dot());
    assert_eq!(snapshot.to_mermaid_gantt(), snapshot.to_mermaid_gantt());
    assert_eq!(snapshot.to_chrome_trace(), snapshot.to_chrome_trace());
    // A finished instance does not change: rendering it again gives the same text.
    assert_eq!(instance.to_dot(), snapshot.to_dot());
    assert_eq!(instance.to_chrome_trace(), snapshot.to_chrome_trace());
}

#[test]
fn gantt_has_one_section_per_step() {
    let job = summary_job();
    let mut pool = LocalPool::new();
    let instance = job.on(executor(&pool)).start_local(());
    pool.run_until(instance.wait()).expect("succeeds");
    let text = instance.to_mermaid_gantt();
    assert!(text.contains("\n    dateFormat x\n    axisFormat %S.%L\n    todayMarker off\n"));
    let gantt = parse_gantt(&text);
    let names: Vec<&str> = gantt.sections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, job.step_names().collect::<Vec<_>>());
    for (index, (_, bars)) in gantt.sections.iter().enumerate() {
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["waiting", "running"]);
        assert_eq!(bars[0].id, format!("s{index}w"));
        assert_eq!(bars[1].id, format!("s{index}a1"));
        assert_eq!(bars[0].tags, ["done"]);
        assert!(bars[1].tags.is_empty());
        assert_eq!(bars[0].start, 0);
        assert_eq!(bars[0].end, bars[1].start);
    }
}

#[test]
fn chrome_trace_has_a_track_and_an_attempt_per_step() {
    let job = summary_job();
    let mut pool = LocalPool::new();
    let options = JobOptions::new().with_id("trace-1");
    let instance = job.on(executor(&pool)).options(options).start_local(());
    pool.run_until(instance.wait()).expect("succeeds");
    let trace: serde_json::Value =
        serde_json::from_str(&instance.to_chrome_trace()).expect("valid JSON");
    let events = trace["traceEvents"].as_array().expect("events");
    let named = |name: &str| {
        events
            .iter()
            .filter(|e| e["name"] == name && e["ph"] == "M")
            .count()
    };
    assert_eq!(named("process_name"), 1);
    assert_eq!(named("thread_name"), 9); // the job and 8 steps
    assert_eq!(named("thread_sort_index"), 9);
    for (index, name) in job.step_names().enumerate() {
        let on_track: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["ph"] == "X" && e["tid"] == index + 1)
            .collect();
        let cats: Vec<&str> = on_track.iter().filter_map(|e| e["cat"].as_str()).collect();
        assert_eq!(cats, ["waiting", "queued", "attempt"], "{name}");
        let attempt = on_track[2];
        assert_eq!(attempt["name"], name);
        assert_eq!(attempt["args"]["job_id"], "trace-1");
        assert_eq!(attempt["args"]["step"], name);
        assert_eq!(attempt["args"]["state"], "succeeded");
        // The slices follow each other.
        let ts = |e: &serde_json::Value| e["ts"].as_f64().expect("ts");
        let end = |e: &serde_json::Value| ts(e) + e["dur"].as_f64().expect("dur");
        assert!(end(on_track[0]) <= ts(on_track[1]) + 0.001);
        assert!(end(on_track[1]) <= ts(on_track[2]) + 0.001);
    }
}

#[test]
fn snapshot_describes_dependencies_times_and_attempts() {
    let job = states_job();
    let (tx, rx) = oneshot::channel();
    let mut pool = LocalPool::new();
    let instance = job
        .on(executor(&pool))
        .options(JobOptions::new().with_id("snap"))
        .start_local(Arc::new(Mutex::new(Some(rx))));
    pool.run_until_stalled();
    let snapshot = instance.snapshot();
    assert_eq!(&*snapshot.name, "states");
    assert_eq!(snapshot.id.to_string(), "snap");
    assert!(!snapshot.finished);
    assert_eq!(snapshot.error.as_ref().and_then(|e| e.step()), Some("boom"));
    assert!(snapshot.started_at <= std::time::SystemTime::now());
    for (index, step) in snapshot.steps.iter().enumerate() {
        assert_eq!(step.index, index);
        for offset in [step.ready_offset, step.start_offset, step.end_offset]
            .into_iter()
            .flatten()
        {
            assert!(offset <= snapshot.elapsed);
        }
        if let (Some(ready), Some(start)) = (step.ready_offset, step.start_offset) {
            assert!(ready <= start);
        }
        if let (Some(start), Some(end)) = (step.start_offset, step.end_offset) {
            assert!(start <= end);
        }
        assert_eq!(step.started_at.is_some(), step.start_offset.is_some());
        assert_eq!(step.ended_at.is_some(), step.end_offset.is_some());
        assert_eq!(step.attempts, u32::from(step.start_offset.is_some()));
    }
    let by_name = |name: &str| snapshot.step_by_name(name).expect("a step");
    let after_boom = by_name("after boom");
    assert_eq!(after_boom.data_dependencies, [1]);
    assert!(after_boom.ordering_dependencies.is_empty());
    assert_eq!(after_boom.attempts, 0);
    assert!(after_boom.end_offset.is_some() && after_boom.ready_offset.is_none());
    let after_that = by_name("after that");
    assert!(after_that.data_dependencies.is_empty());
    assert_eq!(after_that.ordering_dependencies, [2]);
    let blocked = by_name("blocked");
    assert_eq!((blocked.state, blocked.attempts), (StepState::Running, 1));
    assert!(blocked.end_offset.is_none() && blocked.running.is_some());
    // The per-step accessors agree with the snapshot.
    assert_eq!(instance.steps().len(), snapshot.steps.len());
    assert_eq!(
        instance
            .step_by_name("after that")
            .map(|s| s.ordering_dependencies),
        Some(vec![2])
    );
    drop(tx);
    let _ = pool.run_until(instance.wait());
}

#[test]
fn step_state_display_is_unchanged() {
    let states = [
        (StepState::Waiting, "waiting"),
        (StepState::Queued, "queued"),
        (StepState::Running, "running"),
        (StepState::Succeeded, "succeeded"),
        (StepState::Failed, "failed"),
        (StepState::Skipped, "skipped"),
        (StepState::Cancelled, "cancelled"),
    ];
    for (state, text) in states {
        assert_eq!(state.to_string(), text);
        assert_eq!(state.as_str(), text);
    }
}

#[cfg(feature = "serde")]
#[test]
fn snapshots_serialise() {
    let (_, instance, names) = run_hostile();
    let value = serde_json::to_value(instance.snapshot()).expect("serialisable");
    assert_eq!(value["name"], HOSTILE_JOB);
    assert_eq!(value["id"], "id \"1\"\n#;:<>");
    assert_eq!(value["finished"], true);
    assert!(value["elapsed"].as_f64().expect("seconds") >= 0.0);
    assert!(
        value["started_at"]
            .as_str()
            .expect("RFC 3339")
            .ends_with('Z')
    );
    assert_eq!(value["error"]["kind"], "step_failed");
    assert_eq!(value["error"]["sources"][0], HOSTILE_ERROR);
    let steps = value["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), names.len());
    for (step, name) in steps.iter().zip(&names) {
        assert_eq!(step["name"], name.as_str());
    }
    assert_eq!(steps[1]["data_dependencies"], serde_json::json!([0]));
    assert_eq!(steps[2]["ordering_dependencies"], serde_json::json!([1]));
    let skipped = steps.last().expect("a step");
    assert_eq!(skipped["state"], "skipped");
    assert_eq!(skipped["attempts"], 0);
    assert_eq!(skipped["started_at"], serde_json::Value::Null);
    assert_eq!(skipped["error"]["kind"], "dependency_failed");
    assert_eq!(steps[0]["attempts"], 1);
    assert!(steps[0]["running"].as_f64().is_some());
}

// ---------------------------------------------------------------------------------------------
// Retries.

#[test]
fn retried_attempts_show_in_the_gantt_chart_and_the_trace() {
    use asyncjob::retry::Retry;
    use std::sync::atomic::{AtomicU32, Ordering};

    let mut job = JobBuilder::<Arc<AtomicU32>>::new("retries");
    job.step("flaky")
        .retry(Retry::fixed(5, Duration::ZERO))
        .run(|calls: Arc<AtomicU32>| async move {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err("not yet"),
                _ => Ok(()),
            }
        })
        .expect("a well-formed step");
    let job = job.seal();
    let mut pool = LocalPool::new();
    let instance = job
        .on(executor(&pool))
        .timer(NoSleep)
        .start_local(Arc::new(AtomicU32::new(0)));
    pool.run_until(instance.wait())
        .expect("succeeds on the third attempt");

    let gantt = parse_gantt(&instance.to_mermaid_gantt());
    let (_, bars) = &gantt.sections[0];
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "waiting",
            "attempt 1",
            "back-off 1",
            "attempt 2",
            "back-off 2",
            "attempt 3"
        ]
    );
    assert!(
        bars[1].tags.contains(&"crit".to_owned()),
        "a failed attempt is marked"
    );

    let trace: serde_json::Value =
        serde_json::from_str(&instance.to_chrome_trace()).expect("valid JSON");
    let attempts: Vec<(u64, Option<&str>)> = trace["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["cat"] == "attempt")
        .map(|e| {
            (
                e["args"]["attempt"].as_u64().expect("number"),
                e["args"]["error"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, Some("not yet")), (2, Some("not yet")), (3, None)]
    );
    let backoffs = trace["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["cat"] == "backoff")
        .map(|e| {
            let name = e["name"].as_str().expect("a name").to_owned();
            (name, e["args"]["after_attempt"].as_u64().expect("number"))
        })
        .collect::<Vec<_>>();
    assert_eq!(
        backoffs,
        [
            ("flaky back-off 1".to_owned(), 1),
            ("flaky back-off 2".to_owned(), 2)
        ]
    );

    // Serialised, the retried attempts come with their error as text and their back-off.
    #[cfg(feature = "serde")]
    {
        let value = serde_json::to_value(instance.snapshot()).expect("serialisable");
        let step = &value["steps"][0];
        assert!(step["backoff"].as_f64().is_some(), "{step}");
        assert_eq!(step["retried_omitted"], 0);
        let retried = step["retried"].as_array().expect("retried attempts");
        assert_eq!(retried.len(), 2);
        assert_eq!(retried[1]["attempt"], 2);
        assert_eq!(
            retried[1]["error"],
            "step \"flaky\" failed after 2 attempts: not yet"
        );
        assert_eq!(retried[1]["backoff"], 0.0);
        let (end, next) = (&retried[1]["end_offset"], &retried[1]["next_start_offset"]);
        assert!(next.as_f64() >= end.as_f64(), "{end} {next}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile job names, and names in error messages.

/// Job names as hostile as the step names, each in every format: definition and instance DOT
/// (parsed, and rendered by Graphviz when it is installed), the Gantt chart (line by line), the
/// trace (JSON) and, with `serde`, the snapshot (JSON). Job names may be empty: only step names
/// must not be blank.
#[test]
fn hostile_job_names_in_every_format() {
    let mut job_names: Vec<String> = vec![String::new(), " ".into(), "\n".into(), "\0".into()];
    job_names.extend(hostile_names());
    job_names.push(hostile_names().concat()); // about 10,300 characters of everything at once
    for name in &job_names {
        let mut job = JobBuilder::<u32>::new(name.as_str());
        let step = job
            .step(name.as_str())
            .run(|n| async move { Ok::<_, Error>(n) })
            .or_else(|_| {
                job.step("fallback")
                    .run(|n| async move { Ok::<_, Error>(n) })
            })
            .expect("a valid step");
        let job = job.seal();
        assert_eq!(job.name(), name);
        let definition_dot = parse_dot(&job.to_dot());
        assert_eq!(
            definition_dot.node("job")["label"],
            dot_form(&shortened(name))
        );
        let mut pool = LocalPool::new();
        let instance = job.on(executor(&pool)).start_local(1);
        pool.run_until(instance.wait()).expect("succeeds");
        assert_eq!(instance.output(&step), Some(1));
        let text = instance.to_dot();
        let dot = parse_dot(&text);
        assert!(dot.node("job")["tooltip"].starts_with(&dot_form(name)));
        let gantt_text = instance.to_mermaid_gantt();
        let gantt = parse_gantt(&gantt_text);
        assert_eq!(gantt.sections.len(), 1);
        let title = gantt_text.lines().nth(1).expect("a title");
        assert!(title.starts_with("    title "), "{title:?}");
        let trace: serde_json::Value =
            serde_json::from_str(&instance.to_chrome_trace()).expect("valid JSON");
        assert_eq!(trace["otherData"]["job"], name.as_str());
        #[cfg(feature = "serde")]
        {
            let value = serde_json::to_value(instance.snapshot()).expect("serialisable");
            assert_eq!(value["name"], name.as_str());
        }
        if name.len() < 100 {
            render_with_graphviz(&text);
        }
    }
}

/// A string's characters that would break a one-line message: line breaks, control and
/// format characters (bidi overrides), none of which `{:?}` leaves raw.
fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{FEFF}'
        )
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Every error message names its job and steps with `{:?}` (quoted, escaped): one line, with no
/// control or bidi characters, whatever the names. Checked for every kind of `JobError` a run can
/// produce, and (in `definition_errors.rs`) every kind of `DefinitionError`.
#[test]
fn hostile_names_in_every_error_message() {
    use asyncjob::retry::Retry;
    let names: Vec<String> = hostile_names()
        .into_iter()
        .filter(|n| !n.trim().is_empty())
        .collect();
    for name in &names {
        let mut job = JobBuilder::<u32>::new(name.as_str());
        // Each step is named `name` plus what it does, so that all names differ.
        let failed = job
            .step(format!("{name} failed"))
            .run(|_| async { Err::<u32, Error>("no".into()) })
            .expect("valid");
        job.step(format!("{name} skipped"))
            .after(&failed)
            .run(|_, n| async move { Ok::<_, Error>(n) })
            .expect("valid");
        job.step(format!("{name} panicked"))
            .run(|_| async {
                if true {
                    panic!("boom");
                }
                Ok::<u32, Error>(0)
            })
            .expect("valid");
        job.step(format!("{name} timed out"))
            .timeout(Duration::ZERO)
            .retry(Retry::fixed(2, Duration::ZERO))
            .run(|_| std::future::pending::<Result<u32, Error>>())
            .expect("valid");
        let job = job.seal();
        let mut pool = LocalPool::new();
        let instance = job.on(executor(&pool)).timer(NoSleep).start_local(1);
        pool.run_until(instance.wait()).expect_err("steps fail");
        let mut errors: Vec<_> = instance
            .steps()
            .into_iter()
            .filter_map(|s| s.error)
            .collect();
        assert_eq!(errors.len(), 4);

        // Cancelled (a step, and the job), a deadline, and a refused spawn.
        let mut stuck = JobBuilder::<()>::new(name.as_str());
        stuck
            .step(name.as_str())
            .run(|()| std::future::pending::<Result<(), Error>>())
            .expect("valid");
        let stuck = stuck.seal();
        let instance = stuck.on(executor(&pool)).start_local(());
        pool.run_until_stalled();
        instance.cancel();
        errors.push(pool.run_until(instance.wait()).expect_err("cancelled"));
        errors.extend(instance.steps().into_iter().filter_map(|s| s.error));
        let options = JobOptions::new().deadline(Duration::ZERO);
        let instance = stuck
            .on(executor(&pool))
            .timer(NoSleep)
            .options(options)
            .start_local(());
        errors.push(
            pool.run_until(instance.wait())
                .expect_err("past its deadline"),
        );
        let refusing = FuturesExecutor::new(Refuse);
        let instance = stuck.on(refusing).start_local(());
        errors.push(pool.run_until(instance.wait()).expect_err("refused"));

        let mut kinds = HashSet::new();
        for error in &errors {
            kinds.insert(format!("{:?}", error.kind()));
            let text = error.to_string();
            assert!(!text.chars().any(breaks_a_line), "{text:?}");
            assert!(
                error
                    .step()
                    .is_none_or(|step| text.contains(&format!("{step:?}")))
            );
            assert!(text.contains(&format!("{:?}", error.job())) || error.step().is_some());
            let debug = format!("{error:?}");
            assert!(!debug.chars().any(breaks_a_line), "{debug:?}");
        }
        assert_eq!(kinds.len(), 7, "{kinds:?}");
    }
}

/// A panic's message is often several lines (a failing `assert_eq!` gives three): the error's
/// `Display` shows it on one line, escaped, also along a dependent's chain down to its root cause,
/// and for a deadline whose timer panics; `panic_message()` keeps it as it was.
#[test]
fn multi_line_panic_messages_display_on_one_line() {
    /// A timer whose sleeps panic with a message of several lines.
    #[derive(Clone)]
    struct PanickingTimer;
    impl Timer for PanickingTimer {
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            panic!("no timer here\nsecond line\r\n\u{2028}third")
        }
    }

    let mut job = JobBuilder::<()>::new("asserts");
    let asserted = job
        .step("asserts")
        .run(|()| async {
            assert_eq!(1, 2);
            Ok::<_, Error>(())
        })
        .expect("valid");
    job.step("hostile")
        .run(|()| async {
            if true {
                panic!("a\r\nb\tc\u{2028}d\u{202E}e\0f");
            }
            Ok::<_, Error>(())
        })
        .expect("valid");
    job.step("after")
        .wait_for(&asserted)
        .run(|()| async { Ok::<_, Error>(()) })
        .expect("valid");
    let job = job.seal();
    let mut pool = LocalPool::new();
    let instance = job.on(executor(&pool)).start_local(());
    let error = pool.run_until(instance.wait()).expect_err("steps panic");

    let steps = instance.steps();
    let asserted = steps[0].error.clone().expect("the assertion failed");
    let raw = asserted.panic_message().expect("a panic").to_owned();
    assert!(raw.contains('\n'), "the raw message has its lines: {raw:?}");
    assert!(
        asserted.to_string().starts_with(
            "step \"asserts\" panicked: assertion `left == right` failed\\n  left: 1\\n right: 2"
        ),
        "{asserted}"
    );
    let hostile = steps[1].error.clone().expect("it panicked");
    assert_eq!(
        hostile.to_string(),
        "step \"hostile\" panicked: a\\r\\nb\\tc\\u{2028}d\\u{202e}e\\u{0}f"
    );
    assert_eq!(
        hostile.panic_message(),
        Some("a\r\nb\tc\u{2028}d\u{202E}e\0f")
    );

    // The job's error, the dependent's error, and every error along its `source()` chain.
    let dependent = steps[2].error.clone().expect("it was skipped");
    assert_eq!(dependent.root_cause().to_string(), asserted.to_string());
    let chain: Vec<String> = std::iter::successors(
        Some(&dependent as &(dyn std::error::Error + 'static)),
        |e| e.source(),
    )
    .map(|e| e.to_string())
    .collect();
    assert_eq!(chain.len(), 2, "{chain:?}");
    for text in chain.iter().chain([&error.to_string()]) {
        assert!(!text.chars().any(breaks_a_line), "{text:?}");
    }

    // A deadline whose timer panics.
    let mut stuck = JobBuilder::<()>::new("bounded");
    stuck
        .step("stuck")
        .run(|()| std::future::pending::<Result<(), Error>>())
        .expect("valid");
    let options = JobOptions::new().deadline(Duration::from_secs(3600));
    let instance = stuck
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(PanickingTimer)
        .options(options)
        .start_local(());
    let error = pool.run_until(instance.wait()).expect_err("no deadline");
    let text = error.to_string();
    assert!(!text.chars().any(breaks_a_line), "{text:?}");
    assert!(
        text.ends_with("failed: no timer here\\nsecond line\\r\\n\\u{2028}third"),
        "{text:?}"
    );
}

/// A `LocalSpawn` that refuses everything.
struct Refuse;

impl futures::task::LocalSpawn for Refuse {
    fn spawn_local_obj(
        &self,
        _: futures::task::LocalFutureObj<'static, ()>,
    ) -> Result<(), futures::task::SpawnError> {
        Err(futures::task::SpawnError::shutdown())
    }
}

// ---------------------------------------------------------------------------------------------
// Map steps: their items in every picture.

/// The keys of the small map: hostile, and one (with `:`) whose item fails.
const MAP_KEYS: [&str; 3] = ["a.rs", "say \"hi\"\n<&>", "colon: #;%%"];

/// `find` lists the input's keys; `hash` maps over them (failing the items whose key has a
/// `:`); `total` takes the hashes, `notify` waits for them. The input is cloned for each item:
/// an `Arc`.
fn map_job() -> JobDefinition<Arc<Vec<String>>> {
    let mut job = JobBuilder::<Arc<Vec<String>>>::new("maps");
    let files = job
        .step("find")
        .run(|keys: Arc<Vec<String>>| async move { Ok::<_, Error>((*keys).clone()) })
        .expect("valid");
    let hashes = job
        .step("hash")
        .map(&files)
        .key(|key: &String| key.clone())
        .run(|_, key: String| async move {
            match key.contains(':') {
                true => Err(Error::from(format!("cannot hash {key}"))),
                false => Ok(key.len()),
            }
        })
        .expect("valid");
    job.step("total")
        .after(&hashes)
        .run(|_, lens: Vec<usize>| async move { Ok::<_, Error>(lens.iter().sum::<usize>()) })
        .expect("valid");
    job.step("notify")
        .wait_for(&hashes)
        .run(|_| async { Ok::<_, Error>(()) })
        .expect("valid");
    job.seal()
}

fn run_map(keys: Vec<String>) -> JobSnapshot {
    let mut pool = LocalPool::new();
    let instance = map_job().on(executor(&pool)).start_local(Arc::new(keys));
    let _ = pool.run_until(instance.wait());
    let snapshot = instance.snapshot();
    assert!(snapshot.finished);
    snapshot
}

#[test]
fn a_small_map_is_drawn_as_a_cluster_of_its_items() {
    let snapshot = run_map(MAP_KEYS.map(String::from).to_vec());
    let map = &snapshot.steps[1];
    assert_eq!(map.state, StepState::Failed);
    let text = snapshot.to_dot();
    assert!(text.contains("compound=true"));
    let dot = parse_dot(&text);
    let (attrs, members) = &dot.clusters["cluster_s1"];
    assert_eq!(members, &["s1", "s1i0", "s1i1", "s1i2"]);
    assert_eq!(attrs["color"], line_color(StepState::Failed));
    assert!(attrs["tooltip"].ends_with("\n3 items: 2 succeeded, 1 failed"));
    assert_eq!(dot.clusters.len(), 1);
    // The map's node: its state and its counts.
    let node = dot.node("s1");
    assert!(
        node["label"].starts_with("hash\nfailed"),
        "{:?}",
        node["label"]
    );
    assert!(node["label"].ends_with("\n3 items: 2 succeeded, 1 failed"));
    assert_eq!(node["fillcolor"], fill_color(StepState::Failed));
    assert!(!node.contains_key("peripheries"));
    // One node per item, by name, in its state's colours, linked to the map's.
    for (position, key) in MAP_KEYS.iter().enumerate() {
        let item = &map.items[position];
        let node = dot.node(&format!("s1i{position}"));
        let name = dot_form(&format!("hash[{key}]"));
        let state = if key.contains(':') {
            StepState::Failed
        } else {
            StepState::Succeeded
        };
        assert_eq!(item.state, state);
        assert!(node["label"].starts_with(&format!("{name}\n{state} · ")));
        assert!(node["tooltip"].starts_with(&format!("{name}\nitem {position} of hash, key ")));
        assert!(node["tooltip"].contains("\nattempts: 1"));
        assert_eq!(node["fillcolor"], fill_color(state));
        assert_eq!(node["color"], line_color(state));
        if state == StepState::Failed {
            assert!(node["tooltip"].contains("cannot hash colon: #;%%"));
        }
        let fan = dot.edge("s1", &format!("s1i{position}"));
        assert_eq!((&*fan["style"], &*fan["arrowhead"]), ("dotted", "none"));
    }
    // Into the map's node; out of the cluster's border, to each dependent, as before.
    assert_eq!(dot.edge("s0", "s1")["style"], "solid");
    for (child, style) in [("s2", "solid"), ("s3", "dashed")] {
        let edge = dot.edge("s1i1", child);
        assert_eq!(edge["ltail"], "cluster_s1");
        assert_eq!(edge["style"], style);
        assert_eq!(edge["color"], line_color(StepState::Failed));
        assert!(edge["tooltip"].starts_with("hash → "));
    }
    assert_eq!(dot.edges.len(), 1 + 1 + 3 + 2); // job→find, find→hash, the fan, the dependents
    render_with_graphviz(&text);

    // A job without maps has no cluster and no `compound`.
    let mut pool = LocalPool::new();
    let plain = summary_job().on(executor(&pool)).start_local(());
    pool.run_until(plain.wait()).expect("succeeds");
    let plain = plain.to_dot();
    assert!(!plain.contains("compound") && !plain.contains("subgraph"));
}

#[test]
fn a_small_map_has_a_row_and_a_slice_per_item() {
    let snapshot = run_map(MAP_KEYS.map(String::from).to_vec());
    let map = &snapshot.steps[1];

    let gantt = parse_gantt(&snapshot.to_mermaid_gantt());
    let (section, bars) = &gantt.sections[1];
    assert_eq!(section, "hash");
    let labels: Vec<&str> = bars.iter().map(|bar| bar.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "waiting",
            "running",
            "↳ hash[a.rs]",
            "↳ hash[say \"hi\" ‹&›]",
            "↳ hash[colon∶ ♯,٪٪] (failed)",
        ]
    );
    for (bar, item) in bars[2..].iter().zip(&map.items) {
        assert_eq!(bar.id, format!("s1i{}", item.position));
        let ms = |offset: Option<Duration>| (offset.expect("ran").as_nanos() + 500_000) / 1_000_000;
        assert_eq!(
            (bar.start, bar.end),
            (ms(item.start_offset), ms(item.end_offset))
        );
        let tags: &[&str] = match item.state {
            StepState::Failed => &["crit"],
            _ => &[],
        };
        assert_eq!(bar.tags, tags);
    }

    let trace: serde_json::Value =
        serde_json::from_str(&snapshot.to_chrome_trace()).expect("valid JSON");
    let events = trace["traceEvents"].as_array().expect("events");
    let slices: Vec<&serde_json::Value> = events.iter().filter(|e| e["cat"] == "item").collect();
    assert_eq!(slices.len(), 3);
    for (slice, item) in slices.iter().zip(&map.items) {
        assert_eq!(slice["name"], &*item.name);
        let args = &slice["args"];
        assert_eq!(args["step"], "hash");
        assert_eq!(args["index"], 1);
        assert_eq!(args["key"], &*item.key);
        assert_eq!(args["position"], item.position);
        assert_eq!(args["state"], item.state.as_str());
        assert_eq!(args["attempts"], 1);
        assert_eq!(args["error"].is_string(), item.state == StepState::Failed);
        let start = item.start_offset.expect("ran").as_nanos() as f64 / 1_000.0;
        assert!((slice["ts"].as_f64().expect("ts") - start).abs() < 0.002);
        // On a track of the map's items, after the steps' tracks.
        let tid = slice["tid"].as_u64().expect("tid");
        assert!(tid > snapshot.steps.len() as u64);
        let track = events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["tid"] == tid)
            .expect("a named track");
        assert!(
            track["args"]["name"]
                .as_str()
                .expect("name")
                .starts_with("hash · items ")
        );
    }
}

/// The map's slices in a trace, by track: `(ts, end)` in nanoseconds (the trace writes
/// microseconds with three decimals: exact in nanoseconds, not in floating point); checks that
/// no two slices of a track overlap.
fn item_tracks(trace: &str) -> BTreeMap<u64, Vec<(u64, u64)>> {
    let trace: serde_json::Value = serde_json::from_str(trace).expect("valid JSON");
    let nanos =
        |value: &serde_json::Value| (value.as_f64().expect("a number") * 1_000.0).round() as u64;
    let mut tracks: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for event in trace["traceEvents"].as_array().expect("events") {
        if event["cat"] == "item" {
            let ts = nanos(&event["ts"]);
            let end = ts + nanos(&event["dur"]);
            tracks
                .entry(event["tid"].as_u64().expect("tid"))
                .or_default()
                .push((ts, end));
        }
    }
    for slices in tracks.values_mut() {
        slices.sort();
        for pair in slices.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "items overlap on a track: {pair:?}");
        }
    }
    tracks
}

#[test]
fn items_running_at_once_are_on_as_many_tracks() {
    type Gates = Arc<Mutex<Vec<Option<oneshot::Receiver<()>>>>>;
    let mut job = JobBuilder::<Gates>::new("gated");
    let count = job
        .step("count")
        .run(|gates: Gates| async move {
            Ok::<_, Error>((0..gates.lock().expect("unpoisoned").len()).collect::<Vec<usize>>())
        })
        .expect("valid");
    job.step("wait")
        .map(&count)
        .limit(2)
        .run(|gates: Gates, i: usize| async move {
            let gate = gates.lock().expect("unpoisoned")[i]
                .take()
                .expect("one gate per item");
            gate.await.map_err(Error::from)
        })
        .expect("valid");
    let job = job.seal();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..5).map(|_| oneshot::channel()).unzip();
    let gates: Gates = Arc::new(Mutex::new(receivers.into_iter().map(Some).collect()));
    let mut pool = LocalPool::new();
    let instance = job.on(executor(&pool)).start_local(gates);
    pool.run_until_stalled();
    // While it runs: two items running, three waiting for a place, in every picture.
    let snapshot = instance.snapshot();
    let dot = parse_dot(&snapshot.to_dot());
    for (position, state) in [
        (0, StepState::Running),
        (1, StepState::Running),
        (2, StepState::Waiting),
    ] {
        let node = dot.node(&format!("s1i{position}"));
        assert_eq!(node["fillcolor"], fill_color(state));
        assert!(node["label"].starts_with(&format!("wait[{position}]\n{state}")));
    }
    assert!(dot.node("s1")["label"].ends_with("\n5 items: 3 waiting, 2 running"));
    let gantt = parse_gantt(&snapshot.to_mermaid_gantt());
    let items: Vec<(&str, &[String])> = gantt.sections[1].1[2..]
        .iter()
        .map(|bar| (bar.label.as_str(), bar.tags.as_slice()))
        .collect();
    let active = ["active".to_owned()];
    assert_eq!(
        items,
        [
            ("↳ wait[0]", &active[..]),
            ("↳ wait[1]", &active[..]),
            ("↳ wait[2] (waiting)", &active[..]),
            ("↳ wait[3] (waiting)", &active[..]),
            ("↳ wait[4] (waiting)", &active[..]),
        ]
    );
    let waiting = &gantt.sections[1].1[4];
    assert_eq!(waiting.start, waiting.end); // not started: no width
    assert_eq!(
        item_tracks(&snapshot.to_chrome_trace())
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        5
    );
    // Item k is let go once it runs; until the last one, two run at once.
    for (k, sender) in senders.into_iter().enumerate() {
        let steps = instance.steps();
        let running = steps[1]
            .items
            .iter()
            .filter(|i| i.state == StepState::Running);
        assert_eq!(running.count(), 2.min(5 - k));
        sender.send(()).expect("the item waits");
        pool.run_until_stalled();
    }
    pool.run_until(instance.wait())
        .expect("every item succeeds");
    // Two at once: two tracks, named after the map, each item on one.
    let trace = instance.to_chrome_trace();
    let tracks = item_tracks(&trace);
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks.values().map(Vec::len).sum::<usize>(), 5);
    assert!(
        trace.contains("\"name\":\"wait · items 1\"")
            && trace.contains("\"name\":\"wait · items 2\"")
    );
    assert!(!trace.contains("wait · items 3"));
}

#[test]
fn a_map_of_ten_thousand_items_is_drawn_compactly() {
    const ITEMS: usize = 10_000;
    let keys: Vec<String> = (0..ITEMS)
        .map(|i| match i {
            4_321 | 9_876 => format!("f{i}:bad"),
            _ => format!("f{i}"),
        })
        .collect();
    let snapshot = run_map(keys);
    let map = &snapshot.steps[1];
    assert_eq!(map.items.len(), ITEMS);

    // DOT: one node, with the counts and the failed items in its tooltip; a few KB.
    let text = snapshot.to_dot();
    assert!(text.len() < 10_000, "{} bytes", text.len());
    let dot = parse_dot(&text);
    assert!(dot.clusters.is_empty() && !text.contains("compound"));
    assert_eq!(dot.nodes.len(), 1 + 4);
    let node = dot.node("s1");
    assert!(node["label"].ends_with("\n10,000 items: 9,998 succeeded, 2 failed"));
    assert_eq!(node["fillcolor"], fill_color(StepState::Failed));
    assert_eq!(node["peripheries"], "2");
    let tooltip = &node["tooltip"];
    assert!(tooltip.contains("\nitems: 10,000 items: 9,998 succeeded, 2 failed"));
    assert!(tooltip.contains("\nhash[f4321:bad]: failed\nhash[f9876:bad]: failed"));
    assert_eq!(dot.edge("s1", "s2")["color"], line_color(StepState::Failed));
    render_with_graphviz(&text);

    // Gantt: the map's bars, 20 item rows, then one for the other 9,980.
    let gantt = parse_gantt(&snapshot.to_mermaid_gantt());
    let (_, bars) = &gantt.sections[1];
    assert_eq!(bars.len(), 2 + asyncjob::visual::MAX_ITEM_ROWS + 1);
    for (position, bar) in bars[2..22].iter().enumerate() {
        assert_eq!(bar.label, format!("↳ hash[f{position}]"));
    }
    let rest = &bars[22];
    assert_eq!(
        rest.label,
        "↳ … and 9,980 more items (9,978 succeeded, 2 failed)"
    );
    assert_eq!(rest.id, "s1more");
    assert_eq!(rest.tags, ["crit"]);
    let ms = |d: Duration| (d.as_nanos() + 500_000) / 1_000_000;
    let others = &map.items[20..];
    let first = others
        .iter()
        .filter_map(|i| i.start_offset)
        .min()
        .expect("started");
    let last = others
        .iter()
        .filter_map(|i| i.end_offset)
        .max()
        .expect("ended");
    assert_eq!((rest.start, rest.end), (ms(first), ms(last)));

    // The trace: every item, once, by name.
    let trace = snapshot.to_chrome_trace();
    let tracks = item_tracks(&trace);
    assert_eq!(tracks.values().map(Vec::len).sum::<usize>(), ITEMS);
    let parsed: serde_json::Value = serde_json::from_str(&trace).expect("valid JSON");
    let names: HashSet<&str> = parsed["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["cat"] == "item")
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), ITEMS);
    assert!(names.contains("hash[f0]") && names.contains("hash[f9876:bad]"));

    #[cfg(feature = "critical-path")]
    {
        let gantt = parse_gantt(&snapshot.to_mermaid_gantt_with_critical_path());
        let (_, bars) = &gantt.sections[1];
        assert_eq!(bars.len(), 2 + asyncjob::visual::MAX_ITEM_ROWS + 1);
    }
}
