//! `SystemctlManager` from scripts, against a private dbus-daemon with a fake systemd written
//! here (skipped when dbus-daemon is not installed), and denials without any bus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The fake bus needs a real dbus-daemon child process.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{assert_denied, ok, run, sdk};
use rex_core::RexEngine;
use rhai_sdk::systemd::{SystemdBus, register_with_bus};
use zbus::zvariant::OwnedObjectPath;

const UNIT_PATH: &str = "/org/freedesktop/systemd1/unit/demo_2eservice";

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.systemd1")]
enum SdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NoSuchUnit(String),
}

struct FakeManager {
    calls: Arc<Mutex<Vec<String>>>,
}

impl FakeManager {
    fn record(&self, what: String, name: &str) -> Result<OwnedObjectPath, SdError> {
        if name != "demo.service" {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not found.")));
        }
        self.calls.lock().unwrap().push(what);
        Ok(OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/1").unwrap())
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeManager {
    fn start_unit(&self, name: String, mode: String) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("start {name} {mode}"), &name)
    }
    fn stop_unit(&self, name: String, mode: String) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("stop {name} {mode}"), &name)
    }
    fn restart_unit(&self, name: String, mode: String) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("restart {name} {mode}"), &name)
    }
    fn try_restart_unit(&self, name: String, mode: String) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("try-restart {name} {mode}"), &name)
    }
    fn reload(&self) {
        self.calls.lock().unwrap().push("reload".into());
    }
    fn load_unit(&self, name: String) -> Result<OwnedObjectPath, SdError> {
        if name != "demo.service" {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not found.")));
        }
        self.calls.lock().unwrap().push(format!("load {name}"));
        Ok(OwnedObjectPath::try_from(UNIT_PATH).unwrap())
    }
}

struct FakeUnit;

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl FakeUnit {
    #[zbus(property)]
    fn id(&self) -> String {
        "demo.service".into()
    }
    #[zbus(property)]
    fn description(&self) -> String {
        "Demo service".into()
    }
    #[zbus(property)]
    fn load_state(&self) -> String {
        "loaded".into()
    }
    #[zbus(property)]
    fn fragment_path(&self) -> String {
        "/etc/systemd/system/demo.service".into()
    }
    #[zbus(property)]
    fn unit_file_state(&self) -> String {
        "enabled".into()
    }
    #[zbus(property)]
    fn unit_file_preset(&self) -> String {
        "disabled".into()
    }
    #[zbus(property)]
    fn sub_state(&self) -> String {
        "running".into()
    }
    #[zbus(property)]
    fn active_state(&self) -> String {
        "active".into()
    }
    #[zbus(property)]
    fn need_daemon_reload(&self) -> bool {
        true
    }
}

struct FakeService;

#[zbus::interface(name = "org.freedesktop.systemd1.Service")]
impl FakeService {
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> u32 {
        4242
    }
    #[zbus(property)]
    fn tasks_current(&self) -> u64 {
        3
    }
    #[zbus(property)]
    fn memory_current(&self) -> u64 {
        u64::MAX
    }
}

