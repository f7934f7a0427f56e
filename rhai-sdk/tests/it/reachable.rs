//! Engines built for one script (`binding::only_reachable_from`): they declare exactly the
//! functions whose names the script spells, plus the implicit ones, and scripts behave as on
//! a full engine.
// The fixture is written directly, outside the SDK.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use rex_core::{FunctionInfo, RexEngine, function_catalog};
use rhai_sdk::RexModules;
use rhai_sdk::binding::only_reachable_from;

use crate::common::{ok, sdk};

const POLICY: &str = "permit(principal, action, resource);";

fn engine_for(script: Option<&str>) -> RexEngine {
    let sdk = sdk(POLICY);
    let modules = RexModules::all();
    let build = || {
        RexEngine::builder()
            .register(|e| modules.register(e, &sdk))
            .build()
    };
    match script {
        Some(s) => only_reachable_from(s, build),
        None => build(),
    }
}

fn catalog(engine: &RexEngine) -> BTreeSet<String> {
    function_catalog(engine.engine()).iter().map(key).collect()
}

/// The engine's own functions (logging, `sleep`): declared by rex-core, never pruned.
fn engine_own() -> BTreeSet<String> {
    catalog(&RexEngine::builder().build())
}

fn implicit(f: &FunctionInfo) -> bool {
    !f.name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || f.name.contains('$')
        || ["to_string", "to_debug", "contains"].contains(&f.name.as_str())
}

#[test]
fn a_script_naming_every_function_gets_every_function() {
    let full = engine_for(None);
    let all = function_catalog(full.engine());
    assert!(all.len() > 300, "{}", all.len());
    let mut text: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    text.extend(all.iter().map(|f| f.namespace.as_str()));
    let pruned = engine_for(Some(&text.join(" ")));
    assert_eq!(catalog(&pruned), catalog(&full));
}

#[test]
fn a_script_naming_nothing_gets_only_the_implicit_functions() {
    let full = engine_for(None);
    let pruned = engine_for(Some("1 + 1"));
    let want: BTreeSet<String> = function_catalog(full.engine())
        .iter()
        .filter(|f| f.namespace.is_empty() && implicit(f))
        .map(key)
        .chain(engine_own())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(catalog(&pruned), want);
    assert_eq!(ok(&pruned, "1 + 1"), "2");
}

#[test]
fn dynamic_calls_get_every_function() {
    let full = catalog(&engine_for(None));
    for script in [
        r#"let f = Fn("re" + "ad"); f.call("/x")"#,
        "call(x)",
        "x.curry(1)",
        r#"is_def_fn("x", 1)"#,
    ] {
        assert_eq!(catalog(&engine_for(Some(script))), full, "{script}");
    }
}

#[test]
fn words_in_strings_and_comments_count() {
    // `Fn("hostname")` names it in a string; a comment naming it is enough too.
    let e = engine_for(Some(
        r#"let n = "hostname"; // and uname
        uname().len() > 0"#,
    ));
    let names: Vec<String> = function_catalog(e.engine())
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(names.iter().any(|n| n == "hostname"));
    assert!(names.iter().any(|n| n == "uname"));
    assert!(!names.iter().any(|n| n == "ls"));
}

#[test]
fn namespaces_flags_and_getters_work_when_spelled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
    let script = format!(
        r#"let l = ls([ls::long], "{d}");
        let f = l["a.txt"];
        let kind = IoErrorKind::NotFound;
        [f.name, f.metadata.size, kind, Signal::SIGTERM.to_string().len() > 0, cat("{d}/a.txt")]"#,
        d = dir.path().display()
    );
    let full = ok(&engine_for(None), &script);
    let pruned = ok(&engine_for(Some(&script)), &script);
    assert_eq!(pruned, full);
    assert!(full.contains("hello"), "{full}");
}

#[test]
fn an_unspelled_function_is_missing_as_on_any_engine_without_it() {
    let e = engine_for(Some("1 + 1"));
    let out = crate::common::run(&e, "hostname()");
    let msg = out.error.unwrap().to_string();
    assert!(msg.contains("Function not found: hostname"), "{msg}");
}

fn key(f: &FunctionInfo) -> String {
    format!("{}::{} {}", f.namespace, f.name, f.signature)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any subset of names gives exactly the global functions of those names plus the
    /// implicit ones (never one it did not name, never one short), and nothing that a full
    /// engine does not have.
    #[test]
    fn a_subset_of_names_gets_exactly_those_functions(
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)
    ) {
        let full = engine_for(None);
        let all = function_catalog(full.engine());
        let names: BTreeSet<&str> =
            picks.iter().map(|i| all[i.index(all.len())].name.as_str()).collect();
        let text = names.iter().copied().collect::<Vec<_>>().join("\n");
        let pruned = function_catalog(engine_for(Some(&text)).engine());
        let want: BTreeSet<String> = all
            .iter()
            .filter(|f| f.namespace.is_empty() && (implicit(f) || names.contains(f.name.as_str())))
            .map(key)
            .chain(engine_own())
            .collect();
        let got: BTreeSet<String> =
            pruned.iter().filter(|f| f.namespace.is_empty()).map(key).collect();
        prop_assert_eq!(got, want);
        let everything = catalog(&full);
        prop_assert!(pruned.iter().all(|f| everything.contains(&key(f))));
    }
}
