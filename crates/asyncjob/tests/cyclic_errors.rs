//! Errors whose [`source`](std::error::Error::source) chain loops or runs very deep: every
//! picture (DOT, Mermaid Gantt, Chrome trace) and the serialised snapshot still end, showing each
//! cause once, at most 64 of them, and marking a cut chain with `…`.
//!
//! The drawing runs on another thread; if it has not ended within [`LIMIT`] the test binary exits
//! with a failure (a hung walk also grows its text without bound, so it must not be left to run).

use std::error::Error as StdError;
use std::fmt;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use asyncjob::{BoxError, FuturesExecutor, JobBuilder, JobSnapshot, StepState};
use futures::executor::LocalPool;

/// Far longer than drawing this job takes (well under a millisecond).
const LIMIT: Duration = Duration::from_secs(3);

/// An error that is its own source.
#[derive(Debug)]
struct LoopsToItself;

impl fmt::Display for LoopsToItself {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loops to itself")
    }
}

impl StdError for LoopsToItself {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self)
    }
}

/// Two errors that are each other's source.
#[derive(Debug)]
struct Ping;
#[derive(Debug)]
struct Pong;
static PING: Ping = Ping;
static PONG: Pong = Pong;

impl fmt::Display for Ping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ping")
    }
}

impl StdError for Ping {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&PONG)
    }
}

impl fmt::Display for Pong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pong")
    }
}

impl StdError for Pong {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&PING)
    }
}

/// A chain of 1,000 distinct errors.
#[derive(Debug)]
struct Deep {
    depth: usize,
    next: Option<Box<Deep>>,
}

impl Deep {
    fn chain(length: usize) -> Deep {
        (0..length)
            .rev()
            .fold(None, |next, depth| {
                Some(Deep {
                    depth,
                    next: next.map(Box::new),
                })
            })
            .expect("a chain of at least one")
    }
}

impl fmt::Display for Deep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "depth {}", self.depth)
    }
}

impl StdError for Deep {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.next
            .as_deref()
            .map(|next| next as &(dyn StdError + 'static))
    }
}

/// An error whose source is its first field, at its own address: not a cycle.
#[derive(Debug)]
struct Outer {
    inner: Inner,
}
#[derive(Debug)]
struct Inner;

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer")
    }
}

impl StdError for Outer {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.inner)
    }
}

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner")
    }
}

impl StdError for Inner {}

/// A finished job whose steps failed with each error above, and one skipped after the first.
fn finished_job() -> JobSnapshot {
    let mut job = JobBuilder::<()>::new("cycles");
    let looping = job
        .step("self")
        .run(|()| async { Err::<(), BoxError>(Box::new(LoopsToItself)) })
        .expect("a well-formed step");
    job.step("ping-pong")
        .run(|()| async { Err::<(), BoxError>(Box::new(Ping)) })
        .expect("a well-formed step");
    job.step("deep")
        .run(|()| async { Err::<(), BoxError>(Box::new(Deep::chain(1_000))) })
        .expect("a well-formed step");
    job.step("wrapped")
        .run(|()| async { Err::<(), BoxError>(Box::new(Outer { inner: Inner })) })
        .expect("a well-formed step");
    job.step("after")
        .wait_for(&looping)
        .run(|()| async { Ok::<_, BoxError>(()) })
        .expect("a well-formed step");
    let definition = job.seal();
    let mut pool = LocalPool::new();
    let executor = FuturesExecutor::new(pool.spawner());
    let instance = definition.on(executor).start_local(());
    let _ = pool.run_until(instance.wait());
    let snapshot = instance.snapshot();
    let states: Vec<_> = snapshot.steps.iter().map(|step| step.state).collect();
    assert_eq!(
        states,
        [
            StepState::Failed,
            StepState::Failed,
            StepState::Failed,
            StepState::Failed,
            StepState::Skipped
        ]
    );
    snapshot
}

