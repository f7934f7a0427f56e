#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::os::unix::fs::PermissionsExt;

use rex_logging::{AuditDecision, AuditEvent, AuditLog, LogError};

fn event(i: u32, decision: AuditDecision) -> AuditEvent {
    let mut e = AuditEvent::new(
        "User::\"root\"",
        "file_system::Action::\"read\"",
        format!("file_system::File::\"/tmp/f{i}\nwith newline\""),
        decision,
    );
    e.context = serde_json::json!({"write": false, "n": i});
    e.policies = vec!["policy0".into()];
    e.script_sha256 = Some("ab".repeat(32));
    e.line = Some(i);
    e.cached = i.is_multiple_of(2);
    e
}

fn read_lines(path: &std::path::Path) -> Vec<AuditEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn writes_json_lines_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert!(log.write(&event(1, AuditDecision::Allow)));
    assert!(log.write(&event(2, AuditDecision::Deny)));
    assert!(log.write(&event(3, AuditDecision::Error)));
    assert_eq!(log.written_count(), 3);
    assert_eq!(log.error_count(), 0);
    assert_eq!(log.path(), path);

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    let raw: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(raw["decision"], "allow");
    assert_eq!(raw["principal"], "User::\"root\"");
    assert_eq!(raw["context"]["n"], 1);
    assert_eq!(raw["enforced"], true);
    assert!(raw["time"].as_str().unwrap().ends_with('Z'));
    let back = read_lines(&path);
    assert_eq!(
        back[0],
        event(1, AuditDecision::Allow).clone_with_time(&back[0].time)
    );
    assert_eq!(back[1].decision, AuditDecision::Deny);
    assert_eq!(back[2].decision, AuditDecision::Error);
    assert!(back[1].resource.contains('\n'));

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

trait CloneWithTime {
    fn clone_with_time(&self, t: &str) -> AuditEvent;
}
impl CloneWithTime for AuditEvent {
    fn clone_with_time(&self, t: &str) -> AuditEvent {
        let mut e = self.clone();
        e.time = t.to_owned();
        e
    }
}

#[test]
fn appends_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    AuditLog::open(&path)
        .unwrap()
        .write(&event(1, AuditDecision::Allow));
    AuditLog::open(&path)
        .unwrap()
        .write(&event(2, AuditDecision::Deny));
    let back = read_lines(&path);
    assert_eq!(back.len(), 2);
    assert_eq!(back[1].line, Some(2));
}

#[test]
fn concurrent_writers_do_not_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    log.write(&event(t * 1000 + i, AuditDecision::Allow));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.written_count(), 400);
    assert_eq!(read_lines(&path).len(), 400);
}

#[test]
fn write_errors_are_counted_not_raised() {
    // /dev/full accepts the open and fails every write with ENOSPC, even for root.
    let log = AuditLog::open("/dev/full").unwrap();
    assert!(!log.write(&event(1, AuditDecision::Deny)));
    assert!(!log.write(&event(2, AuditDecision::Deny)));
    assert_eq!(log.error_count(), 2);
    assert_eq!(log.written_count(), 0);
    assert!(log.last_error().unwrap().contains("/dev/full"));
}

#[test]
fn refuses_symlink_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real");
    std::fs::write(&target, "keep\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(
        AuditLog::open(&link),
        Err(LogError::NotRegularFile { .. })
    ));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(matches!(
        AuditLog::open(dir.path()),
        Err(LogError::NotRegularFile { .. })
    ));
}

#[test]
fn open_error_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/audit.jsonl");
    assert!(matches!(
        AuditLog::open(&missing),
        Err(LogError::Open { .. })
    ));
    assert!(!missing.exists());
}
