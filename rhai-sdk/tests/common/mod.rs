//! Shared test helpers: an engine with every rhai-sdk module and a given policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(dead_code)]

use std::sync::Arc;

use rex_auth::{Authorizer, Policies, Principal};
use rex_core::{ErrorKind, RexEngine, RunOutcome, ScriptArguments};
use rhai_sdk::RexModules;
use rust_sdk::SdkContext;

/// An SDK context for `User::"tester"` with the given Cedar policy text.
pub fn sdk(policy: &str) -> SdkContext {
    let policies = Policies::parse("test.cedar", policy).expect("policy parses");
    let auth = Authorizer::builder()
        .principal(Principal::user("tester").unwrap())
        .policies(policies)
        .build()
        .unwrap();
    SdkContext::new(Arc::new(auth))
}

/// An engine with all modules and the given policy.
pub fn engine(policy: &str) -> RexEngine {
    let sdk = sdk(policy);
    let modules = RexModules::all();
    RexEngine::builder()
        .register(|e| modules.register(e, &sdk))
        .build()
}

/// Runs a script without arguments.
pub fn run(engine: &RexEngine, script: &str) -> RunOutcome {
    engine.run(script, &ScriptArguments::new())
}

/// Runs a script that must succeed and returns its output.
pub fn ok(engine: &RexEngine, script: &str) -> String {
    let out = run(engine, script);
    assert!(out.is_success(), "script failed: {:?}\n{script}", out.error);
    out.output
}

/// Asserts the run failed with a Cedar denial (classified from the typed token).
pub fn assert_denied(out: &RunOutcome) {
    let err = out.error.as_ref().expect("the run failed");
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err:?}");
    assert!(!out.denials.is_empty());
}

/// Allows every file-system action below `dir` (and on `dir` itself).
pub fn allow_fs_under(dir: &str) -> String {
    format!(
        r#"permit(principal, action in file_system::Action::"SafeIO", resource in file_system::Dir::"{dir}");"#
    )
}

/// Allows only the given file-system actions below `dir`.
pub fn allow_actions_under(dir: &str, actions: &[&str]) -> String {
    actions
        .iter()
        .map(|a| {
            format!(r#"permit(principal, action == file_system::Action::"{a}", resource in file_system::Dir::"{dir}");"#)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
