//! The entity store of one request, built without Cedar's transitive-closure pass.
//!
//! `cedar_policy::Entities::from_entities` recomputes the transitive closure of the hierarchy
//! on every call; for a request's two or three entities that pass was more than half of an
//! uncached decision. Every entity the authorizer puts in a request already carries its whole
//! ancestor set, so the closure is known: a path resource lists all its lexical ancestor
//! directories (strictly shorter paths, so the hierarchy is acyclic), an action entity comes
//! from the schema (where Cedar computed its groups' closure) and context entities have no
//! parents. [`closed_store`] builds the store from them as they are. The unit tests check that
//! it equals the store Cedar computes, for entities of every shape the authorizer builds.

use std::sync::Arc;

use cedar_policy::{Entities, Entity};
use cedar_policy_core::ast;
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;

/// An entity put in every request of an action (the action with its groups): built once and
/// shared between requests, never copied.
#[derive(Debug, Clone)]
pub(crate) struct SharedEntity(Arc<ast::Entity>);

impl SharedEntity {
    /// Holds a copy of `entity`.
    pub(crate) fn new(entity: &Entity) -> Self {
        SharedEntity(Arc::new(entity.as_ref().clone()))
    }
}

/// The store of `entities` (built by [`crate::Resource`]), `context` (a request context's
/// entities) and `shared`, each of which must already carry every ancestor it has (see the
/// module documentation). Duplicate uids are an error, as in Cedar.
pub(crate) fn closed_store(
    entities: Vec<ast::Entity>,
    context: Vec<Entity>,
    shared: &[&SharedEntity],
) -> Result<Entities, String> {
    let all = entities
        .into_iter()
        .map(Arc::new)
        .chain(context.iter().map(|e| Arc::new(e.as_ref().clone())))
        .chain(shared.iter().map(|s| s.0.clone()));
    CoreEntities::new()
        .add_entities(
            all,
            None::<&NoEntitiesSchema>,
            TCComputation::AssumeAlreadyComputed,
            Extensions::all_available(),
        )
        .map(Entities::from)
        .map_err(|e| e.to_string())
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
    use crate::{Action, ExecuteContext, Identity, RequestContext, Resource, schema};

    /// What Cedar itself builds from the same entities (closure computed).
    fn computed(entities: Vec<Entity>, shared: &[Entity]) -> Entities {
        let all = entities.into_iter().chain(shared.iter().cloned());
        Entities::from_entities(all, None).unwrap()
    }

    fn action_entity(a: Action) -> Entity {
        let uid = a.uid_text().parse().unwrap();
        schema()
            .unwrap()
            .action_entities()
            .unwrap()
            .get(&uid)
            .cloned()
            .unwrap()
    }

    #[test]
    fn the_store_equals_the_one_cedar_computes() {
        let exec = RequestContext::Execute(Box::new(ExecuteContext {
            arguments: vec![("-n".into(), Some("1".into())), ("x".into(), None)],
            environment: [("PATH".to_string(), "/bin".to_string())].into(),
            identity: Identity {
                username: "root".into(),
                uid: 0,
                groupname: "root".into(),
                gid: 0,
            },
            namespace_target_pid: None,
            capabilities: vec![],
        }));
        let resources = [
            Resource::file("/").unwrap(),
            Resource::dir("/").unwrap(),
            Resource::file("/a").unwrap(),
            Resource::dir("/a/b/c/d/e/f").unwrap(),
            Resource::file("/var/log/app/current.log").unwrap(),
            Resource::service("nginx").unwrap(),
            Resource::sysinfo(),
        ];
        for r in &resources {
            for action in [Action::FsRead, Action::FsExecute, Action::SystemdStart] {
                let shared = action_entity(action);
                let ctx_entities = exec.to_cedar().unwrap().1;
                // Both the resource's own entity and its whole chain.
                for chain in [false, true] {
                    let ents = r.core_entities(chain).unwrap();
                    let ours = closed_store(
                        ents.clone(),
                        ctx_entities.clone(),
                        &[&SharedEntity::new(&shared)],
                    )
                    .unwrap();
                    let api: Vec<Entity> = ents.into_iter().map(Entity::from).collect();
                    let mut all = api;
                    all.extend(ctx_entities.clone());
                    assert_eq!(
                        ours,
                        computed(all, std::slice::from_ref(&shared)),
                        "{r} {action}"
                    );
                }
            }
        }
    }

    #[test]
    fn duplicates_are_errors() {
        let mut ents = Resource::file("/a/b")
            .unwrap()
            .core_entities(false)
            .unwrap();
        // The same uid with other parents.
        let uid = Resource::file("/a/b").unwrap().uid().unwrap();
        let other = Entity::new_no_attrs(uid, Default::default());
        ents.push(other.as_ref().clone());
        assert!(closed_store(ents, Vec::new(), &[]).is_err());
    }
}
