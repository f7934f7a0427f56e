//! `FileHandle.execute(ExecuteOptions)` from scripts: real children, allowed and denied.
// Tests set up fixtures and observe effects on the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
/// The crashing program is rust-sdk's test fixture, shared as a file.
#[path = "../../../rust-sdk/tests/it/common/crash_core.rs"]
mod crash_core;

use common::{assert_denied, engine, ok, run};

const OPEN_USR_BIN: &str = r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");"#;

fn policy(bin: &str, when: &str) -> String {
    format!(
        r#"{OPEN_USR_BIN}
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/{bin}") {when};"#
    )
}

/// A script that opens `/usr/bin/<bin>` read-only and runs it with `opts` (builder text).
fn exec_script(bin: &str, opts: &str) -> String {
    format!(
        r#"let dir = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = dir.open_file("{bin}", OpenFileOptions().read(true).build());
let r = f.execute({opts});
"#
    )
}

#[test]
fn echo_runs_and_returns_rex_result_fields() {
    let e = engine(&policy("echo", ""));
    let script = exec_script(
        "echo",
        r#"ExecuteOptions().args(["hello", ["-k", "v"], ["x"]]).build()"#,
    ) + r#"`${r.stdout}|${r.stderr}|${r.exit_code}|${r.signal}|${r.stdout_truncated}|${r.timed_out}`"#;
    assert_eq!(ok(&e, &script), "hello -k v x\n||0||false|false");
}

#[test]
fn denied_without_execute_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let e = engine(OPEN_USR_BIN);
    let script = exec_script(
        "touch",
        &format!(r#"ExecuteOptions().args(["{}"]).build()"#, marker.display()),
    );
    let out = run(&e, &script);
    assert_denied(&out);
    assert!(!marker.exists());

    // the denial is the standard error map
    let caught = format!(
        "let out = \"ran\"; try {{ {script} }} catch (err) {{ out = `${{err.kind}} ${{err.source}}`; }} out"
    );
    assert_eq!(ok(&e, &caught), "PermissionDenied IoErrorKind");
    assert!(!marker.exists());

    let e = engine(&policy("touch", ""));
    ok(&e, &script);
    assert!(marker.exists());
}

#[test]
fn argument_not_allowed_is_refused_before_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed");
    let other = tmp.path().join("other");
    let e = engine(&policy(
        "touch",
        &format!(
            r#"when {{ context.arguments.positional_values == ["{}"] }}"#,
            allowed.display()
        ),
    ));
    let out = run(
        &e,
        &exec_script(
            "touch",
            &format!(r#"ExecuteOptions().args(["{}"]).build()"#, other.display()),
        ),
    );
    assert_denied(&out);
    assert!(!other.exists());
    ok(
        &e,
        &exec_script(
            "touch",
            &format!(
                r#"ExecuteOptions().args(["{}"]).build()"#,
                allowed.display()
            ),
        ),
    );
    assert!(allowed.exists());
}

#[test]
fn environment_is_exactly_the_given_map() {
    let e = engine(&policy(
        "env",
        r#"when { context.environment.names == ["A", "B"] }"#,
    ));
    let script = exec_script(
        "env",
        r#"ExecuteOptions().env(#{A: "1", B: "x y"}).build()"#,
    ) + "r.stdout";
    assert_eq!(ok(&e, &script), "A=1\nB=x y\n");
    // another variable set: not allowed by the policy
    let out = run(
        &e,
        &exec_script(
            "env",
            r#"ExecuteOptions().env(#{A: "1", B: "2", C: "3"}).build()"#,
        ),
    );
    assert_denied(&out);
}

#[test]
fn large_output_is_capped() {
    let e = engine(&policy("head", ""));
    let script = exec_script(
        "head",
        r#"ExecuteOptions().args(["-c", "10485760", "/dev/zero"]).max_output_bytes(1048576).build()"#,
    ) + r#"`${r.stdout.len()} ${r.stdout_truncated} ${r.exit_code}`"#;
    assert_eq!(ok(&e, &script), "1048576 true 0");
}

#[test]
fn endless_child_is_killed_at_the_timeout() {
    let e = engine(&policy("sleep", ""));
    let script = exec_script(
        "sleep",
        r#"ExecuteOptions().args(["1000"]).timeout(1).build()"#,
    ) + r#"`${r.timed_out} ${r.signal} ${r.exit_code == ()}`"#;
    assert_eq!(ok(&e, &script), "true 9 true");
}

