//! `rex-runner ssm-document`: the generated commands are run with bash after substituting
//! parameters exactly as SSM does (plain text replacement of `{{ Name }}`), with hostile
//! scripts and arguments. The Rex script must run and no injected command may.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common_cli::{Fixture, rex, run};

/// `base64 -w0` of `text` (coreutils, as an operator would encode a parameter).
fn b64(text: &str) -> String {
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn runner_path() -> String {
    assert_cmd::cargo::cargo_bin("rex-runner")
        .to_string_lossy()
        .into_owned()
}

fn document(extra: &[&str]) -> Value {
    let r = run(rex()
        .arg("ssm-document")
        .arg("--runner-path")
        .arg(runner_path())
        .args(extra));
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// What SSM does: every `{{ Name }}` becomes the parameter's text (or its default), after the
/// value was checked against the parameter's `allowedPattern`.
fn substitute(doc: &Value, values: &[(&str, &str)]) -> String {
    let params = doc["parameters"].as_object().unwrap();
    let mut text = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for (name, spec) in params {
        let value = values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| spec["default"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no value for required parameter {name}"));
        let pattern = regex::Regex::new(spec["allowedPattern"].as_str().unwrap()).unwrap();
        assert!(
            pattern.is_match(&value),
            "{name}={value:?} breaks its allowedPattern"
        );
        text = text.replace(&format!("{{{{ {name} }}}}"), &value);
    }
    assert!(!text.contains("{{"), "unsubstituted parameter left: {text}");
    text
}

/// Runs the substituted commands as SSM's agent does: a script file run by bash, in `cwd`.
fn run_commands(text: &str, cwd: &Path) -> (i32, String, String) {
    let file = cwd.join("_script.sh");
    std::fs::write(&file, text).unwrap();
    let out = Command::new("bash")
        .arg(&file)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Rhai script that is full of shell syntax: heredoc terminators on their own lines,
/// backticks, `$(...)`, quotes. It returns its argument and a string of its own.
fn hostile_script(marker: &str) -> String {
    format!(
        "// EOF\n// REX_SCRIPT_B64_END\n// `touch {marker}` $(touch {marker}) '; touch {marker}; '\n\
         let s = \"\\\"$(touch {marker})\\\" `touch {marker}` '\";\n\
         s + \"|\" + x\n"
    )
}

fn hostile_args(marker: &str) -> String {
    serde_json::json!({ "x": { "stringValue": format!("$(touch {marker})'\n`touch {marker}`") } })
        .to_string()
}

#[test]
fn ssm_parameters_never_reach_the_shell_inline_policy() {
    let fx = Fixture::new();
    let marker = fx.path("INJECTED");
    let marker = marker.to_str().unwrap();
    let doc = document(&["--policy-from", "parameter"]);
    assert_eq!(doc["schemaVersion"], "2.2");
    assert_eq!(doc["mainSteps"][0]["action"], "aws:runShellScript");
    let policy = "permit(principal, action == sysinfo::Action::\"list\", resource);\n// EOF\n// $(touch x)\n";
    let script = hostile_script(marker);
    let text = substitute(
        &doc,
        &[
            ("Script", &b64(&script)),
            ("Policy", &b64(policy)),
            ("Args", &b64(&hostile_args(marker))),
            ("TimeoutSeconds", "30"),
        ],
    );
    let (code, stdout, stderr) = run_commands(&text, fx.dir.path());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["status"], "SUCCESS", "{out}");
    let expected =
        format!("\"$(touch {marker})\" `touch {marker}` '|$(touch {marker})'\n`touch {marker}`");
    assert_eq!(out["output"], expected);
    assert!(!Path::new(marker).exists(), "an injected command ran");
    // The private directory with the decoded files is gone.
    let left: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("_script.sh")]);
}

#[test]
fn ssm_policy_by_name_from_the_policy_directory_and_denials_fail_the_command() {
    let fx = Fixture::new();
    let policies = fx.path("policies");
    std::fs::create_dir(&policies).unwrap();
    let secret = fx.write("secret.txt", "TOP-SECRET\n");
    // `readonly` may read nothing in the temp dir; the script tries the secret.
    std::fs::write(
        policies.join("readonly.cedar"),
        "permit(principal, action == sysinfo::Action::\"list\", resource);\n",
    )
    .unwrap();
    let marker = fx.path("INJECTED");
    let doc = document(&["--policy-dir", policies.to_str().unwrap()]);
    let script = format!("cat(\"{}\")", secret.display());
    let text = substitute(
        &doc,
        &[
            ("Script", &b64(&script)),
            ("Policy", "readonly"),
            ("TimeoutSeconds", "30"),
        ],
    );
    let (code, stdout, stderr) = run_commands(&text, fx.dir.path());
    assert_eq!(
        code, 3,
        "access denied is rex-runner's exit 3: {stdout}{stderr}"
    );
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        out["error"]["error_type"], "ACCESS_DENIED_EXCEPTION",
        "{out}"
    );
    assert!(!stdout.contains("TOP-SECRET"));
    assert!(!marker.exists());

    // A missing policy name is rex-runner's invalid input, not a run without policy.
    let text = substitute(&doc, &[("Script", &b64("1")), ("Policy", "nosuch")]);
    let (code, stdout, _) = run_commands(&text, fx.dir.path());
    assert_eq!(code, 5, "{stdout}");
}

