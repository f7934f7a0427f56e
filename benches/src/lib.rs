//! Shared fixtures for the Rex benchmarks: generated policy sets and the REX-style baseline.

use cedar_policy::{Context, Entities, Request};
use rex_auth::{Action, Policies, Principal, Resource, ResourceKind, schema};

/// A policy set of `n` policies spread round-robin over all 31 actions. File-system policies
/// grant subtrees (`resource in Dir`), the others test an attribute or the type. Exactly one
/// policy grants `read` under `/var/log`, so the benchmark request is allowed.
pub fn policy_set(n: usize) -> String {
    policy_set_with(n, false)
}

/// [`policy_set`], where the `read` grant can also carry a condition
/// (`when { resource.path like "/var/log/*" }`), so that deciding it needs a Cedar
/// evaluation instead of the authorizer's scope-only fast path.
pub fn policy_set_with(n: usize, conditional_read: bool) -> String {
    let mut out = String::from(
        "permit(principal, action == file_system::Action::\"read\", resource in file_system::Dir::\"/var/log\")",
    );
    out.push_str(if conditional_read {
        " when { resource.path like \"/var/log/*\" };\n"
    } else {
        ";\n"
    });
    for i in 1..n {
        let a = Action::ALL
            .get(i % Action::ALL.len())
            .copied()
            .unwrap_or(Action::FsRead);
        let body = match a.applies_to().first().copied() {
            Some(ResourceKind::File | ResourceKind::Dir) => format!(
                "permit(principal, action == {}, resource in file_system::Dir::\"/srv/app{i}\");",
                a.uid_text()
            ),
            Some(ResourceKind::Process) => format!(
                "permit(principal, action == {}, resource) when {{ resource.name == \"svc{i}\" }};",
                a.uid_text()
            ),
            Some(ResourceKind::Service) => format!(
                "permit(principal, action == {}, resource == systemd::Service::\"svc{i}\");",
                a.uid_text()
            ),
            _ => format!(
                "forbid(principal, action == {}, resource) when {{ {i} < 0 }};",
                a.uid_text()
            ),
        };
        out.push_str(&body);
        out.push('\n');
    }
    out
}

/// Parses and validates a generated set.
pub fn policies(n: usize) -> Policies {
    policies_with(n, false)
}

/// Parses and validates a generated set ([`policy_set_with`]).
pub fn policies_with(n: usize, conditional_read: bool) -> Policies {
    Policies::parse("bench.cedar", &policy_set_with(n, conditional_read))
        .unwrap_or_else(|_| Policies::deny_all())
}

/// One decision the way REX makes it: rebuild the resource's entity chain, build `Entities`
/// with schema validation, build a schema-validated request, and evaluate the *whole* policy
/// set. Returns whether it was allowed.
pub fn rex_style_decision(policies: &Policies, principal: &Principal, path: &str) -> bool {
    let Ok(schema) = schema() else { return false };
    let Ok(resource) = Resource::file(path) else {
        return false;
    };
    let Ok(ents) = resource.entities() else {
        return false;
    };
    let Ok(entities) = Entities::from_entities(ents, Some(schema)) else {
        return false;
    };
    let (Ok(action), Ok(uid)) = (Action::FsRead.uid_text().parse(), resource.uid()) else {
        return false;
    };
    let Ok(request) = Request::new(
        principal.uid().clone(),
        action,
        uid,
        Context::empty(),
        Some(schema),
    ) else {
        return false;
    };
    cedar_policy::Authorizer::new()
        .is_authorized(&request, policies.policy_set(), &entities)
        .decision()
        == cedar_policy::Decision::Allow
}
