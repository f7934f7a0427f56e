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

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::fs::{
    CopyFileOptions, DeleteDirOptions, DirHandle, FileHandle, Metadata, OpenDirOptions,
    OpenFileOptions, Ownership, WriteOptions,
};

use crate::error::{IO_SOURCE, script_err, to_script_error};

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

fn register_metadata(engine: &mut Engine) {
    engine.register_type_with_name::<Metadata>("Metadata");
    engine.register_fn("type", |m: &mut Metadata| m.entry_type.name().to_string());
    engine.register_fn("file_size", |m: &mut Metadata| int(m.size));
    engine.register_fn("last_modified_time", |m: &mut Metadata| m.mtime_secs);
    engine.register_fn("last_modified_time_nanos_component", |m: &mut Metadata| {
        m.mtime_nanos
    });
    engine.register_fn("num_hardlinks", |m: &mut Metadata| int(m.nlink));
    engine.register_fn("blocks", |m: &mut Metadata| int(m.blocks));
    engine.register_fn("allocated_size", |m: &mut Metadata| int(m.allocated_size()));
    engine.register_fn("permissions", |m: &mut Metadata| i64::from(m.permissions));
    engine.register_fn("to_map", |m: &mut Metadata| metadata_map(m));
}

/// The path of a `DirConfig` (the check of its `build()`, also run by `open`, so an unbuilt
/// config gets the same error).
fn config_path(c: &DirConfig) -> RResult<&str> {
    c.path
        .as_deref()
        .ok_or_else(|| script_err(IO_SOURCE, "ValidationError", "DirConfig needs a path"))
}

fn register_builders(engine: &mut Engine) {
    engine.register_type_with_name::<DirConfig>("DirConfig");
    engine.register_fn("DirConfig", DirConfig::default);
    engine.register_fn("path", |_: &mut DirConfig, p: &str| DirConfig {
        path: Some(p.to_string()),
    });
    engine.register_fn("build", |c: &mut DirConfig| {
        config_path(c)?;
        Ok::<_, Box<EvalAltResult>>(c.clone())
    });

    engine.register_type_with_name::<OpenDirOptions>("OpenDirOptions");
    engine.register_fn("OpenDirOptions", OpenDirOptions::default);
    engine.register_fn("create", |o: &mut OpenDirOptions, v: bool| OpenDirOptions {
        create: v,
        ..*o
    });
    engine.register_fn("recursive", |o: &mut OpenDirOptions, v: bool| {
        OpenDirOptions { recursive: v, ..*o }
    });
    engine.register_fn("follow_symlinks", |o: &mut OpenDirOptions, v: bool| {
        OpenDirOptions {
            follow_symlinks: v,
            ..*o
        }
    });
    engine.register_fn("build", |o: &mut OpenDirOptions| *o);

    engine.register_type_with_name::<OpenFileOptions>("OpenFileOptions");
    engine.register_fn("OpenFileOptions", OpenFileOptions::default);
    engine.register_fn("read", |o: &mut OpenFileOptions, v: bool| OpenFileOptions {
        read: v,
        ..*o
    });
    engine.register_fn("write", |o: &mut OpenFileOptions, v: bool| {
        OpenFileOptions { write: v, ..*o }
    });
    engine.register_fn("create", |o: &mut OpenFileOptions, v: bool| {
        OpenFileOptions {
            create: v,
            write: o.write || v,
            ..*o
        }
    });
    engine.register_fn("permissions", |o: &mut OpenFileOptions, mode: i64| {
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
    });
    engine.register_fn("follow_symlinks", |o: &mut OpenFileOptions, v: bool| {
        OpenFileOptions {
            follow_symlinks: v,
            ..*o
        }
    });
    engine.register_fn("build", |o: &mut OpenFileOptions| *o);

    engine.register_type_with_name::<DeleteDirOptions>("DeleteDirOptions");
    engine.register_fn("DeleteDirOptions", DeleteDirOptions::default);
    engine.register_fn("force", |o: &mut DeleteDirOptions, v: bool| {
        DeleteDirOptions { force: v, ..*o }
    });
    engine.register_fn("recursive", |o: &mut DeleteDirOptions, v: bool| {
        DeleteDirOptions { recursive: v, ..*o }
    });
    engine.register_fn("build", |o: &mut DeleteDirOptions| *o);

    engine.register_type_with_name::<CopyFileOptions>("CopyFileOptions");
    engine.register_fn("CopyFileOptions", CopyFileOptions::default);
    engine.register_fn("force", |o: &mut CopyFileOptions, v: bool| {
        CopyFileOptions { force: v, ..*o }
    });
    engine.register_fn("preserve", |o: &mut CopyFileOptions, v: bool| {
        CopyFileOptions { preserve: v, ..*o }
    });
    engine.register_fn("build", |o: &mut CopyFileOptions| *o);

    engine.register_type_with_name::<ReadLinesOptions>("ReadLinesOptions");
    engine.register_fn("ReadLinesOptions", ReadLinesOptions::default);
    engine.register_fn("count", |o: &mut ReadLinesOptions, n: i64| {
        ReadLinesOptions {
            count: Some(n),
            ..*o
        }
    });
    engine.register_fn("start", |o: &mut ReadLinesOptions, n: i64| {
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
    });
    engine.register_fn("build", |o: &mut ReadLinesOptions| *o);
}

