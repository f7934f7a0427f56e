//! System information: memory, swap, CPU count, host name, uname, kernel statistics, interface
//! addresses, host name resolution and the kernel log.
//!
//! Checks, as in REX: memory and swap `read` File `/proc/meminfo`; kernel statistics `read`
//! File `/proc/stat`; the kernel log `read` File `/dev/kmsg`; CPU count, host name, uname and
//! interface addresses `sysinfo::Action::"list"` on the `sysinfo::Sysinfo` resource; name
//! resolution `sysinfo::Action::"resolve_hostname"` on `sysinfo::Hostname::"<name>"` with the
//! custom resolver (if any) in the context, so a policy can restrict resolvers (REX did not
//! check the resolver). Slab statistics check `open` on Dir `/proc`, then `open` and `read` on
//! File `/proc/slabinfo` (REX's sequence).

use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc;
use std::time::Duration;

use rex_auth::{Action, AuthError, Denied, RequestContext, Resource, ResourceKind};

use crate::SdkContext;

mod dmesg;
mod dns;
mod error;
mod slab;

pub use dmesg::{DmesgEntry, DmesgOptions, dmesg};
use error::procfs_err;
pub use error::{SysinfoError, SysinfoErrorKind};
pub use slab::{SlabEntry, SlabInfo, SlabSummary, parse_slabinfo, slab_info};

fn check_read_file(ctx: &SdkContext, path: &str) -> Result<(), SysinfoError> {
    ctx.check(Action::FsRead, &Resource::file(path)?)?;
    Ok(())
}

fn check_sysinfo(ctx: &SdkContext) -> Result<(), SysinfoError> {
    ctx.check(Action::SysinfoList, &Resource::sysinfo())?;
    Ok(())
}

/// Memory figures in bytes (REX's `Meminfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemInfo {
    /// Total usable memory.
    pub total: u64,
    /// Free memory.
    pub free: u64,
    /// Memory available to new programs without swapping.
    pub available: u64,
    /// `total - available`.
    pub used: u64,
    /// Buffers.
    pub buffers: u64,
    /// Page cache.
    pub cached: u64,
    /// Shared memory (tmpfs, shm).
    pub shared_mem: u64,
}

/// Swap figures in bytes (REX's `Swapinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SwapInfo {
    /// Total swap.
    pub total: u64,
    /// Free swap.
    pub free: u64,
    /// `total - free`.
    pub used: u64,
}

/// Fields of `uname` (REX's `UnameInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnameInfo {
    /// e.g. `Linux`.
    pub kernel_name: String,
    /// The host name.
    pub nodename: String,
    /// e.g. `6.8.0-45-generic`.
    pub kernel_release: String,
    /// The kernel build string.
    pub kernel_version: String,
    /// e.g. `x86_64`.
    pub machine: String,
    /// The processor type (the machine on Linux).
    pub processor: String,
    /// The hardware platform (the machine on Linux).
    pub hardware_platform: String,
    /// `GNU/Linux`.
    pub operating_system: String,
}

/// CPU time of one CPU (or all), in ticks and milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CpuTime {
    /// User ticks.
    pub user_ticks: u64,
    /// Nice ticks.
    pub nice_ticks: u64,
    /// System ticks.
    pub system_ticks: u64,
    /// Idle ticks.
    pub idle_ticks: u64,
    /// I/O wait ticks.
    pub iowait_ticks: u64,
    /// IRQ ticks.
    pub irq_ticks: u64,
    /// Soft IRQ ticks.
    pub softirq_ticks: u64,
    /// Steal ticks.
    pub steal_ticks: u64,
    /// User time in ms.
    pub user_ms: u64,
    /// Nice time in ms.
    pub nice_ms: u64,
    /// System time in ms.
    pub system_ms: u64,
    /// Idle time in ms.
    pub idle_ms: u64,
    /// I/O wait in ms.
    pub iowait_ms: u64,
    /// IRQ time in ms.
    pub irq_ms: u64,
    /// Soft IRQ time in ms.
    pub softirq_ms: u64,
    /// Steal time in ms.
    pub steal_ms: u64,
}

impl CpuTime {
    fn from_procfs(c: &procfs::CpuTime, ticks_per_sec: u64) -> Self {
        let ms = |t: u64| {
            t.saturating_mul(1000)
                .checked_div(ticks_per_sec)
                .unwrap_or(0)
        };
        let iowait = c.iowait.unwrap_or(0);
        let irq = c.irq.unwrap_or(0);
        let softirq = c.softirq.unwrap_or(0);
        let steal = c.steal.unwrap_or(0);
        CpuTime {
            user_ticks: c.user,
            nice_ticks: c.nice,
            system_ticks: c.system,
            idle_ticks: c.idle,
            iowait_ticks: iowait,
            irq_ticks: irq,
            softirq_ticks: softirq,
            steal_ticks: steal,
            user_ms: ms(c.user),
            nice_ms: ms(c.nice),
            system_ms: ms(c.system),
            idle_ms: ms(c.idle),
            iowait_ms: ms(iowait),
            irq_ms: ms(irq),
            softirq_ms: ms(softirq),
            steal_ms: ms(steal),
        }
    }
}

