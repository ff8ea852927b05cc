//! Shared code of the asyncjob benches (`benches/scheduling.rs`, `benches/limits.rs`,
//! `benches/memory.rs`).
//!
//! * [`Shape`] and [`Graph`]: the job shapes measured (chain, fan-out/fan-in, lattice), as a
//!   plain list of parents per step;
//! * [`Job`]: a shape built as an asyncjob definition (no-op steps returning a `u64`);
//! * [`baseline`]: the same shape wired by hand — (a) the floor, one task awaiting ready futures
//!   in topological order; (b) `Shared` outputs driven by one task; (c) one spawned task per step
//!   awaiting its parents' `Shared` handles;
//! * [`limits`]: jobs of independent steps that need a [`Limit`](asyncjob::Limit) and their
//!   semaphore baseline, and a map job (`benches/limits.rs`);
//! * [`Runner`]: one runtime (local executor, tokio current-thread, tokio multi-thread with two
//!   workers, smol) and how each implementation runs one job on it.
//!
//! Every implementation computes the same value (each step adds one to the wrapping sum of its
//! parents' outputs; roots start from the job input, 0), and the tests check that they agree.

use std::convert::Infallible;
use std::fmt;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use asyncjob::{DefinitionError, JobBuilder, JobDefinition, JobOptions, StepHandle};
use asyncjob_local::LocalRuntime;
use asyncjob_smol::SmolExecutor;
use asyncjob_tokio::TokioExecutor;

pub mod limits;

/// The work of one step: one addition the optimiser cannot see through.
#[inline]
pub fn work(input: u64) -> u64 {
    black_box(input).wrapping_add(1)
}

/// The layer width of a [`Shape::Lattice`].
pub const LATTICE_WIDTH: usize = 32;

/// A job shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Each step after the previous one.
    Chain,
    /// One root, `n - 2` steps after it, one sink after all of those (a `Vec` fan-in).
    FanOut,
    /// Layers of [`LATTICE_WIDTH`] steps (fewer for tiny jobs: `n / 2`), each step after two
    /// steps of the previous layer (the one at its position and the next one, wrapping).
    Lattice,
}

impl Shape {
    /// The three shapes.
    pub const ALL: [Shape; 3] = [Shape::Chain, Shape::FanOut, Shape::Lattice];

