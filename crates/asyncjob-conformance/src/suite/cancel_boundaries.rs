//! Cancellation at every boundary of every step of a 20-step job: before it starts, while it
//! waits, while it runs, in each back-off and each attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::helpers::{Live, LiveGuard};

/// The steps of `cancel_at_every_boundary_of_a_20_step_job`: each waits at a gate the test
/// opens, one attempt at a time, and counts its starts and its live futures.
#[derive(Debug, Default)]
pub struct Gates {
    /// Attempts each step may finish.
    allowed: Vec<AtomicUsize>,
    /// Attempts each step has started (its function was called).
    started: Vec<AtomicUsize>,
    waiting: Mutex<Vec<std::task::Waker>>,
    /// The live futures of every step.
    pub live: Arc<Live>,
}

/// The step of the 20-step job that retries: its first two attempts fail.
pub const RETRYING: usize = 13;

/// Its back-off, on the held timer.
pub const BACK_OFF: std::time::Duration = std::time::Duration::from_millis(7);

impl Gates {
    /// Closed gates for `steps` steps.
    pub fn new(steps: usize) -> Self {
        Gates {
            allowed: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            started: (0..steps).map(|_| AtomicUsize::new(0)).collect(),
            ..Gates::default()
        }
    }

    /// The attempts each step has started.
    pub fn started(&self) -> Vec<usize> {
        self.started
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect()
    }

