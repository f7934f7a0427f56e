//! Shared test helpers: an engine with every rhai-sdk module and a given policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(dead_code)]
// Helpers start child processes and serve sockets to observe effects on the host.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
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

/// A script that evaluates `call` and gives `"<source>/<kind>"` of the error it raises, or
/// "no error".
pub fn caught(call: &str) -> String {
    format!(
        r#"let r = "no error"; try {{ {call}; }} catch (e) {{ r = e.source + "/" + e.kind; }} r"#
    )
}

/// Error texts Rhai produces when a name or property does not exist.
pub const MISSING: &[&str] = &[
    "Function not found",
    "Variable not found",
    "Module not found",
    "Undefined module",
    "Unknown property",
    "Property not found",
    "get$",
];

/// The entry of [`MISSING`] that `message` contains, if any.
pub fn missing_api(message: &str) -> Option<&'static str> {
    MISSING.iter().copied().find(|m| message.contains(m))
}

/// A child process of the test, killed and reaped on drop.
pub struct Kid(pub Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Kid {
    /// `sleep <arg>`.
    pub fn sleep(arg: &str) -> Kid {
        Kid(Command::new("sleep")
            .arg(arg)
            .stdout(Stdio::null())
            .spawn()
            .unwrap())
    }
    /// Whether the child has not exited yet.
    pub fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
    /// Waits (bounded by attempts, not time) for the child to be reaped.
    pub fn exited(&mut self) -> bool {
        for _ in 0..500 {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }
}

/// Answers one HTTP request on `listener` with `200 hello`.
pub fn serve_once(listener: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    })
}
