//! `rex-runner learn --tests-out FILE`: the requests a learning run made, as `rex-runner
//! test` cases: each one the ceiling allowed is expected allowed, each one it denied is
//! expected denied, so the learned policy (and every later edit of it) is kept under test.

use std::collections::BTreeSet;

use rex_auth::{Outcome, RequestContext, ResourceKind};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::learn::Observed;
use crate::policy_tests::Expect;

#[derive(Serialize)]
struct File {
    case: Vec<Case>,
}

#[derive(Serialize)]
struct Case {
    name: String,
    principal: String,
    action: String,
    resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<toml::Table>,
    expect: Expect,
}

/// The `explain --context` / test-case shape of a request's context and resource attributes.
fn context_of(o: &Observed) -> Map<String, Value> {
    let mut m = Map::new();
    match &o.context {
        RequestContext::None | RequestContext::Resolve { resolver: None } => {}
        RequestContext::Resolve { resolver: Some(r) } => {
            m.insert("resolver".into(), json!(r));
        }
        RequestContext::XAttr { name } => {
            m.insert("name".into(), json!(name));
        }
        RequestContext::Move { path, .. } => {
            m.insert("destination".into(), json!(path));
        }
        RequestContext::Execute(e) => {
            let args: Vec<Value> = e
                .arguments
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => json!([k, v]),
                    None => json!(k),
                })
                .collect();
            m.insert("arguments".into(), Value::Array(args));
            m.insert("environment".into(), json!(e.environment));
            m.insert("user".into(), json!(e.identity.username));
            m.insert("uid".into(), json!(e.identity.uid));
            m.insert("group".into(), json!(e.identity.groupname));
            m.insert("gid".into(), json!(e.identity.gid));
            m.insert("capabilities".into(), json!(e.capabilities));
            if let Some(pid) = e.namespace_target_pid {
                m.insert("namespace_target_pid".into(), json!(pid));
            }
        }
    }
    if let Some(p) = o.resource.process_attrs() {
        m.insert(
            "process".into(),
            json!({"name": p.name, "uid": p.uid, "username": p.username, "command": p.command}),
        );
    }
    m
}

/// The test file (TOML) of `observed`, decided for `principal` (its user name). Requests
/// that could not be evaluated are left out (they are reported by `learn` itself).
pub fn tests_of(observed: &[Observed], principal: &str, header: &str) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    let mut cases = Vec::new();
    for o in observed {
        let expect = match o.outcome {
            Outcome::Allow => Expect::Allow,
            Outcome::Deny => Expect::Deny,
            Outcome::Error => continue,
        };
        let ctx = context_of(o);
        let key = (
            o.action,
            o.resource.to_string(),
            Value::Object(ctx.clone()).to_string(),
        );
        if !seen.insert(key) {
            continue;
        }
        let resource = match o.resource.kind() {
            // The URL a script asked for, normalised again by `test` as the SDK does.
            ResourceKind::Url => format!("network::url::{}", Value::String(o.resource.id().into())),
            _ => o.resource.to_string(),
        };
        let context = if ctx.is_empty() {
            None
        } else {
            Some(
                toml::Table::try_from(Value::Object(ctx))
                    .map_err(|e| format!("cannot write a context as TOML: {e}"))?,
            )
        };
        cases.push(Case {
            name: format!("learned #{}: {} {}", cases.len() + 1, o.action, o.resource),
            principal: principal.to_string(),
            action: o.action.to_string(),
            resource,
            context,
            expect,
        });
    }
    let body = toml::to_string(&File { case: cases })
        .map_err(|e| format!("cannot write the tests as TOML: {e}"))?;
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}
