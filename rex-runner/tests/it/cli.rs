//! The `rex-runner` command end to end: real files in temp dirs, real policies, the real
//! binary. Each test checks the exit code, the output document and the host effect.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use crate::common_cli;
mod fleet;
mod learn;
mod lifecycle;
mod own_files;
mod sandbox;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common_cli::{Fixture, read_policy, rex, run, sha256};
use serde_json::Value;

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn readme_example_runs_and_prints_the_document() {
    let r = run(rex()
        .arg("-s")
        .arg(workspace_file("examples/inspect-config/script.rhai"))
        .arg("-p")
        .arg(workspace_file("examples/inspect-config/policy.cedar"))
        .arg("-a")
        .arg(workspace_file("examples/inspect-config/args.json")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["status"], "SUCCESS");
    assert!(doc["output"].as_str().unwrap().contains("\"root\""));
    assert_eq!(doc["logs"][0]["attributes"]["level"], "INFO");
    assert_eq!(doc["logs"][0]["attributes"]["line_number"], 10);
    let names: Vec<&str> = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric_name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"RexRunnerScriptExecutionTime"), "{names:?}");
    assert!(names.contains(&"RexRunnerScriptExecutionSuccessCount"));
    for process_metric in [
        "RexRunnerProcessCpuUsage",
        "RexRunnerRssMemoryUsageAverage",
        "RexRunnerVirtualMemoryUsageAverage",
    ] {
        assert!(names.contains(&process_metric), "{names:?}");
    }
    let rss = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric_name"] == "RexRunnerRssMemoryUsageAverage")
        .unwrap();
    assert_eq!(rss["metric_unit"], "MEGABYTES");
    assert_eq!(rss["metric_dimension"]["MetricInfo"], "ProcessMonitoring");
    assert!(rss["metric_value"].as_f64().unwrap() > 0.0);
}

#[test]
fn process_monitoring_can_be_disabled_like_rex() {
    let fx = Fixture::new();
    let script = fx.write("s.rhai", "1");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .env("REX_RUNNER_DISABLE_MONITORING", "true"));
    assert_eq!(r.code, 0);
    assert!(
        !r.stdout.contains("RexRunnerProcessCpuUsage"),
        "{}",
        r.stdout
    );
}

#[test]
fn allowed_read_returns_the_content_and_hashes_the_inputs() {
    let fx = Fixture::new();
    fx.write("data.txt", "alpha\nbeta\n");
    let script_text = format!("cat(\"{}/data.txt\")", fx.root());
    let script = fx.write("s.rhai", &script_text);
    let policy_text = read_policy(&fx, "data.txt");
    let policy = fx.write("p.cedar", &policy_text);
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["output"], "alpha\nbeta\n");
    assert_eq!(doc["script_sha256"], sha256(script_text.as_bytes()));
    assert_eq!(doc["policy_sha256"][0], sha256(policy_text.as_bytes()));
}

#[test]
fn denied_write_exits_3_names_the_action_and_leaves_the_file_alone() {
    let fx = Fixture::new();
    let target = fx.write("data.txt", "original");
    let script = fx.write(
        "s.rhai",
        &format!("write(\"{}/data.txt\", \"overwritten\")", fx.root()),
    );
    let policy = fx.write("p.cedar", &read_policy(&fx, "data.txt"));
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["status"], "ERROR");
    assert_eq!(doc["error"]["error_type"], "ACCESS_DENIED_EXCEPTION");
    assert_eq!(doc["denial"]["action"], "file_system::Action::\"write\"");
    assert_eq!(
        doc["denial"]["resource"],
        format!("file_system::File::\"{}/data.txt\"", fx.root())
    );
    assert!(
        doc["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alarm_type"] == "RexRunnerPrivilegeEscalation")
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "original");
}

