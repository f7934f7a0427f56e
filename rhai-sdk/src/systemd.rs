//! The `systemd` module (REX's `SystemctlManager` from `rhai-safe-process-mgmt`):
//! `SystemctlManager()` with `start(svc)`, `stop(svc)`, `restart(svc)`, `try_restart(svc)`,
//! `daemon_reload()` and `status(svc)` → `ServiceInfo`, plus the `State` constants
//! (`State::ACTIVE`, ... with `is_active()` and `to_string()`).
//!
//! Checks (in rust-sdk, before the bus is touched): `systemd::Action::"start"`, `"stop"`,
//! `"restart"` (restart and try-restart) and `"status"` on `systemd::Service::"<svc>"`, and
//! `"daemon_reload"` on the `systemd::Systemd` resource. Unlike REX, the manager never raises
//! its effective uid: the D-Bus call runs with the runner's own credentials and the Cedar
//! principal never changes. Errors are error maps with source `ProcessErrorKind`
//! (`PermissionDenied`, `ServiceNotFound`, `DBusError`, ...).

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::systemd::{ServiceInfo, SystemdError, SystemdManager};

use crate::binding::{Binding, NO_HOST};
use crate::error::to_script_error;
use rex_auth::Action;

/// The bus the script's `SystemctlManager()` talks to (chosen by the host, never by scripts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SystemdBus {
    /// The system bus (the default).
    #[default]
    System,
    /// A bus at this D-Bus address (tests, containers).
    Address(String),
}

/// The script-side `SystemctlManager`. It connects lazily, on the first allowed operation.
#[derive(Clone)]
pub struct SystemctlManager(Arc<SystemdManager>);

impl std::fmt::Debug for SystemctlManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemctlManager")
    }
}

/// A unit's active state (REX's `State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// `active`
    Active,
    /// `inactive`
    Inactive,
    /// `failed`
    Failed,
    /// `activating`
    Activating,
    /// `deactivating`
    Deactivating,
    /// `maintenance`
    Maintenance,
    /// `reloading`
    Reloading,
    /// `refreshing`
    Refreshing,
    /// Anything else.
    Unknown,
}

const STATES: &[(&str, State)] = &[
    ("ACTIVE", State::Active),
    ("INACTIVE", State::Inactive),
    ("FAILED", State::Failed),
    ("ACTIVATING", State::Activating),
    ("DEACTIVATING", State::Deactivating),
    ("MAINTENANCE", State::Maintenance),
    ("RELOADING", State::Reloading),
    ("REFRESHING", State::Refreshing),
    ("UNKNOWN", State::Unknown),
];

impl State {
    /// From systemd's `ActiveState` text.
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => State::Active,
            "inactive" => State::Inactive,
            "failed" => State::Failed,
            "activating" => State::Activating,
            "deactivating" => State::Deactivating,
            "maintenance" => State::Maintenance,
            "reloading" => State::Reloading,
            "refreshing" => State::Refreshing,
            _ => State::Unknown,
        }
    }

    /// systemd's text for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Inactive => "inactive",
            State::Failed => "failed",
            State::Activating => "activating",
            State::Deactivating => "deactivating",
            State::Maintenance => "maintenance",
            State::Reloading => "reloading",
            State::Refreshing => "refreshing",
            State::Unknown => "unknown",
        }
    }

    /// Whether the unit is running (`active`, `reloading` or `refreshing`).
    pub fn is_active(self) -> bool {
        matches!(self, State::Active | State::Reloading | State::Refreshing)
    }
}

/// A figure systemd reports as `u64::MAX` when unknown: `-1` then.
fn known(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(-1)
}

fn info_map(i: &ServiceInfo) -> Map {
    let mut m = Map::new();
    m.insert("name".into(), i.name.clone().into());
    m.insert("description".into(), i.description.clone().into());
    m.insert("load_state".into(), i.load_state.clone().into());
    m.insert("load_path".into(), i.load_path.clone().into());
    m.insert("unit_file_state".into(), i.unit_file_state.clone().into());
    m.insert("unit_file_preset".into(), i.unit_file_preset.clone().into());
    m.insert("sub_state".into(), i.sub_state.clone().into());
    m.insert("active_state".into(), i.active_state.clone().into());
    m.insert("need_daemon_reload".into(), i.need_daemon_reload.into());
    m.insert("main_pid".into(), i64::from(i.main_pid).into());
    m.insert("tasks".into(), known(i.tasks).into());
    m.insert("memory".into(), known(i.memory).into());
    m
}

fn info_json(i: &ServiceInfo) -> String {
    let mut v = serde_json::to_value(i).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("tasks".into(), known(i.tasks).into());
        obj.insert("memory".into(), known(i.memory).into());
    }
    v.to_string()
}

/// Registers the systemd module for the system bus.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    register_with_bus(engine, sdk, SystemdBus::System);
}

