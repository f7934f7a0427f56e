//! The one place where rust-sdk errors become script errors.
//!
//! Every failure of an SDK call is raised as a Rhai runtime error whose payload is the map
//! `#{kind, message, source}` built by [`rex_core::error_map`]. `source` is REX's module name
//! (`IoErrorKind`, `ProcessErrorKind`, ...) and `kind` the variant name of the SDK error's
//! `kind()`. A Cedar denial also carries the typed [`Denied`] (taken from the error value,
//! never parsed from text), so that the run is classified as access denied.

use rex_auth::Denied;
use rhai::{Engine, EvalAltResult, Module, Position};
use rust_sdk::SdkError;
use rust_sdk::error::kind_module;

/// `source` of file-system errors.
pub const IO_SOURCE: &str = kind_module::IO;
/// `source` of process errors.
pub const PROCESS_SOURCE: &str = kind_module::PROCESS;
/// `source` of system-information errors.
pub const SYSTEMINFO_SOURCE: &str = kind_module::SYSTEMINFO;
/// `source` of disk-information errors.
pub const DISKINFO_SOURCE: &str = kind_module::DISKINFO;
/// `source` of network errors.
pub const NETWORK_SOURCE: &str = kind_module::NETWORK;
/// `source` of common-utility errors.
pub const COMMON_SOURCE: &str = "CommonUtilsErrorKind";

/// The kind names of each error module (REX §2.8). Registered as string constants so scripts
/// can write `e.kind == IoErrorKind::PermissionDenied`.
pub const KIND_MODULES: &[(&str, &[&str])] = &[
    (
        IO_SOURCE,
        &[
            "InvalidPath",
            "InvalidArguments",
            "InvalidFileMode",
            "ValidationError",
            "DirectoryOpenError",
            "DirectoryError",
            "FileError",
            "DestinationFileNotEmptyError",
            "NotFound",
            "DirectoryNotEmpty",
            "PermissionDenied",
            "AuthorizationError",
            "IdentityResolutionError",
            "UnsupportedOperationError",
            "FileContentTooLargeError",
            "FileCopyError",
            "FileReadError",
            "EntryTypeMismatchError",
            "IoError",
            "TryFromIntError",
            "RustixError",
            "Utf8Error",
            "CallbackError",
            "ProcessNamespaceFatalError",
            "Other",
        ],
    ),
    (
        PROCESS_SOURCE,
        &[
            "ProcessNotFound",
            "PidNamespaceOperationError",
            "NamespaceOperationError",
            "PermissionDenied",
            "AuthorizationError",
            "ValidationError",
            "CallbackExecutionError",
            "ProcessEnumerationError",
            "DBusError",
            "PrivilegeError",
            "ServiceNotFound",
            "Other",
        ],
    ),
    (
        SYSTEMINFO_SOURCE,
        &[
            "PermissionDenied",
            "AuthorizationError",
            "IoError",
            "InvalidParameter",
            "InvalidValue",
            "PrivilegeError",
            "CapsError",
            "ProcFsError",
            "Other",
        ],
    ),
    (
        DISKINFO_SOURCE,
        &[
            "InvalidPath",
            "PermissionDenied",
            "AuthorizationError",
            "SystemError",
            "TryFromIntError",
            "IoError",
            "NixError",
            "Other",
        ],
    ),
    (
        NETWORK_SOURCE,
        &[
            "PermissionDenied",
            "AuthorizationError",
            "RequestError",
            "Other",
        ],
    ),
    (
        COMMON_SOURCE,
        &["ParseError", "InvalidArguments", "FormatError", "Other"],
    ),
];

/// Everything a script error map is built from: the REX `kind` and `source` names, a message,
/// and the typed Cedar denial when the error is one.
///
/// Every rust-sdk error type converts into it through one generic `From` over
/// [`rust_sdk::SdkError`]; vendor crates either implement `SdkError` for their error type or
/// `From<TheirError> for SdkErrorInfo` to use [`crate::vendor`]'s helpers.
#[derive(Debug, Clone)]
pub struct SdkErrorInfo {
    /// The kind name (`PermissionDenied`, `NotFound`, ...).
    pub kind: String,
    /// A human-readable message.
    pub message: String,
    /// The error module name (`IoErrorKind`, ...).
    pub source: String,
    /// The Cedar denial, when Cedar refused.
    pub denial: Option<Denied>,
}

