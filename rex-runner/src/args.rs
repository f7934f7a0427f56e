//! The command line: the run options and the subcommands (clap derive).

use super::*;

/// Run a Rhai script on this host, with every host operation checked against Cedar policies.
///
/// Exit codes: 0 success, 1 script error, 2 usage error, 3 access denied, 4 limit exceeded
/// or timeout, 5 invalid input (unreadable file, invalid policy or arguments), 6 internal
/// error.
#[derive(Debug, Parser)]
#[command(name = "rex-runner", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The Rhai script to run (`-` reads it from standard input).
    #[arg(short = 's', long = "script-file", value_name = "PATH")]
    pub(crate) script_file: Option<PathBuf>,

    /// A Cedar policy file; repeat to load several. Without one, everything is denied.
    #[arg(short = 'p', long = "policy-file", value_name = "PATH")]
    pub(crate) policy_file: Vec<PathBuf>,

    /// Script arguments in REX's JSON format ({"name": {"stringValue": "x"}, ...}).
    #[arg(short = 'a', long = "script-arguments-file", value_name = "PATH")]
    pub(crate) script_arguments_file: Option<PathBuf>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "output-format",
        value_enum,
        default_value = "json"
    )]
    pub(crate) output_format: OutputFormat,

    /// With `-o human`: also print the script's logs and the run's metrics.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,

    /// Stop the script after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = rex_runner::numbers::parse_seconds)]
    pub(crate) timeout: Option<std::time::Duration>,

    /// Stop the script after this many Rhai operations.
    #[arg(long, value_name = "N", value_parser = rex_runner::numbers::parse_count)]
    pub(crate) max_operations: Option<u64>,

    /// Largest string a script may build, in bytes.
    #[arg(long, value_name = "BYTES", value_parser = rex_runner::numbers::parse_size_usize)]
    pub(crate) max_string_size: Option<usize>,

    /// Largest array a script may build, in elements.
    #[arg(long, value_name = "N", value_parser = rex_runner::numbers::parse_count_usize)]
    pub(crate) max_array_size: Option<usize>,

    /// Largest object map a script may build, in entries.
    #[arg(long, value_name = "N", value_parser = rex_runner::numbers::parse_count_usize)]
    pub(crate) max_map_size: Option<usize>,

    /// Deepest function-call nesting.
    #[arg(long, value_name = "N", value_parser = rex_runner::numbers::parse_count_usize)]
    pub(crate) max_call_depth: Option<usize>,

    /// Largest output document, in bytes of compact JSON (default 16 MiB). What does not fit
    /// (the end of the output, then logs, metrics, alarms) is left out and counted in the
    /// document's `dropped` member.
    #[arg(long, value_name = "BYTES", value_parser = rex_runner::numbers::parse_size_usize)]
    pub(crate) max_document_bytes: Option<usize>,

    /// Memory budget of the run, in bytes or with a K/M/G suffix (`64M`): what the script
    /// holds at any moment (values, closures, logs). Default 1 GiB. The process's address
    /// space is also capped (RLIMIT_AS) at twice the budget plus the script's stack and 1 GiB.
    #[arg(long, value_name = "BYTES", value_parser = rex_runner::numbers::parse_size_usize)]
    pub(crate) max_memory: Option<usize>,

    /// Kernel backstop under Cedar: a Landlock sandbox derived from the policies (see
    /// docs/SANDBOX.md). `best-effort` confines where the kernel supports it; `require`
    /// refuses to run (exit 5) where it cannot.
    #[arg(long, value_enum, default_value = "best-effort")]
    pub(crate) sandbox: SandboxArg,

    /// Print the sandbox ruleset derived from the policies and exit (`-o human` for text).
    #[arg(long)]
    pub(crate) print_sandbox: bool,

    /// The Cedar principal name, `User::"<NAME>"` (default: the effective user).
    #[arg(long, value_name = "NAME")]
    pub(crate) principal: Option<String>,

    /// Append every authorization decision to this file as JSON lines.
    #[arg(long, value_name = "PATH")]
    pub(crate) audit_log: Option<PathBuf>,

    /// A shadow policy file; repeat to load several. Every request is also decided under
    /// the shadow set, never enforced: each divergence is in the audit log (`shadow`) and
    /// counted in the document (`shadow_divergences`).
    #[arg(long = "shadow-policy", value_name = "PATH")]
    pub(crate) shadow_policy: Vec<PathBuf>,

    /// Policy learning: record denials in the audit log, then allow them. Never use in production.
    #[arg(long)]
    pub(crate) permissive: bool,

    /// Accept a policy file that group or others can write (refused by default).
    #[arg(long)]
    pub(crate) allow_writable_policy: bool,

    /// Exit 0 even when the script fails (REX's behaviour); the document still says ERROR.
    #[arg(long)]
    pub(crate) exit_zero_on_script_error: bool,

    /// The redaction dictionary for redacted reads (default: /etc/opt/rex/rex_redaction.config).
    #[arg(long, value_name = "PATH")]
    pub(crate) redaction_config: Option<PathBuf>,

    /// Also write the run's metrics in Prometheus text format to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) metrics_file: Option<PathBuf>,

    /// Print every function a script can call, with its signature, and exit.
    #[arg(long)]
    pub(crate) print_functions: bool,

    /// Append the runner's operational log (runs, denials; level from LOG_LEVEL) to this file
    /// as JSON lines. Syslog output is on unless SYSLOG_ENABLE=0.
    #[arg(long, value_name = "PATH")]
    pub(crate) log_file: Option<PathBuf>,
}

