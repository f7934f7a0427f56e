//! ipcs, CPU monitoring, nsenter and trace against real processes and IPC objects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::user_ctx as ctx;
use rust_sdk::process::{
    MonitorProcessesCpuOptions, NamespaceOptions, NamespaceTarget, ProcessError, ProcessErrorKind,
    ProcessManager,
};
use rust_sdk::trace::TraceOptions;

struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &str, args: &[&str]) -> Option<Kid> {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .map(Kid)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// ---------------------------------------------------------------------------------------------
// ipcs

const IPCS_POLICY: &str = r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc/sysvipc");
    permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/sysvipc");"#;

/// Creates a shared memory segment with `ipcmk`; returns its id (removed on drop).
struct Shm(u64);

impl Shm {
    fn create() -> Option<Shm> {
        let out = Command::new("ipcmk").args(["-M", "4096"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.split(':').nth(1)?.trim().parse().ok()?;
        Some(Shm(id))
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = Command::new("ipcrm")
            .args(["-m", &self.0.to_string()])
            .status();
    }
}

#[test]
fn ipcs_allowed_sees_a_new_segment() {
    let Some(shm) = Shm::create() else {
        eprintln!("ipcmk unavailable: skipped");
        return;
    };
    let c = ctx(IPCS_POLICY);
    let info = ProcessManager::new().ipcs_info(&c).unwrap();
    let seg = info
        .shared_memory
        .iter()
        .find(|s| s.shmid == shm.0)
        .expect("segment listed");
    assert_eq!(seg.bytes, 4096);
    assert_eq!(seg.uid, rustix::process::geteuid().as_raw());
    assert_eq!(seg.perms, "644");
    assert!(seg.key.starts_with("0x"));
    assert!(info.to_string().contains(&shm.0.to_string()));
}

#[test]
fn ipcs_denied_for_any_missing_file() {
    // open on the directory only
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc/sysvipc");"#,
    );
    let e = ProcessManager::new().ipcs_info(&c).unwrap_err();
    assert!(matches!(e, ProcessError::Denied(_)), "{e:?}");
    // everything but `read` of msg
    let c = ctx(&format!(
        r#"{IPCS_POLICY}
        forbid(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/sysvipc/msg");"#
    ));
    assert_eq!(
        ProcessManager::new().ipcs_info(&c).unwrap_err().kind(),
        ProcessErrorKind::PermissionDenied
    );
}

// ---------------------------------------------------------------------------------------------
// monitor_processes_cpu

#[test]
fn monitor_allowed_returns_batches_of_the_child() {
    let kid = spawn("sleep", &["30"]).unwrap();
    let pid = kid.0.id();
    let c = ctx(r#"permit(principal, action == process_system::Action::"list", resource);"#);
    let opts = MonitorProcessesCpuOptions {
        pids_to_monitor: vec![pid, std::process::id()],
        batches: 3,
        delay: Duration::from_millis(10),
        include_threads: false,
    };
    let batches = ProcessManager::new()
        .monitor_processes_cpu(&c, &opts)
        .unwrap();
    assert_eq!(batches.len(), 3);
    for b in &batches {
        let p = b.iter().find(|p| p.pid == pid).expect("child in batch");
        assert_eq!(p.name, "sleep");
        assert!(p.recent_cpu_usage >= 0.0);
        assert!(b.iter().any(|p| p.pid == std::process::id()));
        assert_eq!(b.len(), 2);
    }
    // threads: this test process has several (the harness, this thread)
    let opts = MonitorProcessesCpuOptions {
        pids_to_monitor: vec![std::process::id()],
        batches: 1,
        delay: Duration::ZERO,
        include_threads: true,
    };
    let b = ProcessManager::new()
        .monitor_processes_cpu(&c, &opts)
        .unwrap();
    let me = std::process::id();
    let tids: Vec<u32> = std::fs::read_dir(format!("/proc/{me}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    assert!(tids.len() > 1);
    let threads: Vec<_> = b[0].iter().filter(|p| p.pid != me).collect();
    assert!(!threads.is_empty());
    assert!(
        threads
            .iter()
            .all(|t| t.ppid == me && tids.contains(&t.pid))
    );
}

#[test]
fn monitor_denied_and_invalid() {
    let kid = spawn("sleep", &["31"]).unwrap();
    let pid = kid.0.id();
    // list allowed only for processes named `other`
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"list", resource) when { resource.name == "other" };"#,
    );
    let opts = MonitorProcessesCpuOptions {
        pids_to_monitor: vec![pid],
        batches: 2,
        delay: Duration::ZERO,
        include_threads: true,
    };
    let batches = ProcessManager::new()
        .monitor_processes_cpu(&c, &opts)
        .unwrap();
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.is_empty()));
    for bad in [
        MonitorProcessesCpuOptions {
            batches: 0,
            ..opts.clone()
        },
        MonitorProcessesCpuOptions {
            delay: Duration::from_secs(7200),
            ..opts.clone()
        },
        MonitorProcessesCpuOptions {
            pids_to_monitor: vec![0],
            ..opts.clone()
        },
    ] {
        assert_eq!(
            ProcessManager::new()
                .monitor_processes_cpu(&c, &bad)
                .unwrap_err()
                .kind(),
            ProcessErrorKind::ValidationError
        );
    }
}

#[test]
fn monitor_stops_when_cancelled() {
    let c = ctx(r#"permit(principal, action == process_system::Action::"list", resource);"#);
    c.cancel_flag().store(true, Ordering::Relaxed);
    let opts = MonitorProcessesCpuOptions {
        pids_to_monitor: vec![std::process::id()],
        batches: 1000,
        delay: Duration::from_secs(3600),
        include_threads: false,
    };
    let batches = ProcessManager::new()
        .monitor_processes_cpu(&c, &opts)
        .unwrap();
    assert!(batches.is_empty());
}

// ---------------------------------------------------------------------------------------------
// nsenter

fn ns_inode(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A `sleep` in fresh namespaces (`unshare -n`/`-m`); `None` without privilege.
fn in_new_ns(flag: &str, kind: &str) -> Option<Kid> {
    if !is_root() {
        return None;
    }
    let kid = spawn("unshare", &[flag, "sleep", "30"])?;
    let pid = kid.0.id().to_string();
    // unshare execs sleep once the namespace exists; wait (bounded) until it did
    for _ in 0..500 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            assert_ne!(ns_inode(&pid, kind), ns_inode("self", kind));
            return Some(kid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn nsenter_network_namespace_allowed() {
    let Some(kid) = in_new_ns("-n", "net") else {
        eprintln!("cannot create a network namespace: skipped");
        return;
    };
    let pid = kid.0.id();
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"network_namespace", resource) when { resource.name == "sleep" };"#,
    );
    let mine = ns_inode("thread-self", "net");
    let inside = ProcessManager::new()
        .nsenter(
            &c,
            &NamespaceOptions {
                mount: false,
                net: true,
                target: NamespaceTarget::Pid(pid),
            },
            || ns_inode("thread-self", "net"),
        )
        .unwrap();
    assert_eq!(inside, ns_inode(&pid.to_string(), "net"));
    assert_ne!(inside, mine);
    // the calling thread never moved
    assert_eq!(ns_inode("thread-self", "net"), mine);
}

#[test]
fn nsenter_mount_namespace_allowed() {
    let Some(kid) = in_new_ns("-m", "mnt") else {
        eprintln!("cannot create a mount namespace: skipped");
        return;
    };
    let pid = kid.0.id();
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"mount_namespace", resource) when { resource.name == "sleep" };"#,
    );
    let mine = ns_inode("thread-self", "mnt");
    let inside = ProcessManager::new()
        .nsenter(
            &c,
            &NamespaceOptions {
                mount: true,
                net: false,
                target: NamespaceTarget::Pid(pid),
            },
            || ns_inode("thread-self", "mnt"),
        )
        .unwrap();
    assert_eq!(inside, ns_inode(&pid.to_string(), "mnt"));
    assert_eq!(ns_inode("thread-self", "mnt"), mine);
}

#[test]
fn nsenter_denied_never_runs_the_callback() {
    let kid = spawn("sleep", &["32"]).unwrap();
    let pid = kid.0.id();
    // network allowed, mount not: asking for both is denied
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"network_namespace", resource);"#,
    );
    let ran = AtomicBool::new(false);
    let e = ProcessManager::new()
        .nsenter(
            &c,
            &NamespaceOptions {
                mount: true,
                net: true,
                target: NamespaceTarget::Pid(pid),
            },
            || ran.store(true, Ordering::SeqCst),
        )
        .unwrap_err();
    assert!(matches!(e, ProcessError::Denied(_)), "{e:?}");
    assert!(!ran.load(Ordering::SeqCst));
    // by name: needs file_system::network_namespace on /run/netns/<name>
    let e = ProcessManager::new()
        .nsenter(
            &c,
            &NamespaceOptions {
                mount: false,
                net: true,
                target: NamespaceTarget::NetNsName("rex-none".into()),
            },
            || ran.store(true, Ordering::SeqCst),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ProcessErrorKind::PermissionDenied);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        ProcessManager::new()
            .check_nsenter(
                &c,
                &NamespaceOptions {
                    mount: true,
                    net: false,
                    target: NamespaceTarget::Pid(pid),
                }
            )
            .unwrap_err()
            .kind(),
        ProcessErrorKind::PermissionDenied
    );
}

