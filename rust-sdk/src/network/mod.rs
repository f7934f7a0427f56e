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

use rex_auth::{Action, AuthError, Denied, ProcessAttrs, Resource, UrlAttrs};

use crate::SdkContext;

/// Most redirects [`http_get`] follows.
pub const MAX_REDIRECTS: usize = 5;

/// The kind of a [`NetworkError`], mirroring REX's `NetworkErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkErrorKind {
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// The request failed (invalid URL, connection, protocol, too large, too many redirects).
    RequestError,
    /// Anything else.
    Other,
}

/// Errors of the network API.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Cedar denied the operation; no socket was opened.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// The URL is not acceptable.
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The request failed.
    #[error("request failed: {0}")]
    Request(String),
    /// The response body exceeded the limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooManyRedirects,
    /// Connecting failed.
    #[error("connect to {endpoint} failed: {source}")]
    Connect {
        /// Host and port.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading `/proc/net` failed.
    #[error("cannot read socket table: {0}")]
    ProcFs(String),
}

impl NetworkError {
    /// REX's error kind.
    pub fn kind(&self) -> NetworkErrorKind {
        match self {
            NetworkError::Denied(_) => NetworkErrorKind::PermissionDenied,
            NetworkError::Auth(_) => NetworkErrorKind::AuthorizationError,
            NetworkError::InvalidUrl { .. }
            | NetworkError::Request(_)
            | NetworkError::BodyTooLarge { .. }
            | NetworkError::TooManyRedirects
            | NetworkError::Connect { .. } => NetworkErrorKind::RequestError,
            NetworkError::ProcFs(_) => NetworkErrorKind::Other,
        }
    }
}

impl From<AuthError> for NetworkError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Denied(d) => NetworkError::Denied(d),
            other => NetworkError::Auth(other),
        }
    }
}

/// A normalised HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedUrl {
    /// The normalised URL: the Cedar resource id and what is requested.
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host (IPv6 in brackets).
    pub host: String,
    /// The port (the scheme's default when absent).
    pub port: u16,
    /// Path without the query (`""` when the URL has none).
    pub path: String,
}

impl NormalizedUrl {
    fn attrs(&self) -> UrlAttrs {
        UrlAttrs {
            scheme: self.scheme.clone(),
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
        }
    }
}

/// Normalises an `http`/`https` URL (see the module documentation).
pub fn normalize_url(raw: &str) -> Result<NormalizedUrl, NetworkError> {
    let bad = |reason| NetworkError::InvalidUrl {
        url: raw.to_string(),
        reason,
    };
    if raw.is_empty() || raw.len() > 8192 {
        return Err(bad("empty or longer than 8192 bytes"));
    }
    if raw.bytes().any(|b| b <= b' ' || b == 0x7f) || !raw.is_ascii() {
        return Err(bad("whitespace, control or non-ASCII characters"));
    }
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| bad("missing scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("only http and https are supported")),
    };
    let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    if authority.contains('@') {
        return Err(bad("userinfo is not allowed"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unterminated IPv6 host"))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("invalid IPv6 host"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after host"))?),
        };
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty()
        || !host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        })
    {
        return Err(bad("invalid host"));
    }
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().map_err(|_| bad("invalid port"))?
        }
        Some(_) => return Err(bad("invalid port")),
    };
    if port == 0 {
        return Err(bad("port 0"));
    }
    let path = tail.split_once('?').map_or(tail, |(p, _)| p).to_string();
    if has_ambiguous_segment(&path) {
        return Err(bad(
            "dot segments, backslashes or encoded separators in the path",
        ));
    }
    let url = if port == default_port {
        format!("{scheme}://{host}{tail}")
    } else {
        format!("{scheme}://{host}:{port}{tail}")
    };
    Ok(NormalizedUrl {
        url,
        scheme,
        host,
        port,
        path,
    })
}

