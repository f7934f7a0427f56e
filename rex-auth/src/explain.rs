//! Explaining decisions: which policies decided a request, and what a policy set permits for
//! an action (the hint of a denial, and the "nearest permits" of `rex-runner explain`).
//!
//! [`explain`] decides through [`Authorizer::authorize`] itself (the runner's one code path)
//! and reads the determining policies from the decision record it reports.

use std::fmt;
use std::sync::Arc;

use cedar_policy::{ActionConstraint, EntityUid, ResourceConstraint};

use crate::action::Action;
use crate::audit::{MemoryAuditSink, Outcome};
use crate::authorizer::Authorizer;
use crate::context::RequestContext;
use crate::error::AuthError;
use crate::policy::Policies;
use crate::principal::Principal;
use crate::resource::{Resource, ResourceKind};

/// A permit that can apply to an action, summarised by its resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitScope {
    /// The policy id.
    pub id: String,
    /// The resource scope as Cedar text, e.g. `resource in file_system::Dir::"/var/log"`.
    pub scope: String,
    /// Whether `when`/`unless` conditions narrow the scope further.
    pub conditional: bool,
}

impl fmt::Display for PermitScope {
    /// `resource in file_system::Dir::"/var/log"` (plus ` (with conditions)` when it has any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scope)?;
        if self.conditional {
            f.write_str(" (with conditions)")?;
        }
        Ok(())
    }
}

/// The Cedar text of a resource scope.
fn scope_text(c: &ResourceConstraint) -> String {
    match c {
        ResourceConstraint::Any => "resource".to_string(),
        ResourceConstraint::Eq(e) => format!("resource == {e}"),
        ResourceConstraint::In(e) => format!("resource in {e}"),
        ResourceConstraint::Is(t) => format!("resource is {t}"),
        ResourceConstraint::IsIn(t, e) => format!("resource is {t} in {e}"),
    }
}

/// The UID text of the action's namespace group (`file_system::Action::"SafeIO"`).
fn group_text(action: Action) -> String {
    format!(
        "{}::Action::\"{}\"",
        action.namespace().name(),
        action.namespace().group()
    )
}

/// Whether an action scope can match `action` (its own UID, or its group for `in`).
/// Whether a policy's action scope matches requests for `action` (Cedar's semantics: `==`
/// names one action, `in [...]` also matches through action groups). Shared with the
/// sandbox plan, which must read action scopes exactly as the hints do.
pub(crate) fn covers(c: &ActionConstraint, action: Action) -> bool {
    let own = action.uid_text();
    let group = group_text(action);
    let is = |u: &EntityUid| {
        let t = u.to_string();
        t == own || t == group
    };
    match c {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(u) => u.to_string() == own,
        ActionConstraint::In(list) => list.iter().any(is),
    }
}

impl Policies {
    /// The permits whose action scope covers `action`, with their resource scopes, in source
    /// order. This is the hint of a denial: where the same action would be allowed.
    ///
    /// ```
    /// use rex_auth::{Action, Policies};
    /// let p = Policies::parse("p.cedar", r#"
    ///     @id("logs")
    ///     permit(principal, action in [file_system::Action::"read", file_system::Action::"stat"],
    ///            resource in file_system::Dir::"/var/log");
    ///     permit(principal, action == file_system::Action::"write", resource);"#).unwrap();
    /// let read = p.permits_for(Action::FsRead);
    /// assert_eq!(read.len(), 1);
    /// assert_eq!(read[0].to_string(), r#"resource in file_system::Dir::"/var/log""#);
    /// assert!(p.permits_for(Action::FsDelete).is_empty());
    /// ```
    pub fn permits_for(&self, action: Action) -> Vec<PermitScope> {
        let mut out = Vec::new();
        for id in self.ids() {
            let Some(p) = self
                .policy_set()
                .policy(&cedar_policy::PolicyId::new(id.as_str()))
            else {
                continue;
            };
            if p.effect() != cedar_policy::Effect::Permit || !covers(&p.action_constraint(), action)
            {
                continue;
            }
            out.push(PermitScope {
                id: id.clone(),
                scope: scope_text(&p.resource_constraint()),
                conditional: p.has_non_scope_constraint(),
            });
        }
        out
    }
}

/// What [`explain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// `Allow`, `Deny` or `Error` (the request could not be evaluated).
    pub outcome: Outcome,
    /// The determining policies: the satisfied permits of an allow, the satisfied forbids of
    /// a deny (empty when no permit matched), the erroring policies of an error.
    pub determining_policies: Vec<String>,
    /// The permits for the same action (for a deny: where the action would be allowed).
    pub nearest_permits: Vec<PermitScope>,
    /// Evaluation errors (empty unless `outcome` is `Error`).
    pub errors: Vec<String>,
    /// `Some(approvers)` when the request is *allowed if approved*: `outcome` is `Allow` and
    /// every determining permit carries `@approval("required")` (the `@approvers` texts).
    pub approval: Option<Vec<String>>,
}

impl Explanation {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow && self.approval.is_none()
    }

    /// Whether the request is allowed only once a person approves it.
    pub fn needs_approval(&self) -> bool {
        self.outcome == Outcome::Allow && self.approval.is_some()
    }
}

