//! The `process` module (REX's `rhai-safe-process-mgmt`): `ps()`, `kill(pid)`,
//! `kill([kill::signal(n)], pid)` (the flag module REX forgot to register), the `Signal`
//! constants and `ProcessManager()` with `processes([ProcessOptions])`,
//! `kill(KillOptions)` (and `kill(pid[, signal])`),
//! `processes_using_inode(path)`, `list_open_files(LsofOptions)`, `ipcs_info()`,
//! `monitor_processes_cpu(MonitorProcessesCpuOptions)`, `trace(pid[, TraceOptions])` and
//! `nsenter(NamespaceOptions, callback)`.
//!
//! Processes whose `process_system::list` is denied are left out of listings (REX's
//! behaviour); a denied signal is an error map with the denial token.
//!
//! `nsenter` makes its Cedar checks (so a denial is reported as such) and is then refused with
//! `NamespaceOperationError`: a script callback cannot run inside another namespace safely.
//! The engine's per-run state (operation and time limits, cancellation, recorded denials) is
//! bound to the script's thread, so the callback cannot be moved to a dedicated thread that
//! joins the namespace; switching the script's own thread would have to be undone afterwards
//! (a failed restore would leave the runner in a foreign namespace); and inside a foreign mount
//! namespace every path policy would silently name other files (REX §6.14). Rust callers can
//! use rust-sdk's `ProcessManager::nsenter`, which runs a Rust closure on a dedicated thread.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::process::{
    IpcsInfo, KillOptions, Killed, LsofOptions, MonitorProcessesCpuOptions, NamespaceOptions,
    NamespaceTarget, ProcessInfo, ProcessManager, ProcessOptions, Signal,
};
use rust_sdk::trace::TraceOptions;

use crate::binding::{Binding, NO_HOST};
use crate::error::{PROCESS_SOURCE, script_err, to_script_error};
use crate::io::{Flags, flag};
use rex_auth::Action;

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

fn to_dyn<T: serde::Serialize>(v: &T) -> RResult<Dynamic> {
    rhai::serde::to_dynamic(v).map_err(|e| script_err(PROCESS_SOURCE, "Other", e.to_string()))
}

fn non_negative_u32(what: &str, v: i64) -> RResult<u32> {
    u32::try_from(v).map_err(|_| validation(format!("invalid {what} {v}")))
}

mod options;

pub use options::*;

