//! A request as an audit record keeps it: what `replay` needs to decide it again, and never a
//! secret.
//!
//! [`RecordedRequest::of`] turns a request into its record; [`RecordedRequest::to_request`]
//! turns a record back into the request the runner made. Three things are never recorded and
//! come back as placeholders: the values of an `execute`'s arguments and environment (they
//! may carry credentials), and a process's command line. A record lists them in
//! [`Replayable::redacted`]; [`Replayable::blocked_by`] names the policies that read such a
//! field, under which the request cannot be decided again without guessing.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::action::Action;
use crate::context::{ExecuteContext, Identity, RequestContext};
use crate::error::AuthError;
use crate::explain::parse_uid_parts;
use crate::policy::Policies;
use crate::principal::Principal;
use crate::resource::{ProcessAttrs, Resource, ResourceKind, UrlAttrs};

/// The replayable form of one request: Cedar texts for the principal, action and resource,
/// the resource's attributes (processes and URLs) and the structured, secret-free context.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `User::"name"`.
    pub principal: String,
    /// `file_system::Action::"read"`.
    pub action: String,
    /// `file_system::File::"/etc/hosts"`.
    pub resource: String,
    /// `{pid, uid, name, username}` of a process, `{scheme, host, port, path}` of a URL.
    pub resource_attributes: Option<Value>,
    /// The context: `summary` (as before) plus the attributes a policy can read, with
    /// `redacted` listing what was left out.
    pub context: Value,
}

/// The field of a process resource and of an execute context that are never recorded.
const COMMAND: &str = "command";
const ARGUMENTS: &str = "arguments";
const ENVIRONMENT: &str = "environment";

/// A request rebuilt from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayable {
    /// The principal.
    pub principal: Principal,
    /// The action.
    pub action: Action,
    /// The resource (a process's command line is empty when it was redacted).
    pub resource: Resource,
    /// The context (redacted arguments and environment are empty).
    pub context: RequestContext,
    /// The fields the record left out: `arguments`, `environment`, `command`.
    pub redacted: Vec<&'static str>,
}

impl Replayable {
    /// The ids of the policies in `policies` that read a field this record left out: under
    /// them, deciding the request again would be a guess. Conservative: a policy counts when
    /// its text names the field anywhere, or uses `context` as a whole.
    pub fn blocked_by(&self, policies: &Policies) -> Vec<String> {
        if self.redacted.is_empty() {
            return Vec::new();
        }
        policies
            .policies()
            .filter(|p| {
                let text = p.to_string();
                self.redacted
                    .iter()
                    .any(|field| names_identifier(&text, field))
                    || (self.redacted.iter().any(|f| *f != COMMAND) && uses_whole_context(&text))
            })
            .map(|p| p.id().to_string())
            .collect()
    }
}

impl RecordedRequest {
    /// The record of one request.
    ///
    /// ```
    /// use rex_auth::{Action, Principal, RecordedRequest, RequestContext, Resource};
    /// let alice = Principal::user("alice").unwrap();
    /// let file = Resource::file("/var/log/syslog").unwrap();
    /// let rec = RecordedRequest::of(&alice.to_string(), Action::FsRead, &file, &RequestContext::None);
    /// let back = rec.to_request().unwrap();
    /// assert_eq!((back.principal, back.action, back.resource), (alice, Action::FsRead, file));
    /// assert!(back.redacted.is_empty());
    /// ```
    pub fn of(
        principal: &str,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> RecordedRequest {
        RecordedRequest {
            principal: principal.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            resource_attributes: resource_attributes(resource),
            context: context_record(context),
        }
    }

    /// Rebuilds the request. An error when the record is not one Rex writes (an unknown
    /// action or resource type, a missing attribute, a context that does not fit the action).
    pub fn to_request(&self) -> Result<Replayable, AuthError> {
        let principal = parse_principal(&self.principal)?;
        let action: Action = self.action.parse()?;
        let mut redacted = Vec::new();
        let resource = parse_resource(
            &self.resource,
            self.resource_attributes.as_ref(),
            &mut redacted,
        )?;
        let context = parse_context(action, &self.context, &mut redacted)?;
        Ok(Replayable {
            principal,
            action,
            resource,
            context,
            redacted,
        })
    }
}

fn bad(message: impl Into<String>) -> AuthError {
    AuthError::InvalidValue {
        what: "recorded request",
        message: message.into(),
    }
}

/// `User::"name"` back into a principal.
pub(crate) fn parse_principal(text: &str) -> Result<Principal, AuthError> {
    let uid: cedar_policy::EntityUid = text
        .trim()
        .parse()
        .map_err(|e| bad(format!("principal {text:?} is not a Cedar entity UID: {e}")))?;
    if uid.type_name().to_string() != "User" {
        return Err(bad(format!("principal {text:?} is not a User")));
    }
    Principal::user(uid.id().unescaped())
}

fn resource_attributes(resource: &Resource) -> Option<Value> {
    if let Some(p) = resource.process_attrs() {
        let mut m = json!({"pid": p.pid, "uid": p.uid, "name": p.name, "username": p.username});
        if !p.command.is_empty()
            && let Some(obj) = m.as_object_mut()
        {
            obj.insert("redacted".into(), json!([COMMAND]));
        }
        return Some(m);
    }
    resource
        .url_attrs()
        .map(|u| json!({"scheme": u.scheme, "host": u.host, "port": u.port, "path": u.path}))
}

fn redacted_list(m: &Map<String, Value>) -> Vec<String> {
    match m.get("redacted") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, AuthError> {
    m.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("`{key}` is missing or not a string")))
}

