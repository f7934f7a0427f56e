//! A `tracing` layer that sends events to the local syslog daemon over its datagram socket
//! (`/dev/log`), like REX's syslog output: facility *daemon*, identity `rex_runner`, with the
//! process id.
//!
//! Each event becomes one RFC 3164-style datagram,
//! `<PRI>Mmm dd hh:mm:ss rex_runner[PID]: message key=value ...`, the form glibc's `syslog(3)`
//! writes to `/dev/log` (the timestamp is UTC; rsyslog and journald stamp local messages with
//! their own receive time anyway). Control characters are escaped, so one event is always one
//! line, and the datagram is capped at [`SYSLOG_MAX_DATAGRAM_BYTES`] (UTF-8-safe, with
//! [`crate::TRUNCATION_MARKER`]).
//!
//! Logging never blocks, fails or panics the caller: the socket is non-blocking, and when it is
//! missing, full or broken the event is dropped and counted ([`SyslogLayer::dropped_count`]).

use std::fmt::{self, Write as _};
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::layer::ScriptLogLayer;
use crate::level::LogLevel;
use crate::time::format_bsd_syslog;
use crate::truncate::truncate_utf8;

/// The local syslog socket.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// The identity (RFC 3164 TAG) REX's runner logs under.
pub const SYSLOG_IDENTITY: &str = "rex_runner";

/// The syslog facility *daemon*.
pub const SYSLOG_FACILITY_DAEMON: u8 = 3;

/// Default cap on one datagram, header included, in bytes.
pub const SYSLOG_MAX_DATAGRAM_BYTES: usize = 4096;

/// Longest identity kept (RFC 3164 limits the TAG to 32 characters).
const MAX_IDENTITY_LEN: usize = 32;

/// Smallest accepted datagram cap (room for the header and a truncated message).
const MIN_DATAGRAM_BYTES: usize = 128;

/// Where and how [`SyslogLayer`] sends events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// The daemon's datagram socket (default [`DEFAULT_SYSLOG_SOCKET`]).
    pub socket: PathBuf,
    /// The identity written before `[PID]` (default [`SYSLOG_IDENTITY`]). Characters other
    /// than ASCII letters, digits, `_`, `-` and `.` become `_`; it is cut to 32 characters.
    pub identity: String,
    /// The facility code, 0 to 23 (default [`SYSLOG_FACILITY_DAEMON`]); a larger value is
    /// replaced by *daemon*.
    pub facility: u8,
    /// Minimum level of events sent (default `INFO`).
    pub level: LogLevel,
    /// Cap on one datagram, header included (default [`SYSLOG_MAX_DATAGRAM_BYTES`]; values
    /// below 128 are raised to 128).
    pub max_datagram_bytes: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
            identity: SYSLOG_IDENTITY.to_owned(),
            facility: SYSLOG_FACILITY_DAEMON,
            level: LogLevel::Info,
            max_datagram_bytes: SYSLOG_MAX_DATAGRAM_BYTES,
        }
    }
}

/// The syslog severity of a level: ERROR → 3 (err), WARN → 4 (warning), INFO → 6 (info),
/// DEBUG and TRACE → 7 (debug).
#[must_use]
pub const fn syslog_severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 3,
        LogLevel::Warn => 4,
        LogLevel::Info => 6,
        LogLevel::Debug | LogLevel::Trace => 7,
    }
}

#[derive(Debug)]
struct SyslogInner {
    config: SyslogConfig,
    identity: String,
    pid: u32,
    socket: Mutex<Option<UnixDatagram>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// A [`Layer`] that sends every event at or above its level to syslog, except script logs
/// (target [`crate::SCRIPT_LOG_TARGET`]), which REX keeps in memory only.
///
/// Cloning shares the socket and the counters.
///
/// ```
/// use rex_logging::{SyslogConfig, SyslogLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let dir = tempfile::tempdir().unwrap();
/// let socket = dir.path().join("log");
/// let daemon = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
/// let layer = SyslogLayer::new(SyslogConfig { socket, ..SyslogConfig::default() });
/// let subscriber = tracing_subscriber::registry().with(layer.clone());
/// tracing::subscriber::with_default(subscriber, || tracing::warn!(user = "root", "disk full"));
///
/// let mut buf = [0u8; 4096];
/// let n = daemon.recv(&mut buf).unwrap();
/// let line = std::str::from_utf8(&buf[..n]).unwrap();
/// assert!(line.starts_with("<28>")); // daemon.warning
/// assert!(line.ends_with(&format!(" rex_runner[{}]: disk full user=root", std::process::id())));
/// assert_eq!(layer.sent_count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct SyslogLayer {
    inner: Arc<SyslogInner>,
}

