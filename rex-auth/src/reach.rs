//! What a policy set *may* allow whatever the request's context and the resource's
//! attributes: the question "could a script modify this file" that the runner asks about its
//! own files (audit log, log file, metrics file, the policy `learn` writes) before a run.
//!
//! The answer comes from Cedar itself, over an **upper bound** of the policy set: every permit
//! with its `when`/`unless` conditions removed (a condition can only narrow a permit), and
//! only the forbids without conditions (a conditional forbid may not apply). Whatever the
//! real set allows for some context, the upper bound allows too; so a request the upper bound
//! denies is denied by the real set under every context. The resource's `in Dir` ancestors are
//! Cedar's entity hierarchy, as in every real decision.

use cedar_policy::{Effect, Policy, PolicyId, PolicySet};

use crate::action::Action;
use crate::authorizer::Authorizer;
use crate::context::RequestContext;
use crate::error::AuthError;
use crate::path::ResourcePath;
use crate::policy::Policies;
use crate::principal::Principal;
use crate::resource::Resource;

/// Decides "may this request be allowed under some context" for one principal.
#[derive(Debug)]
pub struct Reach {
    /// The upper bound's authorizer; `None` in permissive mode, where nothing is denied.
    upper: Option<Authorizer>,
}

/// The upper bound of `policies` (see the module documentation).
fn upper_bound(policies: &Policies) -> Result<Policies, AuthError> {
    let mut set = PolicySet::new();
    let mut ids = Vec::new();
    for id in policies.ids() {
        let pid = PolicyId::new(id.as_str());
        let Some(p) = policies.policy_set().policy(&pid) else {
            return Err(AuthError::Config(format!(
                "policy {id} missing from its set"
            )));
        };
        let kept = if !p.has_non_scope_constraint() {
            p.clone()
        } else if p.effect() == Effect::Permit {
            let mut est = p
                .to_json()
                .map_err(|e| AuthError::Config(format!("policy {id}: {e}")))?;
            match est.as_object_mut() {
                Some(o) => {
                    o.insert("conditions".into(), serde_json::Value::Array(Vec::new()));
                }
                None => return Err(AuthError::Config(format!("policy {id}: not an object"))),
            }
            Policy::from_json(Some(pid), est)
                .map_err(|e| AuthError::Config(format!("policy {id}: {e}")))?
        } else {
            continue;
        };
        set.add(kept)
            .map_err(|e| AuthError::Config(format!("policy {id}: {e}")))?;
        ids.push(id.clone());
    }
    Ok(Policies::from_validated(set, ids))
}

/// A context of the right shape for `action` (the upper bound reads none of it).
fn any_context(action: Action) -> RequestContext {
    match action {
        Action::FsMove => RequestContext::Move {
            path: "/".into(),
            name: String::new(),
            parent_path: "/".into(),
        },
        Action::FsSetXAttr => RequestContext::XAttr {
            name: "user.rex".into(),
        },
        _ => RequestContext::None,
    }
}

/// The requests by which a script could change the file at `path` or what the path names:
/// writing, creating (over) it, deleting, moving, chmod, chown or setting an extended
/// attribute on it (also as a directory, when it is created as one); deleting, moving,
/// chmod, chown, setting an attribute on or unmounting its directory; deleting, moving or
/// unmounting any further ancestor (`/` included).
pub fn modifying_requests(path: &ResourcePath) -> Vec<(Action, Resource)> {
    let mut out: Vec<(Action, Resource)> = [
        Action::FsWrite,
        Action::FsCreate,
        Action::FsDelete,
        Action::FsMove,
        Action::FsChmod,
        Action::FsChown,
        Action::FsSetXAttr,
    ]
    .into_iter()
    .map(|a| (a, Resource::file_path(path)))
    .collect();
    out.push((Action::FsCreate, Resource::dir_path(path)));
    let mut dir = path.parent();
    let mut first = true;
    while let Some(d) = dir {
        let actions: &[Action] = if first {
            &[
                Action::FsDelete,
                Action::FsMove,
                Action::FsChmod,
                Action::FsChown,
                Action::FsSetXAttr,
                Action::FsUnmount,
            ]
        } else {
            &[Action::FsDelete, Action::FsMove, Action::FsUnmount]
        };
        for a in actions {
            out.push((*a, Resource::dir_path(&d)));
        }
        first = false;
        dir = d.parent();
    }
    out
}

