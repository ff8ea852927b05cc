//! Sealed job definitions, and starting them.

use std::fmt;
use std::sync::Arc;

use crate::env::RunEnv;
use crate::error::{DefinitionError, DefinitionErrorKind, JobError};
use crate::mode::{Mode, Sendable};

use super::handle::StepHandle;
use super::parents::capture_output;
use crate::topology::Topology;

pub(crate) use crate::mode::private::{InputRef, StepDef};

/// A sealed, immutable job definition: a graph of named steps over the input type `I`.
///
/// Made by [`JobBuilder::seal`](crate::JobBuilder::seal). It is cheap to clone and can be started
/// any number of times, concurrently. A definition of `Send` steps (the default mode) is
/// `Send + Sync` and lives happily in a `static` [`LazyLock`](std::sync::LazyLock); a
/// [local](crate::Local) one, whose step functions may capture `Rc`s, stays on its thread.
/// [`on(executor)`](Self::on) prepares a run, and
/// [`Runner::start`](crate::Runner::start) (on an [`Executor`](crate::Executor)) or
/// [`Runner::start_local`](crate::Runner::start_local) (on a
/// [`LocalExecutor`](crate::LocalExecutor)) starts it.
pub struct JobDefinition<I, M: Mode = Sendable> {
    inner: Arc<DefinitionInner<I, M>>,
}

struct DefinitionInner<I, M: Mode> {
    topology: Arc<Topology>,
    nodes: Vec<Box<M::Node<I>>>,
}

impl<I, M: Mode> Clone for JobDefinition<I, M> {
    fn clone(&self) -> Self {
        JobDefinition {
            inner: self.inner.clone(),
        }
    }
}

impl<I, M: Mode> fmt::Debug for JobDefinition<I, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobDefinition")
            .field("name", &self.name())
            .field("steps", &self.step_names().collect::<Vec<_>>())
            .finish()
    }
}

/// Information about one step of a definition.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo<'a> {
    topology: &'a Topology,
    index: usize,
}

impl<'a> StepInfo<'a> {
    /// The step's name.
    pub fn name(&self) -> &'a str {
        &self.topology.steps[self.index].name
    }

    /// The step's position in the definition.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The steps whose outputs this step takes, in the order its function receives them.
    pub fn data_dependencies(&self) -> impl Iterator<Item = StepInfo<'a>> + 'a {
        let topology = self.topology;
        topology.steps[self.index]
            .data
            .iter()
            .map(move |&index| StepInfo { topology, index })
    }

    /// The steps this step waits for without taking their outputs.
    pub fn ordering_dependencies(&self) -> impl Iterator<Item = StepInfo<'a>> + 'a {
        let topology = self.topology;
        topology.steps[self.index]
            .order
            .iter()
            .map(move |&index| StepInfo { topology, index })
    }

    /// For a step of a [sub-job](crate::StepBuilder::job): the step that added the sub-job
    /// (its entry, named after it), the innermost one if sub-jobs nest.
    pub fn sub_job(&self) -> Option<StepInfo<'a>> {
        let topology = self.topology;
        let index = topology.steps[self.index].sub_job?;
        Some(StepInfo { topology, index })
    }

    /// The steps that depend on this one.
    pub fn dependents(&self) -> impl Iterator<Item = StepInfo<'a>> + 'a {
        let topology = self.topology;
        topology.steps[self.index]
            .children
            .iter()
            .map(move |&index| StepInfo { topology, index })
    }
}

impl<I, M: Mode> JobDefinition<I, M> {
    pub(crate) fn new(topology: Arc<Topology>, nodes: Vec<Box<M::Node<I>>>) -> Self {
        JobDefinition {
            inner: Arc::new(DefinitionInner { topology, nodes }),
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.inner.topology.name
    }

    pub(crate) fn topology_arc(&self) -> &Arc<Topology> {
        &self.inner.topology
    }

    pub(crate) fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The node of step `position`.
    fn node(&self, position: usize) -> Option<&M::Node<I>> {
        self.inner.nodes.get(position).map(|node| &**node)
    }

    /// How many steps the job has.
    pub fn len(&self) -> usize {
        self.inner.topology.steps.len()
    }

    /// `true` if the job has no step.
    pub fn is_empty(&self) -> bool {
        self.inner.topology.steps.is_empty()
    }

    /// The steps' names, in the order they were added (a topological order).
    pub fn step_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.topology.steps.iter().map(|meta| &*meta.name)
    }

    /// Every step, in the order they were added (a topological order).
    pub fn steps(&self) -> impl Iterator<Item = StepInfo<'_>> + '_ {
        let topology = &*self.inner.topology;
        (0..topology.steps.len()).map(move |index| StepInfo { topology, index })
    }