    /// A short name, used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::FanOut => "fanout",
            Shape::Lattice => "lattice",
        }
    }

    /// The layer width of a lattice of `steps` steps.
    pub fn lattice_width(steps: usize) -> usize {
        LATTICE_WIDTH.min(steps / 2).max(2)
    }

    /// The shape with `steps` steps, as a list of parents per step.
    ///
    /// # Panics
    ///
    /// If `steps` is too small for the shape (0 for a chain, under 3 for the others).
    pub fn graph(self, steps: usize) -> Graph {
        let parents: Vec<Vec<usize>> = match self {
            Shape::Chain => {
                assert!(steps >= 1, "a chain has at least one step");
                (0..steps)
                    .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
                    .collect()
            }
            Shape::FanOut => {
                assert!(steps >= 3, "a fan-out has at least three steps");
                let sink = steps - 1;
                (0..steps)
                    .map(|i| match i {
                        0 => vec![],
                        i if i == sink => (1..sink).collect(),
                        _ => vec![0],
                    })
                    .collect()
            }
            Shape::Lattice => {
                assert!(steps >= 4, "a lattice has at least four steps");
                let width = Shape::lattice_width(steps);
                (0..steps)
                    .map(|i| {
                        if i < width {
                            return vec![];
                        }
                        let (layer, pos) = (i / width, i % width);
                        let previous = (layer - 1) * width;
                        vec![previous + pos, previous + (pos + 1) % width]
                    })
                    .collect()
            }
        };
        Graph::new(parents)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A DAG as a list of parents per step, in topological order.
#[derive(Debug, Clone)]
pub struct Graph {
    /// For each step, the steps whose outputs it takes (all before it).
    pub parents: Vec<Vec<usize>>,
    /// The steps nobody depends on.
    pub sinks: Vec<usize>,
}

impl Graph {
    fn new(parents: Vec<Vec<usize>>) -> Self {
        let mut has_children = vec![false; parents.len()];
        for ps in &parents {
            for &p in ps {
                has_children[p] = true;
            }
        }
        let sinks = (0..parents.len()).filter(|&i| !has_children[i]).collect();
        Graph { parents, sinks }
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// `true` if there is no step.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }
}

type Never = Infallible;

/// A shape built as an asyncjob definition of no-op steps, with the handles of its sinks.
#[derive(Debug, Clone)]
pub struct Job {
    /// The sealed definition; its input is the roots' input.
    pub definition: JobDefinition<u64>,
    /// The sinks' handles, to read the outputs.
    pub sinks: Vec<StepHandle<u64>>,
}

impl Job {
    /// Builds and seals `graph` as a definition (the steps named `s0`, `s1`, …).
    ///
    /// A step with one parent takes it as a handle, with two as a tuple, with more as a `Vec`:
    /// the forms a user would write for a chain, a lattice and a fan-in.
    ///
    /// # Errors
    ///
    /// None in practice: the graph is well formed.
    pub fn build(graph: &Graph) -> Result<Job, DefinitionError> {
        let mut job = JobBuilder::<u64>::new("bench");
        let mut handles: Vec<StepHandle<u64>> = Vec::with_capacity(graph.len());
        for (i, parents) in graph.parents.iter().enumerate() {
            let step = job.step(format!("s{i}"));
            let handle = match parents.as_slice() {
                [] => step.run(|n| async move { Ok::<_, Never>(work(n)) })?,
                [a] => step
                    .after(&handles[*a])
                    .run(|_, x| async move { Ok::<_, Never>(work(x)) })?,
                [a, b] => step.after((&handles[*a], &handles[*b])).run(
                    |_, (x, y): (u64, u64)| async move { Ok::<_, Never>(work(x.wrapping_add(y))) },
                )?,
                many => {
                    let parents: Vec<StepHandle<u64>> =
                        many.iter().map(|&p| handles[p].clone()).collect();
                    step.after(parents).run(|_, xs: Vec<u64>| async move {
                        Ok::<_, Never>(work(xs.iter().fold(0, |s, &x| s.wrapping_add(x))))
                    })?
                }
            };
            handles.push(handle);
        }
        let sinks = graph.sinks.iter().map(|&s| handles[s].clone()).collect();
        Ok(Job {
            definition: job.seal(),
            sinks,
        })
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.definition.len()
    }

    /// `true` if the job has no step.
    pub fn is_empty(&self) -> bool {
        self.definition.is_empty()
    }
}

/// The hand-written baselines.
pub mod baseline {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::FutureExt;
    use futures::future::{BoxFuture, Shared};

    use super::{Graph, work};

    /// A no-op step as a hand-writer would write it.
    pub async fn step(input: u64) -> u64 {
        work(input)
    }

    fn sum(values: impl IntoIterator<Item = u64>) -> u64 {
        values.into_iter().fold(0, u64::wrapping_add)
    }

    /// (a) The floor: one task awaits each step's (ready) future in topological order, keeping
    /// the outputs in a `Vec`. Returns the wrapping sum of the sinks' outputs.
    pub async fn floor(graph: &Graph) -> u64 {
        let mut outputs = vec![0u64; graph.len()];
        for (i, parents) in graph.parents.iter().enumerate() {
            let input = sum(parents.iter().map(|&p| outputs[p]));
            outputs[i] = step(input).await;
        }
        sum(graph.sinks.iter().map(|&s| outputs[s]))
    }

    /// A step's output as a hand-writer shares it: a `Shared` boxed future.
    pub type Output = Shared<BoxFuture<'static, u64>>;

    /// Wires `graph` by hand: one `Shared` future per step, awaiting clones of its parents'
    /// `Shared` outputs (captured individually for one or two parents, as a `Vec` for more).
    pub fn shared_graph(graph: &Graph) -> Vec<Output> {
        let mut outputs: Vec<Output> = Vec::with_capacity(graph.len());
        for parents in &graph.parents {
            let future: BoxFuture<'static, u64> = match parents.as_slice() {
                [] => async { step(0).await }.boxed(),
                [a] => {
                    let a = outputs[*a].clone();
                    async move { step(a.await).await }.boxed()
                }
                [a, b] => {
                    let (a, b) = (outputs[*a].clone(), outputs[*b].clone());
                    async move {
                        let x = a.await;
                        let y = b.await;
                        step(x.wrapping_add(y)).await
                    }
                    .boxed()
                }
                many => {
                    let parents: Vec<Output> = many.iter().map(|&p| outputs[p].clone()).collect();
                    async move {
                        let mut total = 0u64;
                        for parent in parents {
                            total = total.wrapping_add(parent.await);
                        }
                        step(total).await
                    }
                    .boxed()
                }
            };
            outputs.push(future.shared());
        }
        outputs
    }

    /// (b) `Shared` outputs driven by one task: wire the graph, then await every step in
    /// topological order. Returns the wrapping sum of the sinks' outputs.
    pub async fn one_task_shared(graph: &Graph) -> u64 {
        let outputs = shared_graph(graph);
        for output in &outputs {
            output.clone().await;
        }
        sum(graph.sinks.iter().map(|&s| {
            *outputs[s]
                .peek()
                .expect("every step has been awaited, so every output is there")
        }))
    }

    /// (c) Spawn-per-step: wire the graph, hand one task per step to `spawn` (each task drives
    /// its step, which awaits its parents' `Shared` handles), then await every task's join
    /// handle, as one does to know that all of them have ended. Returns the wrapping sum of the
    /// sinks' outputs.
    ///
    /// (Awaiting only the sinks' `Shared` outputs would be wrong: the awaiting task would drive
    /// the whole graph itself through the `Shared` handles, and the spawned tasks would run
    /// later, or never, outside the timed run.)
    pub async fn spawn_per_step<H: Future>(graph: &Graph, spawn: impl Fn(StepTask) -> H) -> u64 {
        let outputs = shared_graph(graph);
        let tasks: Vec<H> = outputs
            .iter()
            .map(|output| spawn(StepTask(output.clone())))
            .collect();
        for task in tasks {
            task.await;
        }
        sum(graph.sinks.iter().map(|&s| {
            *outputs[s]
                .peek()
                .expect("every task has ended, so every output is there")
        }))
    }

    /// The task of one step in [`spawn_per_step`]: drives the step's `Shared` future.
    #[derive(Debug)]
    pub struct StepTask(Output);

    impl Future for StepTask {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(&mut self.0).poll(cx).map(drop)
        }
    }
}

