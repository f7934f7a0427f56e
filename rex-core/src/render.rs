//! Bounded walks over script values (issue 19): a closure stored in the array it captures
//! makes a cycle through a shared value, and a chain of shared values can fan out without
//! bound. Every recursive walk over a [`Dynamic`] that Rex performs (rendering the final
//! value, its JSON form, `to_json`, `to_string`/`to_debug`/`debug` of arrays, maps and
//! function pointers) first asks [`check_value`], which never recurses deeper than
//! [`MAX_VALUE_DEPTH`] and visits at most [`MAX_VALUE_NODES`] values.

use rhai::{Array, Blob, Dynamic, FnPtr, ImmutableString, Map};

/// Deepest nesting of arrays, maps and curried function pointers a value may have to be
/// rendered (a top-level value is depth 0). Rendering runs on the run's large stack
/// ([`crate::Limits::stack_size`]), where this depth is safe.
pub const MAX_VALUE_DEPTH: usize = 1024;

/// Most values (elements, entries, curried arguments, counted with repetition) a rendering
/// may visit.
pub const MAX_VALUE_NODES: usize = 1_000_000;

/// Most bytes of text (strings, map keys, BLOBs) a rendering may visit, counted with
/// repetition: a string shared by many elements counts once per element.
pub const MAX_VALUE_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Why a value cannot be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    /// The value contains itself (a cycle through a shared value, e.g. a closure stored in the
    /// array it captures).
    #[error("the value contains itself (a cycle through a shared value)")]
    Cyclic,
    /// The value refers to a shared value that is locked right now, i.e. being modified by
    /// the operation in progress (`a.to_json()` where `a` holds a closure that captures
    /// `a`): a cycle through the receiver. Serde would wait for the lock forever.
    #[error("the value refers to a shared value that is being modified (a cycle through it)")]
    Locked,
    /// The value is nested deeper than [`MAX_VALUE_DEPTH`].
    #[error("the value is nested deeper than {MAX_VALUE_DEPTH} levels")]
    TooDeep,
    /// Rendering would visit more than [`MAX_VALUE_NODES`] values or
    /// [`MAX_VALUE_TEXT_BYTES`] bytes.
    #[error(
        "the value is too large to render (over {MAX_VALUE_NODES} elements or {MAX_VALUE_TEXT_BYTES} bytes)"
    )]
    TooLarge,
}

struct Walk {
    /// Addresses of the shared cells on the current path (a cycle revisits one).
    path: Vec<*const Dynamic>,
    nodes: usize,
    bytes: usize,
}

impl Walk {
    fn count(&mut self, bytes: usize) -> Result<(), ValueProblem> {
        self.nodes = self.nodes.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_VALUE_NODES || self.bytes > MAX_VALUE_TEXT_BYTES {
            return Err(ValueProblem::TooLarge);
        }
        Ok(())
    }

    fn visit(&mut self, value: &Dynamic, depth: usize) -> Result<(), ValueProblem> {
        if depth > MAX_VALUE_DEPTH {
            return Err(ValueProblem::TooDeep);
        }
        if value.is_shared() {
            // A cell locked for writing right now belongs to the operation in progress; serde
            // would block on it for good (Rhai's own text gives up after a short spin).
            let Some(inner) = value.read_lock::<Dynamic>() else {
                return Err(ValueProblem::Locked);
            };
            let address: *const Dynamic = &*inner;
            if self.path.contains(&address) {
                return Err(ValueProblem::Cyclic);
            }
            self.path.push(address);
            let result = self.visit(&inner, depth);
            self.path.pop();
            return result;
        }
        if let Some(array) = value.read_lock::<Array>() {
            self.count(2)?;
            for v in array.iter() {
                self.visit(v, depth + 1)?;
            }
            return Ok(());
        }
        if let Some(map) = value.read_lock::<Map>() {
            self.count(3)?;
            for (k, v) in map.iter() {
                self.count(k.len())?;
                self.visit(v, depth + 1)?;
            }
            return Ok(());
        }
        if let Some(f) = value.read_lock::<FnPtr>() {
            self.count(f.fn_name().len())?;
            for v in f.iter_curry() {
                self.visit(v, depth + 1)?;
            }
            return Ok(());
        }
        if let Some(s) = value.read_lock::<ImmutableString>() {
            return self.count(s.len());
        }
        if let Some(b) = value.read_lock::<Blob>() {
            return self.count(b.len().saturating_mul(4));
        }
        self.count(8)
    }
}

/// Checks that `value` can be rendered (displayed, debug-printed or serialised) by a bounded
/// walk: no cycle, at most [`MAX_VALUE_DEPTH`] levels, at most [`MAX_VALUE_NODES`] values and
/// [`MAX_VALUE_TEXT_BYTES`] bytes of text. Never recurses deeper than the depth cap.
///
/// ```
/// use rex_core::{ValueProblem, check_value, rhai::{Array, Dynamic}};
/// let nested: Array = vec![Dynamic::from(1_i64), Dynamic::from("x")];
/// assert_eq!(check_value(&Dynamic::from_array(nested)), Ok(()));
///
/// let mut deep = Dynamic::from(0_i64);
/// for _ in 0..2000 {
///     deep = Dynamic::from_array(vec![deep]);
/// }
/// assert_eq!(check_value(&deep), Err(ValueProblem::TooDeep));
/// ```
pub fn check_value(value: &Dynamic) -> Result<(), ValueProblem> {
    Walk {
        path: Vec::new(),
        nodes: 0,
        bytes: 0,
    }
    .visit(value, 0)
}

/// Rhai's text of a value (`Dynamic::to_string`), after [`check_value`].
pub fn render_value(value: &Dynamic) -> Result<String, ValueProblem> {
    check_value(value)?;
    Ok(value.to_string())
}