#[test]
fn ssm_patterns_refuse_every_value_that_could_be_shell_text() {
    for from in [
        &["--policy-from", "parameter"][..],
        &["--policy-from", "path"][..],
    ] {
        let doc = document(from);
        for (name, spec) in doc["parameters"].as_object().unwrap() {
            let pattern = regex::Regex::new(spec["allowedPattern"].as_str().unwrap()).unwrap();
            for hostile in [
                "e30=\nREX_SCRIPT_B64_END\ntouch /tmp/x",
                "x'; touch /tmp/x; '",
                "$(touch /tmp/x)",
                "`id`",
                "1 && id",
                "a\"b",
                "../../etc/shadow",
            ] {
                assert!(!pattern.is_match(hostile), "{name} admits {hostile:?}");
            }
        }
    }
    // A bad runner path is a usage error, not a document.
    let r = run(rex().args(["ssm-document", "--runner-path", "/opt/$(id)/rex-runner"]));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.is_empty());
}

// ---- Ansible: the rex.runner collection with a real ansible-core ----

/// The workspace's Python venv with ansible-core (and the MCP client), made by `.ci/run`.
fn venv_tool(name: &str) -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("REX_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv"));
    let tool = venv.join("bin").join(name);
    if tool.exists() {
        return Some(tool);
    }
    // CI installs the venv before the tests: there a missing tool is a failure, not a skip.
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: .ci/run must install ansible-core into the venv",
        tool.display()
    );
    eprintln!(
        "SKIPPED: {} not found (python3 -m venv target/venv && target/venv/bin/pip install ansible-core)",
        tool.display()
    );
    None
}

fn ansible_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../integrations/ansible")
}

/// An `ansible*` command with its state kept in `home` and the collection on its path.
fn ansible(tool: &Path, home: &Path) -> Command {
    let mut c = Command::new(tool);
    c.env("ANSIBLE_HOME", home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("tmp"))
        .env("ANSIBLE_COLLECTIONS_PATH", ansible_dir())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "0")
        .env_remove("LOG_LEVEL");
    c
}

