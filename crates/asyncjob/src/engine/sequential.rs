//! Sequential mode ([`JobOptions::sequential`](crate::JobOptions::sequential)): one step at a
//! time, in definition order (a topological order), like go-asyncjob's
//! `WithSequentialExecution`.
//!
//! It is a scheduling policy over the same state machine, and nothing else: the step that ends
//! queues the next step in definition order that can still run (one that is still `Waiting`:
//! every step before it has ended, so its dependencies allow it to run, or it would have been
//! skipped or omitted), and its driver runs it inline. Dependents are not released as the parallel
//! scheduler does, only counted down. A step the executor refuses takes the rest with it: no
//! driver is left to run them.

use std::sync::Arc;

use crate::mode::private::Sealed;
use crate::state::slot::Stamp;

use super::Run;

/// Queues and spawns the first step.
pub(super) fn begin<X: Sealed>(run: &Arc<Run<X>>) {
    if run.machine.len() > 0 && run.machine.queue(0, run.now()) {
        run.spawn(0);
    }
}

/// Step `after` has ended (with an output or not): queues the next step that can still run,
/// for the caller to run inline.
pub(super) fn next<X: Sealed>(
    run: &Run<X>,
    after: usize,
    has_output: bool,
) -> Option<(usize, Stamp)> {
    if has_output {
        for &child in &run.topology().steps[after].children {
            run.machine.dependency_done(child);
        }
    }
    // Once a cancellation is under way it ends every step still waiting (the driver would not
    // start one anyway). Queuing the next one would log it `Queued` after a step before it, a
    // dependency perhaps, ended `Cancelled` (its driver saw the cancellation first).
    if run.machine.is_cancel_requested() {
        return None;
    }
    let now = run.now();
    (after + 1..run.machine.len())
        .find(|&next| run.machine.queue(next, now))
        .map(|next| (next, now))
}

/// Step `index` was abandoned: nobody will run the steps after it, so they end as it did.
pub(super) fn abandon_rest<X: Sealed>(run: &Run<X>, index: usize, now: Stamp) {
    for later in index + 1..run.machine.len() {
        if run.machine.queue(later, now) {
            // Nothing is released: in sequential mode only this loop would run them.
            run.machine
                .abandon(later, now, None, &mut Vec::new(), || {});
        }
    }
}