/// A runtime the benches run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `asyncjob-local`'s `LocalRuntime` (an `async_executor::LocalExecutor` driven by
    /// `async_io::block_on` on the bench thread). The baselines use a bare
    /// `async_executor::LocalExecutor` driven the same way, and its own `spawn`.
    Local,
    /// A tokio current-thread runtime, driven by `Runtime::block_on` on the bench thread.
    TokioCurrentThread,
    /// A tokio multi-thread runtime with two workers (with [`BASELINE_STACK`]-byte stacks); each
    /// job runs in a task spawned on it.
    TokioMultiThread,
    /// An `async_executor::Executor` driven by the bench thread alone
    /// (`async_io::block_on(ex.run(..))`): smol's executor, single-threaded.
    Smol,
}

impl RuntimeKind {
    /// The four runtimes.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Local,
        RuntimeKind::TokioCurrentThread,
        RuntimeKind::TokioMultiThread,
        RuntimeKind::Smol,
    ];

    /// A short name, used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Local => "local",
            RuntimeKind::TokioCurrentThread => "tokio-ct",
            RuntimeKind::TokioMultiThread => "tokio-mt2",
            RuntimeKind::Smol => "smol",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One implementation of a job shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// asyncjob: `start()` + `wait()` of a sealed definition.
    Asyncjob,
    /// asyncjob recording its events (`JobOptions::record_events`), with one subscriber that
    /// reads every event while the job runs.
    AsyncjobEvents,
    /// (a) the floor: one task awaiting ready futures.
    Floor,
    /// (b) hand-rolled `Shared` outputs driven by one task.
    Shared,
    /// (c) hand-rolled spawn-per-step over `Shared` handles.
    SpawnPerStep,
}

impl Implementation {
    /// The five implementations.
    pub const ALL: [Implementation; 5] = [
        Implementation::Asyncjob,
        Implementation::AsyncjobEvents,
        Implementation::Floor,
        Implementation::Shared,
        Implementation::SpawnPerStep,
    ];

    /// A short name, used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Asyncjob => "asyncjob",
            Implementation::AsyncjobEvents => "asyncjob-events",
            Implementation::Floor => "a-floor",
            Implementation::Shared => "b-shared",
            Implementation::SpawnPerStep => "c-spawn",
        }
    }
}

/// The worker stack size of the multi-thread tokio runtime (address space; only the pages
/// used are committed).
pub const BASELINE_STACK: usize = 512 << 20;

