//! One run in its own process: the server side spawns `rex-runner mcp-child` (this binary,
//! never a shell), caps its address space, writes it a [`ChildRequest`] on standard input and
//! reads a [`ChildResponse`] from its standard output; the child side ([`child_main`]) runs
//! the script with the runner and answers.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    /// The set's shadow policies (decided, never enforced).
    #[serde(default)]
    pub shadow_policies: Vec<PolicySource>,
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
    /// The principal (`User::"agent"`), for `replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub action: String,
    pub resource: String,
    /// A process's or URL's attributes (rex_auth::RecordedRequest), for `replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<serde_json::Value>,
    /// The secret-free structured context (rex_auth::RecordedRequest), for `replay`.
    #[serde(default, skip_serializing_if = "context_is_empty")]
    pub context: serde_json::Value,
    pub decision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The shadow set's diverging decision, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<rex_logging::AuditShadow>,
}

fn context_is_empty(v: &serde_json::Value) -> bool {
    v.is_null() || v.as_object().is_some_and(serde_json::Map::is_empty)
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
        compile_error: None,
    }
}

/// The child's audit sink: every decision goes to standard error as one JSON line, written
/// (one `write` of the whole line, standard error is unbuffered) when Cedar decides, before
/// the operation runs. The server reads the lines as they come, so a run that is killed,
/// crashes or answers past the response cap still has its decisions in the audit log.
/// Executed programs never share this stream (rust-sdk pipes their output to the runner).
struct StreamingSink;

impl rex_auth::AuditSink for StreamingSink {
    fn record(&self, record: &rex_auth::DecisionRecord<'_>) {
        let request = rex_auth::RecordedRequest::of(
            record.principal,
            record.action,
            record.resource,
            record.context,
        );
        let decision = Decision {
            principal: Some(request.principal),
            action: request.action,
            resource: request.resource,
            resource_attributes: request.resource_attributes,
            context: request.context,
            decision: record.outcome.as_str().to_string(),
            policies: record.policies.to_vec(),
            shadow: record.shadow.map(|s| rex_logging::AuditShadow {
                decision: rex_runner::audit_decision(s.outcome),
                determining_policies: s.policies.to_vec(),
            }),
        };
        if let Ok(mut line) = serde_json::to_vec(&decision) {
            line.push(b'\n');
            let _ = std::io::stderr().lock().write_all(&line);
        }
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
    let mut builder = Runner::builder()
        .limits(limits)
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(!crate::monitoring_disabled_by_env())
        .function_catalog(false)
        .standard_library(rex_core::StandardLibrary::Lazy)
        // This process runs (or checks) this one script.
        .only_for_script(&request.script)
        .audit_sink(Arc::new(StreamingSink));
    for p in &request.policies {
        builder = builder.policy(Input::from_text(&p.name, &p.text));
    }
    for p in &request.shadow_policies {
        builder = builder.shadow_policy(Input::from_text(&p.name, &p.text));
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
    ChildResponse {
        document: report.document,
        exit: report.exit.code(),
        denials,
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
        compile_error,
    }
}

/// The runs' processes still running, so that a run's end and the server's shutdown can end
/// them and everything they started. The lock is held across a spawn and its registration
/// and across the killing half of a sweep, so a sweep never takes a run that is just starting
/// for a stray. Reaping the killed strays (which waits) happens on a dedicated thread, never
/// on an async worker and never under the lock.
#[derive(Debug, Default)]
pub(crate) struct ChildRegistry {
    pids: std::sync::Mutex<std::collections::BTreeSet<u32>>,
    reaper: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Vec<i32>>>>,
}

impl ChildRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<u32>> {
        self.pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands killed strays to the reaper thread (started on first use); reaps them here if
    /// the thread cannot be started.
    fn reap_later(&self, strays: Vec<i32>) {
        if strays.is_empty() {
            return;
        }
        let reaper = self.reaper.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Vec<i32>>();
            std::thread::Builder::new()
                .name("rex-mcp-reaper".into())
                .spawn(move || {
                    for strays in rx {
                        rust_sdk::runtime::child::reap_strays(&strays);
                    }
                })
                .ok()
                .map(|_| tx)
        });
        match reaper {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError(strays)) = tx.send(strays) {
                    rust_sdk::runtime::child::reap_strays(&strays);
                }
            }
            None => rust_sdk::runtime::child::reap_strays(&strays),
        }
    }

    /// Kills every running child with everything it started, then whatever was reparented
    /// to the server (a subreaper) and belongs to no run, and reaps those (this waits: the
    /// server calls it once the async runtime is done).
    pub(crate) fn kill_all(&self) {
        let live = self.lock();
        for pid in live.iter() {
            rust_sdk::runtime::child::kill_tree(*pid);
        }
        rust_sdk::runtime::child::sweep_strays(&live);
    }
}

/// Kills the child and its whole process tree when dropped (the call finished, failed, or its
/// future was dropped because the call was cancelled, the client went away or the server is
/// shutting down): nothing the script started outlives its run. Programs the run executed
/// have groups of their own, so the tree is walked; what escaped the walk was reparented to
/// the server and is killed by the sweep, and reaped on the reaper thread.
///
/// The guard is dropped before the tokio child handle (declared after it), so the child is
/// not reaped yet when its tree is walked and its pid cannot have been reused; once `wait`
/// has reaped it (`reaped`), only the sweep runs (its descendants were reparented here).
/// Walking the tree reads the process table and sends signals, it never waits: it stays on
/// the async worker because it must happen before the child can be reaped.
struct TreeGuard<'a> {
    registry: &'a ChildRegistry,
    pid: u32,
    reaped: bool,
}

