//! A context whose authorizer is installed later fails closed until then: no operation
//! reaches the kernel, and the refusal is not mistaken for a policy denial.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::fs::{DirHandle, FsError, OpenDirOptions};
use rust_sdk::{AuthorizerSlot, SdkContext};

fn authorizer(policy: &str) -> Arc<Authorizer> {
    Arc::new(
        Authorizer::builder()
            .principal(Principal::user("tester").unwrap())
            .policies(Policies::parse("test", policy).unwrap())
            .build()
            .unwrap(),
    )
}

#[test]
fn pending_context_refuses_before_any_syscall_then_follows_the_installed_policy() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("new");
    let create = OpenDirOptions {
        create: true,
        ..Default::default()
    };
    let slot = AuthorizerSlot::new();
    let ctx = SdkContext::with_pending_authorizer(slot.clone());
    assert!(ctx.authorizer().is_none());
    let e = DirHandle::open(&ctx, target.to_str().unwrap(), create).unwrap_err();
    assert!(
        !matches!(e, FsError::PermissionDenied(_)),
        "not a policy denial: {e:?}"
    );
    assert!(!target.exists(), "nothing was created");

    let policy = format!(
        "permit(principal, action, resource in file_system::Dir::\"{}\");",
        t.path().display()
    );
    slot.install(authorizer(&policy)).unwrap();
    // A second install is refused and the first authorizer stays.
    assert!(slot.install(authorizer("")).is_err());
    DirHandle::open(&ctx, target.to_str().unwrap(), create).unwrap();
    assert!(target.is_dir());
}
