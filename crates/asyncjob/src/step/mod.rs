//! The step layer: how one step's attempts run — call the function, await it against its
//! timeout, retry under its policy, run the interceptors around it, and turn errors, panics and
//! timeouts into a [`JobError`] naming the step.
//!
//! A step's future is made per run ([`StepDef::instantiate`] for the definition's
//! [`StepNode`]s) and lives in the step's [cell](crate::cell). It reaches the run only through
//! its [`RunEnv`] (the cancellation signal) and, for steps that need it, through the run's
//! [`context`] hooks (timer, attempt records) lent for each poll. A step whose function takes
//! the public [`StepContext`](step_context::StepContext) (added by the [`builder`] methods
//! `run_with_context`) gets one per attempt, made from both.

mod builder;
pub(crate) mod context;
mod map;
pub(crate) mod step_context;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;

use crate::cell::{StepCell, StepResult};
use crate::env::RunEnv;
use crate::error::{BoxError, JobError};
use crate::graph::builder::{StepFn, StepNode, StepOptions};
use crate::graph::definition::StepDef;
use crate::graph::extras::{Condition, Fallback};
use crate::graph::parents::{Ends, Parents, SendParents};
use crate::id::JobId;
use crate::intercept::{Interceptors, Scoped, Scopes, StepContext};
use crate::limit::{AcquireAll, Acquired, Permit};
use crate::mode::private::{InputRef, Sealed, StepInput};
use crate::mode::{Local, Mode, Sendable};
use crate::retry::AttemptFailure;
use crate::topology::Topology;

use step_context::StepContext as Ctx;

/// How one attempt failed.
pub(crate) enum Failure {
    Error(BoxError),
    /// The message, and the payload for the error (see [`JobError::take_panic_payload`]).
    Panic(String, Box<dyn std::any::Any + Send>),
    TimedOut(Duration),
    /// asyncjob broke its own rules (reported, never a panic).
    Internal(&'static str),
}

impl Failure {
    fn panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        Failure::Panic(crate::panic::describe(&*payload), payload)
    }

    /// Lets go of a failure that is retried (a panic's payload is dropped, quietly).
    fn as_attempt(&self) -> AttemptFailure<'_> {
        match self {
            Failure::Error(error) => AttemptFailure::Error(error.as_ref()),
            Failure::Panic(message, _) => AttemptFailure::Panic(message),
            Failure::TimedOut(limit) => AttemptFailure::TimedOut(*limit),
            Failure::Internal(message) => AttemptFailure::Panic(message),
        }
    }

    /// The error of a retried attempt: as [`into_error`](Self::into_error), but a panic's
    /// payload is dropped here (quietly), not kept for the run's lifetime.
    fn into_attempt_error(self, topology: &Topology, index: usize, attempt: u32) -> JobError {
        self.into_attempt_error_of(&topology.name, &topology.step_name(index), attempt)
    }

    /// As [`into_attempt_error`](Self::into_attempt_error), for the step (or item) `step`.
    fn into_attempt_error_of(self, job: &Arc<str>, step: &Arc<str>, attempt: u32) -> JobError {
        match self {
            Failure::Panic(message, payload) => {
                crate::panic::drop_quietly(payload);
                JobError::panicked(job, step, message).after_attempts(attempt)
            }
            failure => failure.into_error_of(job, step, attempt),
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, Failure::Internal(_))
    }

    fn into_error(self, topology: &Topology, index: usize, attempts: u32) -> JobError {
        self.into_error_of(&topology.name, &topology.step_name(index), attempts)
    }

    /// As [`into_error`](Self::into_error), for the step (or item) `step` of `job`.
    fn into_error_of(self, job: &Arc<str>, step: &Arc<str>, attempts: u32) -> JobError {
        let error = match self {
            Failure::Error(error) => JobError::failed(job, step, error),
            Failure::Panic(message, payload) => {
                JobError::panicked_with(job, step, message, payload)
            }
            Failure::TimedOut(limit) => JobError::timed_out(job, step, limit),
            Failure::Internal(message) => JobError::internal(job, step, message),
        };
        error.after_attempts(attempts)
    }
}

/// How a step's function is called at each attempt: as `f(input, parents)`, or, wrapped in
/// [`WithContext`], as `f(context, input, parents)`.
pub(crate) trait Call<I, A> {
    /// What the function takes beyond its arguments: `()` or the step context.
    type Context: Clone;
    /// The function's future.
    type Future;

