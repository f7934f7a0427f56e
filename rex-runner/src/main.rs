//! The `rex-runner` command: run a Rhai script under a Cedar policy.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod mcp;

use clap::{Parser, Subcommand};
use rex_core::{Limits, ScriptArguments};
use rex_runner::{
    AuditLogSink, ErrorType, ExitStatus, OutputDocument, OutputFormat, Runner, read_input,
    read_policy, render,
};

/// Counts, per thread, the bytes each run holds: the exact memory budget of
/// `--max-memory` (see docs/EMBEDDING.md, "Memory budget").
#[global_allocator]
static ALLOCATOR: rex_core::CountingAllocator = rex_core::CountingAllocator::new();

/// Run a Rhai script on this host, with every host operation checked against Cedar policies.
///
/// Exit codes: 0 success, 1 script error, 2 usage error, 3 access denied, 4 limit exceeded
/// or timeout, 5 invalid input (unreadable file, invalid policy or arguments), 6 internal
/// error.
#[derive(Debug, Parser)]
#[command(name = "rex-runner", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The Rhai script to run (`-` reads it from standard input).
    #[arg(short = 's', long = "script-file", value_name = "PATH")]
    script_file: Option<PathBuf>,

    /// A Cedar policy file; repeat to load several. Without one, everything is denied.
    #[arg(short = 'p', long = "policy-file", value_name = "PATH")]
    policy_file: Vec<PathBuf>,

    /// Script arguments in REX's JSON format ({"name": {"stringValue": "x"}, ...}).
    #[arg(short = 'a', long = "script-arguments-file", value_name = "PATH")]
    script_arguments_file: Option<PathBuf>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "output-format",
        value_enum,
        default_value = "json"
    )]
    output_format: OutputFormat,

    /// With `-o human`: also print the script's logs and the run's metrics.
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Stop the script after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// Stop the script after this many Rhai operations.
    #[arg(long, value_name = "N")]
    max_operations: Option<u64>,

    /// Largest string a script may build, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_string_size: Option<usize>,

    /// Largest array a script may build, in elements.
    #[arg(long, value_name = "N")]
    max_array_size: Option<usize>,

    /// Largest object map a script may build, in entries.
    #[arg(long, value_name = "N")]
    max_map_size: Option<usize>,

    /// Deepest function-call nesting.
    #[arg(long, value_name = "N")]
    max_call_depth: Option<usize>,

    /// Largest output document, in bytes of compact JSON (default 16 MiB). What does not fit
    /// (the end of the output, then logs, metrics, alarms) is left out and counted in the
    /// document's `dropped` member.
    #[arg(long, value_name = "BYTES")]
    max_document_bytes: Option<usize>,

    /// Memory budget of the run, in bytes: what the script holds at any moment (values,
    /// closures, logs). Default 1 GiB.
    #[arg(long, value_name = "BYTES")]
    max_memory: Option<usize>,

    /// Kernel backstop under Cedar: a Landlock sandbox derived from the policies (see
    /// docs/SANDBOX.md). `best-effort` confines where the kernel supports it; `require`
    /// refuses to run (exit 5) where it cannot.
    #[arg(long, value_enum, default_value = "best-effort")]
    sandbox: SandboxArg,

    /// Print the sandbox ruleset derived from the policies and exit (`-o human` for text).
    #[arg(long)]
    print_sandbox: bool,

    /// The Cedar principal name, `User::"<NAME>"` (default: the effective user).
    #[arg(long, value_name = "NAME")]
    principal: Option<String>,

    /// Append every authorization decision to this file as JSON lines.
    #[arg(long, value_name = "PATH")]
    audit_log: Option<PathBuf>,

    /// Policy learning: record denials in the audit log, then allow them. Never use in production.
    #[arg(long)]
    permissive: bool,

    /// Accept a policy file that group or others can write (refused by default).
    #[arg(long)]
    allow_writable_policy: bool,

    /// Exit 0 even when the script fails (REX's behaviour); the document still says ERROR.
    #[arg(long)]
    exit_zero_on_script_error: bool,

    /// The redaction dictionary for redacted reads (default: /etc/opt/rex/rex_redaction.config).
    #[arg(long, value_name = "PATH")]
    redaction_config: Option<PathBuf>,

    /// Also write the run's metrics in Prometheus text format to this file.
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,

    /// Print every function a script can call, with its signature, and exit.
    #[arg(long)]
    print_functions: bool,

    /// Append the runner's operational log (runs, denials; level from LOG_LEVEL) to this file
    /// as JSON lines. Syslog output is on unless SYSLOG_ENABLE=0.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
}

