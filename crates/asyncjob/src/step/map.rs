//! How a map step runs ([`StepBuilder::map`](crate::StepBuilder::map)): read the parent's
//! items, register them with the run, run each under the map's policy — concurrently, within
//! the map's own future, at most its limit at a time — and collect the outputs in item order.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::cell::{OutputCell, StepCell, StepResult};
use crate::env::RunEnv;
use crate::error::{BoxError, JobError};
use crate::graph::definition::StepDef;
use crate::graph::extras::{Condition, Fallback};
use crate::graph::map::{Gather, ItemKey, MapFn, MapNode};
use crate::graph::parents::Parents;
use crate::mode::private::{InputRef, Sealed, StepInput};
use crate::mode::{Local, Mode, OutputRef, Sendable};
use crate::state::events::EventKind;
use crate::state::items::ItemTable;

use crate::limit::AcquireAll;

use crate::intercept::{Scoped, Scopes};
use crate::topology::Topology;

use super::{Failure, attempt, context, scopes_of, take_permits, yield_now};

/// Ends the items that had not ended when the map's future goes (the run was cancelled, or
/// the executor dropped the map): they end `Cancelled`.
struct EndUnfinished<'a> {
    table: &'a ItemTable,
    job: &'a Arc<str>,
}

impl Drop for EndUnfinished<'_> {
    fn drop(&mut self) {
        for position in self.table.unfinished() {
            let reason = JobError::cancelled(self.job, &self.table.name(position));
            context::item(self.table, position, EventKind::Cancelled { reason });
        }
    }
}

/// The future of a map step.
async fn map_body<M, C, I, F, Fut, O, E, K, G, W, Fb>(
    captured: OutputRef<M, C>,
    input: StepInput<M, I>,
    (map, fallback): (Arc<MapFn<F, K, W>>, Arc<Fb>),
    env: Arc<RunEnv>,
    index: usize,
) -> StepResult<G::Output<O>>
where
    G: Gather,
    W: Condition<I, C>,
    Fb: Fallback<G::Output<O>>,
    O: Clone + 'static,
    M: Mode,
    C: IntoIterator + Clone + 'static,
    C::Item: Clone,
    I: Clone,
    F: Fn(I, C::Item) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
    K: ItemKey<C::Item>,
{
    let topology = &*env.topology;
    let job = &topology.name;
    let step = topology.step_name(index);
    let internal = |message| Err(JobError::internal(job, &step, message));
    let Some(input) = input.take() else {
        return internal("a sub-job's input is missing");
    };
    if W::PRESENT {
        let Some(items) = captured.peek() else {
            return internal("a dependency's output is missing");
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| map.condition.holds(&input, items))) {
            Ok(true) => {}
            Ok(false) => return Err(JobError::omitted(job, &step)),
            Err(panic) => return Err(Failure::panic(panic).into_error_of(job, &step, 0)),
        }
    }
    if !context::attempt_started(1) {
        return internal("a map step ran outside its run");
    }
    let Some(items) = captured.peek().cloned() else {
        return internal("a dependency's output is missing");
    };
    drop(captured);
    let items: Vec<C::Item> = items.into_iter().collect();
    let keys = items
        .iter()
        .enumerate()
        .map(|(position, item)| map.key.key(position, item))
        .collect();
    let table = Arc::new(ItemTable::new(index, &step, keys));
    if !context::register_items(table.clone()) {
        return internal("a map step ran outside its run");
    }
    let _end = EndUnfinished { table: &table, job };
    let count = items.len();
    // The items wait for permits at the map's priority in this run.
    let run = ItemRun {
        table: &table,
        topology,
        priority: context::priority().unwrap_or(map.priority),
    };
    let all = run_items(items, &input, &map, &run);
    let Some(results) = env.guard(index, all).await else {
        return Err(env.cancelled_error(index));
    };
    let mut outcomes = Vec::with_capacity(count);
    for result in results {
        match result {
            Some(outcome) => outcomes.push(outcome),
            None => return internal("an item of a map ended without an outcome"),
        }
    }
    let error = match G::gather(outcomes) {
        Ok(output) => return Ok(output),
        Err(error) => JobError::item_failed(job, &step, &error),
    };
    if !Fb::PRESENT {
        return Err(error);
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| fallback.recover(&error))) {
        Ok(Some(output)) => {
            if context::recovered(error) {
                Ok(output)
            } else {
                internal("a map's fallback ran outside its run")
            }
        }
        Ok(None) => Err(error),
        Err(panic) => {
            let message = format!("its fallback panicked: {}", crate::panic::describe(&*panic));
            crate::panic::drop_quietly(panic);
            Err(JobError::panicked(job, &step, message).after_attempts(1))
        }
    }
}

/// What the items of one run of a map share.
struct ItemRun<'a> {
    table: &'a ItemTable,
    topology: &'a Topology,
    /// The map's priority in this run, for the permits its items need.
    priority: i32,
}

/// Runs every item, at most the map's limit at once; their outcomes in item order.
async fn run_items<I, T, F, Fut, O, E, K, W>(
    items: Vec<T>,
    input: &I,
    map: &MapFn<F, K, W>,
    run: &ItemRun<'_>,
) -> Vec<Option<Result<O, JobError>>>
where
    I: Clone,
    T: Clone,
    F: Fn(I, T) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    let mut results: Vec<Option<Result<O, JobError>>> = (0..items.len()).map(|_| None).collect();
    let mut waiting = items.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < map.limit {
            let Some((position, item)) = waiting.next() else {
                break;
            };
            running.push(run_item(position, item, input.clone(), map, run));
        }
        match running.next().await {
            Some((position, result)) => {
                if let Some(slot) = results.get_mut(position) {
                    *slot = Some(result);
                }
            }
            None => return results,
        }
    }
}

