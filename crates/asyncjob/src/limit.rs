//! Limits: named pools of permits that steps need in order to run, shared by any number of
//! steps, instances and definitions (a "db" limit with 4 permits), granted by priority.
//!
//! A [`Limit`] is a fair semaphore with priorities: a permit that is given back goes straight
//! to the waiter with the highest priority, and among equal priorities to the one that asked
//! first — never back to the pool while someone waits, so no permit stays idle while work
//! waits for it. A waiter that gives up (its step was cancelled, its future dropped) leaves
//! the queue, and a permit granted to it in the meantime is passed on.
//!
//! A step that needs several limits takes them one at a time in one fixed order (see
//! [`acquisition_order`]): two steps can then never each hold a permit the other waits for.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicU64, Mutex, Ordering};

/// Ids of limits, and the order in which waiters asked: one process-wide counter each.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A named pool of permits that steps need in order to run: at most
/// [`permits`](Self::permits) of the steps (or map items) that need it run at once.
///
/// One limit can be needed by many steps of many definitions and instances: clones share
/// the same permits. A step declares it with [`StepBuilder::needs`](crate::StepBuilder::needs)
/// (a map step's items each need it, with
/// [`MapBuilder::needs`](crate::MapBuilder::needs)); while it waits for a permit the step is
/// [`AwaitingPermit`](crate::StepState::AwaitingPermit), in the snapshot, the events and the
/// pictures. When permits are scarce, the waiter with the highest
/// [priority](crate::StepBuilder::priority) gets the next one; equal priorities are served in
/// the order they asked.
///
/// A step holds its permits while an attempt runs: it gives them back when it ends (however
/// it ends: success, failure, panic, cancellation, its future dropped) and during a retry's
/// back-off, and takes them again before the next attempt.
///
/// ```
/// use asyncjob::{FuturesExecutor, JobBuilder, Limit};
/// let db = Limit::new("db", 2);
/// let mut job = JobBuilder::<()>::new("report");
/// for table in ["users", "orders", "items"] {
///     job.step(table).needs(&db).run(|()| async { Ok::<_, String>(()) })?;
/// }
/// let job = job.seal();
/// futures::executor::block_on(job.on(FuturesExecutor::new(futures::executor::ThreadPool::new()?)).start(()).wait())?;
/// assert_eq!(db.available(), 2);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
///
/// A limit with no permits could never let a step run: a step that needs one fails at once
/// ([`JobErrorKind::NoPermits`](crate::JobErrorKind::NoPermits)).
#[derive(Clone)]
pub struct Limit {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    name: Arc<str>,
    permits: usize,
    /// One instance's own cap ([`JobOptions::max_running`](crate::JobOptions::max_running)):
    /// taken before any named limit.
    instance: bool,
    state: Mutex<State>,
    /// Waiters that asked, for the order among equal priorities.
    asked: AtomicU64,
}

#[derive(Default)]
struct State {
    available: usize,
    /// Who waits, best first: highest priority, then first to ask.
    waiting: BTreeMap<Key, Waker>,
    /// Waiters that were handed a permit and have not taken it yet (by their `seq`).
    granted: HashSet<u64>,
}

/// A waiter's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    priority: Reverse<i32>,
    seq: u64,
}

impl Limit {
    /// A limit named `name` (for the pictures and the errors) with `permits` permits.
    pub fn new(name: impl Into<Arc<str>>, permits: usize) -> Self {
        Limit::make(name.into(), permits, false)
    }

    /// The cap of one instance: taken first, before any named limit.
    pub(crate) fn instance(name: Arc<str>, permits: usize) -> Self {
        Limit::make(name, permits, true)
    }

