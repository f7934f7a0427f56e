//! Typed request contexts, one shape per action that has a context in the schema.

use std::collections::BTreeMap;

use cedar_policy::{Context, Entity, EntityUid, RestrictedExpression};

use crate::error::{ArgumentProblem, AuthError};
use crate::resource::{entity, uid};

/// The user and group an `execute` child will run as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// User name.
    pub username: String,
    /// User id.
    pub uid: u32,
    /// Group name.
    pub groupname: String,
    /// Group id.
    pub gid: u32,
}

/// Everything about an `execute` request that a policy can allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecuteContext {
    /// The arguments: `(k, Some(v))` is a key/value pair, `(x, None)` a flag or positional.
    pub arguments: Vec<(String, Option<String>)>,
    /// The environment, exactly as the child will get it.
    pub environment: BTreeMap<String, String>,
    /// The identity the child will run as.
    pub identity: Identity,
    /// The PID of the process whose PID namespace the child enters, if any.
    pub namespace_target_pid: Option<u32>,
    /// The capabilities the child will get (e.g. `CAP_NET_RAW`).
    pub capabilities: Vec<String>,
}

/// The context of a request. [`RequestContext::None`] requests are cacheable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum RequestContext {
    /// No context attributes.
    #[default]
    None,
    /// `move`: where the file or directory goes.
    Move {
        /// The destination path.
        path: String,
        /// The destination name.
        name: String,
        /// The destination's parent directory.
        parent_path: String,
    },
    /// `set_x_attr`: the attribute name.
    XAttr {
        /// The extended attribute, e.g. `security.selinux`.
        name: String,
    },
    /// `execute`.
    Execute(Box<ExecuteContext>),
    /// `resolve_hostname`: the custom resolver, if any.
    Resolve {
        /// Address of a custom DNS resolver; `None` means the system resolver.
        resolver: Option<String>,
    },
}

impl RequestContext {
    /// Whether the context carries no attribute that a policy could read.
    pub fn is_empty(&self) -> bool {
        matches!(
            self,
            RequestContext::None | RequestContext::Resolve { resolver: None }
        )
    }

    /// A short, single-line description for audit records (no secrets: environment values and
    /// argument values are not included, only names).
    pub fn summary(&self) -> String {
        match self {
            RequestContext::None | RequestContext::Resolve { resolver: None } => String::new(),
            RequestContext::Move { path, .. } => format!("destination={path}"),
            RequestContext::XAttr { name } => format!("xattr={name}"),
            RequestContext::Resolve {
                resolver: Some(resolver),
            } => format!("resolver={resolver}"),
            RequestContext::Execute(e) => format!(
                "argc={} env=[{}] user={} group={} caps=[{}]{}",
                e.arguments.len(),
                e.environment.keys().cloned().collect::<Vec<_>>().join(","),
                e.identity.username,
                e.identity.groupname,
                e.capabilities.join(","),
                e.namespace_target_pid
                    .map(|p| format!(" pidns={p}"))
                    .unwrap_or_default()
            ),
        }
    }

    /// Builds the Cedar context and the context entities (for `execute`) it references.
    pub fn to_cedar(&self) -> Result<(Context, Vec<Entity>), AuthError> {
        if self.is_empty() {
            return Ok((Context::empty(), Vec::new()));
        }
        let invalid = |e: &dyn std::fmt::Display| AuthError::InvalidValue {
            what: "context",
            message: e.to_string(),
        };
        let mut entities = Vec::new();
        let pairs: Vec<(String, RestrictedExpression)> = match self {
            RequestContext::None | RequestContext::Resolve { resolver: None } => Vec::new(),
            RequestContext::Resolve {
                resolver: Some(resolver),
            } => vec![s("resolver", resolver)],
            RequestContext::XAttr { name } => {
                vec![("xattr".into(), record(vec![s("name", name)])?)]
            }
            RequestContext::Move {
                path,
                name,
                parent_path,
            } => vec![(
                "destination".into(),
                record(vec![
                    s("path", path),
                    s("name", name),
                    s("parent_path", parent_path),
                ])?,
            )],
            RequestContext::Execute(e) => {
                let args_uid = uid("file_system::Arguments", "arguments")?;
                let env_uid = uid("file_system::Environment", "environment")?;
                entities.push(arguments_entity(args_uid.clone(), &e.arguments)?);
                entities.push(environment_entity(env_uid.clone(), &e.environment)?);
                let mut pairs = vec![
                    (
                        "arguments".to_string(),
                        RestrictedExpression::new_entity_uid(args_uid),
                    ),
                    (
                        "environment".to_string(),
                        RestrictedExpression::new_entity_uid(env_uid),
                    ),
                    (
                        "user".into(),
                        record(vec![
                            s("username", &e.identity.username),
                            l("uid", e.identity.uid.into()),
                        ])?,
                    ),
                    (
                        "group".into(),
                        record(vec![
                            s("groupname", &e.identity.groupname),
                            l("gid", e.identity.gid.into()),
                        ])?,
                    ),
                    ("capabilities".into(), string_set(&e.capabilities)),
                ];
                if let Some(pid) = e.namespace_target_pid {
                    pairs.push((
                        "namespace".into(),
                        record(vec![l("target_process_id", pid.into())])?,
                    ));
                }
                pairs
            }
        };
        let ctx = Context::from_pairs(pairs).map_err(|e| invalid(&e))?;
        Ok((ctx, entities))
    }
}

fn s(k: &str, v: &str) -> (String, RestrictedExpression) {
    (
        k.to_string(),
        RestrictedExpression::new_string(v.to_string()),
    )
}

fn l(k: &str, v: i64) -> (String, RestrictedExpression) {
    (k.to_string(), RestrictedExpression::new_long(v))
}

