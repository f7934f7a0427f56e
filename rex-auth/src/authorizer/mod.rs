//! The authorizer: per-action policy slices, a decision cache, audit records, fail-closed errors.
//!
//! Every decision equals what `cedar_policy::Authorizer` decides on the full policy set with the
//! same entities (a proptest checks this). It is cheaper because:
//! * policies are parsed and strictly validated once, at load;
//! * each action is evaluated only against the policies whose action scope can match it (and
//!   whose `principal ==` scope names this principal); group membership comes from the schema;
//! * within an action's slice, policies whose resource scope names an entity (`resource ==
//!   E`, `resource in E`) are indexed by that entity, and a request evaluates only the
//!   unindexed policies plus those indexed under its resource or one of the resource's
//!   ancestors — the only ones whose scope can match. The partial decisions are combined
//!   exactly as Cedar combines policies (any satisfied `forbid` denies; else any satisfied
//!   `permit` allows);
//! * when every candidate policy is unconditional (no `when`/`unless`) with a principal
//!   scope that the slicing already decided, the decision follows from the scopes alone:
//!   no entities are built and Cedar is not called (the equivalence proptests include a
//!   property with only such policies);
//! * a request carries only the resource's own entity, whose parents are all its lexical
//!   ancestor directories (so no transitive closure is computed per request); the ancestor
//!   `Dir` entities themselves are built only when a candidate policy names a `File` or
//!   `Dir` literal outside its resource scope, the one way a policy can observe them;
//! * requests without context attributes are cached per action, keyed on the whole resource
//!   (type, id and attributes); replacing the policies drops the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use cedar_policy::{
    ActionConstraint, Decision, EntityUid, PolicySet, PrincipalConstraint, Request,
    ResourceConstraint,
};

use crate::action::Action;
use crate::approval::{ApprovalDecision, ApprovalRecord, ApprovalRequest, Approver};
use crate::audit::{AuditSink, DecisionRecord, Outcome, ShadowDecision};
use crate::context::RequestContext;
use crate::error::{AuthError, Denied, PolicyError};
use crate::policy::Policies;
use crate::principal::Principal;
use crate::resource::{Resource, ResourceKind};
use crate::schema::schema;
use crate::store::{SharedEntity, closed_store};

mod slice;

use slice::*;

/// Default number of cached decisions per action before that action's cache is emptied.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Everything that changes when the policies change.
struct State {
    policies: Policies,
    slices: Vec<Slice>,
    /// Per action: the permits for it, as [`crate::PermitScope`] text (a denial's hint).
    hints: Vec<Arc<[String]>>,
    caches: Vec<Mutex<HashMap<Resource, CachedDecision>>>,
    /// The permits that need approval, with their `@approvers`.
    approvals: HashMap<String, Option<String>>,
}

