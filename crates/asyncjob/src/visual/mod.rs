//! Pictures of jobs: Graphviz DOT of a definition or an instance, a Mermaid Gantt chart and a
//! Chrome trace (Perfetto) of an instance.
//!
//! | what | method | shows |
//! |---|---|---|
//! | the graph of a definition | [`JobDefinition::to_dot`](crate::JobDefinition::to_dot) | every step, the job's root, data and ordering dependencies |
//! | the graph of an instance | [`JobInstance::to_dot`](crate::JobInstance::to_dot) | the same, coloured by state, with times in tooltips; a map step's items as a cluster (up to [`MAX_CLUSTER_ITEMS`]) or as counts |
//! | a timeline, for Markdown | [`JobInstance::to_mermaid_gantt`](crate::JobInstance::to_mermaid_gantt) | per step: a "waiting" bar and a "running" bar; per item of a map, a bar (up to [`MAX_ITEM_ROWS`], then one for the rest) |
//! | a timeline, for tools | [`JobInstance::to_chrome_trace`](crate::JobInstance::to_chrome_trace) | per step a track, with its waiting, queued and running slices; per item of a map, a slice, on the map's item tracks |
//!
//! With the `critical-path` feature, the `critical_path` module finds the chain of steps that
//! determined an instance's total time, and `to_dot_with_critical_path` /
//! `to_mermaid_gantt_with_critical_path` draw the instance with it marked (the `asyncjob-report`
//! crate puts everything on one HTML page).
//!
//! Every instance rendering is also on [`JobSnapshot`] (the instance methods render
//! [`JobInstance::snapshot`](crate::JobInstance::snapshot)), so a snapshot taken once, or kept,
//! can be drawn in all three formats consistently. An instance can be drawn at any moment,
//! while it runs too. The text is written by hand, without dependencies; any step name is safe in
//! all three formats (quotes, backslashes, line breaks, `<`, `>`, `{`, `:`, `#`, any Unicode, any
//! length).
//!
//! ```
//! # use asyncjob::{JobBuilder, FuturesExecutor};
//! let mut job = JobBuilder::<u32>::new("pictures");
//! let a = job.step("fetch").run(|n| async move { Ok::<_, String>(n) })?;
//! let b = job.step("check").run(|_| async move { Ok::<_, String>(()) })?;
//! job.step("store").after(&a).wait_for(&b).run(|_, n| async move { Ok::<_, String>(n) })?;
//! let job = job.seal();
//!
//! // The definition: solid edges for data, dashed ones for ordering-only dependencies.
//! let dot = job.to_dot();
//! assert!(dot.starts_with("digraph "));
//! assert!(dot.contains("\"s0\" -> \"s2\" [style=solid"));
//! assert!(dot.contains("\"s1\" -> \"s2\" [style=dashed"));
//!
//! let mut pool = futures::executor::LocalPool::new();
//! let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(7);
//! pool.run_until(instance.wait()).unwrap();
//!
//! let dot = instance.to_dot(); // coloured by state
//! assert!(dot.contains("fillcolor=\"#8fd694\"")); // succeeded
//! let gantt = instance.to_mermaid_gantt(); // put it in a ```mermaid block
//! assert_eq!(gantt.matches("\n    section ").count(), 3);
//! let trace = instance.to_chrome_trace(); // open it in ui.perfetto.dev
//! assert!(trace.starts_with("{\"displayTimeUnit\""));
//! # Ok::<_, asyncjob::DefinitionError>(())
//! ```
//!
//! # Map steps
//!
//! The items of a [map step](crate::StepBuilder::map) are in every instance picture, within
//! limits that keep a map of 10,000 items legible: [`MAX_CLUSTER_ITEMS`] (the DOT draws a node
//! per item up to it, else the map's counts), [`MAX_ITEM_ROWS`] (the Gantt chart and the report
//! page draw a row per item up to it, then one for the rest); the trace has every item.
//! [`ItemSummary`] is what they write of many items. A job without maps pays nothing for it.
//!
//! # Colours
//!
//! In the instance DOT, a step's node is filled with the colour of its state and outlined in a
//! darker shade of it; an edge takes the darker shade of its parent's state (the root's edges,
//! of the job's). The job's root node is coloured as a step would be: running until every step
//! has ended, then succeeded or failed.
//!
//! | state | fill ([`fill_color`]) | lines ([`line_color`]) |
//! |---|---|---|
//! | waiting | `#e0e0e0` grey | `#8c8c8c` |
//! | queued | `#fff3a3` yellow | `#b39b00` |
//! | awaiting permit | `#ffe0b2` light orange | `#c77800` |
//! | running | `#8ec5ff` blue | `#1f6fd1` |
//! | retrying | `#f7c6d9` pink | `#b0306a` |
//! | succeeded | `#8fd694` green | `#2e8b3a` |
//! | recovered | `#c6e6a1` light olive | `#6b8e23` |
//! | failed | `#f28b82` red | `#c5221f` |
//! | skipped | `#fbc88a` orange | `#d9730d` |
//! | omitted | `#f4f4f4` white-grey | `#a0a0a0` |
//! | cancelled | `#d4b3e8` purple | `#7b3fa0` |
//!
//! Edges of data dependencies are solid, those of ordering-only dependencies dashed with a hollow
//! arrowhead, the root's edges bold.
//!
//! # Names
//!
//! DOT node ids are `"job"` for the root and `"s0"`, `"s1"`, … by step index; names appear only
//! in labels and tooltips, as escaped quoted strings. A label shows at most 64 characters of a
//! name (the rest is replaced with `…`); the tooltip has the whole name. The trace JSON has the
//! whole name, escaped. Mermaid has no escaping: see
//! [`to_mermaid_gantt`](JobSnapshot::to_mermaid_gantt) for what is replaced.
//!
//! # Errors
//!
//! A failed step's error is shown (DOT tooltips, trace `args`) with its causes, the
//! [`source`](std::error::Error::source) chain, joined with `: `. Each cause is shown once and at
//! most 64 of them: a chain that loops back ends before the first cause met again, and a cut
//! chain ends in `: …`.

