//! `rex-runner learn`: turn one observed run (under a ceiling policy) into a minimal policy.
//!
//! The run is enforced by the ceiling; a [`LearnSink`] keeps every decision with its full
//! request. [`build_policy`] groups the allowed requests into permits, each built as a Cedar
//! policy AST (the JSON EST, through [`rex_auth::cedar_policy::Policy::from_json`]: values are
//! typed JSON, never pasted into Cedar text), rendered by Cedar, then strictly validated
//! ([`rex_auth::Policies::from_sources`]) and checked to allow every learned request before it
//! is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use rex_auth::cedar_policy::{Policy, PolicyId};
use rex_auth::{
    Action, AuditSink, Authorizer, DecisionRecord, Outcome, Policies, Principal, RequestContext,
    Resource, ResourceKind,
};
use serde_json::{Value, json};

/// One decision of the learning run, with its whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The action.
    pub action: Action,
    /// The resource (with its attributes).
    pub resource: Resource,
    /// The context (argv, environment, destination, ...).
    pub context: RequestContext,
    /// What the ceiling decided.
    pub outcome: Outcome,
}

/// Keeps every decision of a run, in order, with its full request.
#[derive(Debug, Default, Clone)]
pub struct LearnSink {
    records: Arc<Mutex<Vec<Observed>>>,
}

impl LearnSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decisions so far.
    pub fn observed(&self) -> Vec<Observed> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for LearnSink {
    fn record(&self, r: &DecisionRecord<'_>) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Observed {
                action: r.action,
                resource: r.resource.clone(),
                context: r.context.clone(),
                outcome: r.outcome,
            });
    }
}

/// How far resources are widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Generalize {
    /// Exactly the resources the run used.
    #[default]
    Exact,
    /// Files widened to their directory (`resource in Dir::"<parent>"`), directories to
    /// themselves and what they contain.
    Dir,
}

impl Generalize {
    /// `exact` or `dir`.
    pub fn as_str(self) -> &'static str {
        match self {
            Generalize::Exact => "exact",
            Generalize::Dir => "dir",
        }
    }
}

/// Why no policy could be learned.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// Cedar refused a permit built from the run (a defect: reported, not written).
    #[error("cannot build a permit: {0}")]
    Build(String),
    /// The learned policy fails strict validation (a defect: reported, not written).
    #[error("the learned policy is invalid: {0}")]
    Invalid(String),
    /// The learned policy does not allow a request the run made (a defect).
    #[error("the learned policy does not allow a learned request: {0}")]
    Incomplete(String),
}

/// The learned policy and what went into it.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The policy text (strictly validated).
    pub text: String,
    /// Distinct allowed requests.
    pub requests: usize,
    /// Permits written.
    pub permits: usize,
    /// Distinct requests the ceiling denied, as `ACTION on RESOURCE`.
    pub denied: Vec<String>,
    /// Distinct requests that could not be evaluated.
    pub errors: Vec<String>,
}

/// One permit being assembled: the actions sharing a resource scope and conditions.
struct Group {
    actions: BTreeSet<Action>,
    resources: BTreeSet<String>,
    requests: usize,
    resource_json: Value,
    conditions: Vec<Value>,
}

fn var(name: &str) -> Value {
    json!({ "Var": name })
}

fn attr(left: Value, name: &str) -> Value {
    json!({ ".": { "left": left, "attr": name } })
}

fn eq(left: Value, right: Value) -> Value {
    json!({ "==": { "left": left, "right": right } })
}

fn has(left: Value, name: &str) -> Value {
    json!({ "has": { "left": left, "attr": name } })
}

fn and(left: Value, right: Value) -> Value {
    json!({ "&&": { "left": left, "right": right } })
}

fn string_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    items.into_iter().map(|s| json!({ "Value": s })).collect()
}

/// `left == [items]`, or `left.isEmpty()` (strict validation refuses empty set literals).
fn set_eq(left: Value, items: Vec<Value>) -> Value {
    if items.is_empty() {
        json!({ "isEmpty": { "arg": left } })
    } else {
        eq(left, json!({ "Set": items }))
    }
}

