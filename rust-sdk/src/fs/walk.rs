//! Tree walks: `find` and `disk_usage`. Never follow symlinks unless asked, bounded by
//! `SdkLimits::max_entries`, and authorize each level before touching it.

use std::collections::HashSet;
use std::sync::Arc;

use rex_auth::{Action, ResourcePath};
use rustix::fs::{AtFlags, Mode};

use super::error::FsError;
use super::glob::glob_match;
use super::handle::{DirEntry, DirHandle, EntryType, FileHandle, OpenDirOptions, dir_flags};
use super::{check_dir, check_file};
use crate::{Permit, SdkContext};

/// Options for [`DirHandle::find`].
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// Glob on the entry name.
    pub name: Option<String>,
    /// Case-insensitive glob on the entry name.
    pub iname: Option<String>,
    /// Regex on the full path.
    pub regex: Option<String>,
    /// Invert the name/iname/regex test.
    pub negate_name: bool,
    /// Smallest size in bytes (files only; sets a `stat` check per entry).
    pub min_size: Option<u64>,
    /// Largest size in bytes.
    pub max_size: Option<u64>,
    /// Smallest depth reported (entries of the start directory are depth 1).
    pub min_depth: usize,
    /// Largest depth visited.
    pub max_depth: Option<usize>,
    /// Only entries of this type.
    pub entry_type: Option<EntryType>,
    /// Descend into symlinked directories (both paths must pass `open`; inodes de-duplicated).
    pub follow_symlinks: bool,
    /// Oldest modification time, nanoseconds since the epoch (sets a `stat` check per entry).
    pub min_mtime_nanos: Option<i128>,
    /// Newest modification time, nanoseconds since the epoch.
    pub max_mtime_nanos: Option<i128>,
    /// Oldest creation (birth) time, nanoseconds since the epoch. An entry whose file system
    /// does not record a birth time never matches a creation-time filter.
    pub min_btime_nanos: Option<i128>,
    /// Newest creation (birth) time, nanoseconds since the epoch.
    pub max_btime_nanos: Option<i128>,
}

impl FindOptions {
    /// Whether a filter needs the entry's `stat` (and so a `stat` check).
    fn needs_stat(&self) -> bool {
        self.min_size.is_some()
            || self.max_size.is_some()
            || self.min_mtime_nanos.is_some()
            || self.max_mtime_nanos.is_some()
            || self.min_btime_nanos.is_some()
            || self.max_btime_nanos.is_some()
    }
}

/// The callback of [`DirHandle::find_each`]: the matching entry (operations on it go through
/// its parent's fd) and where it was found.
pub type FindCallback<'a, E> = dyn FnMut(DirEntry, &FoundEntry) -> Result<(), E> + 'a;

/// A `find` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEntry {
    /// Full path.
    pub path: String,
    /// Entry name.
    pub name: String,
    /// Type (of the link itself unless following).
    pub entry_type: EntryType,
    /// Depth below the start directory (1 = direct child).
    pub depth: usize,
}

/// Options for [`DirHandle::disk_usage`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskUsageOptions {
    /// Only the total for the start directory.
    pub summarize: bool,
    /// Also report files.
    pub all_files: bool,
    /// Apparent size (bytes) instead of allocated blocks.
    pub apparent_size: bool,
    /// Do not cross into other file systems.
    pub one_file_system: bool,
    /// Count every hard link (default: each inode once).
    pub count_hard_links: bool,
    /// Deepest level reported (the walk still totals everything).
    pub max_depth: Option<usize>,
}

/// One `du` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUsageEntry {
    /// Path.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Inodes counted.
    pub inode_count: u64,
}

/// The result of [`DirHandle::disk_usage`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskUsageResult {
    /// Reported entries, children before parents.
    pub entries: Vec<DiskUsageEntry>,
    /// Total of the start directory.
    pub total_size_bytes: u64,
    /// Inodes of the start directory.
    pub total_inode_count: u64,
    /// Paths skipped because Cedar denied them or they vanished.
    pub skipped: Vec<String>,
    /// The largest direct subdirectory of the start directory (REX's
    /// `track_largest_subdir`), whether or not it is among the reported entries.
    pub largest_subdir: Option<DiskUsageEntry>,
}

