//! HTTP GET, connect probes and netstat against real sockets on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::user_ctx as ctx;
use rust_sdk::SdkLimits;
use rust_sdk::network::{self, HttpOptions, NetworkErrorKind, Transport};

/// A tiny HTTP server: `/redirect` answers 302 to `redirect_to`, `/big` a large body,
/// everything else `hello <path>`. Counts accepted connections.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
    _thread: JoinHandle<()>,
}

fn server(redirect_to: Option<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
            }
            let resp = if path == "/redirect" {
                let to = redirect_to.clone().unwrap_or_else(|| "/final".into());
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else if path == "/big" {
                let body = "x".repeat(10_000);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body = format!("hello {path}");
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(resp.as_bytes());
        }
    });
    Server {
        port,
        hits,
        _thread: thread,
    }
}

/// Requests go straight to 127.0.0.1 even when the CI environment sets a proxy.
fn opts() -> HttpOptions {
    HttpOptions {
        use_env_proxy: false,
        ..HttpOptions::default()
    }
}

fn get_policy(urls: &[String]) -> String {
    urls.iter()
        .map(|u| {
            format!(
                r#"permit(principal, action == network::Action::"GET", resource == network::url::"{u}");"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn get_allowed() {
    let s = server(None);
    let url = format!("http://127.0.0.1:{}/api", s.port);
    let c = ctx(&get_policy(std::slice::from_ref(&url)));
    let r = network::http_get(&c, &url, &opts()).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "hello /api");
    // case and fragment are normalised to the same authorized URL
    let r = network::http_get(
        &c,
        &format!("HTTP://127.0.0.1:{}/api#frag", s.port),
        &opts(),
    )
    .unwrap();
    assert_eq!(r.url, url);
}

#[test]
fn get_denied_opens_no_socket() {
    let s = server(None);
    let c = ctx(&get_policy(&[format!("http://127.0.0.1:{}/other", s.port)]));
    let err =
        network::http_get(&c, &format!("http://127.0.0.1:{}/api", s.port), &opts()).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
    // userinfo is refused outright
    let err = network::http_get(
        &c,
        &format!("http://u:p@127.0.0.1:{}/other", s.port),
        &opts(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::RequestError);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn redirect_to_allowed_url_is_followed() {
    let s = server(None);
    let start = format!("http://127.0.0.1:{}/redirect", s.port);
    let fin = format!("http://127.0.0.1:{}/final", s.port);
    let c = ctx(&get_policy(&[start.clone(), fin.clone()]));
    let r = network::http_get(&c, &start, &opts()).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "hello /final");
    assert_eq!(r.url, fin);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn redirect_to_denied_url_is_reauthorized_and_refused() {
    let target = server(None);
    let target_url = format!("http://127.0.0.1:{}/secret", target.port);
    let s = server(Some(target_url));
    let start = format!("http://127.0.0.1:{}/redirect", s.port);
    let c = ctx(&get_policy(std::slice::from_ref(&start)));
    let err = network::http_get(&c, &start, &opts()).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        target.hits.load(Ordering::SeqCst),
        0,
        "redirect target never contacted"
    );
}

#[test]
fn redirect_loop_stops() {
    let s = server(Some("/redirect".into()));
    let start = format!("http://127.0.0.1:{}/redirect", s.port);
    let c = ctx(&get_policy(std::slice::from_ref(&start)));
    let err = network::http_get(&c, &start, &opts()).unwrap_err();
    assert!(matches!(err, network::NetworkError::TooManyRedirects));
}

#[test]
fn body_limit_is_enforced() {
    let s = server(None);
    let url = format!("http://127.0.0.1:{}/big", s.port);
    let c = ctx(&get_policy(std::slice::from_ref(&url))).with_limits(SdkLimits {
        max_http_body_bytes: 1000,
        ..SdkLimits::default()
    });
    let err = network::http_get(&c, &url, &opts()).unwrap_err();
    assert!(matches!(
        err,
        network::NetworkError::BodyTooLarge { limit: 1000 }
    ));
    let small = HttpOptions {
        max_body_bytes: Some(10),
        ..opts()
    };
    let c = ctx(&get_policy(std::slice::from_ref(&url)));
    assert!(network::http_get(&c, &url, &small).is_err());
    let ok = network::http_get(&c, &url, &opts()).unwrap();
    assert_eq!(ok.text.len(), 10_000);
}

#[test]
fn connect_tcp_allowed_checks_host_and_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = ctx(&format!(
        r#"permit(principal, action == network::Action::"connect", resource == network::url::"127.0.0.1")
           when {{ resource.port == {port} && resource.scheme == "tcp" }};"#
    ));
    let conn = network::connect(&c, "127.0.0.1", port, Transport::Tcp).unwrap();
    assert_eq!(conn.peer.port(), port);
    listener.set_nonblocking(false).unwrap();
    let (_s, _) = listener.accept().unwrap();
}

#[test]
fn connect_denied_other_port_opens_no_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = port.wrapping_add(1).max(1);
    let c = ctx(&format!(
        r#"permit(principal, action == network::Action::"connect", resource == network::url::"127.0.0.1")
           when {{ resource.port == {other} }};"#
    ));
    let err = network::connect(&c, "127.0.0.1", port, Transport::Tcp).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
    // UDP is a different scheme attribute: also denied by a tcp-only policy
    let c2 = ctx(
        r#"permit(principal, action == network::Action::"connect", resource) when { resource.scheme == "tcp" };"#,
    );
    let err = network::connect(&c2, "127.0.0.1", port, Transport::Udp).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "no connection was made");
}

#[test]
fn connect_udp_allowed() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let c = ctx(
        r#"permit(principal, action == network::Action::"connect", resource) when { resource.scheme == "udp" };"#,
    );
    let conn = network::connect(&c, "127.0.0.1", port, Transport::Udp).unwrap();
    assert_eq!(conn.transport, Transport::Udp);
}

const NETSTAT: &str = r#"
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/proc");
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/net");
"#;

#[test]
fn netstat_allowed_sees_listener_and_owner_only_with_list_fds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = ctx(NETSTAT);
    let stats = network::network_stats(&c).unwrap();
    let mine = stats
        .internet_connections
        .iter()
        .find(|e| e.protocol == "tcp" && e.local_address == format!("127.0.0.1:{port}"))
        .expect("listener listed");
    assert_eq!(mine.state, "LISTEN");
    assert!(mine.process_info.is_none(), "owner hidden without list_fds");
    let c = ctx(&format!(
        "{NETSTAT}\npermit(principal, action == process_system::Action::\"list_fds\", resource);"
    ));
    let stats = network::network_stats(&c).unwrap();
    let mine = stats
        .internet_connections
        .iter()
        .find(|e| e.protocol == "tcp" && e.local_address == format!("127.0.0.1:{port}"))
        .unwrap();
    assert_eq!(mine.process_info.as_ref().unwrap().pid, std::process::id());
}

#[test]
fn netstat_denied() {
    // /proc/net/* allowed but not /proc itself
    let c = ctx(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc/net");"#,
    );
    let err = network::network_stats(&c).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
    let c = ctx(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/proc");"#,
    );
    let err = network::network_stats(&c).unwrap_err();
    assert_eq!(err.kind(), NetworkErrorKind::PermissionDenied);
}
