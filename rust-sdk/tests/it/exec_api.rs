//! Command execution: real children, allowed and denied, output caps, timeouts, identities.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;
#[path = "common/crash_core.rs"]
mod crash_core;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use rust_sdk::exec::{ExecError, ExecErrorKind, ExecuteOptions};
use rust_sdk::fs::{DirHandle, FileHandle, OpenDirOptions, OpenFileOptions};
use rust_sdk::{SdkContext, SdkLimits};

fn allow(bin: &str) -> SdkContext {
    ctx(&exec_policy(bin, ""))
}

/// Executes `f` with `opts`, which must be refused as a denial; the error is returned for
/// further checks.
fn refused(c: &SdkContext, f: &FileHandle, opts: &ExecuteOptions) -> ExecError {
    let err = f.execute(c, opts).unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::PermissionDenied);
    err
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Processes of the group that are not zombies (a killed grandchild stays a zombie until its
/// new parent reaps it, which is not ours to wait for).
fn live_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: split after the last ')'
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        if fields[0] != "Z" && fields[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

/// Whether a live process is left in the group. SIGKILL delivery is asynchronous, so a member
/// may take a moment to die: wait for that (bounded), the assertion is on the end state.
fn group_exists(pgid: u32) -> bool {
    for _ in 0..200 {
        if live_members(pgid).is_empty() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

#[test]
fn echo_runs_with_exact_argv() {
    let c = allow("/usr/bin/echo");
    let f = open_read(&c, "/usr/bin/echo");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("hello")
                .arg("$HOME")
                .arg_pair("-x", "a b"),
        )
        .unwrap();
    assert_eq!(r.stdout_text(), "hello $HOME -x a b\n");
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(r.signal, None);
    assert!(!r.stdout_truncated && !r.timed_out);
    assert!(r.stderr.is_empty());
}

#[test]
fn argv0_is_the_file_name_and_stdin_is_empty() {
    let c = allow("/usr/bin/cat");
    let f = open_read(&c, "/usr/bin/cat");
    let r = f
        .execute(&c, &ExecuteOptions::new().arg("/proc/self/cmdline"))
        .unwrap();
    assert_eq!(r.stdout, b"cat\0/proc/self/cmdline\0");
    // no argument: cat reads stdin, which is /dev/null, and ends at once
    let r = f.execute(&c, &ExecuteOptions::new()).unwrap();
    assert_eq!(r.exit_code, Some(0));
    assert!(r.stdout.is_empty());
}

#[test]
fn denied_without_execute_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let c = ctx(r#"permit(principal, action == file_system::Action::"open", resource);"#);
    let f = open_read(&c, "/usr/bin/touch");
    let err = refused(&c, &f, &ExecuteOptions::new().arg(marker.to_str().unwrap()));
    assert!(err.as_denied().is_some());
    assert!(!marker.exists());

    // the same call with execute allowed creates the marker
    let c = allow("/usr/bin/touch");
    let f = open_read(&c, "/usr/bin/touch");
    let r = f
        .execute(&c, &ExecuteOptions::new().arg(marker.to_str().unwrap()))
        .unwrap();
    assert_eq!(r.exit_code, Some(0));
    assert!(marker.exists());
}

#[test]
fn argument_not_allowed_is_refused_before_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed");
    let other = tmp.path().join("other");
    let c = ctx(&exec_policy(
        "/usr/bin/touch",
        &format!(
            r#"when {{ context.arguments.positional_values == ["{}"] && context.arguments.flags.isEmpty() }}"#,
            allowed.display()
        ),
    ));
    let f = open_read(&c, "/usr/bin/touch");
    refused(&c, &f, &ExecuteOptions::new().arg(other.to_str().unwrap()));
    assert!(!other.exists());
    // an extra flag is not allowed either
    refused(
        &c,
        &f,
        &ExecuteOptions::new()
            .arg("-c")
            .arg(allowed.to_str().unwrap()),
    );
    assert!(!allowed.exists());
    f.execute(&c, &ExecuteOptions::new().arg(allowed.to_str().unwrap()))
        .unwrap();
    assert!(allowed.exists());
}

#[test]
fn key_value_arguments_are_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy(
        "/usr/bin/touch",
        r#"when { context.arguments.hasTag("-d") && context.arguments.getTag("-d") == "2001-01-01" }"#,
    ));
    let f = open_read(&c, "/usr/bin/touch");
    let m = marker.to_str().unwrap();
    refused(
        &c,
        &f,
        &ExecuteOptions::new().arg_pair("-d", "2002-01-01").arg(m),
    );
    assert!(!marker.exists());
    f.execute(
        &c,
        &ExecuteOptions::new().arg_pair("-d", "2001-01-01").arg(m),
    )
    .unwrap();
    let mtime = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let year_2002 = std::time::UNIX_EPOCH + Duration::from_secs(1_009_843_200);
    assert!(mtime < year_2002);
}