use std::time::Duration;

use crate::instance::{JobInstance, JobSnapshot};
use crate::mode::Mode;
use crate::state::StepState;

#[cfg(feature = "critical-path")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-path")))]
pub mod critical_path;
mod dot;
mod escape;
mod gantt;
mod items;
#[cfg(feature = "serde")]
mod ser;
mod time;
mod trace;

pub use items::{ItemSummary, MAX_CLUSTER_ITEMS, MAX_ITEM_ROWS};

/// The fill colour of a step in the state `state` in [`JobInstance::to_dot`], as `#rrggbb` (see
/// the [table](self#colours)).
pub fn fill_color(state: StepState) -> &'static str {
    match state {
        StepState::Waiting => "#e0e0e0",
        StepState::Queued => "#fff3a3",
        StepState::AwaitingPermit => "#ffe0b2",
        StepState::Running => "#8ec5ff",
        StepState::Succeeded => "#8fd694",
        StepState::Recovered => "#c6e6a1",
        StepState::Failed => "#f28b82",
        StepState::Skipped => "#fbc88a",
        StepState::Omitted => "#f4f4f4",
        StepState::Cancelled => "#d4b3e8",
        StepState::Retrying => "#f7c6d9",
    }
}

/// The outline and edge colour of a step in the state `state` in [`JobInstance::to_dot`], as
/// `#rrggbb`: a darker shade of its [`fill_color`] (see the [table](self#colours)).
pub fn line_color(state: StepState) -> &'static str {
    match state {
        StepState::Waiting => "#8c8c8c",
        StepState::Queued => "#b39b00",
        StepState::AwaitingPermit => "#c77800",
        StepState::Running => "#1f6fd1",
        StepState::Succeeded => "#2e8b3a",
        StepState::Recovered => "#6b8e23",
        StepState::Failed => "#c5221f",
        StepState::Skipped => "#d9730d",
        StepState::Omitted => "#a0a0a0",
        StepState::Cancelled => "#7b3fa0",
        StepState::Retrying => "#b0306a",
    }
}

