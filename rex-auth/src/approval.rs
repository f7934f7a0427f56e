//! "Ask the owner" as a Cedar outcome: permits annotated `@approval("required")` allow their
//! requests only once a person approved them.
//!
//! A request whose allow rests on such permits alone (every determining permit carries the
//! annotation) is *allowed if approved*: the [`crate::Authorizer`] asks its [`Approver`] and
//! proceeds only on [`ApprovalDecision::Approved`]. Without an approver, on a failure, a
//! decline or a timeout, the request is denied with a typed reason
//! ([`crate::Denied::reason`]). A plain permit that also allows the request makes approval
//! unnecessary; a forbid still wins. One approval covers exactly one request: nothing is
//! cached. This crate does no I/O: the channels (a command, the terminal, the MCP client)
//! are implemented by the embedder.

use crate::action::Action;
use crate::context::RequestContext;
use crate::resource::Resource;

/// The annotation that makes a permit need approval (its only value: `"required"`).
pub const APPROVAL_ANNOTATION: &str = "approval";
/// The optional annotation naming who should approve (free text passed to the approver).
pub const APPROVERS_ANNOTATION: &str = "approvers";

/// What an approver is asked.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalRequest<'a> {
    /// The principal, as Cedar text.
    pub principal: &'a str,
    /// The action.
    pub action: Action,
    /// The resource.
    pub resource: &'a Resource,
    /// The context.
    pub context: &'a RequestContext,
    /// The permits that allow it, each needing approval.
    pub policies: &'a [String],
    /// Their `@approvers` texts (deduplicated, in policy order).
    pub approvers: &'a [String],
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Approved: the request proceeds.
    Approved,
    /// Declined by the person asked.
    Declined,
    /// No answer in time.
    TimedOut,
    /// The channel failed (it could not ask, or its answer was unreadable).
    Failed(String),
}

/// An answer with who gave it and how long it took (for the audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAnswer {
    /// The decision.
    pub decision: ApprovalDecision,
    /// Who answered, as the channel reports it.
    pub approver: Option<String>,
    /// How long the request waited, in milliseconds.
    pub waited_ms: u64,
    /// The channel (`command`, `tty`, `client`).
    pub channel: &'static str,
}

/// Asks a person. Called on the thread making the request, which waits for the answer.
pub trait Approver: Send + Sync {
    /// Asks for approval of one request.
    fn approve(&self, request: &ApprovalRequest<'_>) -> ApprovalAnswer;
}

/// The approval of one decision, as the audit record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalRecord<'a> {
    /// `approved`, `declined`, `timed out`, `failed`, or `not asked` (no approver).
    pub status: &'static str,
    /// The channel, when one was asked.
    pub channel: Option<&'static str>,
    /// Who answered.
    pub approver: Option<&'a str>,
    /// How long the request waited.
    pub waited_ms: u64,
    /// The `@approvers` texts.
    pub approvers: &'a [String],
}

/// The typed denial reason of an approval that was not given.
pub(crate) fn denial_reason(status: &str) -> &'static str {
    match status {
        "declined" => "approval declined",
        "timed out" => "approval timed out",
        _ => "approval required",
    }
}
