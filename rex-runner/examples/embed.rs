//! Embedding Rex: a runner with a policy, limits, an audit sink and a vendor's own gated
//! module, running one allowed and one denied script.
//!
//! `cargo run -p rex-runner --example embed`
//!
//! The vendor module `conf` exposes `conf::get(path, key)`, which reads a `KEY=VALUE` file
//! through rust-sdk (so Cedar decides, and the script never sees the SDK context).
// The example itself plays the host owner and creates its fixture files directly.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use rex_auth::{Action, MemoryAuditSink, Principal};
use rex_core::{Limits, ScriptArguments};
use rex_runner::{Input, OutputFormat, Runner, render};
use rhai_sdk::VendorModule;
use rust_sdk::SdkContext;
use rust_sdk::fs::{FsError, commands};

/// The vendor's operation: look `key` up in the `KEY=VALUE` file at `path`. The read is a
/// gated rust-sdk call, so it is authorized (`open` + `read`) before any system call.
fn conf_get(sdk: &SdkContext, path: String, key: String) -> Result<String, FsError> {
    let text = commands::cat(sdk, &path, false)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = std::fs::canonicalize(dir.path())?;
    let root = root.to_string_lossy();
    std::fs::write(dir.path().join("app.conf"), "port = 8080\nmode = fast\n")?;
    std::fs::write(dir.path().join("secret.conf"), "token = hunter2\n")?;

    let policy = format!(
        r#"@id("conf-dir")
permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{root}");
@id("app-conf")
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource == file_system::File::"{root}/app.conf");"#
    );
    let audit = MemoryAuditSink::new();
    let runner = Runner::builder()
        .principal(Principal::user("deploy-agent")?)
        .policy(Input::from_text("embed.cedar", &policy))
        .limits(Limits {
            max_operations: 100_000,
            ..Limits::default()
        })
        .audit_sink(Arc::new(audit.clone()))
        .modules(Arc::new(|engine, sdk| {
            VendorModule::new("conf", sdk)
                .func(
                    "get",
                    ["path", "key"],
                    &[Action::FsOpen, Action::FsRead],
                    "The value of `key` in the KEY=VALUE file at `path`.",
                    conf_get,
                )
                .register_static(engine);
        }))
        .build()?;

    let args = ScriptArguments::from_json_str(
        &format!(r#"{{"dir": {{"stringValue": "{root}"}}}}"#),
        runner.engine().limits(),
    )?;
    for script in [
        r#"`port=${conf::get(dir + "/app.conf", "port")}`"#,
        r#"conf::get(dir + "/secret.conf", "token")"#,
    ] {
        let report = runner.run(&Input::from_text("embed.rhai", script), &args);
        let shown = render(&report.document, OutputFormat::Human, false);
        println!("$ {script}");
        print!("{}{}", shown.stdout, shown.stderr);
        println!("exit status: {:?}\n", report.exit);
    }
    println!("audit trail:");
    for r in audit.records() {
        println!(
            "  {} {} {} -> {:?}",
            r.principal, r.action, r.resource, r.outcome
        );
    }
    Ok(())
}
