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

use proptest::prelude::*;
use rex_auth::cedar_policy::EvalResult;
use rex_auth::{
    Action, ArgumentProblem, AuthError, Authorizer, ExecuteContext, Identity, MemoryAuditSink,
    Outcome, Policies, Principal, ProcessAttrs, RequestContext, Resource, UrlAttrs,
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

/// A request carries only the resource's own entity unless a policy names a `Dir` literal
/// outside its scope; either way the decisions are Cedar's on the whole ancestor chain.
#[test]
fn ancestor_entities_are_built_exactly_when_a_policy_observes_them() {
    let none = RequestContext::None;
    let read =
        |a: &Authorizer, p: &str| a.authorize(Action::FsRead, &Resource::file(p).unwrap(), &none);
    // `in` in a condition is answered by the resource's parents.
    let a = auth(
        r#"permit(principal, action == file_system::Action::"read", resource)
           when { resource in file_system::Dir::"/var/log" && resource.path like "/var/*" };"#,
    );
    assert!(read(&a, "/var/log/app/x").is_ok());
    assert!(read(&a, "/var/lib/x").unwrap_err().is_denied());
    // Reading an ancestor's attribute needs that ancestor's entity: it exists for a file
    // below `/var` ...
    let a = auth(
        r#"permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/var")
           when { file_system::Dir::"/var".path == "/var" };"#,
    );
    assert!(read(&a, "/var/log/x").is_ok());
    // ... and `Dir in Dir` between two ancestors holds only when the chain is in the store.
    let a = auth(
        r#"permit(principal, action == file_system::Action::"read", resource)
           when { file_system::Dir::"/srv/app" in file_system::Dir::"/srv" };"#,
    );
    assert!(read(&a, "/srv/app/x").is_ok());
    assert!(read(&a, "/tmp/x").unwrap_err().is_denied());
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

type Args = Vec<(String, Option<String>)>;

fn exec_ctx(arguments: Args) -> RequestContext {
    RequestContext::Execute(Box::new(ExecuteContext {
        arguments,
        environment: BTreeMap::new(),
        identity: Identity {
            username: "nobody".into(),
            uid: 65534,
            groupname: "nogroup".into(),
            gid: 65534,
        },
        namespace_target_pid: None,
        capabilities: Vec::new(),
    }))
}

fn lone(x: &str) -> (String, Option<String>) {
    (x.into(), None)
}

fn pair(k: &str, v: &str) -> (String, Option<String>) {
    (k.into(), Some(v.into()))
}

/// Issue 19, item 5: a `[key, value]` pair keyed `$ARG0` used to overwrite the position tag of
/// the lone argument at index 0, so the policy saw an allowed file while argv held another.
/// Every tag collision is now refused before evaluation, with a typed error.
#[test]
fn execute_argument_tags_cannot_collide() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cat")
           when {
             context.arguments.hasTag("$ARG0") && context.arguments.getTag("$ARG0") == "/srv/ok.txt"
           };
           permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/ss")
           when { context.arguments.hasTag("-p") && context.arguments.getTag("-p") == "tcp" };"#,
    );
    let cat = Resource::file("/usr/bin/cat").unwrap();
    let ss = Resource::file("/usr/bin/ss").unwrap();
    assert!(allowed(
        &a,
        Action::FsExecute,
        &cat,
        &exec_ctx(vec![lone("/srv/ok.txt")])
    ));
    let refused =
        |r: &Resource, args: Args| match a.authorize(Action::FsExecute, r, &exec_ctx(args)) {
            Err(AuthError::InvalidArguments(p)) => p,
            other => panic!("expected InvalidArguments, got {other:?}"),
        };
    // argv: /etc/shadow $ARG0 /srv/ok.txt (the old code allowed it)
    assert_eq!(
        refused(
            &cat,
            vec![lone("/etc/shadow"), pair("$ARG0", "/srv/ok.txt")]
        ),
        ArgumentProblem::ReservedKey("$ARG0".into())
    );
    assert_eq!(
        refused(
            &cat,
            vec![pair("$ARG7", "/srv/ok.txt"), lone("/etc/shadow")]
        ),
        ArgumentProblem::ReservedKey("$ARG7".into())
    );
    // argv: -p udp -p tcp (the last pair won the tag)
    assert_eq!(
        refused(&ss, vec![pair("-p", "udp"), pair("-p", "tcp")]),
        ArgumentProblem::ConflictingValues("-p".into())
    );
    // argv: -p tcp -p (a lone `-p` and a pair share the tag `-p`)
    assert_eq!(
        refused(&ss, vec![pair("-p", "tcp"), lone("-p")]),
        ArgumentProblem::KeyAlsoLone("-p".into())
    );
    // the same pair twice is unambiguous
    assert!(allowed(
        &a,
        Action::FsExecute,
        &ss,
        &exec_ctx(vec![pair("-p", "tcp"), pair("-p", "tcp")])
    ));
    // a lone argument spelled like a position tag is described by its position only: `$ARG0`
    // keeps meaning "the lone argument at index 0"
    let b = auth(
        r#"permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cat")
           when {
             context.arguments.hasTag("$ARG0") && context.arguments.getTag("$ARG0") == "/etc/shadow"
           };"#,
    );
    assert!(allowed(
        &b,
        Action::FsExecute,
        &cat,
        &exec_ctx(vec![lone("/etc/shadow"), lone("$ARG0")])
    ));
    assert!(!allowed(
        &b,
        Action::FsExecute,
        &cat,
        &exec_ctx(vec![lone("$ARG0"), lone("/etc/shadow")])
    ));
}

