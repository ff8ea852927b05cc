//! The items of map steps in the pictures: how many each picture draws one by one
//! ([`MAX_CLUSTER_ITEMS`], [`MAX_ITEM_ROWS`]) and what it says of the rest ([`ItemSummary`]).
//!
//! A step without items (every step but a started map) costs nothing here: the pictures look at
//! [`StepSnapshot::items`](crate::StepSnapshot::items) only when it is not empty.

use std::fmt;
use std::time::Duration;

use crate::state::StepState;
use crate::state::items::ItemSnapshot;

/// A map step with at most this many items is drawn in the instance DOT as a cluster with one
/// node per item; one with more, as a single node with its item counts (so that the DOT of a
/// map of 10,000 items stays a few kilobytes).
pub const MAX_CLUSTER_ITEMS: usize = 16;

/// The Gantt chart and the report page's timeline draw a row for each of the first this many
/// items of a map step (in item order), and one row for all the others together.
pub const MAX_ITEM_ROWS: usize = 20;

/// Some items of a map step, taken together: how many are in each state, when the first
/// started and when the last ended. The text (`Display`) is what the pictures write:
/// `10,000 items: 9,998 succeeded, 2 failed`.
///
/// ```
/// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
/// use asyncjob::visual::ItemSummary;
/// # type E = std::convert::Infallible;
/// let mut job = JobBuilder::<u32>::new("squares");
/// let numbers = job.step("numbers").run(|n| async move { Ok::<_, E>((0..n).collect::<Vec<u32>>()) })?;
/// let squares = job.step("square").map(&numbers).run(|_, n: u32| async move { Ok::<_, E>(n * n) })?;
/// let job = job.seal();
/// let mut pool = futures::executor::LocalPool::new();
/// let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(1_200);
/// pool.run_until(instance.wait()).unwrap();
///
/// let summary = ItemSummary::of(&instance.step(&squares).unwrap().items);
/// assert_eq!(summary.len(), 1_200);
/// assert_eq!(summary.count(StepState::Succeeded), 1_200);
/// assert_eq!(summary.to_string(), "1,200 items: 1,200 succeeded");
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemSummary {
    len: usize,
    /// By state, in the order of [`StepState::ALL`].
    counts: [usize; StepState::ALL.len()],
    first_start: Option<Duration>,
    last_end: Option<Duration>,
}

impl ItemSummary {
    /// The summary of `items`.
    pub fn of(items: &[ItemSnapshot]) -> Self {
        let mut summary = ItemSummary {
            len: items.len(),
            ..ItemSummary::default()
        };
        for item in items {
            if let Some(count) = summary.counts.get_mut(item.state as usize) {
                *count += 1;
            }
            if let Some(start) = item.start_offset {
                summary.first_start = Some(summary.first_start.map_or(start, |s| s.min(start)));
            }
            if let Some(end) = item.end_offset {
                summary.last_end = Some(summary.last_end.map_or(end, |e| e.max(end)));
            }
        }
        summary
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many items are in `state`.
    pub fn count(&self, state: StepState) -> usize {
        self.counts.get(state as usize).copied().unwrap_or(0)
    }

    /// The states that some items are in, with how many, in life-cycle order.
    pub fn counts(&self) -> impl Iterator<Item = (StepState, usize)> + '_ {
        StepState::ALL
            .into_iter()
            .zip(self.counts)
            .filter(|&(_, count)| count > 0)
    }

    /// How many items have not ended.
    pub fn unfinished(&self) -> usize {
        self.counts()
            .filter(|(state, _)| !state.is_finished())
            .map(|(_, count)| count)
            .sum()
    }

    /// When, from the start of the instance, the first of the items started, if one has.
    pub fn first_start(&self) -> Option<Duration> {
        self.first_start
    }

    /// When, from the start of the instance, the last of the items that ended ended, if one
    /// has.
    pub fn last_end(&self) -> Option<Duration> {
        self.last_end
    }

    /// From the first start to the last end, or to `now` (the snapshot's
    /// [`elapsed`](crate::JobSnapshot::elapsed)) while some item has not ended; `None` if no
    /// item has started.
    pub fn span(&self, now: Duration) -> Option<(Duration, Duration)> {
        let start = self.first_start?;
        let end = match (self.unfinished(), self.last_end) {
            (0, Some(end)) => end,
            _ => now,
        };
        Some((start, end.max(start)))
    }

