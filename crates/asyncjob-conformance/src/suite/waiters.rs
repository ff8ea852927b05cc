//! Dropped `wait()` futures (issue 12, item 8): a `wait()` future that is dropped before the
//! job ends takes its waker with it, so observers that come and go (a dashboard polling with a
//! timeout, a `select!` that loses) cost nothing once gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::task::ArcWake;

/// A waker that counts its live copies' owners (through `live`) and its wake-ups.
#[derive(Debug)]
pub struct CountingWaker {
    live: Arc<AtomicUsize>,
    /// The wake-ups so far.
    pub wakes: AtomicUsize,
}

impl CountingWaker {
    /// A new waker, counted in `live` while it exists.
    pub fn new(live: &Arc<AtomicUsize>) -> Arc<Self> {
        live.fetch_add(1, Ordering::SeqCst);
        Arc::new(CountingWaker {
            live: live.clone(),
            wakes: AtomicUsize::new(0),
        })
    }
}

impl Drop for CountingWaker {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ArcWake for CountingWaker {
    fn wake_by_ref(waker: &Arc<Self>) {
        waker.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many `wait()` futures come and go.
pub const OBSERVERS: usize = 30_000;

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_waiters {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::future::Future;
        use std::task::{Context, Poll};

        use $crate::suite::waiters::{CountingWaker, OBSERVERS};

        $crate::__suite_tests! { ($harness, $mode)
            /// 30,000 `wait()` futures, each polled once with a waker of its own while the job runs, then
            /// dropped: afterwards no waker of theirs is left in the instance (each counting waker is
            /// freed), while a `wait()` future that is kept is still woken when the job ends.
            fn dropped_wait_futures_leave_no_waker_behind(h) {
                let mut job = JobBuilder::<()>::$new("observed");
                build(
                    job.step("hangs")
                        .run(|()| std::future::pending::<Result<(), String>>()),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());

                let live = Arc::new(AtomicUsize::new(0));
                let kept_waker = CountingWaker::new(&live);
                let mut kept = Box::pin(instance.wait());
                let waker = futures::task::waker(kept_waker.clone());
                assert!(
                    kept.as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                );
                drop(waker);

                for observed in 1..=OBSERVERS {
                    let waker = futures::task::waker(CountingWaker::new(&live));
                    let mut observer = Box::pin(instance.wait());
                    let poll = observer.as_mut().poll(&mut Context::from_waker(&waker));
                    assert!(poll.is_pending(), "on {}: the job has not ended", h.name());
                    drop((observer, waker));
                    // Checked along the way too, so that a leak fails before it turns quadratic.
                    if observed % 1_000 == 0 || observed == OBSERVERS {
                        let left = live.load(Ordering::SeqCst) - 1;
                        assert_eq!(
                            left,
                            0,
                            "on {}: {observed} wait() futures, dropped unfinished, left {left} wakers in \
                             the instance",
                            h.name()
                        );
                    }
                }

                assert!(instance.cancel());
                let outcome = h.block_on(instance.wait());
                assert!(outcome.is_err_and(|e| e.is_cancelled()), "on {}", h.name());
                assert!(
                    kept_waker.wakes.load(Ordering::SeqCst) >= 1,
                    "on {}: the kept wait() future was not woken when the job ended",
                    h.name()
                );
                let waker = futures::task::waker(kept_waker.clone());
                assert!(matches!(
                    kept.as_mut().poll(&mut Context::from_waker(&waker)),
                    Poll::Ready(Err(_))
                ));
            }
        }
    };
}
