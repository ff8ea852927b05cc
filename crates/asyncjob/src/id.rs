//! [`JobId`]: the identifier of a job instance.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identifier of a job instance: chosen by the caller
/// ([`JobOptions::with_id`](crate::JobOptions::with_id)) or numbered by the process (`#1`, `#2`, …).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JobId(IdRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum IdRepr {
    Seq(u64),
    Custom(Arc<str>),
}

impl JobId {
    /// An identifier chosen by the caller.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        JobId(IdRepr::Custom(id.into()))
    }

    /// The number of a process-numbered id (`#3` → 3); `None` for a caller-chosen one.
    pub(crate) fn sequence(&self) -> Option<u64> {
        match self.0 {
            IdRepr::Seq(n) => Some(n),
            IdRepr::Custom(_) => None,
        }
    }

    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        JobId(IdRepr::Seq(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            IdRepr::Seq(n) => write!(f, "#{n}"),
            IdRepr::Custom(id) => f.write_str(id),
        }
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        JobId::new(id)
    }
}

impl From<String> for JobId {
    fn from(id: String) -> Self {
        JobId::new(id)
    }
}
