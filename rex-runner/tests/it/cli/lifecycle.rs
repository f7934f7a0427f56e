//! Issue 32: the policy lifecycle through the binary: `test`, `replay` of audit logs made by
//! real runs, `--shadow-policy`, and `fmt`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::common_cli::{Fixture, rex, run};

/// A policy over the fixture: read anything under `data`, delete under `data/tmp`, run
/// `/usr/bin/echo`.
fn wide_policy(root: &str) -> String {
    format!(
        r#"@id("data-read")
permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
       resource in file_system::Dir::"{root}/data");
@id("tmp-delete")
permit(principal, action == file_system::Action::"delete", resource in file_system::Dir::"{root}/data/tmp");
@id("bin-open")
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
@id("echo")
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/echo");
"#
    )
}

fn data(fx: &Fixture) {
    fs::create_dir_all(fx.path("data/logs")).unwrap();
    fs::create_dir_all(fx.path("data/tmp")).unwrap();
    fx.write("data/logs/app.log", "line\n");
    fx.write("data/secret.txt", "top secret\n");
    fx.write("data/tmp/old.txt", "old\n");
}

/// A run that reads a log and the secret, deletes a temp file, runs echo with an argument
/// value that must never reach the audit log, and tries a denied read outside `data` (denied
/// at the open of the fixture's directory).
fn script(fx: &Fixture) -> std::path::PathBuf {
    let root = fx.root();
    fx.write(
        "s.rhai",
        &format!(
            r#"let out = cat("{root}/data/logs/app.log") + cat("{root}/data/secret.txt");
rm("{root}/data/tmp/old.txt");
let dir = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = dir.open_file("echo", OpenFileOptions().read(true).build());
f.execute(ExecuteOptions().args(["--token=hunter2"]).build());
try {{ cat("{root}/outside.txt") }} catch {{ }}
out"#
        ),
    )
}

