//! Operations of a [`DirHandle`] on its whole tree: recursive `chmod`/`chown`, `delete` and
//! `move_to`, with every entry authorized before the first change.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rex_auth::{Action, Resource, ResourcePath};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::at::*;
use super::dir::*;
use super::names::*;
use super::types::*;
use crate::fs::error::FsError;
use crate::fs::{check_dir, check_file, rpath};
use crate::{Permit, SdkContext};

impl DirHandle {
    /// Recursive `chmod`: checks `chmod` and `open` on the directory and on **every** entry
    /// before changing anything (fail closed, unlike REX which only warns), never follows
    /// symlinks (they are skipped, as are FIFOs, sockets and devices), and reports per entry.
    pub fn chmod_recursive(&self, ctx: &SdkContext, mode: i64) -> Result<ChangeReport, FsError> {
        let m = Mode::from_raw_mode(valid_mode(mode)?);
        let this = self.refreshed()?;
        let plan = this.plan_recursive(ctx, Action::FsChmod)?;
        this.apply_recursive(&plan, |fd| rustix::fs::fchmod(fd, m))
    }

    /// Recursive `set_ownership`: checks `chown` and `open` on the directory and on every
    /// entry first; names are resolved once per call; symlinks are changed themselves
    /// (`AT_SYMLINK_NOFOLLOW`), never their targets.
    pub fn set_ownership_recursive(
        &self,
        ctx: &SdkContext,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<ChangeReport, FsError> {
        let (u, g) = IdCache::default().resolve(user, group)?;
        let this = self.refreshed()?;
        let plan = this.plan_recursive(ctx, Action::FsChown)?;
        let mut report = this.apply_recursive(&plan, |fd| rustix::fs::fchown(fd, u, g))?;
        let links: Vec<String> = report
            .not_changed
            .iter()
            .filter(|(_, why)| why == SKIPPED_SYMLINK)
            .map(|(p, _)| p.clone())
            .collect();
        report.not_changed.retain(|(_, why)| why != SKIPPED_SYMLINK);
        for (fd, n, p, _) in plan
            .iter()
            .filter(|(_, _, p, _)| links.iter().any(|l| l == p.as_str()))
        {
            match rustix::fs::chownat(&**fd, n.as_str(), u, g, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) => report.changed.push(p.as_str().to_string()),
                Err(e) => report
                    .not_changed
                    .push((p.as_str().to_string(), e.to_string())),
            }
        }
        Ok(report)
    }

    fn plan_recursive(&self, ctx: &SdkContext, action: Action) -> Result<Vec<TreeItem>, FsError> {
        let root = check_dir(ctx, action, &self.path)?;
        let mut plan = Vec::new();
        collect_tree(ctx, &root, self, &mut plan)?;
        for (_, _, p, is_dir) in &plan {
            if *is_dir {
                check_dir(ctx, Action::FsOpen, p)?;
                check_dir(ctx, action, p)?;
            } else {
                check_file(ctx, Action::FsOpen, p)?;
                check_file(ctx, action, p)?;
            }
        }
        Ok(plan)
    }

    fn apply_recursive(
        &self,
        plan: &[TreeItem],
        f: impl Fn(&OwnedFd) -> rustix::io::Result<()>,
    ) -> Result<ChangeReport, FsError> {
        f(&self.fd).map_err(|e| FsError::os("change", self.path.as_str(), e))?;
        let mut report = ChangeReport {
            changed: vec![self.path.as_str().to_string()],
            not_changed: Vec::new(),
        };
        for (dfd, n, p, is_dir) in plan {
            let flags = if *is_dir {
                dir_flags()
            } else {
                OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC
            };
            let res = match rustix::fs::statat(&**dfd, n.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if EntryType::from_stat(&st) == EntryType::Symlink => {
                    report
                        .not_changed
                        .push((p.as_str().to_string(), SKIPPED_SYMLINK.to_string()));
                    continue;
                }
                Ok(st)
                    if !matches!(EntryType::from_stat(&st), EntryType::File | EntryType::Dir) =>
                {
                    report
                        .not_changed
                        .push((p.as_str().to_string(), SKIPPED_SPECIAL_FILE.to_string()));
                    continue;
                }
                Ok(_) => rustix::fs::openat(&**dfd, n.as_str(), flags, Mode::empty())
                    .and_then(|fd| f(&fd)),
                Err(e) => Err(e),
            };
            match res {
                Ok(()) => report.changed.push(p.as_str().to_string()),
                Err(e) => report
                    .not_changed
                    .push((p.as_str().to_string(), e.to_string())),
            }
        }
        Ok(report)
    }

