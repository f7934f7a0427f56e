//! The io handle API (REX §2.2.2), as far as rust-sdk supports it:
//! `DirConfig().path(p).build().open(OpenDirOptions)` → `DirHandle`, then `open_file`,
//! `list_entries`, `metadata`, `delete`, `chmod`, and on a `FileHandle`: `read`,
//! `read_lines`, `write`, `write_in_place`, `search`, `counts`, `metadata`, `chmod`, `copy`,
//! `move`, `delete`.
//!
//! Option builders (`OpenDirOptions()`, `OpenFileOptions()`, `DeleteDirOptions()`,
//! `ReadLinesOptions()`, `CopyFileOptions()`): each setter takes a value and returns a builder
//! copy, `.build()` returns the options.

use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::fs::{
    CopyFileOptions, DeleteDirOptions, DirHandle, FileHandle, Metadata, OpenDirOptions,
    OpenFileOptions, Ownership, WriteOptions,
};

use crate::binding::{Binding, NO_HOST};
use crate::error::{IO_SOURCE, script_err, to_script_error};
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// `DirConfig` (builder and built value are the same type).
#[derive(Debug, Clone, Default)]
pub struct DirConfig {
    path: Option<String>,
}

/// A line selection for `read_lines` (REX's `ReadLinesOptions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadLinesOptions {
    pub(crate) count: Option<i64>,
    pub(crate) start: Option<i64>,
}

/// A script-side file handle. `delete` and `move` consume the handle; using it afterwards is
/// a `FileError`.
#[derive(Debug, Clone)]
pub struct ScriptFileHandle(Arc<Mutex<Option<FileHandle>>>);

impl ScriptFileHandle {
    pub(crate) fn new(f: FileHandle) -> Self {
        Self(Arc::new(Mutex::new(Some(f))))
    }

    /// Whether both are the same script handle.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Locks the handle (the slot is `None` once deleted or moved).
    pub(crate) fn lock(&self) -> RResult<std::sync::MutexGuard<'_, Option<FileHandle>>> {
        self.0
            .lock()
            .map_err(|_| script_err(IO_SOURCE, "Other", "file handle lock poisoned"))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut FileHandle) -> RResult<R>) -> RResult<R> {
        match self.lock()?.as_mut() {
            Some(h) => f(h),
            None => Err(closed()),
        }
    }

    pub(crate) fn take(&self) -> RResult<FileHandle> {
        self.lock()?.take().ok_or_else(closed)
    }
}

pub(crate) fn closed() -> Box<EvalAltResult> {
    script_err(
        IO_SOURCE,
        "FileError",
        "the file handle was deleted or moved",
    )
}

/// A count as a script integer (saturating at `i64::MAX`).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Lines as a script array.
pub(crate) fn lines(v: Vec<String>) -> Array {
    v.into_iter().map(Dynamic::from).collect()
}

/// A search hit as `#{line_number, line_content}`.
pub(crate) fn match_map(m: rust_sdk::fs::Match) -> Dynamic {
    let mut map = Map::new();
    map.insert(
        "line_number".into(),
        i64::try_from(m.line_number).unwrap_or(i64::MAX).into(),
    );
    map.insert("line_content".into(), m.line_content.into());
    Dynamic::from_map(map)
}

/// An owner as `#{user, group}`.
pub(crate) fn ownership_map(o: &Ownership) -> Map {
    let mut m = Map::new();
    m.insert("user".into(), o.user.clone().into());
    m.insert("group".into(), o.group.clone().into());
    m
}

pub(crate) fn metadata_map(m: &Metadata) -> Map {
    let mut out = Map::new();
    out.insert("type".into(), m.entry_type.name().into());
    out.insert("file_size".into(), int(m.size).into());
    out.insert("last_modified_time".into(), m.mtime_secs.into());
    out.insert(
        "last_modified_time_nanos_component".into(),
        m.mtime_nanos.into(),
    );
    out.insert("num_hardlinks".into(), int(m.nlink).into());
    out.insert("blocks".into(), int(m.blocks).into());
    out.insert("allocated_size".into(), int(m.allocated_size()).into());
    out.insert("permissions".into(), i64::from(m.permissions).into());
    out.insert("uid".into(), i64::from(m.uid).into());
    out.insert("gid".into(), i64::from(m.gid).into());
    out.insert("inode".into(), int(m.inode).into());
    out.insert(
        "symlink_target".into(),
        m.symlink_target
            .clone()
            .map_or(Dynamic::UNIT, Dynamic::from),
    );
    out.insert("owner".into(), ownership_map(&m.owner()).into());
    out
}

