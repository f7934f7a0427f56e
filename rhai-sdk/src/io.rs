//! The `io` module: REX's shell-style file commands (`cat`, `ls`, `grep`, `tail`, ...) with
//! their flag modules, plus the `EntryType` and `IoErrorKind` constants.
//!
//! Every command goes through the rust-sdk file handles, so each one makes the SDK's Cedar
//! checks before any system call. Differences from REX (its §6 flaws, fixed here):
//! * `tail([tail::n(5)], p)` returns the **last** five lines (REX returned the first five);
//! * `write` appends with `O_APPEND` and never reads or rewrites the file; `replace` is atomic;
//! * `seq` refuses ranges longer than [`MAX_SEQ_LEN`] with a typed error;
//! * `find_files` returns full paths; `touch` updates the modification time;
//! * `mv` opens the source read-only; `rm` never follows a symlink;
//! * `du` errors are error maps like every other command.

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::fs::commands;
use rust_sdk::fs::{
    CopyFileOptions, DirEntry, DirHandle, DiskUsageOptions, EntryType, FileHandle, FindOptions,
    FsError, OpenDirOptions, OpenFileOptions,
};

use crate::catalog::FunctionInfo;
use crate::error::{IO_SOURCE, script_err, to_script_error};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The longest array `seq` produces.
pub const MAX_SEQ_LEN: i64 = 1_000_000;

/// A command flag value (`cat::number`, `tail::n(5)`, ...). Scripts build flags only through
/// the flag modules; a flag given to the wrong command is an `InvalidArguments` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFlag {
    /// The flag module (`cat`, `tail`, ...).
    pub command: &'static str,
    /// The canonical flag name (`number`, `n`, ...).
    pub name: &'static str,
    /// First argument of a function flag (`tail::n(5)` → 5).
    pub value: i64,
    /// Second argument (`tail::range(a, b)` → b).
    pub value2: i64,
}

impl std::fmt::Display for CommandFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.command, self.name)
    }
}

