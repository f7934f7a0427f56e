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

use rex_auth::{Action, AuthError, Denied, RequestContext, Resource};

use crate::SdkContext;

mod dns;

/// The kind of a [`SysinfoError`], mirroring REX's `SysteminfoErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SysinfoErrorKind {
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// An OS error.
    IoError,
    /// An invalid argument.
    InvalidParameter,
    /// A value read from the system could not be interpreted.
    InvalidValue,
    /// `/proc` could not be parsed.
    ProcFsError,
    /// Anything else (including unsupported requests).
    Other,
}

/// Errors of the system-information API.
#[derive(Debug, thiserror::Error)]
pub enum SysinfoError {
    /// Cedar denied the operation; nothing was read.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// An OS error.
    #[error("{op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An invalid argument.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A system value could not be interpreted.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// `/proc` could not be read or parsed.
    #[error("procfs error: {0}")]
    ProcFs(String),
    /// The operation timed out.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl SysinfoError {
    /// REX's error kind.
    pub fn kind(&self) -> SysinfoErrorKind {
        match self {
            SysinfoError::Denied(_) => SysinfoErrorKind::PermissionDenied,
            SysinfoError::Auth(_) => SysinfoErrorKind::AuthorizationError,
            SysinfoError::Io { .. } => SysinfoErrorKind::IoError,
            SysinfoError::InvalidParameter(_) => SysinfoErrorKind::InvalidParameter,
            SysinfoError::InvalidValue(_) => SysinfoErrorKind::InvalidValue,
            SysinfoError::ProcFs(_) => SysinfoErrorKind::ProcFsError,
            SysinfoError::Timeout(_) => SysinfoErrorKind::Other,
        }
    }
}

impl From<AuthError> for SysinfoError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Denied(d) => SysinfoError::Denied(d),
            other => SysinfoError::Auth(other),
        }
    }
}

fn procfs_err(e: impl std::fmt::Display) -> SysinfoError {
    SysinfoError::ProcFs(e.to_string())
}

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

/// One kernel log record (REX's `DmesgEntry`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DmesgEntry {
    /// Time since boot: seconds with microseconds (`"12.345678"`) or, with
    /// `human_readable_time`, `[   12.345678]`.
    pub timestamp_from_system_start: String,
    /// The message.
    pub message: String,
}

/// Options of [`dmesg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DmesgOptions {
    /// Format the timestamp like `dmesg` does (`[    1.234567]`).
    pub human_readable_time: bool,
}

/// One slab cache of `/proc/slabinfo` (REX's `SlabEntry`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlabEntry {
    /// Cache name.
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Allocated objects.
    pub num_objs: u64,
    /// Object size in bytes.
    pub obj_size: u64,
    /// Objects per slab.
    pub objs_per_slab: u64,
    /// Pages per slab.
    pub pages_per_slab: u64,
    /// Slabs with at least one object in use.
    pub active_slabs: u64,
    /// Allocated slabs.
    pub num_slabs: u64,
    /// `num_slabs * pages_per_slab * page size`, in bytes.
    pub cache_size: u64,
}

/// Totals over every slab cache, like `slabtop`'s header (REX's `SlabSummary`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlabSummary {
    /// Objects in use, all caches.
    pub active_objects: u64,
    /// Allocated objects.
    pub total_objects: u64,
    /// Active objects in percent of allocated ones.
    pub active_objects_percent: f64,
    /// Active slabs.
    pub active_slabs: u64,
    /// Allocated slabs.
    pub total_slabs: u64,
    /// Caches with an object in use.
    pub active_caches: u64,
    /// Caches.
    pub total_caches: u64,
    /// Bytes of objects in use.
    pub active_size: u64,
    /// Bytes of all slabs.
    pub total_size: u64,
    /// Smallest object size in bytes (0 without caches).
    pub min_obj_size: u64,
    /// Average object size in bytes over allocated objects.
    pub avg_obj_size: u64,
    /// Largest object size in bytes.
    pub max_obj_size: u64,
}

/// `/proc/slabinfo` (REX's `SlabInfo`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlabInfo {
    /// Every cache, in file order.
    pub slabs: Vec<SlabEntry>,
    /// Totals.
    pub summary: SlabSummary,
}

