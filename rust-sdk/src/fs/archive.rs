//! Archive extraction (`FileHandle.extract_archive`, REX §2.2.2): tar and gzip'd tar into an
//! open directory, authorized entry by entry **before anything is written**.
//!
//! How it differs from REX (which extracts entry by entry and only warns on failures):
//! * **Plan, authorize, stage, commit.** The archive is read once to plan: every path is
//!   validated (no absolute path, no `..`, no empty or NUL component, valid UTF-8 resource
//!   names), the entry count and the total size are checked against
//!   [`ExtractArchiveOptions::max_entries`] / [`ExtractArchiveOptions::max_total_bytes`], and
//!   Cedar is asked for every entry (`create` + `write` File, plus `chmod`/`chown` File when
//!   preserving; `create` Dir for each new directory, `open` Dir for each existing one; `chmod`/
//!   `chown` Dir on new directories when preserving). Any refusal ends the call with nothing
//!   written. The archive is then read a second time; file contents go to temporary files in
//!   their target directories (opened `openat`-style from the destination fd, never following
//!   a symlink), and only when every entry is staged are they renamed into place. On any
//!   failure while staging, the temporary files and the directories created so far are
//!   removed: the destination is left as it was. (A failure of the final renames, which needs
//!   a concurrent change of the destination, may leave the entries renamed so far.)
//! * **Links and special files are skipped and reported.** Symlinks, hard links, character
//!   and block devices and FIFOs are never created; like REX the extraction goes on, but each
//!   skipped entry is listed in [`ExtractReport::skipped`].
//! * **Bounded.** Besides the declared sizes, the decompressed stream is capped, so a gzip
//!   bomb ends in [`FsError::LimitExceeded`] without filling the disk or memory.
//! * Modes are limited to `0o777` (set-uid, set-gid and sticky bits are dropped). Existing
//!   directories keep their metadata. An existing regular file (or symlink) at an entry's path
//!   is replaced (the link itself, never its target); an existing directory is not.
//! * Both plain tar and gzip'd tar are accepted (REX only gzip'd); the format is detected
//!   from the content.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::ops::Bound;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rex_auth::{Action, ResourcePath};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::error::FsError;
use super::handle::{DirHandle, EntryType, FileHandle, dir_flags, temp_name};
use super::{check_dir, check_file};
use crate::SdkContext;

/// Options of [`extract_archive`] (REX's `ExtractArchiveOptions`, plus limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractArchiveOptions {
    /// Give files and new directories the archive's permission bits (`& 0o777`); checks
    /// `chmod` on each. Default `true` (REX's default). Without it files get `0o644` and new
    /// directories `0o755`.
    pub preserve_permissions: bool,
    /// Give files and new directories the archive's uid/gid; checks `chown` on each. Default
    /// `false`.
    pub preserve_ownership: bool,
    /// Give files the archive's modification time. Default `true`.
    pub preserve_timestamps: bool,
    /// The largest sum of the entries' sizes. Default 1 GiB.
    pub max_total_bytes: u64,
    /// The most entries (of any type) in the archive. Default 10,000.
    pub max_entries: usize,
}

impl Default for ExtractArchiveOptions {
    fn default() -> Self {
        ExtractArchiveOptions {
            preserve_permissions: true,
            preserve_ownership: false,
            preserve_timestamps: true,
            max_total_bytes: 1 << 30,
            max_entries: 10_000,
        }
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Paths of the files and directories written, in archive order.
    pub extracted: Vec<String>,
    /// Entries not extracted (links, devices, FIFOs), with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Reads a file through its fd at an explicit offset (the fd's own cursor is not used).
struct PositionedReader<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Fails once more than `limit` bytes have been read.
struct CappedReader<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(StreamTooLarge(self.limit)));
        }
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the archive stream is larger than {0} bytes")]
struct StreamTooLarge(u64);

/// The kind of a planned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Skipped,
    /// A pax global header or similar record: nothing to extract, nothing to report.
    Meta,
}