/// Runs the script under `policy` with an audit log; returns the log's lines.
fn audited_run(fx: &Fixture, policy: &Path, audit: &Path) -> Vec<Value> {
    let r = run(rex()
        .arg("-s")
        .arg(script(fx))
        .arg("-p")
        .arg(policy)
        .arg("--audit-log")
        .arg(audit));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    fs::read_to_string(audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn replay(policy: &Path, audit: &Path, json: bool) -> crate::common_cli::Run {
    let mut cmd = rex();
    cmd.arg("replay")
        .arg("-p")
        .arg(policy)
        .arg("--audit")
        .arg(audit);
    if json {
        cmd.args(["-o", "json"]);
    }
    run(&mut cmd)
}

#[test]
fn test_reports_pass_fail_and_determining_policies_with_exit_codes() {
    let fx = Fixture::new();
    let root = fx.root();
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let passing = fx.write(
        "pass.toml",
        &format!(
            r#"[[case]]
name = "reads logs"
principal = "ci-bot"
action = 'file_system::Action::"read"'
resource = "{root}/data/logs/app.log"
expect = "allow"
determined_by = ["data-read"]

[[case]]
name = "no delete outside tmp"
action = "file_system::delete"
resource = "{root}/data/logs/app.log"
expect = "deny"

[[case]]
name = "echo with a flag"
action = "file_system::execute"
resource = "/usr/bin/echo"
context = {{ arguments = ["-n"] }}
expect = "allow"

[[case]]
name = "the data dir itself"
action = "file_system::open"
resource = "{root}/data/"
expect = "allow"
determined_by = ["data-read"]
"#
        ),
    );
    let r = run(rex().arg("test").arg("-p").arg(&policy).arg(&passing));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("PASS reads logs: ALLOW by data-read"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("4 passed, 0 failed, 4 cases"),
        "{}",
        r.stdout
    );

    // A wrong expectation and a wrong determining policy both fail, with the actual decision.
    let failing = fx.write(
        "fail.toml",
        &format!(
            r#"[[case]]
name = "secret must be denied"
action = "file_system::read"
resource = "{root}/data/secret.txt"
expect = "deny"

[[case]]
name = "decided by the wrong policy"
action = "file_system::delete"
resource = "{root}/data/tmp/x"
expect = "allow"
determined_by = ["data-read"]

[[case]]
name = "still passes"
action = "file_system::read"
resource = "/etc/shadow"
expect = "deny"
"#
        ),
    );
    let r = run(rex().arg("test").arg("-p").arg(&policy).arg(&failing));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("FAIL secret must be denied: ALLOW by data-read (expected DENY, got ALLOW; "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("expected determining policies [data-read], got [tmp-delete]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("PASS still passes: DENY"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 passed, 2 failed, 3 cases"),
        "{}",
        r.stdout
    );

    // JSON: one object per case with the actual decision.
    let r = run(rex()
        .arg("test")
        .arg("-p")
        .arg(&policy)
        .arg(&failing)
        .args(["-o", "json"]));
    assert_eq!(r.code, 1);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["failed"], 2);
    assert_eq!(doc["cases"][0]["actual"], "allow");
    assert_eq!(doc["cases"][1]["determining_policies"][0], "tmp-delete");
    assert_eq!(doc["cases"][1]["line"], 7);
}

#[test]
fn test_junit_output_is_well_formed_xml_with_the_failures() {
    let fx = Fixture::new();
    let root = fx.root();
    let policy = fx.write("p.cedar", &wide_policy(&root));
    // A name with every character XML must escape, and a control character.
    let tests = fx.write(
        "t.toml",
        &format!(
            r#"[[case]]
name = "a <b> & \"c\" 'd' \u0001"
action = "file_system::read"
resource = "{root}/data/secret.txt"
expect = "deny"

[[case]]
name = "ok"
action = "file_system::read"
resource = "{root}/data/logs/app.log"
expect = "allow"
"#
        ),
    );
    let r = run(rex()
        .arg("test")
        .arg("-p")
        .arg(&policy)
        .arg(&tests)
        .args(["-o", "junit"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let xml = fx.write("out.xml", &r.stdout);
    // Parsed by a real XML parser (Python's), not by pattern.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as E\n\
             s = E.parse(sys.argv[1]).getroot().find('testsuite')\n\
             cases = s.findall('testcase')\n\
             print(s.get('tests'), s.get('failures'), len(cases), \
             sum(1 for c in cases if c.find('failure') is not None), cases[0].get('name'))",
        )
        .arg(&xml)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "2 1 2 1 a <b> & \"c\" 'd' \\u{1}");
}

#[test]
fn test_refuses_invalid_files_with_their_place() {
    let fx = Fixture::new();
    let root = fx.root();
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let cases = [
        // Not TOML: the line of the error.
        ("[[case]]\nname = \"x\nexpect = \"allow\"\n", "t.toml:2:"),
        // An unknown key.
        (
            "[[case]]\nname = \"x\"\naction = \"file_system::read\"\nresource = \"/a\"\nexpect = \"allow\"\nexpectt = 1\n",
            "t.toml:",
        ),
        // An unknown action, in the second case: its line.
        (
            "[[case]]\nname = \"a\"\naction = \"file_system::read\"\nresource = \"/a\"\nexpect = \"allow\"\n\n[[case]]\nname = \"b\"\naction = \"file_system::reed\"\nresource = \"/a\"\nexpect = \"allow\"\n",
            "t.toml:7: case \"b\"",
        ),
        // An action that does not apply to the resource.
        (
            "[[case]]\nname = \"c\"\naction = \"systemd::restart\"\nresource = \"/a\"\nexpect = \"allow\"\n",
            "case \"c\"",
        ),
        // A bad expectation.
        (
            "[[case]]\nname = \"d\"\naction = \"file_system::read\"\nresource = \"/a\"\nexpect = \"maybe\"\n",
            "t.toml:",
        ),
        // A context of the wrong shape.
        (
            "[[case]]\nname = \"e\"\naction = \"file_system::execute\"\nresource = \"/bin/true\"\ncontext = { arguments = 3 }\nexpect = \"allow\"\n",
            "case \"e\"",
        ),
        // No case at all.
        ("# nothing\n", "no [[case]]"),
    ];
    for (text, want) in cases {
        let tests = fx.write("t.toml", text);
        let r = run(rex().arg("test").arg("-p").arg(&policy).arg(&tests));
        assert_eq!(r.code, 5, "{text}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(want), "{text}: {}", r.stderr);
        assert!(
            r.stdout.is_empty(),
            "no case is reported from an invalid file"
        );
    }
    // An invalid policy is exit 5 with validate's diagnostics.
    let bad = fx.write(
        "bad.cedar",
        "permit(principal, action == file_system::Action::\"nope\", resource);",
    );
    let tests = fx.write(
        "t.toml",
        "[[case]]\nname = \"a\"\naction = \"file_system::read\"\nresource = \"/a\"\nexpect = \"deny\"\n",
    );
    let r = run(rex().arg("test").arg("-p").arg(&bad).arg(&tests));
    assert_eq!(r.code, 5);
    assert!(r.stderr.contains("bad.cedar"), "{}", r.stderr);
}

#[test]
fn replay_of_real_runs_reports_exact_changes_widening_first() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let audit = fx.path("audit.jsonl");
    let lines = audited_run(&fx, &policy, &audit);
    // The argument value never reaches the audit log; its count and the identity do.
    let text = fs::read_to_string(&audit).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let exec = lines
        .iter()
        .find(|l| l["action"] == "file_system::Action::\"execute\"")
        .expect("the execute decision is recorded");
    assert_eq!(exec["context"]["redacted"][0], "arguments", "{exec}");
    assert!(exec["context"]["user"]["username"].is_string(), "{exec}");
    let total = lines.len();
    let denied = lines.iter().filter(|l| l["decision"] == "deny").count();
    assert_eq!(denied, 1, "one denied read outside data: {lines:?}");

    // The same policy: nothing changes.
    let r = replay(&policy, &audit, false);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "{total} decisions replayed: {total} unchanged, 0 widened, 0 narrowed, 0 not replayable"
        )),
        "{}",
        r.stdout
    );

    // Narrower: the secret is no longer readable (forbid), nothing else changes.
    let narrower = fx.write(
        "narrow.cedar",
        &format!(
            "{}\n@id(\"no-secret\")\nforbid(principal, action, resource == file_system::File::\"{root}/data/secret.txt\");\n",
            wide_policy(&root)
        ),
    );
    let r = replay(&narrower, &audit, true);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["widened"].as_array().unwrap().len(), 0);
    let narrowed = doc["narrowed"].as_array().unwrap();
    // open and read of the secret (stat only when the SDK asks for it).
    let secret_decisions = lines
        .iter()
        .filter(|l| l["resource"] == format!("file_system::File::\"{root}/data/secret.txt\""))
        .count();
    assert!(secret_decisions >= 2, "{lines:?}");
    assert_eq!(
        narrowed
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum::<u64>(),
        secret_decisions as u64,
        "{doc}"
    );
    assert!(
        narrowed
            .iter()
            .all(|g| g["prefix"] == format!("{root}/data/"))
    );
    assert_eq!(narrowed[0]["determining_policies"][0], "no-secret");
    assert_eq!(doc["unchanged"], total - secret_decisions);

    // Wider and narrower at once: the denied read is now allowed (widening) and the secret
    // denied; widening is listed first and decides the exit code.
    let mixed = fx.write(
        "mixed.cedar",
        &format!(
            "{}\n@id(\"outside\")\npermit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{root}\");\n@id(\"no-secret\")\nforbid(principal, action, resource == file_system::File::\"{root}/data/secret.txt\");\n",
            wide_policy(&root)
        ),
    );
    let r = replay(&mixed, &audit, false);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let widened_at = r.stdout.find("WIDENED").expect("a widened section");
    let narrowed_at = r.stdout.find("NARROWED").expect("a narrowed section");
    assert!(widened_at < narrowed_at, "{}", r.stdout);
    assert!(r.stdout.contains(" 1 widened, "), "{}", r.stdout);
    // The recorded denial was the open of the fixture's directory (on the way to the file).
    assert!(
        r.stdout.contains(&format!("file_system::Dir::\"{root}\" ")),
        "{}",
        r.stdout
    );
}

