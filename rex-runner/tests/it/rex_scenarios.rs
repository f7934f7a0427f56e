//! REX-style operator scenarios, end to end through the `rex-runner` binary.
//!
//! Each scenario is what an operator or an agent would hand to REX: a script, a policy written
//! the way REX policies are written (namespaces, the `SafeIO`-style action groups,
//! `resource in Dir`, `context` conditions, `principal == User::"<effective user>"`) and a
//! REX arguments file. The checks pin the output document where REX's contract fixes it
//! (docs: the compat notes §3.4–§3.6): field names, `status` and `error.error_type` spellings,
//! `output` as Rhai's rendering of the final value, the runner's metric names, units and
//! dimensions, the alarm names, the `logs` shape — and Rex's documented exit codes. Every
//! gated scenario also checks the host: what was allowed happened, what was denied did not.
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
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common_cli::{Fixture, Run, rex, run};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The effective user's name: REX's principal is `User::"<euid name>"`.
fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One `rex-runner -s script [-p policy] [-a args] extra...` run, with the process monitor
/// off (REX's `REX_RUNNER_DISABLE_MONITORING`) so the metric list is exact.
fn rex_run(
    fx: &Fixture,
    script: &str,
    policy: Option<&str>,
    args: Option<&str>,
    extra: &[&str],
) -> Run {
    let mut cmd = rex();
    cmd.env("REX_RUNNER_DISABLE_MONITORING", "true")
        .arg("-s")
        .arg(fx.write("script.rhai", script));
    if let Some(p) = policy {
        cmd.arg("-p").arg(fx.write("policy.cedar", p));
    }
    if let Some(a) = args {
        cmd.arg("-a").arg(fx.write("args.json", a));
    }
    cmd.args(extra);
    run(&mut cmd)
}

/// REX's document fields, plus Rex's three documented additions.
const DOCUMENT_FIELDS: &[&str] = &[
    "output",
    "status",
    "error",
    "alarms",
    "metrics",
    "logs",
    "denial",
    "limit",
    "script_sha256",
    "policy_sha256",
    "sandbox",
];

const METRIC_UNITS: &[&str] = &["UNDEFINED", "COUNT", "TIME", "MEGABYTES", "PERCENT"];

/// Checks the document's shape against REX's `RunnerExecutionOutput` (§3.4).
fn check_shape(doc: &Value) {
    let obj = doc
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {doc}"));
    for k in obj.keys() {
        assert!(DOCUMENT_FIELDS.contains(&k.as_str()), "unknown field {k}");
    }
    assert!(doc["output"].is_string(), "{doc}");
    match doc["status"].as_str() {
        Some("SUCCESS") => assert!(doc.get("error").is_none(), "{doc}"),
        Some("ERROR") => {
            let e = doc["error"].as_object().unwrap();
            assert_eq!(e.len(), 2, "{doc}");
            assert!(e["message"].is_string());
            assert!(
                [
                    "VALIDATION_EXCEPTION",
                    "ACCESS_DENIED_EXCEPTION",
                    "INTERNAL_EXCEPTION",
                    "SCRIPT_EXCEPTION",
                    "COMMUNICATION_EXCEPTION"
                ]
                .contains(&e["error_type"].as_str().unwrap()),
                "{doc}"
            );
            assert!(e["message"].as_str().unwrap().chars().count() <= 1024);
            assert_eq!(doc["output"], "", "no output on error");
        }
        other => panic!("status {other:?}"),
    }
    for a in doc["alarms"].as_array().unwrap() {
        let a = a.as_object().unwrap();
        assert!(a["alarm_type"].is_string());
        for k in a.keys() {
            assert!(["alarm_type", "alarm_details"].contains(&k.as_str()), "{k}");
        }
    }
    for m in doc["metrics"].as_array().unwrap() {
        let m = m.as_object().unwrap();
        let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "metric_dimension",
                "metric_name",
                "metric_timestamp",
                "metric_unit",
                "metric_value"
            ]
        );
        assert!(m["metric_value"].is_f64(), "{m:?}");
        assert!(METRIC_UNITS.contains(&m["metric_unit"].as_str().unwrap()));
        assert!(
            m["metric_dimension"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string)
        );
        let ts = m["metric_timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "RFC 3339 UTC: {ts}");
    }
    for l in doc["logs"].as_array().unwrap() {
        let l = l.as_object().unwrap();
        assert_eq!(l.len(), 1, "{l:?}");
        let attrs = l["attributes"].as_object().unwrap();
        for k in attrs.keys() {
            assert!(
                [
                    "timestamp",
                    "level",
                    "message",
                    "line_number",
                    "rhai_api_name"
                ]
                .contains(&k.as_str()),
                "{k}"
            );
        }
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&attrs["level"].as_str().unwrap())
        );
    }
}

