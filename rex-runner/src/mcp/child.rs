//! One run in its own process: the server side spawns `rex-runner mcp-child` (this binary,
//! never a shell), caps its address space, writes it a [`ChildRequest`] on standard input and
//! reads a [`ChildResponse`] from its standard output; the child side ([`child_main`]) runs
//! the script with the runner and answers.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rex_auth::{MemoryAuditSink, Outcome};
use rex_core::{Limits, ScriptArguments};
use rex_runner::{ExitStatus, Input, OutputDocument, Runner};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest request a child accepts and largest response the server reads, in bytes.
const MAX_MESSAGE_BYTES: u64 = 64 * 1024 * 1024;

/// Extra time the server gives a child past its script timeout (the engine stops the script
/// itself at the timeout; this covers a native call that does not return) before it kills
/// the child's process group.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What the child does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChildMode {
    /// Run the script.
    Run,
    /// Compile it only.
    Check,
}

/// One policy source of the chosen set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PolicySource {
    /// Its file name (for policy ids and diagnostics).
    pub name: String,
    /// Its text, as validated at start-up.
    pub text: String,
}

/// The server's request to a child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildRequest {
    pub mode: ChildMode,
    pub policies: Vec<PolicySource>,
    /// The Cedar principal name (default: the effective user).
    pub principal: Option<String>,
    pub script: String,
    pub args: ScriptArguments,
    pub timeout_ms: u64,
    /// The kernel sandbox mode (`off`, `best-effort`, `require`; default `best-effort`).
    #[serde(default)]
    pub sandbox: Option<String>,
    /// The engine's memory budget, in bytes (below the process's address-space cap, so a
    /// hog ends with the typed memory limit before the cap aborts the process).
    #[serde(default)]
    pub max_memory: Option<usize>,
}

/// One denied check of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeniedCheck {
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The `forbid` policies that matched (empty: nothing permits it).
    pub policies: Vec<String>,
    /// Where the policy set permits the same action (each permit's resource scope).
    #[serde(default)]
    pub hint: Vec<String>,
    pub explanation: String,
}

/// One authorization decision of a run (for the audit log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decision {
    pub action: String,
    pub resource: String,
    pub decision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

/// A compile error with its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompileProblem {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// The child's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildResponse {
    pub document: OutputDocument,
    pub exit: i32,
    #[serde(default)]
    pub denials: Vec<DeniedCheck>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// Check mode: the compile error, if any.
    #[serde(default)]
    pub compile_error: Option<CompileProblem>,
}

/// The child process: reads one request from standard input, answers on standard output.
pub(crate) fn child_main() -> ExitStatus {
    if rust_sdk::runtime::child::die_with_parent().is_err() {
        return ExitStatus::Internal;
    }
    let mut bytes = Vec::new();
    if std::io::stdin()
        .lock()
        .take(MAX_MESSAGE_BYTES)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return ExitStatus::Internal;
    }
    let response = match serde_json::from_slice::<ChildRequest>(&bytes) {
        Ok(request) => answer(&request),
        Err(e) => early(
            rex_runner::ErrorType::InternalException,
            &format!("malformed request from the server: {e}"),
            ExitStatus::Internal,
        ),
    };
    let Ok(text) = serde_json::to_vec(&response) else {
        return ExitStatus::Internal;
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(&text).and_then(|()| out.flush()).is_err() {
        return ExitStatus::Internal;
    }
    ExitStatus::Success
}

fn early(error_type: rex_runner::ErrorType, message: &str, exit: ExitStatus) -> ChildResponse {
    ChildResponse {
        document: OutputDocument::early_error(error_type, message),
        exit: exit.code(),
        denials: Vec::new(),
        decisions: Vec::new(),
        compile_error: None,
    }
}

