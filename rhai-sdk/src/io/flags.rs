//! Command flags: the `CommandFlag` value, the flag modules (`cat::number`, `tail::n(5)`,
//! ...) and the parsing of a command's flag array.

use rhai::{Array, Module};

use crate::binding::{Binding, NO_HOST};
use crate::error::{IO_SOURCE, script_err};

use super::RResult;

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
pub(super) fn register_flag_modules(b: &mut Binding<'_>) {
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
        // Constants and by-value functions, reached only as `module_name::...`.
        if !crate::binding::namespace_reachable(module_name) {
            continue;
        }
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
        b.static_module(module_name, module.into());
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

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&CommandFlag> {
        self.0.iter().rev().find(|f| f.name == name)
    }
}
