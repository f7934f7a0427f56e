//! Typed builders for every kind of resource a Rex action can apply to.
//!
//! A [`Resource`] holds plain data; the Cedar entities are built only when a decision is not
//! already cached (see [`crate::Authorizer`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use cedar_policy_core::ast;

use crate::error::AuthError;
use crate::path::ResourcePath;

/// The Cedar entity types a resource can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// `file_system::File`
    File,
    /// `file_system::Dir`
    Dir,
    /// `process_system::Process`
    Process,
    /// `systemd::Service`
    Service,
    /// `systemd::Systemd`
    Systemd,
    /// `sysinfo::Sysinfo`
    Sysinfo,
    /// `sysinfo::Uname`
    Uname,
    /// `sysinfo::Hostname`
    Hostname,
    /// `network::url`
    Url,
    /// `sysctl::Sysctl`
    Sysctl,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 10] = [
        ResourceKind::File,
        ResourceKind::Dir,
        ResourceKind::Process,
        ResourceKind::Service,
        ResourceKind::Systemd,
        ResourceKind::Sysinfo,
        ResourceKind::Uname,
        ResourceKind::Hostname,
        ResourceKind::Url,
        ResourceKind::Sysctl,
    ];

    /// The fully qualified Cedar type name.
    pub const fn type_name(self) -> &'static str {
        match self {
            ResourceKind::File => "file_system::File",
            ResourceKind::Dir => "file_system::Dir",
            ResourceKind::Process => "process_system::Process",
            ResourceKind::Service => "systemd::Service",
            ResourceKind::Systemd => "systemd::Systemd",
            ResourceKind::Sysinfo => "sysinfo::Sysinfo",
            ResourceKind::Uname => "sysinfo::Uname",
            ResourceKind::Hostname => "sysinfo::Hostname",
            ResourceKind::Url => "network::url",
            ResourceKind::Sysctl => "sysctl::Sysctl",
        }
    }
}

/// Attributes of a `process_system::Process` resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessAttrs {
    /// Process id.
    pub pid: u32,
    /// Real user id of the process owner.
    pub uid: u32,
    /// The process name (`comm`).
    pub name: String,
    /// The owner's user name (the uid as text when it has no name).
    pub username: String,
    /// The command line, arguments joined by spaces.
    pub command: String,
}

/// Attributes of a `network::url` resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlAttrs {
    /// Scheme (`https`, `http`, or `tcp`/`udp` for `connect`).
    pub scheme: String,
    /// Host name or address, lower-case.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path of the URL (`""` for `connect`).
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Attrs {
    /// `path` equal to the id, plus the lexical `Dir` ancestors.
    Path,
    None,
    Hostname,
    Service,
    Process(ProcessAttrs),
    Url(UrlAttrs),
}

/// A resource of a Cedar request: its type, id and attributes.
///
/// `Resource` is `Hash + Eq` over everything that can influence a decision, which makes it the
/// key of the decision cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    kind: ResourceKind,
    id: String,
    attrs: Attrs,
}

/// Stable ids for the singleton resources (REX used a random UUID per call, which made them
/// matchable by type only; a fixed id is still matched by `resource is T` and is cacheable).
const SINGLETON_ID: &str = "local";

impl Resource {
    /// `file_system::File::"<path>"` in its lexical `Dir` ancestors.
    ///
    /// ```
    /// use rex_auth::Resource;
    /// let f = Resource::file("/var/log/syslog").unwrap();
    /// assert_eq!(f.to_string(), r#"file_system::File::"/var/log/syslog""#);
    /// ```
    pub fn file(path: &str) -> Result<Self, AuthError> {
        Ok(Self::file_path(&ResourcePath::new(path)?))
    }

    /// `file_system::Dir::"<path>"` in its lexical `Dir` ancestors.
    pub fn dir(path: &str) -> Result<Self, AuthError> {
        Ok(Self::dir_path(&ResourcePath::new(path)?))
    }

    /// A `File` from an already validated path.
    pub fn file_path(path: &ResourcePath) -> Self {
        Self::path_entity(ResourceKind::File, path)
    }

    /// A `Dir` from an already validated path.
    pub fn dir_path(path: &ResourcePath) -> Self {
        Self::path_entity(ResourceKind::Dir, path)
    }

    fn path_entity(kind: ResourceKind, path: &ResourcePath) -> Self {
        Resource {
            kind,
            id: path.as_str().to_string(),
            attrs: Attrs::Path,
        }
    }

    /// `process_system::Process::"<pid>"` with its attributes.
    pub fn process(attrs: ProcessAttrs) -> Self {
        Resource {
            kind: ResourceKind::Process,
            id: attrs.pid.to_string(),
            attrs: Attrs::Process(attrs),
        }
    }

    /// `systemd::Service::"<name>"`. The name must be non-empty and free of control characters.
    pub fn service(name: &str) -> Result<Self, AuthError> {
        check_name("service name", name)?;
        Ok(Resource {
            kind: ResourceKind::Service,
            id: name.to_string(),
            attrs: Attrs::Service,
        })
    }

