//! The disk and sysctl modules from real scripts, allowed and denied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests read the host directly to compare with what scripts see.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use common::{assert_denied, caught, engine, ok, run};

const ALLOW_ALL_FS: &str =
    r#"permit(principal, action in file_system::Action::"SafeIO", resource);"#;
const ALLOW_PROC_SYS_READ: &str = r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/sys");"#;

#[test]
fn df_iostat_lsblk_allowed() {
    let e = engine(ALLOW_ALL_FS);
    assert_eq!(
        ok(&e, "let f = df(); f.len() > 0 && f[0].mounted_on.len() > 0"),
        "true"
    );
    assert_eq!(ok(&e, "type_of(iostat().device_stats)"), "array");
    assert_eq!(ok(&e, "type_of(iostat().cpu_stats)"), "map");
    assert_eq!(
        ok(
            &e,
            "Filesystems([], false).filesystems().len() == df().len()"
        ),
        "true"
    );
    assert_eq!(ok(&e, "type_of(lsblk())"), "map");
}

#[test]
fn df_iostat_lsblk_denied() {
    let e = engine("");
    for call in [
        "df()",
        "iostat()",
        "lsblk()",
        "Filesystems([], false).filesystems()",
    ] {
        assert_denied(&run(&e, call));
    }
    assert_eq!(
        ok(&e, &caught("df()")),
        "DiskinfoErrorKind/PermissionDenied"
    );
}

#[test]
fn sysctl_read_and_find_allowed() {
    let e = engine(ALLOW_PROC_SYS_READ);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(ok(&e, r#"sysctl_read("kernel.hostname")"#), host.trim());
    assert_eq!(
        ok(
            &e,
            r#"SysctlManager().read("kernel.hostname") == sysctl_read("kernel.hostname")"#
        ),
        "true"
    );
    let found = ok(
        &e,
        r#"let f = sysctl_find("^kernel\\.hostname$"); f[0].key + "=" + f[0].value"#,
    );
    assert_eq!(found, format!("kernel.hostname={}", host.trim()));
}

#[test]
fn sysctl_read_denied() {
    let e = engine("");
    assert_denied(&run(&e, r#"sysctl_read("kernel.hostname")"#));
    assert_eq!(
        ok(&e, &caught(r#"sysctl_read("kernel.hostname")"#)),
        "SysteminfoErrorKind/PermissionDenied"
    );
    // find skips what it may not read.
    assert_eq!(ok(&e, r#"sysctl_find("hostname").len()"#), "0");
}

#[test]
fn sysctl_write_denied_changes_nothing() {
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let e = engine(ALLOW_PROC_SYS_READ);
    assert_denied(&run(
        &e,
        r#"sysctl_write("kernel.hostname", "rex-was-here")"#,
    ));
    assert_denied(&run(
        &e,
        r#"SysctlManager().write("kernel.hostname", "rex-was-here")"#,
    ));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
}

#[test]
fn sysctl_write_allowed_passes_cedar() {
    // Writes the current value back (a no-op on the host). In a container /proc/sys may be
    // read-only, so an OS error is accepted, but never a denial.
    let current = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let e = engine(&format!(
        r#"{ALLOW_PROC_SYS_READ}
        permit(principal, action == file_system::Action::"write", resource == file_system::File::"/proc/sys/kernel/hostname");"#
    ));
    let out = run(
        &e,
        &format!(r#"sysctl_write("kernel.hostname", "{}")"#, current.trim()),
    );
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    if let Some(err) = &out.error {
        assert_ne!(err.kind(), rex_core::ErrorKind::AccessDenied);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        current
    );
}
