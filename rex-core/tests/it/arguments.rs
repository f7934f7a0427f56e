#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Script arguments in REX's JSON format: every value kind, bad keys, depth and size limits.

use rex_core::{
    ArgumentsError, ErrorKind, Limits, RexEngine, RunError, ScriptArgumentValue, ScriptArguments,
};

fn parse(json: &str) -> Result<ScriptArguments, ArgumentsError> {
    ScriptArguments::from_json_str(json, &Limits::default())
}

#[test]
fn every_value_kind_reaches_the_script() {
    let json = r#"{
        "s": {"stringValue": "hello"},
        "i": {"integerValue": 5},
        "l": {"longValue": 9007199254740993},
        "d": {"doubleValue": 1.5},
        "b": {"booleanValue": true},
        "list": {"listValue": [{"integerValue": 1}, {"stringValue": "two"}]},
        "map": {"mapValue": {"k": {"booleanValue": false}, "n": {"doubleValue": 2.5}}}
    }"#;
    let args = parse(json).unwrap();
    assert_eq!(args.len(), 7);
    let engine = RexEngine::builder().build();
    let script = r#"
        [type_of(s), s, type_of(i), i, type_of(l), l, type_of(d), d, type_of(b), b,
         type_of(list), list[1], list.len(), type_of(map), map.k, map.n]
    "#;
    let out = engine.run(script, &args);
    assert!(out.is_success(), "{:?}", out.error);
    let v = out.value.as_array().unwrap();
    assert_eq!(v[0], "string");
    assert_eq!(v[1], "hello");
    assert_eq!(v[2], "i64");
    assert_eq!(v[3], 5);
    assert_eq!(v[4], "i64");
    assert_eq!(v[5], 9_007_199_254_740_993_i64);
    assert_eq!(v[6], "f64");
    assert_eq!(v[7], 1.5);
    assert_eq!(v[8], "bool");
    assert_eq!(v[9], true);
    assert_eq!(v[10], "array");
    assert_eq!(v[11], "two");
    assert_eq!(v[12], 2);
    assert_eq!(v[13], "map");
    assert_eq!(v[14], false);
    assert_eq!(v[15], 2.5);
}