impl SdkErrorInfo {
    /// An error that is not a denial.
    pub fn new(source: &str, kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_string(),
            message: message.into(),
            source: source.to_string(),
            denial: None,
        }
    }

    /// A Cedar denial (kind `PermissionDenied`).
    pub fn denied(source: &str, denied: &Denied) -> Self {
        Self {
            kind: "PermissionDenied".to_string(),
            message: denied.to_string(),
            source: source.to_string(),
            denial: Some(denied.clone()),
        }
    }

    /// The Rhai runtime error carrying `#{kind, message, source}` (and the denial token).
    /// The denial is recorded for the current run by [`rex_core::error_map`].
    pub fn into_script_error(self, pos: Position) -> Box<EvalAltResult> {
        rex_core::script_error(
            rex_core::error_map(&self.kind, &self.message, &self.source, self.denial),
            pos,
        )
    }
}

/// Turns any SDK error into the script error (position filled in by Rhai at the call site).
pub fn to_script_error<E: Into<SdkErrorInfo>>(err: E) -> Box<EvalAltResult> {
    err.into().into_script_error(Position::NONE)
}

/// A non-denial script error of the given module and kind.
pub(crate) fn script_err(
    source: &str,
    kind: &str,
    message: impl Into<String>,
) -> Box<EvalAltResult> {
    SdkErrorInfo::new(source, kind, message).into_script_error(Position::NONE)
}

/// The one conversion of every rust-sdk error: its kind name and error module, and the typed
/// denial when Cedar refused (see [`rust_sdk::SdkError`]).
impl<E: SdkError> From<E> for SdkErrorInfo {
    fn from(e: E) -> Self {
        if let Some(d) = e.denial() {
            return Self::denied(E::KIND_MODULE, d);
        }
        Self::new(E::KIND_MODULE, &e.kind_name(), e.to_string())
    }
}

/// Registers the kind modules (`IoErrorKind::PermissionDenied` == `"PermissionDenied"`, ...).
pub fn register_kind_modules(engine: &mut Engine) {
    register_string_constants(engine, KIND_MODULES);
}

/// Registers static modules of string constants, each constant equal to its own name
/// (`Module::NAME == "NAME"`).
pub(crate) fn register_string_constants(engine: &mut Engine, modules: &[(&str, &[&str])]) {
    for (name, values) in modules {
        if !crate::binding::namespace_reachable(name) {
            continue;
        }
        let mut module = Module::new();
        for v in *values {
            module.set_var(*v, (*v).to_string());
        }
        engine.register_static_module(*name, module.into());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use rust_sdk::disk::DiskError;
    use rust_sdk::exec::ExecError;
    use rust_sdk::fs::FsError;
    use rust_sdk::network::NetworkError;
    use rust_sdk::process::ProcessError;
    use rust_sdk::sysctl::SysctlError;
    use rust_sdk::system::SysinfoError;
    use rust_sdk::systemd::SystemdError;

    use super::*;

    fn info(e: impl Into<SdkErrorInfo>) -> (String, String, String) {
        let i = e.into();
        assert!(i.denial.is_none());
        (i.source, i.kind, i.message)
    }

    #[test]
    fn every_sdk_error_keeps_its_module_kind_and_message() {
        let t = |s: &str, k: &str, m: &str| (s.to_string(), k.to_string(), m.to_string());
        assert_eq!(
            info(FsError::InvalidArguments("x".into())),
            t(IO_SOURCE, "InvalidArguments", "invalid argument: x")
        );
        assert_eq!(
            info(ExecError::Cancelled),
            t(IO_SOURCE, "Other", "cancelled")
        );
        assert_eq!(
            info(ProcessError::Validation("x".into())),
            t(PROCESS_SOURCE, "ValidationError", "invalid argument: x")
        );
        assert_eq!(
            info(SystemdError::DBus("x".into())),
            t(PROCESS_SOURCE, "DBusError", "D-Bus error: x")
        );
        assert_eq!(
            info(SysinfoError::InvalidValue("x".into())),
            t(SYSTEMINFO_SOURCE, "InvalidValue", "invalid value: x")
        );
        assert_eq!(
            info(SysctlError::InvalidParameter("x".into())),
            t(
                SYSTEMINFO_SOURCE,
                "InvalidParameter",
                "invalid parameter: x"
            )
        );
        assert_eq!(
            info(DiskError::InvalidPath("x".into())),
            t(DISKINFO_SOURCE, "InvalidPath", "invalid path `x`")
        );
        assert_eq!(
            info(NetworkError::TooManyRedirects),
            t(
                NETWORK_SOURCE,
                "RequestError",
                "too many redirects (more than 5)"
            )
        );
    }
}
