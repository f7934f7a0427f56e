//! Command execution for scripts (REX §2.2): the `ExecuteOptions` and `ChildNamespaceOptions`
//! builders and `FileHandle.execute(ExecuteOptions)`.
//!
//! ```text
//! let dir = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
//! let echo = dir.open_file("echo", OpenFileOptions().read(true).build());
//! let r = echo.execute(ExecuteOptions().args(["-n", ["--opt", "v"], "x"]).env(#{LANG: "C"}).build());
//! r.stdout; r.stderr; r.exit_code;
//! ```
//!
//! Builder setters (REX names): `args(Array)` (each element a string, `[key]` or
//! `[key, value]`), `env(Map)` (string values), `user(String)`, `group(String)`,
//! `capabilities(Array)`, `namespace(ChildNamespaceOptions)`; Rex extras: `timeout(seconds)`
//! and `max_output_bytes(n)`. `build()` validates (empty keys or values, NUL bytes, sizes,
//! capability names). `capabilities(["CAP_NET_BIND_SERVICE"])` gives the child exactly those
//! capabilities (the policy sees them, canonical, in `context.capabilities`);
//! `namespace(ChildNamespaceOptions().target_process(pid).build())` runs the child in the PID
//! namespace of `pid` (the policy sees `context.namespace.target_process_id`). See
//! `rust_sdk::exec` for how both are done.
//!
//! `CoreDump(exe_path, core_path)` opens both files (`open` + `read`); `.backtrace()` and
//! `.get_variables([thread,] frame, [names])` run gdb through the same gated execute
//! (`execute` on `/usr/bin/gdb`), with C identifiers only as variable names.
//!
//! The result is a map `#{stdout, stderr, exit_code}` (REX's `ExecuteResult`) plus `signal`,
//! `stdout_truncated`, `stderr_truncated`, `timed_out` and `pid`. Unlike REX, `exit_code` is
//! `()` when the child was killed by a signal (REX reported a negative number), and `signal`
//! holds the signal number then. Every check is made by rust-sdk (`execute` with the full
//! context, before anything is spawned); a denial is the usual `#{kind, message, source}` error
//! with kind `PermissionDenied`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rhai::{Array, Dynamic, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::exec::{CoreDump, ExecuteOptions, ExecuteResult, TracedProcess};

use crate::binding::{Binding, NO_HOST};
use crate::error::{IO_SOURCE, script_err, to_script_error};
use crate::handles::ScriptFileHandle;
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// A script-side `CoreDump` (REX: `CoreDump(exe_path, core_path)`).
#[derive(Debug, Clone)]
pub struct ScriptCoreDump(Arc<CoreDump>);

/// REX's `ChildNamespaceOptions`: the process whose PID namespace the child should enter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildNamespaceOptions {
    target_process: Option<u32>,
}

fn invalid(msg: impl Into<String>) -> Box<EvalAltResult> {
    script_err(IO_SOURCE, "ValidationError", msg)
}

fn string_of(v: &Dynamic, what: &str) -> RResult<String> {
    v.clone()
        .into_string()
        .map_err(|t| invalid(format!("{what} must be a string, got {t}")))
}

/// Parses REX's argument array: `"x"` or `["x"]` is a flag/positional, `["k", "v"]` a pair.
fn parse_args(args: &Array) -> RResult<Vec<(String, Option<String>)>> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        if a.is_string() {
            out.push((string_of(a, "an argument")?, None));
            continue;
        }
        let Some(parts) = a.read_lock::<Array>() else {
            return Err(invalid(format!(
                "an argument must be a string or an array of one or two strings, got {}",
                a.type_name()
            )));
        };
        match parts.as_slice() {
            [k] => out.push((string_of(k, "an argument")?, None)),
            [k, v] => out.push((
                string_of(k, "an argument key")?,
                Some(string_of(v, "an argument value")?),
            )),
            _ => {
                return Err(invalid(
                    "an argument array must hold one or two strings ([key] or [key, value])",
                ));
            }
        }
    }
    Ok(out)
}

fn parse_env(env: &Map) -> RResult<BTreeMap<String, String>> {
    env.iter()
        .map(|(k, v)| Ok((k.to_string(), string_of(v, &format!("environment `{k}`"))?)))
        .collect()
}

fn build(o: &ExecuteOptions) -> RResult<ExecuteOptions> {
    o.validate().map_err(to_script_error)?;
    Ok(o.clone())
}

