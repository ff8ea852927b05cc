//! Map steps: a step that runs once per item of a parent's output, known only at run time
//! ([`StepBuilder::map`]). The definition stays static; the items are tracked by the run
//! ([`ItemSnapshot`](crate::ItemSnapshot)). How the items run is the step layer's business.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{BoxError, DefinitionError, JobError};
use crate::intercept::{Interceptor, Interceptors};
use crate::limit::{self, Limit};
use crate::mode::{Local, Mode, Sendable};
use crate::retry::RetryPolicy;

use super::builder::{NoParents, StepBuilder, StepOptions, Types};
use super::extras::{Always, Condition, Fallback, FallbackWith, NoFallback, When};
use super::handle::StepHandle;
use super::parents::{After, Dependencies};

mod private {
    pub trait Sealed {}
}

/// How a map names its items: [`ByPosition`] or [`KeyWith`]. Sealed.
#[diagnostic::on_unimplemented(
    message = "the map's key does not take the map's items",
    note = "a key is `|item: &T| -> String`, over the items of the map's parent"
)]
pub trait ItemKey<T>: private::Sealed + Send + Sync + 'static {
    /// The key of the item at `position`; `None` for its position (made into text only when
    /// a snapshot, an event or an error names the item).
    #[doc(hidden)]
    fn key(&self, position: usize, item: &T) -> Option<Arc<str>>;
}

/// Items are named by their position (`hash[0]`, `hash[1]`, …).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByPosition;

/// Items are named by a key made from each ([`MapBuilder::key`]).
#[derive(Debug, Clone, Copy)]
pub struct KeyWith<G>(G);

impl private::Sealed for ByPosition {}
impl<G> private::Sealed for KeyWith<G> {}

impl<T> ItemKey<T> for ByPosition {
    fn key(&self, _: usize, _: &T) -> Option<Arc<str>> {
        None
    }
}

impl<T, G, S> ItemKey<T> for KeyWith<G>
where
    G: Fn(&T) -> S + Send + Sync + 'static,
    S: Into<Arc<str>>,
{
    fn key(&self, _: usize, item: &T) -> Option<Arc<str>> {
        Some((self.0)(item).into())
    }
}

impl<'a, I, M: Mode> StepBuilder<'a, I, M, NoParents, Always, NoFallback> {
    /// Makes the step a map over the output of `items` (a `Vec<T>` or any
    /// `IntoIterator<Item = T> + Clone`): when `items` has succeeded, the step's function runs
    /// once per item, with the job input and the item, and the step's output is the `Vec` of
    /// the items' outputs, in item order. The width is known only at run time, so the
    /// definition can still live in a `static`.
    ///
    /// Each item is tracked like a step: its state, attempts, times and error are in the map's
    /// snapshot ([`StepSnapshot::items`](crate::StepSnapshot::items)) and its transitions in the
    /// events ([`EventStep::item`](crate::EventStep::item)). The step's
    /// [`retry`](Self::retry) policy and [`timeout`](Self::timeout) apply to each item.
    ///
    /// Every item runs, concurrently within the map step's task (as `buffer_unordered`
    /// would), at most [`limit`](MapBuilder::limit) at a time if the map has one. If an item
    /// fails, the map fails once every item has ended, its error naming the first failed item
    /// in item order as the [root cause](crate::JobError::root_cause). An empty input is a
    /// success with an empty `Vec`. If the job is cancelled, the items that had not ended end
    /// `Cancelled`.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder};
    /// # type E = std::convert::Infallible;
    /// let mut job = JobBuilder::<u64>::new("squares");
    /// let numbers = job.step("numbers").run(|n| async move { Ok::<_, E>((1..=n).collect::<Vec<u64>>()) })?;
    /// let squares = job.step("square").map(&numbers)
    ///     .key(|n: &u64| format!("n={n}"))
    ///     .limit(2)
    ///     .run(|_, n: u64| async move { Ok::<_, E>(n * n) })?;
    /// let job = job.seal().with_result(&squares)?;
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(4);
    /// assert_eq!(futures::executor::block_on(run.result())?, [1, 4, 9, 16]);
    /// let items = &run.step(&squares).unwrap().items;
    /// assert_eq!(&*items[2].name, "square[n=3]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<C: 'static>(self, items: &StepHandle<C>) -> MapBuilder<'a, I, M, C> {
        MapBuilder {
            step: self.after(items),
            key: ByPosition,
            limit: None,
            needs: Vec::new(),
            gather: FailOnItem,
            condition: Always,
            fallback: NoFallback,
        }
    }
}