/// The allow-list idiom of docs/POLICY_GUIDE.md: `argv` is the exact command line, so extra
/// operands, pairs, repetitions and reorderings are all refused (the old idiom on `flags` and
/// `positional_values` admitted `df -h --output source` and `cp b a` for `cp a b`).
#[test]
fn the_argv_allow_list_idiom_is_exact() {
    let a = auth(
        r#"permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/df")
           when { context.arguments.argv == [{index: 0, value: "-h"}] };
           permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cp")
           when { context.arguments.argv == [{index: 0, value: "/srv/a"}, {index: 1, value: "/srv/b"}] };"#,
    );
    let df = Resource::file("/usr/bin/df").unwrap();
    let cp = Resource::file("/usr/bin/cp").unwrap();
    let ok = |r: &Resource, args: Args| allowed(&a, Action::FsExecute, r, &exec_ctx(args));
    assert!(ok(&df, vec![lone("-h")]));
    assert!(!ok(&df, vec![lone("-h"), pair("--output", "source")]));
    assert!(!ok(&df, vec![pair("-h", "/")]));
    assert!(!ok(&df, vec![lone("-h"), lone("-h")]));
    assert!(!ok(&df, vec![lone("-h"), lone("/")]));
    assert!(!ok(&df, vec![]));
    assert!(ok(&cp, vec![lone("/srv/a"), lone("/srv/b")]));
    // a pair is two entries of argv, in order
    assert!(ok(&cp, vec![pair("/srv/a", "/srv/b")]));
    assert!(!ok(&cp, vec![lone("/srv/b"), lone("/srv/a")]));
}

/// What the `Arguments` entity of `args` says, read back from the Cedar entity.
struct Described {
    argv: Vec<String>,
    tags: BTreeMap<String, String>,
    keys: Vec<String>,
    flags: Vec<String>,
    positional: Vec<String>,
}

