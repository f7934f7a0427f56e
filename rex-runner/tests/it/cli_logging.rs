//! The runner's operational log end to end: the real binary with `--log-file` (JSON lines),
//! `LOG_LEVEL` and `SYSLOG_ENABLE`. Each test checks the log lines, the document and the host
//! effect, and that no file content or script output leaks into the log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use crate::common_cli;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common_cli::{Fixture, read_policy, run, sha256};
use serde_json::Value;

const FILE_CONTENT: &str = "TOP-SECRET-FILE-CONTENT";

impl Fixture {
    /// data.txt, a policy allowing to open the dir and open + read data.txt (and, with
    /// `forbid_delete`, an explicit forbid on deleting it), and the script.
    fn setup(&self, script: &str, forbid_delete: bool) -> (PathBuf, PathBuf) {
        self.write("data.txt", FILE_CONTENT);
        let mut policy = read_policy(self, "data.txt");
        if forbid_delete {
            let root = self.root();
            policy.push_str(&format!(
                r#"@id("no-delete")
forbid(principal, action == file_system::Action::"delete", resource == file_system::File::"{root}/data.txt");
"#
            ));
        }
        let script = self.write("s.rhai", script);
        let policy = self.write("p.cedar", &policy);
        (script, policy)
    }
}

/// `rex-runner` without inherited `LOG_LEVEL` and `SYSLOG_ENABLE`.
fn rex() -> Command {
    let mut c = common_cli::rex();
    c.env_remove("SYSLOG_ENABLE");
    c
}

/// `rex-runner -s script -p policy --log-file log`.
fn rex_logged(script: &Path, policy: &Path, log: &Path) -> Command {
    let mut c = rex();
    c.arg("-s")
        .arg(script)
        .arg("-p")
        .arg(policy)
        .arg("--log-file")
        .arg(log);
    c
}

/// The log file's raw text and its JSON lines.
fn read_log(path: &Path) -> (String, Vec<Value>) {
    let text = fs::read_to_string(path).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (text, lines)
}

/// The runner's events (target `rex_runner`) with this message.
fn events<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "rex_runner" && l["fields"]["message"] == message)
        .collect()
}

