#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Slicing and caching are invisible: for random policy sets and requests, the Rex authorizer
//! decides exactly what plain `cedar_policy::Authorizer` decides on the full policy set (with
//! schema-validated entities that include every action entity of the schema).

use std::collections::BTreeSet;

use cedar_policy::{Decision, Entities, Request};
use proptest::prelude::*;
use rex_auth::{
    Action, AuthError, Authorizer, Policies, Principal, ProcessAttrs, RequestContext, Resource,
    schema,
};

const PATHS: &[&str] = &["/", "/a", "/a/b", "/a/b/c", "/a/bc", "/x/y"];

fn action_scope(i: usize, a: usize, b: usize) -> String {
    let x = Action::ALL[a % Action::ALL.len()];
    let y = Action::ALL[b % Action::ALL.len()];
    match i % 5 {
        0 => "action".into(),
        1 => format!("action == {}", x.uid_text()),
        2 if x.namespace() == y.namespace() => {
            format!("action in [{}, {}]", x.uid_text(), y.uid_text())
        }
        2 => format!("action in [{}]", x.uid_text()),
        3 => format!(
            "action in {}::Action::\"{}\"",
            x.namespace().name(),
            x.namespace().group()
        ),
        _ => format!("action in {}", x.uid_text()),
    }
}

fn principal_scope(i: usize) -> &'static str {
    match i % 3 {
        0 => "principal",
        1 => "principal == User::\"alice\"",
        _ => "principal == User::\"bob\"",
    }
}

fn resource_scope(i: usize, p: usize) -> String {
    let path = PATHS[p % PATHS.len()];
    match i % 8 {
        0 | 1 => "resource".into(),
        2 => format!("resource in file_system::Dir::\"{path}\""),
        3 => format!("resource == file_system::File::\"{path}\""),
        4 => "resource is process_system::Process".into(),
        5 => format!("resource == file_system::Dir::\"{path}\""),
        6 => format!("resource is file_system::File in file_system::Dir::\"{path}\""),
        _ => "resource is file_system::Dir".into(),
    }
}

fn condition(i: usize, p: usize) -> String {
    let path = PATHS[p % PATHS.len()];
    match i % 11 {
        0..=2 => String::new(),
        3 => format!(" when {{ resource is file_system::File && resource.path like \"{path}*\" }}"),
        4 => " when { resource is process_system::Process && resource.pid > 10 }".into(),
        5 => " when { resource is process_system::Process && resource.name == \"nginx\" }".into(),
        6 => " when { context has destination && context.destination.parent_path == \"/a\" }".into(),
        7 => " when { resource is process_system::Process && resource.pid * 4611686018427387904 > 0 }".into(),
        8 => format!(" unless {{ resource in file_system::Dir::\"{path}\" }}"),
        // Literals that observe the ancestor entities themselves, not only the resource's
        // parents: the authorizer must then build the whole chain.
        9 => format!(" when {{ file_system::Dir::\"{path}\".path == \"{path}\" }}"),
        _ => format!(" when {{ file_system::Dir::\"{path}\" in file_system::Dir::\"/a\" }}"),
    }
}

fn policy_text(spec: &[usize; 7]) -> String {
    let [e, pr, ac, a, b, rs, c] = *spec;
    format!(
        "{}({}, {}, {}){};",
        if e % 3 == 0 { "forbid" } else { "permit" },
        principal_scope(pr),
        action_scope(ac, a, b),
        resource_scope(rs, c),
        condition(c / 7, a + b),
    )
}

fn resource_for(action: Action, r: usize, p: usize) -> Resource {
    use rex_auth::ResourceKind as K;
    let kinds = action.applies_to();
    let kind = kinds[r % kinds.len()];
    let path = PATHS[p % PATHS.len()];
    match kind {
        K::File => Resource::file(path).unwrap(),
        K::Dir => Resource::dir(path).unwrap(),
        K::Process => Resource::process(ProcessAttrs {
            pid: (p * 7) as u32,
            uid: 0,
            name: if p.is_multiple_of(2) {
                "nginx".into()
            } else {
                "sshd".into()
            },
            username: "root".into(),
            command: "x".into(),
        }),
        K::Service => Resource::service("nginx").unwrap(),
        K::Systemd => Resource::systemd(),
        K::Sysinfo => Resource::sysinfo(),
        K::Uname => Resource::uname(),
        K::Hostname => Resource::hostname("example.com").unwrap(),
        K::Url => Resource::url(
            "https://example.com/",
            rex_auth::UrlAttrs {
                scheme: "https".into(),
                host: "example.com".into(),
                port: 443,
                path: "/".into(),
            },
        )
        .unwrap(),
        K::Sysctl => Resource::sysctl(),
    }
}