    /// The context of attempt `attempt` of step `index`; `None` outside a driver's poll (which
    /// asyncjob never does to a step that runs the full body).
    fn context(env: &Arc<RunEnv>, index: usize, attempt: u32) -> Option<Self::Context>;

    /// What the context could not do (the attempt then fails), if anything.
    fn fault(context: &Self::Context) -> Option<step_context::Fault>;

    fn call(&self, context: Self::Context, input: I, args: A) -> Self::Future;
}

impl<I, A, F, Fut> Call<I, A> for F
where
    F: Fn(I, A) -> Fut,
{
    type Context = ();
    type Future = Fut;

    fn context(_: &Arc<RunEnv>, _: usize, _: u32) -> Option<()> {
        Some(())
    }

    fn fault((): &()) -> Option<step_context::Fault> {
        None
    }

    fn call(&self, (): (), input: I, args: A) -> Fut {
        self(input, args)
    }
}

/// A step function that takes the step context first: `f(context, input, parents)`.
pub(crate) struct WithContext<F>(pub(crate) F);

impl<I, A, F, Fut> Call<I, A> for WithContext<F>
where
    F: Fn(Ctx, I, A) -> Fut,
{
    type Context = Ctx;
    type Future = Fut;

    fn context(env: &Arc<RunEnv>, index: usize, attempt: u32) -> Option<Ctx> {
        Ctx::new(env, index, attempt)
    }

    fn fault(context: &Ctx) -> Option<step_context::Fault> {
        context.fault()
    }

    fn call(&self, context: Ctx, input: I, args: A) -> Fut {
        (self.0)(context, input, args)
    }
}

/// One attempt: call the function (now), then await its future (against the timeout, if any),
/// catching errors and panics. The call happens before the returned future exists, so the
/// arguments are never held across an `.await`.
pub(crate) fn attempt<I, A, F, Fut, O, E>(
    function: &F,
    context: F::Context,
    input: I,
    args: A,
    timeout: Option<Duration>,
) -> impl Future<Output = Result<O, Failure>> + use<I, A, F, Fut, O, E>
where
    F: Call<I, A, Future = Fut>,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    let probe = context.clone();
    let called = std::panic::catch_unwind(AssertUnwindSafe(|| function.call(context, input, args)))
        .map_err(Failure::panic);
    // The timer is asked for the timeout's sleep now (the run's context is only there while the
    // driver polls), and only if the function gave a future to time.
    let timer = match called {
        Ok(_) => timeout.map(|limit| (limit, context::sleep(limit))),
        Err(_) => None,
    };
    async move {
        let caught = AssertUnwindSafe(called?).catch_unwind();
        // A step context that could not do what it was asked fails the attempt (its future
        // waits for nothing, and the context woke the step).
        let mut caught = std::pin::pin!(caught);
        let watched = std::future::poll_fn(|cx| match caught.as_mut().poll(cx) {
            Poll::Ready(outcome) => Poll::Ready(Ok(outcome)),
            Poll::Pending => match F::fault(&probe) {
                Some(fault) => Poll::Ready(Err(Failure::Error(Box::new(fault)))),
                None => Poll::Pending,
            },
        });
        let outcome = match timer {
            None => watched.await?,
            Some((_, None)) => return Err(Failure::Internal("a step's timer is missing")),
            Some((limit, Some(sleep))) => {
                let watched = std::pin::pin!(watched);
                match futures_util::future::select(watched, sleep).await {
                    Either::Left((outcome, _)) => outcome?,
                    Either::Right(((), _)) => return Err(Failure::TimedOut(limit)),
                }
            }
        };
        match outcome {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(error)) => Err(Failure::Error(error.into())),
            Err(panic) => Err(Failure::panic(panic)),
        }
    }
}

/// The interceptors' scopes for one attempt: the job's, then the step's.
fn scopes(topology: &Topology, options: &StepOptions, index: usize, attempt: u32) -> Scopes {
    if topology.interceptors.is_empty() && options.interceptors.is_empty() {
        return Scopes::none();
    }
    let step = topology.step_name(index);
    scopes_of(topology, &options.interceptors, &step, attempt)
}

/// The interceptors' scopes for attempt `attempt` of `step` (a step, or a map's item): the
/// job's, then `own`.
fn scopes_of(topology: &Topology, own: &Interceptors, step: &str, attempt: u32) -> Scopes {
    if topology.interceptors.is_empty() && own.is_empty() {
        return Scopes::none();
    }
    let job_id = context::job_id().unwrap_or_else(|| JobId::new(""));
    let context = StepContext {
        job: &topology.name,
        job_id: &job_id,
        step,
        attempt,
    };
    let mut scopes = topology.interceptors.scopes(&context);
    scopes.extend(own.scopes(&context));
    scopes
}

