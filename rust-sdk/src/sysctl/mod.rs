//! Kernel parameters (`sysctl`): read, write, find by regular expression, and reload the
//! configuration files ([`load_system`]).
//!
//! A key such as `net.ipv4.ip_forward` (characters `[a-z0-9_.-/]`, `.` and `/` both separate
//! components) maps to `/proc/sys/net/ipv4/ip_forward`, and is gated exactly like a file:
//! `open` + `read` on `file_system::File::"/proc/sys/..."` to read it, `open` + `write` to
//! write it. Unlike REX, nothing is ever retried or run with elevated privileges: the checks
//! always use the caller's principal, and the kernel's own permission checks apply on top.
//! Files are opened with `O_NOFOLLOW`.
//!
//! [`load_system`] (REX's `sc.load_system()`) checks `sysctl::Action::"load"`, then opens the
//! `sysctl` binary through the gated file-system API and runs `sysctl --system` through
//! [`crate::exec::execute`], so `file_system::Action::"execute"` on the binary (with the
//! argument `--system`, an empty environment and the caller's identity in the context) must be
//! allowed too. REX ran it as root with extra capabilities and without the `execute` check.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use rex_auth::{Action, AuthError, Denied, Resource, ResourceKind, ResourcePath};

use crate::exec::{ExecError, ExecErrorKind, ExecuteOptions, ExecuteResult};
use crate::system::SysinfoErrorKind;
use crate::{Permit, SdkContext};

/// Where the `sysctl` binary is looked for, in order.
pub const SYSCTL_BINARIES: &[&str] = &["/usr/sbin/sysctl", "/sbin/sysctl"];

/// Root of the sysctl tree.
pub const SYSCTL_ROOT: &str = "/proc/sys";

/// Largest value read or written, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Errors of the sysctl API. Kinds are REX's `SysteminfoErrorKind` (sysctl lives in REX's
/// system-info crate).
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// Cedar denied the operation; nothing was read or written.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// An invalid key, value or pattern.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The key does not exist or the OS refused the access.
    #[error("{op} {key} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The key.
        key: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Opening or running the `sysctl` binary failed (not a denial: denials are
    /// [`SysctlError::Denied`]).
    #[error("sysctl --system: {0}")]
    Exec(ExecError),
}

impl SysctlError {
    /// REX's error kind.
    pub fn kind(&self) -> SysinfoErrorKind {
        match self {
            SysctlError::Denied(_) => SysinfoErrorKind::PermissionDenied,
            SysctlError::Auth(_) => SysinfoErrorKind::AuthorizationError,
            SysctlError::InvalidParameter(_) => SysinfoErrorKind::InvalidParameter,
            SysctlError::Io { .. } => SysinfoErrorKind::IoError,
            SysctlError::Exec(e) => match e.kind() {
                ExecErrorKind::PermissionDenied => SysinfoErrorKind::PermissionDenied,
                ExecErrorKind::AuthorizationError => SysinfoErrorKind::AuthorizationError,
                ExecErrorKind::InvalidArguments => SysinfoErrorKind::InvalidParameter,
                ExecErrorKind::NotFound | ExecErrorKind::IoError => SysinfoErrorKind::IoError,
                _ => SysinfoErrorKind::Other,
            },
        }
    }

    /// The typed denial, if Cedar refused.
    pub fn as_denied(&self) -> Option<&Denied> {
        match self {
            SysctlError::Denied(d) => Some(d),
            SysctlError::Exec(e) => e.as_denied(),
            _ => None,
        }
    }
}

impl From<ExecError> for SysctlError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::PermissionDenied(d) => SysctlError::Denied(d),
            ExecError::Fs(crate::fs::FsError::PermissionDenied(d)) => SysctlError::Denied(d),
            other => SysctlError::Exec(other),
        }
    }
}

crate::error::sdk_error!(
    SysctlError,
    module: crate::error::kind_module::SYSTEMINFO,
    denied: SysctlError::Denied,
    auth: SysctlError::Auth,
    denial: SysctlError::as_denied,
);