/// `(name, unit, MetricInfo)` of every metric, in document order.
fn metrics(doc: &Value) -> Vec<(String, String, String)> {
    doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["metric_name"].as_str().unwrap().to_string(),
                m["metric_unit"].as_str().unwrap().to_string(),
                m["metric_dimension"]["MetricInfo"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn alarm_types(doc: &Value) -> Vec<String> {
    doc["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alarm_type"].as_str().unwrap().to_string())
        .collect()
}

/// REX's run metrics for a finished run: the two durations (TIME, ns) and one count.
fn run_metrics(count: &str, info: &str) -> Vec<(String, String, String)> {
    vec![
        (
            "RexRunnerScriptExecutionTime".into(),
            "TIME".into(),
            "Duration".into(),
        ),
        (
            "RexRunnerTotalExecutionTime".into(),
            "TIME".into(),
            "Duration".into(),
        ),
        (count.into(), "COUNT".into(), info.into()),
    ]
}

/// A successful run: exit 0, `SUCCESS`, no alarms, REX's success metrics. Returns the document.
fn success(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    check_shape(&doc);
    assert_eq!(doc["status"], "SUCCESS", "{doc}");
    assert!(doc.get("denial").is_none());
    assert_eq!(alarm_types(&doc), Vec::<String>::new());
    assert_eq!(
        metrics(&doc),
        run_metrics("RexRunnerScriptExecutionSuccessCount", "SuccessCount")
    );
    let count = doc["metrics"][2]["metric_value"].as_f64().unwrap();
    assert!((count - 1.0).abs() < f64::EPSILON);
    doc
}

/// A run that Cedar stopped: exit 3, `ACCESS_DENIED_EXCEPTION` with REX's message prefix,
/// the `RexRunnerPrivilegeEscalation` alarm and count. Returns the document.
fn denied(r: &Run, action: &str, resource: &str) -> Value {
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    check_shape(&doc);
    assert_eq!(doc["status"], "ERROR");
    assert_eq!(
        doc["error"]["error_type"], "ACCESS_DENIED_EXCEPTION",
        "{doc}"
    );
    let expected = format!(
        "Permission denied: User::\"{}\" unauthorized to perform {action} for {resource}",
        me()
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&expected), "{message}\n!= {expected}");
    assert_eq!(alarm_types(&doc), ["RexRunnerPrivilegeEscalation"]);
    assert_eq!(doc["alarms"][0]["alarm_details"], doc["error"]["message"]);
    assert_eq!(
        metrics(&doc),
        run_metrics("RexRunnerPrivilegeEscalationCount", "FailureCount")
    );
    assert_eq!(doc["denial"]["action"], action);
    assert_eq!(doc["denial"]["resource"], resource);
    doc
}

/// A script failure that is not a denial: exit 1, `SCRIPT_EXCEPTION`, REX's failure alarm.
fn script_error(r: &Run) -> Value {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    check_shape(&doc);
    assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION", "{doc}");
    assert_eq!(alarm_types(&doc), ["RexRunnerScriptExecutionFailure"]);
    assert_eq!(
        metrics(&doc),
        run_metrics("RexRunnerScriptExecutionFailureCount", "FailureCount")
    );
    assert!(doc.get("denial").is_none());
    doc
}

/// An input the runner refused before running anything: exit 5 and the given error type.
fn invalid_input(r: &Run, error_type: &str) -> Value {
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    check_shape(&doc);
    assert_eq!(doc["status"], "ERROR");
    assert_eq!(doc["error"]["error_type"], error_type, "{doc}");
    doc
}

/// A REX arguments file with string values.
fn string_args(pairs: &[(&str, &str)]) -> String {
    let members: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {{\"stringValue\": {}}}",
                Value::String((*k).into()),
                Value::String((*v).into())
            )
        })
        .collect();
    format!("{{{}}}", members.join(", "))
}

/// A `sleep` child with a recognizable command line, killed when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn start(secs: &str) -> Self {
        let child = Command::new("sleep").arg(secs).spawn().unwrap();
        // Let it exec, so /proc shows `sleep` rather than the test binary's name.
        for _ in 0..100 {
            let comm = fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Sleeper(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Files: logs, listings, symlinks, configuration
// ---------------------------------------------------------------------------------------------

const APP_LOG: &str = "2026-05-01 INFO  service started\n\
2026-05-01 ERROR disk /dev/sda1 full\n\
2026-05-01 INFO  retrying\n\
2026-05-01 ERROR upstream timeout\n\
2026-05-01 WARN  slow request\n\
2026-05-01 INFO  recovered\n";

fn log_fixture() -> (Fixture, String) {
    let fx = Fixture::new();
    fs::create_dir_all(fx.path("var/log/app")).unwrap();
    fx.write("var/log/app/app.log", APP_LOG);
    fs::create_dir_all(fx.path("etc")).unwrap();
    fx.write("etc/shadow", "root:secret\n");
    let root = fx.root();
    (fx, root)
}

/// The way REX operators grant log triage: read-only file actions on a log tree.
fn log_policy(root: &str) -> String {
    format!(
        r#"// Log triage for the on-call agent.
@id("log-triage")
permit(
    principal == User::"{me}",
    action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
    resource in file_system::Dir::"{root}/var/log"
);
"#,
        me = me()
    )
}

#[test]
fn log_triage_greps_and_slices_a_log_by_line_ranges() {
    let (fx, root) = log_fixture();
    let script = r#"
let log = log_dir + "/app.log";
info(`triage of ${log}`);
#{
    errors: grep([grep::line_number], pattern, log),
    error_count: grep([grep::count], pattern, log),
    case_insensitive: grep([grep::ignore_case, grep::max_count(1)], "warn", log),
    lines_2_to_4: tail([tail::range(2, 4)], log),
    from_5: tail([tail::from(5)], log),
    last_2: tail([tail::n(2)], log),
    window: awk_filter_range(3, 4, log),
    counts: wc(log),
}
"#;
    let args = string_args(&[
        ("log_dir", &format!("{root}/var/log/app")),
        ("pattern", "ERROR"),
    ]);
    let r = rex_run(&fx, script, Some(&log_policy(&root)), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        "#{\"case_insensitive\": [\"2026-05-01 WARN  slow request\"], \
\"counts\": #{\"bytes\": 187, \"lines\": 6, \"words\": 23}, \
\"error_count\": [\"2\"], \
\"errors\": [\"2:2026-05-01 ERROR disk /dev/sda1 full\", \"4:2026-05-01 ERROR upstream timeout\"], \
\"from_5\": [\"2026-05-01 WARN  slow request\", \"2026-05-01 INFO  recovered\"], \
\"last_2\": [\"2026-05-01 WARN  slow request\", \"2026-05-01 INFO  recovered\"], \
\"lines_2_to_4\": [\"2026-05-01 ERROR disk /dev/sda1 full\", \"2026-05-01 INFO  retrying\", \"2026-05-01 ERROR upstream timeout\"], \
\"window\": [\"2026-05-01 INFO  retrying\", \"2026-05-01 ERROR upstream timeout\"]}"
    );
    assert_eq!(APP_LOG.len(), 187, "the byte count above");
    // The script's log line, in REX's `logs[].attributes` shape.
    let logs = doc["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    let a = &logs[0]["attributes"];
    assert_eq!(a["level"], "INFO");
    assert_eq!(
        a["message"],
        format!("triage of {root}/var/log/app/app.log")
    );
    assert_eq!(a["line_number"], 3);
    assert!(a["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn log_triage_policy_does_not_reach_outside_the_log_tree() {
    let (fx, root) = log_fixture();
    let args = string_args(&[("secret", &format!("{root}/etc/shadow"))]);
    let r = rex_run(
        &fx,
        "grep(\"root\", secret)",
        Some(&log_policy(&root)),
        Some(&args),
        &[],
    );
    let doc = denied(
        &r,
        "file_system::Action::\"open\"",
        &format!("file_system::Dir::\"{root}/etc\""),
    );
    assert!(!r.stdout.contains("secret\\n"), "{doc}");
    assert_eq!(doc["denial"]["principal"], format!("User::\"{}\"", me()));
    assert_eq!(doc["denial"]["policies"], serde_json::json!([]));
}

#[test]
fn directory_listing_with_metadata() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("srv/data/sub")).unwrap();
    fx.write("srv/data/a.txt", "12345");
    fx.write("srv/data/.hidden", "h");
    fs::set_permissions(fx.path("srv/data/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let policy = format!(
        r#"permit(principal == User::"{me}",
       action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
       resource in file_system::Dir::"{root}/srv");"#,
        me = me()
    );
    // Shell-style `ls` (hidden entries only with ls::all) and the handle API with metadata.
    let script = r#"
let names = ls(dir).keys();
names.sort();
let all = ls([ls::all], dir).keys();
all.sort();
let h = DirConfig().path(dir).build().open(OpenDirOptions().build());
let rows = [];
for e in h.list_entries().values() {
    let m = e.metadata();
    rows.push(`${e.name}:${e.type()}:${m.file_size()}:${m.permissions()}`);
}
rows.sort();
let long = ls([ls::long], dir);
#{names: names, all: all, rows: rows.filter(|r| !r.starts_with("sub")),
  sub_is_dir: long["sub"].type == "DIR", a_mode: long["a.txt"].metadata.permissions}
"#;
    let args = string_args(&[("dir", &format!("{root}/srv/data"))]);
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        "#{\"a_mode\": 384, \"all\": [\".hidden\", \"a.txt\", \"sub\"], \
\"names\": [\"a.txt\", \"sub\"], \
\"rows\": [\".hidden:FILE:1:420\", \"a.txt:FILE:5:384\"], \"sub_is_dir\": true}"
    );
}

