//! Timers for tests: [`RecordingTimer`], which records every sleep and completes or holds it as
//! the test says, and [`ThreadTimer`], a real timer that needs no runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use asyncjob::{BoxFuture, Timer};
use futures::task::AtomicWaker;

/// A test timer: records every sleep asked of it and completes it at once, so that tests check
/// the delays a policy asks for without waiting for them.
///
/// A [`held`](Self::held) timer instead keeps every sleep pending until the test
/// [`release`](Self::release)s it: back-offs and timeouts then end exactly when the test says.
/// A [`holding`](Self::holding) timer holds only the sleeps of the lengths it is given (a job's
/// deadline, say) and completes the others at once.
///
/// Clones share their record and their sleeps: give one clone to the job, keep one to look.
///
/// With [`with_fake_clock`](Self::with_fake_clock), its [`now`](Timer::now) is a clock that
/// moves only when the test says: [`advance`](Self::advance) moves it, and releasing a sleep
/// moves it to the sleep's end. Every time a job reports (snapshots, pictures) is then exact.
///
/// ```
/// use std::time::Duration;
/// use asyncjob::Timer;
/// use asyncjob_test::RecordingTimer;
///
/// let timer = RecordingTimer::held();
/// let mut sleep = timer.sleep(Duration::from_secs(30));
/// assert_eq!(timer.sleeps(), [Duration::from_secs(30)]);
/// assert_eq!(timer.pending(), [Duration::from_secs(30)]);
///
/// // Nothing completes until the test says so.
/// assert!(futures::FutureExt::now_or_never(&mut sleep).is_none());
/// assert_eq!(timer.release(Duration::from_secs(30)), 1);
/// assert!(futures::FutureExt::now_or_never(&mut sleep).is_some());
/// assert!(timer.pending().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingTimer {
    sleeps: Arc<Mutex<Vec<Duration>>>,
    hold: Hold,
    live: Arc<Mutex<Vec<Weak<HeldSleep>>>>,
    /// `None`: the system's monotonic clock.
    clock: Option<FakeClock>,
}

/// The clock of a [`RecordingTimer::with_fake_clock`]: a base instant and how far it has been
/// moved from it. Clones share it.
#[derive(Debug, Clone)]
struct FakeClock {
    base: Instant,
    moved: Arc<Mutex<Duration>>,
}

impl FakeClock {
    fn elapsed(&self) -> Duration {
        *self.moved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the clock on to `to` (from its base), if it is not there yet.
    fn move_to(&self, to: Duration) {
        let mut moved = self.moved.lock().unwrap_or_else(PoisonError::into_inner);
        *moved = (*moved).max(to);
    }
}

/// Which sleeps a [`RecordingTimer`] holds.
#[derive(Debug, Clone, Default)]
enum Hold {
    #[default]
    Nothing,
    Everything,
    Only(Arc<[Duration]>),
}

impl Hold {
    fn holds(&self, duration: Duration) -> bool {
        match self {
            Hold::Nothing => false,
            Hold::Everything => true,
            Hold::Only(lengths) => lengths.contains(&duration),
        }
    }
}

/// One sleep of a held [`RecordingTimer`].
#[derive(Debug)]
struct HeldSleep {
    duration: Duration,
    /// On a fake clock: when the sleep ends, from the clock's base.
    ends: Option<Duration>,
    done: AtomicBool,
    waker: AtomicWaker,
}

impl RecordingTimer {
    /// A timer whose sleeps complete at once (and are recorded).
    pub fn new() -> Self {
        Self::default()
    }

    /// A timer whose sleeps stay pending until [`release`](Self::release)d.
    pub fn held() -> Self {
        RecordingTimer {
            hold: Hold::Everything,
            ..Self::default()
        }
    }

    /// A timer that holds the sleeps of the given lengths until [`release`](Self::release)d and
    /// completes every other sleep at once: hold a job's deadline while its back-offs and
    /// timeouts run free.
    ///
    /// ```
    /// use std::time::Duration;
    /// use asyncjob::Timer;
    /// use asyncjob_test::RecordingTimer;
    ///
    /// let deadline = Duration::from_secs(3600);
    /// let timer = RecordingTimer::holding([deadline]);
    /// assert!(futures::FutureExt::now_or_never(timer.sleep(Duration::from_millis(5))).is_some());
    /// let mut held = timer.sleep(deadline);
    /// assert!(futures::FutureExt::now_or_never(&mut held).is_none());
    /// assert_eq!(timer.pending(), [deadline]);
    /// ```
    pub fn holding(lengths: impl IntoIterator<Item = Duration>) -> Self {
        RecordingTimer {
            hold: Hold::Only(lengths.into_iter().collect()),
            ..Self::default()
        }
    }

