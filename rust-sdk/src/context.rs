//! The authorization context every SDK operation takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rex_auth::{Action, AuthError, Authorizer, Namespace, RequestContext, Resource, ResourceKind};

/// Size and count limits the SDK enforces on what it reads and returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkLimits {
    /// Largest file (or decompressed stream) read into memory, in bytes.
    pub max_read_bytes: u64,
    /// Largest captured output of a child process, per stream, in bytes.
    pub max_output_bytes: u64,
    /// Largest HTTP response body, in bytes.
    pub max_http_body_bytes: u64,
    /// Most entries a directory walk or listing returns.
    pub max_entries: usize,
}

impl Default for SdkLimits {
    fn default() -> Self {
        SdkLimits {
            max_read_bytes: 64 * 1024 * 1024,
            max_output_bytes: 16 * 1024 * 1024,
            max_http_body_bytes: 16 * 1024 * 1024,
            max_entries: 1_000_000,
        }
    }
}

/// What every SDK operation needs: the authorizer, the limits, and a cancellation flag that
/// long operations poll.
///
/// ```
/// use std::sync::Arc;
/// use rex_auth::{Authorizer, Policies, Principal};
/// use rust_sdk::SdkContext;
/// let auth = Authorizer::builder()
///     .principal(Principal::user("alice").unwrap())
///     .policies(Policies::deny_all())
///     .build()
///     .unwrap();
/// let ctx = SdkContext::new(Arc::new(auth));
/// assert!(!ctx.is_cancelled());
/// ```
#[derive(Clone)]
pub struct SdkContext {
    authorizer: AuthorizerSlot,
    limits: SdkLimits,
    cancelled: Arc<AtomicBool>,
    interrupt: Option<InterruptCheck>,
    redaction_config: Option<Arc<str>>,
    memory: Option<Arc<dyn MemoryBudget>>,
}

/// The memory budget of the caller (e.g. a script run), for operations whose result can be
/// much larger than what they read (the lines of a file, the matches of a search): they
/// count what they build against [`MemoryBudget::left`] as they build it and stop with an
/// error past it, instead of allocating first.
pub trait MemoryBudget: Send + Sync {
    /// Bytes the operation starting now may still build.
    fn left(&self) -> usize;
    /// Called once when an operation stopped because its result would pass [`Self::left`]
    /// (the script engine ends the run with its memory limit).
    fn exceeded(&self);
}

/// A result would pass the caller's [`MemoryBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the result would exceed the run's memory budget")]
pub struct BudgetExceeded;

/// What one operation may still build (see [`SdkContext::allowance`]).
pub struct Allowance<'a> {
    left: usize,
    budget: Option<&'a dyn MemoryBudget>,
}

impl std::fmt::Debug for Allowance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allowance")
            .field("left", &self.left)
            .finish()
    }
}

impl Allowance<'_> {
    /// No budget (a caller without one).
    pub fn unlimited() -> Self {
        Allowance {
            left: usize::MAX,
            budget: None,
        }
    }

    /// Counts `bytes` more, or reports the budget exceeded (and tells the budget's owner).
    pub fn charge(&mut self, bytes: usize) -> Result<(), BudgetExceeded> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                if let Some(b) = self.budget {
                    b.exceeded();
                }
                Err(BudgetExceeded)
            }
        }
    }
}

/// Where a context finds its authorizer: set once, shared by every clone of the contexts made
/// from it, never replaced.
///
/// [`SdkContext::with_pending_authorizer`] lets an embedder build what captures the context
/// (for example a script engine with every module registered) while the policies are still
/// being parsed on another thread, and then [`install`](AuthorizerSlot::install) the
/// authorizer. Until then every check fails closed with [`AuthError::Config`]: nothing is
/// allowed by a context whose authorizer is missing.
///
/// ```
/// use std::sync::Arc;
/// use rex_auth::{Action, Authorizer, Policies, Principal, Resource};
/// use rust_sdk::{AuthorizerSlot, SdkContext};
/// let slot = AuthorizerSlot::new();
/// let ctx = SdkContext::with_pending_authorizer(slot.clone());
/// let etc = Resource::dir("/etc").unwrap();
/// // Not installed yet: refused, and not as a policy denial.
/// let early = ctx.check(Action::FsOpen, &etc).unwrap_err();
/// assert!(!early.is_denied());
/// let auth = Authorizer::builder()
///     .principal(Principal::user("alice").unwrap())
///     .policies(Policies::deny_all())
///     .build()
///     .unwrap();
/// assert!(slot.install(Arc::new(auth)).is_ok());
/// assert!(ctx.check(Action::FsOpen, &etc).unwrap_err().is_denied());
/// ```
#[derive(Clone, Default)]
pub struct AuthorizerSlot(Arc<OnceLock<Arc<Authorizer>>>);