/// Validates a key and returns its `/proc/sys` path.
pub fn key_to_path(key: &str) -> Result<ResourcePath, SysctlError> {
    let bad =
        |why: &str| SysctlError::InvalidParameter(format!("invalid sysctl key `{key}`: {why}"));
    if key.is_empty() || key.len() > 1024 {
        return Err(bad("empty or too long"));
    }
    if !key.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-' | b'/')
    }) {
        return Err(bad("allowed characters are a-z 0-9 _ . - /"));
    }
    let parts: Vec<&str> = key.split(['.', '/']).collect();
    if parts.iter().any(|p| p.is_empty() || *p == "..") {
        return Err(bad("empty or `..` component"));
    }
    let path = format!("{SYSCTL_ROOT}/{}", parts.join("/"));
    ResourcePath::new(&path).map_err(|e| bad(&e.to_string()))
}

fn path_to_key(path: &str) -> String {
    path.strip_prefix(SYSCTL_ROOT)
        .unwrap_or(path)
        .trim_start_matches('/')
        .replace('/', ".")
}

fn io(op: &'static str, key: &str) -> impl FnOnce(std::io::Error) -> SysctlError {
    let key = key.to_string();
    move |source| SysctlError::Io { op, key, source }
}

/// Reads the value at `path`. `read` is the proof of `read` File on it; any other proof is
/// refused before anything is opened.
fn read_value(path: &ResourcePath, key: &str, read: &Permit) -> Result<String, SysctlError> {
    read.require(&[Action::FsRead], ResourceKind::File, path.as_str())?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path.as_str())
        .map_err(io("open", key))?;
    let mut buf = Vec::new();
    f.take(MAX_VALUE_BYTES as u64)
        .read_to_end(&mut buf)
        .map_err(io("read", key))?;
    let s = String::from_utf8_lossy(&buf);
    Ok(s.trim_end_matches('\n').to_string())
}

/// Reads a parameter. Checks `open` and `read` on the File.
pub fn read(ctx: &SdkContext, key: &str) -> Result<String, SysctlError> {
    let path = key_to_path(key)?;
    let file = Resource::file_path(&path);
    ctx.check(Action::FsOpen, &file)?;
    let read = ctx.check(Action::FsRead, &file)?;
    read_value(&path, key, &read)
}

/// Writes a parameter. Checks `open` and `write` on the File, then writes `value` (at most
/// [`MAX_VALUE_BYTES`], no NUL bytes) in one `write` call.
pub fn write(ctx: &SdkContext, key: &str, value: &str) -> Result<(), SysctlError> {
    let path = key_to_path(key)?;
    if value.len() > MAX_VALUE_BYTES || value.contains('\0') {
        return Err(SysctlError::InvalidParameter(
            "value too long or contains NUL".into(),
        ));
    }
    let file = Resource::file_path(&path);
    ctx.check(Action::FsOpen, &file)?;
    let permit = ctx.check(Action::FsWrite, &file)?;
    write_value(&path, key, value, &permit)
}

/// Writes `value` at `path` in one `write` call. `permit` is the proof of `write` File on it;
/// any other proof is refused before anything is opened.
fn write_value(
    path: &ResourcePath,
    key: &str,
    value: &str,
    permit: &Permit,
) -> Result<(), SysctlError> {
    permit.require(&[Action::FsWrite], ResourceKind::File, path.as_str())?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path.as_str())
        .map_err(io("open", key))?;
    f.write_all(value.as_bytes()).map_err(io("write", key))
}

/// One parameter and its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SysctlEntry {
    /// The key in dotted form.
    pub key: String,
    /// The value (trailing newline removed).
    pub value: String,
}

/// The result of [`find`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SysctlFind {
    /// Matching, readable parameters, sorted by key.
    pub entries: Vec<SysctlEntry>,
    /// Directories and matching files skipped because a check was denied.
    pub denied_count: usize,
}

