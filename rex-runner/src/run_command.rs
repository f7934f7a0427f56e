//! A script run from the command line: inputs, limits, signals, sandbox, the document and
//! the exit status; `--print-functions`.

use super::*;

pub(crate) fn emit(doc: &OutputDocument, format: OutputFormat, verbose: bool) -> bool {
    let r = render(doc, format, verbose);
    let out_ok = std::io::stdout().write_all(r.stdout.as_bytes()).is_ok();
    let err_ok = std::io::stderr().write_all(r.stderr.as_bytes()).is_ok();
    out_ok && err_ok
}

/// Prints the document of a run that could not start. The log gets the error type and exit
/// code only: the message can quote input files (e.g. a policy's source in a diagnostic).
pub(crate) fn early(
    args: &RunArgs,
    error_type: ErrorType,
    message: &str,
    status: ExitStatus,
) -> ExitStatus {
    // A run refused before its policies could be checked runs no script: the log file
    // (deferred by `main`) gets the line. After a refusal for the script's reach it was
    // discarded and stays unopened.
    let _ = rex_logging::open_deferred_json_file();
    tracing::warn!(
        target: rex_runner::RUNNER_LOG_TARGET,
        error_type = error_type.as_str(),
        exit = status.code(),
        "run not started"
    );
    emit(
        &OutputDocument::early_error(error_type, message),
        args.output_format,
        args.verbose,
    );
    status
}

pub(crate) fn limits(args: &RunArgs) -> Limits {
    let mut l = Limits::default();
    if let Some(t) = args.timeout {
        l.timeout = Some(t);
    }
    if let Some(v) = args.max_operations {
        l.max_operations = v;
    }
    if let Some(v) = args.max_string_size {
        l.max_string_size = v;
    }
    if let Some(v) = args.max_array_size {
        l.max_array_size = v;
    }
    if let Some(v) = args.max_map_size {
        l.max_map_size = v;
    }
    if let Some(v) = args.max_call_depth {
        l.max_call_depth = v;
    }
    if let Some(v) = args.max_memory {
        l.max_memory = v;
    }
    l
}

/// The address-space cap of a command-line run (issue 29, item 8): twice the memory budget
/// (what the engine counts is not all the process maps: allocator slack, fragmentation, the
/// rendered document), the script thread's stack (reserved, counted by the kernel), and
/// 1 GiB for the runtime itself (code, Cedar, other threads' stacks and allocator arenas).
pub(crate) fn address_space_cap(limits: &Limits) -> u64 {
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    as_u64(limits.max_memory)
        .saturating_mul(2)
        .saturating_add(as_u64(limits.stack_size))
        .saturating_add(1 << 30)
}

