//! The result of a run.

use std::time::Duration;

use rex_auth::Denied;
use serde::{Deserialize, Serialize};

use crate::error::RunError;
use crate::state::ScriptLog;

/// Whether the script succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// The script ran to completion.
    Success,
    /// The script failed; see [`RunOutcome::error`].
    Error,
}

/// How long each phase took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Parsing and compiling (zero when a cached script was run).
    pub compile: Duration,
    /// Evaluation.
    pub run: Duration,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Success or error.
    pub status: RunStatus,
    /// Rhai's own rendering of the final value (REX's `output`); empty on error.
    pub output: String,
    /// The final value as JSON (`null` on error or when it cannot be represented).
    pub value: serde_json::Value,
    /// The error, when `status` is [`RunStatus::Error`].
    pub error: Option<RunError>,
    /// Logs collected from `debug`, the log functions and [`crate::push_log`].
    pub logs: Vec<ScriptLog>,
    /// Log entries dropped because of [`crate::Limits::max_log_entries`] or
    /// [`crate::Limits::max_log_bytes`].
    pub dropped_logs: usize,
    /// Log entries kept but cut to [`crate::Limits::max_log_message_bytes`].
    pub truncated_logs: usize,
    /// The Cedar denials seen during the run, including ones the script caught (at most
    /// [`crate::Limits::max_denials`]).
    pub denials: Vec<Denied>,
    /// Denials not kept in [`RunOutcome::denials`] because of [`crate::Limits::max_denials`]
    /// or [`crate::Limits::max_log_bytes`].
    pub dropped_denials: usize,
    /// Durations.
    pub timings: Timings,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.status == RunStatus::Success
    }

    pub(crate) fn failed(error: RunError, timings: Timings) -> Self {
        Self {
            status: RunStatus::Error,
            output: String::new(),
            value: serde_json::Value::Null,
            error: Some(error),
            logs: Vec::new(),
            dropped_logs: 0,
            truncated_logs: 0,
            denials: Vec::new(),
            dropped_denials: 0,
            timings,
        }
    }
}
