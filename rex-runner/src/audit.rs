//! Bridges rex-auth's decision records to the JSON-lines audit log of rex-logging.

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
