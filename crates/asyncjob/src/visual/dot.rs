//! Graphviz DOT of a definition ([`JobDefinition::to_dot`]) and of an instance
//! ([`JobSnapshot::to_dot`]).
//!
//! Both draw the same graph, as go-asyncjob does: a triangle for the job, linked to the steps
//! that have no dependency, and a box per step, linked to the steps that depend on it. Node ids
//! are `"job"` and `"s<index>"`; names are only in labels and tooltips. The output depends on
//! nothing but its input, so the same definition (or snapshot) gives byte-identical DOT.

use std::fmt::Write as _;
use std::time::Duration;

use super::escape::{LABEL_CHARS, dot_escape_into, dot_quoted, shorten};
use super::items::{Grouped, ItemSummary, MAX_CLUSTER_ITEMS};
use super::{Marks, error_chain, fill_color, job_state, line_color, time};
use crate::graph::definition::JobDefinition;
use crate::instance::{JobSnapshot, StepSnapshot};
use crate::mode::Mode;
use crate::state::StepState;

const FONT: &str = "Helvetica,Arial,sans-serif";

/// One step, as the renderer sees it.
struct Node<'a> {
    name: &'a str,
    data: &'a [usize],
    order: &'a [usize],
    /// The entry of the sub-job the step belongs to.
    sub_job: Option<usize>,
    live: Option<&'a StepSnapshot>,
}

impl<I, M: Mode> JobDefinition<I, M> {
    /// The definition as a Graphviz DOT graph: the job as a triangle linked to its root steps,
    /// a box per step, a solid edge per data dependency and a dashed edge (with a hollow
    /// arrowhead) per ordering-only dependency. Deterministic: the same definition always gives
    /// the same text. Render it with `dot -Tsvg job.dot -o job.svg`.
    ///
    /// ```
    /// use asyncjob::JobBuilder;
    ///
    /// let mut job = JobBuilder::<()>::new("deploy");
    /// let build = job.step("build").run(|()| async { Ok::<_, String>(1) })?;
    /// let lint = job.step("lint").run(|()| async { Ok::<_, String>(()) })?;
    /// job.step("ship \"it\"").after(&build).wait_for(&lint).run(|(), _| async { Ok::<_, String>(()) })?;
    /// let job = job.seal();
    ///
    /// let dot = job.to_dot();
    /// assert!(dot.contains("\"job\" -> \"s0\" [style=bold]"));
    /// assert!(dot.contains("\"s2\" [label=\"ship \\\"it\\\"\""));
    /// assert!(dot.contains("\"s0\" -> \"s2\" [style=solid"));
    /// assert!(dot.contains("\"s1\" -> \"s2\" [style=dashed arrowhead=onormal"));
    /// assert_eq!(dot, job.to_dot());
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let topology = self.topology();
        let nodes: Vec<Node<'_>> = topology
            .steps
            .iter()
            .map(|meta| Node {
                name: &meta.name,
                data: &meta.data,
                order: &meta.order,
                sub_job: meta.sub_job,
                live: None,
            })
            .collect();
        render(&topology.name, &nodes, None, None)
    }
}

impl JobSnapshot {
    /// The instance as a Graphviz DOT graph: the graph of
    /// [`JobDefinition::to_dot`], with every node filled with the colour of its state and every
    /// edge drawn in the colour of its parent's state (see the [colour table](super#colours)).
    ///
    /// A node's label is the step's name (at most 64 characters of it), its state and how long
    /// its attempts ran, and for a retried step how long it spent in back-off between them
    /// (`succeeded · 15.000ms (+80.000ms back-off)`); its tooltip (shown on hover in SVG) has the
    /// whole name, the state, the start time (RFC 3339, UTC), the time waiting for
    /// dependencies, in the executor's queue, running and in back-off, the attempts, and the
    /// error with its causes, if any.
    ///
    /// A [map step](crate::StepBuilder::map) that has read its items adds their counts by
    /// state to its label (`10,000 items: 9,998 succeeded, 2 failed`). With at most
    /// [`MAX_CLUSTER_ITEMS`] items, it is drawn as a cluster (`cluster_s<index>`, outlined in
    /// the colour of the map's state): the map's node, linked by dotted lines to a node per
    /// item (`s<index>i<position>`, labelled with the item's name, its state and how long it
    /// ran, coloured by its state; its tooltip has its key, times, attempts and error); the
    /// edges to the map's dependents leave from the cluster's border (`ltail`, with
    /// `compound=true` on the graph). With more items, the map stays one node, with a double
    /// outline, and its tooltip names the first 8 items that failed or were cancelled. A graph
    /// without maps is drawn as before: no cluster, no `compound`.
    ///
    /// The steps of a [sub-job](crate::StepBuilder::job) are drawn inside a cluster
    /// (`cluster_j<entry>`, labelled with the name of the step that added it) together with
    /// that entry step; nested sub-jobs nest. The definition's graph
    /// ([`JobDefinition::to_dot`]) has the same clusters.
    pub fn to_dot(&self) -> String {
        self.render_dot(None)
    }