    fn make(name: Arc<str>, permits: usize, instance: bool) -> Self {
        let state = State {
            available: permits,
            ..State::default()
        };
        Limit {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                name,
                permits,
                instance,
                state: Mutex::new(state),
                asked: AtomicU64::new(0),
            }),
        }
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// How many permits it has in all.
    pub fn permits(&self) -> usize {
        self.inner.permits
    }

    /// How many permits are free now.
    pub fn available(&self) -> usize {
        self.state().available
    }

    /// How many steps (or items) wait for a permit now.
    pub fn waiting(&self) -> usize {
        self.state().waiting.len()
    }

    /// `true` if `self` and `other` are the same limit (clones of one another).
    pub fn same_as(&self, other: &Limit) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn state(&self) -> impl std::ops::DerefMut<Target = State> + '_ {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A future that waits for a permit, with `priority`.
    pub(crate) fn acquire(&self, priority: i32) -> Acquire {
        Acquire {
            limit: self.clone(),
            priority,
            key: None,
        }
    }

    /// Gives a permit back: to the best waiter, or to the pool if nobody waits.
    fn release(&self) {
        let waker = {
            let mut state = self.state();
            match state.waiting.pop_first() {
                Some((key, waker)) => {
                    state.granted.insert(key.seq);
                    Some(waker)
                }
                None => {
                    state.available += 1;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Limit")
            .field("name", &self.inner.name)
            .field("permits", &self.inner.permits)
            .field("available", &state.available)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

/// Sorts `limits` into the one order in which every step takes them, and drops repeats: an
/// instance's own cap first, then named limits by creation.
pub(crate) fn acquisition_order(limits: &mut Vec<Limit>) {
    limits.sort_by_key(|limit| (!limit.inner.instance, limit.inner.id));
    limits.dedup_by(|a, b| a.same_as(b));
}

/// One permit of a [`Limit`], given back when dropped.
pub(crate) struct Permit {
    limit: Limit,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Permit")
            .field(&self.limit.inner.name)
            .finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limit.release();
    }
}

/// Waits for a permit of one limit (see [`Limit::acquire`]). Dropped while it waits, it
/// leaves the queue; dropped after a permit was handed to it, it passes the permit on.
pub(crate) struct Acquire {
    limit: Limit,
    priority: i32,
    /// Its place in the queue, once it waits.
    key: Option<Key>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = self.get_mut();
        let limit = &this.limit;
        let mut state = limit.state();
        match this.key {
            None => {
                if state.available > 0 {
                    state.available -= 1;
                    return Poll::Ready(Permit {
                        limit: limit.clone(),
                    });
                }
                let key = Key {
                    priority: Reverse(this.priority),
                    seq: limit.inner.asked.fetch_add(1, Ordering::Relaxed),
                };
                state.waiting.insert(key, cx.waker().clone());
                this.key = Some(key);
                Poll::Pending
            }
            Some(key) => {
                if state.granted.remove(&key.seq) {
                    this.key = None;
                    return Poll::Ready(Permit {
                        limit: limit.clone(),
                    });
                }
                if let Some(waker) = state.waiting.get_mut(&key) {
                    if !waker.will_wake(cx.waker()) {
                        waker.clone_from(cx.waker());
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let pass_on = {
            let mut state = self.limit.state();
            state.waiting.remove(&key).is_none() && state.granted.remove(&key.seq)
        };
        if pass_on {
            self.limit.release();
        }
    }
}

/// Takes a permit of each of `limits`, in order, with `priority` (see [`acquisition_order`]).
pub(crate) struct AcquireAll {
    limits: Arc<[Limit]>,
    priority: i32,
    held: Vec<Permit>,
    waiting: Option<Acquire>,
}

impl fmt::Debug for AcquireAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireAll")
            .field("limits", &self.limits.len())
            .field("held", &self.held.len())
            .finish()
    }
}

/// What [`AcquireAll::poll_acquire`] got to.
pub(crate) enum Acquired {
    /// Every permit is held.
    All(Vec<Permit>),
    /// It waits for a permit of the limit at this position.
    Waiting(usize),
    /// The limit at this position has no permits at all: it could never be taken.
    Empty(usize),
}

impl AcquireAll {
    pub(crate) fn new(limits: Arc<[Limit]>, priority: i32) -> Self {
        AcquireAll {
            held: Vec::with_capacity(limits.len()),
            limits,
            priority,
            waiting: None,
        }
    }

    /// The limits it takes.
    pub(crate) fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// Takes what it can; `newly` is set when it starts waiting for another limit.
    pub(crate) fn poll_acquire(&mut self, cx: &mut Context<'_>, newly: &mut bool) -> Acquired {
        *newly = false;
        loop {
            let position = self.held.len();
            let Some(limit) = self.limits.get(position) else {
                return Acquired::All(std::mem::take(&mut self.held));
            };
            if limit.permits() == 0 {
                return Acquired::Empty(position);
            }
            let started = self.waiting.is_none();
            let acquire = self
                .waiting
                .get_or_insert_with(|| limit.acquire(self.priority));
            match Pin::new(acquire).poll(cx) {
                Poll::Ready(permit) => {
                    self.waiting = None;
                    self.held.push(permit);
                }
                Poll::Pending => {
                    *newly = started;
                    return Acquired::Waiting(position);
                }
            }
        }
    }
}