    /// Deletes this directory (`delete` Dir). Recursive mode checks `delete` on **every**
    /// entry (File for non-directories, Dir for directories) before removing anything, never
    /// follows symlinks, and reports what was and was not removed.
    pub fn delete(
        &self,
        ctx: &SdkContext,
        opts: DeleteDirOptions,
    ) -> Result<DeleteReport, FsError> {
        let this = self.refreshed()?;
        let root = check_dir(ctx, Action::FsDelete, &this.path)?;
        let parent = this.parent_fd()?.ok_or_else(|| {
            FsError::InvalidArguments("refusing to delete the root directory".into())
        })?;
        let name = this.path.file_name().to_string();
        let mut report = DeleteReport::default();
        let mut plan: Vec<TreeItem> = Vec::new();
        if opts.recursive {
            collect_tree(ctx, &root, &this, &mut plan)?;
            for (_, _, p, is_dir) in &plan {
                if *is_dir {
                    check_dir(ctx, Action::FsDelete, p)?;
                } else {
                    check_file(ctx, Action::FsDelete, p)?;
                }
            }
        }
        verify_name(&parent, &name, &*this.fd, this.path.as_str())?;
        // Post-order: children before parents.
        for (fd, n, p, is_dir) in plan.iter().rev() {
            let flags = if *is_dir {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            match rustix::fs::unlinkat(&**fd, n.as_str(), flags) {
                Ok(()) => report.removed.push(p.as_str().to_string()),
                Err(Errno::NOENT) if opts.force => {}
                Err(e) => report
                    .not_removed
                    .push((p.as_str().to_string(), e.to_string())),
            }
        }
        match rustix::fs::unlinkat(&*parent, name.as_str(), AtFlags::REMOVEDIR) {
            Ok(()) => report.removed.push(this.path.as_str().to_string()),
            Err(Errno::NOENT) if opts.force => {}
            Err(e) if report.not_removed.is_empty() => {
                return Err(FsError::os("rmdir", this.path.as_str(), e));
            }
            Err(e) => report
                .not_removed
                .push((this.path.as_str().to_string(), e.to_string())),
        }
        Ok(report)
    }

    /// Moves (renames) this directory to `dest_parent/dest_name`. Checks `move` Dir with the
    /// destination context, then `create` Dir on the destination, then the same two checks
    /// for **every entry the directory carries** (`move` on the entry with the context of
    /// where it lands, `create` there; `File` for non-directories, `Dir` for directories), so
    /// a file whose move is forbidden never travels with its parent. An existing destination
    /// (an empty directory) is replaced only when `delete` on it is allowed; otherwise the
    /// rename is `RENAME_NOREPLACE`. Every check comes before the rename.
    ///
    /// The tree is listed once (bounded by `max_entries`, never following symlinks); an entry
    /// another process adds between that listing and the rename moves unchecked. Across file
    /// systems (`EXDEV`) the listed tree is copied into a temporary directory beside the
    /// destination (directories, files with their permission bits but no set-id bits,
    /// symbolic links as links; a device, FIFO or socket fails the move), renamed into place,
    /// and only then is the source removed; a failure before the rename removes the copy.
    pub fn move_to(
        self,
        ctx: &SdkContext,
        dest_parent: &DirHandle,
        dest_name: &str,
    ) -> Result<DirHandle, FsError> {
        let this = self.refreshed()?;
        let dest_base = dest_parent.current_path()?;
        let dest = dest_base.join(dest_name)?;
        let moving = ctx.authorize(
            Action::FsMove,
            &Resource::dir_path(&this.path),
            &move_context(&dest, dest_name, &dest_base),
        )?;
        check_dir(ctx, Action::FsCreate, &dest)?;
        let parent = this
            .parent_fd()?
            .ok_or_else(|| FsError::InvalidArguments("cannot move the root directory".into()))?;
        let tree = authorize_carried(ctx, &moving, &this, &dest)?;
        let replace = authorize_replace(ctx, &dest_parent.fd, dest_name, &dest)?;
        let name = this.path.file_name().to_string();
        verify_name(&parent, &name, &*this.fd, this.path.as_str())?;
        match rename_no_replace(&parent, name.as_str(), &dest_parent.fd, dest_name, replace) {
            Ok(()) => {}
            Err(Errno::XDEV) => {
                use super::tree_copy::{End, move_dir_across};
                let from = End {
                    parent: parent.as_fd(),
                    name: &name,
                    path: this.path.as_str(),
                };
                let to = End {
                    parent: dest_parent.fd.as_fd(),
                    name: dest_name,
                    path: dest.as_str(),
                };
                move_dir_across(this.fd.as_fd(), &from, &tree, &to, replace)?;
                let fd =
                    rustix::fs::openat(&*dest_parent.fd, dest_name, dir_flags(), Mode::empty())
                        .map_err(|e| FsError::os("open", dest.as_str(), e))?;
                return Ok(DirHandle {
                    fd: Arc::new(fd),
                    parent: Some(dest_parent.fd.clone()),
                    path: dest,
                });
            }
            Err(e) => return Err(FsError::os("rename", this.path.as_str(), e)),
        }
        Ok(DirHandle {
            fd: this.fd,
            parent: Some(dest_parent.fd.clone()),
            path: dest,
        })
    }
}

/// Authorizes, for every entry below `dir`, the move it makes when `dir` is renamed to
/// `dest`: `move` on the entry (with the context of its new path) and `create` on the new
/// path, as `Dir` for directories and `File` for anything else. The first refusal fails.
/// Returns the listed tree (pre-order).
fn authorize_carried(
    ctx: &SdkContext,
    moving: &Permit,
    dir: &DirHandle,
    dest: &ResourcePath,
) -> Result<Vec<TreeItem>, FsError> {
    let mut tree: Vec<TreeItem> = Vec::new();
    collect_tree(ctx, moving, dir, &mut tree)?;
    let base = dir.path.as_str();
    for (_, name, p, is_dir) in &tree {
        // `p` was joined onto `dir.path`, so it starts with it; the rest begins with `/`.
        let rel = p.as_str().get(base.len()..).unwrap_or_default();
        let rel = rel.strip_prefix('/').unwrap_or(rel);
        let to = rpath(&format!("{}/{rel}", dest.as_str()))?;
        let to_parent = to.parent().unwrap_or_else(|| dest.clone());
        let (res, create) = if *is_dir {
            (Resource::dir_path(p), Resource::dir_path(&to))
        } else {
            (Resource::file_path(p), Resource::file_path(&to))
        };
        ctx.authorize(Action::FsMove, &res, &move_context(&to, name, &to_parent))?;
        ctx.check(Action::FsCreate, &create)?;
    }
    Ok(tree)
}

/// Pre-order list of every entry below `dir`: (parent fd, name, path, is_dir). Never follows
/// symlinks. Names that are not valid resource paths fail the whole collection.
pub(crate) fn collect_tree(
    ctx: &SdkContext,
    root: &Permit,
    dir: &DirHandle,
    out: &mut Vec<TreeItem>,
) -> Result<(), FsError> {
    for (raw, t, _) in dir.raw_entries_below(ctx, root)? {
        let name = String::from_utf8(raw).map_err(|e| FsError::InvalidPath {
            path: format!(
                "{}/{}",
                dir.path.as_str(),
                String::from_utf8_lossy(e.as_bytes())
            ),
            reason: "the name is not valid UTF-8".into(),
        })?;
        let p = dir.path.join(&name)?;
        if out.len() >= ctx.limits().max_entries {
            return Err(FsError::TooManyEntries(ctx.limits().max_entries));
        }
        let is_dir = t == EntryType::Dir;
        out.push((dir.fd.clone(), name.clone(), p.clone(), is_dir));
        if is_dir {
            let fd = rustix::fs::openat(&*dir.fd, name.as_str(), dir_flags(), Mode::empty())
                .map_err(|e| FsError::os("open", p.as_str(), e))?;
            let sub = DirHandle {
                fd: Arc::new(fd),
                parent: Some(dir.fd.clone()),
                path: p,
            };
            collect_tree(ctx, root, &sub, out)?;
        }
    }
    Ok(())
}
