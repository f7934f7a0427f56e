#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Hostile scripts: each one ends with its own typed error, and nothing reaches the host.
//!
//! This binary installs the counting allocator (as the rex-runner binary does), so the
//! memory budget is exact and Rhai's own data-size walks are off: the per-value limits come
//! from the checked growth functions, and what they do not see ends with the memory limit.

#[global_allocator]
static ALLOCATOR: rex_core::CountingAllocator = rex_core::CountingAllocator::new();

use std::time::Duration;

use rex_core::{
    CancelHandle, ErrorKind, LimitKind, Limits, RexEngine, RunError, RunOptions, RunOutcome,
    ScriptArguments, ValueProblem,
};

fn run(engine: &RexEngine, script: &str) -> RunOutcome {
    engine.run(script, &ScriptArguments::new())
}

fn limit_of(outcome: &RunOutcome) -> LimitKind {
    match outcome.error.as_ref() {
        Some(RunError::Limit { limit, .. }) => *limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

fn small_limits() -> Limits {
    Limits {
        max_operations: 100_000,
        max_string_size: 10_000,
        max_array_size: 1_000,
        max_map_size: 1_000,
        max_variables: 50,
        max_functions: 5,
        max_memory: 64 << 20,
        ..Limits::default()
    }
}

#[test]
fn infinite_loop_hits_operations_limit() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let out = run(&engine, "loop {}");
    assert!(!out.is_success());
    assert_eq!(limit_of(&out), LimitKind::Operations);
    assert_eq!(
        out.error.as_ref().unwrap().kind(),
        ErrorKind::Limit(LimitKind::Operations)
    );
    assert!(out.output.is_empty());
}

#[test]
fn operations_limit_cannot_be_caught() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let out = run(&engine, "try { loop {} } catch (e) { 42 }");
    assert_eq!(limit_of(&out), LimitKind::Operations);
}

#[test]
fn tiny_timeout_stops_long_loop() {
    let limits = Limits {
        max_operations: u64::MAX,
        timeout: Some(Duration::from_millis(20)),
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let out = run(&engine, "let x = 0; loop { x += 1; }");
    assert_eq!(limit_of(&out), LimitKind::Timeout);
    assert!(out.error.as_ref().unwrap().position().is_some());
}

#[test]
fn per_run_timeout_override() {
    let limits = Limits {
        max_operations: u64::MAX,
        timeout: None,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let options = RunOptions {
        timeout: Some(Duration::from_millis(10)),
        ..RunOptions::default()
    };
    let out = engine.run_with("loop {}", &ScriptArguments::new(), &options);
    assert_eq!(limit_of(&out), LimitKind::Timeout);
    // The deadline does not leak into the next run.
    let out = run(&engine, "let s = 0; for i in 0..1000 { s += i } s");
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output, "499500");
}

#[test]
fn cancellation_from_another_thread() {
    let limits = Limits {
        max_operations: u64::MAX,
        timeout: None,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let cancel = CancelHandle::new();
    let flag = cancel.flag();
    let remote = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        remote.cancel();
    });
    let options = RunOptions {
        cancel: Some(cancel.clone()),
        ..RunOptions::default()
    };
    let out = engine.run_with("loop {}", &ScriptArguments::new(), &options);
    canceller.join().unwrap();
    assert_eq!(limit_of(&out), LimitKind::Cancelled);
    assert!(cancel.is_cancelled());
    assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn native_function_sees_the_run_cancel_flag() {
    let engine = RexEngine::builder()
        .register(|e| {
            e.register_fn("flag_is_set", || {
                rex_core::current_cancel_flag()
                    .map(|f| f.load(std::sync::atomic::Ordering::SeqCst))
                    .unwrap_or(true)
            });
        })
        .build();
    let cancel = CancelHandle::new();
    let options = RunOptions {
        cancel: Some(cancel.clone()),
        ..RunOptions::default()
    };
    let out = engine.run_with("flag_is_set()", &ScriptArguments::new(), &options);
    assert_eq!(out.output, "false");
    assert!(rex_core::current_cancel_flag().is_none());
    assert!(rex_core::current_interruption().is_none());
}

#[test]
fn string_doubling_hits_string_limit() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    // `+=` is a built-in operator Rex does not intercept: the memory budget ends it.
    let out = run(&engine, r#"let s = "xx"; loop { s += s; }"#);
    assert_eq!(limit_of(&out), LimitKind::Memory);
}

#[test]
fn string_pad_bomb_hits_string_limit() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let out = run(&engine, r#"let s = ""; s.pad(1000000000, "x"); s"#);
    assert_eq!(limit_of(&out), LimitKind::StringSize);
}

#[test]
fn array_bomb_hits_array_limit() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let out = run(&engine, "let a = []; loop { a.push(1); }");
    assert_eq!(limit_of(&out), LimitKind::ArraySize);
    let out = run(&engine, "let a = [1]; loop { a.append(a); }");
    assert_eq!(limit_of(&out), LimitKind::ArraySize);
    // `+` and `+=` are built-in operators Rex does not intercept: the memory budget ends them.
    let out = run(&engine, "let a = [1]; loop { a = a + a; }");
    assert_eq!(limit_of(&out), LimitKind::Memory);
    let out = run(&engine, "let a = [1]; loop { a += a; }");
    assert_eq!(limit_of(&out), LimitKind::Memory);
    let out = run(&engine, "let a = []; a.pad(1 << 40, 0); a");
    assert_eq!(limit_of(&out), LimitKind::ArraySize);
    let out = run(&engine, "let b = blob(1 << 40); b");
    assert_eq!(limit_of(&out), LimitKind::ArraySize);
    // Strings inside an array count toward the memory budget, not toward max_string_size.
    let out = run(
        &engine,
        r#"let a = []; for i in 0..100 { let s = "x"; s.pad(9000, "y"); a.push(s); } a.len()"#,
    );
    assert!(out.is_success(), "{:?}", out.error);
}