/// Whether a URL path could name something other than what it spells for a policy: a `.`
/// or `..` segment (also percent-encoded, or with a `;` parameter, as some servers accept),
/// a backslash, or an encoded separator (`%2F`, `%5C`). Servers and proxies resolve these, so a grant
/// such as `resource.path like "/public/*"` would otherwise match `/public/../secret`.
fn has_ambiguous_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains('\\') || lower.contains("%2f") || lower.contains("%5c") {
        return true;
    }
    lower.split('/').any(|seg| {
        let seg = seg.split(';').next().unwrap_or("").replace("%2e", ".");
        seg == "." || seg == ".."
    })
}

/// Resolves a redirect `Location` against the URL that returned it.
fn join_location(base: &NormalizedUrl, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin = if (base.scheme == "http" && base.port == 80)
        || (base.scheme == "https" && base.port == 443)
    {
        format!("{}://{}", base.scheme, base.host)
    } else {
        format!("{}://{}:{}", base.scheme, base.host, base.port)
    };
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}://{rest}", base.scheme);
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let dir = base.path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}

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
        ctx.check(
            Action::NetworkGet,
            &Resource::url(&current.url, current.attrs())?,
        )?;
        let mut resp = agent
            .get(&current.url)
            .call()
            .map_err(|e| NetworkError::Request(e.to_string()))?;
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
    ctx.check(
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
    let endpoint = format!("{h}:{port}");
    let cerr = |source| NetworkError::Connect {
        endpoint: endpoint.clone(),
        source,
    };
    let addrs: Vec<SocketAddr> = (h.as_str(), port)
        .to_socket_addrs()
        .map_err(cerr)?
        .collect();
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

/// The process owning a socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SocketProcess {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub process_name: String,
}

/// An internet socket (REX's `InternetConnection`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InternetConnection {
    /// `tcp`, `tcp6`, `udp` or `udp6`.
    pub protocol: String,
    /// Receive queue.
    pub recv_queue: u32,
    /// Send queue.
    pub send_queue: u32,
    /// Local address.
    pub local_address: String,
    /// Remote address.
    pub remote_address: String,
    /// TCP state (`LISTEN`, `ESTABLISHED`, ...); `NONE` for UDP.
    pub state: String,
    /// Socket inode.
    pub inode: u64,
    /// Owner, when `list_fds` allows it.
    pub process_info: Option<SocketProcess>,
}

/// A unix socket (REX's `UnixSocket`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnixSocket {
    /// `STREAM`, `DGRAM` or `SEQPACKET`.
    pub protocol: String,
    /// Reference count.
    pub ref_count: u32,
    /// `UNCONNECTED`, `CONNECTING`, `CONNECTED`, `DISCONNECTING`.
    pub state: String,
    /// Socket inode.
    pub inode: u64,
    /// The bound path, if any.
    pub path: Option<String>,
    /// Owner, when `list_fds` allows it.
    pub process_info: Option<SocketProcess>,
}

/// The socket table (REX's `NetworkStats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct NetworkStats {
    /// TCP and UDP sockets.
    pub internet_connections: Vec<InternetConnection>,
    /// Unix sockets.
    pub unix_sockets: Vec<UnixSocket>,
}

fn tcp_state(s: &procfs::net::TcpState) -> &'static str {
    use procfs::net::TcpState as T;
    match s {
        T::Established => "ESTABLISHED",
        T::SynSent => "SYN_SENT",
        T::SynRecv => "SYN_RECV",
        T::FinWait1 => "FIN_WAIT1",
        T::FinWait2 => "FIN_WAIT2",
        T::TimeWait => "TIME_WAIT",
        T::Close => "CLOSE",
        T::CloseWait => "CLOSE_WAIT",
        T::LastAck => "LAST_ACK",
        T::Listen => "LISTEN",
        T::Closing => "CLOSING",
        T::NewSynRecv => "NEW_SYN_RECV",
    }
}

