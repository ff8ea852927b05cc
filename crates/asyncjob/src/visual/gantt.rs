//! A Mermaid Gantt chart of an instance ([`JobSnapshot::to_mermaid_gantt`]), as drawn by hand
//! in go-asyncjob's README: a section per step, with a "waiting" bar and a "running" bar (one
//! per attempt, with a "back-off" bar between two).

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::escape::{LABEL_CHARS, mermaid_text};
use super::items::{self, Grouped};
use super::{Marks, job_state, time};
use crate::instance::{JobSnapshot, StepSnapshot};
use crate::state::StepState;

/// Jobs shorter than this are drawn in seconds from their start; longer ones at their
/// wall-clock time.
const RELATIVE_SPAN: Duration = Duration::from_secs(60);

impl JobSnapshot {
    /// The instance as a [Mermaid](https://mermaid.js.org/syntax/gantt.html) Gantt chart, to
    /// put in a ```` ```mermaid ```` block of Markdown (GitHub renders it).
    ///
    /// One `section` per step, in definition order, with:
    ///
    /// * a **waiting** bar from the start of the job until the step started (waiting for its
    ///   dependencies, then in the executor's queue); for a step that never started, until it
    ///   was skipped, or until the snapshot if it is still waiting;
    /// * a **running** bar per attempt, from the start of the step's future to its end (or to the
    ///   snapshot, while it runs). With several attempts, the bars are called
    ///   `attempt 1`, `attempt 2`, …;
    /// * for a step that was retried, a **back-off** bar after each failed attempt, from its
    ///   failure until the next attempt started (or the step ended, or the snapshot, while
    ///   it lasts), called `back-off 1` (after attempt 1), `back-off 2`, …: the time the retry
    ///   policy made the step wait is not drawn as running;
    /// * for a [map step](crate::StepBuilder::map), a bar per item, named `↳ ` and the item's
    ///   name (`↳ hash[src/main.rs]`, with its state if it did not succeed and its attempts if
    ///   it made several), from the item's first start to its end (an item that never started,
    ///   a bar of no width where it ended); after the first
    ///   [`MAX_ITEM_ROWS`](super::MAX_ITEM_ROWS) items, one bar for all the others, from the
    ///   first of them to start to the last to end, with their counts:
    ///   `↳ … and 9,980 more items (9,978 succeeded, 2 failed)`.
    ///
    /// Bars are tagged for Mermaid's colours: waiting and back-off bars are `done` (grey), or
    /// `active` while the step waits; a running bar is `active` while it runs, `crit` (red) if
    /// the attempt failed or was cancelled, untagged once it succeeded.
    ///
    /// Times are in milliseconds (`dateFormat x`; Mermaid has no finer unit), rounded: a step
    /// shorter than half a millisecond is a bar of no width. A job that took less than a minute
    /// is drawn from 0 (the axis reads seconds and milliseconds since the start, `%S.%L`); a
    /// longer one at its wall-clock time (`%H:%M:%S`, in the reader's time zone).
    ///
    /// Mermaid cannot escape text, so in the title and the section names, `:` `;` `#` `%` `<`
    /// `>` and `` ` `` are replaced with look-alikes (`∶` `,` `♯` `٪` `‹` `›` `ˋ`), line breaks
    /// and other control characters with spaces, and names longer than 64 characters are cut
    /// with `…`. The title calls the instance `instance 3` rather than `#3`.
    pub fn to_mermaid_gantt(&self) -> String {
        self.render_gantt(None)
    }

