//! `rex-runner mcp` driven by the official Python MCP client (`mcp` >= 2.3, in a venv under
//! the target directory: `python3 -m venv target/venv-mcp && target/venv-mcp/bin/pip install
//! 'mcp>=2.3'`, as `.ci/run` does). Over stdio and Streamable HTTP, in both protocol eras
//! (`legacy`: the initialize handshake; `2026-07-28`: no handshake). The Python driver
//! (tests/mcp/driver.py) asserts what the client sees; these tests check the host: the file a
//! denied run tried to overwrite is unchanged, the server is alive and has no child left, the
//! audit log has the calls and no secret, SIGTERM ends the server.
//!
//! Without the client the tests fail under CI (`CI=true`) and are skipped loudly elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sha2::Digest;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_rex-runner");
const TOKEN: &str = "rex-test-token-ci-bot-0123456789";
const OTHER_TOKEN: &str = "rex-test-token-other-9876543210";

/// The venv's Python with `mcp` importable, or `None` (after a loud message) outside CI.
pub(crate) fn python() -> Option<PathBuf> {
    let candidate = match std::env::var_os("REX_MCP_PYTHON") {
        Some(p) => PathBuf::from(p),
        // The workspace's venv (`.ci/run` makes it), else one beside the binaries.
        None => {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python");
            let target = Path::new(BIN).parent().and_then(Path::parent).unwrap();
            if workspace.exists() {
                workspace
            } else {
                target.join("venv-mcp/bin/python")
            }
        }
    };
    let works = Command::new(&candidate)
        .args(["-c", "import mcp, httpx2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(candidate);
    }
    let message = format!(
        "the Python MCP client is missing ({} cannot import mcp): create it with \
         `python3 -m venv target/venv-mcp && target/venv-mcp/bin/pip install 'mcp>=2.3'` \
         (or set REX_MCP_PYTHON)",
        candidate.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

struct Host {
    dir: tempfile::TempDir,
    root: PathBuf,
    secret: String,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("data")).unwrap();
        fs::write(root.join("data/pub.txt"), "public text\n").unwrap();
        let secret = format!("TOPSECRET-{}", std::process::id());
        fs::write(root.join("secret.txt"), format!("{secret}\n")).unwrap();
        let r = root.display();
        write_private(
            &root.join("readonly.cedar"),
            &format!(
                "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"],\n  \
                 resource in file_system::Dir::\"{r}/data\");\n\
                 permit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{r}\");\n"
            ),
        );
        write_private(
            &root.join("compute.cedar"),
            "permit(principal, action == sysinfo::Action::\"list\", resource);\n",
        );
        let digest = |t: &str| hex::encode(sha2::Sha256::digest(t.as_bytes()));
        write_private(
            &root.join("agents.toml"),
            &format!(
                "[[agent]]\nname = \"ci-bot\"\ntoken_sha256 = \"{}\"\npolicies = [\"readonly\"]\n\n\
                 [[agent]]\nname = \"other\"\ntoken_sha256 = \"{}\"\npolicies = [\"compute\"]\n",
                digest(TOKEN),
                digest(OTHER_TOKEN)
            ),
        );
        Host { dir, root, secret }
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn config(&self, transport: &str, mode: &str, limits: bool) -> Value {
        json!({
            "transport": transport,
            "mode": mode,
            "limits": limits,
            "allowed_file": self.path("data/pub.txt"),
            "allowed_text": "public text\n",
            "allowed_dir": self.path("data"),
            "secret_file": self.path("secret.txt"),
            "secret_text": self.secret,
            "token": TOKEN,
            "other_token": OTHER_TOKEN,
        })
    }

    fn drive(&self, python: &Path, config: &Value) {
        let cfg = self.dir.path().join(format!(
            "cfg-{}-{}.json",
            config["transport"].as_str().unwrap(),
            config["mode"].as_str().unwrap()
        ));
        fs::write(&cfg, config.to_string()).unwrap();
        let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/driver.py");
        let out = Command::new(python).arg(driver).arg(&cfg).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "driver failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        // The denied run tried to overwrite this file.
        assert_eq!(
            fs::read_to_string(self.root.join("data/pub.txt")).unwrap(),
            "public text\n"
        );
    }

    /// The audit log: every line is JSON, the secret never appears, runs carry their policy
    /// hash, script hash and decisions.
    fn check_audit_log(&self, who_key: &str, who: &str) {
        let text = fs::read_to_string(self.root.join("audit.jsonl")).unwrap();
        assert!(
            !text.contains(&self.secret),
            "the audit log holds the secret"
        );
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let runs: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                l["tool"] == "run_script" && l["policy"] == "readonly" && l["outcome"] != "REFUSED"
            })
            .collect();
        assert!(!runs.is_empty(), "{text}");
        for r in &runs {
            assert_eq!(r[who_key], who, "{r}");
            assert_eq!(r["policy_sha256"].as_str().unwrap().len(), 64, "{r}");
            assert_eq!(r["script_sha256"].as_str().unwrap().len(), 64, "{r}");
        }
        assert!(
            runs.iter().any(|r| r["outcome"] == "ERROR"
                && r["decisions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["decision"] == "deny")),
            "no denied run with its decisions: {text}"
        );
        if who_key == "agent" {
            // The other agent's attempt on a set it was not given is logged as refused.
            assert!(
                lines.iter().any(|l| l["agent"] == "other"
                    && l["policy"] == "readonly"
                    && l["outcome"] == "REFUSED"),
                "{text}"
            );
        }
    }
}

pub(crate) fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

/// The processes whose parent is `pid`.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let children = fs::read_to_string(task.unwrap().path().join("children")).unwrap();
        out.extend(
            children
                .split_whitespace()
                .map(|c| c.parse::<u32>().unwrap()),
        );
    }
    out
}

