//! Chrome trace-event JSON of an instance ([`JobSnapshot::to_chrome_trace`]), for
//! [Perfetto](https://ui.perfetto.dev) and `chrome://tracing`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::Duration;

use super::escape::json_quoted;
use super::{error_chain, job_state, time};
use crate::instance::JobSnapshot;
use crate::state::StepState;
use crate::state::items::ItemSnapshot;

/// The process id all events are under: one instance is one process.
const PID: u32 = 1;

impl JobSnapshot {
    /// The instance in the [Trace Event Format] (JSON), which [Perfetto] and `chrome://tracing`
    /// open.
    ///
    /// The instance is one process, named after the job and the instance id; each step is a
    /// track of its own (a thread, `tid` = index + 1, named after the step and sorted in
    /// definition order), and the whole job a track `tid` 0. On a step's track:
    ///
    /// * a `waiting` slice from the start of the job until the step was ready (or was skipped,
    ///   or the snapshot, if it still waits);
    /// * a `queued` slice from then until its future started (or it began to wait for a
    ///   permit: an `awaiting permit` slice, category `permit`, then lasts until it started);
    /// * one slice per attempt (category `attempt`), named after the step, until it ended (or
    ///   the snapshot);
    /// * for a retried step, one slice per back-off (category `backoff`) between two attempts,
    ///   named after the step and the attempt it follows (`fetch back-off 1`), from the failure
    ///   until the next attempt started (or the step ended, or the snapshot).
    ///
    /// All are complete events (`"ph":"X"`), with `ts` and `dur` in microseconds from the start
    /// of the job (nanosecond precision); every slice has the job's name and id, the step's name
    /// and index and its state in `args`; an attempt also its number (`attempt`) and error if
    /// any (a retried attempt's own error, the last attempt's with its causes); a back-off the
    /// attempt it follows (`after_attempt`) and the delay the retry policy asked for, in
    /// microseconds (`delay_us`). The job's start time (RFC 3339) is in `otherData`.
    ///
    /// The items of a [map step](crate::StepBuilder::map) are slices too (category `item`),
    /// one per item, named after the item (`hash[src/main.rs]`), from its first start to its
    /// end (or the snapshot); an item that never started is an instant where it ended (or at
    /// the snapshot). Items run at once, so they are on tracks of their own, right after the
    /// map's: `hash · items 1`, `hash · items 2`, … (`tid`s after the steps'), as many as items
    /// ran at once, each item on the first track free when it started. Their `args` have the
    /// map's name and index, the item's name, key, position, state, attempts (the item's
    /// attempts and back-offs are not timed one by one) and error, if any.
    ///
    /// [Trace Event Format]: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
    /// [Perfetto]: https://ui.perfetto.dev
    pub fn to_chrome_trace(&self) -> String {
        let mut out = String::with_capacity(512 + self.steps.len() * 900);
        let id = self.id.to_string();
        out.push_str("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"job\":");
        json_quoted(&mut out, &self.name);
        out.push_str(",\"job_id\":");
        json_quoted(&mut out, &id);
        let _ = write!(
            out,
            ",\"started_at\":\"{}\",\"state\":\"{}\",\"finished\":{}",
            time::rfc3339(self.started_at),
            job_state(self),
            self.finished
        );
        if let Some(error) = &self.error {
            out.push_str(",\"error\":");
            json_quoted(&mut out, &error_chain(error));
        }
        out.push_str("},\"traceEvents\":[\n");

        let mut events = Events {
            out: &mut out,
            first: true,
        };
        let process = format!("{} {}", self.name, id);
        events.metadata("process_name", 0, "name", &process);
        events.metadata("thread_name", 0, "name", "job");
        events.sort_index(0, 0);
        let job_args = |out: &mut String| {
            out.push_str("\"job\":");
            json_quoted(out, &self.name);
            out.push_str(",\"job_id\":");
            json_quoted(out, &id);
        };
        events.slice(&self.name, "job", 0, Duration::ZERO, self.elapsed, |out| {
            job_args(out);
            let _ = write!(out, ",\"state\":\"{}\"", job_state(self));
        });

        // Tracks in order: the job, each step, each map's item lanes right after the map (as
        // `tid`s after the steps').
        let mut track = 0;
        let mut next_tid = self.steps.len().saturating_add(1);
        for step in &self.steps {
            let tid = step.index.saturating_add(1);
            track += 1;
            events.metadata("thread_name", tid, "name", &step.name);
            events.sort_index(tid, track);
            let step_args = |out: &mut String| {
                job_args(out);
                out.push_str(",\"step\":");
                json_quoted(out, &step.name);
                let _ = write!(
                    out,
                    ",\"index\":{},\"state\":\"{}\"",
                    step.index, step.state
                );
            };
            let (waiting_end, waiting_name) = match (step.ready_offset, step.end_offset) {
                (Some(ready), _) => (ready, "waiting"),
                (None, Some(ended)) => (ended, ended_name(step.state)),
                (None, None) => (self.elapsed, "waiting"),
            };
            events.slice(
                waiting_name,
                "waiting",
                tid,
                Duration::ZERO,
                waiting_end,
                step_args,
            );
            if let Some(ready) = step.ready_offset {
                let taken = step.start_offset.unwrap_or(match step.end_offset {
                    Some(ended) => ended,
                    None => self.elapsed,
                });
                let queued_end = step.permit_offset.unwrap_or(taken);
                events.slice("queued", "queued", tid, ready, queued_end, step_args);
                if let Some(permit) = step.permit_offset {
                    events.slice("awaiting permit", "permit", tid, permit, taken, step_args);
                }
            }
            if let Some(first_start) = step.start_offset {
                for retried in &step.retried {
                    let (start, end) = (retried.start_offset, retried.end_offset);
                    events.slice(&step.name, "attempt", tid, start, end, |out| {
                        step_args(out);
                        let _ = write!(out, ",\"attempt\":{}", retried.attempt);
                        out.push_str(",\"error\":");
                        json_quoted(out, &retried.error.cause_text());
                    });
                    let name = format!("{} back-off {}", step.name, retried.attempt);
                    let until = retried
                        .next_start_offset
                        .or(step.end_offset)
                        .unwrap_or(self.elapsed);
                    events.slice(&name, "backoff", tid, end, until, |out| {
                        step_args(out);
                        let _ = write!(out, ",\"after_attempt\":{}", retried.attempt);
                        out.push_str(",\"delay_us\":");
                        time::micros_decimal(out, retried.backoff);
                    });
                }
                // A step in (or cancelled in) the back-off after its last retried attempt has
                // no attempt after it.
                let last_start = match step.retried.last() {
                    None => Some(first_start),
                    Some(last) => last.next_start_offset,
                };
                if let Some(start) = last_start {
                    let end = step.end_offset.unwrap_or(self.elapsed);
                    events.slice(&step.name, "attempt", tid, start, end, |out| {
                        step_args(out);
                        let _ = write!(out, ",\"attempt\":{}", step.attempts.max(1));
                        if let Some(error) = &step.error {
                            out.push_str(",\"error\":");
                            json_quoted(out, &error_chain(error));
                        }
                    });
                }
            }
            if !step.items.is_empty() {
                let lanes = lanes(&step.items, self.elapsed);
                for lane in 0..lanes.count {
                    let lane_tid = next_tid.saturating_add(lane);
                    let name = format!("{} · items {}", step.name, lane + 1);
                    track += 1;
                    events.metadata("thread_name", lane_tid, "name", &name);
                    events.sort_index(lane_tid, track);
                }
                for (item, &lane) in step.items.iter().zip(&lanes.of) {
                    let (start, end) = span(item, self.elapsed);
                    let tid = next_tid.saturating_add(lane);
                    events.slice(&item.name, "item", tid, start, end, |out| {
                        job_args(out);
                        out.push_str(",\"step\":");
                        json_quoted(out, &step.name);
                        let _ = write!(out, ",\"index\":{},\"item\":", step.index);
                        json_quoted(out, &item.name);
                        out.push_str(",\"key\":");
                        json_quoted(out, &item.key);
                        let _ = write!(
                            out,
                            ",\"position\":{},\"state\":\"{}\",\"attempts\":{}",
                            item.position, item.state, item.attempts
                        );
                        if let Some(error) = &item.error {
                            out.push_str(",\"error\":");
                            json_quoted(out, &error_chain(error));
                        }
                    });
                }
                next_tid = next_tid.saturating_add(lanes.count);
            }
        }
        out.push_str("\n]}\n");
        out
    }
}

