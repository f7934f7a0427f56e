//! `DirHandle`, `FileHandle` and the value types they return.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rex_auth::{Action, RequestContext, Resource, ResourcePath};
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::error::FsError;
use super::{check_dir, check_file, redact, rpath, text};
use crate::SdkContext;

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Unknown.
    Unknown,
}

impl EntryType {
    pub(crate) fn from_file_type(t: FileType) -> Self {
        match t {
            FileType::RegularFile => EntryType::File,
            FileType::Directory => EntryType::Dir,
            FileType::Symlink => EntryType::Symlink,
            FileType::Fifo => EntryType::Fifo,
            FileType::Socket => EntryType::Socket,
            FileType::CharacterDevice => EntryType::CharDevice,
            FileType::BlockDevice => EntryType::BlockDevice,
            _ => EntryType::Unknown,
        }
    }

    pub(crate) fn from_stat(st: &Stat) -> Self {
        Self::from_file_type(FileType::from_raw_mode(st.st_mode))
    }

    /// REX's `EntryType` constant name.
    pub fn name(self) -> &'static str {
        match self {
            EntryType::File => "FILE",
            EntryType::Dir => "DIR",
            EntryType::Symlink => "SYMLINK",
            EntryType::Fifo => "FIFO",
            EntryType::Socket => "SOCKET",
            EntryType::CharDevice => "CHAR_DEVICE",
            EntryType::BlockDevice => "BLOCK_DEVICE",
            EntryType::Unknown => "UNKNOWN",
        }
    }
}

/// `stat` information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Entry type.
    pub entry_type: EntryType,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_secs: i64,
    /// Nanosecond part of the modification time.
    pub mtime_nanos: i64,
    /// Number of hard links.
    pub nlink: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Permission bits (`mode & 0o7777`).
    pub permissions: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Inode number.
    pub inode: u64,
    /// Device number.
    pub dev: u64,
    /// The link target, for metadata taken from a [`super::SymlinkHandle`] when `read` on the
    /// link is allowed; `None` otherwise.
    pub symlink_target: Option<String>,
}

impl Metadata {
    pub(crate) fn from_stat(st: &Stat) -> Self {
        Metadata {
            entry_type: EntryType::from_stat(st),
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_secs: st.st_mtime,
            mtime_nanos: i64::try_from(st.st_mtime_nsec).unwrap_or(0),
            nlink: st.st_nlink,
            blocks: u64::try_from(st.st_blocks).unwrap_or(0),
            permissions: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            inode: st.st_ino,
            dev: st.st_dev,
            symlink_target: None,
        }
    }

    /// Owner and group names (numeric when the name cannot be resolved). No Cedar check: the
    /// ids were obtained by an authorized `stat`; this only looks the names up.
    pub fn owner(&self) -> Ownership {
        ownership_names(self.uid, self.gid)
    }

    /// Bytes allocated on disk (`blocks * 512`).
    pub fn allocated_size(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }

    /// Modification time in nanoseconds since the epoch.
    pub fn last_modified_nanos(&self) -> i128 {
        i128::from(self.mtime_secs) * 1_000_000_000 + i128::from(self.mtime_nanos)
    }
}

/// Owner and group names (numeric when the name cannot be resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// User name.
    pub user: String,
    /// Group name.
    pub group: String,
}

/// Options for [`DirHandle::open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenDirOptions {
    /// Create the directory if missing (authorizes `create`).
    pub create: bool,
    /// With `create`, also create missing ancestors (authorizes `create` on each).
    pub recursive: bool,
    /// Let the kernel follow symlinks; the resolved path must also pass `open`.
    pub follow_symlinks: bool,
}

/// Options for [`DirHandle::open_file`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenFileOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create if missing (authorizes `create`; implies write).
    pub create: bool,
    /// Mode of a created file (default 0o644, subject to the umask). Only the permission
    /// bits (`0o777`) are used: a created file never gets set-id or sticky bits.
    pub permissions: Option<u32>,
    /// Follow a symlink in the last component; the resolved path must also pass `open`.
    pub follow_symlinks: bool,
    /// Accept FIFOs, sockets and devices (refused by default).
    pub special_file: bool,
}

impl OpenFileOptions {
    /// Read-only.
    pub fn read() -> Self {
        OpenFileOptions {
            read: true,
            ..Default::default()
        }
    }
    /// Read and write.
    pub fn read_write() -> Self {
        OpenFileOptions {
            read: true,
            write: true,
            ..Default::default()
        }
    }
    /// Read, write and create.
    pub fn create() -> Self {
        OpenFileOptions {
            read: true,
            write: true,
            create: true,
            ..Default::default()
        }
    }
}

/// Options for [`DirHandle::delete`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteDirOptions {
    /// Remove the whole tree (every entry is authorized for `delete` first).
    pub recursive: bool,
    /// Missing entries are not an error.
    pub force: bool,
}

/// Options for [`FileHandle::copy_to`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyFileOptions {
    /// Overwrite a non-empty destination.
    pub force: bool,
    /// Copy mode and timestamps.
    pub preserve: bool,
}

/// Options for [`FileHandle::write`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Give the new file the old file's owner and group.
    pub preserve_ownership: bool,
}

