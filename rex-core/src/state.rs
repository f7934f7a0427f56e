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
    pub(crate) logs: Vec<ScriptLog>,
    pub(crate) dropped_logs: usize,
    pub(crate) denials: Vec<Denied>,
    pub(crate) terminated: Option<LimitKind>,
    pub(crate) extensions: RunExtensions,
}

thread_local! {
    static RUNS: RefCell<Vec<RunState>> = const { RefCell::new(Vec::new()) };
}

/// Pops the run state when dropped (also while unwinding from a panic).
pub(crate) struct RunGuard {
    depth: usize,
}

impl RunGuard {
    pub(crate) fn push(state: RunState) -> Self {
        let depth = RUNS.with(|runs| {
            let mut runs = runs.borrow_mut();
            runs.push(state);
            runs.len()
        });
        Self { depth }
    }

    /// Takes the collected state out (the guard still pops the stack entry on drop).
    pub(crate) fn take(&self) -> Option<RunState> {
        RUNS.with(|runs| {
            let mut runs = runs.try_borrow_mut().ok()?;
            let state = runs.get_mut(self.depth.checked_sub(1)?)?;
            Some(RunState {
                cancel: Arc::clone(&state.cancel),
                deadline: state.deadline,
                max_logs: state.max_logs,
                logs: std::mem::take(&mut state.logs),
                dropped_logs: std::mem::take(&mut state.dropped_logs),
                denials: std::mem::take(&mut state.denials),
                terminated: state.terminated.take(),
                extensions: std::mem::take(&mut state.extensions),
            })
        })
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
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

/// Called from Rhai's progress callback every [`CHECK_EVERY`] operations.
pub(crate) fn poll(ops: u64) -> Option<LimitKind> {
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

/// How often (in operations) the cancel flag is read.
pub(crate) const CHECK_EVERY: u64 = 128;
/// How often (in operations) the clock is read.
pub(crate) const CLOCK_EVERY: u64 = 1024;

/// Records a log entry for the run in progress on this thread. Does nothing outside a run.
///
/// This is the hook native functions (rhai-sdk, the runner) use to add script logs.
pub fn push_log(level: LogLevel, message: impl Into<String>, line: Option<usize>) {
    with_current(|state| {
        if state.logs.len() < state.max_logs {
            state.logs.push(ScriptLog {
                level,
                message: message.into(),
                line,
            });
        } else {
            state.dropped_logs = state.dropped_logs.saturating_add(1);
        }
    });
}

/// Records a Cedar denial for the run in progress on this thread (even if the script later
/// catches the error). Does nothing outside a run. [`crate::error_map`] calls it.
pub fn record_denial(denied: &Denied) {
    with_current(|state| state.denials.push(denied.clone()));
}

/// The cancel flag of the run in progress on this thread, for native functions that block
/// and want to stop early. `None` outside a run.
pub fn current_cancel_flag() -> Option<Arc<AtomicBool>> {
    with_current(|state| Arc::clone(&state.cancel))
}

/// Whether `state`'s run should stop now: cancelled, or past its deadline.
fn interruption_of(state: &RunState) -> Option<LimitKind> {
    if state.cancel.load(Ordering::Relaxed) {
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

/// Whether the run in progress on this thread should stop now (cancelled or past its
/// deadline). Native functions that loop can call it; `None` means "keep going".
pub fn current_interruption() -> Option<LimitKind> {
    with_current(|state| interruption_of(state)).flatten()
}

/// The extension of type `T` attached to the run in progress on this thread (see
/// [`RunOptions::extensions`](crate::RunOptions::extensions)). `None` outside a run or when
/// the embedder attached none.
pub fn run_extension<T: std::any::Any + Send + Sync>() -> Option<Arc<T>> {
    with_current(|state| state.extensions.get::<T>()).flatten()
}
