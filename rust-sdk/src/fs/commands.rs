//! Shell-style helpers taking absolute path strings (REX §2.2.1), built on the handles, with
//! REX's known bugs fixed: `tail` with `n > 0` returns the **last** n lines, `ls` long and
//! recursive work, `touch` updates the mtime, `find_files` returns full paths, `write`
//! appends with `O_APPEND`, `rm` on a symlink removes the link, `mkdir -p` and recursive `rm`
//! authorize every component/entry.
//!
//! Directory opens follow symlinks (REX's command behaviour: the requested and the
//! fd-resolved path must both pass `open`) except for `cp`, `mv`, `touch`, `rm` and `mkdir`,
//! which never follow. The last component is never followed.

use std::collections::BTreeMap;

use rex_auth::{Action, ResourcePath};
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::error::{FsError, FsErrorKind};
use super::handle::{
    CopyFileOptions, DeleteDirOptions, DeleteReport, DirHandle, EntryType, FileHandle, Metadata,
    OpenDirOptions, OpenFileOptions, WriteOptions,
};
use super::text::{self, Counts, ReplacementOptions};
use super::walk::{DiskUsageOptions, DiskUsageResult, FindOptions};
use super::{check_dir, check_file, rpath};
use crate::SdkContext;

pub use super::awk::{
    awk_count_unique, awk_field, awk_filter, awk_filter_field, awk_filter_range, awk_split,
    awk_sum, seq,
};

fn split(path: &str) -> Result<(ResourcePath, ResourcePath), FsError> {
    let p = rpath(path)?;
    let parent = p.parent().ok_or_else(|| FsError::InvalidPath {
        path: path.to_string(),
        reason: "`/` is not a file".into(),
    })?;
    Ok((p, parent))
}

fn open_dir(ctx: &SdkContext, p: &ResourcePath, follow: bool) -> Result<DirHandle, FsError> {
    DirHandle::open(
        ctx,
        p.as_str(),
        OpenDirOptions {
            follow_symlinks: follow,
            ..Default::default()
        },
    )
}

pub(super) fn open_file(
    ctx: &SdkContext,
    path: &str,
    follow_dir: bool,
    opts: OpenFileOptions,
) -> Result<FileHandle, FsError> {
    let (p, parent) = split(path)?;
    // Both handles are this call's own and dropped before it returns.
    let dir = open_dir(ctx, &parent, follow_dir)?;
    dir.open_file_fresh(ctx, p.file_name(), opts)
}

fn read_strict(ctx: &SdkContext, path: &str) -> Result<String, FsError> {
    let f = open_file(ctx, path, true, OpenFileOptions::read())?;
    Ok(String::from_utf8_lossy(&f.read_bytes(ctx)?).into_owned())
}

/// The text of the file (`read`, or redacted with `redacted_read`), as `cat` reads it.
pub(super) fn read_text(ctx: &SdkContext, path: &str) -> Result<String, FsError> {
    open_file(ctx, path, true, OpenFileOptions::read())?.read(ctx)
}

/// `cat`: the content (`read`, or redacted with `redacted_read`); `number` prefixes each line
/// with a right-aligned 6-wide line number and a tab.
pub fn cat(ctx: &SdkContext, path: &str, number: bool) -> Result<String, FsError> {
    let f = open_file(ctx, path, true, OpenFileOptions::read())?;
    let t = f.read(ctx)?;
    if !number {
        return Ok(t);
    }
    let mut out: Vec<String> = t
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{:>6}\t{}", i + 1, l))
        .collect();
    if t.ends_with('\n') {
        out.push(String::new());
    }
    Ok(out.join("\n"))
}

/// Flags of [`ls`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LsOptions {
    /// Include names starting with `.`.
    pub all: bool,
    /// Include metadata (`stat` per entry).
    pub long: bool,
    /// Descend into subdirectories (`read`/`open` Dir per level); keys are relative paths.
    pub recursive: bool,
}

/// One `ls` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsEntry {
    /// Type (symlinks are not followed).
    pub entry_type: EntryType,
    /// Inode.
    pub inode: u64,
    /// Metadata with `long`.
    pub metadata: Option<Metadata>,
}

