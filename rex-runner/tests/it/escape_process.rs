//! Process escapes through the real runner: signalling processes the policy does not grant
//! (including a pid whose identity changed after the script looked it up), and shell
//! metacharacters smuggled through `execute` arguments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The tests start real child processes and observe them directly.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::escape_common;

use std::fs;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use escape_common::{Fixture, allow_fs_under, assert_denied, assert_refused, run_args, runner};
use rex_core::ErrorKind;

/// Kills and reaps a child at the end of a test.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper() -> Reap {
    Reap(Command::new("sleep").arg("60").spawn().unwrap())
}

fn alive(c: &mut Reap) -> bool {
    c.0.try_wait().unwrap().is_none()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

const KILL_ONLY_NOT_SLEEP: &str = r#"
permit(principal, action in [process_system::Action::"kill", process_system::Action::"interrupt"], resource)
    when { resource.name == "not-sleep" };
permit(principal, action == process_system::Action::"list", resource);
"#;

#[test]
fn killing_a_process_the_policy_does_not_grant_is_denied_and_it_survives() {
    let mut child = sleeper();
    let pid = child.0.id().to_string();
    let r = runner(KILL_ONLY_NOT_SLEEP);
    for script in [
        "kill(parse_int(pid))",
        "kill([kill::signal(9)], parse_int(pid))",
        "kill([kill::signal(1)], parse_int(pid))",
        "ProcessManager().kill(parse_int(pid))",
        "ProcessManager().kill(parse_int(pid), 9)",
    ] {
        let report = run_args(&r, script, &[("pid", &pid)]);
        assert_denied(&report);
        assert!(alive(&mut child), "{script} killed the process");
    }
    // the runner itself, init and the whole process group are refused too
    let me = std::process::id().to_string();
    for p in [
        me.as_str(),
        "1",
        "-1",
        "0",
        "-2",
        "4294967296",
        "9223372036854775807",
    ] {
        let report = run_args(&r, "kill([kill::signal(9)], parse_int(pid))", &[("pid", p)]);
        assert!(report.outcome.error.is_some(), "kill {p} succeeded");
        assert!(matches!(
            report.outcome.error.as_ref().unwrap().kind(),
            ErrorKind::AccessDenied | ErrorKind::Runtime
        ));
        assert!(alive(&mut child));
    }
}

/// The script learns a pid while it belongs to a permitted process; before it signals, the
/// pid's identity changes (the process execs a different, non-permitted program — for
/// authorization the same as the pid being reused). The kill must be judged on what the
/// pid is *now*, and denied.
#[test]
fn a_pid_that_changed_identity_after_lookup_cannot_be_killed() {
    let fx = Fixture::new();
    // a copy of sh named `rex_ident` (its comm), which execs `sleep` on request
    let sh = fx.inside.join("rex_ident");
    fs::copy("/bin/sh", &sh).unwrap();
    let mut child = Reap(
        Command::new(&sh)
            .args(["-c", "read line; exec sleep 60"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while comm(pid) != "rex_ident" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(comm(pid), "rex_ident");
    let gate = fx.inside.join("gate");
    let policy = format!(
        r#"{}
permit(principal, action in [process_system::Action::"list", process_system::Action::"kill"], resource)
    when {{ resource.name == "rex_ident" }};"#,
        allow_fs_under(&fx.inside)
    );
    let r = runner(&policy);
    let script = r#"
        let pid = ();
        for p in ps() { if p.name == "rex_ident" { pid = p.pid; } }
        if pid == () { throw "not listed"; }
        write(inside + "/listed", `${pid}`);
        // wait (bounded by the operation budget) until the test swaps the identity
        let n = 0;
        while !ls(inside).contains("gate") { n += 1; if n > 200000 { throw "no gate"; } }
        kill([kill::signal(9)], pid)
    "#;
    let inside = fx.inside.to_str().unwrap().to_string();
    let handle = std::thread::spawn(move || run_args(&r, script, &[("inside", &inside)]));
    // wait until the script has listed the pid, then exec into `sleep`
    let listed = fx.inside.join("listed");
    let deadline = Instant::now() + Duration::from_secs(20);
    // (`write` creates the file before it appends: wait for the content, not the name)
    while fs::read_to_string(&listed).unwrap_or_default().is_empty()
        && Instant::now() < deadline
        && !handle.is_finished()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fs::read_to_string(&listed).unwrap(), pid.to_string());
    child.0.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while comm(pid) != "sleep" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(comm(pid), "sleep");
    fs::write(&gate, "").unwrap();
    let report = handle.join().unwrap();
    assert_denied(&report);
    assert!(alive(&mut child), "the re-identified process was killed");
}

#[test]
fn shell_metacharacters_in_execute_arguments_stay_literal() {
    let fx = Fixture::new();
    let pwned = fx.outside.join("pwned");
    let p = pwned.to_str().unwrap();
    let policy = r#"
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/echo");
"#;
    let r = runner(policy);
    let hostile = [
        format!("; touch {p}"),
        format!("&& touch {p}"),
        format!("| touch {p}"),
        format!("$(touch {p})"),
        format!("`touch {p}`"),
        format!("\ntouch {p}"),
        format!("'; touch {p}; echo '"),
        format!("> {p}"),
        "$HOME ${PATH} * ? ~".to_string(),
    ];
    for arg in &hostile {
        let report = run_args(
            &r,
            r#"let d = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
               let f = d.open_file("echo", OpenFileOptions().read(true).build());
               let res = f.execute(ExecuteOptions().args([arg]).build());
               res.stdout"#,
            &[("arg", arg)],
        );
        assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
        // echo printed its argument verbatim: no shell interpreted it
        assert_eq!(report.outcome.output, format!("{arg}\n"));
        assert!(!pwned.exists(), "{arg:?} ran a shell command");
    }
    // a shell itself is not executable under this policy, whatever the arguments
    for bin in ["sh", "bash", "env", "touch"] {
        let report = run_args(
            &r,
            r#"let d = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
               let f = d.open_file(bin, OpenFileOptions().read(true).build());
               f.execute(ExecuteOptions().args(["-c", "touch " + p]).build())"#,
            &[("bin", bin), ("p", p)],
        );
        assert!(report.outcome.error.is_some(), "{bin} ran");
        // denied, or (a symlink such as /usr/bin/sh -> dash) refused by O_NOFOLLOW, or absent
        assert_refused(&report, &["IoError", "NotFound"]);
        assert!(!pwned.exists());
    }
}

/// Real pid reuse: the permitted process dies and the kernel hands its pid to a process the
/// policy does not grant (forced through `ns_last_pid`; skipped where that is not writable
/// or another process takes the pid first). The stale pid must not be killable.
#[test]
fn a_reused_pid_cannot_be_killed() {
    let fx = Fixture::new();
    let bin = fx.inside.join("rex_reuse");
    fs::copy("/bin/sleep", &bin).unwrap();
    let mut first = Reap(Command::new(&bin).arg("60").spawn().unwrap());
    let pid = first.0.id();
    let policy = format!(
        r#"{}
permit(principal, action in [process_system::Action::"list", process_system::Action::"kill"], resource)
    when {{ resource.name == "rex_reuse" }};"#,
        allow_fs_under(&fx.inside)
    );
    let r = runner(&policy);
    let script = r#"
        let pid = ();
        for p in ps() { if p.name == "rex_reuse" { pid = p.pid; } }
        if pid == () { throw "not listed"; }
        write(inside + "/listed", `${pid}`);
        let n = 0;
        while !ls(inside).contains("gate") { n += 1; if n > 200000 { throw "no gate"; } }
        kill([kill::signal(9)], pid)
    "#;
    let inside = fx.inside.to_str().unwrap().to_string();
    let handle = std::thread::spawn(move || run_args(&r, script, &[("inside", &inside)]));
    let listed = fx.inside.join("listed");
    let deadline = Instant::now() + Duration::from_secs(20);
    // (`write` creates the file before it appends: wait for the content, not the name)
    while fs::read_to_string(&listed).unwrap_or_default().is_empty()
        && Instant::now() < deadline
        && !handle.is_finished()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fs::read_to_string(&listed).unwrap(), pid.to_string());
    // the permitted process dies and is reaped; its pid is free
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let mut reused = None;
    for _ in 0..50 {
        if fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).is_err() {
            break;
        }
        let c = Reap(Command::new("sleep").arg("60").spawn().unwrap());
        if c.0.id() == pid {
            reused = Some(c);
            break;
        }
    }
    fs::write(fx.inside.join("gate"), "").unwrap();
    let report = handle.join().unwrap();
    let Some(mut second) = reused else {
        eprintln!("skipped: could not force pid reuse here");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while comm(pid) != "sleep" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_denied(&report);
    assert!(
        alive(&mut second),
        "the process that reused the pid was killed"
    );
}

/// Issue 19 (8): a grandchild that calls `setsid()` left the child's process group and
/// outlived the run. Through the real runner it is killed when the child exits.
#[test]
fn a_setsid_grandchild_does_not_outlive_the_execute() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let p = pidfile.to_str().unwrap();
    let policy = r#"
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/dash");
"#;
    let r = runner(policy);
    let script = format!(
        "/usr/bin/setsid -f /usr/bin/dash -c 'echo $$ > {p}.tmp && /usr/bin/mv {p}.tmp {p} && exec /usr/bin/sleep 1000' </dev/null >/dev/null 2>&1; \
         while [ ! -s {p} ]; do /usr/bin/sleep 0.05; done; echo started"
    );
    let report = run_args(
        &r,
        r#"let d = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
           let f = d.open_file("dash", OpenFileOptions().read(true).build());
           f.execute(ExecuteOptions().args(["-c", script]).build()).stdout"#,
        &[("script", script.as_str())],
    );
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert_eq!(report.outcome.output, "started\n");
    let pid: u32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..200 {
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = state
            .rfind(')')
            .and_then(|i| state.get(i + 2..i + 3))
            .is_some_and(|s| s != "Z");
        if !running {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    if !gone {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        gone,
        "the setsid grandchild {pid} ({}) outlived the run",
        comm(pid)
    );
}