#[test]
fn symlinks_are_listed_and_stated_as_links_and_followed_only_where_rex_follows() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("var/log/app")).unwrap();
    fx.write("var/log/app/app.log", "line\n");
    symlink("app.log", fx.path("var/log/app/current")).unwrap();
    fs::create_dir_all(fx.path("outside")).unwrap();
    fx.write("outside/secret", "s3cret\n");
    symlink(fx.path("outside/secret"), fx.path("var/log/app/escape")).unwrap();
    symlink(fx.path("outside"), fx.path("var/log/outlink")).unwrap();
    let policy = log_policy(&root);
    let dir = format!("{root}/var/log/app");

    // `ls` on a symlink returns one entry for the link itself; the symlink handle's metadata
    // carries the target.
    let script = r#"
let one = ls(dir + "/current");
let h = DirConfig().path(dir).build().open(OpenDirOptions().build());
let m = h.open_symlink("current").metadata();
#{ls: one.keys(), ls_type: one["current"].type(), is_link: one["current"].type() == EntryType::SYMLINK,
  stat_type: m.type(), target: m.symlink_target(), size: m.file_size()}
"#;
    let args = string_args(&[("dir", &dir)]);
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        "#{\"is_link\": true, \"ls\": [\"current\"], \"ls_type\": \"SYMLINK\", \
\"size\": 7, \"stat_type\": \"SYMLINK\", \"target\": \"app.log\"}"
    );

    // A file read never follows the last component (REX opens it O_NOFOLLOW): the link to a
    // file outside the granted tree is refused and nothing is read.
    let r = rex_run(
        &fx,
        &format!("cat(\"{dir}/escape\")"),
        Some(&policy),
        None,
        &[],
    );
    let doc = script_error(&r);
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("IoErrorKind: "), "{message}");
    assert!(!r.stdout.contains("s3cret"));

    // Directories are followed, and then the resolved path must be allowed too (REX's double
    // check): the link lies inside the grant, its target does not.
    let r = rex_run(
        &fx,
        &format!("cat(\"{root}/var/log/outlink/secret\")"),
        Some(&policy),
        None,
        &[],
    );
    denied(
        &r,
        "file_system::Action::\"open\"",
        &format!("file_system::Dir::\"{root}/outside\""),
    );
    assert!(!r.stdout.contains("s3cret"));
}

#[test]
fn config_file_is_written_replaced_and_chmodded_under_a_safeio_grant() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("etc/app")).unwrap();
    let conf = fx.write("etc/app/app.conf", "port=80\n");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    // REX's idiom: the whole `SafeIO` action group on a directory tree.
    let policy = format!(
        r#"@id("app-config")
permit(principal == User::"{me}", action in file_system::Action::"SafeIO",
       resource in file_system::Dir::"{root}/etc/app");"#,
        me = me()
    );
    let script = r#"
write([write::replace], conf_dir + "/app.conf", "port=8080\n");
write(conf_dir + "/app.conf", "workers=4\n");
let d = DirConfig().path(conf_dir).build().open(OpenDirOptions().build());
let f = d.open_file("tls.conf", OpenFileOptions().create(true).permissions(0o600).build());
let f = f.write("cert=/etc/app/cert.pem\n");
let before = f.metadata().permissions();
f.chmod(0o640);
let cfg = d.open_file("app.conf", OpenFileOptions().read(true).build());
#{app: cfg.read(), app_mode: cfg.metadata().permissions(), tls_before: before,
  tls_after: f.metadata().permissions(), tls: f.read()}
