//! [`DirHandle`]: opening directories, listing, metadata, permissions and links.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rex_auth::{Action, AuthError, ResourceKind, ResourcePath};
use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

use super::at::*;
use super::file::*;
use super::names::*;
use super::types::*;
use crate::fs::error::FsError;
use crate::fs::{check_dir, check_file, rpath};
use crate::{Permit, SdkContext};

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
    pub(super) fn parent_fd(&self) -> Result<Option<Arc<OwnedFd>>, FsError> {
        match &self.parent {
            Some(fd) => Ok(Some(fd.clone())),
            None => Ok(open_parent_by_path(&self.path)?.map(Arc::new)),
        }
    }

    /// Opens a child directory by single-component name, never following symlinks (`open` Dir).
    pub fn open_subdir(&self, ctx: &SdkContext, name: &str) -> Result<DirHandle, FsError> {
        let p = self.current_path()?.join(name)?;
        let open = check_dir(ctx, Action::FsOpen, &p)?;
        self.open_subdir_with(&open, name, p)
    }

    /// The `openat` of [`DirHandle::open_subdir`], under the proof of `open` Dir on `p`.
    pub(super) fn open_subdir_with(
        &self,
        open: &Permit,
        name: &str,
        p: ResourcePath,
    ) -> Result<DirHandle, FsError> {
        open.require(&[Action::FsOpen], ResourceKind::Dir, p.as_str())?;
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
        self.open_file_in(self.refreshed()?, ctx, name, opts, false)
    }

    /// [`DirHandle::open_file`] for a directory handle opened in the current SDK call and a
    /// file the call reads and drops before it returns (`cat`, `read`, `grep`, ...): neither
    /// was ever visible to a script, so neither path is re-derived from `/proc/self/fd`,
    /// and the file's `fstat` from the open is kept for the read. The same Cedar checks in
    /// the same order; handles a script holds keep the stale-handle protection. A handle
    /// opened for writing or creation is never fresh.
    pub(crate) fn open_file_fresh(
        &self,
        ctx: &SdkContext,
        name: &str,
        opts: OpenFileOptions,
    ) -> Result<FileHandle, FsError> {
        let fresh = !(opts.write || opts.create);
        let this = if fresh {
            self.clone()
        } else {
            self.refreshed()?
        };
        self.open_file_in(this, ctx, name, opts, fresh)
    }

    fn open_file_in(
        &self,
        this: DirHandle,
        ctx: &SdkContext,
        name: &str,
        opts: OpenFileOptions,
        fresh: bool,
    ) -> Result<FileHandle, FsError> {
        let p = this.path.join(name)?;
        let open = check_file(ctx, Action::FsOpen, &p)?;
        let create = if opts.create {
            Some(check_file(ctx, Action::FsCreate, &p)?)
        } else {
            None
        };
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
        let opened = self.open_name(name, &p, flags, opts, &open, create.as_ref())?;
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
        // A fresh handle is read once and dropped: `O_NONBLOCK` does not change reads of a
        // regular file, so it is left set (one system call less). A handle that lives on
        // gets blocking I/O.
        let fresh = (fresh && t == EntryType::File).then(|| u64::try_from(st.st_size).unwrap_or(0));
        if t == EntryType::File && fresh.is_none() {
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
            fresh,
        })
    }

    /// The `openat` of [`DirHandle::open_file`], relative to this directory's fd. `open` is
    /// the proof of `open` File on `p` and, when creating, `create` that of `create` File on
    /// `p`; without them (or with proofs of anything else) nothing is opened.
    fn open_name(
        &self,
        name: &str,
        p: &ResourcePath,
        flags: OFlags,
        opts: OpenFileOptions,
        open: &Permit,
        create: Option<&Permit>,
    ) -> Result<Result<(OwnedFd, bool), Errno>, FsError> {
        open.require(&[Action::FsOpen], ResourceKind::File, p.as_str())?;
        if opts.create {
            create
                .ok_or_else(|| {
                    AuthError::Config(format!("internal: no `create` permit for `{p}`"))
                })?
                .require(&[Action::FsCreate], ResourceKind::File, p.as_str())?;
        }
        let mode = Mode::from_raw_mode(opts.permissions.unwrap_or(0o644) & 0o777);
        Ok(if opts.create && opts.follow_symlinks {
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
        })
    }

    /// Lists the directory (`read` Dir), by name. Names that are not UTF-8 are decoded
    /// lossily (the raw bytes are in [`DirEntry::raw_name`]); see
    /// [`DirHandle::sorted_entries`] for the same entries without a map.
    pub fn list_entries(&self, ctx: &SdkContext) -> Result<BTreeMap<String, DirEntry>, FsError> {
        Ok(self
            .sorted_entries(ctx)?
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect())
    }

    /// Lists the directory (`read` Dir): the entries sorted by name, each name once (two raw
    /// names that decode to the same lossy name keep the first, as a map by name would).
    pub fn sorted_entries(&self, ctx: &SdkContext) -> Result<Vec<DirEntry>, FsError> {
        let this = self.refreshed()?;
        let read = check_dir(ctx, Action::FsRead, &this.path)?;
        let shared = Arc::new(this);
        // Each entry is made as the kernel returns it: no intermediate list of raw names.
        let entries = shared.listed(ctx, &read, |raw, t, ino| {
            DirEntry::from_raw(raw.to_vec(), t, ino, Arc::clone(&shared))
        })?;
        // The raw names are unique, so an unstable sort orders them exactly; lossy names may
        // collide and keep the one whose raw bytes sort first. What is sorted is each entry's
        // name key and index (16 bytes, an integer compare), not the entries themselves;
        // whole names are compared only when two keys are equal.
        let mut order: Vec<(u64, usize)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (name_prefix_key(e.name.as_bytes()), i))
            .collect();
        // Key order is byte order up to the first eight bytes (see `cmp_names`' tests).
        order.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb)
                .then_with(|| match (entries.get(*a), entries.get(*b)) {
                    (Some(a), Some(b)) => a
                        .name
                        .as_bytes()
                        .cmp(b.name.as_bytes())
                        .then_with(|| a.raw_name().cmp(b.raw_name())),
                    _ => std::cmp::Ordering::Equal,
                })
        });
        let mut slots: Vec<Option<DirEntry>> = entries.into_iter().map(Some).collect();
        let mut entries: Vec<DirEntry> = order
            .iter()
            .filter_map(|(_, i)| slots.get_mut(*i).and_then(Option::take))
            .collect();
        // Only lossily decoded names can collide: a listing of UTF-8 names skips the pass.
        if entries.iter().any(|e| !e.name_is_utf8()) {
            entries.dedup_by(|later, first| later.name == first.name);
        }
        Ok(entries)
    }

    /// Reads the directory under `read`, the proof of `read` Dir on this directory's path.
    /// Bounded by `max_entries`.
    pub(crate) fn raw_entries(
        &self,
        ctx: &SdkContext,
        read: &Permit,
    ) -> Result<Vec<(Vec<u8>, EntryType, u64)>, FsError> {
        self.listed(ctx, read, |raw, t, ino| (raw.to_vec(), t, ino))
    }

    /// [`DirHandle::raw_entries`], each entry made by `make` from its raw name, type and
    /// inode number.
    fn listed<T>(
        &self,
        ctx: &SdkContext,
        read: &Permit,
        make: impl FnMut(&[u8], EntryType, u64) -> T,
    ) -> Result<Vec<T>, FsError> {
        read.require(&[Action::FsRead], ResourceKind::Dir, self.path.as_str())?;
        self.getdents(ctx, make)
    }

    /// Reads the directory while a recursive operation plans the tree below its root:
    /// `root` is that operation's proof on the root (`chmod`, `chown`, `delete` or `move`
    /// Dir), which must be this directory or one of its ancestors. Every listed entry is then
    /// checked on its own before anything changes.
    pub(crate) fn raw_entries_below(
        &self,
        ctx: &SdkContext,
        root: &Permit,
    ) -> Result<Vec<(Vec<u8>, EntryType, u64)>, FsError> {
        root.require_within(
            &[
                Action::FsChmod,
                Action::FsChown,
                Action::FsDelete,
                Action::FsMove,
            ],
            self.path.as_str(),
        )?;
        self.getdents(ctx, |raw, t, ino| (raw.to_vec(), t, ino))
    }

    /// The listing itself, private to this module: reached only through
    /// [`DirHandle::raw_entries`] (and its `listed`) and [`DirHandle::raw_entries_below`],
    /// which demand a proof. `make` turns each entry (raw name, type, inode number) into
    /// what the caller keeps.
    ///
    /// One `openat(".")` (a file description of its own, so no offset is shared with this
    /// handle) and `getdents64` into one 64 KiB buffer: a thousand entries take two calls.
    fn getdents<T>(
        &self,
        ctx: &SdkContext,
        mut make: impl FnMut(&[u8], EntryType, u64) -> T,
    ) -> Result<Vec<T>, FsError> {
        const BUFFER: usize = 64 * 1024;
        let os = |e| FsError::os("readdir", self.path.as_str(), e);
        let fd = rustix::fs::openat(
            &*self.fd,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(os)?;
        let mut buf: Vec<u8> = Vec::with_capacity(BUFFER);
        let mut dir = rustix::fs::RawDir::new(&fd, buf.spare_capacity_mut());
        let mut out = Vec::new();
        while let Some(ent) = dir.next() {
            // Cancellation reads the clock: once every 64 entries is prompt enough.
            if out.len() % 64 == 0 && ctx.is_cancelled() {
                return Err(FsError::Cancelled);
            }
            let ent = ent.map_err(os)?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut t = EntryType::from_file_type(ent.file_type());
            if t == EntryType::Unknown
                && let Ok(st) = rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            {
                t = EntryType::from_stat(&st);
            }
            if out.len() >= ctx.limits().max_entries {
                return Err(FsError::TooManyEntries(ctx.limits().max_entries));
            }
            out.push(make(name, t, ent.ino()));
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
}
