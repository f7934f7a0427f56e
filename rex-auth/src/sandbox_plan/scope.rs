//! Which resources a policy's scope and `when` conditions reach (a directory tree, one file,
//! anything), for the run's principal.
//!
//! Two readings: the **wide** one ([`scope_of`]) never narrows past what Cedar may allow (a
//! condition it cannot read leaves the scope as it is), for the runner's own layer; the
//! **exact** one ([`exact_scope_of`]) answers only when every condition of the policy is read
//! exactly, for the layer of executed programs, which must never exceed Cedar.

use super::*;
use cedar_policy::PrincipalConstraint;

/// Whether `path` is `dir` or beneath it.
pub(super) fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Whether the policy's principal scope matches `principal`, exactly as Cedar decides it:
/// Rex's principal is a `User` with no parents, so `principal in X` holds only for `X` itself.
pub(super) fn principal_matches(policy: &Policy, principal: &EntityUid) -> bool {
    match policy.principal_constraint() {
        PrincipalConstraint::Any => true,
        PrincipalConstraint::Eq(u) | PrincipalConstraint::In(u) => &u == principal,
        PrincipalConstraint::Is(t) => &t == principal.type_name(),
        PrincipalConstraint::IsIn(t, u) => &t == principal.type_name() && &u == principal,
    }
}

/// The resource kinds a policy's resource scope can match.
pub(super) fn constraint_kinds(c: &ResourceConstraint) -> Vec<ResourceKind> {
    let kind_of = |name: String| {
        ResourceKind::ALL
            .into_iter()
            .find(|k| k.type_name() == name)
    };
    match c {
        ResourceConstraint::Any => ResourceKind::ALL.to_vec(),
        ResourceConstraint::Eq(uid) => kind_of(uid.type_name().to_string()).into_iter().collect(),
        ResourceConstraint::In(uid) => match kind_of(uid.type_name().to_string()) {
            // Directories hold files and directories; other entities have no members.
            Some(ResourceKind::Dir) => vec![ResourceKind::Dir, ResourceKind::File],
            k => k.into_iter().collect(),
        },
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => {
            kind_of(t.to_string()).into_iter().collect()
        }
    }
}

/// A policy's conditions in Cedar's JSON form: the bodies of its `when` clauses, and whether
/// it has an `unless` clause. `None` when the JSON form cannot be had (nothing can then be
/// read of its conditions). Computed once per policy, and only for a policy with conditions:
/// the JSON form of a policy parsed from text is a second parse of its text.
pub(super) struct Conditions {
    pub(super) when: Vec<Value>,
    pub(super) unless: bool,
}

pub(super) fn conditions_of(policy: &Policy) -> Option<Conditions> {
    if !policy.has_non_scope_constraint() {
        return Some(Conditions {
            when: Vec::new(),
            unless: false,
        });
    }
    let est = policy.to_json().ok()?;
    let mut out = Conditions {
        when: Vec::new(),
        unless: false,
    };
    for c in est
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match c.get("kind").and_then(Value::as_str) {
            Some("when") => out.when.push(c.get("body")?.clone()),
            _ => out.unless = true,
        }
    }
    Some(out)
}

/// The scope of a permit on the wide reading: its resource scope, narrowed by the `when`
/// conditions it can read (conditions on the principal are decided for `principal`).
pub(super) fn scope_of(policy: &Policy, when: &[Value], principal: &EntityUid) -> Scope {
    when.iter()
        .filter_map(|c| condition_scope(c, principal, false))
        .fold(resource_scope(policy), |scope, s| intersect(&scope, &s))
}

/// The scope of a permit on the exact reading: `None` unless its resource scope and every
/// condition say exactly which resources it matches.
pub(super) fn exact_scope_of(
    policy: &Policy,
    conditions: &Conditions,
    principal: &EntityUid,
) -> Option<Scope> {
    if conditions.unless {
        return None;
    }
    let mut scope = match policy.resource_constraint() {
        // `resource is T`: any resource of that kind (the callers read the kind from
        // `constraint_kinds`).
        ResourceConstraint::Any | ResourceConstraint::Is(_) => Scope::Any,
        ResourceConstraint::Eq(uid) => Scope::Paths(vec![target_of(&uid, false)?]),
        ResourceConstraint::In(uid) | ResourceConstraint::IsIn(_, uid) => {
            Scope::Paths(vec![target_of(&uid, true)?])
        }
    };
    for c in &conditions.when {
        scope = intersect(&scope, &condition_scope(c, principal, true)?);
    }
    Some(scope)
}

fn resource_scope(policy: &Policy) -> Scope {
    match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => Scope::Any,
        ResourceConstraint::Eq(uid) => {
            target_of(&uid, false).map_or(Scope::Any, |t| Scope::Paths(vec![t]))
        }
        ResourceConstraint::In(uid) | ResourceConstraint::IsIn(_, uid) => {
            target_of(&uid, true).map_or(Scope::Any, |t| Scope::Paths(vec![t]))
        }
    }
}

