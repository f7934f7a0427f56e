#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Denials are classified from the typed `DenialToken`, never from message text. The test
//! native function asks a real Cedar authorizer before writing a real file.

// The test plays the embedder: its native function and fixtures use the real file system.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::Arc;

use rex_auth::{Action, AuthError, Authorizer, Policies, Principal, RequestContext, Resource};
use rex_core::rhai::{EvalAltResult, NativeCallContext};
use rex_core::{ErrorKind, RexEngine, RunError, ScriptArguments, error_map, script_error};

fn authorizer(dir: &std::path::Path) -> Arc<Authorizer> {
    let policy = format!(
        r#"permit(principal, action == file_system::Action::"write", resource in file_system::Dir::"{}/allowed");"#,
        dir.display()
    );
    Arc::new(
        Authorizer::builder()
            .principal(Principal::user("alice").unwrap())
            .policies(Policies::parse("test.cedar", &policy).unwrap())
            .build()
            .unwrap(),
    )
}

/// `write_file(path, text)`: authorize, then write. Denials raise an error map with a token.
fn engine_with_writer(auth: Arc<Authorizer>) -> RexEngine {
    engine_with_writer_and_limits(auth, rex_core::Limits::default())
}

fn engine_with_writer_and_limits(auth: Arc<Authorizer>, limits: rex_core::Limits) -> RexEngine {
    RexEngine::builder()
        .limits(limits)
        .register(move |e| {
            e.register_fn(
                "write_file",
                move |ctx: NativeCallContext,
                      path: &str,
                      text: &str|
                      -> Result<(), Box<EvalAltResult>> {
                    let pos = ctx.call_position();
                    let resource = Resource::file(path).map_err(|err| {
                        script_error(
                            error_map("InvalidPath", &err.to_string(), "IoErrorKind", None),
                            pos,
                        )
                    })?;
                    match auth.authorize(Action::FsWrite, &resource, &RequestContext::None) {
                        Ok(()) => std::fs::write(path, text).map_err(|err| {
                            script_error(
                                error_map("IoError", &err.to_string(), "IoErrorKind", None),
                                pos,
                            )
                        }),
                        Err(AuthError::Denied(denied)) => Err(script_error(
                            error_map(
                                "PermissionDenied",
                                &denied.to_string(),
                                "IoErrorKind",
                                Some(*denied),
                            ),
                            pos,
                        )),
                        Err(other) => Err(script_error(
                            error_map(
                                "AuthorizationError",
                                &other.to_string(),
                                "IoErrorKind",
                                None,
                            ),
                            pos,
                        )),
                    }
                },
            );
        })
        .build()
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, RexEngine) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("allowed")).unwrap();
    std::fs::create_dir(root.join("secret")).unwrap();
    let engine = engine_with_writer(authorizer(&root));
    (
        dir,
        root.join("allowed/out.txt"),
        root.join("secret/out.txt"),
        engine,
    )
}

#[test]
fn allowed_write_happens() {
    let (_dir, allowed, _secret, engine) = setup();
    let script = format!("write_file({:?}, \"hi\"); 1", allowed.to_str().unwrap());
    let out = engine.run(&script, &ScriptArguments::new());
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(std::fs::read_to_string(&allowed).unwrap(), "hi");
    assert!(out.denials.is_empty());
}

#[test]
fn denied_write_is_access_denied_and_touches_nothing() {
    let (_dir, _allowed, secret, engine) = setup();
    let script = format!("\n\nwrite_file({:?}, \"hi\");", secret.to_str().unwrap());
    let out = engine.run(&script, &ScriptArguments::new());
    let err = out.error.clone().unwrap();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    let denied = err.denied().unwrap();
    assert_eq!(denied.action, Action::FsWrite);
    assert!(denied.resource.contains("secret/out.txt"));
    assert_eq!(err.position().unwrap().line, 3);
    assert_eq!(out.denials.len(), 1);
    assert!(!secret.exists(), "a denied write must not create the file");
}

#[test]
fn denial_inside_script_function_is_still_access_denied() {
    let (_dir, _allowed, secret, engine) = setup();
    let script = format!(
        "fn inner(p) {{ write_file(p, \"x\") }}\nfn outer(p) {{ inner(p) }}\nouter({:?})",
        secret.to_str().unwrap()
    );
    let out = engine.run(&script, &ScriptArguments::new());
    assert_eq!(out.error.unwrap().kind(), ErrorKind::AccessDenied);
    assert!(!secret.exists());
}

