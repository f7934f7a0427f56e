//! Processes: listing (`ps`), CPU monitoring in batches, signalling (`kill`), open files
//! (`lsof`), the processes using a path (`fuser`), System V IPC objects (`ipcs`), namespace
//! entry for a Rust callback (`nsenter`) and stack traces (`trace`).
//!
//! Every process is authorized individually with `process_system::Action::"list"` (listing),
//! `"kill"`/`"interrupt"` (signals) or `"list_fds"` (open files) on
//! `process_system::Process::"<pid>"` with its `name`, `username` and `command` attributes.
//! Processes whose check is denied are left out of listings and counted in `denied_count`.
//!
//! Signals are sent through a pidfd: the process identity is read, the pidfd is opened, the
//! identity is read again and compared (same start time), the check runs on that identity,
//! and the signal goes through the pidfd, so a recycled PID can never be signalled by mistake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use procfs::process::{FDTarget, Process};
use rex_auth::{Action, AuthError, Denied, ProcessAttrs, Resource, ResourceKind, ResourcePath};
use rustix::fs::AtFlags;
use rustix::process::{Pid, PidfdFlags};

use crate::fs::{DirHandle, EntryType, FsError, OpenDirOptions};
use crate::{Permit, SdkContext};

mod cpu;
mod error;
mod files;
mod ipcs;
mod ns;
mod signal;

pub use cpu::{MAX_MONITOR_BATCHES, MAX_MONITOR_DELAY, MonitorProcessesCpuOptions};
use error::enum_err;
pub use error::{ProcessError, ProcessErrorKind};
pub use files::{Access, FuserInfo, LsofOptions, OpenFileInfo};
pub use ipcs::{IpcsInfo, MessageQueue, SemaphoreSet, SharedMemorySegment};
pub use ns::{NamespaceOptions, NamespaceTarget};
pub(crate) use signal::pin_pidfd;
pub(crate) use signal::pin_process;
pub use signal::{KillOptions, KillReport, Killed, Signal};

/// One process, with REX's `ProcessInfo` fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Process name (`comm`).
    pub name: String,
    /// Owner's user name (the uid as text when it has no entry).
    pub username: String,
    /// Command line, arguments joined by spaces (empty for kernel threads).
    pub command: String,
    /// State, e.g. `Running`, `Sleeping`, `Zombie`.
    pub state: String,
    /// Resident memory in bytes.
    pub memory_usage: u64,
    /// Resident memory as a percentage of total memory.
    pub memory_percent: f64,
    /// CPU usage in percent since the previous [`ProcessManager::processes`] call of the same
    /// manager (equal to `historical_cpu_usage` on the first call).
    pub recent_cpu_usage: f64,
    /// CPU usage in percent averaged over the process lifetime.
    pub historical_cpu_usage: f64,
    /// Inode of the process's PID namespace, when asked for with
    /// [`ProcessOptions::load_namespace_info`] and allowed.
    pub pid_namespace: Option<u64>,
}

/// The result of a listing: the allowed entries and how many were denied by policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Filtered<T> {
    /// The entries the policy allowed.
    pub items: Vec<T>,
    /// How many processes were left out because Cedar denied them.
    pub denied_count: usize,
}

impl<T> Default for Filtered<T> {
    fn default() -> Self {
        Filtered {
            items: Vec::new(),
            denied_count: 0,
        }
    }
}

/// A process listing (see [`ProcessManager::processes`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessList {
    /// The processes the policy allowed to be listed.
    pub processes: Vec<ProcessInfo>,
    /// How many processes were left out because `list` was denied on them.
    pub denied_count: usize,
}

/// What identifies a process for authorization, read from `/proc/<pid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) attrs: ProcessAttrs,
    starttime: u64,
}

/// Caches user names for uids.
#[derive(Debug, Default)]
pub(crate) struct Users(HashMap<u32, String>);

impl Users {
    fn name(&mut self, uid: u32) -> String {
        self.0
            .entry(uid)
            .or_insert_with(
                || match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
                    Ok(Some(u)) => u.name,
                    _ => uid.to_string(),
                },
            )
            .clone()
    }
}

fn command_of(p: &Process) -> String {
    p.cmdline().map(|c| c.join(" ")).unwrap_or_default()
}

fn to_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

pub(crate) fn read_identity(
    pid: u32,
    users: &mut Users,
) -> Result<(Identity, Process), ProcessError> {
    let ipid = i32::try_from(pid).map_err(|_| ProcessError::NotFound { pid })?;
    let p = Process::new(ipid).map_err(|_| ProcessError::NotFound { pid })?;
    let stat = p.stat().map_err(|_| ProcessError::NotFound { pid })?;
    let status = p.status().map_err(|_| ProcessError::NotFound { pid })?;
    let uid = status.ruid;
    let ident = Identity {
        attrs: ProcessAttrs {
            pid,
            uid,
            name: stat.comm.clone(),
            username: users.name(uid),
            command: command_of(&p),
        },
        starttime: stat.starttime,
    };
    Ok((ident, p))
}

