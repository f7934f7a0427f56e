//! Disks: mounted filesystems (`df`), an I/O statistics snapshot (`iostat`), the block device
//! tree (`lsblk`) and `unmount`.
//!
//! Checks, as in REX: `filesystems` reads File `/proc/mounts` and `/proc/diskstats`, then
//! `stat` on Dir `<mount point>` per filesystem (denied ones are left out and counted);
//! `iostat` reads `/proc/stat` and `/proc/diskstats`; `lsblk` opens and reads Dir
//! `/sys/block` and reads File `/proc/mounts`; `unmount` checks `unmount` on Dir `<path>`, opens
//! the parent without following any symlink (refusing a path that has one), authorizes the
//! resolved mount point and unmounts exactly it through the parent's descriptor. The kernel
//! files are read (`read_text`) only under the `Permit` of their own `read` check.

use std::collections::HashMap;
use std::path::Path;

use rex_auth::{Action, AuthError, Denied, Resource, ResourceKind, ResourcePath};

use crate::{Permit, SdkContext};

/// The kind of a [`DiskError`], mirroring REX's `DiskinfoErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskErrorKind {
    /// An invalid path.
    InvalidPath,
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// A system call failed.
    SystemError,
    /// An I/O error.
    IoError,
    /// Anything else.
    Other,
}

/// Errors of the disk API.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Cedar denied the operation; nothing was done.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason.
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// The path is not absolute or not valid.
    #[error("invalid path `{0}`")]
    InvalidPath(String),
    /// The path goes through a symlink; `unmount` only acts on a path without one, so what
    /// is unmounted is the mount point that was authorized.
    #[error("`{0}` goes through a symlink")]
    SymlinkInPath(String),
    /// A system call failed.
    #[error("{op} failed: {source}")]
    System {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// `/proc` or `/sys` could not be read or parsed.
    #[error("cannot read {what}: {message}")]
    Io {
        /// What was being read.
        what: &'static str,
        /// The error.
        message: String,
    },
}

impl DiskError {
    /// REX's error kind.
    pub fn kind(&self) -> DiskErrorKind {
        match self {
            DiskError::Denied(_) => DiskErrorKind::PermissionDenied,
            DiskError::Auth(AuthError::InvalidPath { .. })
            | DiskError::InvalidPath(_)
            | DiskError::SymlinkInPath(_) => DiskErrorKind::InvalidPath,
            DiskError::Auth(_) => DiskErrorKind::AuthorizationError,
            DiskError::System { .. } => DiskErrorKind::SystemError,
            DiskError::Io { .. } => DiskErrorKind::IoError,
        }
    }
}

crate::error::sdk_error!(
    DiskError,
    module: crate::error::kind_module::DISKINFO,
    denied: DiskError::Denied,
    auth: DiskError::Auth,
);

/// Checks `read` on File `path` (REX's one check for these kernel files) and returns the proof.
fn read_file(ctx: &SdkContext, path: &str) -> Result<Permit, DiskError> {
    Ok(ctx.check(Action::FsRead, &Resource::file(path)?)?)
}

/// Reads the kernel file `path` as text under `read`, the proof of `read` on that very file.
fn read_text(read: &Permit, path: &'static str) -> Result<String, DiskError> {
    read.require(&[Action::FsRead], ResourceKind::File, path)?;
    std::fs::read_to_string(path).map_err(|e| DiskError::Io {
        what: path,
        message: e.to_string(),
    })
}

/// One mounted filesystem (REX's `Filesystem`). Sizes are in bytes unless named otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Filesystem {
    /// Total size in bytes.
    pub size: u64,
    /// Used bytes.
    pub block_used: u64,
    /// Bytes available to unprivileged users.
    pub block_available: u64,
    /// Total inodes.
    pub inodes: u64,
    /// Size in 1 KiB blocks.
    pub kb_blocks: u64,
    /// Size in 1 MiB blocks.
    pub mb_blocks: u64,
    /// Used inodes.
    pub iused: u64,
    /// Free inodes.
    pub ifree: u64,
    /// `used / (used + available)` in percent, rounded up like `df`.
    pub block_use_percent: f64,
    /// Used inodes in percent.
    pub iuse_percent: f64,
    /// The device (`/dev/sda1`, `tmpfs`, ...).
    pub fs_device: String,
    /// The filesystem type.
    pub fs_kind: String,
    /// The mount point.
    pub mounted_on: String,
    /// Mount options.
    pub mount_options: Vec<String>,
}