/// The error of a step whose parents' outputs cannot be read: a bug of asyncjob's, reported
/// against the step rather than by a panic.
fn missing_output(topology: &Topology, index: usize) -> JobError {
    let message = "a dependency's output is missing";
    JobError::internal(&topology.name, &topology.step_name(index), message)
}

/// The ends of a step's dependencies, as the run knows them (read while the driver polls).
/// `base`: where the step's definition begins in the run (a dependency's index is its
/// definition's, see [`StepDef::instantiate`]).
struct RunEnds {
    base: usize,
}

impl Ends for RunEnds {
    fn error_of(&self, index: usize) -> Option<JobError> {
        context::error_of(self.base + index)
    }
}

/// The error of a step whose input cannot be read (a sub-job's entry without an output): a bug
/// of asyncjob's, as [`missing_output`].
fn missing_input(topology: &Topology, index: usize) -> JobError {
    let message = "a sub-job's input is missing";
    JobError::internal(&topology.name, &topology.step_name(index), message)
}

/// No dependency's end is known: a plain step takes no dependency whatever its outcome.
struct NoEnds;

impl Ends for NoEnds {
    fn error_of(&self, _: usize) -> Option<JobError> {
        None
    }
}

/// Takes a permit of each limit of `acquire`, in order; `waiting(limit)` is called each time
/// it starts waiting for one. `Err` with the name of a limit that has no permits at all.
pub(crate) async fn take_permits(
    mut acquire: AcquireAll,
    mut waiting: impl FnMut(usize, &Arc<str>),
) -> Result<Vec<Permit>, Arc<str>> {
    std::future::poll_fn(|cx| {
        let mut newly = false;
        match acquire.poll_acquire(cx, &mut newly) {
            Acquired::All(permits) => Poll::Ready(Ok(permits)),
            Acquired::Waiting(position) => {
                if newly {
                    if let Some(limit) = acquire.limits().get(position) {
                        waiting(position, limit.name_arc());
                    }
                }
                Poll::Pending
            }
            Acquired::Empty(position) => {
                let name = acquire
                    .limits()
                    .get(position)
                    .map(|limit| limit.name_arc().clone());
                Poll::Ready(Err(name.unwrap_or_else(|| "".into())))
            }
        }
    })
    .await
}

/// Takes the current step's permits again before a retry (its last attempt gave them back);
/// `Err` if the run was cancelled while it waited, or if a limit has no permits.
async fn reacquire(env: &RunEnv, index: usize, attempt: u32) -> Result<(), JobError> {
    let Some(acquire) = context::acquire() else {
        return Ok(());
    };
    let topology = &*env.topology;
    let taken = take_permits(acquire, |position, _| context::awaiting_permit(position));
    match env.guard(index, taken).await {
        None => Err(env.cancelled_error(index)),
        Some(Ok(permits)) => {
            context::hold(permits);
            Ok(())
        }
        Some(Err(limit)) => {
            let step = topology.step_name(index);
            Err(JobError::no_permits(&topology.name, &step, &limit).after_attempts(attempt))
        }
    }
}

/// Completes after being polled once more: lets the executor run other tasks.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// The future of a step without policy nor interceptor (the common case): one attempt, no clone
/// of the input. Kept apart from [`step_body`] so that its state machine stays small.
async fn plain_body<M, P, I, F, Fut, O, E, C, Fb>(
    captured: P::Captured,
    input: StepInput<M, I>,
    function: Arc<StepFn<F, C, Fb>>,
    env: Arc<RunEnv>,
    index: usize,
) -> StepResult<O>
where
    M: Mode,
    P: Parents<M>,
    I: Clone + 'static,
    F: Fn(I, P::Output) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    // A step that has started is called once: its attempts count its calls. (The driver does
    // not start a step once a cancellation is under way.)
    let topology = &*env.topology;
    let input = input.take().ok_or_else(|| missing_input(topology, index))?;
    let args = P::read(&captured, &NoEnds).ok_or_else(|| missing_output(topology, index))?;
    drop(captured);
    let called = std::panic::catch_unwind(AssertUnwindSafe(|| (function.function)(input, args)));
    let failure = match called {
        Ok(future) => match env
            .guard(index, AssertUnwindSafe(future).catch_unwind())
            .await
        {
            Some(Ok(Ok(output))) => return Ok(output),
            Some(Ok(Err(error))) => Failure::Error(error.into()),
            Some(Err(panic)) => Failure::panic(panic),
            None => return Err(env.cancelled_error(index)),
        },
        Err(panic) => Failure::panic(panic),
    };
    Err(failure.into_error(topology, index, 1))
}

