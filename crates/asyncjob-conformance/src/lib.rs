//! The asyncjob behaviour suite, written once, generic over the executor.
//!
//! Every adapter runs the whole suite from its own `tests/` folder with one line:
//!
//! ```ignore
//! asyncjob_conformance::suite!(my_harness());
//! ```
//!
//! where `my_harness()` returns a [`Harness`]: something that can block on a future with the
//! runtime running, and start a job on it. The macro expands to one `#[test]` per behaviour, so
//! `cargo test` names the behaviour that failed and the adapter it failed on.
//!
//! Time is never measured here: tests order events with channels and a logical clock, so they
//! do not flake on a loaded machine. A watchdog turns a hang into a failure that names the test.
//!
//! One behaviour is a property test: [`random_dags_match_the_model`] runs random DAGs of up to
//! 200 steps (every kind of dependency; errors, panics, hangs, retries, timeouts) and checks
//! every step's end, attempts, inputs and ordering against a reference model (see the
//! `model` module's documentation in `src/model.rs`). It runs 256 cases per executor; two
//! environment variables change that:
//!
//! | variable | default | does |
//! |---|---|---|
//! | `ASYNCJOB_MODEL_CASES` | 256 | the number of random DAGs per executor (the watchdog's limit grows with it) |
//! | `ASYNCJOB_MODEL_SEED` | a fixed seed ([`DEFAULT_SEED`]) | another seed, for other DAGs; a failure prints the seed and the shrunk DAG |
//!
//! ```sh
//! ASYNCJOB_MODEL_CASES=10000 cargo test -p asyncjob-tokio --test conformance random_dags
//! ```

#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use asyncjob::{
    JobDefinition, JobInstance, JobInstanceWithResult, JobOptions, JobWithResult, Mode,
};

mod model;
pub mod start_races;
mod tests;

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

/// The code blocks of `docs/from-go-asyncjob.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/from-go-asyncjob.md")]
mod from_go_asyncjob_md {}

pub use model::*;
pub use start_races::cancel_fail_fast_and_deadline_race_the_start_of_2000_roots;
pub use tests::*;

/// An executor under test.
pub trait Harness {
    /// The mode of the instances it starts ([`asyncjob::Sendable`] for executors of `Send`
    /// futures, [`asyncjob::Local`] for local ones).
    type Mode: Mode;

    /// A short name for messages, e.g. `"tokio multi-thread"`.
    fn name(&self) -> &'static str;

    /// Runs `future` to completion with the executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Starts `job` on the executor.
    fn start<I>(
        &self,
        job: &JobDefinition<I>,
        input: I,
        options: JobOptions,
    ) -> JobInstance<Self::Mode>
    where
        I: Clone + Send + Sync + 'static;

    /// Starts `job` on the executor, with `timer` instead of the executor's own timer (wrap the
    /// executor in [`asyncjob::WithTimer`]).
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

/// A test timer: records every sleep asked of it and completes it at once, so that tests check
/// the delays a policy asks for without waiting for them.
///
/// A [`held`](Self::held) timer instead keeps every sleep pending until the test
/// [`release`](Self::release)s it: back-offs and timeouts then end exactly when the test says.
#[derive(Debug, Clone, Default)]
pub struct RecordingTimer {
    sleeps: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
    held: bool,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Weak<HeldSleep>>>>,
}

/// One sleep of a held [`RecordingTimer`].
#[derive(Debug)]
struct HeldSleep {
    duration: Duration,
    done: std::sync::atomic::AtomicBool,
    waker: futures::task::AtomicWaker,
}

impl RecordingTimer {
    /// A timer whose sleeps stay pending until [`release`](Self::release)d.
    pub fn held() -> Self {
        RecordingTimer {
            held: true,
            ..Self::default()
        }
    }

    /// The sleeps asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The sleeps that exist now (asked for, not yet released, not dropped), in order.
    pub fn pending(&self) -> Vec<Duration> {
        self.live_sleeps()
            .iter()
            .filter(|s| !s.done.load(std::sync::atomic::Ordering::SeqCst))
            .map(|s| s.duration)
            .collect()
    }

    /// Completes the pending sleeps of `duration` (not those asked for later); returns how many.
    pub fn release(&self, duration: Duration) -> usize {
        let mut released = 0;
        for sleep in self.live_sleeps() {
            if sleep.duration == duration
                && !sleep.done.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                sleep.waker.wake();
                released += 1;
            }
        }
        released
    }

