//! The `system` module (REX's `rhai-safe-system-info`): `SystemInfo()` with its methods, the
//! command wrappers `hostname()`, `uname()`, `nproc()`, `free()`, `dmesg()`, `resolve(host)`,
//! `ip_addr()`, and the `TransportProtocol` constants. `kernel_stats()` and `slab_info()`
//! return maps with REX's field names. Errors are error maps with source
//! `SysteminfoErrorKind` (REX raised plain strings from the wrappers).

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::system::{self as sys, DmesgOptions, ResolveOptions, TransportProtocol};

use crate::catalog::FunctionInfo;
use crate::error::{SYSTEMINFO_SOURCE, script_err, to_script_error};

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

fn register_builders(engine: &mut Engine, sdk: &SdkContext) {
    engine.register_type_with_name::<DmesgOptions>("DmesgOptions");
    engine.register_fn("DmesgOptions", DmesgOptions::default);
    engine.register_fn("human_readable_time", |_: &mut DmesgOptions, v: bool| {
        DmesgOptions {
            human_readable_time: v,
        }
    });
    engine.register_fn("build", |o: &mut DmesgOptions| *o);
    let c = sdk.clone();
    engine.register_fn("dmesg_info", move |_: &mut SystemInfo, o: DmesgOptions| {
        dmesg(&c, o.human_readable_time)
    });

    engine.register_type_with_name::<ResolveOptions>("ResolveOptions");
    engine.register_fn("ResolveOptions", || ResolveOptions::new(""));
    engine.register_fn("hostname", |o: &mut ResolveOptions, h: &str| {
        ResolveOptions {
            hostname: h.to_string(),
            ..o.clone()
        }
    });
    engine.register_fn("protocol", |o: &mut ResolveOptions, p: &str| {
        Ok::<_, Box<EvalAltResult>>(ResolveOptions {
            protocol: protocol_of(p)?,
            ..o.clone()
        })
    });
    engine.register_fn("resolver", |o: &mut ResolveOptions, ip: &str| {
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| invalid(format!("resolver must be an IP address, got {ip:?}")))?;
        Ok::<_, Box<EvalAltResult>>(ResolveOptions {
            resolver: Some(ip),
            ..o.clone()
        })
    });
    engine.register_fn("timeout", |o: &mut ResolveOptions, secs: i64| {
        if !(1..=MAX_RESOLVE_TIMEOUT_SECS).contains(&secs) {
            return Err(invalid(format!(
                "timeout must be 1 to {MAX_RESOLVE_TIMEOUT_SECS} seconds, got {secs}"
            )));
        }
        Ok(ResolveOptions {
            timeout: std::time::Duration::from_secs(secs.unsigned_abs()),
            ..o.clone()
        })
    });
    engine.register_fn("build", |o: &mut ResolveOptions| {
        valid_resolve(o)?;
        Ok::<_, Box<EvalAltResult>>(o.clone())
    });
    let c = sdk.clone();
    engine.register_fn(
        "resolve_hostname",
        move |_: &mut SystemInfo, o: ResolveOptions| {
            valid_resolve(&o)?;
            let ips = sys::resolve_hostname(&c, &o).map_err(to_script_error)?;
            Ok::<Array, Box<EvalAltResult>>(ips.into_iter().map(Dynamic::from).collect())
        },
    );
}

/// Registers the system module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    crate::utils::register_value_maps(engine);
    register_builders(engine, sdk);
    let mut protocols = Module::new();
    for p in ["TCP", "UDP", "AUTO"] {
        protocols.set_var(p, p.to_string());
    }
    engine.register_static_module("TransportProtocol", protocols.into());

    engine.register_type_with_name::<SystemInfo>("SystemInfo");
    engine.register_fn("SystemInfo", || SystemInfo);

    macro_rules! method {
        ($name:literal, $f:expr) => {{
            let c = sdk.clone();
            engine.register_fn($name, move |_: &mut SystemInfo| $f(&c));
        }};
    }
    method!("memory_info", memory);
    method!("swap_info", swap);
    method!("cpu_count", cpu_count);
    method!("hostname", hostname);
    method!("uname_info", uname);
    method!("kernel_stats", kernel_stats);
    method!("slab_info", slab_info);
    let c = sdk.clone();
    engine.register_fn("dmesg_info", move |_: &mut SystemInfo| dmesg(&c, false));
    let c = sdk.clone();
    engine.register_fn("ip_addresses", move |_: &mut SystemInfo| {
        to_dyn(&sys::ip_addresses(&c).map_err(to_script_error)?)
    });
    let c = sdk.clone();
    engine.register_fn(
        "resolve_hostname",
        move |_: &mut SystemInfo, host: &str, protocol: &str| {
            resolve(&c, host, protocol_of(protocol)?)
        },
    );

    let c = sdk.clone();
    engine.register_fn("hostname", move || hostname(&c));
    let c = sdk.clone();
    engine.register_fn("uname", move || uname(&c));
    let c = sdk.clone();
    engine.register_fn("nproc", move || cpu_count(&c));
    let c = sdk.clone();
    engine.register_fn("free", move || {
        let mut m = Map::new();
        m.insert("memory".into(), memory(&c)?);
        m.insert("swap".into(), swap(&c)?);
        Ok::<_, Box<EvalAltResult>>(m)
    });
    let c = sdk.clone();
    engine.register_fn("dmesg", move || dmesg(&c, true));
    let c = sdk.clone();
    engine.register_fn("resolve", move |host: &str| {
        resolve(&c, host, TransportProtocol::Auto)
    });
    let c = sdk.clone();
    engine.register_fn("ip_addr", move || {
        to_dyn(&sys::ip_addresses(&c).map_err(to_script_error)?)
    });
}

const LIST: &[&str] = &["sysinfo::list"];
const MEMINFO: &[&str] = &["file_system::open", "file_system::read"];

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[
    FunctionInfo::new(
        "SystemInfo",
        "SystemInfo() -> SystemInfo; .memory_info() .swap_info() .cpu_count() .hostname() \
         .uname_info() .kernel_stats() .slab_info() .dmesg_info([DmesgOptions]) .ip_addresses() \
         .resolve_hostname(host, protocol) .resolve_hostname(ResolveOptions)",
        &[
            "sysinfo::list",
            "sysinfo::resolve_hostname",
            "file_system::open",
            "file_system::read",
        ],
        "system",
    ),
    FunctionInfo::new("hostname", "hostname() -> String", LIST, "system"),
    FunctionInfo::new("uname", "uname() -> Map", LIST, "system"),
    FunctionInfo::new("nproc", "nproc() -> int", LIST, "system"),
    FunctionInfo::new("free", "free() -> #{memory, swap}", MEMINFO, "system"),
    FunctionInfo::new("dmesg", "dmesg() -> Array", MEMINFO, "system"),
    FunctionInfo::new(
        "resolve",
        "resolve(host: String) -> Array<String>",
        &["sysinfo::resolve_hostname"],
        "system",
    ),
    FunctionInfo::new("ip_addr", "ip_addr() -> Array", LIST, "system"),
    FunctionInfo::new(
        "DmesgOptions",
        "DmesgOptions() .human_readable_time(bool) .build()",
        &[],
        "system",
    ),
    FunctionInfo::new(
        "ResolveOptions",
        "ResolveOptions() .hostname(s) .protocol(TransportProtocol) .resolver(ip) .timeout(secs) \
         .build()",
        &[],
        "system",
    ),
];