#[test]
fn log_file_has_run_started_finished_and_the_denial_the_script_caught() {
    let fx = Fixture::new();
    let root = fx.root();
    let script_text = format!(
        "let c = cat(\"{root}/data.txt\");\n\
         try {{ rm(\"{root}/data.txt\") }} catch {{ }}\n\
         \"SCRIPT-OUTPUT-MARKER \" + c"
    );
    let (script, policy) = fx.setup(&script_text, false);
    let log = fx.path("rex.jsonl");
    let r = run(rex_logged(&script, &policy, &log).args(["--principal", "agent-7"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.json()["output"],
        format!("SCRIPT-OUTPUT-MARKER {FILE_CONTENT}")
    );
    assert!(
        r.stderr.is_empty(),
        "nothing logged to stderr: {}",
        r.stderr
    );
    assert_eq!(
        fs::read_to_string(fx.path("data.txt")).unwrap(),
        FILE_CONTENT,
        "the denied rm did not happen"
    );

    let (text, lines) = read_log(&log);
    assert_eq!(
        fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let hash = sha256(script_text.as_bytes());

    let started = events(&lines, "run started");
    assert_eq!(started.len(), 1, "{text}");
    assert_eq!(started[0]["level"], "INFO");
    assert_eq!(started[0]["fields"]["script_sha256"], hash);
    assert_eq!(started[0]["fields"]["principal"], "User::\"agent-7\"");
    assert_eq!(
        started[0]["fields"]["policy_sha256"],
        sha256(fs::read(&policy).unwrap().as_slice())
    );

    let denied = events(&lines, "authorization denied");
    assert_eq!(denied.len(), 1, "{text}");
    let d = &denied[0];
    assert_eq!(d["level"], "WARN");
    assert_eq!(d["fields"]["principal"], "User::\"agent-7\"");
    assert_eq!(d["fields"]["action"], "file_system::Action::\"delete\"");
    assert_eq!(
        d["fields"]["resource"],
        format!("file_system::File::\"{root}/data.txt\"")
    );
    assert_eq!(d["fields"]["policies"], "", "a default deny has no policy");
    assert_eq!(d["fields"]["enforced"], true);
    assert_eq!(d["fields"]["script_sha256"], hash);

    let finished = events(&lines, "run finished");
    assert_eq!(finished.len(), 1, "{text}");
    let f = &finished[0]["fields"];
    assert_eq!(f["status"], "SUCCESS");
    assert_eq!(f["exit"], 0);
    assert_eq!(f["error_type"], "");
    assert_eq!(f["denials"], 1);
    assert_eq!(f["script_sha256"], hash);
    assert!(f["duration_ms"].is_u64());

    // INFO by default: allowed decisions are not logged.
    assert!(events(&lines, "authorization allowed").is_empty(), "{text}");
    // Never file contents or script output.
    assert!(!text.contains(FILE_CONTENT), "{text}");
    assert!(!text.contains("SCRIPT-OUTPUT-MARKER"), "{text}");
}

#[test]
fn debug_level_adds_allowed_decisions_and_names_the_forbid_policy() {
    let fx = Fixture::new();
    let root = fx.root();
    let script_text = format!("let c = cat(\"{root}/data.txt\"); rm(\"{root}/data.txt\"); c");
    let (script, policy) = fx.setup(&script_text, true);
    let log = fx.path("rex.jsonl");
    let r = run(rex_logged(&script, &policy, &log).env("LOG_LEVEL", "debug"));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["error"]["error_type"], "ACCESS_DENIED_EXCEPTION");
    assert_eq!(
        fs::read_to_string(fx.path("data.txt")).unwrap(),
        FILE_CONTENT
    );

    let (text, lines) = read_log(&log);
    let allowed = events(&lines, "authorization allowed");
    let read = allowed
        .iter()
        .find(|l| l["fields"]["action"] == "file_system::Action::\"read\"")
        .unwrap_or_else(|| panic!("no allowed read in {text}"));
    assert_eq!(read["level"], "DEBUG");
    assert_eq!(read["fields"]["policies"], "read-file");

    let denied = events(&lines, "authorization denied");
    assert_eq!(denied.len(), 1, "{text}");
    assert_eq!(denied[0]["fields"]["policies"], "no-delete");
    assert_eq!(
        denied[0]["fields"]["action"],
        "file_system::Action::\"delete\""
    );

    let finished = events(&lines, "run finished");
    assert_eq!(finished.len(), 1, "{text}");
    let f = &finished[0]["fields"];
    assert_eq!(f["status"], "ERROR");
    assert_eq!(f["exit"], 3);
    assert_eq!(f["error_type"], "ACCESS_DENIED_EXCEPTION");
    assert_eq!(f["denials"], 1);
    assert!(!text.contains(FILE_CONTENT), "{text}");
}

#[test]
fn warn_level_keeps_denials_and_drops_run_events() {
    let fx = Fixture::new();
    let root = fx.root();
    let script_text = format!("try {{ rm(\"{root}/data.txt\") }} catch {{ }} 1");
    let (script, policy) = fx.setup(&script_text, false);
    let log = fx.path("rex.jsonl");
    let r = run(rex_logged(&script, &policy, &log).env("LOG_LEVEL", "WARN"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (text, lines) = read_log(&log);
    assert_eq!(events(&lines, "authorization denied").len(), 1, "{text}");
    assert!(events(&lines, "run started").is_empty(), "{text}");
    assert!(events(&lines, "run finished").is_empty(), "{text}");
}

#[test]
fn script_error_messages_stay_out_of_the_log() {
    let fx = Fixture::new();
    let (script, policy) = fx.setup("throw \"THROWN-BY-THE-SCRIPT\"", false);
    let log = fx.path("rex.jsonl");
    let r = run(&mut rex_logged(&script, &policy, &log));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("THROWN-BY-THE-SCRIPT"));
    let (text, lines) = read_log(&log);
    let finished = events(&lines, "run finished");
    assert_eq!(finished.len(), 1, "{text}");
    assert_eq!(finished[0]["fields"]["error_type"], "SCRIPT_EXCEPTION");
    assert_eq!(finished[0]["fields"]["exit"], 1);
    assert_eq!(finished[0]["fields"]["denials"], 0);
    assert!(!text.contains("THROWN-BY-THE-SCRIPT"), "{text}");
}

#[test]
fn an_invalid_policy_logs_run_not_started_without_quoting_the_policy() {
    let fx = Fixture::new();
    let policy = fx.write(
        "p.cedar",
        "permit(principal, action, resource) when { QUOTED_POLICY_TEXT ",
    );
    let script = fx.write("s.rhai", "1");
    let log = fx.path("rex.jsonl");
    let r = run(&mut rex_logged(&script, &policy, &log));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let (text, lines) = read_log(&log);
    let refused = events(&lines, "run not started");
    assert_eq!(refused.len(), 1, "{text}");
    assert_eq!(refused[0]["level"], "WARN");
    assert_eq!(refused[0]["fields"]["error_type"], "VALIDATION_EXCEPTION");
    assert_eq!(refused[0]["fields"]["exit"], 5);
    assert!(events(&lines, "run started").is_empty(), "{text}");
    assert!(!text.contains("QUOTED_POLICY_TEXT"), "{text}");
}

#[test]
fn an_unusable_log_file_is_invalid_input_and_the_script_does_not_run() {
    let fx = Fixture::new();
    let root = fx.root();
    let script_text = format!("rm(\"{root}/data.txt\")");
    let (script, _) = fx.setup(&script_text, false);
    let allow_delete = fx.write(
        "allow.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{root}\");\n\
             permit(principal, action, resource == file_system::Dir::\"{root}\");"
        ),
    );
    // The logs are out of the policy's reach (a log file it reaches is refused before
    // anything else: tests/it/cli/own_files.rs). A directory is not a log file.
    let logs = tempfile::tempdir().unwrap();
    let r = run(&mut rex_logged(&script, &allow_delete, logs.path()));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["error"]["error_type"], "COMMUNICATION_EXCEPTION");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{doc}"
    );
    assert!(fx.path("data.txt").exists(), "the script did not run");

    // Same policy and script with a usable log: the delete happens (the policy allows it).
    let r = run(&mut rex_logged(
        &script,
        &allow_delete,
        &logs.path().join("ok.jsonl"),
    ));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!fx.path("data.txt").exists());
}

