//! Descriptor-level helpers of the handles: open flags, following opens, the fd-resolved
//! path, set-id clearing, the replace-checked rename and descriptor copies.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use rex_auth::{Action, ResourcePath};
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::types::*;
use crate::SdkContext;
use crate::fs::error::FsError;
use crate::fs::{check_dir, check_file};

pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW
}

/// Flags of the directories passed through on the way to a target: `O_PATH` descriptors serve
/// as `*at` anchors without opening the directory for reading, so the kernel sandbox
/// (Landlock, `crate::runtime::sandbox`) need not grant reading `/` and every ancestor of a scope.
pub(crate) fn walk_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW
}

/// Smallest growth step (and first buffer) of a whole-file read.
pub(super) const READ_CHUNK_MIN: usize = 4096;
/// Largest growth step of a whole-file read.
pub(super) const READ_CHUNK_MAX: usize = 1024 * 1024;

/// Opens `path` (relative to `dirfd`) following symlinks. The flag is `true` when the kernel
/// met no symlink on the way (`RESOLVE_NO_SYMLINKS`): then what was opened is exactly the path
/// asked for, and the caller needs no `/proc/self/fd` lookup to learn its real path. When a
/// symlink is in the way (or `openat2` is unavailable), it is opened again the ordinary way and
/// the flag is `false`. A missing name, a non-directory or a permission failure met before any
/// symlink is the same for both opens, so it is returned without the second one.
pub(crate) fn open_following(
    dirfd: impl AsFd,
    path: &str,
    flags: OFlags,
    mode: Mode,
) -> Result<(OwnedFd, bool), Errno> {
    match rustix::fs::openat2(&dirfd, path, flags, mode, ResolveFlags::NO_SYMLINKS) {
        Ok(fd) => Ok((fd, true)),
        Err(e @ (Errno::NOENT | Errno::NOTDIR | Errno::ACCESS)) => Err(e),
        Err(_) => rustix::fs::openat(&dirfd, path, flags, mode).map(|fd| (fd, false)),
    }
}

/// A directory's parent, opened from the authorized path without following symlinks (for
/// handles opened in follow mode, whose parent is not known). `None` for `/`. Callers still
/// check with [`verify_name`] that the name in it is the directory they hold.
pub(super) fn open_parent_by_path(path: &ResourcePath) -> Result<Option<OwnedFd>, FsError> {
    let Some(parent) = path.parent() else {
        return Ok(None);
    };
    // The parent serves only as the anchor of `unlinkat`/`renameat`: `O_PATH` all the way.
    let mut fd = rustix::fs::openat(CWD, "/", walk_flags(), Mode::empty())
        .map_err(|e| FsError::os("open", "/", e))?;
    for c in parent.as_str().split('/').filter(|c| !c.is_empty()) {
        fd = rustix::fs::openat(&fd, c, walk_flags(), Mode::empty())
            .map_err(|e| FsError::os("open", parent.as_str(), e))?;
    }
    Ok(Some(fd))
}

