//! Resource limits of a script run, and the cancellation handle.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every limit a run can hit. Each one ends the run with [`crate::RunError::Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The operation budget ([`Limits::max_operations`]) was used up.
    Operations,
    /// Too many nested function calls ([`Limits::max_call_depth`]).
    CallDepth,
    /// An expression is nested too deeply ([`Limits::max_expr_depth`],
    /// [`Limits::max_function_expr_depth`]). Detected while parsing.
    ExpressionDepth,
    /// A string grew over [`Limits::max_string_size`].
    StringSize,
    /// An array or BLOB grew over [`Limits::max_array_size`].
    ArraySize,
    /// An object map grew over [`Limits::max_map_size`].
    MapSize,
    /// Too many variables in scope ([`Limits::max_variables`]).
    Variables,
    /// Too many functions defined by the script ([`Limits::max_functions`]).
    Functions,
    /// Too many modules imported ([`Limits::max_modules`]).
    Modules,
    /// The wall-clock timeout ([`Limits::timeout`]) expired.
    Timeout,
    /// The run was cancelled through a [`CancelHandle`].
    Cancelled,
    /// The run held more memory than [`Limits::max_memory`].
    Memory,
}

impl LimitKind {
    /// A stable snake_case name of the limit, for messages, logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Operations => "operations",
            Self::CallDepth => "call_depth",
            Self::ExpressionDepth => "expression_depth",
            Self::StringSize => "string_size",
            Self::ArraySize => "array_size",
            Self::MapSize => "map_size",
            Self::Variables => "variables",
            Self::Functions => "functions",
            Self::Modules => "modules",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Memory => "memory",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Resource limits of the engine. Every field has a safe default ([`Limits::default`]).
///
/// A value of `0` is **not** "unlimited": it is passed to Rhai as is where Rhai accepts it,
/// and Rhai treats `0` as "no limit" for sizes. Prefer large values over `0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Maximum number of Rhai operations per run.
    pub max_operations: u64,
    /// Maximum depth of nested function calls.
    pub max_call_depth: usize,
    /// Maximum expression nesting depth at global level (parse time).
    pub max_expr_depth: usize,
    /// Maximum expression nesting depth inside functions (parse time).
    pub max_function_expr_depth: usize,
    /// Maximum length of one string, in bytes. Strings inside arrays and maps count toward
    /// [`Limits::max_memory`], not toward this limit.
    pub max_string_size: usize,
    /// Maximum number of elements of one array (or bytes of a BLOB), nested values not
    /// included (they count toward [`Limits::max_memory`]).
    pub max_array_size: usize,
    /// Maximum number of entries of an object map.
    ///
    /// Checked by Rhai's data-size checks only, which the engine keeps when no
    /// [`crate::CountingAllocator`] is installed (lazily: `m[key] = value` is caught when the
    /// map is next used). With the allocator, map entries count toward
    /// [`Limits::max_memory`] instead.
    pub max_map_size: usize,
    /// Maximum number of variables in scope (script arguments included).
    pub max_variables: usize,
    /// Maximum number of functions a script may define.
    pub max_functions: usize,
    /// Maximum number of modules a script may import.
    pub max_modules: usize,
    /// Wall-clock timeout of one run (compile time excluded). `None` means no timeout.
    pub timeout: Option<Duration>,
    /// Maximum nesting depth of script arguments: a top-level value is depth 1, its direct
    /// children depth 2 (REX uses 2).
    pub max_argument_depth: usize,
    /// Maximum number of log entries kept per run; later entries are counted and dropped.
    pub max_log_entries: usize,
    /// Maximum bytes of one log message: longer ones are cut when they are logged (REX: 2048).
    pub max_log_message_bytes: usize,
    /// Maximum bytes of all log messages of a run; later entries are counted and dropped.
    pub max_log_bytes: usize,
    /// Maximum number of Cedar denials recorded per run (caught ones included); later ones
    /// are counted in [`crate::RunOutcome::dropped_denials`].
    pub max_denials: usize,
    /// The memory budget of one run, in bytes: what the run's thread holds (values, closures,
    /// curried arguments, logs...) beyond what it held when the run started. Counted exactly
    /// when the process installed [`crate::CountingAllocator`]; estimated otherwise (see
    /// docs/EMBEDDING.md, "Memory budget"). Ends the run with [`LimitKind::Memory`].
    pub max_memory: usize,
    /// Stack size, in bytes, of the thread each run is evaluated on. Rhai walks nested
    /// values (arrays of arrays...) recursively, so a large stack keeps a deeply nested value
    /// from overflowing it. The memory is only reserved; pages are used as touched.
    /// `0` evaluates on the caller's thread instead.
    pub stack_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 50_000_000,
            max_call_depth: 48,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 16 * 1024 * 1024,
            max_array_size: 1_000_000,
            max_map_size: 100_000,
            max_variables: 10_000,
            max_functions: 1_000,
            max_modules: 16,
            timeout: Some(Duration::from_secs(300)),
            max_argument_depth: 2,
            max_log_entries: 10_000,
            max_log_message_bytes: 2048,
            max_log_bytes: 4 * 1024 * 1024,
            max_denials: 1_000,
            max_memory: 1024 * 1024 * 1024,
            stack_size: 256 * 1024 * 1024,
        }
    }
}

/// Cancels a running script from another thread. Cheap to clone; all clones share one flag.
///
/// The engine polls the flag from Rhai's progress callback; native SDK functions that block
/// can poll the same flag through [`CancelHandle::flag`] or [`crate::current_cancel_flag`].
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    /// A new, not cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation. The run stops at its next progress check with
    /// [`LimitKind::Cancelled`].
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// The shared flag, for native code that wants to poll it.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}