fn answer(request: &ChildRequest) -> ChildResponse {
    let mut limits = Limits {
        timeout: Some(Duration::from_millis(request.timeout_ms)),
        ..Limits::default()
    };
    if let Some(m) = request.max_memory {
        limits.max_memory = m;
    }
    let sink = Arc::new(MemoryAuditSink::new());
    let mut builder = Runner::builder()
        .limits(limits)
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(!crate::monitoring_disabled_by_env())
        .function_catalog(false)
        .standard_library(rex_core::StandardLibrary::Lazy)
        // This process runs (or checks) this one script.
        .only_for_script(&request.script)
        .audit_sink(sink.clone());
    for p in &request.policies {
        builder = builder.policy(Input::from_text(&p.name, &p.text));
    }
    let principal = match request.mode {
        ChildMode::Check => Some("check"),
        ChildMode::Run => request.principal.as_deref(),
    };
    if let Some(name) = principal {
        match rex_auth::Principal::user(name) {
            Ok(p) => builder = builder.principal(p),
            Err(e) => {
                return early(
                    rex_runner::ErrorType::ValidationException,
                    &e.to_string(),
                    ExitStatus::InvalidInput,
                );
            }
        }
    }
    let runner = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            let message = e.render();
            return early(
                rex_runner::ErrorType::ValidationException,
                &message,
                ExitStatus::InvalidInput,
            );
        }
    };
    if request.mode == ChildMode::Check {
        return check(&runner, request);
    }
    if crate::cancel_on_signals(&runner).is_err() {
        return early(
            rex_runner::ErrorType::InternalException,
            "cannot install the SIGTERM handler",
            ExitStatus::Internal,
        );
    }
    let mode = match request
        .sandbox
        .as_deref()
        .unwrap_or("best-effort")
        .parse::<rust_sdk::runtime::sandbox::SandboxMode>()
    {
        Ok(m) => m,
        Err(e) => {
            return early(
                rex_runner::ErrorType::ValidationException,
                &e.to_string(),
                ExitStatus::InvalidInput,
            );
        }
    };
    let sandbox = match crate::apply_sandbox_mode(&runner, mode) {
        Ok(s) => s,
        Err(e) => {
            return early(
                rex_runner::ErrorType::ValidationException,
                &e.to_string(),
                ExitStatus::InvalidInput,
            );
        }
    };
    let mut report = runner.run(
        &Input::from_text("script.rhai", &request.script),
        &request.args,
    );
    report.document.sandbox = Some(sandbox);
    let denials = report
        .outcome
        .denials
        .iter()
        .map(|d| DeniedCheck {
            principal: d.principal.clone(),
            action: d.action.to_string(),
            resource: d.resource.clone(),
            policies: d.reasons.clone(),
            hint: d.hint.clone(),
            explanation: d.explanation(),
        })
        .collect();
    let decisions = sink
        .take()
        .into_iter()
        .map(|r| Decision {
            action: r.action.to_string(),
            resource: r.resource,
            decision: match r.outcome {
                Outcome::Allow => "allow",
                Outcome::Deny => "deny",
                Outcome::Error => "error",
            }
            .to_string(),
            policies: r.policies,
        })
        .collect();
    ChildResponse {
        document: report.document,
        exit: report.exit.code(),
        denials,
        decisions,
        compile_error: None,
    }
}

fn check(runner: &Runner, request: &ChildRequest) -> ChildResponse {
    let (document, exit, compile_error) = match runner.check(&request.script, &request.args) {
        Ok(()) => (
            OutputDocument {
                output: "compiles".into(),
                status: rex_runner::Status::Success,
                error: None,
                alarms: Vec::new(),
                metrics: Vec::new(),
                logs: Vec::new(),
                denial: None,
                script_sha256: Some(rex_runner::sha256_hex(request.script.as_bytes())),
                policy_sha256: Vec::new(),
                dropped: None,
                limit: None,
                sandbox: None,
                shadow_divergences: None,
            },
            ExitStatus::Success,
            None,
        ),
        Err(e) => {
            let position = e.position();
            let problem = CompileProblem {
                message: e.to_string(),
                line: position.map(|p| p.line),
                column: position.map(|p| p.column),
            };
            let mut doc = OutputDocument::early_error(
                rex_runner::ErrorType::ScriptException,
                &problem.message,
            );
            doc.script_sha256 = Some(rex_runner::sha256_hex(request.script.as_bytes()));
            (doc, ExitStatus::for_error(e.kind()), Some(problem))
        }
    };
    ChildResponse {
        document,
        exit: exit.code(),
        denials: Vec::new(),
        decisions: Vec::new(),
        compile_error,
    }
}

/// Process groups of the children still running, so that shutdown can end them.
#[derive(Debug, Default)]
pub(crate) struct ChildRegistry {
    groups: std::sync::Mutex<std::collections::BTreeSet<u32>>,
}

