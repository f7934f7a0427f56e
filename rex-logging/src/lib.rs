//! Tracing setup, bounded script-log capture and the audit-log sink of Rex.
//!
//! This crate is a leaf: it depends on no other Rex crate and not on Rhai. It provides
//!
//! * [`LogLevel`]: the five REX log levels, parsed from the `LOG_LEVEL` environment variable;
//! * [`ScriptLogs`]: a bounded, thread-safe, in-memory capture of script log entries
//!   ([`LogEntry`]) that serializes to REX's `{"attributes": {...}}` output shape;
//! * [`ScriptLogLayer`]: a `tracing` layer copying events with target [`SCRIPT_LOG_TARGET`]
//!   into a [`ScriptLogs`];
//! * [`init_tracing`]: idempotent `tracing-subscriber` setup (level filter, JSON-lines file,
//!   stderr, syslog);
//! * [`SyslogLayer`]: a `tracing` layer sending events to the local syslog socket
//!   (`/dev/log`, facility daemon, identity `rex_runner`), dropping them when it is absent;
//! * [`AuditLog`]: an append-only JSON-lines writer of authorization decisions
//!   ([`AuditEvent`]) that never fails or panics the operation it records;
//! * [`RateLimiter`]: holds back repeated operational log records and counts them for a
//!   "suppressed N" summary.
//!
//! ```
//! use rex_logging::{LogLevel, ScriptLogs, ScriptLogsConfig};
//!
//! let logs = ScriptLogs::new(ScriptLogsConfig::default());
//! logs.log(LogLevel::Info, "copied 3 files", Some(12), Some("cp"));
//! logs.debug("not kept: below the default INFO level", Some(13));
//! let json = serde_json::to_value(logs.entries()).unwrap();
//! assert_eq!(json[0]["attributes"]["message"], "copied 3 files");
//! assert_eq!(json[0]["attributes"]["line_number"], 12);
//! assert_eq!(json.as_array().unwrap().len(), 1);
//! ```

mod audit;
mod error;
mod layer;
mod level;
mod rate;
mod script_logs;
mod syslog;
mod time;
mod tracing_init;
mod truncate;

pub use audit::{AuditDecision, AuditEvent, AuditLog, AuditShadow};
pub use error::LogError;
pub use layer::{SCRIPT_LOG_TARGET, ScriptLogLayer};
pub use level::{LOG_LEVEL_ENV, LogLevel};
pub use rate::{Admission, DEFAULT_LOG_BURST, DEFAULT_LOG_WINDOW, RateLimiter};
pub use script_logs::{LogEntry, ScriptLogs, ScriptLogsConfig};
pub use syslog::{
    DEFAULT_SYSLOG_SOCKET, SYSLOG_FACILITY_DAEMON, SYSLOG_IDENTITY, SYSLOG_MAX_DATAGRAM_BYTES,
    SyslogConfig, SyslogLayer, syslog_severity,
};
pub use time::{format_rfc3339, now_rfc3339};
pub use tracing_init::{
    DEFERRED_BUFFER_BYTES, InitStatus, SYSLOG_ENABLE_ENV, TracingConfig, deferred_json_dropped,
    discard_deferred_json_file, init_tracing, installed_syslog, open_deferred_json_file,
};
pub use truncate::{TRUNCATION_MARKER, truncate_utf8};