impl Reach {
    /// The reach of `principal` under `policies`; in `permissive` mode every request may be
    /// allowed (denials are not enforced).
    ///
    /// ```
    /// use rex_auth::{reach::Reach, Action, Policies, Principal, Resource, ResourcePath};
    /// let p = Policies::parse("p.cedar", r#"
    ///     permit(principal, action == file_system::Action::"delete",
    ///            resource in file_system::Dir::"/srv/work")
    ///     when { context has destination };"#).unwrap();
    /// let r = Reach::new(&p, &Principal::user("ops").unwrap(), false).unwrap();
    /// // The condition could hold for some request: the delete may be allowed.
    /// assert!(r.may_allow(Action::FsDelete, &Resource::file("/srv/work/a").unwrap()).unwrap());
    /// assert!(!r.may_allow(Action::FsDelete, &Resource::file("/var/log/a").unwrap()).unwrap());
    /// let who = r.may_modify(&ResourcePath::new("/srv/work/sub/audit.log").unwrap()).unwrap();
    /// assert!(who.iter().any(|w| w.contains("delete")), "{who:?}");
    /// assert!(r.may_modify(&ResourcePath::new("/var/log/audit.log").unwrap()).unwrap().is_empty());
    /// ```
    pub fn new(
        policies: &Policies,
        principal: &Principal,
        permissive: bool,
    ) -> Result<Self, AuthError> {
        if permissive {
            return Ok(Reach { upper: None });
        }
        let upper = Authorizer::builder()
            .principal(principal.clone())
            .policies(upper_bound(policies)?)
            .build()?;
        Ok(Reach { upper: Some(upper) })
    }

    /// Whether `action` on `resource` is allowed for some context and attributes. An
    /// evaluation error counts as "may" (fail closed).
    pub fn may_allow(&self, action: Action, resource: &Resource) -> Result<bool, AuthError> {
        let Some(upper) = &self.upper else {
            return Ok(true);
        };
        match upper.is_allowed(action, resource, &any_context(action)) {
            Ok(allowed) => Ok(allowed),
            Err(AuthError::Evaluation { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The requests of [`modifying_requests`] that may be allowed, as `ACTION on RESOURCE`
    /// (empty: the principal cannot change the file at `path` by any request).
    pub fn may_modify(&self, path: &ResourcePath) -> Result<Vec<String>, AuthError> {
        let mut out = Vec::new();
        for (action, resource) in modifying_requests(path) {
            if self.may_allow(action, &resource)? {
                out.push(format!("{action} on {resource}"));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn reach(text: &str) -> Reach {
        Reach::new(
            &Policies::parse("p.cedar", text).unwrap(),
            &Principal::user("ops").unwrap(),
            false,
        )
        .unwrap()
    }

    fn path(p: &str) -> ResourcePath {
        ResourcePath::new(p).unwrap()
    }

    #[test]
    fn conditions_cannot_hide_a_permit_and_unconditional_forbids_count() {
        let r = reach(
            r#"permit(principal, action, resource in file_system::Dir::"/r")
                 when { resource has owner && resource.owner == "nobody-at-all" };
               forbid(principal, action, resource in file_system::Dir::"/r/safe");
               forbid(principal, action, resource in file_system::Dir::"/r/maybe")
                 when { context has destination };"#,
        );
        assert!(!r.may_modify(&path("/r/x/audit.log")).unwrap().is_empty());
        // Only the unconditional forbid protects; its directory's parent can still be
        // moved away, which is a modification of what the path names.
        let safe = r.may_modify(&path("/r/safe/audit.log")).unwrap();
        assert!(safe.iter().all(|w| w.contains("\"/r\"")), "{safe:?}");
        assert!(!safe.is_empty());
        assert!(!r.may_modify(&path("/r/maybe/a")).unwrap().is_empty());
        assert!(r.may_modify(&path("/elsewhere/a")).unwrap().is_empty());
    }

    #[test]
    fn every_ancestor_and_every_modifying_action_is_asked() {
        for (policy, hit) in [
            (
                r#"permit(principal, action == file_system::Action::"move", resource == file_system::Dir::"/a");"#,
                true,
            ),
            (
                r#"permit(principal, action == file_system::Action::"unmount", resource == file_system::Dir::"/");"#,
                true,
            ),
            (
                r#"permit(principal, action == file_system::Action::"chmod", resource == file_system::Dir::"/a/b");"#,
                true,
            ),
            (
                r#"permit(principal, action == file_system::Action::"chmod", resource == file_system::Dir::"/a");"#,
                false,
            ),
            (
                r#"permit(principal, action == file_system::Action::"create", resource == file_system::File::"/a/b/f");"#,
                true,
            ),
            (
                r#"permit(principal, action == file_system::Action::"set_x_attr", resource == file_system::File::"/a/b/f") when { context.xattr.name == "user.q" };"#,
                true,
            ),
            (
                r#"permit(principal, action in [file_system::Action::"read", file_system::Action::"stat", file_system::Action::"open"], resource);"#,
                false,
            ),
        ] {
            let who = reach(policy).may_modify(&path("/a/b/f")).unwrap();
            assert_eq!(!who.is_empty(), hit, "{policy}: {who:?}");
        }
    }

    #[test]
    fn another_principal_and_permissive_mode() {
        let p = Policies::parse(
            "p.cedar",
            r#"permit(principal == User::"other", action, resource);"#,
        )
        .unwrap();
        let ops = Principal::user("ops").unwrap();
        assert!(
            Reach::new(&p, &ops, false)
                .unwrap()
                .may_modify(&path("/a/f"))
                .unwrap()
                .is_empty()
        );
        assert!(
            !Reach::new(&p, &ops, true)
                .unwrap()
                .may_modify(&path("/a/f"))
                .unwrap()
                .is_empty()
        );
    }
}
