//! Panics in destructors (issue 12, items 6 and 7): an output whose `Drop` panics, and a panic
//! payload whose `Drop` panics, stay inside the job. The step's outcome is what it did, `wait()`
//! returns, nothing reaches the caller, and the executor goes on running jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An output whose original panics when dropped (its clones do not); counts the drops of the
/// original.
#[derive(Debug)]
pub struct DropBomb {
    /// The drops of originals.
    pub drops: Arc<AtomicUsize>,
    /// This is the original: its drop panics.
    pub armed: bool,
}

impl Clone for DropBomb {
    fn clone(&self) -> Self {
        DropBomb {
            drops: self.drops.clone(),
            armed: false,
        }
    }
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if self.armed {
            self.drops.fetch_add(1, Ordering::SeqCst);
            // Not while unwinding already: that would abort the process, whoever is at fault.
            if !std::thread::panicking() {
                panic!("the output's destructor panics");
            }
        }
    }
}

/// A panic payload that panics when dropped: with a payload of the same kind, `depth` levels
/// down, then with a plain message.
#[derive(Debug)]
pub struct PayloadBomb {
    /// Payloads left to panic with before the plain message.
    pub depth: u32,
}

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if self.depth == 0 {
            panic!("the panic payload's destructor panics");
        }
        std::panic::panic_any(PayloadBomb {
            depth: self.depth - 1,
        });
    }
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_destructor_panics {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::panic::AssertUnwindSafe;
        use std::time::Duration;

        use asyncjob::retry::AttemptFailure;

        use $crate::suite::destructor_panics::{DropBomb, PayloadBomb};

        /// Checks that the harness still runs a job.
        fn executor_survives<S: Starts<Definitions = $mode>>(h: &S, after: &str) {
            let mut job = JobBuilder::<()>::$new("afterwards");
            build(job.step("fine").run(|()| async { Res::Ok(()) }));
            let instance = h.start(&job.seal(), (), JobOptions::new());
            let outcome = h.block_on(instance.wait());
            assert!(
                outcome.is_ok(),
                "on {}: after {after}, a plain job returned {outcome:?}",
                h.name()
            );
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// 20 rounds of a one-step job whose output panics when the run drops it: the step succeeds,
            /// `wait()` returns `Ok`, dropping the caller's handle (often the run's last owner) does not
            /// panic, and the executor still runs jobs afterwards (issue 12, item 6).
            fn a_panicking_output_destructor_stays_inside_the_job(h) {
                let mut job = JobBuilder::<Arc<AtomicUsize>>::$new("drop bomb");
                let bomb = build(
                    job.step("bomb")
                        .run(|drops| async move { Res::Ok(DropBomb { drops, armed: true }) }),
                );
                let job = job.seal();
                let drops = Arc::new(AtomicUsize::new(0));
                for round in 0..20 {
                    let instance = h.start(&job, drops.clone(), JobOptions::new());
                    let outcome = h.block_on(instance.wait());
                    let state = instance.step(&bomb).map(|s| (s.state, s.error));
                    assert!(
                        outcome.is_ok() && matches!(state, Some((StepState::Succeeded, None))),
                        "on {}, round {round}: wait() returned {outcome:?}, the step ended {state:?}",
                        h.name()
                    );
                    // Let the executor drop what it holds, so that the caller's handle is often the last.
                    h.block_on(yield_now());
                    let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| drop(instance)));
                    assert!(
                        dropped.is_ok(),
                        "on {}, round {round}: dropping the instance let the output destructor's panic \
                         reach the caller",
                        h.name()
                    );
                    // Wherever the run was dropped, it is dropped now or soon.
                    h.block_on(until(|| drops.load(Ordering::SeqCst) > round));
                }
                executor_survives(h, "20 outputs panicked in their destructors");
            }

            /// A retry policy that panics with a payload whose destructor panics, and a step function whose
            /// future panics with a payload whose destructor panics with such a payload again: each fails
            /// its own step as panicked (not as a spawn failure), skips its dependent, `wait()` returns,
            /// and the executor still runs jobs afterwards (issue 12, item 7).
            fn a_panic_payload_whose_destructor_panics_fails_only_its_step(h) {
                let mut job = JobBuilder::<()>::$new("payload bombs");
                let policy = build(
                    job.step("policy panics")
                        .retry(|_: &AttemptFailure<'_>, _: u32| -> Option<Duration> {
                            std::panic::panic_any(PayloadBomb { depth: 0 })
                        })
                        .run(|()| async { Err::<u8, _>("fails once") }),
                );
                let future = build(job.step("future panics").run(|()| async {
                    if true {
                        std::panic::panic_any(PayloadBomb { depth: 1 });
                    }
                    Res::Ok(0u8)
                }));
                for (name, parent) in [("after policy", &policy), ("after future", &future)] {
                    build(
                        job.step(name)
                            .after(parent)
                            .run(|(), _: u8| async { Res::Ok(()) }),
                    );
                }
                build(job.step("unrelated").run(|()| async { Res::Ok(()) }));
                let instance = h.start(&job.seal(), (), JobOptions::new());
                let outcome = h.block_on(instance.wait());
                assert!(
                    outcome.is_err(),
                    "on {}: wait() returned {outcome:?}",
                    h.name()
                );
                let ended = |name: &str| {
                    instance
                        .step_by_name(name)
                        .map(|s| (s.state, s.error.map(|e| e.kind())))
                };
                for name in ["policy panics", "future panics"] {
                    assert_eq!(
                        ended(name),
                        Some((StepState::Failed, Some(JobErrorKind::StepPanicked))),
                        "on {}: step {name:?}",
                        h.name()
                    );
                }
                for name in ["after policy", "after future"] {
                    assert_eq!(
                        ended(name).map(|(state, _)| state),
                        Some(StepState::Skipped),
                        "on {}: step {name:?}",
                        h.name()
                    );
                }
                assert_eq!(
                    ended("unrelated"),
                    Some((StepState::Succeeded, None)),
                    "on {}",
                    h.name()
                );
                executor_survives(h, "two panic payloads panicked in their destructors");
            }
        }
    };
}