    /// Lets step `index` finish one more attempt.
    pub fn open(&self, index: usize) {
        self.allowed[index].fetch_add(1, Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiting {
            waker.wake();
        }
    }

    /// One attempt of step `index`: waits at its gate, then succeeds with `value` (the retrying
    /// step fails its first two attempts).
    pub async fn step(self: Arc<Self>, index: usize, value: u64) -> Result<u64, String> {
        let attempt = self.started[index].fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = LiveGuard::new(&self.live);
        std::future::poll_fn(|cx| {
            if self.allowed[index].load(Ordering::SeqCst) >= attempt {
                return std::task::Poll::Ready(());
            }
            self.waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(cx.waker().clone());
            if self.allowed[index].load(Ordering::SeqCst) >= attempt {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        if index == RETRYING && attempt < 3 {
            return Err(format!("attempt {attempt} fails"));
        }
        Ok(value + 1)
    }
}

/// What the test does to move the job on by one boundary.
#[derive(Debug, Clone, Copy)]
pub enum Move {
    /// Open the gate of a step that then succeeds.
    Finish(usize),
    /// Open the gate of the retrying step, whose attempt then fails into its back-off.
    Fail,
    /// End the retrying step's back-off.
    EndBackOff,
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_cancel_boundaries {
    ($harness:expr, $new:ident, $mode:ident) => {
        use $crate::suite::cancel_boundaries::{Gates, Move, BACK_OFF, RETRYING};

        /// root → a1 → a2 → a3 → f0…f7 → fan-in (`Vec`) → retrying (3 attempts, back-off) ─┐
        /// root → timed (a timeout) ⇢ b1 → b2 ──────────────────────────────────────────────┴→ join
        /// → tail → last.
        fn twenty_steps() -> (asyncjob::JobDefinition<Arc<Gates>, $mode>, Vec<StepHandle<u64>>) {
            use asyncjob::retry::Retry;
            type G = Arc<Gates>;
            let mut job = JobBuilder::<G>::$new("twenty");
            let mut all = Vec::new();
            let root = build(job.step("root").run(|g: G| g.step(0, 0)));
            all.push(root.clone());
            let mut link = root.clone();
            for (i, name) in [(1, "a1"), (2, "a2"), (3, "a3")] {
                link = build(job.step(name).after(&link).run(move |g: G, n| g.step(i, n)));
                all.push(link.clone());
            }
            let fan: Vec<_> = (4..12)
                .map(|i| {
                    let name = format!("f{}", i - 4);
                    build(job.step(name).after(&link).run(move |g: G, n| g.step(i, n)))
                })
                .collect();
            all.extend(fan.iter().cloned());
            let fan_in = build(
                job.step("fan-in")
                    .after(&fan)
                    .run(|g: G, ns: Vec<u64>| g.step(12, ns.iter().sum())),
            );
            all.push(fan_in.clone());
            let retrying = build(
                job.step("retrying")
                    .after(&fan_in)
                    .retry(Retry::fixed(3, BACK_OFF))
                    .run(|g: G, n| g.step(RETRYING, n)),
            );
            all.push(retrying.clone());
            let timed = build(
                job.step("timed")
                    .after(&root)
                    .timeout(std::time::Duration::from_secs(3600))
                    .run(|g: G, n| g.step(14, n)),
            );
            all.push(timed.clone());
            let b1 = build(job.step("b1").wait_for(&timed).run(|g: G| g.step(15, 0)));
            all.push(b1.clone());
            let b2 = build(job.step("b2").after(&b1).run(|g: G, n| g.step(16, n)));
            all.push(b2.clone());
            let join = build(
                job.step("join")
                    .after((&retrying, &b2))
                    .run(|g: G, (r, b)| g.step(17, r + b)),
            );
            all.push(join.clone());
            let tail = build(job.step("tail").after(&join).run(|g: G, n| g.step(18, n)));
            all.push(tail.clone());
            let last = build(job.step("last").after(&tail).run(|g: G, n| g.step(19, n)));
            all.push(last);
            (job.seal(), all)
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// Every step is cancelled at every boundary of its life: before the job starts, while it waits
            /// for its dependencies, while it runs, and (for the retrying step) during each back-off and
            /// each attempt. At each boundary the job is quiescent (every ready step is running, blocked at
            /// its gate), then cancelled: `wait()` reports `Cancelled`, every started future (step attempts
            /// and the timer's sleeps) is dropped, no step starts after the cancel, steps that had succeeded
            /// keep their outputs, every other step ends `Cancelled`, and the instance can still be drawn.
            fn cancel_at_every_boundary_of_a_20_step_job(h) {
                let (job, handles) = twenty_steps();
                let n = handles.len();
                assert_eq!(n, 20);
                let deps: Vec<Vec<usize>> = job
                    .steps()
                    .map(|s| {
                        s.data_dependencies()
                            .chain(s.ordering_dependencies())
                            .map(|d| d.index())
                            .collect()
                    })
                    .collect();
                // The whole run, one boundary at a time.
                let mut script: Vec<Move> = (0..=12).map(Move::Finish).collect();
                script.extend([Move::Fail, Move::EndBackOff, Move::Fail, Move::EndBackOff]);
                script.extend((RETRYING..n).map(Move::Finish));

                let mut seen_waiting = vec![false; n];
                let mut seen_running = vec![false; n];
                let mut seen_back_offs = 0;
                // Boundary 0 cancels right after `start`; boundary k > 0 makes k - 1 moves, lets the job
                // settle, then cancels (the last one lets the job finish instead).
                for boundary in 0..=script.len() + 1 {
                    let moves = boundary.saturating_sub(1);
                    let gates = Arc::new(Gates::new(n));
                    let timer = RecordingTimer::held();
                    let instance = h.start_with_timer(&job, gates.clone(), JobOptions::new(), timer.clone());
                    let mut done = vec![false; n];
                    let mut attempts_of_retrying = 1;
                    for &step in &script[..moves] {
                        let state = |i: usize| instance.steps()[i].state;
                        match step {
                            Move::Finish(i) => {
                                gates.open(i);
                                h.block_on(until(|| state(i) == StepState::Succeeded));
                                done[i] = true;
                            }
                            Move::Fail => {
                                gates.open(RETRYING);
                                h.block_on(until(|| {
                                    state(RETRYING) == StepState::Retrying
                                        && timer.pending().contains(&BACK_OFF)
                                }));
                            }
                            Move::EndBackOff => {
                                assert_eq!(timer.release(BACK_OFF), 1, "on {}", h.name());
                                attempts_of_retrying += 1;
                                h.block_on(until(|| {
                                    gates.started()[RETRYING] == attempts_of_retrying
                                        && state(RETRYING) == StepState::Running
                                }));
                            }
                        }
                    }
                    let in_back_off = matches!(script[..moves].last(), Some(Move::Fail));
                    // Quiescent: every ready step has started and is blocked, every other one waits.
                    if boundary > 0 {
                        h.block_on(until(|| {
                            let steps = instance.steps();
                            let started = gates.started();
                            (0..n).all(|i| {
                                let ready = deps[i].iter().all(|&d| done[d]);
                                match (done[i], ready) {
                                    (true, _) => steps[i].state == StepState::Succeeded,
                                    (false, true) if i == RETRYING && in_back_off => {
                                        steps[i].state == StepState::Retrying
                                    }
                                    (false, true) => started[i] >= 1 && steps[i].state == StepState::Running,
                                    (false, false) => started[i] == 0 && steps[i].state == StepState::Waiting,
                                }
                            })
                        }));
                    }
                    let before = instance.snapshot();
                    let started_before = gates.started();
                    for (i, step) in before.steps.iter().enumerate() {
                        match step.state {
                            StepState::Waiting => seen_waiting[i] = true,
                            StepState::Running => seen_running[i] = true,
                            StepState::Retrying => seen_back_offs += 1,
                            _ => {}
                        }
                    }
                    if boundary > 0 {
                        assert_eq!(gates.live.0.load(Ordering::SeqCst) > 0, !done[n - 1]);
                    }

                    if moves == script.len() {
                        // The script runs the whole job: nothing left to cancel.
                        assert!(!instance.cancel(), "on {}", h.name());
                        h.block_on(instance.wait())
                            .expect("the script runs the job to its end");
                        assert_eq!(gates.live.0.load(Ordering::SeqCst), 0);
                        assert_eq!(timer.pending(), [], "on {}", h.name());
                        assert!(
                            instance
                                .steps()
                                .iter()
                                .all(|s| s.state == StepState::Succeeded)
                        );
                        continue;
                    }
                    assert!(instance.cancel(), "boundary {boundary} on {}", h.name());
                    let error = h.block_on(instance.wait()).expect_err("cancelled");
                    let at = format!(
                        "boundary {boundary} (before {:?}) on {}",
                        script[moves],
                        h.name()
                    );
                    assert_eq!(error.kind(), JobErrorKind::Cancelled, "{at}");
                    assert_eq!(error.step(), None, "{at}");
                    assert!(instance.is_finished() && instance.is_cancelled(), "{at}");
                    assert!(!instance.cancel(), "{at}");
                    assert_eq!(
                        gates.live.0.load(Ordering::SeqCst),
                        0,
                        "{at}: step futures dropped"
                    );
                    assert_eq!(timer.pending(), [], "{at}: sleeps dropped");
                    let started_after = gates.started();
                    if boundary == 0 {
                        // The root was spawned by `start`: it may have started before the cancel.
                        assert!(started_after[0] <= 1, "{at}");
                        assert!(
                            started_after[1..].iter().all(|&s| s == 0),
                            "{at}: {started_after:?}"
                        );
                    } else {
                        assert_eq!(
                            started_after, started_before,
                            "{at}: a step started after the cancel"
                        );
                    }
                    let after = instance.snapshot();
                    assert!(after.finished, "{at}");
                    for (i, step) in after.steps.iter().enumerate() {
                        assert!(
                            step.state.is_finished(),
                            "{at}: {} is {}",
                            step.name,
                            step.state
                        );
                        if done[i] {
                            assert_eq!(step.state, StepState::Succeeded, "{at}: {}", step.name);
                            assert!(
                                instance.output(&handles[i]).is_some(),
                                "{at}: {}",
                                step.name
                            );
                            assert!(step.error.is_none());
                        } else {
                            assert_eq!(step.state, StepState::Cancelled, "{at}: {}", step.name);
                            assert!(
                                instance.output(&handles[i]).is_none(),
                                "{at}: {}",
                                step.name
                            );
                            assert!(
                                step.error
                                    .as_ref()
                                    .is_some_and(|e| e.is_cancelled() && e.step() == Some(&*step.name)),
                                "{at}: {:?}",
                                step.error
                            );
                        }
                    }
                    let retried = after.steps[RETRYING].retried.len();
                    assert_eq!(
                        retried,
                        attempts_of_retrying - 1 + usize::from(in_back_off),
                        "{at}"
                    );
                    let dot = instance.to_dot();
                    assert!(
                        dot.starts_with("digraph") && dot.contains("label=\"retrying\\n"),
                        "{at}"
                    );
                    assert!(instance.to_mermaid_gantt().contains("section last"), "{at}");
                    assert!(instance.to_chrome_trace().contains("\"fan-in\""), "{at}");
                }
                let roots = [0];
                for i in 0..n {
                    assert!(seen_running[i], "step {i} was cancelled while running");
                    assert!(
                        seen_waiting[i] || roots.contains(&i),
                        "step {i} was cancelled while waiting"
                    );
                }
                assert_eq!(seen_back_offs, 2, "cancelled in both back-offs");
            }
        }
    };
}
