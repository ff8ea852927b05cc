//! The critical path of an instance ([`JobSnapshot::critical_path`]): the chain of steps, and
//! the waits between them, that determined how long the instance took (the `critical-path`
//! feature).
//!
//! # What it is
//!
//! A step is *on the schedule* once it was ready: every one of its dependencies had ended in a
//! way that lets it run (succeeded or recovered; for a dependency taken with `allow_failure`
//! or `optional`, however it ended), so it was queued
//! ([`ready_offset`](StepSnapshot::ready_offset) is set). A step that was skipped or omitted,
//! or cancelled while it still waited for its dependencies, never was: it took no time of its
//! own, and the path never ends at it (it can only be on it as such a dependency, ready at
//! its end).
//!
//! 1. **The end.** The path ends at the step on the schedule that ended last. In a snapshot of
//!    a job that has not finished, a step that has not ended counts as ending at the snapshot
//!    ([`elapsed`](JobSnapshot::elapsed)).
//! 2. **Walking back.** From a step, the path goes back to the dependency (data or ordering)
//!    that ended last: the one the step was waiting for when it became ready. It stops at a
//!    step with no dependencies.
//! 3. **Ties** go to the step later in definition order, at the end and at each step back: a
//!    step can depend on one defined before it, never on one after it, so of two steps that
//!    ended at the same instant the later one may have been waiting for the other, and the
//!    path through it is the longer explanation. (A step that is both a data and an ordering
//!    dependency of the next, which a definition does not allow, would be a data link.)
//! 4. **Waits.** Between one step's end (the job's start, for the first step) and the next
//!    step's ready time is a *gap* (another dependency's clock read, the engine's hand-over);
//!    from ready to start, the step waited in the executor's *queue* (until its end, for a step
//!    cancelled in the queue). A step's own time is its running time and, if it was retried,
//!    its time in back-off.
//!
//! So, over the path's steps, the gaps, the queues, the running and the back-off add up to
//! [`total`](CriticalPath::total), the end of the last step: the whole run, unless its last
//! moments were spent by steps off the schedule (skipped, or cancelled while waiting: they end
//! when their cause does).
//!
//! The walk is made on a [`petgraph`] graph of the snapshot's dependencies, in time linear in
//! the number of steps and edges. Dependency indices that point nowhere (a snapshot edited by
//! hand) are ignored, and a step is never visited twice.

use std::sync::Arc;
use std::time::Duration;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use super::Marks;
use crate::instance::{JobInstance, JobSnapshot, StepSnapshot};
use crate::mode::Mode;
use crate::state::StepState;

/// How a step on the [`CriticalPath`] follows the step before it on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CriticalLink {
    /// The step takes the previous step's output ([`StepBuilder::after`](crate::StepBuilder::after)).
    Data,
    /// The step only waits for the previous one ([`StepBuilder::wait_for`](crate::StepBuilder::wait_for)).
    Ordering,
}

/// One step of a [`CriticalPath`], with its times and the waits before it.
///
/// Offsets are from the start of the instance, as in [`StepSnapshot`]. A step is queued at its
/// [`ready_offset`](Self::ready_offset): the instant its dependencies had all succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CriticalStep {
    /// The step's position in the definition.
    pub index: usize,
    /// The step's name.
    pub name: Arc<str>,
    /// The step's state in the snapshot.
    pub state: StepState,
    /// How the step follows the previous step of the path; `None` for the first step.
    pub link: Option<CriticalLink>,
    /// When its dependencies had all succeeded and it was queued.
    pub ready_offset: Duration,
    /// When its future first ran; `None` if it never did (cancelled in the queue, or still
    /// queued).
    pub start_offset: Option<Duration>,
    /// When it ended; `None` if it had not when the snapshot was taken.
    pub end_offset: Option<Duration>,
    /// From the end of the previous step of the path (the start of the job, for the first
    /// step) to [`ready_offset`](Self::ready_offset).
    pub gap: Duration,
    /// From [`ready_offset`](Self::ready_offset) to its start: time in the executor's queue
    /// (for a step that never started, until its end or the snapshot).
    pub queued: Duration,
    /// How long its attempts ran (so far, if it has not ended).
    pub running: Duration,
    /// How long it waited in back-off between attempts.
    pub backoff: Duration,
}

impl CriticalStep {
    /// The time this step added to the path without running: [`gap`](Self::gap) and
    /// [`queued`](Self::queued).
    pub fn wait(&self) -> Duration {
        self.gap.saturating_add(self.queued)
    }

