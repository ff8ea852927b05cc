//! What several behaviours share: a logical clock, yielding, call and live-future counters,
//! and (in [`__suite_jobs!`](crate::__suite_jobs), expanded once per definition mode) the
//! definitions that several behaviours start.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::any::{Any, TypeId};

use asyncjob::{DefinitionError, Local, Mode};

use super::Starts;

/// The result of a step that cannot fail.
pub type Res<T> = Result<T, Infallible>;

/// A clock that counts events, to order them without reading time.
#[derive(Debug, Default, Clone)]
pub struct Clock(Arc<AtomicUsize>);

impl Clock {
    /// The next tick.
    pub fn tick(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// Yields to the executor once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Resolves once `condition` holds, yielding to the executor in between.
pub async fn until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        yield_now().await;
    }
}

/// The step handle or definition of a test job, which is well formed.
pub fn build<T>(result: Result<T, DefinitionError>) -> T {
    result.unwrap_or_else(|error| panic!("the test job is well formed: {error}"))
}

/// For code generic over the definition mode `M`: what `sendable` makes if `M` is `Sendable`,
/// what `local` makes if it is `Local` (`Mode` is sealed: it is one of the two), as a `T`, the
/// type of that value. `None` if `T` is not the type of the value made.
pub fn for_mode<M: Mode, T: Any, S: Any, L: Any>(
    sendable: impl FnOnce() -> S,
    local: impl FnOnce() -> L,
) -> Option<T> {
    let made: Box<dyn Any> = if TypeId::of::<M>() == TypeId::of::<Local>() {
        Box::new(local())
    } else {
        Box::new(sendable())
    };
    made.downcast().ok().map(|made| *made)
}

/// Counts calls, and fails the first `failures` of them.
#[derive(Debug, Default)]
pub struct Flaky {
    calls: AtomicUsize,
}

impl Flaky {
    /// Counts a call; returns its number, from 1.
    pub fn call(&self) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Counts live futures: dropped ones are really gone.
#[derive(Debug, Default)]
pub struct Live(pub AtomicUsize);

/// One live future of a [`Live`] count, while it is held.
#[derive(Debug)]
pub struct LiveGuard(Arc<Live>);

impl LiveGuard {
    /// Counts one more live future in `live`.
    pub fn new(live: &Arc<Live>) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(live.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Blocks until `flaky` has been called once (the root step is running).
pub fn until_called<S: Starts>(h: &S, flaky: &Flaky) {
    h.block_on(until(|| flaky.calls() > 0));
}

/// The definitions several behaviours start, built with `JobBuilder::$new` in mode `$mode`:
/// expanded by [`__suite_behaviours!`](crate::__suite_behaviours) into the mode's `jobs`
/// module.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_jobs {
    ($new:ident, $mode:ident) => {
        /// A job whose root step hangs (holding a drop-counted guard) and whose other steps wait for it.
        pub(super) fn hanging_job() -> asyncjob::JobDefinition<(Arc<Live>, Arc<Flaky>), $mode> {
            type In = (Arc<Live>, Arc<Flaky>);
            let mut job = JobBuilder::<In>::$new("hanging");
            let root = build(job.step("root").run(|(live, started): In| async move {
                let _guard = LiveGuard::new(&live);
                started.call();
                futures::future::pending::<()>().await;
                Res::Ok(1u32)
            }));
            let child = build(
                job.step("child")
                    .after(&root)
                    .run(|(_, f): In, n| async move {
                        f.call();
                        Res::Ok(n)
                    }),
            );
            build(
                job.step("grandchild")
                    .after(&child)
                    .run(|(_, f): In, n| async move {
                        f.call();
                        Res::Ok(n)
                    }),
            );
            job.seal()
        }
    };
}
