//! Organise async code as a **typed graph of steps** (a DAG) instead of a sequential chain, and
//! run it on **any async runtime**.
//!
//! asyncjob is a Rust take on Azure's [go-asyncjob](https://github.com/Azure/go-asyncjob): you
//! describe a job once — named steps, each an async function of the job input and of the typed
//! outputs of the steps it follows — seal it, and start it as often as you like. Every step starts
//! as soon as its own dependencies have succeeded; a failing step skips what depends on it and
//! nothing else; you wait for the whole job, read any step's state, or take a typed result.
//!
//! The core crate knows no runtime. It spawns through the [`Executor`] (or [`LocalExecutor`])
//! trait and sleeps through [`Timer`]; `asyncjob-tokio`, `asyncjob-smol` and `asyncjob-local`
//! implement them, and [`FuturesExecutor`] adapts any `futures` spawner.
//!
//! # A tour
//!
//! Build a definition with a [`JobBuilder`]. Each [`step`](JobBuilder::step) gets a name, its
//! dependencies and a function; [`run`](StepBuilder::run) adds it and returns a typed
//! [`StepHandle`]:
//!
//! ```
//! use asyncjob::{DefinitionError, JobBuilder, JobWithResult};
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! fn build() -> Result<JobWithResult<u32, String>, DefinitionError> {
//!     let mut job = JobBuilder::<u32>::new("tour");
//!     // A root step receives the job input only.
//!     let double = job.step("double").run(|n| async move { Ok::<_, Error>(n * 2) })?;
//!     let square = job.step("square").run(|n| async move { Ok::<_, Error>(n * n) })?;
//!     // After one parent, the function receives its output...
//!     let text = job
//!         .step("text")
//!         .after(&double)
//!         .run(|_, d| async move { Ok::<_, Error>(d.to_string()) })?;
//!     // ... after a tuple of parents, a tuple of their outputs (of different types).
//!     let both = job
//!         .step("both")
//!         .after((&text, &square))
//!         .run(|n, (t, s)| async move { Ok::<_, Error>(format!("{n}: {t} and {s}")) })?;
//!     // A step can also just wait for another, without its output.
//!     job.step("log").wait_for(&both).run(|_| async move { Ok::<_, Error>(()) })?;
//!     job.seal().with_result(&both)
//! }
//! # let _ = build().unwrap();
//! ```
//!
//! Wiring is checked by the compiler: a closure that expects a `String` where the parent gives
//! a `u32` does not compile. What only shows at run time — a duplicate or blank name, a handle of
//! another definition, a dependency given twice — is a [`DefinitionError`] naming the step.
//!
//! A sealed definition is immutable, `Send + Sync` and cheap to clone: build it once, for
//! instance in a `static` [`LazyLock`](std::sync::LazyLock), and start it on an executor. Here the
//! `futures` crate's thread pool, through [`FuturesExecutor`]:
//!
//! ```
//! # use asyncjob::{DefinitionError, JobBuilder, JobWithResult, FuturesExecutor};
//! # type Error = Box<dyn std::error::Error + Send + Sync>;
//! # fn build() -> Result<JobWithResult<u32, String>, DefinitionError> {
//! #     let mut job = JobBuilder::<u32>::new("tour");
//! #     let double = job.step("double").run(|n| async move { Ok::<_, Error>(n * 2) })?;
//! #     let square = job.step("square").run(|n| async move { Ok::<_, Error>(n * n) })?;
//! #     let text = job.step("text").after(&double).run(|_, d| async move { Ok::<_, Error>(d.to_string()) })?;
//! #     let both = job.step("both").after((&text, &square)).run(|n, (t, s)| async move { Ok::<_, Error>(format!("{n}: {t} and {s}")) })?;
//! #     job.step("log").wait_for(&both).run(|_| async move { Ok::<_, Error>(()) })?;
//! #     job.seal().with_result(&both)
//! # }
//! use std::sync::LazyLock;
//! use asyncjob::StepState;
//!
//! static TOUR: LazyLock<JobWithResult<u32, String>> =
//!     LazyLock::new(|| build().expect("the tour job is well formed"));
//!
//! let pool = futures::executor::ThreadPool::new().unwrap();
//! let executor = FuturesExecutor::new(pool);
//!
//! let instance = TOUR.on(executor.clone()).start(3); // returns at once
//! let result = futures::executor::block_on(instance.result()).unwrap();
//! assert_eq!(result, "3: 6 and 9");
//!
//! // The result resolves when "both" ends; "log" may still run. Once every step has ended,
//! // every step's state and timings stay readable.
//! futures::executor::block_on(instance.wait()).unwrap();
//! for step in instance.steps() {
//!     assert_eq!(step.state, StepState::Succeeded);
//!     assert!(step.started_at.is_some());
//! }
//! ```
//!
//! # Failure
//!
//! A step fails when its future returns `Err` or when it panics. The steps that depend on it,
//! directly or not, are skipped with an error that names the step that failed; independent
//! branches go on. [`JobInstance::wait`] resolves once every step has ended, with the root-cause
//! error, whose [`source`](std::error::Error::source) chain leads to the step's own error:
//!
//! ```
//! # use asyncjob::{JobBuilder, JobErrorKind, StepState, FuturesExecutor};
//! # let executor = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
//! let mut job = JobBuilder::<()>::new("failing");
//! let connect = job.step("connect").run(|()| async { Err::<u32, _>("connection refused") })?;
//! job.step("query").after(&connect).run(|(), _conn| async { Ok::<_, String>(()) })?;
//! job.step("unrelated").run(|()| async { Ok::<_, String>(()) })?;
//! let instance = job.seal().on(executor).start(());
//!
//! let error = futures::executor::block_on(instance.wait()).unwrap_err();
//! assert_eq!(error.kind(), JobErrorKind::StepFailed);
//! assert_eq!(error.step(), Some("connect"));
//! assert_eq!(error.to_string(), "step \"connect\" failed");
//! assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "connection refused");
//!
//! let query = instance.step_by_name("query").unwrap();
//! assert_eq!(query.state, StepState::Skipped);
//! assert_eq!(query.error.unwrap().root_cause().step(), Some("connect"));
//! assert_eq!(instance.step_by_name("unrelated").unwrap().state, StepState::Succeeded);
//! # Ok::<_, asyncjob::DefinitionError>(())
//! ```
//!
//! # Fan-in of any width, and `!Send` steps
//!
//! A step can take the outputs of a `Vec` of same-typed parents, in order. A job whose steps hold
//! `Rc` or `RefCell` across an `.await` is built with [`JobBuilder::new_local`] and runs on a
//! [`LocalExecutor`] (here `futures`' `LocalPool`; `asyncjob-local` ships a ready-made one):
//!
//! ```
//! # use asyncjob::{JobBuilder, FuturesExecutor};
//! use std::{cell::RefCell, rc::Rc};
//!
//! let mut job = JobBuilder::<u64>::new_local("fan-in");
//! let parts: Vec<_> = (1..=4)
//!     .map(|i| {
//!         job.step(format!("part {i}")).run(move |base| async move {
//!             let scratch = Rc::new(RefCell::new(Vec::new())); // !Send, held across an await
//!             futures::future::ready(()).await;
//!             scratch.borrow_mut().push(base * i);
//!             let value = scratch.borrow()[0];
//!             Ok::<_, String>(value)
//!         })
//!     })
//!     .collect::<Result<_, _>>()?;
//! let total = job.step("total").after(&parts).run(|_, parts: Vec<u64>| async move {
//!     Ok::<_, String>(parts.iter().sum::<u64>())
//! })?;
//! let job = job.seal().with_result(&total)?;
//!
//! let mut pool = futures::executor::LocalPool::new();
//! let executor = FuturesExecutor::new(pool.spawner());
//! let instance = job.on(executor).start_local(10);
//! assert_eq!(pool.run_until(instance.result()).unwrap(), 100);
//! # Ok::<_, asyncjob::DefinitionError>(())
//! ```
//!
//! # Seeing a job
//!
//! A definition draws itself as Graphviz DOT ([`JobDefinition::to_dot`]); an instance, at any
//! moment, as DOT coloured by state ([`JobInstance::to_dot`]), as a Mermaid Gantt chart
//! ([`JobInstance::to_mermaid_gantt`]) and as a Chrome trace for Perfetto
//! ([`JobInstance::to_chrome_trace`]). The data behind the pictures is a [`JobSnapshot`]
//! ([`JobInstance::snapshot`]): per step its state, dependencies, times, attempts and error. See
//! the [`visual`] module.
//!
//! # Cargo features
//!
//! * `serde`: `Serialize` for [`JobSnapshot`] and what it holds (hand-written, no derive), for
//!   a dashboard of your own.
//! * `critical-path`: `JobSnapshot::critical_path` (and `JobInstance::critical_path`), the
//!   chain of steps and waits that determined how long an instance took, and the pictures that
//!   mark it (`to_dot_with_critical_path`, `to_mermaid_gantt_with_critical_path`); adds
//!   `petgraph` to the dependencies. See `visual::critical_path`.
//! * `tracing`: the `instrument` module, whose `TracingInterceptor` puts every attempt of a
//!   step in a `tracing` span.
//!
//! # Running on a runtime
//!
//! | runtime | crate | start with |
//! |---|---|---|
//! | tokio (current-thread or multi-thread) | `asyncjob-tokio` | `def.on(TokioExecutor::new()).start(input)` |
//! | smol / async-executor | `asyncjob-smol` | `def.on(SmolExecutor::new(&ex)).start(input)` |
//! | a single thread, `!Send` steps | `asyncjob-local` | `def.on(rt.handle()).start_local(input)` |
//! | anything implementing `futures::task::Spawn` | this crate | `def.on(FuturesExecutor::new(s)).timer(t).start(input)` |
//!
//! The [`rt`] module documentation shows how to write an adapter for another runtime.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// Layers, each importing only those above it in this list (see docs/architecture.md):
// leaves (errors, runtime traits, policies, ids, panics, sync), cells and modes, the shape of a
// definition, the step layer, the state layer, the engine, instances, pictures.
mod error;
mod id;
pub mod intercept;
mod limit;
mod panic;
pub mod retry;
pub mod rt;
mod sync;
mod topology;

mod cell;
mod env;
pub mod mode;

mod graph;
mod step;

mod state;

mod engine;

mod instance;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod instrument;
pub mod prelude;
pub mod visual;

pub use error::{BoxError, DefinitionError, DefinitionErrorKind, JobError, JobErrorKind};
pub use graph::builder::{JobBuilder, NoParents, StepBuilder, StepHandle};
pub use graph::definition::{JobDefinition, JobWithResult, StepInfo};
pub use graph::extras::{Always, Condition, Fallback, FallbackWith, NoFallback, When, WhenInput};
pub use graph::map::{
    ByPosition, CollectFailures, FailOnItem, Gather, ItemKey, KeyWith, MapBuilder,
};
pub use graph::parents::{
    After, AllowFailure, Dependencies, IntoParents, Optional, Parents, SendParents, Single,
    allow_failure, optional,
};
pub use id::JobId;
pub use instance::{
    CancelOnDrop, ExecutorTimer, JobInstance, JobInstanceWithResult, JobOptions, JobSnapshot,
    Runner, StartMode, StepOutput, StepSnapshot, StepTimes, TimerSource, Wait,
};
pub use limit::Limit;
pub use mode::{Local, Mode, Sendable};
pub use rt::{
    Blocking, BoxFuture, Executor, FuturesExecutor, LocalBoxFuture, LocalExecutor, NoTimer,
    SpawnError, Timer,
};
pub use state::events::{Event, EventItem, EventKind, EventStep, Events, EventsDisabled, Observer};
pub use state::items::ItemSnapshot;
pub use state::{RetriedAttempt, StepState};
pub use step::step_context::{Cancelled, Sleep, SpawnBlocking, StepContext};
#[cfg(feature = "critical-path")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-path")))]
pub use visual::critical_path::{CriticalLink, CriticalPath, CriticalStep};
