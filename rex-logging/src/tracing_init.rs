//! Process-wide `tracing` subscriber setup.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::LogError;
use crate::level::LogLevel;
use crate::syslog::{SyslogConfig, SyslogLayer};

/// Name of the environment variable that turns syslog output off (REX compatibility):
/// syslog is on unless it is `0`, `false`, `no` or `off`.
pub const SYSLOG_ENABLE_ENV: &str = "SYSLOG_ENABLE";

/// What [`init_tracing`] should install.
///
/// The derived `Default` installs nothing but the level filter (no file, no stderr, no
/// syslog); the CLI starts from [`TracingConfig::from_env`], which turns syslog on as REX does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracingConfig {
    /// Minimum level of events that are emitted.
    pub level: LogLevel,
    /// If set, events are appended to this file as JSON lines (created with mode 0600).
    pub json_file: Option<PathBuf>,
    /// Whether `json_file` is opened later, by [`open_deferred_json_file`], instead of by
    /// [`init_tracing`]: a caller that must first check the path (e.g. that the script
    /// about to run cannot reach it) installs the subscriber at once and decides later.
    /// Events until then are kept in memory (up to [`DEFERRED_BUFFER_BYTES`]) and written
    /// when the file is opened; [`discard_deferred_json_file`] drops them and never creates
    /// the file.
    pub defer_json_file: bool,
    /// Whether events are also written (human-readable) to stderr.
    pub stderr: bool,
    /// Whether events are sent to syslog (facility daemon, identity `rex_runner`, with the
    /// pid; see [`SyslogLayer`]). Script logs never go there.
    pub syslog: bool,
    /// The syslog socket; `None` means [`crate::DEFAULT_SYSLOG_SOCKET`] (`/dev/log`).
    pub syslog_socket: Option<PathBuf>,
}

impl TracingConfig {
    /// Level from `LOG_LEVEL` (default `INFO`); syslog on unless `SYSLOG_ENABLE` is `0`,
    /// `false`, `no` or `off` (REX's default); no file, no stderr.
    #[must_use]
    pub fn from_env() -> Self {
        let syslog = !std::env::var(SYSLOG_ENABLE_ENV).is_ok_and(|v| parse_disabled(&v));
        TracingConfig {
            level: LogLevel::from_env(),
            json_file: None,
            defer_json_file: false,
            stderr: false,
            syslog,
            syslog_socket: None,
        }
    }
}

/// Whether a `SYSLOG_ENABLE` value turns syslog off.
fn parse_disabled(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "0" | "false" | "no" | "off"
    )
}

/// Result of [`init_tracing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitStatus {
    /// This call installed the global subscriber.
    Installed {
        /// Whether a syslog layer was installed (see [`installed_syslog`] for its counters).
        syslog: bool,
    },
    /// A global subscriber was already installed (by an earlier call or by someone else);
    /// nothing was changed.
    AlreadyInstalled,
}

static INSTALLED: OnceLock<()> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());
static SYSLOG: OnceLock<SyslogLayer> = OnceLock::new();

/// The syslog layer [`init_tracing`] installed, if any (clones share its counters, e.g.
/// [`SyslogLayer::dropped_count`]).
#[must_use]
pub fn installed_syslog() -> Option<SyslogLayer> {
    SYSLOG.get().cloned()
}

