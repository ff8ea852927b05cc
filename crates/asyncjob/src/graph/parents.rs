//! What a step can depend on: one handle, a handle taken as [`optional`] or with
//! [`allow_failure`], a `Vec` of those, or a tuple of any of these, of different types.
//!
//! [`IntoParents`] turns what the caller passes to [`StepBuilder::after`](crate::StepBuilder::after)
//! into a [`Parents`] set, which knows what the step function receives and how to read it from
//! the parents' outputs. [`Dependencies`] is what
//! [`StepBuilder::wait_for`](crate::StepBuilder::wait_for) takes: steps to wait for without their
//! outputs.

use std::fmt;
use std::sync::Arc;

use crate::cell::{ErasedCell, OutputCell};
use crate::error::JobError;
use crate::topology::Edge;

use super::handle::StepHandle;
use crate::mode::{Mode, OutputRef, Sendable};

mod private {
    use std::sync::Arc;

    use crate::topology::Edge;

    pub trait Sealed {}

    /// A reference to one dependency, as seen while validating a step.
    #[derive(Debug)]
    pub struct DepRef<'a> {
        pub(crate) definition: u64,
        pub(crate) index: usize,
        pub(crate) name: &'a Arc<str>,
        pub(crate) edge: Edge,
    }

    /// How the dependencies of a running step ended, for those it takes whatever their
    /// outcome ([`allow_failure`](super::allow_failure)).
    pub trait Ends {
        /// The error of dependency `index`, if it did not succeed.
        fn error_of(&self, index: usize) -> Option<crate::error::JobError>;
    }
}
use private::Sealed;
pub(crate) use private::{DepRef, Ends};

/// Steps to wait for: a handle, a tuple of handles, or a slice or `Vec` of handles; each may be
/// wrapped in [`optional`] or [`allow_failure`].
///
/// Implemented for `&StepHandle<T>`, `StepHandle<T>`, [`Optional<T>`], [`AllowFailure<T>`],
/// `&[H]`, `Vec<H>` and `&Vec<H>` of those, and tuples of up to 8 of any of these. Sealed.
pub trait Dependencies: Sealed {
    #[doc(hidden)]
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>));
}

/// Something [`StepBuilder::after`](crate::StepBuilder::after) accepts as the data dependencies of
/// a step, and what the step function then receives:
///
/// | passed | the step function receives |
/// |---|---|
/// | `&StepHandle<A>` or `StepHandle<A>` | `A` |
/// | [`optional(&a)`](optional) | `Option<A>`: `None` if `a` was omitted |
/// | [`allow_failure(&a)`](allow_failure) | `Result<A, JobError>`: `a`'s output or its error |
/// | `&[H]`, `&Vec<H>` or `Vec<H>`, each `H` one of the three above | a `Vec` of what `H` gives, in order |
/// | a tuple of up to 8 of any of the above, mixed | a tuple of what each gives |
///
/// So `after((&config, &files, allow_failure(&notify)))`, with `files` a `Vec` of handles,
/// gives `(Config, Vec<File>, Result<Sent, JobError>)`. A step may not name the same
/// dependency twice (a [`DuplicateDependency`](crate::DefinitionErrorKind::DuplicateDependency)
/// error), also inside a `Vec`. Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the parents of a step",
    label = "not a step handle, nor a tuple, `Vec` or slice of step handles",
    note = "`after` takes `&StepHandle<T>`, `optional(&h)`, `allow_failure(&h)`, a `Vec` or slice of these, or a tuple of any of them",
    note = "a `Vec` of handles whose type is not inferred yet needs one: `let parts: Vec<StepHandle<u64>> = ...`"
)]
pub trait IntoParents: Dependencies {
    /// The parent set.
    type Parents: Dependencies + Send + Sync + 'static;

    /// Converts into the parent set.
    fn into_parents(self) -> Self::Parents;
}

/// A set of data dependencies, typed, in a given [`Mode`]. Sealed.
pub trait Parents<M: Mode>: Dependencies + Send + Sync + 'static {
    /// What the step function receives.
    type Output;

    /// The parents' outputs, as held by a step instance. An implementation detail.
    #[doc(hidden)]
    type Captured: 'static;

    #[doc(hidden)]
    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured>;

    #[doc(hidden)]
    fn read(captured: &Self::Captured, ends: &dyn Ends) -> Option<Self::Output>;
}

