//! [`FileHandle`]: reading (strict and redacted), writing, copying, moving and metadata of
//! one file.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use rex_auth::{Action, Resource, ResourceKind, ResourcePath};
use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::at::*;
use super::dir::*;
use super::names::*;
use super::types::*;
use crate::fs::error::FsError;
use crate::fs::{check_file, text};
use crate::{Permit, SdkContext};

/// A file opened relative to its parent directory's fd.
#[derive(Debug)]
pub struct FileHandle {
    pub(crate) file: File,
    pub(crate) path: ResourcePath,
    pub(crate) name: String,
    pub(crate) dir: DirHandle,
    pub(crate) page_offset: u64,
    pub(crate) redaction_config: Option<String>,
    /// `Some(size)` for a handle opened read-only in this very SDK call and never handed to
    /// a script (`DirHandle::open_file_fresh`): its authorized path is still the one it was
    /// opened at (no `/proc/self/fd` re-derivation) and `size` is the `fstat` of that open.
    pub(crate) fresh: Option<u64>,
}

impl FileHandle {
    /// The path this file was opened (and authorized) at. It is not updated when the file or
    /// its directory is moved by another handle or process: see [`FileHandle::current_path`].
    pub fn path(&self) -> &ResourcePath {
        &self.path
    }

    /// The path the file has now, derived from its fd (`/proc/self/fd`). Every later check of
    /// this handle is made against it, so a handle whose directory was moved into a tree where
    /// the action is forbidden is refused there. Fails closed: [`FsError::Changed`] when the
    /// file has no name any more (deleted, or replaced by [`FileHandle::write`]: the new
    /// handle it returns names the new file), an error when the path cannot be derived.
    pub fn current_path(&self) -> Result<ResourcePath, FsError> {
        if self.fresh.is_some() {
            // Opened (and authorized) at `path` within the current call, never visible to a
            // script: nothing could have used it to move the file meanwhile.
            return Ok(self.path.clone());
        }
        fd_real_path(&self.file, self.path.as_str())
    }

    /// Checks `action` on the file's [current path](FileHandle::current_path) and returns the
    /// proof, for the internals that demand one.
    pub(crate) fn permit(&self, ctx: &SdkContext, action: Action) -> Result<Permit, FsError> {
        check_file(ctx, action, &self.current_path()?)
    }

    /// Fails closed unless `permit` allows one of `actions` on this file (its authorized path,
    /// or the path it has now).
    pub(crate) fn require(&self, permit: &Permit, actions: &[Action]) -> Result<(), FsError> {
        if permit.resource_id() == self.path.as_str() {
            permit.require(actions, ResourceKind::File, self.path.as_str())?;
        } else {
            permit.require(actions, ResourceKind::File, self.current_path()?.as_str())?;
        }
        Ok(())
    }

    /// The parent directory handle.
    pub fn dir(&self) -> &DirHandle {
        &self.dir
    }

    /// Uses another redaction dictionary than the context's
    /// ([`SdkContext::redaction_config`]) for this handle.
    pub fn with_redaction_config(mut self, path: &str) -> Self {
        self.redaction_config = Some(path.to_string());
        self
    }

    /// `fstat` under the proof of `stat` File on this file.
    pub(super) fn fstat_with(&self, permit: &Permit) -> Result<Stat, FsError> {
        self.require(permit, &[Action::FsStat])?;
        self.fstat()
    }

    pub(super) fn fstat(&self) -> Result<Stat, FsError> {
        rustix::fs::fstat(&self.file).map_err(|e| FsError::os("fstat", self.path.as_str(), e))
    }