fn strings(v: EvalResult) -> Vec<String> {
    let EvalResult::Set(set) = v else {
        panic!("not a set: {v:?}")
    };
    let mut out: Vec<String> = set
        .iter()
        .map(|e| match e {
            EvalResult::String(s) => s.clone(),
            other => panic!("not a string: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn describe(args: &Args) -> Result<Described, AuthError> {
    let (_, entities) = exec_ctx(args.clone()).to_cedar()?;
    let e = entities
        .iter()
        .find(|e| e.uid().type_name().to_string() == "file_system::Arguments")
        .unwrap();
    let EvalResult::Set(set) = e.attr("argv").unwrap().unwrap() else {
        panic!("argv is not a set")
    };
    let mut argv: Vec<(i64, String)> = set
        .iter()
        .map(|r| {
            let EvalResult::Record(r) = r else {
                panic!("not a record: {r:?}")
            };
            let (Some(EvalResult::Long(i)), Some(EvalResult::String(v))) =
                (r.get("index"), r.get("value"))
            else {
                panic!("bad argv record {r:?}")
            };
            (*i, v.clone())
        })
        .collect();
    argv.sort();
    for (n, (i, _)) in argv.iter().enumerate() {
        assert_eq!(
            *i,
            i64::try_from(n).unwrap(),
            "argv indices are 0..n without gaps"
        );
    }
    let tags = e
        .tags()
        .map(|(k, v)| {
            let Ok(EvalResult::String(v)) = v else {
                panic!("tag {k} is not a string")
            };
            (k.to_string(), v)
        })
        .collect();
    Ok(Described {
        argv: argv.into_iter().map(|(_, v)| v).collect(),
        tags,
        keys: strings(e.attr("keys").unwrap().unwrap()),
        flags: strings(e.attr("flags").unwrap().unwrap()),
        positional: strings(e.attr("positional_values").unwrap().unwrap()),
    })
}

fn hostile_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$ARG0".to_string()),
        Just("$ARG1".to_string()),
        Just("$ARG".to_string()),
        Just("$ARG01".to_string()),
        Just("--x=y".to_string()),
        Just("-".to_string()),
        Just("--".to_string()),
        Just(String::new()),
        Just("true".to_string()),
        Just("-p".to_string()),
        Just("/etc/shadow".to_string()),
        Just("é\u{202e}🦀".to_string()),
        "\\PC{0,6}",
        "[-$A-Z0-9]{0,5}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// For random argv (hostile strings included), the context either describes argv exactly
    /// (argv in order, every tag with one meaning, the REX sets) or is refused with a typed
    /// error naming a real collision.
    #[test]
    fn execute_context_round_trips_argv(
        args in proptest::collection::vec((hostile_arg(), proptest::option::of(hostile_arg())), 0..8)
    ) {
        let reserved = |k: &str| k.strip_prefix("$ARG").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        let pair_keys: Vec<&String> = args.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k).collect();
        let collision = args.iter().any(|(k, v)| match v {
            Some(v) => reserved(k) || args.iter().any(|(k2, v2)| k2 == k && v2.as_ref() != Some(v)),
            None => pair_keys.contains(&k),
        });
        match describe(&args) {
            Err(AuthError::InvalidArguments(_)) => prop_assert!(collision, "refused without a collision: {args:?}"),
            Err(e) => prop_assert!(false, "unexpected error {e} for {args:?}"),
            Ok(d) => {
                prop_assert!(!collision, "accepted a collision: {args:?}");
                let flat: Vec<String> = args.iter().flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.clone())).collect();
                prop_assert_eq!(&d.argv, &flat);
                prop_assert_eq!(rex_auth::flatten_arguments(&args), flat.iter().map(String::as_str).collect::<Vec<_>>());
                let mut expected = BTreeMap::new();
                let (mut keys, mut flags, mut positional) = (Vec::new(), Vec::new(), Vec::new());
                for (i, (k, v)) in args.iter().enumerate() {
                    match v {
                        Some(v) => {
                            expected.insert(k.clone(), v.clone());
                            keys.push(k.clone());
                        }
                        None => {
                            expected.insert(format!("$ARG{i}"), k.clone());
                            if !reserved(k) {
                                expected.insert(k.clone(), "true".to_string());
                            }
                            if k.starts_with('-') { flags.push(k.clone()) } else { positional.push(k.clone()) }
                        }
                    }
                }
                for v in [&mut keys, &mut flags, &mut positional] {
                    v.sort();
                    v.dedup();
                }
                prop_assert_eq!(d.tags, expected);
                prop_assert_eq!(d.keys, keys);
                prop_assert_eq!(d.flags, flags);
                prop_assert_eq!(d.positional, positional);
            }
        }
    }
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

// ---- Issue 15: the sandbox plan never denies what the policies allow ----

mod sandbox_plan_soundness {
    use super::*;
    use rex_auth::sandbox_plan::{SandboxLayers, exec_right_needs, fs_needs};

    const DIRS: &[&str] = &["/a", "/a/b", "/a/b/c", "/d", "/d/e"];
    const ACTIONS: &[(&str, Action)] = &[
        ("open", Action::FsOpen),
        ("read", Action::FsRead),
        ("stat", Action::FsStat),
        ("write", Action::FsWrite),
        ("create", Action::FsCreate),
        ("delete", Action::FsDelete),
        ("chmod", Action::FsChmod),
    ];

