//! REX's script API outside the file system (compat notes §2.3–§2.8), called with REX's
//! names and argument shapes: every function, method, property, option builder and constant
//! must exist (no "Function not found", no missing property), and where REX specifies the
//! result, its shape (map keys, property names, types) is checked.
//!
//! Destructive operations (kill, sysctl writes, unmount, systemd jobs, `sysctl --system`) are
//! called under a policy that denies them, which proves the binding exists and that nothing
//! happened; `kill(KillOptions)` also has an allowed case on a child of this test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests start child processes, sockets and read the host to compare with what scripts see.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::net::TcpListener;

use common::{Kid, assert_denied, engine, missing_api, run, serve_once};
use rex_core::RexEngine;
use serde_json::Value;

/// Every action on every resource: the coverage tests only read.
const ALLOW_ALL: &str = r#"permit(principal, action, resource);"#;

/// Runs `script`; it may fail (denied, unsupported here), but never for a missing name.
fn exists(e: &RexEngine, script: &str) {
    let out = run(e, script);
    if let Some(err) = &out.error {
        let msg = err.to_string();
        assert!(
            missing_api(&msg).is_none(),
            "missing REX API in `{script}`: {msg}"
        );
    }
}

/// Runs `script`, which must succeed, and returns its value as JSON.
fn value(e: &RexEngine, script: &str) -> Value {
    let out = run(e, script);
    assert!(
        out.is_success(),
        "`{script}` failed: {}",
        out.error.map(|e| e.to_string()).unwrap_or_default()
    );
    out.value
}

/// Reads each property of `expr`'s value with property syntax (`v.name`) and returns them as
/// a JSON object; the properties not in `nullable` must not be `()`.
fn props(e: &RexEngine, expr: &str, names: &[&str], nullable: &[&str]) -> Value {
    let fields: Vec<String> = names.iter().map(|n| format!("{n}: v.{n}")).collect();
    let script = format!("let v = {{ {expr} }}; #{{ {} }}", fields.join(", "));
    let v = value(e, &script);
    for n in names {
        if !nullable.contains(n) {
            assert!(!v[*n].is_null(), "`{expr}`.{n} is () in {v}");
        }
    }
    v
}

/// `props`, and `expr.to_map()` has exactly the same keys.
fn props_and_map(e: &RexEngine, expr: &str, names: &[&str], nullable: &[&str]) -> Value {
    let v = props(e, expr, names, nullable);
    let m = value(e, &format!("{expr}.to_map()"));
    let keys: Vec<&str> = m
        .as_object()
        .expect("to_map gives a map")
        .keys()
        .map(String::as_str)
        .collect();
    for n in names {
        assert!(keys.contains(n), "`{expr}`.to_map() lacks {n}: {keys:?}");
    }
    v
}