    /// The Gantt chart, with the sections of the steps of `marks` (the critical path) marked.
    pub(super) fn render_gantt(&self, marks: Option<&Marks>) -> String {
        let span = self.elapsed;
        let (base_ms, axis) = if span < RELATIVE_SPAN {
            (0, "%S.%L")
        } else {
            let since_epoch = self
                .started_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            (time::millis_rounded(since_epoch), "%H:%M:%S")
        };
        let at = |offset: Duration| base_ms + time::millis_rounded(offset);

        let mut out = String::with_capacity(128 + self.steps.len() * 96);
        out.push_str("gantt\n");
        // `#3` would need replacing: call it instance 3.
        let id = match self.id.sequence() {
            Some(n) => n.to_string(),
            None => self.id.to_string(),
        };
        let mut title = format!(
            "{}, instance {id}, {} in {}",
            self.name,
            job_state(self),
            time::human(self.elapsed)
        );
        if let Some(marks) = marks {
            let _ = write!(title, ", critical path {}", time::human(marks.total));
        }
        let _ = writeln!(out, "    title {}", mermaid_text(&title, 160, "job"));
        out.push_str("    dateFormat x\n");
        let _ = writeln!(out, "    axisFormat {axis}");
        out.push_str("    todayMarker off\n");
        for step in &self.steps {
            let fallback = format!("step {}", step.index);
            let star = match marks {
                Some(marks) if marks.step(step.index) => "★ ",
                _ => "",
            };
            let _ = writeln!(
                out,
                "    section {star}{}",
                mermaid_text(&step.name, LABEL_CHARS, &fallback)
            );
            for bar in bars(step, self.elapsed) {
                let tag = bar.tag.map(|tag| format!("{tag}, ")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {} :{tag}s{}{}, {}, {}",
                    bar.label,
                    step.index,
                    bar.id,
                    at(bar.start),
                    at(bar.end.max(bar.start))
                );
            }
            if !step.items.is_empty() {
                item_bars(&mut out, step, self.elapsed, at);
            }
        }
        out
    }
}

/// The rows of a map's items, in its section: one per item up to
/// [`MAX_ITEM_ROWS`](super::MAX_ITEM_ROWS), then one for the others.
fn item_bars(out: &mut String, step: &StepSnapshot, now: Duration, at: impl Fn(Duration) -> u128) {
    let (shown, rest) = items::rows(&step.items);
    let index = step.index;
    for item in shown {
        // An item that never started is a bar of no width where it ended (or at the snapshot).
        let (start, end) = match item.start_offset {
            Some(start) => (start, item.end_offset.unwrap_or(now)),
            None => {
                let at = item.end_offset.unwrap_or(now);
                (at, at)
            }
        };
        let fallback = format!("item {}", item.position);
        let mut label = format!("↳ {}", mermaid_text(&item.name, LABEL_CHARS, &fallback));
        let attempts = (item.attempts > 1).then(|| format!("{} attempts", item.attempts));
        let unusual = !matches!(item.state, StepState::Succeeded | StepState::Running);
        let state = unusual.then(|| item.state.to_string());
        let notes: Vec<String> = state.into_iter().chain(attempts).collect();
        if !notes.is_empty() {
            let _ = write!(label, " ({})", notes.join(", "));
        }
        let _ = writeln!(
            out,
            "    {label} :{}s{index}i{}, {}, {}",
            item_tag(item.state),
            item.position,
            at(start),
            at(end.max(start))
        );
    }
    if let Some(rest) = rest {
        let fallback = step.start_offset.unwrap_or(now);
        let (start, end) = rest.span(now).unwrap_or((fallback, fallback));
        let counts: Vec<String> = rest
            .counts()
            .map(|(state, count)| format!("{} {state}", Grouped(count)))
            .collect();
        let _ = writeln!(
            out,
            "    ↳ … and {} more items ({}) :{}s{index}more, {}, {}",
            Grouped(rest.len()),
            counts.join(", "),
            item_tag(rest.state()),
            at(start),
            at(end.max(start))
        );
    }
}

/// The tag (with its `, `) of an item's bar: `active` until it ends, `crit` if it failed or was
/// cancelled.
fn item_tag(state: StepState) -> &'static str {
    match state {
        StepState::Failed | StepState::Cancelled => "crit, ",
        state if !state.is_finished() => "active, ",
        _ => "",
    }
}

/// One bar of a section.
struct Bar {
    label: String,
    /// Unique within the step: `w`, `p` (awaiting a permit), `a<attempt>` or `b<attempt>`
    /// (the back-off after it).
    id: String,
    tag: Option<&'static str>,
    start: Duration,
    end: Duration,
}

