//! systemd over a real dbus-daemon bus with a fake `org.freedesktop.systemd1`
//! (`common/dbus.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
#[path = "common/dbus.rs"]
mod dbus;

use common::user_ctx as ctx;
use dbus::{Bus, DemoUnit, bogus_address};
use rust_sdk::SdkContext;
use rust_sdk::process::ProcessErrorKind;
use rust_sdk::systemd::{SystemdError, SystemdManager};

/// The fake systemd, `demo.service` needing no daemon-reload and using 1 MiB.
fn bus() -> Option<Bus> {
    dbus::bus(DemoUnit {
        need_daemon_reload: false,
        memory_current: 1 << 20,
    })
}

/// Every manager operation on `demo.service` (and `daemon_reload`), in that order.
fn every_operation_on_demo(m: &SystemdManager, c: &SdkContext) -> [Result<(), SystemdError>; 6] {
    [
        m.start(c, "demo.service"),
        m.stop(c, "demo.service"),
        m.restart(c, "demo.service"),
        m.try_restart(c, "demo.service"),
        m.daemon_reload(c),
        m.status(c, "demo.service").map(|_| ()),
    ]
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
    for r in every_operation_on_demo(&m, &c) {
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

#[test]
fn denied_operations_never_open_the_bus() {
    // Runs without dbus-daemon: a denial must come before any connection attempt.
    let (_dir, addr) = bogus_address();
    let m = SystemdManager::with_address(&addr).unwrap();
    let c = ctx(
        r#"permit(principal, action == systemd::Action::"status", resource == systemd::Service::"other.service");"#,
    );
    for r in every_operation_on_demo(&m, &c) {
        let e = r.unwrap_err();
        assert!(matches!(e, SystemdError::Denied(_)), "{e:?}");
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
