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
    NamespaceTarget, ProcessInfo, ProcessManager, ProcessOptions, Signal, TraceOptions,
};

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

/// REX's `NamespaceOptions` builder: `mount`, `net`, and either `pid` or `net_ns_name`.
#[derive(Debug, Clone, Default)]
pub struct ScriptNamespaceOptions {
    mount: bool,
    net: bool,
    pid: Option<u32>,
    net_ns_name: Option<String>,
}

impl ScriptNamespaceOptions {
    fn build(&self) -> RResult<NamespaceOptions> {
        let target = match (self.pid, &self.net_ns_name) {
            (Some(pid), None) => NamespaceTarget::Pid(pid),
            (None, Some(name)) => NamespaceTarget::NetNsName(name.clone()),
            _ => {
                return Err(validation(
                    "NamespaceOptions needs exactly one of pid or net_ns_name",
                ));
            }
        };
        if !self.mount && !self.net {
            return Err(validation("NamespaceOptions needs mount and/or net"));
        }
        Ok(NamespaceOptions {
            mount: self.mount,
            net: self.net,
            target,
        })
    }
}

/// REX's `KillOptions` builder: `pid`, or any of `process_name`, `username`, `command`
/// (with `exact_match`), and `signal` (a `Signal::` constant; SIGTERM by default).
#[derive(Debug, Clone, Default)]
pub struct ScriptKillOptions(KillOptions);

impl ScriptKillOptions {
    fn build(&self) -> RResult<KillOptions> {
        let o = &self.0;
        let filters = o.process_name.is_some() || o.username.is_some() || o.command.is_some();
        match (o.pid.is_some(), filters) {
            (true, true) => Err(validation(
                "KillOptions takes either a pid or process_name/username/command, not both",
            )),
            (false, false) => Err(validation(
                "KillOptions needs a pid, process_name, username or command",
            )),
            _ => Ok(o.clone()),
        }
    }
}