/// `--sandbox` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SandboxArg {
    /// No kernel sandbox.
    Off,
    /// Confine where the kernel supports Landlock; report "not enforced" elsewhere.
    BestEffort,
    /// Refuse to run where the kernel cannot enforce the sandbox.
    Require,
}

impl SandboxArg {
    fn mode(self) -> rust_sdk::runtime::sandbox::SandboxMode {
        match self {
            SandboxArg::Off => rust_sdk::runtime::sandbox::SandboxMode::Off,
            SandboxArg::BestEffort => rust_sdk::runtime::sandbox::SandboxMode::BestEffort,
            SandboxArg::Require => rust_sdk::runtime::sandbox::SandboxMode::Require,
        }
    }
}

/// `learn`'s arguments.
#[derive(Debug, clap::Args)]
struct LearnArgs {
    /// The Rhai script to run.
    #[arg(short = 's', long = "script-file", value_name = "PATH")]
    script_file: PathBuf,
    /// The ceiling: a Cedar policy file the run is enforced under (repeat for several).
    #[arg(
        short = 'p',
        long = "policy-file",
        value_name = "PATH",
        required = true
    )]
    policy_file: Vec<PathBuf>,
    /// Where to write the learned policy.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: PathBuf,
    /// Script arguments in REX's JSON format.
    #[arg(short = 'a', long = "script-arguments-file", value_name = "PATH")]
    script_arguments_file: Option<PathBuf>,
    /// `exact`: the resources used; `dir`: files widened to their directory.
    #[arg(long, value_enum, default_value = "exact")]
    generalize: rex_runner::learn::Generalize,
    /// Kernel backstop derived from the ceiling (as for a run).
    #[arg(long, value_enum, default_value = "best-effort")]
    sandbox: SandboxArg,
    /// The Cedar principal name (default: the effective user).
    #[arg(long, value_name = "NAME")]
    principal: Option<String>,
    /// Accept a policy file that group or others can write (refused by default).
    #[arg(long)]
    allow_writable_policy: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the Landlock sandbox ruleset derived from policy files (what `--sandbox`
    /// applies), for review.
    SandboxPlan {
        /// The policy files.
        #[arg(short = 'p', long = "policy-file", required = true)]
        policies: Vec<PathBuf>,
        /// Output format.
        #[arg(
            short = 'o',
            long = "output-format",
            value_enum,
            default_value = "human"
        )]
        output_format: OutputFormat,
    },
    /// Validate policy files against the Rex schema and print diagnostics.
    Validate {
        /// The policy files.
        #[arg(required = true)]
        policies: Vec<PathBuf>,
    },
    /// Compile a script (with the names of its arguments) without running it.
    Check {
        /// The script (`-` for standard input).
        script: PathBuf,
        /// Script arguments file, so argument names are known to the compiler.
        #[arg(short = 'a', long = "script-arguments-file")]
        script_arguments_file: Option<PathBuf>,
    },
    /// Print an AWS SSM Command document (schemaVersion 2.2) that runs a Rex script under
    /// policy on each targeted instance; its parameters are base64 or plain names, never
    /// shell text (see docs/FLEET.md).
    SsmDocument {
        /// The document's name (used in its description; 3-128 of A-Za-z0-9_.-).
        #[arg(long, default_value = "Rex-RunScript")]
        name: String,
        /// `parameter`: the Policy parameter carries the Cedar text (base64); `path`: it names
        /// a policy installed as /etc/rex/policies/NAME.cedar.
        #[arg(long, value_enum, default_value = "path")]
        policy_from: rex_runner::ssm::PolicyFrom,
        /// Where rex-runner is installed on the instances (an absolute path).
        #[arg(long, default_value = "/usr/local/bin/rex-runner")]
        runner_path: String,
        /// With `--policy-from path`: the directory of the instances' NAME.cedar files.
        #[arg(long, default_value = rex_runner::ssm::POLICY_DIR)]
        policy_dir: String,
    },
    /// Run a script under a ceiling policy and write the minimal policy it needed: every
    /// allowed request becomes a permit (grouped by resource), what the ceiling denies stays
    /// denied and is reported.
    Learn(Box<LearnArgs>),
    /// Decide one request under policy files, as a run would, and say why: ALLOW or DENY,
    /// the determining policies, and for a denial the permits of the same action. Exit 0
    /// allow, 3 deny, 5 invalid input.
    Explain {
        /// The policy files.
        #[arg(short = 'p', long = "policy-file", required = true)]
        policies: Vec<PathBuf>,
        /// The action: `file_system::Action::"read"` or `file_system::read`.
        action: String,
        /// The resource: `file_system::File::"/var/log/syslog"`, `systemd::Service::"x"`, ...
        resource: String,
        /// The request's context as JSON (execute: arguments, environment, user; move:
        /// destination; ...), see docs/POLICY_GUIDE.md.
        #[arg(long, value_name = "JSON")]
        context: Option<String>,
        /// The Cedar principal name (default: the effective user).
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// Serve the Model Context Protocol (stdio, or Streamable HTTP with --listen): agents
    /// run scripts under named policy sets, each run in its own process.
    Mcp(Box<mcp::McpArgs>),
    /// Internal: one run of the MCP server, in its own process (request on stdin).
    #[command(hide = true)]
    McpChild,
}