"#;
    let args = string_args(&[("conf_dir", &format!("{root}/etc/app"))]);
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        "#{\"app\": \"port=8080\\nworkers=4\\n\", \"app_mode\": 416, \
\"tls\": \"cert=/etc/app/cert.pem\\n\", \"tls_after\": 416, \"tls_before\": 384}"
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), "port=8080\nworkers=4\n");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&conf), 0o640, "replace keeps the mode");
    assert_eq!(mode(&fx.path("etc/app/tls.conf")), 0o640);
}

#[test]
fn config_write_is_denied_under_a_read_only_grant_and_the_file_is_unchanged() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("etc/app")).unwrap();
    let conf = fx.write("etc/app/app.conf", "port=80\n");
    let policy = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource in file_system::Dir::"{root}/etc/app");"#
    );
    let args = string_args(&[("conf", &format!("{root}/etc/app/app.conf"))]);
    for script in [
        "write([write::replace], conf, \"port=1\\n\")",
        "write(conf, \"port=1\\n\")",
    ] {
        let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
        denied(
            &r,
            "file_system::Action::\"write\"",
            &format!("file_system::File::\"{root}/etc/app/app.conf\""),
        );
        assert_eq!(fs::read_to_string(&conf).unwrap(), "port=80\n");
    }
    let r = rex_run(
        &fx,
        "let d = DirConfig().path(dir).build().open(OpenDirOptions().build()); \
         d.open_file(\"new.conf\", OpenFileOptions().create(true).build())",
        Some(&policy),
        Some(&string_args(&[("dir", &format!("{root}/etc/app"))])),
        &[],
    );
    denied(
        &r,
        "file_system::Action::\"create\"",
        &format!("file_system::File::\"{root}/etc/app/new.conf\""),
    );
    assert!(!fx.path("etc/app/new.conf").exists());
}

#[test]
fn disk_usage_of_a_data_directory() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("data/sub")).unwrap();
    fx.write("data/a.bin", &"a".repeat(10_000));
    fx.write("data/sub/b.bin", &"b".repeat(5_000));
    let policy = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
       resource in file_system::Dir::"{root}/data");"#
    );
    let script = r#"
let s = du([du::summarize], dir);
let a = du([du::apparent_size, du::all_files], dir);
let files = a.entries.filter(|e| e.path.ends_with(".bin")).map(|e| `${e.path}=${e.size_bytes}`);
files.sort();
#{summary_entries: s.entries.len(), summary_path: s.entries[0].path,
  summary_is_total: s.entries[0].size_bytes == s.total_size_bytes,
  inodes: s.total_inode_count, files: files}
"#;
    let args = string_args(&[("dir", &format!("{root}/data"))]);
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        format!(
            "#{{\"files\": [\"{root}/data/a.bin=10000\", \"{root}/data/sub/b.bin=5000\"], \
\"inodes\": 4, \"summary_entries\": 1, \"summary_is_total\": true, \
\"summary_path\": \"{root}/data\"}}"
        )
    );
    // Outside the grant.
    let r = rex_run(&fx, &format!("du(\"{root}\")"), Some(&policy), None, &[]);
    denied(
        &r,
        "file_system::Action::\"open\"",
        &format!("file_system::Dir::\"{root}\""),
    );
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

#[test]
fn process_listing_is_filtered_by_the_policy() {
    let fx = Fixture::new();
    let child = Sleeper::start("301");
    let policy = format!(
        r#"// Agents may see their own sleep jobs only.
permit(principal == User::"{me}", action == process_system::Action::"list", resource)
when {{ resource.name == "sleep" && resource.username == "{me}" }};"#,
        me = me()
    );
    let script = r#"
let all = ps();
let mine = all.filter(|p| p.pid == child_pid);
let p = mine[0];
let pm = ProcessManager();
let via_pm = pm.processes().filter(|p| p.pid == child_pid).len();
#{only_sleep: all.all(|p| p.name == "sleep"), found: mine.len(), via_pm: via_pm,
  name: p.name, command: p.command, user: p.username, ppid_is_int: type_of(p.ppid) == "i64",
  keys: p.keys()}
"#;
    let args = format!("{{\"child_pid\": {{\"longValue\": {}}}}}", child.pid());
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        format!(
            "#{{\"command\": \"sleep 301\", \"found\": 1, \
\"keys\": [\"command\", \"historical_cpu_usage\", \"memory_percent\", \"memory_usage\", \"name\", \
\"pid\", \"pid_namespace\", \"ppid\", \"recent_cpu_usage\", \"state\", \"uid\", \"username\"], \
\"name\": \"sleep\", \"only_sleep\": true, \"ppid_is_int\": true, \"user\": \"{}\", \"via_pm\": 1}}",
            me()
        )
    );

    // Without a grant the listing is empty, not an error (REX filters silently).
    let r = rex_run(
        &fx,
        "ps().len()",
        Some("forbid(principal, action, resource);"),
        None,
        &[],
    );
    assert_eq!(success(&r)["output"], "0");
}

#[test]
fn kill_of_an_allowed_child_signals_it() {
    let fx = Fixture::new();
    let mut child = Sleeper::start("302");
    let policy = r#"
permit(principal, action == process_system::Action::"kill", resource)
when { resource.name == "sleep" && resource.command == "sleep 302" };"#;
    let args = format!("{{\"pid\": {{\"longValue\": {}}}}}", child.pid());
    let r = rex_run(&fx, "kill(pid)", Some(policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        format!("[#{{\"name\": \"sleep\", \"pid\": {}}}]", child.pid())
    );
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(15), "SIGTERM by default");

    // ProcessManager + KillOptions with a REX signal constant.
    let mut child = Sleeper::start("302");
    let script = "ProcessManager().kill(KillOptions().pid(pid).signal(Signal::SIGKILL).build())";
    let args = format!("{{\"pid\": {{\"longValue\": {}}}}}", child.pid());
    let r = rex_run(&fx, script, Some(policy), Some(&args), &[]);
    success(&r);
    assert_eq!(child.0.wait().unwrap().signal(), Some(9));
}