#[test]
fn human_denial_says_which_forbid_policy_matched() {
    let fx = Fixture::new();
    let target = fx.write("secret.txt", "s3cret");
    let root = fx.root();
    let policy = fx.write(
        "p.cedar",
        &format!(
            r#"permit(principal, action, resource in file_system::Dir::"{root}");
@id("no-secrets")
forbid(principal, action == file_system::Action::"read", resource == file_system::File::"{root}/secret.txt");
"#
        ),
    );
    let script = fx.write("s.rhai", &format!("cat(\"{root}/secret.txt\")"));
    let r = run(rex()
        .args(["-o", "human"])
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("no-secrets"), "{}", r.stderr);
    assert!(
        r.stderr.contains("file_system::Action::\"read\""),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("s3cret"));
    assert_eq!(fs::read_to_string(&target).unwrap(), "s3cret");
}

#[test]
fn invalid_policy_is_a_located_validation_error_in_the_requested_format() {
    let fx = Fixture::new();
    let policy = fx.write(
        "bad.cedar",
        "permit(principal, action == file_system::Action::\"reed\", resource);\n",
    );
    let script = fx.write("s.rhai", "1");
    let r = run(rex()
        .args(["-o", "pretty-json"])
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains('\n'), "pretty-json is indented");
    let doc = r.json();
    assert_eq!(doc["error"]["error_type"], "VALIDATION_EXCEPTION");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("bad.cedar"), "{msg}");
    assert!(msg.contains("reed"), "{msg}");
}

#[test]
fn validate_subcommand_accepts_good_and_rejects_bad_policies() {
    let fx = Fixture::new();
    let good = fx.write("good.cedar", &read_policy(&fx, "x"));
    let r = run(rex().arg("validate").arg(&good));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("open-dir"), "{}", r.stdout);

    let bad = fx.write(
        "bad.cedar",
        "// comment\npermit(principal, action, resource) when { resource.nosuch == 1 };\n",
    );
    let r = run(rex().arg("validate").arg(&good).arg(&bad));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("bad.cedar"), "{}", r.stderr);
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
}

#[test]
fn check_compiles_without_running() {
    let fx = Fixture::new();
    let marker = fx.path("created-by-script");
    let script = fx.write("s.rhai", &format!("touch(\"{}\")", marker.display()));
    let r = run(rex().arg("check").arg(&script));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!marker.exists());

    let broken = fx.write("broken.rhai", "let x = ;");
    let r = run(rex().arg("check").arg(&broken));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("line 1"), "{}", r.stderr);
}

