//! Cancellation, fail-fast and deadlines racing the start of a wide job (issue 12, item 1): the
//! checks, and the wide job, are in [`start_races`](crate::start_races), which the adapters'
//! stress tests share.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_start_races {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// A deadline of zero, fail-fast with a root failing at once, and `cancel()` right after
            /// `start`, each on a job of 2,000 roots, 5 rounds: when `wait()` returns every step has ended,
            /// no step function is called afterwards, and `cancel()`'s return and `wait()`'s outcome agree
            /// with the steps' final states (issue 12, item 1).
            fn cancel_fail_fast_and_deadline_race_the_start_of_2000_roots(h) {
                $crate::start_races::run_races(h, 2_000, 5);
            }
        }
    };
}
