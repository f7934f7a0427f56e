//! The authorization context every SDK operation takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rex_auth::{Action, AuthError, Authorizer, RequestContext, Resource};

/// Size and count limits the SDK enforces on what it reads and returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkLimits {
    /// Largest file (or decompressed stream) read into memory, in bytes.
    pub max_read_bytes: u64,
    /// Largest captured output of a child process, per stream, in bytes.
    pub max_output_bytes: u64,
    /// Largest HTTP response body, in bytes.
    pub max_http_body_bytes: u64,
    /// Most entries a directory walk or listing returns.
    pub max_entries: usize,
}

impl Default for SdkLimits {
    fn default() -> Self {
        SdkLimits {
            max_read_bytes: 64 * 1024 * 1024,
            max_output_bytes: 16 * 1024 * 1024,
            max_http_body_bytes: 16 * 1024 * 1024,
            max_entries: 1_000_000,
        }
    }
}

/// What every SDK operation needs: the authorizer, the limits, and a cancellation flag that
/// long operations poll.
///
/// ```
/// use std::sync::Arc;
/// use rex_auth::{Authorizer, Policies, Principal};
/// use rust_sdk::SdkContext;
/// let auth = Authorizer::builder()
///     .principal(Principal::user("alice").unwrap())
///     .policies(Policies::deny_all())
///     .build()
///     .unwrap();
/// let ctx = SdkContext::new(Arc::new(auth));
/// assert!(!ctx.is_cancelled());
/// ```
#[derive(Clone)]
pub struct SdkContext {
    authorizer: Arc<Authorizer>,
    limits: SdkLimits,
    cancelled: Arc<AtomicBool>,
    interrupt: Option<InterruptCheck>,
    redaction_config: Option<Arc<str>>,
}

/// An extra "should this operation stop now?" test, asked by [`SdkContext::is_cancelled`]
/// on the thread that runs the operation (e.g. the script engine's per-run deadline).
pub type InterruptCheck = Arc<dyn Fn() -> bool + Send + Sync>;

impl std::fmt::Debug for SdkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkContext")
            .field("authorizer", &self.authorizer)
            .field("limits", &self.limits)
            .field("cancelled", &self.cancelled)
            .field("interrupt", &self.interrupt.is_some())
            .field("redaction_config", &self.redaction_config)
            .finish()
    }
}

impl SdkContext {
    /// A context with default limits and a fresh cancellation flag.
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        SdkContext {
            authorizer,
            limits: SdkLimits::default(),
            cancelled: Arc::new(AtomicBool::new(false)),
            interrupt: None,
            redaction_config: None,
        }
    }

    /// Adds an interruption test that long operations poll together with the cancellation
    /// flag. The runner passes the engine's per-run check (`rex_core::current_interruption`),
    /// so a script's timeout also stops a blocking SDK call (a running child, a wait, a walk)
    /// at its next check instead of only after the call returns.
    pub fn with_interrupt_check(mut self, check: InterruptCheck) -> Self {
        self.interrupt = Some(check);
        self
    }

    /// Uses another redaction dictionary than
    /// [`DEFAULT_REDACTION_CONFIG`](crate::fs::DEFAULT_REDACTION_CONFIG) for redacted reads.
    pub fn with_redaction_config(mut self, path: &str) -> Self {
        self.redaction_config = Some(Arc::from(path));
        self
    }

    /// The redaction dictionary path used by redacted reads.
    pub fn redaction_config(&self) -> &str {
        self.redaction_config
            .as_deref()
            .unwrap_or(crate::fs::DEFAULT_REDACTION_CONFIG)
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: SdkLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Shares an external cancellation flag (e.g. the script engine's).
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancelled = flag;
        self
    }

    /// The authorizer.
    pub fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }

    /// The limits.
    pub fn limits(&self) -> &SdkLimits {
        &self.limits
    }

    /// The cancellation flag (set it to stop long operations at their next check).
    pub fn cancel_flag(&self) -> &Arc<AtomicBool> {
        &self.cancelled
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.interrupt.as_ref().is_some_and(|f| f())
    }

    /// Asks Cedar; `Ok(())` means the operation may proceed.
    pub fn authorize(
        &self,
        action: Action,
        resource: &Resource,
        context: &RequestContext,
    ) -> Result<(), AuthError> {
        self.authorizer.authorize(action, resource, context)
    }

    /// Asks Cedar for a request without context.
    pub fn check(&self, action: Action, resource: &Resource) -> Result<(), AuthError> {
        self.authorizer
            .authorize(action, resource, &RequestContext::None)
    }
}
