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
use rust_sdk::fs::listing::{Listing, listing};
use rust_sdk::fs::{
    CopyFileOptions, DirEntry, DirHandle, DiskUsageOptions, EntryType, FileHandle, FindOptions,
    FsError, OpenDirOptions, OpenFileOptions,
};

use crate::binding::{Binding, NO_HOST};
use crate::error::{IO_SOURCE, script_err, to_script_error};
use rex_auth::Action;

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
fn register_flag_modules(b: &mut Binding<'_>) {
    b.custom_type::<CommandFlag>();
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |f: &mut CommandFlag| f.to_string()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |f: &mut CommandFlag| format!("{f:?}")
    );
    crate::declare!(
        b,
        "==",
        NO_HOST,
        "Equality.",
        |a: CommandFlag, b: CommandFlag| a == b
    );
    crate::declare!(
        b,
        "!=",
        NO_HOST,
        "Inequality.",
        |a: CommandFlag, b: CommandFlag| a != b
    );

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
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "n",
                    NO_HOST,
                    "The `n` flag.",
                    |k: i64| flag("tail", "n", k, 0)
                );
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "from",
                    NO_HOST,
                    "The `from` flag.",
                    |line: i64| flag("tail", "from", line, 0)
                );
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "range",
                    NO_HOST,
                    "The `range` flag.",
                    |a: i64, b: i64| flag("tail", "range", a, b)
                );
            }
            "grep" => {
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "max_count",
                    NO_HOST,
                    "The `max_count` flag.",
                    |n: i64| flag("grep", "max_count", n, 0)
                );
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "m",
                    NO_HOST,
                    "The `m` flag.",
                    |n: i64| flag("grep", "max_count", n, 0)
                );
            }
            "seq" => {
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "step",
                    NO_HOST,
                    "The `step` flag.",
                    |n: i64| flag("seq", "step", n, 0)
                );
            }
            "du" => {
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "max_depth",
                    NO_HOST,
                    "The `max_depth` flag.",
                    |n: i64| flag("du", "max_depth", n, 0)
                );
                crate::declare!(
                    Binding::into_module(&mut module, "io"),
                    "d",
                    NO_HOST,
                    "The `d` flag.",
                    |n: i64| flag("du", "max_depth", n, 0)
                );
            }
            _ => {}
        }
        b.static_module(*module_name, module.into());
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

fn ls(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
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
            for (name, entry) in entries {
                out.insert(name.into(), Dynamic::from(entry));
            }
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

/// The error of a command whose arguments are wrong: the SDK's message as is.
fn command_error(e: FsError) -> Box<EvalAltResult> {
    match e {
        FsError::InvalidArguments(m) => invalid_args(m),
        e => to_script_error(e),
    }
}

/// The 1-based field number of the `awk_*` commands.
fn field_number(n: i64) -> RResult<usize> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| invalid_args("field numbers start at 1"))
}

/// `seq(a, b)`: inclusive range with an optional `seq::step(n)`, at most [`MAX_SEQ_LEN`]
/// items.
fn seq(flags: &Array, a: i64, b: i64) -> RResult<Array> {
    let flags = Flags::parse("seq", flags)?;
    let step = flags
        .get("step")
        .map_or(if b >= a { 1 } else { -1 }, |f| f.value);
    let max = usize::try_from(MAX_SEQ_LEN).unwrap_or(usize::MAX);
    commands::seq(a, b, step, max)
        .map(to_array)
        .map_err(command_error)
}

fn find_files(ctx: &SdkContext, flags: &Array, glob: &str, dir: &str) -> RResult<Array> {
    let flags = Flags::parse("glob", flags)?;
    commands::find_files(ctx, glob, dir, flags.has("recursive"))
        .map(to_array)
        .map_err(to_script_error)
}

