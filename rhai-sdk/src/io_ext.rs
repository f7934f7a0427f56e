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

// ---------------------------------------------------------------------------------------------
// SizeUnit, SizeRange

/// A size unit (`SizeUnit::KILOBYTES`, ...): a name and a factor in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeUnit {
    name: &'static str,
    factor: u64,
}

/// REX's size units.
pub const SIZE_UNITS: &[(&str, u64)] = &[
    ("BYTES", 1),
    ("KILOBYTES", 1_000),
    ("KIBIBYTES", 1 << 10),
    ("MEGABYTES", 1_000_000),
    ("MEBIBYTES", 1 << 20),
    ("GIGABYTES", 1_000_000_000),
    ("GIBIBYTES", 1 << 30),
];

const BYTES: SizeUnit = SizeUnit {
    name: "BYTES",
    factor: 1,
};

impl SizeUnit {
    /// `n` of this unit in bytes; negative or overflowing values are refused.
    pub fn bytes(self, what: &str, n: i64) -> Result<u64, String> {
        let n = u64::try_from(n).map_err(|_| format!("{what} must be >= 0, got {n}"))?;
        n.checked_mul(self.factor)
            .ok_or_else(|| format!("{what} of {n} {} overflows", self.name))
    }
}

/// A size filter of `FindOptions` (bytes, inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeRange {
    min: Option<u64>,
    max: Option<u64>,
}

fn register_sizes(b: &mut Binding<'_>) {
    b.custom_type::<SizeUnit>();
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: SizeUnit, b: SizeUnit| a
        == b);
    crate::declare!(
        b,
        "!=",
        NO_HOST,
        "Inequality.",
        |a: SizeUnit, b: SizeUnit| a != b
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |u: &mut SizeUnit| u.name.to_string()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |u: &mut SizeUnit| { format!("SizeUnit::{}", u.name) }
    );
    let mut units = Module::new();
    for (name, factor) in SIZE_UNITS {
        units.set_var(
            *name,
            SizeUnit {
                name,
                factor: *factor,
            },
        );
    }
    b.static_module("SizeUnit", units.into());

    b.custom_type::<SizeRange>();
    b.getter(
        "min",
        NO_HOST,
        "The `min` property.",
        |r: &mut SizeRange| r.min.map_or(Dynamic::UNIT, |v| Dynamic::from(int(v))),
    );
    b.getter(
        "max",
        NO_HOST,
        "The `max` property.",
        |r: &mut SizeRange| r.max.map_or(Dynamic::UNIT, |v| Dynamic::from(int(v))),
    );
    let mut ranges = Module::new();
    let mut r = Binding::into_module(&mut ranges, "io");
    crate::declare!(
        r,
        "min_only",
        NO_HOST,
        "At least `n` units.",
        |n: i64, u: SizeUnit| {
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: Some(u.bytes("size", n).map_err(invalid)?),
                max: None,
            })
        }
    );
    crate::declare!(
        r,
        "max_only",
        NO_HOST,
        "At most `n` units.",
        |n: i64, u: SizeUnit| {
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: None,
                max: Some(u.bytes("size", n).map_err(invalid)?),
            })
        }
    );
    crate::declare!(
        r,
        "between",
        NO_HOST,
        "Between `a` and `b` units (inclusive).",
        |a: i64, b: i64, u: SizeUnit| {
            let (a, b) = (
                u.bytes("size", a).map_err(invalid)?,
                u.bytes("size", b).map_err(invalid)?,
            );
            if a > b {
                return Err(invalid(format!(
                    "SizeRange::between needs min <= max ({a} > {b})"
                )));
            }
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: Some(a),
                max: Some(b),
            })
        }
    );
    b.static_module("SizeRange", ranges.into());
}

// ---------------------------------------------------------------------------------------------
// Option builders

/// `DeleteFileOptions`: `force` (a file that is already gone is not an error).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteFileOptions {
    force: bool,
}

/// `ReadPageOptions`: `num_lines(n > 0)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadPageOptions {
    num_lines: Option<i64>,
}

/// `MoveOptions`: `backup`, `verbose` (accepted for compatibility; a move is always one
/// `renameat`, or copy + fsync + unlink across file systems, keeping the mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct MoveOptions {
    backup: bool,
    verbose: bool,
}

/// `SearchGzipOptions`.
#[derive(Debug, Clone, Default)]
pub struct SearchGzipOptions {
    exclude_pattern: Option<String>,
    case_insensitive: bool,
    max_results: i64,
}