/// The target of `ChildNamespaceOptions` (the check of its `build()`).
fn namespace_target(o: &ChildNamespaceOptions) -> RResult<u32> {
    o.target_process
        .ok_or_else(|| invalid("ChildNamespaceOptions needs a target_process"))
}

fn opt_bool(b: bool) -> Dynamic {
    b.into()
}

fn opt_int(v: Option<i32>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |v| i64::from(v).into())
}

/// The script view of an [`ExecuteResult`].
pub fn result_map(r: &ExecuteResult) -> Map {
    let mut m = Map::new();
    m.insert("stdout".into(), r.stdout_text().into());
    m.insert("stderr".into(), r.stderr_text().into());
    m.insert("exit_code".into(), opt_int(r.exit_code));
    m.insert("signal".into(), opt_int(r.signal));
    m.insert("stdout_truncated".into(), opt_bool(r.stdout_truncated));
    m.insert("stderr_truncated".into(), opt_bool(r.stderr_truncated));
    m.insert("timed_out".into(), opt_bool(r.timed_out));
    m.insert("pid".into(), i64::from(r.pid).into());
    m
}

fn opt_str(v: Option<&str>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |v| v.to_string().into())
}

/// The script view of a backtrace: `#{pid, threads: [#{id, tid, frames: [#{frame_number,
/// function_name, instruction_ptr, source, line_number}]}]}` (absent values are `()`).
pub fn traced_map(p: &TracedProcess) -> Map {
    let threads: Array = p
        .threads
        .iter()
        .map(|t| {
            let frames: Array = t
                .frames
                .iter()
                .map(|f| {
                    let mut m = Map::new();
                    m.insert("frame_number".into(), i64::from(f.frame_number).into());
                    m.insert("function_name".into(), f.function_name.clone().into());
                    m.insert(
                        "instruction_ptr".into(),
                        opt_str(f.instruction_ptr.as_deref()),
                    );
                    m.insert("source".into(), opt_str(f.source.as_deref()));
                    m.insert(
                        "line_number".into(),
                        f.line_number.map_or(Dynamic::UNIT, |l| i64::from(l).into()),
                    );
                    Dynamic::from_map(m)
                })
                .collect();
            let mut m = Map::new();
            m.insert("id".into(), i64::from(t.id).into());
            m.insert("tid".into(), i64::from(t.tid).into());
            m.insert("frames".into(), frames.into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("pid".into(), i64::from(p.pid).into());
    m.insert("threads".into(), threads.into());
    m
}

fn get_variables(
    ctx: &SdkContext,
    d: &ScriptCoreDump,
    thread: Option<i64>,
    frame: i64,
    names: &Array,
) -> RResult<Map> {
    let thread = thread
        .map(|t| u32::try_from(t).map_err(|_| invalid(format!("invalid thread {t}"))))
        .transpose()?;
    let frame = u32::try_from(frame).map_err(|_| invalid(format!("invalid frame {frame}")))?;
    let names = names
        .iter()
        .map(|n| string_of(n, "a variable name"))
        .collect::<RResult<Vec<_>>>()?;
    let vars =
        d.0.get_variables(ctx, thread, frame, &names)
            .map_err(to_script_error)?;
    Ok(vars
        .into_iter()
        .map(|(k, v)| (k.into(), v.map_or(Dynamic::UNIT, Dynamic::from)))
        .collect())
}

fn register_core_dump(b: &mut Binding<'_>, sdk: &SdkContext) {
    b.custom_type::<ScriptCoreDump>();
    let c = sdk.clone();
    crate::declare!(
        b,
        "CoreDump",
        &[Action::FsOpen, Action::FsRead, Action::FsExecute],
        "A core dump opened for analysis.",
        |exe: &str, core: &str| {
            CoreDump::open(&c, exe, core)
                .map(|d| ScriptCoreDump(Arc::new(d)))
                .map_err(to_script_error)
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "backtrace",
        &[Action::FsOpen, Action::FsRead, Action::FsExecute],
        "The backtrace of the dump (through the debugger).",
        |d: &mut ScriptCoreDump| {
            d.0.backtrace(&c)
                .map(|p| traced_map(&p))
                .map_err(to_script_error)
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "get_variables",
        &[Action::FsOpen, Action::FsRead, Action::FsExecute],
        "Variables of a frame of the dump.",
        |d: &mut ScriptCoreDump, frame: i64, names: Array| {
            get_variables(&c, d, None, frame, &names)
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "get_variables",
        &[Action::FsOpen, Action::FsRead, Action::FsExecute],
        "Variables of a frame of the dump.",
        |d: &mut ScriptCoreDump, thread: i64, frame: i64, names: Array| {
            get_variables(&c, d, Some(thread), frame, &names)
        }
    );
}

fn register_builders(b: &mut Binding<'_>) {
    b.custom_type::<ExecuteOptions>();
    b.func(
        "ExecuteOptions",
        [],
        NO_HOST,
        "A new `ExecuteOptions` builder with the defaults.",
        ExecuteOptions::default,
    );
    crate::declare!(
        b,
        "args",
        NO_HOST,
        "Sets `args` (returns the updated builder).",
        |o: &mut ExecuteOptions, args: Array| {
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                args: parse_args(&args)?,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "env",
        NO_HOST,
        "Sets `env` (returns the updated builder).",
        |o: &mut ExecuteOptions, env: Map| {
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                env: parse_env(&env)?,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "user",
        NO_HOST,
        "Sets `user` (returns the updated builder).",
        |o: &mut ExecuteOptions, u: &str| ExecuteOptions {
            user: Some(u.to_string()),
            ..o.clone()
        }
    );
    crate::declare!(
        b,
        "group",
        NO_HOST,
        "Sets `group` (returns the updated builder).",
        |o: &mut ExecuteOptions, g: &str| ExecuteOptions {
            group: Some(g.to_string()),
            ..o.clone()
        }
    );
    crate::declare!(
        b,
        "capabilities",
        NO_HOST,
        "Sets `capabilities` (returns the updated builder).",
        |o: &mut ExecuteOptions, caps: Array| {
            let caps = caps
                .iter()
                .map(|c| string_of(c, "a capability"))
                .collect::<RResult<Vec<_>>>()?;
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                capabilities: caps,
                ..o.clone()
            })
        }
    );
    // The namespace's own `build()` check runs here too, so an unbuilt
    // `ChildNamespaceOptions()` cannot silently mean "no namespace".
    crate::declare!(
        b,
        "namespace",
        NO_HOST,
        "Sets `namespace` (returns the updated builder).",
        |o: &mut ExecuteOptions, ns: ChildNamespaceOptions| {
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                namespace_target_pid: Some(namespace_target(&ns)?),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "timeout",
        NO_HOST,
        "Sets `timeout` (returns the updated builder).",
        |o: &mut ExecuteOptions, secs: i64| {
            let secs = u64::try_from(secs)
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| invalid(format!("timeout must be positive seconds, got {secs}")))?;
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                timeout: Duration::from_secs(secs),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "max_output_bytes",
        NO_HOST,
        "Sets `max_output_bytes` (returns the updated builder).",
        |o: &mut ExecuteOptions, n: i64| {
            let n = u64::try_from(n)
                .map_err(|_| invalid(format!("max_output_bytes must be >= 0, got {n}")))?;
            Ok::<_, Box<EvalAltResult>>(ExecuteOptions {
                max_output_bytes: Some(n),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ExecuteOptions| build(o)
    );

    b.custom_type::<ChildNamespaceOptions>();
    b.func(
        "ChildNamespaceOptions",
        [],
        NO_HOST,
        "A new `ChildNamespaceOptions` builder with the defaults.",
        ChildNamespaceOptions::default,
    );
    crate::declare!(
        b,
        "target_process",
        NO_HOST,
        "Sets `target_process` (returns the updated builder).",
        |_this: &mut ChildNamespaceOptions, pid: i64| {
            let pid = u32::try_from(pid)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid(format!("target_process must be a pid, got {pid}")))?;
            Ok::<_, Box<EvalAltResult>>(ChildNamespaceOptions {
                target_process: Some(pid),
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ChildNamespaceOptions| { namespace_target(o).map(|_| *o) }
    );
}

/// Registers the builders and `FileHandle.execute` (called from the io module).
pub(crate) fn register(b: &mut Binding<'_>, sdk: &SdkContext) {
    register_builders(b);
    register_core_dump(b, sdk);
    let c = sdk.clone();
    crate::declare!(
        b,
        "execute",
        &[Action::FsExecute],
        "Runs the file as a program (`ExecuteOptions`).",
        |f: &mut ScriptFileHandle, opts: ExecuteOptions| {
            f.with(|h| {
                h.execute(&c, &opts)
                    .map(|r| result_map(&r))
                    .map_err(to_script_error)
            })
        }
    );
}

crate::script_types!(
    ScriptCoreDump => "CoreDump",
    ExecuteOptions => "ExecuteOptions",
    ChildNamespaceOptions => "ChildNamespaceOptions",
);