    /// When the step ended on the path (the snapshot, if it had not ended):
    /// `ready_offset + queued + running + backoff`.
    pub fn end(&self) -> Duration {
        self.ready_offset
            .saturating_add(self.queued)
            .saturating_add(self.running)
            .saturating_add(self.backoff)
    }
}

/// The chain of steps, and the waits between them, that determined how long an instance took:
/// see the [module documentation](self) for the exact definition.
///
/// ```
/// # use asyncjob::{JobBuilder, FuturesExecutor};
/// let mut job = JobBuilder::<()>::new("path");
/// let fetch = job.step("fetch").run(|()| async { Ok::<_, String>(1) })?;
/// let check = job.step("check").run(|()| async { Ok::<_, String>(()) })?;
/// job.step("store").after(&fetch).wait_for(&check).run(|(), n| async move { Ok::<_, String>(n) })?;
/// let job = job.seal();
///
/// let mut pool = futures::executor::LocalPool::new();
/// let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(());
/// pool.run_until(instance.wait()).unwrap();
///
/// let path = instance.critical_path();
/// assert!(path.finished);
/// let last = path.steps.last().unwrap();
/// assert_eq!(&*last.name, "store"); // it ended last
/// assert!(path.steps.len() == 2); // after "fetch" or "check", whichever ended last
/// assert_eq!(path.total, instance.snapshot().elapsed);
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CriticalPath {
    /// The steps of the path, first to last (in the order they ran). Empty for a job without
    /// steps, or one in which no step became ready.
    pub steps: Vec<CriticalStep>,
    /// The end of the path: when its last step ended (or the snapshot, if it has not ended);
    /// zero for an empty path.
    pub total: Duration,
    /// `true` if the snapshot was of a finished job: the path is final. Otherwise it is the
    /// path so far.
    pub finished: bool,
}

impl CriticalPath {
    /// `true` if the path has no step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// `true` if the step at `index` (its position in the definition) is on the path.
    pub fn contains(&self, index: usize) -> bool {
        self.steps.iter().any(|step| step.index == index)
    }

    /// The dependencies the path follows, as `(parent, child, link)` step indices, first to last.
    pub fn links(&self) -> impl Iterator<Item = (usize, usize, CriticalLink)> + '_ {
        self.steps.windows(2).filter_map(|pair| match pair {
            [parent, child] => child.link.map(|link| (parent.index, child.index, link)),
            _ => None,
        })
    }

    /// The time the path's steps spent running, added up.
    pub fn running(&self) -> Duration {
        self.steps.iter().map(|step| step.running).sum()
    }

    /// The time the path's steps spent in back-off, added up.
    pub fn backoff(&self) -> Duration {
        self.steps.iter().map(|step| step.backoff).sum()
    }

    /// The time the path spent waiting ([`CriticalStep::wait`]: gaps and queues), added up.
    pub fn waiting(&self) -> Duration {
        self.steps.iter().map(CriticalStep::wait).sum()
    }

    /// The path as the pictures mark it.
    pub(super) fn marks(&self, steps: usize) -> Marks {
        let mut on_path = vec![false; steps];
        for step in &self.steps {
            if let Some(mark) = on_path.get_mut(step.index) {
                *mark = true;
            }
        }
        Marks {
            steps: on_path,
            edges: self
                .links()
                .map(|(parent, child, _)| (parent, child))
                .collect(),
            first: self.steps.first().map(|step| step.index),
            total: self.total,
        }
    }
}

impl JobSnapshot {
    /// The critical path of the instance as it was at this snapshot: the chain of steps, and
    /// the waits between them, that determined how long it took (see the
    /// [`critical_path`](self) module for the exact definition). For a snapshot of a job that
    /// has not finished, the path so far.
    pub fn critical_path(&self) -> CriticalPath {
        let count = self.steps.len();
        let mut graph: DiGraph<(), CriticalLink> = DiGraph::with_capacity(count, count);
        let nodes: Vec<NodeIndex> = (0..count).map(|_| graph.add_node(())).collect();
        for (child, step) in self.steps.iter().enumerate() {
            let data = step
                .data_dependencies
                .iter()
                .map(|&p| (p, CriticalLink::Data));
            let order = step
                .ordering_dependencies
                .iter()
                .map(|&p| (p, CriticalLink::Ordering));
            for (parent, link) in data.chain(order) {
                if let (Some(&from), Some(&to)) = (nodes.get(parent), nodes.get(child)) {
                    if parent != child {
                        graph.add_edge(from, to, link);
                    }
                }
            }
        }

        let end_of = |step: &StepSnapshot| step.end_offset.unwrap_or(self.elapsed);
        // 1. The step on the schedule that ended last; ties to the later one.
        let last = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| step.ready_offset.is_some())
            .max_by_key(|&(index, step)| (end_of(step), index))
            .map(|(index, _)| index);