    /// The instance DOT, with the steps and edges of `marks` (the critical path) marked.
    pub(super) fn render_dot(&self, marks: Option<&Marks>) -> String {
        let nodes: Vec<Node<'_>> = self
            .steps
            .iter()
            .map(|step| Node {
                name: &step.name,
                data: &step.data_dependencies,
                order: &step.ordering_dependencies,
                sub_job: step.sub_job,
                live: Some(step),
            })
            .collect();
        render(&self.name, &nodes, Some(self), marks)
    }
}

/// Appended to the tooltip, and the attribute added, of what is on the critical path.
const ON_PATH: &str = "\\non the critical path";
const PATH_PEN: &str = " penwidth=3";

fn render(
    job: &str,
    nodes: &[Node<'_>],
    live: Option<&JobSnapshot>,
    marks: Option<&Marks>,
) -> String {
    let on_path = |index: usize| marks.is_some_and(|marks| marks.step(index));
    let mut out = String::with_capacity(512 + nodes.len() * if live.is_some() { 400 } else { 160 });
    out.push_str("digraph ");
    dot_quoted(&mut out, job);
    out.push_str(" {\n");
    // Edges out of a cluster end at its border (`ltail`), which needs `compound`.
    let compound = if nodes.iter().filter_map(|node| node.live).any(clustered) {
        " compound=true"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  graph [rankdir=TB newrank=true{compound} fontname=\"{FONT}\"]"
    );
    let _ = writeln!(
        out,
        "  node [shape=box style=\"rounded,filled\" fontname=\"{FONT}\" fontsize=12 \
         fillcolor=\"#ffffff\" color=\"#555555\"]"
    );
    let _ = writeln!(
        out,
        "  edge [fontname=\"{FONT}\" color=\"#555555\" arrowsize=0.8]"
    );

    // The job's root.
    out.push_str("  \"job\" [shape=triangle label=");
    dot_quoted(&mut out, &shorten(job, LABEL_CHARS));
    out.push_str(" tooltip=");
    match live {
        None => {
            out.push('"');
            dot_escape_into(&mut out, job);
            let _ = write!(out, "\\n{} steps\"", nodes.len());
            out.push_str(" fillcolor=\"#f5f5f5\"");
        }
        Some(snapshot) => {
            job_tooltip(&mut out, snapshot, marks);
            push_colours(&mut out, job_state(snapshot));
        }
    }
    out.push_str("]\n");

    // The steps; a map with few items as a cluster of its items; a sub-job's steps in a
    // cluster with its entry (they follow it, so a cluster is a run of nodes; nested ones
    // nest).
    let ends = sub_job_ends(nodes);
    let mut open: Vec<usize> = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        while open.last().is_some_and(|&entry| ends[entry] <= index) {
            open.pop();
            out.push_str("  }\n");
        }
        if ends[index] > index + 1 {
            sub_job_start(&mut out, index, node);
            open.push(index);
        }
        let items = node.live.filter(|step| !step.items.is_empty());
        let summary = items.map(|step| ItemSummary::of(&step.items));
        let cluster = node.live.filter(|step| clustered(step));
        if let (Some(step), Some(summary)) = (cluster, &summary) {
            cluster_start(&mut out, index, step, summary);
        }
        step_node(
            &mut out,
            index,
            node,
            live,
            on_path(index),
            summary.as_ref(),
        );
        if let Some(step) = cluster {
            cluster_items(&mut out, index, step, live);
        }
    }

    for _ in open {
        out.push_str("  }\n");
    }

    // The edges, by child, in the order the child lists its dependencies.
    for (index, node) in nodes.iter().enumerate() {
        if node.data.is_empty() && node.order.is_empty() {
            let _ = write!(out, "  \"job\" -> \"s{index}\" [style=bold");
            if let Some(snapshot) = live {
                push_edge_colour(&mut out, job_state(snapshot));
            }
            if marks.is_some_and(|marks| marks.first == Some(index)) {
                out.push_str(PATH_PEN);
            }
            out.push_str("]\n");
        }
        let data = node.data.iter().map(|&parent| (parent, true));
        let order = node.order.iter().map(|&parent| (parent, false));
        for (parent, is_data) in data.chain(order) {
            let style = if is_data {
                "style=solid"
            } else {
                "style=dashed arrowhead=onormal"
            };
            let parent_node = nodes.get(parent);
            match parent_node
                .and_then(|p| p.live)
                .filter(|step| clustered(step))
            {
                // From the cluster's border: from its middle item, cut at the border.
                Some(map) => {
                    let middle = map.items.get(map.items.len() / 2);
                    let middle = middle.map_or(0, |item| item.position);
                    let _ = write!(
                        out,
                        "  \"s{parent}i{middle}\" -> \"s{index}\" [ltail=\"cluster_s{parent}\" "
                    );
                }
                None => {
                    let _ = write!(out, "  \"s{parent}\" -> \"s{index}\" [");
                }
            }
            let _ = write!(out, "{style} tooltip=\"");
            dot_escape_into(&mut out, parent_node.map_or("?", |p| p.name));
            out.push_str(" → ");
            dot_escape_into(&mut out, node.name);
            out.push_str(if is_data {
                "\\n(data)"
            } else {
                "\\n(ordering)"
            });
            let parent_state = parent_node.and_then(|p| p.live).map(|p| p.state);
            if let Some(state) = parent_state {
                let _ = write!(out, "\\nparent {state}");
            }
            let edge_on_path = marks.is_some_and(|marks| marks.edge(parent, index));
            if edge_on_path {
                out.push_str(ON_PATH);
            }
            out.push('"');
            if let Some(state) = parent_state {
                push_edge_colour(&mut out, state);
            }
            if edge_on_path {
                out.push_str(PATH_PEN);
            }
            out.push_str("]\n");
        }
    }
    out.push_str("}\n");
    out
}

/// For each step, the end (exclusive) of the sub-job it is the entry of: past its last step,
/// nested ones included; `index + 1` for a step that adds no sub-job.
fn sub_job_ends(nodes: &[Node<'_>]) -> Vec<usize> {
    let mut ends: Vec<usize> = (1..=nodes.len()).collect();
    for (index, node) in nodes.iter().enumerate() {
        let mut entry = node.sub_job;
        // Each step widens every sub-job around it; an entry always comes before its steps.
        while let Some(at) = entry.filter(|&at| at < index) {
            ends[at] = ends[at].max(index + 1);
            entry = nodes[at].sub_job;
        }
    }
    ends
}

/// Opens the cluster of the sub-job whose entry is step `index`: labelled with its name.
fn sub_job_start(out: &mut String, index: usize, node: &Node<'_>) {
    let _ = write!(
        out,
        "  subgraph \"cluster_j{index}\" {{\n    graph [style=\"rounded\" color=\"#8d6e63\" \
         fontcolor=\"#5d4037\" fontsize=11 labeljust=l label="
    );
    dot_quoted(out, &shorten(node.name, LABEL_CHARS));
    out.push_str(" tooltip=\"sub-job ");
    dot_escape_into(out, node.name);
    out.push_str("\"]\n");
}

/// `true` if `step` is a map drawn as a cluster of its items: it has some, and at most
/// [`MAX_CLUSTER_ITEMS`].
fn clustered(step: &StepSnapshot) -> bool {
    (1..=MAX_CLUSTER_ITEMS).contains(&step.items.len())
}

/// How many of its failed or cancelled items the tooltip of a map drawn as one node names.
const TOOLTIP_ITEMS: usize = 8;

/// A step's node; for a map, with its item counts (`summary`, of its items if it has some).
fn step_node(
    out: &mut String,
    index: usize,
    node: &Node<'_>,
    live: Option<&JobSnapshot>,
    on_path: bool,
    summary: Option<&ItemSummary>,
) {
    let indent = if node.live.is_some_and(clustered) {
        "    "
    } else {
        "  "
    };
    let _ = write!(out, "{indent}\"s{index}\" [label=\"");
    dot_escape_into(out, &shorten(node.name, LABEL_CHARS));
    if let Some(step) = node.live {
        let _ = write!(out, "\\n{}", step.state);
        if let Some(running) = step.running {
            let _ = write!(out, " · {}", time::human(running));
        }
        if !step.backoff.is_zero() {
            let _ = write!(out, " (+{} back-off)", time::human(step.backoff));
        }
        if let Some(summary) = summary {
            let _ = write!(out, "\\n{summary}");
        }
    }
    out.push_str("\" tooltip=");
    match node.live {
        None => {
            out.push('"');
            dot_escape_into(out, node.name);
            let _ = write!(out, "\\nstep {index}\"");
        }
        Some(step) => {
            step_tooltip(out, step, live, on_path, summary);
            push_colours(out, step.state);
            if summary.is_some() && !clustered(step) {
                out.push_str(" peripheries=2");
            }
            if on_path {
                out.push_str(PATH_PEN);
            }
        }
    }
    out.push_str("]\n");
}

/// Opens the cluster of map `index`: outlined in the colour of the map's state.
fn cluster_start(out: &mut String, index: usize, step: &StepSnapshot, summary: &ItemSummary) {
    let _ = write!(
        out,
        "  subgraph \"cluster_s{index}\" {{\n    graph [style=\"rounded,dashed\" color=\"{}\" \
         tooltip=\"",
        line_color(step.state)
    );
    dot_escape_into(out, &step.name);
    let _ = writeln!(out, "\\n{summary}\"]");
}

/// The items of map `index`, each a node linked to the map's (dotted, no arrowhead), then the
/// end of the cluster.
fn cluster_items(out: &mut String, index: usize, step: &StepSnapshot, live: Option<&JobSnapshot>) {
    let now = live.map_or(Duration::ZERO, |snapshot| snapshot.elapsed);
    for item in &step.items {
        let position = item.position;
        let _ = write!(out, "    \"s{index}i{position}\" [label=\"");
        dot_escape_into(out, &shorten(&item.name, LABEL_CHARS));
        let _ = write!(out, "\\n{}", item.state);
        if let Some(start) = item.start_offset {
            let end = item.end_offset.unwrap_or(now);
            let _ = write!(out, " · {}", time::human(end.saturating_sub(start)));
        }
        out.push_str("\" tooltip=\"");
        dot_escape_into(out, &item.name);
        let _ = write!(out, "\\nitem {position} of ");
        dot_escape_into(out, &step.name);
        out.push_str(", key ");
        dot_escape_into(out, &item.key);
        let _ = write!(out, "\\nstate: {}", item.state);
        if let Some(start) = item.start_offset {
            let _ = write!(out, "\\nstarted: {} after the job", time::human(start));
        }
        if let Some(end) = item.end_offset {
            let _ = write!(out, "\\nended: {} after the job", time::human(end));
        }
        let _ = write!(out, "\\nattempts: {}", item.attempts);
        if let Some(error) = &item.error {
            out.push_str("\\nerror: ");
            dot_escape_into(out, &error_chain(error));
        }
        out.push('"');
        push_colours(out, item.state);
        out.push_str("]\n");
    }
    let colour = line_color(step.state);
    for item in &step.items {
        let _ = writeln!(
            out,
            "    \"s{index}\" -> \"s{index}i{}\" [style=dotted arrowhead=none color=\"{colour}\"]",
            item.position
        );
    }
    out.push_str("  }\n");
}

/// For a map drawn as one node: the first [`TOOLTIP_ITEMS`] items that failed or were
/// cancelled, by name and state, and how many others did.
fn unsuccessful_items(out: &mut String, step: &StepSnapshot) {
    let mut others = step
        .items
        .iter()
        .filter(|item| matches!(item.state, StepState::Failed | StepState::Cancelled));
    for item in others.by_ref().take(TOOLTIP_ITEMS) {
        out.push_str("\\n");
        dot_escape_into(out, &shorten(&item.name, LABEL_CHARS));
        let _ = write!(out, ": {}", item.state);
    }
    let rest = others.count();
    if rest > 0 {
        let _ = write!(out, "\\n… and {} more failed or cancelled", Grouped(rest));
    }
}

fn push_colours(out: &mut String, state: StepState) {
    let _ = write!(
        out,
        " fillcolor=\"{}\" color=\"{}\"",
        fill_color(state),
        line_color(state)
    );
}

fn push_edge_colour(out: &mut String, state: StepState) {
    let _ = write!(out, " color=\"{}\"", line_color(state));
}

fn job_tooltip(out: &mut String, snapshot: &JobSnapshot, marks: Option<&Marks>) {
    out.push('"');
    dot_escape_into(out, &snapshot.name);
    out.push_str("\\ninstance: ");
    dot_escape_into(out, &snapshot.id.to_string());
    let _ = write!(
        out,
        "\\nstate: {}\\nstarted: {}\\nelapsed: {}",
        job_state(snapshot),
        time::rfc3339(snapshot.started_at),
        time::human(snapshot.elapsed)
    );
    if let Some(error) = &snapshot.error {
        out.push_str("\\nerror: ");
        dot_escape_into(out, &error_chain(error));
    }
    if let Some(marks) = marks {
        let steps = marks.steps.iter().filter(|&&on| on).count();
        let plural = if steps == 1 { "" } else { "s" };
        let _ = write!(
            out,
            "\\ncritical path: {steps} step{plural}, {}",
            time::human(marks.total)
        );
    }
    out.push('"');
}

fn step_tooltip(
    out: &mut String,
    step: &StepSnapshot,
    live: Option<&JobSnapshot>,
    on_path: bool,
    summary: Option<&ItemSummary>,
) {
    let elapsed = live.map(|snapshot| snapshot.elapsed);
    let so_far = if step.state.is_finished() {
        ""
    } else {
        " (so far)"
    };
    out.push('"');
    dot_escape_into(out, &step.name);
    let _ = write!(out, "\\nstate: {}", step.state);
    if let Some(started) = step.started_at {
        let _ = write!(out, "\\nstarted: {}", time::rfc3339(started));
    }
    if let Some(ended) = step.ended_at {
        let _ = write!(out, "\\nended: {}", time::rfc3339(ended));
    }
    // Waiting for dependencies: until ready, or until the snapshot if not ready yet (and not
    // skipped: a skipped step waited until it was skipped).
    let waiting = match (step.ready_offset, step.end_offset, elapsed) {
        (Some(waiting), _, _) => Some((waiting, "")),
        (None, Some(ended), _) => Some((ended, "")),
        (None, None, Some(now)) => Some((now, " (so far)")),
        (None, None, None) => None,
    };
    if let Some((waiting, suffix)) = waiting {
        let _ = write!(out, "\\nwaiting: {}{suffix}", time::human(waiting));
    }
    let queued = match (step.queued, step.ready_offset, elapsed) {
        (Some(queued), _, _) => Some((queued, "")),
        (None, Some(ready), Some(now)) if step.state == StepState::Queued => {
            Some((now.saturating_sub(ready), " (so far)"))
        }
        _ => None,
    };
    if let Some((queued, suffix)) = queued {
        let _ = write!(out, "\\nqueued: {}{suffix}", time::human(queued));
    }
    if let Some(limit) = &step.awaiting_permit {
        out.push_str("\\nawaiting a permit of ");
        dot_escape_into(out, limit);
    }
    if !step.permit_wait.is_zero() {
        let _ = write!(
            out,
            "\\npermit wait: {}{so_far}",
            time::human(step.permit_wait)
        );
    }
    if let Some(running) = step.running {
        let _ = write!(out, "\\nrunning: {}{so_far}", time::human(running));
    }
    if !step.backoff.is_zero() || !step.retried.is_empty() {
        let _ = write!(out, "\\nback-off: {}{so_far}", time::human(step.backoff));
    }
    let _ = write!(out, "\\nattempts: {}", step.attempts);
    if let Some(summary) = summary {
        let _ = write!(out, "\\nitems: {summary}");
        if !clustered(step) {
            unsuccessful_items(out, step);
        }
    }
    if let Some(error) = &step.error {
        out.push_str("\\nerror: ");
        dot_escape_into(out, &error_chain(error));
    }
    if on_path {
        out.push_str(ON_PATH);
    }
    out.push('"');
}
