//! The rest of REX's handle API (compat notes §2.2.2), on top of [`crate::handles`]:
//!
//! * `DirHandle`: `find(FindOptions, |entry| ...)`, `read_link_target(name)`,
//!   `get_ownership()`, `chmod(ChmodDirOptions)`, `create_symlink(target, name,
//!   CreateSymlinkOptions)`, `disk_usage(DiskUsageOptions)`, `set_ownership(SetOwnershipOptions)`,
//!   `src.move(dest_parent, name, MoveOptions)`, `open_symlink(name)`.
//! * `FileHandle`: `read_page(ReadPageOptions)`, `write(text, WriteOptions)`,
//!   `move(dir, name, MoveOptions)`, `delete(DeleteFileOptions)`, `extract_strings()`,
//!   `compress_gzip(dest, CompressGzipOptions)`, `read_gzip_lines(ReadLinesOptions)`,
//!   `gzip_info()`, `search_gzip(re, SearchGzipOptions)`, `search_gzip_exists(re, ...)`,
//!   `get_ownership()`, `get_last_modified_time()`, `disk_usage(DiskUsageOptions)`,
//!   `set_ownership(SetOwnershipOptions)`, `truncate(TruncateOptions)`,
//!   `fallocate(FallocateOptions)`, `set_extended_attr(SetXAttrOptions)`.
//! * `SymlinkHandle`: `metadata()`, `set_ownership(SetOwnershipOptions)`, `symlink_target()`.
//! * `DirEntry`: `open_as_file(OpenFileOptions)`, `open_as_dir(OpenDirOptions)`, `metadata()`.
//! * `Metadata`: `symlink_target()`, the `owner` property.
//! * `replace_text(text, old, new, ReplacementOptions)`; the constants `SizeUnit::*` and the
//!   `SizeRange::{min_only, max_only, between}` constructors.
//!
//! Every option builder follows REX's pattern: `XOptions()`, setters returning a copy,
//! `.build()` validating (`ValidationError`). Differences from REX (its §6 flaws):
//! recursive `chmod` / `set_ownership` authorize **every** entry before changing anything and
//! fail when an entry could not be changed (REX only warned); `create_symlink` also authorizes
//! the target; `FindOptions.iname` is really case-insensitive.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, Module, NativeCallContext};
use rust_sdk::SdkContext;
use rust_sdk::fs::gzip::{self, GzipInfo};
use rust_sdk::fs::{
    ChangeReport, DirEntry, DirHandle, DiskUsageEntry, DiskUsageOptions, FindOptions, FsError,
    FsErrorKind, Metadata, OpenDirOptions, OpenFileOptions, Ownership, ReplacementOptions,
    SKIPPED_SPECIAL_FILE, SKIPPED_SYMLINK, SetXAttrOptions, SymlinkHandle, WriteOptions,
    replace_text,
};

use crate::binding::{Binding, NO_HOST, ScriptType};
use crate::error::{IO_SOURCE, script_err, to_script_error};
use crate::handles::{ReadLinesOptions, ScriptFileHandle, int, lines, match_map, ownership_map};
use crate::utils::DateTime;
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

fn invalid(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(IO_SOURCE, "ValidationError", message)
}

mod options;
mod sizes;
mod values;

pub use options::*;
pub use sizes::*;
pub use values::*;

// ---------------------------------------------------------------------------------------------
// Methods

/// The error of a `find` walk: the SDK's, or the script callback's (returned unchanged, so a
/// denial inside the callback stays a denial and a limit stays a limit).
enum FindError {
    Fs(FsError),
    Script(Box<EvalAltResult>),
}

impl From<FsError> for FindError {
    fn from(e: FsError) -> Self {
        FindError::Fs(e)
    }
}

fn report_result(report: ChangeReport) -> RResult<()> {
    let failed: Vec<String> = report
        .not_changed
        .iter()
        .filter(|(_, why)| why != SKIPPED_SYMLINK && why != SKIPPED_SPECIAL_FILE)
        .map(|(p, why)| format!("{p}: {why}"))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(script_err(
            IO_SOURCE,
            "DirectoryError",
            format!(
                "{} entries changed, {} not: {}",
                report.changed.len(),
                failed.len(),
                failed.join("; ")
            ),
        ))
    }
}

fn two_handles<R>(
    a: &ScriptFileHandle,
    b: &ScriptFileHandle,
    f: impl FnOnce(&mut rust_sdk::fs::FileHandle, &mut rust_sdk::fs::FileHandle) -> RResult<R>,
) -> RResult<R> {
    if a.same_as(b) {
        return Err(script_err(
            IO_SOURCE,
            "InvalidArguments",
            "source and destination are the same handle",
        ));
    }
    a.with(|x| b.with(|y| f(x, y)))
}

