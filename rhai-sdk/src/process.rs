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

fn register_kill_and_list_options(engine: &mut Engine) {
    engine.register_type_with_name::<ProcessOptions>("ProcessOptions");
    engine.register_fn("ProcessOptions", ProcessOptions::default);
    engine.register_fn("load_namespace_info", |_: &mut ProcessOptions, v: bool| {
        ProcessOptions {
            load_namespace_info: v,
        }
    });
    engine.register_fn("build", |o: &mut ProcessOptions| *o);

    engine.register_type_with_name::<ScriptKillOptions>("KillOptions");
    engine.register_fn("KillOptions", ScriptKillOptions::default);
    engine.register_fn("pid", |o: &mut ScriptKillOptions, pid: i64| {
        let mut k = o.0.clone();
        k.pid = Some(pid_of(pid)?);
        Ok::<_, Box<EvalAltResult>>(ScriptKillOptions(k))
    });
    engine.register_fn("process_name", |o: &mut ScriptKillOptions, v: &str| {
        let mut k = o.0.clone();
        k.process_name = Some(v.to_string());
        ScriptKillOptions(k)
    });
    engine.register_fn("username", |o: &mut ScriptKillOptions, v: &str| {
        let mut k = o.0.clone();
        k.username = Some(v.to_string());
        ScriptKillOptions(k)
    });
    engine.register_fn("command", |o: &mut ScriptKillOptions, v: &str| {
        let mut k = o.0.clone();
        k.command = Some(v.to_string());
        ScriptKillOptions(k)
    });
    engine.register_fn("exact_match", |o: &mut ScriptKillOptions, v: bool| {
        let mut k = o.0.clone();
        k.exact_match = v;
        ScriptKillOptions(k)
    });
    engine.register_fn("signal", |o: &mut ScriptKillOptions, n: i64| {
        let mut k = o.0.clone();
        k.signal = signal_of(n)?;
        Ok::<_, Box<EvalAltResult>>(ScriptKillOptions(k))
    });
    engine.register_fn("build", |o: &mut ScriptKillOptions| {
        o.build()?;
        Ok::<_, Box<EvalAltResult>>(o.clone())
    });
}