    /// The `systemd::Systemd` manager itself (for `daemon_reload`).
    pub fn systemd() -> Self {
        Self::singleton(ResourceKind::Systemd)
    }

    /// The `sysinfo::Sysinfo` pseudo-resource (system information).
    pub fn sysinfo() -> Self {
        Self::singleton(ResourceKind::Sysinfo)
    }

    /// The `sysinfo::Uname` pseudo-resource.
    pub fn uname() -> Self {
        Self::singleton(ResourceKind::Uname)
    }

    /// The `sysctl::Sysctl` pseudo-resource (for `sysctl::load`).
    pub fn sysctl() -> Self {
        Self::singleton(ResourceKind::Sysctl)
    }

    fn singleton(kind: ResourceKind) -> Self {
        Resource {
            kind,
            id: SINGLETON_ID.to_string(),
            attrs: Attrs::None,
        }
    }

    /// `sysinfo::Hostname::"<name>"` (for `resolve_hostname`).
    pub fn hostname(name: &str) -> Result<Self, AuthError> {
        check_name("host name", name)?;
        Ok(Resource {
            kind: ResourceKind::Hostname,
            id: name.to_string(),
            attrs: Attrs::Hostname,
        })
    }

    /// `network::url::"<id>"`. For `GET` the id is the normalised URL; for `connect` the
    /// endpoint. The SDK does the parsing and normalisation and passes the parts here.
    pub fn url(id: &str, attrs: UrlAttrs) -> Result<Self, AuthError> {
        check_name("url", id)?;
        Ok(Resource {
            kind: ResourceKind::Url,
            id: id.to_string(),
            attrs: Attrs::Url(attrs),
        })
    }

    /// The Cedar type of this resource.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// The entity id (the path for files and directories).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The attributes of a `process_system::Process` resource.
    pub fn process_attrs(&self) -> Option<&ProcessAttrs> {
        match &self.attrs {
            Attrs::Process(p) => Some(p),
            _ => None,
        }
    }

    /// The attributes of a `network::url` resource.
    pub fn url_attrs(&self) -> Option<&UrlAttrs> {
        match &self.attrs {
            Attrs::Url(u) => Some(u),
            _ => None,
        }
    }

    /// The entities whose `resource == E` / `resource in E` scope can match this resource:
    /// itself and, for files and directories, every lexical ancestor `Dir` (as type name
    /// and id). Used to index policies by resource scope.
    pub(crate) fn scope_chain(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let ancestors = match self.attrs {
            Attrs::Path => Some(
                crate::path::lexical_ancestors(&self.id)
                    .map(|a| (ResourceKind::Dir.type_name(), a)),
            ),
            _ => None,
        };
        std::iter::once((self.kind.type_name(), self.id.as_str()))
            .chain(ancestors.into_iter().flatten())
    }

    /// The Cedar UID of this resource.
    pub fn uid(&self) -> Result<EntityUid, AuthError> {
        uid_of(self.kind, &self.id)
    }

    /// Builds the Cedar entities of this resource: the resource itself and, for files and
    /// directories, every lexical ancestor `Dir` (each with its own ancestors, so no transitive
    /// closure has to be discovered).
    pub fn entities(&self) -> Result<Vec<Entity>, AuthError> {
        Ok(self
            .core_entities(true)?
            .into_iter()
            .map(Entity::from)
            .collect())
    }

    /// The entities of a request for this resource, as Cedar's core entities (each carries its
    /// whole ancestor set, see [`crate::store`]). With `chain`, the lexical ancestor `Dir`s
    /// too; without, only the resource's own entity, whose parents are still every ancestor.
    /// A decision can tell the two apart only through a `File` or `Dir` entity literal other
    /// than the resource itself (`Dir::"/a".path`, `Dir::"/a" in Dir::"/"`); the authorizer
    /// asks for the chain when a candidate policy has one.
    pub(crate) fn core_entities(&self, chain: bool) -> Result<Vec<ast::Entity>, AuthError> {
        let uid = ast::EntityUID::from(self.uid()?);
        let attrs: Vec<(&str, ast::Value)> = match &self.attrs {
            Attrs::Path => {
                // The id was validated when the resource was built.
                let ancestors: Vec<&str> = crate::path::lexical_ancestors(&self.id).collect();
                let uids = ancestors
                    .iter()
                    .map(|a| uid_of(ResourceKind::Dir, a).map(ast::EntityUID::from))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Vec::with_capacity(if chain { ancestors.len() + 1 } else { 1 });
                if chain {
                    for (i, (a, dir)) in ancestors.iter().zip(&uids).enumerate() {
                        let own = uids.iter().skip(i + 1).cloned().collect();
                        out.push(core_entity(dir.clone(), vec![("path", (*a).into())], own));
                    }
                }
                let parents = uids.into_iter().collect();
                out.push(core_entity(
                    uid,
                    vec![("path", self.id.as_str().into())],
                    parents,
                ));
                return Ok(out);
            }
            Attrs::None => Vec::new(),
            Attrs::Hostname => vec![("hostname", self.id.as_str().into())],
            Attrs::Service => vec![("name", self.id.as_str().into())],
            Attrs::Process(p) => vec![
                ("name", p.name.as_str().into()),
                ("username", p.username.as_str().into()),
                ("command", p.command.as_str().into()),
                ("pid", i64::from(p.pid).into()),
                ("uid", i64::from(p.uid).into()),
            ],
            Attrs::Url(u) => vec![
                ("url", self.id.as_str().into()),
                ("scheme", u.scheme.as_str().into()),
                ("host", u.host.as_str().into()),
                ("port", i64::from(u.port).into()),
                ("path", u.path.as_str().into()),
            ],
        };
        Ok(vec![core_entity(uid, attrs, HashSet::new())])
    }
}