/// The future of one step with execution policies, interceptors, a context, a condition or a
/// fallback (plain steps run [`plain_body`]): check the condition, read the parents' outputs,
/// call the function, await it, retry under the step's policy, turn errors, panics and timeouts
/// into a [`JobError`] naming the step, and fall back if the step has a fallback.
async fn step_body<M, P, I, F, Fut, O, E, C, Fb>(
    captured: P::Captured,
    input: StepInput<M, I>,
    function: Arc<StepFn<F, C, Fb>>,
    env: Arc<RunEnv>,
    (index, base): (usize, usize),
) -> StepResult<O>
where
    M: Mode,
    P: Parents<M>,
    I: Clone + 'static,
    F: Call<I, P::Output, Future = Fut>,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
    C: Condition<I, P::Output>,
    Fb: Fallback<O>,
{
    let topology = &*env.topology;
    let input = input.take().ok_or_else(|| missing_input(topology, index))?;
    let ends = RunEnds { base };
    if C::PRESENT {
        let args = P::read(&captured, &ends).ok_or_else(|| missing_output(topology, index))?;
        let holds =
            std::panic::catch_unwind(AssertUnwindSafe(|| function.condition.holds(&input, &args)));
        match holds {
            Ok(true) => {}
            Ok(false) => {
                return Err(JobError::omitted(
                    &topology.name,
                    &topology.step_name(index),
                ));
            }
            Err(panic) => return Err(Failure::panic(panic).into_error(topology, index, 0)),
        }
    }
    let error = match attempts::<M, P, I, F, Fut, O, E, C, Fb>(
        &captured, input, &function, &env, &ends, index,
    )
    .await
    {
        Ok(output) => return Ok(output),
        Err(Stop::Final(error)) => return Err(error),
        Err(Stop::Failed(error)) if Fb::PRESENT => error,
        Err(Stop::Failed(error)) => return Err(error),
    };
    drop(captured);
    let recovered =
        std::panic::catch_unwind(AssertUnwindSafe(|| function.fallback.recover(&error)));
    match recovered {
        Ok(Some(output)) => {
            if context::recovered(error) {
                Ok(output)
            } else {
                let failure = Failure::Internal("a step's fallback ran outside its run");
                Err(failure.into_error(topology, index, 1))
            }
        }
        Ok(None) => Err(error),
        Err(panic) => {
            let message = format!("its fallback panicked: {}", crate::panic::describe(&*panic));
            crate::panic::drop_quietly(panic);
            let step = topology.step_name(index);
            Err(JobError::panicked(&topology.name, &step, message).after_attempts(error.attempts()))
        }
    }
}

/// Why a step's attempts stopped without an output.
enum Stop {
    /// The last attempt failed: a fallback may recover.
    Failed(JobError),
    /// The run was cancelled, or asyncjob broke its own rules: no fallback.
    Final(JobError),
}