/// One archive entry as planned in the first pass.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    /// Components relative to the destination (empty for a skipped entry whose path is `.`).
    comps: Vec<String>,
    kind: Kind,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// A directory that the extraction needs, and whether it exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirState {
    Exists,
    New,
}

fn archive_reader<'a>(
    f: &'a FileHandle,
    opts: &ExtractArchiveOptions,
) -> Result<Box<dyn Read + 'a>, FsError> {
    let p = f.path().as_str();
    let mut magic = [0u8; 2];
    let n = f
        .file
        .read_at(&mut magic, 0)
        .map_err(|e| FsError::io("read", p, e))?;
    let raw = PositionedReader {
        file: &f.file,
        offset: 0,
    };
    // Room for headers (512 bytes each, plus pax and long-name records) and padding.
    let limit = opts
        .max_total_bytes
        .saturating_add((opts.max_entries as u64).saturating_mul(4096))
        .saturating_add(1 << 20);
    let inner: Box<dyn Read + 'a> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    Ok(Box::new(CappedReader {
        inner,
        read: 0,
        limit,
    }))
}

fn stream_error(path: &str, e: std::io::Error) -> FsError {
    if let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<StreamTooLarge>()) {
        return FsError::LimitExceeded {
            path: path.to_string(),
            reason: t.to_string(),
        };
    }
    FsError::InvalidContent {
        path: path.to_string(),
        reason: format!("not a valid tar or tar.gz archive: {e}"),
    }
}

/// Splits and validates an entry path; `Ok(vec![])` for `.` / `./`.
fn entry_components(archive: &str, raw: &[u8]) -> Result<Vec<String>, FsError> {
    let bad = |reason: &str| FsError::InvalidPath {
        path: String::from_utf8_lossy(raw).into_owned(),
        reason: format!("archive `{archive}` entry: {reason}"),
    };
    if raw.contains(&0) {
        return Err(bad("contains NUL"));
    }
    let s = std::str::from_utf8(raw).map_err(|_| bad("not valid UTF-8"))?;
    if s.starts_with('/') {
        return Err(bad("absolute paths are refused"));
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("`..` components are refused")),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

fn join(base: &ResourcePath, comps: &[String]) -> Result<ResourcePath, FsError> {
    let mut p = base.clone();
    for c in comps {
        p = p.join(c)?;
    }
    Ok(p)
}

/// First pass: validates every entry and applies the limits. No check, no write.
fn plan(
    ctx: &SdkContext,
    f: &FileHandle,
    opts: &ExtractArchiveOptions,
) -> Result<Vec<Planned>, FsError> {
    let ap = f.path().as_str();
    let mut ar = tar::Archive::new(archive_reader(f, opts)?);
    let mut out: Vec<Planned> = Vec::new();
    let mut total = 0u64;
    let mut kinds: BTreeMap<Vec<String>, Kind> = BTreeMap::new();
    for entry in ar.entries().map_err(|e| stream_error(ap, e))? {
        if ctx.is_cancelled() {
            return Err(FsError::Cancelled);
        }
        let entry = entry.map_err(|e| stream_error(ap, e))?;
        if out.len() >= opts.max_entries {
            return Err(FsError::LimitExceeded {
                path: ap.to_string(),
                reason: format!("more than {} entries", opts.max_entries),
            });
        }
        let h = entry.header();
        if matches!(
            h.entry_type(),
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            // Metadata records (the reader applies the per-entry ones itself).
            out.push(Planned {
                comps: Vec::new(),
                kind: Kind::Meta,
                size: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
            });
            continue;
        }
        let comps = entry_components(ap, &entry.path_bytes())?;
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            _ => Kind::Skipped,
        };
        let size = if kind == Kind::File { entry.size() } else { 0 };
        total = total.saturating_add(size);
        if total > opts.max_total_bytes {
            return Err(FsError::LimitExceeded {
                path: ap.to_string(),
                reason: format!(
                    "the entries add up to more than {} bytes",
                    opts.max_total_bytes
                ),
            });
        }
        if kind == Kind::File || kind == Kind::Dir {
            if comps.is_empty() && kind == Kind::File {
                return Err(FsError::InvalidPath {
                    path: ".".into(),
                    reason: format!("archive `{ap}`: a file entry without a name"),
                });
            }
            // A path may not be used as a file and as a directory (or twice as a file).
            for i in 1..comps.len() {
                if let Some(Kind::File) = comps.get(..i).and_then(|p| kinds.get(p)) {
                    return Err(conflict(ap, &comps));
                }
            }
            match (kinds.get(&comps), kind) {
                (None, _) | (Some(Kind::Dir), Kind::Dir) => {}
                _ => return Err(conflict(ap, &comps)),
            }
            kinds.insert(comps.clone(), kind);
        }
        out.push(Planned {
            comps,
            kind,
            size,
            mode: h.mode().unwrap_or(0o644) & 0o777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
        });
    }
    // A directory implied by a file path may not be a file entry itself.
    // Paths below `comps` sort right after it, so its successor is enough to look at.
    for (comps, k) in &kinds {
        if *k == Kind::File
            && let Some((next, _)) = kinds
                .range::<Vec<String>, _>((Bound::Excluded(comps), Bound::Unbounded))
                .next()
            && next.starts_with(comps)
        {
            return Err(conflict(ap, comps));
        }
    }
    Ok(out)
}

