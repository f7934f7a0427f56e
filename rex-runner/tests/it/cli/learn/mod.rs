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

fn learn_run(
    fx: &Fixture,
    script: &std::path::Path,
    ceiling: &std::path::Path,
    mode: &str,
) -> (crate::common_cli::Run, std::path::PathBuf, String) {
    let out = fx.path(&format!("learned-{mode}.cedar"));
    let r = run(rex()
        .arg("learn")
        .arg("-s")
        .arg(script)
        .arg("-p")
        .arg(ceiling)
        .arg("-o")
        .arg(&out)
        .args(["--generalize", mode]));
    let text = fs::read_to_string(&out).unwrap_or_default();
    (r, out, text)
}

fn read_only_ceiling(fx: &Fixture) -> std::path::PathBuf {
    fx.write(
        "ceiling.cedar",
        &format!(
            r#"@id("read-only")
permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
       resource in file_system::Dir::"{}");
"#,
            fx.root()
        ),
    )
}

#[test]
fn a_log_reading_script_learned_under_a_read_only_ceiling_runs_under_its_policy_and_nothing_else() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir(fx.path("log")).unwrap();
    fx.write("log/app.log", "line one\nline two\n");
    fx.write("log/other.log", "sibling");
    fx.write("log/secret", "hunter2");
    let ceiling = read_only_ceiling(&fx);
    let script = fx.write("s.rhai", &format!("cat(\"{root}/log/app.log\")"));
    let (r, learned, text) = learn_run(&fx, &script, &ceiling, "exact");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("denied by the ceiling: 0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("-p {}", learned.display())),
        "{}",
        r.stdout
    );
    assert!(text.contains("@id(\"learned-1\")"), "{text}");
    assert!(text.contains("// learned-1: the script's"), "{text}");
    assert!(
        text.contains(&format!(
            r#"resource == file_system::File::"{root}/log/app.log""#
        )),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("line one"),
        "{text}"
    );
    // It validates.
    let v = run(rex().arg("validate").arg(&learned));
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    // The script succeeds under it.
    let ok = run(rex().arg("-s").arg(&script).arg("-p").arg(&learned));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(ok.json()["output"], "line one\nline two\n");
    // A sibling file and the secret next to the read one are denied.
    for other in ["log/other.log", "log/secret"] {
        let s = fx.write("o.rhai", &format!("cat(\"{root}/{other}\")"));
        let denied = run(rex().arg("-s").arg(&s).arg("-p").arg(&learned));
        assert_eq!(
            denied.code, 3,
            "{other}: {}{}",
            denied.stdout, denied.stderr
        );
        assert!(!denied.stdout.contains("hunter2"));
        let e = explain_run(
            &learned,
            r#"file_system::Action::"read""#,
            &format!(r#"file_system::File::"{root}/{other}""#),
        );
        assert_eq!(e.code, 3, "{}", e.stdout);
    }
    // `--generalize dir` widens the file to its directory.
    let (r, _, text) = learn_run(&fx, &script, &ceiling, "dir");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        text.contains(&format!(r#"resource in file_system::Dir::"{root}/log""#)),
        "{text}"
    );
}

#[test]
fn rm_under_a_read_only_ceiling_deletes_nothing_and_the_report_lists_the_delete() {
    let fx = Fixture::new();
    let root = fx.root();
    let victim = fx.write("data.txt", "keep me");
    let ceiling = read_only_ceiling(&fx);
    let script = fx.write("rm.rhai", &format!("rm(\"{root}/data.txt\")"));
    let (r, _, text) = learn_run(&fx, &script, &ceiling, "exact");
    // The denial stays a denial: the script sees it (uncaught: exit 3).
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("denied by the ceiling: 1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            r#"file_system::Action::"delete" on file_system::File::"{root}/data.txt""#
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ACCESS_DENIED_EXCEPTION"), "{}", r.stdout);
    assert!(!text.contains("delete"), "{text}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn execute_is_learned_with_its_argv_condition() {
    let fx = Fixture::new();
    let ceiling = fx.write(
        "ceiling.cedar",
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource in file_system::Dir::"/usr/bin");
"#,
    );
    let exec = |args: &str| {
        format!(
            r#"let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = bin.open_file("echo", OpenFileOptions().read(true).build());
f.execute(ExecuteOptions().args({args}).build()).stdout"#
        )
    };
    let script = fx.write("e.rhai", &exec(r#"["-n", "a \"quoted\" word"]"#));
    let (r, learned, text) = learn_run(&fx, &script, &ceiling, "exact");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        text.contains(r#"context.arguments.argv == [{index: 0, value: "-n"}, {index: 1, value: "a \"quoted\" word"}]"#),
        "{text}"
    );
    assert!(
        text.contains(r#"resource == file_system::File::"/usr/bin/echo""#),
        "{text}"
    );
    let ok = run(rex().arg("-s").arg(&script).arg("-p").arg(&learned));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(ok.json()["output"], "a \"quoted\" word");
    // Other arguments are denied by the learned policy.
    let other = fx.write("o.rhai", &exec(r#"["-n", "something else"]"#));
    let denied = run(rex().arg("-s").arg(&other).arg("-p").arg(&learned));
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    assert_eq!(
        denied.json()["denial"]["action"],
        r#"file_system::Action::"execute""#
    );
}

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `body`.
fn http_once(body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}/status"), t)
}

#[test]
fn a_get_is_learned_as_its_method_and_url() {
    let fx = Fixture::new();
    let ceiling = fx.write(
        "ceiling.cedar",
        r#"permit(principal, action in network::Action::"NetworkAction", resource) when { resource.host == "127.0.0.1" };
permit(principal, action == sysinfo::Action::"resolve_hostname", resource);
"#,
    );
    let (url, server) = http_once("up");
    let script = fx.write("g.rhai", &format!("curl(\"{url}\")"));
    let (r, learned, text) = learn_run(&fx, &script, &ceiling, "exact");
    server.join().unwrap();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        text.contains(&format!(
            "action == network::Action::\"GET\",\n  resource == network::url::\"{url}\""
        )),
        "{text}"
    );
    let v = run(rex().arg("validate").arg(&learned));
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    // Another path on the same host is denied by the learned policy.
    let e = explain_run(
        &learned,
        r#"network::Action::"GET""#,
        &format!("network::url::\"{}\"", url.replace("/status", "/admin")),
    );
    assert_eq!(e.code, 3, "{}{}", e.stdout, e.stderr);
    let e = explain_run(
        &learned,
        r#"network::Action::"GET""#,
        &format!("network::url::\"{url}\""),
    );
    assert_eq!(e.code, 0, "{}{}", e.stdout, e.stderr);
}