fn context_for(action: Action, p: usize) -> RequestContext {
    match action {
        Action::FsMove => RequestContext::Move {
            path: "/a/z".into(),
            name: "z".into(),
            parent_path: if p.is_multiple_of(2) {
                "/a".into()
            } else {
                "/b".into()
            },
        },
        Action::FsSetXAttr => RequestContext::XAttr {
            name: "security.selinux".into(),
        },
        Action::FsExecute => RequestContext::Execute(Box::new(rex_auth::ExecuteContext {
            arguments: vec![("-n".into(), None)],
            environment: Default::default(),
            identity: rex_auth::Identity {
                username: "root".into(),
                uid: 0,
                groupname: "root".into(),
                gid: 0,
            },
            namespace_target_pid: None,
            capabilities: vec![],
        })),
        _ => RequestContext::None,
    }
}

/// What plain Cedar decides on the full set: Ok(Some(reasons)) allow, Ok(None)... we return
/// (decision, reasons, had_errors).
fn reference(
    policies: &Policies,
    action: Action,
    resource: &Resource,
    ctx: &RequestContext,
) -> (Decision, BTreeSet<String>, bool) {
    let schema = schema().unwrap();
    let (context, ctx_entities) = ctx.to_cedar().unwrap();
    let mut ents = resource.entities().unwrap();
    ents.extend(ctx_entities);
    let entities = Entities::from_entities(ents, Some(schema)).unwrap();
    let request = Request::new(
        Principal::user("alice").unwrap().uid().clone(),
        action.uid_text().parse().unwrap(),
        resource.uid().unwrap(),
        context,
        Some(schema),
    )
    .unwrap();
    let resp =
        cedar_policy::Authorizer::new().is_authorized(&request, policies.policy_set(), &entities);
    let reasons = resp.diagnostics().reason().map(|p| p.to_string()).collect();
    let errors = resp.diagnostics().errors().next().is_some();
    (resp.decision(), reasons, errors)
}

