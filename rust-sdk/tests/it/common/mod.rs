//! Fixtures shared by rust-sdk's integration tests (`mod common; use common::*;`).
// Test helpers create real files, processes and sockets to observe effects on the host.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
// The including test crates allow unwrap/expect/panic/indexing.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::SdkContext;
use rust_sdk::fs::{DirHandle, FileHandle, FsError, FsErrorKind, OpenDirOptions, OpenFileOptions};

/// A context for `principal` under the Cedar `policy` text.
pub fn ctx_as(principal: Principal, policy: &str) -> SdkContext {
    let auth = Authorizer::builder()
        .principal(principal)
        .policies(Policies::parse("test", policy).unwrap())
        .build()
        .unwrap();
    SdkContext::new(Arc::new(auth))
}

/// A context for the user "tester" under `policy`.
pub fn ctx(policy: &str) -> SdkContext {
    ctx_as(Principal::user("tester").unwrap(), policy)
}

/// A context for the effective user running the tests (the tests that query the real
/// machine: processes, disks, sockets, systemd) under `policy`.
pub fn user_ctx(policy: &str) -> SdkContext {
    ctx_as(
        rust_sdk::runtime::identity::effective_user_principal().unwrap(),
        policy,
    )
}

/// Every file_system action under `dir`.
pub fn all(dir: &Path) -> String {
    format!(
        "permit(principal, action, resource in file_system::Dir::\"{}\");",
        dir.display()
    )
}

/// Only the listed file_system actions under `dir`.
pub fn only(dir: &Path, actions: &[&str]) -> String {
    let a: Vec<String> = actions
        .iter()
        .map(|a| format!("file_system::Action::\"{a}\""))
        .collect();
    format!(
        "permit(principal, action in [{}], resource in file_system::Dir::\"{}\");",
        a.join(", "),
        dir.display()
    )
}

/// `p` as a UTF-8 string.
pub fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Opens the directory `p` (which must be allowed).
pub fn open_dir(c: &SdkContext, p: &Path) -> DirHandle {
    DirHandle::open(c, &s(p), OpenDirOptions::default()).unwrap()
}

/// Asserts that `r` failed as a permission denial.
pub fn denied<T: std::fmt::Debug>(r: Result<T, FsError>) {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
}

/// `open` on everything, `execute` on `bin` with an extra condition (`when { ... }` or "").
pub fn exec_policy(bin: &str, when: &str) -> String {
    format!(
        r#"permit(principal, action == file_system::Action::"open", resource);
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"{bin}") {when};"#
    )
}

/// Opens the absolute `path` read-only through the gated fs API.
pub fn open_read(c: &SdkContext, path: &str) -> FileHandle {
    let p = Path::new(path);
    let dir = DirHandle::open(
        c,
        p.parent().unwrap().to_str().unwrap(),
        OpenDirOptions::default(),
    )
    .unwrap();
    dir.open_file(
        c,
        p.file_name().unwrap().to_str().unwrap(),
        OpenFileOptions::read(),
    )
    .unwrap()
}