/// A core entity with attribute values (no expression to evaluate) and the given ancestors
/// as its parents.
fn core_entity(
    uid: ast::EntityUID,
    attrs: Vec<(&str, ast::Value)>,
    parents: HashSet<ast::EntityUID>,
) -> ast::Entity {
    ast::Entity::new_with_attr_partial_value(
        uid,
        attrs.into_iter().map(|(k, v)| (k.into(), v.into())),
        HashSet::new(),
        parents,
        [],
    )
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{:?}", self.kind.type_name(), self.id)
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), AuthError> {
    if name.is_empty() {
        return Err(AuthError::InvalidValue {
            what,
            message: "must not be empty".into(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::InvalidValue {
            what,
            message: format!("{name:?} contains a control character"),
        });
    }
    Ok(())
}

fn internal(what: &str) -> AuthError {
    AuthError::InvalidValue {
        what: "entity",
        message: format!("internal error building {what}"),
    }
}

pub(crate) fn entity(
    uid: EntityUid,
    attrs: Vec<(String, RestrictedExpression)>,
    parents: Vec<EntityUid>,
) -> Result<Entity, AuthError> {
    Entity::new_with_tags(uid, attrs, parents, []).map_err(|e| AuthError::InvalidValue {
        what: "entity",
        message: e.to_string(),
    })
}

/// The parsed Cedar type name of each kind, parsed once (parsing runs Cedar's parser).
fn type_name_of(kind: ResourceKind) -> Result<EntityTypeName, AuthError> {
    static NAMES: OnceLock<Vec<Result<EntityTypeName, String>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ResourceKind::ALL
            .iter()
            .map(|k| k.type_name().parse().map_err(|e| format!("{e}")))
            .collect()
    });
    let index = ResourceKind::ALL.iter().position(|k| *k == kind);
    match index.and_then(|i| names.get(i)) {
        Some(Ok(t)) => Ok(t.clone()),
        Some(Err(e)) => Err(AuthError::InvalidValue {
            what: "entity type",
            message: format!("{}: {e}", kind.type_name()),
        }),
        None => Err(internal("entity type")),
    }
}

fn uid_of(kind: ResourceKind, id: &str) -> Result<EntityUid, AuthError> {
    let t = type_name_of(kind)?;
    let id: EntityId = id.parse().map_err(|e| AuthError::InvalidValue {
        what: "entity id",
        message: format!("{e}"),
    })?;
    Ok(EntityUid::from_type_name_and_id(t, id))
}

/// Builds a Cedar UID from a type name and an id.
pub(crate) fn uid(type_name: &str, id: &str) -> Result<EntityUid, AuthError> {
    let t: EntityTypeName = type_name.parse().map_err(|e| AuthError::InvalidValue {
        what: "entity type",
        message: format!("{type_name}: {e}"),
    })?;
    let id: EntityId = id.parse().map_err(|e| AuthError::InvalidValue {
        what: "entity id",
        message: format!("{e}"),
    })?;
    Ok(EntityUid::from_type_name_and_id(t, id))
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

    #[test]
    fn file_entities_carry_the_lexical_chain() {
        let r = Resource::file("/a/b/c").unwrap();
        let ents = r.entities().unwrap();
        assert_eq!(ents.len(), 4);
        let leaf = ents.last().unwrap();
        assert_eq!(leaf.uid().to_string(), r#"file_system::File::"/a/b/c""#);
        let json = leaf.to_json_value().unwrap().to_string();
        for dir in ["/a/b", "/a", "/"] {
            assert!(
                json.contains(&format!("{{\"id\":\"{dir}\""))
                    || json.contains(&format!("\"id\":\"{dir}\"")),
                "{json}"
            );
        }
    }

    #[test]
    fn root_dir_has_no_ancestors() {
        let ents = Resource::dir("/").unwrap().entities().unwrap();
        assert_eq!(ents.len(), 1);
    }

    #[test]
    fn names_are_checked() {
        assert!(Resource::service("").is_err());
        assert!(Resource::hostname("a\nb").is_err());
        assert!(Resource::service("nginx.service").is_ok());
    }
}