impl AuthorizerSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the authorizer. A slot is filled once: a second call returns the authorizer it
    /// was given, and the first one stays.
    pub fn install(&self, authorizer: Arc<Authorizer>) -> Result<(), Arc<Authorizer>> {
        self.0.set(authorizer)
    }

    /// The installed authorizer, if any.
    pub fn get(&self) -> Option<&Arc<Authorizer>> {
        self.0.get()
    }

    fn filled(authorizer: Arc<Authorizer>) -> Self {
        AuthorizerSlot(Arc::new(OnceLock::from(authorizer)))
    }

    fn require(&self) -> Result<&Arc<Authorizer>, AuthError> {
        self.0.get().ok_or_else(|| {
            AuthError::Config("no authorizer is installed in this SDK context yet".into())
        })
    }
}

impl std::fmt::Debug for AuthorizerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some(a) => a.fmt(f),
            None => f.write_str("<authorizer not installed>"),
        }
    }
}

/// An extra "should this operation stop now?" test, asked by [`SdkContext::is_cancelled`]
/// on the thread that runs the operation (e.g. the script engine's per-run deadline).
pub type InterruptCheck = Arc<dyn Fn() -> bool + Send + Sync>;

impl std::fmt::Debug for SdkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkContext")
            .field("authorizer", &self.authorizer)
            .field("limits", &self.limits)
            .field("cancelled", &self.cancelled)
            .field("interrupt", &self.interrupt.is_some())
            .field("redaction_config", &self.redaction_config)
            .field("memory", &self.memory.is_some())
            .finish()
    }
}

impl SdkContext {
    /// A context with default limits and a fresh cancellation flag.
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        Self::with_slot(AuthorizerSlot::filled(authorizer))
    }

    /// A context whose authorizer is installed later through `slot`; every check fails
    /// closed until then (see [`AuthorizerSlot`]).
    pub fn with_pending_authorizer(slot: AuthorizerSlot) -> Self {
        Self::with_slot(slot)
    }

    fn with_slot(authorizer: AuthorizerSlot) -> Self {
        SdkContext {
            authorizer,
            limits: SdkLimits::default(),
            cancelled: Arc::new(AtomicBool::new(false)),
            interrupt: None,
            redaction_config: None,
            memory: None,
        }
    }

    /// Adds an interruption test that long operations poll together with the cancellation
    /// flag. The runner passes the engine's per-run check (`rex_core::current_interruption`),
    /// so a script's timeout also stops a blocking SDK call (a running child, a wait, a walk)
    /// at its next check instead of only after the call returns.
    pub fn with_interrupt_check(mut self, check: InterruptCheck) -> Self {
        self.interrupt = Some(check);
        self
    }

    /// Bounds what operations build by the caller's memory budget (see [`MemoryBudget`]).
    pub fn with_memory_budget(mut self, budget: Arc<dyn MemoryBudget>) -> Self {
        self.memory = Some(budget);
        self
    }

    /// What an operation starting now may build: the [`MemoryBudget`]'s bytes left, or
    /// unlimited without one.
    pub fn allowance(&self) -> Allowance<'_> {
        match &self.memory {
            Some(b) => Allowance {
                left: b.left(),
                budget: Some(&**b),
            },
            None => Allowance::unlimited(),
        }
    }

    /// Uses another redaction dictionary than
    /// [`DEFAULT_REDACTION_CONFIG`](crate::fs::DEFAULT_REDACTION_CONFIG) for redacted reads.
    pub fn with_redaction_config(mut self, path: &str) -> Self {
        self.redaction_config = Some(Arc::from(path));
        self
    }

    /// The redaction dictionary path used by redacted reads.
    pub fn redaction_config(&self) -> &str {
        self.redaction_config
            .as_deref()
            .unwrap_or(crate::fs::DEFAULT_REDACTION_CONFIG)
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: SdkLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Shares an external cancellation flag (e.g. the script engine's).
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancelled = flag;
        self
    }

    /// The authorizer, once installed (always, for a context made with [`SdkContext::new`]).
    pub fn authorizer(&self) -> Option<&Arc<Authorizer>> {
        self.authorizer.get()
    }

    /// The limits.
    pub fn limits(&self) -> &SdkLimits {
        &self.limits
    }

    /// The cancellation flag (set it to stop long operations at their next check).
    pub fn cancel_flag(&self) -> &Arc<AtomicBool> {
        &self.cancelled
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.interrupt.as_ref().is_some_and(|f| f())
    }

    /// Asks Cedar; a [`Permit`] (the proof of the decision) means the operation may proceed.
    pub fn authorize(
        &self,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<Permit, AuthError> {
        self.authorizer
            .require()?
            .authorize(action, resource, context)?;
        Ok(Permit::new(action, resource))
    }

    /// Asks Cedar for a request without context.
    pub fn check(&self, action: Action, resource: &Resource) -> Result<Permit, AuthError> {
        self.authorize(action, resource, &RequestContext::None)
    }
}

/// The proof that Cedar allowed one request: `action` on one resource.
///
/// Only [`SdkContext::check`] and [`SdkContext::authorize`] make one, and only when the
/// answer is Allow (the constructor is private to this module). It is neither `Clone` nor
/// `Copy`, so a proof is not duplicated past the operation it was asked for. The SDK's
/// syscall-performing internals take a `&Permit` (or consume one) and refuse, fail closed,
/// one that does not cover what they are about to touch (see [`Permit::covers`]); so an
/// operation cannot reach its system call without having asked Cedar first.
///
/// ```
/// use std::sync::Arc;
/// use rex_auth::{Action, Authorizer, Policies, Principal, Resource};
/// use rust_sdk::SdkContext;
/// let auth = Authorizer::builder()
///     .principal(Principal::user("alice").unwrap())
///     .policies(Policies::parse("p", r#"permit(principal, action, resource);"#).unwrap())
///     .build()
///     .unwrap();
/// let ctx = SdkContext::new(Arc::new(auth));
/// let etc = Resource::dir("/etc").unwrap();
/// let permit = ctx.check(Action::FsOpen, &etc).unwrap();
/// assert!(permit.covers(Action::FsOpen, &etc));
/// assert!(!permit.covers(Action::FsRead, &etc));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    action: Action,
    kind: ResourceKind,
    id: Box<str>,
}