fn connect(path: &Path) -> std::io::Result<UnixDatagram> {
    // std creates the socket with SOCK_CLOEXEC, so script-spawned children never inherit it.
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn sanitize_identity(identity: &str) -> String {
    let cleaned: String = identity
        .chars()
        .take(MAX_IDENTITY_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        SYSLOG_IDENTITY.to_owned()
    } else {
        cleaned
    }
}

/// Escapes control characters (newlines included) so an event stays on one line.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl SyslogLayer {
    /// A layer sending to `config.socket`. Never fails: if the socket cannot be reached now,
    /// each event retries the connection once and is dropped (and counted) if that fails.
    #[must_use]
    pub fn new(config: SyslogConfig) -> Self {
        let mut config = config;
        if config.facility > 23 {
            config.facility = SYSLOG_FACILITY_DAEMON;
        }
        config.max_datagram_bytes = config.max_datagram_bytes.max(MIN_DATAGRAM_BYTES);
        let socket = connect(&config.socket).ok();
        SyslogLayer {
            inner: Arc::new(SyslogInner {
                identity: sanitize_identity(&config.identity),
                config,
                pid: std::process::id(),
                socket: Mutex::new(socket),
                sent: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration in use (facility and cap after correction).
    #[must_use]
    pub fn config(&self) -> &SyslogConfig {
        &self.inner.config
    }

    /// Whether the layer currently holds a connected socket.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.inner
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Number of events delivered to the socket.
    #[must_use]
    pub fn sent_count(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Number of events dropped because the socket was missing, full or broken.
    #[must_use]
    pub fn dropped_count(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The datagram for a message at `level`, stamped `at`:
    /// `<PRI>Mmm dd hh:mm:ss IDENTITY[PID]: message`, control characters escaped, capped at
    /// the configured size.
    #[must_use]
    pub fn format_datagram(&self, level: LogLevel, message: &str, at: SystemTime) -> String {
        let inner = &self.inner;
        let pri = u16::from(inner.config.facility) * 8 + u16::from(syslog_severity(level));
        let mut out = format!(
            "<{pri}>{} {}[{}]: ",
            format_bsd_syslog(at),
            inner.identity,
            inner.pid
        );
        let room = inner.config.max_datagram_bytes.saturating_sub(out.len());
        let body = escape_controls(message);
        out.push_str(&truncate_utf8(&body, room));
        out
    }

    /// Sends one datagram; never blocks. Reconnects once if the socket went stale (e.g. the
    /// daemon restarted). Returns whether it was delivered.
    fn send(&self, datagram: &[u8]) -> bool {
        let inner = &self.inner;
        let mut socket = inner.socket.lock().unwrap_or_else(PoisonError::into_inner);
        for _ in 0..2 {
            if socket.is_none() {
                *socket = connect(&inner.config.socket).ok();
            }
            let Some(s) = socket.as_ref() else { break };
            match s.send(datagram) {
                Ok(_) => {
                    inner.sent.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                // The daemon is not keeping up: drop rather than wait.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => *socket = None,
            }
        }
        inner.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }
}

/// Collects `message` and `key=value` pairs; values with spaces, quotes, `=` or control
/// characters are quoted (Rust string escaping).
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

fn push_value(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if needs_quotes {
        let _ = write!(out, "{value:?}");
    } else {
        out.push_str(value);
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}=", field.name());
            push_value(&mut self.fields, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}=", field.name());
            push_value(&mut self.fields, &format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = LogLevel::from_tracing(meta.level());
        if !level.passes(self.inner.config.level) || ScriptLogLayer::captures(meta.target()) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let mut text = visitor.message;
        if text.is_empty() {
            text.push_str(visitor.fields.trim_start());
        } else {
            text.push_str(&visitor.fields);
        }
        let datagram = self.format_datagram(level, &text, SystemTime::now());
        self.send(datagram.as_bytes());
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
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn severities() {
        assert_eq!(syslog_severity(LogLevel::Error), 3);
        assert_eq!(syslog_severity(LogLevel::Warn), 4);
        assert_eq!(syslog_severity(LogLevel::Info), 6);
        assert_eq!(syslog_severity(LogLevel::Debug), 7);
        assert_eq!(syslog_severity(LogLevel::Trace), 7);
    }

    #[test]
    fn identity_is_sanitized() {
        assert_eq!(sanitize_identity("rex_runner"), "rex_runner");
        assert_eq!(sanitize_identity("a b[1]: c"), "a_b_1___c");
        assert_eq!(sanitize_identity(""), SYSLOG_IDENTITY);
        assert_eq!(sanitize_identity(&"x".repeat(100)).len(), MAX_IDENTITY_LEN);
    }

    #[test]
    fn datagram_shape_without_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let layer = SyslogLayer::new(SyslogConfig {
            socket: dir.path().join("absent"),
            facility: 99,
            ..SyslogConfig::default()
        });
        assert!(!layer.is_connected());
        assert_eq!(layer.config().facility, SYSLOG_FACILITY_DAEMON);
        let at = UNIX_EPOCH + Duration::from_secs(1_795_395_000);
        let pid = std::process::id();
        assert_eq!(
            layer.format_datagram(LogLevel::Error, "a\nb\tc", at),
            format!("<27>Nov 23 00:50:00 rex_runner[{pid}]: a\\nb\\tc")
        );
        assert_eq!(
            layer.format_datagram(LogLevel::Trace, "t", at),
            format!("<31>Nov 23 00:50:00 rex_runner[{pid}]: t")
        );
    }

    #[test]
    fn value_quoting() {
        let mut s = String::new();
        push_value(&mut s, "plain");
        push_value(&mut s, " ");
        push_value(&mut s, "a=b");
        push_value(&mut s, "");
        push_value(&mut s, "x\ny");
        assert_eq!(s, r#"plain" ""a=b""""x\ny""#);
    }
}
