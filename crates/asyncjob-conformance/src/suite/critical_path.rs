//! The critical path (issue 19): on graphs with known answers, timed by a fake clock
//! ([`RecordingTimer::with_fake_clock`](crate::RecordingTimer::with_fake_clock)) that moves
//! only when the test releases a step's sleep, the path of a finished instance is the chain of
//! steps that determined its total time, with exact offsets and waits: through the slower of
//! two branches, through a retried step's attempts and back-offs, ending at a failed step, at
//! the steps a cancellation cut, and empty for a job without steps.

use std::time::Duration;

use asyncjob::{BoxFuture, CriticalPath, Timer};

use crate::RecordingTimer;

/// Milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A step's work: a sleep of `n` ms on the test's timer (held until the test releases it).
pub fn nap(timer: &RecordingTimer, n: u64) -> BoxFuture<'static, ()> {
    timer.sleep(ms(n))
}

/// The held sleeps, shortest first (steps that run at once ask in any order).
pub fn pending(timer: &RecordingTimer) -> Vec<Duration> {
    let mut pending = timer.pending();
    pending.sort();
    pending
}

/// Each step of `path` as `(name, ready, start, end)` offsets.
pub fn timeline(
    path: &CriticalPath,
) -> Vec<(String, Duration, Option<Duration>, Option<Duration>)> {
    path.steps
        .iter()
        .map(|step| {
            (
                step.name.to_string(),
                step.ready_offset,
                step.start_offset,
                step.end_offset,
            )
        })
        .collect()
}

