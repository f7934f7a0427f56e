//! The `process` module (REX's `rhai-safe-process-mgmt`): `ps()`, `kill(pid)`,
//! `kill([kill::signal(n)], pid)` (the flag module REX forgot to register), the `Signal`
//! constants and `ProcessManager()` with `processes()` and `kill(pid[, signal])`.
//!
//! Processes whose `process_system::list` is denied are left out of listings (REX's
//! behaviour); a denied signal is an error map with the denial token.

use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::process::{Killed, ProcessInfo, ProcessManager, Signal};

use crate::catalog::FunctionInfo;
use crate::error::{PROCESS_SOURCE, script_err, to_script_error};
use crate::io::{Flags, flag};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// A script-side `ProcessManager` (shares its caches between calls on the same value).
#[derive(Clone, Default)]
pub struct ScriptProcessManager(Arc<Mutex<ProcessManager>>);

impl std::fmt::Debug for ScriptProcessManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessManager")
    }
}

fn validation(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(PROCESS_SOURCE, "ValidationError", message)
}

fn process_map(p: &ProcessInfo) -> Dynamic {
    rhai::serde::to_dynamic(p).unwrap_or(Dynamic::UNIT)
}

fn killed_map(k: &Killed) -> Dynamic {
    let mut m = Map::new();
    m.insert("name".into(), k.name.clone().into());
    m.insert("pid".into(), i64::from(k.pid).into());
    m.into()
}

fn pid_of(pid: i64) -> RResult<u32> {
    u32::try_from(pid).map_err(|_| validation(format!("invalid pid {pid}")))
}

fn signal_of(n: i64) -> RResult<Signal> {
    Signal::from_number(n).map_err(to_script_error)
}

fn list(ctx: &SdkContext, pm: &mut ProcessManager) -> RResult<Array> {
    let list = pm.processes(ctx).map_err(to_script_error)?;
    Ok(list.processes.iter().map(process_map).collect())
}

fn kill(ctx: &SdkContext, pm: &mut ProcessManager, pid: i64, signal: Signal) -> RResult<Array> {
    let killed = pm
        .kill_pid(ctx, pid_of(pid)?, signal)
        .map_err(to_script_error)?;
    Ok(vec![killed_map(&killed)])
}

fn with_pm<R>(pm: &ScriptProcessManager, f: impl FnOnce(&mut ProcessManager) -> R) -> RResult<R> {
    let mut guard =
        pm.0.lock()
            .map_err(|_| script_err(PROCESS_SOURCE, "Other", "ProcessManager lock poisoned"))?;
    Ok(f(&mut guard))
}

/// Registers the process module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut signals = Module::new();
    for (name, n) in [
        ("SIGHUP", 1_i64),
        ("SIGQUIT", 3),
        ("SIGKILL", 9),
        ("SIGTERM", 15),
    ] {
        signals.set_var(name, n);
    }
    engine.register_static_module("Signal", signals.into());

    let mut kill_flags = Module::new();
    kill_flags.set_native_fn("signal", |n: i64| Ok(flag("kill", "signal", n, 0)));
    engine.register_static_module("kill", kill_flags.into());

    let c = sdk.clone();
    engine.register_fn("ps", move || list(&c, &mut ProcessManager::new()));
    let c = sdk.clone();
    engine.register_fn("kill", move |pid: i64| {
        kill(&c, &mut ProcessManager::new(), pid, Signal::Term)
    });
    let c = sdk.clone();
    engine.register_fn("kill", move |flags: Array, pid: i64| {
        let flags = Flags::parse("kill", &flags)?;
        let signal = match flags.get("signal") {
            Some(f) => signal_of(f.value)?,
            None => Signal::Term,
        };
        kill(&c, &mut ProcessManager::new(), pid, signal)
    });

    engine.register_type_with_name::<ScriptProcessManager>("ProcessManager");
    engine.register_fn("ProcessManager", ScriptProcessManager::default);
    let c = sdk.clone();
    engine.register_fn("processes", move |pm: &mut ScriptProcessManager| {
        with_pm(pm, |m| list(&c, m))?
    });
    let c = sdk.clone();
    engine.register_fn(
        "processes_using_inode",
        move |pm: &mut ScriptProcessManager, path: &str| {
            with_pm(pm, |m| {
                let found = m
                    .processes_using_path(&c, std::path::Path::new(path))
                    .map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(
                    found
                        .items
                        .iter()
                        .map(|f| rhai::serde::to_dynamic(f).unwrap_or(Dynamic::UNIT))
                        .collect(),
                )
            })?
        },
    );
    let c = sdk.clone();
    engine.register_fn("kill", move |pm: &mut ScriptProcessManager, pid: i64| {
        with_pm(pm, |m| kill(&c, m, pid, Signal::Term))?
    });
    let c = sdk.clone();
    engine.register_fn(
        "kill",
        move |pm: &mut ScriptProcessManager, pid: i64, signal: i64| {
            let signal = signal_of(signal)?;
            with_pm(pm, |m| kill(&c, m, pid, signal))?
        },
    );
}

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[
    FunctionInfo::new(
        "ps",
        "ps() -> Array<ProcessInfo map>",
        &["process_system::list"],
        "process",
    ),
    FunctionInfo::new(
        "kill",
        "kill([kill::signal(n)], pid: int) -> Array<#{name, pid}>",
        &["process_system::kill", "process_system::interrupt"],
        "process",
    ),
    FunctionInfo::new(
        "ProcessManager",
        "ProcessManager() -> ProcessManager; .processes(); .kill(pid[, signal]); \
         .processes_using_inode(path)",
        &[
            "file_system::open",
            "file_system::read",
            "process_system::list",
            "process_system::list_fds",
            "process_system::kill",
            "process_system::interrupt",
        ],
        "process",
    ),
];