/// From an item's first start to its end (or `now`); for an item that never started, an instant
/// where it ended (or `now`).
fn span(item: &ItemSnapshot, now: Duration) -> (Duration, Duration) {
    match item.start_offset {
        Some(start) => (start, item.end_offset.unwrap_or(now).max(start)),
        None => {
            let at = item.end_offset.unwrap_or(now);
            (at, at)
        }
    }
}

/// The lanes of a map's items: tracks on which no two items overlap.
struct Lanes {
    /// The lane of each item, by position.
    of: Vec<usize>,
    count: usize,
}

/// Puts each item, in the order they started, on a lane that is free by then (the one that
/// became free first), or on a new one: as many lanes as items ran at once at most.
fn lanes(items: &[ItemSnapshot], now: Duration) -> Lanes {
    let spans: Vec<(Duration, Duration)> = items.iter().map(|item| span(item, now)).collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (spans[i].0, i));
    let mut lanes = Lanes {
        of: vec![0; items.len()],
        count: 0,
    };
    // (when the lane is free, the lane), the earliest first.
    let mut free: BinaryHeap<Reverse<(Duration, usize)>> = BinaryHeap::new();
    for i in order {
        let (start, end) = spans[i];
        let lane = match free.peek() {
            Some(&Reverse((until, lane))) if until <= start => {
                free.pop();
                lane
            }
            _ => {
                lanes.count += 1;
                lanes.count - 1
            }
        };
        lanes.of[i] = lane;
        free.push(Reverse((end, lane)));
    }
    lanes
}

