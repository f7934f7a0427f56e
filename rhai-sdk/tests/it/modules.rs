//! Composition, error kinds, utils, process, system, network and the vendor helper, from real
//! scripts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests start real child processes and sockets to observe effects on the host.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{allow_fs_under, assert_denied, caught, engine, ok, run, sdk, serve_once};
use rex_auth::{Action, AuthError, Denied, Resource};
use rex_core::{ErrorKind, RexEngine, ScriptArguments};
use rhai_sdk::{RexModules, SdkErrorInfo, VendorModule, function_catalog};
use rust_sdk::SdkContext;

// ---------------------------------------------------------------------------------------------
// Composition and catalog

#[test]
fn module_selection_by_builder_and_name() {
    assert_eq!(
        RexModules::all().names().len(),
        rhai_sdk::MODULE_NAMES.len()
    );
    assert!(RexModules::none().names().is_empty());
    let m = RexModules::none().io().utils();
    assert_eq!(m.names(), vec!["io", "utils"]);
    assert_eq!(RexModules::from_names(["utils", "io"]).unwrap(), m);
    assert!(RexModules::from_names(["io", "nope"]).is_err());
    assert!(
        m.functions()
            .iter()
            .all(|f| f.module == "io" || f.module == "utils")
    );

    let sdk = sdk("");
    let engine = RexEngine::builder()
        .register(|e| m.register(e, &sdk))
        .build();
    let args = ScriptArguments::new();
    assert_eq!(engine.run("seq(1, 2).len()", &args).output, "2");
    // Not selected: the process module's functions do not exist.
    let out = engine.run("ps()", &args);
    assert_eq!(out.error.unwrap().kind(), ErrorKind::Runtime);
    // Kind modules are always there.
    assert_eq!(
        engine
            .run("ProcessErrorKind::PermissionDenied", &args)
            .output,
        "PermissionDenied"
    );
}

#[test]
fn catalog_lists_functions_with_actions() {
    let cat = function_catalog();
    let find = |n: &str| cat.iter().find(|f| f.name == n).unwrap();
    assert_eq!(find("cat").module, "io");
    assert!(find("cat").actions.contains(&Action::FsRead));
    assert!(find("kill").actions.contains(&Action::ProcessKill));
    assert!(find("seq").actions.is_empty());
    // Every catalogued function is registered.
    let e = engine("");
    let sigs = e.function_signatures(false).join("\n");
    for f in &cat {
        if f.name != "ProcessManager" && f.name != "SystemInfo" && f.name != "Client" {
            assert!(
                sigs.contains(&format!("{}(", f.name)),
                "{} not registered",
                f.name
            );
        }
    }
}

