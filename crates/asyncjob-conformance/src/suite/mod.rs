//! The behaviours, one module per behaviour (as async-task's `tests/` has one file per
//! behaviour), and the macros that turn them into tests.
//!
//! A behaviour module holds one `macro_rules!`, whose expansion is the module's tests: `fn`s
//! inside a [`__suite_tests!`](crate::__suite_tests) block, each of which becomes a `#[test]`
//! with a [`Watchdog`](crate::Watchdog) and `h`, the harness seen through [`Starts`]. As
//! tokio's `rt_test!` does, the bodies themselves sit in the macro, so a test that is written
//! runs: there is no list of test names. [`suite!`](macro@crate::suite) expands every behaviour once
//! per definition mode it is asked for, with the builder constructor of that mode
//! (`JobBuilder::new` or `JobBuilder::new_local`) as `$new` and the mode (`Sendable` or
//! `Local`) as `$mode`, into `sendable::<behaviour>::<test>` and `local::<behaviour>::<test>`.
//!
//! What a behaviour needs beyond its tests and that does not depend on the mode (probes,
//! counters, the tracing recorder) is ordinary code beside its macro, compiled once; what is
//! shared between behaviours is in [`helpers`].
//!
//! The one list left is [`__suite_behaviours!`](crate::__suite_behaviours), of the behaviour
//! modules; `tests/suite_lists.rs` fails if a module of this folder is missing from it.

use std::future::Future;
use std::marker::PhantomData;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Local, Mode,
    Sendable,
};

use crate::{Harness, LocalHarness, ModelMode, RecordingTimer};

pub mod attempt_timing;
pub mod cancel;
pub mod cancel_boundaries;
pub mod cancel_races;
pub mod critical_path;
pub mod deadline;
pub mod deadline_ends;
pub mod destructor_panics;
pub mod events;
pub mod fail_fast;
pub mod failure;
pub mod helpers;
pub mod instances;
pub mod interceptors;
pub mod limits;
pub mod maps;
pub mod model;
pub mod ordering;
pub mod output_clones;
pub mod outputs;
pub mod retry;
pub mod retry_records;
pub mod root_cause;
pub mod shaped;
pub mod snapshots;
pub mod start_races;
pub mod step_context;
pub mod sub_jobs;
pub mod timeout;
pub mod waiters;

/// Everything the tests' bodies name, imported by every behaviour module of the expansion.
pub mod prelude {
    pub use std::collections::HashMap;
    pub use std::convert::Infallible;
    pub use std::error::Error as _;
    pub use std::sync::atomic::{AtomicUsize, Ordering};
    pub use std::sync::{Arc, Mutex};

    pub use asyncjob::{
        self, JobBuilder, JobErrorKind, JobOptions, Local, Sendable, StepHandle, StepState,
    };
    pub use futures::{self, channel::oneshot, future::join_all};

    pub use super::helpers::*;
    pub use super::{InMode, Starts};
    pub use crate::RecordingTimer;
}

/// A harness as a test of the suite sees it: something that starts definitions of one mode,
/// [`Definitions`](Self::Definitions), and blocks on futures. Implemented by [`InMode`].
pub trait Starts {
    /// The mode of the definitions it starts.
    type Definitions: Mode;
    /// The mode of the instances it starts (the harness's [`Harness::Mode`]).
    type Instances: ModelMode;

    /// The harness's name for messages, which says the definitions' mode if they are local.
    fn name(&self) -> &str;

    /// Runs `future` to completion with the executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// The harness's [`Harness::offers_blocking`].
    fn offers_blocking(&self) -> bool;

    /// Starts `job` on the executor.
    fn start<I>(
        &self,
        job: &JobDefinition<I, Self::Definitions>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Self::Instances>
    where
        I: Clone + Send + Sync + 'static;

    /// Starts `job` on the executor, with `timer` instead of the executor's own timer.
    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I, Self::Definitions>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Self::Instances>
    where
        I: Clone + Send + Sync + 'static;

    /// Starts `job` on the executor, keeping its result typed.
    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O, Self::Definitions>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Self::Instances>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static;
}

/// The harness `H` starting definitions of mode `D`: [`Sendable`] ones through [`Harness`],
/// [`Local`] ones through [`LocalHarness`].
#[derive(Debug)]
pub struct InMode<'a, H, D> {
    harness: &'a H,
    name: String,
    _definitions: PhantomData<fn() -> D>,
}

impl<H, D> InMode<'_, H, D> {
    /// The harness.
    pub fn harness(&self) -> &H {
        self.harness
    }
}

impl<'a, H: Harness> InMode<'a, H, Sendable> {
    /// `harness`, starting `Sendable` definitions; its name is the harness's.
    pub fn new(harness: &'a H) -> Self {
        InMode {
            harness,
            name: harness.name().to_owned(),
            _definitions: PhantomData,
        }
    }
}