fn record(pairs: Vec<(String, RestrictedExpression)>) -> Result<RestrictedExpression, AuthError> {
    RestrictedExpression::new_record(pairs).map_err(|e| AuthError::InvalidValue {
        what: "context record",
        message: e.to_string(),
    })
}

fn string_set<'a>(values: impl IntoIterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(
        values
            .into_iter()
            .map(|v| RestrictedExpression::new_string(v.clone())),
    )
}

/// The prefix of the tag names that describe lone arguments by position (`$ARG0`, `$ARG1`, ...).
pub const POSITION_TAG_PREFIX: &str = "$ARG";

/// Whether `name` is a tag name reserved for the position of a lone argument: `$ARG` followed
/// by one or more ASCII digits (`$ARG0`, `$ARG12`).
pub fn is_reserved_tag(name: &str) -> bool {
    name.strip_prefix(POSITION_TAG_PREFIX)
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks that `args` can be described to a policy without ambiguity: every tag of the
/// `Arguments` entity then has exactly one meaning.
///
/// Refused: a `[key, value]` pair whose key is a reserved position tag (`$ARG<i>`), a name
/// given both as a pair key and as a lone argument, and a pair key given twice with different
/// values. A lone argument that looks like `$ARG<i>` is accepted (it is described by its
/// position tag, `positional_values`/`flags` and `argv`, never by a `x -> "true"` tag).
///
/// ```
/// use rex_auth::{ArgumentProblem, check_arguments};
/// let pair = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
/// assert!(check_arguments(&[("-h".into(), None), pair("--level", "3")]).is_ok());
/// assert_eq!(
///     check_arguments(&[pair("$ARG0", "/etc/shadow")]),
///     Err(ArgumentProblem::ReservedKey("$ARG0".into()))
/// );
/// ```
pub fn check_arguments(args: &[(String, Option<String>)]) -> Result<(), ArgumentProblem> {
    let mut pairs: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in args {
        if let Some(v) = v {
            if is_reserved_tag(k) {
                return Err(ArgumentProblem::ReservedKey(k.clone()));
            }
            if pairs.insert(k, v).is_some_and(|old| old != v.as_str()) {
                return Err(ArgumentProblem::ConflictingValues(k.clone()));
            }
        }
    }
    match args
        .iter()
        .find(|(k, v)| v.is_none() && pairs.contains_key(k.as_str()))
    {
        Some((k, _)) => Err(ArgumentProblem::KeyAlsoLone(k.clone())),
        None => Ok(()),
    }
}

/// The argv entries (after the program name) that `args` stand for: a pair is two entries.
pub fn flatten_arguments(args: &[(String, Option<String>)]) -> Vec<&str> {
    let mut out = Vec::with_capacity(args.len());
    for (k, v) in args {
        out.push(k.as_str());
        if let Some(v) = v {
            out.push(v.as_str());
        }
    }
    out
}

/// REX's `Arguments` semantics: `(k, Some(v))` adds tag `k → v` and `k` to `keys`; `(x, None)`
/// adds tags `$ARG<i> → x` (i = the element's 0-based index) and `x → "true"`, and `x` to
/// `flags` when it starts with `-`, otherwise to `positional_values`.
///
/// Rex additions (issue 19): [`check_arguments`] refuses every collision of tag names, a lone
/// `x` that is itself a reserved `$ARG<i>` name gets no `x → "true"` tag, and `argv` holds
/// the complete ordered argv as `{index, value}` records (index 0 = the first argument after
/// the program name), so a policy can allow-list an exact command line.
fn arguments_entity(
    uid: EntityUid,
    args: &[(String, Option<String>)],
) -> Result<Entity, AuthError> {
    check_arguments(args).map_err(AuthError::InvalidArguments)?;
    let mut keys = Vec::new();
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for (i, (k, v)) in args.iter().enumerate() {
        match v {
            Some(v) => {
                keys.push(k.clone());
                tags.insert(k.clone(), v.clone());
            }
            None => {
                tags.insert(format!("{POSITION_TAG_PREFIX}{i}"), k.clone());
                if !is_reserved_tag(k) {
                    tags.insert(k.clone(), "true".to_string());
                }
                if k.starts_with('-') {
                    flags.push(k.clone());
                } else {
                    positional.push(k.clone());
                }
            }
        }
    }
    let mut argv = Vec::new();
    for (index, value) in flatten_arguments(args).into_iter().enumerate() {
        let index = i64::try_from(index).map_err(|_| AuthError::InvalidValue {
            what: "execute arguments",
            message: "too many arguments".into(),
        })?;
        argv.push(record(vec![l("index", index), s("value", value)])?);
    }
    with_tags(
        uid,
        vec![
            ("keys".into(), string_set(&keys)),
            ("flags".into(), string_set(&flags)),
            ("positional_values".into(), string_set(&positional)),
            ("argv".into(), RestrictedExpression::new_set(argv)),
        ],
        tags,
    )
}

fn environment_entity(uid: EntityUid, env: &BTreeMap<String, String>) -> Result<Entity, AuthError> {
    with_tags(
        uid,
        vec![("names".into(), string_set(env.keys()))],
        env.clone(),
    )
}

fn with_tags(
    uid: EntityUid,
    attrs: Vec<(String, RestrictedExpression)>,
    tags: BTreeMap<String, String>,
) -> Result<Entity, AuthError> {
    if tags.is_empty() {
        return entity(uid, attrs, Vec::new());
    }
    Entity::new_with_tags(
        uid,
        attrs,
        [],
        tags.into_iter()
            .map(|(k, v)| (k, RestrictedExpression::new_string(v))),
    )
    .map_err(|e| AuthError::InvalidValue {
        what: "context entity",
        message: e.to_string(),
    })
}
