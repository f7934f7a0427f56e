//! Per-run extensions: typed values an embedder attaches to one run so that its own native
//! functions can reach them (e.g. the runner's script-metrics collector), without any
//! global state shared between concurrent runs.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A set of values keyed by their type, attached to a run with
/// [`RunOptions::extensions`](crate::RunOptions::extensions) and read by native functions
/// with [`run_extension`](crate::run_extension).
///
/// ```
/// use rex_core::RunExtensions;
///
/// #[derive(Debug, PartialEq)]
/// struct Budget(u32);
///
/// let mut ext = RunExtensions::new();
/// ext.insert(Budget(3));
/// assert_eq!(ext.get::<Budget>().as_deref(), Some(&Budget(3)));
/// assert!(ext.get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct RunExtensions {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl RunExtensions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `value`, replacing any earlier value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// The value of type `T`, if one is attached.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| Arc::clone(v).downcast::<T>().ok())
    }

    /// Whether no value is attached.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for RunExtensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunExtensions")
            .field("len", &self.values.len())
            .finish()
    }
}