fn entity(type_name: &str, id: &str) -> Value {
    json!({ "type": type_name, "id": id })
}

/// The resource scope of a permit for `r`, and conditions on its attributes.
fn resource_scope(r: &Resource, generalize: Generalize) -> (Value, Vec<Value>) {
    match r.kind() {
        ResourceKind::File | ResourceKind::Dir if generalize == Generalize::Dir => {
            let dir = if r.kind() == ResourceKind::Dir {
                r.id().to_string()
            } else {
                match r.id().rsplit_once('/') {
                    Some(("", _)) | None => "/".to_string(),
                    Some((parent, _)) => parent.to_string(),
                }
            };
            (
                json!({ "op": "in", "entity": entity(ResourceKind::Dir.type_name(), &dir) }),
                Vec::new(),
            )
        }
        // The runner gives singletons one fixed id; matching by type says what is meant.
        ResourceKind::Systemd
        | ResourceKind::Sysinfo
        | ResourceKind::Uname
        | ResourceKind::Sysctl => (
            json!({ "op": "is", "entity_type": r.kind().type_name() }),
            Vec::new(),
        ),
        // A pid does not survive the run: a process is matched by its name and owner.
        ResourceKind::Process => {
            let conditions = r
                .process_attrs()
                .map(|p| {
                    vec![
                        eq(attr(var("resource"), "name"), json!({ "Value": p.name })),
                        eq(
                            attr(var("resource"), "username"),
                            json!({ "Value": p.username }),
                        ),
                    ]
                })
                .unwrap_or_default();
            (
                json!({ "op": "is", "entity_type": r.kind().type_name() }),
                conditions,
            )
        }
        _ => (
            json!({ "op": "==", "entity": entity(r.kind().type_name(), r.id()) }),
            Vec::new(),
        ),
    }
}

/// Conditions that pin the context the run used (execute: argv, environment, identity,
/// capabilities, namespace; move: destination; xattr: name; resolve: resolver).
fn context_conditions(c: &RequestContext) -> Vec<Value> {
    let ctx = || var("context");
    match c {
        RequestContext::None => Vec::new(),
        RequestContext::Move { path, .. } => vec![eq(
            attr(attr(ctx(), "destination"), "path"),
            json!({ "Value": path }),
        )],
        RequestContext::XAttr { name } => vec![eq(
            attr(attr(ctx(), "xattr"), "name"),
            json!({ "Value": name }),
        )],
        RequestContext::Resolve { resolver: None } => {
            vec![json!({ "!": { "arg": has(ctx(), "resolver") } })]
        }
        RequestContext::Resolve { resolver: Some(r) } => vec![and(
            has(ctx(), "resolver"),
            eq(attr(ctx(), "resolver"), json!({ "Value": r })),
        )],
        RequestContext::Execute(e) => {
            let argv: Vec<Value> = rex_auth::flatten_arguments(&e.arguments)
                .iter()
                .enumerate()
                .map(|(i, v)| json!({ "Record": { "index": { "Value": i }, "value": { "Value": v } } }))
                .collect();
            let env = attr(ctx(), "environment");
            let mut out = vec![
                set_eq(attr(attr(ctx(), "arguments"), "argv"), argv),
                set_eq(
                    attr(env.clone(), "names"),
                    string_set(e.environment.keys().map(String::as_str)),
                ),
            ];
            for (k, v) in &e.environment {
                out.push(eq(
                    json!({ "getTag": { "left": env.clone(), "right": { "Value": k } } }),
                    json!({ "Value": v }),
                ));
            }
            out.push(eq(
                attr(attr(ctx(), "user"), "uid"),
                json!({ "Value": e.identity.uid }),
            ));
            out.push(eq(
                attr(attr(ctx(), "group"), "gid"),
                json!({ "Value": e.identity.gid }),
            ));
            out.push(set_eq(
                attr(ctx(), "capabilities"),
                string_set(e.capabilities.iter().map(String::as_str)),
            ));
            out.push(match e.namespace_target_pid {
                None => json!({ "!": { "arg": has(ctx(), "namespace") } }),
                Some(pid) => and(
                    has(ctx(), "namespace"),
                    eq(
                        attr(attr(ctx(), "namespace"), "target_process_id"),
                        json!({ "Value": pid }),
                    ),
                ),
            });
            out
        }
    }
}

