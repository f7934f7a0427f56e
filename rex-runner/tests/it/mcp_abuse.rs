//! `rex-runner mcp` under abuse (issue 29, items 1-7), through the real server binary: two
//! agents over HTTP (tests/mcp/abuse.py drives the HTTP side), an unauthenticated flood at
//! a lowered open-file limit (raw TCP), and the stdio server's three endings of a run that
//! executes `sleep`. The host is checked here: the audit log's lines, that no `sleep` a run
//! started is left, the server's CPU time, the files a run deleted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;

use super::mcp::{BIN, gone, python, sigterm, write_private};

const TOKEN_A: &str = "rex-abuse-token-agent-a-0123456789";
const TOKEN_B: &str = "rex-abuse-token-agent-b-9876543210";

/// A host with a policy set `work` (delete in `box/`, execute `/usr/bin/sleep`) for agents a
/// and b, a set `aonly` for agent a only, and the audit log `audit.jsonl`.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new(agent_a_extra: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("box")).unwrap();
        let r = root.display();
        write_private(
            &root.join("work.cedar"),
            &format!(
                "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\", \
                 file_system::Action::\"delete\"], resource in file_system::Dir::\"{r}/box\");\n\
                 permit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"/usr/bin\");\n\
                 permit(principal, action == file_system::Action::\"execute\", resource == file_system::File::\"/usr/bin/sleep\");\n"
            ),
        );
        write_private(
            &root.join("aonly.cedar"),
            "permit(principal, action == sysinfo::Action::\"list\", resource);\n",
        );
        let digest = |t: &str| hex::encode(sha2::Sha256::digest(t.as_bytes()));
        write_private(
            &root.join("agents.toml"),
            &format!(
                "[[agent]]\nname = \"a\"\ntoken_sha256 = \"{}\"\npolicies = [\"work\", \"aonly\"]\n{agent_a_extra}\n\
                 [[agent]]\nname = \"b\"\ntoken_sha256 = \"{}\"\npolicies = [\"work\"]\n",
                digest(TOKEN_A),
                digest(TOKEN_B)
            ),
        );
        Fixture { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// The HTTP server (its first stderr line gives the URL), run through `wrapper` (e.g.
    /// `prlimit`) if one is given.
    fn http_server(&self, wrapper: &[&str], extra: &[&str]) -> (Server, String) {
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .args(["mcp", "--listen", "127.0.0.1:0", "--agents"])
            .arg(self.root.join("agents.toml"))
            .arg("--policy")
            .arg(format!("work={}", self.path("work.cedar")))
            .arg("--policy")
            .arg(format!("aonly={}", self.path("aonly.cedar")))
            .arg("--log-file")
            .arg(self.root.join("audit.jsonl"))
            .args(["--grace", "1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
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
        (Server(child), url)
    }

    /// Runs one scenario of tests/mcp/abuse.py against the server at `url`.
    fn drive(&self, python: &Path, scenario: &str, server: &Server, url: &str, extra: Value) {
        let mut cfg = json!({
            "url": url,
            "pid": server.0.id(),
            "token_a": TOKEN_A,
            "token_b": TOKEN_B,
        });
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let path = self.root.join(format!("cfg-{scenario}.json"));
        fs::write(&path, cfg.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/abuse.py");
        let out = Command::new(python)
            .arg(script)
            .arg(scenario)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "abuse.py {scenario} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The audit log's lines.
    fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.root.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (up to 20 s) for an audit line matching `pred`.
    fn await_audit(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..400 {
            if let Some(l) = self.audit().into_iter().find(|l| pred(l)) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no audit line for {what}: {:#?}", self.audit());
    }
}

/// A server process, killed if a failed test leaves it running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Ends the server with SIGTERM; it must exit successfully.
fn stop(mut server: Server) {
    sigterm(&server.0);
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Whether `decisions` allowed deleting `path`.
fn deleted(line: &Value, path: &str) -> bool {
    line["decisions"].as_array().is_some_and(|ds| {
        ds.iter().any(|d| {
            d["decision"] == "allow"
                && d["action"].as_str().unwrap_or_default().contains("delete")
                && d["resource"].as_str().unwrap_or_default().contains(path)
        })
    })
}

#[test]
fn a_session_is_refused_to_another_agent_and_the_refusal_is_logged() {
    let Some(python) = python() else { return };
    let fx = Fixture::new("");
    let (server, url) = fx.http_server(&[], &[]);
    fx.drive(&python, "sessions", &server, &url, json!({}));
    let refused: Vec<Value> = fx
        .audit()
        .into_iter()
        .filter(|l| l["tool"] == "session" && l["agent"] == "b" && l["outcome"] == "REFUSED")
        .collect();
    // The tools/call and the DELETE.
    assert_eq!(refused.len(), 2, "{:#?}", fx.audit());
    assert!(
        refused
            .iter()
            .all(|l| l["reason"].as_str().unwrap().contains("another agent")),
        "{refused:#?}"
    );
    stop(server);
}

#[test]
fn one_agent_cannot_hold_unbounded_sessions_and_idle_ones_expire() {
    let Some(python) = python() else { return };
    let fx = Fixture::new("");
    let (server, url) = fx.http_server(
        &[],
        &[
            "--max-sessions-per-agent",
            "2",
            "--session-idle-timeout",
            "2",
        ],
    );
    fx.drive(
        &python,
        "session_cap",
        &server,
        &url,
        json!({"cap": 2, "idle_seconds": 2}),
    );
    fx.await_audit("the refused initialize", |l| {
        l["tool"] == "session"
            && l["agent"] == "a"
            && l["reason"].as_str().is_some_and(|r| r.contains("too many"))
    });
    stop(server);
}

#[test]
fn calls_past_the_queue_bound_are_busy_at_once() {
    let Some(python) = python() else { return };
    let fx = Fixture::new("");
    let (server, url) = fx.http_server(
        &[],
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "1",
            "--max-queued-bytes",
            "4K",
        ],
    );
    fx.drive(&python, "queue", &server, &url, json!({}));
    let busy = fx
        .audit()
        .into_iter()
        .filter(|l| l["outcome"] == "BUSY")
        .count();
    assert_eq!(busy, 2, "{:#?}", fx.audit());
    stop(server);
}

#[test]
fn an_agent_at_its_share_does_not_make_another_wait() {
    let Some(python) = python() else { return };
    let fx = Fixture::new("max_concurrent = 1\n");
    let (server, url) = fx.http_server(&[], &["--max-concurrent", "2"]);
    fx.drive(&python, "fairness", &server, &url, json!({}));
    stop(server);
}

#[test]
fn looks_at_policies_and_killed_runs_reach_the_audit_log() {
    let Some(python) = python() else { return };
    let fx = Fixture::new("");
    let cancelled = fx.path("box/cancelled.txt");
    let oversize = fx.path("box/oversize.txt");
    fs::write(&cancelled, "x").unwrap();
    fs::write(&oversize, "x").unwrap();
    let (server, url) = fx.http_server(&[], &["--max-memory", "2G"]);
    fx.drive(
        &python,
        "audit",
        &server,
        &url,
        json!({"cancelled_file": cancelled, "oversize_file": oversize}),
    );
    let lines = fx.audit();
    let find = |tool: &str, agent: &str, outcome: &str, key: &str, value: &str| {
        lines.iter().any(|l| {
            l["tool"] == tool && l["agent"] == agent && l["outcome"] == outcome && l[key] == value
        })
    };
    assert!(
        find("show_policy", "a", "SUCCESS", "policy", "work"),
        "{lines:#?}"
    );
    assert!(
        find("resources/read", "a", "SUCCESS", "uri", "rex://policy/work"),
        "{lines:#?}"
    );
    assert!(
        find("show_policy", "b", "REFUSED", "policy", "aonly"),
        "{lines:#?}"
    );
    assert!(
        find(
            "resources/read",
            "b",
            "REFUSED",
            "uri",
            "rex://policy/aonly"
        ),
        "{lines:#?}"
    );
    let run = fx.await_audit("the cancelled run", |l| {
        l["tool"] == "run_script" && deleted(l, &cancelled)
    });
    assert_eq!(run["agent"], "a", "{run}");
    assert_eq!(run["outcome"], "ERROR", "{run}");
    let run = fx.await_audit("the over-size run", |l| {
        l["tool"] == "run_script" && deleted(l, &oversize)
    });
    assert_eq!(run["agent"], "a", "{run}");
    stop(server);
}

/// CPU time (user + system) of `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// An authenticated `initialize` over a fresh connection; the HTTP status, or `None` if the
/// connection was closed or timed out without one.
fn initialize(addr: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN_A}\r\n\
         Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[test]
fn an_unauthenticated_flood_at_the_fd_limit_neither_spins_the_server_nor_locks_out_agents() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("\n!!!!!!!! SKIPPED: needs prlimit (util-linux) !!!!!!!!\n");
        return;
    }
    let fx = Fixture::new("");
    let (server, url) = fx.http_server(
        &["prlimit", "--nofile=96:96", "--"],
        &["--request-timeout", "7", "--max-concurrent", "1"],
    );
    let addr = url
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches("/mcp")
        .to_string();
    // Idle connections that never send a byte, more than the server has descriptors.
    let mut flood = Vec::new();
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(&addr) {
            flood.push(s);
        }
    }
    assert!(flood.len() > 96, "only {} connections", flood.len());
    std::thread::sleep(Duration::from_millis(300));
    let hz = ticks_per_second();
    let (t0, c0) = (Instant::now(), cpu_ticks(server.0.id()));
    std::thread::sleep(Duration::from_secs(3));
    let (wall, cpu) = (
        t0.elapsed().as_secs_f64(),
        (cpu_ticks(server.0.id()) - c0) as f64 / hz as f64,
    );
    // A server that retries a failing accept() in a loop burns a whole core.
    assert!(
        cpu / wall < 0.25,
        "the server used {cpu:.2} s of CPU in {wall:.2} s under the flood"
    );
    // A legitimate agent is served at once while the flood still holds its connections
    // open (before their pre-auth timeout of 7 s): the oldest unauthenticated connection
    // makes room for it.
    assert_eq!(
        initialize(&addr),
        Some(200),
        "the agent was not served during the flood"
    );
    // The pre-auth timeout closes every idle unauthenticated connection.
    std::thread::sleep(Duration::from_secs(6));
    let open = flood
        .iter()
        .filter(|s| {
            let mut s: &TcpStream = s;
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut byte = [0u8; 1];
            matches!(
                s.read(&mut byte),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            )
        })
        .count();
    assert_eq!(
        open, 0,
        "{open} idle connections outlived the pre-auth timeout"
    );
    drop(flood);
    stop(server);
}

/// The stdio server (raw JSON-RPC) with a `run_script` in flight (id 2) that executes
/// `sleep ARG`; returns the server once that `sleep` runs.
fn stdio_with_a_sleep(fx: &Fixture, arg: &str) -> Server {
    let server = Command::new(BIN)
        .args(["mcp", "--policy"])
        .arg(format!("work={}", fx.path("work.cedar")))
        .arg("--log-file")
        .arg(fx.root.join("audit.jsonl"))
        .args(["--grace", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The run deletes a file first: its decision must reach the audit log however it ends.
    let doomed = fx.path(&format!("box/{arg}.txt"));
    fs::write(&doomed, "x").unwrap();
    let script = format!(
        "rm(\"{doomed}\");\n\
         let bin = DirConfig().path(\"/usr/bin\").build().open(OpenDirOptions().build());\n\
         let f = bin.open_file(\"sleep\", OpenFileOptions().read(true).build());\n\
         f.execute(ExecuteOptions().args([\"{arg}\"]).build()).exit_code"
    );
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "run_script",
            "arguments": {"script": script, "timeout_seconds": 120}}}),
    ];
    let mut server = Server(server);
    send(&mut server.0, &messages);
    wait_for_sleep(arg);
    server
}

fn send(server: &mut Child, messages: &[Value]) {
    let stdin = server.stdin.as_mut().unwrap();
    for m in messages {
        writeln!(stdin, "{m}").unwrap();
    }
    stdin.flush().unwrap();
}

/// Pids of the processes running `sleep ARG`.
fn sleeps(arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().map_while(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if argv.len() >= 2 && argv[0].ends_with(b"sleep") && argv[1] == arg.as_bytes() {
            found.push(pid);
        }
    }
    found
}

fn wait_for_sleep(arg: &str) -> Vec<u32> {
    for _ in 0..600 {
        let found = sleeps(arg);
        if !found.is_empty() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("sleep {arg} never started");
}

fn assert_all_gone(pids: &[u32], arg: &str) {
    for pid in pids {
        assert!(gone(*pid), "sleep {arg} (pid {pid}) outlived its run");
    }
}

/// The run that executed `sleep ARG` is in the audit log with its deletion.
fn assert_audited(fx: &Fixture, arg: &str) {
    let doomed = fx.path(&format!("box/{arg}.txt"));
    assert!(!Path::new(&doomed).exists());
    let run = fx.await_audit("the ended run", |l| {
        l["tool"] == "run_script" && deleted(l, &doomed)
    });
    assert_eq!(run["outcome"], "ERROR", "{run}");
}

#[test]
fn an_executed_program_is_gone_after_end_of_input() {
    let fx = Fixture::new("");
    let arg = "317.123";
    let mut server = stdio_with_a_sleep(&fx, arg);
    let server = &mut server.0;
    let pids = sleeps(arg);
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
    assert_all_gone(&pids, arg);
    assert_audited(&fx, arg);
}

#[test]
fn an_executed_program_is_gone_after_sigterm() {
    let fx = Fixture::new("");
    let arg = "317.246";
    let mut server = stdio_with_a_sleep(&fx, arg);
    let server = &mut server.0;
    let pids = sleeps(arg);
    sigterm(server);
    assert!(server.wait().unwrap().success());
    assert_all_gone(&pids, arg);
    assert_audited(&fx, arg);
}

#[test]
fn an_executed_program_is_gone_after_its_call_is_cancelled() {
    let fx = Fixture::new("");
    let arg = "317.369";
    let mut server = stdio_with_a_sleep(&fx, arg);
    let server = &mut server.0;
    let pids = sleeps(arg);
    send(
        server,
        &[
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                   "params": {"requestId": 2, "reason": "test"}}),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "run_script", "arguments": {"script": "6 * 7"}}}),
        ],
    );
    assert_all_gone(&pids, arg);
    // The server is alive and answers the next call.
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut answered = false;
    for line in stdout.by_ref().lines().map_while(Result::ok) {
        let m: Value = serde_json::from_str(&line).unwrap();
        if m["id"] == 3 {
            assert_eq!(m["result"]["structuredContent"]["output"], "42", "{m}");
            answered = true;
            break;
        }
    }
    assert!(answered);
    assert_audited(&fx, arg);
    assert!(server.try_wait().unwrap().is_none(), "the server died");
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}