    /// The same timer (its record and its sleeps, shared with its clones), reading time from
    /// a fake clock instead of the system's: [`now`](Timer::now) starts at the moment this is
    /// called and moves only by [`advance`](Self::advance) and [`release`](Self::release),
    /// which moves it to the end of the sleeps it completes (each sleep ends its duration after
    /// the clock's time when it was asked for). A sleep the timer does not hold completes at
    /// once and leaves the clock where it is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use asyncjob::Timer;
    /// use asyncjob_test::RecordingTimer;
    ///
    /// let timer = RecordingTimer::held().with_fake_clock();
    /// let start = timer.now();
    /// timer.advance(Duration::from_millis(10));
    /// let _sleep = timer.sleep(Duration::from_millis(100)); // ends at 110 ms
    /// timer.advance(Duration::from_millis(30));
    /// assert_eq!(timer.now() - start, Duration::from_millis(40));
    /// assert_eq!(timer.release(Duration::from_millis(100)), 1);
    /// assert_eq!(timer.now() - start, Duration::from_millis(110));
    /// ```
    pub fn with_fake_clock(mut self) -> Self {
        self.clock = Some(FakeClock {
            base: Instant::now(),
            moved: Arc::default(),
        });
        self
    }

    /// Moves the fake clock on by `by` (see [`with_fake_clock`](Self::with_fake_clock)); does
    /// nothing to a timer on the system's clock. Sleeps are not completed by it: release them.
    pub fn advance(&self, by: Duration) {
        if let Some(clock) = &self.clock {
            clock.move_to(clock.elapsed().saturating_add(by));
        }
    }

    /// The sleeps asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The held sleeps that exist now (asked for, not yet released, not dropped), in order.
    pub fn pending(&self) -> Vec<Duration> {
        self.live_sleeps()
            .iter()
            .filter(|s| !s.done.load(Ordering::SeqCst))
            .map(|s| s.duration)
            .collect()
    }

    /// Completes the pending sleeps of `duration` (not those asked for later); returns how many.
    ///
    /// On a [fake clock](Self::with_fake_clock), the clock first moves on to the end of the
    /// latest of them (if it is not past it already), so that what they wake to sees the time
    /// at which they ended.
    pub fn release(&self, duration: Duration) -> usize {
        let sleeps: Vec<Arc<HeldSleep>> = self
            .live_sleeps()
            .into_iter()
            .filter(|sleep| sleep.duration == duration && !sleep.done.load(Ordering::SeqCst))
            .collect();
        if let Some(clock) = &self.clock {
            if let Some(end) = sleeps.iter().filter_map(|sleep| sleep.ends).max() {
                clock.move_to(end);
            }
        }
        let mut released = 0;
        for sleep in sleeps {
            if !sleep.done.swap(true, Ordering::SeqCst) {
                sleep.waker.wake();
                released += 1;
            }
        }
        released
    }

    fn live_sleeps(&self) -> Vec<Arc<HeldSleep>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|s| s.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    }
}

impl Timer for RecordingTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        if !self.hold.holds(duration) {
            return Box::pin(std::future::ready(()));
        }
        let sleep = Arc::new(HeldSleep {
            duration,
            ends: self
                .clock
                .as_ref()
                .map(|clock| clock.elapsed().saturating_add(duration)),
            done: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&sleep));
        Box::pin(std::future::poll_fn(move |cx| {
            if sleep.done.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            sleep.waker.register(cx.waker());
            if sleep.done.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }))
    }

    /// The fake clock's time, if the timer has one
    /// ([`with_fake_clock`](RecordingTimer::with_fake_clock)); else the system's.
    fn now(&self) -> Instant {
        match &self.clock {
            Some(clock) => clock.base + clock.elapsed(),
            None => Instant::now(),
        }
    }
}

/// A real timer that needs no runtime: each sleep waits on a thread of its own.
///
/// Enough for tests and for the hostile executors over a `futures` thread pool; not for load
/// (one OS thread per pending sleep).
///
/// ```
/// use std::time::Duration;
/// use asyncjob::Timer;
/// use asyncjob_test::ThreadTimer;
///
/// futures::executor::block_on(ThreadTimer.sleep(Duration::from_millis(1)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadTimer;

impl Timer for ThreadTimer {
    /// # Panics
    ///
    /// If the OS cannot start a thread: the sleep fails loudly rather than ending early (the
    /// engine reports a timer that panics as the step's or the deadline's failure).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("asyncjob-test timer".to_owned())
            .spawn(move || {
                std::thread::sleep(duration);
                let _ = tx.send(());
            });
        if let Err(error) = spawned {
            panic!("ThreadTimer: no thread to sleep {duration:?} on: {error}");
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
