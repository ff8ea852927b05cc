//! Which failure a job reports (issue 12, item 15): the error of the first step in definition
//! order that ended `Failed`, whatever the order in which the failures happened; every other
//! failure stays readable in the snapshot.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::helpers::yield_now;

/// When each root of a run fails: after how many yields, or together (both meet first).
#[derive(Debug)]
pub struct Timing {
    /// Yields before "first" and "second" fail.
    pub yields: [usize; 2],
    /// Both wait for each other (yielding) before failing.
    pub together: bool,
    /// How many roots have arrived to fail together.
    pub arrived: AtomicUsize,
}

impl Timing {
    /// Root `side` (0: "first", 1: "second") fails, when its timing says.
    pub async fn fail(&self, side: usize) -> Result<(), String> {
        for _ in 0..self.yields[side] {
            yield_now().await;
        }
        if self.together {
            self.arrived.fetch_add(1, Ordering::SeqCst);
            // Yields 10,000 times at most: the other root may be refused, or never polled.
            for _ in 0..10_000 {
                if self.arrived.load(Ordering::SeqCst) >= 2 {
                    break;
                }
                yield_now().await;
            }
        }
        Err(format!("{} failed", ["first", "second"][side]))
    }
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_root_cause {
    ($harness:expr, $new:ident, $mode:ident) => {
        use $crate::suite::root_cause::Timing;

        $crate::__suite_tests! { ($harness, $mode)
            /// Two independent roots, "first" and "second" (in definition order), that both fail, 200
            /// runs: "second" failing well before "first", "first" before "second", and both at once. The
            /// job's error (from `wait()` and `error()`) always names "first", and "second"'s failure is
            /// in its snapshot. With fail-fast, 60 runs: the error is that of the first step in
            /// definition order that ended `Failed`.
            fn the_reported_failure_is_the_first_failed_step_in_definition_order(h) {
                let mut job = JobBuilder::<Arc<Timing>>::$new("two failures");
                build(
                    job.step("first")
                        .run(|timing: Arc<Timing>| async move { timing.fail(0).await }),
                );
                build(
                    job.step("second")
                        .run(|timing: Arc<Timing>| async move { timing.fail(1).await }),
                );
                let job = job.seal();
                let timing = |run: usize| {
                    let later = 1 + run % 5;
                    Arc::new(Timing {
                        yields: match run % 3 {
                            0 => [later, 0],
                            1 => [0, later],
                            _ => [0, 0],
                        },
                        together: run % 3 == 2,
                        arrived: AtomicUsize::new(0),
                    })
                };
                let mut named = [0usize; 2];
                let runs = 200;
                for run in 0..runs {
                    let instance = h.start(&job, timing(run), JobOptions::new());
                    let error = h.block_on(instance.wait()).expect_err("both roots fail");
                    assert_eq!(error.kind(), JobErrorKind::StepFailed, "on {}", h.name());
                    named[usize::from(error.step() != Some("first"))] += 1;
                    let second = instance.step_by_name("second").expect("the step exists");
                    assert!(
                        second.state == StepState::Failed
                            && second.error.is_some_and(|e| e.step() == Some("second")),
                        "on {}: the other failure is in the snapshot",
                        h.name()
                    );
                    assert_eq!(
                        instance
                            .error()
                            .and_then(|e| e.step().map(str::to_owned))
                            .as_deref(),
                        error.step(),
                        "on {}: error() and wait() agree",
                        h.name()
                    );
                }
                assert_eq!(
                    named,
                    [runs, 0],
                    "on {}: of {runs} runs in which both roots failed, wait() named \"first\" {} times and \
                     \"second\" {} times (\"second\" failed first in a third of them, both at once in \
                     another third)",
                    h.name(),
                    named[0],
                    named[1]
                );

                for run in 0..60 {
                    let instance = h.start(&job, timing(run), JobOptions::new().fail_fast());
                    let error = h.block_on(instance.wait()).expect_err("a root fails");
                    let steps = instance.steps();
                    let first_failed = steps.iter().find(|s| s.state == StepState::Failed);
                    assert_eq!(
                        first_failed.map(|s| &*s.name),
                        error.step(),
                        "on {}, fail-fast run {run}: wait() names {:?}; the states are {:?}",
                        h.name(),
                        error.step(),
                        steps.iter().map(|s| s.state).collect::<Vec<_>>()
                    );
                }
            }
        }
    };
}
