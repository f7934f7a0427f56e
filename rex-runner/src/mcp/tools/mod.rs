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
use super::child::{
    ChildMode, ChildRequest, ChildResponse, DecisionLog, DecisionStream, DeniedCheck, run_in_child,
};
use super::slots::SlotError;

/// How long a run's end waits for the rest of its decision stream.
const DECISION_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);
use super::config::{Agent, PolicySet};

mod definitions;
mod results;

use definitions::*;
use results::*;

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
            shadow_policies: set.child_shadow_sources(),
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
        let (response, decisions) = match self.in_child(&request, caller, ctx).await {
            Ok(r) => r,
            Err(busy) => {
                self.state.audit.write(&CallRecord::busy(
                    "run_script",
                    caller,
                    Some(set),
                    &request.script,
                ));
                return tool_error(&busy);
            }
        };
        let result = run_result(set, response.as_ref());
        self.state.audit.write(&CallRecord::run(
            "run_script",
            caller,
            set,
            &request.script,
            response.as_ref(),
            decisions,
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
            shadow_policies: Vec::new(),
            principal: None,
            script,
            args: script_args,
            timeout_ms: 30_000,
            sandbox: None,
            max_memory: None,
        };
        let response = match self.in_child(&request, caller, ctx).await {
            Ok((r, _)) => r,
            Err(busy) => {
                self.state.audit.write(&CallRecord::busy(
                    "check_script",
                    caller,
                    None,
                    &request.script,
                ));
                return tool_error(&busy);
            }
        };
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

    /// Runs `request` in a child once the caller gets a run slot. `Err` is a refusal before
    /// anything ran (the caller's queue or the queued bytes are full); otherwise the child's
    /// answer (or why there is none) and the decisions it streamed, also when it was killed,
    /// crashed or cancelled.
    async fn in_child(
        &self,
        request: &ChildRequest,
        caller: &Caller,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(Result<ChildResponse, String>, DecisionLog), String> {
        let body = match serde_json::to_vec(request) {
            Ok(b) => b,
            Err(e) => return Ok((Err(e.to_string()), DecisionLog::default())),
        };
        let (key, cap) = match caller {
            Caller::Agent(a) => (
                format!("agent:{}", a.name),
                a.max_concurrent
                    .unwrap_or(self.state.default_agent_concurrency),
            ),
            other => (other.label(), self.state.slots.total()),
        };
        let slot = tokio::select! {
            s = self.state.slots.acquire(&key, cap, body.len()) => s,
            () = ctx.ct.cancelled() => {
                return Ok((Err("the call was cancelled".into()), DecisionLog::default()));
            }
        };
        let _slot = match slot {
            Ok(s) => s,
            Err(SlotError::Closed) => {
                return Ok((
                    Err("the server is shutting down".into()),
                    DecisionLog::default(),
                ));
            }
            Err(busy) => return Err(busy.to_string()),
        };
        let stream = DecisionStream::default();
        let run = run_in_child(
            &self.state.exe,
            body,
            request.timeout_ms,
            self.state.max_memory,
            &self.state.children,
            &stream,
        );
        let response = tokio::select! {
            r = run => r.map_err(|e| e.to_string()),
            () = ctx.ct.cancelled() => Err("the call was cancelled".into()),
            () = self.state.shutdown.cancelled() => Err("the server is shutting down".into()),
        };
        // The child is gone (its tree was killed with it): what it streamed has arrived.
        Ok((response, stream.finish(DECISION_DRAIN).await))
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
            Err(e) => {
                self.state
                    .audit
                    .write(&CallRecord::looked_at("show_policy", caller, Err(named)));
                return tool_error(&e);
            }
        };
        self.state
            .audit
            .write(&CallRecord::looked_at("show_policy", caller, Ok(set)));
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
        // Counted until its audit line is written: shutdown waits for it (see `mcp::drain`).
        let _in_flight = super::InFlight::enter(&self.state);
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
        if matches!(caller, Caller::Unauthenticated) {
            return Err(ErrorData::invalid_request("not authenticated", None));
        }
        let uri = request.uri;
        if uri == CATALOG_URI {
            self.state
                .audit
                .write(&CallRecord::resource(&caller, &uri, None));
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
        let named = uri.strip_prefix(POLICY_URI_PREFIX);
        let usable = named
            .filter(|n| caller.may_use(n))
            .and_then(|n| self.state.policies.get(n));
        // Every policy probe is logged, also one for a set this caller was not given (or
        // that does not exist: the caller gets the same answer for both).
        self.state.audit.write(&CallRecord::resource(
            &caller,
            &uri,
            Some(usable.ok_or(named)),
        ));
        if let Some(set) = usable {
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
        // Issue 29, item 11: nothing but a positive integer is a timeout.
        for bad in [
            json!(-1),
            json!(0),
            json!(1.5),
            json!(1e300),
            json!(-1e300),
            json!("nan"),
            json!("inf"),
            json!("5"),
            json!(true),
            json!([5]),
        ] {
            assert!(effective_timeout(Some(&bad), 60, 300).is_err(), "{bad}");
        }
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