fn register_manager_methods(b: &mut Binding<'_>, sdk: &SdkContext) {
    let c = sdk.clone();
    crate::declare!(
        b,
        "list_open_files",
        &[Action::ProcessList, Action::ProcessListFds],
        "Open files of processes (`lsof`).",
        |pm: &mut ScriptProcessManager, opts: LsofOptions| {
            with_pm(pm, |m| {
                let found = m.list_open_files(&c, &opts).map_err(to_script_error)?;
                to_dyn(&found.items)
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "ipcs_info",
        &[Action::FsOpen, Action::FsRead],
        "System V IPC objects (`ipcs`).",
        |pm: &mut ScriptProcessManager| {
            with_pm(pm, |m| m.ipcs_info(&c).map_err(to_script_error))?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "monitor_processes_cpu",
        &[Action::ProcessList],
        "CPU use of processes sampled over an interval.",
        |pm: &mut ScriptProcessManager, opts: MonitorProcessesCpuOptions| {
            with_pm(pm, |m| {
                let batches = m
                    .monitor_processes_cpu(&c, &opts)
                    .map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(
                    batches
                        .iter()
                        .map(|b| Dynamic::from_array(b.iter().map(process_map).collect()))
                        .collect(),
                )
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "trace",
        &[Action::ProcessTrace],
        "Stack traces of a process's threads.",
        |pm: &mut ScriptProcessManager, pid: i64| {
            let pid = pid_of(pid)?;
            with_pm(pm, |m| {
                to_dyn(
                    &m.trace(&c, pid, &TraceOptions::default())
                        .map_err(to_script_error)?,
                )
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "trace",
        &[Action::ProcessTrace],
        "Stack traces of a process's threads.",
        |pm: &mut ScriptProcessManager, pid: i64, opts: TraceOptions| {
            let pid = pid_of(pid)?;
            with_pm(pm, |m| {
                to_dyn(&m.trace(&c, pid, &opts).map_err(to_script_error)?)
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "nsenter",
        &[
            Action::ProcessMountNamespace,
            Action::ProcessNetworkNamespace,
            Action::FsNetworkNamespace
        ],
        "Runs a callback in a process's namespaces (refused: see the error).",
        |pm: &mut ScriptProcessManager, opts: ScriptNamespaceOptions, _callback: FnPtr| {
            let opts = opts.build()?;
            with_pm(pm, |m| m.check_nsenter(&c, &opts).map_err(to_script_error))??;
            Err::<Dynamic, _>(script_err(
                PROCESS_SOURCE,
                "NamespaceOperationError",
                "nsenter with a script callback is not supported: the callback would run \
                 outside the engine's limits or leave the runner's thread in another \
                 namespace, and path policies would silently name another mount \
                 namespace's files",
            ))
        }
    );
}

fn with_pm<R>(pm: &ScriptProcessManager, f: impl FnOnce(&mut ProcessManager) -> R) -> RResult<R> {
    let mut guard =
        pm.0.lock()
            .map_err(|_| script_err(PROCESS_SOURCE, "Other", "ProcessManager lock poisoned"))?;
    Ok(f(&mut guard))
}

/// Registers the process module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut b = Binding::new(engine, "process");
    let b = &mut b;
    crate::utils::register_value_maps(b);
    let mut signals = Module::new();
    for (name, n) in [
        ("SIGHUP", 1_i64),
        ("SIGQUIT", 3),
        ("SIGKILL", 9),
        ("SIGTERM", 15),
    ] {
        signals.set_var(name, n);
    }
    b.static_module("Signal", signals.into());

    let mut kill_flags = Module::new();
    crate::declare!(
        Binding::into_module(&mut kill_flags, "process"),
        "signal",
        NO_HOST,
        "The `kill::signal(n)` flag.",
        |n: i64| flag("kill", "signal", n, 0)
    );
    b.static_module("kill", kill_flags.into());

    let c = sdk.clone();
    crate::declare!(
        b,
        "ps",
        &[Action::ProcessList],
        "The processes of the host.",
        || list(&c, &mut ProcessManager::new())
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "Sends a signal to a process (`kill::signal(n)`).",
        |pid: i64| { kill(&c, &mut ProcessManager::new(), pid, Signal::Term) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "Sends a signal to a process (`kill::signal(n)`).",
        |flags: Array, pid: i64| {
            let flags = Flags::parse("kill", &flags)?;
            let signal = match flags.get("signal") {
                Some(f) => signal_of(f.value)?,
                None => Signal::Term,
            };
            kill(&c, &mut ProcessManager::new(), pid, signal)
        }
    );

    register_builders(b);
    register_manager_methods(b, sdk);

    b.custom_type::<ScriptProcessManager>();
    b.func(
        "ProcessManager",
        [],
        &[
            Action::FsOpen,
            Action::FsRead,
            Action::FsExecute,
            Action::FsNetworkNamespace,
            Action::ProcessList,
            Action::ProcessListFds,
            Action::ProcessKill,
            Action::ProcessInterrupt,
            Action::ProcessTrace,
            Action::ProcessMountNamespace,
            Action::ProcessNetworkNamespace,
        ],
        "The process manager (listing, signals, tracing, namespaces).",
        ScriptProcessManager::default,
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "processes",
        &[Action::ProcessList],
        "The processes of the host.",
        |pm: &mut ScriptProcessManager| { with_pm(pm, |m| list(&c, m))? }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "processes",
        &[Action::ProcessList],
        "The processes of the host.",
        |pm: &mut ScriptProcessManager, opts: ProcessOptions| {
            with_pm(pm, |m| {
                let list = m.processes_with(&c, &opts).map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(list.processes.iter().map(process_map).collect())
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "Sends a signal to a process.",
        |pm: &mut ScriptProcessManager, opts: ScriptKillOptions| {
            let opts = opts.build()?;
            with_pm(pm, |m| {
                let report = m.kill(&c, &opts).map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(report.killed.iter().map(killed_map).collect())
            })?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "processes_using_inode",
        &[Action::ProcessList, Action::ProcessListFds],
        "Processes with a file open.",
        |pm: &mut ScriptProcessManager, path: &str| {
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
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "Sends a signal to a process.",
        |pm: &mut ScriptProcessManager, pid: i64| {
            with_pm(pm, |m| kill(&c, m, pid, Signal::Term))?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "Sends a signal to a process.",
        |pm: &mut ScriptProcessManager, pid: i64, signal: i64| {
            let signal = signal_of(signal)?;
            with_pm(pm, |m| kill(&c, m, pid, signal))?
        }
    );
}

crate::script_types!(
    ProcessOptions => "ProcessOptions",
    ScriptKillOptions => "KillOptions",
    LsofOptions => "LsofOptions",
    MonitorProcessesCpuOptions => "MonitorProcessesCpuOptions",
    TraceOptions => "TraceOptions",
    ScriptNamespaceOptions => "NamespaceOptions",
    IpcsInfo => "IpcsInfo",
    ScriptProcessManager => "ProcessManager",
);