/// Options of [`filesystems`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilesystemOptions {
    /// Only these mount points (empty: all).
    pub targets: Vec<String>,
    /// Only filesystems backed by a device (`/dev/...`).
    pub local: bool,
}

/// The result of [`filesystems`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilesystemList {
    /// Filesystems whose mount point `stat` was allowed.
    pub filesystems: Vec<Filesystem>,
    /// Filesystems left out because `stat` on the mount point was denied.
    pub denied_count: usize,
}

/// Unescapes `\040`-style octal escapes of `/proc/mounts`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'\\'
            && let Some(oct) = s.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(oct, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 100.0 / whole as f64 * 100.0).ceil() / 100.0
    }
}

/// Mounted filesystems with their usage (`df`). See the module documentation for the checks.
pub fn filesystems(
    ctx: &SdkContext,
    opts: &FilesystemOptions,
) -> Result<FilesystemList, DiskError> {
    let read_mounts = read_file(ctx, "/proc/mounts")?;
    read_file(ctx, "/proc/diskstats")?;
    let mounts = read_text(&read_mounts, "/proc/mounts")?;
    let mut out = FilesystemList::default();
    let mut seen = std::collections::HashSet::new();
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mp), Some(kind), Some(options)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let mp = unescape(mp);
        if !opts.targets.is_empty() && !opts.targets.iter().any(|t| t == &mp) {
            continue;
        }
        if opts.local && !dev.starts_with("/dev/") {
            continue;
        }
        if !seen.insert(mp.clone()) {
            continue;
        }
        let Ok(rp) = ResourcePath::new(&mp) else {
            continue;
        };
        match ctx.check(Action::FsStat, &Resource::dir_path(&rp)) {
            Ok(_) => {}
            Err(AuthError::Denied(_)) => {
                out.denied_count += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        // By descriptor, opened without following any symlink: the usage reported is that of
        // the mount point that was authorized, even if a component was swapped for a symlink.
        let Ok(fd) = rustix::fs::openat2(
            rustix::fs::CWD,
            mp.as_str(),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
        ) else {
            continue;
        };
        let Ok(st) = rustix::fs::fstatvfs(&fd) else {
            continue;
        };
        let frsize = st.f_frsize.max(1);
        let size = st.f_blocks.saturating_mul(frsize);
        let free = st.f_bfree.saturating_mul(frsize);
        let avail = st.f_bavail.saturating_mul(frsize);
        let used = size.saturating_sub(free);
        let iused = st.f_files.saturating_sub(st.f_ffree);
        out.filesystems.push(Filesystem {
            size,
            block_used: used,
            block_available: avail,
            inodes: st.f_files,
            kb_blocks: size / 1024,
            mb_blocks: size / (1024 * 1024),
            iused,
            ifree: st.f_ffree,
            block_use_percent: percent(used, used.saturating_add(avail)),
            iuse_percent: percent(iused, st.f_files),
            fs_device: unescape(dev),
            fs_kind: kind.to_string(),
            mounted_on: mp,
            mount_options: options.split(',').map(str::to_string).collect(),
        });
        if out.filesystems.len() >= ctx.limits().max_entries {
            break;
        }
    }
    Ok(out)
}

/// CPU share since boot, in percent (REX's `CpuStats`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct CpuStats {
    /// User.
    pub user_percent: f64,
    /// Nice.
    pub nice_percent: f64,
    /// System (including IRQ time).
    pub system_percent: f64,
    /// I/O wait.
    pub iowait_percent: f64,
    /// Steal.
    pub steal_percent: f64,
    /// Idle.
    pub idle_percent: f64,
}