fn u32_of(m: &Map<String, Value>, key: &str) -> Result<u32, AuthError> {
    m.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(format!("`{key}` is missing or not a 32-bit number")))
}

fn parse_resource(
    text: &str,
    attrs: Option<&Value>,
    redacted: &mut Vec<&'static str>,
) -> Result<Resource, AuthError> {
    let (kind, id) = parse_uid_parts(text)?;
    let attrs = attrs.and_then(Value::as_object);
    match kind {
        ResourceKind::Process => {
            let m = attrs.ok_or_else(|| bad("a process resource needs its attributes"))?;
            let pid = u32_of(m, "pid")?;
            if id != pid.to_string() {
                return Err(bad(format!("process {id:?} recorded with pid {pid}")));
            }
            if redacted_list(m).iter().any(|f| f == COMMAND) {
                redacted.push(COMMAND);
            }
            Ok(Resource::process(ProcessAttrs {
                pid,
                uid: u32_of(m, "uid")?,
                name: str_of(m, "name")?.to_string(),
                username: str_of(m, "username")?.to_string(),
                command: String::new(),
            }))
        }
        ResourceKind::Url => {
            let m = attrs.ok_or_else(|| bad("a URL resource needs its attributes"))?;
            let port = m
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| bad("`port` is missing or not a port number"))?;
            Resource::url(
                &id,
                UrlAttrs {
                    scheme: str_of(m, "scheme")?.to_string(),
                    host: str_of(m, "host")?.to_string(),
                    port,
                    path: str_of(m, "path")?.to_string(),
                },
            )
        }
        _ => Resource::parse_uid(text),
    }
}

/// The structured, secret-free context of a request: `summary` plus what a policy can read.
fn context_record(context: &RequestContext) -> Value {
    let summary = context.summary();
    let mut m = Map::new();
    if !summary.is_empty() {
        m.insert("summary".into(), Value::String(summary));
    }
    match context {
        RequestContext::None | RequestContext::Resolve { resolver: None } => {}
        RequestContext::Resolve {
            resolver: Some(resolver),
        } => {
            m.insert("resolver".into(), json!(resolver));
        }
        RequestContext::XAttr { name } => {
            m.insert("xattr".into(), json!({ "name": name }));
        }
        RequestContext::Move {
            path,
            name,
            parent_path,
        } => {
            m.insert(
                "destination".into(),
                json!({"path": path, "name": name, "parent_path": parent_path}),
            );
        }
        RequestContext::Execute(e) => {
            m.insert(
                "user".into(),
                json!({"username": e.identity.username, "uid": e.identity.uid}),
            );
            m.insert(
                "group".into(),
                json!({"groupname": e.identity.groupname, "gid": e.identity.gid}),
            );
            m.insert("capabilities".into(), json!(e.capabilities));
            if let Some(pid) = e.namespace_target_pid {
                m.insert("namespace".into(), json!({ "target_process_id": pid }));
            }
            let mut redacted = Vec::new();
            if !e.arguments.is_empty() {
                redacted.push(ARGUMENTS);
            }
            if !e.environment.is_empty() {
                redacted.push(ENVIRONMENT);
            }
            m.insert("execute".into(), Value::Bool(true));
            if !redacted.is_empty() {
                m.insert("redacted".into(), json!(redacted));
            }
        }
    }
    Value::Object(m)
}