fn main() -> ExitCode {
    // Cedar's one-off start-up work (schema, parsers, validator) runs on a second core while
    // this thread parses the command line, sets up logging, reads the inputs and builds the
    // script engine; whatever it has not finished when the policies are loaded is simply done
    // (or waited for) then.
    let _ = rust_sdk::runtime::sched::spawn_beside("rex-warm-up", rex_auth::warm_up);
    // The runner's only children are `execute`'s: every other child of the process is an
    // escaped descendant, killed when an `execute` ends (issue 19).
    rust_sdk::exec::contain_all_children();
    let cli = Cli::parse();
    let logging = init_logging(cli.run.log_file.clone());
    let status = match cli.command {
        Some(Command::Validate { policies }) => validate(&policies),
        Some(Command::SandboxPlan {
            policies,
            output_format,
        }) => sandbox_plan(&policies, output_format),
        Some(Command::Check {
            script,
            script_arguments_file,
        }) => check(&script, script_arguments_file.as_deref()),
        Some(Command::SsmDocument {
            name,
            policy_from,
            runner_path,
            policy_dir,
        }) => ssm_document(&rex_runner::ssm::SsmOptions {
            name,
            policy_from,
            runner_path,
            policy_dir,
        }),
        Some(Command::Learn(args)) => learn(&args),
        Some(Command::Explain {
            policies,
            action,
            resource,
            context,
            principal,
        }) => explain(
            &policies,
            &action,
            &resource,
            context.as_deref(),
            principal.as_deref(),
        ),
        Some(Command::Mcp(args)) => mcp::main(*args),
        Some(Command::McpChild) => mcp::child::child_main(),
        None => match logging {
            Ok(()) => run(&cli.run),
            Err(message) => early(
                &cli.run,
                ErrorType::CommunicationException,
                &message,
                ExitStatus::InvalidInput,
            ),
        },
    };
    ExitCode::from(u8::try_from(status.code()).unwrap_or(6))
}

