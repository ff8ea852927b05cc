//! The timeline: one row per step, in definition order, with a bar per phase of the step's life
//! (waiting for its dependencies, queued, each attempt running, each back-off between two),
//! drawn as inline SVG on a time axis from the start of the job.
//!
//! A map step's items have rows of their own under the map's, within the limit of the core's
//! Gantt chart ([`MAX_ITEM_ROWS`], then one row for the rest).
//!
//! The phases are those of the Gantt chart and the Chrome trace of the core
//! (`JobSnapshot::to_mermaid_gantt`, `to_chrome_trace`), read from the same snapshot fields.

use std::fmt::Write as _;
use std::time::Duration;

use asyncjob::visual::{ItemSummary, MAX_ITEM_ROWS, format_count, format_duration};
use asyncjob::{CriticalPath, JobSnapshot, StepSnapshot, StepState};

use crate::html::{escape, escape_into, num, shorten, state_class};

/// What a step was doing during a [`Phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doing {
    /// Waiting for its dependencies (until ready, or until it ended without being ready).
    Waiting,
    /// Ready, in the executor's queue.
    Queued,
    /// Waiting for a permit of a limit before its first attempt.
    Permit,
    /// An attempt running; the state it ended in (`Failed` for a retried attempt), or
    /// `Running` while it runs.
    Attempt(u32, StepState),
    /// The back-off after an attempt.
    Backoff(u32),
}

/// One bar of a step's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phase {
    pub(crate) doing: Doing,
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    /// It had not ended at the snapshot (`end` is the snapshot).
    pub(crate) open: bool,
}

/// The phases of `step`, in order, as of `now` (the snapshot's elapsed time).
pub(crate) fn phases(step: &StepSnapshot, now: Duration) -> Vec<Phase> {
    let mut phases = Vec::with_capacity(3 + 2 * step.retried.len());
    let until = |end: Option<Duration>| (end.unwrap_or(now), end.is_none());
    let (waited, open) = match (step.ready_offset, step.end_offset) {
        (Some(ready), _) => (ready, false),
        (None, ended) => until(ended),
    };
    phases.push(Phase {
        doing: Doing::Waiting,
        start: Duration::ZERO,
        end: waited,
        open,
    });
    let Some(ready) = step.ready_offset else {
        return phases;
    };
    let (queued_until, open) = match step.permit_offset.or(step.start_offset) {
        Some(taken) => (taken, false),
        None => until(step.end_offset),
    };
    phases.push(Phase {
        doing: Doing::Queued,
        start: ready,
        end: queued_until,
        open,
    });
    if let Some(permit) = step.permit_offset {
        let (end, open) = match step.start_offset {
            Some(start) => (start, false),
            None => until(step.end_offset),
        };
        phases.push(Phase {
            doing: Doing::Permit,
            start: permit,
            end,
            open,
        });
    }
    let Some(first_start) = step.start_offset else {
        return phases;
    };
    for retried in &step.retried {
        phases.push(Phase {
            doing: Doing::Attempt(retried.attempt, StepState::Failed),
            start: retried.start_offset,
            end: retried.end_offset,
            open: false,
        });
        let (end, open) = until(retried.next_start_offset.or(step.end_offset));
        phases.push(Phase {
            doing: Doing::Backoff(retried.attempt),
            start: retried.end_offset,
            end,
            open,
        });
    }
    // A step in (or cancelled in) the back-off after its last retried attempt has no attempt
    // after it.
    let last_start = match step.retried.last() {
        None => Some(first_start),
        Some(last) => last.next_start_offset,
    };
    if let Some(start) = last_start {
        let (end, open) = until(step.end_offset);
        let outcome = if open { StepState::Running } else { step.state };
        phases.push(Phase {
            doing: Doing::Attempt(step.attempts.max(1), outcome),
            start,
            end,
            open,
        });
    }
    phases
}

const LABEL_WIDTH: f64 = 240.0;
const CHART_WIDTH: f64 = 720.0;
const RIGHT_MARGIN: f64 = 24.0;
const ROW_HEIGHT: f64 = 24.0;
const BAR_HEIGHT: f64 = 14.0;
const AXIS_HEIGHT: f64 = 28.0;
/// How many characters of a name the row's label shows (the tooltip has the whole name).
const LABEL_CHARS: usize = 32;

/// A tick spacing of 1, 2 or 5 times a power of ten nanoseconds, giving at most about eight
/// ticks over `span`.
fn tick_step(span: Duration) -> u128 {
    let raw = (span.as_nanos() / 8).max(1);
    let mut magnitude: u128 = 1;
    while magnitude.saturating_mul(10) <= raw {
        magnitude = magnitude.saturating_mul(10);
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| magnitude.saturating_mul(m))
        .find(|&step| step >= raw)
        .unwrap_or(raw)
}

