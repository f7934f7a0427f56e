//! The part of a Rex process's start-up that Cedar alone sets, as a program of its own:
//! parse Rex's schema (the JSON form the runtime embeds), parse the policy files given as
//! arguments, and validate them strictly, the one-time work a run must finish before its
//! script may start. No Rex code runs; the `process` bench spawns it beside `/bin/true` and
//! the `rex-runner` binary, so that the start-up that is Rex's own is the difference.
//!
//! `cedar-floor POLICY_FILE...`: exit 0 when the policies are valid, 5 when a file cannot be
//! read or a policy is invalid (as `rex-runner` would). With `REX_FLOOR_TIMINGS` set, the
//! time of each phase is printed to standard error.

use std::process::ExitCode;
use std::time::Instant;

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};
use rex_auth::SCHEMA_JSON;

fn main() -> ExitCode {
    let start = Instant::now();
    let schema = match Schema::from_json_str(SCHEMA_JSON) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cedar-floor: the embedded schema is invalid: {e}");
            return ExitCode::from(6);
        }
    };
    let schema_done = Instant::now();
    let mut text = String::new();
    for path in std::env::args_os().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                text.push_str(&t);
                text.push('\n');
            }
            Err(e) => {
                eprintln!("cedar-floor: {}: {e}", path.to_string_lossy());
                return ExitCode::from(5);
            }
        }
    }
    let policies: PolicySet = match text.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cedar-floor: {e}");
            return ExitCode::from(5);
        }
    };
    let parsed = Instant::now();
    let validation = Validator::new(schema).validate(&policies, ValidationMode::Strict);
    let validated = Instant::now();
    if std::env::var_os("REX_FLOOR_TIMINGS").is_some() {
        eprintln!(
            "schema {:?}, policy parse {:?}, validation {:?}, total {:?}",
            schema_done - start,
            parsed - schema_done,
            validated - parsed,
            validated - start
        );
    }
    if validation.validation_passed() {
        ExitCode::SUCCESS
    } else {
        for e in validation.validation_errors() {
            eprintln!("cedar-floor: {e}");
        }
        ExitCode::from(5)
    }
}
