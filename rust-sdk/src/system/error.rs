//! The error type of the system-information API and its REX-compatible kinds
//! (`SysteminfoErrorKind`).

use super::*;

/// The kind of a [`SysinfoError`], mirroring REX's `SysteminfoErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SysinfoErrorKind {
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// An OS error.
    IoError,
    /// An invalid argument.
    InvalidParameter,
    /// A value read from the system could not be interpreted.
    InvalidValue,
    /// `/proc` could not be parsed.
    ProcFsError,
    /// Anything else (including unsupported requests).
    Other,
}

/// Errors of the system-information API.
#[derive(Debug, thiserror::Error)]
pub enum SysinfoError {
    /// Cedar denied the operation; nothing was read.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// An OS error.
    #[error("{op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An invalid argument.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A system value could not be interpreted.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// `/proc` could not be read or parsed.
    #[error("procfs error: {0}")]
    ProcFs(String),
    /// The operation timed out.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl SysinfoError {
    /// REX's error kind.
    pub fn kind(&self) -> SysinfoErrorKind {
        match self {
            SysinfoError::Denied(_) => SysinfoErrorKind::PermissionDenied,
            SysinfoError::Auth(_) => SysinfoErrorKind::AuthorizationError,
            SysinfoError::Io { .. } => SysinfoErrorKind::IoError,
            SysinfoError::InvalidParameter(_) => SysinfoErrorKind::InvalidParameter,
            SysinfoError::InvalidValue(_) => SysinfoErrorKind::InvalidValue,
            SysinfoError::ProcFs(_) => SysinfoErrorKind::ProcFsError,
            SysinfoError::Timeout(_) => SysinfoErrorKind::Other,
        }
    }
}

crate::error::sdk_error!(
    SysinfoError,
    module: crate::error::kind_module::SYSTEMINFO,
    denied: SysinfoError::Denied,
    auth: SysinfoError::Auth,
);

impl From<crate::proc_file::ProcReadError> for SysinfoError {
    fn from(e: crate::proc_file::ProcReadError) -> Self {
        SysinfoError::Io {
            op: e.op,
            source: e.source,
        }
    }
}

pub(super) fn procfs_err(e: impl std::fmt::Display) -> SysinfoError {
    SysinfoError::ProcFs(e.to_string())
}
