//! The asyncjob behaviour suite, written once, generic over the executor.
//!
//! Every adapter runs the whole suite from its own `tests/` folder with one line:
//!
//! ```ignore
//! asyncjob_conformance::suite!(my_harness());
//! // a local executor: also every test again with local definitions
//! asyncjob_conformance::suite!(my_local_harness(), Sendable, Local);
//! ```
//!
//! where `my_harness()` returns a [`Harness`]: something that can block on a future with the
//! runtime running, and start a job on it. A local executor also implements [`LocalHarness`]
//! (it starts definitions built with `JobBuilder::new_local`), and runs the suite in both
//! definition modes. The macro expands to one `#[test]` per test of every behaviour, named
//! `<mode>::<behaviour>::<test>` (e.g. `local::retry::retry_gives_up_after_max_attempts`), so
//! `cargo test` names the behaviour that failed, the mode and the adapter it failed on.
//!
//! # The behaviours
//!
//! Each behaviour is a module of [`suite`](mod@suite) (`src/suite/<behaviour>.rs`): outputs,
//! ordering, failure, instances, snapshots, retry, timeout, cancel, fail-fast, deadline,
//! interceptors, cancellation at every boundary, the model, and the engine audit's regression
//! tests (issue 12). Its tests are the `fn name(h) { … }` inside the module's macro: as
//! tokio's `rt_test!` does, the bodies themselves sit in the macro, which `suite!` expands once
//! per definition mode with that mode's builder constructor, so a test that is written runs;
//! there is no list of test names to keep. `h` is the harness as the test sees it
//! ([`suite::Starts`]): `h.start(&job, input, options)` starts a `Sendable` definition
//! through [`Harness`] or a `Local` one through [`LocalHarness`], whichever the expansion
//! built. The one list left, of the behaviour modules, is checked by `tests/suite_lists.rs`.
//! To add a test, write it in the macro of its behaviour's module; see `CONTRIBUTING.md`.
//!
//! Time is never measured here: tests order events with channels and a logical clock, so they
//! do not flake on a loaded machine. A watchdog turns a hang into a failure that names the test.
//!
//! One behaviour is a property test: [`random_dags_match_the_model`] runs random DAGs of up to
//! 200 steps (every kind of dependency, taken plainly, as optional or with allow_failure;
//! errors, panics, hangs, retries, timeouts, conditions, fallbacks; sequential mode in one case
//! in six; in about three cases in five a `cancel()`, fail-fast or a deadline at a random point)
//! and checks every step's end, attempts, inputs and ordering against a reference model (see
//! the `model`
//! module's documentation in `src/model.rs`), in both definition modes;
//! [`random_dags_match_the_model_with_spawn_faults`] runs it on a [`FaultyHarness`] whose
//! executor fails one spawn. The model test runs 256 cases per executor and mode; two
//! environment variables change that:
//!
//! | variable | default | does |
//! |---|---|---|
//! | `ASYNCJOB_MODEL_CASES` | 256 | the number of random DAGs per executor (the watchdog's limit grows with it) |
//! | `ASYNCJOB_MODEL_SEED` | a fixed seed ([`DEFAULT_SEED`]) | another seed, for other DAGs; a failure prints the seed and the shrunk DAG |
//!
//! ```sh
//! ASYNCJOB_MODEL_CASES=10000 cargo test -p asyncjob-tokio --test conformance random_dags
//! ASYNCJOB_MODEL_CASES=10000 cargo test -p asyncjob-local --test conformance local::model
//! ```
//!
//! [`Spawning`], [`LocalPoolHarness`] and [`Faulty`] put any executor under the suite (the
//! hostile executors of `asyncjob-test` among them) in one line; [`LocalPoolHarness`] is a
//! [`LocalHarness`] too.

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Local,
};

pub mod harness;
mod model;
pub mod start_races;
pub mod suite;

/// The code blocks of the README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme_md {}

/// The code blocks of `docs/runtimes.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/runtimes.md")]
mod runtimes_md {}

/// The code blocks of `docs/policies.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies.md")]
mod policies_md {}

/// The code blocks of `docs/guide.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
mod guide_md {}

/// The code blocks of `docs/testing.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/testing.md")]
mod testing_md {}

/// The code blocks of `docs/from-go-asyncjob.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/from-go-asyncjob.md")]
mod from_go_asyncjob_md {}

pub use harness::{Fault, Faulty, FaultyHarness, LocalPoolHarness, Spawning};
pub use model::*;

/// The test timer and the watchdog live in the published test kit, `asyncjob-test`; they are
/// re-exported here so that the suite's users need not name it.
pub use asyncjob_test::{RecordingTimer, Watchdog};

