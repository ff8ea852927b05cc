//! `Serialize` for snapshots (the `serde` feature), written by hand: no derive, no proc macro.
//!
//! The form, in JSON terms:
//!
//! * [`JobSnapshot`]: an object with its fields; `started_at` an RFC 3339 string (UTC,
//!   microseconds), `elapsed` a number of seconds;
//! * [`StepSnapshot`]: an object with its fields; wall-clock times as RFC 3339 strings,
//!   durations and offsets as numbers of seconds, `null` when absent;
//! * [`StepState`]: its lower-case name (`"running"`); [`JobId`]: its text (`"#3"`);
//! * [`RetriedAttempt`]: an object with its fields, offsets and durations as numbers of
//!   seconds (`next_start_offset` `null` while the back-off lasts), `error` as one text: its
//!   `Display` text and its causes, joined with `: ` (as `{:#}` shows it);
//! * [`JobError`]: `{"kind", "job", "step", "message", "sources"}`: `kind` in snake case
//!   (`"step_failed"`), `message` its `Display` text, `sources` the `Display` texts of its
//!   [`source`](std::error::Error::source) chain: each cause once (a chain that loops back ends
//!   before the first cause met again), at most 64.

use std::time::{Duration, SystemTime};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::time;
use crate::error::{JobError, JobErrorKind};
use crate::id::JobId;
use crate::instance::{JobSnapshot, StepSnapshot};
use crate::state::items::ItemSnapshot;
use crate::state::{RetriedAttempt, StepState};

/// A wall-clock time, serialised as RFC 3339.
struct Rfc3339(SystemTime);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time::rfc3339(self.0))
    }
}

/// A duration, serialised as seconds.
struct Seconds(Duration);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0.as_secs_f64())
    }
}

fn seconds(duration: Option<Duration>) -> Option<Seconds> {
    duration.map(Seconds)
}

impl Serialize for StepState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for JobErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            JobErrorKind::StepFailed => "step_failed",
            JobErrorKind::StepPanicked => "step_panicked",
            JobErrorKind::DependencyFailed => "dependency_failed",
            JobErrorKind::SpawnFailed => "spawn_failed",
            JobErrorKind::Cancelled => "cancelled",
            JobErrorKind::TimedOut => "timed_out",
            JobErrorKind::DeadlineExceeded => "deadline_exceeded",
            JobErrorKind::DeadlineTimerFailed => "deadline_timer_failed",
            JobErrorKind::Internal => "internal",
            JobErrorKind::TimerMissing => "timer_missing",
            JobErrorKind::Omitted => "omitted",
            JobErrorKind::UnknownStep => "unknown_step",
            JobErrorKind::NoPermits => "no_permits",
        })
    }
}

impl Serialize for JobError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (sources, _) = super::sources(self);
        let mut s = serializer.serialize_struct("JobError", 5)?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("job", self.job())?;
        s.serialize_field("step", &self.step())?;
        s.serialize_field("message", &self.to_string())?;
        s.serialize_field("sources", &sources)?;
        s.end()
    }
}

impl Serialize for RetriedAttempt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RetriedAttempt", 6)?;
        s.serialize_field("attempt", &self.attempt)?;
        s.serialize_field("start_offset", &Seconds(self.start_offset))?;
        s.serialize_field("end_offset", &Seconds(self.end_offset))?;
        s.serialize_field("error", &super::error_chain(&self.error))?;
        s.serialize_field("backoff", &Seconds(self.backoff))?;
        s.serialize_field("next_start_offset", &seconds(self.next_start_offset))?;
        s.end()
    }
}

impl Serialize for StepSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("StepSnapshot", 18)?;
        s.serialize_field("name", &*self.name)?;
        s.serialize_field("index", &self.index)?;
        s.serialize_field("state", &self.state)?;
        s.serialize_field("data_dependencies", &self.data_dependencies)?;
        s.serialize_field("ordering_dependencies", &self.ordering_dependencies)?;
        if self.sub_job.is_some() {
            s.serialize_field("sub_job", &self.sub_job)?;
        } else {
            s.skip_field("sub_job")?;
        }
        s.serialize_field("attempts", &self.attempts)?;
        s.serialize_field("retried", &self.retried)?;
        s.serialize_field("retried_omitted", &self.retried_omitted)?;
        s.serialize_field("started_at", &self.started_at.map(Rfc3339))?;
        s.serialize_field("ended_at", &self.ended_at.map(Rfc3339))?;
        s.serialize_field("queued", &seconds(self.queued))?;
        s.serialize_field("running", &seconds(self.running))?;
        s.serialize_field("backoff", &Seconds(self.backoff))?;
        s.serialize_field("ready_offset", &seconds(self.ready_offset))?;
        s.serialize_field("start_offset", &seconds(self.start_offset))?;
        s.serialize_field("end_offset", &seconds(self.end_offset))?;
        s.serialize_field("error", &self.error)?;
        s.serialize_field("items", &self.items)?;
        s.end()
    }
}

impl Serialize for ItemSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ItemSnapshot", 8)?;
        s.serialize_field("position", &self.position)?;
        s.serialize_field("key", &*self.key)?;
        s.serialize_field("name", &*self.name)?;
        s.serialize_field("state", &self.state)?;
        s.serialize_field("attempts", &self.attempts)?;
        s.serialize_field("start_offset", &seconds(self.start_offset))?;
        s.serialize_field("end_offset", &seconds(self.end_offset))?;
        s.serialize_field("error", &self.error)?;
        s.end()
    }
}

impl Serialize for JobSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("JobSnapshot", 7)?;
        s.serialize_field("name", &*self.name)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("started_at", &Rfc3339(self.started_at))?;
        s.serialize_field("elapsed", &Seconds(self.elapsed))?;
        s.serialize_field("finished", &self.finished)?;
        s.serialize_field("error", &self.error)?;
        s.serialize_field("steps", &self.steps)?;
        s.end()
    }
}