/// When a follow-mode open is refused with `EACCES`, the kernel sandbox (`crate::runtime::sandbox`)
/// may have refused a symlink's target before Cedar saw it. The target is resolved with
/// `O_PATH` (which the sandbox does not mediate) and returned when it differs from the path
/// asked for, so the caller asks Cedar about it and a denial is the same typed denial as
/// without the sandbox. `None` when there is no other target to judge.
pub(super) fn refused_target(
    dirfd: impl AsFd,
    name: &str,
    asked: &ResourcePath,
) -> Result<Option<ResourcePath>, FsError> {
    let Ok(probe) = rustix::fs::openat(&dirfd, name, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
    else {
        return Ok(None);
    };
    let real = fd_real_path(&probe, asked.as_str())?;
    Ok((&real != asked).then_some(real))
}

/// What the kernel appends to the `/proc/self/fd` path of an entry that has no name any more.
const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// The path the kernel says an fd refers to **now** (`/proc/self/fd/N`), so it follows every
/// rename of the entry and of its ancestors. Fails closed: an error if `/proc` is unavailable
/// or the path is not a resource path, and [`FsError::Changed`] when the entry has no name
/// any more (unlinked: the kernel appends ` (deleted)`; a name that really ends that way is
/// accepted only while it still names this inode).
pub(crate) fn fd_real_path(fd: impl AsFd, what: &str) -> Result<ResourcePath, FsError> {
    let fd = fd.as_fd();
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let real = std::fs::read_link(&link).map_err(|e| FsError::io("readlink", what, e))?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(real.as_os_str());
    if bytes.ends_with(DELETED_SUFFIX) {
        let ours = rustix::fs::fstat(fd).map_err(|e| FsError::os("fstat", what, e))?;
        match rustix::fs::statat(CWD, bytes, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if same_inode(&st, &ours) => {}
            _ => return Err(FsError::Changed(what.to_string())),
        }
    }
    ResourcePath::from_bytes(bytes).map_err(FsError::from)
}

/// Clears the set-user-id and set-group-id bits of a regular file whose content is about to
/// change. The kernel does this itself only for a writer without `CAP_FSETID`; a root runner
/// has it, so without this an in-place write, append, truncate, preallocation or copy would
/// leave a set-id program holding bytes the script chose. (Scripts cannot set these bits:
/// `chmod` takes `0..=0o777`.)
pub(crate) fn clear_set_id(file: impl AsFd, path: &str) -> Result<(), FsError> {
    let st = rustix::fs::fstat(&file).map_err(|e| FsError::os("fstat", path, e))?;
    let set_id = Mode::SUID.bits() | Mode::SGID.bits();
    if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_mode & set_id != 0 {
        rustix::fs::fchmod(&file, Mode::from_raw_mode(st.st_mode & 0o7777 & !set_id))
            .map_err(|e| FsError::os("chmod", path, e))?;
    }
    Ok(())
}

/// A rename onto an existing name deletes what it names: when `name` exists in `dir`, this
/// checks `delete` on it (`Dir` or `File` by what it is) and returns `true` (the rename may
/// replace it); when nothing is there it returns `false`, and the rename must then be made
/// with [`rename_no_replace`] so that nothing created meanwhile is replaced unchecked.
pub(super) fn authorize_replace(
    ctx: &SdkContext,
    dir: &OwnedFd,
    name: &str,
    dest: &ResourcePath,
) -> Result<bool, FsError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            if EntryType::from_stat(&st) == EntryType::Dir {
                check_dir(ctx, Action::FsDelete, dest)?;
            } else {
                check_file(ctx, Action::FsDelete, dest)?;
            }
            Ok(true)
        }
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(FsError::os("stat", dest.as_str(), e)),
    }
}

/// `renameat`, replacing the destination only when `replace` (its deletion was authorized by
/// [`authorize_replace`]); otherwise `RENAME_NOREPLACE`, so a name that appeared since the
/// check fails with `EEXIST` instead of being replaced. A file system without
/// `RENAME_NOREPLACE` fails the rename (closed).
pub(super) fn rename_no_replace(
    old_dir: impl AsFd,
    old_name: &str,
    new_dir: impl AsFd,
    new_name: &str,
    replace: bool,
) -> Result<(), Errno> {
    let flags = if replace {
        rustix::fs::RenameFlags::empty()
    } else {
        rustix::fs::RenameFlags::NOREPLACE
    };
    rustix::fs::renameat_with(old_dir, old_name, new_dir, new_name, flags)
}

pub(crate) fn same_inode(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Creates the new file `name` in `dir` (`O_EXCL`, never following a link, first `0600`),
/// copies all of `src` into it, gives it the permission bits of `mode` (never set-id bits)
/// and syncs it. On an error after the create the file stays: the caller removes its
/// temporary name (or tree).
pub(crate) fn copy_to_new(
    src: &File,
    dir: impl AsFd,
    name: &str,
    mode: u32,
    dpath: &str,
) -> Result<File, FsError> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| FsError::os("create", dpath, e))?;
    let out = File::from(fd);
    copy_fd(src, &out, dpath)?;
    rustix::fs::fchmod(&out, Mode::from_raw_mode(mode & 0o777))
        .map_err(|e| FsError::os("chmod", dpath, e))?;
    rustix::fs::fsync(&out).map_err(|e| FsError::os("fsync", dpath, e))?;
    Ok(out)
}

/// Copies all of `src` into `dst` from offset 0 (clearing `dst`'s set-id bits and truncating
/// it first): `copy_file_range`, falling back to read/write.
pub(crate) fn copy_fd(src: &File, dst: &File, dpath: &str) -> Result<(), FsError> {
    clear_set_id(dst, dpath)?;
    rustix::fs::ftruncate(dst, 0).map_err(|e| FsError::os("truncate", dpath, e))?;
    let mut off_in = 0u64;
    let mut off_out = 0u64;
    loop {
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), 1 << 30)
        {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => break,
            Err(e) => return Err(FsError::os("copy", dpath, e)),
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = src
            .read_at(&mut buf, off_in)
            .map_err(|e| FsError::io("read", dpath, e))?;
        if n == 0 {
            return Ok(());
        }
        dst.write_all_at(buf.get(..n).unwrap_or_default(), off_out)
            .map_err(|e| FsError::io("write", dpath, e))?;
        off_in += n as u64;
        off_out += n as u64;
    }
}
