//! The four tools as clients list them: names, descriptions and input schemas.

use super::*;

pub(super) fn schema(v: Value) -> Arc<JsonObject> {
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
