//! A private `dbus-daemon` bus with a fake `org.freedesktop.systemd1` on it, for the systemd
//! tests of rust-sdk (`tests/systemd_api.rs`) and rhai-sdk (`tests/systemd.rs`), which both
//! include this file with `#[path = ...] mod dbus;`.
//!
//! The fake knows one unit, `demo.service`, answers every other name with `NoSuchUnit`, and
//! records each manager call it receives in [`Bus::calls`].
// The including test crates allow unwrap/panic; rhai-sdk's clippy.toml also needs this for
// the dbus-daemon child process.
#![allow(dead_code, clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use zbus::zvariant::OwnedObjectPath;

/// The object path of `demo.service`.
pub const UNIT_PATH: &str = "/org/freedesktop/systemd1/unit/demo_2eservice";

/// The properties of `demo.service` that differ between the tests.
#[derive(Debug, Clone, Copy)]
pub struct DemoUnit {
    /// `Unit.NeedDaemonReload`.
    pub need_daemon_reload: bool,
    /// `Service.MemoryCurrent`.
    pub memory_current: u64,
}

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

struct FakeUnit(DemoUnit);

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
        self.0.need_daemon_reload
    }
}

struct FakeService(DemoUnit);

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
        self.0.memory_current
    }
}

/// A running private bus with the fake systemd on it; the daemon is killed on drop.
pub struct Bus {
    daemon: Child,
    /// The bus address (`unix:path=...`).
    pub address: String,
    /// The manager calls the fake received, in order (`"start demo.service replace"`,
    /// `"reload"`, `"load demo.service"`, ...).
    pub calls: Arc<Mutex<Vec<String>>>,
    _server: zbus::blocking::Connection,
    _dir: tempfile::TempDir,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A private bus with the fake systemd on it, `demo.service` having the properties `unit`;
/// `None` (test skipped) when `dbus-daemon` is not installed.
pub fn bus(unit: DemoUnit) -> Option<Bus> {
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
        .serve_at(UNIT_PATH, FakeUnit(unit))
        .unwrap()
        .serve_at(UNIT_PATH, FakeService(unit))
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

/// A bus address nothing listens on: any connection attempt fails. Keep the directory alive
/// while the address is used.
pub fn bogus_address() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:path={}", dir.path().join("no-bus").display());
    (dir, addr)
}