/// The pid namespace of `pid`, read under `ns_read`, the proof of `read` on Dir
/// `/proc/<pid>/ns` (see [`namespace_readable`]).
fn pid_namespace(pid: u32, ns_read: &Permit) -> Option<u64> {
    let ns = format!("/proc/{pid}/ns");
    ns_read
        .require(&[Action::FsRead], ResourceKind::Dir, &ns)
        .ok()?;
    let link = std::fs::read_link(format!("{ns}/pid")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn all_pids() -> Result<Vec<u32>, ProcessError> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(enum_err)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Options of [`ProcessManager::processes_with`] (REX's `ProcessOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessOptions {
    /// Fill `pid_namespace`. For each listed process this checks `open` and `read` on Dir
    /// `/proc/<pid>` and `/proc/<pid>/ns` and on File `/proc/<pid>/status` (REX's checks);
    /// when one is denied the process stays listed with no namespace.
    pub load_namespace_info: bool,
}

/// The process API. Holds the user-name cache and the previous CPU samples (for
/// `recent_cpu_usage`).
#[derive(Debug, Default)]
pub struct ProcessManager {
    pub(crate) users: Users,
    prev_cpu: HashMap<u32, (u64, u64, f64)>,
}

fn check_list_dir_proc(ctx: &SdkContext) -> Result<(), ProcessError> {
    let proc_dir = Resource::dir("/proc")?;
    ctx.check(Action::FsOpen, &proc_dir)?;
    ctx.check(Action::FsRead, &proc_dir)?;
    Ok(())
}

/// Whether the checks REX makes before loading a process's namespace information pass: the
/// proof of `read` on Dir `/proc/<pid>/ns` when they all do, `None` when one is denied.
fn namespace_readable(ctx: &SdkContext, pid: u32) -> Result<Option<Permit>, ProcessError> {
    let ns = Resource::dir(&format!("/proc/{pid}/ns"))?;
    let resources = [
        Resource::dir(&format!("/proc/{pid}"))?,
        ns.clone(),
        Resource::file(&format!("/proc/{pid}/status"))?,
    ];
    let mut ns_read = None;
    for r in &resources {
        for action in [Action::FsOpen, Action::FsRead] {
            match ctx.check(action, r) {
                Ok(permit) => {
                    if action == Action::FsRead && *r == ns {
                        ns_read = Some(permit);
                    }
                }
                Err(AuthError::Denied(_)) => return Ok(None),
                Err(e) => return Err(ProcessError::Auth(e)),
            }
        }
    }
    Ok(ns_read)
}

/// Runs an authorization for one process: `Ok(true)` allowed, `Ok(false)` denied, `Err` other.
fn allowed(ctx: &SdkContext, action: Action, attrs: &ProcessAttrs) -> Result<bool, ProcessError> {
    match ctx.check(action, &Resource::process(attrs.clone())) {
        Ok(_) => Ok(true),
        Err(AuthError::Denied(_)) => Ok(false),
        Err(e) => Err(ProcessError::Auth(e)),
    }
}

impl ProcessManager {
    /// A manager with empty caches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lists processes (`ps`). Each process is checked with `process_system::list`; denied
    /// ones are left out and counted. Processes that exit during the scan are skipped.
    pub fn processes(&mut self, ctx: &SdkContext) -> Result<ProcessList, ProcessError> {
        self.sample(ctx, None, false)
    }

    /// Lists processes as [`ProcessManager::processes`] does, with options. Without
    /// `load_namespace_info`, `pid_namespace` is `None`; with it, it is read for each process
    /// whose namespace checks (see [`ProcessOptions`]) are allowed.
    pub fn processes_with(
        &mut self,
        ctx: &SdkContext,
        opts: &ProcessOptions,
    ) -> Result<ProcessList, ProcessError> {
        let mut list = self.sample(ctx, None, false)?;
        if opts.load_namespace_info {
            for p in &mut list.processes {
                if let Some(ns_read) = namespace_readable(ctx, p.pid)? {
                    p.pid_namespace = pid_namespace(p.pid, &ns_read);
                }
            }
        }
        Ok(list)
    }

    /// Samples the given processes (all when `pids` is `None`), optionally with their threads
    /// (each thread is an entry whose `pid` is the thread id and `ppid` the process id; it is
    /// authorized as its process). `recent_cpu_usage` is relative to the previous sample.
    fn sample(
        &mut self,
        ctx: &SdkContext,
        pids: Option<&[u32]>,
        include_threads: bool,
    ) -> Result<ProcessList, ProcessError> {
        let ticks = procfs::ticks_per_second() as f64;
        let page = procfs::page_size();
        let mem_total = procfs::Current::current()
            .map(|m: procfs::Meminfo| m.mem_total)
            .map_err(enum_err)?;
        let uptime: f64 = procfs::Current::current()
            .map(|u: procfs::Uptime| u.uptime)
            .map_err(enum_err)?;
        let mut out = ProcessList::default();
        let mut seen = HashMap::new();
        let pids = match pids {
            Some(p) => p.to_vec(),
            None => all_pids()?,
        };
        for pid in pids {
            if ctx.is_cancelled() {
                break;
            }
            if out.processes.len() >= ctx.limits().max_entries {
                break;
            }
            let Ok((ident, p)) = read_identity(pid, &mut self.users) else {
                continue;
            };
            if !allowed(ctx, Action::ProcessList, &ident.attrs)? {
                out.denied_count += 1;
                continue;
            }
            let Ok(stat) = p.stat() else { continue };
            let mut entries = vec![(pid, stat)];
            if include_threads && let Ok(tasks) = p.tasks() {
                for t in tasks.filter_map(|t| t.ok()) {
                    if let Ok(ts) = t.stat()
                        && u32::try_from(t.tid).is_ok_and(|tid| tid != pid)
                    {
                        entries.push((u32::try_from(t.tid).unwrap_or(0), ts));
                    }
                }
            }
            for (id, stat) in entries {
                if out.processes.len() >= ctx.limits().max_entries {
                    break;
                }
                let is_thread = id != pid;
                let cpu_ticks = stat.utime.saturating_add(stat.stime);
                let started = stat.starttime as f64 / ticks;
                let lifetime = (uptime - started).max(0.0);
                let historical = if lifetime > 0.0 {
                    (cpu_ticks as f64 / ticks) / lifetime * 100.0
                } else {
                    0.0
                };
                let recent = match self.prev_cpu.get(&id) {
                    Some(&(st, prev_ticks, prev_uptime))
                        if st == stat.starttime && uptime > prev_uptime =>
                    {
                        (cpu_ticks.saturating_sub(prev_ticks) as f64 / ticks)
                            / (uptime - prev_uptime)
                            * 100.0
                    }
                    _ => historical,
                };
                seen.insert(id, (stat.starttime, cpu_ticks, uptime));
                let rss = stat.rss.saturating_mul(page);
                let memory_percent = if mem_total > 0 {
                    rss as f64 / mem_total as f64 * 100.0
                } else {
                    0.0
                };
                let state = stat
                    .state()
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|_| stat.state.to_string());
                out.processes.push(ProcessInfo {
                    pid: id,
                    ppid: if is_thread { pid } else { to_u32(stat.ppid) },
                    uid: ident.attrs.uid,
                    name: if is_thread {
                        stat.comm.clone()
                    } else {
                        ident.attrs.name.clone()
                    },
                    username: ident.attrs.username.clone(),
                    command: ident.attrs.command.clone(),
                    state,
                    memory_usage: rss,
                    memory_percent,
                    recent_cpu_usage: recent,
                    historical_cpu_usage: historical,
                    pid_namespace: None,
                });
            }
        }
        self.prev_cpu = seen;
        Ok(out)
    }

    /// System V IPC objects (`ipcs`). Checks `open` on Dir `/proc/sysvipc`, then `open` and
    /// `read` on File `/proc/sysvipc/shm`, `sem` and `msg` (every check before any read).
    pub fn ipcs_info(&mut self, ctx: &SdkContext) -> Result<IpcsInfo, ProcessError> {
        let [shm, sem, msg] = ipcs::read_tables(ctx)?;
        ipcs::parse(&shm, &sem, &msg, &mut self.users)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_pid_namespace_is_read_only_under_the_proof_of_reading_its_ns_directory() {
        let c = crate::context::test_context("permit(principal, action, resource);");
        let me = std::process::id();
        let ns_read = namespace_readable(&c, me).unwrap().unwrap();
        assert!(pid_namespace(me, &ns_read).is_some());
        // The proof for pid 1's directory, or of `open`, reads nothing of this process.
        let other = namespace_readable(&c, 1).unwrap().unwrap();
        assert_eq!(pid_namespace(me, &other), None);
        let open = c
            .check(
                Action::FsOpen,
                &Resource::dir(&format!("/proc/{me}/ns")).unwrap(),
            )
            .unwrap();
        assert_eq!(pid_namespace(me, &open), None);
    }
}
