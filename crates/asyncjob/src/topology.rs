//! The static shape of a definition — steps, edges, job-wide settings — shared by the
//! definition and every run of it. Plain data: the builder makes it, everything above reads it.

use std::sync::Arc;

use crate::intercept::Interceptors;
use crate::limit::Limit;

/// The static shape of a definition.
#[derive(Debug)]
pub(crate) struct Topology {
    /// Tells the handles of this definition from those of another.
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    /// In definition order, which is a topological order.
    pub(crate) steps: Vec<StepMeta>,
    /// The steps without dependencies, in definition order.
    pub(crate) roots: Vec<usize>,
    /// The job-wide interceptors, run around every step.
    pub(crate) interceptors: Interceptors,
    /// Every instance is fail-fast ([`JobBuilder::fail_fast`](crate::JobBuilder::fail_fast)).
    pub(crate) fail_fast: bool,
    /// A step has a retry policy or a timeout: its runs need a timer that can sleep.
    pub(crate) needs_timer: bool,
    /// A step needs a [`Limit`]: its runs take permits.
    pub(crate) has_limits: bool,
    /// At most this many steps of one instance run at once
    /// ([`JobBuilder::max_running`](crate::JobBuilder::max_running)).
    pub(crate) max_running: Option<usize>,
}

/// What a step needs of one of its dependencies before it can run.
///
/// Every edge is satisfied by the dependency's success (or its recovery by a fallback); the
/// kinds differ in what happens when the dependency ends otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    /// The dependency must succeed: its failure skips the step, its omission omits it.
    Strict,
    /// The dependency may be omitted (the step then gets `None`); its failure skips the step.
    Optional,
    /// The dependency may end in any way but cancellation: the step gets its output or its
    /// error, and its failure does not fail the job.
    Tolerant,
}

/// One step of a [`Topology`].
#[derive(Debug)]
pub(crate) struct StepMeta {
    pub(crate) name: Arc<str>,
    /// Steps whose outputs this step takes, in the order the step function receives them.
    pub(crate) data: Vec<usize>,
    /// Steps this step waits for without taking their outputs.
    pub(crate) order: Vec<usize>,
    /// Steps that depend on this one (data or ordering).
    pub(crate) children: Vec<usize>,
    /// The children whose edge from this step is not [`Edge::Strict`], with their edge; empty
    /// for most steps. Only read when this step ends without succeeding.
    pub(crate) soft_children: Vec<(usize, Edge)>,
    /// Every dependent of the step takes it as [`Edge::Tolerant`] (and it has one): its
    /// failure does not fail the job, nor trigger fail-fast. Decided at seal.
    pub(crate) failure_tolerated: bool,
    /// The step runs the full step body (retry, timeout or interceptors, its own or the
    /// job's) and needs the run's context while it is polled. Decided once, at seal.
    pub(crate) needs_context: bool,
    /// The limits the step needs (a permit of each, while an attempt runs), in the order they
    /// are taken ([`crate::limit::acquisition_order`]); empty for most steps.
    pub(crate) limits: Box<[Limit]>,
    /// Its priority among the steps waiting for a permit of a limit.
    pub(crate) priority: i32,
    /// For a step of a sub-job: the sub-job's entry step (the step that added the sub-job,
    /// which makes its input), the innermost one if sub-jobs nest.
    pub(crate) sub_job: Option<usize>,
}

impl StepMeta {
    pub(crate) fn dependency_count(&self) -> usize {
        self.data.len() + self.order.len()
    }

    /// The kind of the edge from this step to its child `child`.
    pub(crate) fn edge_to(&self, child: usize) -> Edge {
        self.soft_children
            .iter()
            .find(|(index, _)| *index == child)
            .map_or(Edge::Strict, |(_, edge)| *edge)
    }
}

impl Topology {
    /// The name of step `index` (empty for an index out of range, which no caller passes).
    pub(crate) fn step_name(&self, index: usize) -> Arc<str> {
        self.steps
            .get(index)
            .map(|meta| meta.name.clone())
            .unwrap_or_default()
    }
}
