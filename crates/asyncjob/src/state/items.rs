//! The items of a map step ([`StepBuilder::map`](crate::StepBuilder::map)): one record per item,
//! known only once the map has read its parent's output.
//!
//! A map is one step of the definition's graph; its items are not. The map's driver is the only
//! writer of its item table (it polls every item's future, inside the map's own), so the table
//! is a plain mutex-guarded list, read by snapshots. Every item transition goes through
//! [`Machine::item`](super::Machine::item), which records it as an event of the map, naming the
//! item, when the run records events.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::JobError;

use super::StepState;

/// An item of a map step, at one moment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ItemSnapshot {
    /// The item's position in the map's input, from 0.
    pub position: usize,
    /// The item's key: the map's [`key`](crate::MapBuilder::key) of it, or its position.
    pub key: Arc<str>,
    /// The item's name: the map's name and the key, `hash[src/main.rs]`.
    pub name: Arc<str>,
    /// Where the item is: `Waiting` (for a free place under the map's
    /// [`limit`](crate::MapBuilder::limit)), `AwaitingPermit` (for a permit of a limit the
    /// map's items [need](crate::MapBuilder::needs)), `Running`, `Retrying`, then `Succeeded`,
    /// `Failed` or `Cancelled`.
    pub state: StepState,
    /// How long the item waited for permits of the limits it needs (so far, if it waits).
    pub permit_wait: Duration,
    /// How many times the map's function was called for the item.
    pub attempts: u32,
    /// When, from the start of the instance, the item's first attempt started.
    pub start_offset: Option<Duration>,
    /// When, from the start of the instance, the item ended.
    pub end_offset: Option<Duration>,
    /// The item's error, if it failed or was cancelled.
    pub error: Option<JobError>,
}

/// The items of one run of one map step.
#[derive(Debug)]
pub(crate) struct ItemTable {
    /// The map step's index.
    pub(crate) index: usize,
    /// The map step's name.
    step: Arc<str>,
    items: Mutex<Vec<Item>>,
}

#[derive(Debug)]
struct Item {
    /// The key the map gave the item; `None`: its position. Its name (`map[key]`) is made
    /// when something names the item, not for every item of every run.
    key: Option<Arc<str>>,
    state: StepState,
    attempts: u32,
    start: Option<Duration>,
    end: Option<Duration>,
    error: Option<JobError>,
    /// The waits for permits that have ended, and when the one under way began.
    permit_waited: Duration,
    permit_since: Option<Duration>,
    /// The number of the item's transitions so far (its events' `seq`).
    seq: u32,
}

impl ItemTable {
    /// The table of map step `index` named `step`, with one `Waiting` item per key.
    pub(crate) fn new(index: usize, step: &Arc<str>, keys: Vec<Option<Arc<str>>>) -> Self {
        let items = keys
            .into_iter()
            .map(|key| Item {
                key,
                state: StepState::Waiting,
                attempts: 0,
                start: None,
                end: None,
                error: None,
                permit_waited: Duration::ZERO,
                permit_since: None,
                seq: 0,
            })
            .collect();
        ItemTable {
            index,
            step: step.clone(),
            items: Mutex::new(items),
        }
    }

    /// The key and the name of an item at `position` whose key is `key`.
    fn label(&self, position: usize, key: Option<&Arc<str>>) -> (Arc<str>, Arc<str>) {
        let key: Arc<str> = match key {
            Some(key) => key.clone(),
            None => position.to_string().into(),
        };
        let name = format!("{}[{key}]", self.step).into();
        (key, name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Item>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The name of item `position` (`map[key]`).
    pub(crate) fn name(&self, position: usize) -> Arc<str> {
        self.key_and_name(position).1
    }

    /// The key and the name of item `position`.
    pub(crate) fn key_and_name(&self, position: usize) -> (Arc<str>, Arc<str>) {
        let key = self.lock().get(position).and_then(|item| item.key.clone());
        self.label(position, key.as_ref())
    }

    /// Moves item `position` into `state` at `at` (with `error`, for a final state other than
    /// `Succeeded`; `attempt`, for `Running`); returns the transition's number, or `None` if the item had ended (nothing is recorded then).
    pub(crate) fn set(
        &self,
        position: usize,
        state: StepState,
        attempt: u32,
        error: Option<JobError>,
        at: Duration,
    ) -> Option<u32> {
        let mut items = self.lock();
        let item = items.get_mut(position)?;
        if item.state.is_finished() {
            return None;
        }
        match (
            item.state == StepState::AwaitingPermit,
            state == StepState::AwaitingPermit,
        ) {
            (false, true) => item.permit_since = Some(at),
            (true, false) => {
                if let Some(since) = item.permit_since.take() {
                    item.permit_waited += at.saturating_sub(since);
                }
            }
            _ => {}
        }
        item.state = state;
        match state {
            StepState::Running => {
                item.attempts = attempt;
                item.start.get_or_insert(at);
            }
            state if state.is_finished() => {
                item.end = Some(at);
                item.error = error;
            }
            _ => {}
        }
        item.seq = item.seq.saturating_add(1);
        Some(item.seq)
    }

    /// The positions of the items that have not ended.
    pub(crate) fn unfinished(&self) -> Vec<usize> {
        self.lock()
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.state.is_finished())
            .map(|(position, _)| position)
            .collect()
    }

    /// Every item, as it stands at `now` (since the start of the run).
    pub(crate) fn snapshot(&self, now: Duration) -> Vec<ItemSnapshot> {
        self.lock()
            .iter()
            .enumerate()
            .map(|(position, item)| {
                let (key, name) = self.label(position, item.key.as_ref());
                ItemSnapshot {
                    position,
                    key,
                    name,
                    state: item.state,
                    permit_wait: item.permit_waited
                        + item
                            .permit_since
                            .map_or(Duration::ZERO, |since| now.saturating_sub(since)),
                    attempts: item.attempts,
                    start_offset: item.start,
                    end_offset: item.end,
                    error: item.error.clone(),
                }
            })
            .collect()
    }
}

/// The item tables of a run, by map step: registered by each map when it starts.
#[derive(Debug, Default)]
pub(crate) struct Maps {
    tables: Mutex<Vec<Arc<ItemTable>>>,
}

impl Maps {
    pub(crate) fn register(&self, table: Arc<ItemTable>) {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(table);
    }

    /// The items of map step `index`, once it has started.
    pub(crate) fn of(&self, index: usize) -> Option<Arc<ItemTable>> {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|table| table.index == index)
            .cloned()
    }
}