fn open_json_file(path: &Path) -> Result<File, LogError> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.file_type().is_file()
    {
        return Err(LogError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// The most bytes of events kept for a deferred JSON file before it is opened; later events
/// are dropped (and counted by [`deferred_json_dropped`]).
pub const DEFERRED_BUFFER_BYTES: usize = 1 << 20;

/// Where JSON events go when the file is deferred.
#[derive(Debug)]
enum Deferred {
    /// Not installed.
    Unused,
    /// Installed, file not opened yet: the path and the events so far.
    Pending(PathBuf, Vec<u8>),
    /// Opened.
    Open(File),
    /// Discarded: events go nowhere.
    Discarded,
}

static DEFERRED: Mutex<Deferred> = Mutex::new(Deferred::Unused);
static DEFERRED_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Events dropped because a deferred JSON file's buffer was full.
#[must_use]
pub fn deferred_json_dropped() -> u64 {
    DEFERRED_DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The writer of a deferred JSON file (one event per `write`).
struct DeferredWriter;

impl std::io::Write for DeferredWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = DEFERRED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *state {
            Deferred::Open(f) => return f.write(buf),
            Deferred::Pending(_, kept) => {
                if kept.len().saturating_add(buf.len()) <= DEFERRED_BUFFER_BYTES {
                    kept.extend_from_slice(buf);
                } else {
                    DEFERRED_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Deferred::Unused | Deferred::Discarded => {}
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the JSON file that [`init_tracing`] deferred ([`TracingConfig::defer_json_file`])
/// and writes the events kept so far. Does nothing when no file is deferred, when it is
/// already open or was discarded.
pub fn open_deferred_json_file() -> Result<(), LogError> {
    use std::io::Write;
    let mut state = DEFERRED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Deferred::Pending(path, kept) = &*state else {
        return Ok(());
    };
    let mut file = open_json_file(path)?;
    file.write_all(kept).map_err(|source| LogError::Open {
        path: path.clone(),
        source,
    })?;
    *state = Deferred::Open(file);
    Ok(())
}

/// Drops the events kept for a deferred JSON file and never opens it (nor creates it):
/// later events go nowhere.
pub fn discard_deferred_json_file() {
    let mut state = DEFERRED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if matches!(*state, Deferred::Pending(..)) {
        *state = Deferred::Discarded;
    }
}

/// Installs the process-wide `tracing` subscriber described by `config`.
///
/// Idempotent: a second call (or a call after another subscriber was installed) returns
/// `Ok(InitStatus::AlreadyInstalled)` and changes nothing. Never panics. Fails only if the
/// JSON file cannot be opened or the subscriber cannot be installed for another reason.
pub fn init_tracing(config: &TracingConfig) -> Result<InitStatus, LogError> {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if INSTALLED.get().is_some() {
        return Ok(InitStatus::AlreadyInstalled);
    }
    let deferred_layer = match &config.json_file {
        Some(path) if config.defer_json_file => {
            *DEFERRED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Deferred::Pending(path.clone(), Vec::new());
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(|| DeferredWriter),
            )
        }
        _ => None,
    };
    let json_layer = match &config.json_file {
        Some(_) if config.defer_json_file => None,
        Some(path) => {
            let file = open_json_file(path)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(Mutex::new(file)),
            )
        }
        None => None,
    };
    let stderr_layer = config.stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::io::stderr)
    });
    let syslog_layer = config.syslog.then(|| {
        let mut syslog = SyslogConfig {
            level: config.level,
            ..SyslogConfig::default()
        };
        if let Some(path) = &config.syslog_socket {
            syslog.socket.clone_from(path);
        }
        SyslogLayer::new(syslog)
    });
    let result = tracing_subscriber::registry()
        .with(LevelFilter::from_level(config.level.to_tracing()))
        .with(json_layer)
        .with(deferred_layer)
        .with(stderr_layer)
        .with(syslog_layer.clone())
        .try_init();
    match result {
        Ok(()) => {
            let _ = INSTALLED.set(());
            let syslog = syslog_layer.is_some();
            if let Some(layer) = syslog_layer {
                let _ = SYSLOG.set(layer);
            }
            Ok(InitStatus::Installed { syslog })
        }
        Err(e) => {
            // `try_init` fails when a global default dispatcher already exists.
            if tracing::dispatcher::has_been_set() {
                let _ = INSTALLED.set(());
                Ok(InitStatus::AlreadyInstalled)
            } else {
                Err(LogError::Subscriber(e.to_string()))
            }
        }
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

    #[test]
    fn syslog_enable_knob() {
        for off in ["0", " FALSE ", "no", "Off"] {
            assert!(parse_disabled(off), "{off:?}");
        }
        for on in ["1", "true", "yes", "on", "", "2"] {
            assert!(!parse_disabled(on), "{on:?}");
        }
    }

    #[test]
    fn json_file_must_be_regular() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_json_file(dir.path()).unwrap_err();
        assert!(matches!(err, LogError::NotRegularFile { .. }));
        let target = dir.path().join("t");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open_json_file(&link).unwrap_err(),
            LogError::NotRegularFile { .. }
        ));
    }
}
