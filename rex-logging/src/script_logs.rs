//! Bounded, thread-safe, in-memory capture of script log entries.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::level::LogLevel;
use crate::time::now_rfc3339;
use crate::truncate::truncate_utf8;

/// Byte cap applied to `rhai_api_name`.
const MAX_API_NAME_BYTES: usize = 256;

/// One script log entry.
///
/// Serializes exactly to REX's output shape:
/// `{"attributes": {"timestamp", "level", "message", "line_number", "rhai_api_name"?}}`
/// (`rhai_api_name` is omitted when `None`; `line_number` is `null` when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "LogEntryWire", from = "LogEntryWire")]
pub struct LogEntry {
    /// RFC 3339 UTC time the entry was recorded.
    pub timestamp: String,
    /// Severity.
    pub level: LogLevel,
    /// The (possibly truncated) message.
    pub message: String,
    /// Script line number, if known.
    pub line_number: Option<u32>,
    /// Name of the native script function that was running, if any.
    pub rhai_api_name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LogEntryWire {
    attributes: LogAttributes,
}

#[derive(Serialize, Deserialize)]
struct LogAttributes {
    timestamp: String,
    level: LogLevel,
    message: String,
    #[serde(default)]
    line_number: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rhai_api_name: Option<String>,
}

impl From<LogEntry> for LogEntryWire {
    fn from(e: LogEntry) -> Self {
        LogEntryWire {
            attributes: LogAttributes {
                timestamp: e.timestamp,
                level: e.level,
                message: e.message,
                line_number: e.line_number,
                rhai_api_name: e.rhai_api_name,
            },
        }
    }
}

impl From<LogEntryWire> for LogEntry {
    fn from(w: LogEntryWire) -> Self {
        let a = w.attributes;
        LogEntry {
            timestamp: a.timestamp,
            level: a.level,
            message: a.message,
            line_number: a.line_number,
            rhai_api_name: a.rhai_api_name,
        }
    }
}

impl LogEntry {
    /// Bytes this entry counts against [`ScriptLogsConfig::max_total_bytes`].
    fn weight(&self) -> usize {
        self.message
            .len()
            .saturating_add(self.rhai_api_name.as_ref().map_or(0, String::len))
    }
}

/// Limits and filter of a [`ScriptLogs`] buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptLogsConfig {
    /// Maximum number of entries kept; the oldest are dropped first (REX: 1000).
    pub max_entries: usize,
    /// Maximum bytes of one message, truncation marker included (REX: 2048).
    pub max_message_bytes: usize,
    /// Maximum bytes of all kept messages (and API names) together; oldest dropped first.
    pub max_total_bytes: usize,
    /// Entries below this level are ignored.
    pub min_level: LogLevel,
}

impl Default for ScriptLogsConfig {
    fn default() -> Self {
        ScriptLogsConfig {
            max_entries: 1000,
            max_message_bytes: 2048,
            max_total_bytes: 1024 * 1024,
            min_level: LogLevel::Info,
        }
    }
}

