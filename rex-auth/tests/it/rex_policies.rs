//! Policies in REX's style validate against Rex's schema unchanged, and mean what they say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rex_auth::{Action, Authorizer, Policies, Principal, RequestContext, Resource};

const REX_STYLE: &str = include_str!("../fixtures/rex_style.cedar");

fn authorizer() -> Authorizer {
    let policies =
        Policies::parse("rex_style.cedar", REX_STYLE).unwrap_or_else(|e| panic!("{}", e.render()));
    Authorizer::builder()
        .principal(Principal::user("root").unwrap())
        .policies(policies)
        .build()
        .unwrap()
}

#[test]
fn every_rex_idiom_validates_strictly() {
    let policies =
        Policies::parse("rex_style.cedar", REX_STYLE).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(policies.len(), 23);
}

#[test]
fn rex_style_policies_decide_as_written() {
    let a = authorizer();
    let none = RequestContext::None;
    let allowed = |action, r: &Resource| a.authorize(action, r, &none).is_ok();
    assert!(allowed(
        Action::FsRead,
        &Resource::file("/var/log/syslog").unwrap()
    ));
    assert!(allowed(
        Action::FsRead,
        &Resource::file("/etc/app.conf").unwrap()
    ));
    assert!(!allowed(
        Action::FsRead,
        &Resource::file("/etc/shadow").unwrap()
    ));
    assert!(!allowed(
        Action::FsWrite,
        &Resource::file("/etc/app.conf").unwrap()
    ));
    assert!(allowed(
        Action::FsDelete,
        &Resource::file("/tmp/work/a/b").unwrap()
    ));
    assert!(!allowed(
        Action::FsDelete,
        &Resource::file("/tmp/other").unwrap()
    ));
    assert!(allowed(
        Action::SystemdRestart,
        &Resource::service("nginx.service").unwrap()
    ));
    assert!(allowed(
        Action::SystemdStop,
        &Resource::service("app-web.service").unwrap()
    ));
    assert!(!allowed(
        Action::SystemdStop,
        &Resource::service("sshd.service").unwrap()
    ));
}