fn register_kill_and_list_options(b: &mut Binding<'_>) {
    b.custom_type::<ProcessOptions>();
    b.func(
        "ProcessOptions",
        [],
        NO_HOST,
        "`ProcessOptions`.",
        ProcessOptions::default,
    );
    crate::declare!(
        b,
        "load_namespace_info",
        NO_HOST,
        "Sets `load_namespace_info` (returns the updated builder).",
        |_this: &mut ProcessOptions, v: bool| {
            ProcessOptions {
                load_namespace_info: v,
            }
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ProcessOptions| *o
    );

    b.custom_type::<ScriptKillOptions>();
    b.func(
        "KillOptions",
        [],
        NO_HOST,
        "`KillOptions`.",
        ScriptKillOptions::default,
    );
    crate::declare!(
        b,
        "pid",
        NO_HOST,
        "Sets `pid` (returns the updated builder).",
        |o: &mut ScriptKillOptions, pid: i64| {
            let mut k = o.0.clone();
            k.pid = Some(pid_of(pid)?);
            Ok::<_, Box<EvalAltResult>>(ScriptKillOptions(k))
        }
    );
    crate::declare!(
        b,
        "process_name",
        NO_HOST,
        "Sets `process_name` (returns the updated builder).",
        |o: &mut ScriptKillOptions, v: &str| {
            let mut k = o.0.clone();
            k.process_name = Some(v.to_string());
            ScriptKillOptions(k)
        }
    );
    crate::declare!(
        b,
        "username",
        NO_HOST,
        "Sets `username` (returns the updated builder).",
        |o: &mut ScriptKillOptions, v: &str| {
            let mut k = o.0.clone();
            k.username = Some(v.to_string());
            ScriptKillOptions(k)
        }
    );
    crate::declare!(
        b,
        "command",
        NO_HOST,
        "Sets `command` (returns the updated builder).",
        |o: &mut ScriptKillOptions, v: &str| {
            let mut k = o.0.clone();
            k.command = Some(v.to_string());
            ScriptKillOptions(k)
        }
    );
    crate::declare!(
        b,
        "exact_match",
        NO_HOST,
        "Sets `exact_match` (returns the updated builder).",
        |o: &mut ScriptKillOptions, v: bool| {
            let mut k = o.0.clone();
            k.exact_match = v;
            ScriptKillOptions(k)
        }
    );
    crate::declare!(
        b,
        "signal",
        NO_HOST,
        "Sets `signal` (returns the updated builder).",
        |o: &mut ScriptKillOptions, n: i64| {
            let mut k = o.0.clone();
            k.signal = signal_of(n)?;
            Ok::<_, Box<EvalAltResult>>(ScriptKillOptions(k))
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ScriptKillOptions| {
            o.build()?;
            Ok::<_, Box<EvalAltResult>>(o.clone())
        }
    );
}

fn register_builders(b: &mut Binding<'_>) {
    register_kill_and_list_options(b);
    b.custom_type::<LsofOptions>();
    b.func(
        "LsofOptions",
        [],
        NO_HOST,
        "`LsofOptions`.",
        LsofOptions::default,
    );
    crate::declare!(
        b,
        "path",
        NO_HOST,
        "Sets `path` (returns the updated builder).",
        |o: &mut LsofOptions, p: &str| LsofOptions {
            path: Some(p.into()),
            ..o.clone()
        }
    );
    crate::declare!(
        b,
        "include_subdir",
        NO_HOST,
        "Sets `include_subdir` (returns the updated builder).",
        |o: &mut LsofOptions, v: bool| {
            LsofOptions {
                include_subdir: v,
                ..o.clone()
            }
        }
    );
    crate::declare!(
        b,
        "pid",
        NO_HOST,
        "Sets `pid` (returns the updated builder).",
        |o: &mut LsofOptions, pid: i64| {
            Ok::<_, Box<EvalAltResult>>(LsofOptions {
                pid: Some(pid_of(pid)?),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut LsofOptions| o.clone()
    );

    b.custom_type::<MonitorProcessesCpuOptions>();
    b.func(
        "MonitorProcessesCpuOptions",
        [],
        NO_HOST,
        "`MonitorProcessesCpuOptions`.",
        MonitorProcessesCpuOptions::default,
    );
    crate::declare!(
        b,
        "pids_to_monitor",
        NO_HOST,
        "Sets `pids_to_monitor` (returns the updated builder).",
        |o: &mut MonitorProcessesCpuOptions, pids: Array| {
            let pids = pids
                .into_iter()
                .map(|p| {
                    p.as_int()
                        .map_err(|t| validation(format!("pids must be integers, got {t}")))
                        .and_then(pid_of)
                })
                .collect::<RResult<Vec<u32>>>()?;
            Ok::<_, Box<EvalAltResult>>(MonitorProcessesCpuOptions {
                pids_to_monitor: pids,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "batches",
        NO_HOST,
        "Sets `batches` (returns the updated builder).",
        |o: &mut MonitorProcessesCpuOptions, n: i64| {
            Ok::<_, Box<EvalAltResult>>(MonitorProcessesCpuOptions {
                batches: non_negative_u32("batches", n)?,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "delay_in_seconds",
        NO_HOST,
        "Sets `delay_in_seconds` (returns the updated builder).",
        |o: &mut MonitorProcessesCpuOptions, secs: i64| {
            Ok::<_, Box<EvalAltResult>>(MonitorProcessesCpuOptions {
                delay: Duration::from_secs(u64::from(non_negative_u32("delay", secs)?)),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "include_threads",
        NO_HOST,
        "Sets `include_threads` (returns the updated builder).",
        |o: &mut MonitorProcessesCpuOptions, v: bool| MonitorProcessesCpuOptions {
            include_threads: v,
            ..o.clone()
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut MonitorProcessesCpuOptions| {
            o.validate().map_err(to_script_error)?;
            Ok::<_, Box<EvalAltResult>>(o.clone())
        }
    );

    b.custom_type::<TraceOptions>();
    b.func(
        "TraceOptions",
        [],
        NO_HOST,
        "`TraceOptions`.",
        TraceOptions::default,
    );
    crate::declare!(
        b,
        "ns_pid",
        NO_HOST,
        "Sets `ns_pid` (returns the updated builder).",
        |_this: &mut TraceOptions, pid: i64| {
            Ok::<_, Box<EvalAltResult>>(TraceOptions {
                ns_pid: Some(pid_of(pid)?),
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut TraceOptions| *o
    );

    b.custom_type::<ScriptNamespaceOptions>();
    b.func(
        "NamespaceOptions",
        [],
        NO_HOST,
        "`NamespaceOptions`.",
        ScriptNamespaceOptions::default,
    );
    crate::declare!(
        b,
        "mount",
        NO_HOST,
        "Sets `mount` (returns the updated builder).",
        |o: &mut ScriptNamespaceOptions, v: bool| {
            ScriptNamespaceOptions {
                mount: v,
                ..o.clone()
            }
        }
    );
    crate::declare!(
        b,
        "net",
        NO_HOST,
        "Sets `net` (returns the updated builder).",
        |o: &mut ScriptNamespaceOptions, v: bool| {
            ScriptNamespaceOptions {
                net: v,
                ..o.clone()
            }
        }
    );
    crate::declare!(
        b,
        "pid",
        NO_HOST,
        "Sets `pid` (returns the updated builder).",
        |o: &mut ScriptNamespaceOptions, pid: i64| {
            Ok::<_, Box<EvalAltResult>>(ScriptNamespaceOptions {
                pid: Some(pid_of(pid)?),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "net_ns_name",
        NO_HOST,
        "Sets `net_ns_name` (returns the updated builder).",
        |o: &mut ScriptNamespaceOptions, name: &str| ScriptNamespaceOptions {
            net_ns_name: Some(name.to_string()),
            ..o.clone()
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ScriptNamespaceOptions| {
            o.build()?;
            Ok::<_, Box<EvalAltResult>>(o.clone())
        }
    );

    b.custom_type::<IpcsInfo>();
    b.getter(
        "shared_memory",
        NO_HOST,
        "The `shared_memory` property.",
        |i: &mut IpcsInfo| to_dyn(&i.shared_memory),
    );
    b.getter(
        "semaphores",
        NO_HOST,
        "The `semaphores` property.",
        |i: &mut IpcsInfo| to_dyn(&i.semaphores),
    );
    b.getter(
        "queues",
        NO_HOST,
        "The `queues` property.",
        |i: &mut IpcsInfo| to_dyn(&i.queues),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |i: &mut IpcsInfo| to_dyn(i)
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |i: &mut IpcsInfo| i.to_string()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |i: &mut IpcsInfo| i.to_string()
    );
}

fn register_manager_methods(b: &mut Binding<'_>, sdk: &SdkContext) {
    let c = sdk.clone();
    crate::declare!(
        b,
        "list_open_files",
        &[Action::ProcessList, Action::ProcessListFds],
        "`ScriptProcessManager.list_open_files`.",
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
        "`ScriptProcessManager.ipcs_info`.",
        |pm: &mut ScriptProcessManager| {
            with_pm(pm, |m| m.ipcs_info(&c).map_err(to_script_error))?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "monitor_processes_cpu",
        &[Action::ProcessList],
        "`ScriptProcessManager.monitor_processes_cpu`.",
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
        "`ScriptProcessManager.trace`.",
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
        "`ScriptProcessManager.trace`.",
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
        "`ScriptProcessManager.nsenter`.",
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
    crate::declare!(b, "ps", &[Action::ProcessList], "`ps`.", || list(
        &c,
        &mut ProcessManager::new()
    ));
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "`kill`.",
        |pid: i64| { kill(&c, &mut ProcessManager::new(), pid, Signal::Term) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "`kill`.",
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
        "`ProcessManager`.",
        ScriptProcessManager::default,
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "processes",
        &[Action::ProcessList],
        "`ScriptProcessManager.processes`.",
        |pm: &mut ScriptProcessManager| { with_pm(pm, |m| list(&c, m))? }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "processes",
        &[Action::ProcessList],
        "`ScriptProcessManager.processes`.",
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
        "`ScriptProcessManager.kill`.",
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
        "`ScriptProcessManager.processes_using_inode`.",
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
        "`ScriptProcessManager.kill`.",
        |pm: &mut ScriptProcessManager, pid: i64| {
            with_pm(pm, |m| kill(&c, m, pid, Signal::Term))?
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "kill",
        &[Action::ProcessKill, Action::ProcessInterrupt],
        "`ScriptProcessManager.kill`.",
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
