//! The `sysctl` module: `sysctl_read(key)`, `sysctl_write(key, value)`, `sysctl_find(regex)`
//! and `SysctlManager()` with `.read`, `.write` and `.find`.
//!
//! Unlike REX, nothing is retried or run as root: every check is made for the run's own
//! principal (`open`/`read`/`write` on `/proc/sys/<key>`). `.load_system()` runs
//! `sysctl --system` through the gated execute (`sysctl::load`, then `open` and `execute` on the
//! binary) as the run's own user, and returns the execution result map.

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::sysctl;

use crate::catalog::FunctionInfo;
use crate::error::to_script_error;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// REX's `SysctlManager` handle (stateless).
#[derive(Debug, Clone, Copy, Default)]
pub struct SysctlManager;

fn read(ctx: &SdkContext, key: &str) -> RResult<String> {
    sysctl::read(ctx, key).map_err(to_script_error)
}

fn write(ctx: &SdkContext, key: &str, value: &str) -> RResult<()> {
    sysctl::write(ctx, key, value).map_err(to_script_error)
}

fn find(ctx: &SdkContext, pattern: &str) -> RResult<Array> {
    let found = sysctl::find(ctx, pattern).map_err(to_script_error)?;
    Ok(found
        .entries
        .into_iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("key".into(), e.key.into());
            m.insert("value".into(), e.value.into());
            Dynamic::from_map(m)
        })
        .collect())
}

/// Registers the sysctl module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    crate::utils::register_value_maps(engine);
    let c = sdk.clone();
    engine.register_fn("sysctl_read", move |k: &str| read(&c, k));
    let c = sdk.clone();
    engine.register_fn("sysctl_write", move |k: &str, v: &str| write(&c, k, v));
    let c = sdk.clone();
    engine.register_fn("sysctl_find", move |p: &str| find(&c, p));

    engine.register_type_with_name::<SysctlManager>("SysctlManager");
    engine.register_fn("SysctlManager", || SysctlManager);
    let c = sdk.clone();
    engine.register_fn("read", move |_: &mut SysctlManager, k: &str| read(&c, k));
    let c = sdk.clone();
    engine.register_fn("write", move |_: &mut SysctlManager, k: &str, v: &str| {
        write(&c, k, v)
    });
    let c = sdk.clone();
    engine.register_fn("find", move |_: &mut SysctlManager, p: &str| find(&c, p));
    let c = sdk.clone();
    engine.register_fn("load_system", move |_: &mut SysctlManager| {
        sysctl::load_system(&c)
            .map(|r| crate::exec::result_map(&r))
            .map_err(to_script_error)
    });
}

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[
    FunctionInfo::new(
        "sysctl_read",
        "sysctl_read(key: String) -> String",
        &["file_system::open", "file_system::read"],
        "sysctl",
    ),
    FunctionInfo::new(
        "sysctl_write",
        "sysctl_write(key: String, value: String)",
        &["file_system::open", "file_system::write"],
        "sysctl",
    ),
    FunctionInfo::new(
        "sysctl_find",
        "sysctl_find(regex: String) -> Array<#{key, value}>",
        &["file_system::open", "file_system::read"],
        "sysctl",
    ),
    FunctionInfo::new(
        "SysctlManager",
        "SysctlManager() -> SysctlManager; .read(key) .write(key, value) .find(regex) .load_system()",
        &[
            "file_system::open",
            "file_system::read",
            "file_system::write",
            "file_system::execute",
            "sysctl::load",
        ],
        "sysctl",
    ),
];