#[test]
fn environment_is_exactly_the_given_one() {
    let c = allow("/usr/bin/env");
    let f = open_read(&c, "/usr/bin/env");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new().env("FOO", "bar baz").env("A", "1"),
        )
        .unwrap();
    assert_eq!(r.stdout_text(), "A=1\nFOO=bar baz\n");
    let r = f.execute(&c, &ExecuteOptions::new()).unwrap();
    assert_eq!(r.stdout_text(), "");
}

#[test]
fn environment_variable_not_allowed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let policy = format!(
        "{}\nforbid(principal, action == file_system::Action::\"execute\", resource) when {{ context.environment.hasTag(\"LD_PRELOAD\") }};",
        exec_policy("/usr/bin/touch", "")
    );
    let c = ctx(&policy);
    let f = open_read(&c, "/usr/bin/touch");
    let m = marker.to_str().unwrap();
    let err = refused(
        &c,
        &f,
        &ExecuteOptions::new().env("LD_PRELOAD", "/x.so").arg(m),
    );
    assert!(!err.as_denied().unwrap().reasons.is_empty());
    assert!(!marker.exists());
    f.execute(&c, &ExecuteOptions::new().env("LANG", "C").arg(m))
        .unwrap();
    assert!(marker.exists());
}

#[test]
fn large_output_is_capped_and_drained() {
    let c = allow("/usr/bin/head");
    let f = open_read(&c, "/usr/bin/head");
    let opts = ExecuteOptions::new()
        .arg("-c")
        .arg("10485760")
        .arg("/dev/zero")
        .max_output_bytes(1024 * 1024);
    let r = f.execute(&c, &opts).unwrap();
    assert_eq!(
        r.exit_code,
        Some(0),
        "head must finish: the pipe is drained"
    );
    assert_eq!(r.stdout.len(), 1024 * 1024);
    assert!(r.stdout_truncated);
    assert!(!r.stderr_truncated);
    assert!(!r.timed_out);

    // the context limit caps the option
    let c = allow("/usr/bin/head").with_limits(SdkLimits {
        max_output_bytes: 1000,
        ..SdkLimits::default()
    });
    let f = open_read(&c, "/usr/bin/head");
    let r = f.execute(&c, &opts).unwrap();
    assert_eq!(r.stdout.len(), 1000);
    assert!(r.stdout_truncated);

    // under the cap nothing is lost
    let c = allow("/usr/bin/head");
    let f = open_read(&c, "/usr/bin/head");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg("200000")
                .arg("/dev/zero"),
        )
        .unwrap();
    assert_eq!(r.stdout.len(), 200_000);
    assert!(!r.stdout_truncated);
}

#[test]
fn endless_output_is_killed_at_the_timeout() {
    let c = allow("/usr/bin/yes");
    let f = open_read(&c, "/usr/bin/yes");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .timeout(Duration::from_millis(500))
                .max_output_bytes(4096),
        )
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.signal, Some(9));
    assert_eq!(r.exit_code, None);
    assert_eq!(r.stdout.len(), 4096);
    assert!(r.stdout_truncated);
    assert!(!group_exists(r.pid));
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg("/usr/bin/sleep 1000 & /usr/bin/sleep 1000")
                .timeout(Duration::from_millis(300)),
        )
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.signal, Some(9));
    assert!(!group_exists(r.pid), "the background sleep was killed too");
}