#[test]
fn nsenter_validation() {
    let c = ctx(r#"permit(principal, action, resource);"#);
    let run = |o: NamespaceOptions| {
        ProcessManager::new()
            .nsenter(&c, &o, || ())
            .unwrap_err()
            .kind()
    };
    let me = std::process::id();
    for (o, kind) in [
        (
            NamespaceOptions {
                mount: false,
                net: false,
                target: NamespaceTarget::Pid(me),
            },
            ProcessErrorKind::ValidationError,
        ),
        (
            NamespaceOptions {
                mount: true,
                net: true,
                target: NamespaceTarget::NetNsName("blue".into()),
            },
            ProcessErrorKind::ValidationError,
        ),
        (
            NamespaceOptions {
                mount: false,
                net: true,
                target: NamespaceTarget::NetNsName("../etc".into()),
            },
            ProcessErrorKind::ValidationError,
        ),
        (
            NamespaceOptions {
                mount: false,
                net: true,
                target: NamespaceTarget::NetNsName("rex-missing-ns".into()),
            },
            ProcessErrorKind::NamespaceOperationError,
        ),
    ] {
        assert_eq!(run(o), kind);
    }
}

#[test]
fn nsenter_named_network_namespace_allowed() {
    if !is_root() {
        return;
    }
    let name = format!("rex-test-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("ip netns add failed: skipped");
        return;
    }
    let c = ctx(&format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"network_namespace"], resource == file_system::File::"/run/netns/{name}");"#
    ));
    let mine = ns_inode("thread-self", "net");
    let inside = ProcessManager::new().nsenter(
        &c,
        &NamespaceOptions {
            mount: false,
            net: true,
            target: NamespaceTarget::NetNsName(name.clone()),
        },
        || ns_inode("thread-self", "net"),
    );
    let _ = Command::new("ip").args(["netns", "delete", &name]).status();
    let inside = inside.unwrap();
    assert_ne!(inside, mine);
    assert_eq!(ns_inode("thread-self", "net"), mine);
}

