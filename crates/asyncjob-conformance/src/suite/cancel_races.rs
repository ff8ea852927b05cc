//! `cancel()` racing the last poll of a job (issue 12, item 4): whatever the timing, what
//! `cancel()` returns agrees with how the steps ended and with what `wait()` reports.
//!
//! Either the cancellation took effect (`cancel()` returned `true`: some step had not ended, and
//! every such step ends `Cancelled`, its output discarded, even one whose future completes after
//! the cancel), or it did not (`false`: every step had ended, and the outcome is the steps' own).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

/// Lets the test cancel while the last step's future is inside its final poll: the future
/// blocks there until the test has called `cancel()`. Only when the step is polled on another
/// thread than the test's (the test cannot call `cancel()` while its own thread is busy
/// polling).
#[derive(Debug)]
pub struct Handshake {
    /// The test's thread.
    pub test_thread: ThreadId,
    /// The last step's final poll has been reached.
    pub reached: AtomicBool,
    /// Receives once the test has cancelled.
    pub ack: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Handshake {
    /// In the last step's final poll: signals the test and waits for it to have cancelled.
    pub fn meet(&self) {
        if std::thread::current().id() == self.test_thread {
            return;
        }
        let ack = self
            .ack
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ack) = ack {
            self.reached.store(true, Ordering::SeqCst);
            // Bounded, so that a test gone wrong does not block a worker for good.
            let _ = ack.recv_timeout(Duration::from_secs(60));
        }
    }
}

/// Keeps the thread busy for `turns` turns of a loop the optimiser cannot remove: a delay that
/// reads no clock.
pub fn spin(turns: u64) {
    let mut sum = 0u64;
    for turn in 0..turns {
        sum = std::hint::black_box(sum.wrapping_add(turn));
    }
    std::hint::black_box(sum);
}

