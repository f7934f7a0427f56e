//! The script `ls` (REX §2.2.1): what a listing returns for each flag combination, with
//! REX's answer for a symlink path (the link itself). Every step goes through the handles, so
//! each one makes its Cedar check before any system call.

use std::collections::BTreeMap;

use rex_auth::ResourcePath;

use super::commands::{self, LsEntry, LsOptions};
use super::error::FsError;
use super::handle::{DirEntry, DirHandle, OpenDirOptions};
use super::walk::{FindOptions, FoundEntry};
use crate::SdkContext;

/// What [`listing`] returns.
#[derive(Debug, Clone)]
pub enum Listing {
    /// `path` is a symlink: a one-entry listing of the link itself (by its name).
    Link(String, DirEntry),
    /// The directory's entries sorted by name, each name once (names starting with `.` only
    /// with `all`).
    Entries(Vec<DirEntry>),
    /// `long`: the entries with their metadata ([`commands::ls`]).
    Long(BTreeMap<String, LsEntry>),
    /// `recursive` (without `long`): every entry below the directory, in walk order.
    Found(Vec<FoundEntry>),
}

fn open_dir(ctx: &SdkContext, path: &str) -> Result<DirHandle, FsError> {
    DirHandle::open(
        ctx,
        path,
        OpenDirOptions {
            follow_symlinks: true,
            ..Default::default()
        },
    )
}

/// The link itself when `path` names a symlink (`open` on its directory and on the link).
fn link_entry(ctx: &SdkContext, path: &str) -> Option<(String, DirEntry)> {
    let p = ResourcePath::new(path).ok()?;
    let parent = p.parent()?;
    let name = p.file_name().to_string();
    let dir = open_dir(ctx, parent.as_str()).ok()?;
    let entry = dir.symlink_entry(ctx, &name).ok()??;
    Some((name, entry))
}

/// `ls`: the listing of the directory at `path` (`open` + `read` Dir; `stat` per entry with
/// `long`). A path whose resolution involved a symlink (or failed) is probed as a link, so a
/// plain directory costs no extra check.
pub fn listing(ctx: &SdkContext, path: &str, opts: LsOptions) -> Result<Listing, FsError> {
    let dir = match open_dir(ctx, path) {
        Ok(d) => d,
        Err(e) => {
            return link_entry(ctx, path)
                .map(|(n, e)| Listing::Link(n, e))
                .ok_or(e);
        }
    };
    if ResourcePath::new(path).ok().as_ref() != Some(dir.path())
        && let Some((n, e)) = link_entry(ctx, path)
    {
        return Ok(Listing::Link(n, e));
    }
    if opts.long {
        // REX ignored `long`; here each entry carries its metadata (`stat` per entry).
        return commands::ls(ctx, path, opts).map(Listing::Long);
    }
    if opts.recursive {
        let found = dir.find(ctx, &FindOptions::default())?;
        let root = dir.path().as_str().len();
        return Ok(Listing::Found(
            found
                .into_iter()
                .filter(|e| {
                    let relative = e.path.get(root..).unwrap_or_default();
                    opts.all || !relative.split('/').any(|c| c.starts_with('.'))
                })
                .collect(),
        ));
    }
    let mut entries = dir.sorted_entries(ctx)?;
    if !opts.all {
        entries.retain(|e| !e.name.starts_with('.'));
    }
    Ok(Listing::Entries(entries))
}
