//! Bridges rex-auth's decision records to the JSON-lines audit log of rex-logging and to the
//! runner's operational `tracing` events.

use rex_auth::{AuditSink, DecisionRecord, Outcome};
use rex_logging::{Admission, AuditDecision, AuditEvent, AuditLog, AuditShadow, RateLimiter};

/// The SHA-256 of the script a run executes, attached to the run as a
/// [`rex_core::RunExtensions`] value so that decisions made during the run (on the run's
/// thread) are stamped with their own script, even when one runner serves several runs at
/// once.
#[derive(Debug, Clone)]
pub(crate) struct RunScript(pub(crate) String);

/// The hash of the script whose run is making the current decision, if any.
fn current_script_sha256() -> Option<String> {
    rex_core::run_extension::<RunScript>().map(|s| s.0.clone())
}

/// Writes every decision to an [`AuditLog`], stamped with the SHA-256 of the script whose
/// run made it (none for decisions made outside a run).
#[derive(Debug, Clone)]
pub struct AuditLogSink {
    log: AuditLog,
}

impl AuditLogSink {
    /// A sink over an opened audit log.
    pub fn new(log: AuditLog) -> Self {
        AuditLogSink { log }
    }

    /// The underlying log (for its error counters).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }
}

/// rex-auth's outcome as the audit log writes it.
pub fn audit_decision(outcome: Outcome) -> AuditDecision {
    match outcome {
        Outcome::Allow => AuditDecision::Allow,
        Outcome::Deny => AuditDecision::Deny,
        Outcome::Error => AuditDecision::Error,
    }
}

impl AuditSink for AuditLogSink {
    fn record(&self, r: &DecisionRecord<'_>) {
        // The replayable form (rex_auth::RecordedRequest): argument and environment values
        // and process command lines are never written.
        let request = rex_auth::RecordedRequest::of(r.principal, r.action, r.resource, r.context);
        let mut event = AuditEvent::new(
            request.principal,
            request.action,
            request.resource,
            audit_decision(r.outcome),
        );
        event.resource_attributes = request.resource_attributes;
        event.context = request.context;
        event.shadow = r.shadow.map(|s| AuditShadow {
            decision: audit_decision(s.outcome),
            determining_policies: s.policies.to_vec(),
        });
        event.approval = r.approval.map(|a| {
            serde_json::json!({
                "status": a.status,
                "channel": a.channel,
                "approver": a.approver,
                "waited_ms": a.waited_ms,
                "approvers": a.approvers,
            })
        });
        event.policies = r.policies.to_vec();
        event.enforced = r.enforced;
        event.cached = r.cached;
        event.script_sha256 = current_script_sha256();
        self.log.write(&event);
    }
}

