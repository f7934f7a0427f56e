//! Issue 16: `explain`, denials that teach (CLI JSON and the script's error map), and `learn`.

use std::fs;

use crate::common_cli::{Fixture, read_policy, rex, run};

fn explain_run(policy: &std::path::Path, action: &str, resource: &str) -> crate::common_cli::Run {
    run(rex()
        .arg("explain")
        .arg("-p")
        .arg(policy)
        .arg("--principal")
        .arg("alice")
        .arg(action)
        .arg(resource))
}

#[test]
fn explain_prints_allow_deny_the_determining_policies_and_the_nearest_permits() {
    let fx = Fixture::new();
    let root = fx.root();
    let policy = fx.write(
        "p.cedar",
        &format!(
            r#"@id("logs")
permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"{root}/log");
@id("no-secret")
forbid(principal, action, resource == file_system::File::"{root}/log/secret");
"#
        ),
    );
    let read = r#"file_system::Action::"read""#;
    let r = explain_run(
        &policy,
        read,
        &format!(r#"file_system::File::"{root}/log/syslog""#),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("ALLOW"), "{}", r.stdout);
    assert!(
        r.stdout.contains("determining policies: logs"),
        "{}",
        r.stdout
    );

    let r = explain_run(
        &policy,
        "file_system::read",
        &format!(r#"file_system::File::"{root}/etc/shadow""#),
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("DENY"), "{}", r.stdout);
    assert!(r.stdout.contains("no permit matched"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            r#"[logs] resource in file_system::Dir::"{root}/log""#
        )),
        "{}",
        r.stdout
    );

    let r = explain_run(
        &policy,
        read,
        &format!(r#"file_system::File::"{root}/log/secret""#),
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(forbid): no-secret"), "{}", r.stdout);

    // Invalid input: unknown action, malformed resource, action/resource mismatch, bad
    // context, bad policy.
    for (action, resource) in [
        (
            r#"file_system::Action::"raed""#,
            format!(r#"file_system::File::"{root}/x""#),
        ),
        (read, "file_system::File::relative".to_string()),
        (read, format!(r#"file_system::Symlink::"{root}/x""#)),
        (
            r#"file_system::Action::"unmount""#,
            format!(r#"file_system::File::"{root}/x""#),
        ),
    ] {
        let r = explain_run(&policy, action, &resource);
        assert_eq!(r.code, 5, "{action} {resource}: {}{}", r.stdout, r.stderr);
    }
    let r = run(rex()
        .arg("explain")
        .arg("-p")
        .arg(&policy)
        .arg(r#"file_system::Action::"execute""#)
        .arg(r#"file_system::File::"/usr/bin/df""#)
        .arg("--context")
        .arg("[1]"));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let bad = fx.write(
        "bad.cedar",
        r#"permit(principal, action == file_system::Action::"raed", resource);"#,
    );
    let r = explain_run(&bad, read, &format!(r#"file_system::File::"{root}/x""#));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
}

#[test]
fn explain_execute_uses_the_argv_context() {
    let fx = Fixture::new();
    let policy = fx.write(
        "p.cedar",
        r#"@id("df-h")
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/df")
when { context.arguments.argv == [{index: 0, value: "-h"}] };
"#,
    );
    let go = |ctx: &str| {
        run(rex()
            .arg("explain")
            .arg("-p")
            .arg(&policy)
            .arg(r#"file_system::Action::"execute""#)
            .arg(r#"file_system::File::"/usr/bin/df""#)
            .arg("--context")
            .arg(ctx))
        .code
    };
    assert_eq!(go(r#"{"arguments": ["-h"]}"#), 0);
    assert_eq!(go(r#"{"arguments": ["-h", "/"]}"#), 3);
    assert_eq!(go(r#"{"arguments": [["-h", "/"]]}"#), 3);
}

#[test]
fn a_denial_carries_its_hint_in_the_document_and_in_the_scripts_error_map() {
    let fx = Fixture::new();
    let root = fx.root();
    let target = fx.write("other.txt", "top secret content");
    fx.write("data.txt", "fine");
    let policy = fx.write("p.cedar", &read_policy(&fx, "data.txt"));
    // Uncaught: the document's `denial` member.
    let script = fx.write("s.rhai", &format!("cat(\"{root}/other.txt\")"));
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    let d = &doc["denial"];
    assert_eq!(d["action"], r#"file_system::Action::"open""#);
    assert_eq!(
        d["resource"],
        format!(r#"file_system::File::"{root}/other.txt""#)
    );
    assert!(d["principal"].as_str().unwrap().starts_with("User::"));
    assert_eq!(d["determining_policies"], serde_json::json!([]));
    let hint: Vec<&str> = d["hint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        hint,
        [
            format!(r#"resource == file_system::Dir::"{root}""#),
            format!(r#"resource == file_system::File::"{root}/data.txt""#)
        ]
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Permission denied"),
        "{doc}"
    );
    assert!(!r.stdout.contains("top secret"), "{}", r.stdout);
    // Caught: the script's error map has the same fields.
    let script = fx.write(
        "c.rhai",
        &format!(
            "let x = (); try {{ cat(\"{root}/other.txt\") }} catch (e) {{ \
             x = `${{e.action}}|${{e.resource}}|${{e.determining_policies.len()}}|${{e.hint[1]}}|${{e.principal}}`; }} x"
        ),
    );
    let r = run(rex().arg("-s").arg(&script).arg("-p").arg(&policy));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = r.json()["output"].as_str().unwrap().to_string();
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts[0], r#"file_system::Action::"open""#);
    assert_eq!(
        parts[1],
        format!(r#"file_system::File::"{root}/other.txt""#)
    );
    assert_eq!(parts[2], "0");
    assert_eq!(
        parts[3],
        format!(r#"resource == file_system::File::"{root}/data.txt""#)
    );
    assert!(parts[4].starts_with("User::"), "{out}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "top secret content");
}
