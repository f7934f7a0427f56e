//! The error type of the process API and its REX-compatible kinds (`ProcessErrorKind`).

use super::*;

/// The kind of a [`ProcessError`], mirroring REX's `ProcessErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessErrorKind {
    /// The process does not exist (or exited).
    ProcessNotFound,
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// Invalid input.
    ValidationError,
    /// `/proc` could not be enumerated or parsed.
    ProcessEnumerationError,
    /// A D-Bus failure (systemd).
    DBusError,
    /// The systemd unit does not exist.
    ServiceNotFound,
    /// Entering a namespace failed.
    NamespaceOperationError,
    /// A callback failed.
    CallbackExecutionError,
    /// Anything else (an OS error while signalling).
    Other,
}

/// Errors of the process API.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Cedar denied the operation; nothing was done.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason (invalid resource, evaluation error).
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// No such process.
    #[error("process {pid} not found")]
    NotFound {
        /// The PID asked for.
        pid: u32,
    },
    /// Invalid arguments.
    #[error("invalid argument: {0}")]
    Validation(String),
    /// Reading `/proc` failed.
    #[error("cannot enumerate processes: {0}")]
    Enumeration(String),
    /// An OS error.
    #[error("{op} failed: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Entering a namespace failed.
    #[error("namespace operation {op} failed: {source}")]
    Namespace {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A callback failed (e.g. panicked).
    #[error("callback failed: {0}")]
    Callback(String),
    /// The operation is not supported (the message says why).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ProcessError {
    /// REX's error kind.
    pub fn kind(&self) -> ProcessErrorKind {
        match self {
            ProcessError::Denied(_) => ProcessErrorKind::PermissionDenied,
            ProcessError::Auth(_) => ProcessErrorKind::AuthorizationError,
            ProcessError::NotFound { .. } => ProcessErrorKind::ProcessNotFound,
            ProcessError::Validation(_) => ProcessErrorKind::ValidationError,
            ProcessError::Enumeration(_) => ProcessErrorKind::ProcessEnumerationError,
            ProcessError::Os { .. } | ProcessError::Unsupported(_) => ProcessErrorKind::Other,
            ProcessError::Namespace { .. } => ProcessErrorKind::NamespaceOperationError,
            ProcessError::Callback(_) => ProcessErrorKind::CallbackExecutionError,
        }
    }
}

crate::error::sdk_error!(
    ProcessError,
    module: crate::error::kind_module::PROCESS,
    denied: ProcessError::Denied,
    auth: ProcessError::Auth,
);

impl From<crate::proc_file::ProcReadError> for ProcessError {
    fn from(e: crate::proc_file::ProcReadError) -> Self {
        ProcessError::Os {
            op: e.op,
            source: e.source,
        }
    }
}

pub(super) fn enum_err(e: impl std::fmt::Display) -> ProcessError {
    ProcessError::Enumeration(e.to_string())
}