/// Installs the operational log once: level from `LOG_LEVEL`, syslog unless `SYSLOG_ENABLE`
/// is `0`/`false`/`no`/`off` (as REX), JSON lines to `--log-file`. Never stderr: stdout and
/// stderr carry the document.
fn init_logging(log_file: Option<PathBuf>) -> Result<(), String> {
    let mut config = rex_logging::TracingConfig::from_env();
    config.stderr = false;
    config.json_file = log_file;
    match rex_logging::init_tracing(&config) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn emit(doc: &OutputDocument, format: OutputFormat, verbose: bool) -> bool {
    let r = render(doc, format, verbose);
    let out_ok = std::io::stdout().write_all(r.stdout.as_bytes()).is_ok();
    let err_ok = std::io::stderr().write_all(r.stderr.as_bytes()).is_ok();
    out_ok && err_ok
}

/// Prints the document of a run that could not start. The log gets the error type and exit
/// code only: the message can quote input files (e.g. a policy's source in a diagnostic).
fn early(args: &RunArgs, error_type: ErrorType, message: &str, status: ExitStatus) -> ExitStatus {
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

fn limits(args: &RunArgs) -> Limits {
    let mut l = Limits::default();
    if let Some(t) = args.timeout {
        l.timeout = Duration::try_from_secs_f64(t).ok();
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

fn run(args: &RunArgs) -> ExitStatus {
    let mut builder = Runner::builder()
        .limits(limits(args))
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(!monitoring_disabled_by_env())
        // The catalog is only printed, never consulted by a run.
        .function_catalog(args.print_functions)
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
    if let Some(path) = &args.audit_log {
        match rex_logging::AuditLog::open(path) {
            Ok(log) => builder = builder.audit_log(AuditLogSink::new(log)),
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
    if args.print_functions {
        return print_functions(&runner, args.output_format);
    }
    if args.print_sandbox {
        let plan = rex_auth::sandbox_plan::SandboxPlan::derive(&runner.authorizer().policies());
        return print_plan(&plan, args.output_format);
    }
    let Some(script_path) = &args.script_file else {
        eprintln!("error: --script-file is required (or use `validate` / `check`); see --help");
        return ExitStatus::Usage;
    };
    let script = match read_input("script file", script_path) {
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
fn print_functions(runner: &Runner, format: OutputFormat) -> ExitStatus {
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
fn monitoring_disabled_by_env() -> bool {
    std::env::var("REX_RUNNER_DISABLE_MONITORING")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// SIGTERM or SIGINT cancels the running script at its next check (native calls included);
/// the run then ends with a `Cancelled` limit error and exit code 4. A second signal of the
/// same kind while the first is pending terminates the process at once.
fn cancel_on_signals(runner: &Runner) -> std::io::Result<()> {
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
fn open_operator_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// Writes the operator's file opened by [`open_operator_file`].
#[allow(clippy::disallowed_types)]
fn write_operator_file(mut file: std::fs::File, text: &str) -> std::io::Result<()> {
    file.write_all(text.as_bytes())
}

/// Derives the sandbox from the runner's policies and applies it to this thread (which then
/// starts the script's thread). The result goes in the document and the log.
fn apply_sandbox(
    runner: &Runner,
    arg: SandboxArg,
) -> Result<serde_json::Value, rust_sdk::runtime::sandbox::SandboxError> {
    apply_sandbox_mode(runner, arg.mode())
}

/// [`apply_sandbox`] with a mode (the MCP child receives it from the server).
fn apply_sandbox_mode(
    runner: &Runner,
    mode: rust_sdk::runtime::sandbox::SandboxMode,
) -> Result<serde_json::Value, rust_sdk::runtime::sandbox::SandboxError> {
    let report = if mode == rust_sdk::runtime::sandbox::SandboxMode::Off {
        rust_sdk::runtime::sandbox::apply(&rex_auth::sandbox_plan::SandboxPlan::empty(), mode)?
    } else {
        let plan = rex_auth::sandbox_plan::SandboxPlan::derive(&runner.authorizer().policies());
        rust_sdk::runtime::sandbox::apply(&plan, mode)?
    };
    tracing::info!(
        target: rex_runner::RUNNER_LOG_TARGET,
        mode = mode.as_str(),
        status = report.status.as_str(),
        landlock_abi = report.kernel_abi,
        fs_rules = report.fs_rules,
        "sandbox"
    );
    Ok(serde_json::json!({
        "mode": mode.as_str(),
        "status": report.status.as_str(),
        "landlock_abi": report.kernel_abi,
        "file_system_restricted": report.fs_restricted,
        "tcp_connect_restricted": report.net_restricted,
        "rules": report.fs_rules,
        "no_new_privs": report.no_new_privs,
    }))
}

/// `sandbox-plan`: the ruleset that `--sandbox` derives from these policy files.
fn sandbox_plan(policies: &[PathBuf], format: OutputFormat) -> ExitStatus {
    match load_policy_files(policies) {
        Ok(set) => print_plan(&rex_auth::sandbox_plan::SandboxPlan::derive(&set), format),
        Err(status) => status,
    }
}

fn print_plan(plan: &rex_auth::sandbox_plan::SandboxPlan, format: OutputFormat) -> ExitStatus {
    let text = match format {
        OutputFormat::Human => plan.render_text(),
        OutputFormat::Json => plan.to_json().to_string() + "\n",
        OutputFormat::PrettyJson => match serde_json::to_string_pretty(&plan.to_json()) {
            Ok(t) => t + "\n",
            Err(_) => return ExitStatus::Internal,
        },
    };
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return ExitStatus::Internal;
    }
    ExitStatus::Success
}

fn load_args(path: Option<&std::path::Path>) -> Result<ScriptArguments, (ErrorType, String)> {
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

/// `learn`: runs the script under the ceiling, then writes and summarises the learned policy.
fn learn(args: &LearnArgs) -> ExitStatus {
    let fail = |message: &str, status: ExitStatus| {
        eprintln!("error: {message}");
        status
    };
    let sink = std::sync::Arc::new(rex_runner::learn::LearnSink::new());
    let mut builder = Runner::builder()
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(false)
        .function_catalog(false)
        .audit_sink(sink.clone());
    for p in &args.policy_file {
        match read_policy(p, args.allow_writable_policy) {
            Ok(input) => builder = builder.policy(input),
            Err(e) => return fail(&e.to_string(), ExitStatus::InvalidInput),
        }
    }
    if let Some(name) = &args.principal {
        match rex_auth::Principal::user(name) {
            Ok(p) => builder = builder.principal(p),
            Err(e) => return fail(&e.to_string(), ExitStatus::InvalidInput),
        }
    }
    let runner = match builder.build() {
        Ok(r) => r,
        Err(rex_runner::RunnerError::Policy(p)) => {
            return fail(&p.render(), ExitStatus::InvalidInput);
        }
        Err(e) => return fail(&e.to_string(), ExitStatus::InvalidInput),
    };
    let script = match read_input("script file", &args.script_file) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string(), ExitStatus::InvalidInput),
    };
    let script_args = match load_args(args.script_arguments_file.as_deref()) {
        Ok(a) => a,
        Err((_, m)) => return fail(&m, ExitStatus::InvalidInput),
    };
    // The output is the operator's file: opened before the sandbox confines this process.
    let out = match open_operator_file(&args.output) {
        Ok(f) => f,
        Err(e) => {
            return fail(
                &format!("cannot write {}: {e}", args.output.display()),
                ExitStatus::InvalidInput,
            );
        }
    };
    if let Err(e) = apply_sandbox(&runner, args.sandbox) {
        return fail(&e.to_string(), ExitStatus::InvalidInput);
    }
    let report = runner.run(&script, &script_args);
    let header = format!(
        "Learned by `rex-runner learn` from {} (sha256 {}) under {} (generalize: {}).\n\
         Review it before use: it allows what this run did, nothing else.",
        script.name,
        script.sha256,
        args.policy_file
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        args.generalize.as_str()
    );
    let learned = match rex_runner::learn::build_policy(&sink.observed(), args.generalize, &header)
    {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string(), ExitStatus::Internal),
    };
    if let Err(e) = write_operator_file(out, &learned.text) {
        return fail(
            &format!("cannot write {}: {e}", args.output.display()),
            ExitStatus::Internal,
        );
    }
    let mut text = format!(
        "learned {} requests -> {} permits, written to {}\n",
        learned.requests,
        learned.permits,
        args.output.display()
    );
    text.push_str(&format!(
        "denied by the ceiling: {}\n",
        learned.denied.len()
    ));
    for d in &learned.denied {
        text.push_str(&format!("  {d}\n"));
    }
    for e in &learned.errors {
        text.push_str(&format!("  not evaluated: {e}\n"));
    }
    match &report.document.error {
        None => text.push_str("script: SUCCESS\n"),
        Some(e) => text.push_str(&format!(
            "script: ERROR ({}): {}\n",
            e.error_type.as_str(),
            e.message
        )),
    }
    text.push_str(&format!(
        "run it enforced:\n  rex-runner -s {} -p {}{}{}\n",
        args.script_file.display(),
        args.output.display(),
        args.script_arguments_file
            .as_ref()
            .map(|a| format!(" -a {}", a.display()))
            .unwrap_or_default(),
        args.principal
            .as_ref()
            .map(|p| format!(" --principal {p}"))
            .unwrap_or_default(),
    ));
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return ExitStatus::Internal;
    }
    report.exit
}

/// Reads and strictly validates policy files (diagnostics on stderr).
fn load_policy_files(policies: &[PathBuf]) -> Result<rex_auth::Policies, ExitStatus> {
    let mut inputs = Vec::new();
    for p in policies {
        match read_input("policy file", p) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitStatus::InvalidInput);
            }
        }
    }
    rex_auth::Policies::from_sources(inputs.iter().map(|i| (i.name.as_str(), i.text.as_str())))
        .map_err(|e| {
            eprintln!("{}", e.render());
            ExitStatus::InvalidInput
        })
}

/// The principal of `--principal`, or the effective user.
fn principal_of(name: Option<&str>) -> Result<rex_auth::Principal, String> {
    match name {
        Some(n) => rex_auth::Principal::user(n).map_err(|e| e.to_string()),
        None => rust_sdk::runtime::identity::effective_user_principal().map_err(|e| e.to_string()),
    }
}

/// `explain`: decides one request with the runner's authorizer and prints why.
fn explain(
    policies: &[PathBuf],
    action: &str,
    resource: &str,
    context: Option<&str>,
    principal: Option<&str>,
) -> ExitStatus {
    let set = match load_policy_files(policies) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let principal = match principal_of(principal) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let (action, resource, context) =
        match rex_runner::explain::parse_request(action, resource, context) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::InvalidInput;
            }
        };
    let e = match rex_auth::explain(&set, &principal, action, &resource, &context) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let text =
        rex_runner::explain::render_explanation(&principal.to_string(), action, &resource, &e);
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return ExitStatus::Internal;
    }
    if e.is_allowed() {
        ExitStatus::Success
    } else {
        ExitStatus::AccessDenied
    }
}

fn validate(policies: &[PathBuf]) -> ExitStatus {
    match load_policy_files(policies) {
        Ok(set) => {
            for w in set.warnings() {
                eprintln!("{}", w.rendered);
            }
            println!("ok: {} policies valid: {}", set.len(), set.ids().join(", "));
            ExitStatus::Success
        }
        Err(status) => status,
    }
}

fn check(script: &std::path::Path, args_file: Option<&std::path::Path>) -> ExitStatus {
    let principal = match rex_auth::Principal::user("check") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Internal;
        }
    };
    let runner = match Runner::builder()
        .principal(principal)
        .function_catalog(false)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Internal;
        }
    };
    let input = match read_input("script file", script) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let args = match load_args(args_file) {
        Ok(a) => a,
        Err((_, m)) => {
            eprintln!("error: {m}");
            return ExitStatus::InvalidInput;
        }
    };
    match runner.check(&input.text, &args) {
        Ok(()) => {
            println!("ok: {} compiles", input.name);
            ExitStatus::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::for_error(e.kind())
        }
    }
}

/// `ssm-document`: prints the SSM Command document as pretty JSON.
fn ssm_document(options: &rex_runner::ssm::SsmOptions) -> ExitStatus {
    let doc = match rex_runner::ssm::ssm_document(options) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Usage;
        }
    };
    let Ok(text) = serde_json::to_string_pretty(&doc) else {
        return ExitStatus::Internal;
    };
    if std::io::stdout()
        .write_all((text + "\n").as_bytes())
        .is_ok()
    {
        ExitStatus::Success
    } else {
        ExitStatus::Internal
    }
}