/// Maps socket inodes to their owning processes, for the processes `list_fds` allows.
fn socket_owners(ctx: &SdkContext) -> Result<HashMap<u64, SocketProcess>, NetworkError> {
    let mut map = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return Ok(map);
    };
    for p in all.filter_map(|p| p.ok()) {
        let Ok(stat) = p.stat() else { continue };
        let Ok(status) = p.status() else { continue };
        let pid = u32::try_from(p.pid()).unwrap_or(0);
        let username = match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(status.ruid)) {
            Ok(Some(u)) => u.name,
            _ => status.ruid.to_string(),
        };
        let attrs = ProcessAttrs {
            pid,
            uid: status.ruid,
            name: stat.comm.clone(),
            username,
            command: p.cmdline().map(|c| c.join(" ")).unwrap_or_default(),
        };
        match ctx.check(Action::ProcessListFds, &Resource::process(attrs)) {
            Ok(()) => {}
            Err(AuthError::Denied(_)) => continue,
            Err(e) => return Err(NetworkError::Auth(e)),
        }
        let Ok(fds) = p.fd() else { continue };
        for fd in fds.filter_map(|f| f.ok()) {
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                map.entry(inode).or_insert_with(|| SocketProcess {
                    pid,
                    process_name: stat.comm.clone(),
                });
            }
        }
    }
    Ok(map)
}

/// The socket table (`netstat`). See the module documentation for the checks.
pub fn network_stats(ctx: &SdkContext) -> Result<NetworkStats, NetworkError> {
    let proc_file = Resource::file("/proc")?;
    ctx.check(Action::FsOpen, &proc_file)?;
    ctx.check(Action::FsRead, &proc_file)?;
    for f in ["tcp", "tcp6", "udp", "udp6", "unix"] {
        let r = Resource::file(&format!("/proc/net/{f}"))?;
        ctx.check(Action::FsOpen, &r)?;
        ctx.check(Action::FsRead, &r)?;
    }
    let pe = |e: procfs::ProcError| NetworkError::ProcFs(e.to_string());
    let owners = socket_owners(ctx)?;
    let mut out = NetworkStats::default();
    let tcp = [("tcp", procfs::net::tcp()), ("tcp6", procfs::net::tcp6())];
    for (proto, entries) in tcp {
        // tcp6/udp6 are missing when IPv6 is disabled
        let Ok(entries) = entries.or_else(|e| {
            if proto.ends_with('6') {
                Ok(Vec::new())
            } else {
                Err(pe(e))
            }
        }) else {
            continue;
        };
        for e in entries {
            out.internet_connections.push(InternetConnection {
                protocol: proto.into(),
                recv_queue: e.rx_queue,
                send_queue: e.tx_queue,
                local_address: e.local_address.to_string(),
                remote_address: e.remote_address.to_string(),
                state: tcp_state(&e.state).into(),
                inode: e.inode,
                process_info: owners.get(&e.inode).cloned(),
            });
        }
    }
    let udp = [("udp", procfs::net::udp()), ("udp6", procfs::net::udp6())];
    for (proto, entries) in udp {
        let entries = match entries {
            Ok(e) => e,
            Err(_) if proto == "udp6" => Vec::new(),
            Err(e) => return Err(pe(e)),
        };
        for e in entries {
            out.internet_connections.push(InternetConnection {
                protocol: proto.into(),
                recv_queue: e.rx_queue,
                send_queue: e.tx_queue,
                local_address: e.local_address.to_string(),
                remote_address: e.remote_address.to_string(),
                state: "NONE".into(),
                inode: e.inode,
                process_info: owners.get(&e.inode).cloned(),
            });
        }
    }
    for e in procfs::net::unix().map_err(pe)? {
        let protocol = match e.socket_type {
            1 => "STREAM",
            2 => "DGRAM",
            5 => "SEQPACKET",
            _ => "UNKNOWN",
        };
        let state = match e.state {
            procfs::net::UnixState::UNCONNECTED => "UNCONNECTED",
            procfs::net::UnixState::CONNECTING => "CONNECTING",
            procfs::net::UnixState::CONNECTED => "CONNECTED",
            procfs::net::UnixState::DISCONNECTING => "DISCONNECTING",
        };
        out.unix_sockets.push(UnixSocket {
            protocol: protocol.into(),
            ref_count: e.ref_count,
            state: state.into(),
            inode: e.inode,
            path: e.path.map(|p| p.to_string_lossy().into_owned()),
            process_info: owners.get(&e.inode).cloned(),
        });
        if out.unix_sockets.len() >= ctx.limits().max_entries {
            break;
        }
    }
    Ok(out)
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
