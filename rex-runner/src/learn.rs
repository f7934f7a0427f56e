//! `rex-runner learn`: turn one observed run (under a ceiling policy) into a minimal policy.
//!
//! The run is enforced by the ceiling; a [`LearnSink`] keeps every decision with its full
//! request. [`build_policy`] groups the allowed requests into permits, each built as a Cedar
//! policy AST (the JSON EST, through [`rex_auth::cedar_policy::Policy::from_json`]: values are
//! typed JSON, never pasted into Cedar text), rendered by Cedar, then strictly validated
//! ([`rex_auth::Policies::from_sources`]) and checked to allow every learned request before it
//! is returned.
//!
//! The learned policy is implied by the ceiling: each learned permit also carries the
//! ceiling permit that allowed its requests (its scope, as conditions, and its `when` and
//! `unless` clauses), and the ceiling's forbids are copied. So a learned permit never allows
//! what that ceiling permit does not (a `--generalize dir` permit stays within it; a ceiling
//! that pins a process's command line keeps pinning it), and nothing the ceiling forbids.

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
    /// The ceiling's determining policies (the satisfied permits of an allow).
    pub policies: Vec<String>,
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
                policies: r.policies.to_vec(),
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
    /// The ceiling permit that allowed a request cannot be carried into the learned one
    /// (missing from the ceiling, or a template's slot).
    #[error("cannot carry the ceiling's permit into the learned policy: {0}")]
    Ceiling(String),
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
    /// `{"kind": "when"|"unless", "body": ...}` clauses.
    conditions: Vec<Value>,
    /// The ceiling permit carried.
    ceiling: String,
}

fn when(body: Value) -> Value {
    json!({ "kind": "when", "body": body })
}

/// An entity literal of the EST, from a scope's `{"type", "id"}`.
fn entity_value(e: &Value) -> Value {
    json!({ "Value": { "__entity": e } })
}

/// The scope constraint `scope` (of the EST) on the variable `name` as an expression;
/// `None` for `All`.
fn scope_expression(name: &str, scope: &Value) -> Result<Option<Value>, String> {
    let op = scope.get("op").and_then(Value::as_str).unwrap_or_default();
    if scope.get("slot").is_some() {
        return Err(format!("the {name} scope is a template slot"));
    }
    let expr = match (op, scope.get("entity"), scope.get("entities")) {
        ("All", _, _) => return Ok(None),
        ("==", Some(e), _) => eq(var(name), entity_value(e)),
        ("in", Some(e), _) => json!({ "in": { "left": var(name), "right": entity_value(e) } }),
        ("in", None, Some(Value::Array(es))) => json!({ "in": {
            "left": var(name),
            "right": { "Set": es.iter().map(entity_value).collect::<Vec<_>>() },
        } }),
        ("is", _, _) => {
            let Some(t) = scope.get("entity_type") else {
                return Err(format!("the {name} scope has no entity type"));
            };
            match scope.get("in") {
                None => json!({ "is": { "left": var(name), "entity_type": t } }),
                Some(inner) => match inner.get("entity") {
                    Some(e) => json!({ "is": {
                        "left": var(name),
                        "entity_type": t,
                        "in": entity_value(e),
                    } }),
                    None => return Err(format!("the {name} scope is a template slot")),
                },
            }
        }
        _ => return Err(format!("unknown {name} scope {scope}")),
    };
    Ok(Some(expr))
}

/// The clauses under which the ceiling permit `id` applies: its principal, action and
/// resource scopes as `when` clauses, then its own `when`/`unless` clauses.
fn ceiling_clauses(ceiling: &Policies, id: &str) -> Result<Vec<Value>, LearnError> {
    let bad = |m: String| LearnError::Ceiling(format!("{id}: {m}"));
    let policy = ceiling
        .policy_set()
        .policy(&PolicyId::new(id))
        .ok_or_else(|| bad("not in the ceiling".into()))?;
    if policy.effect() != rex_auth::cedar_policy::Effect::Permit {
        return Err(bad("not a permit".into()));
    }
    let est = policy.to_json().map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for name in ["principal", "action", "resource"] {
        let scope = est
            .get(name)
            .ok_or_else(|| bad(format!("no {name} scope")))?;
        if let Some(e) = scope_expression(name, scope).map_err(bad)? {
            out.push(when(e));
        }
    }
    if let Some(Value::Array(clauses)) = est.get("conditions") {
        out.extend(clauses.iter().cloned());
    }
    Ok(out)
}