impl ScriptLogsConfig {
    /// The defaults, with `min_level` taken from the `LOG_LEVEL` environment variable.
    #[must_use]
    pub fn from_env() -> Self {
        ScriptLogsConfig {
            min_level: LogLevel::from_env(),
            ..ScriptLogsConfig::default()
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<LogEntry>,
    total_bytes: usize,
    dropped: u64,
    last_drop_timestamp: Option<String>,
}

/// A bounded, thread-safe, cloneable in-memory capture of script log entries.
///
/// Clones share the same buffer. Recording never panics and never fails: entries over the
/// limits push out the oldest ones, and [`ScriptLogs::entries`] then ends with one synthetic
/// `WARN` entry saying how many were dropped.
#[derive(Debug, Clone, Default)]
pub struct ScriptLogs {
    config: ScriptLogsConfig,
    inner: Arc<Mutex<Inner>>,
}

impl ScriptLogs {
    /// An empty buffer with the given limits.
    #[must_use]
    pub fn new(config: ScriptLogsConfig) -> Self {
        ScriptLogs {
            config,
            inner: Arc::default(),
        }
    }

    /// The limits of this buffer.
    #[must_use]
    pub fn config(&self) -> ScriptLogsConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-push; the data is still sound.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a message at `level`. Returns `false` if the level is filtered out.
    pub fn log(
        &self,
        level: LogLevel,
        message: &str,
        line_number: Option<u32>,
        rhai_api_name: Option<&str>,
    ) -> bool {
        if !level.passes(self.config.min_level) {
            return false;
        }
        let entry = LogEntry {
            timestamp: now_rfc3339(),
            level,
            message: truncate_utf8(message, self.config.max_message_bytes).into_owned(),
            line_number,
            rhai_api_name: rhai_api_name.map(|n| truncate_utf8(n, MAX_API_NAME_BYTES).into_owned()),
        };
        self.push_entry(entry);
        true
    }

    /// Records an already-built entry (its message is still capped). Returns `false` if the
    /// level is filtered out.
    pub fn push(&self, mut entry: LogEntry) -> bool {
        if !entry.level.passes(self.config.min_level) {
            return false;
        }
        if entry.message.len() > self.config.max_message_bytes {
            entry.message =
                truncate_utf8(&entry.message, self.config.max_message_bytes).into_owned();
        }
        if let Some(name) = entry.rhai_api_name.as_mut()
            && name.len() > MAX_API_NAME_BYTES
        {
            *name = truncate_utf8(name, MAX_API_NAME_BYTES).into_owned();
        }
        self.push_entry(entry);
        true
    }

    fn push_entry(&self, entry: LogEntry) {
        let weight = entry.weight();
        let mut inner = self.lock();
        if self.config.max_entries == 0 || weight > self.config.max_total_bytes {
            // Cannot be kept at all.
            inner.dropped = inner.dropped.saturating_add(1);
            inner.last_drop_timestamp = Some(entry.timestamp);
            return;
        }
        let mut dropped_now = 0u64;
        while inner.entries.len() >= self.config.max_entries
            || inner.total_bytes.saturating_add(weight) > self.config.max_total_bytes
        {
            match inner.entries.pop_front() {
                Some(old) => {
                    inner.total_bytes = inner.total_bytes.saturating_sub(old.weight());
                    dropped_now += 1;
                }
                None => break,
            }
        }
        if dropped_now > 0 {
            inner.dropped = inner.dropped.saturating_add(dropped_now);
            inner.last_drop_timestamp = Some(entry.timestamp.clone());
        }
        inner.total_bytes = inner.total_bytes.saturating_add(weight);
        inner.entries.push_back(entry);
    }

    /// Shortcut for `log(LogLevel::Trace, ..)`.
    pub fn trace(&self, message: &str, line_number: Option<u32>) -> bool {
        self.log(LogLevel::Trace, message, line_number, None)
    }

    /// Shortcut for `log(LogLevel::Debug, ..)`.
    pub fn debug(&self, message: &str, line_number: Option<u32>) -> bool {
        self.log(LogLevel::Debug, message, line_number, None)
    }

    /// Shortcut for `log(LogLevel::Info, ..)`.
    pub fn info(&self, message: &str, line_number: Option<u32>) -> bool {
        self.log(LogLevel::Info, message, line_number, None)
    }

    /// Shortcut for `log(LogLevel::Warn, ..)`.
    pub fn warn(&self, message: &str, line_number: Option<u32>) -> bool {
        self.log(LogLevel::Warn, message, line_number, None)
    }

    /// Shortcut for `log(LogLevel::Error, ..)`.
    pub fn error(&self, message: &str, line_number: Option<u32>) -> bool {
        self.log(LogLevel::Error, message, line_number, None)
    }

    /// Number of entries currently kept (the synthetic drop warning not included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no entry is kept and none was dropped.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        let inner = self.lock();
        inner.entries.is_empty() && inner.dropped == 0
    }

    /// How many entries were dropped because of the limits.
    #[must_use]
    pub fn dropped_count(&self) -> u64 {
        self.lock().dropped
    }

    /// Bytes currently counted against `max_total_bytes`.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.lock().total_bytes
    }

    /// A snapshot of the kept entries, oldest first, followed by one synthetic `WARN` entry if
    /// any entry was dropped.
    #[must_use]
    pub fn entries(&self) -> Vec<LogEntry> {
        let inner = self.lock();
        Self::snapshot(&inner)
    }

    /// Like [`ScriptLogs::entries`], but also empties the buffer and resets the drop count.
    #[must_use]
    pub fn take(&self) -> Vec<LogEntry> {
        let mut inner = self.lock();
        let out = Self::snapshot(&inner);
        *inner = Inner::default();
        out
    }

