//! The subcommands other than a run: `sandbox-plan`, `learn`, `explain`, `validate`, `check`
//! and `ssm-document`.

use super::*;

/// `sandbox-plan`: the two layers that `--sandbox` derives from these policy files for one
/// principal (`--principal`, default the effective user, as a run).
pub(crate) fn sandbox_plan(
    policies: &[PathBuf],
    principal: Option<&str>,
    format: OutputFormat,
) -> ExitStatus {
    let principal = match principal_of(principal) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    match load_policy_files(policies) {
        Ok(set) => print_plan(
            &rex_auth::sandbox_plan::SandboxLayers::derive(&set, &principal),
            format,
        ),
        Err(status) => status,
    }
}

/// Prints the layers in `format`.
pub(crate) fn print_plan(
    plan: &rex_auth::sandbox_plan::SandboxLayers,
    format: OutputFormat,
) -> ExitStatus {
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

/// `learn`: runs the script under the ceiling, then writes and summarises the learned policy.
pub(crate) fn learn(args: &LearnArgs) -> ExitStatus {
    let fail = |message: &str, status: ExitStatus| {
        eprintln!("error: {message}");
        status
    };
    let sink = std::sync::Arc::new(rex_runner::learn::LearnSink::new());
    let mut builder = Runner::builder()
        .log_config(rex_logging::ScriptLogsConfig::from_env())
        .process_monitoring(false)
        .function_catalog(false)
        .standard_library(rex_core::StandardLibrary::Lazy)
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
    // The learned policy is written by the runner only: an output path that the ceiling
    // lets the script change (create over, move onto, delete, ...) is refused (issue 29).
    if let Err(e) = rex_runner::own_files::check_out_of_reach(
        runner.authorizer(),
        "learned policy",
        &args.output,
    ) {
        return fail(&e.to_string(), ExitStatus::InvalidInput);
    }
    // The tests file is held to the same rule as the policy.
    if let Some(tests) = &args.tests_out
        && let Err(e) =
            rex_runner::own_files::check_out_of_reach(runner.authorizer(), "learned tests", tests)
    {
        return fail(&e.to_string(), ExitStatus::InvalidInput);
    }
    // The output is the operator's file: opened before the sandbox confines this process,
    // never through a symbolic link.
    let out = match open_learned_output(&args.output) {
        Ok(f) => f,
        Err(e) => {
            return fail(
                &format!("cannot write {}: {e}", args.output.display()),
                ExitStatus::InvalidInput,
            );
        }
    };
    let tests_out = match &args.tests_out {
        None => None,
        Some(path) => match open_learned_output(path) {
            Ok(f) => Some(f),
            Err(e) => {
                return fail(
                    &format!("cannot write {}: {e}", path.display()),
                    ExitStatus::InvalidInput,
                );
            }
        },
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
    let learned = match rex_runner::learn::build_policy(
        &sink.observed(),
        args.generalize,
        &header,
        runner.authorizer(),
    ) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string(), ExitStatus::Internal),
    };
    if let Err(e) = write_learned_output(out, &learned.text) {
        return fail(
            &format!("cannot write {}: {e}", args.output.display()),
            ExitStatus::Internal,
        );
    }
    if let (Some(file), Some(path)) = (tests_out, &args.tests_out) {
        let principal = runner.authorizer().principal().name().to_string();
        let tests = match rex_runner::learn_tests::tests_of(&sink.observed(), &principal, &header) {
            Ok(t) => t,
            Err(e) => return fail(&e, ExitStatus::Internal),
        };
        if let Err(e) = write_learned_output(file, &tests) {
            return fail(
                &format!("cannot write {}: {e}", path.display()),
                ExitStatus::Internal,
            );
        }
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
pub(crate) fn load_policy_files(policies: &[PathBuf]) -> Result<rex_auth::Policies, ExitStatus> {
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
pub(crate) fn principal_of(name: Option<&str>) -> Result<rex_auth::Principal, String> {
    match name {
        Some(n) => rex_auth::Principal::user(n).map_err(|e| e.to_string()),
        None => rust_sdk::runtime::identity::effective_user_principal().map_err(|e| e.to_string()),
    }
}

/// `explain`: decides one request with the runner's authorizer and prints why.
pub(crate) fn explain(
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

pub(crate) fn validate(policies: &[PathBuf]) -> ExitStatus {
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

pub(crate) fn check(script: &std::path::Path, args_file: Option<&std::path::Path>) -> ExitStatus {
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
        .standard_library(rex_core::StandardLibrary::Lazy)
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
pub(crate) fn ssm_document(options: &rex_runner::ssm::SsmOptions) -> ExitStatus {
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
