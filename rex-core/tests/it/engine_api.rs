#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Builder, reuse across runs and threads, logs, signatures.

use std::sync::Arc;

use rex_core::rhai::{Module, NativeCallContext};
use rex_core::{Limits, LogLevel, RexEngine, RunStatus, ScriptArguments};

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RexEngine>();
    check::<rex_core::CompiledScript>();
    check::<rex_core::CancelHandle>();
}

#[test]
fn simple_success() {
    let engine = RexEngine::builder().build();
    let out = engine.run("let x = 40; x + 2", &ScriptArguments::new());
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(out.output, "42");
    assert_eq!(out.value, serde_json::json!(42));
    assert!(out.error.is_none());
}

#[test]
fn map_value_output() {
    let engine = RexEngine::builder().build();
    let out = engine.run(r#"#{a: 1, b: "x"}"#, &ScriptArguments::new());
    assert_eq!(out.value, serde_json::json!({"a": 1, "b": "x"}));
    assert_eq!(out.output, r#"#{"a": 1, "b": "x"}"#);
}

#[test]
fn compile_error_has_position() {
    let engine = RexEngine::builder().build();
    let out = engine.run("let x = 1;\nlet = ;", &ScriptArguments::new());
    let err = out.error.unwrap();
    assert_eq!(err.kind(), rex_core::ErrorKind::Compile);
    assert_eq!(err.position().unwrap().line, 2);
    assert!(err.to_string().contains("line 2"));
}

#[test]
fn log_functions_and_hook() {
    let engine = RexEngine::builder()
        .register(|e| {
            e.register_fn("native_log", |ctx: NativeCallContext| {
                rex_core::push_log(LogLevel::Warn, "from native", ctx.call_position().line());
            });
        })
        .build();
    let out = engine.run(
        "info(\"a\");\nwarn(\"b\");\nerror(\"c\");\ntrace(\"d\");\nnative_log();",
        &ScriptArguments::new(),
    );
    assert!(out.is_success(), "{:?}", out.error);
    let levels: Vec<_> = out.logs.iter().map(|l| l.level).collect();
    assert_eq!(
        levels,
        [
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
            LogLevel::Trace,
            LogLevel::Warn
        ]
    );
    assert_eq!(out.logs[4].line, Some(5));
    assert_eq!(out.logs[4].message, "from native");
}

#[test]
fn log_entries_are_capped_and_do_not_leak_between_runs() {
    let limits = Limits {
        max_log_entries: 3,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let out = engine.run("for i in 0..10 { debug(i) }", &ScriptArguments::new());
    assert_eq!(out.logs.len(), 3);
    assert_eq!(out.dropped_logs, 7);
    let out = engine.run("1", &ScriptArguments::new());
    assert!(out.logs.is_empty());
    assert_eq!(out.dropped_logs, 0);
    // Outside a run, the hook does nothing.
    rex_core::push_log(LogLevel::Info, "nobody listens", None);
}

#[test]
fn runs_from_many_threads_share_one_engine() {
    let engine = Arc::new(RexEngine::builder().build());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for i in 0..20 {
                    let script = format!("debug({t}); {t} * 100 + {i}");
                    let out = engine.run(&script, &ScriptArguments::new());
                    assert_eq!(out.output, (t * 100 + i).to_string());
                    assert_eq!(out.logs.len(), 1);
                    assert_eq!(out.logs[0].message, t.to_string());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn nested_run_from_native_function_keeps_states_apart() {
    let inner = Arc::new(RexEngine::builder().build());
    let engine = RexEngine::builder()
        .register(move |e| {
            let inner = Arc::clone(&inner);
            e.register_fn("nested", move || -> i64 {
                let out = inner.run("debug(\"inner\"); 5", &ScriptArguments::new());
                assert_eq!(out.logs.len(), 1);
                out.output.parse().unwrap()
            });
        })
        .build();
    let out = engine.run("debug(\"outer\"); nested() + 1", &ScriptArguments::new());
    assert_eq!(out.output, "6");
    assert_eq!(out.logs.len(), 1);
    assert_eq!(out.logs[0].message, "outer");
}

#[test]
fn modules_static_and_global() {
    let mut global = Module::new();
    global.set_native_fn("double", |x: i64| Ok(x * 2));
    let mut ns = Module::new();
    ns.set_native_fn("triple", |x: i64| Ok(x * 3));
    let engine = RexEngine::builder()
        .global_module(Arc::new(global))
        .static_module("math3", Arc::new(ns))
        .build();
    let out = engine.run("double(2) + math3::triple(2)", &ScriptArguments::new());
    assert_eq!(out.output, "10", "{:?}", out.error);
}

#[test]
fn function_signatures_list_registered_functions() {
    let engine = RexEngine::builder()
        .register(|e| {
            e.register_fn("my_native", |a: i64, b: &str| format!("{a}{b}"));
        })
        .build();
    let sigs = engine.function_signatures(false);
    assert!(sigs.iter().any(|s| s.starts_with("my_native(")), "{sigs:?}");
    assert!(sigs.iter().any(|s| s.starts_with("info(")), "{sigs:?}");
    let all = engine.function_signatures(true);
    assert!(all.len() > sigs.len());
}

#[test]
fn timings_are_reported() {
    let engine = RexEngine::builder().build();
    let out = engine.run(
        "let s = 0; for i in 0..100 { s += i } s",
        &ScriptArguments::new(),
    );
    assert!(out.timings.compile > std::time::Duration::ZERO);
    assert!(out.timings.run > std::time::Duration::ZERO);
}

/// Issue 19, item 11: a log message is cut when it is logged (not after the run), and the
/// total bytes of a run's logs are capped; both are counted in the outcome.
#[test]
fn log_messages_are_cut_on_entry_and_capped_in_bytes() {
    let limits = Limits {
        max_log_message_bytes: 100,
        max_log_bytes: 1_000,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let out = engine.run(
        r#"let s = "é"; s.pad(100000, 'é'); for i in 0..50 { debug(s); } 1"#,
        &ScriptArguments::new(),
    );
    assert!(out.is_success(), "{:?}", out.error);
    assert!(!out.logs.is_empty());
    for log in &out.logs {
        assert!(log.message.len() <= 100, "{}", log.message.len());
        assert!(log.message.ends_with(rex_core::LOG_TRUNCATION_MARKER));
    }
    assert_eq!(out.truncated_logs, out.logs.len());
    let kept: usize = out.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 1_000);
    assert_eq!(out.logs.len() + out.dropped_logs, 50);
    assert!(out.dropped_logs > 0);
}
