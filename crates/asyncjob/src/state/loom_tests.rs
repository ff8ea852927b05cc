//! The loom model of the state layer: every interleaving of the races that the engine's
//! drivers, cancellation and failure propagation run into, on the state layer's own code.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test -p asyncjob --lib --release loom
//! ```
//!
//! What each model checks, whatever the interleaving: every step ends exactly once (the
//! run's count reaches zero exactly when every step is final, and `complete` runs once); a
//! cancellation that returns `true` leaves a `Cancelled` step and a cancelled outcome, one that
//! returns `false` changes nothing; a step released by two parents is queued once; a waiter
//! registered while the run ends is woken.

use std::sync::Arc;

use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;

use super::slot::{Ended, Stamp};
use super::{Machine, StepState};
use crate::error::{JobError, JobErrorKind};
use crate::intercept::Interceptors;
use crate::topology::{Edge, StepMeta, Topology};

/// A topology from `(dependencies)` per step, in definition order.
fn topology(deps: &[&[usize]]) -> Arc<Topology> {
    let mut steps: Vec<StepMeta> = deps
        .iter()
        .enumerate()
        .map(|(index, deps)| StepMeta {
            name: format!("s{index}").into(),
            data: deps.to_vec(),
            order: Vec::new(),
            children: Vec::new(),
            soft_children: Vec::new(),
            failure_tolerated: false,
            needs_context: false,
            limits: Box::default(),
            priority: 0,
            sub_job: None,
        })
        .collect();
    for (index, deps) in deps.iter().enumerate() {
        for &dep in *deps {
            steps[dep].children.push(index);
        }
    }
    let roots = (0..deps.len()).filter(|&i| deps[i].is_empty()).collect();
    Arc::new(Topology {
        id: 1,
        name: "loom".into(),
        steps,
        roots,
        interceptors: Interceptors::default(),
        fail_fast: false,
        needs_timer: false,
        has_limits: false,
        max_running: None,
    })
}

fn at(n: u64) -> Stamp {
    Stamp::from_duration(std::time::Duration::from_nanos(n))
}

fn cancel_reason() -> JobError {
    JobError::cancelled_job(&"loom".into())
}

/// What a driver does with one step: take it, and end it with `outcome`; then release its
/// children as the engine does (queue each whose last dependency it was).
fn drive(machine: &Machine, index: usize, outcome: Result<(), JobError>) -> Vec<usize> {
    if !machine.start(index, at(2)) {
        return Vec::new();
    }
    let mut released = Vec::new();
    if machine.finish(index, outcome, at(3), &mut Vec::new(), || {}) == Some(Ended::Succeeded) {
        for &child in &machine.topology().steps[index].children {
            if machine.dependency_done(child) && machine.queue(child, at(4)) {
                released.push(child);
            }
        }
    }
    released
}

fn assert_consistent(machine: &Machine, cancelled: bool) {
    assert!(machine.is_finished(), "the run ended");
    let states: Vec<StepState> = (0..machine.len())
        .map(|i| {
            machine
                .slot(i)
                .map(|s| s.state())
                .unwrap_or(StepState::Waiting)
        })
        .collect();
    assert!(states.iter().all(|s| s.is_finished()), "{states:?}");
    let any_cancelled = states.contains(&StepState::Cancelled);
    let outcome = machine.outcome().cloned().expect("an outcome");
    if cancelled {
        assert!(any_cancelled, "cancel() returned true: {states:?}");
    } else {
        assert!(!any_cancelled, "cancel() returned false: {states:?}");
    }
    let failed = states.contains(&StepState::Failed);
    match outcome {
        Ok(()) => assert!(!failed && !any_cancelled, "{states:?}"),
        Err(error) if failed => assert_ne!(error.kind(), JobErrorKind::Cancelled),
        Err(error) => assert_eq!(error.kind(), JobErrorKind::Cancelled, "{states:?}"),
    }
}

#[test]
fn loom_cancel_races_the_last_step() {
    loom::model(|| {
        let machine = Arc::new(Machine::new(topology(&[&[]]), None));
        assert!(machine.queue(0, at(1)));
        // Set while the step's code may run: from `start` until the driver reports the end.
        let in_step = Arc::new(AtomicBool::new(false));
        let driver = {
            let (machine, in_step) = (machine.clone(), in_step.clone());
            thread::spawn(move || {
                if machine.start(0, at(2)) {
                    in_step.store(true, SeqCst);
                    in_step.store(false, SeqCst);
                    machine.finish(0, Ok(()), at(3), &mut Vec::new(), || {});
                }
            })
        };
        let cancelled = machine.cancel(cancel_reason(), at(5), || {}, |_| {});
        if machine.is_finished() {
            assert!(
                !in_step.load(SeqCst),
                "the run ended while a step's code could run"
            );
        }
        driver.join().expect("the driver");
        assert_consistent(&machine, cancelled);
        let state = machine.slot(0).map(|s| s.state());
        assert_eq!(
            state,
            Some(if cancelled {
                StepState::Cancelled
            } else {
                StepState::Succeeded
            })
        );
    });
}

