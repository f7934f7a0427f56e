//! Fuzz-style harness for script-argument JSON: arbitrary JSON (well-shaped or not) and
//! arbitrary text never panic; an accepted document always respects the depth, size and
//! identifier limits; a well-shaped document is accepted exactly when it is within them;
//! pathological nesting is refused without exhausting the stack.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use rex_core::{
    ArgumentsError, Limits, RexEngine, ScriptArgumentValue, ScriptArguments, validate_identifier,
};
use serde_json::{Value, json};

/// Nesting depth as REX counts it: a scalar (or empty container) is 1.
fn depth(v: &ScriptArgumentValue) -> usize {
    match v {
        ScriptArgumentValue::ListValue(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        ScriptArgumentValue::MapValue(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

fn arg_value() -> impl Strategy<Value = ScriptArgumentValue> {
    let leaf = prop_oneof![
        "\\PC{0,8}".prop_map(ScriptArgumentValue::StringValue),
        any::<i32>().prop_map(ScriptArgumentValue::IntegerValue),
        any::<i64>().prop_map(ScriptArgumentValue::LongValue),
        // exactly representable doubles: serde_json's default float parsing is not always
        // correctly rounded for extreme exponents (an ulp may differ), which is not at issue here
        any::<i32>().prop_map(|i| ScriptArgumentValue::DoubleValue(f64::from(i) / 4.0)),
        any::<bool>().prop_map(ScriptArgumentValue::BooleanValue),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(ScriptArgumentValue::ListValue),
            proptest::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(ScriptArgumentValue::MapValue),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,6}",
        "_[a-z0-9_]{0,4}",
        Just("let".to_string()),
        Just("__x".to_string()),
        Just("1abc".to_string()),
        Just("a-b".to_string()),
        Just("é".to_string()),
        Just(String::new()),
        "\\PC{0,6}",
    ]
}

/// Arbitrary JSON of any shape (mostly not argument-shaped).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("stringValue".to_string()),
                    Just("integerValue".to_string()),
                    Just("longValue".to_string()),
                    Just("doubleValue".to_string()),
                    Just("booleanValue".to_string()),
                    Just("listValue".to_string()),
                    Just("mapValue".to_string()),
                    "[a-z]{1,4}",
                ],
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn limits(max_depth: usize) -> Limits {
    Limits {
        max_argument_depth: max_depth,
        ..Limits::default()
    }
}

/// Whatever was accepted respects every limit, and can be turned into a scope and used.
fn check_accepted(args: &ScriptArguments, l: &Limits) -> Result<(), TestCaseError> {
    prop_assert!(args.len() <= l.max_variables);
    for (k, v) in &args.values {
        prop_assert!(validate_identifier(k).is_ok(), "{k:?}");
        prop_assert!(depth(v) <= l.max_argument_depth, "{k}: depth {}", depth(v));
    }
    let scope = args.to_scope();
    prop_assert_eq!(scope.len(), args.len());
    Ok(())
}

/// Cases per property: the given default, or `REX_FUZZ_CASES` for a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("REX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn well_shaped_documents_are_accepted_exactly_within_limits(
        doc in proptest::collection::btree_map(key(), arg_value(), 0..5),
        max_depth in 0usize..5,
    ) {
        let l = limits(max_depth);
        let text = serde_json::to_string(&doc).unwrap();
        let res = ScriptArguments::from_json_str(&text, &l);
        let keys_ok = doc.keys().all(|k| validate_identifier(k).is_ok());
        let depth_ok = doc.values().all(|v| depth(v) <= max_depth);
        match &res {
            Ok(args) => {
                prop_assert!(keys_ok && depth_ok);
                check_accepted(args, &l)?;
                prop_assert_eq!(&args.values, &doc);
            }
            Err(ArgumentsError::TooDeep { depth: d, max, .. }) => {
                prop_assert!(!depth_ok);
                prop_assert!(*d > *max);
                prop_assert_eq!(*max, max_depth);
            }
            Err(ArgumentsError::InvalidKey { key, .. }) => {
                prop_assert!(!keys_ok);
                prop_assert!(validate_identifier(key).is_err());
            }
            Err(e) => prop_assert!(false, "unexpected error {e:?} for {text}"),
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value(), wrap in any::<bool>(), max_depth in 0usize..4) {
        let l = limits(max_depth);
        let v = if wrap { json!({ "arg": v }) } else { v };
        let text = v.to_string();
        if let Ok(args) = ScriptArguments::from_json_str(&text, &l) {
            check_accepted(&args, &l)?;
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let l = Limits::default();
        if let Ok(args) = ScriptArguments::from_json_str(&text, &l) {
            check_accepted(&args, &l)?;
        }
    }

    #[test]
    fn accepted_arguments_run_as_variables(
        doc in proptest::collection::btree_map(
            "[a-z][a-z0-9_]{0,6}".prop_filter("a valid name", |k| validate_identifier(k).is_ok()),
            arg_value(),
            1..4,
        ),
    ) {
        let l = limits(16);
        let args = ScriptArguments::from_json_str(&serde_json::to_string(&doc).unwrap(), &l).unwrap();
        let engine = RexEngine::builder().limits(l).build();
        let first = doc.keys().next().unwrap();
        let out = engine.run(&format!("type_of({first})"), &args);
        prop_assert!(out.is_success(), "{:?}", out.error);
    }
}

/// Nested `n` levels as REX JSON (`listValue` or `mapValue`).
fn nested(n: usize, map: bool) -> String {
    let mut s = String::from(r#"{"stringValue":"x"}"#);
    for _ in 0..n {
        s = if map {
            format!(r#"{{"mapValue":{{"k":{s}}}}}"#)
        } else {
            format!(r#"{{"listValue":[{s}]}}"#)
        };
    }
    format!(r#"{{"a":{s}}}"#)
}

#[test]
fn depth_limit_holds_at_the_boundary() {
    let l = Limits::default();
    assert_eq!(l.max_argument_depth, 2);
    for map in [false, true] {
        assert!(ScriptArguments::from_json_str(&nested(0, map), &l).is_ok());
        assert!(ScriptArguments::from_json_str(&nested(1, map), &l).is_ok());
        assert!(matches!(
            ScriptArguments::from_json_str(&nested(2, map), &l),
            Err(ArgumentsError::TooDeep {
                depth: 3,
                max: 2,
                ..
            })
        ));
    }
}

#[test]
fn pathological_nesting_is_refused_without_overflow() {
    let l = Limits::default();
    for n in [64, 1_000, 100_000] {
        for map in [false, true] {
            // built iteratively: the text itself is deep, not the test's stack
            let open = if map {
                r#"{"mapValue":{"k":"#
            } else {
                r#"{"listValue":["#
            };
            let close = if map { "}}" } else { "]}" };
            let text = format!(
                r#"{{"a":{}{{"stringValue":"x"}}{}}}"#,
                open.repeat(n),
                close.repeat(n)
            );
            let err = ScriptArguments::from_json_str(&text, &l).unwrap_err();
            assert!(
                matches!(
                    err,
                    ArgumentsError::TooDeep { .. } | ArgumentsError::Malformed(_)
                ),
                "{err:?}"
            );
        }
    }
    // raw bracket bombs
    for bomb in ["[".repeat(100_000), "{\"a\":".repeat(100_000)] {
        assert!(matches!(
            ScriptArguments::from_json_str(&bomb, &l),
            Err(ArgumentsError::Malformed(_))
        ));
    }
}

#[test]
fn size_limits_hold() {
    let l = Limits {
        max_string_size: 8,
        max_array_size: 3,
        max_map_size: 2,
        max_variables: 2,
        ..Limits::default()
    };
    let cases = [
        r#"{"a":{"stringValue":"123456789"}}"#,
        r#"{"a":{"listValue":[{"longValue":1},{"longValue":2},{"longValue":3},{"longValue":4}]}}"#,
        r#"{"a":{"mapValue":{"x":{"longValue":1},"y":{"longValue":1},"z":{"longValue":1}}}}"#,
        r#"{"a":{"longValue":1},"b":{"longValue":1},"c":{"longValue":1}}"#,
        r#"{"a":{"mapValue":{"123456789":{"longValue":1}}}}"#,
    ];
    for c in cases {
        assert!(
            matches!(
                ScriptArguments::from_json_str(c, &l),
                Err(ArgumentsError::TooLarge { .. })
            ),
            "{c}"
        );
    }
    let mut m = BTreeMap::new();
    m.insert("k".to_string(), ScriptArgumentValue::LongValue(1));
    let ok = ScriptArguments {
        values: [("a".to_string(), ScriptArgumentValue::MapValue(m))].into(),
    };
    assert!(ok.validate(&l).is_ok());
}
