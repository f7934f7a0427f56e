//! The embedding API with a vendor's gated module (what `examples/embed.rs` shows): the
//! vendor function is authorized through rust-sdk, denials are typed, the audit sink sees
//! every decision, and the SDK context never reaches the script.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::sync::Arc;

// As the rex-runner binary does: the memory budget counts what each run's thread holds.
#[global_allocator]
static ALLOCATOR: rex_core::CountingAllocator = rex_core::CountingAllocator::new();

use rex_auth::{Action, MemoryAuditSink, Outcome, Principal};
use rex_core::{ErrorKind, ScriptArguments};
use rex_runner::{ExitStatus, Input, Runner};
use rhai_sdk::{RexModules, VendorModule};
use rust_sdk::SdkContext;
use rust_sdk::fs::{FsError, commands};

fn conf_get(sdk: &SdkContext, path: String, key: String) -> Result<String, FsError> {
    let text = commands::cat(sdk, &path, false)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default())
}

struct Setup {
    _dir: tempfile::TempDir,
    root: String,
    runner: Runner,
    audit: MemoryAuditSink,
}

fn setup(modules: RexModules) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::write(dir.path().join("app.conf"), "port = 8080\n").unwrap();
    std::fs::write(dir.path().join("secret.conf"), "token = hunter2\n").unwrap();
    let policy = format!(
        r#"@id("conf-dir")
permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{root}");
@id("app-conf")
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource == file_system::File::"{root}/app.conf");"#
    );
    let audit = MemoryAuditSink::new();
    let runner = Runner::builder()
        .principal(Principal::user("deploy-agent").unwrap())
        .policy(Input::from_text("embed.cedar", &policy))
        .audit_sink(Arc::new(audit.clone()))
        .rex_modules(modules)
        .modules(Arc::new(|engine, sdk| {
            VendorModule::new("conf", sdk)
                .func(
                    "get",
                    ["path", "key"],
                    &[Action::FsOpen, Action::FsRead],
                    "The value of `key` in the KEY=VALUE file at `path`.",
                    conf_get,
                )
                .register_static(engine);
        }))
        .build()
        .unwrap();
    Setup {
        _dir: dir,
        root,
        runner,
        audit,
    }
}

fn run(s: &Setup, script: &str) -> rex_runner::RunReport {
    s.runner
        .run(&Input::from_text("t.rhai", script), &ScriptArguments::new())
}

