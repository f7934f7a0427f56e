//! The embeddable [`Runner`]: policies parsed once, an engine built once, many runs.

use std::sync::Arc;
use std::time::Instant;

use rex_auth::{AuditSink, Authorizer, Policies, PolicyError, Principal};
use rex_core::{
    CancelHandle, ErrorKind, Limits, RexEngine, RunError, RunExtensions, RunOptions, RunOutcome,
    ScriptArguments, StandardLibrary,
};
use rex_logging::{LogEntry, ScriptLogs, ScriptLogsConfig};
use rex_metrics::{MetricsLimits, RunMetrics};
use rhai_sdk::RexModules;
use rust_sdk::runtime::monitor::ProcessMonitor;
use rust_sdk::{AuthorizerSlot, SdkContext, SdkLimits};

use crate::audit::{AuditLogSink, RUNNER_LOG_TARGET, RunScript, TracingAuditSink};
use crate::exit::ExitStatus;
use crate::inputs::Input;
use crate::output::{DenialInfo, ErrorInfo, ErrorType, OutputDocument, Status, truncate_message};

/// How often the process monitor samples memory during a run (REX: once per second).
const MONITOR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Registers script modules on the engine, given the SDK context to capture.
pub type ModuleRegistrar = Arc<dyn Fn(&mut rhai::Engine, &SdkContext) + Send + Sync>;