/// `CompressGzipOptions`: `level(1..=9)`, default 6.
#[derive(Debug, Clone, Copy)]
pub struct CompressGzipOptions {
    level: i64,
}

impl Default for CompressGzipOptions {
    fn default() -> Self {
        Self { level: 6 }
    }
}

/// `ChmodDirOptions`: `permissions(mode)`, `recursive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChmodDirOptions {
    permissions: Option<i64>,
    recursive: bool,
}

/// `SetOwnershipOptions`: `user`, `group`, `recursive`.
#[derive(Debug, Clone, Default)]
pub struct SetOwnershipOptions {
    user: Option<String>,
    group: Option<String>,
    recursive: bool,
}

/// `DiskUsageOptions` (REX's setters, including `track_largest_subdir`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptDiskUsageOptions {
    inner: DiskUsageOptions,
    track_largest_subdir: bool,
}

/// `CreateSymlinkOptions`: `force` (atomically replace an existing link).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateSymlinkOptions {
    force: bool,
}

/// `TruncateOptions`: `size(n >= 0)`, `format(SizeUnit)`.
#[derive(Debug, Clone, Copy)]
pub struct TruncateOptions {
    size: Option<i64>,
    unit: SizeUnit,
}

/// `FallocateOptions`: `length(n > 0)`, `format(SizeUnit)`.
#[derive(Debug, Clone, Copy)]
pub struct FallocateOptions {
    length: Option<i64>,
    unit: SizeUnit,
}

/// The options built by `FindOptions()`; `build()` checks that at most one of `name`,
/// `iname` and `regex` is set and that the depths are ordered.
#[derive(Debug, Clone, Default)]
pub struct ScriptFindOptions {
    inner: FindOptions,
}

fn nanos_of(d: &DateTime) -> i128 {
    i128::from(d.epoch_seconds()) * 1_000_000_000 + i128::from(d.nanos())
}

fn depth(what: &str, n: i64) -> RResult<usize> {
    usize::try_from(n).map_err(|_| invalid(format!("{what} must be >= 0, got {n}")))
}

/// Registers `T()` and `T.build()` (a validated copy).
fn builder<T: Clone + Default + Send + Sync + ScriptType + 'static>(
    b: &mut Binding<'_>,
    build: fn(&T) -> RResult<T>,
) {
    b.custom_type::<T>();
    b.func(
        T::NAME,
        [],
        NO_HOST,
        "A new options builder with the defaults.",
        T::default,
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut T| build(o)
    );
}

fn ok_copy<T: Clone>(o: &T) -> RResult<T> {
    Ok(o.clone())
}

macro_rules! set {
    ($engine:ident, $T:ty, $name:literal, |$o:ident, $v:ident : $V:ty| $body:expr) => {
        $engine.func(
            $name,
            ["self", stringify!($v)],
            NO_HOST,
            concat!("Sets `", $name, "` (returns the updated builder)."),
            |$o: &mut $T, $v: $V| -> $T {
                let mut $o = $o.clone();
                $body;
                $o
            },
        );
    };
}

// The checks of the builders' `build()`. The functions that take an options value run the
// same check, so a value used without `build()` is refused with the same error.

fn valid_read_page(o: &ReadPageOptions) -> RResult<ReadPageOptions> {
    match o.num_lines {
        Some(n) if n > 0 => Ok(*o),
        Some(n) => Err(invalid(format!("num_lines must be > 0, got {n}"))),
        None => Err(invalid("ReadPageOptions needs num_lines")),
    }
}

fn valid_search_gzip(o: &SearchGzipOptions) -> RResult<SearchGzipOptions> {
    if let Some(p) = &o.exclude_pattern {
        regex::Regex::new(p).map_err(|e| invalid(format!("exclude_pattern: {e}")))?;
    }
    Ok(o.clone())
}

fn valid_compress_gzip(o: &CompressGzipOptions) -> RResult<CompressGzipOptions> {
    if (1..=9).contains(&o.level) {
        Ok(*o)
    } else {
        Err(invalid(format!("level must be 1..=9, got {}", o.level)))
    }
}