/// A parent set whose captured outputs are `Send + Sync`, as every parent set of `Send + Sync`
/// outputs is. Implemented automatically.
pub trait SendParents: Parents<Sendable, Captured: Send + Sync> {}

impl<P: Parents<Sendable, Captured: Send + Sync>> SendParents for P {}

/// One parent, which a `Vec` can hold: a handle, or a handle taken as optional or with its
/// failure allowed. Sealed.
pub trait Single: IntoParents<Parents = Self> + Clone {}

impl<T: 'static> Single for StepHandle<T> {}
impl<T: 'static> Single for Optional<T> {}
impl<T: 'static> Single for AllowFailure<T> {}

fn capture_one<M: Mode, T: Clone + 'static>(
    handle: &StepHandle<T>,
    cells: &[Arc<M::Cell>],
) -> Option<OutputRef<M, T>> {
    capture_output::<M, T>(cells.get(handle.index())?)
}

/// A handle on the output of `cell`, a step's cell whose output is a `T`; `None` if it is not.
pub(crate) fn capture_output<M: Mode, T: 'static>(cell: &Arc<M::Cell>) -> Option<OutputRef<M, T>> {
    let mut output: Option<OutputRef<M, T>> = None;
    ErasedCell::capture(cell.clone(), &mut output);
    output
}

fn visit_one<T>(handle: &StepHandle<T>, edge: Edge, f: &mut dyn FnMut(DepRef<'_>)) {
    f(DepRef {
        definition: handle.definition_id(),
        index: handle.index(),
        name: handle.name_arc(),
        edge,
    });
}

/// The data dependencies of a step, as [`StepBuilder::after`](crate::StepBuilder::after)
/// takes them: the parent set `P` of what was passed ([`IntoParents::Parents`]).
///
/// A type of its own, so that a step builder with parents is never mistaken for one without:
/// while the type of what was passed is not yet inferred (a `Vec` filled later, say), the
/// compiler still knows which `run` is meant, and asks for the missing type rather than
/// reporting several applicable `run` methods (E0034).
pub struct After<P>(pub(super) P);

impl<P> fmt::Debug for After<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("After").finish_non_exhaustive()
    }
}

impl<P> Sealed for After<P> {}

impl<P: Dependencies> Dependencies for After<P> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        self.0.visit(f);
    }
}

impl<M: Mode, P: Parents<M>> Parents<M> for After<P> {
    type Output = P::Output;
    type Captured = P::Captured;

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        self.0.capture(cells)
    }

    fn read(captured: &Self::Captured, ends: &dyn Ends) -> Option<Self::Output> {
        P::read(captured, ends)
    }
}

// No dependencies: a root step.
impl Sealed for () {}

impl Dependencies for () {
    fn visit(&self, _: &mut dyn FnMut(DepRef<'_>)) {}
}

impl<M: Mode> Parents<M> for () {
    type Output = ();
    type Captured = ();

    fn capture(&self, _: &[Arc<M::Cell>]) -> Option<()> {
        Some(())
    }

    fn read(_: &(), _: &dyn Ends) -> Option<()> {
        Some(())
    }
}

// One handle.
impl<T> Sealed for StepHandle<T> {}
impl<T> Sealed for &StepHandle<T> {}

impl<T> Dependencies for StepHandle<T> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        visit_one(self, Edge::Strict, f);
    }
}

impl<T> Dependencies for &StepHandle<T> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        (**self).visit(f);
    }
}

impl<T: 'static> IntoParents for StepHandle<T> {
    type Parents = StepHandle<T>;

    fn into_parents(self) -> StepHandle<T> {
        self
    }
}

impl<T: 'static> IntoParents for &StepHandle<T> {
    type Parents = StepHandle<T>;

    fn into_parents(self) -> StepHandle<T> {
        self.clone()
    }
}

impl<M: Mode, T: Clone + 'static> Parents<M> for StepHandle<T> {
    type Output = T;
    type Captured = OutputRef<M, T>;

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        capture_one::<M, T>(self, cells)
    }

    fn read(captured: &Self::Captured, _: &dyn Ends) -> Option<T> {
        captured.peek().cloned()
    }
}