#[allow(clippy::too_many_lines)]
fn register_methods(b: &mut Binding<'_>, sdk: &SdkContext) {
    // ---- DirHandle
    {
        let c = sdk.clone();
        crate::declare!(
            b,
            "find",
            &[Action::FsRead, Action::FsOpen, Action::FsStat],
            "Walks a directory tree, calling the callback for every entry matching the options.",
            |nc: NativeCallContext,
             d: &mut DirHandle,
             opts: ScriptFindOptions,
             callback: FnPtr|
             -> RResult<()> {
                let opts = valid_find(&opts)?;
                let r = d.find_each::<FindError>(&c, &opts.inner, &mut |entry, _| {
                    callback
                        .call_within_context::<Dynamic>(&nc, (Dynamic::from(entry),))
                        .map(|_| ())
                        .map_err(FindError::Script)
                });
                match r {
                    Ok(()) => Ok(()),
                    Err(FindError::Fs(e)) => Err(to_script_error(e)),
                    Err(FindError::Script(e)) => Err(e),
                }
            }
        );
    }
    crate::declare!(b, "read_link_target", &[Action::FsRead], "The target of a symlink in the directory.", sdk => |c, d: &mut DirHandle, name: &str| d
        .read_link_target(&c, name)
        .map_err(to_script_error));
    crate::declare!(b, "get_ownership", &[Action::FsStat], "The owner user and group.", sdk => |c, d: &mut DirHandle| d
        .get_ownership(&c)
        .map_err(to_script_error));
    crate::declare!(b, "chmod", &[Action::FsOpen, Action::FsChmod], "Changes the permissions.", sdk => |c, d: &mut DirHandle, o: ChmodDirOptions| {
        let o = valid_chmod_dir(&o)?;
        let mode = o.permissions.ok_or_else(|| invalid("no permissions"))?;
        if o.recursive {
            report_result(d.chmod_recursive(&c, mode).map_err(to_script_error)?)
        } else {
            d.chmod(&c, mode).map_err(to_script_error)
        }
    });
    crate::declare!(b, "create_symlink", &[Action::FsCreate, Action::FsOpen, Action::FsDelete], "Creates a symlink in the directory.", sdk => |c, d: &mut DirHandle, target: &str, link: &str, o: CreateSymlinkOptions| d
            .create_symlink(&c, target, link, o.force)
            .map_err(to_script_error));
    crate::declare!(b, "disk_usage", &[Action::FsStat, Action::FsRead, Action::FsOpen], "Disk usage below the directory.", sdk => |c, d: &mut DirHandle, o: ScriptDiskUsageOptions| {
        let o = valid_disk_usage(&o)?;
        let (r, largest) = if o.track_largest_subdir {
            d.disk_usage_with_largest_subdir(&c, o.inner)
        } else {
            d.disk_usage(&c, o.inner).map(|r| (r, None))
        }
        .map_err(to_script_error)?;
        Ok::<_, Box<EvalAltResult>>(ScriptDiskUsageResult {
            entries: r.entries,
            largest_subdir_handle: largest,
            total_size_bytes: r.total_size_bytes,
            total_inode_count: r.total_inode_count,
        })
    });
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "Changes the owner (optionally recursive, all entries authorized first).", sdk => |c, d: &mut DirHandle, o: SetOwnershipOptions| {
        let o = valid_set_ownership(&o)?;
        if o.recursive {
            report_result(
                d.set_ownership_recursive(&c, o.user.as_deref(), o.group.as_deref())
                    .map_err(to_script_error)?,
            )
        } else {
            d.set_ownership(&c, o.user.as_deref(), o.group.as_deref())
                .map_err(to_script_error)
        }
    });
    crate::declare!(b, "move", &[Action::FsMove], "Moves it into a directory.", sdk => |c, src: &mut DirHandle, dest_parent: DirHandle, name: &str, _o: MoveOptions| src
        .clone()
        .move_to(&c, &dest_parent, name)
        .map_err(to_script_error));
    crate::declare!(b, "open_symlink", &[Action::FsOpen], "Opens a symlink of the directory itself.", sdk => |c, d: &mut DirHandle, name: &str| d
        .open_symlink(&c, name)
        .map(|h| ScriptSymlinkHandle(Arc::new(h)))
        .map_err(to_script_error));

    // ---- FileHandle
    crate::declare!(b, "read_page", &[Action::FsRead], "The next page of lines of the file.", sdk => |c, f: &mut ScriptFileHandle, o: ReadPageOptions| {
        let n = valid_read_page(&o)?
            .num_lines
            .ok_or_else(|| invalid("no num_lines"))?;
        f.with(|h| h.read_page(&c, n).map(lines).map_err(to_script_error))
    });
    crate::declare!(b, "write", &[Action::FsWrite], "Writes text to the file.", sdk => |c, f: &mut ScriptFileHandle, text: &str, o: WriteOptions| {
        f.with(|h| {
            h.write(&c, text, o)
                .map(ScriptFileHandle::new)
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "move", &[Action::FsMove], "Moves it into a directory.", sdk => |c, f: &mut ScriptFileHandle, dir: DirHandle, name: &str, _o: MoveOptions| {
        f.take()?
            .move_to(&c, &dir, name)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    crate::declare!(b, "delete", &[Action::FsDelete], "Deletes it.", sdk => |c, f: &mut ScriptFileHandle, o: DeleteFileOptions| {
        match f.take()?.delete(&c) {
            Err(e) if o.force && e.kind() == FsErrorKind::NotFound => Ok(()),
            r => r.map_err(to_script_error),
        }
    });
    crate::declare!(b, "extract_strings", &[Action::FsRead], "The printable strings of the file.", sdk => |c, f: &mut ScriptFileHandle| f.with(
        |h| h.extract_strings(&c).map(lines).map_err(to_script_error)
    ));
    crate::declare!(b, "compress_gzip", &[Action::FsRead, Action::FsWrite], "Writes a gzip-compressed copy of the file.", sdk => |c, f: &mut ScriptFileHandle, dest: ScriptFileHandle, o: CompressGzipOptions| {
        let o = valid_compress_gzip(&o)?;
        let level = u32::try_from(o.level).map_err(|_| invalid("level must be 1..=9"))?;
        two_handles(f, &dest, |src, d| {
            gzip::compress(&c, src, d, level).map_err(to_script_error)
        })
    });
    crate::declare!(b, "read_gzip_lines", &[Action::FsRead], "Lines of the decompressed gzip file.", sdk => |c, f: &mut ScriptFileHandle, o: ReadLinesOptions| f.with(|h| gzip::read_gzip_lines(
            &c, h, o.start, o.count
        )
        .map(lines)
        .map_err(to_script_error)));
    crate::declare!(b, "gzip_info", &[Action::FsRead], "Sizes and ratio of the gzip file.", sdk => |c, f: &mut ScriptFileHandle| f
        .with(|h| gzip::gzip_info(&c, h).map_err(to_script_error)));
    crate::declare!(b, "search_gzip", &[Action::FsRead], "Lines of the decompressed gzip file matching a regex.", sdk => |c, f: &mut ScriptFileHandle, pattern: &str, o: SearchGzipOptions| f.with(|h| {
        let o = valid_search_gzip(&o)?;
        gzip::search_gzip(
            &c,
            h,
            pattern,
            o.case_insensitive,
            o.exclude_pattern.as_deref(),
            o.max_results,
        )
        .map(|v| v.into_iter().map(match_map).collect::<Array>())
        .map_err(to_script_error)
    }));
    crate::declare!(b, "search_gzip_exists", &[Action::FsRead], "Whether a line of the decompressed gzip file matches a regex.", sdk => |c, f: &mut ScriptFileHandle, pattern: &str, o: SearchGzipOptions| f.with(|h| {
        let o = valid_search_gzip(&o)?;
        gzip::search_gzip(
            &c,
            h,
            pattern,
            o.case_insensitive,
            o.exclude_pattern.as_deref(),
            1,
        )
        .map(|v| !v.is_empty())
        .map_err(to_script_error)
    }));
    crate::declare!(b, "get_ownership", &[Action::FsStat], "The owner user and group.", sdk => |c, f: &mut ScriptFileHandle| f
        .with(|h| h.get_ownership(&c).map_err(to_script_error)));
    crate::declare!(b, "get_last_modified_time", &[Action::FsStat], "The modification time as a DateTime.", sdk => |c, f: &mut ScriptFileHandle| f
    .with(|h| {
        let m = h.metadata(&c).map_err(to_script_error)?;
        Ok(i64::try_from(m.last_modified_nanos()).unwrap_or(i64::MAX))
    }));
    crate::declare!(b, "disk_usage", &[Action::FsStat, Action::FsRead, Action::FsOpen], "Disk usage of the file.", sdk => |c, f: &mut ScriptFileHandle, o: ScriptDiskUsageOptions| {
        let o = valid_disk_usage(&o)?;
        f.with(|h| h.disk_usage(&c, o.inner).map_err(to_script_error))
    });
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "Changes the owner.", sdk => |c, f: &mut ScriptFileHandle, o: SetOwnershipOptions| {
        let o = valid_set_ownership(&o)?;
        f.with(|h| {
            h.set_ownership(&c, o.user.as_deref(), o.group.as_deref())
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "truncate", &[Action::FsWrite], "Truncates the file to a size.", sdk => |c, f: &mut ScriptFileHandle, o: TruncateOptions| {
        let bytes = valid_truncate(&o)?;
        f.with(|h| h.truncate(&c, bytes).map_err(to_script_error))
    });
    crate::declare!(b, "fallocate", &[Action::FsWrite], "Preallocates space for the file.", sdk => |c, f: &mut ScriptFileHandle, o: FallocateOptions| {
        let bytes = valid_fallocate(&o)?;
        f.with(|h| h.fallocate(&c, bytes).map_err(to_script_error))
    });
    crate::declare!(b, "set_extended_attr", &[Action::FsSetXAttr], "Sets an extended attribute (SELinux context).", sdk => |c, f: &mut ScriptFileHandle, o: SetXAttrOptions| {
        let o = valid_set_xattr(&o)?;
        f.with(|h| h.set_extended_attr(&c, &o).map_err(to_script_error))
    });

    // ---- SymlinkHandle
    crate::declare!(b, "symlink_target", &[Action::FsRead], "The link target.", sdk => |c, h: &mut ScriptSymlinkHandle| h
        .0
        .symlink_target(&c)
        .map_err(to_script_error));
    crate::declare!(b, "metadata", &[Action::FsStat], "The link's own metadata.", sdk => |c, h: &mut ScriptSymlinkHandle| h
        .0
        .metadata(&c)
        .map_err(to_script_error));
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "Changes the link's owner.", sdk => |c, h: &mut ScriptSymlinkHandle, o: SetOwnershipOptions| {
        let o = valid_set_ownership(&o)?;
        h.0.set_ownership(&c, o.user.as_deref(), o.group.as_deref())
            .map_err(to_script_error)
    });

    // ---- DirEntry
    crate::declare!(b, "open_as_file", &[Action::FsOpen, Action::FsCreate], "Opens the entry as a file.", sdk => |c, e: &mut DirEntry, o: OpenFileOptions| e
        .open_as_file(&c, o)
        .map(ScriptFileHandle::new)
        .map_err(to_script_error));
    crate::declare!(b, "open_as_dir", &[Action::FsOpen], "Opens the entry as a directory.", sdk => |c, e: &mut DirEntry, o: OpenDirOptions| e
        .open_as_dir_with(&c, o)
        .map_err(to_script_error));
    crate::declare!(b, "metadata", &[Action::FsStat], "The entry's metadata (`stat`).", sdk => |c, e: &mut DirEntry| e
        .metadata(&c)
        .map_err(to_script_error));

    // ---- free functions
    crate::declare!(
        b,
        "replace_text",
        NO_HOST,
        "Replaces text in a string (`ReplacementOptions`).",
        |text: &str, old: &str, new: &str, o: ReplacementOptions| {
            replace_text(text, old, new, o).map_err(to_script_error)
        }
    );
}

/// Registers the builders, value types and methods of this module.
pub(crate) fn register(b: &mut Binding<'_>, sdk: &SdkContext) {
    register_sizes(b);
    register_builders(b);
    register_values(b);
    register_methods(b, sdk);
}

crate::script_types!(
    DeleteFileOptions => "DeleteFileOptions",
    ReadPageOptions => "ReadPageOptions",
    ReplacementOptions => "ReplacementOptions",
    MoveOptions => "MoveOptions",
    SearchGzipOptions => "SearchGzipOptions",
    CompressGzipOptions => "CompressGzipOptions",
    ChmodDirOptions => "ChmodDirOptions",
    SetOwnershipOptions => "SetOwnershipOptions",
    ScriptDiskUsageOptions => "DiskUsageOptions",
    CreateSymlinkOptions => "CreateSymlinkOptions",
    SetXAttrOptions => "SetXAttrOptions",
    ScriptFindOptions => "FindOptions",
    SizeUnit => "SizeUnit",
    SizeRange => "SizeRange",
    WriteOptions => "WriteOptions",
    TruncateOptions => "TruncateOptions",
    FallocateOptions => "FallocateOptions",
    Ownership => "Ownership",
    DiskUsageEntry => "DiskUsageEntry",
    ScriptDiskUsageResult => "DiskUsageResult",
    GzipInfo => "GzipInfo",
    ScriptSymlinkHandle => "SymlinkHandle",
);
