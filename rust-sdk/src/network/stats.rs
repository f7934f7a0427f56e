//! The socket table (`netstat`): `/proc/net` and the owning processes.

use super::*;

use procfs::{FromBufRead, FromBufReadSI};

use crate::proc_file::{self, ProcFile};

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
/// `proc_read` is the proof of `read` on File `/proc` that scanning the processes needs.
fn socket_owners(
    ctx: &SdkContext,
    proc_read: &Permit,
) -> Result<HashMap<u64, SocketProcess>, NetworkError> {
    proc_read.require(&[Action::FsRead], ResourceKind::File, "/proc")?;
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
    let proc_read = ctx.check(Action::FsRead, &proc_file)?;
    // Every check comes before any read; each table is then read under its own proof.
    let [tcp, tcp6, udp, udp6, unix] =
        proc_file::authorize_files(ctx, "/proc/net", ["tcp", "tcp6", "udp", "udp6", "unix"])?;
    let owners = socket_owners(ctx, &proc_read)?;
    let si = procfs::current_system_info();
    let mut out = NetworkStats::default();
    for (proto, file) in [("tcp", &tcp), ("tcp6", &tcp6)] {
        let entries = table(ctx, file, proto, |b| {
            procfs::net::TcpNetEntries::from_buf_read(b, si).map(|t| t.0)
        })?;
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
    for (proto, file) in [("udp", &udp), ("udp6", &udp6)] {
        let entries = table(ctx, file, proto, |b| {
            procfs::net::UdpNetEntries::from_buf_read(b, si).map(|t| t.0)
        })?;
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
    let unix_table = table(ctx, &unix, "unix", |b| {
        procfs::net::UnixNetEntries::from_buf_read(b).map(|t| t.0)
    })?;
    for e in unix_table {
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

/// One `/proc/net` table, read under its proof and parsed by `parse`. A missing IPv6 table
/// (IPv6 disabled) is empty; any other failure is an error.
fn table<T: Default>(
    ctx: &SdkContext,
    file: &ProcFile,
    proto: &str,
    parse: impl FnOnce(&[u8]) -> procfs::ProcResult<T>,
) -> Result<T, NetworkError> {
    match file.read(ctx) {
        Ok(text) => parse(text.as_bytes())
            .map_err(|e| NetworkError::ProcFs(format!("/proc/net/{proto}: {e}"))),
        Err(e) if proto.ends_with('6') && e.source.kind() == std::io::ErrorKind::NotFound => {
            Ok(T::default())
        }
        Err(e) => Err(NetworkError::ProcFs(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn allow_all() -> SdkContext {
        crate::context::test_context("permit(principal, action, resource);")
    }

    #[test]
    fn the_owner_scan_runs_only_under_the_proof_of_reading_proc() {
        let c = allow_all();
        let proc_read = c
            .check(Action::FsRead, &Resource::file("/proc").unwrap())
            .unwrap();
        assert!(socket_owners(&c, &proc_read).is_ok());
        // The proof of another file, or of another action on `/proc`, scans nothing.
        let other = c
            .check(Action::FsRead, &Resource::file("/etc").unwrap())
            .unwrap();
        let open = c
            .check(Action::FsOpen, &Resource::file("/proc").unwrap())
            .unwrap();
        for wrong in [&other, &open] {
            assert!(matches!(
                socket_owners(&c, wrong).unwrap_err(),
                NetworkError::Auth(AuthError::Config(_))
            ));
        }
    }

    #[test]
    fn a_missing_ipv6_table_is_empty_and_a_missing_ipv4_table_an_error() {
        let c = allow_all();
        let tcp = |b: &[u8]| {
            procfs::net::TcpNetEntries::from_buf_read(b, procfs::current_system_info()).map(|t| t.0)
        };
        let [missing6, missing, real] =
            proc_file::authorize_files(&c, "/proc/net", ["no-such-table6", "no-such-table", "tcp"])
                .unwrap();
        assert!(table(&c, &missing6, "tcp6", tcp).unwrap().is_empty());
        let e = table(&c, &missing, "tcp", tcp).unwrap_err();
        assert!(e.to_string().contains("/proc/net/no-such-table"), "{e}");
        assert!(table(&c, &real, "tcp", tcp).is_ok());
    }
}
