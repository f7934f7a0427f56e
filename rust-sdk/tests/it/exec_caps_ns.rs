//! `execute` with capabilities for the child and in another process's PID namespace: real
//! children, the sets they got read from their own `/proc/self/status`, allowed and denied.
//!
//! These need privileges (CAP_SETUID/SETGID, the capabilities granted, CAP_SYS_ADMIN for
//! `setns`); a test whose privilege is missing finds out by trying and skips with a reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rust_sdk::SdkContext;
use rust_sdk::exec::{ExecError, ExecErrorKind, ExecuteOptions, ExecuteResult};
use rust_sdk::fs::FileHandle;

const NET_BIND_SERVICE: u64 = 1 << 10;

/// Whether an error means "this environment lacks the privilege", as opposed to a bug.
fn lacks_privilege(e: &ExecError) -> bool {
    match e {
        ExecError::MissingCapabilities { .. } | ExecError::Namespace { .. } => true,
        ExecError::Io { source, .. } | ExecError::Spawn { source, .. } => {
            source.kind() == std::io::ErrorKind::PermissionDenied
        }
        _ => false,
    }
}

/// Runs `opts`; `None` (with the reason printed) when the environment lacks the privilege.
fn run_or_skip(
    c: &SdkContext,
    f: &FileHandle,
    opts: &ExecuteOptions,
    test: &str,
) -> Option<ExecuteResult> {
    match f.execute(c, opts) {
        Ok(r) => Some(r),
        Err(e) if lacks_privilege(&e) => {
            eprintln!("skipped {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// The child's own view: selected `/proc/self/status` lines as a map.
fn status_of(
    c: &SdkContext,
    f: &FileHandle,
    opts: ExecuteOptions,
    test: &str,
) -> Option<BTreeMap<String, String>> {
    let opts = opts
        .arg("-E")
        .arg("^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs|NSpid):")
        .arg("/proc/self/status");
    let r = run_or_skip(c, f, &opts, test)?;
    assert!(r.success(), "{test}: {}", r.stderr_text());
    Some(
        r.stdout_text()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
    )
}

fn hex(m: &BTreeMap<String, String>, k: &str) -> u64 {
    u64::from_str_radix(&m[k], 16).unwrap()
}

fn grep_ctx(when: &str) -> (SdkContext, FileHandle) {
    let c = ctx(&exec_policy("/usr/bin/grep", when));
    let f = open_read(&c, "/usr/bin/grep");
    (c, f)
}

#[test]
fn nobody_gets_exactly_the_requested_capability() {
    let (c, f) = grep_ctx(
        r#"when { context.user.username == "nobody" && context.capabilities == ["CAP_NET_BIND_SERVICE"] }"#,
    );
    // The lower-case spelling reaches the policy in the canonical form.
    for spelling in ["CAP_NET_BIND_SERVICE", "cap_net_bind_service"] {
        let opts = ExecuteOptions::new().user("nobody").capability(spelling);
        let Some(st) = status_of(&c, &f, opts, "nobody_gets_exactly_the_requested_capability")
        else {
            return;
        };
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(hex(&st, set), NET_BIND_SERVICE, "{set}: {st:?}");
        }
        assert_eq!(st["Uid"], "65534\t65534\t65534\t65534", "{st:?}");
        assert!(st["Groups"].is_empty(), "supplementary groups kept: {st:?}");
        assert_eq!(st["NoNewPrivs"], "1", "{st:?}");
    }
    // The credential change happened on a thread of this process, which the kernel then marks
    // non-dumpable unless `fs.suid_dumpable` is 1 (kept so: see the module documentation).
    if std::fs::read_to_string("/proc/sys/fs/suid_dumpable").is_ok_and(|v| v.trim() != "1") {
        assert_ne!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::Dumpable
        );
    }
}

#[test]
fn nobody_without_capabilities_has_none() {
    let (c, f) = grep_ctx("");
    let Some(st) = status_of(
        &c,
        &f,
        ExecuteOptions::new().user("nobody"),
        "nobody_without_capabilities_has_none",
    ) else {
        return;
    };
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(hex(&st, set), 0, "{set}: {st:?}");
    }
    assert_eq!(st["Uid"], "65534\t65534\t65534\t65534", "{st:?}");
}

#[test]
fn a_uid_0_child_is_kept_to_the_requested_set() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the runner is not uid 0");
        return;
    }
    let (c, f) = grep_ctx("");
    let opts = ExecuteOptions::new().capability("CAP_NET_BIND_SERVICE");
    let Some(st) = status_of(&c, &f, opts, "a_uid_0_child_is_kept_to_the_requested_set") else {
        return;
    };
    assert!(st["Uid"].starts_with("0\t"), "{st:?}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(hex(&st, set), NET_BIND_SERVICE, "{set}: {st:?}");
    }
}

