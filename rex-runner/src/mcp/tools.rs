//! The MCP handler: the four tools (`run_script`, `check_script`, `list_functions`,
//! `show_policy`), their schemas, and the policies and function catalog as resources.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rex_core::{ScriptArgumentValue, ScriptArguments};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::State;
use super::audit::CallRecord;
use super::child::{ChildMode, ChildRequest, ChildResponse, DeniedCheck, run_in_child};
use super::config::{Agent, PolicySet};

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The stdio client: the OS user that started the server (every policy set).
    Local {
        /// The user's name.
        user: String,
    },
    /// An authenticated HTTP agent (its policy sets only).
    Agent(Arc<Agent>),
    /// An HTTP request without an authenticated agent (never served: fail closed).
    Unauthenticated,
}

impl Caller {
    fn label(&self) -> String {
        match self {
            Caller::Local { user } => format!("user:{user}"),
            Caller::Agent(a) => format!("agent:{}", a.name),
            Caller::Unauthenticated => "unauthenticated".into(),
        }
    }

    fn may_use(&self, set: &str) -> bool {
        match self {
            Caller::Local { .. } => true,
            Caller::Agent(a) => a.policies.iter().any(|p| p == set),
            Caller::Unauthenticated => false,
        }
    }
}

/// The handler; one per stdio connection or HTTP session (all share the [`State`]).
#[derive(Clone)]
pub(crate) struct RexMcp {
    pub(crate) state: Arc<State>,
    /// Whether this handler serves HTTP (callers come from the request's extensions).
    pub(crate) http: bool,
}

