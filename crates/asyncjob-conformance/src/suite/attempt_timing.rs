//! True attempt timing (issue 13): an attempt starts when the back-off before it ends, a
//! snapshot tells time running from time in back-off, the pictures draw each back-off as its own
//! bar, and a retried attempt keeps its typed error. Time is a fake clock
//! ([`RecordingTimer::with_fake_clock`](crate::RecordingTimer::with_fake_clock)) that moves only
//! when the step or the test says, so every time is checked exactly.

use std::time::Duration;

/// Milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How long each attempt of the flaky step runs, on the fake clock: attempt `n` takes
/// `ATTEMPT_TIME[n - 1]`.
pub const ATTEMPT_TIME: [Duration; 3] = [ms(10), ms(20), ms(15)];

/// The back-offs of the flaky step's retry policy (linear: 100 ms, then 200 ms).
pub const BACKOFF: [Duration; 2] = [ms(100), ms(200)];

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_attempt_timing {
    ($harness:expr, $new:ident, $mode:ident) => {
        use asyncjob::retry::Retry;

        use $crate::suite::attempt_timing::{ATTEMPT_TIME, BACKOFF, ms};

        type In = (RecordingTimer, Arc<Flaky>);

        /// A job of one step, "fetch", that fails twice (each attempt moving the fake clock on
        /// by its `ATTEMPT_TIME`) and then succeeds, retried after `BACKOFF`.
        fn flaky_job() -> asyncjob::JobDefinition<In, $mode> {
            flaky_job_and_step().0
        }

        /// [`flaky_job`], and the handle of its step.
        fn flaky_job_and_step() -> (asyncjob::JobDefinition<In, $mode>, asyncjob::StepHandle<usize>) {
            let mut job = JobBuilder::<In>::$new("timing");
            let fetch = build(
                job.step("fetch")
                    .retry(Retry::linear(3, BACKOFF[0], BACKOFF[1] - BACKOFF[0]))
                    .run(|(timer, flaky): In| async move {
                        let attempt = flaky.call();
                        timer.advance(ATTEMPT_TIME[attempt - 1]);
                        if attempt < 3 {
                            return Err(format!("connection refused ({attempt})"));
                        }
                        Ok(attempt)
                    }),
            );
            (job.seal(), fetch)
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// Attempts of 10, 20 and 15 ms with back-offs of 100 and 200 ms between them, on a fake
            /// clock: each attempt's start and end, each back-off (asked and spent), the step's
            /// running time (45 ms: back-offs excluded) and back-off time (300 ms) are exactly the
            /// clock's, mid-back-off (30 ms of it so far) as at the end; the DOT label, the Gantt
            /// chart and the Chrome trace show the back-offs apart from the attempts; each retried
            /// attempt keeps its typed error.
            fn attempts_and_back_offs_are_timed_apart(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let flaky = Arc::new(Flaky::default());
                let job = flaky_job();
                let instance =
                    h.start_with_timer(&job, (timer.clone(), flaky.clone()), JobOptions::new(), timer.clone());

                // In the first back-off, 30 ms into it.
                h.block_on(until(|| timer.pending() == [BACKOFF[0]]));
                timer.advance(ms(30));
                let snapshot = instance.snapshot();
                let step = &snapshot.steps[0];
                assert_eq!(step.state, StepState::Retrying, "on {}", h.name());
                assert_eq!(snapshot.elapsed, ms(40), "on {}", h.name());
                assert_eq!((step.start_offset, step.end_offset), (Some(ms(0)), None), "on {}", h.name());
                assert_eq!((step.running, step.backoff), (Some(ms(10)), ms(30)), "on {}", h.name());
                let first = &step.retried[..];
                assert_eq!(first.len(), 1, "on {}", h.name());
                assert_eq!(
                    (first[0].attempt, first[0].start_offset, first[0].end_offset),
                    (1, ms(0), ms(10)),
                    "on {}",
                    h.name()
                );
                assert_eq!(
                    (first[0].backoff, first[0].next_start_offset, first[0].backoff_spent()),
                    (BACKOFF[0], None, None),
                    "on {}",
                    h.name()
                );
                let gantt = snapshot.to_mermaid_gantt();
                assert!(gantt.contains("\n    back-off 1 :active, s0b1, 10, 40\n"), "on {}:\n{gantt}", h.name());
                assert!(!gantt.contains("attempt 2"), "on {}: no second attempt yet:\n{gantt}", h.name());

                // The back-offs end when the timer releases them: the clock is then at their end.
                assert_eq!(timer.release(BACKOFF[0]), 1);
                h.block_on(until(|| timer.pending() == [BACKOFF[1]]));
                assert_eq!(timer.release(BACKOFF[1]), 1);
                h.block_on(instance.wait())
                    .unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                assert_eq!(flaky.calls(), 3);
                assert_eq!(timer.sleeps(), BACKOFF, "on {}", h.name());

                let snapshot = instance.snapshot();
                let step = &snapshot.steps[0];
                assert_eq!((step.state, step.attempts), (StepState::Succeeded, 3), "on {}", h.name());
                assert_eq!(
                    (step.start_offset, step.end_offset, snapshot.elapsed),
                    (Some(ms(0)), Some(ms(345)), ms(345)),
                    "on {}",
                    h.name()
                );
                // 10 + 20 + 15 ms running, 100 + 200 ms in back-off: 345 ms in all.
                assert_eq!((step.running, step.backoff), (Some(ms(45)), ms(300)), "on {}", h.name());
                let times: Vec<_> = step
                    .retried
                    .iter()
                    .map(|r| (r.attempt, r.start_offset, r.end_offset, r.backoff, r.next_start_offset, r.backoff_spent()))
                    .collect();
                assert_eq!(
                    times,
                    [
                        (1, ms(0), ms(10), ms(100), Some(ms(110)), Some(ms(100))),
                        (2, ms(110), ms(130), ms(200), Some(ms(330)), Some(ms(200))),
                    ],
                    "on {}: an attempt starts when its back-off ends",
                    h.name()
                );
                for retried in &step.retried {
                    let error = &retried.error;
                    let n = retried.attempt;
                    assert_eq!(
                        (error.kind(), error.step(), error.job(), error.attempts()),
                        (JobErrorKind::StepFailed, Some("fetch"), "timing", n),
                        "on {}",
                        h.name()
                    );
                    let own = format!("connection refused ({n})");
                    assert_eq!(error.step_error().map(ToString::to_string), Some(own.clone()));
                    assert!(format!("{error:#}").ends_with(&format!(": {own}")), "on {}: {error:#}", h.name());
                }

                let dot = snapshot.to_dot();
                assert!(
                    dot.contains("succeeded · 45.000ms (+300.000ms back-off)"),
                    "on {}: the label tells running from back-off:\n{dot}",
                    h.name()
                );
                let gantt = snapshot.to_mermaid_gantt();
                let bars: Vec<&str> = gantt.lines().skip_while(|line| !line.starts_with("    section")).skip(1).collect();
                assert_eq!(
                    bars,
                    [
                        "    waiting :done, s0w, 0, 0",
                        "    attempt 1 :crit, s0a1, 0, 10",
                        "    back-off 1 :done, s0b1, 10, 110",
                        "    attempt 2 :crit, s0a2, 110, 130",
                        "    back-off 2 :done, s0b2, 130, 330",
                        "    attempt 3 :s0a3, 330, 345",
                    ],
                    "on {}",
                    h.name()
                );
                let trace = snapshot.to_chrome_trace();
                for (name, cat, ts, dur) in [
                    ("fetch", "attempt", "0.000", "10000.000"),
                    ("fetch back-off 1", "backoff", "10000.000", "100000.000"),
                    ("fetch", "attempt", "110000.000", "20000.000"),
                    ("fetch back-off 2", "backoff", "130000.000", "200000.000"),
                    ("fetch", "attempt", "330000.000", "15000.000"),
                ] {
                    let slice =
                        format!("\"name\":\"{name}\",\"cat\":\"{cat}\",\"pid\":1,\"tid\":1,\"ts\":{ts},\"dur\":{dur},");
                    assert!(trace.contains(&slice), "on {}: no slice {slice} in\n{trace}", h.name());
                }
                assert!(trace.contains("\"after_attempt\":2,\"delay_us\":200000.000}"), "on {}:\n{trace}", h.name());
            }

            /// The one-step reads (`step_state`, `step_times`) agree with the step's snapshot
            /// mid-back-off and at the end, and count attempts with their retries (1, then 3);
            /// a handle of another definition reads nothing.
            fn one_step_reads_agree_with_the_snapshot(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let flaky = Arc::new(Flaky::default());
                let (job, fetch) = flaky_job_and_step();
                let instance =
                    h.start_with_timer(&job, (timer.clone(), flaky.clone()), JobOptions::new(), timer.clone());
                let agree = |expected_state: StepState, expected_attempts: u32| {
                    let times = instance.step_times(&fetch).expect("a handle of the definition");
                    let step = instance.step(&fetch).expect("a handle of the definition");
                    assert_eq!(instance.step_state(&fetch), Some(expected_state), "on {}", h.name());
                    assert_eq!((times.state, times.attempts), (expected_state, expected_attempts), "on {}", h.name());
                    assert_eq!((step.state, step.attempts), (times.state, times.attempts), "on {}", h.name());
                    assert_eq!(
                        (times.started_at, times.ended_at, times.queued, times.running, times.backoff),
                        (step.started_at, step.ended_at, step.queued, step.running, step.backoff),
                        "on {}",
                        h.name()
                    );
                    assert_eq!(
                        (times.ready_offset, times.start_offset, times.end_offset),
                        (step.ready_offset, step.start_offset, step.end_offset),
                        "on {}",
                        h.name()
                    );
                    times
                };

                // 30 ms into the first back-off (the clock is held: both reads see one time).
                h.block_on(until(|| timer.pending() == [BACKOFF[0]]));
                timer.advance(ms(30));
                let times = agree(StepState::Retrying, 1);
                assert_eq!((times.running, times.backoff, times.end_offset), (Some(ms(10)), ms(30), None));

                assert_eq!(timer.release(BACKOFF[0]), 1);
                h.block_on(until(|| timer.pending() == [BACKOFF[1]]));
                assert_eq!(timer.release(BACKOFF[1]), 1);
                h.block_on(instance.wait())
                    .unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let times = agree(StepState::Succeeded, 3);
                assert_eq!((times.running, times.backoff, times.end_offset), (Some(ms(45)), ms(300), Some(ms(345))));

                let (_, foreign) = flaky_job_and_step();
                assert_eq!(instance.step_state(&foreign), None, "on {}", h.name());
                assert!(instance.step_times(&foreign).is_none(), "on {}", h.name());
            }

            /// A step cancelled in its back-off: the back-off counts until the step ended, the
            /// retried attempt has no next start, and the pictures draw no attempt after it.
            fn a_back_off_cut_by_cancellation_ends_with_the_step(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let flaky = Arc::new(Flaky::default());
                let instance = h.start_with_timer(
                    &flaky_job(),
                    (timer.clone(), flaky.clone()),
                    JobOptions::new(),
                    timer.clone(),
                );
                h.block_on(until(|| timer.pending() == [BACKOFF[0]]));
                timer.advance(ms(25));
                assert!(instance.cancel(), "on {}", h.name());
                let error = h.block_on(instance.wait()).expect_err("cancelled");
                assert!(error.is_cancelled(), "on {}", h.name());
                let snapshot = instance.snapshot();
                let step = &snapshot.steps[0];
                assert_eq!(
                    (step.state, step.attempts, step.end_offset),
                    (StepState::Cancelled, 1, Some(ms(35))),
                    "on {}",
                    h.name()
                );
                assert_eq!((step.running, step.backoff), (Some(ms(10)), ms(25)), "on {}", h.name());
                assert_eq!(step.retried.len(), 1, "on {}", h.name());
                assert_eq!(step.retried[0].next_start_offset, None, "on {}", h.name());
                let gantt = snapshot.to_mermaid_gantt();
                assert!(gantt.contains("\n    back-off 1 :done, s0b1, 10, 35\n"), "on {}:\n{gantt}", h.name());
                assert!(!gantt.contains("attempt 2"), "on {}:\n{gantt}", h.name());
                let trace = snapshot.to_chrome_trace();
                assert_eq!(trace.matches("\"cat\":\"attempt\"").count(), 1, "on {}:\n{trace}", h.name());
                assert!(trace.contains("\"name\":\"fetch back-off 1\",\"cat\":\"backoff\",\"pid\":1,\"tid\":1,\"ts\":10000.000,\"dur\":25000.000,"), "on {}:\n{trace}", h.name());
            }

            /// A retried panic and a retried timeout keep their kinds: `StepPanicked` with its
            /// message, `TimedOut` with its limit; the timed-out attempt ran exactly its timeout.
            fn retried_panics_and_timeouts_keep_their_kind(h) {
                let timeout = ms(50);
                let timer = RecordingTimer::held().with_fake_clock();
                let mut job = JobBuilder::<Arc<Flaky>>::$new("kinds");
                build(
                    job.step("flaky")
                        .retry(Retry::fixed(3, BACKOFF[0]))
                        .timeout(timeout)
                        .run(|flaky: Arc<Flaky>| async move {
                            match flaky.call() {
                                1 => panic!("first try"),
                                2 => futures::future::pending::<Res<()>>().await,
                                _ => Ok(()),
                            }
                        }),
                );
                let flaky = Arc::new(Flaky::default());
                let instance = h.start_with_timer(&job.seal(), flaky.clone(), JobOptions::new(), timer.clone());
                h.block_on(until(|| timer.pending() == [BACKOFF[0]]));
                assert_eq!(timer.release(BACKOFF[0]), 1);
                h.block_on(until(|| timer.pending() == [timeout]));
                assert_eq!(timer.release(timeout), 1);
                h.block_on(until(|| timer.pending() == [BACKOFF[0]]));
                assert_eq!(timer.release(BACKOFF[0]), 1);
                h.block_on(instance.wait())
                    .unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let step = &instance.steps()[0];
                let kinds: Vec<_> = step
                    .retried
                    .iter()
                    .map(|r| (r.attempt, r.error.kind(), r.error.attempts(), r.error.step(), r.error.panic_message()))
                    .collect();
                assert_eq!(
                    kinds,
                    [
                        (1, JobErrorKind::StepPanicked, 1, Some("flaky"), Some("first try")),
                        (2, JobErrorKind::TimedOut, 2, Some("flaky"), None),
                    ],
                    "on {}",
                    h.name()
                );
                let times: Vec<_> = step.retried.iter().map(|r| (r.start_offset, r.end_offset, r.next_start_offset)).collect();
                assert_eq!(
                    times,
                    [(ms(0), ms(0), Some(ms(100))), (ms(100), ms(150), Some(ms(250)))],
                    "on {}",
                    h.name()
                );
                assert_eq!((step.running, step.backoff), (Some(ms(50)), ms(200)), "on {}", h.name());
            }
        }
    };
}
