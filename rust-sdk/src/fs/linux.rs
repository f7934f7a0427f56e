//! Linux-only file operations of REX's handle API: symlink handles (`O_PATH`), `fallocate`
//! and SELinux labels (`security.selinux`). Every operation asks Cedar first.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rex_auth::{Action, RequestContext, Resource, ResourcePath};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::check_file;
use super::error::FsError;
use super::handle::{
    DirEntry, DirHandle, EntryType, FileHandle, IdCache, Metadata, clear_set_id, fd_real_path,
};
use crate::SdkContext;

/// The only extended attribute [`FileHandle::set_extended_attr`] supports (as in REX).
pub const SELINUX_XATTR: &str = "security.selinux";

/// A symbolic link opened itself (`O_PATH|O_NOFOLLOW`), never its target.
#[derive(Debug)]
pub struct SymlinkHandle {
    fd: OwnedFd,
    path: ResourcePath,
}

impl DirHandle {
    /// Opens the symlink `name` in this directory without following it (`open` File). Fails
    /// with `EntryTypeMismatchError` when `name` is not a symlink.
    pub fn open_symlink(&self, ctx: &SdkContext, name: &str) -> Result<SymlinkHandle, FsError> {
        let p = self.current_path()?.join(name)?;
        check_file(ctx, Action::FsOpen, &p)?;
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FsError::os("open", p.as_str(), e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| FsError::os("fstat", p.as_str(), e))?;
        let t = EntryType::from_stat(&st);
        if t != EntryType::Symlink {
            return Err(FsError::EntryTypeMismatch {
                path: p.as_str().to_string(),
                expected: "symlink",
                found: t.name(),
            });
        }
        Ok(SymlinkHandle { fd, path: p })
    }
}

impl DirHandle {
    /// The entry `name` when it is a symbolic link; `None` when it is anything else or
    /// missing. Checks `open` File on the path first, then `lstat`s it through this
    /// directory's fd (so a denied caller learns nothing about the entry). Used by `ls` on a
    /// link path, which REX answers with the link itself.
    pub fn symlink_entry(&self, ctx: &SdkContext, name: &str) -> Result<Option<DirEntry>, FsError> {
        let this = self.refreshed()?;
        let p = this.path.join(name)?;
        check_file(ctx, Action::FsOpen, &p)?;
        let st = match rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(FsError::os("stat", p.as_str(), e)),
        };
        if EntryType::from_stat(&st) != EntryType::Symlink {
            return Ok(None);
        }
        Ok(Some(DirEntry::from_raw(
            name.as_bytes().to_vec(),
            EntryType::Symlink,
            st.st_ino,
            Arc::new(this),
        )))
    }
}

impl SymlinkHandle {
    /// The path the link was opened (and authorized) at; see [`SymlinkHandle::current_path`].
    pub fn path(&self) -> &ResourcePath {
        &self.path
    }

    /// The path the link has now, derived from its fd; every later check is made against it
    /// (see [`FileHandle::current_path`]). Fails closed when the link was removed.
    pub fn current_path(&self) -> Result<ResourcePath, FsError> {
        fd_real_path(&self.fd, self.path.as_str())
    }

    /// `lstat` of the link (`stat` File). When `read` File on the link is also allowed, the
    /// result carries the link's target in [`Metadata::symlink_target`] (REX's behaviour).
    pub fn metadata(&self, ctx: &SdkContext) -> Result<Metadata, FsError> {
        let p = self.current_path()?;
        check_file(ctx, Action::FsStat, &p)?;
        let st = rustix::fs::fstat(&self.fd).map_err(|e| FsError::os("fstat", p.as_str(), e))?;
        let mut m = Metadata::from_stat(&st);
        if check_file(ctx, Action::FsRead, &p).is_ok() {
            m.symlink_target = Some(self.read_target()?);
        }
        Ok(m)
    }

    /// The link's target (`read` File on the link).
    pub fn symlink_target(&self, ctx: &SdkContext) -> Result<String, FsError> {
        check_file(ctx, Action::FsRead, &self.current_path()?)?;
        self.read_target()
    }

    fn read_target(&self) -> Result<String, FsError> {
        let t = rustix::fs::readlinkat(&self.fd, "", Vec::new())
            .map_err(|e| FsError::os("readlink", self.path.as_str(), e))?;
        Ok(String::from_utf8_lossy(t.as_bytes()).into_owned())
    }

    /// Changes the owner and/or group of the link itself, never its target (`chown` File).
    pub fn set_ownership(
        &self,
        ctx: &SdkContext,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(), FsError> {
        check_file(ctx, Action::FsChown, &self.current_path()?)?;
        let (u, g) = IdCache::default().resolve(user, group)?;
        rustix::fs::chownat(
            &self.fd,
            "",
            u,
            g,
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| FsError::os("chown", self.path.as_str(), e))
    }
}

/// Options of [`FileHandle::set_extended_attr`] (REX's `SetXAttrOptions`): which parts of the
/// SELinux context `user:role:type:level` to replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetXAttrOptions {
    /// The attribute; only [`SELINUX_XATTR`] is supported.
    pub name: String,
    /// New SELinux user.
    pub selinux_user: Option<String>,
    /// New SELinux role.
    pub selinux_role: Option<String>,
    /// New SELinux type.
    pub selinux_type: Option<String>,
    /// New SELinux level (like every component, without `:`).
    pub selinux_level: Option<String>,
}

