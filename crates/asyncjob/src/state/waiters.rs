//! Who waits for a run to end: a registry of wakers in which each waiting future holds a key,
//! and takes its waker out again when it is dropped, so that futures that give up waiting
//! leave nothing behind.

use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicBool, Mutex, Ordering};

#[derive(Debug, Default)]
struct Entries {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

/// The wakers of the futures waiting for one run.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    done: AtomicBool,
    entries: Mutex<Entries>,
}

impl Waiters {
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// `Ready` once the run has ended; otherwise registers (or refreshes) the waker of the
    /// future whose key is `key`, allocating a key on the first call.
    pub(crate) fn poll(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_done() {
            return Poll::Ready(());
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked again under the lock: `finish` sets `done` before it takes the wakers.
        if self.is_done() {
            return Poll::Ready(());
        }
        match *key {
            Some(index) => match entries.wakers.get_mut(index) {
                Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
                Some(slot) => *slot = Some(cx.waker().clone()),
                None => {}
            },
            None => {
                let waker = Some(cx.waker().clone());
                let index = match entries.free.pop() {
                    Some(index) => {
                        entries.wakers[index] = waker;
                        index
                    }
                    None => {
                        entries.wakers.push(waker);
                        entries.wakers.len() - 1
                    }
                };
                *key = Some(index);
            }
        }
        Poll::Pending
    }

    /// The future holding `key` is gone: forget its waker.
    pub(crate) fn remove(&self, key: usize) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = entries.wakers.get_mut(key) {
            if slot.take().is_some() {
                entries.free.push(key);
            }
        }
    }

    /// How many futures are waiting (for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.wakers.iter().filter(|w| w.is_some()).count()
    }

    /// The run has ended: wakes every waiting future. Called once, by the run.
    pub(crate) fn finish(&self) {
        let wakers = {
            let mut entries = self
                .entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.done.store(true, Ordering::Release);
            std::mem::take(&mut *entries)
        };
        for waker in wakers.wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Who waits for some step to end: woken at every step's end while one waits
/// ([`Machine`](super::Machine) counts the waiters), each re-checks its own step.
#[derive(Debug, Default)]
pub(crate) struct StepWaiters {
    wakers: Mutex<Vec<Waker>>,
}

impl StepWaiters {
    /// Registers `cx`'s waker (once per waker).
    pub(crate) fn register(&self, cx: &mut Context<'_>) {
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }

    /// A step has ended: wakes every registered waiter.
    pub(crate) fn wake(&self) {
        let wakers = std::mem::take(
            &mut *self
                .wakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for waker in wakers {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn dropped_waiters_are_forgotten_and_their_keys_reused() {
        let waiters = Waiters::default();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut keys = Vec::new();
        for _ in 0..1_000 {
            let mut key = None;
            assert!(waiters.poll(&mut key, &mut cx).is_pending());
            keys.push(key);
        }
        assert_eq!(waiters.len(), 1_000);
        for key in keys.into_iter().flatten() {
            waiters.remove(key);
        }
        assert_eq!(waiters.len(), 0);
        let mut key = None;
        assert!(waiters.poll(&mut key, &mut cx).is_pending());
        assert!(key.is_some_and(|key| key < 1_000), "a freed key is reused");
        waiters.finish();
        assert!(waiters.poll(&mut key, &mut cx).is_ready());
    }
}
