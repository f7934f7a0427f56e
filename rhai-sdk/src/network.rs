//! The `network` module (REX's `rhai-safe-network`): `Client()` → `.max_text_bytes(n)` →
//! `.get(url)` → `.send()`, `curl(url)`, `connect(host, port, TransportProtocol)` and
//! `network_stats()` / `netstat()`, `ip_addresses()`, and the constant modules
//! `NetworkProtocol`, `TcpState`, `UnixProtocol` and `UnixSocketState`.
//!
//! Unlike REX, redirects are followed only after each target URL passes Cedar (rust-sdk), the
//! port is part of the `connect` check, and response bodies are capped.

use rhai::{Dynamic, Engine, EvalAltResult, Map, Position};
use rust_sdk::SdkContext;
use rust_sdk::network::{self as net, HttpOptions, HttpResponse, Transport};

use crate::binding::{Binding, NO_HOST};
use crate::error::{NETWORK_SOURCE, SdkErrorInfo, script_err, to_script_error};
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// REX's `Client`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client {
    max_text_bytes: Option<u64>,
}

/// REX's `Request` (only GET).
#[derive(Debug, Clone)]
pub struct Request {
    url: String,
    max_text_bytes: Option<u64>,
}

/// REX's opaque `Connection` (a successful port probe).
#[derive(Debug, Clone)]
pub struct Connection(String);

fn request_error(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(NETWORK_SOURCE, "RequestError", message)
}

fn response_map(r: HttpResponse) -> Map {
    let mut m = Map::new();
    m.insert("status".into(), i64::from(r.status).into());
    m.insert("text".into(), r.text.into());
    m.insert("url".into(), r.url.into());
    m
}

fn get(ctx: &SdkContext, url: &str, max: Option<u64>) -> RResult<Map> {
    let opts = HttpOptions {
        max_body_bytes: max,
        ..Default::default()
    };
    net::http_get(ctx, url, &opts)
        .map(response_map)
        .map_err(to_script_error)
}

fn connect(ctx: &SdkContext, host: &str, port: i64, protocol: &str) -> RResult<Connection> {
    let port = u16::try_from(port).map_err(|_| request_error(format!("invalid port {port}")))?;
    let transport = match protocol {
        "TCP" | "AUTO" => Transport::Tcp,
        "UDP" => Transport::Udp,
        other => {
            return Err(request_error(format!(
                "unknown TransportProtocol {other:?}"
            )));
        }
    };
    let c = net::connect(ctx, host, port, transport).map_err(to_script_error)?;
    Ok(Connection(c.peer.to_string()))
}