/// `ls`: entries of a directory (`read` Dir), keyed by name (relative path when
/// recursive). If `path` itself is a symlink, a one-entry map for the link (`stat` File).
pub fn ls(
    ctx: &SdkContext,
    path: &str,
    opts: LsOptions,
) -> Result<BTreeMap<String, LsEntry>, FsError> {
    let p = rpath(path)?;
    let mut out = BTreeMap::new();
    let dir = match open_dir(ctx, &p, false) {
        Ok(d) => d,
        Err(e) if matches!(e.errno(), Some(n) if n == Errno::LOOP.raw_os_error() || n == Errno::NOTDIR.raw_os_error()) =>
        {
            // The path (or a component) is a symlink: a link as the last component is listed
            // as itself; a link in the middle is followed with the resolved-path check.
            if let Some(parent) = p.parent()
                && let Ok(pd) = open_dir(ctx, &parent, true)
                && let Ok(st) =
                    rustix::fs::statat(&*pd.fd, p.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                && EntryType::from_stat(&st) == EntryType::Symlink
            {
                check_file(ctx, Action::FsStat, &p)?;
                out.insert(
                    p.file_name().to_string(),
                    LsEntry {
                        entry_type: EntryType::Symlink,
                        inode: st.st_ino,
                        metadata: opts.long.then(|| Metadata::from_stat(&st)),
                    },
                );
                return Ok(out);
            }
            open_dir(ctx, &p, true)?
        }
        Err(e) => return Err(e),
    };
    ls_rec(ctx, &dir, "", opts, &mut out)?;
    Ok(out)
}

fn ls_rec(
    ctx: &SdkContext,
    dir: &DirHandle,
    prefix: &str,
    opts: LsOptions,
    out: &mut BTreeMap<String, LsEntry>,
) -> Result<(), FsError> {
    for e in dir.sorted_entries(ctx)? {
        let name = e.name.as_str();
        if !opts.all && name.starts_with('.') {
            continue;
        }
        if out.len() >= ctx.limits().max_entries {
            return Err(FsError::TooManyEntries(ctx.limits().max_entries));
        }
        let metadata = if opts.long {
            Some(dir.entry_metadata_typed(ctx, name, Some(e.entry_type))?)
        } else {
            None
        };
        let key = format!("{prefix}{name}");
        out.insert(
            key.clone(),
            LsEntry {
                entry_type: e.entry_type,
                inode: e.inode,
                metadata,
            },
        );
        if opts.recursive && e.entry_type == EntryType::Dir && e.name_is_utf8() {
            let sub = dir.open_subdir(ctx, name)?;
            ls_rec(ctx, &sub, &format!("{key}/"), opts, out)?;
        }
    }
    Ok(())
}

/// Flags of [`grep`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GrepOptions {
    /// Case-insensitive.
    pub ignore_case: bool,
    /// Return `["<n>"]`.
    pub count: bool,
    /// Non-matching lines.
    pub invert: bool,
    /// Prefix `<n>:`.
    pub line_number: bool,
    /// Stop after this many matches.
    pub max_count: Option<usize>,
}

/// `grep` with a Rust regex; reads the file once (`read`, or redacted).
pub fn grep(
    ctx: &SdkContext,
    pattern: &str,
    path: &str,
    opts: GrepOptions,
) -> Result<Vec<String>, FsError> {
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(opts.ignore_case)
        .build()
        .map_err(|e| FsError::InvalidArguments(e.to_string()))?;
    let f = open_file(ctx, path, true, OpenFileOptions::read())?;
    let t = f.read(ctx)?;
    let max = opts.max_count.unwrap_or(usize::MAX);
    let matching = t
        .lines()
        .enumerate()
        .filter(|(_, l)| re.is_match(l) != opts.invert)
        .take(max);
    if opts.count {
        return Ok(vec![matching.count().to_string()]);
    }
    // Every hit is counted against the caller's memory budget before it is kept (issue 29).
    let mut allowance = ctx.allowance();
    let mut hits = Vec::new();
    for (i, l) in matching {
        let hit = if opts.line_number {
            format!("{}:{}", i + 1, l)
        } else {
            l.to_string()
        };
        allowance.charge(text::line_cost(hit.len()))?;
        hits.push(hit);
    }
    Ok(hits)
}

/// What [`tail`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailMode {
    /// The last n lines (`n(k)`; the sign is ignored — REX's positive-k bug is fixed).
    Last(i64),
    /// From 1-based line onward.
    From(i64),
    /// Lines a..=b (1-based).
    Range(i64, i64),
}