#[test]
fn script_from_stdin() {
    let mut child = rex()
        .args(["-s", "-", "-o", "human"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"let a = 20; a * 2 + 2").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

#[test]
fn limits_end_the_run_with_exit_4() {
    let fx = Fixture::new();
    let script = fx.write("loop.rhai", "let x = 0; loop { x += 1; }");
    let r = run(rex().arg("-s").arg(&script).args(["--timeout", "0.2"]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout")
    );

    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .args(["--max-operations", "1000"]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);

    let big = fx.write("big.rhai", "let s = \"x\"; s.pad(100000, 'x'); s");
    let r = run(rex()
        .arg("-s")
        .arg(&big)
        .args(["--max-string-size", "4096"]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["limit"], "string_size");
}

/// Issue 14: a script holding more than `--max-memory` ends with exit 4 and the memory
/// limit named in the document (the binary installs the counting allocator).
#[test]
fn max_memory_ends_a_memory_hog_with_exit_4() {
    let fx = Fixture::new();
    for (name, text) in [
        (
            "blobs.rhai",
            "let keep = []; loop { keep.push(blob(1000000)); }",
        ),
        ("double.rhai", "let s = \"ab\"; loop { s += s; }"),
        (
            "strings.rhai",
            "let keep = []; let i = 0; loop { let s = `${i}`; s.pad(100000, 'y'); keep.push(s); i += 1; }",
        ),
    ] {
        let script = fx.write(name, text);
        let r = run(rex()
            .arg("-s")
            .arg(&script)
            .args(["--max-memory", "67108864"]));
        assert_eq!(r.code, 4, "{name}: {}{}", r.stdout, r.stderr);
        let doc = r.json();
        assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION");
        assert_eq!(doc["limit"], "memory", "{name}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("memory limit exceeded")
        );
    }
    // Under the budget, the same kind of script runs to the end.
    let script = fx.write(
        "ok.rhai",
        "let keep = []; for i in 0..10 { keep.push(blob(1000000)); } keep.len()",
    );
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .args(["--max-memory", "67108864"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn sigterm_cancels_the_script_and_still_prints_the_document() {
    let fx = Fixture::new();
    let script = fx.write("loop.rhai", "let x = 0; loop { x += 1; }");
    let child = rex()
        .arg("-s")
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Give it time to start; the signal handler is installed before the run begins.
    std::thread::sleep(Duration::from_millis(500));
    let pid = i32::try_from(child.id()).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "ERROR");
    assert!(doc["error"]["message"].as_str().unwrap().contains("cancel"));
}

#[test]
fn policy_writable_by_others_is_refused_unless_allowed() {
    let fx = Fixture::new();
    let policy = fx.write("p.cedar", &read_policy(&fx, "x"));
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o666)).unwrap();
    let script = fx.write("s.rhai", "1 + 1");
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("writable")
    );
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .arg("--allow-writable-policy"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn audit_log_records_every_decision_with_the_script_hash() {
    let fx = Fixture::new();
    fx.write("data.txt", "x");
    let script_text = format!(
        "cat(\"{root}/data.txt\"); try {{ rm(\"{root}/data.txt\") }} catch {{ }}",
        root = fx.root()
    );
    let script = fx.write("s.rhai", &script_text);
    let policy = fx.write("p.cedar", &read_policy(&fx, "data.txt"));
    let audit = fx.path("audit.jsonl");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .arg("--audit-log")
        .arg(&audit)
        .args(["--principal", "agent-7"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(fx.path("data.txt").exists(), "the denied rm did not happen");
    let lines: Vec<Value> = fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    let hash = sha256(script_text.as_bytes());
    for l in &lines {
        assert_eq!(l["script_sha256"], hash, "{l}");
        assert_eq!(l["principal"], "User::\"agent-7\"", "{l}");
    }
    let read = lines
        .iter()
        .find(|l| l["action"] == "file_system::Action::\"read\"")
        .unwrap();
    assert_eq!(read["decision"], "allow");
    assert!(read["policies"].to_string().contains("read-file"), "{read}");
    let delete = lines
        .iter()
        .find(|l| l["decision"] == "deny")
        .expect("a denied decision");
    assert!(delete["resource"].as_str().unwrap().contains("data.txt"));
}

#[test]
fn exit_zero_on_script_error_keeps_the_error_document() {
    let fx = Fixture::new();
    let script = fx.write("s.rhai", "throw \"boom\"");
    let r = run(rex().arg("-s").arg(&script));
    assert_eq!(r.code, 1);
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("--exit-zero-on-script-error"));
    assert_eq!(r.code, 0);
    let doc = r.json();
    assert_eq!(doc["status"], "ERROR");
    assert_eq!(doc["error"]["error_type"], "SCRIPT_EXCEPTION");
    assert!(doc["error"]["message"].as_str().unwrap().contains("boom"));
}

#[test]
fn script_arguments_become_variables_and_bad_ones_are_invalid_input() {
    let fx = Fixture::new();
    let script = fx.write(
        "s.rhai",
        "`${name}:${count + 1}:${tags.len()}:${opts.deep}`",
    );
    let args = fx.write(
        "a.json",
        r#"{"name": {"stringValue": "web"}, "count": {"integerValue": 41},
            "tags": {"listValue": [{"stringValue": "a"}, {"booleanValue": true}]},
            "opts": {"mapValue": {"deep": {"doubleValue": 1.5}}}}"#,
    );
    let r = run(rex().arg("-s").arg(&script).arg("-a").arg(&args));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["output"], "web:42:2:1.5");

    let bad = fx.write("bad.json", r#"{"not an identifier": {"stringValue": "x"}}"#);
    let r = run(rex().arg("-s").arg(&script).arg("-a").arg(&bad));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["error"]["error_type"], "VALIDATION_EXCEPTION");

    let malformed = fx.write("malformed.json", "{\"name\": ");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-a")
        .arg(&malformed)
        .args(["-o", "human"]));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);
}

#[test]
fn missing_files_are_invalid_input_in_the_requested_format() {
    let fx = Fixture::new();
    let r = run(rex().arg("-s").arg(fx.path("nope.rhai")));
    assert_eq!(r.code, 5);
    assert_eq!(r.json()["error"]["error_type"], "COMMUNICATION_EXCEPTION");
    let r = run(rex()
        .arg("-s")
        .arg(fx.path("nope.rhai"))
        .args(["-o", "human"]));
    assert_eq!(r.code, 5);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("nope.rhai"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let r = run(rex().arg("--no-such-flag"));
    assert_eq!(r.code, 2);
    let r = run(rex().args(["-o", "yaml", "-s", "x"]));
    assert_eq!(r.code, 2);
}

#[test]
fn script_metrics_and_alarms_are_published_and_reserved_names_refused() {
    let fx = Fixture::new();
    let script = fx.write(
        "s.rhai",
        r#"
        let d = MetricDimensionsBuilder().add("disk", "sda").build();
        MetricBuilder().name("free_pct").value(12).unit(MetricUnitType::PERCENT).dimensions(d).publish();
        AlarmBuilder().type("LowDisk").details("12% left").publish();
        "ok"
        "#,
    );
    let prom = fx.path("metrics.prom");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("--metrics-file")
        .arg(&prom));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    let metric = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric_name"] == "free_pct")
        .unwrap()
        .clone();
    assert_eq!(metric["metric_value"], 12.0);
    assert_eq!(metric["metric_unit"], "PERCENT");
    assert_eq!(metric["metric_dimension"]["disk"], "sda");
    assert_eq!(doc["alarms"][0]["alarm_type"], "LowDisk");
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains("free_pct{disk=\"sda\"} 12"), "{text}");

    // A reserved name fails at publish time, before the next statement runs.
    let marker = fx.path("after-publish");
    let script = fx.write(
        "r.rhai",
        &format!(
            "MetricBuilder().name(\"RexRunnerFake\").value(1.0).publish(); touch(\"{}\")",
            marker.display()
        ),
    );
    let permit_all = fx.write("all.cedar", "permit(principal, action, resource);");
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&permit_all));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!marker.exists());
    assert!(
        !r.json()["metrics"]
            .to_string()
            .contains("\"metric_name\":\"RexRunnerFake\"")
    );
}