impl ChildRegistry {
    fn add(&self, pgid: u32) {
        if let Ok(mut g) = self.groups.lock() {
            g.insert(pgid);
        }
    }

    fn remove(&self, pgid: u32) {
        if let Ok(mut g) = self.groups.lock() {
            g.remove(&pgid);
        }
    }

    /// Kills every running child's process group.
    pub(crate) fn kill_all(&self) {
        if let Ok(g) = self.groups.lock() {
            for pgid in g.iter() {
                let _ = rust_sdk::runtime::child::kill_group(*pgid);
            }
        }
    }
}

/// Kills the child's process group when dropped (the call finished, failed, or its future
/// was dropped because the client went away or the server is shutting down): whatever the
/// script started does not outlive its run.
struct GroupGuard<'a> {
    registry: &'a ChildRegistry,
    pgid: u32,
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        let _ = rust_sdk::runtime::child::kill_group(self.pgid);
        self.registry.remove(self.pgid);
    }
}

/// Why the server could not get an answer from a child.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildError {
    /// The child could not be started or limited.
    #[error("cannot start the run's process: {0}")]
    Spawn(std::io::Error),
    /// The child outlived its timeout and was killed.
    #[error("the run did not finish within its timeout of {0} s and was killed")]
    Killed(u64),
    /// The child ended without a valid answer (killed by a signal, out of memory, ...).
    #[error(
        "the run's process ended abnormally ({status}); it was probably over its memory limit of {limit_mib} MiB or crashed"
    )]
    Crashed {
        /// How it ended.
        status: String,
        /// The memory cap.
        limit_mib: u64,
    },
}

/// Runs one request in a child of `exe`, with its address space capped at `max_memory` bytes
/// and killed `KILL_GRACE` past the request's timeout.
// Spawning the server's own re-executed binary is server plumbing, not a script operation:
// the command comes from rust-sdk's runner-internal `child` module (own process group, no
// shell); tokio only drives its pipes.
#[allow(clippy::disallowed_types)]
pub(crate) async fn run_in_child(
    exe: &Path,
    request: &ChildRequest,
    max_memory: u64,
    registry: &ChildRegistry,
) -> Result<ChildResponse, ChildError> {
    let body = serde_json::to_vec(request).map_err(|e| ChildError::Spawn(e.into()))?;
    let mut cmd =
        tokio::process::Command::from(rust_sdk::runtime::child::command(exe, ["mcp-child"]));
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().map_err(ChildError::Spawn)?;
    let Some(pid) = child.id() else {
        return Err(ChildError::Spawn(std::io::Error::other("no child pid")));
    };
    registry.add(pid);
    let _guard = GroupGuard {
        registry,
        pgid: pid,
    };
    // The cap is set before the request is written: the child reads its whole request before
    // it runs anything, so no script code runs uncapped.
    rust_sdk::runtime::child::limit_address_space(pid, max_memory).map_err(ChildError::Spawn)?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ChildError::Spawn(std::io::Error::other("no child pipes")));
    };
    let deadline = Duration::from_millis(request.timeout_ms) + KILL_GRACE;
    let exchange = async move {
        // A child that dies early closes its end: the write fails, the read tells why.
        let _ = stdin.write_all(&body).await;
        drop(stdin);
        let mut out = Vec::new();
        let _ = stdout.take(MAX_MESSAGE_BYTES).read_to_end(&mut out).await;
        let status = child.wait().await;
        (out, status)
    };
    let (out, status) = match tokio::time::timeout(deadline, exchange).await {
        Ok(r) => r,
        Err(_) => return Err(ChildError::Killed(request.timeout_ms / 1000)),
    };
    match serde_json::from_slice::<ChildResponse>(&out) {
        Ok(r) => Ok(r),
        Err(_) => Err(ChildError::Crashed {
            status: match status {
                Ok(s) => describe_status(s),
                Err(e) => e.to_string(),
            },
            limit_mib: max_memory / (1024 * 1024),
        }),
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(6)) => "aborted: SIGABRT".to_string(),
        (_, Some(9)) => "killed: SIGKILL".to_string(),
        (_, Some(11)) => "crashed: SIGSEGV".to_string(),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => "unknown status".to_string(),
    }
}