// ---------------------------------------------------------------------------------------------
// trace

const TRACE_POLICY: &str = r#"permit(principal, action == process_system::Action::"trace", resource) when { resource.name == "sleep" };
    permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/usr/bin");
    permit(principal, action == file_system::Action::"open", resource == file_system::File::"/usr/bin/gdb");
    permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/gdb");"#;

#[test]
fn trace_allowed_returns_the_stack() {
    if !std::path::Path::new("/usr/bin/gdb").exists() || !is_root() {
        eprintln!("gdb or ptrace privilege unavailable: skipped");
        return;
    }
    let mut kid = spawn("sleep", &["30"]).unwrap();
    let pid = kid.0.id();
    let t = ProcessManager::new()
        .trace(&ctx(TRACE_POLICY), pid, &TraceOptions::default())
        .unwrap();
    assert_eq!(t.pid, pid);
    assert_eq!(t.threads.len(), 1);
    assert_eq!(t.threads[0].tid, pid);
    assert!(!t.threads[0].frames.is_empty());
    assert!(
        t.threads[0]
            .frames
            .iter()
            .any(|f| f.function.contains("sleep")),
        "{t:?}"
    );
    // the debugger detached: the process still runs
    assert!(kid.0.try_wait().unwrap().is_none());
}