#[test]
fn syslog_disabled_or_unavailable_changes_nothing_else() {
    for syslog_enable in [Some("0"), Some("false"), Some("1"), None] {
        let fx = Fixture::new();
        let root = fx.root();
        let script_text =
            format!("try {{ rm(\"{root}/data.txt\") }} catch {{ }} cat(\"{root}/data.txt\").len()");
        let (script, policy) = fx.setup(&script_text, false);
        let log = fx.path("rex.jsonl");
        let mut cmd = rex_logged(&script, &policy, &log);
        if let Some(v) = syslog_enable {
            cmd.env("SYSLOG_ENABLE", v);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{syslog_enable:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.is_empty(), "{syslog_enable:?}: {}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["status"], "SUCCESS");
        assert_eq!(doc["output"], FILE_CONTENT.len().to_string());
        assert!(fx.path("data.txt").exists());
        let (text, lines) = read_log(&log);
        assert_eq!(events(&lines, "authorization denied").len(), 1, "{text}");
        assert_eq!(events(&lines, "run finished").len(), 1, "{text}");
    }
}

/// Issue 19, item 12: every denial, even a caught one, went to the operational log (and
/// syslog) at WARN with no limit. Repeats and bursts are now held back and counted in one
/// `authorization records suppressed` summary; the audit log keeps one compact record per
/// decision.
#[test]
fn a_denial_flood_is_rate_limited_in_the_log_and_complete_in_the_audit_log() {
    let fx = Fixture::new();
    let root = fx.root();
    let script_text = format!(
        "for i in 0..2000 {{ try {{ rm(\"{root}/data.txt\") }} catch {{ }} }}\n\
         for i in 0..300 {{ try {{ ls(`/rex-flood-${{i}}`) }} catch {{ }} }}\n\
         1"
    );
    let (script, policy) = fx.setup(&script_text, false);
    let log = fx.path("rex.jsonl");
    let audit = fx.path("audit.jsonl");
    let r = run(rex_logged(&script, &policy, &log)
        .arg("--audit-log")
        .arg(&audit));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["output"], "1");
    assert_eq!(
        fs::read_to_string(fx.path("data.txt")).unwrap(),
        FILE_CONTENT
    );

    let (text, lines) = read_log(&log);
    let denied = events(&lines, "authorization denied");
    assert!(
        !denied.is_empty() && denied.len() <= rex_logging::DEFAULT_LOG_BURST,
        "{} denial records in the log",
        denied.len()
    );
    let suppressed: u64 = events(&lines, "authorization records suppressed")
        .iter()
        .map(|l| l["fields"]["suppressed"].as_u64().unwrap())
        .sum();
    assert!(suppressed > 0, "{text}");
    assert!(
        text.len() < 200 * 1024,
        "the operational log is {} bytes",
        text.len()
    );

    // The audit log: every decision, one line each, without empty fields.
    let audit_text = fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = audit_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let audit_denials = records.iter().filter(|r| r["decision"] == "deny").count();
    assert!(
        audit_denials >= 2200,
        "{audit_denials} denials in the audit log"
    );
    assert_eq!(
        u64::try_from(audit_denials).unwrap(),
        u64::try_from(denied.len()).unwrap() + suppressed,
        "the log's records plus its suppressed count are every denial"
    );
    assert!(!audit_text.contains("\"line\":null"));
    assert!(!audit_text.contains("\"cached\":false"));
    assert!(!audit_text.contains("\"context\":{}"));
    assert!(
        audit_text.len() / records.len() < 400,
        "audit records average {} bytes",
        audit_text.len() / records.len()
    );
}
