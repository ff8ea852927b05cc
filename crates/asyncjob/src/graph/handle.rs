//! [`StepHandle`]: the typed name of a step's output.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// The typed handle of a step: what later steps name to depend on it, and what gives its
/// output back from an instance ([`JobInstance::output`](crate::JobInstance::output)).
///
/// Handles are tied to the definition they were made by; giving one to another definition is a
/// [`DefinitionErrorKind::ForeignHandle`](crate::DefinitionErrorKind::ForeignHandle) error. Cheap to clone.
pub struct StepHandle<T> {
    definition: u64,
    index: usize,
    name: Arc<str>,
    _output: PhantomData<fn() -> T>,
}

impl<T> StepHandle<T> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The step's position in its definition (the order in which steps were added).
    pub fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn new(definition: u64, index: usize, name: Arc<str>) -> Self {
        StepHandle {
            definition,
            index,
            name,
            _output: PhantomData,
        }
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn definition_id(&self) -> u64 {
        self.definition
    }
}

impl<T> Clone for StepHandle<T> {
    fn clone(&self) -> Self {
        StepHandle {
            definition: self.definition,
            index: self.index,
            name: self.name.clone(),
            _output: PhantomData,
        }
    }
}

impl<T> fmt::Debug for StepHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepHandle")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("output", &std::any::type_name::<T>())
            .finish()
    }
}