/// Parses `/proc/slabinfo` version 2.x text. `page_size` is in bytes.
pub fn parse_slabinfo(text: &str, page_size: u64) -> Result<SlabInfo, SysinfoError> {
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    if !version.starts_with("slabinfo - version: 2.") {
        return Err(SysinfoError::InvalidValue(format!(
            "unsupported slabinfo header `{version}`"
        )));
    }
    let mut slabs = Vec::new();
    for line in lines {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_whitespace();
        let name = f.next().unwrap_or_default().to_string();
        let mut num = || -> Result<u64, SysinfoError> {
            f.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })
        };
        let active_objs = num()?;
        let num_objs = num()?;
        let obj_size = num()?;
        let objs_per_slab = num()?;
        let pages_per_slab = num()?;
        // `: tunables <limit> <batchcount> <sharedfactor> : slabdata <active> <num> <shared>`
        let rest: Vec<&str> = line.split_whitespace().collect();
        let slabdata = rest
            .iter()
            .position(|w| *w == "slabdata")
            .and_then(|i| rest.get(i.saturating_add(1)..i.saturating_add(3)))
            .ok_or_else(|| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })?;
        let parse = |v: &str| -> Result<u64, SysinfoError> {
            v.parse().map_err(|_| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })
        };
        let active_slabs = parse(slabdata.first().copied().unwrap_or_default())?;
        let num_slabs = parse(slabdata.get(1).copied().unwrap_or_default())?;
        slabs.push(SlabEntry {
            name,
            active_objs,
            num_objs,
            obj_size,
            objs_per_slab,
            pages_per_slab,
            active_slabs,
            num_slabs,
            cache_size: num_slabs
                .saturating_mul(pages_per_slab)
                .saturating_mul(page_size),
        });
    }
    let sum = |f: fn(&SlabEntry) -> u64| slabs.iter().fold(0u64, |a, e| a.saturating_add(f(e)));
    let active_objects = sum(|e| e.active_objs);
    let total_objects = sum(|e| e.num_objs);
    let total_obj_bytes = sum(|e| e.num_objs.saturating_mul(e.obj_size));
    let summary = SlabSummary {
        active_objects,
        total_objects,
        active_objects_percent: if total_objects > 0 {
            active_objects as f64 / total_objects as f64 * 100.0
        } else {
            0.0
        },
        active_slabs: sum(|e| e.active_slabs),
        total_slabs: sum(|e| e.num_slabs),
        active_caches: slabs.iter().filter(|e| e.active_objs > 0).count() as u64,
        total_caches: slabs.len() as u64,
        active_size: sum(|e| e.active_objs.saturating_mul(e.obj_size)),
        total_size: sum(|e| e.cache_size),
        min_obj_size: slabs.iter().map(|e| e.obj_size).min().unwrap_or(0),
        avg_obj_size: total_obj_bytes.checked_div(total_objects).unwrap_or(0),
        max_obj_size: slabs.iter().map(|e| e.obj_size).max().unwrap_or(0),
    };
    Ok(SlabInfo { slabs, summary })
}

/// Slab allocator statistics from `/proc/slabinfo` (readable by root only on most kernels).
/// Checks `open` on Dir `/proc`, then `open` and `read` on File `/proc/slabinfo`. At most
/// `max_read_bytes` are read.
pub fn slab_info(ctx: &SdkContext) -> Result<SlabInfo, SysinfoError> {
    let text = crate::proc_file::read_one::<SysinfoError>(ctx, "/proc", "slabinfo")?;
    parse_slabinfo(&text, procfs::page_size())
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
    ctx.authorize(
        Action::SysinfoResolveHostname,
        &Resource::hostname(&opts.hostname)?,
        &context,
    )?;
    if let Some(server) = opts.resolver {
        return dns::resolve(name, server, opts.protocol, opts.timeout);
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

/// Reads the kernel log from `/dev/kmsg` without blocking. Checks `read` on File `/dev/kmsg`.
/// At most `ctx.limits().max_entries` records and `max_read_bytes` bytes are returned.
pub fn dmesg(ctx: &SdkContext, opts: DmesgOptions) -> Result<Vec<DmesgEntry>, SysinfoError> {
    check_read_file(ctx, "/dev/kmsg")?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open("/dev/kmsg")
        .map_err(|e| SysinfoError::Io {
            op: "open /dev/kmsg",
            source: e,
        })?;
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        if out.len() >= ctx.limits().max_entries
            || total >= ctx.limits().max_read_bytes
            || ctx.is_cancelled()
        {
            break;
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // EPIPE: records were overwritten while reading; continue with the next one.
            Err(e) if e.raw_os_error() == Some(32) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SysinfoError::Io {
                    op: "read /dev/kmsg",
                    source: e,
                });
            }
        };
        total = total.saturating_add(n as u64);
        let rec = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
        if let Some(e) = parse_kmsg(&rec, opts.human_readable_time) {
            out.push(e);
        }
    }
    Ok(out)
}

fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// Parses `pri,seq,usec,flags[,...];message\n[ continuation lines]`.
fn parse_kmsg(rec: &str, human: bool) -> Option<DmesgEntry> {
    let (head, rest) = rec.split_once(';')?;
    let usec: u64 = head.split(',').nth(2)?.parse().ok()?;
    let message = rest.lines().next().unwrap_or_default().to_string();
    let secs = usec / 1_000_000;
    let micros = usec % 1_000_000;
    let timestamp_from_system_start = if human {
        format!("[{secs:5}.{micros:06}]")
    } else {
        format!("{secs}.{micros:06}")
    };
    Some(DmesgEntry {
        timestamp_from_system_start,
        message,
    })
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