/// Why a runner could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The policies are invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The authorizer could not be configured.
    #[error(transparent)]
    Auth(#[from] rex_auth::AuthError),
    /// A policy file could not be read (or is writable by others).
    #[error(transparent)]
    Input(#[from] crate::inputs::InputError),
    /// The shadow policies are invalid (they are validated like enforced ones).
    #[error("shadow policy: {}", .0.render())]
    ShadowPolicy(PolicyError),
    /// The runner could not be assembled (a module registration panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RunnerError {
    /// The error for a person: a policy error with its located diagnostics (as
    /// `rex-runner validate` prints them), anything else as its message.
    pub fn render(&self) -> String {
        match self {
            RunnerError::Policy(p) => p.render(),
            RunnerError::ShadowPolicy(p) => format!("shadow policy: {}", p.render()),
            other => other.to_string(),
        }
    }
}

/// Builds a [`Runner`].
#[derive(Default)]
pub struct RunnerBuilder {
    policies: Vec<Input>,
    principal: Option<Principal>,
    limits: Limits,
    sdk_limits: SdkLimits,
    audit: Option<Arc<dyn AuditSink>>,
    audit_log: Option<AuditLogSink>,
    permissive: bool,
    rex_modules: Option<RexModules>,
    modules: Vec<ModuleRegistrar>,
    log_config: ScriptLogsConfig,
    metrics_limits: MetricsLimits,
    disable_monitoring: bool,
    without_catalog: bool,
    standard: StandardLibrary,
    only_for_script: Option<String>,
    redaction_config: Option<String>,
    policy_files: Vec<std::path::PathBuf>,
    max_document_bytes: Option<usize>,
    shadow_policies: Vec<Input>,
}

impl RunnerBuilder {
    /// Adds a policy file, read when [`build`](Self::build) runs, with the CLI's checks
    /// ([`crate::read_policy`]: size cap, sha256, and refusal of a file that group or
    /// others can write).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rex_core::ScriptArguments;
    /// use rex_runner::{Input, Runner};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let policy = dir.path().join("p.cedar");
    /// std::fs::write(&policy, r#"permit(principal, action == sysinfo::Action::"list", resource);"#)?;
    /// let runner = Runner::builder()
    ///     .policy_file(&policy)
    ///     .principal(rex_auth::Principal::user("x")?)
    ///     .build()?;
    /// let report = runner.run(&Input::from_text("s.rhai", "1 + 1"), &ScriptArguments::new());
    /// assert_eq!(report.document.output, "2");
    /// # Ok(())
    /// # }
    /// ```
    pub fn policy_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.policy_files.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds a policy source (see [`crate::read_policy`] for files).
    pub fn policy(mut self, policy: Input) -> Self {
        self.policies.push(policy);
        self
    }

    /// The Cedar principal (default: the effective user).
    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Engine limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// SDK limits (read sizes, output caps).
    pub fn sdk_limits(mut self, limits: SdkLimits) -> Self {
        self.sdk_limits = limits;
        self
    }

    /// An extra audit sink that receives every decision.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// A JSON-lines audit log stamped with each run's script hash.
    pub fn audit_log(mut self, sink: AuditLogSink) -> Self {
        self.audit_log = Some(sink);
        self
    }

    /// Adds a shadow policy source: every request is also decided under the shadow
    /// policies, never enforced. Each divergence is in the audit records (`shadow`) and
    /// the run document counts them (`shadow_divergences`). The shadow set is validated as
    /// strictly as the enforced one; an invalid one fails [`build`](Self::build).
    pub fn shadow_policy(mut self, policy: Input) -> Self {
        self.shadow_policies.push(policy);
        self
    }

    /// Permissive mode (policy learning): denials are recorded, then allowed.
    pub fn permissive(mut self, permissive: bool) -> Self {
        self.permissive = permissive;
        self
    }

    /// Which of rhai-sdk's modules scripts get (default: [`RexModules::all`]).
    pub fn rex_modules(mut self, modules: RexModules) -> Self {
        self.rex_modules = Some(modules);
        self
    }

    /// Adds an embedder's or vendor's own modules, registered after rhai-sdk's. The
    /// registrar receives the run's [`SdkContext`]; capture it in gated functions (see
    /// `rhai_sdk::vendor`), never hand it to scripts.
    pub fn modules(mut self, modules: ModuleRegistrar) -> Self {
        self.modules.push(modules);
        self
    }

    /// How script logs are kept in the output (level filter, caps). The CLI uses
    /// [`ScriptLogsConfig::from_env`] (`LOG_LEVEL`); the default keeps INFO and above.
    pub fn log_config(mut self, config: ScriptLogsConfig) -> Self {
        self.log_config = config;
        self
    }

    /// Caps on the metrics and alarms a script may publish.
    pub fn metrics_limits(mut self, limits: MetricsLimits) -> Self {
        self.metrics_limits = limits;
        self
    }

    /// Whether to sample the process's CPU and memory during each run and report REX's
    /// `RexRunnerProcessCpuUsage`, `RexRunnerRssMemoryUsageAverage` and
    /// `RexRunnerVirtualMemoryUsageAverage` (default: on; the CLI turns it off when
    /// `REX_RUNNER_DISABLE_MONITORING` is `true` or `1`). The figures are per process: with
    /// concurrent runs they cover all of them.
    pub fn process_monitoring(mut self, enabled: bool) -> Self {
        self.disable_monitoring = !enabled;
        self
    }

    /// Whether the engine records its function catalog (argument names, docs and the Cedar
    /// actions of every declared function), which [`Runner::engine`]'s `catalog()` and
    /// `function_signatures()` read back (default: on). Off, the same functions are
    /// registered and scripts behave the same, but the catalog is empty; building the engine
    /// then costs about a fifth less (726 instead of 884 µs in `startup/engine_all_modules`).
    /// The CLI turns it off for runs (not for
    /// `--print-functions`), as do MCP's per-run processes.
    pub fn function_catalog(mut self, enabled: bool) -> Self {
        self.without_catalog = !enabled;
        self
    }

    /// How the engine holds Rhai's standard library (default
    /// [`StandardLibrary::Eager`]: registered once per process, the fastest calls). The CLI
    /// asks for [`StandardLibrary::Lazy`], since its process runs one script: start-up then
    /// skips registering the hundreds of functions a script does not call.
    pub fn standard_library(mut self, standard: StandardLibrary) -> Self {
        self.standard = standard;
        self
    }

    /// Builds an engine for this one script: rhai-sdk's and vendors' declared functions that
    /// `script` cannot reach (their names are not words of its text) are left out, which
    /// makes start-up cheaper (see `rhai_sdk::binding::only_reachable_from` for why this is
    /// exact). The runner must then run only that script: another one may find a function
    /// missing. The CLI and MCP's run processes, which run one script each, do this.
    pub fn only_for_script(mut self, script: &str) -> Self {
        self.only_for_script = Some(script.to_string());
        self
    }

    /// The redaction dictionary used when `read` is denied but `redacted_read` is allowed
    /// (default: REX's `/etc/opt/rex/rex_redaction.config`). The dictionary itself is read
    /// through the gated SDK, so the policy must allow reading it.
    pub fn redaction_config(mut self, path: impl Into<String>) -> Self {
        self.redaction_config = Some(path.into());
        self
    }

    /// Cap of the output document, in bytes of compact JSON (default
    /// [`crate::DEFAULT_MAX_DOCUMENT_BYTES`], 16 MiB). What does not fit is left out and
    /// counted in the document's `dropped` member (see [`crate::cap_document`]).
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = Some(bytes);
        self
    }

    /// Parses and validates the policies and builds the engine.
    pub fn build(mut self) -> Result<Runner, RunnerError> {
        for path in std::mem::take(&mut self.policy_files) {
            self.policies
                .push(crate::inputs::read_policy(&path, false)?);
        }
        // Every decision also becomes a `tracing` event (denials at WARN, allows at DEBUG),
        // which costs nothing when no subscriber wants it.
        let tracing_sink = Arc::new(TracingAuditSink::new());
        let sinks: Vec<Arc<dyn AuditSink>> = self
            .audit
            .into_iter()
            .chain(self.audit_log.map(|s| Arc::new(s) as Arc<dyn AuditSink>))
            .chain(std::iter::once(tracing_sink.clone() as Arc<dyn AuditSink>))
            .collect();
        let slot = AuthorizerSlot::new();
        let cancel = CancelHandle::new();
        let mut sdk = SdkContext::with_pending_authorizer(slot.clone())
            .with_limits(self.sdk_limits)
            .with_cancel_flag(cancel.flag())
            .with_interrupt_check(Arc::new(|| rex_core::current_interruption().is_some()))
            .with_memory_budget(Arc::new(RunMemoryBudget));
        if let Some(path) = &self.redaction_config {
            sdk = sdk.with_redaction_config(path);
        }
        let rex_modules = self.rex_modules.unwrap_or_else(RexModules::all);
        let modules = self.modules;

        // The engine captures the SDK context but asks its authorizer only when a script
        // runs, so it is built first: a process's first policy load pays for building Cedar's
        // schema, which a caller can have started meanwhile on another thread
        // (`rex_auth::warm_up`, as the CLI does). Until the authorizer is installed the
        // context refuses every check; a runner is returned only once it is installed.
        let without_catalog = self.without_catalog;
        let standard = self.standard;
        let only_for_script = self.only_for_script.take();
        let engine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let build = || {
                RexEngine::builder_with(standard)
                    .limits(self.limits)
                    .register(move |engine| {
                        crate::builtins::register(engine);
                        rex_modules.register(engine, &sdk);
                        for m in &modules {
                            m(engine, &sdk);
                        }
                    })
                    .build()
            };
            let build = || {
                if without_catalog {
                    rhai_sdk::binding::without_declarations(build)
                } else {
                    build()
                }
            };
            match &only_for_script {
                Some(script) => rhai_sdk::binding::only_reachable_from(script, build),
                None => build(),
            }
        }))
        .map_err(|_| RunnerError::Internal("a module registration panicked".into()))?;

        // The OS user is looked up (NSS: nscd, `/etc/passwd`) before the policies are
        // loaded, while the schema a first load waits for may still be being built on
        // another thread; a policy error is still the one reported when both fail.
        let principal = match self.principal {
            Some(p) => Ok(p),
            None => rust_sdk::runtime::identity::effective_user_principal(),
        };
        let policies = if self.policies.is_empty() {
            Policies::deny_all()
        } else {
            Policies::from_sources(
                self.policies
                    .iter()
                    .map(|p| (p.name.as_str(), p.text.as_str())),
            )?
        };
        let principal = principal?;
        let mut auth = Authorizer::builder()
            .principal(principal)
            .policies(policies)
            .permissive(self.permissive)
            .audit_sink(Arc::new(FanOut(sinks)));
        if !self.shadow_policies.is_empty() {
            let shadow = Policies::from_sources(
                self.shadow_policies
                    .iter()
                    .map(|p| (p.name.as_str(), p.text.as_str())),
            )
            .map_err(RunnerError::ShadowPolicy)?;
            auth = auth.shadow_policies(shadow);
        }
        let authorizer = Arc::new(auth.build()?);
        if slot.install(authorizer.clone()).is_err() {
            return Err(RunnerError::Internal(
                "the SDK context already had an authorizer".into(),
            ));
        }
        Ok(Runner {
            authorizer,
            engine,
            cancel,
            policy_sha256: self.policies.iter().map(|p| p.sha256.clone()).collect(),
            log_config: self.log_config,
            metrics_limits: self.metrics_limits,
            monitoring: !self.disable_monitoring,
            tracing_sink,
            max_document_bytes: self
                .max_document_bytes
                .unwrap_or(crate::output::DEFAULT_MAX_DOCUMENT_BYTES),
        })
    }
}