/// An executor under test.
pub trait Harness {
    /// The mode of the instances it starts ([`asyncjob::Sendable`] for executors of `Send`
    /// futures, [`asyncjob::Local`] for local ones).
    type Mode: ModelMode;

    /// A short name for messages, e.g. `"tokio multi-thread"`.
    fn name(&self) -> &'static str;

    /// Runs `future` to completion with the executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// `true` if the executor offers a pool for blocking work (its `blocking()` returns one,
    /// as the Tokio, smol, async-std and local adapters do): the suite then checks that
    /// [`StepContext::spawn_blocking`](asyncjob::StepContext::spawn_blocking) runs work on it;
    /// otherwise, that it fails the step with a clear error. The default is `false`.
    fn offers_blocking(&self) -> bool {
        false
    }

    /// Starts `job` on the executor.
    fn start<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Self::Mode>
    where
        I: Clone + Send + Sync + 'static;

    /// Starts `job` on the executor, with `timer` instead of the executor's own timer
    /// ([`asyncjob::Runner::timer`]).
    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Self::Mode>
    where
        I: Clone + Send + Sync + 'static;

    /// Starts `job` on the executor, keeping its result typed.
    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Self::Mode>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static;
}

/// A local executor under test that also starts [`Local`] definitions (built with
/// `JobBuilder::new_local`): `suite!(harness, Sendable, Local)` runs the whole suite on it
/// with both kinds of definitions.
pub trait LocalHarness: Harness<Mode = Local> {
    /// Starts the local definition `job` on the executor.
    fn start_local<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static;

    /// Starts the local definition `job` on the executor, with `timer` instead of the
    /// executor's own timer ([`asyncjob::Runner::timer`]).
    fn start_local_with_timer<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + 'static;

    /// Starts the local definition `job` on the executor, keeping its result typed.
    fn start_local_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + 'static,
        O: Clone + 'static;
}

/// How long a test of the suite may run before the [`Watchdog`] stops it: 120 s, and more when
/// `ASYNCJOB_MODEL_CASES` asks for more than the default number of random DAGs.
pub fn watchdog_limit() -> Duration {
    let scale = model_cases().div_ceil(DEFAULT_CASES).max(1);
    Duration::from_secs(120).saturating_mul(scale)
}

/// Expands to the whole suite on the harness `$harness` (an expression, evaluated once per
/// test), one `#[test]` per test of every behaviour module of [`suite`](mod@crate::suite).
///
/// The modes after the harness say which definitions the tests build: `Sendable` (the
/// default: `JobBuilder::new`, started through [`Harness`]) and `Local` (`JobBuilder::new_local`,
/// started through [`LocalHarness`]). Each mode's tests are in a module of its name:
///
/// ```ignore
/// asyncjob_conformance::suite!(my_harness());                  // sendable::…
/// asyncjob_conformance::suite!(my_local_harness(), Sendable, Local); // sendable::…, local::…
/// ```
///
/// It also defines a function `asyncjob_conformance_harness` where it is called, and the
/// modules `sendable`, `local`: call it once per module.
#[macro_export]
macro_rules! suite {
    ($harness:expr, Sendable, Local $(,)?) => {
        fn asyncjob_conformance_harness() -> impl $crate::LocalHarness {
            $harness
        }
        /// The suite with `Sendable` definitions (`JobBuilder::new`).
        mod sendable {
            $crate::__suite_behaviours!(new, Sendable);
        }
        /// The suite with `Local` definitions (`JobBuilder::new_local`).
        mod local {
            $crate::__suite_behaviours!(new_local, Local);
        }
    };
    ($harness:expr, Local $(,)?) => {
        fn asyncjob_conformance_harness() -> impl $crate::LocalHarness {
            $harness
        }
        /// The suite with `Local` definitions (`JobBuilder::new_local`).
        mod local {
            $crate::__suite_behaviours!(new_local, Local);
        }
    };
    ($harness:expr, Sendable $(,)?) => {
        fn asyncjob_conformance_harness() -> impl $crate::Harness {
            $harness
        }
        /// The suite with `Sendable` definitions (`JobBuilder::new`).
        mod sendable {
            $crate::__suite_behaviours!(new, Sendable);
        }
    };
    ($harness:expr $(,)?) => {
        $crate::suite!($harness, Sendable);
    };
}

/// The whole suite, expanded inside this crate when clippy checks its tests
/// (`cargo clippy --all-targets`): expanded in the adapters' crates, the tests' code comes from
/// an external macro, for which rustc and clippy report nothing (an unused helper, an unused
/// import). Never built by `cargo test`.
#[cfg(all(test, clippy))]
mod lints {
    crate::suite!(
        crate::LocalPoolHarness::new("lints", std::convert::identity),
        Sendable,
        Local
    );
}
