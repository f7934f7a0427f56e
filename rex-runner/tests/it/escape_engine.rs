//! Engine escapes through the real runner: loading code from disk (`import`), dynamic
//! evaluation (`eval` and its aliases), resource exhaustion, output flooding, and panics in
//! native code. Each ends in a typed error; none touches the host or takes the runner down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The tests plant files for `import` and observe the host directly.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::escape_common;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use escape_common::{
    Fixture, SECRET, assert_limit, assert_no_leak, document_text, kind, run, runner, runner_with,
    tight_limits,
};
use rex_auth::{MemoryAuditSink, Outcome, Principal};
use rex_core::{ErrorKind, LimitKind, Limits, ScriptArguments};
use rex_runner::{Input, MAX_ERROR_MESSAGE_CHARS, Runner};

#[test]
fn import_never_loads_code_from_disk() {
    let fx = Fixture::new();
    let pwned = fx.inside.join("pwned");
    let payload = format!(r#"write("{}", "x"); export const X = 1;"#, pwned.display());
    // planted both outside and inside the permitted tree, with and without `.rhai`
    fs::write(fx.outside.join("evil.rhai"), &payload).unwrap();
    fs::write(fx.inside.join("evil.rhai"), &payload).unwrap();
    fs::write(fx.inside.join("evil"), &payload).unwrap();
    let runner = fx.runner();
    for script in [
        r#"import "$OUT/evil" as e; e::X"#,
        r#"import "$OUT/evil.rhai" as e; e::X"#,
        r#"import "$IN/evil" as e; e::X"#,
        r#"import "$IN/../outside/evil" as e; e::X"#,
        r#"import "evil" as e; e::X"#,
        r#"import "./evil" as e; e::X"#,
        r#"let p = "$IN/evil"; import p as e; e::X"#,
        r#"fn f() { import "$IN/evil" as e; e::X } f()"#,
        r#"import "/etc/passwd" as e; 1"#,
        r#"import "/proc/self/fd/0" as e; 1"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert!(r.outcome.error.is_some(), "{script} ran");
        assert!(
            matches!(kind(&r), Some(ErrorKind::Runtime | ErrorKind::Compile)),
            "{script}: {:?}",
            r.outcome.error
        );
        assert!(!pwned.exists(), "{script} executed the planted module");
        // no file was even opened through the SDK
        assert!(r.outcome.denials.is_empty());
    }
}

#[test]
fn eval_and_its_aliases_are_unavailable() {
    let fx = Fixture::new();
    let pwned = fx.inside.join("pwned");
    let runner = fx.runner();
    let code = format!(r#"write("{}", "x")"#, pwned.display());
    for script in [
        "eval(code)",
        "Fn(\"eval\").call(code)",
        "call(Fn(\"eval\"), code)",
        "let f = Fn(\"ev\" + \"al\"); f.call(code)",
        "let f = Fn(\"eval\"); f.curry(code).call()",
        "code.eval()",
        "let e = \"eval\"; call(Fn(e), code)",
        "print(code)",
        "Fn(\"print\").call(code)",
    ] {
        let r = escape_common::run_args(&runner, script, &[("code", &code)]);
        assert!(r.outcome.error.is_some(), "{script} ran");
        assert!(
            matches!(kind(&r), Some(ErrorKind::Runtime | ErrorKind::Compile)),
            "{script}: {:?}",
            r.outcome.error
        );
        assert!(!pwned.exists(), "{script} evaluated code");
    }
    // the same write done directly is allowed: the policy was not what stopped it
    let r = run(&runner, &code);
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert!(pwned.exists());
}

fn limited() -> Runner {
    // Rhai re-measures an array on every push (quadratic), so keep the array cap small here
    runner_with(
        "",
        Limits {
            max_array_size: 10_000,
            ..tight_limits()
        },
        None,
    )
}

#[test]
fn resource_exhaustion_ends_in_a_typed_limit() {
    let r = limited();
    for (script, limit) in [
        (r#"let s = "x"; loop { s += s; }"#, LimitKind::StringSize),
        (
            r#"let s = "x"; s.pad(1 << 40, "y"); s"#,
            LimitKind::StringSize,
        ),
        (
            r#"let s = "ab"; loop { s.pad(s.len() * 2, "€"); }"#,
            LimitKind::StringSize,
        ),
        (r#"let a = []; loop { a.push(1); }"#, LimitKind::ArraySize),
        (r#"let a = [1]; loop { a += a; }"#, LimitKind::ArraySize),
        (r#"let a = []; a.pad(1 << 40, 0); a"#, LimitKind::ArraySize),
        (
            r#"let b = blob(); loop { b += b; b.push(1); }"#,
            LimitKind::ArraySize,
        ),
        (r#"let b = blob(1 << 40); b"#, LimitKind::ArraySize),
        (r#"fn f(n) { f(n + 1) } f(0)"#, LimitKind::CallDepth),
        (r#"fn f(n) { [f(n + 1)] } f(0)"#, LimitKind::CallDepth),
        (
            r#"let f = |n| n; fn g(x) { g(x) } g(1)"#,
            LimitKind::CallDepth,
        ),
        (r#"loop { }"#, LimitKind::Operations),
        (
            r#"let i = 0; while true { i += 1; }"#,
            LimitKind::Operations,
        ),
        // (an empty `for` body is optimised away entirely; give it work)
        (
            r#"let x = 0; for i in 0..(1 << 62) { x += i; }"#,
            LimitKind::Operations,
        ),
        (
            &format!("let x = {}1{};", "(".repeat(500), ")".repeat(500)),
            LimitKind::ExpressionDepth,
        ),
        (
            &format!("let x = {}1{};", "[".repeat(500), "]".repeat(500)),
            LimitKind::ExpressionDepth,
        ),
    ] {
        let report = run(&r, script);
        assert_eq!(
            kind(&report),
            Some(ErrorKind::Limit(limit)),
            "{script}: {:?}",
            report.outcome.error
        );
        // a limit is never reported as success or as an internal error
        assert!(report.document.error.is_some());
    }
}

#[test]
fn a_huge_map_is_bounded() {
    // Without the counting allocator (this binary has none) Rhai re-measures the map on each
    // insert, so a small cap keeps the run well inside the timeout on a loaded machine.
    let r = runner_with(
        "",
        Limits {
            max_map_size: 1_000,
            ..tight_limits()
        },
        None,
    );
    let report = run(
        &r,
        r#"let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; m.len(); }"#,
    );
    assert_limit(&report, LimitKind::MapSize);
    // without touching the map in the loop, the operation budget still ends it
    let report = run(
        &r,
        r#"let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }"#,
    );
    assert!(matches!(
        kind(&report),
        Some(ErrorKind::Limit(LimitKind::MapSize | LimitKind::Operations))
    ));
}

#[test]
fn native_helpers_cannot_allocate_without_bound() {
    let r = limited();
    for script in [
        "seq(0, 9223372036854775807)",
        "seq(-9223372036854775808, 9223372036854775807)",
        "seq([seq::step(1)], 0, 9223372036854775807)",
        "seq([seq::step(0)], 0, 10)",
        "random_alphanumeric(1 << 40)",
        "random_alphanumeric(-1)",
        "awk_split(\"a\".pad(1000000, \",\"), \",\")",
    ] {
        let report = run(&r, script);
        assert!(report.outcome.error.is_some(), "{script} succeeded");
        assert!(
            matches!(
                kind(&report),
                Some(ErrorKind::Runtime | ErrorKind::Limit(_))
            ),
            "{script}: {:?}",
            report.outcome.error
        );
    }
}

#[test]
fn an_infinite_loop_is_stopped_by_the_timeout() {
    let r = runner_with(
        "",
        Limits {
            max_operations: u64::MAX,
            timeout: Some(Duration::from_millis(300)),
            ..tight_limits()
        },
        None,
    );
    assert_limit(&run(&r, "loop { }"), LimitKind::Timeout);
    // and the runner is usable afterwards
    let ok = run(&r, "40 + 2");
    assert_eq!(ok.outcome.output, "42");
}

#[test]
fn cancellation_stops_a_running_script() {
    let r = runner_with(
        "",
        Limits {
            max_operations: u64::MAX,
            timeout: None,
            ..tight_limits()
        },
        None,
    );
    let cancel = r.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let report = run(&r, "loop { }");
    t.join().unwrap();
    assert_limit(&report, LimitKind::Cancelled);
}

#[test]
fn log_flooding_is_capped() {
    let limits = Limits {
        max_log_entries: 50,
        ..tight_limits()
    };
    let r = runner_with("", limits, None);
    // many entries, each near the string limit, in multi-byte characters
    let report = run(
        &r,
        r#"let s = "é"; s.pad(100000, "é"); for i in 0..1000 { info(s); warn(s); debug(s); } 1"#,
    );
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert!(report.outcome.logs.len() <= 50);
    assert!(report.outcome.dropped_logs > 0);
    let logs = &report.document.logs;
    assert!(logs.len() <= 51, "{} log entries in the output", logs.len());
    let doc = document_text(&report);
    assert!(
        doc.len() < 2 * 1024 * 1024,
        "the output document is {} bytes",
        doc.len()
    );
    // issue 19 item 11: messages are cut when logged (not after the run), and the document
    // says how many entries were dropped and cut
    assert!(report.outcome.truncated_logs > 0);
    assert!(
        report
            .outcome
            .logs
            .iter()
            .all(|l| l.message.len() <= Limits::default().max_log_message_bytes)
    );
    assert!(doc.contains("log entries were dropped"), "{doc}");
    assert!(doc.contains("log entries were cut"), "{doc}");
}

#[test]
fn a_huge_error_message_is_truncated_on_a_character_boundary() {
    let r = limited();
    for script in [
        r#"let s = "é"; s.pad(500000, "é"); throw s"#,
        r#"let s = "€"; s.pad(300000, "€"); throw s + "x""#,
        r#"let s = "😀"; s.pad(200000, "😀"); throw #{ kind: "X", message: s, source: "S" }"#,
    ] {
        let report = run(&r, script);
        let e = report.document.error.as_ref().expect("failed");
        // the message really was huge (the cut happened), and it was cut cleanly
        assert!(e.message.ends_with("..."), "{script}: {}", e.message);
        assert!(
            e.message.chars().count() <= MAX_ERROR_MESSAGE_CHARS + 3,
            "{} chars",
            e.message.chars().count()
        );
    }
}

/// A vendor module whose native function first makes an authorized SDK call, then panics.
fn panicking_runner(sink: &MemoryAuditSink) -> Runner {
    Runner::builder()
        .principal(Principal::user("attacker").unwrap())
        .limits(tight_limits())
        .audit_sink(Arc::new(sink.clone()))
        .modules(Arc::new(
            |engine: &mut rhai::Engine, sdk: &rust_sdk::SdkContext| {
                let sdk = sdk.clone();
                engine.register_fn("boom", move |path: &str| -> bool {
                    let _ = rust_sdk::fs::commands::cat(&sdk, path, false);
                    panic!("native code panicked on purpose");
                });
                engine.register_fn("boom_with", |n: i64| -> i64 {
                    let v: Vec<i64> = Vec::new();
                    v[usize::try_from(n).unwrap()]
                });
            },
        ))
        .build()
        .unwrap()
}

#[test]
fn a_panic_in_native_code_is_a_script_error_and_the_audit_record_survives() {
    let fx = Fixture::new();
    let sink = MemoryAuditSink::new();
    let r = panicking_runner(&sink);
    let secret = fx.secret.to_str().unwrap().to_string();
    let report = escape_common::run_args(&r, "boom(p)", &[("p", &secret)]);
    assert_eq!(
        kind(&report),
        Some(ErrorKind::Internal),
        "{:?}",
        report.outcome.error
    );
    assert!(report.document.error.is_some());
    assert_no_leak(&report, SECRET);
    // the denied read before the panic was recorded
    let records = sink.records();
    assert!(
        records
            .iter()
            .any(|r| r.outcome == Outcome::Deny && r.resource.contains("outside")),
        "{records:?}"
    );
    // a panic inside `try` is not catchable as a normal error and still ends the run
    let report = run(&r, "try { boom_with(3) } catch (e) { 1 }");
    assert_eq!(
        kind(&report),
        Some(ErrorKind::Internal),
        "{:?}",
        report.outcome.error
    );
    // the runner keeps working
    let ok = r.run(
        &Input::from_text("ok.rhai", "1 + 1"),
        &ScriptArguments::new(),
    );
    assert_eq!(ok.outcome.output, "2");
}

#[test]
fn limits_and_denials_cannot_be_caught_to_keep_going() {
    let fx = Fixture::new();
    let r = runner(&fx.policy());
    // a limit inside try/catch still ends the run
    let report = run(
        &r,
        r#"let n = 0; try { loop { n += 1; } } catch (e) { n = -1; } n"#,
    );
    assert_limit(&report, LimitKind::Operations);
    // a caught denial is still recorded in the outcome
    let report = run(
        &r,
        &fx.script(
            r#"let x = "none"; try { x = cat("$OUT/secret.txt"); } catch (e) { x = e.kind; } x"#,
        ),
    );
    assert_eq!(report.outcome.output, "PermissionDenied");
    assert!(!report.outcome.denials.is_empty());
    assert_no_leak(&report, SECRET);
    // issue 19 item 11: caught denials are capped, counted, and the document says so
    let r = runner_with(
        &fx.policy(),
        Limits {
            max_denials: 3,
            ..tight_limits()
        },
        None,
    );
    let report = run(
        &r,
        &fx.script(
            r#"let n = 0; for i in 0..50 { try { cat("$OUT/secret.txt"); } catch { n += 1; } } n"#,
        ),
    );
    assert_eq!(report.outcome.output, "50", "{:?}", report.outcome.error);
    assert_eq!(report.outcome.denials.len(), 3);
    assert_eq!(report.outcome.dropped_denials, 47);
    let doc = document_text(&report);
    assert!(doc.contains("47 access denials were not recorded"), "{doc}");
    assert_no_leak(&report, SECRET);
}

/// The real binary on a script, bounded by assert_cmd's timeout (a regression fails instead
/// of hanging). Returns the exit code and the JSON document.
fn cli(script: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.rhai");
    fs::write(&path, script).unwrap();
    let out = assert_cmd::Command::cargo_bin("rex-runner")
        .unwrap()
        .env_remove("LOG_LEVEL")
        .env("SYSLOG_ENABLE", "0")
        .arg("-s")
        .arg(&path)
        .args(args)
        .timeout(Duration::from_secs(40))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script}: no document ({e}): {stdout}"));
    (out.status.code().unwrap_or(-1), doc)
}

/// Issue 19, item 9: Rhai's `sleep` ignored the timeout (`sleep(60)` with `--timeout 2` ran
/// 60 s). It now ends the run as the timeout limit, also when caught or called indirectly.
#[test]
fn sleep_ends_at_the_timeout() {
    for script in [
        "sleep(60); 1",
        "sleep(60.5); 1",
        "try { sleep(60) } catch (e) { 1 }",
        "Fn(\"sleep\").call(60)",
    ] {
        let (code, doc) = cli(script, &["--timeout", "2"]);
        assert_eq!(code, 4, "{script}: {doc}");
        assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION", "{doc}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("timeout"),
            "{doc}"
        );
    }
    let (code, doc) = cli("sleep(0.01); 5", &["--timeout", "2"]);
    assert_eq!((code, doc["output"].as_str()), (0, Some("5")), "{doc}");
}

/// Issue 19, item 10: a closure stored in the array it captures made the final value and
/// `to_json` recurse until the stack overflowed (SIGABRT, no document). The document is now
/// printed with a typed error, and `to_json` raises a catchable `FormatError`.
#[test]
fn cyclic_values_still_print_a_document() {
    let cycle = "let a = [0]; let f = || a.len(); a[0] = f;";
    for tail in [
        "a",
        "#{x: a}",
        "let m = #{}; let g = || m.len(); m.g = g; m",
    ] {
        let (code, doc) = cli(&format!("{cycle} {tail}"), &[]);
        assert_eq!(code, 1, "{tail}: {doc}");
        assert_eq!(doc["status"], "ERROR");
        assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot be rendered"),
            "{doc}"
        );
    }
    for call in [
        "to_json(a)",
        "a.to_json()",
        "to_json(#{x: a})",
        "(#{x: a}).to_json()",
    ] {
        let (code, doc) = cli(
            &format!("{cycle} let r = \"no\"; try {{ {call}; }} catch (e) {{ r = e.kind; }} r"),
            &[],
        );
        assert_eq!(
            (code, doc["output"].as_str()),
            (0, Some("FormatError")),
            "{call}: {doc}"
        );
    }
    let r = runner("");
    let report = run(&r, &format!("{cycle} a"));
    assert_eq!(kind(&report), Some(ErrorKind::Runtime));
    assert!(matches!(
        report.outcome.error,
        Some(rex_core::RunError::Unrenderable(
            rex_core::ValueProblem::Cyclic
        ))
    ));
}

/// Issue 19, item 12: metrics and alarms were capped per item only (a 65 MB document in
/// 0.4 s). Their total is capped when published, and the whole document when it is built,
/// saying what was left out.
#[test]
fn metric_alarm_and_output_floods_are_capped_in_total() {
    let flood = r#"
        let v = "v"; v.pad(1000, "v");
        let kept = 0;
        for i in 0..1000 {
            let d = MetricDimensionsBuilder();
            for j in 0..30 { d = d.add(`k${j}`, v); }
            try {
                MetricBuilder().name(`m${i}`).value(1.0).dimensions(d.build()).publish();
                kept += 1;
            } catch (e) { }
            try { AlarmBuilder().type(`a${i}`).details(v).publish(); } catch (e) { }
        }
        kept
    "#;
    let r = runner("");
    let report = run(&r, flood);
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    let kept: usize = report.document.output.parse().unwrap();
    assert!(kept > 0 && kept < 1000, "{kept} metrics kept");
    let doc = document_text(&report);
    assert!(
        doc.len() <= 5 * 1024 * 1024,
        "the document is {} bytes",
        doc.len()
    );

    // the document cap: the end of the output, then logs, metrics and alarms are left out
    let capped = Runner::builder()
        .principal(Principal::user("attacker").unwrap())
        .limits(tight_limits())
        .max_document_bytes(100_000)
        .build()
        .unwrap();
    let report = run(
        &capped,
        r#"for i in 0..50 { info(`line ${i}`); MetricBuilder().name(`m${i}`).value(1.0).publish(); }
           let s = "\"é"; s.pad(200000, "\n"); s"#,
    );
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    let doc = document_text(&report);
    assert!(doc.len() <= 100_000, "the document is {} bytes", doc.len());
    let dropped = report
        .document
        .dropped
        .as_ref()
        .expect("the document says what was dropped");
    assert_eq!(dropped.max_document_bytes, 100_000);
    assert!(dropped.output_bytes > 0);
    assert_eq!(dropped.logs, 50);
    assert_eq!(dropped.metrics, 50);
    assert!(report.document.output.starts_with("\"é\n"));
    // the runner's own metrics are kept
    assert!(doc.contains("RexRunnerScriptExecutionTime"));
    // a document that fits is untouched
    let report = run(&capped, "info(\"x\"); 1");
    assert!(report.document.dropped.is_none());
    assert_eq!(report.document.output, "1");
}