/// Registers the handle types, builders and methods.
pub(crate) fn register(engine: &mut Engine, sdk: &SdkContext) {
    register_builders(engine);
    register_metadata(engine);
    engine.register_type_with_name::<DirHandle>("DirHandle");
    engine.register_type_with_name::<ScriptFileHandle>("FileHandle");

    macro_rules! reg {
        ($name:literal, |$c:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {{
            let $c = sdk.clone();
            engine.register_fn($name, move |$($arg: $ty),*| $body);
        }};
    }

    reg!("open", |c, cfg: &mut DirConfig, opts: OpenDirOptions| {
        DirHandle::open(&c, config_path(cfg)?, opts).map_err(to_script_error)
    });
    reg!("open_file", |c,
                       d: &mut DirHandle,
                       name: &str,
                       opts: OpenFileOptions| {
        d.open_file(&c, name, opts)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    reg!("list_entries", |c, d: &mut DirHandle| {
        let entries = d.list_entries(&c).map_err(to_script_error)?;
        Ok::<Map, Box<EvalAltResult>>(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), Dynamic::from(v)))
                .collect(),
        )
    });
    reg!("metadata", |c, d: &mut DirHandle| d
        .metadata(&c)
        .map_err(to_script_error));
    reg!("delete", |c, d: &mut DirHandle, opts: DeleteDirOptions| {
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
    reg!("chmod", |c, d: &mut DirHandle, mode: i64| d
        .chmod(&c, mode)
        .map_err(to_script_error));
    reg!("to_string", |_c, d: &mut DirHandle| d
        .path()
        .as_str()
        .to_string());

    reg!("read", |c, f: &mut ScriptFileHandle| f
        .with(|h| h.read(&c).map_err(to_script_error)));
    reg!("read_lines", |c,
                        f: &mut ScriptFileHandle,
                        o: ReadLinesOptions| {
        f.with(|h| {
            h.read_lines(&c, o.start, o.count)
                .map(lines)
                .map_err(to_script_error)
        })
    });
    reg!("write", |c, f: &mut ScriptFileHandle, text: &str| {
        f.with(|h| {
            h.write(&c, text, WriteOptions::default())
                .map(ScriptFileHandle::new)
                .map_err(to_script_error)
        })
    });
    reg!("write_in_place", |c,
                            f: &mut ScriptFileHandle,
                            text: &str| {
        f.with(|h| h.write_in_place(&c, text).map_err(to_script_error))
    });
    reg!("search", |c, f: &mut ScriptFileHandle, pattern: &str| {
        f.with(|h| {
            h.search(&c, pattern)
                .map(|v| v.into_iter().map(match_map).collect::<Array>())
                .map_err(to_script_error)
        })
    });
    reg!("counts", |c, f: &mut ScriptFileHandle| {
        f.with(|h| {
            let n = h.counts(&c).map_err(to_script_error)?;
            let mut map = Map::new();
            map.insert("line_count".into(), int(n.line_count).into());
            map.insert("word_count".into(), int(n.word_count).into());
            map.insert("byte_count".into(), int(n.byte_count).into());
            Ok(map)
        })
    });
    reg!("metadata", |c, f: &mut ScriptFileHandle| {
        f.with(|h| h.metadata(&c).map_err(to_script_error))
    });
    reg!("chmod", |c, f: &mut ScriptFileHandle, mode: i64| {
        f.with(|h| h.chmod(&c, mode).map_err(to_script_error))
    });
    reg!("copy", |c,
                  f: &mut ScriptFileHandle,
                  dest: ScriptFileHandle,
                  opts: CopyFileOptions| {
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
    reg!("move", |c,
                  f: &mut ScriptFileHandle,
                  dir: DirHandle,
                  name: &str| {
        let handle = f.take()?;
        handle
            .move_to(&c, &dir, name)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    reg!("delete", |c, f: &mut ScriptFileHandle| f
        .take()?
        .delete(&c)
        .map_err(to_script_error));
    crate::archive::register(engine, sdk);
    crate::io_ext::register(engine, sdk);
}
