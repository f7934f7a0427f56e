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
    /// One-line explanation.
    pub explanation: String,
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
                        err.push_str(
                            "  hint: change the script to stay within the policy, or ask the host owner to grant this action\n",
                        );
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