/// Every (namespace, Rhai name, arity) of the functions registered into `engine`, from Rhai's
/// own metadata (independent of the catalog's tag).
fn registered_functions(
    engine: &rhai::Engine,
) -> std::collections::BTreeSet<(String, String, u64)> {
    fn walk(
        v: &serde_json::Value,
        ns: &str,
        out: &mut std::collections::BTreeSet<(String, String, u64)>,
    ) {
        for f in v["functions"].as_array().into_iter().flatten() {
            out.insert((
                ns.to_string(),
                f["name"].as_str().unwrap().to_string(),
                f["numParams"].as_u64().unwrap(),
            ));
        }
        for (name, m) in v["modules"].as_object().into_iter().flatten() {
            let ns = if ns.is_empty() {
                name.clone()
            } else {
                format!("{ns}::{name}")
            };
            walk(m, &ns, out);
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&engine.gen_fn_metadata_to_json(false).unwrap()).unwrap();
    let mut out = std::collections::BTreeSet::new();
    walk(&json, "", &mut out);
    out
}

#[test]
fn every_registered_function_is_declared_and_catalogued() {
    // A raw engine: only what rhai-sdk (every module) and a vendor module register.
    let sdk = sdk("");
    let mut engine = rhai::Engine::new_raw();
    RexModules::all().register(&mut engine, &sdk);
    VendorModule::new("tool", &sdk)
        .func(
            "probe",
            ["path", "a", "b", "c", "d", "e"],
            &[Action::FsStat],
            "A six-argument probe.",
            |_: &SdkContext, _: String, _: i64, _: i64, _: bool, _: String, _: rhai::Array| {
                Ok::<_, ToolError>(1_i64)
            },
        )
        .register_static(&mut engine);
    let registered = registered_functions(&engine);
    let catalog = rex_core::function_catalog(&engine);
    let catalogued: std::collections::BTreeSet<(String, String, u64)> = catalog
        .iter()
        .map(|f| {
            let name = match f.kind {
                "getter" => format!("get${}", f.name),
                "setter" => format!("set${}", f.name),
                _ => f.name.clone(),
            };
            (f.namespace.clone(), name, f.arity() as u64)
        })
        .collect();
    assert!(registered.len() > 300, "{}", registered.len());
    let missing: Vec<_> = registered.difference(&catalogued).collect();
    assert!(
        missing.is_empty(),
        "registered without a declaration: {missing:?}"
    );
    let extra: Vec<_> = catalogued.difference(&registered).collect();
    assert!(extra.is_empty(), "catalogued but not registered: {extra:?}");
    for f in &catalog {
        assert!(
            f.actions.is_empty() == f.no_host_access,
            "{}: needs actions or an explicit no-host-access marker",
            f.signature
        );
        assert!(!f.doc.is_empty(), "{} has no doc", f.signature);
        let types = f
            .params
            .iter()
            .map(|p| p.ty.as_str())
            .chain([f.returns.as_str()]);
        for ty in types {
            assert!(
                !ty.contains("::") && !ty.contains('&') && !ty.contains('<') && ty != "?",
                "{}: `{ty}` is not a script type",
                f.signature
            );
        }
    }
    let probe = catalog.iter().find(|f| f.name == "probe").unwrap();
    assert_eq!(probe.module, "tool");
    assert_eq!(
        probe.signature,
        "tool::probe(path: String, a: int, b: int, c: bool, d: String, e: Array) -> int"
    );
    let cat = catalog
        .iter()
        .find(|f| f.name == "cat" && f.arity() == 2)
        .unwrap();
    assert_eq!(cat.signature, "cat(flags: Array, path: String) -> String");
    assert_eq!(cat.actions, vec![Action::FsOpen, Action::FsRead]);
    // The catalog of a selection is what that selection registers.
    let io_only = RexModules::none().io().functions();
    assert!(io_only.iter().any(|f| f.name == "cat"));
    assert!(!io_only.iter().any(|f| f.name == "ps"));
}

#[test]
fn every_kind_module_is_registered() {
    let e = engine("");
    for (module, kinds) in rhai_sdk::error::KIND_MODULES {
        for kind in *kinds {
            assert_eq!(ok(&e, &format!("{module}::{kind}")), *kind);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// utils

#[test]
fn datetime_functions() {
    let e = engine("");
    assert_eq!(
        ok(
            &e,
            "let d = DateTime(2024, 2, 29, 12, 30, 5, 0); d.to_string(DateTimeFormat::RFC2822)"
        ),
        "Thu, 29 Feb 2024 12:30:05 +0000"
    );
    assert_eq!(
        ok(
            &e,
            "let d = DateTime(2024, 2, 29, 12, 30, 5, 7); [d.year, d.month, d.day, d.hour, d.minute, d.second, d.nanosecond]"
        ),
        "[2024, 2, 29, 12, 30, 5, 7]"
    );
    assert_eq!(
        ok(
            &e,
            "from_epoch_seconds(86400).to_string(DateTimeFormat::RFC3339)"
        ),
        "1970-01-02T00:00:00Z"
    );
    assert_eq!(
        ok(&e, "from_epoch_nanos(0, 1500000000).epoch_seconds()"),
        "1"
    );
    assert_eq!(
        ok(&e, "from_epoch_nanos(0, 1500000000).nanos()"),
        "500000000"
    );
    assert_eq!(
        ok(
            &e,
            r#"let d = parse_datetime("2024-03-01T01:00:00+01:00", DateTimeFormat::RFC3339); d.month_str() + " " + d.month_str_short() + " " + d.day"#
        ),
        "March Mar 1"
    );
    assert_eq!(
        ok(
            &e,
            "let a = from_epoch_seconds(100); let b = a + 50; [b - a, (b - 50) == a, a < b, b >= a]"
        ),
        "[50, true, true, true]"
    );
    assert_eq!(
        ok(
            &e,
            "now() > DateTime(2020, 1, 1, 0, 0, 0, 0) && now_nanos() > 0"
        ),
        "true"
    );
    assert_eq!(
        ok(&e, &caught("DateTime(2023, 2, 29, 0, 0, 0, 0)")),
        "CommonUtilsErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(
            &e,
            &caught(r#"parse_datetime("nope", DateTimeFormat::RFC3339)"#)
        ),
        "CommonUtilsErrorKind/ParseError"
    );
}

#[test]
fn random_alphanumeric_and_to_json() {
    let e = engine("");
    assert_eq!(ok(&e, "random_alphanumeric(32).len()"), "32");
    assert_eq!(
        ok(&e, "random_alphanumeric(16) != random_alphanumeric(16)"),
        "true"
    );
    assert_eq!(
        ok(&e, &caught("random_alphanumeric(2000000)")),
        "CommonUtilsErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(&e, r#"to_json(#{a: 1, b: [true, "x"]})"#),
        r#"{"a":1,"b":[true,"x"]}"#
    );
}

// ---------------------------------------------------------------------------------------------
// process

struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper() -> Sleeper {
    Sleeper(Command::new("sleep").arg("30").spawn().unwrap())
}

fn exits_within(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn allow_process(action: &str, pid: u32) -> String {
    format!(
        r#"permit(principal, action == process_system::Action::"{action}", resource) when {{ resource.pid == {pid} }};"#
    )
}

#[test]
fn ps_lists_only_allowed_processes() {
    let child = sleeper();
    let pid = child.0.id();
    let e = engine(&allow_process("list", pid));
    assert_eq!(ok(&e, "let p = ps(); p.len()"), "1");
    assert_eq!(ok(&e, "let p = ps(); p[0].pid"), pid.to_string());
    assert_eq!(ok(&e, "let p = ps(); p[0].name"), "sleep");
    assert_eq!(ok(&e, "ProcessManager().processes().len()"), "1");
    // Nothing allowed: an empty list (REX's silent filtering), not an error.
    let e = engine("");
    assert_eq!(ok(&e, "ps().len()"), "0");
}

#[test]
fn kill_allowed() {
    let mut child = sleeper();
    let pid = child.0.id();
    let e = engine(&allow_process("kill", pid));
    let out = ok(&e, &format!("kill({pid})"));
    assert!(out.contains(&format!("\"pid\": {pid}")), "{out}");
    assert!(exits_within(&mut child.0, Duration::from_secs(10)));
}

#[test]
fn kill_with_signal_flag_and_manager() {
    let mut child = sleeper();
    let pid = child.0.id();
    let e = engine(&allow_process("kill", pid));
    ok(&e, &format!("kill([kill::signal(Signal::SIGKILL)], {pid})"));
    assert!(exits_within(&mut child.0, Duration::from_secs(10)));

    let mut child = sleeper();
    let pid = child.0.id();
    let e = engine(&allow_process("kill", pid));
    ok(&e, &format!("let pm = ProcessManager(); pm.kill({pid}, 9)"));
    assert!(exits_within(&mut child.0, Duration::from_secs(10)));
    assert_eq!(
        ok(&e, &caught("kill([kill::signal(2)], 1)")),
        "ProcessErrorKind/ValidationError"
    );
    assert_eq!(
        ok(&e, &caught("kill([cat::n], 1)")),
        "IoErrorKind/InvalidArguments"
    );
}

#[test]
fn kill_denied_leaves_the_process_alive() {
    let mut child = sleeper();
    let pid = child.0.id();
    // kill is allowed, but SIGHUP needs `interrupt`.
    let e = engine(&allow_process("kill", pid));
    let out = run(&e, &format!("kill([kill::signal(Signal::SIGHUP)], {pid})"));
    assert_denied(&out);
    let e = engine(&allow_process("kill", 1));
    assert_denied(&run(&e, &format!("kill({pid})")));
    assert_eq!(
        ok(&e, &caught(&format!("kill({pid})"))),
        "ProcessErrorKind/PermissionDenied"
    );
    assert!(!exits_within(&mut child.0, Duration::from_millis(300)));
}

// ---------------------------------------------------------------------------------------------
// system

const ALLOW_SYSINFO: &str = r#"permit(principal, action == sysinfo::Action::"list", resource);"#;

#[test]
fn system_commands_allowed() {
    let e = engine(ALLOW_SYSINFO);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(ok(&e, "hostname()"), host.trim());
    assert_eq!(ok(&e, "SystemInfo().hostname() == hostname()"), "true");
    assert_eq!(
        ok(&e, "nproc() > 0 && SystemInfo().cpu_count() == nproc()"),
        "true"
    );
    assert_eq!(ok(&e, "uname().kernel_name"), "Linux");

    let e = engine(&allow_fs_under("/proc"));
    assert_eq!(
        ok(
            &e,
            "let f = free(); f.memory.total > 0 && f.swap.total >= 0"
        ),
        "true"
    );
}

#[test]
fn system_commands_denied() {
    let e = engine("");
    for call in [
        "hostname()",
        "nproc()",
        "uname()",
        "free()",
        "SystemInfo().memory_info()",
    ] {
        assert_denied(&run(&e, call));
    }
    assert_eq!(
        ok(&e, &caught("hostname()")),
        "SysteminfoErrorKind/PermissionDenied"
    );
}

// ---------------------------------------------------------------------------------------------
// network

fn nothing_connected(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn connect_allowed_and_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let e = engine("");
    assert_denied(&run(
        &e,
        &format!(r#"connect("127.0.0.1", {port}, TransportProtocol::TCP)"#),
    ));
    assert_eq!(
        ok(
            &e,
            &caught(&format!(
                r#"connect("127.0.0.1", {port}, TransportProtocol::TCP)"#
            ))
        ),
        "NetworkErrorKind/PermissionDenied"
    );
    assert!(nothing_connected(&listener));

    let e = engine(&format!(
        r#"permit(principal, action == network::Action::"connect", resource) when {{ resource.port == {port} }};"#
    ));
    ok(
        &e,
        &format!(r#"connect("127.0.0.1", {port}, TransportProtocol::TCP)"#),
    );
    listener.set_nonblocking(false).unwrap();
    assert!(listener.accept().is_ok());
}

#[test]
fn http_get_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_once(listener);
    let e = engine(
        r#"permit(principal, action == network::Action::"GET", resource) when { resource.host == "127.0.0.1" };"#,
    );
    let out = ok(
        &e,
        &format!(
            r#"let r = Client().get("http://127.0.0.1:{port}/x").send(); r.status + " " + r.text"#
        ),
    );
    assert_eq!(out, "200 hello");
    server.join().unwrap();
}

#[test]
fn curl_denied_opens_no_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let e = engine(
        r#"permit(principal, action == network::Action::"GET", resource) when { resource.host == "example.invalid" };"#,
    );
    assert_denied(&run(&e, &format!(r#"curl("http://127.0.0.1:{port}/")"#)));
    assert!(nothing_connected(&listener));
}

// ---------------------------------------------------------------------------------------------
// vendor helper

#[derive(Debug)]
enum ToolError {
    Denied(Box<Denied>),
}

impl From<AuthError> for ToolError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Denied(d) => ToolError::Denied(d),
            other => panic!("unexpected {other}"),
        }
    }
}

impl From<ToolError> for SdkErrorInfo {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Denied(d) => SdkErrorInfo::denied("ToolErrorKind", &d),
        }
    }
}

#[test]
fn vendor_module_gates_and_maps_errors() {
    let sdk = sdk(
        r#"permit(principal, action == file_system::Action::"stat", resource == file_system::File::"/etc/ok");"#,
    );
    let engine = RexEngine::builder()
        .register(|e| {
            VendorModule::new("tool", &sdk)
                .func(
                    "probe",
                    ["path"],
                    &[Action::FsStat],
                    "Probes a file.",
                    |ctx: &SdkContext, path: String| -> Result<String, ToolError> {
                        ctx.check(Action::FsStat, &Resource::file(&path)?)?;
                        Ok(format!("probed {path}"))
                    },
                )
                .func(
                    "version",
                    [],
                    rhai_sdk::binding::NO_HOST,
                    "The tool's version.",
                    |_: &SdkContext| Ok::<_, ToolError>(3_i64),
                )
                .constant("NAME", "tool".to_string())
                .register_static(e)
        })
        .build();
    let args = ScriptArguments::new();
    assert_eq!(
        engine.run(r#"tool::probe("/etc/ok")"#, &args).output,
        "probed /etc/ok"
    );
    assert_eq!(engine.run("tool::version() + 1", &args).output, "4");
    assert_eq!(engine.run("tool::NAME", &args).output, "tool");
    let out = engine.run(r#"tool::probe("/etc/other")"#, &args);
    assert_denied(&out);
    assert_eq!(
        engine
            .run(&caught(r#"tool::probe("/etc/other")"#), &args)
            .output,
        "ToolErrorKind/PermissionDenied"
    );
}

// ---------------------------------------------------------------------------------------------
// remaining system and network functions

#[test]
fn ip_addr_and_resolve_allowed() {
    let e = engine(&format!(
        r#"{ALLOW_SYSINFO}
        permit(principal, action == sysinfo::Action::"resolve_hostname", resource) when {{ resource.hostname == "localhost" }};"#
    ));
    assert_eq!(
        ok(
            &e,
            "let a = ip_addr(); a.len() > 0 && a.some(|n| n.interface_name == \"lo\")"
        ),
        "true"
    );
    assert_eq!(
        ok(&e, "SystemInfo().ip_addresses().len() == ip_addr().len()"),
        "true"
    );
    let ips = ok(&e, r#"resolve("localhost")"#);
    assert!(ips.contains("127.0.0.1") || ips.contains("::1"), "{ips}");
    assert_eq!(
        ok(
            &e,
            r#"SystemInfo().resolve_hostname("localhost", TransportProtocol::AUTO).len() > 0"#
        ),
        "true"
    );
}

#[test]
fn ip_addr_and_resolve_denied() {
    let e = engine(ALLOW_SYSINFO);
    assert_denied(&run(&e, r#"resolve("localhost")"#));
    assert_eq!(
        ok(&e, &caught(r#"resolve("localhost")"#)),
        "SysteminfoErrorKind/PermissionDenied"
    );
    let e = engine("");
    assert_denied(&run(&e, "ip_addr()"));
    assert_denied(&run(&e, "SystemInfo().uname_info()"));
    assert_denied(&run(&e, "SystemInfo().swap_info()"));
}

#[test]
fn dmesg_is_gated() {
    let e = engine("");
    assert_denied(&run(&e, "dmesg()"));
    assert_denied(&run(&e, "SystemInfo().dmesg_info()"));
    // Allowed: Cedar lets it through (the kernel may still refuse /dev/kmsg in a container).
    let e = engine(r#"permit(principal, action in file_system::Action::"SafeIO", resource);"#);
    let out = run(&e, "dmesg()");
    assert!(out.denials.is_empty(), "{:?}", out.denials);
}

#[test]
fn network_stats_allowed_and_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let e = engine(r#"permit(principal, action in file_system::Action::"SafeIO", resource);"#);
    let out = ok(
        &e,
        &format!(
            r#"network_stats().internet_connections.some(|c| c.local_address.ends_with(":{port}") && c.state == "LISTEN")"#
        ),
    );
    assert_eq!(out, "true");
    let out = ok(
        &e,
        &format!(
            r#"netstat().internet.some(|c| c.local_address.ends_with(":{port}") && c.protocol.len() > 0)"#
        ),
    );
    assert_eq!(out, "true");
    let e = engine("");
    assert_denied(&run(&e, "network_stats()"));
    assert_denied(&run(&e, "netstat()"));
    assert_eq!(
        ok(&e, &caught("network_stats()")),
        "NetworkErrorKind/PermissionDenied"
    );
}

#[test]
fn fuser_allowed_and_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("held.txt");
    std::fs::write(&file, "x").unwrap();
    let file = file.to_str().unwrap().to_string();
    let child = Sleeper(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec sleep 30 3< '{file}'"))
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    std::thread::sleep(Duration::from_millis(200));
    // REX's checks on /proc, plus `open` on the path's parent and `stat` on the path.
    let proc_read = &format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc");
        permit(principal, action in [file_system::Action::"open", file_system::Action::"stat"], resource in file_system::Dir::"{}");"#,
        tmp.path().display()
    );
    let script = format!(r#"ProcessManager().processes_using_inode("{file}").map(|f| f.pid)"#);

    let e = engine(&format!("{proc_read}\n{}", allow_process("list_fds", pid)));
    assert_eq!(ok(&e, &script), format!("[{pid}]"));
    // list_fds denied for the process: silently left out.
    let e = engine(proc_read);
    assert_eq!(ok(&e, &script), "[]");
    // /proc itself denied: an error.
    let e = engine(&allow_process("list_fds", pid));
    assert_denied(&run(&e, &script));
}