impl Drop for TreeGuard<'_> {
    fn drop(&mut self) {
        let strays = {
            let mut live = self.registry.lock();
            if !self.reaped {
                rust_sdk::runtime::child::kill_tree(self.pid);
            }
            // The child itself is tokio's to reap (kill_on_drop): it stays out of the sweep.
            let strays = rust_sdk::runtime::child::kill_strays(&live);
            live.remove(&self.pid);
            strays
        };
        self.registry.reap_later(strays);
    }
}

/// The decisions a run's child streamed (see [`StreamingSink`]), as far as they came.
#[derive(Debug, Default)]
pub(crate) struct DecisionLog {
    /// The decisions, in order (at most [`MAX_DECISIONS`]).
    pub decisions: Vec<Decision>,
    /// How many more were made and not kept.
    pub dropped: u64,
}

/// Most decisions kept per run for the audit log (later ones are counted, not kept).
const MAX_DECISIONS: usize = 100_000;

/// Longest decision line read from a child; a longer line is counted and skipped.
const MAX_DECISION_LINE: usize = 64 * 1024;

/// Reads a child's decision stream (its standard error) into `log` until end of file, then
/// cancels `done`.
async fn read_decisions(
    stderr: tokio::process::ChildStderr,
    log: Arc<std::sync::Mutex<DecisionLog>>,
    done: tokio_util::sync::CancellationToken,
) {
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::io::AsyncBufReadExt::read_until(
            &mut (&mut reader).take(MAX_DECISION_LINE as u64 + 1),
            b'\n',
            &mut line,
        )
        .await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = line.last() == Some(&b'\n');
        let skip_rest = {
            let Ok(mut log) = log.lock() else { break };
            match serde_json::from_slice::<Decision>(&line) {
                Ok(d) if complete && log.decisions.len() < MAX_DECISIONS => {
                    log.decisions.push(d);
                    false
                }
                Ok(_) => {
                    log.dropped += 1;
                    false
                }
                // An over-long line: counted, then skipped to its end.
                Err(_) if !complete => {
                    log.dropped += 1;
                    true
                }
                // Not a decision (e.g. a panic message of the child): not for the audit log.
                Err(_) => false,
            }
        };
        if skip_rest {
            let mut rest = Vec::new();
            if tokio::io::AsyncBufReadExt::read_until(&mut reader, b'\n', &mut rest)
                .await
                .is_err()
            {
                break;
            }
        }
    }
    done.cancel();
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

/// Where a run's decisions go while it runs: the log and the token cancelled once the
/// child's decision stream has ended.
#[derive(Clone, Default)]
pub(crate) struct DecisionStream {
    pub(crate) log: Arc<std::sync::Mutex<DecisionLog>>,
    pub(crate) done: tokio_util::sync::CancellationToken,
}

impl DecisionStream {
    /// Waits (at most `wait`) for the stream to end, then takes what it holds.
    pub(crate) async fn finish(&self, wait: Duration) -> DecisionLog {
        let _ = tokio::time::timeout(wait, self.done.cancelled()).await;
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// Runs one request in a child of `exe`, with its address space capped at `max_memory` bytes
/// and killed `KILL_GRACE` past the request's timeout. `body` is the serialized request; the
/// child's decisions go to `decisions` as they are made.
// Spawning the server's own re-executed binary is server plumbing, not a script operation:
// the command comes from rust-sdk's runner-internal `child` module (own process group, no
// shell); tokio only drives its pipes.
#[allow(clippy::disallowed_types)]
pub(crate) async fn run_in_child(
    exe: &Path,
    body: Vec<u8>,
    timeout_ms: u64,
    max_memory: u64,
    registry: &ChildRegistry,
    decisions: &DecisionStream,
) -> Result<ChildResponse, ChildError> {
    let mut cmd =
        tokio::process::Command::from(rust_sdk::runtime::child::command(exe, ["mcp-child"]));
    cmd.kill_on_drop(true);
    cmd.stderr(std::process::Stdio::piped());
    let (mut child, pid) = {
        let mut live = registry.lock();
        let child = cmd.spawn().map_err(ChildError::Spawn)?;
        let Some(pid) = child.id() else {
            return Err(ChildError::Spawn(std::io::Error::other("no child pid")));
        };
        live.insert(pid);
        (child, pid)
    };
    let mut guard = TreeGuard {
        registry,
        pid,
        reaped: false,
    };
    // The cap is set before the request is written: the child reads its whole request before
    // it runs anything, so no script code runs uncapped.
    rust_sdk::runtime::child::limit_address_space(pid, max_memory).map_err(ChildError::Spawn)?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ChildError::Spawn(std::io::Error::other("no child pipes")));
    };
    tokio::spawn(read_decisions(
        stderr,
        decisions.log.clone(),
        decisions.done.clone(),
    ));
    let deadline = Duration::from_millis(timeout_ms) + KILL_GRACE;
    let exchange = async {
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
        Err(_) => return Err(ChildError::Killed(timeout_ms / 1000)),
    };
    guard.reaped = status.is_ok();
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