impl Default for TailMode {
    fn default() -> Self {
        TailMode::Last(10)
    }
}

/// `tail` (`read` File).
pub fn tail(ctx: &SdkContext, path: &str, mode: TailMode) -> Result<Vec<String>, FsError> {
    if mode == TailMode::Last(0) {
        // Nothing to return: the file is not even opened.
        return Ok(Vec::new());
    }
    let t = read_strict(ctx, path)?;
    match mode {
        TailMode::Last(n) => {
            text::select_lines_within(&t, None, Some(-(n.saturating_abs())), &mut ctx.allowance())
        }
        TailMode::From(a) => text::select_lines_within(&t, Some(a), None, &mut ctx.allowance()),
        TailMode::Range(a, b) => {
            if b < a {
                return Err(FsError::InvalidArguments("range end before start".into()));
            }
            text::select_lines_within(&t, Some(a), Some(b - a + 1), &mut ctx.allowance())
        }
    }
}

/// Flags of [`sed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SedOptions {
    /// The pattern is a regex (`$1` groups in the replacement).
    pub regex: bool,
    /// Replace all matches.
    pub all: bool,
    /// Write the result back atomically (`write` File).
    pub in_place: bool,
}

/// `sed`: returns the new content; literal first match by default.
pub fn sed(
    ctx: &SdkContext,
    pattern: &str,
    replacement: &str,
    path: &str,
    opts: SedOptions,
) -> Result<String, FsError> {
    let fopts = if opts.in_place {
        OpenFileOptions::read_write()
    } else {
        OpenFileOptions::read()
    };
    let f = open_file(ctx, path, true, fopts)?;
    let t = String::from_utf8_lossy(&f.read_bytes(ctx)?).into_owned();
    let new = text::replace_text(
        &t,
        pattern,
        replacement,
        ReplacementOptions {
            is_regex: opts.regex,
            replace_all: opts.all,
        },
    )?;
    if opts.in_place {
        f.write(
            ctx,
            &new,
            WriteOptions {
                preserve_ownership: true,
            },
        )?;
    }
    Ok(new)
}

/// Flags of [`rm`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RmOptions {
    /// A missing path is not an error.
    pub force: bool,
    /// Remove directories and their content (`delete` authorized on every entry first).
    pub recursive: bool,
}

/// `rm`. Never follows symlinks: on a symlink it removes the link (`delete` File).
/// Files: `open` + `delete` File; directories: `delete` Dir (and every entry if recursive).
pub fn rm(ctx: &SdkContext, path: &str, opts: RmOptions) -> Result<DeleteReport, FsError> {
    let (p, parent) = split(path)?;
    let pd = open_dir(ctx, &parent, false)?;
    let name = p.file_name();
    let st = match rustix::fs::statat(&*pd.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) if opts.force => return Ok(DeleteReport::default()),
        Err(e) => return Err(FsError::os("stat", p.as_str(), e)),
    };
    let mut report = DeleteReport::default();
    match EntryType::from_stat(&st) {
        EntryType::Dir => {
            let d = pd.open_subdir(ctx, name)?;
            return d.delete(
                ctx,
                DeleteDirOptions {
                    recursive: opts.recursive,
                    force: opts.force,
                },
            );
        }
        EntryType::File => {
            let f = pd.open_file(ctx, name, OpenFileOptions::read())?;
            f.delete(ctx)?;
        }
        _ => pd.remove_entry(ctx, name)?,
    }
    report.removed.push(p.as_str().to_string());
    Ok(report)
}

/// `mkdir` (`create` Dir; with `parents`, on every missing component, all checked before
/// anything is created).
pub fn mkdir(ctx: &SdkContext, path: &str, parents: bool) -> Result<(), FsError> {
    if parents {
        DirHandle::open(
            ctx,
            path,
            OpenDirOptions {
                create: true,
                recursive: true,
                follow_symlinks: false,
            },
        )?;
        return Ok(());
    }
    let (p, parent) = split(path)?;
    let pd = open_dir(ctx, &parent, false)?;
    check_dir(ctx, Action::FsCreate, &p)?;
    rustix::fs::mkdirat(&*pd.fd, p.file_name(), Mode::from_raw_mode(0o755))
        .map_err(|e| FsError::os("mkdir", p.as_str(), e))
}