fn register_metadata(b: &mut Binding<'_>) {
    b.custom_type::<Metadata>();
    crate::declare!(
        b,
        "type",
        NO_HOST,
        "The entry type (`EntryType::*`).",
        |m: &mut Metadata| m.entry_type.name().to_string()
    );
    crate::declare!(
        b,
        "file_size",
        NO_HOST,
        "Size in bytes.",
        |m: &mut Metadata| int(m.size)
    );
    crate::declare!(
        b,
        "last_modified_time",
        NO_HOST,
        "Modification time (seconds since the epoch).",
        |m: &mut Metadata| m.mtime_secs
    );
    crate::declare!(
        b,
        "last_modified_time_nanos_component",
        NO_HOST,
        "Nanosecond part of the modification time.",
        |m: &mut Metadata| { m.mtime_nanos }
    );
    crate::declare!(
        b,
        "num_hardlinks",
        NO_HOST,
        "Number of hard links.",
        |m: &mut Metadata| int(m.nlink)
    );
    crate::declare!(
        b,
        "blocks",
        NO_HOST,
        "Allocated 512-byte blocks.",
        |m: &mut Metadata| int(m.blocks)
    );
    crate::declare!(
        b,
        "allocated_size",
        NO_HOST,
        "Allocated bytes (blocks × 512).",
        |m: &mut Metadata| int(m.allocated_size())
    );
    crate::declare!(
        b,
        "permissions",
        NO_HOST,
        "Permission bits.",
        |m: &mut Metadata| i64::from(m.permissions)
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |m: &mut Metadata| metadata_map(m)
    );
}

/// The path of a `DirConfig` (the check of its `build()`, also run by `open`, so an unbuilt
/// config gets the same error).
fn config_path(c: &DirConfig) -> RResult<&str> {
    c.path
        .as_deref()
        .ok_or_else(|| script_err(IO_SOURCE, "ValidationError", "DirConfig needs a path"))
}