/// Decides Cedar requests for one principal. Cheap to share (`Send + Sync`); wrap it in an
/// `Arc` and hand it to every SDK call.
///
/// ```
/// use rex_auth::{Action, Authorizer, Policies, Principal, RequestContext, Resource};
/// let policies = Policies::parse("p.cedar", r#"
///     permit(principal, action == file_system::Action::"read",
///            resource in file_system::Dir::"/var/log");"#).unwrap();
/// let auth = Authorizer::builder()
///     .principal(Principal::user("alice").unwrap())
///     .policies(policies)
///     .build()
///     .unwrap();
/// let none = RequestContext::None;
/// assert!(auth.authorize(Action::FsRead, &Resource::file("/var/log/syslog").unwrap(), &none).is_ok());
/// let err = auth.authorize(Action::FsRead, &Resource::file("/etc/shadow").unwrap(), &none).unwrap_err();
/// assert!(err.is_denied());
/// ```
pub struct Authorizer {
    principal: Principal,
    principal_text: String,
    action_uids: Vec<EntityUid>,
    action_ancestors: Vec<Vec<EntityUid>>,
    /// Each action's entity (with its groups as parents), added to every request so that
    /// `action in <group>` conditions evaluate as they would against the schema's actions.
    action_entities: Vec<SharedEntity>,
    state: RwLock<Arc<State>>,
    audit: Option<Arc<dyn AuditSink>>,
    permissive: bool,
    cache_capacity: usize,
    cedar: cedar_policy::Authorizer,
    /// The shadow policies: decided for every request, never enforced.
    shadow: Option<Arc<State>>,
    /// Requests on which the shadow policies decided otherwise.
    shadow_divergences: AtomicU64,
    /// Who is asked when an allow needs approval (none: such requests are denied).
    approver: Option<Arc<dyn Approver>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("principal", &self.principal_text)
            .field("policies", &self.state().policies.ids())
            .field("permissive", &self.permissive)
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

/// Builds an [`Authorizer`].
#[derive(Default)]
pub struct AuthorizerBuilder {
    principal: Option<Principal>,
    policies: Option<Policies>,
    audit: Option<Arc<dyn AuditSink>>,
    permissive: bool,
    cache_capacity: Option<usize>,
    shadow: Option<Policies>,
    approver: Option<Arc<dyn Approver>>,
}

impl AuthorizerBuilder {
    /// The principal every request is made for (required).
    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// The validated policies (default: none, which denies everything).
    pub fn policies(mut self, policies: Policies) -> Self {
        self.policies = Some(policies);
        self
    }

    /// Where every decision is reported.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Permissive mode for policy learning: decide, record, then allow denied requests.
    /// Evaluation errors still fail. Never the default.
    pub fn permissive(mut self, permissive: bool) -> Self {
        self.permissive = permissive;
        self
    }

    /// Cached decisions per action (0 disables the cache).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// Shadow policies: every request is also decided under `policies`, never enforced. A
    /// request on which they decide otherwise is counted
    /// ([`Authorizer::shadow_divergences`]) and its audit record carries the shadow decision
    /// ([`DecisionRecord::shadow`]). Without shadow policies no second decision is made.
    ///
    /// ```
    /// use rex_auth::{Action, Authorizer, Policies, Principal, RequestContext, Resource};
    /// let wide = Policies::parse("p.cedar", r#"permit(principal, action == file_system::Action::"read",
    ///     resource in file_system::Dir::"/var/log");"#).unwrap();
    /// let narrow = Policies::parse("s.cedar", r#"permit(principal, action == file_system::Action::"read",
    ///     resource in file_system::Dir::"/var/log/nginx");"#).unwrap();
    /// let auth = Authorizer::builder()
    ///     .principal(Principal::user("alice").unwrap())
    ///     .policies(wide)
    ///     .shadow_policies(narrow)
    ///     .build()
    ///     .unwrap();
    /// // Enforced: allowed. The shadow set would have denied it: one divergence.
    /// let syslog = Resource::file("/var/log/syslog").unwrap();
    /// assert!(auth.authorize(Action::FsRead, &syslog, &RequestContext::None).is_ok());
    /// assert_eq!(auth.shadow_divergences(), 1);
    /// ```
    pub fn shadow_policies(mut self, policies: Policies) -> Self {
        self.shadow = Some(policies);
        self
    }