#[test]
fn map_bomb_hits_memory_limit() {
    // With the counting allocator, map entries count toward the memory budget (an entry
    // added by `m[k] = v` is built into Rhai and not seen by a per-value check).
    let limits = Limits {
        max_operations: 0,
        max_memory: 4 << 20,
        ..small_limits()
    };
    let engine = RexEngine::builder().limits(limits).build();
    for script in [
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
        "let m = #{}; let i = 0; loop { m.mixin(#{ x: 1 }); m[`k${i}`] = i; i += 1; }",
    ] {
        let out = run(&engine, script);
        assert_eq!(limit_of(&out), LimitKind::Memory, "{script}");
    }
}

#[test]
fn deep_recursion_hits_call_depth() {
    let engine = RexEngine::builder().build();
    let out = run(&engine, "fn f(n) { f(n + 1) } f(0)");
    assert_eq!(limit_of(&out), LimitKind::CallDepth);
}

#[test]
fn nested_parentheses_hit_expression_depth() {
    let engine = RexEngine::builder().build();
    let script = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let out = run(&engine, &script);
    assert_eq!(limit_of(&out), LimitKind::ExpressionDepth);
    let script = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(limit_of(&run(&engine, &script)), LimitKind::ExpressionDepth);
}

#[test]
fn too_many_variables() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let script: String = (0..100).map(|i| format!("let v{i} = {i};\n")).collect();
    assert_eq!(limit_of(&run(&engine, &script)), LimitKind::Variables);
}

#[test]
fn too_many_functions() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    let script: String = (0..10).map(|i| format!("fn f{i}() {{ {i} }}\n")).collect();
    assert_eq!(limit_of(&run(&engine, &script)), LimitKind::Functions);
}

