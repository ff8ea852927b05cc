//! The task that cancels a run at its deadline, and ends as soon as the run does.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::JobError;
use crate::mode::private::Sealed;
use crate::rt::{BoxFuture, Timer};

use super::Run;

/// Waits for `deadline` on the run's timer, then cancels the run with a deadline error. It
/// holds the run weakly and also waits for the run to end: a run that ends in time lets go of
/// the task (and its timer's sleep) at once, rather than when the deadline passes.
pub(crate) struct DeadlineTask<X: Sealed> {
    run: Weak<Run<X>>,
    sleep: Option<BoxFuture<'static, ()>>,
    deadline: Duration,
    /// The task's place among the run's waiters.
    key: Option<usize>,
}

impl<X: Sealed> std::fmt::Debug for DeadlineTask<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineTask")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<X: Sealed> DeadlineTask<X> {
    /// The deadline task of `run`. If the timer fails to make the sleep (it panics), the
    /// deadline cannot be kept: the run is ended at once with an error that says so, rather than
    /// left to run unbounded, and `None` is returned.
    pub(crate) fn new(run: &Arc<Run<X>>, deadline: Duration) -> Option<Self> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| run.timer().sleep(deadline))) {
            Ok(sleep) => Some(DeadlineTask {
                run: Arc::downgrade(run),
                sleep: Some(sleep),
                deadline,
                key: None,
            }),
            Err(panic) => {
                timer_failed(run, deadline, panic);
                None
            }
        }
    }
}

fn timer_failed<X: Sealed>(run: &Run<X>, deadline: Duration, panic: Box<dyn std::any::Any + Send>) {
    let message = crate::panic::into_message(panic);
    let reason = JobError::deadline_timer_failed(&run.topology().name, deadline, message);
    run.cancel(reason);
}

impl<X: Sealed> Future for DeadlineTask<X> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(run) = this.run.upgrade() else {
            return Poll::Ready(());
        };
        if run.machine.poll_finished(&mut this.key, cx).is_ready() {
            this.key = None;
            this.drop_sleep();
            return Poll::Ready(());
        }
        let Some(sleep) = this.sleep.as_mut() else {
            return Poll::Ready(());
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| sleep.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => {
                this.drop_sleep();
                let reason = JobError::deadline_exceeded(&run.topology().name, this.deadline);
                run.cancel(reason);
                Poll::Ready(())
            }
            Err(panic) => {
                this.drop_sleep();
                timer_failed(&run, this.deadline, panic);
                Poll::Ready(())
            }
        }
    }
}

impl<X: Sealed> DeadlineTask<X> {
    fn drop_sleep(&mut self) {
        let sleep = self.sleep.take();
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(sleep))) {
            crate::panic::drop_quietly(panic);
        }
    }
}

impl<X: Sealed> Drop for DeadlineTask<X> {
    fn drop(&mut self) {
        self.drop_sleep();
        if let (Some(key), Some(run)) = (self.key.take(), self.run.upgrade()) {
            run.machine.stop_waiting(key);
        }
    }
}
