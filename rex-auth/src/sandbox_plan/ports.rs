//! The TCP ports a policy's network permits reach.

use super::*;

/// The destination ports a network permit can reach: from `resource == url::"..."` scopes
/// (the port in the URL, or its scheme's default) and `resource.port == N` conditions.
/// `None` when the port is not constrained. `when` is [`when_bodies`] of the policy.
pub(super) fn ports_of(policy: &Policy, when: &[Value]) -> Option<BTreeSet<u16>> {
    let from_scope = match policy.resource_constraint() {
        ResourceConstraint::Eq(uid)
        | ResourceConstraint::In(uid)
        | ResourceConstraint::IsIn(_, uid) => {
            url_port(uid.id().unescaped()).map(|p| BTreeSet::from([p]))
        }
        _ => None,
    };
    let mut ports = from_scope;
    for p in when.iter().filter_map(condition_ports) {
        ports = Some(match ports {
            Some(have) => have.intersection(&p).copied().collect(),
            None => p,
        });
    }
    ports
}

/// The port of a URL id (`https://host:8443/x` → 8443, `https://host/` → 443). Endpoint ids
/// of `connect` (a bare host) have no port: `None`.
pub(super) fn url_port(id: &str) -> Option<u16> {
    let (scheme, rest) = id.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some((_, port)) = host_port.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return port.parse().ok();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

pub(super) fn condition_ports(expr: &Value) -> Option<BTreeSet<u16>> {
    let obj = expr.as_object()?;
    let (op, args) = obj.iter().next()?;
    match op.as_str() {
        "&&" => {
            let l = args.get("left").and_then(condition_ports);
            let r = args.get("right").and_then(condition_ports);
            match (l, r) {
                (Some(a), Some(b)) => Some(a.intersection(&b).copied().collect()),
                (a, b) => a.or(b),
            }
        }
        "||" => {
            let mut l = args.get("left").and_then(condition_ports)?;
            l.extend(args.get("right").and_then(condition_ports)?);
            Some(l)
        }
        "==" => {
            let (l, r) = (args.get("left")?, args.get("right")?);
            let (attr, value) = if is_resource_port(l) { (l, r) } else { (r, l) };
            if !is_resource_port(attr) {
                return None;
            }
            let n = value.get("Value")?.as_i64()?;
            Some(u16::try_from(n).map_or_else(|_| BTreeSet::new(), |p| BTreeSet::from([p])))
        }
        "contains" => {
            // `[443, 8443].contains(resource.port)`
            if !is_resource_port(args.get("right")?) {
                return None;
            }
            let items = args.get("left")?.get("Set")?.as_array()?;
            let mut out = BTreeSet::new();
            for i in items {
                if let Ok(p) = u16::try_from(i.get("Value")?.as_i64()?) {
                    out.insert(p);
                }
            }
            Some(out)
        }
        _ => None,
    }
}

pub(super) fn is_resource_port(v: &Value) -> bool {
    v.get(".").is_some_and(|dot| {
        dot.get("left")
            .and_then(|l| l.get("Var"))
            .and_then(Value::as_str)
            == Some("resource")
            && dot.get("attr").and_then(Value::as_str) == Some("port")
    })
}