    fn paths() -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for d in DIRS {
            out.push((d.to_string(), true));
            out.push((format!("{d}/f"), false));
            out.push((format!("{d}/g.log"), false));
        }
        out
    }

    fn permit() -> impl Strategy<Value = String> {
        let action = proptest::sample::subsequence(ACTIONS.to_vec(), 1..4);
        let all = paths();
        let scope = prop_oneof![
            Just(String::new()),
            proptest::sample::select(DIRS.to_vec())
                .prop_map(|d| format!(" in file_system::Dir::\"{d}\"")),
            proptest::sample::select(DIRS.to_vec())
                .prop_map(|d| format!(" == file_system::Dir::\"{d}\"")),
            proptest::sample::select(
                all.into_iter()
                    .filter(|p| !p.1)
                    .map(|p| p.0)
                    .collect::<Vec<_>>()
            )
            .prop_map(|f| format!(" == file_system::File::\"{f}\"")),
        ];
        let when = prop_oneof![
            Just(String::new()),
            proptest::sample::select(DIRS.to_vec())
                .prop_map(|d| format!(" when {{ resource in file_system::Dir::\"{d}\" }}")),
            Just(" when { resource.path like \"*.log\" }".to_string()),
        ];
        let who = prop_oneof![
            Just(String::new()),
            Just(String::new()),
            Just(" == User::\"alice\"".to_string()),
            Just(" == User::\"bob\"".to_string()),
        ];
        let unless = prop_oneof![
            Just(String::new()),
            Just(String::new()),
            Just(" unless { principal == User::\"bob\" }".to_string()),
            Just(" unless { resource.path like \"*.log\" }".to_string()),
        ];
        (action, who, scope, when, unless).prop_map(|(actions, who, scope, when, unless)| {
            let list: Vec<String> = actions
                .iter()
                .map(|(n, _)| format!("file_system::Action::\"{n}\""))
                .collect();
            format!(
                "permit(principal{who}, action in [{}], resource{scope}){when}{unless};",
                list.join(", ")
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn the_plan_allows_every_access_the_policies_allow(
            permits in proptest::collection::vec(permit(), 1..5),
            forbid_dir in proptest::sample::select(DIRS.to_vec()),
        ) {
            let text = format!(
                "{}\nforbid(principal, action == file_system::Action::\"read\", resource in file_system::Dir::\"{forbid_dir}\");",
                permits.join("\n")
            );
            let a = auth(&text);
            let layers = SandboxLayers::derive(&a.policies(), a.principal());
            let plan = &layers.runner;
            // The layer of executed programs never grants what Cedar does not allow: each
            // right beneath a path stands for requests that are allowed on every resource
            // beneath it.
            let all = paths();
            for (path, is_dir) in &all {
                for bit in {
                    use rex_auth::sandbox_plan::FsRights as F;
                    [F::READ_FILE, F::READ_DIR, F::WRITE_FILE, F::TRUNCATE, F::EXECUTE, F::MAKE_REG,
                     F::MAKE_DIR, F::MAKE_SYM, F::REMOVE_FILE, F::REMOVE_DIR, F::REFER]
                } {
                    if (!is_dir && bit.file_rights().is_empty()) || !layers.exec.allows(path, bit) {
                        continue;
                    }
                    // Some entry that grants this right has every request it stands for
                    // allowed on every resource beneath the path.
                    let justified = exec_right_needs().iter().filter(|(r, _)| r.contains(bit)).any(|(_, needs)| {
                        all.iter()
                            .filter(|(q, _)| q == path || (*is_dir && q.starts_with(&format!("{path}/"))))
                            .all(|(q, q_is_dir)| {
                                needs.iter().filter(|(_, d)| d == q_is_dir).all(|(need, _)| {
                                    let r = if *q_is_dir { Resource::dir(q) } else { Resource::file(q) }.unwrap();
                                    allowed(&a, *need, &r, &RequestContext::None)
                                })
                            })
                    });
                    prop_assert!(
                        justified,
                        "executed programs get {bit:?} beneath {path}, which Cedar does not allow\n{}\n{text}",
                        layers.exec.render_text()
                    );
                }
            }
            for (path, is_dir) in paths() {
                let resource = if is_dir { Resource::dir(&path) } else { Resource::file(&path) }.unwrap();
                for (_, action) in ACTIONS {
                    let kind = if is_dir { rex_auth::ResourceKind::Dir } else { rex_auth::ResourceKind::File };
                    if !action.applies_to_kind(kind) {
                        continue;
                    }
                    if !allowed(&a, *action, &resource, &RequestContext::None) {
                        continue;
                    }
                    let (own, on_parent) = fs_needs(*action).unwrap();
                    let own = if is_dir { own } else { own.file_rights() };
                    prop_assert!(plan.allows(&path, own), "{action:?} {path}: {own:?} not in\n{}\n{text}", plan.render_text());
                    let parent = path.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p }).unwrap();
                    // The parent needs only the rights of this entry's kind.
                    let kind_rights = if is_dir {
                        rex_auth::sandbox_plan::FsRights::MAKE_DIR
                            | rex_auth::sandbox_plan::FsRights::REMOVE_DIR
                            | rex_auth::sandbox_plan::FsRights::READ_DIR
                    } else {
                        rex_auth::sandbox_plan::FsRights::MAKE_REG
                            | rex_auth::sandbox_plan::FsRights::REMOVE_FILE
                            | rex_auth::sandbox_plan::FsRights::READ_DIR
                    };
                    let need = on_parent.intersect(kind_rights);
                    prop_assert!(plan.allows(parent, need), "{action:?} {path}: parent {parent} lacks {need:?}\n{}\n{text}", plan.render_text());
                }
            }
        }
    }
}