#[test]
fn import_of_host_file_is_a_typed_error_without_fs_access() {
    let engine = RexEngine::builder().build();
    let out = run(&engine, r#"import "/etc/passwd" as p; 1"#);
    match out.error {
        Some(RunError::ModuleNotFound { module, position }) => {
            assert_eq!(module, "/etc/passwd");
            assert_eq!(position.unwrap().line, 1);
        }
        other => panic!("expected ModuleNotFound, got {other:?}"),
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // the fixture is a real file on disk
fn import_of_real_rhai_file_is_not_loaded() {
    // A real module file on disk that, if loaded, would define `leak`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.rhai");
    std::fs::write(&path, "export const leak = 42;").unwrap();
    let module = dir.path().join("evil");
    let engine = RexEngine::builder().build();
    let script = format!("import {:?} as e; e::leak", module.to_str().unwrap());
    let out = run(&engine, &script);
    assert!(matches!(out.error, Some(RunError::ModuleNotFound { .. })));
    assert_eq!(out.error.unwrap().kind(), ErrorKind::Runtime);
}

#[test]
fn registered_importable_module_can_be_imported() {
    let mut module = rex_core::rhai::Module::new();
    module.set_var("answer", 42_i64);
    let engine = RexEngine::builder()
        .importable_module("tools", std::sync::Arc::new(module))
        .build();
    let out = run(&engine, r#"import "tools" as t; t::answer"#);
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output, "42");
}

#[test]
fn eval_is_disabled() {
    let engine = RexEngine::builder().build();
    for script in [r#"eval("1")"#, r#"let x = eval("1"); x"#] {
        match run(&engine, script).error {
            Some(RunError::DisabledSymbol { symbol, .. }) => assert_eq!(symbol, "eval"),
            other => panic!("expected DisabledSymbol, got {other:?}"),
        }
    }
}

#[test]
fn eval_is_not_reachable_through_function_pointers() {
    let engine = RexEngine::builder().build();
    for script in [
        r#"let f = Fn("eval"); f.call("40 + 2")"#,
        r#"call(Fn("eval"), "40 + 2")"#,
    ] {
        let out = run(&engine, script);
        assert!(!out.is_success(), "{script} succeeded with {}", out.output);
        assert_ne!(out.output, "42");
    }
}

#[test]
fn print_is_disabled() {
    let engine = RexEngine::builder().build();
    match run(&engine, r#"print("x")"#).error {
        Some(RunError::DisabledSymbol { symbol, position }) => {
            assert_eq!(symbol, "print");
            assert_eq!(position.unwrap().line, 1);
        }
        other => panic!("expected DisabledSymbol, got {other:?}"),
    }
}

#[test]
fn debug_is_captured_as_a_log() {
    let engine = RexEngine::builder().build();
    let out = run(&engine, "let x = 1;\ndebug(\"hello\");\ndebug(x + 1);\nx");
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.logs.len(), 2);
    assert_eq!(out.logs[0].message, "hello");
    assert_eq!(out.logs[0].line, Some(2));
    assert_eq!(out.logs[0].level, rex_core::LogLevel::Debug);
    assert_eq!(out.logs[1].message, "2");
}

#[test]
fn panicking_native_function_is_an_internal_error() {
    let engine = RexEngine::builder()
        .register(|e| {
            e.register_fn("boom", || -> i64 { panic!("kaboom") });
        })
        .build();
    let out = run(&engine, "debug(\"before\"); boom()");
    match &out.error {
        Some(RunError::Internal { message }) => assert!(message.contains("kaboom")),
        other => panic!("expected Internal, got {other:?}"),
    }
    assert_eq!(out.logs.len(), 1, "logs before the panic are kept");
    // The engine is still usable afterwards.
    assert_eq!(run(&engine, "1 + 1").output, "2");
}

#[test]
fn deeply_nested_value_does_not_overflow_the_stack() {
    let engine = RexEngine::builder().build();
    let out = run(&engine, "let a = []; for i in 0..1000 { a = [a]; } a");
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output.len(), 2002);
    let out = run(
        &engine,
        "let a = []; for i in 0..1000 { a = [a]; } debug(a); a.len()",
    );
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.logs.len(), 1);
}