/// Per-device I/O statistics averaged since boot (REX's `DeviceStats`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct DeviceStats {
    /// Device name (`sda`).
    pub device_name: String,
    /// Merged reads per second.
    pub rrqm_per_sec: f64,
    /// Merged writes per second.
    pub wrqm_per_sec: f64,
    /// Reads per second.
    pub read_requests_per_sec: f64,
    /// Writes per second.
    pub write_requests_per_sec: f64,
    /// KiB read per second.
    pub rkb_per_sec: f64,
    /// KiB written per second.
    pub wkb_per_sec: f64,
    /// Average request size in sectors.
    pub avg_request_size: f64,
    /// Average queue length.
    pub avg_queue_size: f64,
    /// Average wait per request, ms.
    pub avg_wait: f64,
    /// Average wait per read, ms.
    pub avg_read_wait: f64,
    /// Average wait per write, ms.
    pub avg_write_wait: f64,
    /// Average service time, ms.
    pub svctm: f64,
    /// Busy time in percent.
    pub util_percent: f64,
}

/// An `iostat` snapshot (since boot).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct IoStatSnapshot {
    /// CPU shares.
    pub cpu_stats: CpuStats,
    /// Per-device statistics.
    pub device_stats: Vec<DeviceStats>,
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// An I/O statistics snapshot averaged since boot. Checks `read` on `/proc/stat` and
/// `/proc/diskstats`.
pub fn iostat(ctx: &SdkContext) -> Result<IoStatSnapshot, DiskError> {
    let read_stat = read_file(ctx, "/proc/stat")?;
    let read_diskstats = read_file(ctx, "/proc/diskstats")?;
    let io = |what| {
        move |e: procfs::ProcError| DiskError::Io {
            what,
            message: e.to_string(),
        }
    };
    let k: procfs::KernelStats = procfs::FromBufReadSI::from_buf_read(
        read_text(&read_stat, "/proc/stat")?.as_bytes(),
        procfs::current_system_info(),
    )
    .map_err(io("/proc/stat"))?;
    let t = &k.total;
    let irq = t.irq.unwrap_or(0) + t.softirq.unwrap_or(0);
    let iowait = t.iowait.unwrap_or(0);
    let steal = t.steal.unwrap_or(0);
    let total = (t.user + t.nice + t.system + t.idle + iowait + irq + steal) as f64;
    let cpu_stats = CpuStats {
        user_percent: div(t.user as f64 * 100.0, total),
        nice_percent: div(t.nice as f64 * 100.0, total),
        system_percent: div((t.system + irq) as f64 * 100.0, total),
        iowait_percent: div(iowait as f64 * 100.0, total),
        steal_percent: div(steal as f64 * 100.0, total),
        idle_percent: div(t.idle as f64 * 100.0, total),
    };
    let uptime: f64 = procfs::Current::current()
        .map(|u: procfs::Uptime| u.uptime)
        .map_err(io("/proc/uptime"))?;
    let disks: procfs::DiskStats = procfs::FromBufRead::from_buf_read(
        read_text(&read_diskstats, "/proc/diskstats")?.as_bytes(),
    )
    .map_err(io("/proc/diskstats"))?;
    let mut device_stats = Vec::new();
    for d in disks.0 {
        if d.reads == 0 && d.writes == 0 {
            continue;
        }
        let ios = (d.reads + d.writes) as f64;
        let busy = d.time_in_progress as f64;
        device_stats.push(DeviceStats {
            device_name: d.name.clone(),
            rrqm_per_sec: div(d.merged as f64, uptime),
            wrqm_per_sec: div(d.writes_merged as f64, uptime),
            read_requests_per_sec: div(d.reads as f64, uptime),
            write_requests_per_sec: div(d.writes as f64, uptime),
            rkb_per_sec: div(d.sectors_read as f64 / 2.0, uptime),
            wkb_per_sec: div(d.sectors_written as f64 / 2.0, uptime),
            avg_request_size: div((d.sectors_read + d.sectors_written) as f64, ios),
            avg_queue_size: div(d.weighted_time_in_progress as f64, uptime * 1000.0),
            avg_wait: div((d.time_reading + d.time_writing) as f64, ios),
            avg_read_wait: div(d.time_reading as f64, d.reads as f64),
            avg_write_wait: div(d.time_writing as f64, d.writes as f64),
            svctm: div(busy, ios),
            util_percent: div(busy, uptime * 1000.0 / 100.0).min(100.0),
        });
    }
    Ok(IoStatSnapshot {
        cpu_stats,
        device_stats,
    })
}

