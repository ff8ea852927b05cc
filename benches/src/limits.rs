//! The limit and map benches (`benches/limits.rs`): what a [`Limit`] costs, against a
//! hand-written semaphore, and what a map item costs.
//!
//! * [`independent`]: `n` steps with no parents, each needing a limit or not, built as an
//!   asyncjob definition (its steps are all sinks);
//! * [`Runner::spawn_each`]: the hand-written counterpart, one task per step spawned with the
//!   runtime's own spawn, each taking a permit of an `async_lock::Semaphore` (or none) around its
//!   work;
//! * [`map`]: a root producing `n` items and a map step over them.

use std::future::Future;
use std::sync::Arc;

use async_lock::Semaphore;
use asyncjob::{DefinitionError, JobBuilder, Limit, StepHandle};
use futures::FutureExt;

use super::{Engine, Graph, Job, Never, Runner, work};

/// `steps` independent steps (no parents), each needing `limit` if there is one.
///
/// # Errors
///
/// None in practice: the job is well formed.
pub fn independent(steps: usize, limit: Option<&Limit>) -> Result<Job, DefinitionError> {
    let mut job = JobBuilder::<u64>::new("independent");
    let mut sinks: Vec<StepHandle<u64>> = Vec::with_capacity(steps);
    for i in 0..steps {
        let mut step = job.step(format!("s{i}"));
        if let Some(limit) = limit {
            step = step.needs(limit);
        }
        sinks.push(step.run(|n| async move { Ok::<_, Never>(work(n)) })?);
    }
    Ok(Job {
        definition: job.seal(),
        sinks,
    })
}

/// The graph of [`independent`]: `steps` steps without parents.
pub fn independent_graph(steps: usize) -> Graph {
    Graph::new(vec![Vec::new(); steps])
}

/// A root step producing the items `0..items` and a map step adding one to each, with the map's
/// handle.
///
/// # Errors
///
/// None in practice: the job is well formed.
pub fn map(items: usize) -> Result<(Job, StepHandle<Vec<u64>>), DefinitionError> {
    let mut job = JobBuilder::<u64>::new("map");
    let count = items as u64;
    let numbers = job
        .step("numbers")
        .run(move |_| async move { Ok::<_, Never>((0..count).collect::<Vec<u64>>()) })?;
    let added = job
        .step("add")
        .map(&numbers)
        .run(|_, x: u64| async move { Ok::<_, Never>(work(x)) })?;
    // `Job::sinks` are `u64` outputs; the map's is a `Vec`, returned beside it.
    let job = Job {
        definition: job.seal(),
        sinks: Vec::new(),
    };
    Ok((job, added))
}

/// One hand-written step: takes a permit of `semaphore`, if any, for the time of its work.
async fn step_task(semaphore: Option<Arc<Semaphore>>) -> u64 {
    match semaphore {
        Some(semaphore) => {
            let _permit = semaphore.acquire().await;
            work(0)
        }
        None => work(0),
    }
}

/// Spawns `steps` [`step_task`]s with `spawn` and awaits every one; returns the wrapping sum of
/// their outputs.
async fn spawn_all<H>(
    steps: usize,
    semaphore: Option<Arc<Semaphore>>,
    spawn: impl Fn(Option<Arc<Semaphore>>) -> H,
) -> u64
where
    H: Future<Output = u64>,
{
    let tasks: Vec<H> = (0..steps).map(|_| spawn(semaphore.clone())).collect();
    let mut total = 0u64;
    for task in tasks {
        total = total.wrapping_add(task.await);
    }
    total
}

impl Runner {
    /// The hand-written limit baseline: `steps` independent tasks spawned with the runtime's own
    /// spawn, each taking a permit of `semaphore` (if any) around its work, then awaited; returns
    /// the wrapping sum of their outputs.
    pub fn spawn_each(&self, steps: usize, semaphore: Option<&Arc<Semaphore>>) -> u64 {
        let semaphore = semaphore.cloned();
        match &self.engine {
            Engine::Local { bare, .. } => {
                let ex = bare.clone();
                let job = spawn_all(steps, semaphore, move |s| ex.spawn(step_task(s)));
                async_io::block_on(bare.run(job))
            }
            Engine::TokioCurrentThread(runtime) => {
                runtime.block_on(spawn_all(steps, semaphore, tokio_spawn))
            }
            Engine::TokioMultiThread(runtime) => runtime
                .block_on(runtime.spawn(spawn_all(steps, semaphore, tokio_spawn)))
                .expect("the job's task does not panic"),
            Engine::Smol(ex) => {
                let spawner = ex.clone();
                let job = spawn_all(steps, semaphore, move |s| spawner.spawn(step_task(s)));
                async_io::block_on(ex.run(job))
            }
        }
    }
}

fn tokio_spawn(semaphore: Option<Arc<Semaphore>>) -> impl Future<Output = u64> + Send {
    tokio::spawn(step_task(semaphore)).map(|r| r.expect("a step's task does not panic"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeKind;

    #[test]
    fn the_limit_baselines_compute_what_asyncjob_does_on_every_runtime() {
        let limit = Limit::new("bench", 8);
        let semaphore = Arc::new(Semaphore::new(8));
        let limited = independent(100, Some(&limit)).expect("a well-formed job");
        let free = independent(100, None).expect("a well-formed job");
        for kind in RuntimeKind::ALL {
            let runner = Runner::new(kind);
            let expected = runner.asyncjob_outputs(&free, true);
            assert_eq!(expected, 100, "{kind}");
            assert_eq!(runner.asyncjob_outputs(&limited, true), expected, "{kind}");
            assert_eq!(limit.available(), 8, "{kind}: every permit is back");
            assert_eq!(runner.spawn_each(100, Some(&semaphore)), expected, "{kind}");
            assert_eq!(runner.spawn_each(100, None), expected, "{kind}");
            let graph = Arc::new(independent_graph(100));
            assert_eq!(runner.spawn_per_step(&graph), expected, "{kind}");
        }
    }

    #[test]
    fn the_map_job_runs_every_item_on_every_runtime() {
        let (job, added) = map(100).expect("a well-formed job");
        for kind in RuntimeKind::ALL {
            Runner::new(kind).asyncjob(&job);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        let outputs = runtime.block_on(async {
            let instance = job
                .definition
                .on(asyncjob_tokio::TokioExecutor::new())
                .start(0);
            instance.wait().await.expect("the job succeeds");
            instance.output(&added).expect("the map has succeeded")
        });
        assert_eq!(outputs, (1..=100).collect::<Vec<u64>>());
    }
}
