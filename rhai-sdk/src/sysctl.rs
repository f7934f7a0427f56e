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

use crate::binding::Binding;
use crate::error::to_script_error;
use rex_auth::Action;

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
    let mut b = Binding::new(engine, "sysctl");
    let b = &mut b;
    crate::utils::register_value_maps(b);
    let c = sdk.clone();
    crate::declare!(
        b,
        "sysctl_read",
        &[Action::FsOpen, Action::FsRead],
        "Reads a kernel parameter.",
        |k: &str| read(&c, k)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "sysctl_write",
        &[Action::FsOpen, Action::FsWrite],
        "Writes a kernel parameter.",
        |k: &str, v: &str| write(&c, k, v)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "sysctl_find",
        &[Action::FsOpen, Action::FsRead],
        "Kernel parameters whose name matches a pattern.",
        |p: &str| find(&c, p)
    );

    b.custom_type::<SysctlManager>();
    crate::declare!(
        b,
        "SysctlManager",
        &[
            Action::FsOpen,
            Action::FsRead,
            Action::FsWrite,
            Action::FsExecute,
            Action::SysctlLoad
        ],
        "The sysctl manager (read, write, find, load the system settings).",
        || SysctlManager
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "read",
        &[Action::FsOpen, Action::FsRead],
        "Reads a kernel parameter.",
        |_this: &mut SysctlManager, k: &str| read(&c, k)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "write",
        &[Action::FsOpen, Action::FsWrite],
        "Writes a kernel parameter.",
        |_this: &mut SysctlManager, k: &str, v: &str| { write(&c, k, v) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "find",
        &[Action::FsOpen, Action::FsRead],
        "Kernel parameters whose name matches a pattern.",
        |_this: &mut SysctlManager, p: &str| find(&c, p)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "load_system",
        &[Action::SysctlLoad, Action::FsOpen, Action::FsExecute],
        "Applies the system sysctl settings (`sysctl --system`).",
        |_this: &mut SysctlManager| {
            sysctl::load_system(&c)
                .map(|r| crate::exec::result_map(&r))
                .map_err(to_script_error)
        }
    );
}

crate::script_types!(
    SysctlManager => "SysctlManager",
);
