//! The engine audit's regression tests (issue 12), as the `regress` branch wrote them: functions
//! generic over the [`Harness`](crate::Harness), run with `Send` definitions only. They move into
//! the behaviour modules next.

/// The tests of this behaviour: expanded by [`suite!`](crate::suite) in the `Sendable` mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_issue12 {
    ($harness:expr, $new:ident, Local) => {};
    ($harness:expr, $new:ident, Sendable) => {
        $crate::__suite_issue12!(@each $harness;
            cancel_fail_fast_and_deadline_race_the_start_of_2000_roots,
            cancel_racing_the_last_poll_agrees_with_the_outcome,
            outputs_are_cloned_once_per_dependent_and_never_for_the_step_itself,
            a_panicking_output_destructor_stays_inside_the_job,
            a_panic_payload_whose_destructor_panics_fails_only_its_step,
            a_zero_delay_retry_yields_to_the_deadline_and_keeps_a_bounded_record,
            dropped_wait_futures_leave_no_waker_behind,
            a_finished_jobs_deadline_drops_its_timer_sleep,
            snapshots_read_while_a_layered_job_runs_agree_with_the_dependencies,
            recorded_times_never_put_a_step_before_its_dependencies,
            the_reported_failure_is_the_first_failed_step_in_definition_order,
        );
    };
    (@each $harness:expr; $($test:ident,)+) => {
        $crate::__suite_tests! { ($harness, Sendable)
            $(
                fn $test(h) {
                    $crate::$test(h.harness());
                }
            )+
        }
    };
}