#[test]
fn trace_runs_gdb_like_core_dumps_do() {
    // The same execute rule as for core dumps (batch mode, no init files, no auto-loading)
    // allows the trace: both go through one gdb runner with one fixed preamble.
    if !std::path::Path::new("/usr/bin/gdb").exists() || !is_root() {
        eprintln!("gdb or ptrace privilege unavailable: skipped");
        return;
    }
    let mut kid = spawn("sleep", &["31"]).unwrap();
    let pid = kid.0.id();
    let pol = |cond: &str| {
        format!(
            r#"permit(principal, action == process_system::Action::"trace", resource) when {{ resource.name == "sleep" }};
    permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/usr/bin");
    permit(principal, action == file_system::Action::"open", resource == file_system::File::"/usr/bin/gdb");
    permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/gdb")
      when {{ {cond} }};"#
        )
    };
    let c = ctx(&pol(
        r#"context.arguments.flags.contains("-batch") && context.arguments.flags.contains("-nx")"#,
    ));
    let t = ProcessManager::new()
        .trace(&c, pid, &TraceOptions::default())
        .unwrap();
    assert_eq!(t.threads[0].tid, pid);
    assert!(t.threads[0].frames.iter().all(|f| !f.function.is_empty()));
    // gdb without the batch flags would be refused: nothing attaches.
    let c = ctx(&pol(r#"context.arguments.flags == ["--batch"]"#));
    let e = ProcessManager::new()
        .trace(&c, pid, &TraceOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ProcessErrorKind::PermissionDenied, "{e:?}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("TracerPid:\t0"), "{status}");
    assert!(kid.0.try_wait().unwrap().is_none());
}

#[test]
fn trace_denied_runs_no_debugger() {
    let mut kid = spawn("sleep", &["33"]).unwrap();
    let pid = kid.0.id();
    // trace denied (only other names)
    let c = ctx(&TRACE_POLICY.replace("\"sleep\"", "\"other\""));
    let e = ProcessManager::new()
        .trace(&c, pid, &TraceOptions::default())
        .unwrap_err();
    assert!(matches!(e, ProcessError::Denied(_)), "{e:?}");
    // trace allowed but execute of the debugger denied
    let c = ctx(&format!(
        r#"{TRACE_POLICY}
        forbid(principal, action == file_system::Action::"execute", resource);"#
    ));
    assert_eq!(
        ProcessManager::new()
            .trace(&c, pid, &TraceOptions::default())
            .unwrap_err()
            .kind(),
        ProcessErrorKind::PermissionDenied
    );
    // nothing ever attached: the process is not traced
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("TracerPid:\t0"), "{status}");
    assert!(kid.0.try_wait().unwrap().is_none());
    // ns_pid needs mount_namespace, and is then unsupported
    let opts = TraceOptions { ns_pid: Some(pid) };
    assert_eq!(
        ProcessManager::new()
            .trace(&ctx(TRACE_POLICY), pid, &opts)
            .unwrap_err()
            .kind(),
        ProcessErrorKind::PermissionDenied
    );
    let c = ctx(&format!(
        r#"{TRACE_POLICY}
        permit(principal, action == process_system::Action::"mount_namespace", resource);"#
    ));
    let e = ProcessManager::new().trace(&c, pid, &opts).unwrap_err();
    assert!(matches!(e, ProcessError::Unsupported(_)), "{e:?}");
}

#[test]
fn monitor_entry_limit_spans_all_batches() {
    let c = ctx(r#"permit(principal, action == process_system::Action::"list", resource);"#)
        .with_limits(rust_sdk::SdkLimits {
            max_entries: 3,
            ..Default::default()
        });
    let me = std::process::id();
    let opts = MonitorProcessesCpuOptions {
        pids_to_monitor: vec![me, me],
        batches: 10,
        delay: Duration::ZERO,
        include_threads: false,
    };
    let batches = ProcessManager::new()
        .monitor_processes_cpu(&c, &opts)
        .unwrap();
    // 2 entries per batch: the second batch reaches the limit, no third one is taken
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.len() == 2));
}