#[test]
fn replay_never_guesses_a_redacted_value() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let audit = fx.path("audit.jsonl");
    audited_run(&fx, &policy, &audit);
    // A new policy that reads the arguments: the execute decision cannot be decided again.
    let reads_args = fx.write(
        "args.cedar",
        &wide_policy(&root).replace(
            "resource == file_system::File::\"/usr/bin/echo\");",
            "resource == file_system::File::\"/usr/bin/echo\")\n  when { context.arguments.keys.isEmpty() };",
        ),
    );
    let r = replay(&reads_args, &audit, true);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let nr = doc["not_replayable"].as_array().unwrap();
    assert_eq!(nr.len(), 1, "{doc}");
    assert_eq!(nr[0]["count"], 1);
    assert_eq!(nr[0]["action"], "file_system::Action::\"execute\"");
    assert!(
        nr[0]["reason"].as_str().unwrap().contains("arguments"),
        "{doc}"
    );
    assert_eq!(r.code, 0, "nothing else changed: {}", r.stdout);

    // Under policies that do not read them, the same record is replayed.
    let r = replay(&policy, &audit, true);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["not_replayable"].as_array().unwrap().len(), 0, "{doc}");

    // A line that is not an audit record is reported, never silently dropped.
    let mut text = fs::read_to_string(&audit).unwrap();
    text.push_str("{\"truncated\n");
    fs::write(&audit, text).unwrap();
    let r = replay(&policy, &audit, false);
    assert!(r.stdout.contains("1 unreadable lines"), "{}", r.stdout);
    assert!(r.stdout.contains("audit.jsonl:"), "{}", r.stdout);
}