fn netstat(ctx: &SdkContext) -> RResult<Map> {
    let stats = net::network_stats(ctx).map_err(to_script_error)?;
    let internet: rhai::Array = stats
        .internet_connections
        .into_iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("protocol".into(), c.protocol.into());
            m.insert("local_address".into(), c.local_address.into());
            m.insert("remote_address".into(), c.remote_address.into());
            m.insert("state".into(), c.state.into());
            m.insert("recv_queue".into(), i64::from(c.recv_queue).into());
            m.insert("send_queue".into(), i64::from(c.send_queue).into());
            Dynamic::from_map(m)
        })
        .collect();
    let unix: rhai::Array = stats
        .unix_sockets
        .into_iter()
        .map(|u| {
            let mut m = Map::new();
            m.insert("protocol".into(), u.protocol.into());
            m.insert("state".into(), u.state.into());
            m.insert("path".into(), u.path.map_or(Dynamic::UNIT, Dynamic::from));
            m.insert("ref_count".into(), i64::from(u.ref_count).into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut out = Map::new();
    out.insert("internet".into(), internet.into());
    out.insert("unix".into(), unix.into());
    Ok(out)
}

/// REX's constant modules of the socket tables; each constant equals the text of the
/// corresponding field (`c.state == TcpState::LISTEN`, `c.protocol == NetworkProtocol::TCP`).
const CONSTANT_MODULES: &[(&str, &[&str])] = &[
    ("NetworkProtocol", &["TCP", "UDP"]),
    (
        "TcpState",
        &[
            "ESTABLISHED",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT1",
            "FIN_WAIT2",
            "TIME_WAIT",
            "CLOSE",
            "CLOSE_WAIT",
            "LAST_ACK",
            "LISTEN",
            "CLOSING",
            "NEW_SYN_RECV",
            "NONE",
        ],
    ),
    ("UnixProtocol", &["STREAM", "DGRAM", "SEQPACKET"]),
    (
        "UnixSocketState",
        &["UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"],
    ),
];

/// `network_stats()`: REX's `NetworkStats`, whose `InternetConnection.protocol` is a
/// `NetworkProtocol` (`TCP` or `UDP`; the address family shows in the addresses).
fn network_stats(ctx: &SdkContext) -> RResult<Dynamic> {
    let mut stats = net::network_stats(ctx).map_err(to_script_error)?;
    for c in &mut stats.internet_connections {
        c.protocol = if c.protocol.starts_with("udp") {
            "UDP".into()
        } else {
            "TCP".into()
        };
    }
    rhai::serde::to_dynamic(&stats).map_err(|e| script_err(NETWORK_SOURCE, "Other", e.to_string()))
}

/// `ip_addresses()`: the interfaces (`sysinfo::list`), failing with network error maps as in
/// REX's network crate.
fn ip_addresses(ctx: &SdkContext) -> RResult<Dynamic> {
    use rust_sdk::system::SysinfoError;
    let ifs = rust_sdk::system::ip_addresses(ctx).map_err(|e| match &e {
        SysinfoError::Denied(d) => {
            SdkErrorInfo::denied(NETWORK_SOURCE, d).into_script_error(Position::NONE)
        }
        _ => script_err(NETWORK_SOURCE, "Other", e.to_string()),
    })?;
    rhai::serde::to_dynamic(&ifs).map_err(|e| script_err(NETWORK_SOURCE, "Other", e.to_string()))
}

/// Registers the network module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut b = Binding::new(engine, "network");
    let b = &mut b;
    if let Some(e) = b.engine() {
        crate::error::register_string_constants(e, CONSTANT_MODULES);
    }
    crate::utils::register_value_maps(b);
    b.custom_type::<Client>();
    b.custom_type::<Request>();
    b.custom_type::<Connection>();
    b.func(
        "Client",
        [],
        &[Action::NetworkGet],
        "An HTTP client (GET only).",
        Client::default,
    );
    crate::declare!(
        b,
        "max_text_bytes",
        NO_HOST,
        "Caps the response body size (returns the updated client).",
        |_this: &mut Client, n: i64| {
            let n = u64::try_from(n).map_err(|_| request_error("max_text_bytes must be >= 0"))?;
            Ok::<_, Box<EvalAltResult>>(Client {
                max_text_bytes: Some(n),
            })
        }
    );
    crate::declare!(
        b,
        "get",
        NO_HOST,
        "HTTP GET of a URL; the response as a map.",
        |c: &mut Client, url: &str| Request {
            url: url.to_string(),
            max_text_bytes: c.max_text_bytes,
        }
    );
    b.getter("url", NO_HOST, "The `url` property.", |r: &mut Request| {
        r.url.clone()
    });
    b.getter(
        "method",
        NO_HOST,
        "The `method` property.",
        |_this: &mut Request| "Get".to_string(),
    );
    b.getter(
        "max_text_size",
        NO_HOST,
        "The `max_text_size` property.",
        |r: &mut Request| {
            r.max_text_bytes.map_or(Dynamic::UNIT, |n| {
                i64::try_from(n).unwrap_or(i64::MAX).into()
            })
        },
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |c: &mut Connection| c.0.clone()
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "send",
        &[Action::NetworkGet],
        "Sends the request (HTTP GET).",
        |r: &mut Request| { get(&c, &r.url, r.max_text_bytes) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "curl",
        &[Action::NetworkGet],
        "Fetches a URL with HTTP GET and returns the body.",
        |url: &str| get(&c, url, None)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "connect",
        &[Action::NetworkConnect],
        "Opens a TCP connection to check that a host and port answer.",
        |host: &str, port: i64, protocol: &str| { connect(&c, host, port, protocol) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "netstat",
        &[Action::FsOpen, Action::FsRead],
        "The host's internet connections.",
        || netstat(&c)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "network_stats",
        &[Action::FsOpen, Action::FsRead],
        "Per-interface network counters.",
        || network_stats(&c)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "ip_addresses",
        &[Action::SysinfoList],
        "The network interfaces and their addresses.",
        || ip_addresses(&c)
    );
}

crate::script_types!(
    Client => "Client",
    Request => "Request",
    Connection => "Connection",
);
