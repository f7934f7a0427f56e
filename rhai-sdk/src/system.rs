//! The `system` module (REX's `rhai-safe-system-info`): `SystemInfo()` with its methods, the
//! command wrappers `hostname()`, `uname()`, `nproc()`, `free()`, `dmesg()`, `resolve(host)`,
//! `ip_addr()`, and the `TransportProtocol` constants. `kernel_stats()` and `slab_info()`
//! return maps with REX's field names. Errors are error maps with source
//! `SysteminfoErrorKind` (REX raised plain strings from the wrappers).

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::system::{self as sys, DmesgOptions, ResolveOptions, TransportProtocol};

use crate::binding::{Binding, NO_HOST};
use crate::error::{SYSTEMINFO_SOURCE, script_err, to_script_error};
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The script-side `SystemInfo` handle (stateless; every call asks Cedar).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemInfo;

fn to_dyn<T: serde::Serialize>(v: &T) -> RResult<Dynamic> {
    rhai::serde::to_dynamic(v).map_err(|e| script_err(SYSTEMINFO_SOURCE, "Other", e.to_string()))
}

fn memory(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&sys::memory_info(ctx).map_err(to_script_error)?)
}

fn swap(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&sys::swap_info(ctx).map_err(to_script_error)?)
}

fn cpu_count(ctx: &SdkContext) -> RResult<i64> {
    let n = sys::cpu_count(ctx).map_err(to_script_error)?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

fn hostname(ctx: &SdkContext) -> RResult<String> {
    sys::hostname(ctx).map_err(to_script_error)
}

fn uname(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&sys::uname_info(ctx).map_err(to_script_error)?)
}

fn kernel_stats(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&sys::kernel_stats(ctx).map_err(to_script_error)?)
}

fn slab_info(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&sys::slab_info(ctx).map_err(to_script_error)?)
}

fn dmesg(ctx: &SdkContext, human: bool) -> RResult<Dynamic> {
    to_dyn(
        &sys::dmesg(
            ctx,
            DmesgOptions {
                human_readable_time: human,
            },
        )
        .map_err(to_script_error)?,
    )
}

fn resolve(ctx: &SdkContext, host: &str, protocol: TransportProtocol) -> RResult<Array> {
    let mut opts = ResolveOptions::new(host);
    opts.protocol = protocol;
    let ips = sys::resolve_hostname(ctx, &opts).map_err(to_script_error)?;
    Ok(ips.into_iter().map(Dynamic::from).collect())
}

fn protocol_of(name: &str) -> RResult<TransportProtocol> {
    match name {
        "TCP" => Ok(TransportProtocol::Tcp),
        "UDP" => Ok(TransportProtocol::Udp),
        "AUTO" => Ok(TransportProtocol::Auto),
        other => Err(script_err(
            SYSTEMINFO_SOURCE,
            "InvalidParameter",
            format!("unknown TransportProtocol {other:?}"),
        )),
    }
}

fn invalid(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(SYSTEMINFO_SOURCE, "InvalidParameter", message)
}

/// Longest resolution timeout a script may ask for.
const MAX_RESOLVE_TIMEOUT_SECS: i64 = 300;

/// The check of `ResolveOptions.build()`, also run by `resolve_hostname`, so an unbuilt value
/// gets the same error.
fn valid_resolve(o: &ResolveOptions) -> RResult<()> {
    if o.hostname.is_empty() {
        return Err(invalid("ResolveOptions needs a hostname"));
    }
    Ok(())
}

