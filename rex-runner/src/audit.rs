//! Bridges rex-auth's decision records to the JSON-lines audit log of rex-logging and to the
//! runner's operational `tracing` events.

use std::sync::{Arc, Mutex, PoisonError};

use rex_auth::{AuditSink, DecisionRecord, Outcome};
use rex_logging::{AuditDecision, AuditEvent, AuditLog};

/// Writes every decision to an [`AuditLog`], stamped with the running script's SHA-256.
#[derive(Debug, Clone)]
pub struct AuditLogSink {
    log: AuditLog,
    script_sha256: Arc<Mutex<Option<String>>>,
}

impl AuditLogSink {
    /// A sink over an opened audit log.
    pub fn new(log: AuditLog) -> Self {
        AuditLogSink {
            log,
            script_sha256: Arc::new(Mutex::new(None)),
        }
    }

    /// Sets the script hash stamped on the following records.
    pub fn set_script(&self, sha256: Option<String>) {
        *self
            .script_sha256
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = sha256;
    }

    /// The underlying log (for its error counters).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }
}

impl AuditSink for AuditLogSink {
    fn record(&self, r: &DecisionRecord<'_>) {
        let decision = match r.outcome {
            Outcome::Allow => AuditDecision::Allow,
            Outcome::Deny => AuditDecision::Deny,
            Outcome::Error => AuditDecision::Error,
        };
        let mut event = AuditEvent::new(
            r.principal,
            r.action.to_string(),
            r.resource.to_string(),
            decision,
        );
        let summary = r.context.summary();
        if !summary.is_empty() {
            event.context = serde_json::json!({ "summary": summary });
        }
        event.policies = r.policies.to_vec();
        event.enforced = r.enforced;
        event.cached = r.cached;
        event.script_sha256 = self
            .script_sha256
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.log.write(&event);
    }
}

/// Target of the runner's operational `tracing` events (run started and finished,
/// authorization decisions).
pub const RUNNER_LOG_TARGET: &str = "rex_runner";

/// Emits every decision as a `tracing` event with target [`RUNNER_LOG_TARGET`]: denials and
/// evaluation errors at WARN (so every denial reaches the operator's log, including ones the
/// script catches), allowed decisions at DEBUG.
///
/// Fields: `principal`, `action`, `resource`, `policies` (the determining policies),
/// `context` (rex-auth's secret-free summary), `enforced` (false in permissive mode),
/// `cached` and `script_sha256`. No file contents or script output are ever logged.
#[derive(Debug, Clone, Default)]
pub struct TracingAuditSink {
    script_sha256: Arc<Mutex<Option<String>>>,
}

impl TracingAuditSink {
    /// A sink with no script hash yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the script hash stamped on the following events.
    pub fn set_script(&self, sha256: Option<String>) {
        *self
            .script_sha256
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = sha256;
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
        let script_sha256 = self
            .script_sha256
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
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