    /// A step, found by name (go-asyncjob's `GetStep`). (As
    /// [`JobInstance::step_by_name`](crate::JobInstance::step_by_name) is for a run; `step` on a
    /// builder adds one.)
    pub fn step_by_name(&self, name: &str) -> Option<StepInfo<'_>> {
        let topology = &*self.inner.topology;
        let index = topology.steps.iter().position(|meta| &*meta.name == name)?;
        Some(StepInfo { topology, index })
    }

    /// Names the step whose output is the job's result.
    ///
    /// # Errors
    ///
    /// [`DefinitionErrorKind::ForeignResultStep`] if `step` belongs to another definition.
    pub fn with_result<O>(
        self,
        step: &StepHandle<O>,
    ) -> Result<JobWithResult<I, O, M>, DefinitionError> {
        let topology = &self.inner.topology;
        if step.definition_id() != topology.id {
            return Err(DefinitionError::new(
                DefinitionErrorKind::ForeignResultStep,
                &topology.name,
                step.name_arc(),
                None,
            ));
        }
        Ok(JobWithResult {
            definition: self,
            result: step.clone(),
        })
    }

    /// Makes the cells of one run: one per step, in definition order.
    pub(crate) fn instantiate(&self, input: &I, env: &Arc<RunEnv>) -> Vec<Arc<M::Cell>>
    where
        I: 'static,
    {
        let topology = &self.inner.topology;
        let mut cells: Vec<Arc<M::Cell>> = Vec::with_capacity(self.inner.nodes.len());
        for (index, node) in self.inner.nodes.iter().enumerate() {
            // `None` cannot happen: the builder only accepts handles of this definition, whose
            // types match. Should it happen anyway, the step fails instead of the process.
            let cell = node
                .instantiate(InputRef::Given(input), index, 0, &cells, env)
                .unwrap_or_else(|| {
                    let step = &topology.steps[index].name;
                    M::failed_cell(JobError::internal(
                        &topology.name,
                        step,
                        "a dependency's output has an unexpected type",
                    ))
                });
            cells.push(cell);
        }
        cells
    }
}

/// Step `position` of a sub-job's definition, as a step of the definition that uses it (see
/// [`StepBuilder::job`](crate::StepBuilder::job)): its input is the output of the sub-job's
/// entry step, and its steps begin right after that entry.
pub(crate) struct SubStep<I2, M: Mode> {
    pub(crate) sub: JobDefinition<I2, M>,
    pub(crate) position: usize,
    /// The entry step, in the definition that uses the sub-job.
    pub(crate) entry: usize,
}

impl<I, I2: 'static, M: Mode> StepDef<I, M> for SubStep<I2, M> {
    fn instantiate(
        &self,
        _: InputRef<'_, M, I>,
        index: usize,
        base: usize,
        cells: &[Arc<M::Cell>],
        env: &Arc<RunEnv>,
    ) -> Option<Arc<M::Cell>> {
        let entry = base + self.entry;
        let input = capture_output::<M, I2>(cells.get(entry)?)?;
        let node = self.sub.node(self.position)?;
        node.instantiate(InputRef::Entry(&input), index, entry + 1, cells, env)
    }
}

/// A job definition that names one step as its result: its instances give that step's output,
/// typed ([`JobInstanceWithResult::result`](crate::JobInstanceWithResult::result)).
///
/// Made by [`JobDefinition::with_result`]; dereferences to the [`JobDefinition`].
pub struct JobWithResult<I, O, M: Mode = Sendable> {
    definition: JobDefinition<I, M>,
    result: StepHandle<O>,
}

impl<I, O, M: Mode> Clone for JobWithResult<I, O, M> {
    fn clone(&self) -> Self {
        JobWithResult {
            definition: self.definition.clone(),
            result: self.result.clone(),
        }
    }
}

impl<I, O, M: Mode> fmt::Debug for JobWithResult<I, O, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobWithResult")
            .field("definition", &self.definition)
            .field("result", &self.result.name())
            .finish()
    }
}

impl<I, O, M: Mode> std::ops::Deref for JobWithResult<I, O, M> {
    type Target = JobDefinition<I, M>;

    fn deref(&self) -> &JobDefinition<I, M> {
        &self.definition
    }
}

impl<I, O: Clone + 'static, M: Mode> JobWithResult<I, O, M> {
    /// The definition.
    pub fn definition(&self) -> &JobDefinition<I, M> {
        &self.definition
    }

    /// The handle of the result step.
    pub fn result_step(&self) -> &StepHandle<O> {
        &self.result
    }
}