#[test]
fn exit_code_and_signal_are_distinct() {
    let e = engine(&policy("dash", ""));
    let script = exec_script("dash", r#"ExecuteOptions().args(["-c", "exit 7"]).build()"#)
        + r#"`${r.exit_code} ${r.signal == ()}`"#;
    assert_eq!(ok(&e, &script), "7 true");
    let script = exec_script(
        "dash",
        r#"ExecuteOptions().args(["-c", "kill -KILL $$"]).build()"#,
    ) + r#"`${r.exit_code == ()} ${r.signal}`"#;
    assert_eq!(ok(&e, &script), "true 9");
}

#[test]
fn writable_handle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy("/usr/bin/echo", tmp.path().join("echo")).unwrap();
    let e = engine(&common::allow_fs_under(tmp.path().to_str().unwrap()));
    let script = format!(
        r#"let dir = DirConfig().path("{}").build().open(OpenDirOptions().build());
let f = dir.open_file("echo", OpenFileOptions().read(true).write(true).build());
let out = "ran"; try {{ f.execute(ExecuteOptions().build()); }} catch (err) {{ out = err.kind; }} out"#,
        tmp.path().display()
    );
    assert_eq!(ok(&e, &script), "ValidationError");
}

#[test]
fn builder_validation() {
    let e = engine("");
    for (opts, kind) in [
        (r#"ExecuteOptions().args([1])"#, "ValidationError"),
        (
            r#"ExecuteOptions().args([["a", "b", "c"]])"#,
            "ValidationError",
        ),
        (r#"ExecuteOptions().env(#{A: 1})"#, "ValidationError"),
        (r#"ExecuteOptions().args([""]).build()"#, "InvalidArguments"),
        (
            r#"ExecuteOptions().args([["-k", ""]]).build()"#,
            "InvalidArguments",
        ),
        (
            r#"ExecuteOptions().env(#{A: ""}).build()"#,
            "InvalidArguments",
        ),
        (r#"ExecuteOptions().timeout(0)"#, "ValidationError"),
        (
            r#"ExecuteOptions().capabilities(["CAP_NO_SUCH_THING"]).build()"#,
            "InvalidArguments",
        ),
        (
            r#"ExecuteOptions().capabilities([10]).build()"#,
            "ValidationError",
        ),
        (
            r#"ExecuteOptions().capabilities(["CAP_NET_RAW"]).build()"#,
            "built",
        ),
        (
            r#"ExecuteOptions().namespace(ChildNamespaceOptions().target_process(1).build()).build()"#,
            "built",
        ),
        (
            r#"ChildNamespaceOptions().target_process(0)"#,
            "ValidationError",
        ),
        (r#"ChildNamespaceOptions().build()"#, "ValidationError"),
    ] {
        let script = format!(
            r#"let out = "built"; try {{ {opts}; }} catch (err) {{ out = err.kind; }} out"#
        );
        assert_eq!(ok(&e, &script), kind, "{opts}");
    }
    // a valid builder chain
    ok(
        &e,
        r#"ExecuteOptions().args(["-a", ["--b", "c"]]).env(#{X: "y"}).user("root").group("root").timeout(5).max_output_bytes(10).build()"#,
    );
}

/// The child's `Cap*`/`Uid` lines of `/proc/self/status`, as the script saw them.
fn child_status(e: &rex_core::RexEngine, opts: &str) -> String {
    let script = exec_script(
        "grep",
        &format!(
            r#"{opts}.args(["-E", "^(Uid|CapPrm|CapEff|CapAmb|NSpid):", "/proc/self/status"]).build()"#
        ),
    ) + "r.stdout";
    ok(e, &script)
}

#[test]
fn capabilities_reach_the_child_and_the_policy() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: switching to nobody with a capability needs root");
        return;
    }
    let e = engine(&policy(
        "grep",
        r#"unless { context.capabilities.contains("CAP_SYS_ADMIN") }"#,
    ));
    let out = child_status(
        &e,
        r#"ExecuteOptions().user("nobody").capabilities(["CAP_NET_BIND_SERVICE"])"#,
    );
    for set in ["CapPrm", "CapEff", "CapAmb"] {
        assert!(
            out.contains(&format!("{set}:\t0000000000000400")),
            "{set}: {out}"
        );
    }
    assert!(out.contains("Uid:\t65534\t"), "{out}");

    // The policy sees the capabilities, in canonical form whatever the spelling.
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let e = engine(&policy(
        "touch",
        r#"unless { context.capabilities.contains("CAP_SYS_ADMIN") }"#,
    ));
    let script = exec_script(
        "touch",
        &format!(
            r#"ExecuteOptions().capabilities(["cap_sys_admin"]).args(["{}"]).build()"#,
            marker.display()
        ),
    );
    assert_denied(&run(&e, &script));
    assert!(!marker.exists());
}

#[test]
fn child_in_another_pid_namespace() {
    let Ok(mut unshare) = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("skipped: cannot run unshare");
        return;
    };
    let children = format!("/proc/{0}/task/{0}/children", unshare.id());
    let mut inner = None;
    for _ in 0..400 {
        if let Ok(Some(_)) = unshare.try_wait() {
            break;
        }
        if let Some(pid) = std::fs::read_to_string(&children).ok().and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok())
        }) && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "sleep")
        {
            inner = Some(pid);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let Some(inner) = inner else {
        let _ = unshare.kill();
        let _ = unshare.wait();
        eprintln!("skipped: unshare --pid did not start (no privilege?)");
        return;
    };
    let e = engine(&policy(
        "grep",
        &format!(
            "when {{ context has namespace && context.namespace.target_process_id == {inner} }}"
        ),
    ));
    let ns = format!(
        "ExecuteOptions().namespace(ChildNamespaceOptions().target_process({inner}).build())"
    );
    let out = child_status(&e, &ns);
    let nspid: Vec<u32> = out
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(nspid.len(), 2, "{out}");
    assert!(
        nspid[1] > 1 && nspid[1] < 100 && nspid[1] != nspid[0],
        "{out}"
    );
    // Without the namespace the policy refuses.
    assert_denied(&run(
        &e,
        &(exec_script(
            "grep",
            r#"ExecuteOptions().args(["x", "/dev/null"]).build()"#,
        )),
    ));
    if let Some(pid) = rustix::process::Pid::from_raw(inner as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    let _ = unshare.kill();
    let _ = unshare.wait();
}

#[test]
fn catalog_lists_execute() {
    let names: Vec<_> = rhai_sdk::function_catalog()
        .into_iter()
        .filter(|f| f.actions.contains(&rex_auth::Action::FsExecute))
        .map(|f| f.name)
        .collect();
    for n in ["execute", "CoreDump", "SysctlManager"] {
        assert!(names.iter().any(|x| x == n), "{names:?}");
    }
}

#[test]
fn sysctl_load_system_goes_through_the_execute_gate() {
    // no sysctl::load
    let e = engine(&format!(
        "{OPEN_USR_BIN}\npermit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"/usr/sbin\");"
    ));
    let script = r#"let out = "ran"; try { SysctlManager().load_system(); } catch (err) { out = `${err.kind} ${err.source}`; } out"#;
    assert_eq!(ok(&e, script), "PermissionDenied SysteminfoErrorKind");
    // load and open allowed, execute not
    let e = engine(
        r#"permit(principal, action == sysctl::Action::"load", resource);
permit(principal, action == file_system::Action::"open", resource);"#,
    );
    let out = run(&e, "SysctlManager().load_system()");
    assert_denied(&out);
    assert!(
        out.denials
            .iter()
            .any(|d| d.action == rex_auth::Action::FsExecute),
        "{:?}",
        out.denials
    );
}

#[test]
fn core_dump_from_a_script() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((exe, core)) = crash_core::make_core(tmp.path()) else {
        eprintln!("skipped: cannot build a core file here");
        return;
    };
    let read_tmp = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"{}");"#,
        tmp.path().display()
    );
    let e = engine(&format!("{read_tmp}\n{}", policy("gdb", "")));
    let script = format!(
        r#"let d = CoreDump("{exe}", "{core}");
let bt = d.backtrace();
let t = bt.threads[0];
let names = t.frames.map(|f| f.function_name);
let i = names.index_of("crash");
let f = t.frames[i];
let v = d.get_variables(t.id, f.frame_number, ["local_value", "counter", "missing"]);
let outer = d.get_variables(f.frame_number + 1, ["local_value"]);
`${{names.extract(i)}} ${{f.line_number}} ${{v.local_value}} ${{v.counter}} ${{v.missing == ()}} ${{outer.local_value}} ${{bt.pid > 0}}`"#
    );
    assert_eq!(
        ok(&e, &script),
        r#"["crash", "crash", "crash", "main"] 3 1 42 true 3 true"#
    );
    // gdb expressions are refused
    let bad = format!(
        r#"let d = CoreDump("{exe}", "{core}"); let out = "ran"; try {{ d.get_variables(0, ["$_shell(\"id\")"]); }} catch (err) {{ out = err.kind; }} out"#
    );
    assert_eq!(ok(&e, &bad), "InvalidArguments");

    // without execute on gdb: denied
    let e = engine(&format!("{read_tmp}\n{OPEN_USR_BIN}"));
    let out = run(&e, &format!(r#"CoreDump("{exe}", "{core}").backtrace()"#));
    assert_denied(&out);
}
