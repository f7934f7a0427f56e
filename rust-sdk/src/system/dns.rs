//! A minimal DNS stub client (A and AAAA over UDP or TCP) for custom resolvers.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::{SysinfoError, TransportProtocol};

/// Port of the custom resolver.
pub(crate) const DNS_PORT: u16 = 53;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> SysinfoError {
    move |source| SysinfoError::Io { op, source }
}

fn bad(msg: &str) -> SysinfoError {
    SysinfoError::InvalidValue(format!("DNS response: {msg}"))
}

/// Builds a query for `name` with the given id and type.
pub(crate) fn build_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, SysinfoError> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| *l > 0 && *l < 64)
            .ok_or_else(|| SysinfoError::InvalidParameter(format!("invalid label in `{name}`")))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

fn u16_at(b: &[u8], i: usize) -> Result<u16, SysinfoError> {
    match (b.get(i), b.get(i + 1)) {
        (Some(h), Some(l)) => Ok(u16::from_be_bytes([*h, *l])),
        _ => Err(bad("truncated")),
    }
}

/// Skips a (possibly compressed) name starting at `i`; returns the index after it.
fn skip_name(b: &[u8], mut i: usize) -> Result<usize, SysinfoError> {
    for _ in 0..128 {
        let len = *b.get(i).ok_or_else(|| bad("truncated name"))?;
        if len == 0 {
            return Ok(i + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Ok(i + 2);
        }
        i += 1 + usize::from(len);
    }
    Err(bad("name too long"))
}

/// Parses the A/AAAA answers of a response to query `id`.
pub(crate) fn parse_response(b: &[u8], id: u16) -> Result<Vec<IpAddr>, SysinfoError> {
    if u16_at(b, 0)? != id {
        return Err(bad("id mismatch"));
    }
    let flags = u16_at(b, 2)?;
    if flags & 0x8000 == 0 {
        return Err(bad("not a response"));
    }
    match flags & 0x000f {
        0 => {}
        3 => return Ok(Vec::new()),
        rcode => return Err(bad(&format!("rcode {rcode}"))),
    }
    let qd = u16_at(b, 4)?;
    let an = u16_at(b, 6)?;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(b, i)?;
        let rtype = u16_at(b, i)?;
        let rdlen = usize::from(u16_at(b, i + 8)?);
        let data = b
            .get(i + 10..i + 10 + rdlen)
            .ok_or_else(|| bad("truncated"))?;
        match (rtype, data.len()) {
            (TYPE_A, 4) => {
                let mut a = [0u8; 4];
                a.copy_from_slice(data);
                out.push(IpAddr::V4(Ipv4Addr::from(a)));
            }
            (TYPE_AAAA, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(data);
                out.push(IpAddr::V6(Ipv6Addr::from(a)));
            }
            _ => {}
        }
        i += 10 + rdlen;
    }
    Ok(out)
}

fn query_id(qtype: u16) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    ((nanos ^ std::process::id().rotate_left(16)) as u16) ^ qtype
}

fn remaining(deadline: Instant) -> Result<Duration, SysinfoError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| SysinfoError::Timeout("DNS query".into()))
}

fn ask_udp(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<Vec<IpAddr>, SysinfoError> {
    let local: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = UdpSocket::bind(local).map_err(io("bind"))?;
    sock.connect(server).map_err(io("connect"))?;
    sock.send(q).map_err(io("send"))?;
    let mut buf = [0u8; 4096];
    loop {
        sock.set_read_timeout(Some(remaining(deadline)?))
            .map_err(io("set_read_timeout"))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(SysinfoError::Timeout("DNS query".into()));
            }
            Err(e) => return Err(io("recv")(e)),
        };
        // ignore stray datagrams with another id
        if let Some(resp) = buf.get(..n)
            && u16_at(resp, 0).ok() == Some(id)
        {
            return parse_response(resp, id);
        }
    }
}

fn ask_tcp(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<Vec<IpAddr>, SysinfoError> {
    let mut s = TcpStream::connect_timeout(&server, remaining(deadline)?).map_err(io("connect"))?;
    s.set_read_timeout(Some(remaining(deadline)?))
        .map_err(io("set_read_timeout"))?;
    let len = u16::try_from(q.len()).map_err(|_| bad("query too long"))?;
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    s.write_all(&msg).map_err(io("send"))?;
    let mut lenb = [0u8; 2];
    s.read_exact(&mut lenb).map_err(io("recv"))?;
    let mut resp = vec![0u8; usize::from(u16::from_be_bytes(lenb))];
    s.read_exact(&mut resp).map_err(io("recv"))?;
    parse_response(&resp, id)
}

/// Resolves `name` (A, then AAAA) at `server` port 53, under the proof that
/// `resolve_hostname` was allowed (with this resolver in its context).
pub(crate) fn resolve(
    permit: &crate::Permit,
    name: &str,
    server: IpAddr,
    protocol: TransportProtocol,
    timeout: Duration,
) -> Result<Vec<String>, SysinfoError> {
    permit.require_action(&[rex_auth::Action::SysinfoResolveHostname])?;
    resolve_at(name, SocketAddr::new(server, DNS_PORT), protocol, timeout)
}

/// Resolves `name` at `server` (any port; used by tests).
pub(crate) fn resolve_at(
    name: &str,
    server: SocketAddr,
    protocol: TransportProtocol,
    timeout: Duration,
) -> Result<Vec<String>, SysinfoError> {
    let deadline = Instant::now() + timeout;
    let mut out: Vec<String> = Vec::new();
    for qtype in [TYPE_A, TYPE_AAAA] {
        let id = query_id(qtype);
        let q = build_query(id, name, qtype)?;
        let ips = match protocol {
            TransportProtocol::Tcp => ask_tcp(server, &q, id, deadline)?,
            TransportProtocol::Udp | TransportProtocol::Auto => ask_udp(server, &q, id, deadline)?,
        };
        for ip in ips {
            let s = ip.to_string();
            if !out.contains(&s) {
                out.push(s);
            }
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

    /// Answers every query with one A record 10.1.2.3 (AAAA queries get no answer).
    fn fake_server() -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    return;
                };
                let q = &buf[..n];
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let mut r = q.to_vec();
                r[2] = 0x81;
                r[3] = 0x80;
                if qtype == TYPE_A {
                    r[7] = 1;
                    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
                }
                sock.send_to(&r, peer).unwrap();
            }
        });
        addr
    }

    #[test]
    fn resolves_through_a_udp_server() {
        let server = fake_server();
        let ips = resolve_at(
            "demo.test",
            server,
            TransportProtocol::Udp,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(ips, vec!["10.1.2.3".to_string()]);
    }

    #[test]
    fn parses_and_rejects() {
        let q = build_query(7, "a.b", TYPE_A).unwrap();
        assert_eq!(q.len(), 12 + 5 + 4);
        assert!(parse_response(&q, 7).is_err(), "a query is not a response");
        assert!(parse_response(&[0, 7], 7).is_err());
        assert!(build_query(1, "a..b", TYPE_A).is_err());
    }
}
