//! A test kit for [`asyncjob`]: test your own jobs' retry, timeout and deadline logic
//! deterministically, turn a hang into a failure, and run your jobs on executors that do
//! everything an executor may legally do (in the spirit of `tokio-test` and `tower-test`).
//!
//! | item | what it is for |
//! |---|---|
//! | [`RecordingTimer`] | records every sleep; completes it at once, or holds it until the test releases it |
//! | [`ThreadTimer`] | a real timer that needs no runtime (a thread per sleep) |
//! | [`Watchdog`] | ends the process, naming the test, if the test hangs |
//! | [`PollInSpawn`] | polls each future inside `spawn()`, on the caller's thread, then hands it on |
//! | [`DelayedSpawns`] | holds spawned futures and releases them later, in a seeded random order |
//! | [`RefuseNth`] | refuses the n-th spawn (or every one from the n-th on) |
//! | [`PanicInSpawn`] | panics inside the n-th `spawn()` |
//! | [`ThreadPerTask`] | runs every future on a fresh OS thread |
//!
//! The hostile executors wrap an inner executor (any [`asyncjob::Executor`], e.g. a
//! `futures::executor::ThreadPool` through [`asyncjob::FuturesExecutor`]); they count their
//! spawns, so a test can check that the hostility happened, and they are [`asyncjob::Timer`]s
//! when the inner executor is (sleeps are delegated), so they go straight into
//! [`JobDefinition::on`](asyncjob::JobDefinition::on); over an executor without a timer, give
//! the run one with [`Runner::timer`](asyncjob::Runner::timer). [`PollInSpawn`],
//! [`RefuseNth`] and [`PanicInSpawn`] are also [`asyncjob::LocalExecutor`]s over a local one.
//!
//! # Testing a retry policy without waiting for it
//!
//! A [`RecordingTimer`] given to a run on any executor
//! ([`Runner::timer`](asyncjob::Runner::timer)) records the back-off
//! delays a policy asks for and completes them at once:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use asyncjob::retry::Retry;
//! use asyncjob::{FuturesExecutor, JobBuilder};
//! use asyncjob_test::{RecordingTimer, Watchdog};
//!
//! let _watchdog = Watchdog::new("flaky step is retried", Duration::from_secs(60));
//! let calls = Arc::new(AtomicU32::new(0));
//! let mut job = JobBuilder::<Arc<AtomicU32>>::new("flaky");
//! let flaky = job
//!     .step("flaky")
//!     .retry(Retry::exponential(5, Duration::from_millis(100)))
//!     .run(|calls: Arc<AtomicU32>| async move {
//!         match calls.fetch_add(1, Ordering::SeqCst) {
//!             0 | 1 => Err(std::io::Error::other("not yet")),
//!             n => Ok(n),
//!         }
//!     })?;
//! let job = job.seal().with_result(&flaky)?;
//!
//! let pool = futures::executor::ThreadPool::builder().pool_size(1).create()?;
//! let timer = RecordingTimer::new();
//! let instance = job.on(FuturesExecutor::new(pool)).timer(timer.clone()).start(calls.clone());
//! let output = futures::executor::block_on(instance.result())?;
//! assert_eq!(output, 2);
//! assert_eq!(timer.sleeps().len(), 2, "one back-off per retried attempt");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A [`RecordingTimer::held`] timer keeps every sleep pending until the test
//! [`release`](RecordingTimer::release)s it, so a test decides exactly when a timeout fires or a
//! back-off ends; [`RecordingTimer::holding`] holds only the sleeps of given lengths (a
//! deadline) and lets the others complete at once.
//!
//! # Running a job on a hostile executor
//!
//! ```
//! use asyncjob::{FuturesExecutor, JobBuilder};
//! use asyncjob_test::{DelayedSpawns, PollInSpawn};
//!
//! let mut job = JobBuilder::<u64>::new("chain");
//! let mut link = job.step("0").run(|n| async move { Ok::<_, std::io::Error>(n) })?;
//! for i in 1..100 {
//!     link = job.step(i.to_string()).after(&link).run(|_, n| async move { Ok::<_, std::io::Error>(n + 1) })?;
//! }
//! let job = job.seal().with_result(&link)?;
//!
//! let pool = futures::executor::ThreadPool::builder().pool_size(2).create()?;
//! let inner = FuturesExecutor::new(pool); // no timer: the chain never sleeps
//! // Polled inside spawn(), then on the pool.
//! let output = futures::executor::block_on(job.on(PollInSpawn::new(inner.clone())).start(0).result())?;
//! assert_eq!(output, 99);
//! // Spawns released late, in a random order (seed 42).
//! let output = futures::executor::block_on(job.on(DelayedSpawns::new(inner, 42)).start(0).result())?;
//! assert_eq!(output, 99);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `docs/testing.md` in the repository has more: the watchdog, each executor, and how
//! asyncjob's own behaviour suite and model-based test use them.

#![forbid(unsafe_code)]

mod delayed_spawns;
mod panic_in_spawn;
mod poll_in_spawn;
mod refuse_nth;
mod thread_per_task;
mod timer;
mod watchdog;

pub use delayed_spawns::DelayedSpawns;
pub use panic_in_spawn::{PANIC_MESSAGE, PanicInSpawn};
pub use poll_in_spawn::PollInSpawn;
pub use refuse_nth::RefuseNth;
pub use thread_per_task::ThreadPerTask;
pub use timer::{RecordingTimer, ThreadTimer};
pub use watchdog::Watchdog;