/// Checks one SELinux context component: non-empty, no `:`, whitespace or control characters.
pub fn validate_selinux_component(what: &str, v: &str) -> Result<(), FsError> {
    if v.is_empty() {
        return Err(FsError::InvalidArguments(format!(
            "{what} must not be empty"
        )));
    }
    if v.chars()
        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(FsError::InvalidArguments(format!(
            "{what} `{}` must not contain `:`, whitespace or control characters",
            v.escape_debug()
        )));
    }
    Ok(())
}

impl SetXAttrOptions {
    /// Validates the name and every given component.
    pub fn validate(&self) -> Result<(), FsError> {
        if self.name != SELINUX_XATTR {
            return Err(FsError::InvalidArguments(format!(
                "extended attribute `{}` is not supported (only {SELINUX_XATTR})",
                self.name.escape_debug()
            )));
        }
        for (what, v) in [
            ("selinux_user", &self.selinux_user),
            ("selinux_role", &self.selinux_role),
            ("selinux_type", &self.selinux_type),
            ("selinux_level", &self.selinux_level),
        ] {
            if let Some(v) = v {
                validate_selinux_component(what, v)?;
            }
        }
        if self.selinux_user.is_none()
            && self.selinux_role.is_none()
            && self.selinux_type.is_none()
            && self.selinux_level.is_none()
        {
            return Err(FsError::InvalidArguments(
                "set at least one of selinux_user, selinux_role, selinux_type, selinux_level"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Applies the changes of `opts` to the context `current` (`None` when the file has none):
/// the result is `user:role:type:level`. Without a current context every part must be given.
pub fn merge_selinux_context(
    current: Option<&str>,
    opts: &SetXAttrOptions,
) -> Result<String, FsError> {
    let mut parts: [Option<String>; 4] = [None, None, None, None];
    if let Some(cur) = current {
        let cur = cur.trim_end_matches('\0');
        let mut it = cur.splitn(4, ':');
        for slot in &mut parts {
            *slot = it.next().map(str::to_string);
        }
        if parts
            .iter()
            .take(3)
            .any(|p| p.as_deref().is_none_or(str::is_empty))
        {
            return Err(FsError::InvalidContent {
                path: SELINUX_XATTR.into(),
                reason: format!("malformed SELinux context `{}`", cur.escape_debug()),
            });
        }
    }
    let new = [
        &opts.selinux_user,
        &opts.selinux_role,
        &opts.selinux_type,
        &opts.selinux_level,
    ];
    for (slot, v) in parts.iter_mut().zip(new) {
        if let Some(v) = v {
            *slot = Some(v.clone());
        }
    }
    let names = [
        "selinux_user",
        "selinux_role",
        "selinux_type",
        "selinux_level",
    ];
    let mut out = Vec::with_capacity(4);
    for (p, what) in parts.iter().zip(names) {
        match p {
            Some(v) => out.push(v.as_str()),
            None => {
                return Err(FsError::InvalidArguments(format!(
                    "the file has no SELinux context: {what} must be given"
                )));
            }
        }
    }
    Ok(out.join(":"))
}

impl FileHandle {
    /// Preallocates `length` bytes from offset 0 (`write` File); the file grows to at least
    /// `length` bytes. `length` must be > 0. Clears the set-id bits first (as the kernel does
    /// for an unprivileged caller).
    pub fn fallocate(&self, ctx: &SdkContext, length: u64) -> Result<(), FsError> {
        if length == 0 {
            return Err(FsError::InvalidArguments("length must be > 0".into()));
        }
        let permit = self.permit(ctx, Action::FsWrite)?;
        let p = permit.resource_id();
        clear_set_id(&self.file, p)?;
        rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), 0, length)
            .map_err(|e| FsError::os("fallocate", p, e))
    }

    /// Edits the SELinux context (`security.selinux`) of the file: the parts given in `opts`
    /// replace those of the current context. Checks `set_x_attr` File with the context
    /// `{xattr: {name}}` after validating the options, before any system call.
    pub fn set_extended_attr(
        &self,
        ctx: &SdkContext,
        opts: &SetXAttrOptions,
    ) -> Result<(), FsError> {
        opts.validate()?;
        let path = self.current_path()?;
        ctx.authorize(
            Action::FsSetXAttr,
            &Resource::file_path(&path),
            &RequestContext::XAttr {
                name: opts.name.clone(),
            },
        )?;
        let p = path.as_str();
        let mut buf = [0u8; 4096];
        let current = match rustix::fs::fgetxattr(&self.file, SELINUX_XATTR, &mut buf[..]) {
            Ok(n) => Some(String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned()),
            Err(Errno::NODATA) => None,
            Err(e) => return Err(FsError::os("getxattr", p, e)),
        };
        let value = merge_selinux_context(current.as_deref(), opts)?;
        rustix::fs::fsetxattr(
            &self.file,
            SELINUX_XATTR,
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| FsError::os("setxattr", p, e))
    }
}
