//! Network: HTTP GET, connection probes and the socket table (`netstat`).
//!
//! * [`http_get`] checks `network::Action::"GET"` on `network::url::"<normalized url>"`. The
//!   URL is normalised first: scheme and host lower-cased, the scheme's default port removed
//!   (`https://example.com:443/x` → `https://example.com/x`), the fragment dropped, and
//!   userinfo (`user:pw@host`) and ambiguous paths (`.`/`..` segments, also percent-encoded,
//!   backslashes, `%2F`/`%5C`) refused. An already canonical URL such as
//!   `https://example.com/api` is authorized exactly as written, so REX policies keep working.
//!   Redirects are never followed automatically: each hop (at most [`MAX_REDIRECTS`]) is
//!   normalised and authorized again before it is requested.
//! * [`connect`] checks `network::Action::"connect"` on `network::url::"<host>"` with the
//!   scheme (`tcp`/`udp`), host **and port** as attributes (REX ignored the port).
//! * [`network_stats`] checks `open`+`read` on File `/proc` and on each
//!   `/proc/net/{tcp,tcp6,udp,udp6,unix}`, as REX does. The owning process of a socket is
//!   shown only when `process_system::Action::"list_fds"` allows it (REX showed it without a
//!   check).

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use rex_auth::{Action, AuthError, Denied, ProcessAttrs, Resource, ResourceKind, UrlAttrs};

use crate::{Permit, SdkContext};

mod error;
mod stats;
mod url;

pub use error::{NetworkError, NetworkErrorKind};
pub use stats::{InternetConnection, NetworkStats, SocketProcess, UnixSocket, network_stats};
use url::join_location;
pub use url::{NormalizedUrl, normalize_url};

/// Most redirects [`http_get`] follows.
pub const MAX_REDIRECTS: usize = 5;

/// Options of [`http_get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Largest accepted body; `None` uses `ctx.limits().max_http_body_bytes`. The smaller of
    /// the two applies.
    pub max_body_bytes: Option<u64>,
    /// Timeout of each request (connect, send and receive together).
    pub timeout: Duration,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` from the environment (as REX
    /// did). The authorization is on the target URL either way.
    pub use_env_proxy: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: None,
            timeout: Duration::from_secs(30),
            use_env_proxy: true,
        }
    }
}

/// An HTTP response (REX's `Response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, decoded as UTF-8 (lossily).
    pub text: String,
    /// The normalised URL of the final response (after redirects).
    pub url: String,
}

/// HTTP GET. Every URL requested, including each redirect target, is normalised and
/// authorized with `network::Action::"GET"` first; a denied URL opens no socket.
pub fn http_get(
    ctx: &SdkContext,
    url: &str,
    opts: &HttpOptions,
) -> Result<HttpResponse, NetworkError> {
    let limit = opts
        .max_body_bytes
        .map_or(ctx.limits().max_http_body_bytes, |m| {
            m.min(ctx.limits().max_http_body_bytes)
        });
    let mut builder = ureq::Agent::config_builder();
    if !opts.use_env_proxy {
        builder = builder.proxy(None);
    }
    let config = builder
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(opts.timeout))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut current = normalize_url(url)?;
    for _ in 0..=MAX_REDIRECTS {
        let permit = ctx.check(
            Action::NetworkGet,
            &Resource::url(&current.url, current.attrs())?,
        )?;
        let mut resp = get(&agent, &current, &permit)?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status)
            && status != 304
            && let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok())
        {
            current = normalize_url(&join_location(&current, loc))?;
            continue;
        }
        let mut body = Vec::new();
        let reader = resp.body_mut().as_reader();
        let mut limited = reader.take(limit.saturating_add(1));
        limited
            .read_to_end(&mut body)
            .map_err(|e| NetworkError::Request(e.to_string()))?;
        if body.len() as u64 > limit {
            return Err(NetworkError::BodyTooLarge { limit });
        }
        return Ok(HttpResponse {
            status,
            text: String::from_utf8_lossy(&body).into_owned(),
            url: current.url,
        });
    }
    Err(NetworkError::TooManyRedirects)
}

