//! The option builders of the handle API: `XOptions()`, setters returning a copy,
//! `.build()` validating.

use super::*;

// ---------------------------------------------------------------------------------------------
// Option builders

/// `DeleteFileOptions`: `force` (a file that is already gone is not an error).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteFileOptions {
    pub(super) force: bool,
}

/// `ReadPageOptions`: `num_lines(n > 0)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadPageOptions {
    pub(super) num_lines: Option<i64>,
}

/// `MoveOptions`: `backup`, `verbose` (accepted for compatibility; a move is always one
/// `renameat`, or copy + fsync + unlink across file systems, keeping the mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct MoveOptions {
    pub(super) backup: bool,
    pub(super) verbose: bool,
}

/// `SearchGzipOptions`.
#[derive(Debug, Clone, Default)]
pub struct SearchGzipOptions {
    pub(super) exclude_pattern: Option<String>,
    pub(super) case_insensitive: bool,
    pub(super) max_results: i64,
}

/// `CompressGzipOptions`: `level(1..=9)`, default 6.
#[derive(Debug, Clone, Copy)]
pub struct CompressGzipOptions {
    pub(super) level: i64,
}

impl Default for CompressGzipOptions {
    fn default() -> Self {
        Self { level: 6 }
    }
}

/// `ChmodDirOptions`: `permissions(mode)`, `recursive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChmodDirOptions {
    pub(super) permissions: Option<i64>,
    pub(super) recursive: bool,
}

/// `SetOwnershipOptions`: `user`, `group`, `recursive`.
#[derive(Debug, Clone, Default)]
pub struct SetOwnershipOptions {
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
    pub(super) recursive: bool,
}

/// `DiskUsageOptions` (REX's setters, including `track_largest_subdir`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptDiskUsageOptions {
    pub(super) inner: DiskUsageOptions,
    pub(super) track_largest_subdir: bool,
}

/// `CreateSymlinkOptions`: `force` (atomically replace an existing link).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateSymlinkOptions {
    pub(super) force: bool,
}

/// `TruncateOptions`: `size(n >= 0)`, `format(SizeUnit)`.
#[derive(Debug, Clone, Copy)]
pub struct TruncateOptions {
    pub(super) size: Option<i64>,
    pub(super) unit: SizeUnit,
}

/// `FallocateOptions`: `length(n > 0)`, `format(SizeUnit)`.
#[derive(Debug, Clone, Copy)]
pub struct FallocateOptions {
    pub(super) length: Option<i64>,
    pub(super) unit: SizeUnit,
}

/// The options built by `FindOptions()`; `build()` checks that at most one of `name`,
/// `iname` and `regex` is set and that the depths are ordered.
#[derive(Debug, Clone, Default)]
pub struct ScriptFindOptions {
    pub(super) inner: FindOptions,
}

pub(super) fn nanos_of(d: &DateTime) -> i128 {
    i128::from(d.epoch_seconds()) * 1_000_000_000 + i128::from(d.nanos())
}

pub(super) fn depth(what: &str, n: i64) -> RResult<usize> {
    usize::try_from(n).map_err(|_| invalid(format!("{what} must be >= 0, got {n}")))
}

/// Registers `T()` and `T.build()` (a validated copy).
pub(super) fn builder<T: Clone + Default + Send + Sync + ScriptType + 'static>(
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

pub(super) fn ok_copy<T: Clone>(o: &T) -> RResult<T> {
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

pub(super) fn valid_read_page(o: &ReadPageOptions) -> RResult<ReadPageOptions> {
    match o.num_lines {
        Some(n) if n > 0 => Ok(*o),
        Some(n) => Err(invalid(format!("num_lines must be > 0, got {n}"))),
        None => Err(invalid("ReadPageOptions needs num_lines")),
    }
}

pub(super) fn valid_search_gzip(o: &SearchGzipOptions) -> RResult<SearchGzipOptions> {
    if let Some(p) = &o.exclude_pattern {
        regex::Regex::new(p).map_err(|e| invalid(format!("exclude_pattern: {e}")))?;
    }
    Ok(o.clone())
}

pub(super) fn valid_compress_gzip(o: &CompressGzipOptions) -> RResult<CompressGzipOptions> {
    if (1..=9).contains(&o.level) {
        Ok(*o)
    } else {
        Err(invalid(format!("level must be 1..=9, got {}", o.level)))
    }
}

pub(super) fn valid_chmod_dir(o: &ChmodDirOptions) -> RResult<ChmodDirOptions> {
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

pub(super) fn valid_set_ownership(o: &SetOwnershipOptions) -> RResult<SetOwnershipOptions> {
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

pub(super) fn valid_disk_usage(o: &ScriptDiskUsageOptions) -> RResult<ScriptDiskUsageOptions> {
    if o.inner.summarize && o.inner.all_files {
        return Err(invalid("all_files conflicts with summarize"));
    }
    Ok(*o)
}

/// The size in bytes.
pub(super) fn valid_truncate(o: &TruncateOptions) -> RResult<u64> {
    match o.size {
        Some(n) => o.unit.bytes("size", n).map_err(invalid),
        None => Err(invalid("TruncateOptions needs size")),
    }
}

/// The length in bytes.
pub(super) fn valid_fallocate(o: &FallocateOptions) -> RResult<u64> {
    match o.length {
        Some(n) if n > 0 => o.unit.bytes("length", n).map_err(invalid),
        Some(n) => Err(invalid(format!("length must be > 0, got {n}"))),
        None => Err(invalid("FallocateOptions needs length")),
    }
}

pub(super) fn valid_set_xattr(o: &SetXAttrOptions) -> RResult<SetXAttrOptions> {
    o.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(o.clone())
}

pub(super) fn valid_find(o: &ScriptFindOptions) -> RResult<ScriptFindOptions> {
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

pub(super) fn register_builders(b: &mut Binding<'_>) {
    builder::<DeleteFileOptions>(b, ok_copy);
    set!(b, DeleteFileOptions, "force", |o, v: bool| o.force = v);

    builder::<ReadPageOptions>(b, valid_read_page);
    set!(b, ReadPageOptions, "num_lines", |o, n: i64| o.num_lines =
        Some(n));

    // REX: the builder's default keeps the owner; `write(text)` without options does not.
    b.custom_type::<WriteOptions>();
    crate::declare!(
        b,
        "WriteOptions",
        NO_HOST,
        "A new `WriteOptions` builder with the defaults.",
        || {
            WriteOptions {
                preserve_ownership: true,
            }
        }
    );
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
    crate::declare!(
        b,
        "TruncateOptions",
        NO_HOST,
        "A new `TruncateOptions` builder with the defaults.",
        || {
            TruncateOptions {
                size: None,
                unit: BYTES,
            }
        }
    );
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
        "A new `FallocateOptions` builder with the defaults.",
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