/// A value flag: (canonical name, aliases).
type FlagSpec = (&'static str, &'static [&'static str]);

/// Value flags: (module, [(canonical, aliases)]).
const VALUE_FLAGS: &[(&str, &[FlagSpec])] = &[
    ("cat", &[("number", &["n"])]),
    (
        "ls",
        &[("all", &["a"]), ("long", &["l"]), ("recursive", &["R"])],
    ),
    (
        "grep",
        &[
            ("ignore_case", &["i"]),
            ("count", &["c"]),
            ("invert", &["v"]),
            ("line_number", &["n"]),
        ],
    ),
    (
        "sed",
        &[("regex", &[]), ("all", &["g"]), ("in_place", &["i"])],
    ),
    ("rm", &[("force", &["f"]), ("recursive", &["r"])]),
    ("glob", &[("recursive", &["r"])]),
    (
        "wc",
        &[("lines", &["l"]), ("words", &["w"]), ("bytes", &["c"])],
    ),
    ("cp", &[("force", &["f"]), ("preserve", &["p"])]),
    ("mv", &[("backup", &["b"]), ("verbose", &["v"])]),
    ("mkdir", &[("parents", &["p"])]),
    (
        "du",
        &[
            ("summarize", &["s"]),
            ("all_files", &["a"]),
            ("apparent_size", &[]),
        ],
    ),
    ("write", &[("append", &["a"]), ("replace", &["r"])]),
    ("seq", &[]),
    ("tail", &[]),
];

pub(crate) fn flag(
    command: &'static str,
    name: &'static str,
    value: i64,
    value2: i64,
) -> CommandFlag {
    CommandFlag {
        command,
        name,
        value,
        value2,
    }
}

/// Registers the `CommandFlag` type and the flag modules of the io commands.
fn register_flag_modules(engine: &mut Engine) {
    engine.register_type_with_name::<CommandFlag>("CommandFlag");
    engine.register_fn("to_string", |f: &mut CommandFlag| f.to_string());
    engine.register_fn("to_debug", |f: &mut CommandFlag| format!("{f:?}"));
    engine.register_fn("==", |a: CommandFlag, b: CommandFlag| a == b);
    engine.register_fn("!=", |a: CommandFlag, b: CommandFlag| a != b);

    for (module_name, flags) in VALUE_FLAGS {
        let mut module = Module::new();
        for (canonical, aliases) in *flags {
            let value = flag(module_name, canonical, 0, 0);
            module.set_var(*canonical, value.clone());
            for alias in *aliases {
                module.set_var(*alias, value.clone());
            }
        }
        match *module_name {
            "tail" => {
                module.set_native_fn("n", |k: i64| Ok(flag("tail", "n", k, 0)));
                module.set_native_fn("from", |line: i64| Ok(flag("tail", "from", line, 0)));
                module.set_native_fn("range", |a: i64, b: i64| Ok(flag("tail", "range", a, b)));
            }
            "grep" => {
                module.set_native_fn("max_count", |n: i64| Ok(flag("grep", "max_count", n, 0)));
                module.set_native_fn("m", |n: i64| Ok(flag("grep", "max_count", n, 0)));
            }
            "seq" => {
                module.set_native_fn("step", |n: i64| Ok(flag("seq", "step", n, 0)));
            }
            "du" => {
                module.set_native_fn("max_depth", |n: i64| Ok(flag("du", "max_depth", n, 0)));
                module.set_native_fn("d", |n: i64| Ok(flag("du", "max_depth", n, 0)));
            }
            _ => {}
        }
        engine.register_static_module(*module_name, module.into());
    }
}

/// The parsed flag array of one command.
#[derive(Debug, Default)]
pub(crate) struct Flags(pub(crate) Vec<CommandFlag>);

impl Flags {
    pub(crate) fn parse(command: &str, flags: &Array) -> RResult<Self> {
        let mut out = Vec::with_capacity(flags.len());
        for item in flags {
            match item.read_lock::<CommandFlag>() {
                Some(f) if f.command == command => out.push(f.clone()),
                Some(f) => {
                    return Err(script_err(
                        IO_SOURCE,
                        "InvalidArguments",
                        format!("flag {} is not a {command} flag", *f),
                    ));
                }
                None => {
                    return Err(script_err(
                        IO_SOURCE,
                        "InvalidArguments",
                        format!(
                            "expected a {command} flag ({command}::...), got {}",
                            item.type_name()
                        ),
                    ));
                }
            }
        }
        Ok(Flags(out))
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&CommandFlag> {
        self.0.iter().rev().find(|f| f.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Path helpers (no host access: everything goes through rust-sdk handles)

/// Splits an absolute path into (parent, name).
pub(crate) fn split_path(path: &str) -> RResult<(String, String)> {
    let invalid = |reason: &str| {
        script_err(
            IO_SOURCE,
            "InvalidPath",
            format!("invalid path `{path}`: {reason}"),
        )
    };
    if !path.starts_with('/') {
        return Err(invalid("paths must be absolute"));
    }
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((_, "")) | None => Err(invalid("the path names no entry")),
        Some(("", name)) => Ok(("/".to_string(), name.to_string())),
        Some((dir, name)) => Ok((dir.to_string(), name.to_string())),
    }
}

fn open_dir(ctx: &SdkContext, path: &str, follow: bool) -> RResult<DirHandle> {
    DirHandle::open(
        ctx,
        path,
        OpenDirOptions {
            follow_symlinks: follow,
            ..Default::default()
        },
    )
    .map_err(to_script_error)
}

fn open_parent(ctx: &SdkContext, path: &str, follow: bool) -> RResult<(DirHandle, String)> {
    let (dir, name) = split_path(path)?;
    Ok((open_dir(ctx, &dir, follow)?, name))
}

pub(crate) fn open_file(
    ctx: &SdkContext,
    path: &str,
    opts: OpenFileOptions,
) -> RResult<FileHandle> {
    let (dir, name) = open_parent(ctx, path, true)?;
    dir.open_file(ctx, &name, opts).map_err(to_script_error)
}

fn read_text(ctx: &SdkContext, path: &str) -> RResult<String> {
    open_file(ctx, path, OpenFileOptions::read())?
        .read(ctx)
        .map_err(to_script_error)
}

fn invalid_args(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(IO_SOURCE, "InvalidArguments", message)
}

fn to_array<T: Into<Dynamic>>(items: impl IntoIterator<Item = T>) -> Array {
    items.into_iter().map(Into::into).collect()
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Commands

fn cat(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<String> {
    let flags = Flags::parse("cat", flags)?;
    commands::cat(ctx, path, flags.has("number")).map_err(to_script_error)
}

/// REX's `ls` on a symlink path: a one-entry map with the link itself (`open` File on it).
fn ls_link(ctx: &SdkContext, path: &str) -> Option<Map> {
    let (parent, name) = split_path(path).ok()?;
    let dir = DirHandle::open(
        ctx,
        &parent,
        OpenDirOptions {
            follow_symlinks: true,
            ..Default::default()
        },
    )
    .ok()?;
    let entry = dir.symlink_entry(ctx, &name).ok()??;
    let mut out = Map::new();
    out.insert(name.into(), Dynamic::from(entry));
    Some(out)
}

fn ls(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("ls", flags)?;
    // Only a path whose resolution involved a symlink (or failed) is probed as a link, so a
    // plain directory costs no extra check.
    let dir = match open_dir(ctx, path, true) {
        Ok(d) => d,
        Err(e) => return ls_link(ctx, path).ok_or(e),
    };
    if rex_auth::ResourcePath::new(path).ok().as_ref() != Some(dir.path())
        && let Some(m) = ls_link(ctx, path)
    {
        return Ok(m);
    }
    let all = flags.has("all");
    let mut out = Map::new();
    if flags.has("long") {
        // REX ignored `long`; here each entry carries its metadata (`stat` per entry).
        let entries = commands::ls(
            ctx,
            path,
            commands::LsOptions {
                all,
                long: true,
                recursive: flags.has("recursive"),
            },
        )
        .map_err(to_script_error)?;
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
        return Ok(out);
    }
    if flags.has("recursive") {
        let found = dir
            .find(
                ctx,
                &FindOptions {
                    ..Default::default()
                },
            )
            .map_err(to_script_error)?;
        for e in found {
            let relative = e.path.get(dir.path().as_str().len()..).unwrap_or_default();
            if !all && relative.split('/').any(|c| c.starts_with('.')) {
                continue;
            }
            let mut m = Map::new();
            m.insert("name".into(), e.name.clone().into());
            m.insert("path".into(), e.path.clone().into());
            m.insert("type".into(), e.entry_type.name().into());
            out.insert(e.path.into(), m.into());
        }
        return Ok(out);
    }
    let entries = dir.list_entries(ctx).map_err(to_script_error)?;
    for (name, entry) in entries {
        if !all && name.starts_with('.') {
            continue;
        }
        out.insert(name.into(), Dynamic::from(entry));
    }
    Ok(out)
}

fn grep(ctx: &SdkContext, flags: &Array, pattern: &str, path: &str) -> RResult<Array> {
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

fn tail(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Array> {
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
    if mode == commands::TailMode::Last(0) {
        return Ok(Array::new());
    }
    commands::tail(ctx, path, mode)
        .map(to_array)
        .map_err(to_script_error)
}

fn sed(ctx: &SdkContext, flags: &Array, pat: &str, rep: &str, path: &str) -> RResult<String> {
    let flags = Flags::parse("sed", flags)?;
    let opts = commands::SedOptions {
        regex: flags.has("regex"),
        all: flags.has("all"),
        in_place: flags.has("in_place"),
    };
    commands::sed(ctx, pat, rep, path, opts).map_err(to_script_error)
}

fn rm(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<()> {
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

/// `seq(a, b)`: inclusive range with an optional `seq::step(n)`, at most [`MAX_SEQ_LEN`]
/// items.
pub fn seq_values(a: i64, b: i64, step: Option<i64>) -> Result<Vec<i64>, String> {
    let step = step.unwrap_or(if b >= a { 1 } else { -1 });
    if step == 0 {
        return Err("seq::step must not be 0".into());
    }
    let (a128, b128, s128) = (i128::from(a), i128::from(b), i128::from(step));
    if (b128 - a128).signum() * s128.signum() < 0 {
        return Ok(Vec::new());
    }
    let len = (b128 - a128) / s128 + 1;
    if len > i128::from(MAX_SEQ_LEN) {
        return Err(format!(
            "seq would produce {len} values, more than the limit of {MAX_SEQ_LEN}"
        ));
    }
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(len);
    let mut v = a128;
    for _ in 0..len {
        out.push(i64::try_from(v).map_err(|e| e.to_string())?);
        v += s128;
    }
    Ok(out)
}

fn seq(flags: &Array, a: i64, b: i64) -> RResult<Array> {
    let flags = Flags::parse("seq", flags)?;
    let values = seq_values(a, b, flags.get("step").map(|f| f.value)).map_err(invalid_args)?;
    Ok(to_array(values))
}

fn find_files(ctx: &SdkContext, flags: &Array, glob: &str, dir: &str) -> RResult<Array> {
    let flags = Flags::parse("glob", flags)?;
    commands::find_files(ctx, glob, dir, flags.has("recursive"))
        .map(to_array)
        .map_err(to_script_error)
}

fn fields<'a>(line: &'a str, delim: &str) -> Vec<&'a str> {
    if delim.is_empty() || delim == " " {
        line.split_whitespace().collect()
    } else {
        line.split(delim).collect()
    }
}

fn field<'a>(line: &'a str, n: i64, delim: &str) -> Option<&'a str> {
    let idx = usize::try_from(n).ok()?.checked_sub(1)?;
    fields(line, delim).get(idx).copied()
}

fn awk_field(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Array> {
    if n < 1 {
        return Err(invalid_args("field numbers start at 1"));
    }
    let text = read_text(ctx, path)?;
    Ok(to_array(
        text.lines()
            .filter_map(|l| field(l, n, delim))
            .map(str::to_string),
    ))
}

fn awk_filter(ctx: &SdkContext, substr: &str, path: &str) -> RResult<Array> {
    let text = read_text(ctx, path)?;
    Ok(to_array(
        text.lines()
            .filter(|l| l.contains(substr))
            .map(str::to_string),
    ))
}

fn awk_filter_field(
    ctx: &SdkContext,
    n: i64,
    delim: &str,
    substr: &str,
    path: &str,
) -> RResult<Array> {
    if n < 1 {
        return Err(invalid_args("field numbers start at 1"));
    }
    let text = read_text(ctx, path)?;
    Ok(to_array(
        text.lines()
            .filter(|l| field(l, n, delim).is_some_and(|f| f.contains(substr)))
            .map(str::to_string),
    ))
}

fn awk_sum(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<f64> {
    if n < 1 {
        return Err(invalid_args("field numbers start at 1"));
    }
    let text = read_text(ctx, path)?;
    Ok(text
        .lines()
        .filter_map(|l| field(l, n, delim))
        .filter_map(|f| f.trim().parse::<f64>().ok())
        .sum())
}

fn awk_count_unique(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Map> {
    if n < 1 {
        return Err(invalid_args("field numbers start at 1"));
    }
    let text = read_text(ctx, path)?;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for f in text.lines().filter_map(|l| field(l, n, delim)) {
        let c = counts.entry(f.to_string()).or_insert(0);
        *c = c.saturating_add(1);
    }
    Ok(counts
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect())
}

fn awk_filter_range(ctx: &SdkContext, start: i64, end: i64, path: &str) -> RResult<Array> {
    if start < 1 || end < start {
        return Err(invalid_args("awk_filter_range needs 1 <= start <= end"));
    }
    let lines = open_file(ctx, path, OpenFileOptions::read())?
        .read_lines(
            ctx,
            Some(start),
            Some(end.saturating_sub(start).saturating_add(1)),
        )
        .map_err(to_script_error)?;
    Ok(to_array(lines))
}

fn wc(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("wc", flags)?;
    let counts = open_file(ctx, path, OpenFileOptions::read())?
        .counts(ctx)
        .map_err(to_script_error)?;
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

fn cp(ctx: &SdkContext, flags: &Array, src: &str, dst: &str) -> RResult<()> {
    let flags = Flags::parse("cp", flags)?;
    let opts = CopyFileOptions {
        force: flags.has("force"),
        preserve: flags.has("preserve"),
    };
    commands::cp(ctx, src, dst, opts).map_err(to_script_error)
}

fn mv(ctx: &SdkContext, flags: &Array, src: &str, dst: &str) -> RResult<()> {
    let _flags = Flags::parse("mv", flags)?;
    commands::mv(ctx, src, dst).map_err(to_script_error)
}

fn mkdir(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<()> {
    let flags = Flags::parse("mkdir", flags)?;
    commands::mkdir(ctx, path, flags.has("parents")).map_err(to_script_error)
}

fn du(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
    let flags = Flags::parse("du", flags)?;
    let dir = open_dir(ctx, path, false)?;
    let max_depth = match flags.get("max_depth") {
        Some(f) => {
            Some(usize::try_from(f.value).map_err(|_| invalid_args("du::max_depth must be >= 0"))?)
        }
        None => None,
    };
    let result = dir
        .disk_usage(
            ctx,
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

fn touch(ctx: &SdkContext, path: &str) -> RResult<()> {
    commands::touch(ctx, path).map_err(to_script_error)
}

fn write(ctx: &SdkContext, flags: &Array, path: &str, text: &str) -> RResult<()> {
    let flags = Flags::parse("write", flags)?;
    let replace = flags
        .0
        .iter()
        .rev()
        .find(|f| f.name == "replace" || f.name == "append")
        .is_some_and(|f| f.name == "replace");
    commands::write(ctx, path, text, replace).map_err(to_script_error)
}

fn entry_type_name(t: EntryType) -> String {
    t.name().to_string()
}

fn register_dir_entry(engine: &mut Engine) {
    engine.register_type_with_name::<DirEntry>("DirEntry");
    engine.register_get("name", |e: &mut DirEntry| e.name.clone());
    engine.register_get("inode", |e: &mut DirEntry| int(e.inode));
    engine.register_fn("type", |e: &mut DirEntry| entry_type_name(e.entry_type));
    engine.register_fn("to_map", |e: &mut DirEntry| {
        let mut m = Map::new();
        m.insert("name".into(), e.name.clone().into());
        m.insert("inode".into(), int(e.inode).into());
        m.insert("type".into(), entry_type_name(e.entry_type).into());
        m
    });
    engine.register_fn("to_string", |e: &mut DirEntry| e.name.clone());
    engine.register_fn("to_debug", |e: &mut DirEntry| {
        format!("DirEntry({}, {})", e.name, e.entry_type.name())
    });
    let mut types = Module::new();
    for t in [
        EntryType::File,
        EntryType::Dir,
        EntryType::Symlink,
        EntryType::Unknown,
        EntryType::Fifo,
        EntryType::Socket,
        EntryType::CharDevice,
        EntryType::BlockDevice,
    ] {
        types.set_var(t.name(), t.name().to_string());
    }
    engine.register_static_module("EntryType", types.into());
}

/// Registers the io module (commands, flag modules, `DirEntry`, `EntryType`).
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    register_flag_modules(engine);
    register_dir_entry(engine);
    crate::handles::register(engine, sdk);
    crate::exec::register(engine, sdk);
    let none = Array::new;

    macro_rules! reg {
        ($name:literal, |$c:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {{
            let $c = sdk.clone();
            engine.register_fn($name, move |$($arg: $ty),*| $body);
        }};
    }

    reg!("cat", |c, path: &str| cat(&c, &none(), path));
    reg!("cat", |c, flags: Array, path: &str| cat(&c, &flags, path));
    reg!("ls", |c, path: &str| ls(&c, &none(), path));
    reg!("ls", |c, flags: Array, path: &str| ls(&c, &flags, path));
    reg!("grep", |c, pat: &str, path: &str| grep(
        &c,
        &none(),
        pat,
        path
    ));
    reg!("grep", |c, flags: Array, pat: &str, path: &str| grep(
        &c, &flags, pat, path
    ));
    reg!("tail", |c, path: &str| tail(&c, &none(), path));
    reg!("tail", |c, flags: Array, path: &str| tail(&c, &flags, path));
    reg!("sed", |c, pat: &str, rep: &str, path: &str| sed(
        &c,
        &none(),
        pat,
        rep,
        path
    ));
    reg!("sed", |c,
                 flags: Array,
                 pat: &str,
                 rep: &str,
                 path: &str| sed(
        &c, &flags, pat, rep, path
    ));
    reg!("rm", |c, path: &str| rm(&c, &none(), path));
    reg!("rm", |c, flags: Array, path: &str| rm(&c, &flags, path));
    engine.register_fn("seq", move |a: i64, b: i64| seq(&none(), a, b));
    engine.register_fn("seq", move |flags: Array, a: i64, b: i64| seq(&flags, a, b));
    reg!("find_files", |c, glob: &str, dir: &str| find_files(
        &c,
        &none(),
        glob,
        dir
    ));
    reg!("find_files", |c, flags: Array, glob: &str, dir: &str| {
        find_files(&c, &flags, glob, dir)
    });
    engine.register_fn("awk_split", |text: &str, delim: &str| {
        to_array(fields(text, delim).into_iter().map(str::to_string))
    });
    reg!("awk_field", |c, n: i64, delim: &str, path: &str| awk_field(
        &c, n, delim, path
    ));
    reg!("awk_filter", |c, substr: &str, path: &str| awk_filter(
        &c, substr, path
    ));
    reg!(
        "awk_filter_field",
        |c, n: i64, delim: &str, substr: &str, path: &str| {
            awk_filter_field(&c, n, delim, substr, path)
        }
    );
    reg!("awk_sum", |c, n: i64, delim: &str, path: &str| awk_sum(
        &c, n, delim, path
    ));
    reg!("awk_count_unique", |c, n: i64, delim: &str, path: &str| {
        awk_count_unique(&c, n, delim, path)
    });
    reg!("awk_filter_range", |c, start: i64, end: i64, path: &str| {
        awk_filter_range(&c, start, end, path)
    });
    reg!("wc", |c, path: &str| wc(&c, &none(), path));
    reg!("wc", |c, flags: Array, path: &str| wc(&c, &flags, path));
    reg!("cp", |c, src: &str, dst: &str| cp(&c, &none(), src, dst));
    reg!("cp", |c, flags: Array, src: &str, dst: &str| cp(
        &c, &flags, src, dst
    ));
    reg!("mv", |c, src: &str, dst: &str| mv(&c, &none(), src, dst));
    reg!("mv", |c, flags: Array, src: &str, dst: &str| mv(
        &c, &flags, src, dst
    ));
    reg!("mkdir", |c, path: &str| mkdir(&c, &none(), path));
    reg!("mkdir", |c, flags: Array, path: &str| mkdir(
        &c, &flags, path
    ));
    reg!("du", |c, path: &str| du(&c, &none(), path));
    reg!("du", |c, flags: Array, path: &str| du(&c, &flags, path));
    reg!("touch", |c, path: &str| touch(&c, path));
    reg!("write", |c, path: &str, text: &str| write(
        &c,
        &none(),
        path,
        text
    ));
    reg!("write", |c, flags: Array, path: &str, text: &str| write(
        &c, &flags, path, text
    ));
}

/// Converts an [`FsError`] (kept for vendor modules that reuse the io error mapping).
pub fn fs_error(e: FsError) -> Box<EvalAltResult> {
    to_script_error(e)
}

const FILE_READ: &[&str] = &["file_system::open", "file_system::read"];

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[
    FunctionInfo::new(
        "cat",
        "cat([flags], path: String) -> String",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "ls",
        "ls([flags], path: String) -> Map<String, DirEntry>",
        &["file_system::open", "file_system::read"],
        "io",
    ),
    FunctionInfo::new(
        "grep",
        "grep([flags], pattern: String, path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "tail",
        "tail([flags], path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "sed",
        "sed([flags], pattern: String, replacement: String, path: String) -> String",
        &[
            "file_system::open",
            "file_system::read",
            "file_system::write",
        ],
        "io",
    ),
    FunctionInfo::new(
        "rm",
        "rm([flags], path: String)",
        &["file_system::open", "file_system::delete"],
        "io",
    ),
    FunctionInfo::new("seq", "seq([flags], a: int, b: int) -> Array", &[], "io"),
    FunctionInfo::new(
        "find_files",
        "find_files([flags], glob: String, dir: String) -> Array",
        &["file_system::open", "file_system::read"],
        "io",
    ),
    FunctionInfo::new(
        "awk_split",
        "awk_split(text: String, delim: String) -> Array",
        &[],
        "io",
    ),
    FunctionInfo::new(
        "awk_field",
        "awk_field(n: int, delim: String, path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "awk_filter",
        "awk_filter(substr: String, path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "awk_filter_field",
        "awk_filter_field(n: int, delim: String, substr: String, path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "awk_sum",
        "awk_sum(n: int, delim: String, path: String) -> float",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "awk_count_unique",
        "awk_count_unique(n: int, delim: String, path: String) -> Map",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new(
        "awk_filter_range",
        "awk_filter_range(start: int, end: int, path: String) -> Array",
        FILE_READ,
        "io",
    ),
    FunctionInfo::new("wc", "wc([flags], path: String) -> Map", FILE_READ, "io"),
    FunctionInfo::new(
        "cp",
        "cp([flags], src: String, dst: String)",
        &[
            "file_system::open",
            "file_system::create",
            "file_system::read",
            "file_system::write",
        ],
        "io",
    ),
    FunctionInfo::new(
        "mv",
        "mv([flags], src: String, dst: String)",
        &[
            "file_system::open",
            "file_system::move",
            "file_system::create",
        ],
        "io",
    ),
    FunctionInfo::new(
        "mkdir",
        "mkdir([flags], path: String)",
        &["file_system::open", "file_system::create"],
        "io",
    ),
    FunctionInfo::new(
        "du",
        "du([flags], path: String) -> Map",
        &[
            "file_system::open",
            "file_system::read",
            "file_system::stat",
        ],
        "io",
    ),
    FunctionInfo::new(
        "touch",
        "touch(path: String)",
        &[
            "file_system::open",
            "file_system::create",
            "file_system::write",
        ],
        "io",
    ),
    FunctionInfo::new(
        "write",
        "write([flags], path: String, text: String)",
        &[
            "file_system::open",
            "file_system::create",
            "file_system::write",
        ],
        "io",
    ),
];
