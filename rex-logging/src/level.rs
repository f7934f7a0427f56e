//! Log levels and the `LOG_LEVEL` environment variable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::LogError;

/// Name of the environment variable that selects the minimum log level.
pub const LOG_LEVEL_ENV: &str = "LOG_LEVEL";

/// Severity of a log entry, ordered from least (`TRACE`) to most (`ERROR`) severe.
/// Serialized in upper case, as in REX's output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging output (also Rhai's `debug(x)`).
    Debug,
    /// Normal informational messages (the default minimum level).
    #[default]
    Info,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
}

impl LogLevel {
    /// All levels, least severe first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    /// Upper-case name, as serialized (`"INFO"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }

    /// Parses a `LOG_LEVEL` value leniently: case-insensitive, surrounding whitespace ignored,
    /// `WARNING` accepted for `WARN`. An empty or unrecognized value gives the default, `INFO`.
    #[must_use]
    pub fn from_env_str(value: &str) -> LogLevel {
        value.parse().unwrap_or_default()
    }

    /// Reads [`LOG_LEVEL_ENV`] from the process environment; `INFO` if unset or invalid.
    #[must_use]
    pub fn from_env() -> LogLevel {
        std::env::var(LOG_LEVEL_ENV)
            .map(|v| LogLevel::from_env_str(&v))
            .unwrap_or_default()
    }

    /// Whether an entry of level `self` passes a filter whose minimum level is `min`.
    #[must_use]
    pub fn passes(self, min: LogLevel) -> bool {
        self >= min
    }

    /// The matching `tracing` level.
    #[must_use]
    pub const fn to_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }

    /// The matching level of a `tracing` event.
    #[must_use]
    pub fn from_tracing(level: &tracing::Level) -> LogLevel {
        match *level {
            tracing::Level::TRACE => LogLevel::Trace,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::ERROR => LogLevel::Error,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = LogError;

    /// Strict parse: case-insensitive, whitespace-trimmed; unknown values are an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Ok(LogLevel::Trace),
            "DEBUG" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARN" | "WARNING" => Ok(LogLevel::Warn),
            "ERROR" => Ok(LogLevel::Error),
            _ => Err(LogError::UnknownLevel(s.to_owned())),
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
    fn parse_env_values() {
        assert_eq!(LogLevel::from_env_str("debug"), LogLevel::Debug);
        assert_eq!(LogLevel::from_env_str(" TRACE \n"), LogLevel::Trace);
        assert_eq!(LogLevel::from_env_str("Warning"), LogLevel::Warn);
        assert_eq!(LogLevel::from_env_str("warn"), LogLevel::Warn);
        assert_eq!(LogLevel::from_env_str("ERROR"), LogLevel::Error);
        assert_eq!(LogLevel::from_env_str(""), LogLevel::Info);
        assert_eq!(LogLevel::from_env_str("verbose"), LogLevel::Info);
        assert!("verbose".parse::<LogLevel>().is_err());
    }

    #[test]
    fn ordering_and_filter() {
        assert!(LogLevel::Error.passes(LogLevel::Info));
        assert!(LogLevel::Info.passes(LogLevel::Info));
        assert!(!LogLevel::Debug.passes(LogLevel::Info));
        assert!(LogLevel::Trace < LogLevel::Debug);
    }

    #[test]
    fn serde_upper_case_and_tracing_roundtrip() {
        for l in LogLevel::ALL {
            let j = serde_json::to_string(&l).unwrap();
            assert_eq!(j, format!("\"{}\"", l.as_str()));
            assert_eq!(serde_json::from_str::<LogLevel>(&j).unwrap(), l);
            assert_eq!(LogLevel::from_tracing(&l.to_tracing()), l);
            assert_eq!(l.to_string().parse::<LogLevel>().unwrap(), l);
        }
    }
}