/// The attempts of a step run by [`step_body`]: call the function, await it, retry under the
/// step's policy.
async fn attempts<M, P, I, F, Fut, O, E, C, Fb>(
    captured: &P::Captured,
    input: I,
    function: &StepFn<F, C, Fb>,
    env: &Arc<RunEnv>,
    ends: &RunEnds,
    index: usize,
) -> Result<O, Stop>
where
    M: Mode,
    P: Parents<M>,
    I: Clone,
    F: Call<I, P::Output, Future = Fut>,
    Fut: Future<Output = Result<O, E>>,
    E: Into<BoxError>,
{
    let topology = &*env.topology;
    let options = &function.options;
    let internal = |message, number| {
        Stop::Final(Failure::Internal(message).into_error(topology, index, number))
    };
    let mut number = 1;
    loop {
        // The first attempt is made once the step has started (see `plain_body`); a retry is
        // not made once a cancellation is under way.
        if number > 1 && env.is_cancelled() {
            return Err(Stop::Final(env.cancelled_error(index)));
        }
        if number > 1 {
            reacquire(env, index, number - 1)
                .await
                .map_err(Stop::Final)?;
        }
        if !context::attempt_started(number) {
            return Err(internal("a step with a policy ran outside its run", number));
        }
        let Some(context) = F::context(env, index, number) else {
            return Err(internal(
                "a step with a context ran outside its run",
                number,
            ));
        };
        let args =
            P::read(captured, ends).ok_or_else(|| Stop::Final(missing_output(topology, index)))?;
        let scopes = scopes(topology, options, index, number);
        let attempt = scopes.run(|| {
            let function = &function.function;
            attempt(function, context, input.clone(), args, options.timeout)
        });
        let attempt = Scoped {
            scopes,
            future: std::pin::pin!(attempt),
        };
        let failure = match env.guard(index, attempt).await {
            Some(Ok(output)) => return Ok(output),
            Some(Err(failure)) => failure,
            None => return Err(Stop::Final(env.cancelled_error(index))),
        };
        if failure.is_internal() {
            return Err(Stop::Final(failure.into_error(topology, index, number)));
        }
        let delay = options
            .retry
            .as_ref()
            .and_then(|policy| policy.retry_after(&failure.as_attempt(), number));
        let Some(delay) = delay else {
            return Err(Stop::Failed(failure.into_error(topology, index, number)));
        };
        context::attempt_failed(
            number,
            failure.into_attempt_error(topology, index, number),
            delay,
        );
        if delay.is_zero() {
            // Even without a delay, the next attempt waits for the executor's next turn: a
            // step retried at once, forever, must not starve the rest (a deadline's timer).
            if env.guard(index, yield_now()).await.is_none() {
                return Err(Stop::Final(env.cancelled_error(index)));
            }
        } else {
            let Some(sleep) = context::sleep(delay) else {
                return Err(internal("a step's timer is missing", number));
            };
            if env.guard(index, sleep).await.is_none() {
                return Err(Stop::Final(env.cancelled_error(index)));
            }
        }
        number = number.saturating_add(1);
    }
}

/// The `StepDef` of a step node in one mode: the same body, under the mode's bounds (`Send`
/// ones for [`Sendable`], whose step functions are also `Send + Sync`, as its definitions are)
/// and in the mode's cell; one impl for plain functions, which run the small body unless they
/// have a policy, one for functions that take the step context.
macro_rules! step_def {
    ($mode:ty, send: $send:literal, functions: [$($fn_bounds:tt)*], where $($bounds:tt)*) => {
        impl<I, P, F, Fut, O, E, C, Fb> StepDef<I, $mode> for StepNode<P, F, Fut, O, E, C, Fb>
        where
            F: Fn(I, P::Output) -> Fut + $($fn_bounds)* 'static,
            E: Into<BoxError> + 'static,
            C: Condition<I, P::Output>,
            Fb: Fallback<O>,
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
                let captured = self.parents.capture(cells.get(base..)?)?;
                let needs_context = env.topology.steps.get(index)?.needs_context;
                let (input, function, env) = (input.to_owned(), self.function.clone(), env.clone());
                // Two cell types, one per body: a plain step's state stays small.
                let cell: Arc<<$mode as Sealed>::Cell> = if needs_context {
                    StepCell::<_, O, $send>::new(step_body::<$mode, P, I, F, Fut, O, E, C, Fb>(
                        captured, input, function, env, (index, base),
                    ))
                } else {
                    StepCell::<_, O, $send>::new(plain_body::<$mode, P, I, F, Fut, O, E, C, Fb>(
                        captured, input, function, env, index,
                    ))
                };
                Some(cell)
            }
        }

        impl<I, P, F, Fut, O, E, C, Fb> StepDef<I, $mode>
            for StepNode<P, WithContext<F>, Fut, O, E, C, Fb>
        where
            F: Fn(Ctx, I, P::Output) -> Fut + $($fn_bounds)* 'static,
            E: Into<BoxError> + 'static,
            C: Condition<I, P::Output>,
            Fb: Fallback<O>,
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
                let captured = self.parents.capture(cells.get(base..)?)?;
                let (input, function, env) = (input.to_owned(), self.function.clone(), env.clone());
                let body = step_body::<$mode, P, I, WithContext<F>, Fut, O, E, C, Fb>(
                    captured, input, function, env, (index, base),
                );
                Some(StepCell::<_, O, $send>::new(body))
            }
        }
    };
}

step_def!(Sendable, send: true, functions: [Send + Sync +], where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Clone + Send + Sync + 'static,
);

step_def!(Local, send: false, functions: [], where
    I: Clone + 'static,
    P: Parents<Local>,
    Fut: Future<Output = Result<O, E>> + 'static,
    O: Clone + 'static,
);