/// Describes a map step: made by [`StepBuilder::map`], added by `run`.
///
/// `G` is how the items' outcomes make the map's output: [`FailOnItem`] (a `Vec` of the items'
/// outputs; a failed item fails the map) or, after
/// [`collect_failures`](Self::collect_failures), [`CollectFailures`] (a `Vec` of every item's
/// `Result`).
///
/// `W` is the map's [condition](Self::when), if it has one ([`Always`] if not).
pub struct MapBuilder<
    'a,
    I,
    M: Mode,
    C,
    K = ByPosition,
    G = FailOnItem,
    W = Always,
    Fb = NoFallback,
> {
    pub(crate) step: StepBuilder<'a, I, M, After<StepHandle<C>>>,
    pub(crate) key: K,
    pub(crate) limit: Option<usize>,
    /// The limits each item needs.
    pub(crate) needs: Vec<Limit>,
    pub(crate) gather: G,
    pub(crate) condition: W,
    pub(crate) fallback: Fb,
}

/// How a map step makes its output from its items' outcomes: [`FailOnItem`] or
/// [`CollectFailures`]. Sealed.
pub trait Gather: private::Sealed + Send + Sync + 'static {
    /// The map's output, for items whose outputs are `O`.
    type Output<O: Clone + 'static>: Clone + 'static;

    /// The map's output from the items' outcomes, in item order; `Err` with the first failed
    /// item's error if that fails the map.
    #[doc(hidden)]
    fn gather<O: Clone + 'static>(
        outcomes: Vec<Result<O, JobError>>,
    ) -> Result<Self::Output<O>, JobError>;
}

impl private::Sealed for FailOnItem {}
impl private::Sealed for CollectFailures {}

/// A map's output is the `Vec` of its items' outputs; an item that fails fails the map (the
/// default).
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnItem;

/// A map's output is the `Vec` of every item's outcome, `Ok(output)` or `Err(error)`: failed
/// items do not fail the map ([`MapBuilder::collect_failures`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectFailures;

impl Gather for FailOnItem {
    type Output<O: Clone + 'static> = Vec<O>;

    fn gather<O: Clone + 'static>(outcomes: Vec<Result<O, JobError>>) -> Result<Vec<O>, JobError> {
        outcomes.into_iter().collect()
    }
}

impl Gather for CollectFailures {
    type Output<O: Clone + 'static> = Vec<Result<O, JobError>>;

    fn gather<O: Clone + 'static>(
        outcomes: Vec<Result<O, JobError>>,
    ) -> Result<Vec<Result<O, JobError>>, JobError> {
        Ok(outcomes)
    }
}

impl<I, M: Mode, C, K, G, W, Fb> fmt::Debug for MapBuilder<'_, I, M, C, K, G, W, Fb> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapBuilder")
            .field("step", &self.step)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<'a, I, M: Mode, C, G, W, Fb> MapBuilder<'a, I, M, C, ByPosition, G, W, Fb> {
    /// Names each item by a key made from it (`hash[src/main.rs]`) rather than by its position
    /// (`hash[0]`). Keys need not be unique; positions are.
    pub fn key<Kf, S>(self, key: Kf) -> MapBuilder<'a, I, M, C, KeyWith<Kf>, G, W, Fb>
    where
        C: IntoIterator,
        Kf: Fn(&C::Item) -> S + Send + Sync + 'static,
        S: Into<Arc<str>>,
    {
        MapBuilder {
            step: self.step,
            key: KeyWith(key),
            limit: self.limit,
            needs: self.needs,
            gather: self.gather,
            condition: self.condition,
            fallback: self.fallback,
        }
    }
}