#[test]
fn kill_denied_by_policy_leaves_the_child_running() {
    let fx = Fixture::new();
    let mut child = Sleeper::start("303");
    // Only `sleep 302` may be killed; this child runs `sleep 303`.
    let policy = r#"
permit(principal, action == process_system::Action::"list", resource);
permit(principal, action == process_system::Action::"kill", resource)
when { resource.name == "sleep" && resource.command == "sleep 302" };"#;
    let args = format!("{{\"pid\": {{\"longValue\": {}}}}}", child.pid());
    for script in [
        "kill(pid)",
        "kill([kill::signal(9)], pid)",
        "ProcessManager().kill(KillOptions().pid(pid).build())",
    ] {
        let r = rex_run(&fx, script, Some(policy), Some(&args), &[]);
        denied(
            &r,
            "process_system::Action::\"kill\"",
            &format!("process_system::Process::\"{}\"", child.pid()),
        );
        assert!(child.alive(), "{script}: the denied kill reached the child");
    }
}

// ---------------------------------------------------------------------------------------------
// Network and name resolution
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_allowed_reaches_the_listener_and_denied_does_not() {
    let fx = Fixture::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = r#"
permit(principal, action == network::Action::"connect", resource == network::url::"127.0.0.1");"#;
    let args = format!("{{\"port\": {{\"integerValue\": {port}}}}}");

    let r = rex_run(
        &fx,
        "let c = connect(\"127.0.0.1\", port, TransportProtocol::TCP); type_of(c)",
        Some(policy),
        Some(&args),
        &[],
    );
    let doc = success(&r);
    assert_eq!(doc["output"], "Connection");
    assert!(listener.accept().is_ok(), "the allowed connect arrived");

    // The same port under another name: not granted, no connection attempt.
    let r = rex_run(
        &fx,
        "connect(\"localhost\", port, TransportProtocol::TCP)",
        Some(policy),
        Some(&args),
        &[],
    );
    denied(
        &r,
        "network::Action::\"connect\"",
        "network::url::\"localhost\"",
    );
    match listener.accept() {
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        Ok(_) => panic!("a denied connect reached the listener"),
    }
}

#[test]
fn dns_resolution_is_gated_by_hostname() {
    let fx = Fixture::new();
    let policy = r#"
permit(principal, action in sysinfo::Action::"SysinfoAction", resource is sysinfo::Hostname)
when { resource.hostname == "localhost" };"#;
    let r = rex_run(
        &fx,
        "resolve(\"localhost\").contains(\"127.0.0.1\")",
        Some(policy),
        None,
        &[],
    );
    assert_eq!(success(&r)["output"], "true");
    let r = rex_run(
        &fx,
        "SystemInfo().resolve_hostname(ResolveOptions().hostname(\"db.internal.invalid\").build())",
        Some(policy),
        None,
        &[],
    );
    denied(
        &r,
        "sysinfo::Action::\"resolve_hostname\"",
        "sysinfo::Hostname::\"db.internal.invalid\"",
    );
}

// ---------------------------------------------------------------------------------------------
// System: sysctl, systemd
// ---------------------------------------------------------------------------------------------

#[test]
fn sysctl_read_under_a_proc_sys_grant() {
    let fx = Fixture::new();
    let policy = r#"
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource in file_system::Dir::"/proc/sys/kernel");"#;
    let expected = fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
    let r = rex_run(
        &fx,
        "[sysctl_read(\"kernel.ostype\"), SysctlManager().read(\"kernel.ostype\")]",
        Some(policy),
        None,
        &[],
    );
    let v = expected.trim();
    assert_eq!(success(&r)["output"], format!("[\"{v}\", \"{v}\"]"));

    let r = rex_run(
        &fx,
        "sysctl_read(\"net.ipv4.ip_forward\")",
        Some(policy),
        None,
        &[],
    );
    denied(
        &r,
        "file_system::Action::\"open\"",
        "file_system::File::\"/proc/sys/net/ipv4/ip_forward\"",
    );
}

#[test]
fn systemd_status_is_checked_before_the_bus_is_used() {
    let fx = Fixture::new();
    let policy = r#"
permit(principal, action in [systemd::Action::"status", systemd::Action::"restart"], resource)
when { resource.name like "app-*.service" };"#;
    let r = rex_run(
        &fx,
        "SystemctlManager().status(\"sshd.service\")",
        Some(policy),
        None,
        &[],
    );
    denied(
        &r,
        "systemd::Action::\"status\"",
        "systemd::Service::\"sshd.service\"",
    );

    // Allowed: needs the system bus.
    if !Path::new("/run/dbus/system_bus_socket").exists() {
        eprintln!("skipping the allowed systemd status: no system bus");
        return;
    }
    let r = rex_run(
        &fx,
        "let s = SystemctlManager().status(\"app-none.service\"); s.load_state",
        Some(policy),
        None,
        &[],
    );
    // Either the unit's load state or a typed systemd error, never a denial.
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    check_shape(&r.json());
}

// ---------------------------------------------------------------------------------------------
// Errors seen by scripts
// ---------------------------------------------------------------------------------------------

#[test]
fn a_caught_denial_is_a_kind_message_source_map_and_the_run_succeeds() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("etc")).unwrap();
    let conf = fx.write("etc/app.conf", "port=80\n");
    let policy = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource in file_system::Dir::"{root}/etc");"#
    );
    let script = r#"