        // 2. Walk back, each time to the dependency that ended last.
        let mut visited = vec![false; count];
        let mut chain: Vec<(usize, Option<CriticalLink>)> = Vec::new();
        let mut at = last;
        while let Some(index) = at {
            let Some(seen) = visited.get_mut(index) else {
                break;
            };
            if std::mem::replace(seen, true) {
                break;
            }
            let Some(&node) = nodes.get(index) else {
                break;
            };
            let previous = graph
                .edges_directed(node, Direction::Incoming)
                .filter_map(|edge| {
                    let parent = edge.source().index();
                    let ended = self.steps.get(parent)?.end_offset?;
                    let data_first = u8::from(*edge.weight() == CriticalLink::Data);
                    Some(((ended, parent, data_first), parent, *edge.weight()))
                })
                .filter(|&(_, parent, _)| !visited.get(parent).copied().unwrap_or(true))
                .max_by_key(|&(key, _, _)| key);
            chain.push((index, previous.map(|(_, _, link)| link)));
            at = previous.map(|(_, parent, _)| parent);
        }
        chain.reverse();

        // 3. The times and the waits, first to last; each step's link is to the one before.
        let mut steps = Vec::with_capacity(chain.len());
        let mut previous_end = Duration::ZERO;
        for &(index, link) in &chain {
            let Some(step) = self.steps.get(index) else {
                continue;
            };
            let end = end_of(step);
            // A step that never became ready is on the path only as a dependency taken with
            // `allow_failure` or `optional` (it was skipped or omitted): it was decided at its end.
            let ready = step.ready_offset.unwrap_or(end);
            let queued = step.start_offset.unwrap_or(end).saturating_sub(ready);
            let critical = CriticalStep {
                index,
                name: step.name.clone(),
                state: step.state,
                link,
                ready_offset: ready,
                start_offset: step.start_offset,
                end_offset: step.end_offset,
                gap: ready.saturating_sub(previous_end),
                queued,
                running: step.running.unwrap_or(Duration::ZERO),
                backoff: step.backoff,
            };
            previous_end = end;
            steps.push(critical);
        }
        CriticalPath {
            total: previous_end,
            steps,
            finished: self.finished,
        }
    }

    /// [`to_dot`](Self::to_dot), with the [critical path](Self::critical_path) marked: its
    /// steps' outlines and the edges it follows (and the job's edge to its first step, if that
    /// is a root step) drawn three times as thick (`penwidth=3`), and `on the critical path`
    /// in their tooltips; the job's tooltip gives the path's length and total.
    pub fn to_dot_with_critical_path(&self) -> String {
        let marks = self.critical_path().marks(self.steps.len());
        self.render_dot(Some(&marks))
    }

    /// [`to_mermaid_gantt`](Self::to_mermaid_gantt), with the [critical
    /// path](Self::critical_path) marked: the sections of its steps are called `★ name`, and
    /// the title ends with `critical path` and its total.
    pub fn to_mermaid_gantt_with_critical_path(&self) -> String {
        let marks = self.critical_path().marks(self.steps.len());
        self.render_gantt(Some(&marks))
    }
}

impl<X: Mode> JobInstance<X> {
    /// The critical path of the instance: see [`JobSnapshot::critical_path`]. Final once the
    /// job has finished; before, the path so far.
    pub fn critical_path(&self) -> CriticalPath {
        self.snapshot().critical_path()
    }

    /// The instance as DOT with its critical path marked: see
    /// [`JobSnapshot::to_dot_with_critical_path`].
    pub fn to_dot_with_critical_path(&self) -> String {
        self.snapshot().to_dot_with_critical_path()
    }