fn ended_name(state: StepState) -> &'static str {
    match state {
        StepState::Cancelled => "waiting (cancelled)",
        StepState::Failed => "waiting (failed)",
        _ => "waiting (skipped)",
    }
}

/// Writes the events of the `traceEvents` array, one per line.
struct Events<'a> {
    out: &'a mut String,
    first: bool,
}

impl Events<'_> {
    fn start(&mut self) {
        if !self.first {
            self.out.push_str(",\n");
        }
        self.first = false;
    }

    fn metadata(&mut self, name: &str, tid: usize, key: &str, value: &str) {
        self.start();
        let _ = write!(
            self.out,
            "{{\"ph\":\"M\",\"name\":\"{name}\",\"pid\":{PID},\"tid\":{tid},\"args\":{{\"{key}\":"
        );
        json_quoted(self.out, value);
        self.out.push_str("}}");
    }

    fn sort_index(&mut self, tid: usize, index: usize) {
        self.start();
        let _ = write!(
            self.out,
            "{{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":{PID},\"tid\":{tid},\
             \"args\":{{\"sort_index\":{index}}}}}"
        );
    }

    fn slice(
        &mut self,
        name: &str,
        category: &str,
        tid: usize,
        start: Duration,
        end: Duration,
        args: impl FnOnce(&mut String),
    ) {
        self.start();
        self.out.push_str("{\"ph\":\"X\",\"name\":");
        json_quoted(self.out, name);
        let _ = write!(
            self.out,
            ",\"cat\":\"{category}\",\"pid\":{PID},\"tid\":{tid},\"ts\":"
        );
        time::micros_decimal(self.out, start);
        self.out.push_str(",\"dur\":");
        time::micros_decimal(self.out, end.saturating_sub(start));
        self.out.push_str(",\"args\":{");
        args(self.out);
        self.out.push_str("}}");
    }
}