pub(crate) fn run(args: &RunArgs) -> ExitStatus {
    let limits = limits(args);
    if !args.print_functions
        && let Err(e) = rust_sdk::runtime::child::cap_own_address_space(address_space_cap(&limits))
    {
        tracing::warn!(
            target: rex_runner::RUNNER_LOG_TARGET,
            error = %e,
            "cannot cap the runner's address space"
        );
    }
    let mut builder = Runner::builder()
        .limits(limits)
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(!monitoring_disabled_by_env())
        // The catalog is only printed, never consulted by a run.
        .function_catalog(args.print_functions)
        // One script per process: the standard library's functions are found when first
        // called instead of all registered at start-up.
        .standard_library(if args.print_functions {
            rex_core::StandardLibrary::Eager
        } else {
            rex_core::StandardLibrary::Lazy
        })
        .permissive(args.permissive);
    if let Some(n) = args.max_document_bytes {
        builder = builder.max_document_bytes(n);
    }
    if let Some(path) = &args.redaction_config {
        builder = builder.redaction_config(path.to_string_lossy());
    }
    for p in &args.policy_file {
        match read_policy(p, args.allow_writable_policy) {
            Ok(input) => builder = builder.policy(input),
            Err(e) => {
                return early(
                    args,
                    ErrorType::CommunicationException,
                    &e.to_string(),
                    ExitStatus::InvalidInput,
                );
            }
        }
    }
    for p in &args.shadow_policy {
        match read_policy(p, args.allow_writable_policy) {
            Ok(input) => builder = builder.shadow_policy(input),
            Err(e) => {
                return early(
                    args,
                    ErrorType::CommunicationException,
                    &format!("shadow policy: {e}"),
                    ExitStatus::InvalidInput,
                );
            }
        }
    }
    if let Some(name) = &args.principal {
        match rex_auth::Principal::user(name) {
            Ok(p) => builder = builder.principal(p),
            Err(e) => {
                return early(
                    args,
                    ErrorType::ValidationException,
                    &e.to_string(),
                    ExitStatus::InvalidInput,
                );
            }
        }
    }
    // The audit log is opened once the policies show that the script cannot reach it (see
    // below): nothing is created for a run that is refused.
    let audit_log = args.audit_log.as_ref().map(|_| DeferredAuditLogSink::new());
    if let Some(sink) = &audit_log {
        builder = builder.audit_sink(std::sync::Arc::new(sink.clone()));
    }
    // The script is read before the engine is built, so that the engine declares only the
    // functions the script can reach; an unreadable script is still reported after the
    // policies' errors, as before.
    let script = if args.print_functions || args.print_sandbox {
        None
    } else {
        args.script_file
            .as_ref()
            .map(|path| read_input("script file", path))
    };
    if let Some(Ok(input)) = &script {
        builder = builder.only_for_script(&input.text);
    }
    let runner = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            let message = e.render();
            return early(
                args,
                ErrorType::ValidationException,
                &message,
                ExitStatus::InvalidInput,
            );
        }
    };
    // These print and run no script: the log file is opened as for any command.
    if (args.print_functions || args.print_sandbox)
        && let Err(e) = rex_logging::open_deferred_json_file()
    {
        return early(
            args,
            ErrorType::CommunicationException,
            &e.to_string(),
            ExitStatus::InvalidInput,
        );
    }
    if args.print_functions {
        return print_functions(&runner, args.output_format);
    }
    if args.print_sandbox {
        let auth = runner.authorizer();
        let layers =
            rex_auth::sandbox_plan::SandboxLayers::derive(&auth.policies(), auth.principal());
        return print_plan(&layers, args.output_format);
    }
    let Some(script) = script else {
        eprintln!("error: --script-file is required (or use `validate` / `check`); see --help");
        return ExitStatus::Usage;
    };
    let script = match script {
        Ok(s) => s,
        Err(e) => {
            return early(
                args,
                ErrorType::CommunicationException,
                &e.to_string(),
                ExitStatus::InvalidInput,
            );
        }
    };
    let script_args = match load_args(args.script_arguments_file.as_deref()) {
        Ok(a) => a,
        Err((t, m)) => return early(args, t, &m, ExitStatus::InvalidInput),
    };
    if let Err(e) = cancel_on_signals(&runner) {
        return early(
            args,
            ErrorType::InternalException,
            &format!("cannot install the SIGTERM/SIGINT handlers: {e}"),
            ExitStatus::Internal,
        );
    }
    // The runner's own files must be out of the script's reach (issue 29): decided by
    // Cedar over the run's policies and principal, before anything runs.
    for (what, path) in [
        ("audit log", &args.audit_log),
        ("log file", &args.log_file),
        ("metrics file", &args.metrics_file),
    ] {
        if let Some(path) = path
            && let Err(e) =
                rex_runner::own_files::check_out_of_reach(runner.authorizer(), what, path)
        {
            // Nothing of the runner's is created: the deferred log file is never opened.
            rex_logging::discard_deferred_json_file();
            return early(
                args,
                ErrorType::ValidationException,
                &e.to_string(),
                ExitStatus::InvalidInput,
            );
        }
    }
    // Out of reach: the log file and the audit log are opened now, before the script runs
    // (appending, never through a symbolic link), and written through these descriptors.
    if let Err(e) = rex_logging::open_deferred_json_file() {
        return early(
            args,
            ErrorType::CommunicationException,
            &e.to_string(),
            ExitStatus::InvalidInput,
        );
    }
    if let (Some(path), Some(sink)) = (&args.audit_log, &audit_log) {
        match rex_logging::AuditLog::open(path) {
            Ok(log) => {
                sink.open(log);
            }
            Err(e) => {
                return early(
                    args,
                    ErrorType::CommunicationException,
                    &format!("cannot open audit log {}: {e}", path.display()),
                    ExitStatus::InvalidInput,
                );
            }
        }
    }
    // The metrics file is opened before the sandbox is applied (the policies need not
    // allow writing it): it is the operator's file, not the script's.
    let metrics_out = match &args.metrics_file {
        Some(path) => match open_operator_file(path) {
            Ok(f) => Some((path, f)),
            Err(e) => {
                eprintln!("error: cannot write metrics file {}: {e}", path.display());
                return ExitStatus::Internal;
            }
        },
        None => None,
    };
    // Every input is read; the script's thread, the monitor and any child start after this.
    let sandbox = match apply_sandbox(&runner, args.sandbox) {
        Ok(s) => s,
        Err(e) => {
            return early(
                args,
                ErrorType::ValidationException,
                &e.to_string(),
                ExitStatus::InvalidInput,
            );
        }
    };
    let mut report = runner.run(&script, &script_args);
    report.document.sandbox = Some(sandbox);
    if !emit(&report.document, args.output_format, args.verbose) {
        return ExitStatus::Internal;
    }
    if let Some((path, file)) = metrics_out
        && let Err(e) = write_operator_file(file, &report.metrics.to_prometheus_text())
    {
        eprintln!("error: cannot write metrics file {}: {e}", path.display());
        return ExitStatus::Internal;
    }
    let status = if args.exit_zero_on_script_error && report.exit != ExitStatus::Internal {
        ExitStatus::Success
    } else {
        report.exit
    };
    // The process ends right after this, and everything a run writes (output, metrics file,
    // audit log, logs) is written by now: the engine (hundreds of registered functions), the
    // policies and the report are left to the kernel rather than freed one by one, which
    // took longer than running a short script.
    std::mem::forget(report);
    std::mem::forget(runner);
    status
}