impl RexMcp {
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Caller {
        if !self.http {
            return Caller::Local {
                user: self.state.os_user.clone(),
            };
        }
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Agent>>())
            .map(|a| Caller::Agent(a.clone()))
            .unwrap_or(Caller::Unauthenticated)
    }

    fn usable_sets<'a>(&'a self, caller: &Caller) -> Vec<&'a PolicySet> {
        self.state
            .policies
            .values()
            .filter(|s| caller.may_use(&s.name))
            .collect()
    }

    /// The set a call names (or the only one this caller may use).
    fn choose_set(&self, caller: &Caller, named: Option<&str>) -> Result<&PolicySet, String> {
        let usable = self.usable_sets(caller);
        let names = || {
            usable
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match named {
            None => match usable.as_slice() {
                [one] => Ok(one),
                [] => Err("no policy set is available to this caller".into()),
                _ => Err(format!(
                    "name a policy set with `policy`: one of {}",
                    names()
                )),
            },
            // An unknown set and a set this caller was not given get the same answer, so
            // that an agent cannot probe which other sets exist.
            Some(name) => usable
                .iter()
                .find(|s| s.name == name)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "policy set {name:?} is not available to {}; the sets it may use: {}",
                        caller.label(),
                        if usable.is_empty() {
                            "none".to_string()
                        } else {
                            names()
                        }
                    )
                }),
        }
    }

    async fn run_script(
        &self,
        args: &JsonObject,
        caller: &Caller,
        ctx: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let script = match args.get("script") {
            Some(Value::String(s)) => s.clone(),
            _ => return tool_error("`script` (a string) is required"),
        };
        let policy_name = match args.get("policy") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return tool_error("`policy` must be a string"),
        };
        let script_args = match args.get("args") {
            None | Some(Value::Null) => ScriptArguments::new(),
            Some(Value::Object(m)) => match plain_args(m) {
                Ok(a) => a,
                Err(e) => return tool_error(&e),
            },
            Some(_) => return tool_error("`args` must be an object"),
        };
        let timeout = match effective_timeout(
            args.get("timeout_seconds"),
            self.state.default_timeout_secs,
            self.state.max_timeout_secs,
        ) {
            Ok(t) => t,
            Err(e) => return tool_error(e),
        };
        let set = match self.choose_set(caller, policy_name) {
            Ok(s) => s,
            Err(e) => {
                self.state.audit.write(&CallRecord::refused(
                    "run_script",
                    caller,
                    policy_name,
                    &script,
                    &e,
                ));
                return tool_error(&e);
            }
        };
        let request = ChildRequest {
            mode: ChildMode::Run,
            policies: set.child_sources(),
            principal: match caller {
                Caller::Agent(a) => Some(a.name.clone()),
                _ => None,
            },
            script,
            args: script_args,
            timeout_ms: timeout.saturating_mul(1000),
            sandbox: Some(self.state.sandbox.mode().as_str().to_string()),
            // Three quarters of the address-space cap: the engine's typed limit fires first.
            max_memory: usize::try_from(self.state.max_memory / 4 * 3).ok(),
        };
        let response = self.in_child(&request, ctx).await;
        let result = run_result(set, response.as_ref());
        self.state.audit.write(&CallRecord::run(
            "run_script",
            caller,
            set,
            &request.script,
            response.as_ref(),
        ));
        result
    }

    async fn check_script(
        &self,
        args: &JsonObject,
        caller: &Caller,
        ctx: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let script = match args.get("script") {
            Some(Value::String(s)) => s.clone(),
            _ => return tool_error("`script` (a string) is required"),
        };
        let names: Vec<String> = match args.get("arg_names") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let mut script_args = ScriptArguments::new();
        for n in names {
            script_args.insert(n, ScriptArgumentValue::StringValue(String::new()));
        }
        let request = ChildRequest {
            mode: ChildMode::Check,
            policies: Vec::new(),
            principal: None,
            script,
            args: script_args,
            timeout_ms: 30_000,
            sandbox: None,
            max_memory: None,
        };
        let response = self.in_child(&request, ctx).await;
        self.state.audit.write(&CallRecord::check(
            caller,
            &request.script,
            response.as_ref(),
        ));
        match response {
            Ok(r) => {
                let ok = r.compile_error.is_none() && r.exit == 0;
                let structured = json!({
                    "ok": ok,
                    "error": r.compile_error.as_ref().map(|e| json!({
                        "message": e.message, "line": e.line, "column": e.column,
                    })),
                });
                let text = match &r.compile_error {
                    None if ok => "ok: the script compiles".to_string(),
                    None => r
                        .document
                        .error
                        .as_ref()
                        .map(|e| e.message.clone())
                        .unwrap_or_default(),
                    Some(e) => match (e.line, e.column) {
                        (Some(l), Some(c)) => {
                            format!("error at line {l}, column {c}: {}", e.message)
                        }
                        _ => format!("error: {}", e.message),
                    },
                };
                let mut res = if ok {
                    CallToolResult::success(vec![ContentBlock::text(text)])
                } else {
                    CallToolResult::error(vec![ContentBlock::text(text)])
                };
                res.structured_content = Some(structured);
                res
            }
            Err(e) => tool_error(&e),
        }
    }

    async fn in_child(
        &self,
        request: &ChildRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ChildResponse, String> {
        let Ok(_permit) = self.state.runs.clone().acquire_owned().await else {
            return Err("the server is shutting down".into());
        };
        let run = run_in_child(
            &self.state.exe,
            request,
            self.state.max_memory,
            &self.state.children,
        );
        tokio::select! {
            r = run => r.map_err(|e| e.to_string()),
            () = ctx.ct.cancelled() => Err("the call was cancelled".into()),
            () = self.state.shutdown.cancelled() => Err("the server is shutting down".into()),
        }
    }

    fn list_functions(&self, args: &JsonObject) -> CallToolResult {
        let module = args.get("module").and_then(Value::as_str);
        let functions = super::catalog::functions(module);
        let text = functions
            .iter()
            .map(|f| {
                format!(
                    "{}  — {}",
                    f["signature"].as_str().unwrap_or_default(),
                    f["doc"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut res = CallToolResult::success(vec![ContentBlock::text(if text.is_empty() {
            format!(
                "no functions in module {:?}; modules: {}",
                module.unwrap_or_default(),
                super::catalog::modules().join(", ")
            )
        } else {
            text
        })]);
        res.structured_content = Some(json!({ "functions": functions }));
        res
    }

    fn show_policy(&self, args: &JsonObject, caller: &Caller) -> CallToolResult {
        let named = args.get("policy").and_then(Value::as_str);
        let set = match self.choose_set(caller, named) {
            Ok(s) => s,
            Err(e) => return tool_error(&e),
        };
        let permits: Vec<String> = set
            .rules
            .iter()
            .filter(|r| r.permit)
            .map(|r| r.describe())
            .collect();
        let forbids: Vec<String> = set
            .rules
            .iter()
            .filter(|r| !r.permit)
            .map(|r| r.describe())
            .collect();
        let text = format!(
            "policy set {} (sha256 {}): everything not permitted is denied.\npermits:\n{}\nforbids (these win over any permit):\n{}\n\n{}",
            set.name,
            set.sha256,
            bullet(&permits),
            bullet(&forbids),
            set.text()
        );
        let mut res = CallToolResult::success(vec![ContentBlock::text(text)]);
        res.structured_content = Some(json!({
            "policy": set.name,
            "sha256": set.sha256,
            "text": set.text(),
            "permits": permits,
            "forbids": forbids,
        }));
        res
    }
}

/// The run's timeout in seconds: the call's `timeout_seconds` (or the server's default),
/// capped by the server's maximum.
fn effective_timeout(
    requested: Option<&Value>,
    default: u64,
    max: u64,
) -> Result<u64, &'static str> {
    match requested {
        None | Some(Value::Null) => Ok(default.min(max)),
        Some(v) => match v.as_u64() {
            Some(t) if t >= 1 => Ok(t.min(max)),
            _ => Err("`timeout_seconds` must be a positive integer"),
        },
    }
}

fn bullet(lines: &[String]) -> String {
    if lines.is_empty() {
        return "  (none)".into();
    }
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tool error that did not run anything (no structured content).
fn tool_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

/// Plain JSON arguments to REX's typed values: strings, booleans, integers (64-bit), other
/// numbers (doubles), arrays and objects. `null` has no Rhai counterpart and is refused.
fn plain_args(m: &serde_json::Map<String, Value>) -> Result<ScriptArguments, String> {
    fn value(v: &Value, at: &str) -> Result<ScriptArgumentValue, String> {
        Ok(match v {
            Value::String(s) => ScriptArgumentValue::StringValue(s.clone()),
            Value::Bool(b) => ScriptArgumentValue::BooleanValue(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ScriptArgumentValue::LongValue(i),
                None => ScriptArgumentValue::DoubleValue(
                    n.as_f64()
                        .ok_or_else(|| format!("argument {at}: number out of range"))?,
                ),
            },
            Value::Array(items) => ScriptArgumentValue::ListValue(
                items
                    .iter()
                    .map(|i| value(i, at))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => ScriptArgumentValue::MapValue(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), value(v, at)?)))
                    .collect::<Result<BTreeMap<_, _>, String>>()?,
            ),
            Value::Null => return Err(format!("argument {at}: null is not a script value")),
        })
    }
    let mut args = ScriptArguments::new();
    for (k, v) in m {
        args.insert(k.clone(), value(v, k)?);
    }
    Ok(args)
}

/// The `run_script` result: the `-o json` document plus `denials`, a short summary, and
/// `isError` unless SUCCESS.
fn run_result(set: &PolicySet, response: Result<&ChildResponse, &String>) -> CallToolResult {
    let r = match response {
        Ok(r) => r,
        Err(message) => {
            let doc = rex_runner::OutputDocument::early_error(
                rex_runner::ErrorType::ScriptException,
                message,
            );
            let mut structured = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
            if let Value::Object(m) = &mut structured {
                m.insert("denials".into(), json!([]));
                m.insert("policy".into(), json!(set.name));
            }
            let mut res = CallToolResult::error(vec![ContentBlock::text(format!(
                "ERROR (SCRIPT_EXCEPTION): {message}"
            ))]);
            res.structured_content = Some(structured);
            return res;
        }
    };
    let denials: Vec<Value> = r
        .denials
        .iter()
        .map(|d| {
            json!({
                "action": d.action,
                "resource": d.resource,
                "principal": d.principal,
                "determining_policies": d.policies,
                "hint": d.hint,
                "reason": denial_reason(set, d),
            })
        })
        .collect();
    let mut structured = serde_json::to_value(&r.document).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut structured {
        m.insert("denials".into(), Value::Array(denials.clone()));
        m.insert("policy".into(), json!(set.name));
    }
    let success = r.document.status == rex_runner::Status::Success;
    let mut text = match &r.document.error {
        None => format!("SUCCESS: {}", clip(&r.document.output, 4000)),
        Some(e) => format!("ERROR ({}): {}", e.error_type.as_str(), e.message),
    };
    for d in &denials {
        text.push_str(&format!(
            "\ndenied: {} on {}: {}",
            d["action"].as_str().unwrap_or_default(),
            d["resource"].as_str().unwrap_or_default(),
            d["reason"].as_str().unwrap_or_default()
        ));
    }
    let mut res = if success {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(text)])
    };
    res.structured_content = Some(structured);
    res
}