    /// Who is asked when a request's allow rests on `@approval("required")` permits alone
    /// (see [`crate::Approver`]). Without one such requests are denied with the reason
    /// `approval required`.
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// Builds the authorizer; fails when the principal is missing or the schema is unusable.
    pub fn build(self) -> Result<Authorizer, AuthError> {
        let principal = self
            .principal
            .ok_or_else(|| AuthError::Config("no principal was given".into()))?;
        let schema = schema().map_err(|e| AuthError::Config(e.to_string()))?;
        let action_entities = schema
            .action_entities()
            .map_err(|e| AuthError::Config(format!("schema actions: {e}")))?;
        let mut action_uids = Vec::with_capacity(Action::ALL.len());
        let mut action_ancestors = Vec::with_capacity(Action::ALL.len());
        let mut entities_of_actions = Vec::with_capacity(Action::ALL.len());
        for a in Action::ALL {
            let uid: EntityUid = a
                .uid_text()
                .parse()
                .map_err(|e| AuthError::Config(format!("{a}: {e}")))?;
            let ancestors: Vec<EntityUid> = action_entities
                .ancestors(&uid)
                .map(|it| it.cloned().collect())
                .ok_or_else(|| AuthError::Config(format!("{a} is not in the schema")))?;
            let entity = action_entities
                .get(&uid)
                .cloned()
                .ok_or_else(|| AuthError::Config(format!("{a} is not in the schema")))?;
            entities_of_actions.push(SharedEntity::new(&entity));
            action_uids.push(uid);
            action_ancestors.push(ancestors);
        }
        let mut auth = Authorizer {
            principal_text: principal.to_string(),
            principal,
            action_uids,
            action_ancestors,
            action_entities: entities_of_actions,
            state: RwLock::new(Arc::new(State {
                policies: Policies::deny_all(),
                slices: Vec::new(),
                hints: Vec::new(),
                caches: Vec::new(),
                approvals: HashMap::new(),
            })),
            audit: self.audit,
            permissive: self.permissive,
            cache_capacity: self.cache_capacity.unwrap_or(DEFAULT_CACHE_CAPACITY),
            cedar: cedar_policy::Authorizer::new(),
            shadow: None,
            shadow_divergences: AtomicU64::new(0),
            approver: self.approver,
        };
        let state = auth.make_state(self.policies.unwrap_or_else(Policies::deny_all))?;
        auth.state = RwLock::new(Arc::new(state));
        if let Some(shadow) = self.shadow {
            auth.shadow = Some(Arc::new(auth.make_state(shadow)?));
        }
        Ok(auth)
    }
}

impl Authorizer {
    /// A builder.
    pub fn builder() -> AuthorizerBuilder {
        AuthorizerBuilder::default()
    }

    /// The principal of every request.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether permissive mode is on.
    pub fn is_permissive(&self) -> bool {
        self.permissive
    }

    /// The current policies.
    pub fn policies(&self) -> Policies {
        self.state().policies.clone()
    }

    /// Replaces the policies; the decision cache is dropped with the old set.
    pub fn replace_policies(&self, policies: Policies) -> Result<(), PolicyError> {
        let state = self
            .make_state(policies)
            .map_err(|e| PolicyError::Schema(e.to_string()))?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
        Ok(())
    }

    /// The shadow policies, if any ([`AuthorizerBuilder::shadow_policies`]).
    pub fn shadow_policies(&self) -> Option<Policies> {
        self.shadow.as_ref().map(|s| s.policies.clone())
    }

    /// How many requests so far the shadow policies decided otherwise than the enforced
    /// ones (0 without shadow policies).
    pub fn shadow_divergences(&self) -> u64 {
        self.shadow_divergences.load(Ordering::Relaxed)
    }

    /// The number of policies evaluated for `action` (the size of its slice).
    pub fn slice_len(&self, action: Action) -> usize {
        self.state().slices.get(action.index()).map_or(0, |s| s.len)
    }