fn action_json(a: Action) -> Value {
    entity(&format!("{}::Action", a.namespace().name()), a.name())
}

/// A comment line: no control characters, so it cannot end early or hide policy text.
fn comment(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("// {clean}\n")
}

/// Builds the learned policy from a run's decisions: one permit per (resource scope,
/// conditions), with every action that used it, strictly validated and checked to allow
/// every allowed request of the run.
pub fn build_policy(
    observed: &[Observed],
    generalize: Generalize,
    header: &str,
) -> Result<Learned, LearnError> {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut seen: Vec<&Observed> = Vec::new();
    let mut denied: BTreeSet<String> = BTreeSet::new();
    let mut errors: BTreeSet<String> = BTreeSet::new();
    for o in observed {
        match o.outcome {
            Outcome::Deny => {
                denied.insert(format!("{} on {}", o.action, o.resource));
                continue;
            }
            Outcome::Error => {
                errors.insert(format!("{} on {}", o.action, o.resource));
                continue;
            }
            Outcome::Allow => {}
        }
        if seen.contains(&o) {
            continue;
        }
        seen.push(o);
        let (resource_json, mut conditions) = resource_scope(&o.resource, generalize);
        conditions.extend(context_conditions(&o.context));
        let key = (
            resource_json.to_string(),
            Value::Array(conditions.clone()).to_string(),
        );
        let g = groups.entry(key).or_insert_with(|| Group {
            actions: BTreeSet::new(),
            resources: BTreeSet::new(),
            requests: 0,
            resource_json,
            conditions,
        });
        g.actions.insert(o.action);
        g.resources.insert(o.resource.to_string());
        g.requests += 1;
    }
    let mut text = String::new();
    for line in header.lines() {
        text.push_str(&comment(line));
    }
    text.push('\n');
    for (n, g) in groups.values().enumerate() {
        let id = format!("learned-{}", n + 1);
        let actions: Vec<Action> = g.actions.iter().copied().collect();
        let action_json = match actions.as_slice() {
            [one] => json!({ "op": "==", "entity": action_json(*one) }),
            many => {
                json!({ "op": "in", "entities": many.iter().map(|a| action_json(*a)).collect::<Vec<_>>() })
            }
        };
        let conditions: Vec<Value> = g
            .conditions
            .iter()
            .map(|c| json!({ "kind": "when", "body": c }))
            .collect();
        let est = json!({
            "effect": "permit",
            "principal": { "op": "All" },
            "action": action_json,
            "resource": g.resource_json,
            "conditions": conditions,
            "annotations": { "id": id },
        });
        let policy = Policy::from_json(Some(PolicyId::new(&id)), est)
            .map_err(|e| LearnError::Build(e.to_string()))?;
        let names: Vec<String> = actions.iter().map(|a| a.name().to_string()).collect();
        let shown: Vec<&str> = g.resources.iter().take(3).map(String::as_str).collect();
        let more = g.resources.len().saturating_sub(shown.len());
        text.push_str(&comment(&format!(
            "{}: the script's {} of {}{} ({} request{})",
            id,
            names.join(", "),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            g.requests,
            if g.requests == 1 { "" } else { "s" },
        )));
        text.push_str(&policy.to_cedar().unwrap_or_else(|| policy.to_string()));
        text.push_str("\n\n");
    }
    let policies = Policies::from_sources([("learned.cedar", text.as_str())])
        .map_err(|e| LearnError::Invalid(e.render()))?;
    verify(&policies, &seen)?;
    Ok(Learned {
        text,
        requests: seen.len(),
        permits: groups.len(),
        denied: denied.into_iter().collect(),
        errors: errors.into_iter().collect(),
    })
}