/// Why a check was denied, and what the policy does allow for the same action (the denial's
/// `hint`, which rex-auth computed from the same policies, action groups included).
fn denial_reason(set: &PolicySet, d: &DeniedCheck) -> String {
    let (action, explanation, nearby) = (&d.action, &d.explanation, &d.hint);
    if nearby.is_empty() {
        format!(
            "{explanation}; policy set {} permits {action} on nothing",
            set.name
        )
    } else {
        format!(
            "{explanation}; policy set {} permits {action} only on: {}",
            set.name,
            nearby.join("; ")
        )
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("... (truncated; the whole output is in structuredContent.output)");
    out
}

fn schema(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The tools, with their input and output schemas.
pub(crate) fn tools() -> Vec<Tool> {
    let run = Tool::new(
        "run_script",
        "Run a Rhai script on this host under a Cedar policy set. Every host operation \
         (files, processes, network, services) is checked against the policy; anything not \
         permitted is denied. Returns the run's output document (status, output, error, \
         logs, metrics, hashes) and the denied checks with what the policy allows instead. \
         Use list_functions for the script API and show_policy for what a set permits.",
        schema(json!({
            "type": "object",
            "properties": {
                "script": {"type": "string", "description": "The Rhai script. Its final value is the output."},
                "policy": {"type": "string", "description": "The policy set to run under (may be omitted when only one is available)."},
                "args": {"type": "object", "description": "Variables bound in the script: plain JSON values (no null).", "additionalProperties": true},
                "timeout_seconds": {"type": "integer", "minimum": 1, "description": "Stop the script after this many seconds (capped by the server)."}
            },
            "required": ["script"],
            "additionalProperties": false
        })),
    )
    .with_title("Run a Rex script")
    .with_raw_output_schema(schema(json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["SUCCESS", "ERROR"]},
            "output": {"type": "string"},
            "error": {"type": "object", "properties": {
                "error_type": {"type": "string"}, "message": {"type": "string"}}},
            "alarms": {"type": "array"},
            "metrics": {"type": "array"},
            "logs": {"type": "array"},
            "denial": {"type": "object"},
            "script_sha256": {"type": "string"},
            "policy_sha256": {"type": "array", "items": {"type": "string"}},
            "policy": {"type": "string"},
            "denials": {"type": "array", "items": {"type": "object", "properties": {
                "action": {"type": "string"}, "resource": {"type": "string"},
                "principal": {"type": "string"}, "reason": {"type": "string"},
                "determining_policies": {"type": "array", "items": {"type": "string"}},
                "hint": {"type": "array", "items": {"type": "string"}}},
                "required": ["action", "resource", "principal", "reason"]}}
        },
        "required": ["status", "output", "denials"]
    })))
    .annotate(
        ToolAnnotations::with_title("Run a Rex script")
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(true),
    );
    let check = Tool::new(
        "check_script",
        "Compile a Rhai script without running it; reports a syntax error with its line and column.",
        schema(json!({
            "type": "object",
            "properties": {
                "script": {"type": "string"},
                "arg_names": {"type": "array", "items": {"type": "string"}, "description": "Names of the variables run_script would bind from `args`."}
            },
            "required": ["script"],
            "additionalProperties": false
        })),
    )
    .with_title("Check a Rex script")
    .with_raw_output_schema(schema(json!({
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "error": {"type": ["object", "null"], "properties": {
                "message": {"type": "string"}, "line": {"type": ["integer", "null"]},
                "column": {"type": ["integer", "null"]}}}
        },
        "required": ["ok"]
    })))
    .annotate(
        ToolAnnotations::with_title("Check a Rex script")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    let list = Tool::new(
        "list_functions",
        "The script API: every function a script can call, its signature, the Cedar actions \
         it checks (as Cedar action UIDs) and a one-line description.",
        schema(json!({
            "type": "object",
            "properties": {
                "module": {"type": "string", "description": "Only this module (io, process, network, system, systemd, ...)."}
            },
            "additionalProperties": false
        })),
    )
    .with_title("List the script functions")
    .with_raw_output_schema(schema(json!({
        "type": "object",
        "properties": {"functions": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "module": {"type": "string"},
            "signature": {"type": "string"},
            "actions": {"type": "array", "items": {"type": "string"}},
            "doc": {"type": "string"}}}}},
        "required": ["functions"]
    })))
    .annotate(
        ToolAnnotations::with_title("List the script functions")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    let show = Tool::new(
        "show_policy",
        "A policy set's Cedar text and a summary of what it permits and forbids.",
        schema(json!({
            "type": "object",
            "properties": {
                "policy": {"type": "string", "description": "The policy set (may be omitted when only one is available)."}
            },
            "additionalProperties": false
        })),
    )
    .with_title("Show a policy set")
    .with_raw_output_schema(schema(json!({
        "type": "object",
        "properties": {
            "policy": {"type": "string"}, "sha256": {"type": "string"}, "text": {"type": "string"},
            "permits": {"type": "array", "items": {"type": "string"}},
            "forbids": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["policy", "sha256", "text", "permits", "forbids"]
    })))
    .annotate(
        ToolAnnotations::with_title("Show a policy set")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    vec![run, check, list, show]
}

const CATALOG_URI: &str = "rex://functions";
const POLICY_URI_PREFIX: &str = "rex://policy/";

impl ServerHandler for RexMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("rex-runner", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Rex runs Rhai scripts on this host under Cedar policy sets. Call list_functions \
             for the script API, show_policy to see what a set permits, check_script to \
             compile, run_script to run. Denied operations are reported in `denials` with \
             what the policy allows instead.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context);
        if matches!(caller, Caller::Unauthenticated) {
            return Err(ErrorData::invalid_request("not authenticated", None));
        }
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "run_script" => self.run_script(&args, &caller, &context).await,
            "check_script" => self.check_script(&args, &caller, &context).await,
            "list_functions" => self.list_functions(&args),
            "show_policy" => self.show_policy(&args, &caller),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&context);
        let mut resources = vec![
            Resource::new(CATALOG_URI, "functions")
                .with_title("Rex script functions")
                .with_description("The script API (as list_functions returns it), as JSON.")
                .with_mime_type("application/json"),
        ];
        for set in self.usable_sets(&caller) {
            resources.push(
                Resource::new(format!("{POLICY_URI_PREFIX}{}", set.name), set.name.clone())
                    .with_title(format!("Policy set {}", set.name))
                    .with_description(format!("Cedar text of policy set {}.", set.name))
                    .with_mime_type("text/x-cedar"),
            );
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = self.caller(&context);
        let uri = request.uri;
        if uri == CATALOG_URI {
            let text = serde_json::to_string_pretty(&json!({
                "functions": super::catalog::functions(None)
            }))
            .unwrap_or_default();
            return Ok(
                ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
                    uri,
                    mime_type: Some("application/json".into()),
                    text,
                    meta: None,
                }])
                .into(),
            );
        }
        if let Some(name) = uri.strip_prefix(POLICY_URI_PREFIX)
            && caller.may_use(name)
            && let Some(set) = self.state.policies.get(name)
        {
            return Ok(
                ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
                    uri: uri.clone(),
                    mime_type: Some("text/x-cedar".into()),
                    text: set.text(),
                    meta: None,
                }])
                .into(),
            );
        }
        Err(ErrorData::resource_not_found(
            Cow::Owned(format!("no resource {uri}")),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_timeout_is_capped_by_the_server() {
        assert_eq!(effective_timeout(Some(&json!(600)), 60, 300), Ok(300));
        assert_eq!(effective_timeout(Some(&json!(5)), 60, 300), Ok(5));
        assert_eq!(effective_timeout(None, 60, 30), Ok(30));
        assert_eq!(effective_timeout(Some(&Value::Null), 60, 300), Ok(60));
        assert!(effective_timeout(Some(&json!(0)), 60, 300).is_err());
        assert!(effective_timeout(Some(&json!(-3)), 60, 300).is_err());
        assert!(effective_timeout(Some(&json!("9")), 60, 300).is_err());
    }

    #[test]
    fn plain_json_maps_to_typed_arguments() {
        let m = json!({"s": "x", "n": 3, "f": 1.5, "b": true, "l": [1, "a"], "o": {"k": 2}});
        let args = plain_args(m.as_object().unwrap()).unwrap();
        assert_eq!(args.values["n"], ScriptArgumentValue::LongValue(3));
        assert_eq!(args.values["f"], ScriptArgumentValue::DoubleValue(1.5));
        assert_eq!(args.values["b"], ScriptArgumentValue::BooleanValue(true));
        assert!(matches!(
            args.values["l"],
            ScriptArgumentValue::ListValue(_)
        ));
        assert!(matches!(args.values["o"], ScriptArgumentValue::MapValue(_)));
        assert!(plain_args(json!({"x": null}).as_object().unwrap()).is_err());
    }
}