    /// Decides whether the principal may perform `action` on `resource`. `Ok(())` means
    /// proceed; a denial is [`AuthError::Denied`]; any problem evaluating the request is an
    /// error too (fail closed). Every decision is reported to the audit sink.
    pub fn authorize(
        &self,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<(), AuthError> {
        let state = self.state();
        let (cedar_outcome, policies, cached) =
            self.decide_in(&state, action, resource, context)?;
        // An allow resting on `@approval("required")` permits alone waits for a person; every
        // request asks again (approvals are never cached).
        let approvers: Option<Vec<String>> = (cedar_outcome == Outcome::Allow
            && !policies.is_empty()
            && policies.iter().all(|p| state.approvals.contains_key(p)))
        .then(|| {
            let mut list: Vec<String> = Vec::new();
            for text in policies
                .iter()
                .filter_map(|p| state.approvals.get(p).cloned().flatten())
            {
                if !list.contains(&text) {
                    list.push(text);
                }
            }
            list
        });
        let answer = approvers.as_ref().map(|approvers| {
            self.approver.as_ref().map(|a| {
                a.approve(&ApprovalRequest {
                    principal: &self.principal_text,
                    action,
                    resource,
                    context,
                    policies: &policies,
                    approvers,
                })
            })
        });
        let approval = match (&answer, &approvers) {
            (Some(answer), Some(approvers)) => Some(ApprovalRecord {
                status: match answer.as_ref().map(|a| &a.decision) {
                    None => "not asked",
                    Some(ApprovalDecision::Approved) => "approved",
                    Some(ApprovalDecision::Declined) => "declined",
                    Some(ApprovalDecision::TimedOut) => "timed out",
                    Some(ApprovalDecision::Failed(_)) => "failed",
                },
                channel: answer.as_ref().map(|a| a.channel),
                approver: answer.as_ref().and_then(|a| a.approver.as_deref()),
                waited_ms: answer.as_ref().map_or(0, |a| a.waited_ms),
                approvers,
            }),
            _ => None,
        };
        let outcome = match &approval {
            Some(a) if a.status != "approved" => Outcome::Deny,
            _ => cedar_outcome,
        };
        let enforced = !(self.permissive && outcome == Outcome::Deny);
        // Off the hot path unless a shadow set was given: one more decision, never enforced.
        let shadow = match &self.shadow {
            None => None,
            Some(shadow_state) => {
                let (shadow_outcome, shadow_policies) =
                    match self.decide_in(shadow_state, action, resource, context) {
                        Ok((o, p, _)) => (o, p),
                        Err(_) => (Outcome::Error, Arc::from(Vec::new())),
                    };
                if shadow_outcome == cedar_outcome {
                    None
                } else {
                    self.shadow_divergences.fetch_add(1, Ordering::Relaxed);
                    Some((shadow_outcome, shadow_policies))
                }
            }
        };
        if let Some(sink) = &self.audit {
            sink.record(&DecisionRecord {
                principal: &self.principal_text,
                action,
                resource,
                context,
                outcome,
                policies: &policies,
                enforced,
                cached,
                shadow: shadow.as_ref().map(|(o, p)| ShadowDecision {
                    outcome: *o,
                    policies: p,
                }),
                approval,
            });
        }
        match outcome {
            Outcome::Allow => Ok(()),
            Outcome::Deny if !enforced => Ok(()),
            Outcome::Deny => Err(AuthError::Denied(Box::new(Denied {
                principal: self.principal_text.clone(),
                action,
                resource: resource.to_string(),
                reasons: policies.to_vec(),
                hint: state
                    .hints
                    .get(action.index())
                    .map(|h| h.to_vec())
                    .unwrap_or_default(),
                reason: approval.map(|a| crate::approval::denial_reason(a.status).to_string()),
            }))),
            Outcome::Error => Err(AuthError::Evaluation {
                action,
                resource: resource.to_string(),
                policies: policies.to_vec(),
                message: "a policy could not be evaluated".into(),
            }),
        }
    }

    /// Decides without reporting to the audit sink and without permissive mode: `Ok(true)` for
    /// allow, `Ok(false)` for deny, `Err` when the request cannot be evaluated.
    pub fn is_allowed(
        &self,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<bool, AuthError> {
        let state = self.state();
        let (outcome, policies, _) = self.decide_in(&state, action, resource, context)?;
        match outcome {
            Outcome::Allow => Ok(true),
            Outcome::Deny => Ok(false),
            Outcome::Error => Err(AuthError::Evaluation {
                action,
                resource: resource.to_string(),
                policies: policies.to_vec(),
                message: "a policy could not be evaluated".into(),
            }),
        }
    }

    fn state(&self) -> Arc<State> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn make_state(&self, policies: Policies) -> Result<State, AuthError> {
        let mut slices = Vec::with_capacity(Action::ALL.len());
        // Whether each policy can be decided by its scope alone (computed once per policy).
        let fast: HashMap<&cedar_policy::PolicyId, ScopeOnly> = policies
            .policies()
            .filter_map(|p| ScopeOnly::of(p).map(|f| (p.id(), f)))
            .collect();
        let fast_of = |p: &cedar_policy::Policy| fast.get(p.id()).cloned();
        for a in Action::ALL {
            let mut slice = Slice {
                len: 0,
                unindexed: Bucket::default(),
                by_entity: HashMap::new(),
            };
            for p in policies.policies() {
                if !self.may_apply(*a, p) {
                    continue;
                }
                slice.len += 1;
                match p.resource_constraint() {
                    ResourceConstraint::Eq(e) | ResourceConstraint::In(e) => {
                        let key = scope_key(&e.type_name().to_string(), e.id().unescaped());
                        slice.by_entity.entry(key).or_default().add(p, fast_of(p))?;
                    }
                    ResourceConstraint::Any
                    | ResourceConstraint::Is(_)
                    | ResourceConstraint::IsIn(_, _) => slice.unindexed.add(p, fast_of(p))?,
                }
            }
            slices.push(slice);
        }
        let caches = Action::ALL
            .iter()
            .map(|_| Mutex::new(HashMap::new()))
            .collect();
        let hints = Action::ALL
            .iter()
            .map(|a| {
                policies
                    .permits_for(*a)
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .into()
            })
            .collect();
        Ok(State {
            approvals: policies.approvals(),
            policies,
            slices,
            hints,
            caches,
        })
    }

    /// Whether the scope of `policy` can match a request for `action` by this principal.
    /// Conservative: `true` unless the scope provably excludes the request.
    fn may_apply(&self, action: Action, policy: &cedar_policy::Policy) -> bool {
        let uid = self.action_uids.get(action.index());
        let ancestors = self.action_ancestors.get(action.index());
        let (Some(uid), Some(ancestors)) = (uid, ancestors) else {
            return true;
        };
        let action_ok = match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(u) => &u == uid,
            ActionConstraint::In(list) => list.iter().any(|u| u == uid || ancestors.contains(u)),
        };
        let principal_ok = match policy.principal_constraint() {
            PrincipalConstraint::Eq(u) => &u == self.principal.uid(),
            _ => true,
        };
        action_ok && principal_ok
    }

    /// The decision, its determining policies, and whether it came from the cache.
    fn decide_in(
        &self,
        state: &State,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<(Outcome, Arc<[String]>, bool), AuthError> {
        if !action.applies_to_kind(resource.kind()) {
            return Err(AuthError::ActionMismatch {
                action,
                resource_type: resource.kind().type_name(),
            });
        }
        if !context_fits(action, context) {
            return Err(AuthError::InvalidValue {
                what: "context",
                message: format!("this context does not belong to {action}"),
            });
        }
        let cache = if self.cache_capacity > 0 && context.is_empty() {
            state.caches.get(action.index())
        } else {
            None
        };
        if let Some(cache) = cache {
            let hit = cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(resource)
                .cloned();
            if let Some(hit) = hit {
                let outcome = if hit.allow {
                    Outcome::Allow
                } else {
                    Outcome::Deny
                };
                return Ok((outcome, hit.policies, true));
            }
        }
        let (outcome, policies) = self.evaluate(state, action, resource, context)?;
        if let (Some(cache), Outcome::Allow | Outcome::Deny) = (cache, outcome) {
            let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= self.cache_capacity {
                map.clear();
            }
            map.insert(
                resource.clone(),
                CachedDecision {
                    allow: outcome == Outcome::Allow,
                    policies: policies.clone(),
                },
            );
        }
        Ok((outcome, policies, false))
    }

    fn evaluate(
        &self,
        state: &State,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<(Outcome, Arc<[String]>), AuthError> {
        let (Some(slice), Some(action_uid), Some(action_entity)) = (
            state.slices.get(action.index()),
            self.action_uids.get(action.index()),
            self.action_entities.get(action.index()),
        ) else {
            return Err(AuthError::Config(format!("no policy slice for {action}")));
        };
        // The unindexed policies, then those indexed under the resource or an ancestor: the
        // only ones whose resource scope can match.
        let chain: Vec<(&str, &str)> = resource.scope_chain().collect();
        let mut key = String::new();
        let mut buckets: Vec<&Bucket> = Vec::with_capacity(chain.len() + 1);
        buckets.push(&slice.unindexed);
        for (t, id) in &chain {
            scope_key_into(&mut key, t, id);
            if let Some(b) = slice.by_entity.get(key.as_str()) {
                buckets.push(b);
            }
        }
        let mut permits: Vec<String> = Vec::new();
        let mut forbids: Vec<String> = Vec::new();
        let combine = |permits: Vec<String>, forbids: Vec<String>| {
            if !forbids.is_empty() {
                (Outcome::Deny, Arc::from(forbids))
            } else if !permits.is_empty() {
                (Outcome::Allow, Arc::from(permits))
            } else {
                (Outcome::Deny, Arc::from(Vec::new()))
            }
        };
        // Fast path: every candidate is decided by its scope; no entities, no Cedar call.
        let fast: Option<Vec<&ScopeOnly>> = buckets
            .iter()
            .map(|b| b.scope_only.as_ref())
            .collect::<Option<Vec<_>>>()
            .map(|lists| lists.into_iter().flatten().collect());
        if let Some(candidates) = fast {
            let type_name = resource.kind().type_name();
            for p in candidates
                .into_iter()
                .filter(|p| p.matches(type_name, &chain))
            {
                if p.forbid {
                    forbids.push(p.id.clone());
                } else {
                    permits.push(p.id.clone());
                }
            }
            return Ok(combine(permits, forbids));
        }
        let owned = resource.core_entities(buckets.iter().any(|b| b.needs_chain))?;
        let (ctx, ctx_entities) = context.to_cedar()?;
        let eval_err = |message: String| AuthError::Evaluation {
            action,
            resource: resource.to_string(),
            policies: Vec::new(),
            message,
        };
        let entities = closed_store(owned, ctx_entities, &[action_entity])
            .map_err(|e| eval_err(format!("entities: {e}")))?;
        let request = Request::new(
            self.principal.uid().clone(),
            action_uid.clone(),
            resource.uid()?,
            ctx,
            None,
        )
        .map_err(|e| eval_err(format!("request: {e}")))?;
        let mut errors: Vec<String> = Vec::new();
        for bucket in buckets {
            let set = &bucket.set;
            if set.is_empty() {
                continue;
            }
            let response = self.cedar.is_authorized(&request, set, &entities);
            errors.extend(response.diagnostics().errors().map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    e.policy_id().to_string()
                }
            }));
            // Cedar's reasons are the satisfied permits when it allows, and the satisfied
            // forbids when it denies (none when nothing matched).
            let reasons = response.diagnostics().reason().map(ToString::to_string);
            match response.decision() {
                Decision::Allow => permits.extend(reasons),
                Decision::Deny => forbids.extend(reasons),
            }
        }
        if !errors.is_empty() {
            return Ok((Outcome::Error, errors.into()));
        }
        Ok(combine(permits, forbids))
    }
}

/// Whether `context` has the shape the schema declares for `action`.
fn context_fits(action: Action, context: &RequestContext) -> bool {
    match context {
        RequestContext::None => !matches!(
            action,
            Action::FsExecute | Action::FsMove | Action::FsSetXAttr
        ),
        RequestContext::Move { .. } => action == Action::FsMove,
        RequestContext::XAttr { .. } => action == Action::FsSetXAttr,
        RequestContext::Execute(_) => action == Action::FsExecute,
        RequestContext::Resolve { .. } => action == Action::SysinfoResolveHostname,
    }
}
