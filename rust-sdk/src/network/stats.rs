//! The socket table (`netstat`): `/proc/net` and the owning processes.

use super::*;

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
            Ok(_) => {}
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