#[test]
fn caught_denial_is_recorded_but_run_succeeds() {
    let (_dir, _allowed, secret, engine) = setup();
    let script = format!(
        "let r = 0; try {{ write_file({:?}, \"x\"); }} catch (e) {{ r = e.kind; }} r",
        secret.to_str().unwrap()
    );
    let out = engine.run(&script, &ScriptArguments::new());
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output, "PermissionDenied");
    assert_eq!(out.denials.len(), 1);
    assert!(!secret.exists());
}

#[test]
fn rethrown_denial_keeps_its_token() {
    let (_dir, _allowed, secret, engine) = setup();
    let script = format!(
        "try {{ write_file({:?}, \"x\") }} catch (e) {{ throw e }}",
        secret.to_str().unwrap()
    );
    let out = engine.run(&script, &ScriptArguments::new());
    assert_eq!(out.error.unwrap().kind(), ErrorKind::AccessDenied);
}

#[test]
fn forged_permission_denied_map_is_not_access_denied() {
    let engine = RexEngine::builder().build();
    let script = r#"throw #{kind: "PermissionDenied", message: "Permission denied: totally real", source: "IoErrorKind", denial: "token"}"#;
    let out = engine.run(script, &ScriptArguments::new());
    match out.error {
        Some(RunError::Runtime {
            message,
            error_kind,
            error_source,
            ..
        }) => {
            assert_eq!(error_kind.as_deref(), Some("PermissionDenied"));
            assert_eq!(error_source.as_deref(), Some("IoErrorKind"));
            assert!(message.starts_with("IoErrorKind: PermissionDenied: "));
        }
        other => panic!("expected Runtime, got {other:?}"),
    }
    assert!(out.denials.is_empty());
    let out = engine.run(r#"throw "permission denied""#, &ScriptArguments::new());
    assert_eq!(out.error.unwrap().kind(), ErrorKind::Runtime);
}

#[test]
fn plain_script_error_is_runtime_with_position() {
    let engine = RexEngine::builder().build();
    let out = engine.run("let x = 1;\nx.no_such_method()", &ScriptArguments::new());
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Runtime);
    assert_eq!(err.position().unwrap().line, 2);
    let text = err.to_string();
    assert_eq!(text.matches("line 2").count(), 1, "{text}");
}

#[test]
fn non_denial_map_error_is_runtime() {
    let (_dir, _allowed, _secret, engine) = setup();
    let out = engine.run(
        r#"write_file("relative/path", "x")"#,
        &ScriptArguments::new(),
    );
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Runtime, "{err}");
}

/// Issue 19, item 11: caught denials no longer accumulate without bound. The first
/// `max_denials` are kept, the rest are counted, and nothing was written.
#[test]
fn caught_denials_are_capped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("secret")).unwrap();
    let limits = rex_core::Limits {
        max_denials: 5,
        ..rex_core::Limits::default()
    };
    let engine = engine_with_writer_and_limits(authorizer(&root), limits);
    let secret = root.join("secret/out.txt");
    let script = format!(
        "let n = 0; for i in 0..200 {{ try {{ write_file({:?}, \"x\"); }} catch {{ n += 1; }} }} n",
        secret.to_str().unwrap()
    );
    let out = engine.run(&script, &ScriptArguments::new());
    assert!(out.is_success(), "{:?}", out.error);
    assert_eq!(out.output, "200");
    assert_eq!(out.denials.len(), 5);
    assert_eq!(out.dropped_denials, 195);
    assert!(!secret.exists());
    // Long resources count toward the byte cap (max_log_bytes) as well.
    let limits = rex_core::Limits {
        max_log_bytes: 10_000,
        ..rex_core::Limits::default()
    };
    let engine = engine_with_writer_and_limits(authorizer(&root), limits);
    let long = root.join(format!("secret/{}", "d".repeat(200)));
    let script = format!(
        "for i in 0..100 {{ try {{ write_file({:?}, \"x\"); }} catch {{}} }}",
        long.to_str().unwrap()
    );
    let out = engine.run(&script, &ScriptArguments::new());
    assert!(out.is_success(), "{:?}", out.error);
    assert!(out.denials.len() < 100, "{}", out.denials.len());
    assert_eq!(out.denials.len() + out.dropped_denials, 100);
}