fn awk_field(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Array> {
    commands::awk_field(ctx, field_number(n)?, delim, path)
        .map(to_array)
        .map_err(to_script_error)
}

fn awk_filter(ctx: &SdkContext, substr: &str, path: &str) -> RResult<Array> {
    commands::awk_filter(ctx, substr, path)
        .map(to_array)
        .map_err(to_script_error)
}

fn awk_filter_field(
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

fn awk_sum(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<f64> {
    commands::awk_sum(ctx, field_number(n)?, delim, path).map_err(to_script_error)
}

fn awk_count_unique(ctx: &SdkContext, n: i64, delim: &str, path: &str) -> RResult<Map> {
    let counts =
        commands::awk_count_unique(ctx, field_number(n)?, delim, path).map_err(to_script_error)?;
    Ok(counts
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(int(v))))
        .collect())
}

fn awk_filter_range(ctx: &SdkContext, start: i64, end: i64, path: &str) -> RResult<Array> {
    commands::awk_filter_range(ctx, start, end, path)
        .map(to_array)
        .map_err(command_error)
}

fn wc(ctx: &SdkContext, flags: &Array, path: &str) -> RResult<Map> {
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

fn register_dir_entry(b: &mut Binding<'_>) {
    b.custom_type::<DirEntry>();
    b.getter(
        "name",
        NO_HOST,
        "The `name` property.",
        |e: &mut DirEntry| e.name.clone(),
    );
    b.getter(
        "inode",
        NO_HOST,
        "The `inode` property.",
        |e: &mut DirEntry| int(e.inode),
    );
    crate::declare!(
        b,
        "type",
        NO_HOST,
        "`DirEntry.type`.",
        |e: &mut DirEntry| entry_type_name(e.entry_type)
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |e: &mut DirEntry| {
            let mut m = Map::new();
            m.insert("name".into(), e.name.clone().into());
            m.insert("inode".into(), int(e.inode).into());
            m.insert("type".into(), entry_type_name(e.entry_type).into());
            m
        }
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |e: &mut DirEntry| e.name.clone()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |e: &mut DirEntry| { format!("DirEntry({}, {})", e.name, e.entry_type.name()) }
    );
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
    b.static_module("EntryType", types.into());
}

/// Registers the io module (commands, flag modules, `DirEntry`, `EntryType`).
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut b = Binding::new(engine, "io");
    let b = &mut b;
    register_flag_modules(b);
    register_dir_entry(b);
    crate::handles::register(b, sdk);
    crate::exec::register(b, sdk);
    let none = Array::new;

    crate::declare!(b, "cat", &[Action::FsOpen, Action::FsRead], "`cat`.", sdk => |c, path: &str| cat(&c, &none(), path));
    crate::declare!(b, "cat", &[Action::FsOpen, Action::FsRead], "`cat`.", sdk => |c, flags: Array, path: &str| cat(&c, &flags, path));
    crate::declare!(b, "ls", &[Action::FsOpen, Action::FsRead], "`ls`.", sdk => |c, path: &str| ls(&c, &none(), path));
    crate::declare!(b, "ls", &[Action::FsOpen, Action::FsRead], "`ls`.", sdk => |c, flags: Array, path: &str| ls(&c, &flags, path));
    crate::declare!(b, "grep", &[Action::FsOpen, Action::FsRead], "`grep`.", sdk => |c, pat: &str, path: &str| grep(
        &c,
        &none(),
        pat,
        path
    ));
    crate::declare!(b, "grep", &[Action::FsOpen, Action::FsRead], "`grep`.", sdk => |c, flags: Array, pat: &str, path: &str| grep(
        &c, &flags, pat, path
    ));
    crate::declare!(b, "tail", &[Action::FsOpen, Action::FsRead], "`tail`.", sdk => |c, path: &str| tail(&c, &none(), path));
    crate::declare!(b, "tail", &[Action::FsOpen, Action::FsRead], "`tail`.", sdk => |c, flags: Array, path: &str| tail(&c, &flags, path));
    crate::declare!(b, "sed", &[Action::FsOpen, Action::FsRead, Action::FsWrite], "`sed`.", sdk => |c, pat: &str, rep: &str, path: &str| sed(
        &c,
        &none(),
        pat,
        rep,
        path
    ));
    crate::declare!(b, "sed", &[Action::FsOpen, Action::FsRead, Action::FsWrite], "`sed`.", sdk => |c, flags: Array, pat: &str, rep: &str, path: &str| sed(
        &c, &flags, pat, rep, path
    ));
    crate::declare!(b, "rm", &[Action::FsOpen, Action::FsDelete], "`rm`.", sdk => |c, path: &str| rm(&c, &none(), path));
    crate::declare!(b, "rm", &[Action::FsOpen, Action::FsDelete], "`rm`.", sdk => |c, flags: Array, path: &str| rm(&c, &flags, path));
    crate::declare!(b, "seq", NO_HOST, "`seq`.", |a: i64, b: i64| seq(
        &none(),
        a,
        b
    ));
    crate::declare!(
        b,
        "seq",
        NO_HOST,
        "`seq`.",
        |flags: Array, a: i64, b: i64| seq(&flags, a, b)
    );
    crate::declare!(b, "find_files", &[Action::FsOpen, Action::FsRead], "`find_files`.", sdk => |c, glob: &str, dir: &str| find_files(
        &c,
        &none(),
        glob,
        dir
    ));
    crate::declare!(b, "find_files", &[Action::FsOpen, Action::FsRead], "`find_files`.", sdk => |c, flags: Array, glob: &str, dir: &str| {
        find_files(&c, &flags, glob, dir)
    });
    crate::declare!(
        b,
        "awk_split",
        NO_HOST,
        "`awk_split`.",
        |text: &str, delim: &str| to_array(commands::awk_split(text, delim))
    );
    crate::declare!(b, "awk_field", &[Action::FsOpen, Action::FsRead], "`awk_field`.", sdk => |c, n: i64, delim: &str, path: &str| awk_field(
        &c, n, delim, path
    ));
    crate::declare!(b, "awk_filter", &[Action::FsOpen, Action::FsRead], "`awk_filter`.", sdk => |c, substr: &str, path: &str| awk_filter(
        &c, substr, path
    ));
    crate::declare!(b, "awk_filter_field", &[Action::FsOpen, Action::FsRead], "`awk_filter_field`.", sdk => |c, n: i64, delim: &str, substr: &str, path: &str| {
        awk_filter_field(&c, n, delim, substr, path)
    });
    crate::declare!(b, "awk_sum", &[Action::FsOpen, Action::FsRead], "`awk_sum`.", sdk => |c, n: i64, delim: &str, path: &str| awk_sum(
        &c, n, delim, path
    ));
    crate::declare!(b, "awk_count_unique", &[Action::FsOpen, Action::FsRead], "`awk_count_unique`.", sdk => |c, n: i64, delim: &str, path: &str| {
        awk_count_unique(&c, n, delim, path)
    });
    crate::declare!(b, "awk_filter_range", &[Action::FsOpen, Action::FsRead], "`awk_filter_range`.", sdk => |c, start: i64, end: i64, path: &str| {
        awk_filter_range(&c, start, end, path)
    });
    crate::declare!(b, "wc", &[Action::FsOpen, Action::FsRead], "`wc`.", sdk => |c, path: &str| wc(&c, &none(), path));
    crate::declare!(b, "wc", &[Action::FsOpen, Action::FsRead], "`wc`.", sdk => |c, flags: Array, path: &str| wc(&c, &flags, path));
    crate::declare!(b, "cp", &[Action::FsOpen, Action::FsCreate, Action::FsRead, Action::FsWrite], "`cp`.", sdk => |c, src: &str, dst: &str| cp(&c, &none(), src, dst));
    crate::declare!(b, "cp", &[Action::FsOpen, Action::FsCreate, Action::FsRead, Action::FsWrite], "`cp`.", sdk => |c, flags: Array, src: &str, dst: &str| cp(
        &c, &flags, src, dst
    ));
    crate::declare!(b, "mv", &[Action::FsOpen, Action::FsMove, Action::FsCreate], "`mv`.", sdk => |c, src: &str, dst: &str| mv(&c, &none(), src, dst));
    crate::declare!(b, "mv", &[Action::FsOpen, Action::FsMove, Action::FsCreate], "`mv`.", sdk => |c, flags: Array, src: &str, dst: &str| mv(
        &c, &flags, src, dst
    ));
    crate::declare!(b, "mkdir", &[Action::FsOpen, Action::FsCreate], "`mkdir`.", sdk => |c, path: &str| mkdir(&c, &none(), path));
    crate::declare!(b, "mkdir", &[Action::FsOpen, Action::FsCreate], "`mkdir`.", sdk => |c, flags: Array, path: &str| mkdir(
        &c, &flags, path
    ));
    crate::declare!(b, "du", &[Action::FsOpen, Action::FsRead, Action::FsStat], "`du`.", sdk => |c, path: &str| du(&c, &none(), path));
    crate::declare!(b, "du", &[Action::FsOpen, Action::FsRead, Action::FsStat], "`du`.", sdk => |c, flags: Array, path: &str| du(&c, &flags, path));
    crate::declare!(b, "touch", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "`touch`.", sdk => |c, path: &str| touch(&c, path));
    crate::declare!(b, "write", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "`write`.", sdk => |c, path: &str, text: &str| write(
        &c,
        &none(),
        path,
        text
    ));
    crate::declare!(b, "write", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "`write`.", sdk => |c, flags: Array, path: &str, text: &str| write(
        &c, &flags, path, text
    ));
}

/// Converts an [`FsError`] (kept for vendor modules that reuse the io error mapping).
pub fn fs_error(e: FsError) -> Box<EvalAltResult> {
    to_script_error(e)
}

crate::script_types!(
    CommandFlag => "CommandFlag",
    DirEntry => "DirEntry",
);