fn conflict(archive: &str, comps: &[String]) -> FsError {
    FsError::InvalidContent {
        path: archive.to_string(),
        reason: format!(
            "entry `{}` appears twice or both as a file and a directory",
            comps.join("/")
        ),
    }
}

/// The most directory fds a [`DirCache`] keeps open at once. Archives list a directory's
/// entries together, so a small cache serves nearly every lookup, and a directory-heavy
/// archive cannot exhaust the process's file descriptors.
const DIR_CACHE_MAX: usize = 256;

/// Directory fds of one extraction, by path relative to the destination.
///
/// Every fd is opened from its parent's fd (the destination's own fd for the first level)
/// with [`dir_flags`] (`O_NOFOLLOW | O_DIRECTORY`), one component at a time, so a cached fd
/// is always a directory reached below the destination without following a symlink, exactly
/// like reopening the chain from the destination each time, but each directory is opened
/// once instead of once per entry below it (O(entries + dirs) opens, not O(entries × depth)).
/// The cache is cleared when it holds [`DIR_CACHE_MAX`] fds; the `Arc`s handed out stay
/// valid after that.
struct DirCache<'a> {
    dest: &'a DirHandle,
    fds: HashMap<Vec<String>, Arc<OwnedFd>>,
    /// How many directories were opened (for tests of the cache itself).
    opens: usize,
}

impl<'a> DirCache<'a> {
    fn new(dest: &'a DirHandle) -> Self {
        DirCache {
            dest,
            fds: HashMap::new(),
            opens: 0,
        }
    }

    /// The fd of `comps` below the root; `path` names the entry in errors.
    fn open(&mut self, comps: &[String], path: &str) -> Result<Arc<OwnedFd>, FsError> {
        if let Some(fd) = self.fds.get(comps) {
            return Ok(Arc::clone(fd));
        }
        // The nearest cached ancestor (or the root), then the missing components below it.
        let mut known = comps.len();
        let mut base: Option<Arc<OwnedFd>> = None;
        while known > 0 {
            known -= 1;
            if let Some(fd) = comps.get(..known).and_then(|p| self.fds.get(p)) {
                base = Some(Arc::clone(fd));
                break;
            }
        }
        let mut fd = match base {
            Some(fd) => fd,
            None => {
                known = 0;
                let fd = rustix::fs::openat(&self.dest.fd, ".", dir_flags(), Mode::empty())
                    .map_err(|e| FsError::os("open", path, e))?;
                self.opens += 1;
                let fd = Arc::new(fd);
                self.insert(Vec::new(), Arc::clone(&fd));
                fd
            }
        };
        for i in known..comps.len() {
            let (Some(c), Some(prefix)) = (comps.get(i), comps.get(..=i)) else {
                break;
            };
            let next = rustix::fs::openat(&*fd, c.as_str(), dir_flags(), Mode::empty())
                .map_err(|e| FsError::os("open", path, e))?;
            self.opens += 1;
            fd = Arc::new(next);
            self.insert(prefix.to_vec(), Arc::clone(&fd));
        }
        Ok(fd)
    }

