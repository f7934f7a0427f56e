#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! One test only: the global subscriber can be installed once per process.

use std::os::unix::fs::PermissionsExt;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use rex_logging::{InitStatus, LogLevel, TracingConfig, init_tracing, installed_syslog};

#[test]
fn init_writes_json_lines_and_syslog_filters_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    let socket = dir.path().join("log");
    let daemon = UnixDatagram::bind(&socket).unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let config = TracingConfig {
        level: LogLevel::Info,
        json_file: Some(path.clone()),
        defer_json_file: false,
        stderr: true,
        syslog: true,
        syslog_socket: Some(socket),
    };
    let status = init_tracing(&config).unwrap();
    assert_eq!(status, InitStatus::Installed { syslog: true });
    tracing::info!(answer = 42, "hello from the test");
    tracing::debug!("filtered out at INFO");
    tracing::error!("an error");
    tracing::info!(target: "rex_script", "a script log: never sent to syslog");

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

    // The same events reached the syslog socket: INFO and above, no script log, with the
    // datagram received after the second init too (the first layer stays installed).
    let layer = installed_syslog().unwrap();
    let mut buf = [0u8; 8192];
    let mut datagrams = Vec::new();
    for _ in 0..3 {
        let n = daemon.recv(&mut buf).unwrap();
        datagrams.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    let pid = std::process::id();
    assert!(datagrams[0].starts_with("<30>"), "{datagrams:?}"); // daemon.info
    assert!(
        datagrams[0].ends_with(&format!(
            " rex_runner[{pid}]: hello from the test answer=42"
        )),
        "{datagrams:?}"
    );
    assert!(datagrams[1].starts_with("<27>")); // daemon.err
    assert!(datagrams[1].ends_with(": an error"));
    assert!(datagrams[2].starts_with("<28>")); // daemon.warning
    assert!(datagrams[2].ends_with(": after second init"));
    daemon.set_nonblocking(true).unwrap();
    assert!(daemon.recv(&mut buf).is_err(), "nothing else was sent");
    assert_eq!(layer.sent_count(), 3);
    assert_eq!(layer.dropped_count(), 0);
}