    /// The instance as a Mermaid Gantt chart with its critical path marked: see
    /// [`JobSnapshot::to_mermaid_gantt_with_critical_path`].
    pub fn to_mermaid_gantt_with_critical_path(&self) -> String {
        self.snapshot().to_mermaid_gantt_with_critical_path()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::id::JobId;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A step that ran from `start` to `end` after being ready at `ready` (all in ms).
    fn ran(name: &str, data: &[usize], order: &[usize], times: (u64, u64, u64)) -> StepSnapshot {
        let (ready, start, end) = times;
        StepSnapshot {
            name: name.into(),
            index: 0,
            state: StepState::Succeeded,
            data_dependencies: data.to_vec(),
            ordering_dependencies: order.to_vec(),
            sub_job: None,
            attempts: 1,
            retried: Vec::new(),
            retried_omitted: 0,
            started_at: Some(UNIX_EPOCH + ms(start)),
            ended_at: Some(UNIX_EPOCH + ms(end)),
            queued: Some(ms(start - ready)),
            awaiting_permit: None,
            permit_offset: None,
            permit_wait: Duration::ZERO,
            running: Some(ms(end - start)),
            backoff: Duration::ZERO,
            ready_offset: Some(ms(ready)),
            start_offset: Some(ms(start)),
            end_offset: Some(ms(end)),
            error: None,
            items: Vec::new(),
        }
    }

    /// A step that never became ready and ended (skipped) at `end`.
    fn skipped(name: &str, data: &[usize], end: u64) -> StepSnapshot {
        StepSnapshot {
            state: StepState::Skipped,
            attempts: 0,
            started_at: None,
            queued: None,
            awaiting_permit: None,
            permit_offset: None,
            permit_wait: Duration::ZERO,
            running: None,
            ready_offset: None,
            start_offset: None,
            end_offset: Some(ms(end)),
            ..ran(name, data, &[], (0, 0, end))
        }
    }

    fn snapshot(mut steps: Vec<StepSnapshot>, finished: bool) -> JobSnapshot {
        for (index, step) in steps.iter_mut().enumerate() {
            step.index = index;
        }
        let elapsed = steps.iter().filter_map(|s| s.end_offset).max();
        JobSnapshot {
            name: "job".into(),
            id: JobId::new("test"),
            started_at: UNIX_EPOCH,
            elapsed: elapsed.unwrap_or(Duration::ZERO),
            finished,
            error: None,
            steps,
        }
    }

    fn names(path: &CriticalPath) -> Vec<&str> {
        path.steps.iter().map(|step| &*step.name).collect()
    }

    #[test]
    fn a_diamond_follows_the_slower_branch_with_its_waits() {
        // a (0-10) → b (10-40), c (11-20); d after b and c: ready at 41, starts at 43, ends 50.
        let path = snapshot(
            vec![
                ran("a", &[], &[], (0, 0, 10)),
                ran("b", &[0], &[], (10, 10, 40)),
                ran("c", &[0], &[], (10, 11, 20)),
                ran("d", &[2], &[1], (41, 43, 50)),
            ],
            true,
        )
        .critical_path();
        assert_eq!(names(&path), ["a", "b", "d"]);
        assert!(path.finished);
        assert_eq!(path.total, ms(50));
        let links: Vec<_> = path.links().collect();
        assert_eq!(
            links,
            [(0, 1, CriticalLink::Data), (1, 3, CriticalLink::Ordering)]
        );
        let d = &path.steps[2];
        assert_eq!(
            (d.gap, d.queued, d.running, d.wait()),
            (ms(1), ms(2), ms(7), ms(3))
        );
        assert_eq!(d.end(), ms(50));
        assert_eq!(path.steps[0].link, None);
        assert_eq!((path.running(), path.waiting()), (ms(47), ms(3)));
        assert!(path.contains(1) && !path.contains(2));
    }

    #[test]
    fn ties_go_to_the_later_step() {
        // Two roots end at 10; "c" after both; and two leaves end at 20 too.
        let steps = vec![
            ran("a", &[], &[], (0, 0, 10)),
            ran("b", &[], &[], (0, 0, 10)),
            ran("c", &[0, 1], &[], (10, 10, 20)),
            ran("d", &[2], &[], (20, 20, 20)),
        ];
        let path = snapshot(steps, true).critical_path();
        // "d" (zero length, after "c") ends at 20 like "c": the later one ends the path.
        assert_eq!(names(&path), ["b", "c", "d"]);
        assert_eq!(path.total, ms(20));
    }

    #[test]
    fn skipped_steps_are_never_on_the_path() {
        let steps = vec![
            ran("ok", &[], &[], (0, 0, 30)),
            StepSnapshot {
                state: StepState::Failed,
                ..ran("fails", &[], &[], (0, 0, 40))
            },
            skipped("after fails", &[1], 45),
        ];
        let path = snapshot(steps, true).critical_path();
        assert_eq!(names(&path), ["fails"]);
        assert_eq!(path.steps[0].state, StepState::Failed);
        assert_eq!(path.total, ms(40));
    }

    #[test]
    fn a_skipped_dependency_taken_however_it_ended_is_ready_at_its_end() {
        // "a" fails at 10, "b" after it is skipped at 12, "c" takes "b" with `allow_failure`.
        let steps = vec![
            StepSnapshot {
                state: StepState::Failed,
                ..ran("a", &[], &[], (0, 0, 10))
            },
            skipped("b", &[0], 12),
            ran("c", &[1], &[], (12, 13, 30)),
        ];
        let path = snapshot(steps, true).critical_path();
        assert_eq!(names(&path), ["a", "b", "c"]);
        let b = &path.steps[1];
        assert_eq!(
            (b.ready_offset, b.gap, b.queued, b.end()),
            (ms(12), ms(2), ms(0), ms(12))
        );
        assert_eq!((path.steps[2].gap, path.steps[2].queued), (ms(0), ms(1)));
    }

    #[test]
    fn an_unfinished_job_has_the_path_so_far() {
        let mut running = ran("b", &[0], &[], (10, 12, 12));
        running.state = StepState::Running;
        running.end_offset = None;
        running.ended_at = None;
        running.running = Some(ms(18));
        let mut snapshot = snapshot(vec![ran("a", &[], &[], (0, 0, 10)), running], false);
        snapshot.elapsed = ms(30);
        let path = snapshot.critical_path();
        assert!(!path.finished);
        assert_eq!(names(&path), ["a", "b"]);
        assert_eq!(path.steps[1].end_offset, None);
        assert_eq!((path.steps[1].end(), path.total), (ms(30), ms(30)));
    }

    #[test]
    fn no_steps_or_no_ready_step_make_an_empty_path() {
        let path = snapshot(Vec::new(), true).critical_path();
        assert!(path.is_empty());
        assert_eq!((path.total, path.links().count()), (Duration::ZERO, 0));
        let path = snapshot(vec![skipped("never", &[], 5)], true).critical_path();
        assert!(path.is_empty());
    }

    #[test]
    fn edited_snapshots_with_bad_indices_or_cycles_do_not_hang_or_panic() {
        let steps = vec![
            ran("a", &[1, 99], &[0], (0, 0, 10)),
            ran("b", &[0, usize::MAX], &[], (10, 10, 20)),
        ];
        let path = snapshot(steps, true).critical_path();
        assert_eq!(names(&path), ["a", "b"]);
        // Offsets out of order saturate rather than underflow.
        let steps = vec![
            ran("a", &[], &[], (0, 0, 10)),
            ran("b", &[0], &[], (5, 5, 20)),
        ];
        let path = snapshot(steps, true).critical_path();
        assert_eq!(path.steps[1].gap, Duration::ZERO);
    }

    #[test]
    fn the_pictures_mark_the_path() {
        let snapshot = snapshot(
            vec![
                ran("a", &[], &[], (0, 0, 10)),
                ran("b", &[0], &[], (10, 10, 40)),
                ran("c", &[0], &[], (10, 11, 20)),
            ],
            true,
        );
        let dot = snapshot.to_dot_with_critical_path();
        assert_eq!(dot.matches(" penwidth=3").count(), 4, "{dot}"); // a, b, job → a, a → b
        assert!(dot.contains("\"job\" -> \"s0\" [style=bold color=\"#2e8b3a\" penwidth=3]"));
        assert!(dot.contains(
            "\\nparent succeeded\\non the critical path\" color=\"#2e8b3a\" penwidth=3]"
        ));
        assert!(dot.contains("critical path: 2 steps, 40.000ms"));
        assert!(!snapshot.to_dot().contains("penwidth"));
        let gantt = snapshot.to_mermaid_gantt_with_critical_path();
        assert!(gantt.contains("\n    section ★ a\n"), "{gantt}");
        assert!(gantt.contains("\n    section ★ b\n"), "{gantt}");
        assert!(gantt.contains("\n    section c\n"), "{gantt}");
        assert!(gantt.contains(", critical path 40.000ms\n"), "{gantt}");
        assert!(!snapshot.to_mermaid_gantt().contains('★'));
    }
}