let outcome = #{};
try {
    write([write::replace], conf, "port=1\n");
    outcome.wrote = true;
} catch (e) {
    outcome.kind = e.kind;
    outcome.source = e.source;
    outcome.is_denied = e.kind == IoErrorKind::PermissionDenied;
    outcome.type = type_of(e);
    outcome.message_prefix = e.message.sub_string(0, 18);
    warn(`cannot update ${conf}: ${e.kind}`);
}
outcome.still = cat(conf);
outcome
"#;
    let args = string_args(&[("conf", &format!("{root}/etc/app.conf"))]);
    let r = rex_run(&fx, script, Some(&policy), Some(&args), &[]);
    let doc = success(&r);
    assert_eq!(
        doc["output"],
        "#{\"is_denied\": true, \"kind\": \"PermissionDenied\", \
\"message_prefix\": \"Permission denied:\", \"source\": \"IoErrorKind\", \
\"still\": \"port=80\\n\", \"type\": \"map\"}"
    );
    assert_eq!(doc["logs"][0]["attributes"]["level"], "WARN");
    assert_eq!(fs::read_to_string(&conf).unwrap(), "port=80\n");

    // Re-thrown, it is still the denial.
    let r = rex_run(
        &fx,
        "try { write([write::replace], conf, \"x\") } catch (e) { throw e }",
        Some(&policy),
        Some(&args),
        &[],
    );
    denied(
        &r,
        "file_system::Action::\"write\"",
        &format!("file_system::File::\"{root}/etc/app.conf\""),
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), "port=80\n");

    // A script's own error map is a script error in REX's `<source>: <kind>: <message>` form.
    let r = rex_run(
        &fx,
        "\nthrow #{kind: \"Unhealthy\", message: \"disk full\", source: \"HealthCheck\"}",
        None,
        None,
        &[],
    );
    let doc = script_error(&r);
    assert_eq!(
        doc["error"]["message"],
        "HealthCheck: Unhealthy: disk full (line 2, position 1)"
    );
}

#[test]
fn errors_from_every_module_are_maps_with_rex_sources() {
    let fx = Fixture::new();
    let script = r#"
fn probe(f) {
    let r = "ok";
    try { f.call(); } catch (e) { r = `${e.source}/${e.kind}`; }
    r
}
[
    probe(|| cat("/etc/hostname")),
    probe(|| cat("relative/path")),
    probe(|| kill(1)),
    probe(|| connect("127.0.0.1", 9, TransportProtocol::TCP)),
    probe(|| resolve("example.com")),
    probe(|| SystemInfo().memory_info()),
    probe(|| Filesystems(FilesystemOptions().build()).filesystems()),
    probe(|| parse_datetime("not a date", DateTimeFormat::RFC3339)),
]
"#;
    let r = rex_run(
        &fx,
        script,
        Some("forbid(principal, action, resource);"),
        None,
        &[],
    );
    assert_eq!(
        success(&r)["output"],
        "[\"IoErrorKind/PermissionDenied\", \"IoErrorKind/InvalidPath\", \
\"ProcessErrorKind/PermissionDenied\", \"NetworkErrorKind/PermissionDenied\", \
\"SysteminfoErrorKind/PermissionDenied\", \"SysteminfoErrorKind/PermissionDenied\", \
\"DiskinfoErrorKind/PermissionDenied\", \"CommonUtilsErrorKind/ParseError\"]"
    );
}

// ---------------------------------------------------------------------------------------------
// Arguments and output rendering
// ---------------------------------------------------------------------------------------------

#[test]
fn script_arguments_of_every_rex_type() {
    let fx = Fixture::new();
    let args = r#"{
        "host": {"stringValue": "web-01"},
        "retries": {"integerValue": -7},
        "offset": {"longValue": 9007199254740993},
        "ratio": {"doubleValue": 2.5},
        "whole": {"doubleValue": 3},
        "dry_run": {"booleanValue": false},
        "paths": {"listValue": [{"stringValue": "/a"}, {"integerValue": 1}, {"doubleValue": 1.0},
                                 {"booleanValue": true}, {"listValue": []}, {"mapValue": {}}]},
        "limits": {"mapValue": {"cpu": {"longValue": 2}, "mem": {"stringValue": "1G"}}},
        "empty": {"listValue": []}
    }"#;
    let script = r#"
[host, retries, offset, ratio, whole, dry_run, paths, limits, empty,
 type_of(host), type_of(retries), type_of(offset), type_of(ratio), type_of(dry_run),
 type_of(paths), type_of(limits)]
"#;
    let r = rex_run(&fx, script, None, Some(args), &[]);
    assert_eq!(
        success(&r)["output"],
        "[\"web-01\", -7, 9007199254740993, 2.5, 3.0, false, \
[\"/a\", 1, 1.0, true, [], #{}], #{\"cpu\": 2, \"mem\": \"1G\"}, [], \
\"string\", \"i64\", \"i64\", \"f64\", \"bool\", \"array\", \"map\"]"
    );
}

