//! `SystemctlManager` from scripts, against a private dbus-daemon with a fake systemd (shared
//! with rust-sdk's tests; skipped when dbus-daemon is not installed), and denials without any
//! bus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
/// The fake systemd bus is rust-sdk's test fixture, shared as a file.
#[path = "../../../rust-sdk/tests/it/common/dbus.rs"]
mod dbus;

use common::{assert_denied, ok, run, sdk};
use dbus::{Bus, DemoUnit, bogus_address};
use rex_core::RexEngine;
use rhai_sdk::systemd::{SystemdBus, register_with_bus};

/// The fake systemd, `demo.service` needing a daemon-reload and reporting `u64::MAX` memory
/// (which scripts see as -1).
fn bus() -> Option<Bus> {
    dbus::bus(DemoUnit {
        need_daemon_reload: true,
        memory_current: u64::MAX,
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
    assert!(m.functions().iter().any(
        |f| f.name == "SystemctlManager" && f.actions.contains(&rex_auth::Action::SystemdStart)
    ));
}
