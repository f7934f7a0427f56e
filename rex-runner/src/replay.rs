//! `rex-runner replay`: what new policies would have decided for the requests in real audit
//! logs.
//!
//! Reads the JSON lines of the CLI's `--audit-log` (one decision per line) and of the MCP
//! server's `--log-file` (one call per line, its `decisions` inside), rebuilds each request
//! from its record ([`rex_auth::RecordedRequest`]) and decides it again under the new
//! policies with the runner's [`rex_auth::Authorizer`]. A record whose left-out fields
//! (argument and environment values, a process's command line) a new policy reads is
//! reported as not replayable, never guessed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use rex_auth::{
    Authorizer, MemoryAuditSink, Outcome, Policies, RecordedRequest, Resource, ResourceKind,
};
use serde::Serialize;
use serde_json::Value;

/// One audit log, already read.
#[derive(Debug, Clone)]
pub struct AuditText {
    /// Its name (for messages).
    pub name: String,
    /// Its JSON lines.
    pub text: String,
}

/// A request whose decision changed, or that could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// The principal.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The recorded context (secret-free).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub context: Value,
    /// Where it was recorded (`file:line`).
    pub recorded_at: String,
}

/// Decisions that changed the same way, for one action and resource prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeGroup {
    /// The action.
    pub action: String,
    /// The resource prefix (a file's directory, a directory, a service, a URL's origin, a
    /// process name).
    pub prefix: String,
    /// The recorded decision (`allow`, `deny`, `error`).
    pub was: String,
    /// The new decision.
    pub now: String,
    /// How many decisions.
    pub count: usize,
    /// The new determining policies of the example.
    pub determining_policies: Vec<String>,
    /// The first such request.
    pub example: Example,
}

/// Decisions that could not be decided again, grouped by action, prefix and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReplayable {
    /// The action (as recorded).
    pub action: String,
    /// The resource prefix.
    pub prefix: String,
    /// Why.
    pub reason: String,
    /// How many decisions.
    pub count: usize,
    /// The first one.
    pub example: Example,
}

/// A line that is not an audit record Rex writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// `file:line`.
    pub at: String,
    /// Why.
    pub reason: String,
}

/// What replay found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReplayReport {
    /// Decisions read.
    pub decisions: usize,
    /// Decided again with the same result.
    pub unchanged: usize,
    /// Denied (or errored) then, allowed now.
    pub widened: Vec<ChangeGroup>,
    /// Allowed then, denied (or errored) now.
    pub narrowed: Vec<ChangeGroup>,
    /// Could not be decided again.
    pub not_replayable: Vec<NotReplayable>,
    /// Lines that are not audit records.
    pub unreadable: Vec<Unreadable>,
}

impl ReplayReport {
    /// Decisions that widen.
    pub fn widened_count(&self) -> usize {
        self.widened.iter().map(|g| g.count).sum()
    }

    /// Decisions that narrow.
    pub fn narrowed_count(&self) -> usize {
        self.narrowed.iter().map(|g| g.count).sum()
    }

    /// Decisions not replayed.
    pub fn not_replayable_count(&self) -> usize {
        self.not_replayable.iter().map(|g| g.count).sum()
    }
}

/// Why replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An authorizer for a recorded principal could not be built.
    #[error(transparent)]
    Auth(#[from] rex_auth::AuthError),
}

/// One recorded decision.
struct Recorded {
    request: RecordedRequest,
    decision: String,
    at: String,
}

