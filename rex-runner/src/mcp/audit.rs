//! The server's audit log (`--log-file`): one JSON line per tool call that names a policy or
//! runs a child, per policy resource read (`resources/read`, also a refused probe of a set
//! the caller was not given) and per refused session access: who called (agent name over
//! HTTP, OS user over stdio), the policy set and its hash, the script's hash, the outcome and
//! every authorization decision of the run (streamed from the child as they were made, so a
//! run that was killed, crashed or answered too much still has them). Never the script
//! text, its output or file contents.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use super::child::{ChildResponse, Decision, DecisionLog};
use super::config::PolicySet;
use super::tools::Caller;

/// One line.
#[derive(Debug, Serialize)]
pub(crate) struct CallRecord {
    ts_ms: u128,
    tool: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    os_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    /// `resources/read`: the URI asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    /// Refused session access: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    script_sha256: Option<String>,
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit: Option<i32>,
    decisions: Vec<Decision>,
    /// Decisions the run made beyond what the log keeps.
    #[serde(skip_serializing_if = "is_zero")]
    decisions_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CallRecord {
    fn base(tool: &'static str, caller: &Caller, script: Option<&str>) -> Self {
        let (agent, os_user) = match caller {
            Caller::Agent(a) => (Some(a.name.clone()), None),
            Caller::Local { user } => (None, Some(user.clone())),
            Caller::Unauthenticated => (None, None),
        };
        CallRecord {
            ts_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            tool,
            agent,
            os_user,
            policy: None,
            uri: None,
            reason: None,
            policy_sha256: None,
            script_sha256: script.map(|s| rex_runner::sha256_hex(s.as_bytes())),
            outcome: String::new(),
            error_type: None,
            exit: None,
            decisions: Vec::new(),
            decisions_dropped: 0,
        }
    }

    /// A call refused before any run (no usable policy set).
    pub(crate) fn refused(
        tool: &'static str,
        caller: &Caller,
        policy: Option<&str>,
        script: &str,
        _why: &str,
    ) -> Self {
        let mut r = Self::base(tool, caller, Some(script));
        r.policy = policy.map(String::from);
        r.outcome = "REFUSED".into();
        r
    }

    /// A call that named a policy set without running anything (`show_policy`): `set` is
    /// the set shown, or `Err` with the name asked for when the caller may not use it.
    pub(crate) fn looked_at(
        tool: &'static str,
        caller: &Caller,
        set: Result<&PolicySet, Option<&str>>,
    ) -> Self {
        let mut r = Self::base(tool, caller, None);
        match set {
            Ok(s) => {
                r.policy = Some(s.name.clone());
                r.policy_sha256 = Some(s.sha256.clone());
                r.outcome = "SUCCESS".into();
            }
            Err(name) => {
                r.policy = name.map(String::from);
                r.outcome = "REFUSED".into();
            }
        }
        r
    }

    /// A `resources/read`: `set` as for [`CallRecord::looked_at`], `None` for the catalog.
    pub(crate) fn resource(
        caller: &Caller,
        uri: &str,
        set: Option<Result<&PolicySet, Option<&str>>>,
    ) -> Self {
        let mut r = match set {
            Some(set) => Self::looked_at("resources/read", caller, set),
            None => {
                let mut r = Self::base("resources/read", caller, None);
                r.outcome = "SUCCESS".into();
                r
            }
        };
        r.uri = Some(uri.to_string());
        r
    }

    /// A request refused before MCP processing (another agent's session, too many sessions).
    pub(crate) fn session_refused(agent: &str, reason: &str) -> Self {
        let mut r = Self::base("session", &Caller::Unauthenticated, None);
        r.agent = Some(agent.to_string());
        r.outcome = "REFUSED".into();
        r.reason = Some(reason.to_string());
        r
    }

    /// A call refused because the run slots and the wait queue are full.
    pub(crate) fn busy(
        tool: &'static str,
        caller: &Caller,
        set: Option<&PolicySet>,
        script: &str,
    ) -> Self {
        let mut r = Self::base(tool, caller, Some(script));
        if let Some(s) = set {
            r.policy = Some(s.name.clone());
            r.policy_sha256 = Some(s.sha256.clone());
        }
        r.outcome = "BUSY".into();
        r
    }

    /// A run.
    pub(crate) fn run(
        tool: &'static str,
        caller: &Caller,
        set: &PolicySet,
        script: &str,
        response: Result<&ChildResponse, &String>,
        decisions: DecisionLog,
    ) -> Self {
        let mut r = Self::base(tool, caller, Some(script));
        r.policy = Some(set.name.clone());
        r.policy_sha256 = Some(set.sha256.clone());
        r.fill(response);
        r.decisions = decisions.decisions;
        r.decisions_dropped = decisions.dropped;
        r
    }

    /// A compile check.
    pub(crate) fn check(
        caller: &Caller,
        script: &str,
        response: Result<&ChildResponse, &String>,
    ) -> Self {
        let mut r = Self::base("check_script", caller, Some(script));
        r.fill(response);
        r
    }

    fn fill(&mut self, response: Result<&ChildResponse, &String>) {
        match response {
            Ok(resp) => {
                self.outcome = match resp.document.status {
                    rex_runner::Status::Success => "SUCCESS".into(),
                    rex_runner::Status::Error => "ERROR".into(),
                };
                self.error_type = resp
                    .document
                    .error
                    .as_ref()
                    .map(|e| e.error_type.as_str().to_string());
                self.exit = Some(resp.exit);
            }
            Err(_) => {
                // Killed at its timeout, over its memory cap, crashed or cancelled.
                self.outcome = "ERROR".into();
                self.error_type = Some("RUN_ABORTED".into());
            }
        }
    }
}

/// The log file (or nothing).
#[derive(Default)]
pub(crate) struct AuditWriter {
    file: Option<Mutex<Box<dyn Write + Send>>>,
}

impl AuditWriter {
    /// Opens (appends to) the operator's log file.
    // The operator names this file on the command line; it is the server's own output, not a
    // script operation, so it does not go through rust-sdk or Cedar.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(AuditWriter {
            file: Some(Mutex::new(Box::new(file))),
        })
    }

    /// Appends one line (a write failure is reported on stderr, never to the client).
    pub(crate) fn write(&self, record: &CallRecord) {
        let Some(file) = &self.file else { return };
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        if let Ok(mut f) = file.lock()
            && let Err(e) = f.write_all(&line)
        {
            eprintln!("rex-runner mcp: cannot write the audit log: {e}");
        }
    }
}