    /// Empties the buffer and resets the drop count.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    fn snapshot(inner: &Inner) -> Vec<LogEntry> {
        let mut out: Vec<LogEntry> = Vec::with_capacity(inner.entries.len().saturating_add(1));
        out.extend(inner.entries.iter().cloned());
        if inner.dropped > 0 {
            out.push(LogEntry {
                timestamp: inner
                    .last_drop_timestamp
                    .clone()
                    .unwrap_or_else(now_rfc3339),
                level: LogLevel::Warn,
                message: format!(
                    "{} log entries were dropped because the script log limit was exceeded",
                    inner.dropped
                ),
                line_number: None,
                rhai_api_name: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use crate::truncate::TRUNCATION_MARKER;
    use proptest::prelude::*;

    fn small(max_entries: usize, max_message_bytes: usize, max_total_bytes: usize) -> ScriptLogs {
        ScriptLogs::new(ScriptLogsConfig {
            max_entries,
            max_message_bytes,
            max_total_bytes,
            min_level: LogLevel::Trace,
        })
    }

    #[test]
    fn serializes_to_rex_shape() {
        let logs = ScriptLogs::default();
        logs.log(LogLevel::Info, "hello", Some(3), Some("cat"));
        logs.warn("no api", None);
        let v = serde_json::to_value(logs.entries()).unwrap();
        let a = &v[0]["attributes"];
        assert_eq!(a["level"], "INFO");
        assert_eq!(a["message"], "hello");
        assert_eq!(a["line_number"], 3);
        assert_eq!(a["rhai_api_name"], "cat");
        assert!(a["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v[0].as_object().unwrap().len(), 1);
        assert_eq!(a.as_object().unwrap().len(), 5);
        let b = v[1]["attributes"].as_object().unwrap();
        assert!(!b.contains_key("rhai_api_name"));
        assert!(b["line_number"].is_null());
        assert_eq!(b["level"], "WARN");
        // Round trip.
        let back: Vec<LogEntry> = serde_json::from_value(v).unwrap();
        assert_eq!(back, logs.entries());
    }

    #[test]
    fn level_filter_default_info() {
        let logs = ScriptLogs::default();
        assert!(!logs.debug("hidden", Some(1)));
        assert!(!logs.trace("hidden", Some(1)));
        assert!(logs.info("shown", Some(2)));
        assert!(logs.error("shown", Some(3)));
        assert_eq!(logs.len(), 2);
        let debug = ScriptLogs::new(ScriptLogsConfig {
            min_level: LogLevel::Debug,
            ..ScriptLogsConfig::default()
        });
        assert!(debug.debug("shown", None));
        assert!(!debug.trace("hidden", None));
    }

    #[test]
    fn entry_cap_drops_oldest_and_warns_once() {
        let logs = small(3, 2048, usize::MAX);
        for i in 0..10 {
            logs.info(&format!("m{i}"), Some(i));
        }
        assert_eq!(logs.len(), 3);
        assert_eq!(logs.dropped_count(), 7);
        let e = logs.entries();
        assert_eq!(e.len(), 4);
        let msgs: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(&msgs[..3], &["m7", "m8", "m9"]);
        assert_eq!(e[3].level, LogLevel::Warn);
        assert!(e[3].message.starts_with("7 log entries were dropped"));
        assert_eq!(
            e.iter().filter(|e| e.message.contains("dropped")).count(),
            1
        );
    }

    #[test]
    fn default_cap_is_1000() {
        let logs = ScriptLogs::default();
        for i in 0..1005 {
            logs.info("x", Some(i));
        }
        assert_eq!(logs.len(), 1000);
        assert_eq!(logs.dropped_count(), 5);
        let e = logs.entries();
        assert_eq!(e.len(), 1001);
        assert_eq!(e[0].line_number, Some(5));
    }

    #[test]
    fn message_cap_truncates_with_marker() {
        let logs = ScriptLogs::default();
        let long = "€".repeat(1000); // 3000 bytes
        logs.info(&long, None);
        let e = logs.entries();
        assert!(e[0].message.len() <= 2048);
        assert!(e[0].message.ends_with(TRUNCATION_MARKER));
        assert!(long.starts_with(e[0].message.trim_end_matches(TRUNCATION_MARKER)));
        // push() caps too.
        logs.push(LogEntry {
            timestamp: now_rfc3339(),
            level: LogLevel::Error,
            message: long.clone(),
            line_number: Some(1),
            rhai_api_name: Some("n".repeat(1000)),
        });
        let e = logs.entries();
        assert!(e[1].message.len() <= 2048);
        assert!(e[1].rhai_api_name.as_ref().unwrap().len() <= MAX_API_NAME_BYTES);
    }

    #[test]
    fn total_bytes_cap() {
        let logs = small(1000, 100, 250);
        for _ in 0..10 {
            logs.info(&"a".repeat(100), None);
        }
        assert_eq!(logs.len(), 2);
        assert_eq!(logs.total_bytes(), 200);
        assert_eq!(logs.dropped_count(), 8);
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_counts() {
        let logs = small(0, 100, 100);
        logs.info("a", None);
        assert_eq!(logs.len(), 0);
        assert_eq!(logs.dropped_count(), 1);
        assert_eq!(logs.entries().len(), 1);
    }

    #[test]
    fn clones_share_and_take_resets() {
        let logs = ScriptLogs::default();
        let c = logs.clone();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        c.info(&format!("t{t} {i}"), Some(i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(logs.len(), 200);
        let taken = logs.take();
        assert_eq!(taken.len(), 200);
        assert!(logs.is_empty());
        logs.info("again", None);
        logs.clear();
        assert!(logs.is_empty());
    }

    proptest! {
        #[test]
        fn any_unicode_is_capped_and_valid(
            msgs in proptest::collection::vec(any::<String>(), 0..30),
            cap in 0usize..80,
            max_entries in 0usize..8,
            max_total in 0usize..400,
        ) {
            let logs = small(max_entries, cap, max_total);
            for m in &msgs {
                logs.log(LogLevel::Info, m, Some(1), Some(m));
            }
            let entries = logs.entries();
            prop_assert!(logs.len() <= max_entries);
            prop_assert!(logs.total_bytes() <= max_total);
            let kept = entries.len() - usize::from(logs.dropped_count() > 0);
            for e in &entries[..kept] {
                prop_assert!(e.message.len() <= cap);
                prop_assert!(std::str::from_utf8(e.message.as_bytes()).is_ok());
            }
            let json = serde_json::to_string(&entries).unwrap();
            let back: Vec<LogEntry> = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, entries);
        }
    }
}