/// A script that evaluates `call` and gives `what` (an expression over `err`) when it raises,
/// or "no error".
fn caught(call: &str, what: &str) -> String {
    format!(r#"let r = "no error"; try {{ {call}; }} catch (err) {{ r = {what}; }} r"#)
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}

// ---------------------------------------------------------------------------------------------
// §2.3 network

#[test]
fn client_request_and_response() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_once(listener);
    let e = engine(ALLOW_ALL);
    let url = format!("http://127.0.0.1:{port}/x");
    let req = props(
        &e,
        &format!(r#"Client().max_text_bytes(1000).get("{url}")"#),
        &["url", "method", "max_text_size"],
        &[],
    );
    assert_eq!(req["url"], url.as_str());
    assert_eq!(req["method"], "Get");
    assert_eq!(req["max_text_size"], 1000);
    let resp = props(
        &e,
        &format!(r#"let c = Client(); let r = c.get("{url}"); r.send()"#),
        &["status", "text"],
        &[],
    );
    assert_eq!(resp["status"], 200);
    assert_eq!(resp["text"], "hello");
    server.join().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_once(listener);
    let r = props(
        &e,
        &format!(r#"curl("http://127.0.0.1:{port}/")"#),
        &["status", "text"],
        &[],
    );
    assert_eq!(r["text"], "hello");
    server.join().unwrap();
}

#[test]
fn connect_with_every_transport_protocol() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let e = engine(ALLOW_ALL);
    assert_eq!(
        value(
            &e,
            &format!(r#"let c = connect("127.0.0.1", {port}, TransportProtocol::TCP); type_of(c)"#)
        ),
        "Connection"
    );
    listener.set_nonblocking(false).unwrap();
    assert!(listener.accept().is_ok());
    exists(
        &e,
        &format!(r#"connect("127.0.0.1", {port}, TransportProtocol::AUTO)"#),
    );
    exists(
        &e,
        &format!(r#"connect("127.0.0.1", {port}, TransportProtocol::UDP)"#),
    );
}

#[test]
fn ip_addresses_hostname_and_ip_addr() {
    let e = engine(ALLOW_ALL);
    for call in ["ip_addresses()", "ip_addr()", "SystemInfo().ip_addresses()"] {
        let v = value(&e, call);
        let list = v.as_array().unwrap();
        assert!(!list.is_empty(), "{call}");
        let lo = props(
            &e,
            &format!("{call}[0]"),
            &["interface_name", "addresses"],
            &[],
        );
        assert!(lo["interface_name"].is_string());
        assert!(lo["addresses"].is_array());
        props_and_map(
            &e,
            &format!("{call}[0]"),
            &["interface_name", "addresses"],
            &[],
        );
    }
    let h = value(&e, "hostname()");
    assert!(!h.as_str().unwrap().is_empty());
}

#[test]
fn network_stats_objects_and_constants() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let _unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = engine(ALLOW_ALL);

    let conn = format!(
        r#"network_stats().internet_connections.filter(|c| c.local_address.to_string().ends_with(":{port}")
            && c.state == TcpState::LISTEN && c.protocol == NetworkProtocol::TCP)[0]"#
    );
    let c = props_and_map(
        &e,
        &conn,
        &[
            "protocol",
            "recv_queue",
            "send_queue",
            "local_address",
            "remote_address",
            "state",
            "inode",
            "process_info",
        ],
        &[],
    );
    assert_eq!(c["protocol"], "TCP");
    assert!(is_int(&c["inode"]) && is_int(&c["recv_queue"]));
    let owner = props(
        &e,
        &format!("{conn}.process_info"),
        &["pid", "process_name"],
        &[],
    );
    assert_eq!(owner["pid"], std::process::id());

    let unix = format!(
        r#"network_stats().unix_sockets.filter(|u| u.path == "{}")[0]"#,
        sock.display()
    );
    let u = props_and_map(
        &e,
        &unix,
        &[
            "protocol",
            "ref_count",
            "state",
            "inode",
            "path",
            "process_info",
        ],
        &[],
    );
    assert_eq!(u["protocol"], "STREAM");
    assert_eq!(
        value(&e, &format!("{unix}.protocol == UnixProtocol::STREAM")),
        true
    );
    assert!(
        value(&e, &format!("{unix}.state"))
            .as_str()
            .is_some_and(
                |s| ["UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"].contains(&s)
            )
    );
    props(
        &e,
        "network_stats()",
        &["internet_connections", "unix_sockets"],
        &[],
    );

    let ns = value(&e, "netstat()");
    let inet = ns["internet"].as_array().unwrap();
    let mine = inet
        .iter()
        .find(|c| {
            c["local_address"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{port}"))
        })
        .unwrap();
    for k in [
        "protocol",
        "local_address",
        "remote_address",
        "state",
        "recv_queue",
        "send_queue",
    ] {
        assert!(!mine[k].is_null(), "netstat internet entry lacks {k}");
    }
    let unix_entry = ns["unix"][0].as_object().unwrap();
    for k in ["protocol", "state", "path", "ref_count"] {
        assert!(unix_entry.contains_key(k), "netstat unix entry lacks {k}");
    }

    // the constant modules
    let constants = value(
        &e,
        "[NetworkProtocol::TCP, NetworkProtocol::UDP,
          TcpState::ESTABLISHED, TcpState::SYN_SENT, TcpState::SYN_RECV, TcpState::TIME_WAIT,
          TcpState::CLOSE, TcpState::CLOSE_WAIT, TcpState::LAST_ACK, TcpState::LISTEN,
          TcpState::CLOSING, TcpState::NEW_SYN_RECV, TcpState::NONE,
          UnixProtocol::STREAM, UnixProtocol::DGRAM, UnixProtocol::SEQPACKET,
          UnixSocketState::UNCONNECTED, UnixSocketState::CONNECTING,
          UnixSocketState::CONNECTED, UnixSocketState::DISCONNECTING,
          TransportProtocol::TCP, TransportProtocol::UDP, TransportProtocol::AUTO]",
    );
    assert!(constants.as_array().unwrap().iter().all(|c| !c.is_null()));
}

// ---------------------------------------------------------------------------------------------
// §2.4 processes

const PROCESS_INFO: &[&str] = &[
    "pid",
    "ppid",
    "uid",
    "name",
    "username",
    "command",
    "state",
    "memory_usage",
    "memory_percent",
    "recent_cpu_usage",
    "historical_cpu_usage",
    "pid_namespace",
];

#[test]
fn process_manager_listings() {
    let kid = Kid::sleep("71");
    let pid = kid.id();
    let e = engine(ALLOW_ALL);
    let find = |list: &str| format!("{list}.filter(|p| p.pid == {pid})[0]");

    let p = props_and_map(
        &e,
        &find("ProcessManager().processes()"),
        PROCESS_INFO,
        &["pid_namespace"],
    );
    assert_eq!(p["name"], "sleep");
    assert_eq!(p["command"], "sleep 71");
    assert_eq!(p["ppid"], std::process::id());
    assert!(p["memory_percent"].is_number() && p["recent_cpu_usage"].is_number());

    let with_ns = props(
        &e,
        &find("ProcessManager().processes(ProcessOptions().load_namespace_info(true).build())"),
        PROCESS_INFO,
        &[],
    );
    assert!(is_int(&with_ns["pid_namespace"]));
    // namespace checks denied: listed, without the namespace
    let list_only =
        engine(r#"permit(principal, action == process_system::Action::"list", resource);"#);
    let without = props(
        &list_only,
        &find("ProcessManager().processes(ProcessOptions().load_namespace_info(true).build())"),
        PROCESS_INFO,
        &["pid_namespace"],
    );
    assert!(without["pid_namespace"].is_null());
    props(&e, &find("ps()"), PROCESS_INFO, &["pid_namespace"]);

    let batches = value(
        &e,
        &format!(
            "ProcessManager().monitor_processes_cpu(MonitorProcessesCpuOptions()
                .pids_to_monitor([{pid}]).batches(2).delay_in_seconds(0)
                .include_threads(false).build())"
        ),
    );
    let batches = batches.as_array().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0][0]["pid"], pid);
}

#[test]
fn fuser_lsof_and_ipcs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.txt");
    std::fs::write(&path, "x").unwrap();
    let _held = std::fs::File::open(&path).unwrap();
    let me = std::process::id();
    let e = engine(ALLOW_ALL);
    let p = path.display();

    let f = props_and_map(
        &e,
        &format!(r#"ProcessManager().processes_using_inode("{p}").filter(|f| f.pid == {me})[0]"#),
        &["user", "pid", "command", "access"],
        &[],
    );
    assert!(f["access"].is_string());

    let o = props_and_map(
        &e,
        &format!(
            r#"ProcessManager().list_open_files(LsofOptions().path("{p}").include_subdir(false).pid({me}).build())[0]"#
        ),
        &[
            "pid",
            "process_name",
            "user",
            "command",
            "file_path",
            "file_type",
            "access",
        ],
        &[],
    );
    assert_eq!(o["file_path"], p.to_string().as_str());

    let i = props_and_map(
        &e,
        "ProcessManager().ipcs_info()",
        &["shared_memory", "semaphores", "queues"],
        &[],
    );
    assert!(i["shared_memory"].is_array());
    assert!(value(&e, "ProcessManager().ipcs_info().to_string()").is_string());
}

#[test]
fn kill_options_allowed_signals_the_matching_process() {
    let mut kid = Kid::sleep("72");
    let pid = kid.id();
    let e = engine(&format!(
        r#"permit(principal, action == process_system::Action::"kill", resource) when {{ resource.pid == {pid} }};"#
    ));
    let killed = value(
        &e,
        &format!("ProcessManager().kill(KillOptions().pid({pid}).signal(Signal::SIGKILL).build())"),
    );
    assert_eq!(killed[0]["pid"], pid);
    assert_eq!(killed[0]["name"], "sleep");
    assert!(kid.exited());

    // by command line, exactly
    let mut kid = Kid::sleep("73");
    let pid = kid.id();
    let e = engine(&format!(
        r#"permit(principal, action == process_system::Action::"kill", resource) when {{ resource.pid == {pid} }};"#
    ));
    let killed = value(
        &e,
        r#"ProcessManager().kill(KillOptions().command("sleep 73").exact_match(true).build())"#,
    );
    assert_eq!(killed[0]["pid"], pid);
    assert!(kid.exited());
}

#[test]
fn kill_options_denied_leaves_the_process_alive() {
    let mut kid = Kid::sleep("74");
    let pid = kid.id();
    let e = engine(
        ALLOW_ALL
            .replace("action,", r#"action == process_system::Action::"list","#)
            .as_str(),
    );
    assert_denied(&run(
        &e,
        &format!("ProcessManager().kill(KillOptions().pid({pid}).build())"),
    ));
    // by name: denied matches are skipped
    assert_eq!(
        value(
            &e,
            r#"ProcessManager().kill(KillOptions().process_name("sleep").command("sleep 74").exact_match(true).signal(Signal::SIGTERM).build()).len()"#
        ),
        0
    );
    assert!(kid.alive());
    // both a pid and filters, or neither: a validation error, before anything is signalled
    for opts in [
        format!(r#"KillOptions().pid({pid}).process_name("sleep").build()"#),
        "KillOptions().build()".to_string(),
    ] {
        assert_eq!(value(&e, &caught(&opts, "err.kind")), "ValidationError");
    }
    assert!(kid.alive());
}

#[test]
fn gated_process_operations_exist_with_rex_shapes() {
    let mut kid = Kid::sleep("75");
    let pid = kid.id();
    // nothing allowed: each call is refused by Cedar (or validation), never "not found"
    let e = engine("");
    for script in [
        format!("kill({pid})"),
        format!("kill([kill::signal(9)], {pid})"),
        format!("ProcessManager().trace({pid})"),
        format!("ProcessManager().trace({pid}, TraceOptions().ns_pid(1).build())"),
        format!(
            "ProcessManager().nsenter(NamespaceOptions().mount(true).net(false).pid({pid}).build(), || 1)"
        ),
        r#"ProcessManager().nsenter(NamespaceOptions().net(true).net_ns_name("x").build(), || 1)"#
            .to_string(),
        "SystemctlManager().start(\"rex-none.service\")".to_string(),
        "SystemctlManager().stop(\"rex-none.service\")".to_string(),
        "SystemctlManager().restart(\"rex-none.service\")".to_string(),
        "SystemctlManager().try_restart(\"rex-none.service\")".to_string(),
        "SystemctlManager().daemon_reload()".to_string(),
        "SystemctlManager().status(\"rex-none.service\")".to_string(),
    ] {
        exists(&e, &script);
        assert!(
            !run(&e, &script).is_success(),
            "{script} succeeded with no policy"
        );
    }
    assert!(kid.alive());
    assert_eq!(
        value(
            &e,
            "[Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGKILL, Signal::SIGTERM]"
        ),
        serde_json::json!([1, 3, 9, 15])
    );
    let states = value(
        &e,
        "[State::ACTIVE, State::INACTIVE, State::FAILED, State::ACTIVATING, State::DEACTIVATING,
          State::MAINTENANCE, State::RELOADING, State::REFRESHING, State::UNKNOWN]
          .map(|s| s.to_string())",
    );
    assert_eq!(states.as_array().unwrap().len(), 9);
    assert_eq!(
        value(&e, "[State::ACTIVE.is_active(), State::FAILED.is_active()]"),
        serde_json::json!([true, false])
    );
}

// ---------------------------------------------------------------------------------------------
// §2.5 system information, sysctl

#[test]
fn system_info_objects() {
    let e = engine(ALLOW_ALL);
    let m = props_and_map(
        &e,
        "SystemInfo().memory_info()",
        &[
            "total",
            "free",
            "available",
            "used",
            "buffers",
            "cached",
            "shared_mem",
        ],
        &[],
    );
    assert!(m["total"].as_i64().unwrap() > 0);
    props_and_map(
        &e,
        "SystemInfo().swap_info()",
        &["total", "free", "used"],
        &[],
    );
    assert!(value(&e, "SystemInfo().cpu_count()").as_i64().unwrap() > 0);
    assert!(value(&e, "SystemInfo().hostname()").is_string());
    let u = props_and_map(
        &e,
        "SystemInfo().uname_info()",
        &[
            "kernel_name",
            "nodename",
            "kernel_release",
            "kernel_version",
            "machine",
            "processor",
            "hardware_platform",
            "operating_system",
        ],
        &[],
    );
    assert_eq!(u["kernel_name"], "Linux");
    let k = props_and_map(
        &e,
        "SystemInfo().kernel_stats()",
        &[
            "total_cpu_time",
            "cpu_time",
            "procs_running",
            "procs_blocked",
            "context_switches",
            "boot_time",
            "forks",
        ],
        &[],
    );
    assert!(k["cpu_time"].is_array());
    props(
        &e,
        "SystemInfo().kernel_stats().total_cpu_time",
        &[
            "user_ticks",
            "idle_ticks",
            "system_ticks",
            "user_ms",
            "idle_ms",
        ],
        &[],
    );
    // slabinfo and kmsg may be unreadable here; the names must exist either way
    exists(&e, "let s = SystemInfo().slab_info(); [s.slabs, s.summary]");
    exists(
        &e,
        "SystemInfo().dmesg_info(DmesgOptions().human_readable_time(true).build())",
    );
    exists(&e, "SystemInfo().dmesg_info()");
    exists(&e, "dmesg()");
    let out = run(
        &e,
        "let d = SystemInfo().dmesg_info(); if d.len() > 0 { [d[0].timestamp_from_system_start, d[0].message] } else { [\"\", \"\"] }",
    );
    if out.is_success() {
        assert!(out.value[0].is_string() && out.value[1].is_string());
    }
    let ips = value(
        &e,
        r#"SystemInfo().resolve_hostname(ResolveOptions().hostname("localhost")
            .protocol(TransportProtocol::AUTO).timeout(5).build())"#,
    );
    assert!(ips.as_array().unwrap().iter().all(Value::is_string));
    exists(&e, r#"resolve("localhost")"#);

    // command wrappers
    assert_eq!(value(&e, "uname().kernel_name"), "Linux");
    assert!(value(&e, "nproc()").as_i64().unwrap() > 0);
    let f = value(&e, "free()");
    assert!(is_int(&f["memory"]["total"]) && is_int(&f["swap"]["total"]));
}

#[test]
fn sysctl_manager_and_wrappers() {
    let e = engine(ALLOW_ALL);
    let ostype = std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
    assert_eq!(
        value(&e, r#"SysctlManager().read("kernel.ostype")"#),
        ostype.trim()
    );
    assert_eq!(value(&e, r#"sysctl_read("kernel.ostype")"#), ostype.trim());
    let entry = props_and_map(
        &e,
        r#"SysctlManager().find("^kernel\\.ostype$")[0]"#,
        &["key", "value"],
        &[],
    );
    assert_eq!(entry["key"], "kernel.ostype");
    assert_eq!(
        value(&e, r#"sysctl_find("^kernel\\.ostype$")[0].key"#),
        "kernel.ostype"
    );

    // writes and `sysctl --system` only under a read-only policy: refused, nothing changes
    let hostname_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let ro = engine(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource);"#,
    );
    for script in [
        r#"SysctlManager().write("kernel.hostname", "rex-coverage")"#,
        r#"sysctl_write("kernel.hostname", "rex-coverage")"#,
        "SysctlManager().load_system()",
    ] {
        exists(&ro, script);
        assert_denied(&run(&ro, script));
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname_before
    );
}

// ---------------------------------------------------------------------------------------------
// §2.6 disk

#[test]
fn filesystems_iostat_and_lsblk() {
    let e = engine(ALLOW_ALL);
    const FILESYSTEM: &[&str] = &[
        "size",
        "block_used",
        "block_available",
        "inodes",
        "kb_blocks",
        "mb_blocks",
        "iused",
        "ifree",
        "block_use_percent",
        "iuse_percent",
        "fs_device",
        "fs_kind",
        "mounted_on",
        "mount_options",
    ];
    let f = props_and_map(
        &e,
        r#"Filesystems(FilesystemOptions().targets(["/"]).local(false).build()).filesystems()[0]"#,
        FILESYSTEM,
        &[],
    );
    assert_eq!(f["mounted_on"], "/");
    assert!(f["mount_options"].is_array());
    assert_eq!(
        value(
            &e,
            r#"Filesystems(FilesystemOptions().targets(["/"]).build()).filesystems().len()"#
        ),
        1
    );
    props_and_map(&e, "df()[0]", FILESYSTEM, &[]);

    let cpu = &[
        "user_percent",
        "nice_percent",
        "system_percent",
        "iowait_percent",
        "steal_percent",
        "idle_percent",
    ];
    for call in [
        "iostat()",
        r#"Filesystems(FilesystemOptions().build()).iostat()"#,
    ] {
        props_and_map(&e, call, &["cpu_stats", "device_stats"], &[]);
        props_and_map(&e, &format!("{call}.cpu_stats"), cpu, &[]);
    }
    let devices = value(&e, "iostat().device_stats");
    if !devices.as_array().unwrap().is_empty() {
        props_and_map(
            &e,
            "iostat().device_stats[0]",
            &[
                "device_name",
                "rrqm_per_sec",
                "wrqm_per_sec",
                "read_requests_per_sec",
                "write_requests_per_sec",
                "rkb_per_sec",
                "wkb_per_sec",
                "avg_request_size",
                "avg_queue_size",
                "avg_wait",
                "avg_read_wait",
                "avg_write_wait",
                "svctm",
                "util_percent",
            ],
            &[],
        );
    }
    let blk = value(&e, "lsblk()");
    if let Some((_, d)) = blk.as_object().unwrap().iter().next() {
        for k in [
            "name",
            "type",
            "maj",
            "min",
            "size_kib",
            "removable",
            "read_only",
            "mount_point",
            "children",
        ] {
            assert!(
                d.as_object().unwrap().contains_key(k),
                "lsblk entry lacks {k}"
            );
        }
    }
}

#[test]
fn format_bytes_takes_script_integers() {
    let e = engine("");
    assert_eq!(
        value(
            &e,
            "[format_bytes(3 * 1048576, Unit::MEGABYTES), format_bytes(2048, Unit::KILOBYTES),
              format_bytes(1500, Unit::BYTES), format_bytes(1048575, Unit::MEGABYTES)]"
        ),
        serde_json::json!([3, 2, 1500, 0])
    );
    assert_eq!(
        value(&e, &caught("format_bytes(-1, Unit::BYTES)", "err.source")),
        "DiskinfoErrorKind"
    );
}

#[test]
fn unmount_exists_and_is_refused_without_policy() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine("");
    let script = format!(
        r#"unmount(UnmountOptions().path("{}").build())"#,
        dir.path().display()
    );
    exists(&e, &script);
    assert_denied(&run(&e, &script));
    assert!(dir.path().is_dir());
}

// ---------------------------------------------------------------------------------------------
// §2.7 common utilities

#[test]
fn date_time_api() {
    let e = engine("");
    let d = props(
        &e,
        "DateTime(2024, 2, 29, 12, 30, 5, 7)",
        &[
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "nanosecond",
        ],
        &[],
    );
    assert_eq!(
        d,
        serde_json::json!({"year": 2024, "month": 2, "day": 29, "hour": 12, "minute": 30,
                           "second": 5, "nanosecond": 7})
    );
    let v = value(
        &e,
        r#"let d = DateTime(2024, 2, 29, 12, 30, 5, 0);
           let p = parse_datetime("2024-02-29T12:30:05Z", DateTimeFormat::RFC3339);
           let q = parse_datetime("Thu, 29 Feb 2024 12:30:05 +0000", DateTimeFormat::RFC2822);
           [d.epoch_seconds(), d.nanos(), d.to_string(DateTimeFormat::RFC3339),
            d.to_string(DateTimeFormat::RFC2822), d.month_str(), d.month_str_short(),
            p == d, q == d, (d + 60) - d, (d - 60) < d, d != p, d <= p, d >= p, d > p,
            from_epoch_seconds(1709209805) == d, from_epoch_nanos(1709209805, 5).nanos(),
            type_of(now()), type_of(now_nanos())]"#,
    );
    assert_eq!(
        v,
        serde_json::json!([
            1_709_209_805_i64,
            0,
            "2024-02-29T12:30:05Z",
            "Thu, 29 Feb 2024 12:30:05 +0000",
            "February",
            "Feb",
            true,
            true,
            60,
            true,
            false,
            true,
            true,
            false,
            true,
            5,
            "DateTime",
            "i64"
        ])
    );
}

#[test]
fn random_and_to_json() {
    let e = engine("");
    let r = value(&e, "random_alphanumeric(24)");
    let r = r.as_str().unwrap();
    assert_eq!(r.len(), 24);
    assert!(r.chars().all(|c| c.is_ascii_alphanumeric()));

    // custom types inside a value are printed through their to_string (REX's override)
    let j = value(
        &e,
        r#"to_json(#{when: DateTime(2024, 2, 29, 12, 30, 5, 0), n: 1, list: [State::ACTIVE, "x"]})"#,
    );
    let parsed: Value = serde_json::from_str(j.as_str().unwrap()).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({"when": "2024-02-29T12:30:05Z", "n": 1, "list": ["active", "x"]})
    );
    let j = value(&e, r#"#{a: [1, 2]}.to_json()"#);
    assert_eq!(j, r#"{"a":[1,2]}"#);
    let j = value(&e, "to_json([DateTime(1970, 1, 1, 0, 0, 0, 0)])");
    assert_eq!(j, r#"["1970-01-01T00:00:00Z"]"#);
    // hostile nesting is refused, not a stack overflow
    assert_eq!(
        value(
            &e,
            &format!(
                "let m = #{{}}; for i in 0..200 {{ m = #{{inner: m}}; }} {}",
                caught("to_json(m)", "err.kind")
            )
        ),
        "FormatError"
    );
}

// ---------------------------------------------------------------------------------------------
// §2.8 error objects and kind modules

#[test]
fn every_kind_module_constant_exists() {
    let e = engine("");
    for (module, kinds) in rhai_sdk::error::KIND_MODULES {
        for kind in *kinds {
            assert_eq!(
                value(&e, &format!("{module}::{kind}")),
                *kind,
                "{module}::{kind}"
            );
        }
    }
    // every kind name REX documents (§2.8)
    let rex: &[(&str, &str)] = &[
        (
            "IoErrorKind",
            "InvalidPath InvalidArguments InvalidFileMode ValidationError DirectoryOpenError DirectoryError FileError DestinationFileNotEmptyError NotFound DirectoryNotEmpty PermissionDenied AuthorizationError IdentityResolutionError UnsupportedOperationError FileContentTooLargeError FileCopyError FileReadError EntryTypeMismatchError IoError TryFromIntError RustixError Utf8Error CallbackError ProcessNamespaceFatalError Other",
        ),
        (
            "ProcessErrorKind",
            "ProcessNotFound PidNamespaceOperationError NamespaceOperationError PermissionDenied AuthorizationError ValidationError CallbackExecutionError ProcessEnumerationError DBusError PrivilegeError ServiceNotFound Other",
        ),
        (
            "SysteminfoErrorKind",
            "PermissionDenied AuthorizationError IoError InvalidParameter InvalidValue PrivilegeError CapsError ProcFsError Other",
        ),
        (
            "DiskinfoErrorKind",
            "InvalidPath PermissionDenied AuthorizationError SystemError TryFromIntError IoError NixError Other",
        ),
        (
            "NetworkErrorKind",
            "PermissionDenied AuthorizationError RequestError Other",
        ),
        (
            "CommonUtilsErrorKind",
            "ParseError InvalidArguments FormatError Other",
        ),
    ];
    for (module, kinds) in rex {
        for kind in kinds.split_whitespace() {
            assert_eq!(value(&e, &format!("{module}::{kind}")), kind);
        }
    }
}

#[test]
fn errors_are_kind_message_source_maps() {
    let e = engine("");
    for (call, source, kind) in [
        ("ps()", "", ""),
        (
            "ProcessManager().kill(KillOptions().build())",
            "ProcessErrorKind",
            "ValidationError",
        ),
        (
            "SystemInfo().memory_info()",
            "SysteminfoErrorKind",
            "PermissionDenied",
        ),
        ("df()", "DiskinfoErrorKind", "PermissionDenied"),
        (
            r#"curl("http://127.0.0.1:1/")"#,
            "NetworkErrorKind",
            "PermissionDenied",
        ),
        (
            r#"parse_datetime("yesterday", DateTimeFormat::RFC3339)"#,
            "CommonUtilsErrorKind",
            "ParseError",
        ),
        (
            r#"sysctl_read("kernel.ostype")"#,
            "SysteminfoErrorKind",
            "PermissionDenied",
        ),
    ] {
        let v = value(
            &e,
            &caught(call, "[err.kind, err.source, type_of(err.message)]"),
        );
        if source.is_empty() {
            // `ps()` under a deny-all policy lists nothing and does not fail
            assert_eq!(v, "no error");
            continue;
        }
        assert_eq!(v, serde_json::json!([kind, source, "string"]), "{call}");
        assert_eq!(
            value(&e, &caught(call, &format!("err.kind == {source}::{kind}"))),
            true
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §2.9 totals: every REX function name outside the file system is in the catalog

#[test]
fn catalog_lists_every_rex_name() {
    let catalog = rhai_sdk::function_catalog();
    let names: Vec<&str> = catalog.iter().map(|f| f.name.as_str()).collect();
    for name in [
        // network: 4 commands + constructors
        "curl",
        "hostname",
        "ip_addr",
        "netstat",
        "Client",
        "connect",
        "ip_addresses",
        "network_stats",
        // process
        "ps",
        "kill",
        "ProcessManager",
        "SystemctlManager",
        "ProcessOptions",
        "LsofOptions",
        "KillOptions",
        "TraceOptions",
        "NamespaceOptions",
        "MonitorProcessesCpuOptions",
        // system info
        "uname",
        "nproc",
        "free",
        "dmesg",
        "resolve",
        "sysctl_read",
        "sysctl_find",
        "sysctl_write",
        "SystemInfo",
        "SysctlManager",
        "ResolveOptions",
        "DmesgOptions",
        // disk
        "df",
        "iostat",
        "lsblk",
        "Filesystems",
        "format_bytes",
        "unmount",
        "FilesystemOptions",
        "UnmountOptions",
        // common utils
        "DateTime",
        "from_epoch_seconds",
        "from_epoch_nanos",
        "now",
        "now_nanos",
        "parse_datetime",
        "random_alphanumeric",
        "to_json",
    ] {
        assert!(
            names.contains(&name),
            "{name} is not in the function catalog"
        );
    }
}

/// The harness itself: a missing function, property or constant is detected.
#[test]
fn missing_names_are_detected() {
    let e = engine("");
    for script in [
        "no_such_function()",
        "ProcessManager().no_such_method()",
        "Client().no_such_property",
        "Signal::NO_SUCH_SIGNAL",
        "NoSuchModule::X",
    ] {
        let out = run(&e, script);
        let msg = out.error.expect("fails").to_string();
        assert!(missing_api(&msg).is_some(), "{script}: {msg}");
    }
}