#[test]
fn vendor_function_reads_through_the_gated_sdk() {
    let s = setup(RexModules::all());
    let report = run(&s, &format!(r#"conf::get("{}/app.conf", "port")"#, s.root));
    assert_eq!(
        report.exit,
        ExitStatus::Success,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(report.document.output, "8080");
    let records = s.audit.records();
    assert!(
        records
            .iter()
            .any(|r| r.action == Action::FsRead && r.outcome == Outcome::Allow),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r.principal == "User::\"deploy-agent\"")
    );
}

#[test]
fn vendor_denial_is_typed_and_the_secret_never_leaves() {
    let s = setup(RexModules::all());
    let report = run(
        &s,
        &format!(r#"conf::get("{}/secret.conf", "token")"#, s.root),
    );
    assert_eq!(report.exit, ExitStatus::AccessDenied);
    let err = report.outcome.error.as_ref().unwrap();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    let denial = report.document.denial.as_ref().unwrap();
    assert!(
        denial.resource.ends_with("secret.conf\""),
        "{}",
        denial.resource
    );
    let doc = serde_json::to_string(&report.document).unwrap();
    assert!(!doc.contains("hunter2"));
    assert!(
        s.audit
            .records()
            .iter()
            .any(|r| r.outcome == Outcome::Deny && r.resource.contains("secret.conf"))
    );
}

#[test]
fn a_caught_vendor_denial_has_the_standard_error_map() {
    let s = setup(RexModules::all());
    let report = run(
        &s,
        &format!(
            r#"let r = ""; try {{ conf::get("{}/secret.conf", "token"); }} catch (e) {{ r = `${{e.source}}/${{e.kind}}`; }} r"#,
            s.root
        ),
    );
    assert_eq!(
        report.exit,
        ExitStatus::Success,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(report.document.output, "IoErrorKind/PermissionDenied");
    assert_eq!(
        report.outcome.denials.len(),
        1,
        "the denial is still recorded"
    );
}

#[test]
fn module_selection_controls_what_scripts_can_call() {
    let s = setup(RexModules::none().utils());
    let report = run(&s, &format!(r#"cat("{}/app.conf")"#, s.root));
    assert_eq!(report.exit, ExitStatus::ScriptError);
    assert_eq!(report.outcome.error.unwrap().kind(), ErrorKind::Runtime);
    // The vendor module is still there.
    let report = run(&s, &format!(r#"conf::get("{}/app.conf", "port")"#, s.root));
    assert_eq!(report.document.output, "8080");
}

#[test]
fn one_runner_serves_concurrent_runs_without_mixing_metrics() {
    let s = setup(RexModules::all());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let report = run(
                        s,
                        &format!(r#"MetricBuilder().name("m{i}").value({i}).publish(); {i}"#),
                    );
                    assert_eq!(report.document.output, i.to_string());
                    let names: Vec<String> = report
                        .document
                        .metrics
                        .iter()
                        .map(|m| m["metric_name"].as_str().unwrap().to_string())
                        .filter(|n| !n.starts_with("RexRunner"))
                        .collect();
                    assert_eq!(names, vec![format!("m{i}")]);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn concurrent_runs_stamp_their_own_script_hash_on_audit_records() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for i in 0..4 {
        std::fs::write(format!("{root}/f{i}.conf"), "k = v\n").unwrap();
    }
    let log_path = dir.path().join("audit.jsonl");
    let runner = Runner::builder()
        .principal(Principal::user("deploy-agent").unwrap())
        .policy(Input::from_text(
            "p.cedar",
            &format!(r#"permit(principal, action, resource in file_system::Dir::"{root}");"#),
        ))
        .audit_log(rex_runner::AuditLogSink::new(
            rex_logging::AuditLog::open(&log_path).unwrap(),
        ))
        .build()
        .unwrap();
    let scripts: Vec<Input> = (0..4)
        .map(|i| {
            Input::from_text(
                "s.rhai",
                &format!(r#"for n in 0..20 {{ cat("{root}/f{i}.conf"); }}"#),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for script in &scripts {
            let runner = &runner;
            s.spawn(move || {
                let report = runner.run(script, &ScriptArguments::new());
                assert_eq!(
                    report.exit,
                    ExitStatus::Success,
                    "{:?}",
                    report.outcome.error
                );
            });
        }
    });
    let text = std::fs::read_to_string(&log_path).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let resource = v["resource"].as_str().unwrap();
        if let Some(i) = (0..4).find(|i| resource.contains(&format!("f{i}.conf"))) {
            assert_eq!(v["script_sha256"], scripts[i].sha256, "{line}");
            checked += 1;
        }
    }
    assert!(checked >= 4 * 20, "{checked} records checked");
}

#[test]
fn a_panicking_module_registration_is_an_error_not_a_crash() {
    let policy = Input::from_text(
        "inline",
        "permit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"/\");",
    );
    let err = Runner::builder()
        .policy(policy)
        .principal(Principal::user("tester").unwrap())
        .modules(Arc::new(|_engine, _sdk| panic!("vendor bug")))
        .build()
        .err()
        .expect("the build must fail");
    assert!(
        matches!(err, rex_runner::RunnerError::Internal(_)),
        "{err:?}"
    );
}

#[test]
fn an_invalid_policy_still_fails_the_build_while_the_engine_is_built_alongside() {
    let policy = Input::from_text(
        "inline",
        "permit(principal, action == Nope::\"x\", resource);",
    );
    let err = Runner::builder()
        .policy(policy)
        .principal(Principal::user("tester").unwrap())
        .build()
        .err()
        .expect("the build must fail");
    assert!(matches!(err, rex_runner::RunnerError::Policy(_)), "{err:?}");
}

/// Issue 14: two concurrent runs in one Runner, one holding more than the budget and one
/// small, end with one memory-limit error and one success; the runner serves runs after.
#[test]
fn a_memory_hog_and_a_small_run_in_one_runner_are_accounted_separately() {
    let runner = Runner::builder()
        .principal(Principal::user("deploy-agent").unwrap())
        .limits(rex_core::Limits {
            max_memory: 64 << 20,
            ..rex_core::Limits::default()
        })
        .build()
        .unwrap();
    let script = |text: &str| Input::from_text("t.rhai", text);
    let args = ScriptArguments::new();
    let (hog, small) = std::thread::scope(|scope| {
        let hog = scope.spawn(|| {
            runner.run(
                &script("let keep = []; loop { keep.push(blob(1000000)); }"),
                &args,
            )
        });
        let small = scope.spawn(|| {
            runner.run(
                &script("let keep = []; for i in 0..40 { keep.push(blob(1000000)); } keep.len()"),
                &args,
            )
        });
        (hog.join().unwrap(), small.join().unwrap())
    });
    assert_eq!(hog.exit, ExitStatus::LimitExceeded);
    assert_eq!(
        hog.outcome.error.as_ref().unwrap().kind(),
        ErrorKind::Limit(rex_core::LimitKind::Memory)
    );
    assert_eq!(hog.document.limit, Some(rex_core::LimitKind::Memory));
    let error = hog.document.error.as_ref().unwrap();
    assert!(error.message.contains("memory limit"), "{}", error.message);
    assert_eq!(small.exit, ExitStatus::Success, "{:?}", small.outcome.error);
    assert_eq!(small.document.output, "40");
    let after = runner.run(&script("6 * 7"), &args);
    assert_eq!(after.document.output, "42");
}
