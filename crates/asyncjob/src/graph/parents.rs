//! What a step can depend on: one handle, a tuple of handles of different types, or a `Vec` of
//! handles of one type.
//!
//! [`IntoParents`] turns what the caller passes to [`StepBuilder::after`](crate::StepBuilder::after)
//! into a [`Parents`] set, which knows what the step function receives and how to read it from
//! the parents' `Shared` outputs. [`Dependencies`] is what
//! [`StepBuilder::wait_for`](crate::StepBuilder::wait_for) takes: steps to wait for without their
//! outputs.

use std::sync::Arc;

use crate::cell::{ErasedCell, OutputCell};

use super::handle::StepHandle;
use crate::mode::{Mode, OutputRef, Sendable};

mod private {
    use std::sync::Arc;

    pub trait Sealed {}

    /// A reference to one dependency, as seen while validating a step.
    #[derive(Debug)]
    pub struct DepRef<'a> {
        pub(crate) definition: u64,
        pub(crate) index: usize,
        pub(crate) name: &'a Arc<str>,
    }
}
pub(crate) use private::DepRef;
use private::Sealed;

/// Steps to wait for: a handle, a tuple of handles, or a slice or `Vec` of handles.
///
/// Implemented for `&StepHandle<T>`, `StepHandle<T>`, tuples of up to 8 of those (of any output
/// types), `&[StepHandle<T>]`, `Vec<StepHandle<T>>` and `&Vec<StepHandle<T>>`. Sealed.
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
/// | `(&StepHandle<A>, &StepHandle<B>, …)` (up to 8) | `(A, B, …)` |
/// | `&[StepHandle<A>]`, `&Vec<StepHandle<A>>` or `Vec<StepHandle<A>>` | `Vec<A>`, in order |
///
/// Sealed.
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

    /// The parents' `Shared` outputs, as held by a step instance. An implementation detail.
    #[doc(hidden)]
    type Captured: 'static;

    #[doc(hidden)]
    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured>;

    #[doc(hidden)]
    fn read(captured: &Self::Captured) -> Option<Self::Output>;
}

/// A parent set whose captured outputs are `Send + Sync`, as every parent set of `Send + Sync`
/// outputs is. Implemented automatically.
pub trait SendParents: Parents<Sendable, Captured: Send + Sync> {}

impl<P: Parents<Sendable, Captured: Send + Sync>> SendParents for P {}

fn capture_one<M: Mode, T: Clone + 'static>(
    handle: &StepHandle<T>,
    cells: &[Arc<M::Cell>],
) -> Option<OutputRef<M, T>> {
    let cell = cells.get(handle.index())?.clone();
    let mut output: Option<OutputRef<M, T>> = None;
    ErasedCell::capture(cell, &mut output);
    output
}

fn read_one<M: Mode, T: Clone + 'static>(output: &OutputRef<M, T>) -> Option<T> {
    output.peek().cloned()
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

    fn read(_: &()) -> Option<()> {
        Some(())
    }
}

// One handle.
impl<T> Sealed for StepHandle<T> {}
impl<T> Sealed for &StepHandle<T> {}

impl<T> Dependencies for StepHandle<T> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        f(DepRef {
            definition: self.definition_id(),
            index: self.index(),
            name: self.name_arc(),
        });
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

    fn read(captured: &Self::Captured) -> Option<T> {
        read_one::<M, T>(captured)
    }
}

// A vector of handles of one type.
impl<T> Sealed for Vec<StepHandle<T>> {}
impl<T> Sealed for &Vec<StepHandle<T>> {}
impl<T> Sealed for &[StepHandle<T>] {}

impl<T> Dependencies for Vec<StepHandle<T>> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        self.as_slice().visit(f);
    }
}

impl<T> Dependencies for &Vec<StepHandle<T>> {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        self.as_slice().visit(f);
    }
}

impl<T> Dependencies for &[StepHandle<T>] {
    fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
        for handle in self.iter() {
            handle.visit(f);
        }
    }
}

impl<T: 'static> IntoParents for Vec<StepHandle<T>> {
    type Parents = Vec<StepHandle<T>>;

    fn into_parents(self) -> Self::Parents {
        self
    }
}

impl<T: 'static> IntoParents for &Vec<StepHandle<T>> {
    type Parents = Vec<StepHandle<T>>;

    fn into_parents(self) -> Self::Parents {
        self.clone()
    }
}

impl<T: 'static> IntoParents for &[StepHandle<T>] {
    type Parents = Vec<StepHandle<T>>;

    fn into_parents(self) -> Self::Parents {
        self.to_vec()
    }
}

impl<M: Mode, T: Clone + 'static> Parents<M> for Vec<StepHandle<T>> {
    type Output = Vec<T>;
    type Captured = Vec<OutputRef<M, T>>;

    fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
        self.iter()
            .map(|handle| capture_one::<M, T>(handle, cells))
            .collect()
    }

    fn read(captured: &Self::Captured) -> Option<Vec<T>> {
        captured.iter().map(read_one::<M, T>).collect()
    }
}

// Tuples of handles, of different types.
macro_rules! tuples {
    ($( ($($T:ident $h:ident),+) )+) => {$(
        impl<$($T),+> Sealed for ($(StepHandle<$T>,)+) {}
        impl<$($T),+> Sealed for ($(&StepHandle<$T>,)+) {}

        impl<$($T),+> Dependencies for ($(StepHandle<$T>,)+) {
            fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
                let ($($h,)+) = self;
                $( $h.visit(f); )+
            }
        }

        impl<$($T),+> Dependencies for ($(&StepHandle<$T>,)+) {
            fn visit(&self, f: &mut dyn FnMut(DepRef<'_>)) {
                let ($($h,)+) = self;
                $( $h.visit(f); )+
            }
        }

        impl<$($T: 'static),+> IntoParents for ($(StepHandle<$T>,)+) {
            type Parents = Self;

            fn into_parents(self) -> Self {
                self
            }
        }

        impl<$($T: 'static),+> IntoParents for ($(&StepHandle<$T>,)+) {
            type Parents = ($(StepHandle<$T>,)+);

            fn into_parents(self) -> Self::Parents {
                let ($($h,)+) = self;
                ($($h.clone(),)+)
            }
        }

        impl<M: Mode, $($T: Clone + 'static),+> Parents<M> for ($(StepHandle<$T>,)+) {
            type Output = ($($T,)+);
            type Captured = ($(OutputRef<M, $T>,)+);

            fn capture(&self, cells: &[Arc<M::Cell>]) -> Option<Self::Captured> {
                let ($($h,)+) = self;
                Some(($(capture_one::<M, $T>($h, cells)?,)+))
            }

            fn read(captured: &Self::Captured) -> Option<Self::Output> {
                let ($($h,)+) = captured;
                Some(($(read_one::<M, $T>($h)?,)+))
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