fn register_builders(b: &mut Binding<'_>, sdk: &SdkContext) {
    b.custom_type::<DmesgOptions>();
    b.func(
        "DmesgOptions",
        [],
        NO_HOST,
        "A new `DmesgOptions` builder with the defaults.",
        DmesgOptions::default,
    );
    crate::declare!(
        b,
        "human_readable_time",
        NO_HOST,
        "Sets `human_readable_time` (returns the updated builder).",
        |_this: &mut DmesgOptions, v: bool| {
            DmesgOptions {
                human_readable_time: v,
            }
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut DmesgOptions| *o
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "dmesg_info",
        &[Action::FsOpen, Action::FsRead],
        "The kernel log.",
        |_this: &mut SystemInfo, o: DmesgOptions| { dmesg(&c, o.human_readable_time) }
    );

    b.custom_type::<ResolveOptions>();
    crate::declare!(
        b,
        "ResolveOptions",
        NO_HOST,
        "A new `ResolveOptions` builder with the defaults.",
        || { ResolveOptions::new("") }
    );
    crate::declare!(
        b,
        "hostname",
        &[Action::SysinfoList],
        "Sets `hostname` (returns the updated builder).",
        |o: &mut ResolveOptions, h: &str| {
            ResolveOptions {
                hostname: h.to_string(),
                ..o.clone()
            }
        }
    );
    crate::declare!(
        b,
        "protocol",
        NO_HOST,
        "Sets `protocol` (returns the updated builder).",
        |o: &mut ResolveOptions, p: &str| {
            Ok::<_, Box<EvalAltResult>>(ResolveOptions {
                protocol: protocol_of(p)?,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "resolver",
        NO_HOST,
        "Sets `resolver` (returns the updated builder).",
        |o: &mut ResolveOptions, ip: &str| {
            let ip: std::net::IpAddr = ip
                .parse()
                .map_err(|_| invalid(format!("resolver must be an IP address, got {ip:?}")))?;
            Ok::<_, Box<EvalAltResult>>(ResolveOptions {
                resolver: Some(ip),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "timeout",
        NO_HOST,
        "Sets `timeout` (returns the updated builder).",
        |o: &mut ResolveOptions, secs: i64| {
            if !(1..=MAX_RESOLVE_TIMEOUT_SECS).contains(&secs) {
                return Err(invalid(format!(
                    "timeout must be 1 to {MAX_RESOLVE_TIMEOUT_SECS} seconds, got {secs}"
                )));
            }
            Ok(ResolveOptions {
                timeout: std::time::Duration::from_secs(secs.unsigned_abs()),
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ResolveOptions| {
            valid_resolve(o)?;
            Ok::<_, Box<EvalAltResult>>(o.clone())
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "resolve_hostname",
        &[Action::SysinfoResolveHostname],
        "Resolves a host name to IP addresses.",
        |_this: &mut SystemInfo, o: ResolveOptions| {
            valid_resolve(&o)?;
            let ips = sys::resolve_hostname(&c, &o).map_err(to_script_error)?;
            Ok::<Array, Box<EvalAltResult>>(ips.into_iter().map(Dynamic::from).collect())
        }
    );
}

/// Registers the system module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut b = Binding::new(engine, "system");
    let b = &mut b;
    crate::utils::register_value_maps(b);
    register_builders(b, sdk);
    let mut protocols = Module::new();
    for p in ["TCP", "UDP", "AUTO"] {
        protocols.set_var(p, p.to_string());
    }
    b.static_module("TransportProtocol", protocols.into());

    b.custom_type::<SystemInfo>();
    crate::declare!(
        b,
        "SystemInfo",
        &[
            Action::SysinfoList,
            Action::SysinfoResolveHostname,
            Action::FsOpen,
            Action::FsRead
        ],
        "System information (memory, CPUs, host name, kernel, network).",
        || SystemInfo
    );

    macro_rules! method {
        ($name:literal, $f:expr, $access:expr, $doc:literal) => {{
            let c = sdk.clone();
            crate::declare!(b, $name, $access, $doc, |_this: &mut SystemInfo| $f(&c));
        }};
    }
    const PROC_READ: &[Action] = &[Action::FsOpen, Action::FsRead];
    method!(
        "memory_info",
        memory,
        PROC_READ,
        "Memory use (`/proc/meminfo`)."
    );
    method!("swap_info", swap, PROC_READ, "Swap use (`/proc/meminfo`).");
    method!(
        "cpu_count",
        cpu_count,
        &[Action::SysinfoList],
        "The number of CPUs."
    );
    method!(
        "hostname",
        hostname,
        &[Action::SysinfoList],
        "The host name."
    );
    method!(
        "uname_info",
        uname,
        &[Action::SysinfoList],
        "The `uname` fields."
    );
    method!(
        "kernel_stats",
        kernel_stats,
        PROC_READ,
        "Kernel counters (`/proc/stat`)."
    );
    method!(
        "slab_info",
        slab_info,
        PROC_READ,
        "Slab allocator statistics (`/proc/slabinfo`)."
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "dmesg_info",
        &[Action::FsOpen, Action::FsRead],
        "The kernel log.",
        |_this: &mut SystemInfo| dmesg(&c, false)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "ip_addresses",
        &[Action::SysinfoList],
        "The network interfaces and their addresses.",
        |_this: &mut SystemInfo| { to_dyn(&sys::ip_addresses(&c).map_err(to_script_error)?) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "resolve_hostname",
        &[Action::SysinfoResolveHostname],
        "Resolves a host name to IP addresses.",
        |_this: &mut SystemInfo, host: &str, protocol: &str| {
            resolve(&c, host, protocol_of(protocol)?)
        }
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "hostname",
        &[Action::SysinfoList],
        "The host name.",
        || { hostname(&c) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "uname",
        &[Action::SysinfoList],
        "The `uname` fields of the host.",
        || uname(&c)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "nproc",
        &[Action::SysinfoList],
        "The number of CPUs.",
        || cpu_count(&c)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "free",
        &[Action::FsOpen, Action::FsRead],
        "Memory and swap use.",
        || {
            let mut m = Map::new();
            m.insert("memory".into(), memory(&c)?);
            m.insert("swap".into(), swap(&c)?);
            Ok::<_, Box<EvalAltResult>>(m)
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "dmesg",
        &[Action::FsOpen, Action::FsRead],
        "The kernel log.",
        || dmesg(&c, true)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "resolve",
        &[Action::SysinfoResolveHostname],
        "Resolves a host name to IP addresses.",
        |host: &str| { resolve(&c, host, TransportProtocol::Auto) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "ip_addr",
        &[Action::SysinfoList],
        "The network interfaces and their addresses.",
        || { to_dyn(&sys::ip_addresses(&c).map_err(to_script_error)?) }
    );
}

crate::script_types!(
    DmesgOptions => "DmesgOptions",
    ResolveOptions => "ResolveOptions",
    SystemInfo => "SystemInfo",
);