#[test]
fn shadow_policies_are_recorded_never_enforced() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write("p.cedar", &wide_policy(&root));
    // Stricter: no reads of the secret, no deletes.
    let shadow = fx.write(
        "shadow.cedar",
        &format!(
            "{}\n@id(\"shadow-no-secret\")\nforbid(principal, action, resource == file_system::File::\"{root}/data/secret.txt\");\n",
            wide_policy(&root).replace("@id(\"tmp-delete\")\npermit", "@id(\"tmp-delete\")\nforbid")
        ),
    );
    let audit = fx.path("audit.jsonl");
    let r = run(rex()
        .arg("-s")
        .arg(script(&fx))
        .arg("-p")
        .arg(&policy)
        .arg("--shadow-policy")
        .arg(&shadow)
        .arg("--audit-log")
        .arg(&audit));
    // The enforcing policy decides: the secret is read and the temp file deleted.
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert!(
        doc["output"].as_str().unwrap().contains("top secret"),
        "{doc}"
    );
    assert!(!fx.path("data/tmp/old.txt").exists());
    let lines: Vec<Value> = fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let diverging: Vec<&Value> = lines.iter().filter(|l| l.get("shadow").is_some()).collect();
    assert_eq!(doc["shadow_divergences"], diverging.len(), "{doc}");
    // The secret's open and read, and the delete.
    assert!(diverging.len() >= 3, "{diverging:?}");
    for l in &diverging {
        assert_eq!(l["decision"], "allow");
        assert_eq!(l["shadow"]["decision"], "deny", "{l}");
        assert!(l["shadow"]["determining_policies"].is_array(), "{l}");
    }
    assert!(diverging.iter().any(|l| {
        l["action"] == "file_system::Action::\"delete\""
            && l["shadow"]["determining_policies"][0] == "tmp-delete"
    }));
    // Without a shadow set the document says nothing about it.
    fx.write("data/tmp/old.txt", "old\n");
    let r = run(rex().arg("-s").arg(script(&fx)).arg("-p").arg(&policy));
    assert_eq!(r.code, 0);
    assert!(r.json().get("shadow_divergences").is_none());
}

#[test]
fn an_invalid_shadow_policy_runs_nothing() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let shadow = fx.write(
        "shadow.cedar",
        "permit(principal, action == file_system::Action::\"nope\", resource);",
    );
    let r = run(rex()
        .arg("-s")
        .arg(script(&fx))
        .arg("-p")
        .arg(&policy)
        .arg("--shadow-policy")
        .arg(&shadow));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("shadow policy"), "{}", r.stdout);
    assert!(
        fx.path("data/tmp/old.txt").exists(),
        "the script did not run"
    );
}

#[test]
fn fmt_rewrites_only_to_the_same_policies_and_check_changes_nothing() {
    let fx = Fixture::new();
    let text = "// the logs\n@id(\"logs\")\npermit(principal,action==file_system::Action::\"read\",resource in file_system::Dir::\"/var/log\") when { context has x || true };\n";
    let p = fx.write("p.cedar", text);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(rex().arg("fmt").arg("--check").arg(&p));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("not formatted"), "{}", r.stdout);
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        text,
        "--check changes nothing"
    );

    let r = run(rex().arg("fmt").arg(&p));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let formatted = fs::read_to_string(&p).unwrap();
    assert!(formatted.contains("// the logs"), "{formatted}");
    assert!(
        formatted.contains("action == file_system::Action::\"read\""),
        "{formatted}"
    );
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_dir(fx.dir.path()).unwrap().count(),
        1,
        "no temp file is left"
    );
    let r = run(rex().arg("fmt").arg("--check").arg(&p));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Still the same policy, as validate sees it.
    let r = run(rex().arg("validate").arg(&p));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("logs"));

    // An invalid policy is refused and left as it is.
    let bad_text = "permit(principal,action==file_system::Action::\"nope\",resource);";
    let bad = fx.write("bad.cedar", bad_text);
    let r = run(rex().arg("fmt").arg(&bad));
    assert_eq!(r.code, 5);
    assert_eq!(fs::read_to_string(&bad).unwrap(), bad_text);

    // A symlinked policy file is never rewritten (the link stays a link).
    let target = fx.write("target.cedar", text);
    let link = fx.path("link.cedar");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = run(rex().arg("fmt").arg(&link));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert_eq!(fs::read_to_string(&target).unwrap(), text);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// The worked example of docs/POLICY_GUIDE.md ("The policy lifecycle") stays true.
