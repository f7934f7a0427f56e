//! The single error type of the file-system API and its REX-compatible kinds (§2.8).

use rex_auth::{AuthError, Denied};

/// REX's `IoErrorKind` names, as scripts see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsErrorKind {
    /// A path that cannot name a file-system resource.
    InvalidPath,
    /// An argument outside its domain.
    InvalidArguments,
    /// A mode outside `0..=0o777`.
    InvalidFileMode,
    /// The entry does not exist.
    NotFound,
    /// A directory could not be removed because it has entries.
    DirectoryNotEmpty,
    /// A copy destination already has content and `force` was not given.
    DestinationFileNotEmptyError,
    /// Cedar denied the request.
    PermissionDenied,
    /// Cedar could not evaluate the request.
    AuthorizationError,
    /// A user or group name could not be resolved.
    IdentityResolutionError,
    /// The content exceeds the configured read limit.
    FileContentTooLargeError,
    /// The entry is not of the expected type (e.g. a FIFO opened for reading).
    EntryTypeMismatchError,
    /// A file changed between authorization and use.
    FileError,
    /// Content is not valid UTF-8.
    Utf8Error,
    /// Content that cannot be parsed (not an ELF file, a malformed archive or certificate).
    FileReadError,
    /// A check on content failed (e.g. certificate verification).
    ValidationError,
    /// Any other OS error.
    IoError,
    /// Anything else (limits, cancellation).
    Other,
}

/// Every way a file-system operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Cedar denied the request; nothing was done on the host.
    #[error(transparent)]
    PermissionDenied(Box<Denied>),
    /// Cedar could not evaluate the request (fail closed).
    #[error("authorization failed: {0}")]
    AuthorizationError(AuthError),
    /// The path cannot name a resource (relative, `..`, control characters, not UTF-8...).
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given (lossily decoded).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArguments(String),
    /// A mode outside `0..=0o777`.
    #[error("invalid file mode {0:#o}")]
    InvalidFileMode(i64),
    /// The content is larger than `SdkLimits::max_read_bytes`.
    #[error("`{path}` is larger than the read limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A copy destination has content and `force` was not given.
    #[error("destination `{0}` is not empty")]
    DestinationFileNotEmpty(String),
    /// The entry has an unexpected type.
    #[error("`{path}` is a {found}, expected a {expected}")]
    EntryTypeMismatch {
        /// The entry.
        path: String,
        /// The expected type.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// The name no longer refers to the inode that was opened and authorized.
    #[error("`{0}` changed since it was opened")]
    Changed(String),
    /// A user or group name could not be resolved.
    #[error("cannot resolve {0}")]
    IdentityResolution(String),
    /// Content is not valid UTF-8.
    #[error("`{0}` is not valid UTF-8")]
    Utf8(String),
    /// Content that cannot be parsed as what the operation expects.
    #[error("`{path}`: {reason}")]
    InvalidContent {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extraction or decompression limit was exceeded.
    #[error("`{path}`: {reason}")]
    LimitExceeded {
        /// The file.
        path: String,
        /// Which limit, and its value.
        reason: String,
    },
    /// The result would pass the caller's memory budget
    /// ([`MemoryBudget`](crate::MemoryBudget)); nothing more was built.
    #[error(transparent)]
    MemoryBudget(#[from] crate::context::BudgetExceeded),
    /// A certificate did not verify.
    #[error("certificate `{path}` did not verify: {reason}")]
    CertificateInvalid {
        /// The certificate file.
        path: String,
        /// Why verification failed.
        reason: String,
    },
    /// A walk or listing would return more than `SdkLimits::max_entries` entries.
    #[error("more than {0} entries")]
    TooManyEntries(usize),
    /// The operation was cancelled through the context's flag.
    #[error("cancelled")]
    Cancelled,
    /// An OS error; the errno is kept in `source`.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// The operation (`open`, `unlink`, ...).
        op: &'static str,
        /// The path concerned.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    /// REX's kind name for this error.
    pub fn kind(&self) -> FsErrorKind {
        match self {
            FsError::PermissionDenied(_) => FsErrorKind::PermissionDenied,
            FsError::AuthorizationError(_) => FsErrorKind::AuthorizationError,
            FsError::InvalidPath { .. } => FsErrorKind::InvalidPath,
            FsError::InvalidArguments(_) => FsErrorKind::InvalidArguments,
            FsError::InvalidFileMode(_) => FsErrorKind::InvalidFileMode,
            FsError::FileTooLarge { .. } => FsErrorKind::FileContentTooLargeError,
            FsError::DestinationFileNotEmpty(_) => FsErrorKind::DestinationFileNotEmptyError,
            FsError::EntryTypeMismatch { .. } => FsErrorKind::EntryTypeMismatchError,
            FsError::Changed(_) => FsErrorKind::FileError,
            FsError::IdentityResolution(_) => FsErrorKind::IdentityResolutionError,
            FsError::Utf8(_) => FsErrorKind::Utf8Error,
            FsError::InvalidContent { .. } => FsErrorKind::FileReadError,
            FsError::LimitExceeded { .. } => FsErrorKind::FileContentTooLargeError,
            FsError::CertificateInvalid { .. } => FsErrorKind::ValidationError,
            FsError::TooManyEntries(_) | FsError::Cancelled | FsError::MemoryBudget(_) => {
                FsErrorKind::Other
            }
            FsError::Io { source, .. } => match source.raw_os_error() {
                Some(libc_enoent) if libc_enoent == rustix::io::Errno::NOENT.raw_os_error() => {
                    FsErrorKind::NotFound
                }
                Some(e) if e == rustix::io::Errno::NOTEMPTY.raw_os_error() => {
                    FsErrorKind::DirectoryNotEmpty
                }
                _ if source.kind() == std::io::ErrorKind::NotFound => FsErrorKind::NotFound,
                _ => FsErrorKind::IoError,
            },
        }
    }

    /// The OS errno, for [`FsError::Io`].
    pub fn errno(&self) -> Option<i32> {
        match self {
            FsError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The typed denial, if Cedar refused.
    pub fn as_denied(&self) -> Option<&Denied> {
        match self {
            FsError::PermissionDenied(d) => Some(d),
            _ => None,
        }
    }

    /// Builds an [`FsError::Io`] from a rustix errno.
    pub(crate) fn os(op: &'static str, path: &str, e: rustix::io::Errno) -> Self {
        FsError::Io {
            op,
            path: path.to_string(),
            source: std::io::Error::from_raw_os_error(e.raw_os_error()),
        }
    }

    /// Builds an [`FsError::Io`] from a std error.
    pub(crate) fn io(op: &'static str, path: &str, e: std::io::Error) -> Self {
        FsError::Io {
            op,
            path: path.to_string(),
            source: e,
        }
    }
}

crate::error::sdk_error!(
    FsError,
    module: crate::error::kind_module::IO,
    denied: FsError::PermissionDenied,
    auth: auth_failure,
    denial: FsError::as_denied,
);

/// An authorization failure that is not a denial: an invalid path or value is the caller's
/// path, anything else an authorization error.
fn auth_failure(e: AuthError) -> FsError {
    match e {
        AuthError::InvalidPath { path, problem } => FsError::InvalidPath {
            path,
            reason: problem.to_string(),
        },
        AuthError::InvalidValue { what, message } => FsError::InvalidPath {
            path: message.clone(),
            reason: format!("invalid {what}: {message}"),
        },
        other => FsError::AuthorizationError(other),
    }
}
