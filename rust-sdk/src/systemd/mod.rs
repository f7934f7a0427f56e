//! systemd services over D-Bus (`org.freedesktop.systemd1`), with the blocking zbus API (no
//! async runtime is started by the caller).
//!
//! Checks, as in REX: `systemd::Action::"start"`, `"stop"`, `"restart"` (restart and
//! try-restart) and `"status"` on `systemd::Service::"<name>"` (the name as given), and
//! `"daemon_reload"` on the `systemd::Systemd` resource. Unlike REX, nothing runs with an
//! elevated effective uid: the D-Bus call is made with the caller's own credentials, and
//! systemd's (polkit's) own authorization applies on top. The Cedar principal therefore never
//! changes either.
//!
//! Every operation asks Cedar **before** the bus is touched: a [`SystemdManager`] does not
//! connect when it is created, only on the first operation that Cedar allowed. A denied call
//! never opens the bus connection.

use std::sync::OnceLock;

use rex_auth::{Action, AuthError, Denied, Namespace, Resource};
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

use crate::process::ProcessErrorKind;
use crate::{Permit, SdkContext};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";

/// Errors of the systemd API. Kinds are REX's `ProcessErrorKind` (systemd lives in REX's
/// process-management crate).
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// Cedar denied the operation; no D-Bus call was made.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason (e.g. an invalid service name).
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// The unit does not exist.
    #[error("service not found: {0}")]
    ServiceNotFound(String),
    /// A D-Bus failure (connection, method error).
    #[error("D-Bus error: {0}")]
    DBus(String),
}

impl SystemdError {
    /// REX's error kind.
    pub fn kind(&self) -> ProcessErrorKind {
        match self {
            SystemdError::Denied(_) => ProcessErrorKind::PermissionDenied,
            SystemdError::Auth(_) => ProcessErrorKind::AuthorizationError,
            SystemdError::ServiceNotFound(_) => ProcessErrorKind::ServiceNotFound,
            SystemdError::DBus(_) => ProcessErrorKind::DBusError,
        }
    }
}

crate::error::sdk_error!(
    SystemdError,
    module: crate::error::kind_module::PROCESS,
    denied: SystemdError::Denied,
    auth: SystemdError::Auth,
);

fn dbus_err(e: zbus::Error) -> SystemdError {
    SystemdError::DBus(e.to_string())
}

/// The state of a service (REX's `ServiceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceInfo {
    /// Unit name (`nginx.service`).
    pub name: String,
    /// Description.
    pub description: String,
    /// `loaded`, `not-found`, ...
    pub load_state: String,
    /// The unit file (`FragmentPath`).
    pub load_path: String,
    /// `enabled`, `disabled`, ...
    pub unit_file_state: String,
    /// The vendor preset.
    pub unit_file_preset: String,
    /// `running`, `dead`, ...
    pub sub_state: String,
    /// `active`, `inactive`, `failed`, ...
    pub active_state: String,
    /// Whether the unit file changed on disk since it was loaded.
    pub need_daemon_reload: bool,
    /// Main process id (0 when none).
    pub main_pid: u32,
    /// Current task count (`u64::MAX` when unknown, as systemd reports it).
    pub tasks: u64,
    /// Current memory in bytes (`u64::MAX` when unknown).
    pub memory: u64,
}

/// Which bus a [`SystemdManager`] talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bus {
    System,
    Address(String),
}

/// A client of systemd's manager. The bus connection is opened lazily, by the first operation
/// that Cedar allowed, and then reused.
#[derive(Debug)]
pub struct SystemdManager {
    bus: Bus,
    conn: OnceLock<Connection>,
}

impl SystemdManager {
    /// A manager for the system bus. Does not connect yet.
    pub fn system() -> Result<Self, SystemdError> {
        Ok(SystemdManager {
            bus: Bus::System,
            conn: OnceLock::new(),
        })
    }

    /// A manager for the bus at a D-Bus address (e.g. `unix:path=/run/dbus/system_bus_socket`).
    /// Does not connect yet; an unparsable address is reported by the first allowed operation.
    pub fn with_address(address: &str) -> Result<Self, SystemdError> {
        if address.is_empty() {
            return Err(SystemdError::DBus("empty D-Bus address".into()));
        }
        Ok(SystemdManager {
            bus: Bus::Address(address.to_string()),
            conn: OnceLock::new(),
        })
    }

    /// Whether the bus connection has been opened (only after an allowed operation).
    pub fn is_connected(&self) -> bool {
        self.conn.get().is_some()
    }

