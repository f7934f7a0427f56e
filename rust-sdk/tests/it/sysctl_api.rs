//! sysctl read/write/find against this machine's /proc/sys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::user_ctx as ctx;
use rust_sdk::sysctl;
use rust_sdk::system::SysinfoErrorKind;

const READ_KERNEL: &str = r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/sys/kernel");
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::Dir::"/proc/sys");"#;

#[test]
fn read_allowed() {
    let c = ctx(READ_KERNEL);
    assert_eq!(sysctl::read(&c, "kernel.ostype").unwrap(), "Linux");
    assert_eq!(sysctl::read(&c, "kernel/ostype").unwrap(), "Linux");
    let err = sysctl::read(&c, "kernel.no_such_key_rex").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::IoError);
}

#[test]
fn read_denied_and_invalid() {
    let c = ctx(READ_KERNEL);
    let err = sysctl::read(&c, "vm.swappiness").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    // open alone is not enough
    let c = ctx(r#"permit(principal, action == file_system::Action::"open", resource);"#);
    let err = sysctl::read(&c, "kernel.ostype").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    let err = sysctl::read(&c, "../../etc/passwd").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::InvalidParameter);
}

#[test]
fn write_allowed_same_value() {
    // write the current value back: harmless, and proves the write path reaches the kernel
    let key = "vm.swappiness";
    let c = ctx(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"write"], resource == file_system::File::"/proc/sys/vm/swappiness");"#,
    );
    let before = sysctl::read(&c, key).unwrap();
    match sysctl::write(&c, key, &before) {
        Ok(()) => assert_eq!(sysctl::read(&c, key).unwrap(), before),
        // /proc/sys may be mounted read-only in a container: an OS error, not a denial
        Err(e) => assert_eq!(e.kind(), SysinfoErrorKind::IoError, "{e}"),
    }
}

#[test]
fn write_denied_changes_nothing() {
    let key = "vm.swappiness";
    let c = ctx(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/proc/sys/vm/swappiness");"#,
    );
    let before = sysctl::read(&c, key).unwrap();
    let new = if before == "1" { "2" } else { "1" };
    let err = sysctl::write(&c, key, new).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    assert_eq!(sysctl::read(&c, key).unwrap(), before);
    let err = sysctl::write(&c, key, "a\0b").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::InvalidParameter);
}

#[test]
fn find_allowed_only_sees_allowed_subtree() {
    let c = ctx(READ_KERNEL);
    let found = sysctl::find(&c, r"^kernel\.os").unwrap();
    let keys: Vec<&str> = found.entries.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"kernel.ostype"), "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("kernel.os")));
    // the other top-level directories (vm, net, fs, ...) were denied and counted
    assert!(found.denied_count >= 1);
    let ostype = found
        .entries
        .iter()
        .find(|e| e.key == "kernel.ostype")
        .unwrap();
    assert_eq!(ostype.value, "Linux");
}

#[test]
fn find_denied_and_bad_pattern() {
    let c = ctx("");
    let found = sysctl::find(&c, "kernel").unwrap();
    assert!(found.entries.is_empty());
    assert_eq!(found.denied_count, 1, "the root directory itself");
    let err = sysctl::find(&c, "(").unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::InvalidParameter);
}
