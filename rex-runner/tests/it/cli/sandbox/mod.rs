//! `--sandbox`: the Landlock backstop derived from the policy, through the real binary. A
//! program the policy lets the script execute is confined to what the policy could allow.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common_cli::{Fixture, rex, run};

mod idioms;

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Whether this kernel enforces Landlock (ABI >= 1), read from the runner's own report.
pub(super) fn landlock_enforced() -> bool {
    let fx = Fixture::new();
    let policy = fx.write(
        "p.cedar",
        "permit(principal, action == sysinfo::Action::\"list\", resource);\n",
    );
    let script = fx.write("s.rhai", "1");
    let r = run(rex()
        .arg("-s")
        .arg(&script)
        .arg("-p")
        .arg(&policy)
        .args(["--sandbox", "best-effort"]));
    let doc = r.json();
    doc["sandbox"]["status"] != "not enforced"
}

/// The scoped policy of issue 15: execute `cat` and `touch`, read and write under `inside`.
fn scoped(fx: &Fixture) -> (PathBuf, PathBuf, PathBuf) {
    let root = fx.root();
    let inside = fx.path("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("public.txt"), "PUBLIC\n").unwrap();
    std::fs::write(fx.path("secret.txt"), "TOP-SECRET\n").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read",
                                           file_system::Action::"write", file_system::Action::"create"],
                      resource in file_system::Dir::"{root}/inside");
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cat");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/touch");
"#
        ),
    );
    (policy, inside, PathBuf::from(root))
}

fn exec_script(fx: &Fixture, program: &str, arg: &Path) -> PathBuf {
    fx.write(
        &format!("{program}.rhai"),
        &format!(
            r#"let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = bin.open_file("{program}", OpenFileOptions().read(true).build());
let r = f.execute(ExecuteOptions().args(["{}"]).build());
#{{stdout: r.stdout, stderr: r.stderr, exit_code: r.exit_code}}"#,
            arg.display()
        ),
    )
}

fn run_mode(script: &Path, policy: &Path, mode: &str) -> Value {
    let r = run(rex()
        .arg("-s")
        .arg(script)
        .arg("-p")
        .arg(policy)
        .args(["--sandbox", mode]));
    let doc = r.json();
    assert_eq!(doc["status"], "SUCCESS", "{mode}: {}{}", r.stdout, r.stderr);
    doc
}

#[test]
fn sandbox_confines_executed_programs_to_the_policy() {
    if !Path::new("/usr/bin/cat").exists() || !Path::new("/usr/bin/touch").exists() {
        eprintln!("SKIPPED: needs /usr/bin/cat and /usr/bin/touch");
        return;
    }
    if !landlock_enforced() {
        eprintln!("SKIPPED: this kernel does not enforce Landlock");
        return;
    }
    let fx = Fixture::new();
    let (policy, inside, root) = scoped(&fx);

    // `cat` outside the scopes: EACCES under `require`, the content never comes out.
    let cat_out = exec_script(&fx, "cat", &root.join("secret.txt"));
    let doc = run_mode(&cat_out, &policy, "require");
    assert_eq!(doc["sandbox"]["status"], "enforced", "{doc}");
    assert!(doc["sandbox"]["landlock_abi"].as_i64().unwrap() >= 1);
    let out = doc["output"].as_str().unwrap();
    assert!(out.contains("Permission denied"), "{out}");
    assert!(!doc.to_string().contains("TOP-SECRET"));
    // ... and under `off` the same read succeeds, so the test can fail.
    let doc = run_mode(&cat_out, &policy, "off");
    assert!(doc["output"].as_str().unwrap().contains("TOP-SECRET"));

    // `cat` inside works.
    let cat_in = exec_script(&fx, "cat", &inside.join("public.txt"));
    let doc = run_mode(&cat_in, &policy, "require");
    assert!(doc["output"].as_str().unwrap().contains("PUBLIC"), "{doc}");

    // `touch` outside creates nothing; inside it creates the file.
    let outside_new = root.join("created-outside");
    let doc = run_mode(&exec_script(&fx, "touch", &outside_new), &policy, "require");
    assert!(
        doc["output"].as_str().unwrap().contains("exit_code\": 1"),
        "{doc}"
    );
    assert!(!outside_new.exists());
    let inside_new = inside.join("created-inside");
    let doc = run_mode(&exec_script(&fx, "touch", &inside_new), &policy, "require");
    assert!(
        doc["output"].as_str().unwrap().contains("exit_code\": 0"),
        "{doc}"
    );
    assert!(inside_new.exists());
}