#[test]
fn a_uid_0_child_has_noroot_locked() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the runner is not uid 0");
        return;
    }
    if !Path::new("/usr/sbin/capsh").exists() {
        eprintln!("skipped: /usr/sbin/capsh is not installed");
        return;
    }
    let c = ctx(&exec_policy("/usr/sbin/capsh", ""));
    let f = open_read(&c, "/usr/sbin/capsh");
    let opts = ExecuteOptions::new()
        .capability("CAP_NET_BIND_SERVICE")
        .arg("--print");
    let Some(r) = run_or_skip(&c, &f, &opts, "a_uid_0_child_has_noroot_locked") else {
        return;
    };
    let out = r.stdout_text();
    assert!(out.contains("secure-noroot: yes (locked)"), "{out}");
    // Without requested capabilities a uid-0 child is plain root, as before.
    let r = f
        .execute(&c, &ExecuteOptions::new().arg("--print"))
        .unwrap();
    assert!(
        r.stdout_text().contains("secure-noroot: no"),
        "{}",
        r.stdout_text()
    );
}

#[test]
fn a_capability_the_policy_forbids_is_refused_before_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let m = marker.to_str().unwrap();
    let c = ctx(&exec_policy(
        "/usr/bin/touch",
        r#"unless { context.capabilities.contains("CAP_SYS_ADMIN") }"#,
    ));
    let f = open_read(&c, "/usr/bin/touch");
    for spelling in ["CAP_SYS_ADMIN", "cap_sys_admin", "SYS_ADMIN"] {
        let opts = ExecuteOptions::new()
            .capability("CAP_NET_BIND_SERVICE")
            .capability(spelling)
            .arg(m);
        let err = f.execute(&c, &opts).unwrap_err();
        assert_eq!(
            err.kind(),
            ExecErrorKind::PermissionDenied,
            "{spelling}: {err}"
        );
        assert!(err.as_denied().is_some());
        assert!(!marker.exists(), "a child ran for {spelling}");
    }
    // The same policy lets another capability through, and the child really runs.
    let opts = ExecuteOptions::new()
        .capability("CAP_NET_BIND_SERVICE")
        .arg(m);
    if run_or_skip(&c, &f, &opts, "a_capability_the_policy_forbids").is_some() {
        assert!(marker.exists());
    }
}

#[test]
fn unknown_capability_is_refused_before_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy("/usr/bin/touch", ""));
    let f = open_read(&c, "/usr/bin/touch");
    for bad in ["CAP_FLY", "", "CAP_", "NET_BIND SERVICE"] {
        let opts = ExecuteOptions::new()
            .capability(bad)
            .arg(marker.to_str().unwrap());
        let err = f.execute(&c, &opts).unwrap_err();
        assert_eq!(
            err.kind(),
            ExecErrorKind::InvalidArguments,
            "{bad:?}: {err}"
        );
        assert!(err.to_string().contains("unknown capability"), "{err}");
        assert!(opts.validate().is_err());
    }
    assert!(!marker.exists());
}