/// A dependency taken as optional: made by [`optional`].
pub struct Optional<T>(StepHandle<T>);

/// Takes the step `handle` as an optional dependency: the step function receives
/// `Some(output)` if it succeeded, and `None` if it was
/// [omitted](crate::StepState::Omitted) (its [condition](crate::StepBuilder::when) did not
/// hold), where a plain dependency would omit the step too. A failure of `handle` still skips
/// the step (take it with [`allow_failure`] to run anyway).
///
/// Works in [`after`](crate::StepBuilder::after) (alone, in a `Vec`, in a tuple) and in
/// [`wait_for`](crate::StepBuilder::wait_for) (the step then runs whether `handle` ran or was
/// omitted).
///
/// ```
/// # use asyncjob::{FuturesExecutor, JobBuilder, optional};
/// # type E = std::convert::Infallible;
/// let mut job = JobBuilder::<bool>::new("release");
/// let notes = job.step("notes").when(|&wanted| wanted)
///     .run(|_| async { Ok::<_, E>("notes".to_string()) })?;
/// let publish = job.step("publish").after(optional(&notes))
///     .run(|_, notes: Option<String>| async move { Ok::<_, E>(notes.is_some()) })?;
/// let job = job.seal().with_result(&publish)?;
/// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
/// let run = job.on(pool).start(false);
/// assert!(!futures::executor::block_on(run.result())?);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn optional<T>(handle: &StepHandle<T>) -> Optional<T> {
    Optional(handle.clone())
}

/// A dependency taken whatever its outcome: made by [`allow_failure`].
pub struct AllowFailure<T>(StepHandle<T>);

/// Takes the step `handle` whatever its outcome (Dagger's `Produced<T>`): the step runs once
/// `handle` has ended — succeeded, failed, been skipped or omitted — and its function receives
/// `Ok(output)` or `Err(error)`, the error naming `handle` (of kind
/// [`Omitted`](crate::JobErrorKind::Omitted) if it was omitted).
///
/// A step whose every dependent takes it this way is best-effort: its failure does not fail
/// the job (the job's [`wait`](crate::JobInstance::wait) is `Ok`, fail-fast is not triggered),
/// though the step itself still ends [`Failed`](crate::StepState::Failed) and
/// [`output_of`](crate::JobInstance::output_of) gives its error. Cancellation still ends
/// everything.
///
/// Works in [`after`](crate::StepBuilder::after) (alone, in a `Vec`, in a tuple) and in
/// [`wait_for`](crate::StepBuilder::wait_for) (the step then runs after `handle`, whatever
/// became of it).
///
/// ```
/// # use asyncjob::{FuturesExecutor, JobBuilder, JobError, allow_failure};
/// let mut job = JobBuilder::<()>::new("release");
/// let notify = job.step("notify").run(|_| async { Err::<(), _>("smtp is down") })?;
/// let report = job.step("report").after(allow_failure(&notify))
///     .run(|_, sent: Result<(), JobError>| async move {
///         Ok::<_, std::convert::Infallible>(if sent.is_ok() { "sent" } else { "not sent" })
///     })?;
/// let job = job.seal().with_result(&report)?;
/// # let pool = FuturesExecutor::new(futures::executor::ThreadPool::new().unwrap());
/// let run = job.on(pool).start(());
/// assert_eq!(futures::executor::block_on(run.result())?, "not sent");
/// futures::executor::block_on(run.wait())?; // notify's failure is allowed
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn allow_failure<T>(handle: &StepHandle<T>) -> AllowFailure<T> {
    AllowFailure(handle.clone())
}

macro_rules! wrapper {
    ($wrapper:ident, $edge:expr) => {
        impl<T> Clone for $wrapper<T> {
            fn clone(&self) -> Self {
                $wrapper(self.0.clone())
            }
        }

        impl<T> fmt::Debug for $wrapper<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($wrapper)).field(&self.0).finish()
            }
        }

        impl<T> Sealed for $wrapper<T> {}

        impl<T> Dependencies for $wrapper<T> {
            fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
                visit_one(&self.0, $edge, f);
            }
        }

        impl<T: 'static> IntoParents for $wrapper<T> {
            type Parents = Self;

            fn into_parents(self) -> Self {
                self
            }
        }
    };
}

