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
