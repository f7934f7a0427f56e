//! Per-run state, kept in a thread-local stack so that one shared engine can run scripts on
//! many threads at once (and a native function may even start a nested run).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rex_auth::Denied;
use serde::{Deserialize, Serialize};

use crate::extensions::RunExtensions;
use crate::limits::LimitKind;
use crate::memory;

/// Severity of a [`ScriptLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging output (the Rhai `debug` built-in).
    Debug,
    /// Informational.
    Info,
    /// A warning.
    Warn,
    /// An error.
    Error,
}

/// One log entry produced by a script during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptLog {
    /// Severity.
    pub level: LogLevel,
    /// The message text.
    pub message: String,
    /// The script line, when known.
    pub line: Option<usize>,
}

pub(crate) struct RunState {
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_logs: usize,
    pub(crate) max_log_message_bytes: usize,
    pub(crate) max_log_bytes: usize,
    pub(crate) log_bytes: usize,
    pub(crate) logs: Vec<ScriptLog>,
    pub(crate) dropped_logs: usize,
    pub(crate) truncated_logs: usize,
    pub(crate) max_denials: usize,
    pub(crate) denial_bytes: usize,
    pub(crate) denials: Vec<Denied>,
    pub(crate) dropped_denials: usize,
    pub(crate) max_memory: usize,
    pub(crate) terminated: Option<LimitKind>,
    pub(crate) extensions: RunExtensions,
}

impl RunState {
    /// A fresh state for a run under `limits`.
    pub(crate) fn new(
        limits: &crate::Limits,
        cancel: Arc<AtomicBool>,
        deadline: Option<Instant>,
        extensions: RunExtensions,
    ) -> Self {
        Self {
            cancel,
            deadline,
            max_logs: limits.max_log_entries,
            max_log_message_bytes: limits.max_log_message_bytes,
            max_log_bytes: limits.max_log_bytes,
            log_bytes: 0,
            logs: Vec::new(),
            dropped_logs: 0,
            truncated_logs: 0,
            max_denials: limits.max_denials,
            denial_bytes: 0,
            denials: Vec::new(),
            dropped_denials: 0,
            max_memory: limits.max_memory,
            terminated: None,
            extensions,
        }
    }

    /// Moves the collected data out, leaving an empty state with the same settings.
    fn take(&mut self) -> Self {
        Self {
            cancel: Arc::clone(&self.cancel),
            deadline: self.deadline,
            max_logs: self.max_logs,
            max_log_message_bytes: self.max_log_message_bytes,
            max_log_bytes: self.max_log_bytes,
            log_bytes: std::mem::take(&mut self.log_bytes),
            logs: std::mem::take(&mut self.logs),
            dropped_logs: std::mem::take(&mut self.dropped_logs),
            truncated_logs: std::mem::take(&mut self.truncated_logs),
            max_denials: self.max_denials,
            denial_bytes: std::mem::take(&mut self.denial_bytes),
            denials: std::mem::take(&mut self.denials),
            dropped_denials: std::mem::take(&mut self.dropped_denials),
            max_memory: self.max_memory,
            terminated: self.terminated.take(),
            extensions: std::mem::take(&mut self.extensions),
        }
    }
}

thread_local! {
    static RUNS: RefCell<Vec<RunState>> = const { RefCell::new(Vec::new()) };
}

/// Pops the run state when dropped (also while unwinding from a panic).
pub(crate) struct RunGuard {
    depth: usize,
    /// The memory ceiling of this thread before the run (restored on drop).
    previous_ceiling: isize,
}

impl RunGuard {
    pub(crate) fn push(state: RunState) -> Self {
        let max_memory = state.max_memory;
        let depth = RUNS.with(|runs| {
            let mut runs = runs.borrow_mut();
            runs.push(state);
            runs.len()
        });
        let previous_ceiling = memory::set_run_ceiling(max_memory);
        Self {
            depth,
            previous_ceiling,
        }
    }

    /// Takes the collected state out (the guard still pops the stack entry on drop).
    pub(crate) fn take(&self) -> Option<RunState> {
        RUNS.with(|runs| {
            let mut runs = runs.try_borrow_mut().ok()?;
            let state = runs.get_mut(self.depth.checked_sub(1)?)?;
            Some(state.take())
        })
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        memory::restore_ceiling(self.previous_ceiling);
        RUNS.with(|runs| {
            if let Ok(mut runs) = runs.try_borrow_mut() {
                runs.truncate(self.depth.saturating_sub(1));
            }
        });
    }
}

fn with_current<R>(f: impl FnOnce(&mut RunState) -> R) -> Option<R> {
    RUNS.with(|runs| {
        let mut runs = runs.try_borrow_mut().ok()?;
        runs.last_mut().map(f)
    })
}

/// Called from Rhai's progress callback after every operation: the memory budget (two
/// thread-local reads) every time, the cancel flag and the clock less often.
pub(crate) fn poll(ops: u64) -> Option<LimitKind> {
    if memory::over_budget() {
        return Some(terminate(LimitKind::Memory));
    }
    if !ops.is_multiple_of(CHECK_EVERY) {
        return None;
    }
    with_current(|state| {
        if state.cancel.load(Ordering::Relaxed) {
            state.terminated = Some(LimitKind::Cancelled);
            return Some(LimitKind::Cancelled);
        }
        if ops.is_multiple_of(CLOCK_EVERY)
            && let Some(deadline) = state.deadline
            && Instant::now() >= deadline
        {
            state.terminated = Some(LimitKind::Timeout);
            return Some(LimitKind::Timeout);
        }
        None
    })
    .flatten()
}