    fn insert(&mut self, comps: Vec<String>, fd: Arc<OwnedFd>) {
        if self.fds.len() >= DIR_CACHE_MAX {
            self.fds.clear();
        }
        self.fds.insert(comps, fd);
    }
}

/// Which directories exist (probing from the destination fd without following symlinks).
fn dir_states(
    fds: &mut DirCache<'_>,
    plan: &[Planned],
) -> Result<BTreeMap<Vec<String>, DirState>, FsError> {
    let dest = fds.dest;
    let mut dirs: BTreeSet<Vec<String>> = BTreeSet::new();
    for e in plan
        .iter()
        .filter(|e| matches!(e.kind, Kind::File | Kind::Dir))
    {
        let n = if e.kind == Kind::Dir {
            e.comps.len()
        } else {
            e.comps.len().saturating_sub(1)
        };
        for i in 1..=n {
            if let Some(p) = e.comps.get(..i) {
                dirs.insert(p.to_vec());
            }
        }
    }
    let mut states: BTreeMap<Vec<String>, DirState> = BTreeMap::new();
    // BTreeSet order puts every parent before its children.
    for d in dirs {
        let (parent, name) = match d.split_last() {
            Some((n, p)) => (p, n),
            None => continue,
        };
        let path = join(&dest.path, &d)?;
        let state = if parent.is_empty() || states.get(parent) == Some(&DirState::Exists) {
            let pfd = fds.open(parent, path.as_str())?;
            match rustix::fs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if EntryType::from_stat(&st) == EntryType::Dir => DirState::Exists,
                Ok(st) => {
                    return Err(FsError::EntryTypeMismatch {
                        path: path.as_str().to_string(),
                        expected: "directory",
                        found: EntryType::from_stat(&st).name(),
                    });
                }
                Err(Errno::NOENT) => DirState::New,
                Err(e) => return Err(FsError::os("stat", path.as_str(), e)),
            }
        } else {
            DirState::New
        };
        states.insert(d, state);
    }
    Ok(states)
}

/// Asks Cedar about every entry; the first refusal ends the extraction. A file entry whose
/// path already holds something other than a regular file (a symlink, FIFO, socket or
/// device) replaces it, which deletes it: `delete` File is checked on it too. (Replacing a
/// regular file's content is what `write` allows, as for [`FileHandle::write`].)
fn authorize(
    ctx: &SdkContext,
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    for (comps, state) in states {
        let p = join(&dest.path, comps)?;
        match state {
            DirState::Exists => check_dir(ctx, Action::FsOpen, &p)?,
            DirState::New => {
                check_dir(ctx, Action::FsCreate, &p)?;
                if opts.preserve_permissions {
                    check_dir(ctx, Action::FsChmod, &p)?;
                }
                if opts.preserve_ownership {
                    check_dir(ctx, Action::FsChown, &p)?;
                }
            }
        }
    }
    for e in plan.iter().filter(|e| e.kind == Kind::File) {
        let p = join(&dest.path, &e.comps)?;
        check_file(ctx, Action::FsCreate, &p)?;
        check_file(ctx, Action::FsWrite, &p)?;
        if let Some((name, parent)) = e.comps.split_last()
            && (parent.is_empty() || states.get(parent) == Some(&DirState::Exists))
        {
            let pfd = dirs.open(parent, p.as_str())?;
            match rustix::fs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st)
                    if !matches!(EntryType::from_stat(&st), EntryType::File | EntryType::Dir) =>
                {
                    check_file(ctx, Action::FsDelete, &p)?;
                }
                Ok(_) | Err(Errno::NOENT) => {}
                Err(e) => return Err(FsError::os("stat", p.as_str(), e)),
            }
        }
        if opts.preserve_permissions {
            check_file(ctx, Action::FsChmod, &p)?;
        }
        if opts.preserve_ownership {
            check_file(ctx, Action::FsChown, &p)?;
        }
    }
    Ok(())
}

