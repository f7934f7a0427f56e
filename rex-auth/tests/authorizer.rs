#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Allow / deny / forbid-overrides-permit / deny-by-default for every resource kind, subtree
//! grants, fail-closed behaviour, audit records and permissive mode.

use std::collections::BTreeMap;
use std::sync::Arc;

use rex_auth::{
    Action, AuthError, Authorizer, ExecuteContext, Identity, MemoryAuditSink, Outcome, Policies,
    Principal, ProcessAttrs, RequestContext, Resource, UrlAttrs,
};

fn auth(policy: &str) -> Authorizer {
    Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .policies(Policies::parse("test.cedar", policy).unwrap())
        .build()
        .unwrap()
}

fn allowed(a: &Authorizer, action: Action, r: &Resource, c: &RequestContext) -> bool {
    match a.authorize(action, r, c) {
        Ok(()) => true,
        Err(AuthError::Denied(_)) => false,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn process(pid: u32, name: &str) -> Resource {
    Resource::process(ProcessAttrs {
        pid,
        uid: 1000,
        name: name.into(),
        username: "alice".into(),
        command: format!("/usr/bin/{name} --flag"),
    })
}

fn url(host: &str, port: u16) -> Resource {
    Resource::url(
        &format!("https://{host}:{port}/"),
        UrlAttrs {
            scheme: "https".into(),
            host: host.into(),
            port,
            path: "/".into(),
        },
    )
    .unwrap()
}

/// For each resource kind: (action, allowed resource, other resource, permit policy, forbid policy).
fn cases() -> Vec<(Action, Resource, Resource, String, String)> {
    vec![
        (
            Action::FsRead,
            Resource::file("/var/log/syslog").unwrap(),
            Resource::file("/etc/shadow").unwrap(),
            r#"permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/var/log");"#.into(),
            r#"forbid(principal, action, resource == file_system::File::"/var/log/syslog");"#.into(),
        ),
        (
            Action::FsDelete,
            Resource::dir("/tmp/work").unwrap(),
            Resource::dir("/tmp/other").unwrap(),
            r#"permit(principal, action == file_system::Action::"delete", resource) when { resource.path like "/tmp/work*" };"#.into(),
            r#"forbid(principal, action in file_system::Action::"SafeIO", resource is file_system::Dir);"#.into(),
        ),
        (
            Action::ProcessKill,
            process(42, "nginx"),
            process(43, "sshd"),
            r#"permit(principal, action == process_system::Action::"kill", resource) when { resource.name == "nginx" };"#.into(),
            r#"forbid(principal, action, resource) when { resource is process_system::Process && resource.pid == 42 };"#.into(),
        ),
        (
            Action::SystemdRestart,
            Resource::service("nginx.service").unwrap(),
            Resource::service("sshd.service").unwrap(),
            r#"permit(principal, action == systemd::Action::"restart", resource == systemd::Service::"nginx.service");"#.into(),
            r#"forbid(principal, action in systemd::Action::"SystemdAction", resource);"#.into(),
        ),
        (
            Action::SysinfoResolveHostname,
            Resource::hostname("example.com").unwrap(),
            Resource::hostname("evil.example").unwrap(),
            r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource) when { resource.hostname == "example.com" };"#.into(),
            r#"forbid(principal, action == sysinfo::Action::"resolve_hostname", resource);"#.into(),
        ),
        (
            Action::NetworkConnect,
            url("db.internal", 5432),
            url("db.internal", 22),
            r#"permit(principal, action == network::Action::"connect", resource) when { resource.host == "db.internal" && resource.port == 5432 };"#.into(),
            r#"forbid(principal, action in network::Action::"NetworkAction", resource) when { resource.port == 5432 };"#.into(),
        ),
        (
            Action::SysinfoList,
            Resource::sysinfo(),
            Resource::uname(),
            r#"permit(principal, action == sysinfo::Action::"list", resource is sysinfo::Sysinfo);"#.into(),
            r#"forbid(principal, action, resource is sysinfo::Sysinfo);"#.into(),
        ),
        (
            Action::SystemdDaemonReload,
            Resource::systemd(),
            Resource::systemd(),
            r#"permit(principal == User::"alice", action == systemd::Action::"daemon_reload", resource);"#.into(),
            r#"forbid(principal, action, resource is systemd::Systemd);"#.into(),
        ),
        (
            Action::SysctlLoad,
            Resource::sysctl(),
            Resource::sysctl(),
            r#"permit(principal, action == sysctl::Action::"load", resource is sysctl::Sysctl);"#.into(),
            r#"forbid(principal, action in sysctl::Action::"SysctlAction", resource);"#.into(),
        ),
    ]
}

#[test]
fn every_kind_allow_deny_forbid_default() {
    let none = RequestContext::None;
    for (action, yes, no, permit, forbid) in cases() {
        // Deny by default.
        let empty = Authorizer::builder()
            .principal(Principal::user("alice").unwrap())
            .build()
            .unwrap();
        assert!(!allowed(&empty, action, &yes, &none), "{action} default");
        // Allow.
        let a = auth(&permit);
        assert!(allowed(&a, action, &yes, &none), "{action} allow {yes}");
        if yes != no {
            assert!(!allowed(&a, action, &no, &none), "{action} other {no}");
        }
        // Forbid overrides permit, and the denial names the forbid policy.
        let a = auth(&format!("{permit}\n@id(\"the-forbid\")\n{forbid}"));
        match a.authorize(action, &yes, &none) {
            Err(AuthError::Denied(d)) => {
                assert_eq!(d.reasons, vec!["the-forbid".to_string()], "{action}");
                assert_eq!(d.action, action);
                assert_eq!(d.principal, r#"User::"alice""#);
            }
            other => panic!("{action}: {other:?}"),
        }
    }
}

#[test]
fn subtree_grants_and_lexical_hierarchy() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/srv/app");"#,
    );
    let none = RequestContext::None;
    for ok in ["/srv/app/x", "/srv/app/a/b/c/d"] {
        assert!(
            allowed(&a, Action::FsOpen, &Resource::file(ok).unwrap(), &none),
            "{ok}"
        );
    }
    assert!(allowed(
        &a,
        Action::FsOpen,
        &Resource::dir("/srv/app/").unwrap(),
        &none
    ));
    // A File is never `in` a Dir of the same path: the types differ.
    for no in ["/srv/app", "/srv/application", "/srv", "/", "/srv/ap"] {
        assert!(
            !allowed(&a, Action::FsOpen, &Resource::file(no).unwrap(), &none),
            "{no}"
        );
    }
    // `//` and `/./` are normalised before the entity is built.
    assert!(allowed(
        &a,
        Action::FsOpen,
        &Resource::file("//srv/./app//x").unwrap(),
        &none
    ));
}