#[test]
fn ansible_playbook_runs_the_script_on_three_hosts_and_fails_the_denied_one() {
    let Some(playbook) = venv_tool("ansible-playbook") else {
        return;
    };
    let fx = Fixture::new();
    let root = fx.path("fleet");
    let examples = ansible_dir().join("examples");
    let out = ansible(&playbook, &fx.path("home"))
        .current_dir(&examples)
        .args(["-i", "inventory.local.ini", "site.yml"])
        .arg("-e")
        .arg(format!("rex_demo_root={}", root.display()))
        .arg("-e")
        .arg(format!("rex_runner_binary={}", runner_path()))
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // One host failed (ansible-playbook's exit 2), the others did not.
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(log.contains("db1") && log.contains("failed=1"), "{log}");
    let result = |host: &str| -> Value {
        let text = std::fs::read_to_string(root.join("results").join(format!("{host}.json")))
            .unwrap_or_else(|e| panic!("no result collected for {host}: {e}\n{log}"));
        serde_json::from_str(&text).unwrap()
    };
    for host in ["web1", "web2"] {
        let r = result(host);
        assert_eq!(r["status"], "SUCCESS", "{host}: {r}");
        assert_eq!(r["failed"], false, "{host}");
        assert_eq!(
            r["changed"], false,
            "a read-only policy never changes the host"
        );
        assert_eq!(r["rc"], 0);
        assert!(
            r["output"].as_str().unwrap().contains("\"count\": 2"),
            "{r}"
        );
        assert!(
            r["output"]
                .as_str()
                .unwrap()
                .contains("ERROR disk still full")
        );
        assert_eq!(r["denials"], serde_json::json!([]));
        assert_eq!(r["script_sha256"].as_str().unwrap().len(), 64);
    }
    let denied = result("db1");
    assert_eq!(denied["failed"], true, "{denied}");
    assert_eq!(denied["rc"], 3);
    assert_eq!(denied["error"]["error_type"], "ACCESS_DENIED_EXCEPTION");
    let d = &denied["denials"][0];
    assert_eq!(d["action"], "file_system::Action::\"open\"");
    assert!(d["resource"].as_str().unwrap().contains("/db1/log"), "{d}");
    assert_eq!(d["reason"], "no permit matched");
    // Nothing was changed and no secret came out.
    for host in ["web1", "web2", "db1"] {
        let host_root = root.join(host);
        assert_eq!(
            std::fs::read_to_string(host_root.join("log/app.log")).unwrap(),
            "INFO start\nERROR disk full\nINFO retry\nERROR disk still full\n"
        );
        assert_eq!(
            std::fs::read_to_string(host_root.join("secret.txt")).unwrap(),
            "TOP-SECRET\n"
        );
        assert!(!result(host).to_string().contains("TOP-SECRET"));
    }
}