/// Records that the run on this thread is ending because of `kind`, and returns it.
pub(crate) fn terminate(kind: LimitKind) -> LimitKind {
    with_current(|state| state.terminated = Some(kind));
    kind
}

/// How often (in operations) the cancel flag is read.
pub(crate) const CHECK_EVERY: u64 = 128;
/// How often (in operations) the clock is read.
pub(crate) const CLOCK_EVERY: u64 = 1024;

/// Suffix of a log message cut to [`crate::Limits::max_log_message_bytes`] (the same marker
/// as the runner's script-log buffer, so it does not cut the message again).
pub const LOG_TRUNCATION_MARKER: &str = "...[truncate]";

/// Cuts `message` in place to at most `max` bytes, marker included, on a char boundary.
/// Returns whether it was cut.
fn truncate_message(message: &mut String, max: usize) -> bool {
    if message.len() <= max {
        return false;
    }
    let room = max.saturating_sub(LOG_TRUNCATION_MARKER.len());
    let mut end = room.min(message.len());
    while end > 0 && !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    if max >= LOG_TRUNCATION_MARKER.len() {
        message.push_str(LOG_TRUNCATION_MARKER);
    }
    message.shrink_to_fit();
    true
}

/// Records a log entry for the run in progress on this thread. Does nothing outside a run.
///
/// The message is cut to [`crate::Limits::max_log_message_bytes`] here, when it is logged;
/// entries past [`crate::Limits::max_log_entries`] or [`crate::Limits::max_log_bytes`] are
/// counted in [`crate::RunOutcome::dropped_logs`] and not kept.
///
/// This is the hook native functions (rhai-sdk, the runner) use to add script logs.
pub fn push_log(level: LogLevel, message: impl Into<String>, line: Option<usize>) {
    with_current(|state| {
        if state.logs.len() >= state.max_logs || state.log_bytes >= state.max_log_bytes {
            state.dropped_logs = state.dropped_logs.saturating_add(1);
            return;
        }
        let mut message = message.into();
        let cut = truncate_message(&mut message, state.max_log_message_bytes);
        let bytes = message.len();
        if state.log_bytes.saturating_add(bytes) > state.max_log_bytes {
            state.dropped_logs = state.dropped_logs.saturating_add(1);
            // Later entries are dropped too: the byte budget is spent.
            state.log_bytes = state.max_log_bytes;
            return;
        }
        state.log_bytes = state.log_bytes.saturating_add(bytes);
        if cut {
            state.truncated_logs = state.truncated_logs.saturating_add(1);
        }
        state.logs.push(ScriptLog {
            level,
            message,
            line,
        });
    });
}

/// Records a Cedar denial for the run in progress on this thread (even if the script later
/// catches the error). Does nothing outside a run. [`crate::error_map`] calls it.
///
/// At most [`crate::Limits::max_denials`] denials, of at most
/// [`crate::Limits::max_log_bytes`] bytes of text together, are kept; later ones are
/// counted in [`crate::RunOutcome::dropped_denials`].
pub fn record_denial(denied: &Denied) {
    with_current(|state| {
        let bytes = denied
            .principal
            .len()
            .saturating_add(denied.resource.len())
            .saturating_add(denied.reasons.iter().map(String::len).sum());
        if state.denials.len() >= state.max_denials
            || state.denial_bytes.saturating_add(bytes) > state.max_log_bytes
        {
            state.dropped_denials = state.dropped_denials.saturating_add(1);
            return;
        }
        state.denial_bytes = state.denial_bytes.saturating_add(bytes);
        state.denials.push(denied.clone());
    });
}

/// The cancel flag of the run in progress on this thread, for native functions that block
/// and want to stop early. `None` outside a run.
pub fn current_cancel_flag() -> Option<Arc<AtomicBool>> {
    with_current(|state| Arc::clone(&state.cancel))
}

/// Whether `state`'s run should stop now: cancelled, past its deadline, or over its memory
/// budget.
fn interruption_of(state: &RunState) -> Option<LimitKind> {
    if memory::over_budget() {
        Some(LimitKind::Memory)
    } else if state.cancel.load(Ordering::Relaxed) {
        Some(LimitKind::Cancelled)
    } else if state.deadline.is_some_and(|d| Instant::now() >= d) {
        Some(LimitKind::Timeout)
    } else {
        None
    }
}

/// Records, for a run that ends with an error, whether it was cancelled or past its
/// deadline at that moment (a native call interrupted by either reports its own error).
pub(crate) fn note_interruption() {
    with_current(|state| {
        if state.terminated.is_none() {
            state.terminated = interruption_of(state);
        }
    });
}

/// Whether the run in progress on this thread should stop now (cancelled, past its
/// deadline or over its memory budget). Native functions that loop can call it; `None` means "keep going".
pub fn current_interruption() -> Option<LimitKind> {
    with_current(|state| interruption_of(state)).flatten()
}

/// The memory budget of the run in progress on this thread (`None` outside a run).
pub(crate) fn current_max_memory() -> Option<usize> {
    with_current(|state| state.max_memory)
}

/// The extension of type `T` attached to the run in progress on this thread (see
/// [`RunOptions::extensions`](crate::RunOptions::extensions)). `None` outside a run or when
/// the embedder attached none.
pub fn run_extension<T: std::any::Any + Send + Sync>() -> Option<Arc<T>> {
    with_current(|state| state.extensions.get::<T>()).flatten()
}
