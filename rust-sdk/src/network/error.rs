//! The error type of the network API and its REX-compatible kinds (`NetworkErrorKind`).

use super::*;

/// The kind of a [`NetworkError`], mirroring REX's `NetworkErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkErrorKind {
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// The request failed (invalid URL, connection, protocol, too large, too many redirects).
    RequestError,
    /// Anything else.
    Other,
}

/// Errors of the network API.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Cedar denied the operation; no socket was opened.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// The URL is not acceptable.
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The request failed.
    #[error("request failed: {0}")]
    Request(String),
    /// The response body exceeded the limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooManyRedirects,
    /// Connecting failed.
    #[error("connect to {endpoint} failed: {source}")]
    Connect {
        /// Host and port.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading `/proc/net` failed.
    #[error("cannot read socket table: {0}")]
    ProcFs(String),
}

impl NetworkError {
    /// REX's error kind.
    pub fn kind(&self) -> NetworkErrorKind {
        match self {
            NetworkError::Denied(_) => NetworkErrorKind::PermissionDenied,
            NetworkError::Auth(_) => NetworkErrorKind::AuthorizationError,
            NetworkError::InvalidUrl { .. }
            | NetworkError::Request(_)
            | NetworkError::BodyTooLarge { .. }
            | NetworkError::TooManyRedirects
            | NetworkError::Connect { .. } => NetworkErrorKind::RequestError,
            NetworkError::ProcFs(_) => NetworkErrorKind::Other,
        }
    }
}

crate::error::sdk_error!(
    NetworkError,
    module: crate::error::kind_module::NETWORK,
    denied: NetworkError::Denied,
    auth: NetworkError::Auth,
);