fn register_builders(engine: &mut Engine) {
    register_kill_and_list_options(engine);
    engine.register_type_with_name::<LsofOptions>("LsofOptions");
    engine.register_fn("LsofOptions", LsofOptions::default);
    engine.register_fn("path", |o: &mut LsofOptions, p: &str| LsofOptions {
        path: Some(p.into()),
        ..o.clone()
    });
    engine.register_fn("include_subdir", |o: &mut LsofOptions, v: bool| {
        LsofOptions {
            include_subdir: v,
            ..o.clone()
        }
    });
    engine.register_fn("pid", |o: &mut LsofOptions, pid: i64| {
        Ok::<_, Box<EvalAltResult>>(LsofOptions {
            pid: Some(pid_of(pid)?),
            ..o.clone()
        })
    });
    engine.register_fn("build", |o: &mut LsofOptions| o.clone());

    engine.register_type_with_name::<MonitorProcessesCpuOptions>("MonitorProcessesCpuOptions");
    engine.register_fn(
        "MonitorProcessesCpuOptions",
        MonitorProcessesCpuOptions::default,
    );
    engine.register_fn(
        "pids_to_monitor",
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
        },
    );
    engine.register_fn("batches", |o: &mut MonitorProcessesCpuOptions, n: i64| {
        Ok::<_, Box<EvalAltResult>>(MonitorProcessesCpuOptions {
            batches: non_negative_u32("batches", n)?,
            ..o.clone()
        })
    });
    engine.register_fn(
        "delay_in_seconds",
        |o: &mut MonitorProcessesCpuOptions, secs: i64| {
            Ok::<_, Box<EvalAltResult>>(MonitorProcessesCpuOptions {
                delay: Duration::from_secs(u64::from(non_negative_u32("delay", secs)?)),
                ..o.clone()
            })
        },
    );
    engine.register_fn(
        "include_threads",
        |o: &mut MonitorProcessesCpuOptions, v: bool| MonitorProcessesCpuOptions {
            include_threads: v,
            ..o.clone()
        },
    );
    engine.register_fn("build", |o: &mut MonitorProcessesCpuOptions| {
        o.validate().map_err(to_script_error)?;
        Ok::<_, Box<EvalAltResult>>(o.clone())
    });

    engine.register_type_with_name::<TraceOptions>("TraceOptions");
    engine.register_fn("TraceOptions", TraceOptions::default);
    engine.register_fn("ns_pid", |_: &mut TraceOptions, pid: i64| {
        Ok::<_, Box<EvalAltResult>>(TraceOptions {
            ns_pid: Some(pid_of(pid)?),
        })
    });
    engine.register_fn("build", |o: &mut TraceOptions| *o);

    engine.register_type_with_name::<ScriptNamespaceOptions>("NamespaceOptions");
    engine.register_fn("NamespaceOptions", ScriptNamespaceOptions::default);
    engine.register_fn("mount", |o: &mut ScriptNamespaceOptions, v: bool| {
        ScriptNamespaceOptions {
            mount: v,
            ..o.clone()
        }
    });
    engine.register_fn("net", |o: &mut ScriptNamespaceOptions, v: bool| {
        ScriptNamespaceOptions {
            net: v,
            ..o.clone()
        }
    });
    engine.register_fn("pid", |o: &mut ScriptNamespaceOptions, pid: i64| {
        Ok::<_, Box<EvalAltResult>>(ScriptNamespaceOptions {
            pid: Some(pid_of(pid)?),
            ..o.clone()
        })
    });
    engine.register_fn(
        "net_ns_name",
        |o: &mut ScriptNamespaceOptions, name: &str| ScriptNamespaceOptions {
            net_ns_name: Some(name.to_string()),
            ..o.clone()
        },
    );
    engine.register_fn("build", |o: &mut ScriptNamespaceOptions| {
        o.build()?;
        Ok::<_, Box<EvalAltResult>>(o.clone())
    });

    engine.register_type_with_name::<IpcsInfo>("IpcsInfo");
    engine.register_get("shared_memory", |i: &mut IpcsInfo| to_dyn(&i.shared_memory));
    engine.register_get("semaphores", |i: &mut IpcsInfo| to_dyn(&i.semaphores));
    engine.register_get("queues", |i: &mut IpcsInfo| to_dyn(&i.queues));
    engine.register_fn("to_map", |i: &mut IpcsInfo| to_dyn(i));
    engine.register_fn("to_string", |i: &mut IpcsInfo| i.to_string());
    engine.register_fn("to_debug", |i: &mut IpcsInfo| i.to_string());
}