    /// The state the items are drawn in together: the first of failed, cancelled, retrying,
    /// running, awaiting permit, waiting that some item is in, else succeeded (`Succeeded` also
    /// for no item).
    pub fn state(&self) -> StepState {
        [
            StepState::Failed,
            StepState::Cancelled,
            StepState::Retrying,
            StepState::Running,
            StepState::AwaitingPermit,
            StepState::Waiting,
        ]
        .into_iter()
        .find(|&state| self.count(state) > 0)
        .unwrap_or(StepState::Succeeded)
    }
}

impl fmt::Display for ItemSummary {
    /// `1 item: 1 running`, `10,000 items: 9,998 succeeded, 2 failed`, `0 items`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.len == 1 { "" } else { "s" };
        write!(f, "{} item{plural}", Grouped(self.len))?;
        for (i, (state, count)) in self.counts().enumerate() {
            let separator = if i == 0 { ": " } else { ", " };
            write!(f, "{separator}{} {state}", Grouped(count))?;
        }
        Ok(())
    }
}

/// A count with its thousands grouped by commas: `10,000`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grouped(pub(crate) usize);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

/// The first [`MAX_ITEM_ROWS`] of `items`, which the pictures draw one by one, and the summary
/// of the others, if there are others.
pub(crate) fn rows(items: &[ItemSnapshot]) -> (&[ItemSnapshot], Option<ItemSummary>) {
    match items.split_at_checked(MAX_ITEM_ROWS) {
        Some((shown, rest)) if !rest.is_empty() => (shown, Some(ItemSummary::of(rest))),
        _ => (items, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(position: usize, state: StepState, times: (Option<u64>, Option<u64>)) -> ItemSnapshot {
        ItemSnapshot {
            position,
            key: position.to_string().into(),
            name: format!("m[{position}]").into(),
            state,
            permit_wait: Duration::ZERO,
            attempts: u32::from(times.0.is_some()),
            start_offset: times.0.map(Duration::from_millis),
            end_offset: times.1.map(Duration::from_millis),
            error: None,
        }
    }

    #[test]
    fn counts_group_their_thousands() {
        let text = |n| Grouped(n).to_string();
        assert_eq!(text(0), "0");
        assert_eq!(text(999), "999");
        assert_eq!(text(1_000), "1,000");
        assert_eq!(text(9_998), "9,998");
        assert_eq!(text(1_234_567), "1,234,567");
    }

    #[test]
    fn a_summary_counts_states_and_spans_its_items() {
        let items = [
            item(0, StepState::Succeeded, (Some(5), Some(9))),
            item(1, StepState::Failed, (Some(3), Some(12))),
            item(2, StepState::Succeeded, (Some(4), Some(6))),
        ];
        let summary = ItemSummary::of(&items);
        assert_eq!(summary.to_string(), "3 items: 2 succeeded, 1 failed");
        assert_eq!(summary.state(), StepState::Failed);
        assert_eq!(summary.unfinished(), 0);
        let ms = Duration::from_millis;
        assert_eq!(summary.span(ms(100)), Some((ms(3), ms(12))));

        let running = [
            item(0, StepState::Succeeded, (Some(2), Some(4))),
            item(1, StepState::Running, (Some(3), None)),
            item(2, StepState::Waiting, (None, None)),
        ];
        let summary = ItemSummary::of(&running);
        assert_eq!(
            summary.to_string(),
            "3 items: 1 waiting, 1 running, 1 succeeded"
        );
        assert_eq!(summary.unfinished(), 2);
        assert_eq!(summary.state(), StepState::Running);
        assert_eq!(summary.span(ms(7)), Some((ms(2), ms(7))));

        let waiting = ItemSummary::of(&running[2..]);
        assert_eq!(waiting.to_string(), "1 item: 1 waiting");
        assert_eq!(waiting.span(ms(7)), None);
        assert_eq!(ItemSummary::of(&[]).to_string(), "0 items");
        assert_eq!(ItemSummary::of(&[]).state(), StepState::Succeeded);
    }

    #[test]
    fn rows_stop_at_the_limit() {
        let items: Vec<_> = (0..MAX_ITEM_ROWS + 5)
            .map(|p| item(p, StepState::Succeeded, (Some(1), Some(2))))
            .collect();
        let (shown, rest) = rows(&items[..MAX_ITEM_ROWS]);
        assert_eq!((shown.len(), rest), (MAX_ITEM_ROWS, None));
        let (shown, rest) = rows(&items);
        assert_eq!(shown.len(), MAX_ITEM_ROWS);
        assert_eq!(rest.map(|rest| rest.len()), Some(5));
    }
}