fn valid_chmod_dir(o: &ChmodDirOptions) -> RResult<ChmodDirOptions> {
    match o.permissions {
        Some(m) if (0..=0o777).contains(&m) => Ok(*o),
        Some(m) => Err(script_err(
            IO_SOURCE,
            "InvalidFileMode",
            format!("mode {m:#o} is outside 0..=0o777"),
        )),
        None => Err(invalid("ChmodDirOptions needs permissions")),
    }
}

fn valid_set_ownership(o: &SetOwnershipOptions) -> RResult<SetOwnershipOptions> {
    for v in [&o.user, &o.group].into_iter().flatten() {
        if v.is_empty() || v.chars().any(|c| c.is_control() || c == ':') {
            return Err(invalid(format!(
                "invalid user or group name `{}`",
                v.escape_debug()
            )));
        }
    }
    if o.user.is_none() && o.group.is_none() {
        return Err(invalid("SetOwnershipOptions needs a user or a group"));
    }
    Ok(o.clone())
}

fn valid_disk_usage(o: &ScriptDiskUsageOptions) -> RResult<ScriptDiskUsageOptions> {
    if o.inner.summarize && o.inner.all_files {
        return Err(invalid("all_files conflicts with summarize"));
    }
    Ok(*o)
}

/// The size in bytes.
fn valid_truncate(o: &TruncateOptions) -> RResult<u64> {
    match o.size {
        Some(n) => o.unit.bytes("size", n).map_err(invalid),
        None => Err(invalid("TruncateOptions needs size")),
    }
}

/// The length in bytes.
fn valid_fallocate(o: &FallocateOptions) -> RResult<u64> {
    match o.length {
        Some(n) if n > 0 => o.unit.bytes("length", n).map_err(invalid),
        Some(n) => Err(invalid(format!("length must be > 0, got {n}"))),
        None => Err(invalid("FallocateOptions needs length")),
    }
}

fn valid_set_xattr(o: &SetXAttrOptions) -> RResult<SetXAttrOptions> {
    o.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(o.clone())
}

fn valid_find(o: &ScriptFindOptions) -> RResult<ScriptFindOptions> {
    let f = &o.inner;
    let tests = [f.name.is_some(), f.iname.is_some(), f.regex.is_some()];
    if tests.iter().filter(|t| **t).count() > 1 {
        return Err(invalid("name, iname and regex are mutually exclusive"));
    }
    if let Some(r) = &f.regex {
        regex::Regex::new(r).map_err(|e| invalid(format!("regex: {e}")))?;
    }
    if f.max_depth.is_some_and(|m| m < f.min_depth) {
        return Err(invalid("min_depth must be <= max_depth"));
    }
    if let (Some(a), Some(b)) = (f.min_size, f.max_size)
        && a > b
    {
        return Err(invalid("size_range: min > max"));
    }
    Ok(o.clone())
}