/// `--print-functions`: the script API of the engine at hand (the catalog generated from
/// what its modules registered: signature in script types, module, the Cedar actions each
/// function checks, doc) and every function registered on the engine. JSON for the JSON
/// formats, text for `human`.
pub(crate) fn print_functions(runner: &Runner, format: OutputFormat) -> ExitStatus {
    let catalog = runner.engine().catalog();
    let registered = runner.engine().function_signatures(false);
    let text = match format {
        OutputFormat::Human => {
            let mut out = String::new();
            let mut module = "";
            for f in &catalog {
                if f.module != module {
                    module = &f.module;
                    out.push_str(&format!("# {module}\n"));
                }
                let checks = if f.actions.is_empty() {
                    "no Cedar check".to_string()
                } else {
                    format!("checks {}", f.action_names().join(", "))
                };
                out.push_str(&format!("{}    ({checks})  {}\n", f.signature, f.doc));
            }
            out.push_str("# Rhai's standard library, routed by the runner\n");
            out.push_str("debug(x)    (no Cedar check)  Appends a DEBUG entry with x's rendering to the run's logs.\n");
            out.push_str("MetricUnitType::*    (no Cedar check)  The metric units (constants).\n");
            out.push_str("# every registered function (Rhai signatures)\n");
            for f in &registered {
                out.push_str(f);
                out.push('\n');
            }
            out
        }
        OutputFormat::Json | OutputFormat::PrettyJson => {
            let functions: Vec<serde_json::Value> = catalog
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name,
                        "signature": f.signature,
                        "module": f.module,
                        "actions": f.action_names(),
                        "doc": f.doc,
                        "kind": f.kind,
                        "params": f.params,
                        "returns": f.returns,
                    })
                })
                .collect();
            let doc = serde_json::json!({ "functions": functions, "registered": registered });
            let rendered = if format == OutputFormat::PrettyJson {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            match rendered {
                Ok(t) => t + "\n",
                Err(_) => return ExitStatus::Internal,
            }
        }
    };
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return ExitStatus::Internal;
    }
    ExitStatus::Success
}

/// REX's `REX_RUNNER_DISABLE_MONITORING` (`true` or `1`) turns the process metrics off.
pub(crate) fn monitoring_disabled_by_env() -> bool {
    std::env::var("REX_RUNNER_DISABLE_MONITORING")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// SIGTERM or SIGINT cancels the running script at its next check (native calls included);
/// the run then ends with a `Cancelled` limit error and exit code 4. A second signal of the
/// same kind while the first is pending terminates the process at once.
pub(crate) fn cancel_on_signals(runner: &Runner) -> std::io::Result<()> {
    let flag = runner.cancel_handle().flag();
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())?;
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(())
}

/// Creates a file the operator named on the command line (not a script operation, so it does
/// not go through rust-sdk or Cedar).
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub(crate) fn open_operator_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// Writes the operator's file opened by [`open_operator_file`].
#[allow(clippy::disallowed_types)]
pub(crate) fn write_operator_file(mut file: std::fs::File, text: &str) -> std::io::Result<()> {
    file.write_all(text.as_bytes())
}