/// A duration as the pictures write it, for people: `850ns`, `13.207µs`, `4.250ms`, `2.001s`
/// (three decimals, truncated, of the largest unit that fits). For pages of your own that
/// should read like the pictures.
pub fn format_duration(duration: Duration) -> String {
    time::human(duration)
}

/// A count as the pictures write it, its thousands grouped by commas: `10,000`.
pub fn format_count(count: usize) -> String {
    items::Grouped(count).to_string()
}

/// A wall-clock time as the pictures write it: RFC 3339 in UTC with microseconds, e.g.
/// `2022-12-12T20:00:32.254054Z` (no time-zone database needed).
pub fn format_time(time: std::time::SystemTime) -> String {
    time::rfc3339(time)
}

impl<X: Mode> JobInstance<X> {
    /// The instance as a Graphviz DOT graph, coloured by state: see
    /// [`JobSnapshot::to_dot`]. Callable at any moment, also while the job runs.
    pub fn to_dot(&self) -> String {
        self.snapshot().to_dot()
    }

    /// The instance as a Mermaid Gantt chart: see [`JobSnapshot::to_mermaid_gantt`].
    pub fn to_mermaid_gantt(&self) -> String {
        self.snapshot().to_mermaid_gantt()
    }

    /// The instance as Chrome trace-event JSON: see [`JobSnapshot::to_chrome_trace`].
    pub fn to_chrome_trace(&self) -> String {
        self.snapshot().to_chrome_trace()
    }
}

/// What a picture marks as the critical path: made from a
/// [`CriticalPath`](critical_path::CriticalPath) (the `critical-path` feature; without it,
/// nothing is marked and this is never made).
#[cfg_attr(not(feature = "critical-path"), allow(dead_code))]
pub(crate) struct Marks {
    /// By step index: on the path.
    steps: Vec<bool>,
    /// The dependencies the path follows, `(parent, child)`.
    edges: std::collections::HashSet<(usize, usize)>,
    /// The path's first step.
    first: Option<usize>,
    /// The path's total.
    total: Duration,
}

#[cfg_attr(not(feature = "critical-path"), allow(dead_code))]
impl Marks {
    fn step(&self, index: usize) -> bool {
        self.steps.get(index).copied().unwrap_or(false)
    }

    fn edge(&self, parent: usize, child: usize) -> bool {
        self.edges.contains(&(parent, child))
    }
}

/// The state the job's root node is drawn in: running until every step has ended, then
/// succeeded or failed.
fn job_state(snapshot: &JobSnapshot) -> StepState {
    match (snapshot.finished, &snapshot.error) {
        (false, _) => StepState::Running,
        (true, None) => StepState::Succeeded,
        (true, Some(_)) => StepState::Failed,
    }
}

/// The `Display` texts of the causes of `error` along its
/// [`source`](std::error::Error::source) chain, and whether the walk was cut short (see
/// `JobError::causes`: each cause once, at most 64).
fn sources(error: &crate::error::JobError) -> (Vec<String>, bool) {
    error.causes()
}

/// An error with its [`sources`] joined with `: `, ending in `: …` if the chain was cut short.
fn error_chain(error: &crate::error::JobError) -> String {
    let mut text = error.to_string();
    let (causes, cut) = sources(error);
    for cause in causes {
        text.push_str(": ");
        text.push_str(&cause);
    }
    if cut {
        text.push_str(": …");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [StepState; 11] = StepState::ALL;

    #[test]
    fn every_state_has_its_own_colours() {
        let fills: std::collections::HashSet<_> = STATES.iter().map(|&s| fill_color(s)).collect();
        let lines: std::collections::HashSet<_> = STATES.iter().map(|&s| line_color(s)).collect();
        assert_eq!(fills.len(), STATES.len());
        assert_eq!(lines.len(), STATES.len());
        for colour in fills.iter().chain(&lines) {
            assert_eq!(colour.len(), 7);
            assert!(colour.starts_with('#'));
            assert!(colour[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}
