//! The [`StepBuilder`] methods that add a step whose function takes the [`StepContext`]. They
//! live in the step layer, beside the context, because the graph layer below does not know it.

use std::future::Future;

use crate::error::{BoxError, DefinitionError};
use crate::graph::builder::{NoParents, StepBuilder, StepHandle, StepNode};
use crate::graph::extras::{Condition, Fallback};
use crate::graph::parents::{Parents, SendParents};
use crate::mode::{Local, Sendable};

use super::WithContext;
use super::step_context::StepContext;

impl<'a, I, C, Fb> StepBuilder<'a, I, Sendable, NoParents, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    C: Condition<I, ()>,
{
    /// As [`run`](Self::run), for a function that also takes the step's [`StepContext`], first:
    /// `|ctx, input| async move { .. }`. A new context is given to every attempt. Steps added
    /// with `run` are unchanged and pay nothing for this.
    ///
    /// ```
    /// # use asyncjob::{JobBuilder, StepContext};
    /// let mut job = JobBuilder::<u32>::new("named");
    /// let who = job
    ///     .step("who")
    ///     .run_with_context(|ctx: StepContext, n| async move {
    ///         Ok::<_, String>(format!("{}/{} #{} got {n}", ctx.job(), ctx.step(), ctx.attempt()))
    ///     })?;
    /// # let _ = who;
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn run_with_context<F, Fut, O, E>(
        self,
        function: F,
    ) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(StepContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = WithContext(move |ctx, input: I, (): ()| function(ctx, input));
        self.without_parents()
            .finish_step(true, |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            })
    }
}

impl<'a, I, P, C, Fb> StepBuilder<'a, I, Sendable, P, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    C: Condition<I, P::Output>,
{
    /// As [`run`](Self::run), for a function that also takes the step's [`StepContext`], first:
    /// `|ctx, input, parents| async move { .. }`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn run_with_context<F, Fut, O, E>(
        self,
        function: F,
    ) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(StepContext, I, P::Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = WithContext(function);
        self.finish_step(true, |parents, options, condition, fallback| {
            Box::new(StepNode::new(
                parents, function, options, condition, fallback,
            ))
        })
    }
}

impl<'a, I, C, Fb> StepBuilder<'a, I, Local, NoParents, C, Fb>
where
    I: Clone + 'static,
    C: Condition<I, ()>,
{
    /// As [`run`](Self::run), for a function that also takes the step's [`StepContext`], first; the
    /// function (which may capture an `Rc`), its future and `O` need not be `Send`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn run_with_context<F, Fut, O, E>(
        self,
        function: F,
    ) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(StepContext, I) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = WithContext(move |ctx, input: I, (): ()| function(ctx, input));
        self.without_parents()
            .finish_step(true, |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            })
    }
}

impl<'a, I, P, C, Fb> StepBuilder<'a, I, Local, P, C, Fb>
where
    I: Clone + 'static,
    P: Parents<Local>,
    C: Condition<I, P::Output>,
{
    /// As [`run`](Self::run), for a function that also takes the step's [`StepContext`], first; the
    /// function (which may capture an `Rc`), its future and `O` need not be `Send`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn run_with_context<F, Fut, O, E>(
        self,
        function: F,
    ) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(StepContext, I, P::Output) -> Fut + 'static,
        Fut: Future<Output = Result<O, E>> + 'static,
        O: Clone + 'static,
        E: Into<BoxError> + 'static,
        Fb: Fallback<O>,
    {
        let function = WithContext(function);
        self.finish_step(true, |parents, options, condition, fallback| {
            Box::new(StepNode::new(
                parents, function, options, condition, fallback,
            ))
        })
    }
}