impl<'a, I, M: Mode, C, K, G, Fb> MapBuilder<'a, I, M, C, K, G, Always, Fb> {
    /// Makes the map conditional: once its parent has succeeded, `condition` is asked, with the
    /// job input and the parent's output (the items), and if it returns `false` the map is
    /// [omitted](crate::StepState::Omitted) — no item runs, the job does not fail — as a
    /// conditional step is (see [`StepBuilder::when`]). A panicking condition fails the map.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// let mut job = JobBuilder::<bool>::new("upload");
    /// let files = job.step("files").try_run(|_| async { Ok(vec!["a.txt", "b.txt"]) })?;
    /// let uploads = job.step("upload").map(&files)
    ///     .when(|dry_run: &bool, files: &Vec<&str>| !*dry_run && !files.is_empty())
    ///     .try_run(|_, file: &str| async move { Ok(file.len()) })?;
    /// let job = job.seal();
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(true);
    /// futures::executor::block_on(run.wait())?;
    /// let map = run.step(&uploads).unwrap();
    /// assert_eq!((map.state, map.items.len()), (StepState::Omitted, 0));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn when<Wf>(self, condition: Wf) -> MapBuilder<'a, I, M, C, K, G, When<Wf>, Fb>
    where
        Wf: Fn(&I, &C) -> bool + Send + Sync + 'static,
    {
        MapBuilder {
            step: self.step,
            key: self.key,
            limit: self.limit,
            needs: self.needs,
            gather: self.gather,
            condition: When(condition),
            fallback: self.fallback,
        }
    }
}

impl<'a, I, M: Mode, C, K, W, Fb> MapBuilder<'a, I, M, C, K, FailOnItem, W, Fb> {
    /// Makes the map's output every item's outcome, in item order — `Ok(output)` or the item's
    /// `Err(error)` (failed after its retries, named `map[key]`) — instead of failing the map when
    /// an item fails: the map succeeds once every item has ended, and its dependents decide what
    /// a failed item means. The failed items are still `Failed` in
    /// [`StepSnapshot::items`](crate::StepSnapshot::items), the events and the pictures.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// let mut job = JobBuilder::<()>::new("pings");
    /// let hosts = job.step("hosts").try_run(|_| async { Ok(vec!["a", "b", "c"]) })?;
    /// let pings = job.step("ping").map(&hosts).collect_failures()
    ///     .try_run(|_, host: &str| async move {
    ///         if host == "b" { Err("unreachable".into()) } else { Ok(host.len()) }
    ///     })?;
    /// let job = job.seal().with_result(&pings)?;
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(());
    /// let outcomes = futures::executor::block_on(run.result())?; // the map succeeded
    /// assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    /// assert_eq!(outcomes[1].as_ref().unwrap_err().step(), Some("ping[1]"));
    /// assert_eq!(run.step(&pings).unwrap().items[1].state, StepState::Failed);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn collect_failures(self) -> MapBuilder<'a, I, M, C, K, CollectFailures, W, Fb> {
        MapBuilder {
            step: self.step,
            key: self.key,
            limit: self.limit,
            needs: self.needs,
            gather: CollectFailures,
            condition: self.condition,
            fallback: self.fallback,
        }
    }
}