/// A file-system entity as a target (`None` for other types: not a path).
pub(super) fn target_of(uid: &EntityUid, in_scope: bool) -> Option<Target> {
    let ty = uid.type_name().to_string();
    let id = uid.id().unescaped().to_string();
    let is_dir = match ty.as_str() {
        "file_system::Dir" => true,
        "file_system::File" => false,
        _ => return None,
    };
    if !id.starts_with('/') {
        return None;
    }
    Some(Target {
        path: id,
        // `in File::"x"` is `== File::"x"` (files have no members).
        subtree: in_scope && is_dir,
        is_dir,
    })
}

/// What a condition implies about the resource's path, if the analysis can tell. A
/// condition on the principal (`principal == User::"x"`, `principal in …`) is decided for
/// `principal`: anything when it holds, nothing when it does not. With `exact`, a
/// conjunction is read only when both sides are, so the result is exactly the condition.
pub(super) fn condition_scope(expr: &Value, principal: &EntityUid, exact: bool) -> Option<Scope> {
    let obj = expr.as_object()?;
    let (op, args) = obj.iter().next()?;
    match op.as_str() {
        "Value" if args.as_bool() == Some(true) => Some(Scope::Any),
        "Value" if args.as_bool() == Some(false) => Some(Scope::Paths(Vec::new())),
        "&&" => {
            let l = args
                .get("left")
                .and_then(|e| condition_scope(e, principal, exact));
            let r = args
                .get("right")
                .and_then(|e| condition_scope(e, principal, exact));
            match (l, r) {
                (Some(a), Some(b)) => Some(intersect(&a, &b)),
                _ if exact => None,
                (a, b) => a.or(b),
            }
        }
        "||" => {
            let l = condition_scope(args.get("left")?, principal, exact)?;
            let r = condition_scope(args.get("right")?, principal, exact)?;
            Some(union(&l, &r))
        }
        "in" | "==" => {
            let var = args.get("left")?.get("Var")?.as_str()?;
            let right = args.get("right")?;
            if var == "principal" {
                return principal_condition(right, principal);
            }
            if var != "resource" {
                return None;
            }
            let subtree = op == "in";
            let mut targets = Vec::new();
            let entities: Vec<&Value> = match right.get("Set") {
                Some(Value::Array(items)) if subtree => items.iter().collect(),
                Some(_) => return None,
                None => vec![right],
            };
            for e in entities {
                let ent = e.get("Value")?.get("__entity")?;
                let ty = ent.get("type")?.as_str()?;
                let id = ent.get("id")?.as_str()?;
                let is_dir = match ty {
                    "file_system::Dir" => true,
                    "file_system::File" => false,
                    _ => return None,
                };
                if !id.starts_with('/') {
                    return None;
                }
                targets.push(Target {
                    path: id.to_string(),
                    subtree: subtree && is_dir,
                    is_dir,
                });
            }
            Some(Scope::Paths(targets))
        }
        _ => None,
    }
}

/// `principal == E` / `principal in E` (or a set of entities for `in`): Rex's principal has
/// no parents, so both hold exactly when `E` is the principal.
fn principal_condition(right: &Value, principal: &EntityUid) -> Option<Scope> {
    let entities: Vec<&Value> = match right.get("Set") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => return None,
        None => vec![right],
    };
    let mut holds = false;
    for e in entities {
        let ent = e.get("Value")?.get("__entity")?;
        let ty = ent.get("type")?.as_str()?;
        let id = ent.get("id")?.as_str()?;
        holds |= ty == principal.type_name().to_string() && id == principal.id().unescaped();
    }
    Some(if holds {
        Scope::Any
    } else {
        Scope::Paths(Vec::new())
    })
}

pub(super) fn target_within(inner: &Target, outer: &Target) -> bool {
    if outer.subtree {
        is_within(&inner.path, &outer.path)
    } else {
        !inner.subtree && inner.is_dir == outer.is_dir && inner.path == outer.path
    }
}

pub(super) fn intersect(a: &Scope, b: &Scope) -> Scope {
    match (a, b) {
        (Scope::Any, s) | (s, Scope::Any) => s.clone(),
        (Scope::Paths(x), Scope::Paths(y)) => {
            let mut out = Vec::new();
            for p in x {
                for q in y {
                    if target_within(p, q) {
                        out.push(p.clone());
                    } else if target_within(q, p) {
                        out.push(q.clone());
                    }
                }
            }
            Scope::Paths(out)
        }
    }
}

pub(super) fn union(a: &Scope, b: &Scope) -> Scope {
    match (a, b) {
        (Scope::Any, _) | (_, Scope::Any) => Scope::Any,
        (Scope::Paths(x), Scope::Paths(y)) => Scope::Paths(x.iter().chain(y).cloned().collect()),
    }
}
