//! Process (lsof, ipcs, CPU monitoring, trace, nsenter), disk `unmount` and system
//! `kernel_stats`/`slab_info` from real scripts, allowed and denied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests start real child processes, mounts and IPC objects to observe effects on the host.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Kid, assert_denied, caught, engine, ok, run};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

// ---------------------------------------------------------------------------------------------
// lsof

#[test]
fn list_open_files_allowed_and_denied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.txt");
    let _held = std::fs::File::create(&path).unwrap();
    let path = path.to_str().unwrap();
    let me = std::process::id();
    let script = format!(
        r#"let o = LsofOptions().path("{path}").pid({me}).build();
           let files = ProcessManager().list_open_files(o);
           [files.len(), files[0].file_path, files[0].pid, files[0].file_type]"#
    );
    // `open`+`read` on /proc (REX's checks), plus `open` on the path's parent and `stat` on
    // the path (Rex authorizes the script's path before touching it).
    let proc_open = &format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::Dir::"/proc");
        permit(principal, action in [file_system::Action::"open", file_system::Action::"stat"], resource in file_system::Dir::"{}");"#,
        dir.path().display()
    );
    let e = engine(&format!(
        r#"{proc_open}
        permit(principal, action == process_system::Action::"list_fds", resource);"#
    ));
    assert_eq!(ok(&e, &script), format!(r#"[1, "{path}", {me}, "REG"]"#));
    // list_fds denied: the process is left out
    let e = engine(proc_open);
    assert_eq!(
        ok(
            &e,
            &format!(
                r#"ProcessManager().list_open_files(LsofOptions().path("{path}").pid({me}).build()).len()"#
            )
        ),
        "0"
    );
    // /proc itself denied
    let e = engine("");
    assert_denied(&run(&e, &script));
}

// ---------------------------------------------------------------------------------------------
// ipcs

struct Shm(u64);

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = Command::new("ipcrm")
            .args(["-m", &self.0.to_string()])
            .status();
    }
}

