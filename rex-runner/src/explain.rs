//! `rex-runner explain`: one request, decided by the runner's own authorizer, and why.
//!
//! The action, resource and context are parsed into the same [`rex_auth`] types the SDK builds
//! (`rust_sdk`'s URL normaliser for `network::url`), then [`rex_auth::explain`] decides them
//! through [`rex_auth::Authorizer::authorize`].

use std::collections::BTreeMap;

use rex_auth::{
    Action, ExecuteContext, Explanation, Identity, Outcome, RequestContext, Resource, ResourceKind,
    UrlAttrs,
};
use serde_json::Value;

/// Why a request given on the command line cannot be explained (exit 5).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The action, resource or context is malformed or does not fit the schema.
    #[error("{0}")]
    Invalid(String),
    /// rex-auth refused the request (e.g. the action does not apply to the resource).
    #[error(transparent)]
    Auth(#[from] rex_auth::AuthError),
}

fn invalid(message: impl Into<String>) -> ExplainError {
    ExplainError::Invalid(message.into())
}

/// Parses `ACTION` (`file_system::Action::"read"` or `file_system::read`), `RESOURCE`
/// (`T::"id"`) and the optional `--context` JSON into a request.
///
/// Context shapes, by action: `execute`: `{"arguments": ["-h", ["--key", "value"]],
/// "environment": {"NAME": "value"}, "user": "root", "uid": 0, "group": "root", "gid": 0,
/// "capabilities": ["CAP_NET_RAW"], "namespace_target_pid": 42}`; `move`:
/// `{"destination": "/new/path"}`; `set_x_attr`: `{"name": "user.tag"}`; `resolve_hostname`: `{"resolver": "10.0.0.2"}`. Process resources
/// take their attributes from `{"process": {"name": ..., "uid": ..., "username": ...,
/// "command": ...}}` in the same JSON.
pub fn parse_request(
    action: &str,
    resource: &str,
    context: Option<&str>,
) -> Result<(Action, Resource, RequestContext), ExplainError> {
    let action: Action = action.parse()?;
    let ctx_json: Value = match context {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| invalid(format!("--context is not valid JSON: {e}")))?,
        None => Value::Object(serde_json::Map::new()),
    };
    let Value::Object(ctx) = ctx_json else {
        return Err(invalid("--context must be a JSON object"));
    };
    let (kind, id) = rex_auth::parse_uid_parts(resource)?;
    let resource = match kind {
        ResourceKind::Url => url_resource(action, &id)?,
        ResourceKind::Process => process_resource(&id, ctx.get("process"))?,
        _ => Resource::parse_uid(resource)?,
    };
    let context = match action {
        Action::FsExecute => execute_context(&ctx)?,
        Action::FsMove => {
            let dest = str_field(&ctx, "destination")?
                .ok_or_else(|| invalid("move needs --context '{\"destination\": \"/path\"}'"))?;
            let path = rex_auth::ResourcePath::new(&dest)?;
            let (parent, name) = match dest.rsplit_once('/') {
                Some(("", name)) => ("/".to_string(), name.to_string()),
                Some((parent, name)) => (parent.to_string(), name.to_string()),
                None => (String::new(), dest.clone()),
            };
            RequestContext::Move {
                path: path.as_str().to_string(),
                name,
                parent_path: parent,
            }
        }
        Action::FsSetXAttr => RequestContext::XAttr {
            name: str_field(&ctx, "name")?
                .ok_or_else(|| invalid("set_x_attr needs --context '{\"name\": \"user.x\"}'"))?,
        },
        Action::SysinfoResolveHostname => RequestContext::Resolve {
            resolver: str_field(&ctx, "resolver")?,
        },
        _ => RequestContext::None,
    };
    Ok((action, resource, context))
}

fn str_field(
    ctx: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ExplainError> {
    match ctx.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("context `{key}` must be a string"))),
    }
}

fn u32_field(ctx: &serde_json::Map<String, Value>, key: &str) -> Result<u32, ExplainError> {
    match ctx.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid(format!("context `{key}` must be a 32-bit unsigned number"))),
    }
}