pub(crate) fn sigterm(child: &Child) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Starts the HTTP server on a free loopback port; returns it and its URL.
fn http_server(host: &Host) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["mcp", "--listen", "127.0.0.1:0", "--agents"])
        .arg(host.root.join("agents.toml"))
        .arg("--policy")
        .arg(format!("readonly={}", host.path("readonly.cedar")))
        .arg("--policy")
        .arg(format!("compute={}", host.path("compute.cedar")))
        .arg("--log-file")
        .arg(host.root.join("audit.jsonl"))
        .args(["--max-memory", "1G", "--grace", "2", "--max-timeout", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    // Keep draining the server's stderr (a closed pipe would fail its writes), echoing it.
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            eprintln!("[server] {l}");
        }
    });
    let url = line
        .trim()
        .strip_prefix("rex-runner mcp: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, url)
}

fn stdio_command(host: &Host) -> Vec<String> {
    vec![
        BIN.to_string(),
        "mcp".into(),
        "--policy".into(),
        format!("readonly={}", host.path("readonly.cedar")),
        "--log-file".into(),
        host.path("audit.jsonl"),
        "--max-memory".into(),
        "1G".into(),
        "--max-timeout".into(),
        "2".into(),
    ]
}

fn stdio(mode: &str, limits: bool) {
    let Some(python) = python() else { return };
    let host = Host::new();
    let mut config = host.config("stdio", mode, limits);
    config["command"] = json!(stdio_command(&host));
    host.drive(&python, &config);
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    host.check_audit_log("os_user", user.trim());
}