/// The ceiling's forbids, as policies of the learned set (ids `ceiling-forbid-N`), each
/// with a comment naming the ceiling's id.
fn ceiling_forbids(ceiling: &Policies) -> Result<String, LearnError> {
    let mut text = String::new();
    let mut n = 0usize;
    for id in ceiling.ids() {
        let Some(policy) = ceiling.policy_set().policy(&PolicyId::new(id.as_str())) else {
            return Err(LearnError::Ceiling(format!("{id}: not in the ceiling")));
        };
        if policy.effect() != rex_auth::cedar_policy::Effect::Forbid {
            continue;
        }
        n += 1;
        let new_id = format!("ceiling-forbid-{n}");
        let mut est = policy
            .to_json()
            .map_err(|e| LearnError::Ceiling(format!("{id}: {e}")))?;
        if let Some(o) = est.as_object_mut() {
            o.insert("annotations".into(), json!({ "id": new_id }));
        }
        let copy = Policy::from_json(Some(PolicyId::new(&new_id)), est)
            .map_err(|e| LearnError::Build(e.to_string()))?;
        text.push_str(&comment(&format!("{new_id}: the ceiling's forbid {id}")));
        text.push_str(&copy.to_cedar().unwrap_or_else(|| copy.to_string()));
        text.push_str("\n\n");
    }
    Ok(text)
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

/// Builds the learned policy from a run's decisions under `ceiling` (the authorizer that
/// made them): one permit per (resource scope, conditions, determining ceiling permit), with
/// every action that used it and the ceiling permit's scope and clauses, then the ceiling's
/// forbids; strictly validated and checked to allow every allowed request of the run for
/// the ceiling's principal.
pub fn build_policy(
    observed: &[Observed],
    generalize: Generalize,
    header: &str,
    ceiling: &Authorizer,
) -> Result<Learned, LearnError> {
    let ceiling_policies = ceiling.policies();
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
        // The first determining permit that is one of the ceiling's (an allow has one).
        let Some(determining) = o.policies.iter().find(|id| {
            ceiling_policies
                .policy_set()
                .policy(&PolicyId::new(id.as_str()))
                .is_some_and(|p| p.effect() == rex_auth::cedar_policy::Effect::Permit)
        }) else {
            return Err(LearnError::Ceiling(format!(
                "no ceiling permit allowed {} on {}",
                o.action, o.resource
            )));
        };
        let (resource_json, mut bodies) = resource_scope(&o.resource, generalize);
        bodies.extend(context_conditions(&o.context));
        let mut conditions: Vec<Value> = bodies.into_iter().map(when).collect();
        conditions.extend(ceiling_clauses(&ceiling_policies, determining)?);
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
            ceiling: determining.clone(),
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
        let conditions = g.conditions.clone();
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
            "{}: the script's {} of {}{} ({} request{}), within the ceiling's {}",
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
            g.ceiling,
        )));
        text.push_str(&policy.to_cedar().unwrap_or_else(|| policy.to_string()));
        text.push_str("\n\n");
    }
    if !groups.is_empty() {
        text.push_str(&ceiling_forbids(&ceiling_policies)?);
    }
    let policies = Policies::from_sources([("learned.cedar", text.as_str())])
        .map_err(|e| LearnError::Invalid(e.render()))?;
    verify(&policies, ceiling.principal(), &seen)?;
    Ok(Learned {
        text,
        requests: seen.len(),
        permits: groups.len(),
        denied: denied.into_iter().collect(),
        errors: errors.into_iter().collect(),
    })
}