/// Decides one request exactly as the runner does ([`Authorizer::authorize`] on an enforcing
/// authorizer over `policies`) and says why. An invalid request (an action that does not apply
/// to the resource's type, a context of another action) is an `Err`: nothing was decided.
///
/// ```
/// use rex_auth::{explain, Action, Outcome, Policies, Principal, RequestContext, Resource};
/// let p = Policies::parse("p.cedar", r#"@id("logs")
///     permit(principal, action == file_system::Action::"read",
///            resource in file_system::Dir::"/var/log");"#).unwrap();
/// let alice = Principal::user("alice").unwrap();
/// let e = explain(&p, &alice, Action::FsRead, &Resource::file("/var/log/syslog").unwrap(),
///                 &RequestContext::None).unwrap();
/// assert!(e.is_allowed());
/// assert_eq!(e.determining_policies, ["logs"]);
/// let e = explain(&p, &alice, Action::FsRead, &Resource::file("/etc/shadow").unwrap(),
///                 &RequestContext::None).unwrap();
/// assert_eq!(e.outcome, Outcome::Deny);
/// assert!(e.determining_policies.is_empty());
/// assert_eq!(e.nearest_permits[0].id, "logs");
/// ```
pub fn explain(
    policies: &Policies,
    principal: &Principal,
    action: Action,
    resource: &Resource,
    context: &RequestContext,
) -> Result<Explanation, AuthError> {
    let sink = Arc::new(MemoryAuditSink::new());
    let auth = Authorizer::builder()
        .principal(principal.clone())
        .policies(policies.clone())
        .audit_sink(sink.clone())
        .cache_capacity(0)
        .build()?;
    let result = auth.authorize(action, resource, context);
    let mut approval = None;
    let nearest_permits = policies.permits_for(action);
    let (outcome, determining_policies, errors) = match result {
        Ok(()) => {
            let policies = sink
                .take()
                .into_iter()
                .next_back()
                .map(|r| r.policies)
                .unwrap_or_default();
            (Outcome::Allow, policies, Vec::new())
        }
        Err(AuthError::Denied(d)) if d.reason.is_some() => {
            // Allowed by `@approval("required")` permits alone: the third outcome.
            let approvals = policies.approvals();
            let mut approvers: Vec<String> = Vec::new();
            for text in d
                .reasons
                .iter()
                .filter_map(|p| approvals.get(p).cloned().flatten())
            {
                if !approvers.contains(&text) {
                    approvers.push(text);
                }
            }
            approval = Some(approvers);
            (Outcome::Allow, d.reasons, Vec::new())
        }
        Err(AuthError::Denied(d)) => (Outcome::Deny, d.reasons, Vec::new()),
        Err(AuthError::Evaluation {
            policies, message, ..
        }) => {
            let errors = if policies.is_empty() {
                vec![message]
            } else {
                policies
                    .iter()
                    .map(|p| format!("policy {p}: {message}"))
                    .collect()
            };
            (Outcome::Error, policies, errors)
        }
        Err(other) => return Err(other),
    };
    Ok(Explanation {
        outcome,
        determining_policies,
        nearest_permits,
        errors,
        approval,
    })
}

impl Resource {
    /// Parses a resource UID written as Cedar text (`file_system::File::"/var/log/syslog"`,
    /// `systemd::Service::"nginx.service"`, `sysinfo::Sysinfo::"local"`, ...) into the resource
    /// the runner would build. Singletons (`Systemd`, `Sysinfo`, `Uname`, `Sysctl`) take any id
    /// (the runner uses one fixed id). `network::url` and `process_system::Process` resources
    /// carry attributes that their text does not give; they are refused here (rex-runner's
    /// `explain` builds URLs with the SDK's own normaliser).
    ///
    /// ```
    /// use rex_auth::Resource;
    /// let r = Resource::parse_uid(r#"file_system::Dir::"/var/log""#).unwrap();
    /// assert_eq!(r, Resource::dir("/var/log").unwrap());
    /// assert!(Resource::parse_uid("file_system::File::relative").is_err());
    /// ```
    pub fn parse_uid(text: &str) -> Result<Resource, AuthError> {
        let (kind, id) = parse_uid_parts(text)?;
        match kind {
            ResourceKind::File => Resource::file(&id),
            ResourceKind::Dir => Resource::dir(&id),
            ResourceKind::Service => Resource::service(&id),
            ResourceKind::Hostname => Resource::hostname(&id),
            ResourceKind::Systemd => Ok(Resource::systemd()),
            ResourceKind::Sysinfo => Ok(Resource::sysinfo()),
            ResourceKind::Uname => Ok(Resource::uname()),
            ResourceKind::Sysctl => Ok(Resource::sysctl()),
            ResourceKind::Url | ResourceKind::Process => Err(AuthError::InvalidValue {
                what: "resource",
                message: format!(
                    "{} resources carry attributes their UID does not give",
                    kind.type_name()
                ),
            }),
        }
    }
}

/// Splits a resource UID text into its kind and (unescaped) id.
pub fn parse_uid_parts(text: &str) -> Result<(ResourceKind, String), AuthError> {
    let uid: EntityUid = text.trim().parse().map_err(|e| AuthError::InvalidValue {
        what: "resource",
        message: format!("{text:?} is not a Cedar entity UID (`Type::\"id\"`): {e}"),
    })?;
    let type_name = uid.type_name().to_string();
    let kind = ResourceKind::ALL
        .iter()
        .copied()
        .find(|k| k.type_name() == type_name)
        .ok_or_else(|| AuthError::InvalidValue {
            what: "resource",
            message: format!("unknown resource type {type_name}"),
        })?;
    Ok((kind, uid.id().unescaped().to_string()))
}