/// One run of a step's future, or the back-off after one.
struct Attempt {
    number: u32,
    start: Duration,
    /// `None` while it runs, or the back-off lasts.
    end: Option<Duration>,
    /// How it ended (`Failed` for a retried attempt, `Retrying` for a back-off), or `Running`.
    outcome: StepState,
}

/// The attempts of a step and the back-offs between them, in order: each retried attempt
/// (failed) and its back-off, then the last attempt, with the state of the step, unless the
/// step is (or ended) in the back-off after its last retried attempt.
fn attempts(step: &StepSnapshot) -> Vec<Attempt> {
    let Some(first_start) = step.start_offset else {
        return Vec::new();
    };
    let mut attempts = Vec::with_capacity(2 * step.retried.len() + 1);
    for retried in &step.retried {
        attempts.push(Attempt {
            number: retried.attempt,
            start: retried.start_offset,
            end: Some(retried.end_offset),
            outcome: StepState::Failed,
        });
        attempts.push(Attempt {
            number: retried.attempt,
            start: retried.end_offset,
            end: retried.next_start_offset.or(step.end_offset),
            outcome: StepState::Retrying,
        });
    }
    let last_start = match step.retried.last() {
        None => Some(first_start),
        Some(last) => last.next_start_offset,
    };
    if let Some(start) = last_start {
        attempts.push(Attempt {
            number: step.attempts.max(1),
            start,
            end: step.end_offset,
            outcome: step.state,
        });
    }
    attempts
}

fn bars(step: &StepSnapshot, now: Duration) -> Vec<Bar> {
    let attempts = attempts(step);
    let mut bars = Vec::with_capacity(1 + attempts.len());
    let (waited_until, label, tag) = match (attempts.first(), step.end_offset) {
        (Some(first), _) => (first.start, "waiting", Some("done")),
        (None, Some(ended)) => {
            let label = match step.state {
                StepState::Cancelled => "waiting (cancelled)",
                StepState::Failed => "waiting (failed)",
                _ => "waiting (skipped)",
            };
            (ended, label, Some("done"))
        }
        (None, None) => (now, "waiting", Some("active")),
    };
    // A wait for a permit before the first attempt is a bar of its own, after the wait.
    match step.permit_offset {
        Some(permit) if permit <= waited_until => {
            bars.push(Bar {
                label: "waiting".to_owned(),
                id: "w".to_owned(),
                tag: Some("done"),
                start: Duration::ZERO,
                end: permit,
            });
            let label = match (attempts.first(), step.end_offset) {
                (None, Some(_)) => format!("awaiting permit ({})", step.state),
                _ => "awaiting permit".to_owned(),
            };
            bars.push(Bar {
                label,
                id: "p".to_owned(),
                tag,
                start: permit,
                end: waited_until,
            });
        }
        _ => bars.push(Bar {
            label: label.to_owned(),
            id: "w".to_owned(),
            tag,
            start: Duration::ZERO,
            end: waited_until,
        }),
    }
    let several = !step.retried.is_empty();
    for attempt in &attempts {
        let (label, id, tag) = if attempt.outcome == StepState::Retrying {
            let tag = match attempt.end {
                None => "active",
                Some(_) => "done",
            };
            let number = attempt.number;
            (
                format!("back-off {number}"),
                format!("b{number}"),
                Some(tag),
            )
        } else {
            let tag = match (attempt.end, attempt.outcome) {
                (None, _) | (_, StepState::Running) => Some("active"),
                (_, StepState::Failed | StepState::Cancelled) => Some("crit"),
                _ => None,
            };
            let label = if several {
                format!("attempt {}", attempt.number)
            } else {
                "running".to_owned()
            };
            (label, format!("a{}", attempt.number), tag)
        };
        bars.push(Bar {
            label,
            id,
            tag,
            start: attempt.start,
            end: attempt.end.unwrap_or(now),
        });
    }
    bars
}