impl<'a, I, M: Mode, C, K, G, W> MapBuilder<'a, I, M, C, K, G, W, NoFallback> {
    /// Gives the map a fallback, as [`StepBuilder::fallback`] does a step: when the map fails
    /// (an item failed after its retries), `fallback` makes the map's whole output from the
    /// error (which names the failed item as its root cause), and the map ends
    /// [`Recovered`](crate::StepState::Recovered). Its items keep their own states. A map
    /// cancelled does not fall back; a panicking fallback fails the map.
    ///
    /// ```
    /// # use asyncjob::{FuturesExecutor, JobBuilder, StepState};
    /// let mut job = JobBuilder::<()>::new("prices");
    /// let shops = job.step("shops").try_run(|_| async { Ok(vec!["a", "b"]) })?;
    /// let prices = job.step("price").map(&shops)
    ///     .fallback(|_error| Vec::new()) // no prices rather than no job
    ///     .try_run(|_, shop: &str| async move {
    ///         if shop == "b" { Err("b is down".into()) } else { Ok(10u32) }
    ///     })?;
    /// let job = job.seal().with_result(&prices)?;
    /// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
    /// let run = job.on(pool).start(());
    /// assert!(futures::executor::block_on(run.result())?.is_empty());
    /// let map = run.step(&prices).unwrap();
    /// assert_eq!(map.state, StepState::Recovered);
    /// assert_eq!(map.items[1].state, StepState::Failed);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallback<Gf, T>(self, fallback: Gf) -> MapBuilder<'a, I, M, C, K, G, W, FallbackWith<Gf>>
    where
        Gf: Fn(&JobError) -> T + Send + Sync + 'static,
    {
        MapBuilder {
            step: self.step,
            key: self.key,
            limit: self.limit,
            needs: self.needs,
            gather: self.gather,
            condition: self.condition,
            fallback: FallbackWith(fallback),
        }
    }
}

impl<'a, I, M: Mode, C, K, G, W, Fb> MapBuilder<'a, I, M, C, K, G, W, Fb> {
    /// Runs at most `limit` items at once (at least one); the others wait, in item order.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.max(1));
        self
    }

    /// Retries each item under `policy`: see [`StepBuilder::retry`].
    pub fn retry(mut self, policy: impl RetryPolicy) -> Self {
        self.step = self.step.retry(policy);
        self
    }

    /// Fails an attempt of an item that runs longer than `limit`: see
    /// [`StepBuilder::timeout`].
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.step = self.step.timeout(limit);
        self
    }

    /// Makes each item need a permit of `limit` for each of its attempts: see
    /// [`StepBuilder::needs`]. An item waiting for a permit is
    /// [`AwaitingPermit`](crate::StepState::AwaitingPermit) (and counts against the map's own
    /// [`limit`](Self::limit) of items at once). Can be called for several limits. A limit the
    /// map step itself needs ([`StepBuilder::needs`] before `map`) cannot be one of them: `run`
    /// reports [`LimitNeededTwice`](crate::DefinitionErrorKind::LimitNeededTwice).
    pub fn needs(mut self, limit: &Limit) -> Self {
        self.needs.push(limit.clone());
        self
    }

    /// Sets the priority of the map step and of its items: see [`StepBuilder::priority`].
    pub fn priority(mut self, priority: i32) -> Self {
        self.step = self.step.priority(priority);
        self
    }

    /// Runs `interceptor` around every attempt of every item (inside the job's interceptors,
    /// which run around items too): see [`StepBuilder::intercept`]. The
    /// [`StepContext`](crate::intercept::StepContext) names the item (`hash[src/main.rs]`).
    pub fn intercept(mut self, interceptor: impl Interceptor) -> Self {
        self.step = self.step.intercept(interceptor);
        self
    }

    /// Makes the map wait for `dependencies` too: see [`StepBuilder::wait_for`].
    pub fn wait_for<D: Dependencies>(mut self, dependencies: D) -> Self {
        self.step = self.step.wait_for(dependencies);
        self
    }
}

/// A map's function, key, condition, limit and options, shared by every run.
pub(crate) struct MapFn<F, K, W = Always> {
    pub(crate) function: F,
    pub(crate) key: K,
    pub(crate) condition: W,
    /// At most this many items at once; `usize::MAX` for no limit.
    pub(crate) limit: usize,
    pub(crate) retry: Option<Arc<dyn RetryPolicy>>,
    pub(crate) timeout: Option<Duration>,
    /// Run around every attempt of every item (inside the job's).
    pub(crate) interceptors: Interceptors,
    /// The limits each item needs, in acquisition order.
    pub(crate) limits: Arc<[Limit]>,
    pub(crate) priority: i32,
}

