//! The policy index: policies sliced by action and resource scope (buckets), the scope-only decisions that need no Cedar evaluation, and the decision cache entries.

use super::*;

/// A decision as stored in the cache.
#[derive(Debug, Clone)]
pub(super) struct CachedDecision {
    pub(super) allow: bool,
    pub(super) policies: Arc<[String]>,
}

/// The policies that can apply to one action, split by resource scope.
pub(super) struct Slice {
    /// Every policy of the slice.
    pub(super) len: usize,
    /// Policies whose resource scope names no single entity (`resource`, `is T`,
    /// `is T in E`): always evaluated.
    pub(super) unindexed: Bucket,
    /// Policies with `resource == E` or `resource in E`, by [`scope_key`] of `E`.
    pub(super) by_entity: HashMap<String, Bucket>,
}

/// A group of policies, with what decides them without Cedar when that is possible.
pub(super) struct Bucket {
    pub(super) set: PolicySet,
    /// `Some` while every policy of the bucket is [`ScopeOnly`]; `None` once one needs Cedar.
    pub(super) scope_only: Option<Vec<ScopeOnly>>,
    /// Whether a policy of the bucket names a `File` or `Dir` entity other than its resource
    /// scope's (see [`names_path_entities`]): then a request carries the resource's whole
    /// ancestor chain, not just its own entity.
    pub(super) needs_chain: bool,
}

impl Default for Bucket {
    /// An empty bucket, decidable without Cedar until a policy that needs Cedar is added.
    fn default() -> Self {
        Bucket {
            set: PolicySet::new(),
            scope_only: Some(Vec::new()),
            needs_chain: false,
        }
    }
}

impl Bucket {
    pub(super) fn add(
        &mut self,
        policy: &cedar_policy::Policy,
        fast: Option<ScopeOnly>,
    ) -> Result<(), AuthError> {
        self.set
            .add(policy.clone())
            .map_err(|e| AuthError::Config(e.to_string()))?;
        self.needs_chain |= names_path_entities(policy);
        match (fast, self.scope_only.as_mut()) {
            (Some(f), Some(list)) => list.push(f),
            _ => self.scope_only = None,
        }
        Ok(())
    }
}

/// A policy without `when`/`unless` conditions whose principal scope is decided by the
/// slicing (`principal` or `principal == <this principal>`): it is satisfied exactly when
/// its resource scope matches, so Cedar need not be asked.
#[derive(Clone)]
pub(super) struct ScopeOnly {
    pub(super) id: String,
    pub(super) forbid: bool,
    pub(super) resource: ResourceScope,
}

/// A policy's resource scope, with entity references as (type name, unescaped id).
#[derive(Clone)]
pub(super) enum ResourceScope {
    Any,
    Eq(ScopeEntity),
    In(ScopeEntity),
    Is(String),
    IsIn(String, ScopeEntity),
}

/// An entity named by a resource scope: its type name and unescaped id.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct ScopeEntity {
    pub(super) type_name: String,
    pub(super) id: String,
}

impl ScopeEntity {
    pub(super) fn of(e: &EntityUid) -> Self {
        ScopeEntity {
            type_name: e.type_name().to_string(),
            id: e.id().unescaped().to_string(),
        }
    }

    pub(super) fn is(&self, (type_name, id): (&str, &str)) -> bool {
        self.type_name == type_name && self.id == id
    }
}

impl ScopeOnly {
    /// The fast-path description of `policy`, if it has one.
    pub(super) fn of(policy: &cedar_policy::Policy) -> Option<ScopeOnly> {
        if !matches!(
            policy.principal_constraint(),
            PrincipalConstraint::Any | PrincipalConstraint::Eq(_)
        ) {
            return None;
        }
        // Any `when`/`unless` clause (even `when { true }`) sends the policy to Cedar.
        if policy.has_non_scope_constraint() {
            return None;
        }
        let resource = match policy.resource_constraint() {
            ResourceConstraint::Any => ResourceScope::Any,
            ResourceConstraint::Eq(e) => ResourceScope::Eq(ScopeEntity::of(&e)),
            ResourceConstraint::In(e) => ResourceScope::In(ScopeEntity::of(&e)),
            ResourceConstraint::Is(t) => ResourceScope::Is(t.to_string()),
            ResourceConstraint::IsIn(t, e) => {
                ResourceScope::IsIn(t.to_string(), ScopeEntity::of(&e))
            }
        };
        Some(ScopeOnly {
            id: policy.id().to_string(),
            forbid: policy.effect() == cedar_policy::Effect::Forbid,
            resource,
        })
    }

    /// Whether the resource scope matches a resource of type `type_name` that is `chain[0]`
    /// and whose ancestors are the rest of `chain` (each as type name and id).
    pub(super) fn matches(&self, type_name: &str, chain: &[(&str, &str)]) -> bool {
        match &self.resource {
            ResourceScope::Any => true,
            ResourceScope::Eq(k) => chain.first().is_some_and(|e| k.is(*e)),
            ResourceScope::In(k) => chain.iter().any(|e| k.is(*e)),
            ResourceScope::Is(t) => t == type_name,
            ResourceScope::IsIn(t, k) => t == type_name && chain.iter().any(|e| k.is(*e)),
        }
    }
}

/// Whether `policy` names a `file_system::File` or `file_system::Dir` entity anywhere but
/// in its resource scope. Only such a literal can observe the entities of a resource's
/// ancestor directories (`Dir::"/a".path`, `Dir::"/a" in Dir::"/"`): everything else a
/// policy can ask of a path resource (`resource in Dir::"/a"`, `resource.path`) is answered
/// by the resource's own entity, whose parents are all its ancestors.
pub(super) fn names_path_entities(policy: &cedar_policy::Policy) -> bool {
    let scope = match policy.resource_constraint() {
        ResourceConstraint::Eq(e) | ResourceConstraint::In(e) | ResourceConstraint::IsIn(_, e) => {
            Some(e)
        }
        ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
    };
    let mut scope_seen = false;
    policy.entity_literals().iter().any(|e| {
        if !scope_seen && scope.as_ref() == Some(e) {
            // The scope's own entity appears once among the literals.
            scope_seen = true;
            return false;
        }
        let t = e.type_name().to_string();
        t == ResourceKind::File.type_name() || t == ResourceKind::Dir.type_name()
    })
}

/// The index key of an entity: its type and its (unescaped) id.
pub(super) fn scope_key(type_name: &str, id: &str) -> String {
    let mut k = String::with_capacity(type_name.len() + id.len() + 1);
    scope_key_into(&mut k, type_name, id);
    k
}

/// Writes the [`scope_key`] of an entity into `buf` (reused across lookups).
pub(super) fn scope_key_into(buf: &mut String, type_name: &str, id: &str) {
    buf.clear();
    buf.push_str(type_name);
    buf.push('\u{0}');
    buf.push_str(id);
}
