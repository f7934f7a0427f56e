//! The `rex-runner` command: run a Rhai script under a Cedar policy.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod mcp;

use clap::{Parser, Subcommand};
use rex_core::{Limits, ScriptArguments};
use rex_runner::{
    DeferredAuditLogSink, ErrorType, ExitStatus, OutputDocument, OutputFormat, Runner, read_input,
    read_policy, render,
};

/// Counts, per thread, the bytes each run holds: the exact memory budget of
/// `--max-memory` (see docs/EMBEDDING.md, "Memory budget").
#[global_allocator]
static ALLOCATOR: rex_core::CountingAllocator = rex_core::CountingAllocator::new();

mod args;
mod commands;
mod policy_commands;
mod run_command;

use args::*;
use commands::*;
use run_command::*;

fn main() -> ExitCode {
    // Cedar's one-off start-up work (schema, parsers, validator) runs on a second core while
    // this thread parses the command line, sets up logging, reads the inputs and builds the
    // script engine; whatever it has not finished when the policies are loaded is simply done
    // (or waited for) then.
    if let Ok(h) = rust_sdk::runtime::sched::spawn_beside("rex-warm-up", rex_auth::warm_up) {
        set_warm_up(h);
    }
    // The runner's only children are `execute`'s: every other child of the process is an
    // escaped descendant, killed when an `execute` ends (issue 19).
    rust_sdk::exec::contain_all_children();
    let cli = Cli::parse();
    // A run opens its log file only once its policies show that the script cannot reach
    // it (`run`); other commands run no script under it and open it at once.
    let logging = init_logging(cli.run.log_file.clone(), cli.command.is_none());
    let status = match cli.command {
        Some(Command::Validate { policies }) => validate(&policies),
        Some(Command::SandboxPlan {
            policies,
            principal,
            output_format,
        }) => sandbox_plan(&policies, principal.as_deref(), output_format),
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
        Some(Command::Test {
            policies,
            tests,
            output_format,
        }) => policy_commands::test(&policies, &tests, output_format),
        Some(Command::Replay {
            policies,
            audit,
            output_format,
        }) => policy_commands::replay(&policies, &audit, output_format),
        Some(Command::Fmt { policies, check }) => policy_commands::fmt(&policies, check),
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
fn init_logging(log_file: Option<PathBuf>, defer: bool) -> Result<(), String> {
    let mut config = rex_logging::TracingConfig::from_env();
    config.stderr = false;
    config.json_file = log_file;
    config.defer_json_file = defer;
    match rex_logging::init_tracing(&config) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
