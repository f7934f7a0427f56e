#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The lazy standard library (`StandardLibrary::Lazy`, what the CLI uses) behaves exactly as
//! the eager one: same values, same errors, same limits.

use proptest::prelude::*;
use rex_core::{Limits, RexEngine, RunOutcome, ScriptArguments, StandardLibrary};

/// Scripts over the whole standard library: strings, arrays, maps, blobs, numbers, ranges,
/// function pointers and closures, conversions, and calls that are not found.
const SCRIPTS: &[&str] = &[
    "1 + 1",
    r#"let s = "Hello, World"; [s.len(), s.to_upper(), s.to_lower(), s.index_of("World"), s.sub_string(0, 5), s.contains("lo"), s.starts_with("He"), s.split(", ")]"#,
    r#"let s = "  pad  "; s.trim(); s.pad(8, '*'); [s, s.len(), s.replace("p", "q"), s == "pad*"]"#,
    r#"let a = [5, 3, 9, 1]; a.sort(); a.push(7); a.insert(0, 2); a.reverse(); [a, a.len(), a.contains(9), a.index_of(3), a.filter(|x| x > 3), a.map(|x| x * 2), a.reduce(|s, x| s + x, 0)]"#,
    r#"let a = []; for i in 0..100 { a.push(i * i); } a.retain(|x| x % 3 == 0); [a.len(), a[0], a[-1], a.extract(1, 3), a.some(|x| x > 50), a.all(|x| x >= 0)]"#,
    r#"let m = #{a: 1, b: "two", c: [3]}; m.d = 4.5; [m.keys(), m.values().len(), m.contains("b"), m.len(), m.remove("a"), m]"#,
    r#"let b = blob(4, 0x41); b.push(0x42); [b.len(), b.as_string(), b[0], b.to_array()]"#,
    r#"[2 ** 10, 17 / 5, 17 % 5, -7.abs(), 3.7.floor(), 3.2.ceiling(), 2.0.sqrt(), max(3, 9), min(3.5, 2), 10.to_float(), 3.99.to_int(), "42".parse_int(), "1.5".parse_float()]"#,
    r#"[(1..5).contains(3), (0..=4).contains(4), (0..=4).is_inclusive(), (2..9).start, 255.to_hex(), 8.to_binary(), 0x7f & 0x0f, 1 << 4, 6 ^ 3]"#,
    r#"let f = Fn("len"); let g = |x| x + 1; let h = g.curry(41); [f.call("abc"), call(g, 1), h.call(), type_of(f), f.name()]"#,
    r#"let x = 1; let add = |y| x + y; fn twice(v) { v * 2 } [add.call(2), twice(21), is_def_fn("twice", 1), type_of(()), type_of(1.0), type_of('c')]"#,
    r#"let s = ""; for c in "abc".chars() { s += c.to_upper(); } s += 5; s += true; s"#,
    r#"let t = [1, "a", 2.5, true, (), 'c', [1], #{k: 1}]; t.map(|v| `${v}:${type_of(v)}`)"#,
    r#"switch 3 { 1 => "one", 2 | 3 => "few", _ => "many" }"#,
    r#""abc".no_such_method()"#,
    r#"no_such_function(1, "two")"#,
    r#"[1, 2].push()"#,
    r#"let a = [3, 1]; a.sort(|x, y| y - x); a.dedup(); a.split(1)"#,
    r#"let m = #{}; m["k"] = 1; m += #{j: 2}; m.fill_with(#{l: 3}); to_string(m.len()) + ":" + m.to_json().len()"#,
    r#"throw "stop here""#,
    r#"let x = 10; x.to_string().len() + `${x * 2}`.len()"#,
    r#"sleep(0); timestamp().elapsed >= 0.0"#,
];

fn run(standard: StandardLibrary, script: &str) -> RunOutcome {
    let limits = Limits {
        max_operations: 200_000,
        ..Limits::default()
    };
    RexEngine::builder_with(standard)
        .limits(limits)
        .build()
        .run(script, &ScriptArguments::default())
}

fn same(script: &str) {
    let eager = run(StandardLibrary::Eager, script);
    let lazy = run(StandardLibrary::Lazy, script);
    assert_eq!(lazy.status, eager.status, "{script}");
    assert_eq!(lazy.output, eager.output, "{script}");
    assert_eq!(lazy.value, eager.value, "{script}");
    assert_eq!(
        lazy.error.as_ref().map(|e| (e.kind(), e.to_string())),
        eager.error.as_ref().map(|e| (e.kind(), e.to_string())),
        "{script}"
    );
}

/// The scripts of [`SCRIPTS`] that fail on purpose (everything else must succeed, or the
/// comparison would be between two identical failures).
const FAILING: &[&str] = &[
    r#""abc".no_such_method()"#,
    r#"no_such_function(1, "two")"#,
    r#"[1, 2].push()"#,
    r#"throw "stop here""#,
];

#[test]
fn lazy_and_eager_standard_libraries_agree() {
    for script in SCRIPTS {
        same(script);
        let out = run(StandardLibrary::Lazy, script);
        assert_eq!(
            out.error.is_some(),
            FAILING.contains(script),
            "{script}: {:?}",
            out.error.map(|e| e.to_string())
        );
    }
}

#[test]
fn a_lazy_standard_library_still_finds_every_function() {
    let out = run(
        StandardLibrary::Lazy,
        r#"let a = [3, 1, 2]; a.sort(); a.map(|x| x.to_string()).reduce(|s, x| s + x, "")"#,
    );
    assert_eq!(out.output, "123", "{:?}", out.error);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random arithmetic and string expressions evaluate the same way under both libraries.
    #[test]
    fn random_expressions_agree(a in -1000i64..1000, b in -50i64..50, s in "[a-z]{0,8}", op in 0usize..8) {
        let ops = ["+", "-", "*", "/", "%", "==", "<", "**"];
        let script = format!(
            r#"let a = {a}; let b = {b}; let s = "{s}"; [a {op} b, s.len() {op} b, s + a, s.to_upper(), a.to_float() / 3.0, s.index_of("a")]"#,
            op = ops[op]
        );
        same(&script);
    }
}
