//! What a tool call answers: the effective timeout, script arguments from plain JSON, and a run's result, denial or error as tool content.

use super::*;

/// The run's timeout in seconds: the call's `timeout_seconds` (or the server's default),
/// capped by the server's maximum.
pub(super) fn effective_timeout(
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

pub(super) fn bullet(lines: &[String]) -> String {
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
pub(super) fn tool_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

/// Plain JSON arguments to REX's typed values: strings, booleans, integers (64-bit), other
/// numbers (doubles), arrays and objects. `null` has no Rhai counterpart and is refused.
pub(super) fn plain_args(m: &serde_json::Map<String, Value>) -> Result<ScriptArguments, String> {
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
pub(super) fn run_result(
    set: &PolicySet,
    response: Result<&ChildResponse, &String>,
) -> CallToolResult {
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
pub(super) fn denial_reason(set: &PolicySet, d: &DeniedCheck) -> String {
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

pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("... (truncated; the whole output is in structuredContent.output)");
    out
}
