//! The output document (REX's `RunnerExecutionOutput` shape) and its three renderings.

use serde::{Deserialize, Serialize};

use rex_logging::LogEntry;

/// `SUCCESS` or `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The script ran to completion.
    Success,
    /// Something failed; see `error`.
    Error,
}

/// REX's error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorType {
    /// Invalid input (policy, arguments).
    ValidationException,
    /// Cedar denied an operation.
    AccessDeniedException,
    /// A bug in Rex.
    InternalException,
    /// The script failed (including limits and timeouts).
    ScriptException,
    /// An input file could not be read.
    CommunicationException,
}

impl ErrorType {
    /// REX's spelling, as serialized (`"ACCESS_DENIED_EXCEPTION"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ValidationException => "VALIDATION_EXCEPTION",
            ErrorType::AccessDeniedException => "ACCESS_DENIED_EXCEPTION",
            ErrorType::InternalException => "INTERNAL_EXCEPTION",
            ErrorType::ScriptException => "SCRIPT_EXCEPTION",
            ErrorType::CommunicationException => "COMMUNICATION_EXCEPTION",
        }
    }
}

/// The `error` member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The class of error.
    pub error_type: ErrorType,
    /// What happened (at most 1024 characters).
    pub message: String,
}

/// Rex addition: the structured denial behind an `ACCESS_DENIED_EXCEPTION`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenialInfo {
    /// The principal.
    pub principal: String,
    /// The action that was denied.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// The `forbid` policies that matched (empty: no policy permits it).
    pub policies: Vec<String>,
    /// The determining policies (the same ids as `policies`; empty when no permit matched).
    #[serde(default)]
    pub determining_policies: Vec<String>,
    /// Where the policy set permits the same action: each permit's resource scope, e.g.
    /// `resource in file_system::Dir::"/var/log"` (policy text only).
    #[serde(default)]
    pub hint: Vec<String>,
    /// One-line explanation.
    pub explanation: String,
    /// Why, beyond the policies' decision: `approval required`, `approval declined`,
    /// `approval timed out` (a permit with `@approval("required")`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DenialInfo {
    /// The structured denial of a typed [`rex_auth::Denied`].
    pub fn of(d: &rex_auth::Denied) -> Self {
        DenialInfo {
            principal: d.principal.clone(),
            action: d.action.to_string(),
            resource: d.resource.clone(),
            policies: d.reasons.clone(),
            determining_policies: d.reasons.clone(),
            hint: d.hint.clone(),
            explanation: d.explanation(),
            reason: d.reason.clone(),
        }
    }
}

/// The document printed by the runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDocument {
    /// Rhai's rendering of the script's final value (`""` on error).
    pub output: String,
    /// `SUCCESS` or `ERROR`.
    pub status: Status,
    /// The error, when `status` is `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Alarms raised by the runner and the script.
    #[serde(default)]
    pub alarms: Vec<serde_json::Value>,
    /// Metrics of the runner and the script.
    #[serde(default)]
    pub metrics: Vec<serde_json::Value>,
    /// Script logs.
    #[serde(default)]
    pub logs: Vec<LogEntry>,
    /// Rex addition: the denial behind an access-denied error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<DenialInfo>,
    /// Rex addition: the limit that ended the run (`"memory"`, `"timeout"`, ...), beside a
    /// `SCRIPT_EXCEPTION` caused by one (REX's error types have no limit type, and its
    /// `error` object keeps exactly its two fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<rex_core::LimitKind>,
    /// Rex addition: SHA-256 of the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_sha256: Option<String>,
    /// Rex addition: SHA-256 of each policy file, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_sha256: Vec<String>,
    /// Rex addition: what was left out to keep the document under its size cap
    /// ([`cap_document`]); absent when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DroppedInfo>,
    /// Rex addition: the kernel sandbox the run was confined in (`mode`, `status`,
    /// `landlock_abi`, ...); set by the CLI, absent for embedders that apply none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<serde_json::Value>,
    /// Rex addition: with shadow policies (`--shadow-policy`), how many of the run's
    /// requests they decided otherwise than the enforced policies (each one is in the audit
    /// log with its `shadow` decision); absent without shadow policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_divergences: Option<u64>,
}

/// Default cap of the output document (its compact JSON), in bytes: 16 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Rex addition: what [`cap_document`] left out of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedInfo {
    /// The cap, in bytes of compact JSON.
    pub max_document_bytes: usize,
    /// Bytes cut from the end of `output`.
    pub output_bytes: usize,
    /// Script log entries left out (the last ones).
    pub logs: usize,
    /// Script metrics left out (the last ones published).
    pub metrics: usize,
    /// Script alarms left out (the last ones published).
    pub alarms: usize,
}

fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// Bytes a character takes inside a JSON string (as serde_json escapes it).
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Keeps `doc` (as compact JSON) within `max_bytes`, and says in [`OutputDocument::dropped`]
/// what was left out. The error, the denial, the hashes and the runner's own metrics and
/// alarms (the first `runner_metrics` / `runner_alarms` entries) are always kept; then, while
/// they fit and in this order, the script's output (cut at a character boundary), its logs,
/// its metrics and its alarms. A document that fits is not changed.
pub fn cap_document(
    doc: &mut OutputDocument,
    max_bytes: usize,
    runner_metrics: usize,
    runner_alarms: usize,
) {
    if json_len(doc) <= max_bytes {
        return;
    }
    let output = std::mem::take(&mut doc.output);
    let logs = std::mem::take(&mut doc.logs);
    let metrics = doc.metrics.split_off(runner_metrics.min(doc.metrics.len()));
    let alarms = doc.alarms.split_off(runner_alarms.min(doc.alarms.len()));
    // The fixed part, with room for the largest `dropped` member.
    doc.dropped = Some(DroppedInfo {
        max_document_bytes: usize::MAX,
        output_bytes: usize::MAX,
        logs: usize::MAX,
        metrics: usize::MAX,
        alarms: usize::MAX,
    });
    let mut used = json_len(doc);
    let mut dropped = DroppedInfo {
        max_document_bytes: max_bytes,
        ..DroppedInfo::default()
    };
    let mut cut = output.len();
    for (i, c) in output.char_indices() {
        let n = json_char_len(c);
        if used + n > max_bytes {
            cut = i;
            break;
        }
        used += n;
    }
    dropped.output_bytes = output.len() - cut;
    doc.output = output;
    doc.output.truncate(cut);
    // Each kept element costs its JSON and a comma.
    let mut fits = |n: usize| {
        let ok = used + n < max_bytes;
        if ok {
            used += n + 1;
        }
        ok
    };
    let mut full = false;
    for l in logs {
        if !full && fits(json_len(&l)) {
            doc.logs.push(l);
        } else {
            full = true;
            dropped.logs += 1;
        }
    }
    for m in metrics {
        if !full && fits(json_len(&m)) {
            doc.metrics.push(m);
        } else {
            full = true;
            dropped.metrics += 1;
        }
    }
    for a in alarms {
        if !full && fits(json_len(&a)) {
            doc.alarms.push(a);
        } else {
            full = true;
            dropped.alarms += 1;
        }
    }
    doc.dropped = Some(dropped);
}

/// Longest error message in the document, in characters.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1024;

impl OutputDocument {
    /// A failed run that never reached the script.
    pub fn early_error(error_type: ErrorType, message: &str) -> Self {
        OutputDocument {
            output: String::new(),
            status: Status::Error,
            error: Some(ErrorInfo {
                error_type,
                message: truncate_message(message),
            }),
            alarms: Vec::new(),
            metrics: Vec::new(),
            logs: Vec::new(),
            denial: None,
            limit: None,
            script_sha256: None,
            policy_sha256: Vec::new(),
            dropped: None,
            sandbox: None,
            shadow_divergences: None,
        }
    }
}

/// Caps a message at [`MAX_ERROR_MESSAGE_CHARS`] characters, ending in `...` when cut.
pub fn truncate_message(message: &str) -> String {
    if message.chars().count() <= MAX_ERROR_MESSAGE_CHARS {
        return message.to_string();
    }
    let mut s: String = message.chars().take(MAX_ERROR_MESSAGE_CHARS - 3).collect();
    s.push_str("...");
    s
}

/// How to print the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// One compact JSON line (REX's default).
    #[default]
    Json,
    /// Indented JSON.
    PrettyJson,
    /// The output on stdout, or `error: ...` on stderr.
    Human,
}

/// What to write where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
}

/// Renders the document. `verbose` adds logs and metrics to the human format.
pub fn render(doc: &OutputDocument, format: OutputFormat, verbose: bool) -> Rendered {
    let json = |pretty: bool| {
        let r = if pretty {
            serde_json::to_string_pretty(doc)
        } else {
            serde_json::to_string(doc)
        };
        r.unwrap_or_else(|e| {
            format!(
                "{{\"output\":\"\",\"status\":\"ERROR\",\"error\":{{\"error_type\":\"INTERNAL_EXCEPTION\",\"message\":{}}}}}",
                serde_json::Value::String(e.to_string())
            )
        })
    };
    match format {
        OutputFormat::Json => Rendered {
            stdout: json(false) + "\n",
            stderr: String::new(),
        },
        OutputFormat::PrettyJson => Rendered {
            stdout: json(true) + "\n",
            stderr: String::new(),
        },
        OutputFormat::Human => {
            let mut out = String::new();
            let mut err = String::new();
            if verbose {
                for l in &doc.logs {
                    let line = l
                        .line_number
                        .map(|n| format!(" (line {n})"))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "[{}] {}{line}\n",
                        serde_json::to_value(l.level)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                        l.message
                    ));
                }
            }
            match (&doc.status, &doc.error) {
                (Status::Success, _) | (_, None) => {
                    out.push_str(&doc.output);
                    out.push('\n');
                }
                (Status::Error, Some(e)) => {
                    err.push_str(&format!("error: {}\n", e.message));
                    if let Some(d) = &doc.denial {
                        err.push_str(&format!(
                            "  denied: {} may not perform {} on {}: {}\n",
                            d.principal, d.action, d.resource, d.explanation
                        ));
                        if d.hint.is_empty() {
                            err.push_str(
                                "  hint: the policy permits this action on nothing; change the script, or ask the host owner to grant it\n",
                            );
                        } else {
                            err.push_str(&format!(
                                "  hint: the policy permits {} only on: {}\n",
                                d.action,
                                d.hint.join("; ")
                            ));
                        }
                    }
                }
            }
            if verbose && !doc.metrics.is_empty() {
                out.push_str("--- metrics ---\n");
                for m in &doc.metrics {
                    let name = m.get("metric_name").and_then(|v| v.as_str()).unwrap_or("?");
                    let value = m
                        .get("metric_value")
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    out.push_str(&format!("{name}: {value}\n"));
                }
            }
            Rendered {
                stdout: out,
                stderr: err,
            }
        }
    }
}