    fn live_sleeps(&self) -> Vec<std::sync::Arc<HeldSleep>> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|s| s.strong_count() > 0);
        live.iter().filter_map(std::sync::Weak::upgrade).collect()
    }
}

impl asyncjob::Timer for RecordingTimer {
    fn sleep(&self, duration: Duration) -> asyncjob::BoxFuture<'static, ()> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
        if !self.held {
            return Box::pin(std::future::ready(()));
        }
        let sleep = std::sync::Arc::new(HeldSleep {
            duration,
            done: std::sync::atomic::AtomicBool::new(false),
            waker: futures::task::AtomicWaker::new(),
        });
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(std::sync::Arc::downgrade(&sleep));
        Box::pin(std::future::poll_fn(move |cx| {
            use std::sync::atomic::Ordering::SeqCst;
            if sleep.done.load(SeqCst) {
                return std::task::Poll::Ready(());
            }
            sleep.waker.register(cx.waker());
            if sleep.done.load(SeqCst) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }))
    }
}

/// How long a test of the suite may run before the [`Watchdog`] stops it: 120 s, and more when
/// `ASYNCJOB_MODEL_CASES` asks for more than the default number of random DAGs.
pub fn watchdog_limit() -> Duration {
    let scale = model_cases().div_ceil(DEFAULT_CASES).max(1);
    Duration::from_secs(120).saturating_mul(scale)
}

/// Fails the process (naming the test) if it is not dropped within `limit`: a hang becomes a
/// clear failure instead of a CI time-out.
#[derive(Debug)]
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Arms the watchdog for the test `name`.
    pub fn new(name: &'static str, limit: Duration) -> Self {
        let (done, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("conformance test `{name}` hung for {limit:?}: aborting");
                std::process::exit(101);
            }
        });
        Watchdog { done: Some(done) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Expands to one `#[test]` per behaviour of the suite, each run on the harness `$harness`
/// (an expression, evaluated once per test).
#[macro_export]
macro_rules! suite {
    ($harness:expr) => {
        $crate::suite!(@tests $harness;
            typed_outputs_flow_for_every_arity,
            diamond_runs_each_step_once_after_its_dependencies,
            step_error_fails_dependents_and_spares_other_branches,
            panic_is_caught_and_named,
            panic_while_creating_the_future_is_caught,
            same_definition_runs_100_times_concurrently,
            sequential_option_runs_one_step_at_a_time_in_order,
            ready_step_is_never_held_back_by_a_slow_unrelated_step,
            roots_run_concurrently,
            step_states_are_readable_while_running,
            snapshots_after_success_have_times,
            outputs_are_readable_per_step,
            caller_chosen_id_is_kept,
            empty_job_finishes_at_once,
            long_chain_completes,
            wide_fan_out_and_vec_fan_in,
            ordering_only_dependency_waits,
            errors_chain_to_the_root_cause,
            dropping_the_instance_handle_lets_the_job_finish,
            retry_runs_exact_attempts_and_keeps_them,
            retry_gives_up_after_max_attempts,
            retry_policy_can_refuse_some_errors,
            retry_recovers_from_a_panic,
            timeout_fires_drops_the_attempt_and_is_retried,
            cancel_drops_running_steps_and_stops_waiting_ones,
            cancel_right_after_start_ends_the_job,
            cancel_interrupts_a_retry_back_off,
            fail_fast_cancels_other_branches,
            deadline_cancels_a_late_job,
            cancel_on_drop_guard_cancels,
            cancel_drops_a_running_step_with_policies,
            interceptors_see_job_step_and_attempt,
            tracing_spans_carry_job_step_and_attempt,
            retry_delays_follow_the_policy,
            cancel_at_every_boundary_of_a_20_step_job,
            random_dags_match_the_model,
            // Issue 12: the engine audit's regression tests.
            cancel_fail_fast_and_deadline_race_the_start_of_2000_roots,
        );
    };
    (@tests $harness:expr; $($test:ident,)+) => {
        $(
            #[test]
            fn $test() {
                let _watchdog = $crate::Watchdog::new(
                    stringify!($test),
                    $crate::watchdog_limit(),
                );
                $crate::$test(&$harness);
            }
        )+
    };
}