/// What a delete removed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Paths removed, in removal order.
    pub removed: Vec<String>,
    /// Paths not removed, with the reason.
    pub not_removed: Vec<(String, String)>,
}

/// The [`ChangeReport::not_changed`] reason of a symlink that a recursive change skipped.
pub const SKIPPED_SYMLINK: &str = "symlink skipped";
/// The [`ChangeReport::not_changed`] reason of a FIFO, socket or device that a recursive
/// change skipped.
pub const SKIPPED_SPECIAL_FILE: &str = "special file skipped";

/// One entry of a collected tree: (parent fd, name, path, is_dir).
pub(crate) type TreeItem = (Arc<OwnedFd>, String, ResourcePath, bool);

/// What a recursive change did, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeReport {
    /// Paths changed.
    pub changed: Vec<String>,
    /// Paths not changed, with the reason: [`SKIPPED_SYMLINK`] or [`SKIPPED_SPECIAL_FILE`]
    /// for entries skipped on purpose, the OS error otherwise.
    pub not_changed: Vec<(String, String)>,
}

/// An entry of a directory listing; operations on it go through its parent's fd.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The name, lossily decoded when not UTF-8.
    pub name: String,
    /// The raw name bytes.
    pub raw_name: Vec<u8>,
    /// The type from the directory (or `fstatat` without following).
    pub entry_type: EntryType,
    /// The inode number.
    pub inode: u64,
    pub(crate) parent: DirHandle,
}

impl DirEntry {
    /// Opens the entry as a file (same checks as [`DirHandle::open_file`]).
    pub fn open_as_file(
        &self,
        ctx: &SdkContext,
        opts: OpenFileOptions,
    ) -> Result<FileHandle, FsError> {
        self.parent.open_file(ctx, &self.name, opts)
    }

    /// Opens the entry as a directory (`open` Dir).
    pub fn open_as_dir(&self, ctx: &SdkContext) -> Result<DirHandle, FsError> {
        self.parent.open_subdir(ctx, &self.name)
    }

    /// `stat` on the entry without following symlinks (`stat` on File or Dir).
    pub fn metadata(&self, ctx: &SdkContext) -> Result<Metadata, FsError> {
        self.parent
            .entry_metadata_typed(ctx, &self.name, Some(self.entry_type))
    }

    /// The full path of the entry, if it is a valid resource path.
    pub fn path(&self) -> Result<ResourcePath, FsError> {
        self.parent.path.join(&self.name).map_err(FsError::from)
    }
}

pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW
}

/// Flags of the directories passed through on the way to a target: `O_PATH` descriptors serve
/// as `*at` anchors without opening the directory for reading, so the kernel sandbox
/// (Landlock, `crate::sandbox`) need not grant reading `/` and every ancestor of a scope.
pub(crate) fn walk_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW
}

