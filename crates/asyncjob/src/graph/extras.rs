//! What a step may have beyond its function, typed by what it applies to: a condition
//! ([`StepBuilder::when`](crate::StepBuilder::when)) and a fallback
//! ([`StepBuilder::fallback`](crate::StepBuilder::fallback)). They are type parameters of the
//! [`StepBuilder`](crate::StepBuilder), so a step without them pays nothing, and a condition or
//! fallback of the wrong type does not compile.

use crate::error::JobError;

mod private {
    pub trait Sealed {}
}
use private::Sealed;

/// A step's condition over its input `I` and its parents' outputs `A`: [`Always`] (none),
/// [`WhenInput`] or [`When`]. Sealed.
#[diagnostic::on_unimplemented(
    message = "the step's condition does not take the step's input and parents",
    label = "a condition for other arguments",
    note = "a root step's condition is `|input| ..`; a step with parents' is `|input, parents| ..`, \
            over references; call `when` after `after`"
)]
pub trait Condition<I, A>: Sealed + Send + Sync + 'static {
    /// `false` for [`Always`].
    #[doc(hidden)]
    const PRESENT: bool;

    /// Whether the step should run.
    #[doc(hidden)]
    fn holds(&self, input: &I, args: &A) -> bool;
}

/// No condition: the step runs once its dependencies allow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Always;

/// The condition of a root step, over the job input: made by
/// [`StepBuilder::when`](crate::StepBuilder::when).
#[derive(Debug, Clone, Copy)]
pub struct WhenInput<G>(pub(crate) G);

/// The condition of a step with parents, over the job input and the parents' outputs: made by
/// [`StepBuilder::when`](crate::StepBuilder::when).
#[derive(Debug, Clone, Copy)]
pub struct When<G>(pub(crate) G);

impl Sealed for Always {}
impl<G> Sealed for WhenInput<G> {}
impl<G> Sealed for When<G> {}

impl<I, A> Condition<I, A> for Always {
    const PRESENT: bool = false;

    fn holds(&self, _: &I, _: &A) -> bool {
        true
    }
}

impl<I, G> Condition<I, ()> for WhenInput<G>
where
    G: Fn(&I) -> bool + Send + Sync + 'static,
{
    const PRESENT: bool = true;

    fn holds(&self, input: &I, (): &()) -> bool {
        (self.0)(input)
    }
}

impl<I, A, G> Condition<I, A> for When<G>
where
    G: Fn(&I, &A) -> bool + Send + Sync + 'static,
{
    const PRESENT: bool = true;

    fn holds(&self, input: &I, args: &A) -> bool {
        (self.0)(input, args)
    }
}

/// A step's fallback for its output `O`: [`NoFallback`] or [`FallbackWith`]. Sealed.
#[diagnostic::on_unimplemented(
    message = "the step's fallback does not return the step's output type `{O}`",
    label = "a fallback of another type",
    note = "a fallback is `|error: &JobError| value`, with `value` of the type the step's function returns"
)]
pub trait Fallback<O>: Sealed + Send + Sync + 'static {
    /// `false` for [`NoFallback`].
    #[doc(hidden)]
    const PRESENT: bool;

    /// The output that replaces the failed step's, if there is a fallback.
    #[doc(hidden)]
    fn recover(&self, error: &JobError) -> Option<O>;
}

/// No fallback: a failed step fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

/// A fallback: made by [`StepBuilder::fallback`](crate::StepBuilder::fallback).
#[derive(Debug, Clone, Copy)]
pub struct FallbackWith<G>(pub(crate) G);

impl Sealed for NoFallback {}
impl<G> Sealed for FallbackWith<G> {}

impl<O> Fallback<O> for NoFallback {
    const PRESENT: bool = false;

    fn recover(&self, _: &JobError) -> Option<O> {
        None
    }
}

impl<O, G> Fallback<O> for FallbackWith<G>
where
    G: Fn(&JobError) -> O + Send + Sync + 'static,
{
    const PRESENT: bool = true;

    fn recover(&self, error: &JobError) -> Option<O> {
        Some((self.0)(error))
    }
}