struct FanOut(Vec<Arc<dyn AuditSink>>);

impl AuditSink for FanOut {
    fn record(&self, record: &rex_auth::DecisionRecord<'_>) {
        if record.shadow.is_some()
            && let Some(count) = rex_core::run_extension::<ShadowDivergences>()
        {
            count.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for s in &self.0 {
            s.record(record);
        }
    }
}

/// The shadow divergences of one run (a [`RunExtensions`] value, so that concurrent runs of
/// one runner count apart).
#[derive(Debug, Default, Clone)]
struct ShadowDivergences(Arc<std::sync::atomic::AtomicU64>);

/// Runs scripts under one policy set. Build once, run many times.
pub struct Runner {
    authorizer: Arc<Authorizer>,
    engine: RexEngine,
    cancel: CancelHandle,
    policy_sha256: Vec<String>,
    log_config: ScriptLogsConfig,
    metrics_limits: MetricsLimits,
    monitoring: bool,
    tracing_sink: Arc<TracingAuditSink>,
    max_document_bytes: usize,
}

/// The result of one run: the output document and the exit status the CLI uses.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The document (REX's shape plus Rex's additions).
    pub document: OutputDocument,
    /// The exit status.
    pub exit: ExitStatus,
    /// The engine's outcome.
    pub outcome: RunOutcome,
    /// The run's metrics and alarms (the runner's and the script's), e.g. for
    /// [`RunMetrics::to_prometheus_text`].
    pub metrics: RunMetrics,
}

