//! The io commands as script functions: flag arrays and values converted, the behaviour in
//! `rust_sdk::fs::commands` and `rust_sdk::fs::listing`, errors mapped.

use rhai::{Array, Dynamic, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::fs::commands;
use rust_sdk::fs::listing::{Listing, listing};
use rust_sdk::fs::{CopyFileOptions, DiskUsageOptions, FsError};

use crate::error::{IO_SOURCE, script_err, to_script_error};

use super::flags::Flags;
use super::{MAX_SEQ_LEN, RResult};

pub(super) fn invalid_args(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(IO_SOURCE, "InvalidArguments", message)
}

pub(super) fn to_array<T: Into<Dynamic>>(items: impl IntoIterator<Item = T>) -> Array {
    items.into_iter().map(Into::into).collect()
}

pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Commands

pub(super) fn cat(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<String> {
    let flags = Flags::parse("cat", flags)?;
    commands::cat(ctx, path, flags.has("number")).map_err(to_script_error)
}

pub(super) fn ls(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("ls", flags)?;
    let opts = commands::LsOptions {
        all: flags.has("all"),
        long: flags.has("long"),
        recursive: flags.has("recursive"),
    };
    let mut out = Map::new();
    match listing(ctx, path, opts).map_err(to_script_error)? {
        Listing::Link(name, entry) => {
            out.insert(name.into(), Dynamic::from(entry));
        }
        Listing::Entries(entries) => {
            // Already sorted by name: the map is built in bulk, not by one insert per entry.
            out = entries
                .into_iter()
                .map(|entry| (entry.name.as_str().into(), Dynamic::from(entry)))
                .collect();
        }
        Listing::Long(entries) => {
            for (name, e) in entries {
                let mut m = Map::new();
                m.insert("name".into(), name.clone().into());
                m.insert("type".into(), e.entry_type.name().into());
                m.insert("inode".into(), int(e.inode).into());
                m.insert(
                    "metadata".into(),
                    e.metadata
                        .as_ref()
                        .map_or(Dynamic::UNIT, |md| crate::handles::metadata_map(md).into()),
                );
                out.insert(name.into(), m.into());
            }
        }
        Listing::Found(found) => {
            for e in found {
                let mut m = Map::new();
                m.insert("name".into(), e.name.clone().into());
                m.insert("path".into(), e.path.clone().into());
                m.insert("type".into(), e.entry_type.name().into());
                out.insert(e.path.into(), m.into());
            }
        }
    }
    Ok(out)
}

pub(super) fn grep(ctx: &SdkContext, flags: &Array, pattern: &str, path: &str) -> RResult<Array> {
    let flags = Flags::parse("grep", flags)?;
    let max_count = match flags.get("max_count") {
        Some(f) => Some(
            usize::try_from(f.value).map_err(|_| invalid_args("grep::max_count must be >= 0"))?,
        ),
        None => None,
    };
    let opts = commands::GrepOptions {
        ignore_case: flags.has("ignore_case"),
        count: flags.has("count"),
        invert: flags.has("invert"),
        line_number: flags.has("line_number"),
        max_count,
    };
    commands::grep(ctx, pattern, path, opts)
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn tail(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Array> {
    let flags = Flags::parse("tail", flags)?;
    let mode = if let Some(f) = flags.get("range") {
        if f.value < 1 {
            return Err(invalid_args("tail::range(a, b) needs 1 <= a <= b"));
        }
        commands::TailMode::Range(f.value, f.value2)
    } else if let Some(f) = flags.get("from") {
        commands::TailMode::From(f.value)
    } else if let Some(f) = flags.get("n") {
        // The last |k| lines, whatever the sign (REX returned the first k for k > 0).
        commands::TailMode::Last(f.value)
    } else {
        commands::TailMode::Last(10)
    };
    commands::tail(ctx, path, mode)
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn sed(
    ctx: &SdkContext,
    flags: &Array,
    pat: &str,
    rep: &str,
    path: &str,
) -> RResult<String> {
    let flags = Flags::parse("sed", flags)?;
    let opts = commands::SedOptions {
        regex: flags.has("regex"),
        all: flags.has("all"),
        in_place: flags.has("in_place"),
    };
    commands::sed(ctx, pat, rep, path, opts).map_err(to_script_error)
}

pub(super) fn rm(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<()> {
    let flags = Flags::parse("rm", flags)?;
    let force = flags.has("force");
    let report = commands::rm(
        ctx,
        path,
        commands::RmOptions {
            force,
            recursive: flags.has("recursive"),
        },
    )
    .map_err(to_script_error)?;
    match report.not_removed.first() {
        Some((p, why)) if !force => Err(script_err(
            IO_SOURCE,
            "DirectoryError",
            format!("could not remove `{p}`: {why}"),
        )),
        _ => Ok(()),
    }
}

/// The error of a command whose arguments are wrong: the SDK's message as is.
pub(super) fn command_error(e: FsError) -> Box<EvalAltResult> {
    match e {
        FsError::InvalidArguments(m) => invalid_args(m),
        e => to_script_error(e),
    }
}

/// The 1-based field number of the `awk_*` commands.
pub(super) fn field_number(n: i64) -> RResult<usize> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| invalid_args("field numbers start at 1"))
}

/// `seq(a, b)`: inclusive range with an optional `seq::step(n)`, at most [`MAX_SEQ_LEN`]
/// items.
pub(super) fn seq(flags: &Array, a: i64, b: i64) -> RResult<Array> {
    let flags = Flags::parse("seq", flags)?;
    let step = flags
        .get("step")
        .map_or(if b >= a { 1 } else { -1 }, |f| f.value);
    let max = usize::try_from(MAX_SEQ_LEN).unwrap_or(usize::MAX);
    commands::seq(a, b, step, max)
        .map(to_array)
        .map_err(command_error)
}

pub(super) fn find_files(ctx: &SdkContext, flags: &Array, glob: &str, dir: &str) -> RResult<Array> {
    let flags = Flags::parse("glob", flags)?;
    commands::find_files(ctx, glob, dir, flags.has("recursive"))
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn awk_field(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Array> {
    commands::awk_field(ctx, field_number(n)?, delim, path)
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn awk_filter(ctx: &SdkContext, substr: &str, path: &str) -> RResult<Array> {
    commands::awk_filter(ctx, substr, path)
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn awk_filter_field(
    ctx: &SdkContext,
    n: i64,
    delim: &str,
    substr: &str,
    path: &str,
) -> RResult<Array> {
    commands::awk_filter_field(ctx, field_number(n)?, delim, substr, path)
        .map(to_array)
        .map_err(to_script_error)
}

pub(super) fn awk_sum(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<f64> {
    commands::awk_sum(ctx, field_number(n)?, delim, path).map_err(to_script_error)
}

pub(super) fn awk_count_unique(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Map> {
    let counts =
        commands::awk_count_unique(ctx, field_number(n)?, delim, path).map_err(to_script_error)?;
    Ok(counts
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(int(v))))
        .collect())
}

pub(super) fn awk_filter_range(
    ctx: &SdkContext,
    start: i64,
    end: i64,
    path: &str,
) -> RResult<Array> {
    commands::awk_filter_range(ctx, start, end, path)
        .map(to_array)
        .map_err(command_error)
}

pub(super) fn wc(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("wc", flags)?;
    let counts = commands::wc(ctx, path).map_err(to_script_error)?;
    let none = flags.0.is_empty();
    let mut out = Map::new();
    if none || flags.has("lines") {
        out.insert("lines".into(), int(counts.line_count).into());
    }
    if none || flags.has("words") {
        out.insert("words".into(), int(counts.word_count).into());
    }
    if none || flags.has("bytes") {
        out.insert("bytes".into(), int(counts.byte_count).into());
    }
    Ok(out)
}

pub(super) fn cp(ctx: &SdkContext, flags: &Array, src: &str, dst: &str) -> RResult<()> {
    let flags = Flags::parse("cp", flags)?;
    let opts = CopyFileOptions {
        force: flags.has("force"),
        preserve: flags.has("preserve"),
    };
    commands::cp(ctx, src, dst, opts).map_err(to_script_error)
}

pub(super) fn mv(ctx: &SdkContext, flags: &Array, src: &str, dst: &str) -> RResult<()> {
    let _flags = Flags::parse("mv", flags)?;
    commands::mv(ctx, src, dst).map_err(to_script_error)
}

pub(super) fn mkdir(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<()> {
    let flags = Flags::parse("mkdir", flags)?;
    commands::mkdir(ctx, path, flags.has("parents")).map_err(to_script_error)
}

pub(super) fn du(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("du", flags)?;
    let max_depth = match flags.get("max_depth") {
        Some(f) => {
            Some(usize::try_from(f.value).map_err(|_| invalid_args("du::max_depth must be >= 0"))?)
        }
        None => None,
    };
    let result = commands::du(
        ctx,
        path,
        DiskUsageOptions {
            summarize: flags.has("summarize"),
            all_files: flags.has("all_files"),
            apparent_size: flags.has("apparent_size"),
            max_depth,
            ..Default::default()
        },
    )
    .map_err(to_script_error)?;
    let entries: Array = result
        .entries
        .into_iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("path".into(), e.path.into());
            m.insert("size_bytes".into(), int(e.size_bytes).into());
            m.insert("inode_count".into(), int(e.inode_count).into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut out = Map::new();
    out.insert("entries".into(), entries.into());
    out.insert(
        "total_size_bytes".into(),
        int(result.total_size_bytes).into(),
    );
    out.insert(
        "total_inode_count".into(),
        int(result.total_inode_count).into(),
    );
    Ok(out)
}

pub(super) fn touch(ctx: &SdkContext, path: &str) -> RResult<()> {
    commands::touch(ctx, path).map_err(to_script_error)
}

pub(super) fn write(ctx: &SdkContext, flags: &Array, path: &str, text: &str) -> RResult<()> {
    let flags = Flags::parse("write", flags)?;
    let replace = flags
        .0
        .iter()
        .rev()
        .find(|f| f.name == "replace" || f.name == "append")
        .is_some_and(|f| f.name == "replace");
    commands::write(ctx, path, text, replace).map_err(to_script_error)
}