#[test]
fn a_capability_the_runner_lacks_is_refused() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let prm = status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    // A capability the kernel names that this process does not hold.
    let names = [
        (24, "CAP_SYS_RESOURCE"),
        (21, "CAP_SYS_ADMIN"),
        (13, "CAP_NET_RAW"),
        (10, "CAP_NET_BIND_SERVICE"),
        (25, "CAP_SYS_TIME"),
    ];
    let Some((_, name)) = names.iter().find(|(bit, _)| prm & (1 << bit) == 0) else {
        eprintln!("skipped: this process holds every capability tried");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy("/usr/bin/touch", ""));
    let f = open_read(&c, "/usr/bin/touch");
    let err = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .capability(*name)
                .arg(marker.to_str().unwrap()),
        )
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::MissingCapabilities { missing, .. } if missing == &[name.to_string()]),
        "{err:?}"
    );
    assert_eq!(err.kind(), ExecErrorKind::UnsupportedOperationError);
    assert!(err.to_string().contains(name), "{err}");
    assert!(!marker.exists());
}

/// `unshare --pid --fork sleep 60`: the sleep is pid 1 of a new PID namespace. Killed on drop.
struct PidNamespace {
    unshare: Child,
    /// The sleep's pid in our namespace.
    inner: u32,
}

impl PidNamespace {
    fn start() -> Option<Self> {
        let mut unshare = match Command::new("unshare")
            .args(["--pid", "--fork", "sleep", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: cannot run unshare: {e}");
                return None;
            }
        };
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        for _ in 0..400 {
            if let Ok(Some(status)) = unshare.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                unshare
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                eprintln!("skipped: unshare --pid failed ({status}): {err}");
                return None;
            }
            let inner = std::fs::read_to_string(&children)
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()));
            // Wait until the forked child has become `sleep` (it is pid 1 inside).
            if let Some(inner) = inner
                && std::fs::read_to_string(format!("/proc/{inner}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            {
                return Some(PidNamespace { unshare, inner });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("unshare's child did not appear");
    }
}

impl Drop for PidNamespace {
    fn drop(&mut self) {
        // Killing the namespace's init kills everything in it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.inner as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn nspid(st: &BTreeMap<String, String>) -> Vec<u32> {
    st["NSpid"]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn the_child_runs_in_the_target_pid_namespace() {
    let Some(ns) = PidNamespace::start() else {
        return;
    };
    let (c, f) = grep_ctx(&format!(
        "when {{ context has namespace && context.namespace.target_process_id == {} }}",
        ns.inner
    ));
    let opts = ExecuteOptions::new().in_pid_namespace_of(ns.inner);
    let Some(st) = status_of(&c, &f, opts, "the_child_runs_in_the_target_pid_namespace") else {
        return;
    };
    // NSpid lists the pid in each namespace, outermost first: ours, then the target's.
    let pids = nspid(&st);
    assert_eq!(pids.len(), 2, "{st:?}");
    assert!(pids[1] > 1 && pids[1] < 100, "{pids:?}");
    assert_ne!(pids[0], pids[1]);
    // Without the namespace option the policy refuses.
    let err = f
        .execute(&c, &ExecuteOptions::new().arg("x").arg("/dev/null"))
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::PermissionDenied);

    // A shell sees its own small pid; the result reports the pid in our namespace.
    let c = ctx(&exec_policy("/usr/bin/dash", ""));
    let sh = open_read(&c, "/usr/bin/dash");
    let r = sh
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg("-c")
                .arg("echo $$")
                .in_pid_namespace_of(ns.inner),
        )
        .unwrap();
    let inner: u32 = r.stdout_text().trim().parse().unwrap();
    assert!(inner > 1 && inner < 100, "{inner}");
    assert_ne!(inner, r.pid);
}