/// Finds the parameters whose dotted key matches `pattern`, with their values. Walks
/// `/proc/sys`: each directory needs `open`+`read` on its Dir, each matching file
/// `open`+`read` on its File; denied ones are skipped and counted, and files the kernel
/// refuses to read (write-only parameters) are skipped.
pub fn find(ctx: &SdkContext, pattern: &str) -> Result<SysctlFind, SysctlError> {
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| SysctlError::InvalidParameter(e.to_string()))?;
    let mut out = SysctlFind::default();
    let mut stack = vec![ResourcePath::new(SYSCTL_ROOT)?];
    let permitted = |action: Action, r: &Resource| match ctx.check(action, r) {
        Ok(p) => Ok(Some(p)),
        Err(AuthError::Denied(_)) => Ok(None),
        Err(e) => Err(SysctlError::Auth(e)),
    };
    let allowed = |action: Action, r: &Resource| permitted(action, r).map(|p| p.is_some());
    while let Some(dir) = stack.pop() {
        if ctx.is_cancelled() || out.entries.len() >= ctx.limits().max_entries {
            break;
        }
        let d = Resource::dir_path(&dir);
        if !(allowed(Action::FsOpen, &d)? && allowed(Action::FsRead, &d)?) {
            out.denied_count += 1;
            continue;
        }
        let Ok(rd) = std::fs::read_dir(dir.as_str()) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(child) = dir.join(&name) else { continue };
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(child);
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let key = path_to_key(child.as_str());
            if !re.is_match(&key) {
                continue;
            }
            let f = Resource::file_path(&child);
            let read = if allowed(Action::FsOpen, &f)? {
                permitted(Action::FsRead, &f)?
            } else {
                None
            };
            let Some(read) = read else {
                out.denied_count += 1;
                continue;
            };
            if let Ok(value) = read_value(&child, &key, &read) {
                out.entries.push(SysctlEntry { key, value });
            }
        }
    }
    out.entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Reloads the kernel parameters from the configuration files: `sysctl --system`.
///
/// Checks `sysctl::Action::"load"` on `sysctl::Sysctl`, then `open` on the binary (see
/// [`SYSCTL_BINARIES`]) and `execute` on it with the argument `--system`, an empty
/// environment, and the caller's own identity; nothing runs unless all three are allowed.
/// Returns the child's output and status (a non-zero exit, e.g. for read-only parameters, is
/// not an error here: look at [`ExecuteResult::exit_code`]).
pub fn load_system(ctx: &SdkContext) -> Result<ExecuteResult, SysctlError> {
    load_system_with(ctx, SYSCTL_BINARIES)
}

fn load_system_with(ctx: &SdkContext, binaries: &[&str]) -> Result<ExecuteResult, SysctlError> {
    ctx.check(Action::SysctlLoad, &Resource::sysctl())?;
    let bin = crate::exec::open_helper(ctx, binaries)?;
    Ok(bin.execute(ctx, &ExecuteOptions::new().arg("--system"))?)
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

    fn ctx(policy: &str) -> SdkContext {
        let auth = rex_auth::Authorizer::builder()
            .principal(rex_auth::Principal::user("tester").unwrap())
            .policies(rex_auth::Policies::parse("test", policy).unwrap())
            .build()
            .unwrap();
        SdkContext::new(std::sync::Arc::new(auth))
    }

    /// The whole load path with a harmless stand-in for the binary (running the real
    /// `sysctl --system` as root in a test would change this machine's kernel parameters).
    #[test]
    fn load_runs_the_binary_through_the_execute_gate() {
        let policy = r#"permit(principal, action == sysctl::Action::"load", resource);
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/echo")
  when { context.arguments.flags == ["--system"] && context.arguments.positional_values.isEmpty()
         && context.environment.names.isEmpty() };"#;
        let c = ctx(policy);
        let r = load_system_with(&c, &["/usr/bin/no-such-sysctl-rex", "/usr/bin/echo"]).unwrap();
        assert_eq!(r.stdout_text(), "--system\n");
        assert_eq!(r.exit_code, Some(0));

        // without execute, the open succeeds but nothing runs
        let no_exec = policy.lines().take(2).collect::<Vec<_>>().join("\n");
        let err = load_system_with(&ctx(&no_exec), &["/usr/bin/echo"]).unwrap_err();
        assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
        assert_eq!(err.as_denied().unwrap().action, rex_auth::Action::FsExecute);
    }

    #[test]
    fn keys_map_to_paths() {
        assert_eq!(
            key_to_path("net.ipv4.ip_forward").unwrap().as_str(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            key_to_path("kernel/ostype").unwrap().as_str(),
            "/proc/sys/kernel/ostype"
        );
        for bad in [
            "", "Kernel.x", "a..b", "../etc", "a.b.", "/a", "a b", "a\0b", "a.$x",
        ] {
            assert!(key_to_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            path_to_key("/proc/sys/net/core/somaxconn"),
            "net.core.somaxconn"
        );
    }
}
