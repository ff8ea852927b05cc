//! The page: its head (policy, style, script), the summary, the critical path, the graph, the
//! timeline and the step table, assembled from one snapshot.

use std::fmt::Write as _;
use std::time::Duration;

use asyncjob::visual::{
    ItemSummary, MAX_ITEM_ROWS, fill_color, format_duration, format_time, line_color,
};
use asyncjob::{CriticalLink, CriticalPath, JobSnapshot, StepSnapshot, StepState};

use crate::html::{escape, escape_into, state_class};
use crate::{graph, timeline};

/// The page's only script. It records script errors and unhandled rejections on the root
/// element (`data-report-errors`, a count, and `data-report-error-log`), marks the page loaded
/// (`data-report-loaded="true"`) once it has set up, highlights a step everywhere while the
/// pointer is over it, and lets the step table show the critical path alone. It reads nothing
/// from the job but the `data-step` numbers the page writes.
///
/// The page's Content-Security-Policy allows this script by its hash, [`SCRIPT_HASH`], and no
/// other: change one, change the other (a test checks them).
pub(crate) const SCRIPT: &str = r#"
(function () {
  "use strict";
  var root = document.documentElement;
  var errors = [];
  function record(message) {
    errors.push(String(message));
    root.setAttribute("data-report-errors", String(errors.length));
    root.setAttribute("data-report-error-log", errors.join("\n"));
  }
  window.addEventListener("error", function (event) {
    record(event.message || "error");
  });
  window.addEventListener("unhandledrejection", function (event) {
    var reason = event.reason;
    record("unhandled rejection: " + (reason && reason.message ? reason.message : String(reason)));
  });
  root.setAttribute("data-report-errors", "0");
  function ready() {
    var marked = [];
    function mark(step) {
      marked.forEach(function (element) { element.classList.remove("hl"); });
      marked = step === null ? [] :
        Array.prototype.slice.call(document.querySelectorAll('[data-step="' + step + '"]'));
      marked.forEach(function (element) { element.classList.add("hl"); });
    }
    document.addEventListener("mouseover", function (event) {
      var target = event.target && event.target.closest ? event.target.closest("[data-step]") : null;
      mark(target ? target.getAttribute("data-step") : null);
    });
    var toggle = document.getElementById("only-critical");
    if (toggle) {
      toggle.addEventListener("change", function () {
        document.body.classList.toggle("only-critical", toggle.checked);
      });
    }
    root.setAttribute("data-report-loaded", "true");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
"#;

/// The CSP source of [`SCRIPT`]: `'sha256-…'` of its text, base64.
pub(crate) const SCRIPT_HASH: &str = "'sha256-vaD5HmxWzQPcG8o1qrTNY2elk4fIKa2RcPj+SK36h/o='";

/// Nothing is fetched, whatever the page contains: no network, no frames, no forms, no base
/// URL; the one script runs by its hash, so an injected one would not.
fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src {SCRIPT_HASH}; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

const STYLE: &str = r#"
:root { --ink: #1d232b; --muted: #5f6b7a; --rule: #d9dee5; --crit: #d9480f; --paper: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #f6f7f9; }
header, section { background: var(--paper); border: 1px solid var(--rule); border-radius: 8px;
  padding: 16px 20px; margin: 0 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 10px; }
.meta { color: var(--muted); margin: 0 0 8px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid;
  font-size: 12px; font-weight: 600; margin-right: 4px; white-space: nowrap; }
.error { color: #a61b17; white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0 0; }
details.items { font-size: 12px; margin: 4px 0 0; }
details.items li .error { display: block; margin: 0; }
details.items p.note { margin: 2px 0 0; }
.note { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.name { overflow-wrap: break-word; min-width: 9em; max-width: 320px; }
td.err { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 480px; color: #a61b17; }
tr.crit td:first-child { box-shadow: inset 4px 0 0 var(--crit); }
tr:target { background: #fff6d6; }
tr.hl, .row.hl .row-bg { background: #eef4ff; fill: #eef4ff; }
body.only-critical #steps tr.step:not(.crit) { display: none; }
.star { color: var(--crit); }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
svg.graph .node text { text-anchor: middle; dominant-baseline: middle; fill: var(--ink); }
svg.graph .node text.status { fill: #3c4651; font-size: 11px; }
svg.graph .node rect { stroke-width: 1.5; }
svg.graph .node.crit rect { stroke: var(--crit); stroke-width: 4; }
svg.graph .node.job rect { stroke-dasharray: 4 3; }
svg.graph .node.hl rect { stroke-width: 4; }
svg.graph .edge { fill: none; stroke: #7a8594; stroke-width: 1.5; }
svg.graph .edge.order { stroke-dasharray: 6 4; }
svg.graph .edge.root { stroke: #b5bcc6; }
svg.graph .edge.crit { stroke: var(--crit); stroke-width: 3.5; }
svg.graph .head { fill: #7a8594; }
svg.graph .head.open { fill: #ffffff; stroke: #7a8594; }
svg.graph .head.crit { fill: var(--crit); }
svg.timeline .grid { stroke: #e6e9ee; }
svg.timeline .tick { fill: var(--muted); text-anchor: middle; font-size: 11px; }
svg.timeline .row-bg { fill: transparent; }
svg.timeline .row.crit .row-bg { fill: #fff1e8; }
svg.timeline .row-label { dominant-baseline: middle; fill: var(--ink); }
svg.timeline .row.crit .row-label { font-weight: 700; fill: var(--crit); }
svg.timeline .row.item .row-label { fill: var(--muted); font-size: 11px; }
svg.timeline .bar { stroke-width: 1; }
svg.timeline .bar.waiting { fill: #eceff3; stroke: #c4cad3; }
svg.timeline .bar.backoff { stroke-dasharray: 3 2; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 8px; color: var(--muted); font-size: 12px; }
.legend i { display: inline-block; width: 14px; height: 10px; border: 1px solid; margin-right: 4px;
  vertical-align: -1px; }
footer { color: var(--muted); font-size: 12px; }
"#;

/// The state words of the page: the job's, read from the snapshot.
fn job_state(snapshot: &JobSnapshot) -> (&'static str, StepState) {
    match (&snapshot.error, snapshot.finished) {
        (_, false) => ("running", StepState::Running),
        (None, true) => ("succeeded", StepState::Succeeded),
        (Some(error), true) if error.is_cancelled() => ("cancelled", StepState::Cancelled),
        (Some(error), true) if error.is_deadline_exceeded() => {
            ("cancelled (deadline)", StepState::Cancelled)
        }
        (Some(_), true) => ("failed", StepState::Failed),
    }
}

fn badge(out: &mut String, state: StepState, text: &str) {
    let _ = write!(out, "<span class=\"badge {}\">", state_class(state));
    escape_into(out, text);
    out.push_str("</span>");
}

fn duration_cell(out: &mut String, duration: Option<Duration>) {
    out.push_str("<td class=\"num\">");
    if let Some(duration) = duration {
        escape_into(out, &format_duration(duration));
    }
    out.push_str("</td>");
}

/// The whole page.
pub(crate) fn render(snapshot: &JobSnapshot, max_graph_steps: usize) -> String {
    let path = snapshot.critical_path();
    let mut out = String::with_capacity(16 * 1024 + snapshot.steps.len() * 3 * 1024);
    let id = snapshot.id.to_string();
    let (state_word, state) = job_state(snapshot);

    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    // A constant, with no `"` or `&` in it: written as it is, to be read as it is.
    out.push_str(&content_security_policy());
    out.push_str("\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"asyncjob-report\">\n<title>");
    escape_into(&mut out, &snapshot.name);
    out.push_str(" · ");
    escape_into(&mut out, &id);
    let _ = write!(out, " · {state_word}</title>\n<style>{STYLE}");
    for state in StepState::ALL {
        let (class, fill, line) = (state_class(state), fill_color(state), line_color(state));
        let _ = writeln!(
            out,
            ".{class} {{ fill: {fill}; stroke: {line}; background: {fill}; border-color: {line}; }}"
        );
    }
    let _ = write!(
        out,
        "</style>\n<script>{SCRIPT}</script>\n</head>\n<body>\n"
    );

    header(&mut out, snapshot, &id, state_word, state);
    critical_path(&mut out, snapshot, &path);

    out.push_str("<section id=\"graph\"><h2>Graph</h2>\n");
    match graph::svg(snapshot, &path, max_graph_steps) {
        Some(svg) => {
            out.push_str(
                "<p class=\"note\">Solid edges carry data, dashed ones only order; \
                          colours are states; the critical path is drawn thick.</p>\n\
                          <div class=\"scroll\">",
            );
            out.push_str(&svg);
            out.push_str("</div>\n");
        }
        None if snapshot.steps.len() > max_graph_steps => {
            let _ = writeln!(
                out,
                "<p class=\"note\">Not drawn: {} steps, more than the {max_graph_steps} this \
                 page lays out (see <code>Report::max_graph_steps</code>). The timeline and the \
                 table have every step.</p>",
                snapshot.steps.len()
            );
        }
        None => out.push_str("<p class=\"note\">The graph could not be laid out.</p>\n"),
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>\n<div class=\"legend\">");
    let bars = [
        StepState::Queued,
        StepState::Running,
        StepState::Succeeded,
        StepState::Recovered,
        StepState::Failed,
        StepState::Cancelled,
    ]
    .map(|state| (state.as_str(), fill_color(state), line_color(state)));
    let retrying = StepState::Retrying;
    let backoff = ("back-off", fill_color(retrying), line_color(retrying));
    let waiting = ("waiting for dependencies", "#eceff3", "#c4cad3");
    let legend = std::iter::once(waiting).chain(bars).chain([backoff]);
    for (what, fill, line) in legend {
        let _ = write!(
            out,
            "<span><i style=\"background:{fill};border-color:{line}\"></i>{what}</span>"
        );
    }
    out.push_str(
        "<span><b class=\"star\">★</b> on the critical path</span></div>\n<div class=\"scroll\">",
    );
    out.push_str(&timeline::svg(snapshot, &path));
    out.push_str("</div>\n</section>\n");

    steps_table(&mut out, snapshot, &path);

    out.push_str("<footer>Made by asyncjob-report from one snapshot");
    if !snapshot.finished {
        out.push_str(", taken while the job ran");
    }
    out.push_str(". Self-contained: it loads nothing.</footer>\n</body>\n</html>\n");
    out
}

fn header(out: &mut String, snapshot: &JobSnapshot, id: &str, state_word: &str, state: StepState) {
    out.push_str("<header>\n<h1>");
    escape_into(out, &snapshot.name);
    out.push_str("</h1>\n<p class=\"meta\">instance ");
    escape_into(out, id);
    out.push_str(" · ");
    badge(out, state, state_word);
    let _ = write!(
        out,
        " started {} · {} {}</p>\n<p class=\"meta\">",
        escape(&format_time(snapshot.started_at)),
        if snapshot.finished {
            "ran"
        } else {
            "running for"
        },
        escape(&format_duration(snapshot.elapsed))
    );
    let _ = write!(out, "{} steps: ", snapshot.steps.len());
    for state in StepState::ALL {
        let count = snapshot.steps.iter().filter(|s| s.state == state).count();
        if count > 0 {
            badge(out, state, &format!("{count} {}", state.as_str()));
        }
    }
    out.push_str("</p>\n");
    if let Some(error) = &snapshot.error {
        out.push_str("<p class=\"error\">");
        escape_into(out, &format!("{error:#}"));
        out.push_str("</p>\n");
    }
    out.push_str("</header>\n");
}

fn critical_path(out: &mut String, snapshot: &JobSnapshot, path: &CriticalPath) {
    out.push_str("<section id=\"critical-path\"><h2>Critical path</h2>\n");
    if path.is_empty() {
        out.push_str("<p class=\"note\">Empty: no step became ready");
        if snapshot.steps.is_empty() {
            out.push_str(" (the job has no steps)");
        }
        out.push_str(".</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>{} step{}{}, {}: running {}, back-off {}, waiting {}.</p>",
        path.steps.len(),
        if path.steps.len() == 1 { "" } else { "s" },
        if path.finished { "" } else { " so far" },
        escape(&format_duration(path.total)),
        escape(&format_duration(path.running())),
        escape(&format_duration(path.backoff())),
        escape(&format_duration(path.waiting())),
    );
    out.push_str(
        "<div class=\"scroll\"><table class=\"path\"><thead><tr><th>step</th><th>follows</th>\
         <th>ready at</th><th>gap</th><th>queued</th><th>running</th><th>back-off</th>\
         <th>ends at</th><th>state</th></tr></thead>\n<tbody>\n",
    );
    for step in &path.steps {
        let _ = write!(
            out,
            "<tr data-step=\"{}\"><td class=\"name\"><a href=\"#step-{}\">",
            step.index, step.index
        );
        escape_into(out, &step.name);
        out.push_str("</a></td><td>");
        out.push_str(match step.link {
            None => "the job's start",
            Some(CriticalLink::Data) => "takes the output of the step above",
            Some(CriticalLink::Ordering) => "waits for the step above",
            Some(_) => "follows the step above",
        });
        out.push_str("</td>");
        duration_cell(out, Some(step.ready_offset));
        duration_cell(out, Some(step.gap));
        duration_cell(out, Some(step.queued));
        duration_cell(out, Some(step.running));
        duration_cell(out, Some(step.backoff));
        out.push_str("<td class=\"num\">");
        escape_into(out, &format_duration(step.end()));
        if step.end_offset.is_none() {
            out.push_str(" (so far)");
        }
        out.push_str("</td><td>");
        badge(out, step.state, step.state.as_str());
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

fn dependency_names(out: &mut String, snapshot: &JobSnapshot, indices: &[usize]) {
    for (i, &index) in indices.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match snapshot.steps.get(index) {
            Some(step) => {
                let _ = write!(out, "<a href=\"#step-{index}\">");
                escape_into(out, &step.name);
                out.push_str("</a>");
            }
            None => {
                let _ = write!(out, "#{index}");
            }
        }
    }
}

fn steps_table(out: &mut String, snapshot: &JobSnapshot, path: &CriticalPath) {
    out.push_str(
        "<section id=\"steps\"><h2>Steps</h2>\n<p><label><input type=\"checkbox\" \
         id=\"only-critical\"> only the critical path</label></p>\n<div class=\"scroll\">\
         <table><thead><tr><th>#</th><th>step</th><th>state</th><th>after (data)</th>\
         <th>waits for</th><th>attempts</th><th>ready at</th><th>queued</th><th>running</th>\
         <th>back-off</th><th>started</th><th>error</th></tr></thead>\n<tbody>\n",
    );
    for step in &snapshot.steps {
        step_row(out, snapshot, step, path.contains(step.index));
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

fn step_row(out: &mut String, snapshot: &JobSnapshot, step: &StepSnapshot, critical: bool) {
    let _ = write!(
        out,
        "<tr id=\"step-{i}\" class=\"step{}\" data-step=\"{i}\"><td class=\"num\">{i}</td>\
         <td class=\"name\">",
        if critical { " crit" } else { "" },
        i = step.index
    );
    if critical {
        out.push_str("<span class=\"star\" title=\"on the critical path\">★</span>\u{a0}");
    }
    escape_into(out, &step.name);
    if !step.items.is_empty() {
        items_list(out, step);
    }
    out.push_str("</td><td>");
    badge(out, step.state, step.state.as_str());
    out.push_str("</td><td>");
    dependency_names(out, snapshot, &step.data_dependencies);
    out.push_str("</td><td>");
    dependency_names(out, snapshot, &step.ordering_dependencies);
    let _ = write!(out, "</td><td class=\"num\">{}", step.attempts);
    if step.retried_omitted > 0 {
        let _ = write!(out, " ({} retries not kept)", step.retried_omitted);
    }
    out.push_str("</td>");
    duration_cell(out, step.ready_offset);
    duration_cell(out, step.queued);
    duration_cell(out, step.running);
    duration_cell(out, (!step.backoff.is_zero()).then_some(step.backoff));
    out.push_str("<td class=\"num\">");
    if let Some(started) = step.started_at {
        escape_into(out, &format_time(started));
    }
    out.push_str("</td><td class=\"err\">");
    if let Some(error) = &step.error {
        escape_into(out, &format!("{error:#}"));
    }
    if !step.retried.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} retried attempt{}</summary><ol>",
            step.retried.len(),
            if step.retried.len() == 1 { "" } else { "s" }
        );
        for retried in &step.retried {
            let _ = write!(out, "<li value=\"{}\">", retried.attempt);
            escape_into(out, &format!("{:#}", retried.error));
            let _ = write!(
                out,
                " (then {} back-off)",
                escape(&format_duration(
                    retried.backoff_spent().unwrap_or(retried.backoff)
                ))
            );
            out.push_str("</li>");
        }
        out.push_str("</ol></details>");
    }
    out.push_str("</td></tr>\n");
}

/// A map's items, collapsed under their counts: the first [`MAX_ITEM_ROWS`] (as on the
/// timeline), each with its state, attempts, time and error, then the counts of the others.
fn items_list(out: &mut String, step: &StepSnapshot) {
    out.push_str("<details class=\"items\"><summary>");
    escape_into(out, &ItemSummary::of(&step.items).to_string());
    out.push_str("</summary><ol>");
    let shown = step.items.len().min(MAX_ITEM_ROWS);
    let (items, rest) = step.items.split_at(shown);
    for item in items {
        let _ = write!(out, "<li value=\"{}\">", item.position);
        escape_into(out, &item.name);
        out.push(' ');
        badge(out, item.state, item.state.as_str());
        if item.attempts > 1 {
            let _ = write!(out, " {} attempts", item.attempts);
        }
        if let (Some(start), Some(end)) = (item.start_offset, item.end_offset) {
            out.push_str(" · ");
            escape_into(out, &format_duration(end.saturating_sub(start)));
        }
        if let Some(error) = &item.error {
            out.push_str("<span class=\"error\">");
            escape_into(out, &format!("{error:#}"));
            out.push_str("</span>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    if !rest.is_empty() {
        out.push_str("<p class=\"note\">… and the other ");
        escape_into(out, &ItemSummary::of(rest).to_string());
        out.push_str("</p>");
    }
    out.push_str("</details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_script_by_its_hash() {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(SCRIPT.as_bytes());
        let hash = format!("'sha256-{}'", base64(&digest));
        assert_eq!(SCRIPT_HASH, hash, "update SCRIPT_HASH to the script's hash");
    }

    /// Standard base64 with padding.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