#[test]
fn capabilities_and_user_inside_the_target_pid_namespace() {
    let Some(ns) = PidNamespace::start() else {
        return;
    };
    let (c, f) = grep_ctx("");
    let opts = ExecuteOptions::new()
        .user("nobody")
        .capability("CAP_NET_BIND_SERVICE")
        .in_pid_namespace_of(ns.inner);
    let Some(st) = status_of(
        &c,
        &f,
        opts,
        "capabilities_and_user_inside_the_target_pid_namespace",
    ) else {
        return;
    };
    assert_eq!(nspid(&st).len(), 2, "{st:?}");
    assert_eq!(hex(&st, "CapEff"), NET_BIND_SERVICE, "{st:?}");
    assert_eq!(hex(&st, "CapAmb"), NET_BIND_SERVICE, "{st:?}");
    assert!(st["Uid"].starts_with("65534\t"), "{st:?}");
}

#[test]
fn the_timeout_kills_a_child_in_the_target_pid_namespace() {
    let Some(ns) = PidNamespace::start() else {
        return;
    };
    let c = ctx(&exec_policy("/usr/bin/sleep", ""));
    let f = open_read(&c, "/usr/bin/sleep");
    let opts = ExecuteOptions::new()
        .arg("30")
        .timeout(Duration::from_millis(200))
        .in_pid_namespace_of(ns.inner);
    let Some(r) = run_or_skip(
        &c,
        &f,
        &opts,
        "the_timeout_kills_a_child_in_the_target_pid_namespace",
    ) else {
        return;
    };
    assert!(r.timed_out);
    assert_eq!(r.signal, Some(9));
    // The namespace's init was not touched.
    assert!(Path::new(&format!("/proc/{}", ns.inner)).exists());
}

#[test]
fn a_namespace_the_policy_forbids_is_refused_before_fork() {
    let Some(ns) = PidNamespace::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy(
        "/usr/bin/touch",
        "unless { context has namespace }",
    ));
    let f = open_read(&c, "/usr/bin/touch");
    let err = f
        .execute(
            &c,
            &ExecuteOptions::new()
                .arg(marker.to_str().unwrap())
                .in_pid_namespace_of(ns.inner),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::PermissionDenied, "{err}");
    assert!(err.as_denied().is_some());
    assert!(!marker.exists());
    // Allowed without the namespace: the marker appears (the test can fail).
    f.execute(&c, &ExecuteOptions::new().arg(marker.to_str().unwrap()))
        .unwrap();
    assert!(marker.exists());
}

#[test]
fn a_missing_target_process_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("m");
    let c = ctx(&exec_policy("/usr/bin/touch", ""));
    let f = open_read(&c, "/usr/bin/touch");
    // pid_max is one past the largest pid, so no process has it.
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let opts = ExecuteOptions::new()
        .arg(marker.to_str().unwrap())
        .in_pid_namespace_of(pid_max);
    let err = f.execute(&c, &opts).unwrap_err();
    assert!(matches!(err, ExecError::TargetProcess(_)), "{err:?}");
    assert_eq!(err.kind(), ExecErrorKind::NotFound);
    assert!(err.to_string().contains(&pid_max.to_string()), "{err}");
    // pid 0 is not a process: refused by validation.
    let err = f
        .execute(&c, &ExecuteOptions::new().arg("x").in_pid_namespace_of(0))
        .unwrap_err();
    assert_eq!(err.kind(), ExecErrorKind::InvalidArguments);
    assert!(!marker.exists());
}

#[test]
fn the_context_carries_canonical_capabilities_and_the_namespace() {
    let opts = ExecuteOptions::new()
        .capability("net_raw")
        .capability("CAP_NET_RAW")
        .capability("Cap_Chown")
        .in_pid_namespace_of(42);
    let ctx = rust_sdk::exec::execute_context(&opts).unwrap();
    assert_eq!(ctx.capabilities, ["CAP_NET_RAW", "CAP_CHOWN"]);
    assert_eq!(ctx.namespace_target_pid, Some(42));
}