fn http(mode: &str, limits: bool) {
    let Some(python) = python() else { return };
    let host = Host::new();
    let (mut server, url) = http_server(&host);
    let mut config = host.config("http", mode, limits);
    config["url"] = json!(url);
    host.drive(&python, &config);
    assert!(server.try_wait().unwrap().is_none(), "the server died");
    assert_eq!(
        children_of(server.id()),
        Vec::<u32>::new(),
        "runs left behind"
    );
    host.check_audit_log("agent", "ci-bot");
    sigterm(&server);
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn stdio_legacy_handshake_with_limits() {
    stdio("legacy", true);
}

#[test]
fn stdio_2026_07_28() {
    stdio("2026-07-28", false);
}

#[test]
fn http_legacy_handshake() {
    http("legacy", false);
}

#[test]
fn http_2026_07_28_with_limits() {
    http("2026-07-28", true);
}

#[test]
fn an_invalid_policy_stops_the_server_with_located_diagnostics() {
    let host = Host::new();
    let bad = host.root.join("bad.cedar");
    write_private(
        &bad,
        "permit(principal, action == file_system::Action::\"reed\", resource);\n",
    );
    let out = Command::new(BIN)
        .args(["mcp", "--policy"])
        .arg(format!("bad={}", bad.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.cedar") && stderr.contains("reed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn plain_http_on_a_non_loopback_address_is_refused() {
    let host = Host::new();
    let out = Command::new(BIN)
        .args(["mcp", "--listen", "0.0.0.0:0", "--agents"])
        .arg(host.root.join("agents.toml"))
        .arg("--policy")
        .arg(format!("readonly={}", host.path("readonly.cedar")))
        .arg("--policy")
        .arg(format!("compute={}", host.path("compute.cedar")))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--insecure-listen"), "{stderr}");
}

#[test]
fn http_needs_an_agents_file() {
    let host = Host::new();
    let out = Command::new(BIN)
        .args(["mcp", "--listen", "127.0.0.1:0", "--policy"])
        .arg(format!("readonly={}", host.path("readonly.cedar")))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agents"));
}

/// A stdio server with a run in flight: returns the server and the run's pid (raw JSON-RPC,
/// no client library needed).
fn stdio_server_with_a_runaway(host: &Host) -> (Child, u32) {
    use std::io::Write;
    let cmd = stdio_command(host);
    let mut server = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["--grace", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "run_script",
            "arguments": {"script": "loop { }", "timeout_seconds": 120}}}),
    ];
    for m in messages {
        writeln!(stdin, "{m}").unwrap();
    }
    stdin.flush().unwrap();
    // Keep stdin open (in the child handle) until the caller decides how to end the server.
    server.stdin = Some(stdin);
    let mut run = None;
    for _ in 0..600 {
        if let Some(pid) = children_of(server.id()).first() {
            run = Some(*pid);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, run.expect("the run's process never started"))
}

/// Whether `pid` is gone (or a zombie: dead, waiting to be reaped). A process killed with
/// SIGKILL takes a moment to exit, so this waits for it (up to 20 s, to fail rather than hang).
pub(crate) fn gone(pid: u32) -> bool {
    for _ in 0..400 {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => return true,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    false
}

#[test]
fn end_of_input_ends_the_server_and_its_runs() {
    let host = Host::new();
    let (mut server, run) = stdio_server_with_a_runaway(&host);
    drop(server.stdin.take());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(gone(run), "run {run} outlived the server");
}

#[test]
fn sigterm_ends_the_server_and_its_runs_after_the_grace_period() {
    let host = Host::new();
    let (mut server, run) = stdio_server_with_a_runaway(&host);
    sigterm(&server);
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(gone(run), "run {run} outlived the server");
}

#[test]
fn https_with_a_certificate_serves_and_still_requires_the_token() {
    let Some(python) = python() else { return };
    let host = Host::new();
    let (cert, key) = (host.root.join("cert.pem"), host.root.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("\n!!!!!!!! SKIPPED: openssl cannot make a test certificate !!!!!!!!\n");
        return;
    }
    let mut server = Command::new(BIN)
        .args(["mcp", "--listen", "127.0.0.1:0", "--agents"])
        .arg(host.root.join("agents.toml"))
        .arg("--policy")
        .arg(format!("readonly={}", host.path("readonly.cedar")))
        .arg("--policy")
        .arg(format!("compute={}", host.path("compute.cedar")))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("rex-runner mcp: listening on ")
        .unwrap()
        .to_string();
    assert!(url.starts_with("https://"), "{url}");
    let probe = r#"
import sys, httpx2
url, token = sys.argv[1], sys.argv[2]
init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
h = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
with httpx2.Client(verify=False) as c:
    print(c.post(url, json=init, headers=h).status_code)
    print(c.post(url, json=init, headers={**h, "Authorization": "Bearer " + token}).status_code)
"#;
    let out = Command::new(&python)
        .args(["-c", probe, &url, TOKEN])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["401", "200"],
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sigterm(&server);
    assert!(server.wait().unwrap().success());
}
