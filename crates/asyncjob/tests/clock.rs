//! Time comes from the timer only: a fake clock drives every time a snapshot reports, and a job
//! that needs to sleep on an executor without a timer is refused at start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncjob::{
    BoxFuture, FuturesExecutor, JobBuilder, JobErrorKind, JobOptions, StepState, Timer,
};
use futures::channel::oneshot;
use futures::executor::LocalPool;

/// A clock that moves only when the test says; its sleeps never end.
#[derive(Clone)]
struct FakeClock {
    base: Instant,
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    fn new() -> Self {
        FakeClock {
            base: Instant::now(),
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).expect("small");
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Timer for FakeClock {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[test]
fn a_fake_clock_drives_every_reported_time() {
    let clock = FakeClock::new();
    let (open, gate) = oneshot::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(Some(gate)));
    let mut job = JobBuilder::<()>::new("clocked");
    let first = job
        .step("first")
        .run(move |()| {
            let gate = gate.lock().expect("gate").take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                Ok::<_, String>(1)
            }
        })
        .expect("a step");
    job.step("second")
        .after(&first)
        .run(|(), n: u32| async move { Ok::<_, String>(n + 1) })
        .expect("a step");
    let mut pool = LocalPool::new();
    clock.advance(Duration::from_secs(100)); // the run starts at 100 s on the clock
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(clock.clone())
        .start_local(());
    clock.advance(Duration::from_secs(2));
    pool.run_until_stalled(); // "first" starts at 2 s
    clock.advance(Duration::from_secs(5));
    let snapshot = instance.snapshot();
    assert_eq!(snapshot.elapsed, Duration::from_secs(7));
    let running = snapshot.step_by_name("first").expect("first");
    assert_eq!(running.state, StepState::Running);
    assert_eq!(running.start_offset, Some(Duration::from_secs(2)));
    assert_eq!(running.running, Some(Duration::from_secs(5)));
    open.send(()).expect("open the gate");
    pool.run_until(instance.wait()).expect("succeeds");
    let snapshot = instance.snapshot();
    let second = snapshot.step_by_name("second").expect("second");
    assert_eq!(second.ready_offset, Some(Duration::from_secs(7)));
    assert_eq!(second.end_offset, Some(Duration::from_secs(7)));
    assert_eq!(snapshot.elapsed, Duration::from_secs(7));
}

#[test]
fn a_job_that_sleeps_is_refused_without_a_timer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = |calls: &Arc<AtomicUsize>| {
        let calls = calls.clone();
        move |()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, String>(()) }
        }
    };
    let mut timed = JobBuilder::<()>::new("timed");
    timed
        .step("slow")
        .timeout(Duration::from_secs(1))
        .run(counted(&calls))
        .expect("a step");
    timed.step("plain").run(counted(&calls)).expect("a step");
    let mut retried = JobBuilder::<()>::new("retried");
    retried
        .step("flaky")
        .retry(asyncjob::retry::Retry::fixed(3, Duration::ZERO))
        .run(counted(&calls))
        .expect("a step");
    let mut plain = JobBuilder::<()>::new("plain");
    plain.step("plain").run(counted(&calls)).expect("a step");
    let (timed, retried, plain) = (timed.seal(), retried.seal(), plain.seal());

    let mut pool = LocalPool::new();
    let cases = [
        (&timed, JobOptions::new()),
        (&retried, JobOptions::new()),
        (&plain, JobOptions::new().deadline(Duration::from_secs(1))),
    ];
    for (job, options) in cases {
        let instance = job
            .on(FuturesExecutor::new(pool.spawner()))
            .options(options)
            .start_local(());
        let error = pool.run_until(instance.wait()).expect_err("refused");
        assert_eq!(error.kind(), JobErrorKind::TimerMissing, "{}", job.name());
        assert_eq!(error.step(), None);
        assert!(error.to_string().contains("needs a timer"), "{error}");
        assert!(
            instance
                .steps()
                .iter()
                .all(|step| step.state == StepState::Cancelled && step.attempts == 0),
            "{}: no step ran",
            job.name()
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A job that never sleeps needs no timer.
    let instance = plain
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(());
    pool.run_until(instance.wait()).expect("runs");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
