//! `try_run`: [`StepBuilder::run`] and [`MapBuilder::run`] with the error type fixed to
//! [`BoxError`], so that a step function needs no annotation.
//!
//! `run` takes any error type `E: Into<BoxError>`, which is what a function returning its own
//! `Result<T, MyError>` wants — but an `async` block ending in `Ok(value)` names no error type,
//! and rustc cannot pick one (E0283, "type annotations needed"). `try_run` names it: `Ok(value)`
//! is a `Result<T, BoxError>`, and `?` converts any `std::error::Error + Send + Sync` (and
//! `String`, `&str`) into it.

use std::future::Future;

use crate::error::{BoxError, DefinitionError};
use crate::mode::{Local, Sendable};

use super::builder::{NoParents, StepBuilder, StepHandle};
use super::extras::{Condition, Fallback};
use super::map::{Gather, ItemKey, MapBuilder};
use super::parents::{Parents, SendParents};

impl<I, C, Fb> StepBuilder<'_, I, Sendable, NoParents, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    C: Condition<I, ()>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]: neither an
    /// infallible step (`Ok(value)`) nor a step using `?` on errors of several types needs a
    /// type annotation.
    ///
    /// ```
    /// # use asyncjob::JobBuilder;
    /// let mut job = JobBuilder::<String>::new("parse");
    /// let trimmed = job.step("trim").try_run(|text| async move { Ok(text.trim().to_owned()) })?;
    /// let number = job.step("number").after(&trimmed).try_run(|_, text| async move {
    ///     let n: u32 = text.parse()?; // a ParseIntError, boxed
    ///     if n == 0 {
    ///         return Err("zero".into());
    ///     }
    ///     Ok(n)
    /// })?;
    /// # let _ = number;
    /// # Ok::<_, asyncjob::DefinitionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn try_run<F, Fut, O>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, BoxError>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        Fb: Fallback<O>,
    {
        self.run(function)
    }
}

impl<I, P, C, Fb> StepBuilder<'_, I, Sendable, P, C, Fb>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    C: Condition<I, P::Output>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]: see the root
    /// steps' [`try_run`](StepBuilder::try_run).
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn try_run<F, Fut, O>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I, P::Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, BoxError>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        Fb: Fallback<O>,
    {
        self.run(function)
    }
}

impl<I, C, Fb> StepBuilder<'_, I, Local, NoParents, C, Fb>
where
    I: Clone + 'static,
    C: Condition<I, ()>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]; the function (which may
    /// capture an `Rc`), its future and `O` need not be `Send`. See the [`Sendable`] mode's
    /// `try_run`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn try_run<F, Fut, O>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I) -> Fut + 'static,
        Fut: Future<Output = Result<O, BoxError>> + 'static,
        O: Clone + 'static,
        Fb: Fallback<O>,
    {
        self.run(function)
    }
}

impl<I, P, C, Fb> StepBuilder<'_, I, Local, P, C, Fb>
where
    I: Clone + 'static,
    P: Parents<Local>,
    C: Condition<I, P::Output>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]; the function (which may
    /// capture an `Rc`), its future and `O` need not be `Send`. See the [`Sendable`] mode's
    /// `try_run`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn try_run<F, Fut, O>(self, function: F) -> Result<StepHandle<O>, DefinitionError>
    where
        F: Fn(I, P::Output) -> Fut + 'static,
        Fut: Future<Output = Result<O, BoxError>> + 'static,
        O: Clone + 'static,
        Fb: Fallback<O>,
    {
        self.run(function)
    }
}

impl<I, C, K, G: Gather, W: Condition<I, C>, Fb> MapBuilder<'_, I, Sendable, C, K, G, W, Fb>
where
    I: Clone + Send + Sync + 'static,
    C: IntoIterator + Clone + Send + Sync + 'static,
    C::Item: Clone + Send + 'static,
    K: ItemKey<C::Item>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]: see
    /// [`StepBuilder::try_run`].
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub fn try_run<F, Fut, O>(
        self,
        function: F,
    ) -> Result<StepHandle<G::Output<O>>, DefinitionError>
    where
        F: Fn(I, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, BoxError>> + Send + 'static,
        O: Clone + Send + Sync + 'static,
        G::Output<O>: Send + Sync,
        Fb: Fallback<G::Output<O>>,
    {
        self.run(function)
    }
}

impl<I, C, K, G: Gather, W: Condition<I, C>, Fb> MapBuilder<'_, I, Local, C, K, G, W, Fb>
where
    I: Clone + 'static,
    C: IntoIterator + Clone + 'static,
    C::Item: Clone + 'static,
    K: ItemKey<C::Item>,
{
    /// As [`run`](Self::run), for a function whose error is a [`BoxError`]; the function (which may
    /// capture an `Rc`), its future and `O` need not be `Send`.
    ///
    /// # Errors
    ///
    /// As for [`StepBuilder::run`].
    pub fn try_run<F, Fut, O>(
        self,
        function: F,
    ) -> Result<StepHandle<G::Output<O>>, DefinitionError>
    where
        F: Fn(I, C::Item) -> Fut + 'static,
        Fut: Future<Output = Result<O, BoxError>> + 'static,
        O: Clone + 'static,
        Fb: Fallback<G::Output<O>>,
    {
        self.run(function)
    }
}
