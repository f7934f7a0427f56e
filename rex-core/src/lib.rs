//! The sandboxed Rhai engine of Rex.
//!
//! * [`RexEngine`]: built once from `Engine::new_raw()` plus the shared standard package, with
//!   no path to the host: no file module resolver, `eval` and `print` disabled, `debug`
//!   captured as a log, and every [`Limits`] entry enforced (operations, depths, sizes,
//!   wall-clock timeout, [`CancelHandle`], the memory budget [`Limits::max_memory`] counted
//!   by [`CountingAllocator`]).
//! * [`ScriptArguments`]: REX's JSON argument format, exposed as script variables.
//! * [`RunOutcome`]: the value, a typed [`RunError`], logs, denials and timings.
//! * [`error_map`] / [`script_error`] / [`DenialToken`]: how native functions raise errors so
//!   that Cedar denials are classified from typed data, never from message text.
//!
//! rex-core never touches the host and does not depend on rust-sdk. Its only unsafe code is
//! the [`CountingAllocator`] (`GlobalAlloc` is an unsafe trait), in one module.

mod args;
mod budget;
pub mod catalog;
mod denial;
mod engine;
mod error;
mod extensions;
mod growth;
mod limits;
mod memory;
mod outcome;
mod render;
mod state;

pub use args::{ArgumentsError, ScriptArgumentValue, ScriptArguments, validate_identifier};
pub use budget::{Budget, MemoryExceeded, budget_left, exceed_memory_budget, memory_limit_error};
pub use catalog::{
    FunctionInfo, HostAccess, ParamInfo, catalog_markdown, catalog_tag, declaration,
    function_catalog,
};
pub use denial::{DENIAL_FIELD, DenialToken, denial_in_payload, error_map, script_error};
pub use engine::{
    CompiledScript, RexEngine, RexEngineBuilder, RunOptions, SharedModule, StandardLibrary,
    WhileRunning,
};
pub use error::{ErrorKind, RunError, ScriptPosition};
pub use extensions::RunExtensions;
pub use limits::{CancelHandle, LimitKind, Limits};
pub use memory::{CountingAllocator, counting_allocator_installed, thread_held_bytes};
pub use outcome::{RunOutcome, RunStatus, Timings};
pub use render::{
    MAX_VALUE_DEPTH, MAX_VALUE_NODES, MAX_VALUE_TEXT_BYTES, ValueProblem, check_value, render_value,
};
pub use state::{
    LOG_TRUNCATION_MARKER, LogLevel, ScriptLog, current_cancel_flag, current_interruption,
    push_log, record_denial, run_extension,
};

pub use rhai;
