//! Append-only JSON-lines audit log of authorization decisions.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::LogError;
use crate::time::now_rfc3339;

/// Outcome of one authorization request, serialized in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditDecision {
    /// The request was permitted.
    Allow,
    /// The request was denied.
    Deny,
    /// The request could not be evaluated.
    Error,
}

/// One audit record, written as a single JSON line by [`AuditLog::write`]. Fields with
/// nothing to say (empty context and policies, `cached: false`, no script or line) are left
/// out of the line and read back as their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC time of the decision.
    pub time: String,
    /// Cedar principal, e.g. `User::"root"`.
    pub principal: String,
    /// Cedar action, e.g. `file_system::Action::"read"`.
    pub action: String,
    /// Cedar resource, e.g. `file_system::File::"/etc/hosts"`.
    pub resource: String,
    /// Attributes of the resource that its UID does not give (a process's pid, uid, name and
    /// owner; a URL's scheme, host, port and path), for `replay`; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<serde_json::Value>,
    /// Request context as JSON (left out when empty): `summary`, the attributes a policy can
    /// read, and `redacted`, the fields never recorded (argument and environment values).
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub context: serde_json::Value,
    /// Decision.
    pub decision: AuditDecision,
    /// Ids of the policies that determined the decision (or produced errors; left out when
    /// empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Whether the decision was enforced (false in permissive / dry-run mode).
    pub enforced: bool,
    /// Whether the decision came from a cache (left out when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// What the shadow policies decided, when they decided otherwise (left out when there
    /// is no shadow set or it agreed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<AuditShadow>,
    /// When the allow needed approval (`@approval("required")`): `status` (`approved`,
    /// `declined`, `timed out`, `failed`, `not asked`), `channel`, `approver`, `waited_ms`,
    /// `approvers`. Left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<serde_json::Value>,
    /// SHA-256 (hex) of the running script, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_sha256: Option<String>,
    /// Script line that triggered the request, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The diverging decision of the shadow policies (`--shadow-policy`), never enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditShadow {
    /// What the shadow set decided.
    pub decision: AuditDecision,
    /// Its determining policies (empty for a default deny).
    #[serde(default)]
    pub determining_policies: Vec<String>,
}

// One record per decision, and no field that says nothing: the defaults above are left out
// of the line, so a flood of denials writes short lines (issue 19).
fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_empty_object(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(serde_json::Map::is_empty) || v.is_null()
}

impl AuditEvent {
    /// A record stamped with the current time, with empty context and policies, enforced,
    /// not cached, and no script information.
    #[must_use]
    pub fn new(
        principal: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
        decision: AuditDecision,
    ) -> Self {
        AuditEvent {
            time: now_rfc3339(),
            principal: principal.into(),
            action: action.into(),
            resource: resource.into(),
            resource_attributes: None,
            context: serde_json::Value::Object(serde_json::Map::new()),
            decision,
            policies: Vec::new(),
            enforced: true,
            cached: false,
            shadow: None,
            approval: None,
            script_sha256: None,
            line: None,
        }
    }
}

#[derive(Debug)]
struct AuditInner {
    path: PathBuf,
    file: Mutex<File>,
    written: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Thread-safe, cloneable, append-only JSON-lines audit writer.
///
/// Each record is serialized to one line and written with a single `write_all` followed by a
/// flush, under a lock, so lines from concurrent writers never interleave. Write failures never
/// panic and never fail the caller: they are counted ([`AuditLog::error_count`]) and the last
/// one is kept ([`AuditLog::last_error`]).
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<AuditInner>,
}

impl AuditLog {
    /// Opens (creating it with mode 0600 if needed) `path` for appending.
    ///
    /// Refuses a path that exists and is not a regular file (a symlink, a directory, ...),
    /// except character devices such as `/dev/null`.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, LogError> {
        let path = path.as_ref();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            let ft = meta.file_type();
            if !(ft.is_file() || ft.is_char_device()) {
                return Err(LogError::NotRegularFile {
                    path: path.to_path_buf(),
                });
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| LogError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AuditLog {
            inner: Arc::new(AuditInner {
                path: path.to_path_buf(),
                file: Mutex::new(file),
                written: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        })
    }

    /// The path this log was opened at.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends `record` as one JSON line and flushes. Never fails: errors are counted.
    /// Returns whether the line was written.
    pub fn write(&self, record: &AuditEvent) -> bool {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                self.record_error(format!("serialize: {e}"));
                return false;
            }
        };
        line.push(b'\n');
        let mut file = self
            .inner
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match file.write_all(&line).and_then(|()| file.flush()) {
            Ok(()) => {
                self.inner.written.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                drop(file);
                self.record_error(format!("write {}: {e}", self.inner.path.display()));
                false
            }
        }
    }

    fn record_error(&self, msg: String) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(msg);
    }

    /// Number of records written successfully.
    #[must_use]
    pub fn written_count(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Number of records that could not be written.
    #[must_use]
    pub fn error_count(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// The most recent write error, if any.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
