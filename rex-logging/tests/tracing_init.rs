#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! One test only: the global subscriber can be installed once per process.

use std::os::unix::fs::PermissionsExt;

use rex_logging::{InitStatus, LogLevel, TracingConfig, init_tracing};

#[test]
fn init_writes_json_lines_filters_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    let config = TracingConfig {
        level: LogLevel::Info,
        json_file: Some(path.clone()),
        stderr: true,
        syslog: true,
    };
    let status = init_tracing(&config).unwrap();
    assert_eq!(
        status,
        InitStatus::Installed {
            syslog_ignored: true
        }
    );
    tracing::info!(answer = 42, "hello from the test");
    tracing::debug!("filtered out at INFO");
    tracing::error!("an error");

    // Second call: Ok, nothing changed.
    let again = init_tracing(&TracingConfig::default()).unwrap();
    assert_eq!(again, InitStatus::AlreadyInstalled);
    tracing::warn!("after second init");

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("SYSLOG_ENABLE")));
    assert!(messages.contains(&"hello from the test"));
    assert!(messages.contains(&"an error"));
    assert!(messages.contains(&"after second init"));
    assert!(!messages.contains(&"filtered out at INFO"));
    let hello = lines
        .iter()
        .find(|l| l["fields"]["message"] == "hello from the test")
        .unwrap();
    assert_eq!(hello["fields"]["answer"], 42);
    assert_eq!(hello["level"], "INFO");
}