#[derive(Debug)]
enum Engine {
    Local {
        runtime: LocalRuntime,
        bare: Rc<async_executor::LocalExecutor<'static>>,
    },
    TokioCurrentThread(tokio::runtime::Runtime),
    TokioMultiThread(tokio::runtime::Runtime),
    Smol(Arc<async_executor::Executor<'static>>),
}

/// A runtime, and how each implementation runs one job on it (start to end, on the bench
/// thread's clock).
#[derive(Debug)]
pub struct Runner {
    kind: RuntimeKind,
    engine: Engine,
}

impl Runner {
    /// Makes the runtime.
    ///
    /// # Panics
    ///
    /// If tokio cannot build its runtime.
    pub fn new(kind: RuntimeKind) -> Self {
        let engine = match kind {
            RuntimeKind::Local => Engine::Local {
                runtime: LocalRuntime::new(),
                bare: Rc::new(async_executor::LocalExecutor::new()),
            },
            RuntimeKind::TokioCurrentThread => Engine::TokioCurrentThread(
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a tokio current-thread runtime"),
            ),
            RuntimeKind::TokioMultiThread => Engine::TokioMultiThread(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    // Baseline (c) needs it: when a step's task runs before its parent's, it
                    // drives the parent's `Shared` future itself, recursively, and a chain of
                    // 10,000 such steps overflows tokio's default 2 MiB worker stack.
                    .thread_stack_size(BASELINE_STACK)
                    .build()
                    .expect("a tokio multi-thread runtime"),
            ),
            RuntimeKind::Smol => Engine::Smol(Arc::new(async_executor::Executor::new())),
        };
        Runner { kind, engine }
    }

    /// The runtime.
    pub fn kind(&self) -> RuntimeKind {
        self.kind
    }

    /// Runs `implementation` of the job once; returns the wrapping sum of the sinks' outputs for
    /// the baselines, and 0 for asyncjob (whose outputs [`Runner::asyncjob_outputs`] reads).
    pub fn run(&self, implementation: Implementation, job: &Job, graph: &Arc<Graph>) -> u64 {
        match implementation {
            Implementation::Asyncjob => {
                self.asyncjob(job);
                0
            }
            Implementation::AsyncjobEvents => self.asyncjob_events(job),
            Implementation::Floor => self.floor(graph),
            Implementation::Shared => self.shared(graph),
            Implementation::SpawnPerStep => self.spawn_per_step(graph),
        }
    }

    /// asyncjob: `start()` + `wait()`.
    ///
    /// # Panics
    ///
    /// If the job fails (its steps cannot).
    pub fn asyncjob(&self, job: &Job) {
        self.asyncjob_outputs(job, false);
    }

    /// asyncjob: `start()` + `wait()`, then (if `read`) the wrapping sum of the sinks' outputs.
    ///
    /// # Panics
    ///
    /// If the job fails (its steps cannot).
    pub fn asyncjob_outputs(&self, job: &Job, read: bool) -> u64 {
        fn sum<M: asyncjob::Mode>(
            job: &Job,
            instance: &asyncjob::JobInstance<M>,
            read: bool,
        ) -> u64 {
            if !read {
                return 0;
            }
            job.sinks.iter().fold(0u64, |s, h| {
                s.wrapping_add(instance.output(h).expect("the sink has succeeded"))
            })
        }
        let definition = &job.definition;
        match &self.engine {
            Engine::Local { runtime, .. } => {
                let instance = definition.on(runtime.handle()).start_local(0);
                runtime.block_on(instance.wait()).expect("the job succeeds");
                sum(job, &instance, read)
            }
            Engine::TokioCurrentThread(runtime) => runtime.block_on(async {
                let instance = definition.on(TokioExecutor::new()).start(0);
                instance.wait().await.expect("the job succeeds");
                sum(job, &instance, read)
            }),
            Engine::TokioMultiThread(runtime) => {
                let definition = definition.clone();
                let instance = runtime
                    .block_on(runtime.spawn(async move {
                        let instance = definition.on(TokioExecutor::new()).start(0);
                        instance.wait().await.expect("the job succeeds");
                        instance
                    }))
                    .expect("the job's task does not panic");
                sum(job, &instance, read)
            }
            Engine::Smol(ex) => async_io::block_on(ex.run(async {
                let instance = definition.on(SmolExecutor::new(ex)).start(0);
                instance.wait().await.expect("the job succeeds");
                sum(job, &instance, read)
            })),
        }
    }

