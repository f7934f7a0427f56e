//! Error type of the crate.

use std::path::PathBuf;

/// Errors returned by rex-logging.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A log or audit file could not be opened.
    #[error("cannot open log file {path}: {source}")]
    Open {
        /// The file that could not be opened.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a regular file (for example a symlink or a directory).
    #[error("log file {path} is not a regular file")]
    NotRegularFile {
        /// The offending path.
        path: PathBuf,
    },
    /// A log level string was not recognized.
    #[error("unknown log level {0:?} (expected TRACE, DEBUG, INFO, WARN or ERROR)")]
    UnknownLevel(String),
    /// The global tracing subscriber could not be installed.
    #[error("cannot install the tracing subscriber: {0}")]
    Subscriber(String),
}