impl Permit {
    fn new(action: Action, resource: &Resource) -> Self {
        Permit {
            action,
            kind: resource.kind(),
            id: resource.id().into(),
        }
    }

    /// The action allowed.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The kind of the resource it was allowed on.
    pub fn resource_kind(&self) -> ResourceKind {
        self.kind
    }

    /// The id of the resource it was allowed on (a path, a PID, a URL, ...).
    pub fn resource_id(&self) -> &str {
        &self.id
    }

    /// Whether this permit allows `action` on `resource` (same action, resource kind and id).
    pub fn covers(&self, action: Action, resource: &Resource) -> bool {
        self.covers_id(action, resource.kind(), resource.id())
    }

    /// Whether this permit allows `action` on the resource of kind `kind` and id `id`.
    pub(crate) fn covers_id(&self, action: Action, kind: ResourceKind, id: &str) -> bool {
        self.action == action && self.kind == kind && *self.id == *id
    }

    /// Fails closed unless this permit allows one of `actions` on the resource `kind`/`id`:
    /// what a syscall-performing internal asks of the proof it is handed.
    pub(crate) fn require(
        &self,
        actions: &[Action],
        kind: ResourceKind,
        id: &str,
    ) -> Result<(), AuthError> {
        if actions.iter().any(|a| self.covers_id(*a, kind, id)) {
            Ok(())
        } else {
            Err(AuthError::Config(format!(
                "internal: a permit for {} on {} `{}` does not cover {} `{id}`",
                self.action,
                kind_name(self.kind),
                self.id,
                kind_name(kind)
            )))
        }
    }
}

impl Permit {
    /// Fails closed unless this permit allows one of `actions` on the directory `dir` or on
    /// one of its lexical ancestors: the proof a recursive operation (`chmod`/`chown`/`delete`
    /// of a tree, `move` of a directory) holds for its root while it lists the tree below to
    /// check every entry of it, before it changes anything.
    pub(crate) fn require_within(&self, actions: &[Action], dir: &str) -> Result<(), AuthError> {
        let root = &*self.id;
        let below = dir == root
            || root == "/" && dir.starts_with('/')
            || dir
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'));
        if self.kind == ResourceKind::Dir && below && actions.contains(&self.action) {
            Ok(())
        } else {
            Err(AuthError::Config(format!(
                "internal: a permit for {} on {} `{}` does not cover the tree below Dir `{dir}`",
                self.action,
                kind_name(self.kind),
                self.id,
            )))
        }
    }