/// The class and the name of a phase, for the bar and its tooltip.
fn describe(doing: Doing) -> (String, String) {
    match doing {
        Doing::Waiting => ("waiting".into(), "waiting for dependencies".into()),
        Doing::Queued => ("queued st-queued".into(), "queued".into()),
        Doing::Permit => (
            "permit st-awaiting-permit".into(),
            "awaiting a permit".into(),
        ),
        Doing::Attempt(n, outcome) => (
            format!("attempt {}", state_class(outcome)),
            format!("attempt {n} ({})", outcome.as_str()),
        ),
        Doing::Backoff(n) => (
            "backoff st-retrying".into(),
            format!("back-off after attempt {n}"),
        ),
    }
}

/// The timeline of `snapshot` as an `<svg>` element, the rows of `path` marked.
pub(crate) fn svg(snapshot: &JobSnapshot, path: &CriticalPath) -> String {
    let now = snapshot.elapsed;
    let span = now.max(Duration::from_nanos(1));
    let scale = CHART_WIDTH / span.as_nanos() as f64;
    let x = |t: Duration| LABEL_WIDTH + t.as_nanos() as f64 * scale;
    let width = LABEL_WIDTH + CHART_WIDTH + RIGHT_MARGIN;
    let rows: usize = snapshot
        .steps
        .iter()
        .map(|step| 1 + item_row_count(step))
        .sum();
    let height = AXIS_HEIGHT + ROW_HEIGHT * rows as f64 + 8.0;

    let mut out = String::with_capacity(1024 + snapshot.steps.len() * 1024);
    out.push_str("<svg class=\"timeline\" role=\"img\" aria-label=\"timeline\" viewBox=\"0 0 ");
    num(&mut out, width);
    out.push(' ');
    num(&mut out, height);
    out.push_str("\" width=\"");
    num(&mut out, width);
    out.push_str("\" height=\"");
    num(&mut out, height);
    out.push_str("\">\n");

    // The axis: a tick and a grid line at each multiple of the step.
    let step = tick_step(span);
    let mut tick: u128 = 0;
    while tick <= span.as_nanos() {
        let at = Duration::from_nanos(u64::try_from(tick).unwrap_or(u64::MAX));
        out.push_str("<line class=\"grid\" x1=\"");
        num(&mut out, x(at));
        out.push_str("\" x2=\"");
        num(&mut out, x(at));
        out.push_str("\" y1=\"");
        num(&mut out, AXIS_HEIGHT - 6.0);
        out.push_str("\" y2=\"");
        num(&mut out, height);
        out.push_str("\"/><text class=\"tick\" x=\"");
        num(&mut out, x(at));
        out.push_str("\" y=\"");
        num(&mut out, AXIS_HEIGHT - 10.0);
        out.push_str("\">");
        out.push_str(&escape(&format_duration(at)));
        out.push_str("</text>\n");
        tick = match tick.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }

    let mut row = 0;
    for step in &snapshot.steps {
        let top = AXIS_HEIGHT + ROW_HEIGHT * row as f64;
        row += 1;
        let critical = path.contains(step.index);
        let _ = write!(
            out,
            "<g class=\"row{}\" data-step=\"{}\"><a href=\"#step-{}\">",
            if critical { " crit" } else { "" },
            step.index,
            step.index
        );
        out.push_str("<rect class=\"row-bg\" x=\"0\" y=\"");
        num(&mut out, top);
        out.push_str("\" width=\"");
        num(&mut out, width);
        out.push_str("\" height=\"");
        num(&mut out, ROW_HEIGHT);
        out.push_str("\"/><text class=\"row-label\" x=\"8\" y=\"");
        num(&mut out, top + ROW_HEIGHT / 2.0);
        out.push_str("\"><title>");
        escape_into(&mut out, &step.name);
        let _ = write!(out, " ({})", step.state.as_str());
        out.push_str("</title>");
        if critical {
            out.push_str("★ ");
        }
        escape_into(&mut out, &shorten(&step.name, LABEL_CHARS));
        out.push_str("</text></a>");

        for phase in phases(step, now) {
            let (class, what) = describe(phase.doing);
            // An instant attempt still shows.
            let min = if matches!(phase.doing, Doing::Attempt(..)) {
                1.5
            } else {
                0.0
            };
            let span = (x(phase.start), x(phase.end.max(phase.start)));
            bar(&mut out, &class, top, span, min, |out| {
                escape_into(out, &step.name);
                let _ = write!(
                    out,
                    ": {what}, {} to {} ({}{})",
                    format_duration(phase.start),
                    format_duration(phase.end),
                    format_duration(phase.end.saturating_sub(phase.start)),
                    if phase.open { ", so far" } else { "" }
                );
            });
        }
        out.push_str("</g>\n");
        if !step.items.is_empty() {
            row = item_rows(&mut out, step, now, row, &x);
        }
    }
    out.push_str("</svg>");
    out
}