/// The decisions of one JSON line: a CLI record, or an MCP call record's `decisions`.
fn decisions_of(line: &Value, at: &str) -> Result<Vec<Recorded>, String> {
    let Value::Object(m) = line else {
        return Err("not a JSON object".into());
    };
    let text = |m: &serde_json::Map<String, Value>, k: &str| -> Result<String, String> {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("`{k}` is missing or not a string"))
    };
    let one = |d: &serde_json::Map<String, Value>, principal: String| -> Result<Recorded, String> {
        Ok(Recorded {
            request: RecordedRequest {
                principal,
                action: text(d, "action")?,
                resource: text(d, "resource")?,
                resource_attributes: d.get("resource_attributes").cloned(),
                context: d.get("context").cloned().unwrap_or(Value::Null),
            },
            decision: text(d, "decision")?,
            at: at.to_string(),
        })
    };
    if let Some(decisions) = m.get("decisions") {
        let Value::Array(decisions) = decisions else {
            return Err("`decisions` is not an array".into());
        };
        // An MCP call record: the principal is the agent (HTTP) or the OS user (stdio).
        let caller = m
            .get("agent")
            .or_else(|| m.get("os_user"))
            .and_then(Value::as_str)
            .map(|n| rex_auth::Principal::user(n).map(|p| p.to_string()));
        return decisions
            .iter()
            .map(|d| {
                let Value::Object(d) = d else {
                    return Err("a decision is not an object".to_string());
                };
                let principal = match (d.get("principal").and_then(Value::as_str), &caller) {
                    (Some(p), _) => p.to_string(),
                    (None, Some(Ok(p))) => p.clone(),
                    (None, Some(Err(e))) => return Err(e.to_string()),
                    (None, None) => return Err("the call record names no caller".into()),
                };
                one(d, principal)
            })
            .collect();
    }
    if m.contains_key("action") {
        return Ok(vec![one(m, text(m, "principal")?)?]);
    }
    // Another kind of line (e.g. an MCP call that made no decision): nothing to replay.
    if m.contains_key("tool") {
        return Ok(Vec::new());
    }
    Err("neither a decision (`action`) nor a call record (`decisions`)".into())
}

/// A resource's group: a file's directory, a directory, a service or host name, a URL's
/// origin, a process's name.
fn prefix_of(resource: &Resource) -> String {
    match resource.kind() {
        ResourceKind::File => match resource.id().rsplit_once('/') {
            Some(("", _)) => "/".into(),
            Some((dir, _)) => format!("{dir}/"),
            None => resource.id().to_string(),
        },
        ResourceKind::Dir => {
            if resource.id() == "/" {
                "/".into()
            } else {
                format!("{}/", resource.id())
            }
        }
        ResourceKind::Process => format!(
            "process {}",
            resource.process_attrs().map_or("?", |p| p.name.as_str())
        ),
        ResourceKind::Url => resource.url_attrs().map_or_else(
            || resource.id().to_string(),
            |u| format!("{}://{}:{}", u.scheme, u.host, u.port),
        ),
        _ => resource.to_string(),
    }
}

fn raw_prefix(resource_text: &str) -> String {
    rex_auth::parse_uid_parts(resource_text).map_or_else(
        |_| resource_text.to_string(),
        |(kind, id)| match kind {
            ResourceKind::File => id
                .rsplit_once('/')
                .map_or(id.clone(), |(d, _)| format!("{d}/")),
            _ => id,
        },
    )
}

fn example(r: &Recorded) -> Example {
    Example {
        principal: r.request.principal.clone(),
        action: r.request.action.clone(),
        resource: r.request.resource.clone(),
        context: r.request.context.clone(),
        recorded_at: r.at.clone(),
    }
}