    /// Reads the whole content, bounded by `max_read_bytes`. `permit` is the proof that
    /// `read` (or `redacted_read`) File was allowed on this file; any other is refused.
    pub(crate) fn read_bytes_with(
        &self,
        ctx: &SdkContext,
        permit: &Permit,
    ) -> Result<Vec<u8>, FsError> {
        self.require(permit, &[Action::FsRead, Action::FsRedactedRead])?;
        let limit = ctx.limits().max_read_bytes;
        // A fresh handle carries the `fstat` of its open (a regular file, checked there).
        let size = match self.fresh {
            Some(size) => size,
            None => u64::try_from(self.fstat()?.st_size).unwrap_or(0),
        };
        let too_large = || FsError::FileTooLarge {
            path: self.path.as_str().to_string(),
            limit,
        };
        if size > limit {
            return Err(too_large());
        }
        // Read straight into the result: sized from `fstat` (+1 so that the end-of-file read
        // needs no reallocation), growing if the file grew or reports no size (`/proc`).
        let hint = usize::try_from(size).unwrap_or(0);
        let mut buf: Vec<u8> = Vec::with_capacity(hint.saturating_add(1).max(READ_CHUNK_MIN));
        let mut off = 0u64;
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.len().clamp(READ_CHUNK_MIN, READ_CHUNK_MAX));
            }
            let asked = buf.capacity() - buf.len();
            let n = loop {
                match rustix::io::pread(&self.file, rustix::buffer::spare_capacity(&mut buf), off) {
                    Err(Errno::INTR) => continue,
                    other => break other,
                }
            }
            .map_err(|e| FsError::os("read", self.path.as_str(), e))?;
            if n == 0 {
                break;
            }
            off += n as u64;
            if off > limit {
                return Err(too_large());
            }
            // A short read of a regular file is its end (a fresh handle is one): no second
            // read to learn it. Other files (`/proc`, devices) are read until 0.
            if self.fresh.is_some() && n < asked {
                break;
            }
        }
        Ok(buf)
    }

    /// The whole content as bytes (`read` File; no redaction).
    pub fn read_bytes(&self, ctx: &SdkContext) -> Result<Vec<u8>, FsError> {
        let permit = self.permit(ctx, Action::FsRead)?;
        self.read_bytes_with(ctx, &permit)
    }

    fn read_text_strict(&self, ctx: &SdkContext) -> Result<String, FsError> {
        let b = self.read_bytes(ctx)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The whole content as text (`read` File, falling back to `redacted_read`). Invalid
    /// UTF-8 is replaced with U+FFFD.
    pub fn read(&self, ctx: &SdkContext) -> Result<String, FsError> {
        self.read_text_or_redacted(ctx)
    }

    /// Lines `start` (1-based) onward, `count` of them (negative = the last `-count` lines;
    /// `None` = all). `read` File.
    pub fn read_lines(
        &self,
        ctx: &SdkContext,
        start: Option<i64>,
        count: Option<i64>,
    ) -> Result<Vec<String>, FsError> {
        let t = self.read_text_strict(ctx)?;
        text::select_lines_within(&t, start, count, &mut ctx.allowance())
    }

    /// The next `num_lines` lines from this handle's page cursor (`read` File). Returns an
    /// empty vector at the end.
    pub fn read_page(&mut self, ctx: &SdkContext, num_lines: i64) -> Result<Vec<String>, FsError> {
        if num_lines <= 0 {
            return Err(FsError::InvalidArguments("num_lines must be > 0".into()));
        }
        let permit = self.permit(ctx, Action::FsRead)?;
        self.read_page_with(ctx, &permit, num_lines)
    }

    pub(super) fn read_page_with(
        &mut self,
        ctx: &SdkContext,
        permit: &Permit,
        num_lines: i64,
    ) -> Result<Vec<String>, FsError> {
        self.require(permit, &[Action::FsRead])?;
        let want = usize::try_from(num_lines).unwrap_or(usize::MAX);
        let limit = ctx.limits().max_read_bytes;
        let mut lines = Vec::new();
        let mut cur = Vec::new();
        let mut chunk = vec![0u8; 8192];
        let mut consumed = 0u64;
        'outer: while lines.len() < want {
            let n = self
                .file
                .read_at(&mut chunk, self.page_offset + consumed)
                .map_err(|e| FsError::io("read", self.path.as_str(), e))?;
            if n == 0 {
                if !cur.is_empty() {
                    consumed += cur.len() as u64;
                    lines.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                }
                break;
            }
            for &b in chunk.get(..n).unwrap_or_default() {
                if b == b'\n' {
                    consumed += cur.len() as u64 + 1;
                    lines.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                    if lines.len() >= want {
                        break 'outer;
                    }
                } else {
                    cur.push(b);
                    if cur.len() as u64 > limit {
                        return Err(FsError::FileTooLarge {
                            path: self.path.as_str().to_string(),
                            limit,
                        });
                    }
                }
            }
        }
        self.page_offset += consumed;
        Ok(lines)
    }

    /// Lines matching `pattern` with 1-based line numbers (`read`, or `redacted_read`).
    pub fn search(&self, ctx: &SdkContext, pattern: &str) -> Result<Vec<text::Match>, FsError> {
        let re =
            regex::Regex::new(pattern).map_err(|e| FsError::InvalidArguments(e.to_string()))?;
        let t = self.read_text_or_redacted(ctx)?;
        Ok(text::search(&t, &re))
    }

    /// Line, word and byte counts (`read` File).
    pub fn counts(&self, ctx: &SdkContext) -> Result<text::Counts, FsError> {
        let b = self.read_bytes(ctx)?;
        Ok(text::counts(&b))
    }

    /// Printable ASCII runs of at least 4 characters (`read` File).
    pub fn extract_strings(&self, ctx: &SdkContext) -> Result<Vec<String>, FsError> {
        let b = self.read_bytes(ctx)?;
        Ok(text::extract_strings(&b))
    }

    /// `stat` (`stat` File).
    pub fn metadata(&self, ctx: &SdkContext) -> Result<Metadata, FsError> {
        let permit = self.permit(ctx, Action::FsStat)?;
        Ok(Metadata::from_stat(&self.fstat_with(&permit)?))
    }

    /// Owner and group names (`stat` File).
    pub fn get_ownership(&self, ctx: &SdkContext) -> Result<Ownership, FsError> {
        let m = self.metadata(ctx)?;
        Ok(ownership_names(m.uid, m.gid))
    }

    /// Atomically replaces the content (`write` File): a temp file in the same directory fd,
    /// fsync, `renameat` over the name. Keeps the permission bits but never the set-id bits
    /// (and the owner with `preserve_ownership`).
    /// Returns the handle of the new file.
    pub fn write(
        &self,
        ctx: &SdkContext,
        content: &str,
        opts: WriteOptions,
    ) -> Result<FileHandle, FsError> {
        let path = self.current_path()?;
        let permit = check_file(ctx, Action::FsWrite, &path)?;
        self.write_with(&permit, path, content, opts)
    }

    pub(super) fn write_with(
        &self,
        permit: &Permit,
        path: ResourcePath,
        content: &str,
        opts: WriteOptions,
    ) -> Result<FileHandle, FsError> {
        self.require(permit, &[Action::FsWrite])?;
        let st = self.fstat()?;
        let dfd = &*self.dir.fd;
        let tmp = temp_name();
        let p = path.as_str();
        let fd = rustix::fs::openat(
            dfd,
            tmp.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| FsError::os("create", p, e))?;
        let mut file = File::from(fd);
        let result = (|| {
            file.write_all(content.as_bytes())
                .map_err(|e| FsError::io("write", p, e))?;
            // Never the set-id/sticky bits: a runner as root would otherwise leave a
            // set-id-root file with content the script chose (scripts can only chmod 0..=0o777).
            rustix::fs::fchmod(&file, Mode::from_raw_mode(st.st_mode & 0o777))
                .map_err(|e| FsError::os("chmod", p, e))?;
            if opts.preserve_ownership {
                rustix::fs::fchown(
                    &file,
                    Some(rustix::fs::Uid::from_raw(st.st_uid)),
                    Some(rustix::fs::Gid::from_raw(st.st_gid)),
                )
                .map_err(|e| FsError::os("chown", p, e))?;
            }
            rustix::fs::fsync(&file).map_err(|e| FsError::os("fsync", p, e))?;
            verify_name(dfd, &self.name, &self.file, p)?;
            rustix::fs::renameat(dfd, tmp.as_str(), dfd, self.name.as_str())
                .map_err(|e| FsError::os("rename", p, e))
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(dfd, tmp.as_str(), AtFlags::empty());
            return Err(e);
        }
        Ok(FileHandle {
            file,
            path,
            name: self.name.clone(),
            dir: self.dir.clone(),
            page_offset: 0,
            redaction_config: self.redaction_config.clone(),
            fresh: None,
        })
    }

    /// Replaces the content in place (`write` File): clear the set-id bits, truncate, write,
    /// fsync.
    pub fn write_in_place(&self, ctx: &SdkContext, content: &str) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsWrite)?;
        self.write_in_place_with(&permit, content.as_bytes())
    }

    /// [`FileHandle::write_in_place`] of `content` under `permit`, the proof of `write` on
    /// this file (also how `gzip_compress` writes its result).
    pub(crate) fn write_in_place_with(
        &self,
        permit: &Permit,
        content: &[u8],
    ) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsWrite])?;
        clear_set_id(&self.file, p)?;
        rustix::fs::ftruncate(&self.file, 0).map_err(|e| FsError::os("truncate", p, e))?;
        self.file
            .write_all_at(content, 0)
            .map_err(|e| FsError::io("write", p, e))?;
        rustix::fs::fsync(&self.file).map_err(|e| FsError::os("fsync", p, e))
    }

    /// Appends with `O_APPEND` (`write` File). Never reads or rewrites existing content;
    /// clears the set-id bits first.
    pub fn append(&self, ctx: &SdkContext, content: &str) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsWrite)?;
        self.append_with(&permit, content)
    }

    pub(super) fn append_with(&self, permit: &Permit, content: &str) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsWrite])?;
        let fd = rustix::fs::openat(
            &*self.dir.fd,
            self.name.as_str(),
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FsError::os("open", p, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| FsError::os("fstat", p, e))?;
        if !same_inode(&st, &self.fstat()?) {
            return Err(FsError::Changed(p.to_string()));
        }
        clear_set_id(&fd, p)?;
        let mut f = File::from(fd);
        f.write_all(content.as_bytes())
            .map_err(|e| FsError::io("write", p, e))?;
        f.flush().map_err(|e| FsError::io("write", p, e))
    }

    /// Copies the content into `dest` (`read` on this file, `write` on dest). Fails with
    /// `DestinationFileNotEmpty` unless `force`; `preserve` copies the permission bits (never
    /// the set-id bits) and timestamps. The destination's own set-id bits are cleared.
    pub fn copy_to(
        &self,
        ctx: &SdkContext,
        dest: &FileHandle,
        opts: CopyFileOptions,
    ) -> Result<(), FsError> {
        let read = self.permit(ctx, Action::FsRead)?;
        let write = dest.permit(ctx, Action::FsWrite)?;
        self.copy_to_with(&read, dest, &write, opts)
    }

    pub(super) fn copy_to_with(
        &self,
        read: &Permit,
        dest: &FileHandle,
        write: &Permit,
        opts: CopyFileOptions,
    ) -> Result<(), FsError> {
        self.require(read, &[Action::FsRead])?;
        let dp = write.resource_id();
        dest.require(write, &[Action::FsWrite])?;
        let dst = dest.fstat()?;
        if dst.st_size > 0 && !opts.force {
            return Err(FsError::DestinationFileNotEmpty(dp.to_string()));
        }
        let src = self.fstat()?;
        copy_fd(&self.file, &dest.file, dp)?;
        if opts.preserve {
            // Permission bits only: set-id bits are never copied (see `write`).
            rustix::fs::fchmod(&dest.file, Mode::from_raw_mode(src.st_mode & 0o777))
                .map_err(|e| FsError::os("chmod", dp, e))?;
            let times = rustix::fs::Timestamps {
                last_access: rustix::fs::Timespec {
                    tv_sec: src.st_atime,
                    tv_nsec: src.st_atime_nsec as _,
                },
                last_modification: rustix::fs::Timespec {
                    tv_sec: src.st_mtime,
                    tv_nsec: src.st_mtime_nsec as _,
                },
            };
            rustix::fs::futimens(&dest.file, &times).map_err(|e| FsError::os("utimens", dp, e))?;
        }
        Ok(())
    }

    /// Moves the file to `dest_dir/name` (`move` File with the destination context, `create`
    /// and `open` File on the destination). An existing destination is replaced (as REX does)
    /// only when `delete` on it is allowed too: replacing a file deletes it. Without an
    /// existing destination the rename is `RENAME_NOREPLACE`, so nothing that appears after
    /// the check is replaced. Same-filesystem moves are one rename; across filesystems the
    /// content is copied to a temporary file beside the destination, renamed into place the
    /// same way, and the source unlinked.
    pub fn move_to(
        self,
        ctx: &SdkContext,
        dest_dir: &DirHandle,
        name: &str,
    ) -> Result<FileHandle, FsError> {
        let src = self.current_path()?;
        let dest_base = dest_dir.current_path()?;
        let dest = dest_base.join(name)?;
        ctx.authorize(
            Action::FsMove,
            &Resource::file_path(&src),
            &move_context(&dest, name, &dest_base),
        )?;
        check_file(ctx, Action::FsCreate, &dest)?;
        check_file(ctx, Action::FsOpen, &dest)?;
        let replace = authorize_replace(ctx, &dest_dir.fd, name, &dest)?;
        let p = src.as_str();
        verify_name(&self.dir.fd, &self.name, &self.file, p)?;
        let dir = DirHandle {
            fd: dest_dir.fd.clone(),
            parent: dest_dir.parent.clone(),
            path: dest_base,
        };
        match rename_no_replace(
            &self.dir.fd,
            self.name.as_str(),
            &dest_dir.fd,
            name,
            replace,
        ) {
            Ok(()) => Ok(FileHandle {
                file: self.file,
                path: dest,
                name: name.to_string(),
                dir,
                page_offset: 0,
                redaction_config: self.redaction_config,
                fresh: None,
            }),
            Err(Errno::XDEV) => {
                let st = self.fstat()?;
                let dp = dest.as_str();
                let tmp = temp_name();
                // A new file beside the destination: an existing destination is replaced by
                // the rename below, never written into (it may be linked elsewhere).
                let result = (|| {
                    let out = copy_to_new(&self.file, &*dest_dir.fd, &tmp, st.st_mode, dp)?;
                    rename_no_replace(&dest_dir.fd, tmp.as_str(), &dest_dir.fd, name, replace)
                        .map_err(|e| FsError::os("rename", dp, e))?;
                    Ok(out)
                })();
                let out = match result {
                    Ok(out) => out,
                    Err(e) => {
                        let _ = rustix::fs::unlinkat(&*dest_dir.fd, tmp.as_str(), AtFlags::empty());
                        return Err(e);
                    }
                };
                verify_name(&self.dir.fd, &self.name, &self.file, p)?;
                rustix::fs::unlinkat(&*self.dir.fd, self.name.as_str(), AtFlags::empty())
                    .map_err(|e| FsError::os("unlink", p, e))?;
                Ok(FileHandle {
                    file: out,
                    path: dest,
                    name: name.to_string(),
                    dir,
                    page_offset: 0,
                    redaction_config: self.redaction_config,
                    fresh: None,
                })
            }
            Err(e) => Err(FsError::os("rename", p, e)),
        }
    }

    /// Deletes the file (`delete` File): unlinks the name in the parent fd after checking that
    /// it still refers to the opened inode.
    pub fn delete(self, ctx: &SdkContext) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsDelete)?;
        self.delete_with(&permit)
    }

    pub(super) fn delete_with(self, permit: &Permit) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsDelete])?;
        verify_name(&self.dir.fd, &self.name, &self.file, p)?;
        rustix::fs::unlinkat(&*self.dir.fd, self.name.as_str(), AtFlags::empty())
            .map_err(|e| FsError::os("unlink", p, e))
    }

    /// Changes the mode (`chmod` File); `0..=0o777`.
    pub fn chmod(&self, ctx: &SdkContext, mode: i64) -> Result<(), FsError> {
        let m = valid_mode(mode)?;
        let permit = self.permit(ctx, Action::FsChmod)?;
        self.chmod_with(&permit, m)
    }

    pub(super) fn chmod_with(&self, permit: &Permit, mode: u32) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsChmod])?;
        rustix::fs::fchmod(&self.file, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", p, e))
    }

    /// Changes owner and/or group (`chown` File).
    pub fn set_ownership(
        &self,
        ctx: &SdkContext,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsChown)?;
        let (u, g) = IdCache::default().resolve(user, group)?;
        self.chown_with(&permit, u, g)
    }

    pub(super) fn chown_with(
        &self,
        permit: &Permit,
        user: Option<rustix::fs::Uid>,
        group: Option<rustix::fs::Gid>,
    ) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsChown])?;
        rustix::fs::fchown(&self.file, user, group).map_err(|e| FsError::os("chown", p, e))
    }

    /// Truncates or extends to `size` bytes (`write` File); clears the set-id bits first.
    pub fn truncate(&self, ctx: &SdkContext, size: u64) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsWrite)?;
        self.truncate_with(&permit, size)
    }

    pub(super) fn truncate_with(&self, permit: &Permit, size: u64) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsWrite])?;
        clear_set_id(&self.file, p)?;
        rustix::fs::ftruncate(&self.file, size).map_err(|e| FsError::os("truncate", p, e))
    }

    /// Sets access and modification times to now (`write` File).
    pub fn touch(&self, ctx: &SdkContext) -> Result<(), FsError> {
        let permit = self.permit(ctx, Action::FsWrite)?;
        self.touch_with(&permit)
    }

    pub(super) fn touch_with(&self, permit: &Permit) -> Result<(), FsError> {
        let p = permit.resource_id();
        self.require(permit, &[Action::FsWrite])?;
        let now = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        };
        rustix::fs::futimens(
            &self.file,
            &rustix::fs::Timestamps {
                last_access: now,
                last_modification: now,
            },
        )
        .map_err(|e| FsError::os("utimens", p, e))
    }
}