/// Issue 16: `explain` (what `rex-runner explain` prints) agrees with the runner's own
/// decision on every case above (allow, other resource, forbid, default deny), and a denial
/// carries the permits of the same action as its hint.
#[test]
fn explain_agrees_with_the_authorizer_and_denials_carry_hints() {
    let none = RequestContext::None;
    let alice = Principal::user("alice").unwrap();
    for (action, yes, no, permit, forbid) in cases() {
        for text in [
            permit.clone(),
            format!("{permit}\n@id(\"the-forbid\")\n{forbid}"),
            r#"permit(principal, action == sysinfo::Action::"list", resource is sysinfo::Uname);"#
                .to_string(),
        ] {
            let policies = Policies::parse("test.cedar", &text).unwrap();
            let a = auth(&text);
            for r in [&yes, &no] {
                let e = rex_auth::explain(&policies, &alice, action, r, &none).unwrap();
                match a.authorize(action, r, &none) {
                    Ok(()) => {
                        assert_eq!(e.outcome, Outcome::Allow, "{action} {r} {text}");
                        assert!(!e.determining_policies.is_empty());
                    }
                    Err(AuthError::Denied(d)) => {
                        assert_eq!(e.outcome, Outcome::Deny, "{action} {r} {text}");
                        assert_eq!(e.determining_policies, d.reasons);
                        let hint: Vec<String> =
                            e.nearest_permits.iter().map(ToString::to_string).collect();
                        assert_eq!(d.hint, hint, "{action} {r} {text}");
                    }
                    Err(other) => panic!("{other}"),
                }
            }
        }
    }
    // The hint of a default deny names the permit's scope, with the group covered.
    let a = auth(
        r#"@id("logs") permit(principal, action in file_system::Action::"SafeIO", resource in file_system::Dir::"/var/log");
           permit(principal, action == file_system::Action::"write", resource == file_system::File::"/tmp/x");"#,
    );
    match a.authorize(
        Action::FsRead,
        &Resource::file("/etc/shadow").unwrap(),
        &none,
    ) {
        Err(AuthError::Denied(d)) => {
            assert!(d.reasons.is_empty());
            assert_eq!(d.hint, [r#"resource in file_system::Dir::"/var/log""#]);
        }
        other => panic!("{other:?}"),
    }
    // An action that does not apply to the resource is invalid input, not a decision.
    let p = Policies::parse("t", "permit(principal, action, resource);").unwrap();
    assert!(
        rex_auth::explain(
            &p,
            &alice,
            Action::FsExecute,
            &Resource::dir("/x").unwrap(),
            &none
        )
        .is_err()
    );
    // Evaluation errors are reported, fail closed.
    let p = Policies::parse(
        "t",
        r#"@id("bad") permit(principal, action == file_system::Action::"read", resource) when { resource.path like "/x*" && context.nope == 1 };"#,
    );
    assert!(
        p.is_err(),
        "strict validation refuses unknown context attributes"
    );
}

#[test]
fn resource_uids_parse_like_the_runner_builds_them() {
    assert_eq!(
        Resource::parse_uid(r#"file_system::File::"/var/log/syslog""#).unwrap(),
        Resource::file("/var/log/syslog").unwrap()
    );
    assert_eq!(
        Resource::parse_uid(r#"systemd::Service::"nginx.service""#).unwrap(),
        Resource::service("nginx.service").unwrap()
    );
    assert_eq!(
        Resource::parse_uid(r#"sysinfo::Sysinfo::"anything""#).unwrap(),
        Resource::sysinfo()
    );
    for bad in [
        r#"file_system::File::"relative""#,
        r#"file_system::File::"/a/../b""#,
        r#"file_system::Symlink::"/a""#,
        r#"file_system::File::/a"#,
        r#"process_system::Process::"1""#,
    ] {
        assert!(Resource::parse_uid(bad).is_err(), "{bad}");
    }
}