/// The renderings of `snapshot`, made on another thread; exits the test binary if they hang.
fn draw(snapshot: JobSnapshot) -> Drawn {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let drawn = Drawn {
            dot: snapshot.to_dot(),
            gantt: snapshot.to_mermaid_gantt(),
            trace: snapshot.to_chrome_trace(),
            #[cfg(feature = "serde")]
            json: serde_json::to_value(&snapshot).expect("serialisable"),
        };
        let _ = tx.send(drawn);
    });
    match rx.recv_timeout(LIMIT) {
        Ok(drawn) => drawn,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // Straight to stderr: the test harness would swallow `eprintln!` at the exit.
            let _ = writeln!(
                std::io::stderr(),
                "drawing a job with cyclic error sources hung for {LIMIT:?}: exiting"
            );
            std::process::exit(101);
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("drawing panicked"),
    }
}

struct Drawn {
    dot: String,
    gantt: String,
    trace: String,
    #[cfg(feature = "serde")]
    json: serde_json::Value,
}

/// Every string value in `value`, depth first.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        serde_json::Value::Object(fields) => fields.values().for_each(|item| strings(item, out)),
        _ => {}
    }
}

/// `depth 0: depth 1: … depth {n - 1}`.
fn depths(n: usize) -> String {
    (0..n)
        .map(|depth| format!("depth {depth}"))
        .collect::<Vec<_>>()
        .join(": ")
}

#[test]
fn cyclic_and_deep_source_chains_are_drawn_bounded() {
    let drawn = draw(finished_job());
    let chains = [
        "step \"self\" failed: loops to itself: …".to_owned(),
        "step \"ping-pong\" failed: ping: pong: ping: …".to_owned(),
        format!("step \"deep\" failed: {}: …", depths(64)),
        "step \"wrapped\" failed: outer: inner".to_owned(),
    ];

    // The trace carries the error chain of each step that ran verbatim, as JSON strings.
    let trace: serde_json::Value = serde_json::from_str(&drawn.trace).expect("the trace is JSON");
    let mut texts = Vec::new();
    strings(&trace, &mut texts);
    for chain in &chains {
        assert!(texts.contains(chain), "the trace lacks {chain:?}");
    }
    assert!(
        !texts.iter().any(|text| text.contains("depth 64")),
        "a chain longer than 64 causes"
    );

    // DOT escapes the quotes; the causes after the step's own message read the same.
    for tail in [
        ": loops to itself: …",
        ": ping: pong: ping: …",
        ": outer: inner",
    ] {
        assert!(drawn.dot.contains(tail), "the DOT lacks {tail:?}");
    }
    assert!(drawn.dot.contains(&format!("{}: …", depths(64))));
    // The skipped dependent (drawn in DOT only: it has no attempt in the trace) shows its root
    // cause's chain, cut as well.
    assert!(
        drawn.dot.contains(
            r#"its dependency \"self\" failed: step \"self\" failed: loops to itself: …"#
        ),
        "the DOT lacks the dependent's chain"
    );
    assert!(!drawn.dot.contains("depth 64"));

    assert_eq!(drawn.gantt.matches("\n    section ").count(), 5);
}

#[cfg(feature = "serde")]
#[test]
fn cyclic_and_deep_source_chains_serialise_bounded() {
    let drawn = draw(finished_job());
    let steps = drawn.json["steps"].as_array().expect("steps");
    let sources = |index: usize| -> Vec<String> {
        let mut texts = Vec::new();
        strings(&steps[index]["error"]["sources"], &mut texts);
        texts
    };
    assert_eq!(sources(0), ["loops to itself"]);
    assert_eq!(sources(1), ["ping", "pong", "ping"]);
    let deep = sources(2);
    assert_eq!(deep.len(), 64);
    assert_eq!(deep.last().map(String::as_str), Some("depth 63"));
    assert_eq!(sources(3), ["outer", "inner"]);
    assert_eq!(
        sources(4),
        ["step \"self\" failed", "loops to itself"],
        "a dependent's chain goes through its root cause"
    );
    assert_eq!(drawn.json["error"]["sources"][0], "loops to itself");
}