/// Registers the systemd module; `SystemctlManager()` talks to `bus`.
pub fn register_with_bus(engine: &mut Engine, sdk: &SdkContext, bus: SystemdBus) {
    let mut b = Binding::new(engine, "systemd");
    let b = &mut b;
    let mut states = Module::new();
    for (name, s) in STATES {
        states.set_var(*name, *s);
    }
    b.custom_type::<State>();
    b.static_module("State", states.into());
    crate::declare!(
        b,
        "is_active",
        NO_HOST,
        "Whether the unit state counts as active.",
        |s: &mut State| s.is_active()
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |s: &mut State| s.as_str().to_string()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |s: &mut State| s.as_str().to_string()
    );
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: State, b: State| a == b);
    crate::declare!(b, "!=", NO_HOST, "Inequality.", |a: State, b: State| a != b);

    b.custom_type::<ServiceInfo>();
    macro_rules! getter {
        ($name:literal, $f:expr) => {
            b.getter(
                $name,
                NO_HOST,
                concat!("The unit's `", $name, "` property."),
                $f,
            );
        };
    }
    getter!("name", |i: &mut ServiceInfo| i.name.clone());
    getter!("description", |i: &mut ServiceInfo| i.description.clone());
    getter!("load_state", |i: &mut ServiceInfo| i.load_state.clone());
    getter!("load_path", |i: &mut ServiceInfo| i.load_path.clone());
    getter!("unit_file_state", |i: &mut ServiceInfo| i
        .unit_file_state
        .clone());
    getter!("unit_file_preset", |i: &mut ServiceInfo| i
        .unit_file_preset
        .clone());
    getter!("sub_state", |i: &mut ServiceInfo| i.sub_state.clone());
    getter!("active_state", |i: &mut ServiceInfo| State::parse(
        &i.active_state
    ));
    getter!("need_daemon_reload", |i: &mut ServiceInfo| i
        .need_daemon_reload);
    getter!("main_pid", |i: &mut ServiceInfo| i64::from(i.main_pid));
    getter!("tasks", |i: &mut ServiceInfo| known(i.tasks));
    getter!("memory", |i: &mut ServiceInfo| known(i.memory));
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |i: &mut ServiceInfo| info_map(i)
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |i: &mut ServiceInfo| info_json(i)
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |i: &mut ServiceInfo| info_json(i)
    );

    b.custom_type::<SystemctlManager>();
    crate::declare!(
        b,
        "SystemctlManager",
        &[
            Action::SystemdStart,
            Action::SystemdStop,
            Action::SystemdRestart,
            Action::SystemdStatus,
            Action::SystemdDaemonReload
        ],
        "A systemd manager on the configured bus.",
        || {
            let m = match &bus {
                SystemdBus::System => SystemdManager::system(),
                SystemdBus::Address(a) => SystemdManager::with_address(a),
            }
            .map_err(to_script_error)?;
            Ok::<_, Box<EvalAltResult>>(SystemctlManager(Arc::new(m)))
        }
    );

    type Job = fn(&SystemdManager, &SdkContext, &str) -> Result<(), SystemdError>;
    let jobs: [(&str, Job, &'static [Action], &str); 4] = [
        (
            "start",
            SystemdManager::start,
            &[Action::SystemdStart],
            "Starts a unit (waits for the job).",
        ),
        (
            "stop",
            SystemdManager::stop,
            &[Action::SystemdStop],
            "Stops a unit (waits for the job).",
        ),
        (
            "restart",
            SystemdManager::restart,
            &[Action::SystemdRestart],
            "Restarts a unit (waits for the job).",
        ),
        (
            "try_restart",
            SystemdManager::try_restart,
            &[Action::SystemdRestart],
            "Restarts a unit if it runs (waits for the job).",
        ),
    ];
    for (name, job, actions, doc) in jobs {
        let c = sdk.clone();
        crate::declare!(
            b,
            name,
            actions,
            doc,
            |m: &mut SystemctlManager, svc: &str| { job(&m.0, &c, svc).map_err(to_script_error) }
        );
    }
    let c = sdk.clone();
    crate::declare!(
        b,
        "daemon_reload",
        &[Action::SystemdDaemonReload],
        "Reloads the systemd configuration.",
        |m: &mut SystemctlManager| { m.0.daemon_reload(&c).map_err(to_script_error) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "status",
        &[Action::SystemdStatus],
        "The status of a unit.",
        |m: &mut SystemctlManager, svc: &str| {
            m.0.status(&c, svc)
                .map(Dynamic::from)
                .map_err(to_script_error)
        }
    );
    // A `State` compared with a string (`info.active_state == "active"`).
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: State, b: &str| a
        .as_str()
        == b);
}

crate::script_types!(
    State => "State",
    ServiceInfo => "ServiceInfo",
    SystemctlManager => "SystemctlManager",
);