impl Runner {
    /// A builder.
    pub fn builder() -> RunnerBuilder {
        RunnerBuilder::default()
    }

    /// The authorizer (shared with every SDK call).
    pub fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }

    /// The engine.
    pub fn engine(&self) -> &RexEngine {
        &self.engine
    }

    /// Cancels the running script (e.g. from a SIGTERM handler).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Compiles a script without running it.
    pub fn check(&self, script: &str, args: &ScriptArguments) -> Result<(), RunError> {
        self.engine.compile(script, args).map(|_| ())
    }

    /// Runs a script with arguments and builds the output document.
    ///
    /// Emits `tracing` events with target [`RUNNER_LOG_TARGET`]: `run started` (script hash,
    /// principal, policy hashes) and `run finished` (status, exit code, error type, duration,
    /// number of denials) at INFO, plus one event per authorization decision (see
    /// [`TracingAuditSink`]). Script text, script output and file contents are never logged.
    pub fn run(&self, script: &Input, args: &ScriptArguments) -> RunReport {
        let started = Instant::now();
        tracing::info!(
            target: RUNNER_LOG_TARGET,
            script_sha256 = %script.sha256,
            principal = %self.authorizer.principal(),
            policy_sha256 = %self.policy_sha256.join(","),
            permissive = self.authorizer.is_permissive(),
            "run started"
        );
        // Sampled by this thread while it waits for the script's: no monitor thread.
        let monitor = if self.monitoring {
            ProcessMonitor::start().map(Arc::new)
        } else {
            None
        };
        let while_running = monitor.clone().map(|m| rex_core::WhileRunning {
            every: MONITOR_INTERVAL,
            tick: Arc::new(move || m.sample()),
        });
        let run_metrics = RunMetrics::new(self.metrics_limits);
        let mut extensions = RunExtensions::new();
        extensions.insert(run_metrics.clone());
        extensions.insert(RunScript(script.sha256.clone()));
        let shadow = self
            .authorizer
            .shadow_policies()
            .map(|_| ShadowDivergences::default());
        if let Some(count) = &shadow {
            extensions.insert(count.clone());
        }
        let outcome = self.engine.run_with(
            &script.text,
            args,
            &RunOptions {
                cancel: Some(self.cancel.clone()),
                timeout: None,
                extensions,
                while_running,
            },
        );
        if let Some(m) = monitor {
            let usage = m.stop();
            // Only limits on names and counts can fail here, which fixed names never reach.
            let _ = run_metrics.record_process_usage(rex_metrics::runner::ProcessUsage {
                cpu_percent: usage.cpu_percent,
                rss_megabytes_average: usage.rss_megabytes_average,
                virtual_megabytes_average: usage.virtual_megabytes_average,
            });
        }
        let logs = convert_logs(&outcome, self.log_config);
        let mut document = match &outcome.error {
            None => OutputDocument {
                output: outcome.output.clone(),
                status: Status::Success,
                error: None,
                alarms: Vec::new(),
                metrics: Vec::new(),
                logs,
                denial: None,
                limit: None,
                script_sha256: None,
                policy_sha256: Vec::new(),
                dropped: None,
                sandbox: None,
                shadow_divergences: None,
            },
            Some(err) => {
                let (error_type, message) = classify(err);
                OutputDocument {
                    output: String::new(),
                    status: Status::Error,
                    error: Some(ErrorInfo {
                        error_type,
                        message: truncate_message(&message),
                    }),
                    alarms: Vec::new(),
                    metrics: Vec::new(),
                    logs,
                    denial: err.denied().map(DenialInfo::of),
                    limit: err.limit(),
                    script_sha256: None,
                    policy_sha256: Vec::new(),
                    dropped: None,
                    sandbox: None,
                    shadow_divergences: None,
                }
            }
        };
        document.script_sha256 = Some(script.sha256.clone());
        document.policy_sha256 = self.policy_sha256.clone();
        document.shadow_divergences =
            shadow.map(|c| c.0.load(std::sync::atomic::Ordering::Relaxed));
        crate::metrics::add_run_metrics(&mut document, &run_metrics, &outcome, started.elapsed());
        crate::output::cap_document(
            &mut document,
            self.max_document_bytes,
            run_metrics.runner_metrics().len(),
            run_metrics.runner_alarms().len(),
        );
        self.tracing_sink.flush_suppressed();
        let exit = match &outcome.error {
            None => ExitStatus::Success,
            Some(e) => ExitStatus::for_error(e.kind()),
        };
        log_run_finished(script, &document, &outcome, exit, started.elapsed());
        RunReport {
            document,
            exit,
            outcome,
            metrics: run_metrics,
        }
    }
}