fn register_builders(b: &mut Binding<'_>) {
    builder::<DeleteFileOptions>(b, ok_copy);
    set!(b, DeleteFileOptions, "force", |o, v: bool| o.force = v);

    builder::<ReadPageOptions>(b, valid_read_page);
    set!(b, ReadPageOptions, "num_lines", |o, n: i64| o.num_lines =
        Some(n));

    // REX: the builder's default keeps the owner; `write(text)` without options does not.
    b.custom_type::<WriteOptions>();
    crate::declare!(b, "WriteOptions", NO_HOST, "`WriteOptions`.", || {
        WriteOptions {
            preserve_ownership: true,
        }
    });
    set!(b, WriteOptions, "preserve_ownership", |o, v: bool| o
        .preserve_ownership =
        v);
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut WriteOptions| *o
    );

    builder::<ReplacementOptions>(b, ok_copy);
    set!(b, ReplacementOptions, "is_regex", |o, v: bool| o.is_regex =
        v);
    set!(b, ReplacementOptions, "replace_all", |o, v: bool| o
        .replace_all =
        v);

    builder::<MoveOptions>(b, ok_copy);
    set!(b, MoveOptions, "backup", |o, v: bool| o.backup = v);
    set!(b, MoveOptions, "verbose", |o, v: bool| o.verbose = v);

    builder::<SearchGzipOptions>(b, valid_search_gzip);
    set!(b, SearchGzipOptions, "exclude_pattern", |o, p: &str| o
        .exclude_pattern =
        Some(p.to_string()));
    set!(b, SearchGzipOptions, "case_insensitive", |o, v: bool| o
        .case_insensitive =
        v);
    set!(b, SearchGzipOptions, "max_results", |o, n: i64| o
        .max_results =
        n);

    builder::<CompressGzipOptions>(b, valid_compress_gzip);
    set!(b, CompressGzipOptions, "level", |o, n: i64| o.level = n);

    builder::<ChmodDirOptions>(b, valid_chmod_dir);
    set!(b, ChmodDirOptions, "permissions", |o, m: i64| o
        .permissions =
        Some(m));
    set!(b, ChmodDirOptions, "recursive", |o, v: bool| o.recursive =
        v);

    builder::<SetOwnershipOptions>(b, valid_set_ownership);
    set!(b, SetOwnershipOptions, "user", |o, u: &str| o.user =
        Some(u.to_string()));
    set!(b, SetOwnershipOptions, "group", |o, g: &str| o.group =
        Some(g.to_string()));
    set!(b, SetOwnershipOptions, "recursive", |o, v: bool| o
        .recursive =
        v);

    builder::<ScriptDiskUsageOptions>(b, valid_disk_usage);
    set!(b, ScriptDiskUsageOptions, "summarize", |o, v: bool| {
        o.inner.summarize = v
    });
    set!(b, ScriptDiskUsageOptions, "all_files", |o, v: bool| {
        o.inner.all_files = v
    });
    set!(
        b,
        ScriptDiskUsageOptions,
        "one_file_system",
        |o, v: bool| o.inner.one_file_system = v
    );
    set!(
        b,
        ScriptDiskUsageOptions,
        "count_hard_links",
        |o, v: bool| o.inner.count_hard_links = v
    );
    set!(b, ScriptDiskUsageOptions, "apparent_size", |o, v: bool| o
        .inner
        .apparent_size =
        v);
    // Converted here (as `FindOptions.max_depth` is), so options used without `build()`
    // cannot drop the depth.
    crate::declare!(
        b,
        "max_depth",
        NO_HOST,
        "Sets `max_depth` (returns the updated builder).",
        |o: &mut ScriptDiskUsageOptions, n: i64| {
            let mut o = *o;
            o.inner.max_depth = Some(depth("max_depth", n)?);
            Ok::<_, Box<EvalAltResult>>(o)
        }
    );
    set!(
        b,
        ScriptDiskUsageOptions,
        "track_largest_subdir",
        |o, v: bool| o.track_largest_subdir = v
    );

    builder::<CreateSymlinkOptions>(b, ok_copy);
    set!(b, CreateSymlinkOptions, "force", |o, v: bool| o.force = v);

    b.custom_type::<TruncateOptions>();
    crate::declare!(b, "TruncateOptions", NO_HOST, "`TruncateOptions`.", || {
        TruncateOptions {
            size: None,
            unit: BYTES,
        }
    });
    set!(b, TruncateOptions, "size", |o, n: i64| o.size = Some(n));
    set!(b, TruncateOptions, "format", |o, u: SizeUnit| o.unit = u);
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut TruncateOptions| { valid_truncate(o).map(|_| *o) }
    );

    b.custom_type::<FallocateOptions>();
    crate::declare!(
        b,
        "FallocateOptions",
        NO_HOST,
        "`FallocateOptions`.",
        || FallocateOptions {
            length: None,
            unit: BYTES,
        }
    );
    set!(b, FallocateOptions, "length", |o, n: i64| o.length =
        Some(n));
    set!(b, FallocateOptions, "format", |o, u: SizeUnit| o.unit = u);
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut FallocateOptions| { valid_fallocate(o).map(|_| *o) }
    );

    builder::<SetXAttrOptions>(b, valid_set_xattr);
    set!(b, SetXAttrOptions, "name", |o, v: &str| o.name =
        v.to_string());
    set!(b, SetXAttrOptions, "selinux_user", |o, v: &str| o
        .selinux_user =
        Some(v.to_string()));
    set!(b, SetXAttrOptions, "selinux_role", |o, v: &str| o
        .selinux_role =
        Some(v.to_string()));
    set!(b, SetXAttrOptions, "selinux_type", |o, v: &str| o
        .selinux_type =
        Some(v.to_string()));
    set!(b, SetXAttrOptions, "selinux_level", |o, v: &str| o
        .selinux_level =
        Some(v.to_string()));

    builder::<ScriptFindOptions>(b, valid_find);
    set!(b, ScriptFindOptions, "name", |o, v: &str| o.inner.name =
        Some(v.to_string()));
    set!(b, ScriptFindOptions, "iname", |o, v: &str| o.inner.iname =
        Some(v.to_string()));
    set!(b, ScriptFindOptions, "regex", |o, v: &str| o.inner.regex =
        Some(v.to_string()));
    set!(b, ScriptFindOptions, "negate_name", |o, v: bool| o
        .inner
        .negate_name =
        v);
    set!(b, ScriptFindOptions, "size_range", |o, r: SizeRange| {
        o.inner.min_size = r.min;
        o.inner.max_size = r.max;
    });
    set!(b, ScriptFindOptions, "follow_symlinks", |o, v: bool| o
        .inner
        .follow_symlinks =
        v);
    set!(
        b,
        ScriptFindOptions,
        "min_modification_time",
        |o, d: DateTime| o.inner.min_mtime_nanos = Some(nanos_of(&d))
    );
    set!(
        b,
        ScriptFindOptions,
        "max_modification_time",
        |o, d: DateTime| o.inner.max_mtime_nanos = Some(nanos_of(&d))
    );
    set!(
        b,
        ScriptFindOptions,
        "min_creation_time",
        |o, d: DateTime| o.inner.min_btime_nanos = Some(nanos_of(&d))
    );
    set!(
        b,
        ScriptFindOptions,
        "max_creation_time",
        |o, d: DateTime| o.inner.max_btime_nanos = Some(nanos_of(&d))
    );
    crate::declare!(
        b,
        "min_depth",
        NO_HOST,
        "Sets `min_depth` (returns the updated builder).",
        |o: &mut ScriptFindOptions, n: i64| {
            let mut o = o.clone();
            o.inner.min_depth = depth("min_depth", n)?;
            Ok::<_, Box<EvalAltResult>>(o)
        }
    );
    crate::declare!(
        b,
        "max_depth",
        NO_HOST,
        "Sets `max_depth` (returns the updated builder).",
        |o: &mut ScriptFindOptions, n: i64| {
            let mut o = o.clone();
            o.inner.max_depth = Some(depth("max_depth", n)?);
            Ok::<_, Box<EvalAltResult>>(o)
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Value types

fn du_entry_map(e: &DiskUsageEntry) -> Map {
    let mut m = Map::new();
    m.insert("path".into(), e.path.clone().into());
    m.insert("size_bytes".into(), int(e.size_bytes).into());
    m.insert("inode_count".into(), int(e.inode_count).into());
    m
}

fn gzip_info_map(g: &GzipInfo) -> Map {
    let mut m = Map::new();
    m.insert(
        "compressed_size_bytes".into(),
        int(g.compressed_size_bytes).into(),
    );
    m.insert(
        "uncompressed_size_bytes".into(),
        int(g.uncompressed_size_bytes).into(),
    );
    m.insert("compression_ratio".into(), g.compression_ratio.into());
    m
}

/// The result of `DirHandle.disk_usage`: `entries` (Array of `DiskUsageEntry`) and
/// `largest_subdir_handle` (a `DirHandle`, or `()` unless `track_largest_subdir` found one).
#[derive(Debug, Clone)]
pub struct ScriptDiskUsageResult {
    entries: Vec<DiskUsageEntry>,
    largest_subdir_handle: Option<DirHandle>,
    total_size_bytes: u64,
    total_inode_count: u64,
}

/// A symlink opened itself (`DirHandle.open_symlink`).
#[derive(Debug, Clone)]
pub struct ScriptSymlinkHandle(Arc<SymlinkHandle>);

fn register_values(b: &mut Binding<'_>) {
    b.custom_type::<Ownership>();
    b.getter(
        "user",
        NO_HOST,
        "The `user` property.",
        |o: &mut Ownership| o.user.clone(),
    );
    b.getter(
        "group",
        NO_HOST,
        "The `group` property.",
        |o: &mut Ownership| o.group.clone(),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |o: &mut Ownership| ownership_map(o)
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |o: &mut Ownership| { format!("{}:{}", o.user, o.group) }
    );

    b.custom_type::<DiskUsageEntry>();
    b.getter(
        "path",
        NO_HOST,
        "The `path` property.",
        |e: &mut DiskUsageEntry| e.path.clone(),
    );
    b.getter(
        "size_bytes",
        NO_HOST,
        "The `size_bytes` property.",
        |e: &mut DiskUsageEntry| int(e.size_bytes),
    );
    b.getter(
        "inode_count",
        NO_HOST,
        "The `inode_count` property.",
        |e: &mut DiskUsageEntry| int(e.inode_count),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |e: &mut DiskUsageEntry| du_entry_map(e)
    );

    b.custom_type::<ScriptDiskUsageResult>();
    b.getter(
        "entries",
        NO_HOST,
        "The `entries` property.",
        |r: &mut ScriptDiskUsageResult| {
            r.entries
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<Array>()
        },
    );
    b.getter(
        "largest_subdir_handle",
        NO_HOST,
        "The `largest_subdir_handle` property.",
        |r: &mut ScriptDiskUsageResult| {
            r.largest_subdir_handle
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        },
    );
    b.getter(
        "total_size_bytes",
        NO_HOST,
        "The `total_size_bytes` property.",
        |r: &mut ScriptDiskUsageResult| int(r.total_size_bytes),
    );
    b.getter(
        "total_inode_count",
        NO_HOST,
        "The `total_inode_count` property.",
        |r: &mut ScriptDiskUsageResult| int(r.total_inode_count),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |r: &mut ScriptDiskUsageResult| {
            let mut m = Map::new();
            m.insert(
                "entries".into(),
                r.entries
                    .iter()
                    .map(|e| Dynamic::from_map(du_entry_map(e)))
                    .collect::<Array>()
                    .into(),
            );
            m.insert(
                "largest_subdir".into(),
                r.largest_subdir_handle
                    .as_ref()
                    .map_or(Dynamic::UNIT, |d| d.path().as_str().to_string().into()),
            );
            m.insert("total_size_bytes".into(), int(r.total_size_bytes).into());
            m.insert("total_inode_count".into(), int(r.total_inode_count).into());
            m
        }
    );

    b.custom_type::<GzipInfo>();
    b.getter(
        "compressed_size_bytes",
        NO_HOST,
        "The `compressed_size_bytes` property.",
        |g: &mut GzipInfo| int(g.compressed_size_bytes),
    );
    b.getter(
        "uncompressed_size_bytes",
        NO_HOST,
        "The `uncompressed_size_bytes` property.",
        |g: &mut GzipInfo| int(g.uncompressed_size_bytes),
    );
    b.getter(
        "compression_ratio",
        NO_HOST,
        "The `compression_ratio` property.",
        |g: &mut GzipInfo| g.compression_ratio,
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |g: &mut GzipInfo| gzip_info_map(g)
    );

    b.custom_type::<ScriptSymlinkHandle>();
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |h: &mut ScriptSymlinkHandle| { h.0.path().as_str().to_string() }
    );

    // Metadata additions.
    crate::declare!(
        b,
        "symlink_target",
        NO_HOST,
        "`Metadata.symlink_target`.",
        |m: &mut Metadata| {
            m.symlink_target
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        }
    );
    b.getter(
        "owner",
        NO_HOST,
        "The `owner` property.",
        |m: &mut Metadata| m.owner(),
    );

    // Maps returned where REX returns a serialisable value (`counts()`, `search()` matches)
    // answer `to_map()` too.
    crate::utils::register_value_maps(b);
}

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
            "`find`.",
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
    crate::declare!(b, "read_link_target", &[Action::FsRead], "`DirHandle.read_link_target`.", sdk => |c, d: &mut DirHandle, name: &str| d
        .read_link_target(&c, name)
        .map_err(to_script_error));
    crate::declare!(b, "get_ownership", &[Action::FsStat], "`DirHandle.get_ownership`.", sdk => |c, d: &mut DirHandle| d
        .get_ownership(&c)
        .map_err(to_script_error));
    crate::declare!(b, "chmod", &[Action::FsOpen, Action::FsChmod], "`DirHandle.chmod`.", sdk => |c, d: &mut DirHandle, o: ChmodDirOptions| {
        let o = valid_chmod_dir(&o)?;
        let mode = o.permissions.ok_or_else(|| invalid("no permissions"))?;
        if o.recursive {
            report_result(d.chmod_recursive(&c, mode).map_err(to_script_error)?)
        } else {
            d.chmod(&c, mode).map_err(to_script_error)
        }
    });
    crate::declare!(b, "create_symlink", &[Action::FsCreate, Action::FsOpen, Action::FsDelete], "`DirHandle.create_symlink`.", sdk => |c, d: &mut DirHandle, target: &str, link: &str, o: CreateSymlinkOptions| d
            .create_symlink(&c, target, link, o.force)
            .map_err(to_script_error));
    crate::declare!(b, "disk_usage", &[Action::FsStat, Action::FsRead, Action::FsOpen], "`DirHandle.disk_usage`.", sdk => |c, d: &mut DirHandle, o: ScriptDiskUsageOptions| {
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
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "`DirHandle.set_ownership`.", sdk => |c, d: &mut DirHandle, o: SetOwnershipOptions| {
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
    crate::declare!(b, "move", &[Action::FsMove], "`DirHandle.move`.", sdk => |c, src: &mut DirHandle, dest_parent: DirHandle, name: &str, _o: MoveOptions| src
        .clone()
        .move_to(&c, &dest_parent, name)
        .map_err(to_script_error));
    crate::declare!(b, "open_symlink", &[Action::FsOpen], "`DirHandle.open_symlink`.", sdk => |c, d: &mut DirHandle, name: &str| d
        .open_symlink(&c, name)
        .map(|h| ScriptSymlinkHandle(Arc::new(h)))
        .map_err(to_script_error));

    // ---- FileHandle
    crate::declare!(b, "read_page", &[Action::FsRead], "`ScriptFileHandle.read_page`.", sdk => |c, f: &mut ScriptFileHandle, o: ReadPageOptions| {
        let n = valid_read_page(&o)?
            .num_lines
            .ok_or_else(|| invalid("no num_lines"))?;
        f.with(|h| h.read_page(&c, n).map(lines).map_err(to_script_error))
    });
    crate::declare!(b, "write", &[Action::FsWrite], "`ScriptFileHandle.write`.", sdk => |c, f: &mut ScriptFileHandle, text: &str, o: WriteOptions| {
        f.with(|h| {
            h.write(&c, text, o)
                .map(ScriptFileHandle::new)
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "move", &[Action::FsMove], "`ScriptFileHandle.move`.", sdk => |c, f: &mut ScriptFileHandle, dir: DirHandle, name: &str, _o: MoveOptions| {
        f.take()?
            .move_to(&c, &dir, name)
            .map(ScriptFileHandle::new)
            .map_err(to_script_error)
    });
    crate::declare!(b, "delete", &[Action::FsDelete], "`ScriptFileHandle.delete`.", sdk => |c, f: &mut ScriptFileHandle, o: DeleteFileOptions| {
        match f.take()?.delete(&c) {
            Err(e) if o.force && e.kind() == FsErrorKind::NotFound => Ok(()),
            r => r.map_err(to_script_error),
        }
    });
    crate::declare!(b, "extract_strings", &[Action::FsRead], "`ScriptFileHandle.extract_strings`.", sdk => |c, f: &mut ScriptFileHandle| f.with(
        |h| h.extract_strings(&c).map(lines).map_err(to_script_error)
    ));
    crate::declare!(b, "compress_gzip", &[Action::FsRead, Action::FsWrite], "`ScriptFileHandle.compress_gzip`.", sdk => |c, f: &mut ScriptFileHandle, dest: ScriptFileHandle, o: CompressGzipOptions| {
        let o = valid_compress_gzip(&o)?;
        let level = u32::try_from(o.level).map_err(|_| invalid("level must be 1..=9"))?;
        two_handles(f, &dest, |src, d| {
            gzip::compress(&c, src, d, level).map_err(to_script_error)
        })
    });
    crate::declare!(b, "read_gzip_lines", &[Action::FsRead], "`ScriptFileHandle.read_gzip_lines`.", sdk => |c, f: &mut ScriptFileHandle, o: ReadLinesOptions| f.with(|h| gzip::read_gzip_lines(
            &c, h, o.start, o.count
        )
        .map(lines)
        .map_err(to_script_error)));
    crate::declare!(b, "gzip_info", &[Action::FsRead], "`ScriptFileHandle.gzip_info`.", sdk => |c, f: &mut ScriptFileHandle| f
        .with(|h| gzip::gzip_info(&c, h).map_err(to_script_error)));
    crate::declare!(b, "search_gzip", &[Action::FsRead], "`ScriptFileHandle.search_gzip`.", sdk => |c, f: &mut ScriptFileHandle, pattern: &str, o: SearchGzipOptions| f.with(|h| {
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
    crate::declare!(b, "search_gzip_exists", &[Action::FsRead], "`ScriptFileHandle.search_gzip_exists`.", sdk => |c, f: &mut ScriptFileHandle, pattern: &str, o: SearchGzipOptions| f.with(|h| {
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
    crate::declare!(b, "get_ownership", &[Action::FsStat], "`ScriptFileHandle.get_ownership`.", sdk => |c, f: &mut ScriptFileHandle| f
        .with(|h| h.get_ownership(&c).map_err(to_script_error)));
    crate::declare!(b, "get_last_modified_time", &[Action::FsStat], "`ScriptFileHandle.get_last_modified_time`.", sdk => |c, f: &mut ScriptFileHandle| f
    .with(|h| {
        let m = h.metadata(&c).map_err(to_script_error)?;
        Ok(i64::try_from(m.last_modified_nanos()).unwrap_or(i64::MAX))
    }));
    crate::declare!(b, "disk_usage", &[Action::FsStat, Action::FsRead, Action::FsOpen], "`ScriptFileHandle.disk_usage`.", sdk => |c, f: &mut ScriptFileHandle, o: ScriptDiskUsageOptions| {
        let o = valid_disk_usage(&o)?;
        f.with(|h| h.disk_usage(&c, o.inner).map_err(to_script_error))
    });
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "`ScriptFileHandle.set_ownership`.", sdk => |c, f: &mut ScriptFileHandle, o: SetOwnershipOptions| {
        let o = valid_set_ownership(&o)?;
        f.with(|h| {
            h.set_ownership(&c, o.user.as_deref(), o.group.as_deref())
                .map_err(to_script_error)
        })
    });
    crate::declare!(b, "truncate", &[Action::FsWrite], "`ScriptFileHandle.truncate`.", sdk => |c, f: &mut ScriptFileHandle, o: TruncateOptions| {
        let bytes = valid_truncate(&o)?;
        f.with(|h| h.truncate(&c, bytes).map_err(to_script_error))
    });
    crate::declare!(b, "fallocate", &[Action::FsWrite], "`ScriptFileHandle.fallocate`.", sdk => |c, f: &mut ScriptFileHandle, o: FallocateOptions| {
        let bytes = valid_fallocate(&o)?;
        f.with(|h| h.fallocate(&c, bytes).map_err(to_script_error))
    });
    crate::declare!(b, "set_extended_attr", &[Action::FsSetXAttr], "`ScriptFileHandle.set_extended_attr`.", sdk => |c, f: &mut ScriptFileHandle, o: SetXAttrOptions| {
        let o = valid_set_xattr(&o)?;
        f.with(|h| h.set_extended_attr(&c, &o).map_err(to_script_error))
    });

    // ---- SymlinkHandle
    crate::declare!(b, "symlink_target", &[Action::FsRead], "`ScriptSymlinkHandle.symlink_target`.", sdk => |c, h: &mut ScriptSymlinkHandle| h
        .0
        .symlink_target(&c)
        .map_err(to_script_error));
    crate::declare!(b, "metadata", &[Action::FsStat], "`ScriptSymlinkHandle.metadata`.", sdk => |c, h: &mut ScriptSymlinkHandle| h
        .0
        .metadata(&c)
        .map_err(to_script_error));
    crate::declare!(b, "set_ownership", &[Action::FsChown, Action::FsOpen], "`ScriptSymlinkHandle.set_ownership`.", sdk => |c, h: &mut ScriptSymlinkHandle, o: SetOwnershipOptions| {
        let o = valid_set_ownership(&o)?;
        h.0.set_ownership(&c, o.user.as_deref(), o.group.as_deref())
            .map_err(to_script_error)
    });

    // ---- DirEntry
    crate::declare!(b, "open_as_file", &[Action::FsOpen, Action::FsCreate], "`DirEntry.open_as_file`.", sdk => |c, e: &mut DirEntry, o: OpenFileOptions| e
        .open_as_file(&c, o)
        .map(ScriptFileHandle::new)
        .map_err(to_script_error));
    crate::declare!(b, "open_as_dir", &[Action::FsOpen], "`DirEntry.open_as_dir`.", sdk => |c, e: &mut DirEntry, o: OpenDirOptions| e
        .open_as_dir_with(&c, o)
        .map_err(to_script_error));
    crate::declare!(b, "metadata", &[Action::FsStat], "`DirEntry.metadata`.", sdk => |c, e: &mut DirEntry| e
        .metadata(&c)
        .map_err(to_script_error));

    // ---- free functions
    crate::declare!(
        b,
        "replace_text",
        NO_HOST,
        "`replace_text`.",
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
