//! A retry without delay (issue 12, item 3): it yields to the executor between attempts, so a
//! deadline fires even on a single-threaded executor, and the step's record of retried attempts
//! stays bounded (the first 8 and the last 8; `StepSnapshot::retried_omitted` counts the rest).

use std::time::Duration;

/// The job's deadline: a sleep the test's timer holds until the step releases it.
pub const DEADLINE: Duration = Duration::from_secs(3600);

/// From this attempt on, each attempt releases the deadline's sleep.
pub const RELEASE_AT: u32 = 100;

/// The step succeeds at this attempt, so that a deadline that never fires ends the test.
pub const GIVE_UP_AT: u32 = RELEASE_AT + 100_000;

/// How many retried attempts a step keeps at the start and at the end of its record.
pub const KEPT: usize = 8;

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_retry_records {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::sync::atomic::AtomicU32;
        use std::time::Duration;

        use asyncjob::retry::Retry;

        use $crate::suite::retry_records::{DEADLINE, GIVE_UP_AT, KEPT, RELEASE_AT};

        $crate::__suite_tests! { ($harness, $mode)
            /// `Retry::fixed(u32::MAX, Duration::ZERO)` on a step that always fails, under a deadline whose
            /// sleep the step itself releases from its 100th attempt on: the deadline fires (the step ends
            /// `Cancelled`, `wait()` reports the deadline, long before the 100,100th attempt at which the
            /// step would succeed), and the step keeps at most 16 retried attempts: the first 8 and the last
            /// ones, consecutive, up to at least the 99th.
            fn a_zero_delay_retry_yields_to_the_deadline_and_keeps_a_bounded_record(h) {
                let timer = RecordingTimer::holding([DEADLINE]);
                let attempts = Arc::new(AtomicU32::new(0));
                type In = (RecordingTimer, Arc<AtomicU32>);
                let mut job = JobBuilder::<In>::$new("busy retry");
                let step = build(
                    job.step("again")
                        .retry(Retry::fixed(u32::MAX, Duration::ZERO))
                        .run(|(timer, attempts): In| async move {
                            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                            if attempt >= RELEASE_AT {
                                timer.release(DEADLINE);
                            }
                            if attempt >= GIVE_UP_AT {
                                return Ok(());
                            }
                            Err(format!("attempt {attempt}"))
                        }),
                );
                let job = job.seal();
                let options = JobOptions::new().deadline(DEADLINE);
                let instance = h.start_with_timer(
                    &job,
                    (timer.clone(), attempts.clone()),
                    options,
                    timer.clone(),
                );
                let outcome = h.block_on(instance.wait());
                let made = attempts.load(Ordering::SeqCst);
                assert!(
                    outcome
                        .as_ref()
                        .is_err_and(|e| e.kind() == JobErrorKind::DeadlineExceeded && e.step().is_none()),
                    "on {}: the deadline did not end the job: wait() returned {outcome:?} after {made} \
                     attempts",
                    h.name()
                );
                let snapshot = instance.step(&step).expect("the step exists");
                assert_eq!(snapshot.state, StepState::Cancelled, "on {}", h.name());
                assert!(made >= RELEASE_AT, "on {}: {made} attempts", h.name());
                let numbers: Vec<u32> = snapshot.retried.iter().map(|r| r.attempt).collect();
                assert!(
                    numbers.len() <= 2 * KEPT,
                    "on {}: {} retried attempts kept after {made} attempts (at most {} expected)",
                    h.name(),
                    numbers.len(),
                    2 * KEPT
                );
                let first: Vec<u32> = (1..=8).collect();
                let (head, tail) = numbers.split_at(numbers.len().min(KEPT));
                assert_eq!(
                    head,
                    first,
                    "on {}: the first retried attempts are kept",
                    h.name()
                );
                assert!(
                    tail.windows(2).all(|pair| pair[1] == pair[0] + 1)
                        && tail.last().is_some_and(|&last| last >= RELEASE_AT - 1),
                    "on {}: the last retried attempts are kept, consecutive: {tail:?} after {made} attempts",
                    h.name()
                );
                for (kept, &number) in snapshot.retried.iter().zip(&numbers) {
                    let own = kept.error.step_error().map(ToString::to_string);
                    assert_eq!(own, Some(format!("attempt {number}")), "on {}", h.name());
                }
                // Every retried attempt is kept or counted: the last attempt (cancelled in its back-off or
                // while it ran) is the only one not retried.
                let retried = u32::try_from(numbers.len()).expect("small") + snapshot.retried_omitted;
                let last_retried = numbers.last().copied().unwrap_or_default();
                assert_eq!(
                    retried,
                    last_retried,
                    "on {}: {} kept + {} omitted retried attempts, the last kept is attempt {last_retried}",
                    h.name(),
                    numbers.len(),
                    snapshot.retried_omitted
                );
            }
        }
    };
}