/// Rex's decision (twice: the second may come from the cache) equals plain Cedar's on the
/// full set for every request.
fn check_equivalence(
    specs: &[[usize; 7]],
    requests: &[(usize, usize, usize)],
) -> Result<(), TestCaseError> {
    // Keep the generated policies that pass strict validation on their own.
    let texts: Vec<String> = specs
        .iter()
        .map(policy_text)
        .filter(|t| Policies::parse("one", t).is_ok())
        .collect();
    let policies = Policies::parse("gen.cedar", &texts.join("\n")).unwrap();
    let auth = Authorizer::builder()
        .principal(Principal::user("alice").unwrap())
        .policies(policies.clone())
        .build()
        .unwrap();
    for &(a, r, p) in requests {
        let action = Action::ALL[a];
        let resource = resource_for(action, r, p);
        let ctx = context_for(action, p);
        let (decision, reasons, errors) = reference(&policies, action, &resource, &ctx);
        // Twice: the second call may be served by the cache.
        for _ in 0..2 {
            match auth.authorize(action, &resource, &ctx) {
                Ok(()) => {
                    prop_assert!(!errors);
                    prop_assert_eq!(decision, Decision::Allow);
                }
                Err(AuthError::Denied(d)) => {
                    prop_assert!(!errors);
                    prop_assert_eq!(decision, Decision::Deny);
                    prop_assert_eq!(
                        d.reasons.iter().cloned().collect::<BTreeSet<_>>(),
                        reasons.clone()
                    );
                }
                Err(AuthError::Evaluation { .. }) => {
                    prop_assert!(errors, "Rex errored where Cedar did not")
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn sliced_and_cached_decisions_equal_plain_cedar(
        specs in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..14),
        requests in prop::collection::vec((0usize..31, 0usize..4, 0usize..12), 1..12),
    ) {
        check_equivalence(&specs, &requests)?;
    }

    /// Only unconditional policies: every decision takes the authorizer's scope-only fast
    /// path (no entities, no Cedar call), which must still equal Cedar.
    #[test]
    fn scope_only_decisions_equal_plain_cedar(
        specs in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..14),
        requests in prop::collection::vec((0usize..31, 0usize..4, 0usize..12), 1..12),
    ) {
        // `condition(c / 7, ..)` is empty for c / 7 % 11 in 0..=2, i.e. c in 0..21.
        let specs: Vec<[usize; 7]> = specs
            .into_iter()
            .map(|mut s| {
                s[6] %= 21;
                s
            })
            .collect();
        check_equivalence(&specs, &requests)?;
    }

    #[test]
    fn adding_a_permit_never_removes_an_allow_and_a_forbid_always_wins(
        specs in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..10),
        a in 0usize..31, r in 0usize..4, p in 0usize..12,
    ) {
        let texts: Vec<String> = specs
            .iter()
            .map(policy_text)
            .filter(|t| !t.contains("4611686018427387904") && Policies::parse("one", t).is_ok())
            .collect();
        let action = Action::ALL[a];
        let resource = resource_for(action, r, p);
        let ctx = context_for(action, p);
        let base = Authorizer::builder()
            .principal(Principal::user("alice").unwrap())
            .policies(Policies::parse("b", &texts.join("\n")).unwrap())
            .build()
            .unwrap();
        let before = base.authorize(action, &resource, &ctx).is_ok();
        let with_permit = format!("{}\npermit(principal, action, resource);", texts.join("\n"));
        let more = Authorizer::builder()
            .principal(Principal::user("alice").unwrap())
            .policies(Policies::parse("m", &with_permit).unwrap())
            .build()
            .unwrap();
        let after = more.authorize(action, &resource, &ctx).is_ok();
        prop_assert!(!before || after);
        let with_forbid = format!("{with_permit}\nforbid(principal, action, resource);");
        let forbidden = Authorizer::builder()
            .principal(Principal::user("alice").unwrap())
            .policies(Policies::parse("f", &with_forbid).unwrap())
            .build()
            .unwrap();
        prop_assert!(forbidden.authorize(action, &resource, &ctx).is_err());
    }

    /// Shadow policies never change an enforced decision, and the divergence count is
    /// exactly the number of requests the two sets decide differently.
    #[test]
    fn shadow_policies_are_never_enforced_and_count_every_divergence(
        enforced in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..8),
        shadow in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..8),
        requests in prop::collection::vec((0usize..31, 0usize..4, 0usize..12), 1..10),
    ) {
        let set = |specs: &[[usize; 7]], name: &str| {
            let texts: Vec<String> = specs
                .iter()
                .map(policy_text)
                .filter(|t| !t.contains("4611686018427387904") && Policies::parse("one", t).is_ok())
                .collect();
            Policies::parse(name, &texts.join("\n")).unwrap()
        };
        let (a, b) = (set(&enforced, "a"), set(&shadow, "b"));
        let alice = || Principal::user("alice").unwrap();
        let plain = Authorizer::builder().principal(alice()).policies(a.clone()).build().unwrap();
        let other = Authorizer::builder().principal(alice()).policies(b.clone()).build().unwrap();
        let shadowed = Authorizer::builder()
            .principal(alice())
            .policies(a)
            .shadow_policies(b)
            .build()
            .unwrap();
        let mut expected = 0u64;
        for &(ai, r, p) in &requests {
            let action = Action::ALL[ai];
            let resource = resource_for(action, r, p);
            let ctx = context_for(action, p);
            let want = plain.authorize(action, &resource, &ctx);
            let got = shadowed.authorize(action, &resource, &ctx);
            prop_assert_eq!(want.is_ok(), got.is_ok());
            prop_assert_eq!(
                want.as_ref().err().map(AuthError::is_denied),
                got.as_ref().err().map(AuthError::is_denied)
            );
            let outcome = |r: &Result<(), AuthError>| match r {
                Ok(()) => 0,
                Err(e) if e.is_denied() => 1,
                Err(_) => 2,
            };
            if outcome(&want) != outcome(&other.authorize(action, &resource, &ctx)) {
                expected += 1;
            }
        }
        prop_assert_eq!(shadowed.shadow_divergences(), expected);
    }

    /// A request rebuilt from its audit record is decided as the original was, whenever no
    /// policy reads a field the record leaves out.
    #[test]
    fn recorded_requests_replay_to_the_same_decision(
        specs in prop::collection::vec(prop::array::uniform7(0usize..1000), 0..10),
        requests in prop::collection::vec((0usize..31, 0usize..4, 0usize..12), 1..10),
    ) {
        let texts: Vec<String> = specs
            .iter()
            .map(policy_text)
            .filter(|t| !t.contains("4611686018427387904") && Policies::parse("one", t).is_ok())
            .collect();
        let policies = Policies::parse("p", &texts.join("\n")).unwrap();
        let alice = Principal::user("alice").unwrap();
        let auth = Authorizer::builder().principal(alice.clone()).policies(policies.clone()).build().unwrap();
        for &(ai, r, p) in &requests {
            let action = Action::ALL[ai];
            let resource = resource_for(action, r, p);
            let ctx = context_for(action, p);
            let record = rex_auth::RecordedRequest::of(&alice.to_string(), action, &resource, &ctx);
            let back = record.to_request().unwrap();
            prop_assert_eq!(&back.principal, &alice);
            prop_assert_eq!(back.action, action);
            if !back.blocked_by(&policies).is_empty() {
                continue;
            }
            let original = auth.authorize(action, &resource, &ctx).map_err(|e| e.is_denied());
            let replayed = auth
                .authorize(back.action, &back.resource, &back.context)
                .map_err(|e| e.is_denied());
            prop_assert_eq!(original, replayed);
        }
    }
}
