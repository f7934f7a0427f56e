//! The error type of command execution, with REX's `IoErrorKind` names.

use rex_auth::{AuthError, Denied};

use crate::fs::FsError;
use crate::process::{ProcessError, ProcessErrorKind};

/// REX's `IoErrorKind` names that an execution can fail with (`execute` lives in REX's
/// safe-io crate, so scripts see these under `IoErrorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecErrorKind {
    /// Cedar denied the request.
    PermissionDenied,
    /// Cedar could not evaluate the request.
    AuthorizationError,
    /// An argument, environment variable or option is invalid.
    InvalidArguments,
    /// The handle cannot be executed as it is (not opened read-only).
    ValidationError,
    /// The handle is not a regular file.
    EntryTypeMismatchError,
    /// A user or group name could not be resolved.
    IdentityResolutionError,
    /// A requested feature is not available here (e.g. the runner does not hold a requested
    /// capability).
    UnsupportedOperationError,
    /// The child could not be placed in the target's PID namespace. (REX's name: there it was
    /// fatal because the runner itself had changed namespace; here the runner never does, so
    /// the error is an ordinary one.)
    ProcessNamespaceFatalError,
    /// The entry does not exist.
    NotFound,
    /// An OS error (spawn, wait, read).
    IoError,
    /// Anything else (cancellation, unparsable tool output).
    Other,
}

/// Every way an execution can fail. Nothing is spawned unless every check passed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Cedar denied the request; no process was created.
    #[error(transparent)]
    PermissionDenied(Box<Denied>),
    /// Cedar could not evaluate the request (fail closed).
    #[error("authorization failed: {0}")]
    AuthorizationError(AuthError),
    /// An invalid argument, environment variable or option.
    #[error("invalid argument: {0}")]
    InvalidArguments(String),
    /// The handle was not opened read-only.
    #[error("`{0}` must be opened read-only to be executed")]
    NotReadOnly(String),
    /// The handle is not a regular file.
    #[error("`{path}` is a {found}, not a regular file")]
    NotRegularFile {
        /// The file.
        path: String,
        /// What it is.
        found: &'static str,
    },
    /// A user or group name could not be resolved.
    #[error("cannot resolve {0}")]
    IdentityResolution(String),
    /// A feature this implementation does not offer.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The runner does not hold capabilities that the request needs (a requested capability
    /// it would have to pass on, or `CAP_SETPCAP` to keep a uid-0 child to the requested
    /// set); nothing was spawned.
    #[error("the runner does not hold {} (needed to {needed_for})", .missing.join(", "))]
    MissingCapabilities {
        /// The capabilities missing, canonical names.
        missing: Vec<String>,
        /// What they were needed for.
        needed_for: &'static str,
    },
    /// The process whose PID namespace the child should enter could not be pinned (it does not
    /// exist, or its pidfd could not be opened); nothing was spawned.
    #[error("PID namespace target: {0}")]
    TargetProcess(ProcessError),
    /// Joining the target's PID namespace failed (`EPERM`: the runner lacks `CAP_SYS_ADMIN`
    /// over it; `EINVAL`: the namespace is not the runner's or one of its descendants);
    /// nothing was spawned.
    #[error("cannot enter the PID namespace of process {pid}: {source}")]
    Namespace {
        /// The target process.
        pid: u32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Opening a file through the file-system API failed (helper binaries, core files).
    #[error(transparent)]
    Fs(FsError),
    /// The child could not be created or executed.
    #[error("cannot execute `{path}`: {source}")]
    Spawn {
        /// The authorized path of the executable.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An OS error while supervising the child.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The operation was cancelled through the context's flag; the child was killed.
    #[error("cancelled")]
    Cancelled,
    /// A helper tool produced output that could not be understood.
    #[error("{0}")]
    ToolOutput(String),
}

impl ExecError {
    /// REX's kind name for this error.
    pub fn kind(&self) -> ExecErrorKind {
        match self {
            ExecError::PermissionDenied(_) => ExecErrorKind::PermissionDenied,
            ExecError::AuthorizationError(_) => ExecErrorKind::AuthorizationError,
            ExecError::InvalidArguments(_) => ExecErrorKind::InvalidArguments,
            ExecError::NotReadOnly(_) => ExecErrorKind::ValidationError,
            ExecError::NotRegularFile { .. } => ExecErrorKind::EntryTypeMismatchError,
            ExecError::IdentityResolution(_) => ExecErrorKind::IdentityResolutionError,
            ExecError::Unsupported(_) | ExecError::MissingCapabilities { .. } => {
                ExecErrorKind::UnsupportedOperationError
            }
            ExecError::TargetProcess(e) => match e.kind() {
                ProcessErrorKind::ProcessNotFound => ExecErrorKind::NotFound,
                ProcessErrorKind::ValidationError => ExecErrorKind::InvalidArguments,
                _ => ExecErrorKind::ProcessNamespaceFatalError,
            },
            ExecError::Namespace { .. } => ExecErrorKind::ProcessNamespaceFatalError,
            ExecError::Fs(e) => match e.kind() {
                crate::fs::FsErrorKind::PermissionDenied => ExecErrorKind::PermissionDenied,
                crate::fs::FsErrorKind::AuthorizationError => ExecErrorKind::AuthorizationError,
                crate::fs::FsErrorKind::NotFound => ExecErrorKind::NotFound,
                crate::fs::FsErrorKind::InvalidPath | crate::fs::FsErrorKind::InvalidArguments => {
                    ExecErrorKind::InvalidArguments
                }
                crate::fs::FsErrorKind::EntryTypeMismatchError => {
                    ExecErrorKind::EntryTypeMismatchError
                }
                _ => ExecErrorKind::IoError,
            },
            ExecError::Spawn { source, .. } | ExecError::Io { source, .. } => {
                if source.kind() == std::io::ErrorKind::NotFound {
                    ExecErrorKind::NotFound
                } else {
                    ExecErrorKind::IoError
                }
            }
            ExecError::Cancelled | ExecError::ToolOutput(_) => ExecErrorKind::Other,
        }
    }

    /// The typed denial, if Cedar refused (directly or while opening a helper file).
    pub fn as_denied(&self) -> Option<&Denied> {
        match self {
            ExecError::PermissionDenied(d) => Some(d),
            ExecError::Fs(e) => e.as_denied(),
            _ => None,
        }
    }
}

crate::error::sdk_error!(
    ExecError,
    module: crate::error::kind_module::IO,
    denied: ExecError::PermissionDenied,
    auth: auth_failure,
    denial: ExecError::as_denied,
);

/// An authorization failure that is not a denial: invalid values and arguments are the
/// caller's arguments, anything else an authorization error.
fn auth_failure(e: AuthError) -> ExecError {
    match e {
        AuthError::InvalidValue { what, message } => {
            ExecError::InvalidArguments(format!("{what}: {message}"))
        }
        AuthError::InvalidArguments(p) => ExecError::InvalidArguments(p.to_string()),
        other => ExecError::AuthorizationError(other),
    }
}

impl From<FsError> for ExecError {
    fn from(e: FsError) -> Self {
        ExecError::Fs(e)
    }
}