/// Every allowed request of the run is allowed by the learned policy.
fn verify(policies: &Policies, allowed: &[&Observed]) -> Result<(), LearnError> {
    let principal = Principal::user("learn").map_err(|e| LearnError::Build(e.to_string()))?;
    let auth = Authorizer::builder()
        .principal(principal)
        .policies(policies.clone())
        .build()
        .map_err(|e| LearnError::Build(e.to_string()))?;
    for o in allowed {
        match auth.is_allowed(o.action, &o.resource, &o.context) {
            Ok(true) => {}
            Ok(false) => {
                return Err(LearnError::Incomplete(format!(
                    "{} on {}",
                    o.action, o.resource
                )));
            }
            Err(e) => return Err(LearnError::Incomplete(e.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use proptest::prelude::*;

    const ACTIONS: [Action; 5] = [
        Action::FsOpen,
        Action::FsRead,
        Action::FsStat,
        Action::FsWrite,
        Action::FsDelete,
    ];

    /// Every request of the grid: each action on each file of a small tree (names with
    /// quotes, backslashes and spaces, which the builder must escape).
    fn grid() -> Vec<(Action, Resource)> {
        let mut out = Vec::new();
        for dir in ["/t/a", "/t/b \"q\""] {
            for file in ["f0", "f\\1", "f 2"] {
                for a in ACTIONS {
                    out.push((a, Resource::file(&format!("{dir}/{file}")).unwrap()));
                }
            }
        }
        out
    }

    fn auth(text: &str) -> Authorizer {
        Authorizer::builder()
            .principal(Principal::user("someone").unwrap())
            .policies(Policies::parse("learned.cedar", text).unwrap())
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The learned policy allows every request the learning run made, and in exact mode
        /// nothing else among the requests tried (denied ones included).
        #[test]
        fn learned_policy_allows_exactly_the_run(mask in proptest::collection::vec(0u8..3, 30)) {
            let grid = grid();
            let observed: Vec<Observed> = grid
                .iter()
                .zip(&mask)
                .filter(|(_, m)| **m != 0)
                .map(|((a, r), m)| Observed {
                    action: *a,
                    resource: r.clone(),
                    context: RequestContext::None,
                    outcome: if *m == 1 { Outcome::Allow } else { Outcome::Deny },
                })
                .collect();
            let allowed: BTreeSet<(Action, String)> = observed
                .iter()
                .filter(|o| o.outcome == Outcome::Allow)
                .map(|o| (o.action, o.resource.to_string()))
                .collect();
            let exact = build_policy(&observed, Generalize::Exact, "h").unwrap();
            prop_assert_eq!(exact.requests, allowed.len());
            let a = auth(&exact.text);
            for (action, r) in &grid {
                let expect = allowed.contains(&(*action, r.to_string()));
                prop_assert_eq!(
                    a.is_allowed(*action, r, &RequestContext::None).unwrap(),
                    expect,
                    "{} {}\n{}", action, r, exact.text
                );
            }
            let dir = build_policy(&observed, Generalize::Dir, "h").unwrap();
            let d = auth(&dir.text);
            for o in observed.iter().filter(|o| o.outcome == Outcome::Allow) {
                prop_assert!(d.is_allowed(o.action, &o.resource, &o.context).unwrap());
            }
            // Never an action the run did not use.
            for action in ACTIONS {
                if !allowed.iter().any(|(a, _)| *a == action) {
                    prop_assert!(!dir.text.contains(&action.uid_text()), "{}", dir.text);
                }
            }
        }
    }

    #[test]
    fn comments_cannot_break_out_of_their_line() {
        assert_eq!(comment("a\nb\r\u{2028}c"), "// a b \u{2028}c\n");
    }
}