/// `cp src dst` (`open` on both dirs without following, `open` src, `open`+`create` dst,
/// `read` src, `write` dst). Fails on a non-empty dst unless `force`.
pub fn cp(ctx: &SdkContext, src: &str, dst: &str, opts: CopyFileOptions) -> Result<(), FsError> {
    // `read`/`write` are checked before anything is opened or created, so a denied copy
    // never leaves an empty destination behind.
    check_file(ctx, Action::FsRead, &rpath(src)?)?;
    check_file(ctx, Action::FsWrite, &rpath(dst)?)?;
    let s = open_file(ctx, src, false, OpenFileOptions::read())?;
    let d = open_file(ctx, dst, false, OpenFileOptions::create())?;
    s.copy_to(ctx, &d, opts)
}

/// `mv src dst` for files and directories (`move` with destination context + `create` on
/// the destination). The source file is opened read-only.
pub fn mv(ctx: &SdkContext, src: &str, dst: &str) -> Result<(), FsError> {
    let (sp, sparent) = split(src)?;
    let (dp, dparent) = split(dst)?;
    let sd = open_dir(ctx, &sparent, false)?;
    let dd = open_dir(ctx, &dparent, false)?;
    let st = rustix::fs::statat(&*sd.fd, sp.file_name(), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| FsError::os("stat", sp.as_str(), e))?;
    if EntryType::from_stat(&st) == EntryType::Dir {
        let d = sd.open_subdir(ctx, sp.file_name())?;
        d.move_to(ctx, &dd, dp.file_name())?;
    } else {
        let f = sd.open_file(ctx, sp.file_name(), OpenFileOptions::read())?;
        f.move_to(ctx, &dd, dp.file_name())?;
    }
    Ok(())
}

/// `touch`: creates the file (`open` + `create` File) or, if it exists, sets its times to
/// now (`open` + `write` File).
pub fn touch(ctx: &SdkContext, path: &str) -> Result<(), FsError> {
    let (p, parent) = split(path)?;
    let d = open_dir(ctx, &parent, false)?;
    match d.open_file(ctx, p.file_name(), OpenFileOptions::read()) {
        Ok(f) => f.touch(ctx),
        Err(e) if e.kind() == FsErrorKind::NotFound => {
            d.open_file(
                ctx,
                p.file_name(),
                OpenFileOptions {
                    write: true,
                    create: true,
                    ..Default::default()
                },
            )?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `wc` (`read` File).
pub fn wc(ctx: &SdkContext, path: &str) -> Result<Counts, FsError> {
    let f = open_file(ctx, path, true, OpenFileOptions::read())?;
    f.counts(ctx)
}

/// `write`: appends with `O_APPEND` (default) or replaces atomically (`replace`).
/// Checks `open` + `create` + `write` File; never reads the file.
pub fn write(ctx: &SdkContext, path: &str, content: &str, replace: bool) -> Result<(), FsError> {
    // `write` is checked first so a denied write never creates the file.
    check_file(ctx, Action::FsWrite, &rpath(path)?)?;
    let f = open_file(
        ctx,
        path,
        true,
        OpenFileOptions {
            write: true,
            create: true,
            ..Default::default()
        },
    )?;
    if replace {
        f.write(ctx, content, WriteOptions::default())?;
        Ok(())
    } else {
        f.append(ctx, content)
    }
}

/// `find_files`: full paths of entries whose name matches `glob` (depth 1 unless
/// `recursive`).
pub fn find_files(
    ctx: &SdkContext,
    glob: &str,
    dir: &str,
    recursive: bool,
) -> Result<Vec<String>, FsError> {
    let d = open_dir(ctx, &rpath(dir)?, true)?;
    let found = d.find(
        ctx,
        &FindOptions {
            name: Some(glob.to_string()),
            max_depth: if recursive { None } else { Some(1) },
            ..Default::default()
        },
    )?;
    Ok(found.into_iter().map(|f| f.path).collect())
}

/// `du`.
pub fn du(
    ctx: &SdkContext,
    path: &str,
    opts: DiskUsageOptions,
) -> Result<DiskUsageResult, FsError> {
    open_dir(ctx, &rpath(path)?, false)?.disk_usage(ctx, opts)
}