#[test]
fn bad_paths_are_rejected_before_evaluation() {
    let sink = MemoryAuditSink::new();
    let _a = Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .policies(Policies::parse("p", "permit(principal, action, resource);").unwrap())
        .audit_sink(Arc::new(sink.clone()))
        .build()
        .unwrap();
    for bad in ["relative", "/a/../etc/passwd", "/a\0b", "/x\ny", ""] {
        assert!(matches!(
            Resource::file(bad),
            Err(AuthError::InvalidPath { .. })
        ));
    }
    assert!(sink.records().is_empty());
}

#[test]
fn action_resource_mismatch_is_an_error_not_a_decision() {
    let a = auth("permit(principal, action, resource);");
    let err = a
        .authorize(
            Action::FsWrite,
            &Resource::dir("/tmp").unwrap(),
            &RequestContext::None,
        )
        .unwrap_err();
    assert!(matches!(err, AuthError::ActionMismatch { .. }), "{err}");
    let err = a
        .authorize(
            Action::ProcessKill,
            &Resource::file("/tmp/x").unwrap(),
            &RequestContext::None,
        )
        .unwrap_err();
    assert!(matches!(err, AuthError::ActionMismatch { .. }));
}

#[test]
fn evaluation_errors_fail_closed_even_if_a_permit_matches() {
    // The forbid overflows at run time (strict validation cannot see it); the permit matches.
    // Plain Cedar would skip the erroring forbid and allow. Rex refuses.
    let a = auth(
        r#"permit(principal, action == process_system::Action::"kill", resource);
           @id("overflow")
           forbid(principal, action == process_system::Action::"kill", resource)
             when { resource.pid * 9223372036854775807 > 0 };"#,
    );
    let err = a
        .authorize(Action::ProcessKill, &process(7, "x"), &RequestContext::None)
        .unwrap_err();
    match err {
        AuthError::Evaluation { policies, .. } => assert_eq!(policies, vec!["overflow"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn execute_context_arguments_environment_and_capabilities() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/ss")
           when {
             context.arguments.hasTag("-p") && ["tcp", "udp"].contains(context.arguments.getTag("-p")) &&
             context.arguments.hasTag("$ARG1") && context.arguments.getTag("$ARG1") == "-n" &&
             context.arguments.positional_values.isEmpty() &&
             context.environment.names.containsAll(["LANG"]) &&
             context.user.username == "nobody" && context.group.gid == 65534 &&
             context.capabilities.isEmpty() && !(context has namespace)
           };"#,
    );
    let ctx = |p: &str, caps: Vec<String>| {
        RequestContext::Execute(Box::new(ExecuteContext {
            arguments: vec![("-p".into(), Some(p.into())), ("-n".into(), None)],
            environment: BTreeMap::from([("LANG".into(), "C".into())]),
            identity: Identity {
                username: "nobody".into(),
                uid: 65534,
                groupname: "nogroup".into(),
                gid: 65534,
            },
            namespace_target_pid: None,
            capabilities: caps,
        }))
    };
    let ss = Resource::file("/usr/bin/ss").unwrap();
    assert!(allowed(&a, Action::FsExecute, &ss, &ctx("tcp", vec![])));
    assert!(!allowed(&a, Action::FsExecute, &ss, &ctx("raw", vec![])));
    assert!(!allowed(
        &a,
        Action::FsExecute,
        &ss,
        &ctx("tcp", vec!["CAP_NET_RAW".into()])
    ));
}

#[test]
fn move_xattr_and_resolver_contexts() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"move", resource in file_system::Dir::"/data")
             when { context.destination.parent_path == "/archive" };
           permit(principal, action == file_system::Action::"set_x_attr", resource)
             when { context.xattr.name == "security.selinux" };
           permit(principal, action == sysinfo::Action::"resolve_hostname", resource)
             when { !(context has resolver) };
           permit(principal, action == sysinfo::Action::"resolve_hostname", resource)
             when { context has resolver && context.resolver == "127.0.0.53" };"#,
    );
    let mv = |parent: &str| RequestContext::Move {
        path: format!("{parent}/f"),
        name: "f".into(),
        parent_path: parent.into(),
    };
    let f = Resource::file("/data/f").unwrap();
    assert!(allowed(&a, Action::FsMove, &f, &mv("/archive")));
    assert!(!allowed(&a, Action::FsMove, &f, &mv("/tmp")));
    let x = |n: &str| RequestContext::XAttr { name: n.into() };
    assert!(allowed(&a, Action::FsSetXAttr, &f, &x("security.selinux")));
    assert!(!allowed(&a, Action::FsSetXAttr, &f, &x("user.evil")));
    let h = Resource::hostname("example.com").unwrap();
    let r = |x: Option<&str>| RequestContext::Resolve {
        resolver: x.map(String::from),
    };
    assert!(allowed(&a, Action::SysinfoResolveHostname, &h, &r(None)));
    assert!(allowed(
        &a,
        Action::SysinfoResolveHostname,
        &h,
        &r(Some("127.0.0.53"))
    ));
    assert!(!allowed(
        &a,
        Action::SysinfoResolveHostname,
        &h,
        &r(Some("8.8.8.8"))
    ));
}