fn execute_context(ctx: &serde_json::Map<String, Value>) -> Result<RequestContext, ExplainError> {
    let mut arguments = Vec::new();
    if let Some(args) = ctx.get("arguments") {
        let Value::Array(args) = args else {
            return Err(invalid("context `arguments` must be an array"));
        };
        for a in args {
            match a {
                Value::String(s) => arguments.push((s.clone(), None)),
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(k), Value::String(v)] => {
                        arguments.push((k.clone(), Some(v.clone())));
                    }
                    _ => return Err(invalid("an argument pair must be [\"key\", \"value\"]")),
                },
                _ => {
                    return Err(invalid(
                        "an argument must be a string or a [key, value] pair",
                    ));
                }
            }
        }
    }
    rex_auth::check_arguments(&arguments)
        .map_err(|e| ExplainError::Auth(rex_auth::AuthError::InvalidArguments(e)))?;
    let mut environment = BTreeMap::new();
    if let Some(env) = ctx.get("environment") {
        let Value::Object(env) = env else {
            return Err(invalid("context `environment` must be an object"));
        };
        for (k, v) in env {
            let Value::String(v) = v else {
                return Err(invalid("environment values must be strings"));
            };
            environment.insert(k.clone(), v.clone());
        }
    }
    let capabilities = match ctx.get("capabilities") {
        None => Vec::new(),
        Some(Value::Array(c)) => c
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("capabilities must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("context `capabilities` must be an array")),
    };
    Ok(RequestContext::Execute(Box::new(ExecuteContext {
        arguments,
        environment,
        identity: Identity {
            username: str_field(ctx, "user")?.unwrap_or_else(|| "root".into()),
            uid: u32_field(ctx, "uid")?,
            groupname: str_field(ctx, "group")?.unwrap_or_else(|| "root".into()),
            gid: u32_field(ctx, "gid")?,
        },
        namespace_target_pid: match ctx.get("namespace_target_pid") {
            None => None,
            Some(_) => Some(u32_field(ctx, "namespace_target_pid")?),
        },
        capabilities,
    })))
}

/// A `network::url` resource as the SDK builds it: the normalised URL for `GET`, the
/// `host:port` endpoint (TCP) for `connect`.
fn url_resource(action: Action, id: &str) -> Result<Resource, ExplainError> {
    if action == Action::NetworkConnect {
        let (host, port) = id
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_ascii_lowercase(), p)))
            .ok_or_else(|| invalid(format!("connect endpoint {id:?} is not HOST:PORT")))?;
        return Ok(Resource::url(
            &format!("{host}:{port}"),
            UrlAttrs {
                scheme: "tcp".into(),
                host,
                port,
                path: String::new(),
            },
        )?);
    }
    let n = rust_sdk::network::normalize_url(id).map_err(|e| invalid(e.to_string()))?;
    Ok(Resource::url(
        &n.url,
        UrlAttrs {
            scheme: n.scheme,
            host: n.host,
            port: n.port,
            path: n.path,
        },
    )?)
}

fn process_resource(id: &str, attrs: Option<&Value>) -> Result<Resource, ExplainError> {
    let pid: u32 = id
        .parse()
        .map_err(|_| invalid(format!("process id {id:?} is not a number")))?;
    let empty = serde_json::Map::new();
    let attrs = match attrs {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("context `process` must be an object")),
    };
    Ok(Resource::process(rex_auth::ProcessAttrs {
        pid,
        uid: u32_field(attrs, "uid")?,
        name: str_field(attrs, "name")?.unwrap_or_default(),
        username: str_field(attrs, "username")?.unwrap_or_default(),
        command: str_field(attrs, "command")?.unwrap_or_default(),
    }))
}

/// The text `explain` prints.
pub fn render_explanation(
    principal: &str,
    action: Action,
    resource: &Resource,
    e: &Explanation,
) -> String {
    let mut out = String::new();
    out.push_str(match e.outcome {
        Outcome::Allow if e.needs_approval() => "ALLOW-IF-APPROVED",
        Outcome::Allow => "ALLOW",
        Outcome::Deny => "DENY",
        Outcome::Error => "DENY (evaluation error)",
    });
    out.push_str(&format!(": {principal} {action} {resource}\n"));
    match e.outcome {
        Outcome::Allow => {
            out.push_str(&format!(
                "determining policies: {}\n",
                e.determining_policies.join(", ")
            ));
            if let Some(approvers) = &e.approval {
                out.push_str(&format!(
                    "needs approval (@approval(\"required\")){}\n",
                    if approvers.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", approvers.join(", "))
                    }
                ));
            }
        }
        Outcome::Deny if e.determining_policies.is_empty() => {
            out.push_str("no permit matched\n");
        }
        Outcome::Deny => {
            out.push_str(&format!(
                "determining policies (forbid): {}\n",
                e.determining_policies.join(", ")
            ));
        }
        Outcome::Error => {
            out.push_str(&format!(
                "determining policies (errored): {}\n",
                e.determining_policies.join(", ")
            ));
        }
    }
    if e.outcome != Outcome::Allow {
        if e.nearest_permits.is_empty() {
            out.push_str(&format!("nearest permits for {action}: none\n"));
        } else {
            out.push_str(&format!("nearest permits for {action}:\n"));
            for p in &e.nearest_permits {
                out.push_str(&format!("  [{}] {p}\n", p.id));
            }
        }
    }
    for err in &e.errors {
        out.push_str(&format!("error: {err}\n"));
    }
    out
}