wrapper!(Optional, Edge::Optional);
wrapper!(AllowFailure, Edge::Tolerant);

impl<M: Mode, T: Clone + 'static> Parents<M> for Optional<T> {
    type Output = Option<T>;
    type Captured = OutputRef<M, T>;

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        capture_one::<M, T>(&self.0, cells)
    }

    fn read(captured: &Self::Captured, _: &dyn Ends) -> Option<Option<T>> {
        // The step runs with this dependency ended: succeeded (its output is there) or
        // omitted (a failure would have skipped the step).
        Some(captured.peek().cloned())
    }
}

impl<M: Mode, T: Clone + 'static> Parents<M> for AllowFailure<T> {
    type Output = Result<T, JobError>;
    type Captured = (usize, OutputRef<M, T>);

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        Some((self.0.index(), capture_one::<M, T>(&self.0, cells)?))
    }

    fn read((index, output): &Self::Captured, ends: &dyn Ends) -> Option<Result<T, JobError>> {
        match output.peek() {
            Some(value) => Some(Ok(value.clone())),
            None => ends.error_of(*index).map(Err),
        }
    }
}

// A vector of single parents of one type.
impl<H> Sealed for Vec<H> {}
impl<H> Sealed for &Vec<H> {}
impl<H> Sealed for &[H] {}

impl<H: Dependencies> Dependencies for Vec<H> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        self.as_slice().visit(f);
    }
}

impl<H: Dependencies> Dependencies for &Vec<H> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        self.as_slice().visit(f);
    }
}

impl<H: Dependencies> Dependencies for &[H] {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        for handle in self.iter() {
            handle.visit(f);
        }
    }
}

impl<H: Single + Send + Sync + 'static> IntoParents for Vec<H> {
    type Parents = Vec<H>;

    fn into_parents(self) -> Self::Parents {
        self
    }
}

impl<H: Single + Send + Sync + 'static> IntoParents for &Vec<H> {
    type Parents = Vec<H>;

    fn into_parents(self) -> Self::Parents {
        self.clone()
    }
}

impl<H: Single + Send + Sync + 'static> IntoParents for &[H] {
    type Parents = Vec<H>;

    fn into_parents(self) -> Self::Parents {
        self.to_vec()
    }
}

impl<M: Mode, H: Single + Parents<M>> Parents<M> for Vec<H> {
    type Output = Vec<H::Output>;
    type Captured = Vec<H::Captured>;

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        self.iter().map(|parent| parent.capture(cells)).collect()
    }

    fn read(captured: &Self::Captured, ends: &dyn Ends) -> Option<Self::Output> {
        captured.iter().map(|one| H::read(one, ends)).collect()
    }
}

// Tuples of any of the above, of different types.
macro_rules! tuples {
    ($( ($($T:ident $h:ident),+) )+) => {$(
        impl<$($T: Sealed),+> Sealed for ($($T,)+) {}

        impl<$($T: Dependencies),+> Dependencies for ($($T,)+) {
            fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
                let ($($h,)+) = self;
                $( $h.visit(f); )+
            }
        }

        impl<$($T: IntoParents),+> IntoParents for ($($T,)+) {
            type Parents = ($($T::Parents,)+);

            fn into_parents(self) -> Self::Parents {
                let ($($h,)+) = self;
                ($($h.into_parents(),)+)
            }
        }

        impl<M: Mode, $($T: Parents<M>),+> Parents<M> for ($($T,)+) {
            type Output = ($($T::Output,)+);
            type Captured = ($($T::Captured,)+);

            fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
                let ($($h,)+) = self;
                Some(($($h.capture(cells)?,)+))
            }

            fn read(captured: &Self::Captured, ends: &dyn Ends) -> Option<Self::Output> {
                let ($($h,)+) = captured;
                Some(($($T::read($h, ends)?,)+))
            }
        }
    )+};
}

tuples! {
    (A a)
    (A a, B b)
    (A a, B b, C c)
    (A a, B b, C c, D d)
    (A a, B b, C c, D d, E e)
    (A a, B b, C c, D d, E e, F f)
    (A a, B b, C c, D d, E e, F f, G g)
    (A a, B b, C c, D d, E e, F f, G g, H h)
}