    /// The connection, opened on first use. `permit` is the proof of the Cedar check of the
    /// operation about to use it (any systemd decision); without one the bus is not touched.
    fn conn(&self, permit: &Permit) -> Result<&Connection, SystemdError> {
        permit.require_namespace(Namespace::Systemd)?;
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let conn = match &self.bus {
            Bus::System => Connection::system().map_err(dbus_err)?,
            Bus::Address(a) => zbus::blocking::connection::Builder::address(a.as_str())
                .and_then(|b| b.build())
                .map_err(dbus_err)?,
        };
        // Another thread may have connected meanwhile; keep the first connection.
        Ok(self.conn.get_or_init(|| conn))
    }

    fn manager(&self, permit: &Permit) -> Result<Proxy<'_>, SystemdError> {
        Proxy::new(self.conn(permit)?, DEST, PATH, MANAGER).map_err(dbus_err)
    }

    fn job(
        &self,
        ctx: &SdkContext,
        action: Action,
        method: &str,
        service: &str,
    ) -> Result<(), SystemdError> {
        let permit = ctx.check(action, &Resource::service(service)?)?;
        let _job: OwnedObjectPath = self
            .manager(&permit)?
            .call(method, &(service, "replace"))
            .map_err(|e| not_found_or(e, service))?;
        Ok(())
    }

    /// Starts a service. Checks `start`.
    pub fn start(&self, ctx: &SdkContext, service: &str) -> Result<(), SystemdError> {
        self.job(ctx, Action::SystemdStart, "StartUnit", service)
    }

    /// Stops a service. Checks `stop`.
    pub fn stop(&self, ctx: &SdkContext, service: &str) -> Result<(), SystemdError> {
        self.job(ctx, Action::SystemdStop, "StopUnit", service)
    }

    /// Restarts a service. Checks `restart`.
    pub fn restart(&self, ctx: &SdkContext, service: &str) -> Result<(), SystemdError> {
        self.job(ctx, Action::SystemdRestart, "RestartUnit", service)
    }

    /// Restarts a service if it is running. Checks `restart`.
    pub fn try_restart(&self, ctx: &SdkContext, service: &str) -> Result<(), SystemdError> {
        self.job(ctx, Action::SystemdRestart, "TryRestartUnit", service)
    }

    /// Reloads unit files. Checks `daemon_reload` on the `Systemd` resource.
    pub fn daemon_reload(&self, ctx: &SdkContext) -> Result<(), SystemdError> {
        let permit = ctx.check(Action::SystemdDaemonReload, &Resource::systemd())?;
        self.manager(&permit)?
            .call::<_, _, ()>("Reload", &())
            .map_err(dbus_err)
    }

    /// The state of a service. Checks `status`.
    pub fn status(&self, ctx: &SdkContext, service: &str) -> Result<ServiceInfo, SystemdError> {
        let permit = ctx.check(Action::SystemdStatus, &Resource::service(service)?)?;
        let path: OwnedObjectPath = self
            .manager(&permit)?
            .call("LoadUnit", &(service,))
            .map_err(|e| not_found_or(e, service))?;
        let conn = self.conn(&permit)?;
        let unit = Proxy::new(conn, DEST, path.clone(), UNIT).map_err(dbus_err)?;
        let svc = Proxy::new(conn, DEST, path, SERVICE).map_err(dbus_err)?;
        let s = |p: &Proxy<'_>, name: &str| p.get_property::<String>(name).unwrap_or_default();
        let load_state = s(&unit, "LoadState");
        if load_state == "not-found" {
            return Err(SystemdError::ServiceNotFound(service.to_string()));
        }
        Ok(ServiceInfo {
            name: unit
                .get_property::<String>("Id")
                .unwrap_or_else(|_| service.to_string()),
            description: s(&unit, "Description"),
            load_state,
            load_path: s(&unit, "FragmentPath"),
            unit_file_state: s(&unit, "UnitFileState"),
            unit_file_preset: s(&unit, "UnitFilePreset"),
            sub_state: s(&unit, "SubState"),
            active_state: s(&unit, "ActiveState"),
            need_daemon_reload: unit
                .get_property::<bool>("NeedDaemonReload")
                .unwrap_or(false),
            main_pid: svc.get_property::<u32>("MainPID").unwrap_or(0),
            tasks: svc.get_property::<u64>("TasksCurrent").unwrap_or(u64::MAX),
            memory: svc.get_property::<u64>("MemoryCurrent").unwrap_or(u64::MAX),
        })
    }
}

fn not_found_or(e: zbus::Error, service: &str) -> SystemdError {
    if let zbus::Error::MethodError(name, _, _) = &e
        && (name.as_str() == "org.freedesktop.systemd1.NoSuchUnit"
            || name.as_str() == "org.freedesktop.systemd1.LoadFailed")
    {
        return SystemdError::ServiceNotFound(service.to_string());
    }
    dbus_err(e)
}
