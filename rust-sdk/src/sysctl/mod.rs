//! Kernel parameters (`sysctl`): read, write and find by regular expression.
//!
//! A key such as `net.ipv4.ip_forward` (characters `[a-z0-9_.-/]`, `.` and `/` both separate
//! components) maps to `/proc/sys/net/ipv4/ip_forward`, and is gated exactly like a file:
//! `open` + `read` on `file_system::File::"/proc/sys/..."` to read it, `open` + `write` to
//! write it. Unlike REX, nothing is ever retried or run with elevated privileges: the checks
//! always use the caller's principal, and the kernel's own permission checks apply on top.
//! Files are opened with `O_NOFOLLOW`.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use rex_auth::{Action, AuthError, Denied, Resource, ResourcePath};

use crate::SdkContext;
use crate::system::SysinfoErrorKind;

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
}

impl SysctlError {
    /// REX's error kind.
    pub fn kind(&self) -> SysinfoErrorKind {
        match self {
            SysctlError::Denied(_) => SysinfoErrorKind::PermissionDenied,
            SysctlError::Auth(_) => SysinfoErrorKind::AuthorizationError,
            SysctlError::InvalidParameter(_) => SysinfoErrorKind::InvalidParameter,
            SysctlError::Io { .. } => SysinfoErrorKind::IoError,
        }
    }
}

impl From<AuthError> for SysctlError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Denied(d) => SysctlError::Denied(d),
            other => SysctlError::Auth(other),
        }
    }
}

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

fn read_value(path: &ResourcePath, key: &str) -> Result<String, SysctlError> {
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
    ctx.check(Action::FsRead, &file)?;
    read_value(&path, key)
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
    ctx.check(Action::FsWrite, &file)?;
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
    let allowed = |action: Action, r: &Resource| match ctx.check(action, r) {
        Ok(()) => Ok(true),
        Err(AuthError::Denied(_)) => Ok(false),
        Err(e) => Err(SysctlError::Auth(e)),
    };
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
            if !(allowed(Action::FsOpen, &f)? && allowed(Action::FsRead, &f)?) {
                out.denied_count += 1;
                continue;
            }
            if let Ok(value) = read_value(&child, &key) {
                out.entries.push(SysctlEntry { key, value });
            }
        }
    }
    out.entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
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