#[test]
fn leftovers_are_killed_when_the_child_exits() {
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg("/usr/bin/sleep 1000 >/dev/null 2>&1 & echo started"),
        )
        .unwrap();
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(r.stdout_text(), "started\n");
    assert!(!r.timed_out);
    assert!(!group_exists(r.pid));
}

#[test]
fn exit_code_and_signal_are_distinct() {
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new().arg("-c").arg("echo oops >&2; exit 3"),
        )
        .unwrap();
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.signal, None);
    assert_eq!(r.stderr_text(), "oops\n");
    assert!(!r.success());
    let r = f
        .execute(&c, &ExecuteOptions::new().arg("-c").arg("kill -TERM $$"))
        .unwrap();
    assert_eq!(r.exit_code, None);
    assert_eq!(r.signal, Some(15));
    assert!(!r.timed_out);
}

#[test]
fn cancellation_kills_the_child() {
    let c = allow("/usr/bin/sleep");
    let f = open_read(&c, "/usr/bin/sleep");
    let flag = c.cancel_flag().clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        flag.store(true, Ordering::Relaxed);
    });
    let err = f
        .execute(&c, &ExecuteOptions::new().arg("1000"))
        .unwrap_err();
    setter.join().unwrap();
    assert_eq!(err.kind(), ExecErrorKind::Other);
    assert!(matches!(err, rust_sdk::exec::ExecError::Cancelled));
}

#[test]
fn writable_handle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("echo");
    std::fs::copy("/usr/bin/echo", &copy).unwrap();
    let marker = tmp.path().join("ran");
    let c = ctx(&format!(
        r#"permit(principal, action, resource in file_system::Dir::"{}");"#,
        tmp.path().display()
    ));
    let dir = DirHandle::open(&c, tmp.path().to_str().unwrap(), OpenDirOptions::default()).unwrap();
    let rw = dir
        .open_file(&c, "echo", OpenFileOptions::read_write())
        .unwrap();
    let err = rw
        .execute(&c, &ExecuteOptions::new().arg(marker.to_str().unwrap()))
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::ValidationError);
    drop(rw);
    // the same file opened read-only runs
    let ro = dir.open_file(&c, "echo", OpenFileOptions::read()).unwrap();
    let r = ro.execute(&c, &ExecuteOptions::new().arg("copy")).unwrap();
    assert_eq!(r.stdout_text(), "copy\n");
}

#[test]
fn the_opened_inode_runs_even_after_a_rename() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy("/usr/bin/echo", tmp.path().join("prog")).unwrap();
    let c = ctx(&format!(
        r#"permit(principal, action, resource in file_system::Dir::"{}");"#,
        tmp.path().display()
    ));
    let dir = DirHandle::open(&c, tmp.path().to_str().unwrap(), OpenDirOptions::default()).unwrap();
    let f = dir.open_file(&c, "prog", OpenFileOptions::read()).unwrap();
    // swap the name for another program after authorization
    std::fs::rename(tmp.path().join("prog"), tmp.path().join("old")).unwrap();
    std::fs::copy("/usr/bin/true", tmp.path().join("prog")).unwrap();
    let r = f
        .execute(&c, &ExecuteOptions::new().arg("still echo"))
        .unwrap();
    assert_eq!(r.stdout_text(), "still echo\n");
}

#[test]
fn special_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o700)).unwrap();
    let c = ctx(&format!(
        r#"permit(principal, action, resource in file_system::Dir::"{}");"#,
        tmp.path().display()
    ));
    let dir = DirHandle::open(&c, tmp.path().to_str().unwrap(), OpenDirOptions::default()).unwrap();
    let f = dir
        .open_file(
            &c,
            "fifo",
            OpenFileOptions {
                read: true,
                special_file: true,
                ..Default::default()
            },
        )
        .unwrap();
    let err = f.execute(&c, &ExecuteOptions::new()).unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::EntryTypeMismatchError);
}

#[test]
fn no_new_privs_is_set() {
    let c = allow("/usr/bin/grep");
    let f = open_read(&c, "/usr/bin/grep");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("NoNewPrivs")
                .arg("/proc/self/status"),
        )
        .unwrap();
    assert_eq!(r.stdout_text().trim(), "NoNewPrivs:\t1");
}