/// `(name, ready, start, end)` with every offset given, in ms.
pub fn at(
    name: &str,
    ready: u64,
    start: u64,
    end: u64,
) -> (String, Duration, Option<Duration>, Option<Duration>) {
    (name.to_owned(), ms(ready), Some(ms(start)), Some(ms(end)))
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_critical_path {
    ($harness:expr, $new:ident, $mode:ident) => {
        use asyncjob::CriticalLink;
        use asyncjob::retry::Retry;

        use $crate::suite::critical_path::{at, ms, nap, pending, timeline};

        type In = RecordingTimer;

        /// Waits until each held sleep of `steps` is asked for, releases it (the fake clock
        /// moves to its end) and waits until the step that slept has ended, before the next:
        /// `(the held sleeps then, the one to release, the step that ends)`.
        fn release_in_turn<X: asyncjob::Mode>(
            h: &impl Starts,
            timer: &RecordingTimer,
            instance: &asyncjob::JobInstance<X>,
            steps: &[(&[u64], u64, &str)],
        ) {
            for &(asked, release, step) in steps {
                let asked: Vec<_> = asked.iter().map(|&n| ms(n)).collect();
                h.block_on(until(|| pending(timer) == asked));
                assert_eq!(timer.release(ms(release)), 1, "on {}", h.name());
                h.block_on(until(|| instance.step_by_name(step).is_some_and(|s| s.state.is_finished())));
            }
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// The SQL job's shape: `connect` (10 ms) and `auth` (5 ms) at once; `query` (30 ms)
            /// after `connect`, waiting for `auth`; `cache` (20 ms) after `connect`; `summary`
            /// (5 ms) after both. The path is `connect → query → summary`, 45 ms, no waits; the
            /// DOT and the Gantt chart mark exactly its steps.
            fn the_path_follows_the_slower_branch(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let mut job = JobBuilder::<In>::$new("sql");
                let connect = build(job.step("connect").run(|t: In| async move {
                    nap(&t, 10).await;
                    Res::Ok(1u32)
                }));
                let auth = build(job.step("auth").run(|t: In| async move {
                    nap(&t, 5).await;
                    Res::Ok(())
                }));
                let query = build(job.step("query").after(&connect).wait_for(&auth).run(|t: In, c: u32| async move {
                    nap(&t, 30).await;
                    Res::Ok(c)
                }));
                let cache = build(job.step("cache").after(&connect).run(|t: In, c: u32| async move {
                    nap(&t, 20).await;
                    Res::Ok(c)
                }));
                build(job.step("summary").after((&query, &cache)).run(|t: In, (q, c): (u32, u32)| async move {
                    nap(&t, 5).await;
                    Res::Ok(q + c)
                }));
                let instance = h.start_with_timer(&job.seal(), timer.clone(), JobOptions::new(), timer.clone());
                release_in_turn(h, &timer, &instance, &[
                    (&[5, 10], 5, "auth"),
                    (&[10], 10, "connect"),
                    (&[20, 30], 20, "cache"),
                    (&[30], 30, "query"),
                    (&[5], 5, "summary"),
                ]);
                h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));

                let path = instance.critical_path();
                assert!(path.finished, "on {}", h.name());
                assert_eq!(
                    timeline(&path),
                    [at("connect", 0, 0, 10), at("query", 10, 10, 40), at("summary", 40, 40, 45)],
                    "on {}",
                    h.name()
                );
                let links: Vec<_> = path.links().collect();
                assert_eq!(links, [(0, 2, CriticalLink::Data), (2, 4, CriticalLink::Data)], "on {}", h.name());
                assert_eq!((path.total, path.running(), path.waiting()), (ms(45), ms(45), ms(0)), "on {}", h.name());
                assert_eq!(path.total, instance.snapshot().elapsed, "on {}", h.name());

                let dot = instance.to_dot_with_critical_path();
                assert_eq!(dot.matches(" penwidth=3]").count(), 6, "on {}: 3 nodes, 3 edges:\n{dot}", h.name());
                assert!(dot.contains("\"s0\" -> \"s2\" [style=solid tooltip=\"connect → query\\n(data)\\nparent succeeded\\non the critical path\""), "on {}:\n{dot}", h.name());
                let gantt = instance.to_mermaid_gantt_with_critical_path();
                let sections: Vec<_> = gantt.lines().filter_map(|line| line.strip_prefix("    section ")).collect();
                assert_eq!(sections, ["★ connect", "auth", "★ query", "cache", "★ summary"], "on {}", h.name());
            }

            /// `prepare` (10 ms), then `fetch`, retried: attempts of 10, 20 and 15 ms with
            /// back-offs of 100 and 200 ms. The path is both steps, `fetch` with 45 ms running
            /// and 300 ms in back-off, 355 ms in all; a parallel 50 ms step is not on it.
            fn a_retried_step_brings_its_back_offs(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let flaky = Arc::new(Flaky::default());
                type Input = (RecordingTimer, Arc<Flaky>);
                let mut job = JobBuilder::<Input>::$new("retried");
                let prepare = build(job.step("prepare").run(|(t, _): Input| async move {
                    nap(&t, 10).await;
                    Res::Ok(())
                }));
                build(job.step("side").run(|(t, _): Input| async move {
                    nap(&t, 50).await;
                    Res::Ok(())
                }));
                build(
                    job.step("fetch")
                        .wait_for(&prepare)
                        .retry(Retry::linear(3, ms(100), ms(100)))
                        .run(|(t, flaky): Input| async move {
                            let attempt = flaky.call();
                            t.advance([ms(10), ms(20), ms(15)][attempt - 1]);
                            if attempt < 3 {
                                return Err(format!("refused ({attempt})"));
                            }
                            Ok(attempt)
                        }),
                );
                let instance = h.start_with_timer(&job.seal(), (timer.clone(), flaky.clone()), JobOptions::new(), timer.clone());
                release_in_turn(h, &timer, &instance, &[
                    (&[10, 50], 10, "prepare"),
                    (&[50, 100], 50, "side"),
                ]);
                // The back-offs: "fetch" ends after the second.
                release_in_turn(h, &timer, &instance, &[(&[100], 100, "prepare"), (&[200], 200, "fetch")]);
                h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));

                let path = instance.critical_path();
                assert_eq!(timeline(&path), [at("prepare", 0, 0, 10), at("fetch", 10, 10, 355)], "on {}", h.name());
                let fetch = &path.steps[1];
                assert_eq!(fetch.link, Some(CriticalLink::Ordering), "on {}", h.name());
                assert_eq!((fetch.running, fetch.backoff, fetch.wait()), (ms(45), ms(300), ms(0)), "on {}", h.name());
                assert_eq!((path.total, path.running(), path.backoff()), (ms(355), ms(55), ms(300)), "on {}", h.name());
            }

            /// `slow` (30 ms) fails; `fast` (10 ms) and `next` after it (5 ms) succeed; `after`
            /// `slow` is skipped. The path is the failed step alone.
            fn a_failed_step_can_end_the_path(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let mut job = JobBuilder::<In>::$new("failing");
                let slow = build(job.step("slow").run(|t: In| async move {
                    nap(&t, 30).await;
                    Err::<u32, _>("disk full".to_owned())
                }));
                let fast = build(job.step("fast").run(|t: In| async move {
                    nap(&t, 10).await;
                    Res::Ok(())
                }));
                build(job.step("next").wait_for(&fast).run(|t: In| async move {
                    nap(&t, 5).await;
                    Res::Ok(())
                }));
                build(job.step("after").after(&slow).run(|_: In, n: u32| async move { Res::Ok(n) }));
                let instance = h.start_with_timer(&job.seal(), timer.clone(), JobOptions::new(), timer.clone());
                release_in_turn(h, &timer, &instance, &[
                    (&[10, 30], 10, "fast"),
                    (&[5, 30], 5, "next"),
                    (&[30], 30, "slow"),
                ]);
                let error = h.block_on(instance.wait()).expect_err("slow fails");
                assert_eq!(error.step(), Some("slow"), "on {}", h.name());

                let path = instance.critical_path();
                assert_eq!(timeline(&path), [at("slow", 0, 0, 30)], "on {}", h.name());
                assert_eq!((path.steps[0].state, path.total), (StepState::Failed, ms(30)), "on {}", h.name());
                let dot = instance.to_dot_with_critical_path();
                assert_eq!(dot.matches(" penwidth=3]").count(), 2, "on {}: slow and its edge from the job:\n{dot}", h.name());
            }

            /// `a` (10 ms), then `b`, cancelled 25 ms into its sleep, and `c` after `b`, which
            /// never became ready. The path ends at the cancelled `b`, 35 ms.
            fn a_cancelled_run_ends_where_it_was_cut(h) {
                let timer = RecordingTimer::held().with_fake_clock();
                let mut job = JobBuilder::<In>::$new("cut");
                let a = build(job.step("a").run(|t: In| async move {
                    nap(&t, 10).await;
                    Res::Ok(())
                }));
                let b = build(job.step("b").wait_for(&a).run(|t: In| async move {
                    nap(&t, 100).await;
                    Res::Ok(())
                }));
                build(job.step("c").wait_for(&b).run(|_: In| async move { Res::Ok(()) }));
                let instance = h.start_with_timer(&job.seal(), timer.clone(), JobOptions::new(), timer.clone());
                release_in_turn(h, &timer, &instance, &[(&[10], 10, "a")]);
                h.block_on(until(|| pending(&timer) == [ms(100)]));
                let so_far = instance.critical_path();
                assert!(!so_far.finished, "on {}", h.name());
                assert_eq!(so_far.steps.len(), 2, "on {}: the path so far", h.name());
                timer.advance(ms(25));
                assert!(instance.cancel(), "on {}", h.name());
                assert!(h.block_on(instance.wait()).expect_err("cancelled").is_cancelled());

                let path = instance.critical_path();
                assert!(path.finished, "on {}", h.name());
                assert_eq!(timeline(&path), [at("a", 0, 0, 10), at("b", 10, 10, 35)], "on {}", h.name());
                assert_eq!((path.steps[1].state, path.total), (StepState::Cancelled, ms(35)), "on {}", h.name());
                assert_eq!(instance.steps()[2].state, StepState::Cancelled, "on {}", h.name());
            }

            /// A job without steps has an empty path, of no time, and draws it.
            fn a_job_without_steps_has_an_empty_path(h) {
                let job = JobBuilder::<()>::$new("empty").seal();
                let instance = h.start(&job, (), JobOptions::new());
                h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let path = instance.critical_path();
                assert!(path.is_empty() && path.finished, "on {}", h.name());
                assert_eq!(path.total, ms(0), "on {}", h.name());
                assert!(!instance.to_dot_with_critical_path().contains("penwidth"), "on {}", h.name());
                assert!(instance.to_mermaid_gantt_with_critical_path().contains(", critical path 0ns\n"), "on {}", h.name());
            }
        }
    };
}