/// Smallest growth step (and first buffer) of a whole-file read.
const READ_CHUNK_MIN: usize = 4096;
/// Largest growth step of a whole-file read.
const READ_CHUNK_MAX: usize = 1024 * 1024;

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
fn open_parent_by_path(path: &ResourcePath) -> Result<Option<OwnedFd>, FsError> {
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

/// When a follow-mode open is refused with `EACCES`, the kernel sandbox (`crate::sandbox`)
/// may have refused a symlink's target before Cedar saw it. The target is resolved with
/// `O_PATH` (which the sandbox does not mediate) and returned when it differs from the path
/// asked for, so the caller asks Cedar about it and a denial is the same typed denial as
/// without the sandbox. `None` when there is no other target to judge.
fn refused_target(
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
fn authorize_replace(
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
fn rename_no_replace(
    old_dir: &OwnedFd,
    old_name: &str,
    new_dir: &OwnedFd,
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

/// A directory opened by fd. It remembers the path that was authorized.
#[derive(Debug, Clone)]
pub struct DirHandle {
    pub(crate) fd: Arc<OwnedFd>,
    /// The parent directory when it was opened on the way here; `None` for `/` and for
    /// handles opened in follow mode (see [`DirHandle::parent_fd`]).
    pub(crate) parent: Option<Arc<OwnedFd>>,
    pub(crate) path: ResourcePath,
}

impl DirHandle {
    /// Opens a directory. Checks `open` Dir (+ `create` Dir on every new component when
    /// creating; + `open` on the fd-resolved path in follow mode) before the system calls.
    pub fn open(ctx: &SdkContext, path: &str, opts: OpenDirOptions) -> Result<Self, FsError> {
        let p = rpath(path)?;
        check_dir(ctx, Action::FsOpen, &p)?;
        if opts.follow_symlinks {
            return Self::open_follow(ctx, p, opts);
        }
        let components: Vec<&str> = p.as_str().split('/').filter(|c| !c.is_empty()).collect();
        // Directories on the way are `O_PATH` anchors (see `walk_flags`); only the target is
        // opened for reading.
        let flags_at = |i: usize| {
            if i + 1 >= components.len() {
                dir_flags()
            } else {
                walk_flags()
            }
        };
        let root_flags = if components.is_empty() {
            dir_flags()
        } else {
            walk_flags()
        };
        let mut fd = Arc::new(
            rustix::fs::openat(CWD, "/", root_flags, Mode::empty())
                .map_err(|e| FsError::os("open", "/", e))?,
        );
        let mut parent: Option<Arc<OwnedFd>> = None;
        let mut cur = rpath("/")?;
        for (i, c) in components.iter().enumerate() {
            let next_path = cur.join(c)?;
            match rustix::fs::openat(&*fd, *c, flags_at(i), Mode::empty()) {
                Ok(next) => {
                    parent = Some(fd);
                    fd = Arc::new(next);
                }
                Err(Errno::NOENT) if opts.create => {
                    let is_last = i + 1 == components.len();
                    if !is_last && !opts.recursive {
                        return Err(FsError::os("open", next_path.as_str(), Errno::NOENT));
                    }
                    // Authorize every new component before creating any of them.
                    let mut new_paths = Vec::new();
                    let mut np = cur.clone();
                    for c2 in components.iter().skip(i) {
                        np = np.join(c2)?;
                        check_dir(ctx, Action::FsCreate, &np)?;
                        new_paths.push(np.clone());
                    }
                    for (c2, np) in components.iter().skip(i).zip(new_paths.iter()) {
                        match rustix::fs::mkdirat(&*fd, *c2, Mode::from_raw_mode(0o755)) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(FsError::os("mkdir", np.as_str(), e)),
                        }
                        let next = rustix::fs::openat(&*fd, *c2, dir_flags(), Mode::empty())
                            .map_err(|e| FsError::os("open", np.as_str(), e))?;
                        parent = Some(fd);
                        fd = Arc::new(next);
                    }
                    return Ok(DirHandle {
                        fd,
                        parent,
                        path: p,
                    });
                }
                Err(e) => return Err(FsError::os("open", next_path.as_str(), e)),
            }
            cur = next_path;
        }
        if opts.create {
            // REX: `create` is checked on an existing directory opened with create(true).
            check_dir(ctx, Action::FsCreate, &p)?;
        }
        Ok(DirHandle {
            fd,
            parent,
            path: p,
        })
    }

    fn open_follow(
        ctx: &SdkContext,
        p: ResourcePath,
        opts: OpenDirOptions,
    ) -> Result<Self, FsError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let (fd, no_symlinks) = match open_following(CWD, p.as_str(), flags, Mode::empty()) {
            Ok(opened) => opened,
            Err(Errno::NOENT) if opts.create => {
                // Creation never follows symlinks: use the no-follow path.
                return Self::open(
                    ctx,
                    p.as_str(),
                    OpenDirOptions {
                        follow_symlinks: false,
                        ..opts
                    },
                );
            }
            Err(Errno::ACCESS) => {
                if let Some(real) = refused_target(CWD, p.as_str(), &p)? {
                    check_dir(ctx, Action::FsOpen, &real)?;
                }
                return Err(FsError::os("open", p.as_str(), Errno::ACCESS));
            }
            Err(e) => return Err(FsError::os("open", p.as_str(), e)),
        };
        let real = if no_symlinks {
            p
        } else {
            let real = fd_real_path(&fd, p.as_str())?;
            if real != p {
                check_dir(ctx, Action::FsOpen, &real)?;
            }
            real
        };
        // The handle names what the fd really is. Its parent is opened only if it is needed
        // (delete, move), from that path.
        Ok(DirHandle {
            fd: Arc::new(fd),
            parent: None,
            path: real,
        })
    }

    /// The path this directory was opened (and authorized) at. It is not updated when the
    /// directory is moved by another handle or process: see [`DirHandle::current_path`].
    pub fn path(&self) -> &ResourcePath {
        &self.path
    }

    /// The path the directory has now, derived from its fd (`/proc/self/fd`). Every later
    /// check of this handle is made against it, so a handle whose directory was moved (or
    /// whose ancestor was) is authorized where the directory is, not where it was opened.
    /// Fails closed: [`FsError::Changed`] when the directory was removed, an error when the
    /// path cannot be derived.
    pub fn current_path(&self) -> Result<ResourcePath, FsError> {
        fd_real_path(&*self.fd, self.path.as_str())
    }

    /// This handle with its path re-derived from the fd (the same fds).
    pub(crate) fn refreshed(&self) -> Result<DirHandle, FsError> {
        Ok(DirHandle {
            fd: self.fd.clone(),
            parent: self.parent.clone(),
            path: self.current_path()?,
        })
    }

    /// The parent directory: the one opened on the way here, or else the one the current
    /// path names now (opened without following symlinks). `None` for `/`. Either way the
    /// caller confirms with [`verify_name`] that the name in it is still this directory, so
    /// nothing is removed or moved unless the authorized path names the inode held.
    fn parent_fd(&self) -> Result<Option<Arc<OwnedFd>>, FsError> {
        match &self.parent {
            Some(fd) => Ok(Some(fd.clone())),
            None => Ok(open_parent_by_path(&self.path)?.map(Arc::new)),
        }
    }

    /// Opens a child directory by single-component name, never following symlinks (`open` Dir).
    pub fn open_subdir(&self, ctx: &SdkContext, name: &str) -> Result<DirHandle, FsError> {
        let p = self.current_path()?.join(name)?;
        check_dir(ctx, Action::FsOpen, &p)?;
        let fd = rustix::fs::openat(&*self.fd, name, dir_flags(), Mode::empty())
            .map_err(|e| FsError::os("open", p.as_str(), e))?;
        Ok(DirHandle {
            fd: Arc::new(fd),
            parent: Some(self.fd.clone()),
            path: p,
        })
    }

    /// Opens a file in this directory. `name` must be a single component. Checks `open` File
    /// (+ `create` with `create`; + `open` on the resolved path when following).
    pub fn open_file(
        &self,
        ctx: &SdkContext,
        name: &str,
        opts: OpenFileOptions,
    ) -> Result<FileHandle, FsError> {
        let this = self.refreshed()?;
        let p = this.path.join(name)?;
        check_file(ctx, Action::FsOpen, &p)?;
        if opts.create {
            check_file(ctx, Action::FsCreate, &p)?;
        }
        let writing = opts.write || opts.create;
        let mut flags = OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        flags |= match (opts.read, writing) {
            (_, false) => OFlags::RDONLY,
            (false, true) => OFlags::WRONLY,
            (true, true) => OFlags::RDWR,
        };
        if !opts.follow_symlinks {
            flags |= OFlags::NOFOLLOW;
        }
        if opts.create {
            flags |= OFlags::CREATE;
        }
        let mode = Mode::from_raw_mode(opts.permissions.unwrap_or(0o644) & 0o777);
        let opened = if opts.create && opts.follow_symlinks {
            // Creation never follows symlinks: O_CREAT through a dangling link would create
            // its target (anywhere) before the resolved path could be authorized. Open an
            // existing target following links; create only the name itself, no-follow.
            match open_following(&*self.fd, name, flags - OFlags::CREATE, mode) {
                Err(Errno::NOENT) => {
                    rustix::fs::openat(&*self.fd, name, flags | OFlags::NOFOLLOW, mode)
                        .map(|fd| (fd, true))
                }
                other => other,
            }
        } else if opts.follow_symlinks {
            open_following(&*self.fd, name, flags, mode)
        } else {
            rustix::fs::openat(&*self.fd, name, flags, mode).map(|fd| (fd, true))
        };
        let (fd, no_symlinks) = match opened {
            Ok(v) => v,
            Err(Errno::ACCESS) if opts.follow_symlinks => {
                if let Some(real) = refused_target(&*self.fd, name, &p)? {
                    check_file(ctx, Action::FsOpen, &real)?;
                }
                return Err(FsError::os("open", p.as_str(), Errno::ACCESS));
            }
            Err(e) => return Err(FsError::os("open", p.as_str(), e)),
        };
        // In follow mode the handle names what the fd really is, so later checks (`read`,
        // `write`, ...) apply to the target, not to the link.
        let p = if opts.follow_symlinks && !no_symlinks {
            let real = fd_real_path(&fd, p.as_str())?;
            if real != p {
                check_file(ctx, Action::FsOpen, &real)?;
            }
            real
        } else {
            p
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| FsError::os("fstat", p.as_str(), e))?;
        let t = EntryType::from_stat(&st);
        if t != EntryType::File && !(opts.special_file && t != EntryType::Dir) {
            return Err(FsError::EntryTypeMismatch {
                path: p.as_str().to_string(),
                expected: "file",
                found: t.name(),
            });
        }
        if t == EntryType::File {
            // F_SETFL only looks at the status flags (O_APPEND, O_NONBLOCK, ...) of what we
            // opened with, so no F_GETFL round trip is needed.
            rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)
                .map_err(|e| FsError::os("fcntl", p.as_str(), e))?;
        }
        Ok(FileHandle {
            file: File::from(fd),
            path: p,
            name: name.to_string(),
            dir: this,
            page_offset: 0,
            redaction_config: None,
        })
    }

    /// Lists the directory (`read` Dir). Names that are not UTF-8 are decoded lossily (the raw
    /// bytes are kept in [`DirEntry::raw_name`]).
    pub fn list_entries(&self, ctx: &SdkContext) -> Result<BTreeMap<String, DirEntry>, FsError> {
        let this = self.refreshed()?;
        check_dir(ctx, Action::FsRead, &this.path)?;
        let mut out = BTreeMap::new();
        for (raw, t, ino) in this.raw_entries(ctx)? {
            let name = String::from_utf8_lossy(&raw).into_owned();
            out.insert(
                name.clone(),
                DirEntry {
                    name,
                    raw_name: raw,
                    entry_type: t,
                    inode: ino,
                    parent: this.clone(),
                },
            );
        }
        Ok(out)
    }

    /// Reads the directory without any check (callers authorize). Bounded by `max_entries`.
    pub(crate) fn raw_entries(
        &self,
        ctx: &SdkContext,
    ) -> Result<Vec<(Vec<u8>, EntryType, u64)>, FsError> {
        let dir = rustix::fs::Dir::read_from(&*self.fd)
            .map_err(|e| FsError::os("readdir", self.path.as_str(), e))?;
        let mut out = Vec::new();
        for ent in dir {
            if ctx.is_cancelled() {
                return Err(FsError::Cancelled);
            }
            let ent = ent.map_err(|e| FsError::os("readdir", self.path.as_str(), e))?;
            let raw = ent.file_name().to_bytes().to_vec();
            if raw == b"." || raw == b".." {
                continue;
            }
            let mut t = EntryType::from_file_type(ent.file_type());
            if t == EntryType::Unknown
                && let Ok(st) =
                    rustix::fs::statat(&*self.fd, raw.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            {
                t = EntryType::from_stat(&st);
            }
            if out.len() >= ctx.limits().max_entries {
                return Err(FsError::TooManyEntries(ctx.limits().max_entries));
            }
            out.push((raw, t, ent.ino()));
        }
        Ok(out)
    }

    /// `stat` on the directory (`stat` Dir).
    pub fn metadata(&self, ctx: &SdkContext) -> Result<Metadata, FsError> {
        check_dir(ctx, Action::FsStat, &self.current_path()?)?;
        let st = rustix::fs::fstat(&*self.fd)
            .map_err(|e| FsError::os("fstat", self.path.as_str(), e))?;
        Ok(Metadata::from_stat(&st))
    }

    /// `stat` on a child without following symlinks (`stat` on Dir or File by its type).
    ///
    /// The entity type (`File` or `Dir`) depends on what the name is, so this makes one
    /// type lookup (`fstatat`) before the check; use [`DirEntry::metadata`] to check first.
    pub fn entry_metadata(&self, ctx: &SdkContext, name: &str) -> Result<Metadata, FsError> {
        self.entry_metadata_typed(ctx, name, None)
    }

    pub(crate) fn entry_metadata_typed(
        &self,
        ctx: &SdkContext,
        name: &str,
        known: Option<EntryType>,
    ) -> Result<Metadata, FsError> {
        let p = self.current_path()?.join(name)?;
        let check = |t: EntryType| {
            if t == EntryType::Dir {
                check_dir(ctx, Action::FsStat, &p)
            } else {
                check_file(ctx, Action::FsStat, &p)
            }
        };
        if let Some(t) = known {
            check(t)?;
        }
        let st = rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::os("stat", p.as_str(), e))?;
        let t = EntryType::from_stat(&st);
        if known != Some(t) {
            check(t)?;
        }
        Ok(Metadata::from_stat(&st))
    }

    /// Owner and group of the directory (`stat` Dir).
    pub fn get_ownership(&self, ctx: &SdkContext) -> Result<Ownership, FsError> {
        let m = self.metadata(ctx)?;
        Ok(ownership_names(m.uid, m.gid))
    }

    /// Changes the directory's mode (`chmod` Dir). Mode must be within `0..=0o777`.
    pub fn chmod(&self, ctx: &SdkContext, mode: i64) -> Result<(), FsError> {
        let m = valid_mode(mode)?;
        check_dir(ctx, Action::FsChmod, &self.current_path()?)?;
        rustix::fs::fchmod(&*self.fd, Mode::from_raw_mode(m))
            .map_err(|e| FsError::os("chmod", self.path.as_str(), e))
    }

    /// Changes the directory's owner and/or group (`chown` Dir).
    pub fn set_ownership(
        &self,
        ctx: &SdkContext,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(), FsError> {
        check_dir(ctx, Action::FsChown, &self.current_path()?)?;
        let mut cache = IdCache::default();
        let (u, g) = cache.resolve(user, group)?;
        rustix::fs::fchown(&*self.fd, u, g).map_err(|e| FsError::os("chown", self.path.as_str(), e))
    }

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
        check_dir(ctx, action, &self.path)?;
        let mut plan = Vec::new();
        collect_tree(ctx, self, &mut plan)?;
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

    /// The target of a symlink in this directory (`read` File `<dir>/<name>`).
    pub fn read_link_target(&self, ctx: &SdkContext, name: &str) -> Result<String, FsError> {
        let p = self.current_path()?.join(name)?;
        check_file(ctx, Action::FsRead, &p)?;
        let t = rustix::fs::readlinkat(&*self.fd, name, Vec::new())
            .map_err(|e| FsError::os("readlink", p.as_str(), e))?;
        Ok(String::from_utf8_lossy(t.as_bytes()).into_owned())
    }

    /// Creates a symlink `<dir>/<link_name>` → `target`.
    ///
    /// Checks `create` File on the link **and** `open` File on the target (relative targets are
    /// resolved lexically against this directory), so a link can only point at something the
    /// principal may open anyway. With `force` an existing link is atomically replaced (also
    /// checks `delete` File on the link).
    pub fn create_symlink(
        &self,
        ctx: &SdkContext,
        target: &str,
        link_name: &str,
        force: bool,
    ) -> Result<(), FsError> {
        let base = self.current_path()?;
        let link = base.join(link_name)?;
        let target_path = lexical_resolve(&base, target)?;
        check_file(ctx, Action::FsCreate, &link)?;
        check_file(ctx, Action::FsOpen, &target_path)?;
        if force {
            check_file(ctx, Action::FsDelete, &link)?;
            let tmp = temp_name();
            rustix::fs::symlinkat(target, &*self.fd, tmp.as_str())
                .map_err(|e| FsError::os("symlink", link.as_str(), e))?;
            if let Err(e) = rustix::fs::renameat(&*self.fd, tmp.as_str(), &*self.fd, link_name) {
                let _ = rustix::fs::unlinkat(&*self.fd, tmp.as_str(), AtFlags::empty());
                return Err(FsError::os("rename", link.as_str(), e));
            }
            return Ok(());
        }
        rustix::fs::symlinkat(target, &*self.fd, link_name)
            .map_err(|e| FsError::os("symlink", link.as_str(), e))
    }

    /// Removes a non-directory child (a file or symlink; never followed) by name after
    /// checking `delete` File.
    pub fn remove_entry(&self, ctx: &SdkContext, name: &str) -> Result<(), FsError> {
        let p = self.current_path()?.join(name)?;
        check_file(ctx, Action::FsDelete, &p)?;
        rustix::fs::unlinkat(&*self.fd, name, AtFlags::empty())
            .map_err(|e| FsError::os("unlink", p.as_str(), e))
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
        check_dir(ctx, Action::FsDelete, &this.path)?;
        let parent = this.parent_fd()?.ok_or_else(|| {
            FsError::InvalidArguments("refusing to delete the root directory".into())
        })?;
        let name = this.path.file_name().to_string();
        let mut report = DeleteReport::default();
        let mut plan: Vec<TreeItem> = Vec::new();
        if opts.recursive {
            collect_tree(ctx, &this, &mut plan)?;
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
    /// another process adds between that listing and the rename moves unchecked.
    pub fn move_to(
        self,
        ctx: &SdkContext,
        dest_parent: &DirHandle,
        dest_name: &str,
    ) -> Result<DirHandle, FsError> {
        let this = self.refreshed()?;
        let dest_base = dest_parent.current_path()?;
        let dest = dest_base.join(dest_name)?;
        ctx.authorize(
            Action::FsMove,
            &Resource::dir_path(&this.path),
            &move_context(&dest, dest_name, &dest_base),
        )?;
        check_dir(ctx, Action::FsCreate, &dest)?;
        let parent = this
            .parent_fd()?
            .ok_or_else(|| FsError::InvalidArguments("cannot move the root directory".into()))?;
        authorize_carried(ctx, &this, &dest)?;
        let replace = authorize_replace(ctx, &dest_parent.fd, dest_name, &dest)?;
        let name = this.path.file_name().to_string();
        verify_name(&parent, &name, &*this.fd, this.path.as_str())?;
        rename_no_replace(&parent, name.as_str(), &dest_parent.fd, dest_name, replace)
            .map_err(|e| FsError::os("rename", this.path.as_str(), e))?;
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
fn authorize_carried(
    ctx: &SdkContext,
    dir: &DirHandle,
    dest: &ResourcePath,
) -> Result<(), FsError> {
    let mut tree: Vec<TreeItem> = Vec::new();
    collect_tree(ctx, dir, &mut tree)?;
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
    Ok(())
}

/// Checks that `name` in `parent` is still the inode `fd` refers to.
pub(crate) fn verify_name(
    parent: &OwnedFd,
    name: &str,
    fd: impl AsFd,
    path: &str,
) -> Result<(), FsError> {
    let now = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| FsError::os("stat", path, e))?;
    let ours = rustix::fs::fstat(fd).map_err(|e| FsError::os("fstat", path, e))?;
    if same_inode(&now, &ours) {
        Ok(())
    } else {
        Err(FsError::Changed(path.to_string()))
    }
}

/// Pre-order list of every entry below `dir`: (parent fd, name, path, is_dir). Never follows
/// symlinks. Names that are not valid resource paths fail the whole collection.
pub(crate) fn collect_tree(
    ctx: &SdkContext,
    dir: &DirHandle,
    out: &mut Vec<TreeItem>,
) -> Result<(), FsError> {
    for (raw, t, _) in dir.raw_entries(ctx)? {
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
            collect_tree(ctx, &sub, out)?;
        }
    }
    Ok(())
}

pub(crate) fn move_context(
    dest: &ResourcePath,
    name: &str,
    parent: &ResourcePath,
) -> RequestContext {
    RequestContext::Move {
        path: dest.as_str().to_string(),
        name: name.to_string(),
        parent_path: parent.as_str().to_string(),
    }
}

/// Resolves `target` lexically against `base` (for symlink targets), then validates it.
pub(crate) fn lexical_resolve(base: &ResourcePath, target: &str) -> Result<ResourcePath, FsError> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.as_str().split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    rpath(&format!("/{}", parts.join("/")))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn temp_name() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".rex-tmp.{}.{}.{}", std::process::id(), n, t)
}

pub(crate) fn valid_mode(mode: i64) -> Result<u32, FsError> {
    if (0..=0o777).contains(&mode) {
        u32::try_from(mode).map_err(|_| FsError::InvalidFileMode(mode))
    } else {
        Err(FsError::InvalidFileMode(mode))
    }
}

pub(crate) fn ownership_names(uid: u32, gid: u32) -> Ownership {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string());
    Ownership { user, group }
}

/// Caches user/group name lookups for the duration of one call.
#[derive(Default)]
pub(crate) struct IdCache {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

impl IdCache {
    pub(crate) fn resolve(
        &mut self,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(Option<rustix::fs::Uid>, Option<rustix::fs::Gid>), FsError> {
        let u = match user {
            None => None,
            Some(name) => Some(rustix::fs::Uid::from_raw(match self.users.get(name) {
                Some(u) => *u,
                None => {
                    let uid = match nix::unistd::User::from_name(name) {
                        Ok(Some(u)) => u.uid.as_raw(),
                        _ => name
                            .parse::<u32>()
                            .map_err(|_| FsError::IdentityResolution(format!("user `{name}`")))?,
                    };
                    self.users.insert(name.to_string(), uid);
                    uid
                }
            })),
        };
        let g = match group {
            None => None,
            Some(name) => Some(rustix::fs::Gid::from_raw(match self.groups.get(name) {
                Some(g) => *g,
                None => {
                    let gid = match nix::unistd::Group::from_name(name) {
                        Ok(Some(g)) => g.gid.as_raw(),
                        _ => name
                            .parse::<u32>()
                            .map_err(|_| FsError::IdentityResolution(format!("group `{name}`")))?,
                    };
                    self.groups.insert(name.to_string(), gid);
                    gid
                }
            })),
        };
        Ok((u, g))
    }
}

/// A file opened relative to its parent directory's fd.
#[derive(Debug)]
pub struct FileHandle {
    pub(crate) file: File,
    pub(crate) path: ResourcePath,
    pub(crate) name: String,
    pub(crate) dir: DirHandle,
    pub(crate) page_offset: u64,
    pub(crate) redaction_config: Option<String>,
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
        fd_real_path(&self.file, self.path.as_str())
    }

    /// Checks `action` on the file's [current path](FileHandle::current_path) and returns it.
    pub(crate) fn check(&self, ctx: &SdkContext, action: Action) -> Result<ResourcePath, FsError> {
        let p = self.current_path()?;
        check_file(ctx, action, &p)?;
        Ok(p)
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

    fn fstat(&self) -> Result<Stat, FsError> {
        rustix::fs::fstat(&self.file).map_err(|e| FsError::os("fstat", self.path.as_str(), e))
    }

    /// Reads the whole content with no check, bounded by `max_read_bytes`.
    pub(crate) fn read_bytes_unchecked(&self, ctx: &SdkContext) -> Result<Vec<u8>, FsError> {
        let limit = ctx.limits().max_read_bytes;
        let st = self.fstat()?;
        let too_large = || FsError::FileTooLarge {
            path: self.path.as_str().to_string(),
            limit,
        };
        if u64::try_from(st.st_size).unwrap_or(0) > limit {
            return Err(too_large());
        }
        // Read straight into the result: sized from `fstat` (+1 so that the end-of-file read
        // needs no reallocation), growing if the file grew or reports no size (`/proc`).
        let hint = usize::try_from(st.st_size).unwrap_or(0);
        let mut buf: Vec<u8> = Vec::with_capacity(hint.saturating_add(1).max(READ_CHUNK_MIN));
        let mut off = 0u64;
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.len().clamp(READ_CHUNK_MIN, READ_CHUNK_MAX));
            }
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
        }
        Ok(buf)
    }

    /// The whole content as bytes (`read` File; no redaction).
    pub fn read_bytes(&self, ctx: &SdkContext) -> Result<Vec<u8>, FsError> {
        self.check(ctx, Action::FsRead)?;
        self.read_bytes_unchecked(ctx)
    }

    fn read_text_strict(&self, ctx: &SdkContext) -> Result<String, FsError> {
        let b = self.read_bytes(ctx)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Content with REX's fallback: `read` File, or when that is denied and `redacted_read` is
    /// allowed, the redacted content (§3.9). Otherwise the original denial.
    fn read_text_or_redacted(&self, ctx: &SdkContext) -> Result<String, FsError> {
        let path = self.current_path()?;
        match check_file(ctx, Action::FsRead, &path) {
            Ok(()) => {
                let b = self.read_bytes_unchecked(ctx)?;
                Ok(String::from_utf8_lossy(&b).into_owned())
            }
            Err(FsError::PermissionDenied(d)) => {
                if check_file(ctx, Action::FsRedactedRead, &path).is_err() {
                    return Err(FsError::PermissionDenied(d));
                }
                let cfg = self
                    .redaction_config
                    .as_deref()
                    .unwrap_or(ctx.redaction_config());
                if rpath(cfg).ok().as_ref() == Some(&path) {
                    return Err(FsError::PermissionDenied(d));
                }
                let redactor = match redact::load(ctx, cfg) {
                    Ok(r) => r,
                    Err(_) => return Err(FsError::PermissionDenied(d)),
                };
                let b = self.read_bytes_unchecked(ctx)?;
                Ok(redactor.redact(&String::from_utf8_lossy(&b)))
            }
            Err(e) => Err(e),
        }
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
        text::select_lines(&t, start, count)
    }

    /// The next `num_lines` lines from this handle's page cursor (`read` File). Returns an
    /// empty vector at the end.
    pub fn read_page(&mut self, ctx: &SdkContext, num_lines: i64) -> Result<Vec<String>, FsError> {
        if num_lines <= 0 {
            return Err(FsError::InvalidArguments("num_lines must be > 0".into()));
        }
        self.check(ctx, Action::FsRead)?;
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
        self.check(ctx, Action::FsStat)?;
        Ok(Metadata::from_stat(&self.fstat()?))
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
        let path = self.check(ctx, Action::FsWrite)?;
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
        })
    }

    /// Replaces the content in place (`write` File): clear the set-id bits, truncate, write,
    /// fsync.
    pub fn write_in_place(&self, ctx: &SdkContext, content: &str) -> Result<(), FsError> {
        let path = self.check(ctx, Action::FsWrite)?;
        let p = path.as_str();
        clear_set_id(&self.file, p)?;
        rustix::fs::ftruncate(&self.file, 0).map_err(|e| FsError::os("truncate", p, e))?;
        self.file
            .write_all_at(content.as_bytes(), 0)
            .map_err(|e| FsError::io("write", p, e))?;
        rustix::fs::fsync(&self.file).map_err(|e| FsError::os("fsync", p, e))
    }

    /// Appends with `O_APPEND` (`write` File). Never reads or rewrites existing content;
    /// clears the set-id bits first.
    pub fn append(&self, ctx: &SdkContext, content: &str) -> Result<(), FsError> {
        let path = self.check(ctx, Action::FsWrite)?;
        let p = path.as_str();
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
        self.check(ctx, Action::FsRead)?;
        let dest_path = dest.check(ctx, Action::FsWrite)?;
        let dp = dest_path.as_str();
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
            }),
            Err(Errno::XDEV) => {
                let st = self.fstat()?;
                let dp = dest.as_str();
                let tmp = temp_name();
                // A new file beside the destination: an existing destination is replaced by
                // the rename below, never written into (it may be linked elsewhere).
                let fd = rustix::fs::openat(
                    &*dest_dir.fd,
                    tmp.as_str(),
                    OFlags::RDWR
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| FsError::os("create", dp, e))?;
                let out = File::from(fd);
                let result = (|| {
                    copy_fd(&self.file, &out, dp)?;
                    // permission bits only: set-id bits are never copied (see `write`)
                    rustix::fs::fchmod(&out, Mode::from_raw_mode(st.st_mode & 0o777))
                        .map_err(|e| FsError::os("chmod", dp, e))?;
                    rustix::fs::fsync(&out).map_err(|e| FsError::os("fsync", dp, e))?;
                    rename_no_replace(&dest_dir.fd, tmp.as_str(), &dest_dir.fd, name, replace)
                        .map_err(|e| FsError::os("rename", dp, e))
                })();
                if let Err(e) = result {
                    let _ = rustix::fs::unlinkat(&*dest_dir.fd, tmp.as_str(), AtFlags::empty());
                    return Err(e);
                }
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
                })
            }
            Err(e) => Err(FsError::os("rename", p, e)),
        }
    }

    /// Deletes the file (`delete` File): unlinks the name in the parent fd after checking that
    /// it still refers to the opened inode.
    pub fn delete(self, ctx: &SdkContext) -> Result<(), FsError> {
        let path = self.check(ctx, Action::FsDelete)?;
        let p = path.as_str();
        verify_name(&self.dir.fd, &self.name, &self.file, p)?;
        rustix::fs::unlinkat(&*self.dir.fd, self.name.as_str(), AtFlags::empty())
            .map_err(|e| FsError::os("unlink", p, e))
    }

    /// Changes the mode (`chmod` File); `0..=0o777`.
    pub fn chmod(&self, ctx: &SdkContext, mode: i64) -> Result<(), FsError> {
        let m = valid_mode(mode)?;
        let p = self.check(ctx, Action::FsChmod)?;
        rustix::fs::fchmod(&self.file, Mode::from_raw_mode(m))
            .map_err(|e| FsError::os("chmod", p.as_str(), e))
    }

    /// Changes owner and/or group (`chown` File).
    pub fn set_ownership(
        &self,
        ctx: &SdkContext,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(), FsError> {
        let p = self.check(ctx, Action::FsChown)?;
        let (u, g) = IdCache::default().resolve(user, group)?;
        rustix::fs::fchown(&self.file, u, g).map_err(|e| FsError::os("chown", p.as_str(), e))
    }

    /// Truncates or extends to `size` bytes (`write` File); clears the set-id bits first.
    pub fn truncate(&self, ctx: &SdkContext, size: u64) -> Result<(), FsError> {
        let p = self.check(ctx, Action::FsWrite)?;
        clear_set_id(&self.file, p.as_str())?;
        rustix::fs::ftruncate(&self.file, size).map_err(|e| FsError::os("truncate", p.as_str(), e))
    }

    /// Sets access and modification times to now (`write` File).
    pub fn touch(&self, ctx: &SdkContext) -> Result<(), FsError> {
        let p = self.check(ctx, Action::FsWrite)?;
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
        .map_err(|e| FsError::os("utimens", p.as_str(), e))
    }
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