/// An audit log given to a runner before it is opened: the CLI builds the runner (which
/// parses the policies), checks that the script cannot reach the log's path
/// ([`crate::own_files`]), and only then opens the file and [`DeferredAuditLogSink::open`]s
/// it here, before the script runs. No decision is made before the run; a record that came
/// before the log is opened would be counted in [`DeferredAuditLogSink::missed`].
#[derive(Debug, Clone, Default)]
pub struct DeferredAuditLogSink {
    slot: std::sync::Arc<std::sync::OnceLock<AuditLogSink>>,
    missed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DeferredAuditLogSink {
    /// A sink whose log is not opened yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the opened log; `false` if one was already installed (this one is dropped).
    pub fn open(&self, log: AuditLog) -> bool {
        self.slot.set(AuditLogSink::new(log)).is_ok()
    }

    /// The installed log, if any.
    pub fn log(&self) -> Option<&AuditLog> {
        self.slot.get().map(AuditLogSink::log)
    }

    /// Records that arrived before a log was installed (none in a CLI run).
    pub fn missed(&self) -> u64 {
        self.missed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl AuditSink for DeferredAuditLogSink {
    fn record(&self, r: &DecisionRecord<'_>) {
        match self.slot.get() {
            Some(sink) => sink.record(r),
            None => {
                self.missed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// Target of the runner's operational `tracing` events (run started and finished,
/// authorization decisions).
pub const RUNNER_LOG_TARGET: &str = "rex_runner";

/// Emits every decision as a `tracing` event with target [`RUNNER_LOG_TARGET`]: denials and
/// evaluation errors at WARN (so denials reach the operator's log, including ones the script
/// catches), allowed decisions at DEBUG.
///
/// Rate-limited (issue 19): a record that repeats one already logged in the current window
/// (same outcome, action and resource), and every record past [`rex_logging::DEFAULT_LOG_BURST`]
/// per window, is counted instead of logged; the count is logged once as
/// `authorization records suppressed` (field `suppressed`), before the next record that is
/// logged or when the run ends ([`TracingAuditSink::flush_suppressed`]). The audit log
/// (`--audit-log`) is not rate-limited: it keeps one record per decision.
///
/// Fields: `principal`, `action`, `resource`, `policies` (the determining policies),
/// `context` (rex-auth's secret-free summary), `enforced` (false in permissive mode),
/// `cached` and `script_sha256` (of the run that made the decision). No file contents or
/// script output are ever logged.
#[derive(Debug, Default)]
pub struct TracingAuditSink {
    /// Denials and evaluation errors.
    refused: RateLimiter,
    /// Allowed decisions (DEBUG), limited apart so they never crowd out denials.
    allowed: RateLimiter,
}

impl TracingAuditSink {
    /// A sink with the default rate limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink letting `burst` distinct records through per `window`.
    pub fn with_rate_limit(burst: usize, window: std::time::Duration) -> Self {
        TracingAuditSink {
            refused: RateLimiter::new(burst, window),
            allowed: RateLimiter::new(burst, window),
        }
    }

    /// Logs the "suppressed N" summaries of the records held back so far, if any.
    pub fn flush_suppressed(&self) {
        log_suppressed("refused", self.refused.take_suppressed());
        log_suppressed("allowed", self.allowed.take_suppressed());
    }
}

/// The summary of `n` suppressed records (`decisions`: `refused` or `allowed`).
fn log_suppressed(decisions: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    if decisions == "allowed" {
        tracing::debug!(target: RUNNER_LOG_TARGET, decisions, suppressed = n, "authorization records suppressed");
    } else {
        tracing::warn!(target: RUNNER_LOG_TARGET, decisions, suppressed = n, "authorization records suppressed");
    }
}

impl AuditSink for TracingAuditSink {
    fn record(&self, r: &DecisionRecord<'_>) {
        let level_enabled = match r.outcome {
            Outcome::Allow => tracing::enabled!(target: RUNNER_LOG_TARGET, tracing::Level::DEBUG),
            Outcome::Deny | Outcome::Error => {
                tracing::enabled!(target: RUNNER_LOG_TARGET, tracing::Level::WARN)
            }
        };
        if !level_enabled {
            return;
        }
        let (limiter, decisions) = match r.outcome {
            Outcome::Allow => (&self.allowed, "allowed"),
            Outcome::Deny | Outcome::Error => (&self.refused, "refused"),
        };
        let key = format!("{} {} {}", r.outcome.as_str(), r.action, r.resource);
        match limiter.admit(&key) {
            Admission::Suppress => return,
            Admission::Log { suppressed } => log_suppressed(decisions, suppressed),
        }
        let script_sha256 = current_script_sha256().unwrap_or_default();
        let policies = r.policies.join(",");
        let context = r.context.summary();
        match r.outcome {
            Outcome::Allow => tracing::debug!(
                target: RUNNER_LOG_TARGET,
                principal = r.principal,
                action = %r.action,
                resource = %r.resource,
                policies,
                context,
                cached = r.cached,
                script_sha256,
                "authorization allowed"
            ),
            Outcome::Deny => tracing::warn!(
                target: RUNNER_LOG_TARGET,
                principal = r.principal,
                action = %r.action,
                resource = %r.resource,
                policies,
                context,
                enforced = r.enforced,
                cached = r.cached,
                script_sha256,
                "authorization denied"
            ),
            Outcome::Error => tracing::warn!(
                target: RUNNER_LOG_TARGET,
                principal = r.principal,
                action = %r.action,
                resource = %r.resource,
                policies,
                context,
                cached = r.cached,
                script_sha256,
                "authorization could not be evaluated; denied"
            ),
        }
    }
}