#[test]
fn the_example_policy_passes_its_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/read-log-tail");
    let r = run(rex()
        .arg("test")
        .arg("-p")
        .arg(dir.join("policy.cedar"))
        .arg(dir.join("policy.tests.toml")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("5 passed, 0 failed, 5 cases"),
        "{}",
        r.stdout
    );
}

/// `mcp --shadow-policy NAME=FILE`: the run is decided by the enforced set, each divergence
/// is in the log file's decisions and the document's count, and `replay` reads the log file.
#[test]
fn mcp_shadow_sets_are_recorded_never_enforced_and_replayable() {
    use std::io::{BufRead, BufReader, Write as _};
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write("p.cedar", &wide_policy(&root));
    let shadow = fx.write(
        "shadow.cedar",
        &format!(
            "{}\n@id(\"shadow-no-secret\")\nforbid(principal, action, resource == file_system::File::\"{root}/data/secret.txt\");\n",
            wide_policy(&root)
        ),
    );
    let log = fx.path("mcp.jsonl");
    let mut server = rex()
        .arg("mcp")
        .arg("--policy")
        .arg(format!("work={}", policy.display()))
        .arg("--shadow-policy")
        .arg(format!("work={}", shadow.display()))
        .arg("--log-file")
        .arg(&log)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let script = format!("cat(\"{root}/data/logs/app.log\") + cat(\"{root}/data/secret.txt\")");
    let messages = [
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "run_script", "arguments": {"script": script, "policy": "work"}}}),
    ];
    {
        let stdin = server.stdin.as_mut().unwrap();
        for m in &messages {
            writeln!(stdin, "{m}").unwrap();
        }
        stdin.flush().unwrap();
    }
    let mut reader = BufReader::new(server.stdout.take().unwrap());
    let response = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the server ended early"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            break v;
        }
    };
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
    let text = response.to_string();
    assert!(
        text.contains("top secret"),
        "enforced: the read happened: {text}"
    );
    assert!(text.contains("shadow_divergences"), "{text}");
    let lines: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let call = lines
        .iter()
        .find(|l| l["tool"] == "run_script")
        .expect("the run's line");
    let decisions = call["decisions"].as_array().unwrap();
    let diverging: Vec<&Value> = decisions
        .iter()
        .filter(|d| d.get("shadow").is_some())
        .collect();
    assert_eq!(
        diverging.len(),
        2,
        "open and read of the secret: {decisions:?}"
    );
    for d in &diverging {
        assert_eq!(d["decision"], "allow");
        assert_eq!(d["shadow"]["decision"], "deny");
        assert_eq!(d["shadow"]["determining_policies"][0], "shadow-no-secret");
        assert!(
            d["principal"].as_str().unwrap().starts_with("User::"),
            "{d}"
        );
    }
    // The log file replays: under the shadow set exactly those two narrow.
    let r = replay(&shadow, &log, true);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let narrowed: u64 = doc["narrowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(narrowed, 2, "{doc}");
    assert_eq!(doc["decisions"], decisions.len());

    // A shadow set of no set, or an invalid one, stops the server before it serves.
    for arg in [
        format!("nope={}", shadow.display()),
        format!(
            "work={}",
            fx.write(
                "bad.cedar",
                "permit(principal, action == file_system::Action::\"x\", resource);"
            )
            .display()
        ),
    ] {
        let r = run(rex()
            .arg("mcp")
            .arg("--policy")
            .arg(format!("work={}", policy.display()))
            .arg("--shadow-policy")
            .arg(&arg)
            .stdin(std::process::Stdio::null()));
        assert_eq!(r.code, 5, "{arg}: {}{}", r.stdout, r.stderr);
    }
}

