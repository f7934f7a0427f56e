//! Decision records and the sink every decision (allow and deny) is reported to.

use std::sync::{Arc, Mutex};

use crate::action::Action;
use crate::context::RequestContext;
use crate::resource::Resource;

/// What Cedar decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A permit applied and no forbid did.
    Allow,
    /// No permit applied, or a forbid did.
    Deny,
    /// The request could not be evaluated; the operation is refused.
    Error,
}

impl Outcome {
    /// `allow`, `deny` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
        }
    }
}

/// One authorization decision, as reported to an [`AuditSink`].
#[derive(Debug, Clone, Copy)]
pub struct DecisionRecord<'a> {
    /// The principal, as Cedar text.
    pub principal: &'a str,
    /// The action.
    pub action: Action,
    /// The resource.
    pub resource: &'a Resource,
    /// The context of the request.
    pub context: &'a RequestContext,
    /// Cedar's decision.
    pub outcome: Outcome,
    /// The determining policies: the satisfied permits for an allow, the satisfied forbids
    /// for a deny (empty for a default deny), the erroring policies for an error.
    pub policies: &'a [String],
    /// `false` when permissive mode let a denied request through.
    pub enforced: bool,
    /// Whether the decision came from the decision cache.
    pub cached: bool,
    /// What the shadow policies decided, when the authorizer has a shadow set and it decided
    /// otherwise (see [`crate::AuthorizerBuilder::shadow_policies`]); never enforced.
    pub shadow: Option<ShadowDecision<'a>>,
    /// When the allow rested on `@approval("required")` permits alone: what the approval
    /// was (the outcome is `Allow` only when it was approved).
    pub approval: Option<crate::approval::ApprovalRecord<'a>>,
}

/// The decision of the shadow policies for a request on which they diverge from the
/// enforced ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowDecision<'a> {
    /// What the shadow set decided.
    pub outcome: Outcome,
    /// Its determining policies (as for [`DecisionRecord::policies`]).
    pub policies: &'a [String],
}

/// An owned copy of a [`DecisionRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedDecisionRecord {
    /// The principal, as Cedar text.
    pub principal: String,
    /// The action.
    pub action: Action,
    /// The resource, as Cedar text.
    pub resource: String,
    /// The context summary (see [`RequestContext::summary`]).
    pub context: String,
    /// Cedar's decision.
    pub outcome: Outcome,
    /// The determining policies.
    pub policies: Vec<String>,
    /// `false` when permissive mode let a denied request through.
    pub enforced: bool,
    /// Whether the decision came from the cache.
    pub cached: bool,
    /// The shadow set's diverging decision and its determining policies, if any.
    pub shadow: Option<(Outcome, Vec<String>)>,
    /// The approval status and approver, when approval was needed.
    pub approval: Option<(&'static str, Option<String>)>,
}

impl From<&DecisionRecord<'_>> for OwnedDecisionRecord {
    fn from(r: &DecisionRecord<'_>) -> Self {
        OwnedDecisionRecord {
            principal: r.principal.to_string(),
            action: r.action,
            resource: r.resource.to_string(),
            context: r.context.summary(),
            outcome: r.outcome,
            policies: r.policies.to_vec(),
            enforced: r.enforced,
            cached: r.cached,
            shadow: r.shadow.map(|s| (s.outcome, s.policies.to_vec())),
            approval: r
                .approval
                .map(|a| (a.status, a.approver.map(str::to_string))),
        }
    }
}

/// Receives every decision. Implementations must be cheap and must not fail the operation:
/// an audit sink that cannot write should report that through its own channel.
pub trait AuditSink: Send + Sync {
    /// Called once per authorization, after the decision and before the operation.
    fn record(&self, record: &DecisionRecord<'_>);
}

/// A sink that keeps every record in memory (for tests and for collecting a run's denials).
#[derive(Debug, Default, Clone)]
pub struct MemoryAuditSink {
    records: Arc<Mutex<Vec<OwnedDecisionRecord>>>,
}

impl MemoryAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the records so far.
    pub fn records(&self) -> Vec<OwnedDecisionRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Removes and returns the records so far.
    pub fn take(&self) -> Vec<OwnedDecisionRecord> {
        std::mem::take(
            &mut *self
                .records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl AuditSink for MemoryAuditSink {
    fn record(&self, record: &DecisionRecord<'_>) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record.into());
    }
}