struct Bus {
    daemon: Child,
    address: String,
    calls: Arc<Mutex<Vec<String>>>,
    _server: zbus::blocking::Connection,
    _dir: tempfile::TempDir,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A private bus with the fake systemd on it; `None` (test skipped) without `dbus-daemon`.
fn bus() -> Option<Bus> {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let conf = dir.path().join("bus.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )
    .unwrap();
    let mut daemon = match Command::new("dbus-daemon")
        .arg(format!("--config-file={}", conf.display()))
        .args(["--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("dbus-daemon not installed: systemd test skipped");
            return None;
        }
        Err(e) => panic!("{e}"),
    };
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().to_string();
    assert!(address.starts_with("unix:"), "{address}");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let server = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.systemd1")
        .unwrap()
        .serve_at(
            "/org/freedesktop/systemd1",
            FakeManager {
                calls: calls.clone(),
            },
        )
        .unwrap()
        .serve_at(UNIT_PATH, FakeUnit)
        .unwrap()
        .serve_at(UNIT_PATH, FakeService)
        .unwrap()
        .build()
        .unwrap();
    Some(Bus {
        daemon,
        address,
        calls,
        _server: server,
        _dir: dir,
    })
}

fn engine_on(address: &str, policy: &str) -> RexEngine {
    let sdk = sdk(policy);
    let bus = SystemdBus::Address(address.to_string());
    RexEngine::builder()
        .register(|e| {
            rhai_sdk::error::register_kind_modules(e);
            register_with_bus(e, &sdk, bus.clone());
        })
        .build()
}

fn bogus_address() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:path={}", dir.path().join("no-bus").display());
    (dir, addr)
}

fn caught(call: &str) -> String {
    format!(
        r#"let sm = SystemctlManager(); let r = "no error";
           try {{ {call}; }} catch (e) {{ r = e.source + "/" + e.kind; }} r"#
    )
}

#[test]
fn systemctl_manager_allowed_reaches_systemd() {
    let Some(b) = bus() else { return };
    let e = engine_on(
        &b.address,
        r#"permit(principal, action in systemd::Action::"SystemdAction", resource == systemd::Service::"demo.service");
           permit(principal, action == systemd::Action::"daemon_reload", resource);"#,
    );
    ok(
        &e,
        r#"let sm = SystemctlManager();
           sm.start("demo.service"); sm.stop("demo.service"); sm.restart("demo.service");
           sm.try_restart("demo.service"); sm.daemon_reload();"#,
    );
    let out = ok(
        &e,
        r#"let i = SystemctlManager().status("demo.service");
           [i.name, i.description, i.load_state, i.load_path, i.unit_file_state,
            i.unit_file_preset, i.sub_state, i.active_state.to_string(),
            i.active_state == State::ACTIVE, i.active_state.is_active(),
            i.need_daemon_reload, i.main_pid, i.tasks, i.memory]"#,
    );
    assert_eq!(
        out,
        r#"["demo.service", "Demo service", "loaded", "/etc/systemd/system/demo.service", "enabled", "disabled", "running", "active", true, true, true, 4242, 3, -1]"#
    );
    let json = ok(
        &e,
        r#"SystemctlManager().status("demo.service").to_string()"#,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["main_pid"], 4242);
    assert_eq!(v["active_state"], "active");
    assert_eq!(v["memory"], -1);
    assert_eq!(
        ok(
            &e,
            r#"SystemctlManager().status("demo.service").to_map().unit_file_state"#
        ),
        "enabled"
    );
    assert_eq!(
        ok(&e, &caught(r#"sm.status("nope.service")"#)),
        "ProcessErrorKind/PermissionDenied"
    );
    let calls = b.calls.lock().unwrap().clone();
    assert_eq!(
        calls[..5],
        [
            "start demo.service replace",
            "stop demo.service replace",
            "restart demo.service replace",
            "try-restart demo.service replace",
            "reload",
        ]
    );
    assert!(calls[5..].iter().all(|c| c == "load demo.service"));
}

#[test]
fn unknown_service_is_service_not_found() {
    let Some(b) = bus() else { return };
    let e = engine_on(
        &b.address,
        r#"permit(principal, action in systemd::Action::"SystemdAction", resource);"#,
    );
    assert_eq!(
        ok(&e, &caught(r#"sm.start("nope.service")"#)),
        "ProcessErrorKind/ServiceNotFound"
    );
    assert!(b.calls.lock().unwrap().is_empty());
}

#[test]
fn systemctl_manager_denied_makes_no_call() {
    let Some(b) = bus() else { return };
    let e = engine_on(
        &b.address,
        r#"permit(principal, action == systemd::Action::"status", resource == systemd::Service::"other.service");"#,
    );
    for call in [
        r#"sm.start("demo.service")"#,
        r#"sm.stop("demo.service")"#,
        r#"sm.restart("demo.service")"#,
        r#"sm.try_restart("demo.service")"#,
        r#"sm.daemon_reload()"#,
        r#"sm.status("demo.service")"#,
    ] {
        assert_eq!(ok(&e, &caught(call)), "ProcessErrorKind/PermissionDenied");
        assert_denied(&run(&e, &format!("let sm = SystemctlManager(); {call}")));
    }
    assert!(b.calls.lock().unwrap().is_empty());
}

#[test]
fn denial_comes_before_any_bus_connection() {
    // No dbus-daemon needed: nothing listens at the address, and a denial must still be a
    // typed denial (not a D-Bus error), while an allowed call reaches the (failing) bus.
    let (_dir, addr) = bogus_address();
    let denied = engine_on(&addr, "");
    for call in [
        r#"sm.start("demo.service")"#,
        r#"sm.daemon_reload()"#,
        r#"sm.status("demo.service")"#,
    ] {
        assert_eq!(
            ok(&denied, &caught(call)),
            "ProcessErrorKind/PermissionDenied"
        );
    }
    let allowed = engine_on(
        &addr,
        r#"permit(principal, action in systemd::Action::"SystemdAction", resource);"#,
    );
    assert_eq!(
        ok(&allowed, &caught(r#"sm.start("demo.service")"#)),
        "ProcessErrorKind/DBusError"
    );
}

#[test]
fn state_constants() {
    let (_dir, addr) = bogus_address();
    let e = engine_on(&addr, "");
    assert_eq!(
        ok(
            &e,
            "[State::ACTIVE.is_active(), State::FAILED.is_active(), State::INACTIVE.to_string(), \
             State::ACTIVE == State::FAILED, State::UNKNOWN != State::ACTIVE]"
        ),
        r#"[true, false, "inactive", false, true]"#
    );
}

#[test]
fn systemd_module_is_selectable() {
    let m = rhai_sdk::RexModules::from_names(["systemd"]).unwrap();
    assert_eq!(m.names(), vec!["systemd"]);
    assert!(rhai_sdk::RexModules::all().contains("systemd"));
    assert!(
        m.functions()
            .iter()
            .any(|f| f.name == "SystemctlManager" && f.actions.contains(&"systemd::start"))
    );
}
