//! Network escapes through the real runner, against real servers on 127.0.0.1: redirect
//! chains toward URLs the policy does not grant, URL spelling tricks, and `connect` to a
//! port that is not granted. The servers count every request, so "denied" also means
//! "never contacted".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The tests run real TCP servers to observe what the SDK sends.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::escape_common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use escape_common::{SECRET, assert_denied, assert_no_leak, assert_refused, run_args, runner};

/// A tiny HTTP server: `/redirect` answers 302 to `location`, `/secret` the secret, anything
/// else `hello <path>`. Records every request path.
struct Server {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(location: Option<String>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p2, s2) = (paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                p2.lock().unwrap().push(path.clone());
                let resp = match (path.as_str(), &location) {
                    ("/redirect", Some(to)) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    ("/secret", _) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SECRET}",
                        SECRET.len()
                    ),
                    _ => {
                        let body = format!("hello {path}");
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let mut s = stream;
                let _ = s.write_all(resp.as_bytes());
            }
        });
        Server {
            port,
            paths,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn permit_get(urls: &[String]) -> String {
    urls.iter()
        .map(|u| {
            format!(r#"permit(principal, action == network::Action::"GET", resource == network::url::"{u}");"#)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const GETS: &[&str] = &[
    "curl(u)",
    "Client().get(u).send()",
    "Client().max_text_bytes(100000).get(u).send()",
];

#[test]
fn redirect_to_another_host_is_reauthorized_and_never_contacted() {
    let target = Server::start(None);
    let front = Server::start(Some(target.url("/secret")));
    let start = front.url("/redirect");
    let r = runner(&permit_get(std::slice::from_ref(&start)));
    for script in GETS {
        let report = run_args(&r, script, &[("u", &start)]);
        assert_denied(&report);
        assert_no_leak(&report, SECRET);
    }
    assert_eq!(
        front.paths().len(),
        GETS.len(),
        "the permitted URL was fetched"
    );
    assert!(
        target.paths().is_empty(),
        "the redirect target was contacted"
    );
}

#[test]
fn redirect_chains_and_scheme_changes_are_refused() {
    let target = Server::start(None);
    // a chain: front -> middle (permitted) -> target (not permitted)
    let middle = Server::start(Some(target.url("/secret")));
    let front = Server::start(Some(middle.url("/redirect")));
    let start = front.url("/redirect");
    let r = runner(&permit_get(&[start.clone(), middle.url("/redirect")]));
    let report = run_args(&r, "curl(u)", &[("u", &start)]);
    assert_denied(&report);
    assert_eq!(middle.paths(), vec!["/redirect".to_string()]);
    assert!(target.paths().is_empty());

    // redirects to other schemes, userinfo and same-host paths that are not granted
    for location in [
        "file:///etc/passwd".to_string(),
        "gopher://127.0.0.1:70/".to_string(),
        format!("http://user:pw@127.0.0.1:{}/secret", target.port),
        "/secret".to_string(),
        "secret".to_string(),
        "//127.0.0.1:1/secret".to_string(),
    ] {
        let s = Server::start(Some(location.clone()));
        let start = s.url("/redirect");
        let r = runner(&permit_get(std::slice::from_ref(&start)));
        let report = run_args(&r, "curl(u)", &[("u", &start)]);
        assert!(report.outcome.error.is_some(), "{location} followed");
        assert_refused(&report, &["RequestError"]);
        assert_no_leak(&report, SECRET);
        assert_eq!(s.paths(), vec!["/redirect".to_string()], "{location}");
    }
    assert!(target.paths().is_empty());
}

#[test]
fn url_spellings_do_not_widen_an_exact_grant() {
    let s = Server::start(None);
    let granted = s.url("/public");
    let r = runner(&permit_get(std::slice::from_ref(&granted)));
    let p = s.port;
    for u in [
        format!("http://127.0.0.1:{p}/secret"),
        format!("http://127.0.0.1:{p}/public/../secret"),
        format!("http://127.0.0.1:{p}/public/%2e%2e/secret"),
        format!("http://127.0.0.1:{p}/public/"),
        format!("http://127.0.0.1:{p}/public?x=1"),
        format!("http://127.0.0.1:{p}//public"),
        format!("http://127.0.0.1:{p}@127.0.0.1:{p}/public"),
        format!("http://127.0.0.1:{p}\\@evil/public"),
        format!("http://2130706433:{p}/public"),
        format!("http://127.1:{p}/public"),
        format!("http://localhost:{p}/public"),
        format!("http://127.0.0.1.:{p}/public"),
        format!("https://127.0.0.1:{p}/public"),
        format!("http://127.0.0.1:{p}/public\n"),
        format!("http://127.0.0.1:{p}/pub\u{0}lic"),
        format!(" http://127.0.0.1:{p}/public"),
    ] {
        let report = run_args(&r, "curl(u)", &[("u", &u)]);
        assert!(report.outcome.error.is_some(), "{u:?} was fetched");
        assert_refused(&report, &["RequestError"]);
        assert_no_leak(&report, SECRET);
    }
    assert!(
        s.paths().is_empty(),
        "requests reached the server: {:?}",
        s.paths()
    );
    // the exact grant (and its case/fragment/default-port spellings) still works
    let report = run_args(
        &r,
        "curl(u).text",
        &[("u", &format!("HTTP://127.0.0.1:{p}/public#x"))],
    );
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert_eq!(report.outcome.output, "hello /public");
}

#[test]
fn connect_to_a_port_that_is_not_granted_is_denied_without_a_connection() {
    let granted = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let gp = granted.local_addr().unwrap().port();
    let op = other.local_addr().unwrap().port();
    let r = runner(&format!(
        r#"permit(principal, action == network::Action::"connect", resource)
             when {{ resource.host == "127.0.0.1" && resource.port == {gp} && resource.scheme == "tcp" }};"#
    ));
    let ok = run_args(
        &r,
        "connect(\"127.0.0.1\", parse_int(p), \"TCP\"); true",
        &[("p", &gp.to_string())],
    );
    assert!(ok.outcome.error.is_none(), "{:?}", ok.outcome.error);
    for (host, port) in [
        ("127.0.0.1", op.to_string()),
        ("localhost", gp.to_string()),
        ("127.1", gp.to_string()),
        ("2130706433", gp.to_string()),
        ("127.0.0.1", (i64::from(gp) + 65536).to_string()),
        ("127.0.0.1:1", gp.to_string()),
    ] {
        let report = run_args(
            &r,
            "connect(h, parse_int(p), \"TCP\")",
            &[("h", host), ("p", &port)],
        );
        assert!(report.outcome.error.is_some(), "{host}:{port} connected");
        assert_refused(&report, &["RequestError"]);
    }
    // UDP to the granted TCP port is a different grant
    let report = run_args(
        &r,
        "connect(\"127.0.0.1\", parse_int(p), \"UDP\")",
        &[("p", &gp.to_string())],
    );
    assert_denied(&report);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        other.accept().is_err(),
        "the ungranted port accepted a connection"
    );
}

#[test]
fn a_path_prefix_grant_cannot_be_escaped_with_dot_segments() {
    // `like "/public/*"` is a common way to grant a subtree of a site; dot segments (plain
    // or percent-encoded) must not turn it into a grant on `/secret`.
    let s = Server::start(None);
    let p = s.port;
    let r = runner(&format!(
        r#"permit(principal, action == network::Action::"GET", resource)
             when {{ resource.host == "127.0.0.1" && resource.port == {p} && resource.path like "/public/*" }};"#
    ));
    let ok = run_args(&r, "curl(u).text", &[("u", &s.url("/public/a"))]);
    assert!(ok.outcome.error.is_none(), "{:?}", ok.outcome.error);
    for path in [
        "/public/../secret",
        "/public/./../secret",
        "/public/%2e%2e/secret",
        "/public/%2E%2E/secret",
        "/public/.%2e/secret",
        "/public/%2e./secret",
        "/public/..%2fsecret",
        "/public/..%2Fsecret",
        "/public/..;/secret",
        "/public/..\\secret",
    ] {
        let report = run_args(&r, "curl(u)", &[("u", &s.url(path))]);
        assert!(report.outcome.error.is_some(), "{path} was fetched");
        assert_refused(&report, &["RequestError"]);
        assert_no_leak(&report, SECRET);
    }
    assert_eq!(s.paths(), vec!["/public/a".to_string()]);
}