/// Sends one GET for `url`. `permit` is the proof that `GET` on exactly that URL was
/// allowed; any other proof is refused before a socket is opened.
fn get(
    agent: &ureq::Agent,
    url: &NormalizedUrl,
    permit: &Permit,
) -> Result<ureq::http::Response<ureq::Body>, NetworkError> {
    permit.require(&[Action::NetworkGet], ResourceKind::Url, &url.url)?;
    agent
        .get(&url.url)
        .call()
        .map_err(|e| NetworkError::Request(e.to_string()))
}

/// The transport of a [`connect`] probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP: a full handshake.
    Tcp,
    /// UDP: a connected socket (no packet is sent).
    Udp,
}

/// A successful probe (REX's opaque `Connection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address that answered.
    pub peer: SocketAddr,
    /// The transport used.
    pub transport: Transport,
}

/// Timeout of [`connect`], as in REX.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes `host:port`. Checks `connect` on `network::url::"<host>"` with scheme `tcp`/`udp`,
/// the lower-case host and the port, then connects (5 s timeout per address). The connection
/// is closed before returning.
pub fn connect(
    ctx: &SdkContext,
    host: &str,
    port: u16,
    transport: Transport,
) -> Result<Connection, NetworkError> {
    let h = host.to_ascii_lowercase();
    if h.is_empty()
        || port == 0
        || !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(NetworkError::InvalidUrl {
            url: format!("{host}:{port}"),
            reason: "invalid host or port",
        });
    }
    let scheme = match transport {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
    };
    let permit = ctx.check(
        Action::NetworkConnect,
        &Resource::url(
            &h,
            UrlAttrs {
                scheme: scheme.into(),
                host: h.clone(),
                port,
                path: String::new(),
            },
        )?,
    )?;
    probe(&h, port, transport, &permit)
}

/// Connects to `h:port` (5 s timeout per address) and closes the connection. `permit` is the
/// proof that `connect` on `network::url::"<h>"` was allowed; any other proof is refused
/// before anything is resolved or opened.
fn probe(
    h: &str,
    port: u16,
    transport: Transport,
    permit: &Permit,
) -> Result<Connection, NetworkError> {
    permit.require(&[Action::NetworkConnect], ResourceKind::Url, h)?;
    let endpoint = format!("{h}:{port}");
    let cerr = |source| NetworkError::Connect {
        endpoint: endpoint.clone(),
        source,
    };
    let addrs: Vec<SocketAddr> = (h, port).to_socket_addrs().map_err(cerr)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        let r = match transport {
            Transport::Tcp => TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map(|_| ()),
            Transport::Udp => {
                let local: SocketAddr = if addr.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], 0))
                } else {
                    SocketAddr::from(([0u16; 8], 0))
                };
                UdpSocket::bind(local).and_then(|s| s.connect(addr))
            }
        };
        match r {
            Ok(()) => {
                return Ok(Connection {
                    peer: addr,
                    transport,
                });
            }
            Err(e) => last = e,
        }
    }
    Err(cerr(last))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn canonical_urls_are_unchanged() {
        for u in [
            "https://example.com/api",
            "https://example.com",
            "http://127.0.0.1:8080/x?y=1",
            "http://[::1]:81/",
        ] {
            assert_eq!(normalize_url(u).unwrap().url, u);
        }
    }

    #[test]
    fn normalisation() {
        let n = normalize_url("HTTPS://Example.COM:443/A/b?q=1#frag").unwrap();
        assert_eq!(n.url, "https://example.com/A/b?q=1");
        assert_eq!(n.host, "example.com");
        assert_eq!(n.port, 443);
        assert_eq!(n.path, "/A/b");
        assert!(normalize_url("https://user:pw@example.com/").is_err());
        assert!(normalize_url("ftp://example.com/").is_err());
        assert!(normalize_url("https://example.com:99999/").is_err());
        assert!(normalize_url("https://exa mple.com/").is_err());
        assert!(normalize_url("https:///x").is_err());
    }

    #[test]
    fn joins_locations() {
        let b = normalize_url("http://127.0.0.1:8080/a/b").unwrap();
        assert_eq!(join_location(&b, "/c"), "http://127.0.0.1:8080/c");
        assert_eq!(join_location(&b, "c"), "http://127.0.0.1:8080/a/c");
        assert_eq!(join_location(&b, "https://x.org/"), "https://x.org/");
        assert_eq!(join_location(&b, "//x.org/y"), "http://x.org/y");
    }
}
