//! The option builders of the process module (`ProcessOptions()`, `KillOptions()`,
//! `LsofOptions()`, `TraceOptions()`, `NamespaceOptions()`, ...).

use super::*;

/// REX's `NamespaceOptions` builder: `mount`, `net`, and either `pid` or `net_ns_name`.
#[derive(Debug, Clone, Default)]
pub struct ScriptNamespaceOptions {
    pub(super) mount: bool,
    pub(super) net: bool,
    pub(super) pid: Option<u32>,
    pub(super) net_ns_name: Option<String>,
}

impl ScriptNamespaceOptions {
    pub(super) fn build(&self) -> RResult<NamespaceOptions> {
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
pub struct ScriptKillOptions(pub(super) KillOptions);

impl ScriptKillOptions {
    pub(super) fn build(&self) -> RResult<KillOptions> {
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

pub(super) fn register_kill_and_list_options(b: &mut Binding<'_>) {
    b.custom_type::<ProcessOptions>();
    b.func(
        "ProcessOptions",
        [],
        NO_HOST,
        "A new `ProcessOptions` builder with the defaults.",
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
        "A new `KillOptions` builder with the defaults.",
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

pub(super) fn register_builders(b: &mut Binding<'_>) {
    register_kill_and_list_options(b);
    b.custom_type::<LsofOptions>();
    b.func(
        "LsofOptions",
        [],
        NO_HOST,
        "A new `LsofOptions` builder with the defaults.",
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
        "A new `MonitorProcessesCpuOptions` builder with the defaults.",
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
        "A new `TraceOptions` builder with the defaults.",
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
        "A new `NamespaceOptions` builder with the defaults.",
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
