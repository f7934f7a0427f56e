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

mod cmd;
mod flags;

use rhai::{Array, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::fs::{DirEntry, EntryType, FsError};

use crate::binding::{Binding, NO_HOST};
use crate::error::to_script_error;
use cmd::*;
use rex_auth::Action;

pub use flags::CommandFlag;
pub(crate) use flags::{Flags, flag};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The longest array `seq` produces.
pub const MAX_SEQ_LEN: i64 = 1_000_000;

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
        "The entry type (`EntryType::*`).",
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
    flags::register_flag_modules(b);
    register_dir_entry(b);
    crate::handles::register(b, sdk);
    crate::exec::register(b, sdk);
    let none = Array::new;

    crate::declare!(b, "cat", &[Action::FsOpen, Action::FsRead], "Reads a file as text (`cat::number` numbers the lines).", sdk => |c, path: &str| cat(&c, &none(), path));
    crate::declare!(b, "cat", &[Action::FsOpen, Action::FsRead], "Reads a file as text (`cat::number` numbers the lines).", sdk => |c, flags: Array, path: &str| cat(&c, &flags, path));
    crate::declare!(b, "ls", &[Action::FsOpen, Action::FsRead], "Lists a directory: entries by name (`ls::all`, `ls::long`, `ls::recursive`).", sdk => |c, path: &str| ls(&c, &none(), path));
    crate::declare!(b, "ls", &[Action::FsOpen, Action::FsRead], "Lists a directory: entries by name (`ls::all`, `ls::long`, `ls::recursive`).", sdk => |c, flags: Array, path: &str| ls(&c, &flags, path));
    crate::declare!(b, "grep", &[Action::FsOpen, Action::FsRead], "Lines of a file matching a regex (`grep::ignore_case`, `count`, `invert`, ...).", sdk => |c, pat: &str, path: &str| grep(
        &c,
        &none(),
        pat,
        path
    ));
    crate::declare!(b, "grep", &[Action::FsOpen, Action::FsRead], "Lines of a file matching a regex (`grep::ignore_case`, `count`, `invert`, ...).", sdk => |c, flags: Array, pat: &str, path: &str| grep(
        &c, &flags, pat, path
    ));
    crate::declare!(b, "tail", &[Action::FsOpen, Action::FsRead], "The last lines of a file (`tail::n(k)`, `tail::from(l)`, `tail::range(a, b)`).", sdk => |c, path: &str| tail(&c, &none(), path));
    crate::declare!(b, "tail", &[Action::FsOpen, Action::FsRead], "The last lines of a file (`tail::n(k)`, `tail::from(l)`, `tail::range(a, b)`).", sdk => |c, flags: Array, path: &str| tail(&c, &flags, path));
    crate::declare!(b, "sed", &[Action::FsOpen, Action::FsRead, Action::FsWrite], "Replaces text in a file and returns the new content (`sed::in_place` writes it).", sdk => |c, pat: &str, rep: &str, path: &str| sed(
        &c,
        &none(),
        pat,
        rep,
        path
    ));
    crate::declare!(b, "sed", &[Action::FsOpen, Action::FsRead, Action::FsWrite], "Replaces text in a file and returns the new content (`sed::in_place` writes it).", sdk => |c, flags: Array, pat: &str, rep: &str, path: &str| sed(
        &c, &flags, pat, rep, path
    ));
    crate::declare!(b, "rm", &[Action::FsOpen, Action::FsDelete], "Removes a file or directory (`rm::recursive`, `rm::force`); never follows a symlink.", sdk => |c, path: &str| rm(&c, &none(), path));
    crate::declare!(b, "rm", &[Action::FsOpen, Action::FsDelete], "Removes a file or directory (`rm::recursive`, `rm::force`); never follows a symlink.", sdk => |c, flags: Array, path: &str| rm(&c, &flags, path));
    crate::declare!(
        b,
        "seq",
        NO_HOST,
        "The integers from a to b inclusive (`seq::step(n)`), bounded length.",
        |a: i64, b: i64| seq(&none(), a, b)
    );
    crate::declare!(
        b,
        "seq",
        NO_HOST,
        "The integers from a to b inclusive (`seq::step(n)`), bounded length.",
        |flags: Array, a: i64, b: i64| seq(&flags, a, b)
    );
    crate::declare!(b, "find_files", &[Action::FsOpen, Action::FsRead], "Full paths of the entries whose name matches a glob (`glob::recursive`).", sdk => |c, glob: &str, dir: &str| find_files(
        &c,
        &none(),
        glob,
        dir
    ));
    crate::declare!(b, "find_files", &[Action::FsOpen, Action::FsRead], "Full paths of the entries whose name matches a glob (`glob::recursive`).", sdk => |c, flags: Array, glob: &str, dir: &str| {
        find_files(&c, &flags, glob, dir)
    });
    crate::declare!(
        b,
        "awk_split",
        NO_HOST,
        "Splits text into fields (whitespace when the delimiter is empty or a space).",
        |text: &str, delim: &str| to_array(rust_sdk::fs::commands::awk_split(text, delim))
    );
    crate::declare!(b, "awk_field", &[Action::FsOpen, Action::FsRead], "Field n of every line of a file.", sdk => |c, n: i64, delim: &str, path: &str| awk_field(
        &c, n, delim, path
    ));
    crate::declare!(b, "awk_filter", &[Action::FsOpen, Action::FsRead], "The lines of a file containing a substring.", sdk => |c, substr: &str, path: &str| awk_filter(
        &c, substr, path
    ));
    crate::declare!(b, "awk_filter_field", &[Action::FsOpen, Action::FsRead], "The lines of a file whose field n contains a substring.", sdk => |c, n: i64, delim: &str, substr: &str, path: &str| {
        awk_filter_field(&c, n, delim, substr, path)
    });
    crate::declare!(b, "awk_sum", &[Action::FsOpen, Action::FsRead], "The sum of field n over the lines of a file.", sdk => |c, n: i64, delim: &str, path: &str| awk_sum(
        &c, n, delim, path
    ));
    crate::declare!(b, "awk_count_unique", &[Action::FsOpen, Action::FsRead], "How often each value of field n occurs in a file.", sdk => |c, n: i64, delim: &str, path: &str| {
        awk_count_unique(&c, n, delim, path)
    });
    crate::declare!(b, "awk_filter_range", &[Action::FsOpen, Action::FsRead], "Lines start..=end (1-based) of a file.", sdk => |c, start: i64, end: i64, path: &str| {
        awk_filter_range(&c, start, end, path)
    });
    crate::declare!(b, "wc", &[Action::FsOpen, Action::FsRead], "Line, word and byte counts of a file (`wc::lines`, `words`, `bytes`).", sdk => |c, path: &str| wc(&c, &none(), path));
    crate::declare!(b, "wc", &[Action::FsOpen, Action::FsRead], "Line, word and byte counts of a file (`wc::lines`, `words`, `bytes`).", sdk => |c, flags: Array, path: &str| wc(&c, &flags, path));
    crate::declare!(b, "cp", &[Action::FsOpen, Action::FsCreate, Action::FsRead, Action::FsWrite], "Copies a file (`cp::force`, `cp::preserve`).", sdk => |c, src: &str, dst: &str| cp(&c, &none(), src, dst));
    crate::declare!(b, "cp", &[Action::FsOpen, Action::FsCreate, Action::FsRead, Action::FsWrite], "Copies a file (`cp::force`, `cp::preserve`).", sdk => |c, flags: Array, src: &str, dst: &str| cp(
        &c, &flags, src, dst
    ));
    crate::declare!(b, "mv", &[Action::FsOpen, Action::FsMove, Action::FsCreate], "Moves a file or directory.", sdk => |c, src: &str, dst: &str| mv(&c, &none(), src, dst));
    crate::declare!(b, "mv", &[Action::FsOpen, Action::FsMove, Action::FsCreate], "Moves a file or directory.", sdk => |c, flags: Array, src: &str, dst: &str| mv(
        &c, &flags, src, dst
    ));
    crate::declare!(b, "mkdir", &[Action::FsOpen, Action::FsCreate], "Creates a directory (`mkdir::parents`).", sdk => |c, path: &str| mkdir(&c, &none(), path));
    crate::declare!(b, "mkdir", &[Action::FsOpen, Action::FsCreate], "Creates a directory (`mkdir::parents`).", sdk => |c, flags: Array, path: &str| mkdir(
        &c, &flags, path
    ));
    crate::declare!(b, "du", &[Action::FsOpen, Action::FsRead, Action::FsStat], "Disk usage below a directory (`du::summarize`, `du::max_depth(n)`, ...).", sdk => |c, path: &str| du(&c, &none(), path));
    crate::declare!(b, "du", &[Action::FsOpen, Action::FsRead, Action::FsStat], "Disk usage below a directory (`du::summarize`, `du::max_depth(n)`, ...).", sdk => |c, flags: Array, path: &str| du(&c, &flags, path));
    crate::declare!(b, "touch", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "Creates a file or updates its modification time.", sdk => |c, path: &str| touch(&c, path));
    crate::declare!(b, "write", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "Appends text to a file, or replaces it atomically (`write::replace`).", sdk => |c, path: &str, text: &str| write(
        &c,
        &none(),
        path,
        text
    ));
    crate::declare!(b, "write", &[Action::FsOpen, Action::FsCreate, Action::FsWrite], "Appends text to a file, or replaces it atomically (`write::replace`).", sdk => |c, flags: Array, path: &str, text: &str| write(
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
