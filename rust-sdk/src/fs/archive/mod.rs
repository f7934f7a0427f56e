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

mod authorize;
mod plan;
mod stage;

use authorize::*;
use plan::*;
use stage::*;

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
    archive.permit(ctx, Action::FsRead)?;
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