#[test]
fn runs_as_the_requested_user_and_group() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let c = ctx(&exec_policy(
        "/usr/bin/id",
        r#"when { context.user.username == "nobody" && context.user.uid == 65534 }"#,
    ));
    let f = open_read(&c, "/usr/bin/id");
    let r = f
        .execute(&c, &ExecuteOptions::new().user("nobody"))
        .unwrap();
    let out = r.stdout_text();
    assert!(out.starts_with("uid=65534(nobody) gid=65534("), "{out}");
    // supplementary groups were dropped
    assert!(!out.contains("groups=0"), "{out}");
    // the policy only allows nobody: the current user is refused
    refused(&c, &f, &ExecuteOptions::new());
    refused(&c, &f, &ExecuteOptions::new().user("root"));
}

#[test]
fn group_not_allowed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy(
        "/usr/bin/touch",
        r#"unless { context.group.gid == 0 }"#,
    ));
    let f = open_read(&c, "/usr/bin/touch");
    refused(
        &c,
        &f,
        &ExecuteOptions::new()
            .group("0")
            .arg(marker.to_str().unwrap()),
    );
    assert!(!marker.exists());
}

#[test]
fn unknown_identity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = allow("/usr/bin/touch");
    let f = open_read(&c, "/usr/bin/touch");
    let m = marker.to_str().unwrap();
    let err = f
        .execute(&c, &ExecuteOptions::new().user("no-such-user-rex").arg(m))
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::IdentityResolutionError);
    assert!(!marker.exists());
}

#[test]
fn invalid_arguments_are_refused() {
    let c = allow("/usr/bin/echo");
    let f = open_read(&c, "/usr/bin/echo");
    for opts in [
        ExecuteOptions::new().arg(""),
        ExecuteOptions::new().arg("a\0b"),
        ExecuteOptions::new().arg_pair("-k", ""),
        ExecuteOptions::new().env("", "x"),
        ExecuteOptions::new().env("A=B", "x"),
        ExecuteOptions::new().env("A", ""),
        ExecuteOptions::new().env("A", "x\0y"),
        ExecuteOptions::new().timeout(Duration::ZERO),
    ] {
        let err = f.execute(&c, &opts).unwrap_err();
        assert_eq!(err.kind(), ExecErrorKind::InvalidArguments, "{opts:?}");
    }
}

#[test]
fn execute_context_reports_the_request() {
    let opts = ExecuteOptions::new()
        .arg("-v")
        .arg_pair("--k", "v")
        .env("A", "1");
    let ctx = rust_sdk::exec::execute_context(&opts).unwrap();
    assert_eq!(ctx.arguments.len(), 2);
    assert_eq!(ctx.environment.get("A").map(String::as_str), Some("1"));
    assert_eq!(ctx.identity.uid, nix::unistd::geteuid().as_raw());
}

#[test]
fn sysctl_load_system_is_gated_twice() {
    use rust_sdk::sysctl;
    use rust_sdk::system::SysinfoErrorKind;
    // no sysctl::load: refused before anything is opened
    let c = ctx(r#"permit(principal, action in file_system::Action::"SafeIO", resource);"#);
    let err = sysctl::load_system(&c).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    assert_eq!(
        err.as_denied().unwrap().action,
        rex_auth::Action::SysctlLoad
    );
    // load and open allowed, execute not: the helper goes through the execute gate
    let c = ctx(
        r#"permit(principal, action == sysctl::Action::"load", resource);
permit(principal, action == file_system::Action::"open", resource);"#,
    );
    let err = sysctl::load_system(&c).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    let denied = err.as_denied().unwrap();
    assert_eq!(denied.action, rex_auth::Action::FsExecute);
    assert!(denied.resource.contains("/usr/sbin/sysctl"), "{denied}");
}

fn core_policy(dir: &Path, gdb_execute: bool) -> String {
    let mut p = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"{}");
permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");"#,
        dir.display()
    );
    if gdb_execute {
        p.push_str(
            r#"
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/gdb")
  when { context.arguments.flags.contains("-batch") && context.arguments.flags.contains("-nx") };"#,
        );
    }
    p
}

