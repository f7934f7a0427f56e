//! # rex-auth
//!
//! The authorization core of Rex: the REX-compatible Cedar schema, strict policy loading,
//! typed entity builders and the [`Authorizer`] every host operation asks before it touches
//! the OS. This crate performs no OS access at all: policy text is handed to it, and the
//! principal's name is resolved by the caller.
//!
//! Deny by default, fail closed: an invalid policy is a load error, an unknown action is an
//! error, and a request that cannot be evaluated is refused.

mod action;
mod approval;
mod audit;
mod authorizer;
mod context;
mod error;
mod explain;
mod path;
mod policy;
mod principal;
pub mod reach;
mod record;
mod resource;
pub mod sandbox_plan;
mod schema;
mod store;

pub use action::{Action, Namespace};
pub use approval::{
    APPROVAL_ANNOTATION, APPROVERS_ANNOTATION, ApprovalAnswer, ApprovalDecision, ApprovalRecord,
    ApprovalRequest, Approver,
};
pub use audit::{
    AuditSink, DecisionRecord, MemoryAuditSink, Outcome, OwnedDecisionRecord, ShadowDecision,
};
pub use authorizer::{Authorizer, AuthorizerBuilder, DEFAULT_CACHE_CAPACITY};
pub use context::{
    ExecuteContext, Identity, POSITION_TAG_PREFIX, RequestContext, check_arguments,
    flatten_arguments, is_reserved_tag,
};
pub use error::{ArgumentProblem, AuthError, Denied, PathProblem, PolicyDiagnostic, PolicyError};
pub use explain::{Explanation, PermitScope, explain, parse_uid_parts};
pub use path::{NAME_MAX, PATH_MAX, ResourcePath};
pub use policy::Policies;
pub use principal::Principal;
pub use record::{RecordedRequest, Replayable};
pub use resource::{ProcessAttrs, Resource, ResourceKind, UrlAttrs};
pub use schema::{SCHEMA_JSON, SCHEMA_TEXT, schema, warm_up};

/// Re-export of the Cedar crate this version of rex-auth is built on.
pub use cedar_policy;