#[test]
fn sandbox_default_is_best_effort_and_an_allow_all_policy_has_nothing_to_restrict() {
    let fx = Fixture::new();
    let secret = fx.write("secret.txt", "S\n");
    let policy = fx.write("all.cedar", "permit(principal, action, resource);\n");
    let script = fx.write("s.rhai", &format!("cat(\"{}\")", secret.display()));
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    let doc = r.json();
    assert_eq!(doc["status"], "SUCCESS", "{doc}");
    assert_eq!(doc["sandbox"]["mode"], "best-effort");
    assert_eq!(doc["sandbox"]["status"], "nothing to restrict");
    // A bad mode is a usage error.
    let r = run(rex().arg("-s").arg(&script).args(["--sandbox", "maybe"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn sandbox_plan_prints_the_derived_ruleset() {
    let fx = Fixture::new();
    let (policy, _, root) = scoped(&fx);
    let r = run(rex()
        .args(["sandbox-plan", "-p"])
        .arg(&policy)
        .args(["-o", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let layers: Value = serde_json::from_str(&r.stdout).unwrap();
    let plan = &layers["runner"];
    assert_eq!(plan["file_system"]["restricted"], true);
    let rules = plan["file_system"]["rules"].as_array().unwrap();
    let inside = rules
        .iter()
        .find(|r| r["path"] == format!("{}/inside", root.display()))
        .unwrap();
    assert!(
        inside["rights"]
            .as_array()
            .unwrap()
            .contains(&"write_file".into())
    );
    assert!(rules.iter().any(|r| r["path"] == "/usr/bin/cat"));
    // The scope's parent may only get the scope directory itself created in it.
    for r in rules
        .iter()
        .filter(|r| r["path"] == format!("{}", root.display()))
    {
        let rights = r["rights"].as_array().unwrap();
        for wide in ["read_file", "write_file", "make_reg", "remove_file"] {
            assert!(!rights.contains(&wide.into()), "{r}");
        }
    }
    assert_eq!(plan["network"]["tcp_connect"], serde_json::json!([]));
    // Executed programs get the exact rights: `cat` itself, the scope, never the parent.
    let exec = &layers["executed_programs"];
    let exec_rules = exec["file_system"]["rules"].as_array().unwrap();
    assert!(exec_rules.iter().any(|r| r["path"] == "/usr/bin/cat"));
    assert!(
        exec_rules
            .iter()
            .all(|r| r["path"] != format!("{}", root.display())),
        "{exec}"
    );
    assert!(exec_rules.iter().all(|r| r["path"] != "/proc"), "{exec}");
    assert_eq!(layers["unmount_broker"]["started"], false);
    let r = run(rex()
        .arg("--print-sandbox")
        .arg("-p")
        .arg(&policy)
        .args(["-o", "human"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("/usr/bin/touch"), "{}", r.stdout);
    // An invalid policy is invalid input, with diagnostics.
    let bad = fx.write(
        "bad.cedar",
        "permit(principal, action == file_system::Action::\"raed\", resource);",
    );
    let r = run(rex().args(["sandbox-plan", "-p"]).arg(&bad));
    assert_eq!(r.code, 5);
}

#[test]
fn every_example_runs_the_same_under_require() {
    if !landlock_enforced() {
        eprintln!("SKIPPED: this kernel does not enforce Landlock");
        return;
    }
    for example in [
        "inspect-config",
        "list-processes",
        "read-log-tail",
        "restart-service",
    ] {
        let dir = workspace_file(&format!("examples/{example}"));
        let doc = |mode: &str| {
            let r = run(rex()
                .arg("-s")
                .arg(dir.join("script.rhai"))
                .arg("-p")
                .arg(dir.join("policy.cedar"))
                .arg("-a")
                .arg(dir.join("args.json"))
                .args(["--sandbox", mode]));
            r.json()
        };
        let (off, req) = (doc("off"), doc("require"));
        assert_eq!(off["status"], req["status"], "{example}: {off} vs {req}");
        assert_eq!(
            off["error"]["error_type"], req["error"]["error_type"],
            "{example}"
        );
        // The process list differs from one run to the next.
        if off["status"] == "SUCCESS" && example != "list-processes" {
            assert_eq!(off["output"], req["output"], "{example}");
        }
    }
}