/// `--sandbox` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SandboxArg {
    /// No kernel sandbox.
    Off,
    /// Confine where the kernel supports Landlock; report "not enforced" elsewhere.
    BestEffort,
    /// Refuse to run where the kernel cannot enforce the sandbox.
    Require,
}

impl SandboxArg {
    pub(crate) fn mode(self) -> rust_sdk::runtime::sandbox::SandboxMode {
        match self {
            SandboxArg::Off => rust_sdk::runtime::sandbox::SandboxMode::Off,
            SandboxArg::BestEffort => rust_sdk::runtime::sandbox::SandboxMode::BestEffort,
            SandboxArg::Require => rust_sdk::runtime::sandbox::SandboxMode::Require,
        }
    }
}

/// `learn`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct LearnArgs {
    /// The Rhai script to run.
    #[arg(short = 's', long = "script-file", value_name = "PATH")]
    pub(crate) script_file: PathBuf,
    /// The ceiling: a Cedar policy file the run is enforced under (repeat for several).
    #[arg(
        short = 'p',
        long = "policy-file",
        value_name = "PATH",
        required = true
    )]
    pub(crate) policy_file: Vec<PathBuf>,
    /// Where to write the learned policy.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// Also write the run's requests as `rex-runner test` cases (allowed ones expected
    /// allowed, denied ones denied), to keep the learned policy under test.
    #[arg(long = "tests-out", value_name = "TESTS.toml")]
    pub(crate) tests_out: Option<PathBuf>,
    /// Script arguments in REX's JSON format.
    #[arg(short = 'a', long = "script-arguments-file", value_name = "PATH")]
    pub(crate) script_arguments_file: Option<PathBuf>,
    /// `exact`: the resources used; `dir`: files widened to their directory.
    #[arg(long, value_enum, default_value = "exact")]
    pub(crate) generalize: rex_runner::learn::Generalize,
    /// Kernel backstop derived from the ceiling (as for a run).
    #[arg(long, value_enum, default_value = "best-effort")]
    pub(crate) sandbox: SandboxArg,
    /// The Cedar principal name (default: the effective user).
    #[arg(long, value_name = "NAME")]
    pub(crate) principal: Option<String>,
    /// Accept a policy file that group or others can write (refused by default).
    #[arg(long)]
    pub(crate) allow_writable_policy: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the Landlock sandbox ruleset derived from policy files (what `--sandbox`
    /// applies), for review.
    SandboxPlan {
        /// The policy files.
        #[arg(short = 'p', long = "policy-file", required = true)]
        policies: Vec<PathBuf>,
        /// The Cedar principal name whose layers to print (default: the effective user).
        #[arg(long)]
        principal: Option<String>,
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
    /// Run a policy's test cases (TOML, `[[case]]`: principal, action, resource, context,
    /// expect, determined_by) through the runner's authorizer. Exit 0 all pass, 1 any
    /// fails, 5 invalid input. See docs/POLICY_GUIDE.md.
    Test {
        /// The policy files.
        #[arg(short = 'p', long = "policy-file", required = true)]
        policies: Vec<PathBuf>,
        /// The test file.
        tests: PathBuf,
        /// Output format.
        #[arg(
            short = 'o',
            long = "output-format",
            value_enum,
            default_value = "human"
        )]
        output_format: crate::policy_commands::TestFormat,
    },
    /// Decide every request of audit logs (`--audit-log` of runs, `--log-file` of `mcp`)
    /// again under new policies and report what changes, widening first. Exit 0 no change,
    /// 1 only narrowing, 3 any widening, 5 invalid input.
    Replay {
        /// The new policy files.
        #[arg(short = 'p', long = "policy-file", required = true)]
        policies: Vec<PathBuf>,
        /// An audit log (JSON lines); repeat for several.
        #[arg(long = "audit", required = true, value_name = "AUDIT.jsonl")]
        audit: Vec<PathBuf>,
        /// Output format.
        #[arg(
            short = 'o',
            long = "output-format",
            value_enum,
            default_value = "human"
        )]
        output_format: crate::policy_commands::ReplayFormat,
    },
    /// Format policy files in place with Cedar's formatter (only when the result is the
    /// same policies). With --check, change nothing and exit 1 if a file is not formatted.
    Fmt {
        /// The policy files.
        #[arg(required = true)]
        policies: Vec<PathBuf>,
        /// Report unformatted files instead of rewriting them.
        #[arg(long)]
        check: bool,
    },
    /// Serve the Model Context Protocol (stdio, or Streamable HTTP with --listen): agents
    /// run scripts under named policy sets, each run in its own process.
    Mcp(Box<mcp::McpArgs>),
    /// Internal: one run of the MCP server, in its own process (request on stdin).
    #[command(hide = true)]
    McpChild,
}
