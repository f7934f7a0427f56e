//! Reading `/proc` pseudo-files through the gate: the one helper of the SDK's readers of whole
//! `/proc` files (`system::slab_info`, `ProcessManager::ipcs_info`,
//! `network::network_stats`). A lower module: it depends on no category module; each category
//! converts [`ProcReadError`] into its own error.
//!
//! [`authorize`] checks `open` on the Dir, then `open` and `read` on every File, **all before
//! anything is opened** (REX's sequence; [`authorize_files`] is the same without the Dir);
//! only then can the files be read, each bounded by [`crate::SdkLimits::max_read_bytes`]. A
//! `/proc` file reports size 0, so it is read to its end (or to the bound), not by its size.

use std::io::Read;

use rex_auth::{Action, AuthError, Resource, ResourceKind};

use crate::{Permit, SdkContext};

/// A `/proc` file that Cedar allowed to open and read (made only by [`authorize`]): it holds
/// the [`Permit`] of the `read` check, which [`ProcFile::read`] demands.
#[derive(Debug)]
pub(crate) struct ProcFile {
    path: String,
    read: Permit,
}

/// Opening or reading an authorized `/proc` file failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} failed: {source}")]
pub(crate) struct ProcReadError {
    /// `"open"` or `"read"`.
    pub(crate) op: &'static str,
    /// The OS error (of the same [`std::io::ErrorKind`]), naming the file.
    pub(crate) source: std::io::Error,
}

/// The OS error of one file, with its path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
struct FileError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Checks `open` on Dir `dir`, then `open` and `read` on File `dir/NAME` for each of `names`,
/// in that order; the first refusal ends the call before any file is opened.
pub(crate) fn authorize<const N: usize>(
    ctx: &SdkContext,
    dir: &str,
    names: [&str; N],
) -> Result<[ProcFile; N], AuthError> {
    ctx.check(Action::FsOpen, &Resource::dir(dir)?)?;
    authorize_files(ctx, dir, names)
}

/// [`authorize`] without the directory's `open` check, for callers whose own sequence checks
/// something else first (`netstat` checks File `/proc`): `open` and `read` on File
/// `dir/NAME` for each of `names`, in order; the first refusal ends the call.
pub(crate) fn authorize_files<const N: usize>(
    ctx: &SdkContext,
    dir: &str,
    names: [&str; N],
) -> Result<[ProcFile; N], AuthError> {
    let paths = names.map(|n| format!("{}/{n}", dir.trim_end_matches('/')));
    let mut files = Vec::with_capacity(N);
    for path in paths {
        let file = Resource::file(&path)?;
        ctx.check(Action::FsOpen, &file)?;
        let read = ctx.check(Action::FsRead, &file)?;
        files.push(ProcFile { path, read });
    }
    files
        .try_into()
        .map_err(|_| AuthError::Config("internal: /proc files miscounted".into()))
}

impl ProcFile {
    /// The file's path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Reads the file as text, at most `ctx.limits().max_read_bytes` bytes.
    pub(crate) fn read(&self, ctx: &SdkContext) -> Result<String, ProcReadError> {
        if let Err(e) = self
            .read
            .require(&[Action::FsRead], ResourceKind::File, &self.path)
        {
            return Err(ProcReadError {
                op: "open",
                source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e),
            });
        }
        let err = |op, source| ProcReadError {
            op,
            source: wrap(&self.path, source),
        };
        let f = std::fs::File::open(&self.path).map_err(|e| err("open", e))?;
        let mut text = String::new();
        f.take(ctx.limits().max_read_bytes)
            .read_to_string(&mut text)
            .map_err(|e| err("read", e))?;
        Ok(text)
    }
}

fn wrap(path: &str, source: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        source.kind(),
        FileError {
            path: path.to_string(),
            source,
        },
    )
}

/// Checks (see [`authorize`]) and reads the one file `dir/name`.
pub(crate) fn read_one<E>(ctx: &SdkContext, dir: &str, name: &str) -> Result<String, E>
where
    E: From<AuthError> + From<ProcReadError>,
{
    let [file] = authorize(ctx, dir, [name])?;
    Ok(file.read(ctx)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ctx(policy: &str) -> SdkContext {
        let auth = rex_auth::Authorizer::builder()
            .principal(rex_auth::Principal::user("tester").unwrap())
            .policies(rex_auth::Policies::parse("test", policy).unwrap())
            .build()
            .unwrap();
        SdkContext::new(std::sync::Arc::new(auth))
    }

    const SELF: &str = r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc/self");
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/self");"#;

    #[test]
    fn reads_an_allowed_file_bounded() {
        let c = ctx(SELF);
        let [status, cmdline] = authorize(&c, "/proc/self/", ["status", "cmdline"]).unwrap();
        assert_eq!(status.path(), "/proc/self/status");
        let text = status.read(&c).unwrap();
        assert!(
            text.contains(&format!("Pid:\t{}", std::process::id())),
            "{text}"
        );
        assert!(!cmdline.read(&c).unwrap().is_empty());
        // The bound cuts the text.
        let c = ctx(SELF).with_limits(crate::SdkLimits {
            max_read_bytes: 5,
            ..Default::default()
        });
        let [status] = authorize(&c, "/proc/self", ["status"]).unwrap();
        assert_eq!(status.read(&c).unwrap(), "Name:");
    }

    #[test]
    fn every_check_comes_before_any_open() {
        // The last file is refused: nothing is returned to read, whatever comes first.
        let c = ctx(&format!(
            r#"{SELF}
forbid(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/self/cmdline");"#
        ));
        let e = authorize(&c, "/proc/self", ["status", "cmdline"]).unwrap_err();
        assert!(matches!(e, AuthError::Denied(_)), "{e:?}");
        // No `open` on the directory: the files are not even checked.
        let c = ctx(
            r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource is file_system::File);"#,
        );
        let e = authorize(&c, "/proc/self", ["status"]).unwrap_err();
        let AuthError::Denied(d) = e else {
            panic!("{e:?}")
        };
        assert!(d.resource.contains("Dir"), "{d}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let c = ctx(SELF);
        let [f] = authorize(&c, "/proc/self", ["no-such-file"]).unwrap();
        let e = f.read(&c).unwrap_err();
        assert_eq!(e.op, "open");
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/proc/self/no-such-file"), "{e}");
        let e = crate::system::SysinfoError::from(e);
        assert!(
            matches!(e, crate::system::SysinfoError::Io { op: "open", .. }),
            "{e:?}"
        );
    }
}