    /// asyncjob recording its events, `start()` + `wait()` joined with one subscriber that
    /// reads every event; returns the number of events read.
    ///
    /// # Panics
    ///
    /// If the job fails (its steps cannot).
    pub fn asyncjob_events(&self, job: &Job) -> u64 {
        async fn watch<M: asyncjob::Mode>(instance: asyncjob::JobInstance<M>) -> u64 {
            let events = instance.events().expect("the run records events");
            let count = futures::StreamExt::fold(events, 0u64, |n, _| async move { n + 1 });
            let (result, count) = futures::future::join(instance.wait(), count).await;
            result.expect("the job succeeds");
            count
        }
        let definition = &job.definition;
        let options = || JobOptions::new().record_events();
        match &self.engine {
            Engine::Local { runtime, .. } => {
                let instance = definition
                    .on(runtime.handle())
                    .options(options())
                    .start_local(0);
                runtime.block_on(watch(instance))
            }
            Engine::TokioCurrentThread(runtime) => runtime.block_on(async {
                watch(
                    definition
                        .on(TokioExecutor::new())
                        .options(options())
                        .start(0),
                )
                .await
            }),
            Engine::TokioMultiThread(runtime) => {
                let definition = definition.clone();
                runtime
                    .block_on(runtime.spawn(async move {
                        let instance = definition
                            .on(TokioExecutor::new())
                            .options(options())
                            .start(0);
                        watch(instance).await
                    }))
                    .expect("the job's task does not panic")
            }
            Engine::Smol(ex) => async_io::block_on(ex.run(async {
                watch(
                    definition
                        .on(SmolExecutor::new(ex))
                        .options(options())
                        .start(0),
                )
                .await
            })),
        }
    }

    /// (a) the floor.
    pub fn floor(&self, graph: &Arc<Graph>) -> u64 {
        let graph = graph.clone();
        self.one_task(async move { baseline::floor(&graph).await })
    }

    /// (b) `Shared` outputs driven by one task.
    pub fn shared(&self, graph: &Arc<Graph>) -> u64 {
        let graph = graph.clone();
        self.one_task(async move { baseline::one_task_shared(&graph).await })
    }

    /// (c) spawn-per-step, with the runtime's own spawn.
    pub fn spawn_per_step(&self, graph: &Arc<Graph>) -> u64 {
        let graph = graph.clone();
        match &self.engine {
            Engine::Local { bare, .. } => {
                let ex = bare.clone();
                let job = baseline::spawn_per_step(&graph, move |task| ex.spawn(task));
                async_io::block_on(bare.run(job))
            }
            Engine::TokioCurrentThread(runtime) => {
                runtime.block_on(baseline::spawn_per_step(&graph, tokio::spawn))
            }
            Engine::TokioMultiThread(runtime) => runtime
                .block_on(
                    runtime
                        .spawn(async move { baseline::spawn_per_step(&graph, tokio::spawn).await }),
                )
                .expect("the job's task does not panic"),
            Engine::Smol(ex) => {
                let spawner = ex.clone();
                let job = baseline::spawn_per_step(&graph, move |task| spawner.spawn(task));
                async_io::block_on(ex.run(job))
            }
        }
    }

    /// Runs a one-task baseline as the job's root future on this runtime.
    fn one_task<F>(&self, future: F) -> u64
    where
        F: std::future::Future<Output = u64> + Send + 'static,
    {
        match &self.engine {
            Engine::Local { bare, .. } => async_io::block_on(bare.run(future)),
            Engine::TokioCurrentThread(runtime) => runtime.block_on(future),
            Engine::TokioMultiThread(runtime) => runtime
                .block_on(runtime.spawn(future))
                .expect("the job's task does not panic"),
            Engine::Smol(ex) => async_io::block_on(ex.run(future)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_the_expected_size_and_sinks() {
        let chain = Shape::Chain.graph(10);
        assert_eq!(chain.sinks, [9]);
        let fan = Shape::FanOut.graph(10);
        assert_eq!(fan.parents[9].len(), 8);
        assert_eq!(fan.sinks, [9]);
        let lattice = Shape::Lattice.graph(1000);
        assert_eq!(lattice.len(), 1000);
        assert!(lattice.parents[32..].iter().all(|p| p.len() == 2));
        assert_eq!(Shape::Lattice.graph(10).parents[5], [0, 1]);
    }

    #[test]
    fn every_implementation_computes_the_same_on_every_runtime() {
        for kind in RuntimeKind::ALL {
            let runner = Runner::new(kind);
            for shape in Shape::ALL {
                for steps in [10, 100] {
                    let graph = Arc::new(shape.graph(steps));
                    let job = Job::build(&graph).expect("a well-formed job");
                    let expected = runner.floor(&graph);
                    let what = format!("{shape} of {steps} on {kind}");
                    assert_eq!(runner.asyncjob_outputs(&job, true), expected, "{what}");
                    assert_eq!(runner.shared(&graph), expected, "{what}");
                    assert_eq!(runner.spawn_per_step(&graph), expected, "{what}");
                }
            }
        }
    }
}