fn register_manager_methods(engine: &mut Engine, sdk: &SdkContext) {
    let c = sdk.clone();
    engine.register_fn(
        "list_open_files",
        move |pm: &mut ScriptProcessManager, opts: LsofOptions| {
            with_pm(pm, |m| {
                let found = m.list_open_files(&c, &opts).map_err(to_script_error)?;
                to_dyn(&found.items)
            })?
        },
    );
    let c = sdk.clone();
    engine.register_fn("ipcs_info", move |pm: &mut ScriptProcessManager| {
        with_pm(pm, |m| m.ipcs_info(&c).map_err(to_script_error))?
    });
    let c = sdk.clone();
    engine.register_fn(
        "monitor_processes_cpu",
        move |pm: &mut ScriptProcessManager, opts: MonitorProcessesCpuOptions| {
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
        },
    );
    let c = sdk.clone();
    engine.register_fn("trace", move |pm: &mut ScriptProcessManager, pid: i64| {
        let pid = pid_of(pid)?;
        with_pm(pm, |m| {
            to_dyn(
                &m.trace(&c, pid, &TraceOptions::default())
                    .map_err(to_script_error)?,
            )
        })?
    });
    let c = sdk.clone();
    engine.register_fn(
        "trace",
        move |pm: &mut ScriptProcessManager, pid: i64, opts: TraceOptions| {
            let pid = pid_of(pid)?;
            with_pm(pm, |m| {
                to_dyn(&m.trace(&c, pid, &opts).map_err(to_script_error)?)
            })?
        },
    );
    let c = sdk.clone();
    engine.register_fn(
        "nsenter",
        move |pm: &mut ScriptProcessManager, opts: ScriptNamespaceOptions, _callback: FnPtr| {
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
        },
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
    crate::utils::register_value_maps(engine);
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

    register_builders(engine);
    register_manager_methods(engine, sdk);

    engine.register_type_with_name::<ScriptProcessManager>("ProcessManager");
    engine.register_fn("ProcessManager", ScriptProcessManager::default);
    let c = sdk.clone();
    engine.register_fn("processes", move |pm: &mut ScriptProcessManager| {
        with_pm(pm, |m| list(&c, m))?
    });
    let c = sdk.clone();
    engine.register_fn(
        "processes",
        move |pm: &mut ScriptProcessManager, opts: ProcessOptions| {
            with_pm(pm, |m| {
                let list = m.processes_with(&c, &opts).map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(list.processes.iter().map(process_map).collect())
            })?
        },
    );
    let c = sdk.clone();
    engine.register_fn(
        "kill",
        move |pm: &mut ScriptProcessManager, opts: ScriptKillOptions| {
            let opts = opts.build()?;
            with_pm(pm, |m| {
                let report = m.kill(&c, &opts).map_err(to_script_error)?;
                Ok::<Array, Box<EvalAltResult>>(report.killed.iter().map(killed_map).collect())
            })?
        },
    );
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
        "ProcessManager() -> ProcessManager; .processes([ProcessOptions]); \
         .kill(KillOptions | pid[, signal]); \
         .processes_using_inode(path); .list_open_files(LsofOptions); .ipcs_info() -> IpcsInfo; \
         .monitor_processes_cpu(MonitorProcessesCpuOptions) -> Array<Array>; \
         .trace(pid[, TraceOptions]); .nsenter(NamespaceOptions, callback) (checks, then refused)",
        &[
            "file_system::open",
            "file_system::read",
            "file_system::execute",
            "file_system::network_namespace",
            "process_system::list",
            "process_system::list_fds",
            "process_system::kill",
            "process_system::interrupt",
            "process_system::trace",
            "process_system::mount_namespace",
            "process_system::network_namespace",
        ],
        "process",
    ),
    FunctionInfo::new(
        "ProcessOptions",
        "ProcessOptions() .load_namespace_info(bool) .build()",
        &[],
        "process",
    ),
    FunctionInfo::new(
        "KillOptions",
        "KillOptions() .pid(n) .process_name(s) .username(s) .command(s) .exact_match(bool) \
         .signal(Signal) .build()",
        &[],
        "process",
    ),
    FunctionInfo::new(
        "LsofOptions",
        "LsofOptions() .path(p) .include_subdir(bool) .pid(n) .build()",
        &[],
        "process",
    ),
    FunctionInfo::new(
        "MonitorProcessesCpuOptions",
        "MonitorProcessesCpuOptions() .pids_to_monitor(Array) .batches(n) \
         .delay_in_seconds(n) .include_threads(bool) .build()",
        &[],
        "process",
    ),
    FunctionInfo::new(
        "TraceOptions",
        "TraceOptions() .ns_pid(n) .build()",
        &[],
        "process",
    ),
    FunctionInfo::new(
        "NamespaceOptions",
        "NamespaceOptions() .mount(bool) .net(bool) .pid(n) .net_ns_name(s) .build()",
        &[],
        "process",
    ),
];