    /// Fails closed unless this permit is a decision of one of `actions` (for an internal
    /// whose request was decided as part of another resource's, such as the PID namespace an
    /// `execute` joins, which Cedar saw in that execute's context).
    pub(crate) fn require_action(&self, actions: &[Action]) -> Result<(), AuthError> {
        if actions.contains(&self.action) {
            Ok(())
        } else {
            Err(AuthError::Config(format!(
                "internal: a permit for {} is not one of {actions:?}",
                self.action
            )))
        }
    }

    /// Fails closed unless this permit is a decision of namespace `ns` (for a channel shared
    /// by that namespace's operations, such as the systemd bus connection).
    pub(crate) fn require_namespace(&self, ns: Namespace) -> Result<(), AuthError> {
        if self.action.namespace() == ns {
            Ok(())
        } else {
            Err(AuthError::Config(format!(
                "internal: a permit for {} is not a {ns:?} decision",
                self.action
            )))
        }
    }
}

fn kind_name(kind: ResourceKind) -> String {
    format!("{kind:?}")
}

/// A context under `policy` (principal `tester`) for the crate's unit tests;
/// `permit(principal, action, resource);` is the context that hands internals wrong proofs.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_context(policy: &str) -> SdkContext {
    let auth = Authorizer::builder()
        .principal(rex_auth::Principal::user("tester").unwrap())
        .policies(rex_auth::Policies::parse("test", policy).unwrap())
        .build()
        .unwrap();
    SdkContext::new(Arc::new(auth))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ctx(policy: &str) -> SdkContext {
        test_context(policy)
    }

    #[test]
    fn a_permit_covers_exactly_its_decision() {
        let c = ctx(
            r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/etc/hosts");"#,
        );
        let hosts = Resource::file("/etc/hosts").unwrap();
        let p = c.check(Action::FsRead, &hosts).unwrap();
        assert_eq!(p.action(), Action::FsRead);
        assert_eq!(p.resource_kind(), ResourceKind::File);
        assert_eq!(p.resource_id(), "/etc/hosts");
        assert!(p.covers(Action::FsRead, &hosts));
        assert!(!p.covers(Action::FsWrite, &hosts));
        assert!(!p.covers(Action::FsRead, &Resource::file("/etc/shadow").unwrap()));
        assert!(!p.covers(Action::FsRead, &Resource::dir("/etc/hosts").unwrap()));
        assert!(
            p.require(
                &[Action::FsWrite, Action::FsRead],
                ResourceKind::File,
                "/etc/hosts"
            )
            .is_ok()
        );
        // Another resource, kind or action: refused, and not as a policy denial.
        for (actions, kind, id) in [
            (&[Action::FsRead][..], ResourceKind::File, "/etc/shadow"),
            (&[Action::FsRead][..], ResourceKind::Dir, "/etc/hosts"),
            (&[Action::FsWrite][..], ResourceKind::File, "/etc/hosts"),
        ] {
            let e = p.require(actions, kind, id).unwrap_err();
            assert!(matches!(e, AuthError::Config(_)), "{e:?}");
        }
        // A denial hands out no permit.
        let shadow = Resource::file("/etc/shadow").unwrap();
        assert!(c.check(Action::FsRead, &shadow).unwrap_err().is_denied());
    }

    #[test]
    fn a_tree_permit_covers_its_directory_and_what_is_below_it_only() {
        let c = ctx(r#"permit(principal, action == file_system::Action::"delete", resource);"#);
        let p = c
            .check(Action::FsDelete, &Resource::dir("/srv/app").unwrap())
            .unwrap();
        for below in ["/srv/app", "/srv/app/a", "/srv/app/a/b"] {
            assert!(
                p.require_within(&[Action::FsDelete], below).is_ok(),
                "{below}"
            );
        }
        for outside in ["/srv", "/srv/application", "/srv/ap", "/etc", "/"] {
            let e = p.require_within(&[Action::FsDelete], outside).unwrap_err();
            assert!(matches!(e, AuthError::Config(_)), "{outside}: {e:?}");
        }
        // Another action, or a File permit, covers no tree.
        assert!(p.require_within(&[Action::FsChmod], "/srv/app").is_err());
        let f = c
            .check(Action::FsDelete, &Resource::file("/srv/app").unwrap())
            .unwrap();
        assert!(f.require_within(&[Action::FsDelete], "/srv/app/a").is_err());
        // The root covers every absolute path.
        let root = c
            .check(Action::FsDelete, &Resource::dir("/").unwrap())
            .unwrap();
        assert!(root.require_within(&[Action::FsDelete], "/srv/app").is_ok());
    }
}