/// The map node of a definition: its parent and its function; `G` gathers its items' outcomes.
pub(crate) struct MapNode<C, F, K, Fut, O, E, G = FailOnItem, W = Always, Fb = NoFallback> {
    pub(crate) parent: StepHandle<C>,
    pub(crate) map: Arc<MapFn<F, K, W>>,
    /// Makes the map's output if the map fails.
    pub(crate) fallback: Arc<Fb>,
    _types: Types<Fut, O, E>,
    _gather: PhantomData<fn() -> G>,
}

impl<C, F, K, Fut, O, E, G, W, Fb> MapNode<C, F, K, Fut, O, E, G, W, Fb> {
    pub(crate) fn new(
        parent: StepHandle<C>,
        function: F,
        (key, condition, fallback): (K, W, Fb),
        limit: Option<usize>,
        mut needs: Vec<Limit>,
        options: StepOptions,
    ) -> Self {
        limit::acquisition_order(&mut needs);
        MapNode {
            parent,
            map: Arc::new(MapFn {
                function,
                key,
                condition,
                limit: limit.unwrap_or(usize::MAX),
                retry: options.retry,
                timeout: options.timeout,
                interceptors: options.interceptors,
                limits: needs.into(),
                priority: options.priority,
            }),
            fallback: Arc::new(fallback),
            _types: PhantomData,
            _gather: PhantomData,
        }
    }
}

impl<'a, I, C, K, G: Gather, W: Condition<I, C>, Fb> MapBuilder<'a, I, Sendable, C, K, G, W, Fb>
where
    I: Clone + Send + Sync + 'static,
    C: IntoIterator + Clone + Send + Sync + 'static,
    C::Item: Clone + Send + 'static,
    K: ItemKey<C::Item>,
{
    /// Adds the map with its function, which receives the job input and one item and returns
    /// a future of `Result<O, E>`. Returns the handle of the map's output, the items' outputs
    /// in item order (a `Vec<O>`; after [`collect_failures`](Self::collect_failures), their
    /// outcomes, a `Vec<Result<O, JobError>>`).
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<G::Output<O>>, DefinitionError>
    where
        F: Fn(I, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
        G::Output<O>: Send + Sync,
        Fb: Fallback<G::Output<O>>,
    {
        self.step.check_item_limits(&self.needs)?;
        let (key, condition, fallback) = (self.key, self.condition, self.fallback);
        let (limit, needs) = (self.limit, self.needs);
        self.step.finish_step::<G::Output<O>, C>(
            true,
            move |After(parent), options, Always, NoFallback| {
                Box::new(MapNode::<C, F, K, Fut, O, E, G, W, Fb>::new(
                    parent,
                    function,
                    (key, condition, fallback),
                    limit,
                    needs,
                    options,
                ))
            },
        )
    }
}

impl<'a, I, C, K, G: Gather, W: Condition<I, C>, Fb> MapBuilder<'a, I, Local, C, K, G, W, Fb>
where
    I: Clone + 'static,
    C: IntoIterator + Clone + 'static,
    C::Item: Clone + 'static,
    K: ItemKey<C::Item>,
{
    /// Adds the map with its function; the function (which may capture an `Rc`), its future and `O`
    /// need not be `Send`. See the [`Sendable`] mode's `run`.
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub fn run<F, Fut, O, E>(self, function: F) -> Result<StepHandle<G::Output<O>>, DefinitionError>
    where
        F: Fn(I, C::Item) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<G::Output<O>>,
    {
        self.step.check_item_limits(&self.needs)?;
        let (key, condition, fallback) = (self.key, self.condition, self.fallback);
        let (limit, needs) = (self.limit, self.needs);
        self.step.finish_step::<G::Output<O>, C>(
            true,
            move |After(parent), options, Always, NoFallback| {
                Box::new(MapNode::<C, F, K, Fut, O, E, G, W, Fb>::new(
                    parent,
                    function,
                    (key, condition, fallback),
                    limit,
                    needs,
                    options,
                ))
            },
        )
    }
}