/// Kernel statistics from `/proc/stat` (REX's `KernelStats`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelStats {
    /// All CPUs together.
    pub total_cpu_time: CpuTime,
    /// One entry per CPU.
    pub cpu_time: Vec<CpuTime>,
    /// Runnable processes.
    pub procs_running: u32,
    /// Processes blocked on I/O.
    pub procs_blocked: u32,
    /// Context switches since boot.
    pub context_switches: u64,
    /// Boot time, seconds since the epoch.
    pub boot_time: u64,
    /// Forks since boot.
    pub forks: u64,
}

/// Addresses of one network interface (REX's `Network`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkInterface {
    /// e.g. `lo`.
    pub interface_name: String,
    /// IPv4 and IPv6 addresses as text.
    pub addresses: Vec<String>,
}

/// The transport a resolution is for (REX's `TransportProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransportProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Either.
    #[default]
    Auto,
}

/// What to resolve (REX's `ResolveOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The name to resolve.
    pub hostname: String,
    /// The transport (informational for the system resolver).
    pub protocol: TransportProtocol,
    /// A custom DNS server; `None` uses the system resolver.
    pub resolver: Option<IpAddr>,
    /// How long to wait.
    pub timeout: Duration,
}

impl ResolveOptions {
    /// System resolver, automatic protocol, 5 s timeout.
    pub fn new(hostname: &str) -> Self {
        ResolveOptions {
            hostname: hostname.to_string(),
            protocol: TransportProtocol::Auto,
            resolver: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Memory figures. Checks `read` on File `/proc/meminfo`.
pub fn memory_info(ctx: &SdkContext) -> Result<MemInfo, SysinfoError> {
    check_read_file(ctx, "/proc/meminfo")?;
    let m: procfs::Meminfo = procfs::Current::current().map_err(procfs_err)?;
    let available = m.mem_available.unwrap_or(m.mem_free);
    Ok(MemInfo {
        total: m.mem_total,
        free: m.mem_free,
        available,
        used: m.mem_total.saturating_sub(available),
        buffers: m.buffers,
        cached: m.cached,
        shared_mem: m.shmem.unwrap_or(0),
    })
}

/// Swap figures. Checks `read` on File `/proc/meminfo`.
pub fn swap_info(ctx: &SdkContext) -> Result<SwapInfo, SysinfoError> {
    check_read_file(ctx, "/proc/meminfo")?;
    let m: procfs::Meminfo = procfs::Current::current().map_err(procfs_err)?;
    Ok(SwapInfo {
        total: m.swap_total,
        free: m.swap_free,
        used: m.swap_total.saturating_sub(m.swap_free),
    })
}

/// The number of CPUs this process may run on. Checks `sysinfo::list`.
pub fn cpu_count(ctx: &SdkContext) -> Result<usize, SysinfoError> {
    check_sysinfo(ctx)?;
    std::thread::available_parallelism()
        .map(|n| n.get())
        .map_err(|e| SysinfoError::Io {
            op: "available_parallelism",
            source: e,
        })
}

/// The host name. Checks `sysinfo::list`.
pub fn hostname(ctx: &SdkContext) -> Result<String, SysinfoError> {
    check_sysinfo(ctx)?;
    Ok(rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned())
}

/// `uname -a` fields. Checks `sysinfo::list`.
pub fn uname_info(ctx: &SdkContext) -> Result<UnameInfo, SysinfoError> {
    check_sysinfo(ctx)?;
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    let machine = s(u.machine());
    Ok(UnameInfo {
        kernel_name: s(u.sysname()),
        nodename: s(u.nodename()),
        kernel_release: s(u.release()),
        kernel_version: s(u.version()),
        processor: machine.clone(),
        hardware_platform: machine.clone(),
        machine,
        operating_system: "GNU/Linux".to_string(),
    })
}

/// Kernel statistics. Checks `read` on File `/proc/stat`.
pub fn kernel_stats(ctx: &SdkContext) -> Result<KernelStats, SysinfoError> {
    check_read_file(ctx, "/proc/stat")?;
    let k: procfs::KernelStats = procfs::CurrentSI::current().map_err(procfs_err)?;
    let tps = procfs::ticks_per_second();
    Ok(KernelStats {
        total_cpu_time: CpuTime::from_procfs(&k.total, tps),
        cpu_time: k
            .cpu_time
            .iter()
            .map(|c| CpuTime::from_procfs(c, tps))
            .collect(),
        procs_running: k.procs_running.unwrap_or(0),
        procs_blocked: k.procs_blocked.unwrap_or(0),
        context_switches: k.ctxt,
        boot_time: k.btime,
        forks: k.processes,
    })
}

/// Addresses of every interface, in interface order. Checks `sysinfo::list`.
pub fn ip_addresses(ctx: &SdkContext) -> Result<Vec<NetworkInterface>, SysinfoError> {
    check_sysinfo(ctx)?;
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| SysinfoError::Io {
        op: "getifaddrs",
        source: e.into(),
    })?;
    let mut out: Vec<NetworkInterface> = Vec::new();
    for a in addrs {
        let ip: Option<IpAddr> = a.address.as_ref().and_then(|s| {
            if let Some(v4) = s.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        });
        let pos = match out
            .iter()
            .position(|n| n.interface_name == a.interface_name)
        {
            Some(p) => p,
            None => {
                out.push(NetworkInterface {
                    interface_name: a.interface_name.clone(),
                    addresses: Vec::new(),
                });
                out.len().saturating_sub(1)
            }
        };
        if let (Some(ip), Some(n)) = (ip, out.get_mut(pos)) {
            n.addresses.push(ip.to_string());
        }
    }
    Ok(out)
}

/// Resolves a host name to its addresses (deduplicated, in resolver order).
///
/// Checks `resolve_hostname` on `sysinfo::Hostname::"<hostname>"` with the custom resolver in
/// the context (`context.resolver`, the address as text). Without a resolver the system
/// resolver (`getaddrinfo`) is used; with one, A and AAAA queries are sent to it on port 53
/// over UDP (`Udp`/`Auto`) or TCP (`Tcp`), and the answers are returned (A first).
pub fn resolve_hostname(
    ctx: &SdkContext,
    opts: &ResolveOptions,
) -> Result<Vec<String>, SysinfoError> {
    let name = opts.hostname.trim_end_matches('.');
    if name.is_empty()
        || name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' || b == b':')
    {
        return Err(SysinfoError::InvalidParameter(format!(
            "invalid host name `{}`",
            opts.hostname
        )));
    }
    let context = RequestContext::Resolve {
        resolver: opts.resolver.map(|r| r.to_string()),
    };
    let permit = ctx.authorize(
        Action::SysinfoResolveHostname,
        &Resource::hostname(&opts.hostname)?,
        &context,
    )?;
    if let Some(server) = opts.resolver {
        permit.require(
            &[Action::SysinfoResolveHostname],
            ResourceKind::Hostname,
            &opts.hostname,
        )?;
        return dns::resolve(&permit, name, server, opts.protocol, opts.timeout);
    }
    let (tx, rx) = mpsc::channel();
    let host = name.to_string();
    std::thread::spawn(move || {
        let r = (host.as_str(), 0u16)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    let ips = match rx.recv_timeout(opts.timeout) {
        Ok(Ok(ips)) => ips,
        Ok(Err(e)) => {
            return Err(SysinfoError::Io {
                op: "resolve",
                source: e,
            });
        }
        Err(_) => return Err(SysinfoError::Timeout(format!("resolving {name}"))),
    };
    let mut out: Vec<String> = Vec::new();
    for ip in ips {
        let s = ip.to_string();
        if !out.contains(&s) {
            out.push(s);
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
    use super::dmesg::parse_kmsg;
    use super::*;

    #[test]
    fn parses_slabinfo() {
        let text = "slabinfo - version: 2.1\n\
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
kmalloc-64          1000   1280     64   64    1 : tunables    0    0    0 : slabdata     20     20      0\n\
empty                  0      0    312   13    1 : tunables    0    0    0 : slabdata      0      0      0\n";
        let s = parse_slabinfo(text, 4096).unwrap();
        assert_eq!(s.slabs.len(), 2);
        let k = &s.slabs[0];
        assert_eq!(k.name, "kmalloc-64");
        assert_eq!((k.active_objs, k.num_objs, k.obj_size), (1000, 1280, 64));
        assert_eq!(
            (k.active_slabs, k.num_slabs, k.cache_size),
            (20, 20, 20 * 4096)
        );
        assert_eq!(s.summary.total_caches, 2);
        assert_eq!(s.summary.active_caches, 1);
        assert_eq!(s.summary.active_size, 64_000);
        assert_eq!(s.summary.min_obj_size, 64);
        assert_eq!(s.summary.max_obj_size, 312);
        assert!(parse_slabinfo("garbage", 4096).is_err());
        assert!(parse_slabinfo("slabinfo - version: 2.1\nx 1 2\n", 4096).is_err());
    }

    #[test]
    fn parses_kmsg_records() {
        let e = parse_kmsg("6,1234,5123456,-;hello world\n SUBSYSTEM=x\n", false).unwrap();
        assert_eq!(e.timestamp_from_system_start, "5.123456");
        assert_eq!(e.message, "hello world");
        let e = parse_kmsg("6,1,12,-;x\n", true).unwrap();
        assert_eq!(e.timestamp_from_system_start, "[    0.000012]");
        assert!(parse_kmsg("garbage", false).is_none());
    }
}