fn shm() -> Option<Shm> {
    let out = Command::new("ipcmk").args(["-M", "8192"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(Shm(text.split(':').nth(1)?.trim().parse().ok()?))
}

const IPCS: &str = r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc/sysvipc");
    permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/sysvipc");"#;

#[test]
fn ipcs_info_allowed() {
    let Some(seg) = shm() else {
        eprintln!("ipcmk unavailable: skipped");
        return;
    };
    let e = engine(IPCS);
    let out = ok(
        &e,
        &format!(
            r#"let i = ProcessManager().ipcs_info();
               let s = i.shared_memory.filter(|s| s.shmid == {});
               [s.len(), s[0].bytes, i.to_string().contains("Shared Memory"), type_of(i.semaphores)]"#,
            seg.0
        ),
    );
    assert_eq!(out, r#"[1, 8192, true, "array"]"#);
}

#[test]
fn ipcs_info_denied() {
    let e = engine(
        r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc/sysvipc");"#,
    );
    assert_denied(&run(&e, "ProcessManager().ipcs_info()"));
    assert_eq!(
        ok(&e, &caught("ProcessManager().ipcs_info()")),
        "ProcessErrorKind/PermissionDenied"
    );
}

// ---------------------------------------------------------------------------------------------
// monitor_processes_cpu

#[test]
fn monitor_processes_cpu_allowed() {
    let kid = Kid::sleep("30");
    let pid = kid.0.id();
    let e = engine(r#"permit(principal, action == process_system::Action::"list", resource);"#);
    let out = ok(
        &e,
        &format!(
            r#"let o = MonitorProcessesCpuOptions().pids_to_monitor([{pid}]).batches(2)
                   .delay_in_seconds(0).include_threads(false).build();
               let b = ProcessManager().monitor_processes_cpu(o);
               [b.len(), b[0].len(), b[0][0].pid, b[1][0].name, b[1][0].recent_cpu_usage >= 0.0]"#
        ),
    );
    assert_eq!(out, format!(r#"[2, 1, {pid}, "sleep", true]"#));
}

#[test]
fn monitor_processes_cpu_denied_and_invalid() {
    let kid = Kid::sleep("31");
    let pid = kid.0.id();
    let e = engine("");
    assert_eq!(
        ok(
            &e,
            &format!(
                r#"let o = MonitorProcessesCpuOptions().pids_to_monitor([{pid}]).batches(2).delay_in_seconds(0).build();
                   ProcessManager().monitor_processes_cpu(o)"#
            )
        ),
        "[[], []]"
    );
    assert_eq!(
        ok(
            &e,
            &caught("MonitorProcessesCpuOptions().batches(0).build()")
        ),
        "ProcessErrorKind/ValidationError"
    );
    assert_eq!(
        ok(&e, &caught("MonitorProcessesCpuOptions().batches(-1)")),
        "ProcessErrorKind/ValidationError"
    );
}

// ---------------------------------------------------------------------------------------------
// trace

const TRACE: &str = r#"permit(principal, action == process_system::Action::"trace", resource) when { resource.name == "sleep" };
    permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/usr/bin");
    permit(principal, action in [file_system::Action::"open", file_system::Action::"execute"], resource == file_system::File::"/usr/bin/gdb");"#;

fn tracer_pid(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("TracerPid:"))
        .unwrap()
        .to_string()
}

#[test]
fn trace_allowed() {
    if !is_root() || !std::path::Path::new("/usr/bin/gdb").exists() {
        eprintln!("gdb or ptrace privilege unavailable: skipped");
        return;
    }
    let mut kid = Kid::sleep("30");
    let pid = kid.0.id();
    let e = engine(TRACE);
    let out = ok(
        &e,
        &format!(
            r#"let t = ProcessManager().trace({pid});
               [t.pid, t.threads.len(), t.threads[0].tid, t.threads[0].frames.len() > 0,
                t.threads[0].frames.some(|f| f.function.contains("sleep"))]"#
        ),
    );
    assert_eq!(out, format!("[{pid}, 1, {pid}, true, true]"));
    assert!(kid.alive());
}

#[test]
fn trace_denied() {
    let mut kid = Kid::sleep("32");
    let pid = kid.0.id();
    let e = engine(&TRACE.replace("\"sleep\"", "\"other\""));
    assert_denied(&run(&e, &format!("ProcessManager().trace({pid})")));
    // ns_pid needs mount_namespace too
    let e = engine(TRACE);
    assert_eq!(
        ok(
            &e,
            &caught(&format!(
                "ProcessManager().trace({pid}, TraceOptions().ns_pid({pid}).build())"
            ))
        ),
        "ProcessErrorKind/PermissionDenied"
    );
    assert_eq!(tracer_pid(pid), "TracerPid:\t0");
    assert!(kid.alive());
}

// ---------------------------------------------------------------------------------------------
// nsenter

#[test]
fn nsenter_checks_then_refuses_and_never_runs_the_callback() {
    let mut target = Kid::sleep("33");
    let mut victim = Kid::sleep("34");
    let (tpid, vpid) = (target.0.id(), victim.0.id());
    let script = format!(
        r#"let o = NamespaceOptions().net(true).pid({tpid}).build();
           ProcessManager().nsenter(o, || kill({vpid}))"#
    );
    let kill_ok = r#"permit(principal, action == process_system::Action::"kill", resource);"#;
    // allowed: checked, then refused as unsupported; the callback never ran
    let e = engine(&format!(
        r#"{kill_ok}
        permit(principal, action == process_system::Action::"network_namespace", resource);"#
    ));
    assert_eq!(
        ok(&e, &caught(&script)),
        "ProcessErrorKind/NamespaceOperationError"
    );
    // denied: a typed denial
    let e = engine(kill_ok);
    assert_denied(&run(&e, &script));
    std::thread::sleep(Duration::from_millis(50));
    assert!(victim.alive());
    assert!(target.alive());
    // builder validation
    assert_eq!(
        ok(&e, &caught("NamespaceOptions().pid(1).build()")),
        "ProcessErrorKind/ValidationError"
    );
    assert_eq!(
        ok(
            &e,
            &caught(r#"NamespaceOptions().net(true).pid(1).net_ns_name("x").build()"#)
        ),
        "ProcessErrorKind/ValidationError"
    );
}

// ---------------------------------------------------------------------------------------------
// unmount

fn is_mount_point(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path))
}

fn tmpfs() -> Option<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "rex-rhai-test", &path])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some((dir, path))
}

#[test]
fn unmount_allowed() {
    let policy = |p: &str| {
        format!(
            r#"permit(principal, action == file_system::Action::"unmount", resource == file_system::Dir::"{p}");"#
        )
    };
    let Some((_dir, path)) = tmpfs() else {
        // no privilege: the check passes and the kernel refuses
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        let e = engine(&policy(p));
        assert_eq!(
            ok(
                &e,
                &caught(&format!(r#"unmount(UnmountOptions().path("{p}").build())"#))
            ),
            "DiskinfoErrorKind/SystemError"
        );
        return;
    };
    assert!(is_mount_point(&path));
    let e = engine(&policy(&path));
    ok(
        &e,
        &format!(r#"unmount(UnmountOptions().path("{path}").build())"#),
    );
    assert!(!is_mount_point(&path));
}

#[test]
fn unmount_denied_and_invalid() {
    let e = engine(
        r#"permit(principal, action == file_system::Action::"unmount", resource == file_system::Dir::"/elsewhere");"#,
    );
    assert_eq!(
        ok(&e, &caught(r#"UnmountOptions().path("relative").build()"#)),
        "DiskinfoErrorKind/InvalidPath"
    );
    assert_eq!(
        ok(&e, &caught("UnmountOptions().build()")),
        "DiskinfoErrorKind/InvalidPath"
    );
    let Some((_dir, path)) = tmpfs() else {
        assert_denied(&run(
            &e,
            r#"unmount(UnmountOptions().path("/tmp").build())"#,
        ));
        return;
    };
    assert_denied(&run(
        &e,
        &format!(r#"unmount(UnmountOptions().path("{path}").build())"#),
    ));
    assert!(is_mount_point(&path), "still mounted");
    let _ = Command::new("umount").arg(&path).status();
}

// ---------------------------------------------------------------------------------------------
// system: kernel_stats, slab_info

#[test]
fn kernel_stats_and_slab_info_allowed() {
    let e = engine(
        r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/stat");
           permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc");
           permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/proc/slabinfo");"#,
    );
    let btime: i64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        ok(&e, "let k = SystemInfo().kernel_stats(); k.boot_time"),
        btime.to_string()
    );
    assert_eq!(
        ok(
            &e,
            "let k = SystemInfo().kernel_stats(); k.cpu_time.len() > 0 && k.total_cpu_time.user_ticks > 0"
        ),
        "true"
    );
    if !is_root() {
        return;
    }
    assert_eq!(
        ok(
            &e,
            r#"let s = SystemInfo().slab_info();
               [s.slabs.some(|e| e.name == "dentry"), s.summary.total_caches == s.slabs.len()]"#
        ),
        "[true, true]"
    );
}

#[test]
fn kernel_stats_and_slab_info_denied() {
    let e = engine(
        r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc");"#,
    );
    assert_denied(&run(&e, "SystemInfo().kernel_stats()"));
    assert_denied(&run(&e, "SystemInfo().slab_info()"));
    assert_eq!(
        ok(&e, &caught("SystemInfo().slab_info()")),
        "SysteminfoErrorKind/PermissionDenied"
    );
}

// ---------------------------------------------------------------------------------------------
// system: ResolveOptions and DmesgOptions builders

#[test]
fn resolve_hostname_with_options_allowed() {
    let e = engine(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"localhost");"#,
    );
    let out = ok(
        &e,
        r#"let o = ResolveOptions().hostname("localhost").protocol(TransportProtocol::TCP).timeout(5).build();
           let ips = SystemInfo().resolve_hostname(o);
           ips.contains("127.0.0.1") || ips.contains("::1")"#,
    );
    assert_eq!(out, "true");
    assert_eq!(
        ok(&e, &caught("ResolveOptions().build()")),
        "SysteminfoErrorKind/InvalidParameter"
    );
    assert_eq!(
        ok(&e, &caught(r#"ResolveOptions().resolver("not-an-ip")"#)),
        "SysteminfoErrorKind/InvalidParameter"
    );
    assert_eq!(
        ok(&e, &caught("ResolveOptions().timeout(0)")),
        "SysteminfoErrorKind/InvalidParameter"
    );
}

#[test]
fn resolve_hostname_with_unlisted_resolver_sends_nothing() {
    // a would-be DNS server: it must receive no query
    let Ok(server) = std::net::UdpSocket::bind("127.77.0.1:53") else {
        eprintln!("cannot bind port 53: skipped");
        return;
    };
    server.set_nonblocking(true).unwrap();
    let e = engine(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"localhost")
           unless { context has resolver };"#,
    );
    assert_denied(&run(
        &e,
        r#"SystemInfo().resolve_hostname(ResolveOptions().hostname("localhost").resolver("127.77.0.1").timeout(1).build())"#,
    ));
    let mut buf = [0u8; 512];
    assert_eq!(
        server.recv_from(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[test]
fn dmesg_info_with_options() {
    let e = engine(
        r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/dev/kmsg");"#,
    );
    if is_root() {
        let out = ok(
            &e,
            r#"let d = SystemInfo().dmesg_info(DmesgOptions().human_readable_time(true).build());
               d.len() > 0 && d.all(|x| x.timestamp_from_system_start.starts_with("["))"#,
        );
        assert_eq!(out, "true");
    }
    let e = engine("");
    assert_denied(&run(
        &e,
        "SystemInfo().dmesg_info(DmesgOptions().human_readable_time(false).build())",
    ));
}