impl DirHandle {
    /// Walks the tree (`read` Dir at each level, `open` Dir before descending, `stat` on
    /// entries when a size or time filter is set) and returns matching entries.
    pub fn find(&self, ctx: &SdkContext, opts: &FindOptions) -> Result<Vec<FoundEntry>, FsError> {
        let mut out = Vec::new();
        self.find_each::<FsError>(ctx, opts, &mut |_, found| {
            out.push(found.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`DirHandle::find`], calling `f` with each match as it is found (pre-order), as a
    /// [`DirEntry`] bound to its parent's fd. An error from `f` ends the walk and is returned.
    pub fn find_each<E: From<FsError>>(
        &self,
        ctx: &SdkContext,
        opts: &FindOptions,
        f: &mut FindCallback<'_, E>,
    ) -> Result<(), E> {
        let re = match &opts.regex {
            Some(r) => {
                Some(regex::Regex::new(r).map_err(|e| FsError::InvalidArguments(e.to_string()))?)
            }
            None => None,
        };
        let mut seen = HashSet::new();
        let mut visited = 0usize;
        if let Ok(st) = rustix::fs::fstat(&*self.fd) {
            seen.insert((st.st_dev, st.st_ino));
        }
        // Paths below are joined onto where the directory is now, not where it was opened.
        let this = self.refreshed()?;
        this.find_rec(ctx, opts, re.as_ref(), 1, f, &mut seen, &mut visited)
    }

    #[allow(clippy::too_many_arguments)]
    fn find_rec<E: From<FsError>>(
        &self,
        ctx: &SdkContext,
        opts: &FindOptions,
        re: Option<&regex::Regex>,
        depth: usize,
        f: &mut FindCallback<'_, E>,
        seen: &mut HashSet<(u64, u64)>,
        visited: &mut usize,
    ) -> Result<(), E> {
        if opts.max_depth.is_some_and(|m| depth > m) {
            return Ok(());
        }
        let read = check_dir(ctx, Action::FsRead, &self.path)?;
        // The parent every found entry of this directory shares (one refcount per entry).
        let shared = Arc::new(self.clone());
        for (raw, mut t, ino) in self.raw_entries(ctx, &read)? {
            *visited += 1;
            if *visited > ctx.limits().max_entries {
                return Err(FsError::TooManyEntries(ctx.limits().max_entries).into());
            }
            let Ok(name) = String::from_utf8(raw) else {
                continue;
            };
            let Ok(p) = self.path.join(&name) else {
                continue;
            };
            let mut sub: Option<DirHandle> = None;
            if t == EntryType::Symlink && opts.follow_symlinks {
                if let Ok(st) = rustix::fs::statat(&*self.fd, name.as_str(), AtFlags::empty())
                    && EntryType::from_stat(&st) == EntryType::Dir
                    && seen.insert((st.st_dev, st.st_ino))
                {
                    t = EntryType::Dir;
                    sub = Some(DirHandle::open(
                        ctx,
                        p.as_str(),
                        OpenDirOptions {
                            follow_symlinks: true,
                            ..Default::default()
                        },
                    )?);
                }
            } else if t == EntryType::Dir {
                let Ok(st) =
                    rustix::fs::statat(&*self.fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                else {
                    continue;
                };
                if seen.insert((st.st_dev, st.st_ino)) || !opts.follow_symlinks {
                    sub = Some(self.open_subdir(ctx, &name)?);
                }
            }
            if self.find_matches(ctx, opts, re, &name, &p, t, depth)? {
                let found = FoundEntry {
                    path: p.as_str().to_string(),
                    name: name.clone(),
                    entry_type: t,
                    depth,
                };
                let entry =
                    DirEntry::from_raw(name.clone().into_bytes(), t, ino, Arc::clone(&shared));
                f(entry, &found)?;
            }
            if let Some(sub) = sub {
                sub.find_rec(ctx, opts, re, depth + 1, f, seen, visited)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn find_matches(
        &self,
        ctx: &SdkContext,
        opts: &FindOptions,
        re: Option<&regex::Regex>,
        name: &str,
        p: &ResourcePath,
        t: EntryType,
        depth: usize,
    ) -> Result<bool, FsError> {
        if depth < opts.min_depth || opts.entry_type.is_some_and(|e| e != t) {
            return Ok(false);
        }
        let name_ok = match (&opts.name, &opts.iname, re) {
            (Some(g), _, _) => glob_match(g, name, false),
            (None, Some(g), _) => glob_match(g, name, true),
            (None, None, Some(r)) => r.is_match(p.as_str()),
            (None, None, None) => true,
        };
        let has_name_test = opts.name.is_some() || opts.iname.is_some() || re.is_some();
        if has_name_test && name_ok == opts.negate_name {
            return Ok(false);
        }
        if opts.needs_stat() {
            if t == EntryType::Dir {
                check_dir(ctx, Action::FsStat, p)?;
            } else {
                check_file(ctx, Action::FsStat, p)?;
            }
            let st = rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| FsError::os("stat", p.as_str(), e))?;
            let size = u64::try_from(st.st_size).unwrap_or(0);
            if opts.min_size.is_some_and(|m| size < m) || opts.max_size.is_some_and(|m| size > m) {
                return Ok(false);
            }
            let mtime = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
            if opts.min_mtime_nanos.is_some_and(|m| mtime < m)
                || opts.max_mtime_nanos.is_some_and(|m| mtime > m)
            {
                return Ok(false);
            }
            if opts.min_btime_nanos.is_some() || opts.max_btime_nanos.is_some() {
                let Some(btime) = birth_time_nanos(&self.fd, name) else {
                    return Ok(false);
                };
                if opts.min_btime_nanos.is_some_and(|m| btime < m)
                    || opts.max_btime_nanos.is_some_and(|m| btime > m)
                {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// `du`: `stat` Dir on the start, then `read` Dir + `open` Dir per directory and `stat`
    /// per entry. Denied or vanished entries are skipped and listed in `skipped`. Hard links
    /// count once unless `count_hard_links`. Never follows symlinks.
    pub fn disk_usage(
        &self,
        ctx: &SdkContext,
        opts: DiskUsageOptions,
    ) -> Result<DiskUsageResult, FsError> {
        let this = self.refreshed()?;
        this.disk_usage_here(ctx, opts)
    }

    fn disk_usage_here(
        &self,
        ctx: &SdkContext,
        opts: DiskUsageOptions,
    ) -> Result<DiskUsageResult, FsError> {
        check_dir(ctx, Action::FsStat, &self.path)?;
        let read = check_dir(ctx, Action::FsRead, &self.path)?;
        let root = rustix::fs::fstat(&*self.fd)
            .map_err(|e| FsError::os("fstat", self.path.as_str(), e))?;
        let mut res = DiskUsageResult::default();
        let mut seen = HashSet::new();
        let mut visited = 0usize;
        let (size, inodes) = self.du_rec(
            ctx,
            &read,
            &opts,
            root.st_dev,
            0,
            &mut res,
            &mut seen,
            &mut visited,
        )?;
        let own = size_of(&root, opts.apparent_size);
        res.total_size_bytes = size + own;
        res.total_inode_count = inodes + 1;
        res.entries.push(DiskUsageEntry {
            path: self.path.as_str().to_string(),
            size_bytes: res.total_size_bytes,
            inode_count: res.total_inode_count,
        });
        Ok(res)
    }

    #[allow(clippy::too_many_arguments)]
    fn du_rec(
        &self,
        ctx: &SdkContext,
        read: &Permit,
        opts: &DiskUsageOptions,
        dev: u64,
        depth: usize,
        res: &mut DiskUsageResult,
        seen: &mut HashSet<(u64, u64)>,
        visited: &mut usize,
    ) -> Result<(u64, u64), FsError> {
        let mut total = 0u64;
        let mut inodes = 0u64;
        let report = |d: usize| !opts.summarize && opts.max_depth.is_none_or(|m| d <= m);
        for (raw, t, _) in self.raw_entries(ctx, read)? {
            *visited += 1;
            if *visited > ctx.limits().max_entries {
                return Err(FsError::TooManyEntries(ctx.limits().max_entries));
            }
            let lossy = String::from_utf8_lossy(&raw).into_owned();
            let Ok(p) = self
                .path
                .join(&lossy)
                .map(|p| (p, String::from_utf8(raw.clone()).is_ok()))
            else {
                res.skipped
                    .push(format!("{}/{}", self.path.as_str(), lossy));
                continue;
            };
            let (p, utf8) = p;
            let allowed = utf8
                && if t == EntryType::Dir {
                    check_dir(ctx, Action::FsStat, &p).is_ok()
                } else {
                    check_file(ctx, Action::FsStat, &p).is_ok()
                };
            if !allowed {
                res.skipped.push(p.as_str().to_string());
                continue;
            }
            let Ok(st) = rustix::fs::statat(&*self.fd, raw.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            else {
                res.skipped.push(p.as_str().to_string());
                continue;
            };
            if opts.one_file_system && st.st_dev != dev {
                continue;
            }
            if !opts.count_hard_links && st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
                continue;
            }
            let own = size_of(&st, opts.apparent_size);
            if t == EntryType::Dir {
                let sub_read = check_dir(ctx, Action::FsOpen, &p)
                    .and_then(|_| check_dir(ctx, Action::FsRead, &p));
                let Ok(sub_read) = sub_read else {
                    res.skipped.push(p.as_str().to_string());
                    total += own;
                    inodes += 1;
                    continue;
                };
                let Ok(fd) =
                    rustix::fs::openat(&*self.fd, raw.as_slice(), dir_flags(), Mode::empty())
                else {
                    res.skipped.push(p.as_str().to_string());
                    continue;
                };
                let sub = DirHandle {
                    fd: Arc::new(fd),
                    parent: Some(self.fd.clone()),
                    path: p.clone(),
                };
                let (s, i) =
                    sub.du_rec(ctx, &sub_read, opts, dev, depth + 1, res, seen, visited)?;
                if depth == 0
                    && res
                        .largest_subdir
                        .as_ref()
                        .is_none_or(|l| s + own > l.size_bytes)
                {
                    res.largest_subdir = Some(DiskUsageEntry {
                        path: p.as_str().to_string(),
                        size_bytes: s + own,
                        inode_count: i + 1,
                    });
                }
                if report(depth + 1) {
                    res.entries.push(DiskUsageEntry {
                        path: p.as_str().to_string(),
                        size_bytes: s + own,
                        inode_count: i + 1,
                    });
                }
                total += s + own;
                inodes += i + 1;
            } else {
                if opts.all_files && report(depth + 1) {
                    res.entries.push(DiskUsageEntry {
                        path: p.as_str().to_string(),
                        size_bytes: own,
                        inode_count: 1,
                    });
                }
                total += own;
                inodes += 1;
            }
        }
        Ok((total, inodes))
    }
}

/// The birth time of `name` in `dir` (no-follow), when the file system records one.
impl DirHandle {
    /// [`DirHandle::disk_usage`], then (REX's `track_largest_subdir`) opens the largest direct
    /// subdirectory it found, [`DiskUsageResult::largest_subdir`], with
    /// [`DirHandle::open_subdir`] (`open` Dir on it, through this directory's fd, never
    /// following a symlink). The handle is `None` when there is no subdirectory; a refusal or
    /// failure to open it is an error.
    pub fn disk_usage_with_largest_subdir(
        &self,
        ctx: &SdkContext,
        opts: DiskUsageOptions,
    ) -> Result<(DiskUsageResult, Option<DirHandle>), FsError> {
        let usage = self.disk_usage(ctx, opts)?;
        let handle = match &usage.largest_subdir {
            Some(l) => {
                // The walk reported `self.path` joined with one (UTF-8) name.
                let name = l.path.rsplit('/').next().unwrap_or_default();
                Some(self.open_subdir(ctx, name)?)
            }
            None => None,
        };
        Ok((usage, handle))
    }
}

impl FileHandle {
    /// `du` of this one file (REX's `FileHandle.disk_usage`): `stat` File, then the file's
    /// allocated size (or its apparent size with [`DiskUsageOptions::apparent_size`]; the
    /// other options do not apply to a file), one inode.
    pub fn disk_usage(
        &self,
        ctx: &SdkContext,
        opts: DiskUsageOptions,
    ) -> Result<DiskUsageEntry, FsError> {
        let m = self.metadata(ctx)?;
        Ok(DiskUsageEntry {
            path: self.current_path()?.as_str().to_string(),
            size_bytes: if opts.apparent_size {
                m.size
            } else {
                m.allocated_size()
            },
            inode_count: 1,
        })
    }
}

impl DirEntry {
    /// Opens the entry as a directory with `opts`. Without `follow_symlinks` and `create`
    /// this is [`DirEntry::open_as_dir`] (`open` Dir, through the parent's fd, never
    /// following a symlink); with either, the entry's full path is opened by
    /// [`DirHandle::open`] with `opts` (its checks: `open` Dir, `create` Dir on new
    /// components, `open` on the resolved path when following).
    pub fn open_as_dir_with(
        &self,
        ctx: &SdkContext,
        opts: OpenDirOptions,
    ) -> Result<DirHandle, FsError> {
        if opts.follow_symlinks || opts.create {
            DirHandle::open(ctx, self.path()?.as_str(), opts)
        } else {
            self.open_as_dir(ctx)
        }
    }
}

fn birth_time_nanos(dir: &std::os::fd::OwnedFd, name: &str) -> Option<i128> {
    let sx = rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::BTIME,
    )
    .ok()?;
    if sx.stx_mask & rustix::fs::StatxFlags::BTIME.bits() == 0 {
        return None;
    }
    Some(i128::from(sx.stx_btime.tv_sec) * 1_000_000_000 + i128::from(sx.stx_btime.tv_nsec))
}

fn size_of(st: &rustix::fs::Stat, apparent: bool) -> u64 {
    if apparent {
        u64::try_from(st.st_size).unwrap_or(0)
    } else {
        u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512)
    }
}