fn parse_context(
    action: Action,
    context: &Value,
    redacted: &mut Vec<&'static str>,
) -> Result<RequestContext, AuthError> {
    let empty = Map::new();
    let m = match context {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(bad("`context` is not an object")),
    };
    let ctx = match action {
        Action::FsExecute => {
            let user = m.get("user").and_then(Value::as_object);
            let group = m.get("group").and_then(Value::as_object);
            let (Some(user), Some(group)) = (user, group) else {
                return Err(bad("an execute record needs `user` and `group`"));
            };
            let capabilities = match m.get("capabilities") {
                None => Vec::new(),
                Some(Value::Array(c)) => c
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad("capabilities must be strings"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad("`capabilities` is not an array")),
            };
            let namespace_target_pid = match m.get("namespace").and_then(Value::as_object) {
                Some(ns) => Some(u32_of(ns, "target_process_id")?),
                None => None,
            };
            for field in redacted_list(m) {
                match field.as_str() {
                    ARGUMENTS => redacted.push(ARGUMENTS),
                    ENVIRONMENT => redacted.push(ENVIRONMENT),
                    other => return Err(bad(format!("unknown redacted field {other:?}"))),
                }
            }
            RequestContext::Execute(Box::new(ExecuteContext {
                arguments: Vec::new(),
                environment: BTreeMap::new(),
                identity: Identity {
                    username: str_of(user, "username")?.to_string(),
                    uid: u32_of(user, "uid")?,
                    groupname: str_of(group, "groupname")?.to_string(),
                    gid: u32_of(group, "gid")?,
                },
                namespace_target_pid,
                capabilities,
            }))
        }
        Action::FsMove => {
            let d = m
                .get("destination")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("a move record needs `destination`"))?;
            RequestContext::Move {
                path: str_of(d, "path")?.to_string(),
                name: str_of(d, "name")?.to_string(),
                parent_path: str_of(d, "parent_path")?.to_string(),
            }
        }
        Action::FsSetXAttr => {
            let x = m
                .get("xattr")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("a set_x_attr record needs `xattr`"))?;
            RequestContext::XAttr {
                name: str_of(x, "name")?.to_string(),
            }
        }
        Action::SysinfoResolveHostname => RequestContext::Resolve {
            resolver: match m.get("resolver") {
                None | Some(Value::Null) => None,
                Some(Value::String(r)) => Some(r.clone()),
                Some(_) => return Err(bad("`resolver` is not a string")),
            },
        },
        _ => RequestContext::None,
    };
    Ok(ctx)
}

/// Whether `text` contains `ident` as a whole identifier (not inside a longer one).
fn names_identifier(text: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(at, _)| {
        let before = text.get(..at).and_then(|s| s.chars().next_back());
        let after = text.get(at + ident.len()..).and_then(|s| s.chars().next());
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Whether `text` uses `context` other than to read one attribute (`context.x`,
/// `context["x"]`, `context has x`): a comparison of the whole record reads every field.
fn uses_whole_context(text: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices("context").any(|(at, word)| {
        let before = text.get(..at).and_then(|s| s.chars().next_back());
        if before.is_some_and(is_ident) {
            return false;
        }
        let rest = text.get(at + word.len()..).unwrap_or("");
        if rest.chars().next().is_some_and(is_ident) {
            return false;
        }
        let rest = rest.trim_start();
        !(rest.starts_with('.') || rest.starts_with('[') || rest.starts_with("has"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn whole_context_use_is_found() {
        assert!(uses_whole_context("when { context == {} }"));
        assert!(!uses_whole_context(
            "when { context.arguments.hasTag(\"x\") }"
        ));
        assert!(!uses_whole_context("when { context has destination }"));
        assert!(!uses_whole_context("when { mycontext == 1 }"));
    }

    #[test]
    fn identifiers_are_whole_words() {
        assert!(names_identifier("context.arguments.flags", "arguments"));
        assert!(!names_identifier("context.my_arguments", "arguments"));
        assert!(names_identifier("resource.command like \"*\"", "command"));
    }

    #[test]
    fn execute_records_keep_no_argument_or_environment_value() {
        let ctx = RequestContext::Execute(Box::new(ExecuteContext {
            arguments: vec![("--password".into(), Some("hunter2".into()))],
            environment: [("TOKEN".to_string(), "s3cret".to_string())].into(),
            identity: Identity {
                username: "root".into(),
                uid: 0,
                groupname: "root".into(),
                gid: 0,
            },
            namespace_target_pid: None,
            capabilities: vec!["CAP_NET_RAW".into()],
        }));
        let rec = RecordedRequest::of(
            "User::\"a\"",
            Action::FsExecute,
            &Resource::file("/bin/true").unwrap(),
            &ctx,
        );
        let text = rec.context.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
        let back = rec.to_request().unwrap();
        assert_eq!(back.redacted, [ARGUMENTS, ENVIRONMENT]);
        let RequestContext::Execute(e) = back.context else {
            panic!("not execute")
        };
        assert_eq!(e.capabilities, ["CAP_NET_RAW"]);
        assert!(e.arguments.is_empty());
    }

    #[test]
    fn process_records_keep_no_command_line() {
        let p = Resource::process(ProcessAttrs {
            pid: 42,
            uid: 7,
            name: "sleep".into(),
            username: "bob".into(),
            command: "sleep --token=abc 10".into(),
        });
        let rec = RecordedRequest::of(
            "User::\"a\"",
            Action::ProcessKill,
            &p,
            &RequestContext::None,
        );
        assert!(
            !rec.resource_attributes
                .as_ref()
                .unwrap()
                .to_string()
                .contains("abc")
        );
        let back = rec.to_request().unwrap();
        assert_eq!(back.redacted, [COMMAND]);
        assert_eq!(back.resource.process_attrs().unwrap().name, "sleep");
    }
}