/// A temp dir with a crashed program and its core (see `crash_core::make_core`), and a context under
/// `core_policy(dir, gdb_execute)`. `None` (test skipped) when no core can be made here.
fn core_fixture(gdb_execute: bool) -> Option<(tempfile::TempDir, String, String, SdkContext)> {
    let tmp = tempfile::tempdir().unwrap();
    let Some((exe, core)) = crash_core::make_core(tmp.path()) else {
        eprintln!("skipped: cannot build a core file here");
        return None;
    };
    let c = ctx(&core_policy(tmp.path(), gdb_execute));
    Some((tmp, exe, core, c))
}

#[test]
fn core_dump_backtrace_and_variables() {
    use rust_sdk::exec::CoreDump;
    let Some((tmp, exe, core, c)) = core_fixture(true) else {
        return;
    };
    let dump = CoreDump::open(&c, &exe, &core).unwrap();
    let bt = dump.backtrace(&c).unwrap();
    assert!(bt.pid > 0);
    let t = &bt.threads[0];
    let names: Vec<&str> = t.frames.iter().map(|f| f.function_name.as_str()).collect();
    let crash = names.iter().position(|n| *n == "crash").unwrap();
    assert_eq!(&names[crash..], ["crash", "crash", "crash", "main"]);
    let innermost = &t.frames[crash];
    assert!(innermost.source.as_deref().unwrap().ends_with("t.c"));
    assert_eq!(innermost.line_number, Some(3));

    let vars = dump
        .get_variables(
            &c,
            Some(t.id),
            innermost.frame_number,
            &["local_value".into(), "counter".into(), "no_such_var".into()],
        )
        .unwrap();
    assert_eq!(vars["local_value"].as_deref(), Some("1"));
    assert_eq!(vars["counter"].as_deref(), Some("42"));
    assert_eq!(vars["no_such_var"], None);
    // the next frame out has depth 1
    let vars = dump
        .get_variables(
            &c,
            None,
            innermost.frame_number + 1,
            &["local_value".into()],
        )
        .unwrap();
    assert_eq!(vars["local_value"].as_deref(), Some("3"));

    // a frame that does not exist is an error, not frame 0's values
    let err = dump
        .get_variables(&c, None, 99, &["local_value".into()])
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::Other);

    // only C identifiers reach gdb
    let marker = tmp.path().join("shell-ran");
    for bad in [
        format!("$_shell(\"touch {}\")", marker.display()),
        "counter = 0".to_string(),
        "a.b".to_string(),
    ] {
        let err = dump.get_variables(&c, None, 0, &[bad]).unwrap_err();
        assert_eq!(err.kind(), ExecErrorKind::InvalidArguments);
    }
    assert!(!marker.exists());
}

#[test]
fn core_dump_is_gated() {
    use rust_sdk::exec::CoreDump;
    // gdb is not allowed to run: the helper goes through the execute gate
    let Some((_tmp, exe, core, c)) = core_fixture(false) else {
        return;
    };
    let dump = CoreDump::open(&c, &exe, &core).unwrap();
    let err = dump.backtrace(&c).unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::PermissionDenied);
    assert_eq!(err.as_denied().unwrap().action, rex_auth::Action::FsExecute);
    // no read on the core
    let c = ctx(&format!(
        r#"permit(principal, action == file_system::Action::"open", resource);
permit(principal, action == file_system::Action::"read", resource == file_system::File::"{exe}");"#
    ));
    let err = CoreDump::open(&c, &exe, &core).unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::PermissionDenied);
    let d = err.as_denied().unwrap();
    assert_eq!(d.action, rex_auth::Action::FsRead);
    assert!(d.resource.contains("core"));
}

#[test]
fn gdb_version_runs_through_the_gate() {
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/gdb")
  when { context.arguments.flags == ["--version"] };"#,
    );
    let gdb = rust_sdk::exec::open_helper(&c, rust_sdk::exec::GDB_BINARIES).unwrap();
    let r = gdb
        .execute(&c, &ExecuteOptions::new().arg("--version"))
        .unwrap();
    assert!(
        r.stdout_text().starts_with("GNU gdb"),
        "{}",
        r.stdout_text()
    );
    refused(&c, &gdb, &ExecuteOptions::new().arg("--help"));
}

