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

/// Name of the environment variable that asks for syslog output (REX compatibility).
pub const SYSLOG_ENABLE_ENV: &str = "SYSLOG_ENABLE";

/// What [`init_tracing`] should install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracingConfig {
    /// Minimum level of events that are emitted.
    pub level: LogLevel,
    /// If set, events are appended to this file as JSON lines (created with mode 0600).
    pub json_file: Option<PathBuf>,
    /// Whether events are also written (human-readable) to stderr.
    pub stderr: bool,
    /// Whether syslog output was requested. **Not implemented**: accepted for compatibility
    /// with REX's `SYSLOG_ENABLE`, and reported through [`InitStatus::Installed`]'s
    /// `syslog_ignored` flag.
    pub syslog: bool,
}

impl TracingConfig {
    /// Level from `LOG_LEVEL` (default `INFO`), syslog from `SYSLOG_ENABLE` (`1`/`true`/`yes`),
    /// no file, no stderr.
    #[must_use]
    pub fn from_env() -> Self {
        let syslog = std::env::var(SYSLOG_ENABLE_ENV)
            .map(|v| parse_bool(&v))
            .unwrap_or(false);
        TracingConfig {
            level: LogLevel::from_env(),
            json_file: None,
            stderr: false,
            syslog,
        }
    }
}

fn parse_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Result of [`init_tracing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitStatus {
    /// This call installed the global subscriber.
    Installed {
        /// Syslog was requested but is not implemented, so it was ignored.
        syslog_ignored: bool,
    },
    /// A global subscriber was already installed (by an earlier call or by someone else);
    /// nothing was changed.
    AlreadyInstalled,
}

static INSTALLED: OnceLock<()> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

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
    let json_layer = match &config.json_file {
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
    let result = tracing_subscriber::registry()
        .with(LevelFilter::from_level(config.level.to_tracing()))
        .with(json_layer)
        .with(stderr_layer)
        .try_init();
    match result {
        Ok(()) => {
            let _ = INSTALLED.set(());
            if config.syslog {
                tracing::warn!(
                    "SYSLOG_ENABLE is set but syslog output is not implemented; ignored"
                );
            }
            Ok(InitStatus::Installed {
                syslog_ignored: config.syslog,
            })
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
    fn bool_knob() {
        assert!(parse_bool("1"));
        assert!(parse_bool(" TRUE "));
        assert!(parse_bool("yes"));
        assert!(!parse_bool("0"));
        assert!(!parse_bool(""));
        assert!(!parse_bool("false"));
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