/// The `run finished` event. The error message is left out: scripts choose its text.
fn log_run_finished(
    script: &Input,
    document: &OutputDocument,
    outcome: &RunOutcome,
    exit: ExitStatus,
    elapsed: std::time::Duration,
) {
    let (status, error_type) = match &document.error {
        None => ("SUCCESS", ""),
        Some(e) => ("ERROR", e.error_type.as_str()),
    };
    let error_kind = outcome
        .error
        .as_ref()
        .map(|e| format!("{:?}", e.kind()))
        .unwrap_or_default();
    tracing::info!(
        target: RUNNER_LOG_TARGET,
        script_sha256 = %script.sha256,
        status,
        exit = exit.code(),
        error_type,
        error_kind,
        duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        denials = outcome.denials.len().saturating_add(outcome.dropped_denials),
        "run finished"
    );
}

/// REX's error type and message for a run error.
fn classify(err: &RunError) -> (ErrorType, String) {
    let message = err.to_string();
    let t = match err.kind() {
        ErrorKind::AccessDenied => ErrorType::AccessDeniedException,
        ErrorKind::InvalidArguments => ErrorType::ValidationException,
        ErrorKind::Internal => ErrorType::InternalException,
        ErrorKind::Compile | ErrorKind::Runtime | ErrorKind::Limit(_) => ErrorType::ScriptException,
    };
    (t, message)
}

fn convert_logs(outcome: &RunOutcome, config: ScriptLogsConfig) -> Vec<LogEntry> {
    let logs = ScriptLogs::new(config);
    for l in &outcome.logs {
        let level = match l.level {
            rex_core::LogLevel::Trace => rex_logging::LogLevel::Trace,
            rex_core::LogLevel::Debug => rex_logging::LogLevel::Debug,
            rex_core::LogLevel::Info => rex_logging::LogLevel::Info,
            rex_core::LogLevel::Warn => rex_logging::LogLevel::Warn,
            rex_core::LogLevel::Error => rex_logging::LogLevel::Error,
        };
        let line = l.line.and_then(|n| u32::try_from(n).ok());
        logs.log(level, &l.message, line, None);
    }
    if outcome.dropped_logs > 0 {
        logs.warn(
            &format!("{} log entries were dropped", outcome.dropped_logs),
            None,
        );
    }
    if outcome.truncated_logs > 0 {
        logs.warn(
            &format!(
                "{} log entries were cut to their size limit",
                outcome.truncated_logs
            ),
            None,
        );
    }
    if outcome.dropped_denials > 0 {
        logs.warn(
            &format!(
                "{} access denials were not recorded (limit of the run reached)",
                outcome.dropped_denials
            ),
            None,
        );
    }
    logs.take()
}

/// The script run's memory budget, as the SDK sees it: what the run on the calling thread may
/// still build ([`rex_core::budget_left`]); an SDK result that would pass it ends the run
/// with the memory limit (issue 29).
struct RunMemoryBudget;

impl rust_sdk::MemoryBudget for RunMemoryBudget {
    fn left(&self) -> usize {
        rex_core::budget_left()
    }

    fn exceeded(&self) {
        rex_core::exceed_memory_budget();
    }
}