/// How many rows a map's items take: one per item up to [`MAX_ITEM_ROWS`], one for the rest.
fn item_row_count(step: &StepSnapshot) -> usize {
    match step.items.len() {
        n if n > MAX_ITEM_ROWS => MAX_ITEM_ROWS + 1,
        n => n,
    }
}

/// The rows of a map's items, from row `row` on, under the map's (highlighted with it): a bar
/// per item, from its first start to its end, coloured by its state, up to [`MAX_ITEM_ROWS`];
/// then one bar for the other items, from the first start to the last end among them, coloured
/// by the worst of their states. Returns the next row.
fn item_rows(
    out: &mut String,
    step: &StepSnapshot,
    now: Duration,
    mut row: usize,
    x: &impl Fn(Duration) -> f64,
) -> usize {
    let shown = step.items.len().min(MAX_ITEM_ROWS);
    let (items, rest) = step.items.split_at(shown);
    for item in items {
        let span = item
            .start_offset
            .map(|start| (start, item.end_offset.unwrap_or(now)));
        let top = row_start(out, step.index, row, &item.name, item.state);
        let mut what = item.state.as_str().to_owned();
        if item.attempts > 1 {
            let _ = write!(what, ", {} attempts", item.attempts);
        }
        if let Some((start, end)) = span {
            let open = item.end_offset.is_none();
            bar(
                out,
                &format!("attempt {}", state_class(item.state)),
                top,
                (x(start), x(end)),
                1.5,
                |out| {
                    escape_into(out, &item.name);
                    let _ = write!(
                        out,
                        ": {what}, {} to {} ({}{})",
                        format_duration(start),
                        format_duration(end),
                        format_duration(end.saturating_sub(start)),
                        if open { ", so far" } else { "" }
                    );
                },
            );
        }
        out.push_str("</g>\n");
        row += 1;
    }
    if !rest.is_empty() {
        let summary = ItemSummary::of(rest);
        let label = format!("… and {} more items", format_count(rest.len()));
        let top = row_start(out, step.index, row, &label, summary.state());
        if let Some((start, end)) = summary.span(now) {
            let class = format!("attempt items {}", state_class(summary.state()));
            bar(out, &class, top, (x(start), x(end)), 1.5, |out| {
                escape_into(out, &step.name);
                let _ = write!(
                    out,
                    ": the other {summary}; from {} to {}{}",
                    format_duration(start),
                    format_duration(end),
                    if summary.unfinished() > 0 {
                        ", so far"
                    } else {
                        ""
                    }
                );
            });
        }
        out.push_str("</g>\n");
        row += 1;
    }
    row
}

/// Opens the row `row` of an item (or of the others) of step `index`: its background and its
/// label, `↳ ` and `name`; returns the row's top. The caller closes the `<g>`.
fn row_start(out: &mut String, index: usize, row: usize, name: &str, state: StepState) -> f64 {
    let top = AXIS_HEIGHT + ROW_HEIGHT * row as f64;
    let width = LABEL_WIDTH + CHART_WIDTH + RIGHT_MARGIN;
    let _ = write!(
        out,
        "<g class=\"row item\" data-step=\"{index}\"><a href=\"#step-{index}\"><rect class=\"row-bg\" x=\"0\" y=\""
    );
    num(out, top);
    out.push_str("\" width=\"");
    num(out, width);
    out.push_str("\" height=\"");
    num(out, ROW_HEIGHT);
    out.push_str("\"/><text class=\"row-label\" x=\"20\" y=\"");
    num(out, top + ROW_HEIGHT / 2.0);
    out.push_str("\"><title>");
    escape_into(out, name);
    let _ = write!(out, " ({})", state.as_str());
    out.push_str("</title>↳ ");
    escape_into(out, &shorten(name, LABEL_CHARS - 2));
    out.push_str("</text></a>");
    top
}

/// A bar of class `class` in the row at `top`, from `from` to `to` (at least `min` wide), its
/// tooltip written by `title`.
fn bar(
    out: &mut String,
    class: &str,
    top: f64,
    (from, to): (f64, f64),
    min: f64,
    title: impl FnOnce(&mut String),
) {
    let _ = write!(out, "<rect class=\"bar {class}\" x=\"");
    num(out, from);
    out.push_str("\" y=\"");
    num(out, top + (ROW_HEIGHT - BAR_HEIGHT) / 2.0);
    out.push_str("\" width=\"");
    num(out, (to - from).max(min));
    out.push_str("\" height=\"");
    num(out, BAR_HEIGHT);
    out.push_str("\"><title>");
    title(out);
    out.push_str("</title></rect>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(Duration::from_millis(45)), 10_000_000);
        assert_eq!(tick_step(Duration::from_millis(355)), 50_000_000);
        assert_eq!(tick_step(Duration::from_nanos(1)), 1);
        assert_eq!(tick_step(Duration::from_secs(3600)), 500_000_000_000);
    }
}
