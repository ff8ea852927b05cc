//! What a first job needs, in one `use`: `use asyncjob::prelude::*;`.
//!
//! The builder and its handles, the definition and instance types, the errors, the options,
//! the wrappers a step's dependencies take ([`allow_failure`], [`optional`]), the step context
//! and the built-in retry policy. Each adapter crate's prelude (`asyncjob_tokio::prelude`,
//! `asyncjob_smol::prelude`, …) re-exports this one and adds its executor, so a user of one
//! runtime needs one dependency and one `use`:
//!
//! ```
//! use asyncjob::prelude::*;
//!
//! let mut job = JobBuilder::<u32>::new("double");
//! let double = job.step("double").try_run(|n| async move { Ok(n * 2) })?;
//! let job: JobWithResult<u32, u32> = job.seal().with_result(&double)?;
//! let pool = FuturesExecutor::new(futures::executor::ThreadPool::new()?);
//! let run: JobInstanceWithResult<u32> = job.on(pool).start(21);
//! assert_eq!(futures::executor::block_on(run.result())?, 42);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! It holds types and functions only: every method a job calls is inherent, so no trait needs
//! to be in scope.

pub use crate::error::{BoxError, DefinitionError, JobError, JobErrorKind};
pub use crate::graph::builder::{JobBuilder, StepHandle};
pub use crate::graph::definition::{JobDefinition, JobWithResult};
pub use crate::graph::parents::{allow_failure, optional};
pub use crate::instance::{JobInstance, JobInstanceWithResult, JobOptions, StepSnapshot};
pub use crate::retry::Retry;
pub use crate::rt::FuturesExecutor;
pub use crate::state::StepState;
pub use crate::step::step_context::StepContext;