#[test]
fn output_is_rhais_rendering_of_the_final_value() {
    let fx = Fixture::new();
    for (script, output) in [
        ("\"plain text\"", "plain text"),
        ("\"two\\nlines\"", "two\nlines"),
        ("40 + 2", "42"),
        ("-1", "-1"),
        ("1.5 * 2.0", "3.0"),
        ("true", "true"),
        ("'x'", "x"),
        ("()", ""),
        ("let x = 5;", ""),
        ("", ""),
        ("[1, \"a\", 2.5, (), [true]]", "[1, \"a\", 2.5, (), [true]]"),
        (
            "#{b: 1, a: \"x\", c: #{d: [1]}}",
            "#{\"a\": \"x\", \"b\": 1, \"c\": #{\"d\": [1]}}",
        ),
        ("to_json(#{b: 1, a: [\"x\"]})", "{\"a\":[\"x\"],\"b\":1}"),
        ("`${1}-${\"a\"}`", "1-a"),
    ] {
        let r = rex_run(&fx, script, None, None, &[]);
        assert_eq!(success(&r)["output"], output, "{script}");
    }
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn a_runaway_script_is_stopped_by_max_operations_and_by_the_timeout() {
    let fx = Fixture::new();
    let marker = fx.path("after-loop");
    let policy = "permit(principal, action, resource);";
    let script = format!(
        "let n = 0; loop {{ n += 1; }} touch(\"{}\")",
        marker.display()
    );
    for (flags, message) in [
        (
            ["--max-operations", "5000"],
            "Script terminated: operations limit exceeded",
        ),
        (
            ["--timeout", "0.3"],
            "Script terminated: timeout limit exceeded",
        ),
    ] {
        let r = rex_run(&fx, &script, Some(policy), None, &flags);
        assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
        let doc = r.json();
        check_shape(&doc);
        assert_eq!(doc["status"], "ERROR");
        assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION");
        let m = doc["error"]["message"].as_str().unwrap();
        assert!(m.starts_with(message), "{m}");
        assert_eq!(alarm_types(&doc), ["RexRunnerScriptExecutionFailure"]);
        assert_eq!(
            metrics(&doc),
            run_metrics("RexRunnerScriptExecutionFailureCount", "FailureCount")
        );
        assert!(!marker.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid policies and arguments: refused before anything runs
// ---------------------------------------------------------------------------------------------

/// SSM documents embed the policy as one string, often on one line: several statements on one
/// line must load (each gets its own `file:line#n` id) and decide as written.
#[test]
fn a_one_line_policy_with_several_statements_loads_and_decides() {
    let fx = Fixture::new();
    let policy = format!(
        "permit(principal == User::\"{me}\", action == sysinfo::Action::\"list\", resource is sysinfo::Sysinfo); \
         permit(principal, action == file_system::Action::\"read\", resource == file_system::File::\"/proc/meminfo\"); \
         forbid(principal, action == file_system::Action::\"read\", resource == file_system::File::\"/proc/stat\");",
        me = me()
    );
    let script = "let si = SystemInfo(); \
                  [si.cpu_count() > 0, si.memory_info().total > 0, type_of(si.hostname())]";
    let r = rex_run(&fx, script, Some(&policy), None, &[]);
    assert_eq!(success(&r)["output"], "[true, true, \"string\"]");
    let r = rex_run(&fx, "SystemInfo().kernel_stats()", Some(&policy), None, &[]);
    let doc = denied(
        &r,
        "file_system::Action::\"read\"",
        "file_system::File::\"/proc/stat\"",
    );
    let forbid = doc["denial"]["policies"][0].as_str().unwrap();
    assert!(forbid.ends_with("/policy.cedar:1#3"), "{forbid}");
}

/// Runs a script that would create a marker file under a broken policy; checks the refusal
/// and that nothing ran. Returns the error message.
fn refused_policy(policy: &str, needles: &[&str]) -> String {
    let fx = Fixture::new();
    let marker = fx.path("ran");
    let script = format!("touch(\"{}\")", marker.display());
    let r = rex_run(&fx, &script, Some(policy), None, &[]);
    let doc = invalid_input(&r, "VALIDATION_EXCEPTION");
    assert!(!marker.exists(), "the script ran under an invalid policy");
    assert_eq!(doc["output"], "");
    let message = doc["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("policy.cedar"),
        "names the file: {message}"
    );
    for n in needles {
        assert!(message.contains(n), "{n:?} not in {message}");
    }
    // The same diagnostics for a human, on stderr.
    let r = rex_run(&fx, &script, Some(policy), None, &["-o", "human"]);
    assert_eq!(r.code, 5);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);
    message
}

#[test]
fn a_malformed_policy_is_refused_with_its_location() {
    let m = refused_policy(
        "permit(principal, action == file_system::Action::\"read\", resource)\n\
         permit(principal action resource);",
        &["policy.cedar:2"],
    );
    assert!(m.contains("unexpected token"), "{m}");
}

#[test]
fn unknown_actions_and_entity_types_fail_closed() {
    // An action that the schema does not declare (REX: silently never matches).
    refused_policy(
        "permit(principal, action == file_system::Action::\"read_all\", resource);",
        &["unrecognized action", "read_all"],
    );
    // An action group that does not exist.
    refused_policy(
        "permit(principal, action in file_system::Action::\"SafeIo\", resource);",
        &["SafeIo"],
    );
    // An entity type that does not exist, as resource and as principal.
    refused_policy(
        "permit(principal, action, resource in file_system::Folder::\"/var\");",
        &["unrecognized entity type", "file_system::Folder"],
    );
    refused_policy(
        "permit(principal == Role::\"admin\", action, resource);",
        &["unrecognized entity type", "Role"],
    );
}

#[test]
fn context_and_attributes_that_do_not_exist_are_strict_validation_errors() {
    refused_policy(
        "permit(principal, action == file_system::Action::\"read\", resource)\n\
         when { context.requester == \"ops\" };",
        &["requester", "not found"],
    );
    refused_policy(
        "permit(principal, action == file_system::Action::\"move\", resource)\n\
         when { context.destination.directory == \"/srv\" };",
        &["directory"],
    );
    refused_policy(
        "permit(principal, action == process_system::Action::\"kill\", resource)\n\
         when { resource.owner == \"app\" };",
        &["owner"],
    );
}

#[test]
fn arguments_nested_deeper_than_two_levels_are_a_validation_error() {
    let fx = Fixture::new();
    let marker = fx.path("ran");
    let script = format!("touch(\"{}\")", marker.display());
    let args = r#"{"cfg": {"mapValue": {"paths": {"listValue": [{"stringValue": "/a"}]}}}}"#;
    let r = rex_run(
        &fx,
        &script,
        Some("permit(principal, action, resource);"),
        Some(args),
        &[],
    );
    let doc = invalid_input(&r, "VALIDATION_EXCEPTION");
    assert!(!marker.exists());
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("cfg"),
        "{doc}"
    );
}

/// REX raises `RexRunnerScriptArgumentValidationFailure` (and counts it) when the argument
/// depth check fails; Rex's early refusal carries no alarm or metric.
#[test]
fn arguments_nested_too_deep_raise_rex_argument_validation_alarm() {
    let fx = Fixture::new();
    let args = r#"{"cfg": {"mapValue": {"paths": {"listValue": [{"stringValue": "/a"}]}}}}"#;
    let r = rex_run(&fx, "1", None, Some(args), &[]);
    let doc = invalid_input(&r, "VALIDATION_EXCEPTION");
    assert_eq!(
        alarm_types(&doc),
        ["RexRunnerScriptArgumentValidationFailure"]
    );
    assert!(
        metrics(&doc)
            .iter()
            .any(|m| m.0 == "RexRunnerScriptArgumentValidationFailureCount")
    );
}

/// The library half of the fix for the test above: arguments that parse but fail validation,
/// handed to `Runner::run` unvalidated, produce REX's document — `VALIDATION_EXCEPTION`, the
/// `RexRunnerScriptArgumentValidationFailure` alarm and count — and exit 5. Only the CLI's
/// early check (rex-runner/src/main.rs `load_args`) bypasses this.
#[test]
fn the_runner_reports_argument_validation_failures_like_rex() {
    use rex_runner::{ExitStatus, Input, Runner};
    let runner = Runner::builder()
        .principal(rex_auth::Principal::user("agent").unwrap())
        .process_monitoring(false)
        .build()
        .unwrap();
    let args: rex_core::ScriptArguments = serde_json::from_str(
        r#"{"cfg": {"mapValue": {"paths": {"listValue": [{"stringValue": "/a"}]}}}}"#,
    )
    .unwrap();
    let report = runner.run(&Input::from_text("s.rhai", "cfg"), &args);
    assert_eq!(report.exit, ExitStatus::InvalidInput);
    let doc = serde_json::to_value(&report.document).unwrap();
    check_shape(&doc);
    assert_eq!(doc["error"]["error_type"], "VALIDATION_EXCEPTION");
    assert_eq!(
        alarm_types(&doc),
        ["RexRunnerScriptArgumentValidationFailure"]
    );
    assert_eq!(
        metrics(&doc),
        run_metrics(
            "RexRunnerScriptArgumentValidationFailureCount",
            "FailureCount"
        )
    );
}

const NOT_ARGUMENTS: &[&str] = &[
    "[{\"stringValue\": \"x\"}]",
    "\"host=web-01\"",
    "null",
    "42",
    "{\"host\": \"web-01\"}",
    "{\"host\": {\"stringValue\": \"a\", \"longValue\": 1}}",
    "{\"retries\": {\"integerValue\": 3000000000}}",
    "{\"host\": ",
];

#[test]
fn an_arguments_file_that_is_not_a_rex_arguments_object_is_refused() {
    let fx = Fixture::new();
    let marker = fx.path("ran");
    let script = format!("touch(\"{}\")", marker.display());
    for args in NOT_ARGUMENTS {
        let r = rex_run(
            &fx,
            &script,
            Some("permit(principal, action, resource);"),
            Some(args),
            &[],
        );
        assert_eq!(r.code, 5, "{args}: {}{}", r.stdout, r.stderr);
        let doc = r.json();
        check_shape(&doc);
        assert_eq!(doc["status"], "ERROR");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("script arguments"),
            "{doc}"
        );
        assert!(!marker.exists(), "{args}: the script ran");
    }
}

/// REX reports an arguments file that does not parse as its arguments type as
/// `COMMUNICATION_EXCEPTION` (docs/compat.md: "same error_type"); Rex says
/// `VALIDATION_EXCEPTION`.
#[test]
fn a_malformed_arguments_file_is_a_communication_exception_like_rex() {
    let fx = Fixture::new();
    for args in NOT_ARGUMENTS {
        let r = rex_run(&fx, "1", None, Some(args), &[]);
        invalid_input(&r, "COMMUNICATION_EXCEPTION");
    }
}

// ---------------------------------------------------------------------------------------------
// Execution with REX's argument / environment tags
// ---------------------------------------------------------------------------------------------

#[test]
fn execute_is_allowed_only_for_the_exact_argv_the_policy_names() {
    let fx = Fixture::new();
    if !Path::new("/usr/bin/uname").exists() {
        eprintln!("skipping: no /usr/bin/uname");
        return;
    }
    let me = me();
    let policy = format!(
        r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
@id("uname-kernel-name")
permit(principal == User::"{me}", action == file_system::Action::"execute",
       resource == file_system::File::"/usr/bin/uname")
when {{
    context.arguments.flags == ["-s"] &&
    context.arguments.hasTag("$ARG0") && context.arguments.getTag("$ARG0") == "-s" &&
    context.environment.names.isEmpty() &&
    context.user.username == "{me}"
}};"#
    );
    let script = r#"
let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = bin.open_file("uname", OpenFileOptions().read(true).build());
let r = f.execute(ExecuteOptions().args(argv).build());
#{stdout: r.stdout, stderr: r.stderr, exit_code: r.exit_code}
"#;
    let r = rex_run(
        &fx,
        script,
        Some(&policy),
        Some(r#"{"argv": {"listValue": [{"stringValue": "-s"}]}}"#),
        &[],
    );
    assert_eq!(
        success(&r)["output"],
        "#{\"exit_code\": 0, \"stderr\": \"\", \"stdout\": \"Linux\\n\"}"
    );
    let r = rex_run(
        &fx,
        script,
        Some(&policy),
        Some(r#"{"argv": {"listValue": [{"stringValue": "-a"}]}}"#),
        &[],
    );
    denied(
        &r,
        "file_system::Action::\"execute\"",
        "file_system::File::\"/usr/bin/uname\"",
    );
}