#[test]
fn print_functions_lists_the_script_api_with_its_cedar_actions() {
    let r = run(rex().args(["--print-functions", "-o", "human"]));
    assert_eq!(r.code, 0);
    for name in ["cat(", "MetricBuilder(", "ps(", "AlarmBuilder("] {
        assert!(r.stdout.contains(name), "missing {name}");
    }
    let r = run(rex().arg("--print-functions"));
    assert_eq!(r.code, 0);
    let doc = r.json();
    let cat = doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "cat")
        .unwrap()
        .clone();
    assert_eq!(cat["module"], "io");
    let actions = cat["actions"].to_string();
    assert!(actions.contains("read"), "{actions}");
    // One entry per name and arity, in script types, with the declaration's doc.
    let functions = doc["functions"].as_array().unwrap();
    let cats: Vec<&str> = functions
        .iter()
        .filter(|f| f["name"] == "cat")
        .map(|f| f["signature"].as_str().unwrap())
        .collect();
    assert!(cats.contains(&"cat(path: String) -> String"), "{cats:?}");
    assert!(
        cats.contains(&"cat(flags: Array, path: String) -> String"),
        "{cats:?}"
    );
    assert!(!cat["doc"].as_str().unwrap().is_empty());
    for f in functions {
        let sig = f["signature"].as_str().unwrap();
        assert!(
            !sig.contains("Result<") && !sig.contains("&mut") && !sig.contains("alloc::"),
            "{sig}"
        );
    }
    assert!(
        doc["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("MetricBuilder"))
    );
}