#[test]
fn ansible_module_check_mode_compiles_only_and_docs_render() {
    let (Some(adhoc), Some(doc)) = (venv_tool("ansible"), venv_tool("ansible-doc")) else {
        return;
    };
    let fx = Fixture::new();
    let home = fx.path("home");
    std::fs::create_dir(fx.path("data")).unwrap();
    let target = fx.write("data/target.txt", "unchanged\n");
    // Everything under the fixture's data (the module's own temp dir, with the audit log, stays
    // out of the script's reach: a policy reaching it is refused, exit 5).
    let policy = fx.write(
        "allow-write.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{}/data\");\n",
            fx.root()
        ),
    );
    let adhoc_run = |script: &str, check: bool| -> (i32, String) {
        let mut c = ansible(&adhoc, &home);
        c.args([
            "localhost",
            "-c",
            "local",
            "-m",
            "rex.runner.rex_script",
            "-a",
        ])
        .arg(
            serde_json::json!({
                "script": script,
                "policy_file": policy,
                "runner_path": runner_path(),
            })
            .to_string(),
        )
        .arg("-e")
        .arg("ansible_python_interpreter={{ ansible_playbook_python }}");
        if check {
            c.arg("--check");
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let write = format!("rm(\"{}\")", target.display());
    // Check mode compiles and runs nothing, even under a policy that allows the delete.
    let (code, log) = adhoc_run(&write, true);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("\"compiled\": true"), "{log}");
    assert!(target.exists(), "check mode ran the script");
    // A script that does not compile fails in check mode.
    let (code, log) = adhoc_run("let x = ;", true);
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("\"compiled\": false"), "{log}");
    // For real, an allowed delete is reported as a change.
    let (code, log) = adhoc_run(&write, false);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("CHANGED") && log.contains("\"changed\": true"),
        "{log}"
    );
    assert!(!target.exists());

    let out = ansible(&doc, &home)
        .args(["-t", "module", "rex.runner.rex_script"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for option in [
        "script_file",
        "policy_file",
        "secret_args",
        "max_memory",
        "sandbox",
        "runner_path",
    ] {
        assert!(text.contains(option), "ansible-doc lacks {option}");
    }
}

/// Issue 29, item 11: `timeout: .nan` meant no timeout; the module refuses NaN, infinities,
/// zero and negatives, and a `max_memory` that is not a positive size, before running.
#[test]
fn ansible_module_refuses_non_finite_and_negative_numbers() {
    let Some(adhoc) = venv_tool("ansible") else {
        return;
    };
    let fx = Fixture::new();
    let home = fx.path("home");
    std::fs::create_dir(fx.path("data")).unwrap();
    let marker = fx.path("data/ran");
    let policy = fx.write(
        "all.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{}/data\");\n",
            fx.root()
        ),
    );
    let script = fx.write(
        "s.rhai",
        &format!("write(\"{}\", \"x\"); 1", marker.display()),
    );
    let cases = [
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", "-inf"),
        ("timeout", "-1"),
        ("timeout", "0"),
        ("max_memory", "-1"),
        ("max_memory", "0"),
        ("max_memory", "nan"),
        ("max_memory", "1.5G"),
        // The control: valid numbers run the script (last, so the marker is absent before).
        ("timeout", "5"),
    ];
    for (i, (key, value)) in cases.into_iter().enumerate() {
        let control = i == cases.len() - 1;
        let out = ansible(&adhoc, &home)
            .args([
                "localhost",
                "-c",
                "local",
                "-m",
                "rex.runner.rex_script",
                "-a",
            ])
            .arg(format!(
                "script_file={} policy_file={} runner_path={} {key}={value}",
                script.display(),
                policy.display(),
                runner_path()
            ))
            .arg("-e")
            .arg("ansible_python_interpreter={{ ansible_playbook_python }}")
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if control {
            assert_eq!(out.status.code(), Some(0), "{key}={value}: {log}");
            assert!(marker.exists(), "the valid control did not run: {log}");
            continue;
        }
        assert_ne!(out.status.code(), Some(0), "{key}={value}: {log}");
        assert!(log.contains(key), "{key}={value}: {log}");
        assert!(!marker.exists(), "{key}={value} ran the script");
    }
}

/// Issue 29, item 12: a run that deleted a file and then failed reports `changed: true`; a
/// secret argument never shows in the task result, in any form the runner prints it.
#[test]
fn ansible_reports_a_change_of_a_failed_run_and_masks_secrets_in_every_form() {
    let Some(adhoc) = venv_tool("ansible") else {
        return;
    };
    let fx = Fixture::new();
    let home = fx.path("home");
    let root = fx.root();
    std::fs::create_dir(fx.path("data")).unwrap();
    let doomed = fx.write("data/doomed.txt", "x\n");
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"delete\"], resource in file_system::Dir::\"{root}/data\");\n"
        ),
    );
    // The secret becomes part of a path the runner normalises and quotes in its denial.
    let secret = "s3cr3t-\"q\"-value";
    let script = format!(
        "rm(\"{}\");\nlet p = \"/srv//\" + token + \"//x\";\ncat(p)",
        doomed.display()
    );
    let out = ansible(&adhoc, &home)
        .args([
            "localhost",
            "-c",
            "local",
            "-m",
            "rex.runner.rex_script",
            "-a",
        ])
        .arg(
            serde_json::json!({
                "script": script,
                "policy_file": policy,
                "runner_path": runner_path(),
                "secret_args": {"token": secret},
            })
            .to_string(),
        )
        .arg("-e")
        .arg("ansible_python_interpreter={{ ansible_playbook_python }}")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "the denied read fails the task: {log}"
    );
    assert!(!doomed.exists(), "the delete happened");
    assert!(log.contains("\"changed\": true"), "{log}");
    assert!(log.contains("ACCESS_DENIED"), "{log}");
    for form in ["s3cr3t", "s3cr3t-\\\"q\\\"-value", "s3cr3t-\\\\\\\"q"] {
        assert!(!log.contains(form), "{form} leaked: {log}");
    }
}