/// `learn --tests-out`: the run's requests become test cases that the learned policy passes
/// (and an over-wide edit of it fails).
#[test]
fn learn_writes_tests_the_learned_policy_passes() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let ceiling = fx.write("ceiling.cedar", &wide_policy(&root));
    let out_dir = fx.path("out");
    fs::create_dir(&out_dir).unwrap();
    let learned = out_dir.join("learned.cedar");
    let tests = out_dir.join("learned.tests.toml");
    let r = run(rex()
        .arg("learn")
        .arg("-s")
        .arg(script(&fx))
        .arg("-p")
        .arg(&ceiling)
        .arg("-o")
        .arg(&learned)
        .arg("--tests-out")
        .arg(&tests)
        .args(["--principal", "ci-bot"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let text = fs::read_to_string(&tests).unwrap();
    assert!(text.contains("expect = \"allow\""), "{text}");
    assert!(
        text.contains("expect = \"deny\""),
        "the denied read is kept: {text}"
    );
    assert!(text.contains("principal = \"ci-bot\""), "{text}");
    assert!(
        text.contains("arguments"),
        "the execute's arguments are a case: {text}"
    );
    let r = run(rex().arg("test").arg("-p").arg(&learned).arg(&tests));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(" 0 failed"), "{}", r.stdout);
    // An edit that allows everything fails the denied case.
    let wide = fx.write("wide.cedar", "permit(principal, action, resource);");
    let r = run(rex().arg("test").arg("-p").arg(&wide).arg(&tests));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Inside the ceiling's reach the tests file is refused like the policy, and not created.
    let inside = fx.path("data/tmp/tests.toml");
    let r = run(rex()
        .arg("learn")
        .arg("-s")
        .arg(script(&fx))
        .arg("-p")
        .arg(&ceiling)
        .arg("-o")
        .arg(out_dir.join("again.cedar"))
        .arg("--tests-out")
        .arg(&inside));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(!inside.exists());
}

/// Issue 33 (policy half) through the binary: `explain` and `test` show the third outcome,
/// and a run without an approval channel is denied with the reason; nothing is deleted.
#[test]
fn approval_permits_are_allow_if_approved_and_denied_without_a_channel() {
    let fx = Fixture::new();
    let root = fx.root();
    data(&fx);
    let policy = fx.write(
        "p.cedar",
        &format!(
            r#"@id("open") permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"{root}");
@id("delete-ok") @approval("required") @approvers("oncall")
permit(principal, action == file_system::Action::"delete", resource in file_system::Dir::"{root}/data/tmp");
"#
        ),
    );
    let r = run(rex()
        .arg("explain")
        .arg("-p")
        .arg(&policy)
        .arg("file_system::delete")
        .arg(format!("file_system::File::\"{root}/data/tmp/old.txt\"")));
    assert_eq!(r.code, 3, "not allowed as is: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("ALLOW-IF-APPROVED"), "{}", r.stdout);
    assert!(r.stdout.contains("by oncall"), "{}", r.stdout);
    let tests = fx.write(
        "t.toml",
        &format!(
            "[[case]]\nname = \"delete asks\"\naction = \"file_system::delete\"\nresource = \"{root}/data/tmp/old.txt\"\nexpect = \"allow-if-approved\"\ndetermined_by = [\"delete-ok\"]\n\n[[case]]\nname = \"not plain allow\"\naction = \"file_system::delete\"\nresource = \"{root}/data/tmp/old.txt\"\nexpect = \"allow\"\n"
        ),
    );
    let r = run(rex().arg("test").arg("-p").arg(&policy).arg(&tests));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("PASS delete asks: ALLOW-IF-APPROVED"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("FAIL not plain allow"), "{}", r.stdout);
    let script = fx.write("rm.rhai", &format!("rm(\"{root}/data/tmp/old.txt\")"));
    let audit = fx.path("audit.jsonl");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .arg("--audit-log")
        .arg(&audit));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["denial"]["reason"], "approval required", "{doc}");
    assert!(fx.path("data/tmp/old.txt").exists(), "nothing happened");
    let text = fs::read_to_string(&audit).unwrap();
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["action"] == "file_system::Action::\"delete\"")
        .unwrap();
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["approval"]["status"], "not asked", "{line}");
    assert_eq!(line["approval"]["approvers"][0], "oncall");
}
