//! systemd over a real dbus-daemon bus with a fake `org.freedesktop.systemd1` written here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use rex_auth::{Authorizer, Policies};
use rust_sdk::SdkContext;
use rust_sdk::process::ProcessErrorKind;
use rust_sdk::systemd::SystemdManager;
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
        false
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
        1 << 20
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

/// A private bus with the fake systemd on it; `None` (test skipped) when `dbus-daemon` is not
/// installed.
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

fn ctx(policy: &str) -> SdkContext {
    let auth = Authorizer::builder()
        .principal(rust_sdk::identity::effective_user_principal().unwrap())
        .policies(Policies::parse("test", policy).unwrap())
        .build()
        .unwrap();
    SdkContext::new(Arc::new(auth))
}

#[test]
fn allowed_operations_reach_systemd() {
    let Some(b) = bus() else { return };
    let m = SystemdManager::with_address(&b.address).unwrap();
    let c = ctx(
        r#"permit(principal, action in systemd::Action::"SystemdAction", resource == systemd::Service::"demo.service");
           permit(principal, action == systemd::Action::"daemon_reload", resource);"#,
    );
    m.start(&c, "demo.service").unwrap();
    m.stop(&c, "demo.service").unwrap();
    m.restart(&c, "demo.service").unwrap();
    m.try_restart(&c, "demo.service").unwrap();
    m.daemon_reload(&c).unwrap();
    let info = m.status(&c, "demo.service").unwrap();
    assert_eq!(info.name, "demo.service");
    assert_eq!(info.description, "Demo service");
    assert_eq!(info.load_state, "loaded");
    assert_eq!(info.load_path, "/etc/systemd/system/demo.service");
    assert_eq!(info.unit_file_state, "enabled");
    assert_eq!(info.unit_file_preset, "disabled");
    assert_eq!(info.active_state, "active");
    assert_eq!(info.sub_state, "running");
    assert!(!info.need_daemon_reload);
    assert_eq!(info.main_pid, 4242);
    assert_eq!(info.tasks, 3);
    assert_eq!(info.memory, 1 << 20);
    assert_eq!(
        *b.calls.lock().unwrap(),
        vec![
            "start demo.service replace",
            "stop demo.service replace",
            "restart demo.service replace",
            "try-restart demo.service replace",
            "reload",
            "load demo.service",
        ]
    );
}

#[test]
fn denied_operations_make_no_dbus_call() {
    let Some(b) = bus() else { return };
    let m = SystemdManager::with_address(&b.address).unwrap();
    // only status, and only for another service
    let c = ctx(
        r#"permit(principal, action == systemd::Action::"status", resource == systemd::Service::"other.service");"#,
    );
    for r in [
        m.start(&c, "demo.service"),
        m.stop(&c, "demo.service"),
        m.restart(&c, "demo.service"),
        m.try_restart(&c, "demo.service"),
        m.daemon_reload(&c),
        m.status(&c, "demo.service").map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), ProcessErrorKind::PermissionDenied);
    }
    assert!(b.calls.lock().unwrap().is_empty());
}

#[test]
fn unknown_unit_is_service_not_found() {
    let Some(b) = bus() else { return };
    let m = SystemdManager::with_address(&b.address).unwrap();
    let c = ctx(r#"permit(principal, action in systemd::Action::"SystemdAction", resource);"#);
    assert_eq!(
        m.start(&c, "nope.service").unwrap_err().kind(),
        ProcessErrorKind::ServiceNotFound
    );
    assert_eq!(
        m.status(&c, "nope.service").unwrap_err().kind(),
        ProcessErrorKind::ServiceNotFound
    );
    assert!(b.calls.lock().unwrap().is_empty());
}

/// A bus address nothing listens on: any connection attempt fails.
fn bogus_address() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:path={}", dir.path().join("no-bus").display());
    (dir, addr)
}

#[test]
fn denied_operations_never_open_the_bus() {
    // Runs without dbus-daemon: a denial must come before any connection attempt.
    let (_dir, addr) = bogus_address();
    let m = SystemdManager::with_address(&addr).unwrap();
    let c = ctx(
        r#"permit(principal, action == systemd::Action::"status", resource == systemd::Service::"other.service");"#,
    );
    for r in [
        m.start(&c, "demo.service"),
        m.stop(&c, "demo.service"),
        m.restart(&c, "demo.service"),
        m.try_restart(&c, "demo.service"),
        m.daemon_reload(&c),
        m.status(&c, "demo.service").map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert!(
            matches!(e, rust_sdk::systemd::SystemdError::Denied(_)),
            "{e:?}"
        );
    }
    assert!(!m.is_connected());
    // the system-bus manager behaves the same (no bus is needed to be denied)
    let sys = SystemdManager::system().unwrap();
    assert_eq!(
        sys.start(&c, "demo.service").unwrap_err().kind(),
        ProcessErrorKind::PermissionDenied
    );
    assert!(!sys.is_connected());
}

#[test]
fn allowed_operation_connects_only_after_the_check() {
    let (_dir, addr) = bogus_address();
    let m = SystemdManager::with_address(&addr).unwrap();
    let c = ctx(r#"permit(principal, action in systemd::Action::"SystemdAction", resource);"#);
    // the check passes, so the (failing) connection is attempted: a D-Bus error, not a denial
    assert_eq!(
        m.start(&c, "demo.service").unwrap_err().kind(),
        ProcessErrorKind::DBusError
    );
    assert_eq!(
        m.daemon_reload(&c).unwrap_err().kind(),
        ProcessErrorKind::DBusError
    );
    assert!(!m.is_connected());
    assert!(SystemdManager::with_address("").is_err());
}

#[test]
fn connection_is_opened_lazily_and_reused() {
    let Some(b) = bus() else { return };
    let m = SystemdManager::with_address(&b.address).unwrap();
    assert!(!m.is_connected());
    let c = ctx(r#"permit(principal, action in systemd::Action::"SystemdAction", resource);"#);
    assert_eq!(
        m.stop(&ctx(""), "demo.service").unwrap_err().kind(),
        ProcessErrorKind::PermissionDenied
    );
    assert!(!m.is_connected());
    m.start(&c, "demo.service").unwrap();
    assert!(m.is_connected());
    m.stop(&c, "demo.service").unwrap();
    assert_eq!(
        *b.calls.lock().unwrap(),
        vec!["start demo.service replace", "stop demo.service replace"]
    );
}