impl<'a, H: LocalHarness> InMode<'a, H, Local> {
    /// `harness`, starting `Local` definitions; its name says so.
    pub fn new(harness: &'a H) -> Self {
        InMode {
            harness,
            name: format!("{}, local definitions", harness.name()),
            _definitions: PhantomData,
        }
    }
}

impl<H: Harness> Starts for InMode<'_, H, Sendable> {
    type Definitions = Sendable;
    type Instances = H::Mode;

    fn name(&self) -> &str {
        &self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.harness.block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        self.harness.offers_blocking()
    }

    fn start<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<H::Mode>
    where
        I: Clone + Send + Sync + 'static,
    {
        self.harness.start(job, input, options)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<H::Mode>
    where
        I: Clone + Send + Sync + 'static,
    {
        self.harness.start_with_timer(job, input, options, timer)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, H::Mode>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        self.harness.start_with_result(job, input, options)
    }
}

impl<H: LocalHarness> Starts for InMode<'_, H, Local> {
    type Definitions = Local;
    type Instances = Local;

    fn name(&self) -> &str {
        &self.name
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.harness.block_on(future)
    }

    fn offers_blocking(&self) -> bool {
        self.harness.offers_blocking()
    }

    fn start<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        self.harness.start_local(job, input, options)
    }

    fn start_with_timer<I>(
        &self,
        job: &JobDefinition<I, Local>,
        input: I,
        options: JobOptions,
        timer: RecordingTimer,
    ) -> JobInstance<Local>
    where
        I: Clone + Send + Sync + 'static,
    {
        self.harness
            .start_local_with_timer(job, input, options, timer)
    }

    fn start_with_result<I, O>(
        &self,
        job: &JobWithResult<I, O, Local>,
        input: I,
        options: JobOptions,
    ) -> JobInstanceWithResult<O, Local>
    where
        I: Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
    {
        self.harness.start_local_with_result(job, input, options)
    }
}

/// Turns each `fn name(h) { … }` of a behaviour into a `#[test]`: a [`Watchdog`] named after
/// the test, the harness built from `$harness`, and `h`, an [`InMode`] over it for the
/// definitions of `$mode`. Internal to [`suite!`](macro@crate::suite).
///
/// [`Watchdog`]: crate::Watchdog
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    (($harness:expr, $mode:ident) $( $(#[$meta:meta])* fn $name:ident($h:ident) $body:block )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                let _watchdog = $crate::Watchdog::new(
                    concat!(module_path!(), "::", stringify!($name)),
                    $crate::watchdog_limit(),
                );
                let harness = $harness;
                let $h = &$crate::suite::InMode::<_, $crate::suite::prelude::$mode>::new(&harness);
                $body
            }
        )*
    };
}

/// Every behaviour module, expanded for one definition mode: `$new` is the builder
/// constructor (`new` or `new_local`), `$mode` the mode (`Sendable` or `Local`). The harness is
/// the function `asyncjob_conformance_harness` that [`suite!`](macro@crate::suite) defines two
/// modules up. Internal to [`suite!`](macro@crate::suite).
///
/// This is the one list of the suite: `tests/suite_lists.rs` checks that it names every module
/// of `src/suite/`.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_behaviours {
    ($new:ident, $mode:ident) => {
        $crate::__suite_behaviours!(@each $new, $mode;
            outputs __suite_outputs,
            ordering __suite_ordering,
            failure __suite_failure,
            instances __suite_instances,
            snapshots __suite_snapshots,
            retry __suite_retry,
            timeout __suite_timeout,
            cancel __suite_cancel,
            fail_fast __suite_fail_fast,
            deadline __suite_deadline,
            interceptors __suite_interceptors,
            cancel_boundaries __suite_cancel_boundaries,
            model __suite_model,
            // Issue 12: the engine audit's regression tests.
            start_races __suite_start_races,
            cancel_races __suite_cancel_races,
            output_clones __suite_output_clones,
            destructor_panics __suite_destructor_panics,
            retry_records __suite_retry_records,
            waiters __suite_waiters,
            deadline_ends __suite_deadline_ends,
            root_cause __suite_root_cause,
            // Issue 13: watching a running job.
            events __suite_events,
            step_context __suite_step_context,
            attempt_timing __suite_attempt_timing,
            // Issue 14: graphs shaped at run time.
            shaped __suite_shaped,
            maps __suite_maps,
            sub_jobs __suite_sub_jobs,
            // Issue 15: limits and priorities.
            limits __suite_limits,
            // Issue 19: the critical path.
            critical_path __suite_critical_path,
        );
    };
    (@each $new:ident, $mode:ident; $($module:ident $tests:ident,)+) => {
        /// The definitions every behaviour of this mode shares.
        mod jobs {
            #[allow(unused_imports)]
            use $crate::suite::prelude::*;
            $crate::__suite_jobs!($new, $mode);
        }
        $(
            mod $module {
                #[allow(unused_imports)]
                use $crate::suite::prelude::*;
                $crate::$tests!(super::super::asyncjob_conformance_harness(), $new, $mode);
            }
        )+
    };
}