#[test]
fn verbose_human_output_shows_logs_and_metrics() {
    let fx = Fixture::new();
    let script = fx.write("s.rhai", "info(\"hello\"); warn(\"careful\"); 7");
    let r = run(rex().arg("-s").arg(&script).args(["-o", "human", "-v"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("[INFO] hello"), "{}", r.stdout);
    assert!(r.stdout.contains("[WARN] careful"), "{}", r.stdout);
    assert!(r.stdout.contains("--- metrics ---"), "{}", r.stdout);
    assert!(r.stdout.contains("\n7\n"), "{}", r.stdout);
}

#[test]
fn log_level_env_filters_script_logs() {
    let fx = Fixture::new();
    let script = fx.write("s.rhai", "debug(\"dbg\"); info(\"inf\"); 1");
    let r = run(rex().arg("-s").arg(&script));
    let logs = r.json()["logs"].to_string();
    assert!(logs.contains("inf") && !logs.contains("dbg"), "{logs}");
    let r = run(rex().arg("-s").arg(&script).env("LOG_LEVEL", "DEBUG"));
    let logs = r.json()["logs"].to_string();
    assert!(logs.contains("inf") && logs.contains("dbg"), "{logs}");
}

#[test]
fn redacted_read_uses_the_configured_dictionary() {
    let fx = Fixture::new();
    let root = fx.root();
    fx.write(
        "app.log",
        "user alice logged in from 10.0.0.1\npassword=hunter2\n",
    );
    let dict = fx.write(
        "redaction.config",
        "# templates\nuser %s logged in from %s\n",
    );
    let policy = fx.write(
        "p.cedar",
        &format!(
            r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{root}");
permit(principal, action in [file_system::Action::"open", file_system::Action::"redacted_read"],
       resource == file_system::File::"{root}/app.log");
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource == file_system::File::"{root}/redaction.config");"#
        ),
    );
    let script = fx.write("s.rhai", &format!("cat(\"{root}/app.log\")"));
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .arg("--redaction-config")
        .arg(&dict));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = r.json()["output"].as_str().unwrap().to_string();
    assert!(out.contains("user alice logged in from 10.0.0.1"), "{out}");
    assert!(out.contains("[REDACTED]"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");

    // Without a readable dictionary the read stays denied (fail closed).
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("hunter2"));
}

#[test]
fn script_timeout_stops_a_running_child_not_only_the_interpreter() {
    let fx = Fixture::new();
    let marker = fx.path("child-finished");
    let policy = fx.write(
        "p.cedar",
        r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/dash");
// The kernel sandbox lets dash start only the programs the policy names.
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/sleep");"#,
    );
    // The child would create the marker after 3 s; the script's timeout is 1 s and the
    // execute call's own timeout is 60 s, so only the script's deadline can stop it in time.
    let script = fx.write(
        "s.rhai",
        &format!(
            r#"let dir = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = dir.open_file("dash", OpenFileOptions().read(true).build());
f.execute(ExecuteOptions().args(["-c", "sleep 3; : > {}"]).timeout(60).build());
"unreachable""#,
            marker.display()
        ),
    );
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .args(["--timeout", "1"]));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("unreachable"));
    // Had the child survived the run, it would write the marker within 3 s.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "the child outlived the script's timeout");
}

/// docs/FUNCTIONS.md is the catalog of the engine a run gets (every rhai-sdk module and the
/// runner's built-ins), rendered: a function added, removed or re-declared without
/// regenerating the file fails here (`REX_BLESS=1` rewrites it).
#[test]
fn the_docs_function_table_is_generated() {
    let runner = rex_runner::Runner::builder()
        .principal(rex_auth::Principal::user("docs").unwrap())
        .build()
        .unwrap();
    let rendered = rex_core::catalog_markdown(&runner.engine().catalog());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FUNCTIONS.md");
    if std::env::var_os("REX_BLESS").is_some() {
        fs::write(&path, &rendered).unwrap();
    }
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/FUNCTIONS.md is out of date: regenerate it with REX_BLESS=1 (see its header)"
    );
    assert!(rendered.matches("\n| `").count() > 300, "{rendered}");
    assert!(rendered.contains("## `runner`") && rendered.contains("`info(message: String)`"));
}