/// What staging created, for rollback or commit.
#[derive(Default)]
struct Staged {
    /// Directories created, parents first.
    dirs: Vec<Vec<String>>,
    /// (directory components, temp name, final name, path).
    files: Vec<(Vec<String>, String, String, String)>,
}

impl Staged {
    /// Removes every temp file and created directory (children first). Best effort.
    fn rollback(&self, dirs: &mut DirCache<'_>) {
        for (dir, tmp, _, p) in &self.files {
            if let Ok(fd) = dirs.open(dir, p) {
                let _ = rustix::fs::unlinkat(&fd, tmp.as_str(), AtFlags::empty());
            }
        }
        for d in self.dirs.iter().rev() {
            if let Some((name, parent)) = d.split_last()
                && let Ok(fd) = dirs.open(parent, "")
            {
                let _ = rustix::fs::unlinkat(&fd, name.as_str(), AtFlags::REMOVEDIR);
            }
        }
    }
}

fn set_times(file: &File, mtime: u64, p: &str) -> Result<(), FsError> {
    let t = rustix::fs::Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    rustix::fs::futimens(
        file,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
    )
    .map_err(|e| FsError::os("utimens", p, e))
}

fn ids(e: &Planned) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        u32::try_from(e.uid).ok().map(rustix::fs::Uid::from_raw),
        u32::try_from(e.gid).ok().map(rustix::fs::Gid::from_raw),
    )
}