/// Replays every decision of `logs` under `policies`.
pub fn replay(policies: &Policies, logs: &[AuditText]) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut authorizers: HashMap<String, (Arc<Authorizer>, Arc<MemoryAuditSink>)> = HashMap::new();
    // (widened?, action, prefix, was, now) -> group
    let mut changes: BTreeMap<(bool, String, String, String, String), ChangeGroup> =
        BTreeMap::new();
    let mut refused: BTreeMap<(String, String, String), NotReplayable> = BTreeMap::new();
    for log in logs {
        for (index, line) in log.text.lines().enumerate() {
            let at = format!("{}:{}", log.name, index + 1);
            if line.trim().is_empty() {
                continue;
            }
            let decisions = match serde_json::from_str::<Value>(line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| decisions_of(&v, &at))
            {
                Ok(d) => d,
                Err(reason) => {
                    report.unreadable.push(Unreadable { at, reason });
                    continue;
                }
            };
            for rec in decisions {
                report.decisions += 1;
                let mut not_replayable = |reason: String, prefix: String| {
                    let key = (rec.request.action.clone(), prefix.clone(), reason.clone());
                    refused
                        .entry(key)
                        .or_insert_with(|| NotReplayable {
                            action: rec.request.action.clone(),
                            prefix,
                            reason,
                            count: 0,
                            example: example(&rec),
                        })
                        .count += 1;
                };
                let request = match rec.request.to_request() {
                    Ok(r) => r,
                    Err(e) => {
                        not_replayable(e.to_string(), raw_prefix(&rec.request.resource));
                        continue;
                    }
                };
                let prefix = prefix_of(&request.resource);
                let blocked = request.blocked_by(policies);
                if !blocked.is_empty() {
                    not_replayable(
                        format!(
                            "the record leaves out {} and policy {} reads it",
                            request.redacted.join(" and "),
                            blocked.join(", ")
                        ),
                        prefix,
                    );
                    continue;
                }
                let principal_text = request.principal.to_string();
                let (auth, sink) = match authorizers.get(&principal_text) {
                    Some(a) => a.clone(),
                    None => {
                        let sink = Arc::new(MemoryAuditSink::new());
                        let auth = Arc::new(
                            Authorizer::builder()
                                .principal(request.principal.clone())
                                .policies(policies.clone())
                                .audit_sink(sink.clone())
                                .build()?,
                        );
                        authorizers.insert(principal_text.clone(), (auth.clone(), sink.clone()));
                        (auth, sink)
                    }
                };
                if let Err(e) = auth.authorize(request.action, &request.resource, &request.context)
                    && !e.is_denied()
                    && !matches!(e, rex_auth::AuthError::Evaluation { .. })
                {
                    not_replayable(e.to_string(), prefix);
                    continue;
                }
                let Some(decided) = sink.take().pop() else {
                    not_replayable("no decision was made".into(), prefix);
                    continue;
                };
                let now = decided.outcome;
                let was_allowed = rec.decision == "allow";
                let now_allowed = now == Outcome::Allow;
                if was_allowed == now_allowed {
                    report.unchanged += 1;
                    continue;
                }
                let key = (
                    !now_allowed,
                    rec.request.action.clone(),
                    prefix.clone(),
                    rec.decision.clone(),
                    now.as_str().to_string(),
                );
                changes
                    .entry(key)
                    .or_insert_with(|| ChangeGroup {
                        action: rec.request.action.clone(),
                        prefix,
                        was: rec.decision.clone(),
                        now: now.as_str().to_string(),
                        count: 0,
                        determining_policies: decided.policies.clone(),
                        example: example(&rec),
                    })
                    .count += 1;
            }
        }
    }
    for ((narrowing, ..), group) in changes {
        if narrowing {
            report.narrowed.push(group);
        } else {
            report.widened.push(group);
        }
    }
    report.not_replayable = refused.into_values().collect();
    Ok(report)
}

impl ReplayReport {
    /// The report for a person: the summary, widening first, then narrowing, then what
    /// could not be replayed.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} decisions replayed: {} unchanged, {} widened, {} narrowed, {} not replayable{}",
            self.decisions,
            self.unchanged,
            self.widened_count(),
            self.narrowed_count(),
            self.not_replayable_count(),
            if self.unreadable.is_empty() {
                String::new()
            } else {
                format!(", {} unreadable lines", self.unreadable.len())
            }
        );
        let groups = |out: &mut String, title: &str, list: &[ChangeGroup]| {
            if list.is_empty() {
                return;
            }
            let _ = writeln!(out, "{title}");
            for g in list {
                let _ = writeln!(
                    out,
                    "  {:>5}  {} {}  ({} -> {}{})",
                    g.count,
                    g.action,
                    g.prefix,
                    g.was,
                    g.now,
                    if g.determining_policies.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", g.determining_policies.join(", "))
                    }
                );
                let _ = writeln!(
                    out,
                    "         e.g. {} {} {} ({})",
                    g.example.principal,
                    g.example.action,
                    g.example.resource,
                    g.example.recorded_at
                );
            }
        };
        groups(&mut out, "WIDENED (now allowed):", &self.widened);
        groups(&mut out, "NARROWED (now denied):", &self.narrowed);
        if !self.not_replayable.is_empty() {
            let _ = writeln!(out, "NOT REPLAYABLE:");
            for g in &self.not_replayable {
                let _ = writeln!(
                    out,
                    "  {:>5}  {} {}  ({})\n         e.g. {} {} ({})",
                    g.count,
                    g.action,
                    g.prefix,
                    g.reason,
                    g.example.principal,
                    g.example.resource,
                    g.example.recorded_at
                );
            }
        }
        for u in &self.unreadable {
            let _ = writeln!(out, "unreadable: {}: {}", u.at, u.reason);
        }
        out
    }
}