#[test]
fn loom_cancel_races_start_and_release() {
    loom::model(|| {
        // a → b: a cancellation anywhere in a's life, b's release or b's start.
        let machine = Arc::new(Machine::new(topology(&[&[], &[0]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || {
                for child in drive(&machine, 0, Ok(())) {
                    drive(&machine, child, Ok(()));
                }
            })
        };
        let cancelled = machine.cancel(cancel_reason(), at(5), || {}, |_| {});
        driver.join().expect("the driver");
        assert_consistent(&machine, cancelled);
    });
}

#[test]
fn loom_two_parents_release_their_child_once() {
    loom::model(|| {
        let machine = Arc::new(Machine::new(topology(&[&[], &[], &[0, 1]]), None));
        assert!(machine.queue(0, at(1)));
        assert!(machine.queue(1, at(1)));
        let other = {
            let machine = machine.clone();
            thread::spawn(move || drive(&machine, 1, Ok(())))
        };
        let mut released = drive(&machine, 0, Ok(()));
        released.extend(other.join().expect("the other parent"));
        assert_eq!(released, [2], "the child is queued exactly once");
        assert!(!machine.is_finished());
        drive(&machine, 2, Ok(()));
        assert_consistent(&machine, false);
    });
}

#[test]
fn loom_failure_skips_while_cancel_scans() {
    loom::model(|| {
        // a fails, b depends on it; cancel races the skip: b ends Skipped or Cancelled, once.
        let machine = Arc::new(Machine::new(topology(&[&[], &[0]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || {
                let error = JobError::failed(&"loom".into(), &"s0".into(), "boom".into());
                drive(&machine, 0, Err(error));
            })
        };
        let cancelled = machine.cancel(cancel_reason(), at(5), || {}, |_| {});
        driver.join().expect("the driver");
        assert_consistent(&machine, cancelled);
        let error = machine
            .outcome()
            .cloned()
            .expect("an outcome")
            .expect_err("failed");
        let a = machine.slot(0).map(|s| s.state());
        if a == Some(StepState::Failed) {
            assert_eq!(
                error.step(),
                Some("s0"),
                "the failure outranks the cancellation"
            );
        }
    });
}

#[test]
fn loom_abandon_races_start() {
    loom::model(|| {
        // An executor refuses a driver but polls it anyway: exactly one of them has the step.
        let machine = Arc::new(Machine::new(topology(&[&[]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || drop(drive(&machine, 0, Ok(()))))
        };
        let abandoned = machine.abandon(0, at(2), None, &mut Vec::new(), || {});
        driver.join().expect("the driver");
        assert_consistent(&machine, false);
        let state = machine.slot(0).map(|s| s.state());
        match abandoned {
            Some(_) => assert_eq!(state, Some(StepState::Failed)),
            None => assert_eq!(state, Some(StepState::Succeeded)),
        }
    });
}

#[test]
fn loom_waiter_is_woken_when_the_run_ends() {
    loom::model(|| {
        let machine = Arc::new(Machine::new(topology(&[&[]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || drop(drive(&machine, 0, Ok(()))))
        };
        let mut key = None;
        loom::future::block_on(std::future::poll_fn(|cx| {
            machine.poll_finished(&mut key, cx)
        }));
        driver.join().expect("the driver");
        assert!(machine.is_finished());
    });
}

#[test]
fn loom_dropped_waiter_leaves_nothing_behind() {
    loom::model(|| {
        let machine = Arc::new(Machine::new(topology(&[&[]]), None));
        let waiter = {
            let machine = machine.clone();
            thread::spawn(move || {
                let waker = futures_util::task::noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                let mut key = None;
                if machine.poll_finished(&mut key, &mut cx).is_pending() {
                    if let Some(key) = key {
                        machine.stop_waiting(key);
                    }
                }
            })
        };
        assert!(machine.queue(0, at(1)));
        drive(&machine, 0, Ok(()));
        waiter.join().expect("the waiter");
        assert!(machine.is_finished());
    });
}

#[test]
fn loom_step_waiter_is_woken_when_its_step_ends() {
    loom::model(|| {
        // `output_of` on the first of two steps while its driver finishes it: the waiter is
        // woken (a lost wake-up would leave `block_on` hanging, which loom reports), and stops
        // being counted afterwards.
        let machine = Arc::new(Machine::new(topology(&[&[], &[]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || drop(drive(&machine, 0, Ok(()))))
        };
        let mut watching = false;
        loom::future::block_on(std::future::poll_fn(|cx| {
            machine.poll_step_ended(0, &mut watching, cx)
        }));
        machine.stop_watching(&mut watching);
        driver.join().expect("the driver");
        assert_eq!(
            machine.slot(0).map(|s| s.state()),
            Some(StepState::Succeeded)
        );
        assert!(!machine.is_finished(), "the other step has not ended");
    });
}

#[test]
fn loom_tolerant_child_is_released_once_while_cancel_scans() {
    loom::model(|| {
        // s2 takes s0 with `allow_failure` and s1 plainly: s0 fails (propagation resolves s2's
        // dependency) while s1 succeeds (the engine's release) and a cancellation scans. s2 is
        // queued at most once, by whoever resolved its last dependency, and is then driven;
        // every step ends once; the failure of s0, tolerated, never is the outcome.
        let mut topology = Arc::try_unwrap(topology(&[&[], &[], &[0, 1]])).expect("unshared");
        topology.steps[0].soft_children.push((2, Edge::Tolerant));
        topology.steps[0].failure_tolerated = true;
        let machine = Arc::new(Machine::new(Arc::new(topology), None));
        assert!(machine.queue(0, at(1)));
        assert!(machine.queue(1, at(1)));
        let queued = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let driver = |index: usize, outcome: Result<(), JobError>| {
            let (machine, queued) = (machine.clone(), queued.clone());
            thread::spawn(move || {
                if !machine.start(index, at(2)) {
                    return;
                }
                let mut released = Vec::new();
                if machine.finish(index, outcome, at(3), &mut released, || {})
                    == Some(Ended::Succeeded)
                {
                    for &child in &machine.topology().steps[index].children {
                        if machine.dependency_done(child) {
                            released.push(child);
                        }
                    }
                }
                for child in released {
                    if machine.queue(child, at(4)) {
                        queued.fetch_add(1, SeqCst);
                        drop(drive(&machine, child, Ok(())));
                    }
                }
            })
        };
        let failing = driver(
            0,
            Err(JobError::failed(&"loom".into(), &"s0".into(), "no".into())),
        );
        let succeeding = driver(1, Ok(()));
        let cancelled = machine.cancel(cancel_reason(), at(5), || {}, |_| {});
        failing.join().expect("s0's driver");
        succeeding.join().expect("s1's driver");
        assert!(queued.load(SeqCst) <= 1, "s2 was queued twice");
        assert!(machine.is_finished(), "the run ended");
        let outcome = machine.outcome().cloned().expect("an outcome");
        match outcome {
            Ok(()) => assert!(!cancelled),
            Err(error) => assert_eq!(error.kind(), JobErrorKind::Cancelled),
        }
        if !cancelled {
            assert_eq!(queued.load(SeqCst), 1, "s2 was never released");
            assert_eq!(
                machine.slot(2).map(|s| s.state()),
                Some(StepState::Succeeded)
            );
        }
    });
}

#[test]
fn loom_cancel_reaches_a_step_awaiting_a_permit() {
    loom::model(|| {
        let machine = Arc::new(Machine::new(topology(&[&[]]), None));
        assert!(machine.queue(0, at(1)));
        let driver = {
            let machine = machine.clone();
            thread::spawn(move || {
                // The driver takes the step to wait for a permit, gets it, and starts it; or,
                // if cancellation reached it first, ends it.
                if !machine.await_permit(0, &"db".into(), at(2)) {
                    return;
                }
                let outcome = if machine.start(0, at(3)) {
                    Ok(())
                } else {
                    Err(JobError::cancelled(&"loom".into(), &"s0".into()))
                };
                machine.finish(0, outcome, at(4), &mut Vec::new(), || {});
            })
        };
        let cancelled = machine.cancel(cancel_reason(), at(5), || {}, |_| {});
        driver.join().expect("the driver");
        assert_consistent(&machine, cancelled);
    });
}

#[test]
fn loom_a_permit_is_never_lost_when_its_waiter_leaves() {
    use std::future::Future;
    use std::task::{Context, Poll};

    use crate::limit::Limit;

    loom::model(|| {
        let limit = Limit::new("one", 1);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let held = {
            let mut first = Box::pin(limit.acquire(0));
            match first.as_mut().poll(&mut cx) {
                Poll::Ready(permit) => permit,
                Poll::Pending => panic!("the first permit is free"),
            }
        };
        // A waiter queues, then gives up while the holder gives the permit back.
        let mut waiter = Box::pin(limit.acquire(0));
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        let holder = thread::spawn(move || drop(held));
        drop(waiter);
        holder.join().expect("the holder");
        assert_eq!((limit.available(), limit.waiting()), (1, 0));
    });
}