/// Runs one item: its attempts under the map's retry policy and timeout, inside the job's and
/// the map's interceptors.
async fn run_item<I, T, F, Fut, O, E, K, W>(
    position: usize,
    item: T,
    input: I,
    map: &MapFn<F, K, W>,
    run: &ItemRun<'_>,
) -> (usize, Result<O, JobError>)
where
    I: Clone,
    T: Clone,
    F: Fn(I, T) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    let (table, job) = (run.table, &run.topology.name);
    // The item's name, made only if something names it (an error, an interceptor).
    let name = || table.name(position);
    let unscoped = run.topology.interceptors.is_empty() && map.interceptors.is_empty();
    let mut number: u32 = 1;
    loop {
        // The item's permits, for this attempt: given back when it ends.
        let permits = if map.limits.is_empty() {
            Vec::new()
        } else {
            let acquire = AcquireAll::new(map.limits.clone(), run.priority);
            let taken = take_permits(acquire, |_, limit| {
                let limit = limit.clone();
                context::item(table, position, EventKind::AwaitingPermit { limit });
            });
            match taken.await {
                Ok(permits) => permits,
                Err(limit) => {
                    let error = JobError::no_permits(job, &name(), &limit)
                        .after_attempts(number.saturating_sub(1));
                    let kind = EventKind::Failed {
                        error: error.clone(),
                    };
                    context::item(table, position, kind);
                    return (position, Err(error));
                }
            }
        };
        context::item(table, position, EventKind::Running { attempt: number });
        // (The permits are given back after the item's end is recorded.)
        let scopes = if unscoped {
            Scopes::none()
        } else {
            scopes_of(run.topology, &map.interceptors, &name(), number)
        };
        let attempted =
            scopes.run(|| attempt(&map.function, (), input.clone(), item.clone(), map.timeout));
        let attempted = Scoped {
            scopes,
            future: std::pin::pin!(attempted),
        }
        .await;
        let failure = match attempted {
            Ok(output) => {
                context::item(table, position, EventKind::Succeeded);
                return (position, Ok(output));
            }
            Err(failure) => failure,
        };
        let delay = match failure {
            Failure::Internal(_) => None,
            _ => map
                .retry
                .as_ref()
                .and_then(|policy| policy.retry_after(&failure.as_attempt(), number)),
        };
        let Some(delay) = delay else {
            let error = failure.into_error_of(job, &name(), number);
            let kind = EventKind::Failed {
                error: error.clone(),
            };
            context::item(table, position, kind);
            return (position, Err(error));
        };
        let error = failure.into_attempt_error_of(job, &name(), number);
        let kind = EventKind::Retrying {
            attempt: number,
            error,
            backoff: delay,
        };
        context::item(table, position, kind);
        // A back-off gives the permits back.
        drop(permits);
        if delay.is_zero() {
            yield_now().await;
        } else {
            match context::sleep(delay) {
                Some(sleep) => sleep.await,
                None => {
                    let failure = Failure::Internal("a step's timer is missing");
                    let error = failure.into_error_of(job, &name(), number);
                    let kind = EventKind::Failed {
                        error: error.clone(),
                    };
                    context::item(table, position, kind);
                    return (position, Err(error));
                }
            }
        }
        number = number.saturating_add(1);
    }
}

/// The `StepDef` of a map node in one mode.
macro_rules! map_def {
    ($mode:ty, send: $send:literal, functions: [$($fn_bounds:tt)*], where $($bounds:tt)*) => {
        impl<I, C, F, K, Fut, O, E, G, W, Fb> StepDef<I, $mode>
            for MapNode<C, F, K, Fut, O, E, G, W, Fb>
        where
            G: Gather,
            W: Condition<I, C>,
            Fb: Fallback<G::Output<O>>,
            F: Fn(I, C::Item) -> Fut + $($fn_bounds)* 'static,
            E: Into<BoxError> + 'static,
            K: ItemKey<C::Item>,
            $($bounds)*
        {
            fn instantiate(
                &self,
                input: InputRef<'_, $mode, I>,
                index: usize,
                base: usize,
                cells: &[Arc<<$mode as Sealed>::Cell>],
                env: &Arc<RunEnv>,
            ) -> Option<Arc<<$mode as Sealed>::Cell>> {
                let captured = Parents::<$mode>::capture(&self.parent, cells.get(base..)?)?;
                let (input, env) = (input.to_owned(), env.clone());
                let map = (self.map.clone(), self.fallback.clone());
                let body = map_body::<$mode, C, I, F, Fut, O, E, K, G, W, Fb>(
                    captured, input, map, env, index,
                );
                Some(StepCell::<_, G::Output<O>, $send>::new(body))
            }
        }
    };
}

map_def!(Sendable, send: true, functions: [Send + Sync +], where
    I: Clone + Send + Sync + 'static,
    C: IntoIterator + Clone + Send + Sync + 'static,
    C::Item: Clone + Send + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Clone + Send + Sync + 'static,
    G::Output<O>: Send + Sync,
);

map_def!(Local, send: false, functions: [], where
    I: Clone + 'static,
    C: IntoIterator + Clone + 'static,
    C::Item: Clone + 'static,
    Fut: Future<Output = Result<O, E>> + 'static,
    O: Clone + 'static,
);