#[test]
fn output_uses_rhai_rendering() {
    let args =
        parse(r#"{"xs": {"listValue": [{"integerValue": 1}, {"integerValue": 2}]}}"#).unwrap();
    let out = RexEngine::builder().build().run("xs", &args);
    assert_eq!(out.output, "[1, 2]");
    assert_eq!(out.value, serde_json::json!([1, 2]));
}

#[test]
fn round_trip_json() {
    let mut args = ScriptArguments::new();
    args.insert("n", ScriptArgumentValue::IntegerValue(3));
    let json = serde_json::to_string(&args).unwrap();
    assert_eq!(json, r#"{"n":{"integerValue":3}}"#);
    assert_eq!(parse(&json).unwrap(), args);
}

#[test]
fn integer_value_must_fit_i32() {
    assert!(matches!(
        parse(r#"{"i": {"integerValue": 5000000000}}"#),
        Err(ArgumentsError::Malformed(_))
    ));
}

#[test]
fn malformed_json_is_rejected() {
    for bad in [
        "",
        "[]",
        r#"{"a": 1}"#,
        r#"{"a": {"unknownValue": 1}}"#,
        r#"{"a": {"stringValue": 1}}"#,
    ] {
        assert!(
            matches!(parse(bad), Err(ArgumentsError::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn bad_identifier_keys_are_rejected() {
    for key in [
        "", "1abc", "a-b", "a b", "let", "fn", "true", "eval", "print", "__x", "_", "é", "a.b",
    ] {
        let json = format!(r#"{{{key:?}: {{"integerValue": 1}}}}"#);
        match parse(&json) {
            Err(ArgumentsError::InvalidKey { key: k, .. }) => assert_eq!(k, key),
            other => panic!("key {key:?}: expected InvalidKey, got {other:?}"),
        }
    }
    for key in ["a", "_a", "abc_1", "Path"] {
        let json = format!(r#"{{{key:?}: {{"integerValue": 1}}}}"#);
        assert!(parse(&json).is_ok(), "{key}");
    }
}

#[test]
fn nesting_depth_two_is_accepted_three_is_rejected() {
    // Depth 2: a list of scalars, a map of scalars, an empty list inside a list.
    assert!(parse(r#"{"a": {"listValue": [{"integerValue": 1}]}}"#).is_ok());
    assert!(parse(r#"{"a": {"mapValue": {"k": {"stringValue": "v"}}}}"#).is_ok());
    assert!(parse(r#"{"a": {"listValue": [{"listValue": []}]}}"#).is_ok());
    // Depth 3.
    let deep = r#"{"a": {"listValue": [{"listValue": [{"integerValue": 1}]}]}}"#;
    match parse(deep) {
        Err(ArgumentsError::TooDeep { key, depth, max }) => {
            assert_eq!(key, "a");
            assert_eq!(depth, 3);
            assert_eq!(max, 2);
        }
        other => panic!("expected TooDeep, got {other:?}"),
    }
    let deep_map = r#"{"m": {"mapValue": {"k": {"mapValue": {"x": {"booleanValue": true}}}}}}"#;
    assert!(matches!(
        parse(deep_map),
        Err(ArgumentsError::TooDeep { .. })
    ));
    // A configurable depth.
    let limits = Limits {
        max_argument_depth: 3,
        ..Limits::default()
    };
    assert!(ScriptArguments::from_json_str(deep, &limits).is_ok());
}

#[test]
fn very_deep_json_does_not_overflow() {
    let mut json = String::new();
    for _ in 0..10_000 {
        json.push_str(r#"{"listValue": ["#);
    }
    json.push_str(&"]}".repeat(10_000));
    let json = format!(r#"{{"a": {json}}}"#);
    assert!(parse(&json).is_err());
}

#[test]
fn size_limits_apply_to_arguments() {
    let limits = Limits {
        max_string_size: 4,
        max_array_size: 2,
        max_map_size: 1,
        max_variables: 2,
        ..Limits::default()
    };
    let cases = [
        r#"{"a": {"stringValue": "12345"}}"#,
        r#"{"a": {"listValue": [{"integerValue": 1}, {"integerValue": 2}, {"integerValue": 3}]}}"#,
        r#"{"a": {"mapValue": {"x": {"integerValue": 1}, "y": {"integerValue": 2}}}}"#,
        r#"{"a": {"integerValue": 1}, "b": {"integerValue": 1}, "c": {"integerValue": 1}}"#,
    ];
    for json in cases {
        assert!(
            matches!(
                ScriptArguments::from_json_str(json, &limits),
                Err(ArgumentsError::TooLarge { .. })
            ),
            "{json}"
        );
    }
}

#[test]
fn run_rejects_invalid_arguments_with_typed_error() {
    let mut args = ScriptArguments::new();
    args.insert("let", ScriptArgumentValue::BooleanValue(true));
    let out = RexEngine::builder().build().run("1", &args);
    assert!(!out.is_success());
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArguments);
    assert!(matches!(
        err,
        RunError::InvalidArguments(ArgumentsError::InvalidKey { .. })
    ));
}

#[test]
fn undeclared_variables_fail_at_compile_time() {
    let engine = RexEngine::builder().build();
    let args = parse(r#"{"known": {"integerValue": 1}}"#).unwrap();
    assert!(engine.compile("known + 1", &args).is_ok());
    let err = engine.compile("known + unknown", &args).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compile);
    assert_eq!(err.position().unwrap().line, 1);
}

#[test]
fn compiled_script_is_reused_with_new_values() {
    let engine = RexEngine::builder().build();
    let a = parse(r#"{"n": {"integerValue": 1}}"#).unwrap();
    let b = parse(r#"{"n": {"integerValue": 41}}"#).unwrap();
    let compiled = engine.compile("n + 1", &a).unwrap();
    let opts = rex_core::RunOptions::default();
    assert_eq!(engine.run_compiled(&compiled, &a, &opts).output, "2");
    assert_eq!(engine.run_compiled(&compiled, &b, &opts).output, "42");
}