/// A block device (lsblk entry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockDevice {
    /// Kernel name (`sda`, `sda1`, `nvme0n1p2`).
    pub name: String,
    /// `disk`, `part`, `loop`, `rom`, ...
    pub kind: String,
    /// Major number.
    pub maj: u32,
    /// Minor number.
    pub min: u32,
    /// Size in KiB.
    pub size_kib: u64,
    /// Removable media.
    pub removable: bool,
    /// Read-only.
    pub read_only: bool,
    /// Where it is mounted, if it is.
    pub mount_point: Option<String>,
    /// Partitions.
    pub children: Vec<BlockDevice>,
}

fn sys_read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn block_device(
    dir: &Path,
    name: &str,
    kind: &str,
    mounts: &HashMap<String, String>,
) -> BlockDevice {
    let dev = sys_read(&dir.join("dev")).unwrap_or_default();
    let (maj, min) = dev
        .split_once(':')
        .map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(0)))
        .unwrap_or((0, 0));
    let sectors: u64 = sys_read(&dir.join("size"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    BlockDevice {
        name: name.to_string(),
        kind: kind.to_string(),
        maj,
        min,
        size_kib: sectors / 2,
        removable: sys_read(&dir.join("removable")).is_some_and(|s| s == "1"),
        read_only: sys_read(&dir.join("ro")).is_some_and(|s| s == "1"),
        mount_point: mounts.get(&format!("/dev/{name}")).cloned(),
        children: Vec::new(),
    }
}

/// The block device tree from `/sys/block` (lsblk). Checks `open`+`read` on Dir
/// `/sys/block` and `read` on File `/proc/mounts`.
pub fn lsblk(ctx: &SdkContext) -> Result<Vec<BlockDevice>, DiskError> {
    let sys_block = Resource::dir("/sys/block")?;
    ctx.check(Action::FsOpen, &sys_block)?;
    ctx.check(Action::FsRead, &sys_block)?;
    let read_mounts = read_file(ctx, "/proc/mounts")?;
    let mut mounts = HashMap::new();
    if let Ok(text) = read_text(&read_mounts, "/proc/mounts") {
        for line in text.lines() {
            let mut f = line.split_whitespace();
            if let (Some(d), Some(m)) = (f.next(), f.next()) {
                mounts.entry(unescape(d)).or_insert_with(|| unescape(m));
            }
        }
    }
    let entries = std::fs::read_dir("/sys/block").map_err(|e| DiskError::Io {
        what: "/sys/block",
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        let kind = if name.starts_with("loop") {
            "loop"
        } else if name.starts_with("sr") {
            "rom"
        } else {
            "disk"
        };
        let mut dev = block_device(&dir, &name, kind, &mounts);
        if let Ok(children) = std::fs::read_dir(&dir) {
            for c in children.filter_map(|c| c.ok()) {
                let cname = c.file_name().to_string_lossy().into_owned();
                if cname.starts_with(&name) && c.path().join("partition").exists() {
                    dev.children
                        .push(block_device(&c.path(), &cname, "part", &mounts));
                }
            }
        }
        dev.children.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(dev);
        if out.len() >= ctx.limits().max_entries {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Unmounts the filesystem at `path`. Checks `unmount` on Dir `<path>` (lexically
/// normalised, absolute paths only) before touching the path. The parent directory is then
/// opened with `openat2(RESOLVE_NO_SYMLINKS)`, so a symlink anywhere in the path is refused
/// ([`DiskError::SymlinkInPath`]) instead of leading out of the grant; the path the kernel
/// reports for that descriptor is authorized as well when it differs (a directory renamed
/// meanwhile), and exactly the mount at `<that descriptor>/<name>` is unmounted:
/// `umount2("/proc/self/fd/<N>/<name>", UMOUNT_NOFOLLOW)`. The descriptor pins the parent
/// (on the enclosing file system, so it does not keep the mount busy), and `UMOUNT_NOFOLLOW`
/// keeps a symlink at the last component from being followed.
pub fn unmount(ctx: &SdkContext, path: &str) -> Result<(), DiskError> {
    use std::os::fd::AsRawFd;
    if !path.starts_with('/') {
        return Err(DiskError::InvalidPath(path.to_string()));
    }
    let rp = ResourcePath::new(path)?;
    let asked = ctx.check(Action::FsUnmount, &Resource::dir_path(&rp))?;
    let Some(parent) = rp.parent() else {
        // `/` itself: there is no component to resolve.
        return unmount_at(path, "/", &asked, &rp);
    };
    let name = rp.file_name();
    // No O_NOFOLLOW: with O_PATH it would hand back a symlink at the last component instead
    // of failing; RESOLVE_NO_SYMLINKS refuses a symlink at every component.
    let flags =
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
    let resolve = rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS;
    let pfd = rustix::fs::openat2(
        rustix::fs::CWD,
        parent.as_str(),
        flags,
        rustix::fs::Mode::empty(),
        resolve,
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            DiskError::SymlinkInPath(rp.as_str().to_string())
        } else {
            DiskError::System {
                op: "open",
                source: e.into(),
            }
        }
    })?;
    let link = format!("/proc/self/fd/{}", pfd.as_raw_fd());
    let real = std::fs::read_link(&link).map_err(|e| DiskError::System {
        op: "readlink",
        source: e,
    })?;
    let real = ResourcePath::from_bytes(std::os::unix::ffi::OsStrExt::as_bytes(real.as_os_str()))?
        .join(name)?;
    let resolved = if real != rp {
        Some(ctx.check(Action::FsUnmount, &Resource::dir_path(&real))?)
    } else {
        None
    };
    unmount_at(
        path,
        &format!("{link}/{name}"),
        resolved.as_ref().unwrap_or(&asked),
        &real,
    )
}

/// `umount2(target, UMOUNT_NOFOLLOW)`, where `target` names the mount point `covers`.
/// `permit` is the proof of `unmount` on Dir `covers`; any other proof is refused first.
///
/// Inside the runner's Landlock domain no process can unmount: when the unmount broker runs
/// (`runtime::broker`), the request `asked` goes to it, and it decides and unmounts again
/// with its own authorizer; without one, the unmount is refused.
fn unmount_at(
    asked: &str,
    target: &str,
    permit: &Permit,
    covers: &ResourcePath,
) -> Result<(), DiskError> {
    permit.require(&[Action::FsUnmount], ResourceKind::Dir, covers.as_str())?;
    if let Some(answer) = crate::runtime::broker::unmount(asked) {
        use crate::runtime::broker::Answer;
        return match answer {
            Answer::Done => Ok(()),
            Answer::Denied(message)
            | Answer::Failed {
                errno: None,
                message,
            } => Err(DiskError::Io {
                what: "the unmount broker's answer",
                message,
            }),
            Answer::Failed {
                errno: Some(errno), ..
            } => Err(DiskError::System {
                op: "umount2",
                source: std::io::Error::from_raw_os_error(errno),
            }),
        };
    }
    if crate::runtime::sandbox::in_force() {
        return Err(DiskError::System {
            op: "umount2",
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "no process can unmount inside the Landlock sandbox, and no unmount broker runs",
            ),
        });
    }
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::NOFOLLOW).map_err(|e| {
        DiskError::System {
            op: "umount2",
            source: e.into(),
        }
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
    fn unescapes_mount_fields() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape("bad\\9"), "bad\\9");
    }

    #[test]
    fn a_kernel_file_is_read_only_under_the_proof_of_reading_it() {
        let c = crate::context::test_context("permit(principal, action, resource);");
        let stat = read_file(&c, "/proc/stat").unwrap();
        assert!(read_text(&stat, "/proc/stat").unwrap().starts_with("cpu"));
        // The proof for another file, or of another action, reads nothing.
        assert!(matches!(
            read_text(&stat, "/proc/mounts").unwrap_err(),
            DiskError::Auth(AuthError::Config(_))
        ));
        let open = c
            .check(Action::FsOpen, &Resource::file("/proc/mounts").unwrap())
            .unwrap();
        assert!(read_text(&open, "/proc/mounts").is_err());
    }

    #[test]
    fn percent_rounds_up() {
        assert_eq!(percent(1, 3), 33.34);
        assert_eq!(percent(0, 0), 0.0);
    }
}