fn register_builders(b: &mut Binding<'_>) {
    b.custom_type::<DirConfig>();
    b.func(
        "DirConfig",
        [],
        NO_HOST,
        "A new `DirConfig` builder with the defaults.",
        DirConfig::default,
    );
    crate::declare!(
        b,
        "path",
        NO_HOST,
        "Sets `path` (returns the updated builder).",
        |_this: &mut DirConfig, p: &str| DirConfig {
            path: Some(p.to_string()),
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |c: &mut DirConfig| {
            config_path(c)?;
            Ok::<_, Box<EvalAltResult>>(c.clone())
        }
    );

    b.custom_type::<OpenDirOptions>();
    b.func(
        "OpenDirOptions",
        [],
        NO_HOST,
        "A new `OpenDirOptions` builder with the defaults.",
        OpenDirOptions::default,
    );
    crate::declare!(
        b,
        "create",
        NO_HOST,
        "Sets `create` (returns the updated builder).",
        |o: &mut OpenDirOptions, v: bool| OpenDirOptions { create: v, ..*o }
    );
    crate::declare!(
        b,
        "recursive",
        NO_HOST,
        "Sets `recursive` (returns the updated builder).",
        |o: &mut OpenDirOptions, v: bool| { OpenDirOptions { recursive: v, ..*o } }
    );
    crate::declare!(
        b,
        "follow_symlinks",
        NO_HOST,
        "Sets `follow_symlinks` (returns the updated builder).",
        |o: &mut OpenDirOptions, v: bool| {
            OpenDirOptions {
                follow_symlinks: v,
                ..*o
            }
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut OpenDirOptions| *o
    );

    b.custom_type::<OpenFileOptions>();
    b.func(
        "OpenFileOptions",
        [],
        NO_HOST,
        "A new `OpenFileOptions` builder with the defaults.",
        OpenFileOptions::default,
    );
    crate::declare!(
        b,
        "read",
        NO_HOST,
        "Sets `read` (returns the updated builder).",
        |o: &mut OpenFileOptions, v: bool| OpenFileOptions { read: v, ..*o }
    );
    crate::declare!(
        b,
        "write",
        NO_HOST,
        "Sets `write` (returns the updated builder).",
        |o: &mut OpenFileOptions, v: bool| { OpenFileOptions { write: v, ..*o } }
    );
    crate::declare!(
        b,
        "create",
        NO_HOST,
        "Sets `create` (returns the updated builder).",
        |o: &mut OpenFileOptions, v: bool| {
            OpenFileOptions {
                create: v,
                write: o.write || v,
                ..*o
            }
        }
    );
    crate::declare!(
        b,
        "permissions",
        NO_HOST,
        "Sets `permissions` (returns the updated builder).",
        |o: &mut OpenFileOptions, mode: i64| {
            let mode = u32::try_from(mode)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    script_err(
                        IO_SOURCE,
                        "InvalidFileMode",
                        format!("mode {mode:#o} is outside 0..=0o777"),
                    )
                })?;
            Ok::<_, Box<EvalAltResult>>(OpenFileOptions {
                permissions: Some(mode),
                ..*o
            })
        }
    );
    crate::declare!(
        b,
        "follow_symlinks",
        NO_HOST,
        "Sets `follow_symlinks` (returns the updated builder).",
        |o: &mut OpenFileOptions, v: bool| {
            OpenFileOptions {
                follow_symlinks: v,
                ..*o
            }
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut OpenFileOptions| *o
    );

    b.custom_type::<DeleteDirOptions>();
    b.func(
        "DeleteDirOptions",
        [],
        NO_HOST,
        "A new `DeleteDirOptions` builder with the defaults.",
        DeleteDirOptions::default,
    );
    crate::declare!(
        b,
        "force",
        NO_HOST,
        "Sets `force` (returns the updated builder).",
        |o: &mut DeleteDirOptions, v: bool| { DeleteDirOptions { force: v, ..*o } }
    );
    crate::declare!(
        b,
        "recursive",
        NO_HOST,
        "Sets `recursive` (returns the updated builder).",
        |o: &mut DeleteDirOptions, v: bool| { DeleteDirOptions { recursive: v, ..*o } }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut DeleteDirOptions| *o
    );

    b.custom_type::<CopyFileOptions>();
    b.func(
        "CopyFileOptions",
        [],
        NO_HOST,
        "A new `CopyFileOptions` builder with the defaults.",
        CopyFileOptions::default,
    );
    crate::declare!(
        b,
        "force",
        NO_HOST,
        "Sets `force` (returns the updated builder).",
        |o: &mut CopyFileOptions, v: bool| { CopyFileOptions { force: v, ..*o } }
    );
    crate::declare!(
        b,
        "preserve",
        NO_HOST,
        "Sets `preserve` (returns the updated builder).",
        |o: &mut CopyFileOptions, v: bool| { CopyFileOptions { preserve: v, ..*o } }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut CopyFileOptions| *o
    );

    b.custom_type::<ReadLinesOptions>();
    b.func(
        "ReadLinesOptions",
        [],
        NO_HOST,
        "A new `ReadLinesOptions` builder with the defaults.",
        ReadLinesOptions::default,
    );
    crate::declare!(
        b,
        "count",
        NO_HOST,
        "Sets `count` (returns the updated builder).",
        |o: &mut ReadLinesOptions, n: i64| {
            ReadLinesOptions {
                count: Some(n),
                ..*o
            }
        }
    );
    crate::declare!(
        b,
        "start",
        NO_HOST,
        "Sets `start` (returns the updated builder).",
        |o: &mut ReadLinesOptions, n: i64| {
            if n < 1 {
                return Err(script_err(
                    IO_SOURCE,
                    "ValidationError",
                    "start must be >= 1",
                ));
            }
            Ok(ReadLinesOptions {
                start: Some(n),
                ..*o
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ReadLinesOptions| *o
    );
}

/// Registers the handle types, builders and methods.
pub(crate) fn register(b: &mut Binding<'_>, sdk: &SdkContext) {
    register_builders(b);
    register_metadata(b);
    b.custom_type::<DirHandle>();
    b.custom_type::<ScriptFileHandle>();

    crate::declare!(b, "open", &[Action::FsOpen, Action::FsCreate], "Sets `open` (returns the updated builder).", sdk => |c, cfg: &mut DirConfig, opts: OpenDirOptions| {
        DirHandle::open(&c, config_path(cfg)?, opts).map_err(to_script_error)
    });
    crate::declare!(b, "open_file", &[Action::FsOpen, Action::FsCreate], "Opens a file of the directory.", sdk => |c, d: &mut DirHandle, name: &str, opts: OpenFileOptions| {
        d.open_file(&c, name, opts)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    crate::declare!(b, "list_entries", &[Action::FsRead], "The entries of the directory by name.", sdk => |c, d: &mut DirHandle| {
        let entries = d.sorted_entries(&c).map_err(to_script_error)?;
        Ok::<Map, Box<EvalAltResult>>(
            entries
                .into_iter()
                .map(|e| (e.name.as_str().into(), Dynamic::from(e)))
                .collect(),
        )
    });
    crate::declare!(b, "metadata", &[Action::FsStat], "The metadata (`stat`).", sdk => |c, d: &mut DirHandle| d
        .metadata(&c)
        .map_err(to_script_error));
    crate::declare!(b, "delete", &[Action::FsOpen, Action::FsDelete], "Deletes it.", sdk => |c, d: &mut DirHandle, opts: DeleteDirOptions| {
        let report = d.delete(&c, opts).map_err(to_script_error)?;
        match report.not_removed.first() {
            Some((p, why)) if !opts.force => Err(script_err(
                IO_SOURCE,
                "DirectoryError",
                format!("could not remove `{p}`: {why}"),
            )),
            _ => Ok(()),
        }
    });
    crate::declare!(b, "chmod", &[Action::FsChmod], "Changes the permissions.", sdk => |c, d: &mut DirHandle, mode: i64| d
        .chmod(&c, mode)
        .map_err(to_script_error));
    crate::declare!(b, "to_string", NO_HOST, "The display text.", sdk => |_c, d: &mut DirHandle| d
        .path()
        .as_str()
        .to_string());

    crate::declare!(b, "read", &[Action::FsRead], "Reads the file as text.", sdk => |c, f: &mut ScriptFileHandle| f
        .with(|h| h.read(&c).map_err(to_script_error)));
    crate::declare!(b, "read_lines", &[Action::FsRead], "Selected lines of the file.", sdk => |c, f: &mut ScriptFileHandle, o: ReadLinesOptions| {
        f.with(|h| {
            h.read_lines(&c, o.start, o.count)
                .map(lines)
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "write", &[Action::FsWrite], "Writes text to the file.", sdk => |c, f: &mut ScriptFileHandle, text: &str| {
        f.with(|h| {
            h.write(&c, text, WriteOptions::default())
                .map(ScriptFileHandle::new)
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "write_in_place", &[Action::FsWrite], "Rewrites the file in place.", sdk => |c, f: &mut ScriptFileHandle, text: &str| {
        f.with(|h| h.write_in_place(&c, text).map_err(to_script_error))
    });
    crate::declare!(b, "search", &[Action::FsRead], "Lines of the file matching a regex.", sdk => |c, f: &mut ScriptFileHandle, pattern: &str| {
        f.with(|h| {
            h.search(&c, pattern)
                .map(|v| v.into_iter().map(match_map).collect::<Array>())
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "counts", &[Action::FsRead], "Line, word and byte counts.", sdk => |c, f: &mut ScriptFileHandle| {
        f.with(|h| {
            let n = h.counts(&c).map_err(to_script_error)?;
            let mut map = Map::new();
            map.insert("line_count".into(), int(n.line_count).into());
            map.insert("word_count".into(), int(n.word_count).into());
            map.insert("byte_count".into(), int(n.byte_count).into());
            Ok(map)
        })
    });
    crate::declare!(b, "metadata", &[Action::FsStat], "The metadata (`stat`).", sdk => |c, f: &mut ScriptFileHandle| {
        f.with(|h| h.metadata(&c).map_err(to_script_error))
    });
    crate::declare!(b, "chmod", &[Action::FsChmod], "Changes the permissions.", sdk => |c, f: &mut ScriptFileHandle, mode: i64| {
        f.with(|h| h.chmod(&c, mode).map_err(to_script_error))
    });
    crate::declare!(b, "copy", &[Action::FsOpen, Action::FsRead, Action::FsCreate, Action::FsWrite], "Copies the file into a directory.", sdk => |c, f: &mut ScriptFileHandle, dest: ScriptFileHandle, opts: CopyFileOptions| {
        if f.same_as(&dest) {
            return Err(script_err(
                IO_SOURCE,
                "InvalidArguments",
                "cannot copy a file onto itself",
            ));
        }
        f.with(|src| dest.with(|d| src.copy_to(&c, d, opts).map_err(to_script_error)))?;
        Ok(dest.clone())
    });
    crate::declare!(b, "move", &[Action::FsMove], "Moves it into a directory.", sdk => |c, f: &mut ScriptFileHandle, dir: DirHandle, name: &str| {
        let handle = f.take()?;
        handle
            .move_to(&c, &dir, name)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    crate::declare!(b, "delete", &[Action::FsOpen, Action::FsDelete], "Deletes it.", sdk => |c, f: &mut ScriptFileHandle| f
        .take()?
        .delete(&c)
        .map_err(to_script_error));
    crate::archive::register(b, sdk);
    crate::io_ext::register(b, sdk);
}

crate::script_types!(
    Metadata => "Metadata",
    DirConfig => "DirConfig",
    OpenDirOptions => "OpenDirOptions",
    OpenFileOptions => "OpenFileOptions",
    DeleteDirOptions => "DeleteDirOptions",
    CopyFileOptions => "CopyFileOptions",
    ReadLinesOptions => "ReadLinesOptions",
    DirHandle => "DirHandle",
    ScriptFileHandle => "FileHandle",
);
