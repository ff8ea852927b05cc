//! Keeps the engine from re-entering itself on one thread.
//!
//! An executor may poll a future inside `spawn()` (a `futures::task::Spawn` is allowed to).
//! A step's driver spawns the step's children while it is being polled, so each level of the
//! graph would nest one poll deeper, until the stack overflows. Instead, the engine marks the
//! time it spends in a driver's poll (or starting a run) as a frame; a spawn made from a frame
//! nested inside another is queued, and the outermost frame issues the queued spawns when it
//! ends. The nesting is then at most two frames deep, whatever the graph.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

type Deferred = Box<dyn FnOnce()>;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static QUEUE: RefCell<VecDeque<Deferred>> = const { RefCell::new(VecDeque::new()) };
}

/// The engine is working on this thread until the frame is dropped.
#[derive(Debug)]
pub(crate) struct Frame(());

impl Frame {
    pub(crate) fn enter() -> Frame {
        DEPTH.with(|depth| depth.set(depth.get().saturating_add(1)));
        Frame(())
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let outermost = DEPTH.with(|depth| depth.get() == 1);
        if outermost {
            // Each deferred spawn runs at depth 1, so what it nests queues again, and is
            // drained here too.
            while let Some(deferred) = QUEUE.with(|queue| queue.borrow_mut().pop_front()) {
                deferred();
            }
        }
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// `true` if the engine is nested on this thread: a spawn made now must be [`defer`]red.
pub(crate) fn is_nested() -> bool {
    DEPTH.with(Cell::get) > 1
}

thread_local! {
    /// The driver this thread is handing to the executor (its run's address and its step), and
    /// whether the executor dropped it during `spawn()`.
    static SPAWNING: Cell<Option<(usize, usize, bool)>> = const { Cell::new(None) };
}

/// The driver of step `index` of the run at `run` is being handed to the executor on this
/// thread, until [`end_spawn`] (given what this returns): a driver dropped meanwhile says so
/// ([`dropped_while_spawning`]).
#[inline]
pub(crate) fn begin_spawn(run: usize, index: usize) -> Option<(usize, usize, bool)> {
    SPAWNING.with(|current| current.replace(Some((run, index, false))))
}

/// The hand-over of [`begin_spawn`] is over; `previous` is what it returned. `true` if the
/// executor dropped the driver during it.
#[inline]
pub(crate) fn end_spawn(previous: Option<(usize, usize, bool)>) -> bool {
    SPAWNING
        .with(|current| current.replace(previous))
        .is_some_and(|(_, _, dropped)| dropped)
}

/// Called by a driver of step `index` of the run at `run` that is dropped before it ran: `true`
/// if that happens inside the `spawn()` that was handing it over ([`begin_spawn`]), which then
/// ends the step itself, with the executor's reason.
pub(crate) fn dropped_while_spawning(run: usize, index: usize) -> bool {
    SPAWNING.with(|current| match current.get() {
        Some((r, i, _)) if r == run && i == index => {
            current.set(Some((r, i, true)));
            true
        }
        _ => false,
    })
}

/// Queues `spawn` for the outermost frame of this thread.
pub(crate) fn defer(spawn: impl FnOnce() + 'static) {
    QUEUE.with(|queue| queue.borrow_mut().push_back(Box::new(spawn)));
}