/// Every allowed request of the run is allowed by the learned policy.
fn verify(
    policies: &Policies,
    principal: &Principal,
    allowed: &[&Observed],
) -> Result<(), LearnError> {
    let auth = Authorizer::builder()
        .principal(principal.clone())
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
                    policies: vec!["all".into()],
                })
                .collect();
            let allowed: BTreeSet<(Action, String)> = observed
                .iter()
                .filter(|o| o.outcome == Outcome::Allow)
                .map(|o| (o.action, o.resource.to_string()))
                .collect();
            let ceiling = auth(r#"@id("all") permit(principal, action, resource);"#);
            let exact = build_policy(&observed, Generalize::Exact, "h", &ceiling).unwrap();
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
            let dir = build_policy(&observed, Generalize::Dir, "h", &ceiling).unwrap();
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

    /// A ceiling of up to four policies over the grid's actions and paths.
    fn ceiling_text(parts: &[(u8, u8, u8, u8, u8)]) -> String {
        let mut text = String::new();
        for (i, (effect, principal, action, resource, condition)) in parts.iter().enumerate() {
            let effect = if *effect == 0 { "forbid" } else { "permit" };
            let principal = match principal % 3 {
                0 => "principal",
                1 => r#"principal == User::"someone""#,
                _ => r#"principal == User::"other""#,
            };
            let a = |i: u8| ACTIONS[usize::from(i) % ACTIONS.len()].uid_text();
            let action = match action % 3 {
                0 => "action".to_string(),
                1 => format!("action == {}", a(*action)),
                _ => format!("action in [{}, {}]", a(*action), a(action / 3)),
            };
            let resource = match resource % 5 {
                0 => "resource".to_string(),
                1 => r#"resource == file_system::File::"/t/a/f0""#.to_string(),
                2 => r#"resource in file_system::Dir::"/t/a""#.to_string(),
                3 => {
                    r#"resource is file_system::File in file_system::Dir::"/t/b \"q\"""#.to_string()
                }
                _ => "resource is file_system::File".to_string(),
            };
            let condition = match condition % 5 {
                0 => "",
                1 => r#"when { resource has path && resource.path like "*f0" }"#,
                2 => r#"unless { resource has path && resource.path == "/t/a/f 2" }"#,
                3 => {
                    r#"when { resource has path && resource.path like "/t/b*" }
                        unless { resource has path && resource.path like "*1" }"#
                }
                _ => r#"when { principal == User::"other" }"#,
            };
            text.push_str(&format!(
                "@id(\"c{i}\") {effect}({principal}, {action}, {resource}) {condition};\n"
            ));
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// For generated ceilings and runs, the learned policy (exact and dir) never allows
        /// a request that the ceiling denies, among every request of the grid (and of its
        /// directories): it is implied by the ceiling (issue 29, item 9).
        #[test]
        fn the_learned_policy_never_allows_what_the_ceiling_denies(
            parts in proptest::collection::vec((0u8..4, 0u8..3, 0u8..15, 0u8..5, 0u8..5), 1..5),
            mask in proptest::collection::vec(proptest::bool::ANY, 30),
        ) {
            let text = ceiling_text(&parts);
            let sink = Arc::new(LearnSink::new());
            let recording = Authorizer::builder()
                .principal(Principal::user("someone").unwrap())
                .policies(Policies::parse("ceiling.cedar", &text).unwrap())
                .audit_sink(sink.clone())
                .build()
                .unwrap();
            let ceiling = auth(&text);
            let mut requests = grid();
            for d in ["/t/a", "/t/b \"q\"", "/t"] {
                for a in ACTIONS {
                    // The actions that apply to a directory.
                    let r = Resource::dir(d).unwrap();
                    if ceiling.is_allowed(a, &r, &RequestContext::None).is_ok() {
                        requests.push((a, r));
                    }
                }
            }
            for ((a, r), run) in grid().iter().zip(&mask) {
                if *run {
                    // Allowed or denied, the decision is recorded.
                    let _ = recording.authorize(*a, r, &RequestContext::None);
                }
            }
            for mode in [Generalize::Exact, Generalize::Dir] {
                let observed = sink.observed();
                let learned = build_policy(&observed, mode, "h", &ceiling).unwrap();
                let allowed = observed.iter().filter(|o| o.outcome == Outcome::Allow).count();
                prop_assert_eq!(learned.requests, allowed);
                let l = auth(&learned.text);
                for (a, r) in &requests {
                    if l.is_allowed(*a, r, &RequestContext::None).unwrap() {
                        prop_assert!(
                            ceiling.is_allowed(*a, r, &RequestContext::None).unwrap(),
                            "{:?}: {} on {} allowed by\n{}\nunder\n{}", mode, a, r, learned.text, text
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_ceiling_that_pins_a_command_line_keeps_pinning_it() {
        let ceiling = auth(
            r#"@id("pinned") permit(principal, action == process_system::Action::"kill",
                   resource is process_system::Process)
               when { resource.command == "sleep 317" };"#,
        );
        let process = |command: &str| {
            Resource::process(rex_auth::ProcessAttrs {
                pid: 4242,
                uid: 1000,
                name: "sleep".into(),
                username: "ops".into(),
                command: command.into(),
            })
        };
        let observed = vec![Observed {
            action: Action::ProcessKill,
            resource: process("sleep 317"),
            context: RequestContext::None,
            outcome: Outcome::Allow,
            policies: vec!["pinned".into()],
        }];
        for mode in [Generalize::Exact, Generalize::Dir] {
            let learned = build_policy(&observed, mode, "h", &ceiling).unwrap();
            let l = auth(&learned.text);
            let none = RequestContext::None;
            assert!(
                l.is_allowed(Action::ProcessKill, &process("sleep 317"), &none)
                    .unwrap()
            );
            // Same name and owner, another command line: the ceiling denies it, so does the
            // learned policy.
            assert!(
                !ceiling
                    .is_allowed(Action::ProcessKill, &process("sleep 1"), &none)
                    .unwrap()
            );
            assert!(
                !l.is_allowed(Action::ProcessKill, &process("sleep 1"), &none)
                    .unwrap(),
                "{}",
                learned.text
            );
        }
    }

    #[test]
    fn the_ceilings_forbids_are_carried_and_a_request_without_a_ceiling_permit_is_refused() {
        let ceiling = auth(
            r#"@id("dir") permit(principal, action, resource in file_system::Dir::"/t/a");
               @id("no") forbid(principal, action == file_system::Action::"delete",
                   resource == file_system::File::"/t/a/f 2");"#,
        );
        let observed = vec![Observed {
            action: Action::FsDelete,
            resource: Resource::file("/t/a/f0").unwrap(),
            context: RequestContext::None,
            outcome: Outcome::Allow,
            policies: vec!["dir".into()],
        }];
        let learned = build_policy(&observed, Generalize::Dir, "h", &ceiling).unwrap();
        let l = auth(&learned.text);
        let none = RequestContext::None;
        assert!(
            l.is_allowed(Action::FsDelete, &Resource::file("/t/a/f0").unwrap(), &none)
                .unwrap()
        );
        assert!(
            !l.is_allowed(
                Action::FsDelete,
                &Resource::file("/t/a/f 2").unwrap(),
                &none
            )
            .unwrap(),
            "{}",
            learned.text
        );
        assert!(
            learned
                .text
                .contains("ceiling-forbid-1: the ceiling's forbid no"),
            "{}",
            learned.text
        );
        let mut forged = observed.clone();
        forged[0].policies = vec!["no".into()];
        assert!(matches!(
            build_policy(&forged, Generalize::Exact, "h", &ceiling),
            Err(LearnError::Ceiling(_))
        ));
    }

    #[test]
    fn comments_cannot_break_out_of_their_line() {
        assert_eq!(comment("a\nb\r\u{2028}c"), "// a b \u{2028}c\n");
    }
}