#[test]
fn audit_records_every_decision_and_cache_hits() {
    let sink = MemoryAuditSink::new();
    let a = Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .policies(
            Policies::parse(
                "p.cedar",
                r#"@id("logs") permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/var/log");"#,
            )
            .unwrap(),
        )
        .audit_sink(Arc::new(sink.clone()))
        .build()
        .unwrap();
    let f = Resource::file("/var/log/x").unwrap();
    let none = RequestContext::None;
    a.authorize(Action::FsRead, &f, &none).unwrap();
    a.authorize(Action::FsRead, &f, &none).unwrap();
    let _ = a.authorize(Action::FsRead, &Resource::file("/etc/x").unwrap(), &none);
    let r = sink.records();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].outcome, Outcome::Allow);
    assert_eq!(r[0].policies, vec!["logs"]);
    assert!(!r[0].cached);
    assert!(r[1].cached);
    assert_eq!(r[1].policies, vec!["logs"]);
    assert_eq!(r[2].outcome, Outcome::Deny);
    assert!(r[2].policies.is_empty());
    assert!(r.iter().all(|x| x.enforced));
}

#[test]
fn permissive_mode_records_then_allows() {
    let sink = MemoryAuditSink::new();
    let a = Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .permissive(true)
        .audit_sink(Arc::new(sink.clone()))
        .build()
        .unwrap();
    assert!(a.is_permissive());
    a.authorize(
        Action::FsDelete,
        &Resource::file("/etc/passwd").unwrap(),
        &RequestContext::None,
    )
    .unwrap();
    let r = sink.records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, Outcome::Deny);
    assert!(!r[0].enforced);
    // Not the default.
    let strict = Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .build()
        .unwrap();
    assert!(!strict.is_permissive());
}

#[test]
fn replacing_policies_invalidates_the_cache() {
    let a = auth(r#"permit(principal, action == file_system::Action::"stat", resource);"#);
    let f = Resource::file("/x").unwrap();
    assert!(allowed(&a, Action::FsStat, &f, &RequestContext::None));
    a.replace_policies(Policies::deny_all()).unwrap();
    assert!(!allowed(&a, Action::FsStat, &f, &RequestContext::None));
}

#[test]
fn slices_hold_only_policies_that_can_match() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"read", resource);
           permit(principal, action in file_system::Action::"SafeIO", resource);
           permit(principal, action in [process_system::Action::"kill", process_system::Action::"list"], resource);
           permit(principal == User::"bob", action == file_system::Action::"read", resource);
           permit(principal, action, resource);"#,
    );
    assert_eq!(a.slice_len(Action::FsRead), 3);
    assert_eq!(a.slice_len(Action::FsWrite), 2);
    assert_eq!(a.slice_len(Action::ProcessKill), 2);
    assert_eq!(a.slice_len(Action::ProcessList), 2);
    assert_eq!(a.slice_len(Action::SystemdStop), 1);
    assert_eq!(a.slice_len(Action::NetworkGet), 1);
}

#[test]
fn principal_must_be_given() {
    assert!(matches!(
        Authorizer::builder().build(),
        Err(AuthError::Config(_))
    ));
}