#[test]
fn a_child_that_leaves_its_group_is_still_killed_at_the_timeout() {
    if !Path::new("/usr/bin/perl").exists() {
        eprintln!("skipped: needs perl to call setpgid");
        return;
    }
    let c = allow("/usr/bin/perl");
    let f = open_read(&c, "/usr/bin/perl");
    // move into the test runner's own process group, then wait forever
    let runner_pgid = nix::unistd::getpgrp().as_raw().to_string();
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-e")
                .arg("setpgrp(0, $ARGV[0]) or exit 9; sleep 1000")
                .arg(runner_pgid.as_str())
                .timeout(Duration::from_millis(300)),
        )
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.signal, Some(9));
}

/// Whether `pid` is a live process (not a zombie), waiting (bounded) for a killed one to go.
fn still_running(pid: i32) -> bool {
    for _ in 0..200 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rfind(')').map(|i| s[i + 2..].chars().next()));
        if !matches!(state, Some(Some(c)) if c != 'Z') {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

/// Kills `pid` if a failed assertion left it running.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = rustix::process::Pid::from_raw(self.0) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
}

/// A dash script that starts `setsid sleep 1000` (a new session: outside the child's process
/// group), waits until that grandchild has written its pid to `pidfile`, then runs `then`.
fn setsid_script(pidfile: &Path, then: &str) -> String {
    let p = pidfile.display();
    format!(
        "/usr/bin/setsid -f /usr/bin/dash -c 'echo $$ > {p}.tmp && /usr/bin/mv {p}.tmp {p} && exec /usr/bin/sleep 1000' </dev/null >/dev/null 2>&1; \
         while [ ! -s {p} ]; do /usr/bin/sleep 0.05; done; {then}"
    )
}

fn read_pid(pidfile: &Path) -> KillOnDrop {
    KillOnDrop(
        std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    )
}

/// Issue 19 (8): only the child's process group was killed, so a grandchild that called
/// `setsid()` outlived the run. The runner is now the subreaper of its children's orphans
/// and kills them when the child exits.
#[test]
fn a_setsid_grandchild_is_killed_when_the_child_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg(setsid_script(&pidfile, "echo parent-done").as_str()),
        )
        .unwrap();
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr_text());
    assert_eq!(r.stdout_text(), "parent-done\n");
    let g = read_pid(&pidfile);
    assert!(
        !still_running(g.0),
        "the setsid grandchild {} was killed",
        g.0
    );
}

/// Issue 19 (8): the same at the timeout, while the child still runs.
#[test]
fn a_setsid_grandchild_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg(setsid_script(&pidfile, "/usr/bin/sleep 1000").as_str())
                .timeout(Duration::from_secs(3)),
        )
        .unwrap();
    assert!(r.timed_out);
    let g = read_pid(&pidfile);
    assert!(
        !still_running(g.0),
        "the setsid grandchild {} was killed",
        g.0
    );
}

/// Issue 19 (8): a descriptor the runner holds without close-on-exec is not inherited.
#[test]
fn runner_descriptors_without_cloexec_are_not_inherited() {
    use rustix::fs::{Mode, OFlags};
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("runner-secret");
    std::fs::write(&secret, "x").unwrap();
    let fd = rustix::fs::open(&secret, OFlags::RDONLY, Mode::empty()).unwrap();
    let flags = rustix::io::fcntl_getfd(&fd).unwrap();
    assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
    let n = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let c = allow("/usr/bin/dash");
    let f = open_read(&c, "/usr/bin/dash");
    let r = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg(format!("/usr/bin/readlink /proc/self/fd/{n}; echo checked").as_str()),
        )
        .unwrap();
    let out = r.stdout_text();
    assert!(out.ends_with("checked\n"), "{out}");
    assert!(
        !out.contains("runner-secret"),
        "fd {n} was inherited: {out}"
    );
    drop(fd);
}