/// Second pass: creates new directories and writes file contents to temp files.
fn stage(
    ctx: &SdkContext,
    f: &FileHandle,
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
    staged: &mut Staged,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    let ap = f.path().as_str();
    for (comps, state) in states {
        if *state != DirState::New {
            continue;
        }
        let p = join(&dest.path, comps)?;
        let (name, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::InvalidArguments("empty directory path".into()))?;
        let pfd = dirs.open(parent, p.as_str())?;
        rustix::fs::mkdirat(&pfd, name.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| FsError::os("mkdir", p.as_str(), e))?;
        staged.dirs.push(comps.clone());
    }
    let mut ar = tar::Archive::new(archive_reader(f, opts)?);
    let mut entries = ar.entries().map_err(|e| stream_error(ap, e))?;
    for planned in plan {
        if ctx.is_cancelled() {
            return Err(FsError::Cancelled);
        }
        let changed = || FsError::Changed(ap.to_string());
        let mut entry = entries
            .next()
            .ok_or_else(changed)?
            .map_err(|e| stream_error(ap, e))?;
        if planned.kind == Kind::Meta {
            continue;
        }
        let comps = entry_components(ap, &entry.path_bytes())?;
        let size = if planned.kind == Kind::File {
            entry.size()
        } else {
            0
        };
        if comps != planned.comps || size != planned.size {
            return Err(changed());
        }
        if planned.kind != Kind::File {
            continue;
        }
        let p = join(&dest.path, &comps)?;
        let (name, parent) = comps.split_last().ok_or_else(changed)?;
        let dfd = dirs.open(parent, p.as_str())?;
        let tmp = temp_name();
        let fd = rustix::fs::openat(
            &dfd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| FsError::os("create", p.as_str(), e))?;
        staged
            .files
            .push((parent.to_vec(), tmp, name.clone(), p.as_str().to_string()));
        let mut out = File::from(fd);
        let copied =
            std::io::copy(&mut (&mut entry).take(planned.size), &mut out).map_err(|e| {
                match stream_error(ap, e) {
                    FsError::InvalidContent { path, reason } => FsError::InvalidContent {
                        path,
                        reason: format!("extracting `{}`: {reason}", comps.join("/")),
                    },
                    other => other,
                }
            })?;
        if copied != planned.size {
            return Err(changed());
        }
        out.flush()
            .map_err(|e| FsError::io("write", p.as_str(), e))?;
        let mode = if opts.preserve_permissions {
            planned.mode
        } else {
            0o644
        };
        if opts.preserve_ownership {
            let (u, g) = ids(planned);
            rustix::fs::fchown(&out, u, g).map_err(|e| FsError::os("chown", p.as_str(), e))?;
        }
        rustix::fs::fchmod(&out, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", p.as_str(), e))?;
        if opts.preserve_timestamps {
            set_times(&out, planned.mtime, p.as_str())?;
        }
    }
    Ok(())
}

/// Renames the staged files into place and sets the metadata of new directories.
fn commit(
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
    staged: &Staged,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    for (dir, tmp, name, p) in &staged.files {
        let fd = dirs.open(dir, p)?;
        match rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if EntryType::from_stat(&st) == EntryType::Dir => {
                return Err(FsError::EntryTypeMismatch {
                    path: p.clone(),
                    expected: "file",
                    found: "DIR",
                });
            }
            _ => {}
        }
        rustix::fs::renameat(&fd, tmp.as_str(), &fd, name.as_str())
            .map_err(|e| FsError::os("rename", p, e))?;
    }
    // Directory metadata last, so that a read-only mode does not block the writes above.
    let explicit: BTreeMap<&Vec<String>, &Planned> = plan
        .iter()
        .filter(|e| e.kind == Kind::Dir)
        .map(|e| (&e.comps, e))
        .collect();
    for comps in states
        .iter()
        .filter(|(_, s)| **s == DirState::New)
        .map(|(c, _)| c)
        .rev()
    {
        let p = join(&dest.path, comps)?;
        let fd = dirs.open(comps, p.as_str())?;
        let e = explicit.get(comps);
        let mode = match e {
            Some(e) if opts.preserve_permissions => e.mode,
            _ => 0o755,
        };
        if opts.preserve_ownership
            && let Some(e) = e
        {
            let (u, g) = ids(e);
            rustix::fs::fchown(&fd, u, g).map_err(|e| FsError::os("chown", p.as_str(), e))?;
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", p.as_str(), e))?;
    }
    Ok(())
}

/// Extracts the tar (or gzip'd tar) `archive` into `dest`.
///
/// Checks `read` File on the archive, then plans the whole archive: every path is confined
/// below `dest` (absolute paths, `..`, NUL and non-UTF-8 names are refused), the entry count
/// and the total size are capped by `opts`, and Cedar is asked for every entry (`create` +
/// `write` File, `create` Dir on each new directory, `open` Dir on each existing one, plus
/// `chmod`/`chown` when preserving) **before anything is written**. Contents are then staged
/// in temporary files created through directory fds (never following a symlink) and renamed
/// into place; any failure removes what was staged and created, so the destination is left
/// unchanged. Symlinks, hard links, devices and FIFOs are not created: they are listed in
/// [`ExtractReport::skipped`].
pub fn extract_archive(
    ctx: &SdkContext,
    archive: &FileHandle,
    dest: &DirHandle,
    opts: ExtractArchiveOptions,
) -> Result<ExtractReport, FsError> {
    archive.check(ctx, Action::FsRead)?;
    // Entries are authorized under where the destination is now, not where it was opened.
    let dest = &dest.refreshed()?;
    let plan = plan(ctx, archive, &opts)?;
    let mut dirs = DirCache::new(dest);
    let states = dir_states(&mut dirs, &plan)?;
    authorize(ctx, &mut dirs, &plan, &states, &opts)?;
    let mut staged = Staged::default();
    let result = stage(ctx, archive, &mut dirs, &plan, &states, &opts, &mut staged)
        .and_then(|()| commit(&mut dirs, &plan, &states, &opts, &staged));
    if let Err(e) = result {
        staged.rollback(&mut dirs);
        return Err(e);
    }
    let mut report = ExtractReport::default();
    for e in &plan {
        let p = join(&dest.path, &e.comps)?;
        match e.kind {
            Kind::Skipped => report.skipped.push((
                p.as_str().to_string(),
                "links, devices and FIFOs are not extracted".into(),
            )),
            Kind::Meta => {}
            _ if e.comps.is_empty() => {}
            _ => report.extracted.push(p.as_str().to_string()),
        }
    }
    Ok(report)
}

impl FileHandle {
    /// Extracts this tar (or gzip'd tar) archive into `dest`; see [`extract_archive`].
    pub fn extract_archive(
        &self,
        ctx: &SdkContext,
        dest: &DirHandle,
        opts: ExtractArchiveOptions,
    ) -> Result<ExtractReport, FsError> {
        extract_archive(ctx, self, dest, opts)
    }
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
    fn components_are_confined() {
        assert_eq!(
            entry_components("a", b"./x/y/").unwrap(),
            vec!["x".to_string(), "y".to_string()]
        );
        assert!(entry_components("a", b"").unwrap().is_empty());
        assert!(entry_components("a", b"../x").is_err());
        assert!(entry_components("a", b"x/../../y").is_err());
        assert!(entry_components("a", b"/etc/passwd").is_err());
        assert!(entry_components("a", b"x\0y").is_err());
        assert!(entry_components("a", &[0xff, 0xfe]).is_err());
    }

    fn handle(dir: &std::path::Path) -> DirHandle {
        let fd = rustix::fs::openat(rustix::fs::CWD, dir, dir_flags(), Mode::empty()).unwrap();
        DirHandle {
            fd: Arc::new(fd),
            parent: None,
            path: super::super::rpath(dir.to_str().unwrap()).unwrap(),
        }
    }

    fn comps(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn dir_cache_opens_each_directory_once() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/c/d")).unwrap();
        std::fs::create_dir_all(t.path().join("a/b/e")).unwrap();
        std::fs::write(t.path().join("a/b/c/d/f"), "x").unwrap();
        let dest = handle(t.path());
        let mut dirs = DirCache::new(&dest);
        // The destination itself plus a, b, c, d.
        let d = dirs.open(&comps("a/b/c/d"), "").unwrap();
        assert_eq!(dirs.opens, 5);
        assert!(rustix::fs::statat(&d, "f", AtFlags::empty()).is_ok());
        // Everything on that chain is cached now.
        for p in ["", "a", "a/b", "a/b/c", "a/b/c/d"] {
            dirs.open(&comps(p), "").unwrap();
        }
        assert_eq!(dirs.opens, 5);
        // A sibling costs one open: the rest of the chain comes from the cache.
        dirs.open(&comps("a/b/e"), "").unwrap();
        assert_eq!(dirs.opens, 6);
        // A missing directory is an error, and nothing is cached for it.
        assert!(dirs.open(&comps("a/b/nope"), "").is_err());
        assert!(dirs.open(&comps("a/b/nope"), "").is_err());
        assert!(!dirs.fds.contains_key(&comps("a/b/nope")));
    }

    #[test]
    fn dir_cache_never_follows_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("real/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("top")).unwrap();
        let dest = handle(t.path());
        let mut dirs = DirCache::new(&dest);
        // Cached parent or not, a symlinked component is refused.
        assert!(dirs.open(&comps("top"), "").is_err());
        assert!(dirs.open(&comps("real/link"), "").is_err());
        dirs.open(&comps("real"), "").unwrap();
        assert!(dirs.open(&comps("real/link"), "").is_err());
        assert!(dirs.open(&comps("real/link/x"), "").is_err());
    }

    #[test]
    fn dir_cache_stays_bounded() {
        let t = tempfile::tempdir().unwrap();
        let n = DIR_CACHE_MAX * 2 + 7;
        for i in 0..n {
            std::fs::create_dir_all(t.path().join(format!("p/d{i}"))).unwrap();
            std::fs::write(t.path().join(format!("p/d{i}/f")), "x").unwrap();
        }
        let dest = handle(t.path());
        let mut dirs = DirCache::new(&dest);
        let mut held = Vec::new();
        for i in 0..n {
            held.push(dirs.open(&comps(&format!("p/d{i}")), "").unwrap());
            assert!(dirs.fds.len() <= DIR_CACHE_MAX);
        }
        // Fds handed out before a clear stay usable.
        for fd in &held {
            assert!(rustix::fs::statat(fd, "f", AtFlags::empty()).is_ok());
        }
        // Each d{i} once, plus the chain to it again after each of the two clears.
        assert_eq!(dirs.opens, n + 2 + 2 * 2);
    }
}