/// The start-up thread that warms Cedar (see `main`): joined before a broker is forked, which
/// needs a single-threaded process.
static WARM_UP: std::sync::Mutex<Option<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(None);

/// Records the warm-up thread.
pub(crate) fn set_warm_up(h: std::thread::JoinHandle<()>) {
    if let Ok(mut slot) = WARM_UP.lock() {
        *slot = Some(h);
    }
}

/// Waits for the warm-up thread, if it still runs.
fn join_warm_up() {
    let h = WARM_UP.lock().ok().and_then(|mut slot| slot.take());
    if let Some(h) = h {
        let _ = h.join();
    }
}

/// Opens the file `learn` writes: created if missing, never through a symbolic link
/// (`O_NOFOLLOW`), not truncated until the learned policy is written.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub(crate) fn open_learned_output(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(rust_sdk::runtime::O_NOFOLLOW)
        .open(path)
}

/// Replaces the content of the file opened by [`open_learned_output`] with `text`.
#[allow(clippy::disallowed_types)]
pub(crate) fn write_learned_output(mut file: std::fs::File, text: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.write_all(text.as_bytes())
}

/// Derives the sandbox from the runner's policies and applies it to this thread (which then
/// starts the script's thread). The result goes in the document and the log.
pub(crate) fn apply_sandbox(
    runner: &Runner,
    arg: SandboxArg,
) -> Result<serde_json::Value, rust_sdk::runtime::sandbox::SandboxError> {
    apply_sandbox_mode(runner, arg.mode())
}

/// [`apply_sandbox`] with a mode (the MCP child receives it from the server).
pub(crate) fn apply_sandbox_mode(
    runner: &Runner,
    mode: rust_sdk::runtime::sandbox::SandboxMode,
) -> Result<serde_json::Value, rust_sdk::runtime::sandbox::SandboxError> {
    let report = if mode == rust_sdk::runtime::sandbox::SandboxMode::Off {
        rust_sdk::runtime::sandbox::apply(
            &rex_auth::sandbox_plan::SandboxLayers::empty(),
            mode,
            None,
        )?
    } else {
        let auth = runner.authorizer();
        let layers =
            rex_auth::sandbox_plan::SandboxLayers::derive(&auth.policies(), auth.principal());
        // The broker decides with its own authorizer of the same policies and principal (no
        // audit sink: the runner's own check of the same request is the one recorded).
        let broker = if layers.unmount_broker.is_empty() {
            None
        } else {
            join_warm_up();
            rex_auth::Authorizer::builder()
                .principal(auth.principal().clone())
                .policies(auth.policies())
                .permissive(auth.is_permissive())
                .build()
                .ok()
                .map(|a| rust_sdk::SdkContext::new(std::sync::Arc::new(a)))
        };
        rust_sdk::runtime::sandbox::apply(&layers, mode, broker)?
    };
    tracing::info!(
        target: rex_runner::RUNNER_LOG_TARGET,
        mode = mode.as_str(),
        status = report.status.as_str(),
        landlock_abi = report.kernel_abi,
        fs_rules = report.fs_rules,
        exec_rules = report.exec_rules,
        unmount_broker = report.unmount_broker,
        "sandbox"
    );
    Ok(serde_json::json!({
        "mode": mode.as_str(),
        "status": report.status.as_str(),
        "landlock_abi": report.kernel_abi,
        "file_system_restricted": report.fs_restricted,
        "tcp_connect_restricted": report.net_restricted,
        "rules": report.fs_rules,
        "executed_program_rules": report.exec_rules,
        "unmount_broker": report.unmount_broker,
        "no_new_privs": report.no_new_privs,
    }))
}

pub(crate) fn load_args(
    path: Option<&std::path::Path>,
) -> Result<ScriptArguments, (ErrorType, String)> {
    let Some(path) = path else {
        return Ok(ScriptArguments::new());
    };
    let input = read_input("script arguments file", path)
        .map_err(|e| (ErrorType::CommunicationException, e.to_string()))?;
    // Malformed JSON is a communication error (REX). Arguments that parse but break a limit
    // (nesting depth, sizes, names) are left to the run, which reports them as REX does:
    // VALIDATION_EXCEPTION with the `RexRunnerScriptArgumentValidationFailure` alarm and count.
    serde_json::from_str::<ScriptArguments>(&input.text).map_err(|e| {
        (
            ErrorType::CommunicationException,
            rex_core::ArgumentsError::Malformed(e.to_string()).to_string(),
        )
    })
}
