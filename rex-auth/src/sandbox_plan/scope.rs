//! Which resources a policy's scope and `when` conditions reach (a directory tree, one file, anything).

use super::*;

/// Whether `path` is `dir` or beneath it.
pub(super) fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// The scope of a permit: its resource scope, narrowed by the `when` conditions it can read
/// (`when` is [`when_bodies`] of the policy).
pub(super) fn scope_of(policy: &Policy, when: &[Value]) -> Scope {
    let from_scope = match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => Scope::Any,
        ResourceConstraint::Eq(uid) => {
            target_of(&uid, false).map_or(Scope::Any, |t| Scope::Paths(vec![t]))
        }
        ResourceConstraint::In(uid) | ResourceConstraint::IsIn(_, uid) => {
            target_of(&uid, true).map_or(Scope::Any, |t| Scope::Paths(vec![t]))
        }
    };
    when.iter()
        .filter_map(condition_scope)
        .fold(from_scope, |scope, s| intersect(&scope, &s))
}

/// The bodies of a policy's `when` clauses, in Cedar's JSON form (`unless` clauses cannot
/// narrow anything and are left out). Computed once per policy, and only for a policy with
/// conditions: the JSON form of a policy parsed from text is a second parse of its text.
pub(super) fn when_bodies(policy: &Policy) -> Vec<Value> {
    if !policy.has_non_scope_constraint() {
        return Vec::new();
    }
    let Ok(est) = policy.to_json() else {
        return Vec::new();
    };
    est.get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("kind").and_then(Value::as_str) == Some("when"))
        .filter_map(|c| c.get("body").cloned())
        .collect()
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

/// What a condition implies about the resource's path, if the analysis can tell.
pub(super) fn condition_scope(expr: &Value) -> Option<Scope> {
    let obj = expr.as_object()?;
    let (op, args) = obj.iter().next()?;
    match op.as_str() {
        "&&" => {
            let l = args.get("left").and_then(condition_scope);
            let r = args.get("right").and_then(condition_scope);
            match (l, r) {
                (Some(a), Some(b)) => Some(intersect(&a, &b)),
                (a, b) => a.or(b),
            }
        }
        "||" => {
            let l = args.get("left").and_then(condition_scope)?;
            let r = args.get("right").and_then(condition_scope)?;
            Some(union(&l, &r))
        }
        "in" | "==" => {
            if args.get("left")?.get("Var")?.as_str()? != "resource" {
                return None;
            }
            let right = args.get("right")?;
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

pub(super) fn target_within(inner: &Target, outer: &Target) -> bool {
    if outer.subtree {
        is_within(&inner.path, &outer.path)
    } else {
        !inner.subtree && inner.path == outer.path
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