/// The steps of the three-step chain, in order.
pub const CHAIN: [&str; 3] = ["a", "b", "c"];

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_cancel_races {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::fmt::Write as _;
        use std::sync::atomic::AtomicBool;
        use std::sync::mpsc;
        use std::task::Poll;

        use $crate::suite::cancel_races::{spin, Handshake, CHAIN};

        fn cancel_during_the_final_poll<S: Starts<Definitions = $mode>>(h: &S) {
            let (ack_tx, ack_rx) = mpsc::channel::<()>();
            let handshake = Arc::new(Handshake {
                test_thread: std::thread::current().id(),
                reached: AtomicBool::new(false),
                ack: Mutex::new(Some(ack_rx)),
            });
            let mut job = JobBuilder::<Arc<Handshake>>::$new("last poll");
            let first = build(job.step("first").run(|_| async { Res::Ok(1u32) }));
            let last = build(job.step("last").after(&first).run(
                |handshake: Arc<Handshake>, n: u32| async move {
                    std::future::poll_fn(|_| {
                        handshake.meet();
                        Poll::Ready(())
                    })
                    .await;
                    Res::Ok(n + 1)
                },
            ));
            let job = build(job.seal().with_result(&last));
            let instance = h.start_with_result(&job, handshake.clone(), JobOptions::new());
            h.block_on(until(|| {
                handshake.reached.load(Ordering::SeqCst) || instance.is_finished()
            }));
            let in_the_poll = handshake.reached.load(Ordering::SeqCst);
            let returned = instance.cancel();
            let _ = ack_tx.send(());
            let result = h.block_on(instance.result());
            let state = |name: &str| instance.step_by_name(name).map(|s| s.state);
            let (first_state, last_state) = (state("first"), state("last"));
            let output = instance.output(&last);
            if in_the_poll {
                assert!(
                    returned
                        && first_state == Some(StepState::Succeeded)
                        && last_state == Some(StepState::Cancelled)
                        && output.is_none()
                        && result.as_ref().is_err_and(|e| e.is_cancelled()),
                    "on {}: cancel() called while the last step's final poll ran returned {returned}; \
                     then first ended {first_state:?}, last ended {last_state:?} with output \
                     {output:?}, and result() returned {result:?} (expected true, Succeeded, \
                     Cancelled, None, Err(Cancelled))",
                    h.name()
                );
            } else {
                assert!(
                    !returned && matches!(result, Ok(2)) && output == Some(2),
                    "on {}: cancel() after the job ended returned {returned}, result() {result:?}, \
                     output {output:?} (expected false, Ok(2), Some(2))",
                    h.name()
                );
            }
        }

        fn cancel_after_some_yields<S: Starts<Definitions = $mode>>(h: &S) {
            let mut job = JobBuilder::<()>::$new("chain");
            // Each step's last poll is long (a spin, not a clock), so that a `cancel()` from another
            // thread often lands inside it.
            let yielding = |n: u32| async move {
                yield_now().await;
                spin(20_000);
                Res::Ok(n + 1)
            };
            let a = build(job.step(CHAIN[0]).run(move |()| yielding(0)));
            let b = build(job.step(CHAIN[1]).after(&a).run(move |(), n| yielding(n)));
            let c = build(job.step(CHAIN[2]).after(&b).run(move |(), n| yielding(n)));
            let handles: [&StepHandle<u32>; 3] = [&a, &b, &c];
            let job = build(job.seal().with_result(&c));
            let mut problems = Vec::new();
            let rounds = 400;
            for round in 0..rounds {
                let instance = h.start_with_result(&job, (), JobOptions::new());
                // Where the executor runs on the test's thread, yields move the cancel along the job;
                // where it runs elsewhere, a spin of 0 to about 1.3 times the job's own spins does.
                h.block_on(async {
                    for _ in 0..round % 8 {
                        yield_now().await;
                    }
                });
                spin((round % 40) * 2_000);
                let returned = instance.cancel();
                let result = h.block_on(instance.result());
                // `result()` resolves when the last step ends; the others may still be ending.
                let _ = h.block_on(instance.wait());
                let steps = instance.steps();
                let mut problem = String::new();
                let cancelled = steps
                    .iter()
                    .filter(|s| s.state == StepState::Cancelled)
                    .count();
                if returned != (cancelled > 0) {
                    let _ = write!(
                        problem,
                        "; cancel() returned {returned}, {cancelled} steps cancelled"
                    );
                }
                match &result {
                    Ok(3) if cancelled == 0 => {}
                    Err(error) if error.kind() == JobErrorKind::Cancelled && cancelled > 0 => {}
                    other => {
                        let _ = write!(problem, "; result() returned {other:?}");
                    }
                }
                for (step, handle) in steps.iter().zip(handles) {
                    let has_output = instance.output(handle).is_some();
                    let expected = match step.state {
                        StepState::Succeeded => true,
                        StepState::Cancelled => false,
                        state => {
                            let _ = write!(problem, "; {} ended {state}", step.name);
                            continue;
                        }
                    };
                    if has_output != expected {
                        let _ = write!(
                            problem,
                            "; {} ended {} but its output is {}",
                            step.name,
                            step.state,
                            if has_output { "readable" } else { "missing" }
                        );
                    }
                }
                if !problem.is_empty() {
                    let states: Vec<String> = steps
                        .iter()
                        .map(|s| format!("{}={}", s.name, s.state))
                        .collect();
                    problems.push(format!(
                        "round {round} ({}): {}",
                        states.join(" "),
                        problem.trim_start_matches("; ")
                    ));
                }
            }
            assert!(
                problems.is_empty(),
                "on {}: {} of {rounds} rounds disagree; the first ones:\n{}",
                h.name(),
                problems.len(),
                problems[..problems.len().min(10)].join("\n")
            );
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// 400 rounds of a three-step chain cancelled at points spread over its run (after 0 to 7
            /// yields, then a spin of up to 1.3 times the steps' own: each step's last poll spins), then
            /// `cancel()` called while the last step of a two-step job is inside the poll that completes it
            /// (on executors that poll steps off the test's thread; elsewhere the step ends first and
            /// `cancel()` must return `false`): `cancel()` returns `true` iff some step ends `Cancelled`;
            /// then `wait()` and `result()` report the cancellation and no cancelled step has an output;
            /// otherwise every step succeeded, with its output, and `result()` is `Ok` (issue 12, item 4).
            fn cancel_racing_the_last_poll_agrees_with_the_outcome(h) {
                cancel_after_some_yields(h);
                cancel_during_the_final_poll(h);
            }
        }
    };
}