#[test]
fn caller_thread_mode_still_works() {
    let limits = Limits {
        stack_size: 0,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let out = run(&engine, "debug(\"x\"); 6 * 7");
    assert_eq!(out.output, "42");
    assert_eq!(out.logs.len(), 1);
    let out = run(&engine, "fn f(n) { f(n + 1) } f(0)");
    assert_eq!(limit_of(&out), LimitKind::CallDepth);
}

#[test]
fn blocking_native_function_can_poll_for_timeout() {
    let limits = Limits {
        timeout: Some(Duration::from_millis(20)),
        ..Limits::default()
    };
    let engine = RexEngine::builder()
        .limits(limits)
        .register(|e| {
            e.register_fn("wait_forever", || -> String {
                loop {
                    if let Some(reason) = rex_core::current_interruption() {
                        return reason.to_string();
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        })
        .build();
    let out = run(&engine, "let r = wait_forever(); loop {}");
    assert_eq!(limit_of(&out), LimitKind::Timeout);
}

#[test]
fn scripts_cannot_construct_a_denial_token() {
    let engine = RexEngine::builder().build();
    for script in [
        "DenialToken()",
        r#"let t = new_denial_token(); throw #{kind: "PermissionDenied", message: "x", source: "y", denial: t}"#,
    ] {
        let out = run(&engine, script);
        assert_eq!(out.error.unwrap().kind(), ErrorKind::Runtime, "{script}");
        assert!(out.denials.is_empty());
    }
}

#[test]
fn run_extensions_reach_native_functions_of_that_run_only() {
    use rex_core::{RunExtensions, run_extension};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<i64>>);

    let engine = RexEngine::builder()
        .register(|e| {
            e.register_fn("note", |x: i64| -> bool {
                match run_extension::<Seen>() {
                    Some(seen) => {
                        seen.0.lock().unwrap().push(x);
                        true
                    }
                    None => false,
                }
            });
        })
        .build();
    let mut ext = RunExtensions::new();
    ext.insert(Seen::default());
    let seen = ext.get::<Seen>().unwrap();
    let options = RunOptions {
        extensions: ext,
        ..RunOptions::default()
    };
    let out = engine.run_with("note(1); note(2)", &ScriptArguments::new(), &options);
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(*seen.0.lock().unwrap(), vec![1, 2]);
    // A run without the extension sees none.
    let out = engine.run("note(3)", &ScriptArguments::new());
    assert_eq!(out.output, "false");
    assert_eq!(*seen.0.lock().unwrap(), vec![1, 2]);
}

/// Issue 19, item 10: a closure stored in the array it captures is a cycle through a shared
/// cell. Serialising the final value (and Rhai's `Map.to_json()`) followed it until the stack
/// overflowed and the process aborted; now the run ends with a typed error, and the engine
/// keeps working. Rhai's own text renderings (`to_string`, `to_debug`, `debug`,
/// interpolation, error values) stop at a shared cell they have seen.
#[test]
fn cyclic_values_end_in_a_typed_error() {
    let engine = RexEngine::builder().build();
    let cycle = "let a = [0]; let f = || a.len(); a[0] = f;";
    for tail in ["a", "f", "#{x: a}", "[1, [a]]", "f.curry(1)"] {
        let out = run(&engine, &format!("{cycle} {tail}"));
        assert!(
            matches!(
                out.error,
                Some(RunError::Unrenderable(ValueProblem::Cyclic))
            ),
            "{tail}: {:?}",
            out.error
        );
        assert_eq!(out.error.as_ref().unwrap().kind(), ErrorKind::Runtime);
        assert!(out.output.is_empty());
    }
    let out = run(&engine, "let m = #{}; let f = || m.len(); m.f = f; m");
    assert!(matches!(
        out.error,
        Some(RunError::Unrenderable(ValueProblem::Cyclic))
    ));
    let out = run(&engine, &format!("{cycle} let m = #{{a: a}}; m.to_json()"));
    assert!(
        matches!(&out.error, Some(RunError::Runtime { error_kind: Some(k), .. }) if k == "FormatError"),
        "{:?}",
        out.error
    );
    for text in [
        "a.to_string()",
        "a.to_debug()",
        "`${a}`",
        "a + \"\"",
        "{ debug(a); \"\" }",
    ] {
        let out = run(&engine, &format!("{cycle} let t = {text}; t.len() < 1000"));
        assert!(out.is_success(), "{text}: {:?}", out.error);
    }
    let out = run(&engine, &format!("{cycle} throw a"));
    assert_eq!(out.error.as_ref().unwrap().kind(), ErrorKind::Runtime);
    assert_eq!(run(&engine, "1 + 1").output, "2");
}

#[test]
fn values_too_deep_or_too_large_to_render_are_refused() {
    let engine = RexEngine::builder().build();
    let out = run(&engine, "let a = []; for i in 0..1100 { a = [a]; } a");
    assert!(
        matches!(
            out.error,
            Some(RunError::Unrenderable(ValueProblem::TooDeep))
        ),
        "{:?}",
        out.error
    );
    // a shared string fanned out through closures: small for Rhai's size limits, far over the
    // rendering budget
    let out = run(
        &engine,
        "let s = \"x\"; s.pad(1000000, \"y\"); let f = || s.len(); let a = []; for i in 0..100 { a.push(f); } a",
    );
    assert!(
        matches!(
            out.error,
            Some(RunError::Unrenderable(ValueProblem::TooLarge))
        ),
        "{:?}",
        out.error
    );
}

/// Issue 19, item 9: Rhai's `sleep` blocked the thread for the whole time, past the timeout
/// and cancellation. `sleep` (REX scripts have it) now ends with the limit that fired, and
/// cannot be caught.
#[test]
fn sleep_honours_the_timeout_and_cancellation() {
    let engine = RexEngine::builder()
        .limits(Limits {
            timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        })
        .build();
    for script in [
        "sleep(3600); 1",
        "sleep(3600.0); 1",
        "sleep(1.0 / 0.0); 1",
        "try { sleep(3600) } catch (e) { 1 }",
        "Fn(\"sleep\").call(3600)",
        "call(Fn(\"sleep\"), 3600)",
        "let f = Fn(\"sleep\"); f.curry(3600).call()",
    ] {
        let out = run(&engine, script);
        assert_eq!(limit_of(&out), LimitKind::Timeout, "{script}");
    }
    let out = run(
        &engine,
        "sleep(0); sleep(-5); sleep(0.0); sleep(-1.5); sleep(0.01); 7",
    );
    assert_eq!(out.output, "7", "{:?}", out.error);

    let engine = RexEngine::builder().build();
    let cancel = CancelHandle::new();
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.cancel();
    });
    let out = engine.run_with(
        "sleep(3600); 1",
        &ScriptArguments::new(),
        &RunOptions {
            cancel: Some(cancel),
            ..RunOptions::default()
        },
    );
    t.join().unwrap();
    assert_eq!(limit_of(&out), LimitKind::Cancelled);
}

/// The memory-hog shapes of issue 14 and issue 19 item 11: each one holds more than the
/// budget in a different way, and each ends with the memory limit (not an abort, not a
/// success), with the engine usable afterwards.
#[test]
fn memory_hogs_of_every_shape_end_with_the_memory_limit() {
    let limits = Limits {
        max_operations: 0,
        max_memory: 64 << 20,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    for script in [
        // many values of a few MB (the 300 x 15 MB of the issue, scaled to the budget)
        r#"let keep = []; loop { keep.push(blob(1000000)); }"#,
        // many strings
        r#"let keep = []; let i = 0; loop { let s = `${i}`; s.pad(100000, 'y'); keep.push(s); i += 1; }"#,
        // nested arrays
        r#"let a = []; loop { a = [a, a.len(), [1, 2, 3, 4, 5, 6, 7, 8]]; let b = a; a.push(b); }"#,
        // a map of blobs
        r#"let m = #{}; let i = 0; loop { m[`k${i}`] = blob(1000000); i += 1; }"#,
        // closures capturing big values
        r#"let fs = []; loop { let big = blob(1000000); fs.push(|| big.len()); }"#,
        // curried Fn-pointer arguments double with each curry (issue 19, item 11)
        r#"fn f(x) { x } let p = Fn("f"); loop { p = p.curry(p); }"#,
        // a string doubling through the built-in operator
        r#"let s = "ab"; loop { s += s; }"#,
    ] {
        let out = run(&engine, script);
        assert_eq!(limit_of(&out), LimitKind::Memory, "{script}");
        assert_eq!(
            out.error.as_ref().unwrap().kind(),
            ErrorKind::Limit(LimitKind::Memory)
        );
    }
    // Everything the hogs held was freed: a small run on this thread succeeds.
    assert_eq!(run(&engine, "40 + 2").output, "42");
}

#[test]
fn the_memory_limit_cannot_be_caught() {
    let limits = Limits {
        max_operations: 0,
        max_memory: 16 << 20,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    let out = run(
        &engine,
        "let keep = []; try { loop { keep.push(blob(1000000)); } } catch (e) { 42 }",
    );
    assert_eq!(limit_of(&out), LimitKind::Memory);
}

/// Two runs on two threads of one engine: each has its own budget (per-thread counting).
#[test]
fn concurrent_runs_are_accounted_separately() {
    let limits = Limits {
        max_operations: 0,
        max_memory: 48 << 20,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    std::thread::scope(|s| {
        let hog = s.spawn(|| run(&engine, "let k = []; loop { k.push(blob(1000000)); }"));
        // 40 MB held at once: under the budget of its own run, whatever the hog holds.
        let small = s.spawn(|| {
            run(
                &engine,
                "let k = []; for i in 0..40 { k.push(blob(1000000)); } k.len()",
            )
        });
        let hog = hog.join().unwrap();
        let small = small.join().unwrap();
        assert_eq!(limit_of(&hog), LimitKind::Memory);
        assert!(small.is_success(), "{:?}", small.error);
        assert_eq!(small.output, "40");
    });
}

#[test]
fn growth_functions_check_per_value_sizes_without_walking() {
    let engine = RexEngine::builder().limits(small_limits()).build();
    for (script, limit) in [
        ("let b = blob(); loop { b.push(1); }", LimitKind::ArraySize),
        (
            "let b = blob(10); b.pad(100000, 1); b",
            LimitKind::ArraySize,
        ),
        (
            "let b = blob(10); loop { b.append(b); }",
            LimitKind::ArraySize,
        ),
        ("let a = []; loop { a.insert(0, 1); }", LimitKind::ArraySize),
        (
            r#"let s = ""; s.pad(1000000000, '€'); s"#,
            LimitKind::StringSize,
        ),
        (r#"let s = "€"; s.pad(9000, '€'); s"#, LimitKind::StringSize),
    ] {
        let out = run(&engine, script);
        assert_eq!(limit_of(&out), limit, "{script}");
    }
    // The same functions still work under the limits.
    let out = run(
        &engine,
        r#"let a = [1]; a.append([2]); a.insert(0, 0); a.pad(5, 9); let b = blob(2, 7); b.push(1); b.append("x"); let s = "a"; s.pad(4, "bc"); `${a} ${b.len()} ${s}`"#,
    );
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output, "[0, 1, 2, 9, 9] 4 abcb");
}

/// The fan-out of issue 29, item 8: 8 x 8 x 8 references to one 1 MB string render as
/// 512 MB of text. One `to_string` (or interpolation, `+`, `debug`) is one operation, so the
/// engine's poll alone came too late; each one now ends with the memory limit.
const FAN_OUT: &str = r#"let s = "x"; s.pad(1000000, 'x');
    let a = [s, s, s, s, s, s, s, s];
    let b = [a, a, a, a, a, a, a, a];
    let c = [b, b, b, b, b, b, b, b];"#;

#[test]
fn results_that_outgrow_their_inputs_end_with_the_memory_limit() {
    let limits = Limits {
        max_operations: 0,
        max_memory: 64 << 20,
        ..Limits::default()
    };
    let engine = RexEngine::builder().limits(limits).build();
    for tail in [
        "c.to_string()",
        "let t = c.to_string(); t.len()",
        "`${c}`",
        "let t = `${c}`; 1",
        r#""" + c"#,
        "c.to_debug()",
        "debug(c); 1",
        "let m = #{ c: c }; m.to_string()",
        "let t = `${c}`; try { 1 } catch { 2 }",
    ] {
        let script = format!("{FAN_OUT} {tail}");
        let out = run(&engine, &script);
        assert_eq!(limit_of(&out), LimitKind::Memory, "{tail}: {out:?}");
    }
    for script in [
        // 8 MB into one-byte pieces: 8 M array elements
        r#"let s = "x"; s.pad(8000000, 'x'); let p = s.split(""); p.len()"#,
        r#"let s = "x,"; s.pad(8000000, ','); let p = s.split(','); p.len()"#,
        r#"let s = "x,"; s.pad(8000000, ','); let p = s.split_rev(","); p.len()"#,
        r#"let s = "x "; s.pad(8000000, "x "); let p = s.split(); p.len()"#,
        r#"let s = "x"; s.pad(8000000, 'x'); let p = s.to_chars(); p.len()"#,
    ] {
        let out = run(&engine, script);
        assert_eq!(limit_of(&out), LimitKind::Memory, "{script}: {out:?}");
    }
    // The engine is usable afterwards, and the same shapes within the budget still work.
    let small = r#"let s = "x"; s.pad(1000, 'x'); let a = [s, s]; let b = [a, a];
        let t = b.to_string(); let u = `${b}`; t.len() + u.len() + s.split("").len()"#;
    assert_eq!(run(&engine, small).output, "9042");
}

/// The engine's own text of arrays and maps is Rhai's, element for element.
#[test]
fn arrays_and_maps_render_as_rhai_renders_them() {
    let engine = RexEngine::builder().build();
    let script = r#"let m = #{ b: [1, 2.5, "q\"\n", 'c', (), true], a: #{} };
        fn f(x) { x } let p = Fn("f");
        [m.to_string(), [m, [p]].to_debug(), `${[1, [2, "x"]]}`, "" + [3, "y"],
         "a,b,,c".split(","), "a b  c".split(), "a,b,c".split(",", 2),
         "a,b,c".split_rev(','), "".split(","), "abc".to_chars()].to_string()"#;
    let out = run(&engine, script);
    assert_eq!(
        out.output,
        r##"["#{\"a\": #{}, \"b\": [1, 2.5, \"q\\\"\\n\", c, (), true]}", "[#{\"a\": #{}, \"b\": [1, 2.5, \"q\\\"\\n\", c, (), true]}, [Fn(f)]]", "[1, [2, \"x\"]]", "[3, \"y\"]", ["a", "b", "", "c"], ["a", "b", "c"], ["a", "b,c"], ["c", "b", "a"], [""], [a, b, c]]"##,
        "{out:?}"
    );
}
