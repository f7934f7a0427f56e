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
use rex_auth::{Action, AuthError, Denied, ProcessAttrs, Resource, ResourcePath};
use rustix::fs::AtFlags;
use rustix::process::{Pid, PidfdFlags};

use crate::SdkContext;
use crate::fs::{DirHandle, EntryType, FsError, OpenDirOptions};

mod ipcs;
mod ns;
mod trace;

pub use ipcs::{IpcsInfo, MessageQueue, SemaphoreSet, SharedMemorySegment};
pub use ns::{NamespaceOptions, NamespaceTarget};
pub use trace::{StackFrame, TraceOptions, TracedProcess, TracedThread};

/// The kind of a [`ProcessError`], mirroring REX's `ProcessErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessErrorKind {
    /// The process does not exist (or exited).
    ProcessNotFound,
    /// Cedar denied the operation.
    PermissionDenied,
    /// The authorization could not be evaluated.
    AuthorizationError,
    /// Invalid input.
    ValidationError,
    /// `/proc` could not be enumerated or parsed.
    ProcessEnumerationError,
    /// A D-Bus failure (systemd).
    DBusError,
    /// The systemd unit does not exist.
    ServiceNotFound,
    /// Entering a namespace failed.
    NamespaceOperationError,
    /// A callback failed.
    CallbackExecutionError,
    /// Anything else (an OS error while signalling).
    Other,
}

/// Errors of the process API.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Cedar denied the operation; nothing was done.
    #[error("permission denied: {0}")]
    Denied(Box<Denied>),
    /// The authorization failed for another reason (invalid resource, evaluation error).
    #[error("authorization error: {0}")]
    Auth(AuthError),
    /// No such process.
    #[error("process {pid} not found")]
    NotFound {
        /// The PID asked for.
        pid: u32,
    },
    /// Invalid arguments.
    #[error("invalid argument: {0}")]
    Validation(String),
    /// Reading `/proc` failed.
    #[error("cannot enumerate processes: {0}")]
    Enumeration(String),
    /// An OS error.
    #[error("{op} failed: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Entering a namespace failed.
    #[error("namespace operation {op} failed: {source}")]
    Namespace {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A callback failed (e.g. panicked).
    #[error("callback failed: {0}")]
    Callback(String),
    /// The operation is not supported (the message says why).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ProcessError {
    /// REX's error kind.
    pub fn kind(&self) -> ProcessErrorKind {
        match self {
            ProcessError::Denied(_) => ProcessErrorKind::PermissionDenied,
            ProcessError::Auth(_) => ProcessErrorKind::AuthorizationError,
            ProcessError::NotFound { .. } => ProcessErrorKind::ProcessNotFound,
            ProcessError::Validation(_) => ProcessErrorKind::ValidationError,
            ProcessError::Enumeration(_) => ProcessErrorKind::ProcessEnumerationError,
            ProcessError::Os { .. } | ProcessError::Unsupported(_) => ProcessErrorKind::Other,
            ProcessError::Namespace { .. } => ProcessErrorKind::NamespaceOperationError,
            ProcessError::Callback(_) => ProcessErrorKind::CallbackExecutionError,
        }
    }
}

impl From<AuthError> for ProcessError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Denied(d) => ProcessError::Denied(d),
            other => ProcessError::Auth(other),
        }
    }
}

fn enum_err(e: impl std::fmt::Display) -> ProcessError {
    ProcessError::Enumeration(e.to_string())
}

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
struct Identity {
    attrs: ProcessAttrs,
    starttime: u64,
}

/// Caches user names for uids.
#[derive(Debug, Default)]
struct Users(HashMap<u32, String>);

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

fn read_identity(pid: u32, users: &mut Users) -> Result<(Identity, Process), ProcessError> {
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

fn pid_namespace(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
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

/// A signal `kill` may send (REX accepts only these four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Signal {
    /// SIGTERM (15), checked as `kill`.
    #[default]
    Term,
    /// SIGQUIT (3), checked as `kill`.
    Quit,
    /// SIGHUP (1), checked as `interrupt`.
    Hup,
    /// SIGKILL (9), checked as `kill`.
    Kill,
}

impl Signal {
    /// From a signal number; only 1, 3, 9 and 15 are accepted.
    pub fn from_number(n: i64) -> Result<Self, ProcessError> {
        match n {
            1 => Ok(Signal::Hup),
            3 => Ok(Signal::Quit),
            9 => Ok(Signal::Kill),
            15 => Ok(Signal::Term),
            _ => Err(ProcessError::Validation(format!(
                "unsupported signal {n} (allowed: 1, 3, 9, 15)"
            ))),
        }
    }

    /// The Cedar action that authorizes this signal.
    pub fn action(self) -> Action {
        match self {
            Signal::Hup => Action::ProcessInterrupt,
            _ => Action::ProcessKill,
        }
    }

    fn raw(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Quit => rustix::process::Signal::QUIT,
            Signal::Hup => rustix::process::Signal::HUP,
            Signal::Kill => rustix::process::Signal::KILL,
        }
    }
}

/// Options of [`ProcessManager::processes_with`] (REX's `ProcessOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessOptions {
    /// Fill `pid_namespace`. For each listed process this checks `open` and `read` on Dir
    /// `/proc/<pid>` and `/proc/<pid>/ns` and on File `/proc/<pid>/status` (REX's checks);
    /// when one is denied the process stays listed with no namespace.
    pub load_namespace_info: bool,
}

/// Which processes to signal. Either `pid`, or any combination of `name`, `username` and
/// `command` (all given ones must match).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KillOptions {
    /// Exactly this process.
    pub pid: Option<u32>,
    /// Match on the process name (`comm`).
    pub process_name: Option<String>,
    /// Match on the owner's user name.
    pub username: Option<String>,
    /// Match on the command line.
    pub command: Option<String>,
    /// Names and commands must be equal (otherwise: contain the text).
    pub exact_match: bool,
    /// The signal.
    pub signal: Signal,
}

/// A process that was signalled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Killed {
    /// The process name.
    pub name: String,
    /// The process id.
    pub pid: u32,
}

/// The result of a `kill` by match: signalled processes, and how many matching processes were
/// skipped because the signal was denied by policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KillReport {
    /// Processes that were signalled.
    pub killed: Vec<Killed>,
    /// Matching processes whose signal Cedar denied (they were not signalled).
    pub denied_count: usize,
}

/// How a process uses a path (`fuser` access codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Access {
    /// An open file descriptor (`f`).
    File,
    /// The current directory (`c`).
    Cwd,
    /// The root directory (`r`).
    Root,
    /// The executable (`e`).
    Exe,
}

impl Access {
    /// The `fuser` letter.
    pub fn code(self) -> &'static str {
        match self {
            Access::File => "f",
            Access::Cwd => "c",
            Access::Root => "r",
            Access::Exe => "e",
        }
    }
}

/// One open file of one process (REX's `OpenFileInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenFileInfo {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub process_name: String,
    /// Owner's user name.
    pub user: String,
    /// Command line.
    pub command: String,
    /// The path (or `socket:[inode]`, `pipe:[inode]`, ...).
    pub file_path: String,
    /// `REG`/`DIR`/`CHR`/`BLK`/`FIFO`/`SOCK`/`LNK`/`unknown` for paths, else `sock`, `pipe`,
    /// `anon_inode`, `memfd`, `other`.
    pub file_type: String,
    /// `r`, `w` or `rw` for descriptors; the access code for cwd/root/exe.
    pub access: String,
}

/// Options of [`ProcessManager::list_open_files`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LsofOptions {
    /// Only files at this path (or under it with `include_subdir`).
    pub path: Option<PathBuf>,
    /// Include files below `path`.
    pub include_subdir: bool,
    /// Only this process.
    pub pid: Option<u32>,
}

/// A process using a path (REX's `FuserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FuserInfo {
    /// Owner's user name.
    pub user: String,
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub command: String,
    /// How the path is used (`f`, `c`, `r`, `e`, joined).
    pub access: String,
}

/// Most batches [`ProcessManager::monitor_processes_cpu`] takes.
pub const MAX_MONITOR_BATCHES: u32 = 10_000;

/// Longest delay between two monitoring batches.
pub const MAX_MONITOR_DELAY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Options of [`ProcessManager::monitor_processes_cpu`] (REX's `MonitorProcessesCpuOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorProcessesCpuOptions {
    /// The processes to sample (empty: all).
    pub pids_to_monitor: Vec<u32>,
    /// How many samples (1 to [`MAX_MONITOR_BATCHES`]).
    pub batches: u32,
    /// The pause between two samples (at most [`MAX_MONITOR_DELAY`]).
    pub delay: std::time::Duration,
    /// Also report each thread.
    pub include_threads: bool,
}

impl Default for MonitorProcessesCpuOptions {
    fn default() -> Self {
        MonitorProcessesCpuOptions {
            pids_to_monitor: Vec::new(),
            batches: 1,
            delay: std::time::Duration::from_secs(1),
            include_threads: false,
        }
    }
}

impl MonitorProcessesCpuOptions {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ProcessError> {
        if self.batches == 0 || self.batches > MAX_MONITOR_BATCHES {
            return Err(ProcessError::Validation(format!(
                "batches must be between 1 and {MAX_MONITOR_BATCHES}, got {}",
                self.batches
            )));
        }
        if self.delay > MAX_MONITOR_DELAY {
            return Err(ProcessError::Validation(format!(
                "delay must be at most {} s",
                MAX_MONITOR_DELAY.as_secs()
            )));
        }
        if self.pids_to_monitor.contains(&0) {
            return Err(ProcessError::Validation("pid 0 is not a process".into()));
        }
        Ok(())
    }
}

/// Sleeps `d` in short slices; `false` when cancelled meanwhile.
fn sleep_unless_cancelled(ctx: &SdkContext, d: std::time::Duration) -> bool {
    let slice = std::time::Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() {
        if ctx.is_cancelled() {
            return false;
        }
        let step = left.min(slice);
        std::thread::sleep(step);
        left = left.saturating_sub(step);
    }
    !ctx.is_cancelled()
}

/// The process API. Holds the user-name cache and the previous CPU samples (for
/// `recent_cpu_usage`).
#[derive(Debug, Default)]
pub struct ProcessManager {
    users: Users,
    prev_cpu: HashMap<u32, (u64, u64, f64)>,
}

fn check_list_dir_proc(ctx: &SdkContext) -> Result<(), ProcessError> {
    let proc_dir = Resource::dir("/proc")?;
    ctx.check(Action::FsOpen, &proc_dir)?;
    ctx.check(Action::FsRead, &proc_dir)?;
    Ok(())
}

/// Whether the checks REX makes before loading a process's namespace information pass.
fn namespace_readable(ctx: &SdkContext, pid: u32) -> Result<bool, ProcessError> {
    let resources = [
        Resource::dir(&format!("/proc/{pid}"))?,
        Resource::dir(&format!("/proc/{pid}/ns"))?,
        Resource::file(&format!("/proc/{pid}/status"))?,
    ];
    for r in &resources {
        for action in [Action::FsOpen, Action::FsRead] {
            match ctx.check(action, r) {
                Ok(()) => {}
                Err(AuthError::Denied(_)) => return Ok(false),
                Err(e) => return Err(ProcessError::Auth(e)),
            }
        }
    }
    Ok(true)
}

/// Runs an authorization for one process: `Ok(true)` allowed, `Ok(false)` denied, `Err` other.
fn allowed(ctx: &SdkContext, action: Action, attrs: &ProcessAttrs) -> Result<bool, ProcessError> {
    match ctx.check(action, &Resource::process(attrs.clone())) {
        Ok(()) => Ok(true),
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
                if namespace_readable(ctx, p.pid)? {
                    p.pid_namespace = pid_namespace(p.pid);
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

    /// CPU usage of processes over time (REX's `monitor_processes_cpu`): `batches` samples,
    /// `delay` apart; the first batch's `recent_cpu_usage` is relative to the previous sample
    /// of this manager (or the lifetime average), the others to the batch before. Each
    /// process is checked with `list` in every batch; denied and exited ones are left out.
    /// An empty `pids_to_monitor` monitors every process. Cancellation (the context flag)
    /// ends the monitoring early with the batches taken so far, and no further batch is taken
    /// once the batches hold `max_entries` entries together.
    pub fn monitor_processes_cpu(
        &mut self,
        ctx: &SdkContext,
        opts: &MonitorProcessesCpuOptions,
    ) -> Result<Vec<Vec<ProcessInfo>>, ProcessError> {
        opts.validate()?;
        let pids = (!opts.pids_to_monitor.is_empty()).then_some(opts.pids_to_monitor.as_slice());
        let mut batches = Vec::new();
        let mut total: usize = 0;
        for i in 0..opts.batches {
            if i > 0 && !sleep_unless_cancelled(ctx, opts.delay) {
                break;
            }
            // the entry limit applies to all batches together
            if ctx.is_cancelled() || total >= ctx.limits().max_entries {
                break;
            }
            let batch = self.sample(ctx, pids, opts.include_threads)?.processes;
            total = total.saturating_add(batch.len());
            batches.push(batch);
        }
        Ok(batches)
    }

    /// System V IPC objects (`ipcs`). Checks `open` on Dir `/proc/sysvipc`, then `open` and
    /// `read` on File `/proc/sysvipc/shm`, `sem` and `msg` (every check before any read).
    pub fn ipcs_info(&mut self, ctx: &SdkContext) -> Result<IpcsInfo, ProcessError> {
        let [shm, sem, msg] = ipcs::read_tables(ctx)?;
        ipcs::parse(&shm, &sem, &msg, &mut self.users)
    }

    /// Signals one process by PID. The check is `kill` (or `interrupt` for SIGHUP) on the
    /// process as identified through its pidfd.
    pub fn kill_pid(
        &mut self,
        ctx: &SdkContext,
        pid: u32,
        signal: Signal,
    ) -> Result<Killed, ProcessError> {
        let (pidfd, after) = pin_process(pid, &mut self.users)?;
        ctx.check(signal.action(), &Resource::process(after.attrs.clone()))?;
        rustix::process::pidfd_send_signal(&pidfd, signal.raw()).map_err(|e| {
            if e == rustix::io::Errno::SRCH {
                ProcessError::NotFound { pid }
            } else {
                ProcessError::Os {
                    op: "pidfd_send_signal",
                    source: e.into(),
                }
            }
        })?;
        Ok(Killed {
            name: after.attrs.name,
            pid,
        })
    }

    /// Signals processes (`kill`). With `pid`, exactly that process (a denial is an error).
    /// Otherwise every process matching all of `process_name`, `username` and `command` is
    /// considered; a match whose signal is denied is skipped and counted, and processes that
    /// exit meanwhile are skipped. Unlike REX, matching scans the live process table (not a
    /// cache of an earlier `processes()` call). The caller's own process is never matched.
    pub fn kill(
        &mut self,
        ctx: &SdkContext,
        opts: &KillOptions,
    ) -> Result<KillReport, ProcessError> {
        if let Some(pid) = opts.pid {
            if opts.process_name.is_some() || opts.username.is_some() || opts.command.is_some() {
                return Err(ProcessError::Validation(
                    "give either a pid or name/user/command filters, not both".into(),
                ));
            }
            let k = self.kill_pid(ctx, pid, opts.signal)?;
            return Ok(KillReport {
                killed: vec![k],
                denied_count: 0,
            });
        }
        if opts.process_name.is_none() && opts.username.is_none() && opts.command.is_none() {
            return Err(ProcessError::Validation(
                "kill needs a pid, process_name, username or command".into(),
            ));
        }
        let matches = |have: &str, want: &Option<String>, exact: bool| match want {
            None => true,
            Some(w) if exact => have == w,
            Some(w) => have.contains(w.as_str()),
        };
        let me = std::process::id();
        let mut report = KillReport::default();
        for pid in all_pids()? {
            if pid == me || ctx.is_cancelled() {
                continue;
            }
            let Ok((ident, _)) = read_identity(pid, &mut self.users) else {
                continue;
            };
            let a = &ident.attrs;
            if !(matches(&a.name, &opts.process_name, opts.exact_match)
                && matches(&a.username, &opts.username, true)
                && matches(&a.command, &opts.command, opts.exact_match))
            {
                continue;
            }
            match self.kill_pid(ctx, pid, opts.signal) {
                Ok(k) => report.killed.push(k),
                Err(ProcessError::Denied(_)) => report.denied_count += 1,
                Err(ProcessError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Open files of processes (`lsof`). Checks `open`+`read` on Dir `/proc`; with a `path`,
    /// authorizes it as [`authorized_target`] describes; then `list_fds` per process; denied
    /// processes are left out and counted.
    pub fn list_open_files(
        &mut self,
        ctx: &SdkContext,
        opts: &LsofOptions,
    ) -> Result<Filtered<OpenFileInfo>, ProcessError> {
        check_list_dir_proc(ctx)?;
        let target = match &opts.path {
            Some(p) => Some(authorized_target(ctx, p)?),
            None => None,
        };
        let pids = match opts.pid {
            Some(pid) => vec![pid],
            None => all_pids()?,
        };
        let mut out = Filtered::default();
        for pid in pids {
            if ctx.is_cancelled() || out.items.len() >= ctx.limits().max_entries {
                break;
            }
            let (ident, p) = match read_identity(pid, &mut self.users) {
                Ok(v) => v,
                Err(e) if opts.pid.is_some() => return Err(e),
                Err(_) => continue,
            };
            if !allowed(ctx, Action::ProcessListFds, &ident.attrs)? {
                out.denied_count += 1;
                continue;
            }
            for (path, file_type, access) in open_files(&p) {
                let keep = match &target {
                    None => true,
                    Some(t) => {
                        let fp = Path::new(&path);
                        fp == t.as_path() || (opts.include_subdir && fp.starts_with(t))
                    }
                };
                if keep {
                    out.items.push(OpenFileInfo {
                        pid,
                        process_name: ident.attrs.name.clone(),
                        user: ident.attrs.username.clone(),
                        command: ident.attrs.command.clone(),
                        file_path: path,
                        file_type,
                        access,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Processes using `path` (`fuser`): as an open file, cwd, root or executable. Checks
    /// `open`+`read` on Dir `/proc`, then authorizes the path as [`authorized_target`]
    /// describes (`stat` on it, `open` on its parent; no symlink in it), then `list_fds` per
    /// process; denied processes are left out and counted. Unlike REX, the path is never
    /// canonicalized by name: a path through a symlink is refused (give the real path).
    pub fn processes_using_path(
        &mut self,
        ctx: &SdkContext,
        path: &Path,
    ) -> Result<Filtered<FuserInfo>, ProcessError> {
        check_list_dir_proc(ctx)?;
        let target = authorized_target(ctx, path)?;
        let mut out = Filtered::default();
        for pid in all_pids()? {
            if ctx.is_cancelled() || out.items.len() >= ctx.limits().max_entries {
                break;
            }
            let Ok((ident, p)) = read_identity(pid, &mut self.users) else {
                continue;
            };
            if !allowed(ctx, Action::ProcessListFds, &ident.attrs)? {
                out.denied_count += 1;
                continue;
            }
            let mut codes: Vec<Access> = Vec::new();
            if p.cwd().is_ok_and(|c| c == target) {
                codes.push(Access::Cwd);
            }
            if p.root().is_ok_and(|c| c == target) {
                codes.push(Access::Root);
            }
            if p.exe().is_ok_and(|c| c == target) {
                codes.push(Access::Exe);
            }
            if let Ok(fds) = p.fd() {
                let hit = fds.filter_map(|f| f.ok()).any(
                    |f| matches!(&f.target, FDTarget::Path(fp) if fp.as_path() == target.as_path()),
                );
                if hit {
                    codes.push(Access::File);
                }
            }
            if !codes.is_empty() {
                out.items.push(FuserInfo {
                    user: ident.attrs.username,
                    pid,
                    command: ident.attrs.name,
                    access: codes.iter().map(|c| c.code()).collect(),
                });
            }
        }
        Ok(out)
    }
}

/// Authorizes the script's path for `fuser`/`lsof` before anything touches it, and returns
/// it as the path to match.
///
/// Checks, in order: `stat` on the path as a `Dir` and as a `File` (at least one must be
/// allowed; this runs before any system call), `open` on Dir `<parent>` (the parent is opened
/// through [`DirHandle::open`] without following symlinks), then, by what the entry turns out
/// to be (`fstatat` without following), `stat` on that type must be allowed. A missing entry is
/// reported as missing only when both types may be `stat`ed; otherwise it gets the same denial
/// as an existing entry of the denied type, so a denied path answers the same whether or not
/// it exists. A symlink anywhere in the path is refused (unlike REX, which canonicalized by
/// name); since no symlink was crossed, the path is the real path the kernel reports for the
/// processes' files.
fn authorized_target(ctx: &SdkContext, path: &Path) -> Result<PathBuf, ProcessError> {
    let text = path
        .to_str()
        .ok_or_else(|| ProcessError::Validation("the path is not valid UTF-8".into()))?;
    let p = ResourcePath::new(text)?;
    let decide = |r: Resource| match ctx.check(Action::FsStat, &r) {
        Ok(()) => Ok(None),
        Err(AuthError::Denied(d)) => Ok(Some(d)),
        Err(e) => Err(ProcessError::Auth(e)),
    };
    let dir_denied = decide(Resource::dir_path(&p))?;
    let file_denied = decide(Resource::file_path(&p))?;
    let (dir_denied, file_denied) = match (dir_denied, file_denied) {
        (Some(d), Some(_)) => return Err(ProcessError::Denied(d)),
        other => other,
    };
    let Some(parent) = p.parent() else {
        // `/`: a directory that always exists.
        return match dir_denied {
            Some(d) => Err(ProcessError::Denied(d)),
            None => Ok(PathBuf::from("/")),
        };
    };
    let dir = DirHandle::open(ctx, parent.as_str(), OpenDirOptions::default()).map_err(from_fs)?;
    let kind = match rustix::fs::statat(&*dir.fd, p.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => EntryType::from_stat(&st),
        Err(rustix::io::Errno::NOENT) => {
            return match dir_denied.or(file_denied) {
                Some(d) => Err(ProcessError::Denied(d)),
                None => Err(ProcessError::Os {
                    op: "stat",
                    source: std::io::Error::from_raw_os_error(
                        rustix::io::Errno::NOENT.raw_os_error(),
                    ),
                }),
            };
        }
        Err(e) => {
            return Err(ProcessError::Os {
                op: "stat",
                source: e.into(),
            });
        }
    };
    let denied = if kind == EntryType::Dir {
        dir_denied
    } else {
        file_denied
    };
    if let Some(d) = denied {
        return Err(ProcessError::Denied(d));
    }
    if kind == EntryType::Symlink {
        return Err(ProcessError::Validation(format!(
            "`{p}` is a symlink; give the path it points to"
        )));
    }
    Ok(PathBuf::from(p.as_str()))
}

/// A file-system error met while authorizing a path, as a process error.
fn from_fs(e: FsError) -> ProcessError {
    match e {
        FsError::PermissionDenied(d) => ProcessError::Denied(d),
        FsError::AuthorizationError(a) => ProcessError::Auth(a),
        FsError::Io { op, source, .. } => ProcessError::Os { op, source },
        other => ProcessError::Validation(other.to_string()),
    }
}

/// Opens a pidfd on `pid` and reads the process's identity on both sides of the open: the
/// identity returned is that of the process the pidfd refers to (same start time before and
/// after), so a recycled pid cannot be authorized in place of another process. Pid 0 is a
/// validation error.
fn pin_process(
    pid: u32,
    users: &mut Users,
) -> Result<(rustix::fd::OwnedFd, Identity), ProcessError> {
    if pid == 0 {
        return Err(ProcessError::Validation("pid 0 is not a process".into()));
    }
    let (before, _) = read_identity(pid, users)?;
    let pidfd = open_pidfd(pid)?;
    let (after, _) = read_identity(pid, users)?;
    if before.starttime != after.starttime {
        return Err(ProcessError::NotFound { pid });
    }
    Ok((pidfd, after))
}

/// [`pin_process`] for callers that only need the pidfd (`execute` into the target's PID
/// namespace): the pidfd refers to the process that was alive under `pid` when it was opened.
pub(crate) fn pin_pidfd(pid: u32) -> Result<rustix::fd::OwnedFd, ProcessError> {
    pin_process(pid, &mut Users::default()).map(|(pidfd, _)| pidfd)
}

fn open_pidfd(pid: u32) -> Result<rustix::fd::OwnedFd, ProcessError> {
    let raw = i32::try_from(pid).map_err(|_| ProcessError::NotFound { pid })?;
    let rpid = Pid::from_raw(raw).ok_or(ProcessError::NotFound { pid })?;
    rustix::process::pidfd_open(rpid, PidfdFlags::empty()).map_err(|e| {
        if e == rustix::io::Errno::SRCH {
            ProcessError::NotFound { pid }
        } else {
            ProcessError::Os {
                op: "pidfd_open",
                source: e.into(),
            }
        }
    })
}

/// The type of what a `/proc/<pid>/{fd/<n>,cwd,root,exe}` magic link refers to: the open
/// object itself (never a lookup of the path name it displays, which may name another file or
/// none, and would probe a name the policy never opened).
fn file_type_of(link: &str) -> String {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(link) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_file() {
                "REG"
            } else if t.is_dir() {
                "DIR"
            } else if t.is_char_device() {
                "CHR"
            } else if t.is_block_device() {
                "BLK"
            } else if t.is_fifo() {
                "FIFO"
            } else if t.is_socket() {
                "SOCK"
            } else {
                "LNK"
            }
        }
        Err(_) => "unknown",
    }
    .to_string()
}

fn open_files(p: &Process) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let pid = p.pid();
    for (res, code, link) in [
        (p.cwd(), Access::Cwd, "cwd"),
        (p.root(), Access::Root, "root"),
        (p.exe(), Access::Exe, "exe"),
    ] {
        if let Ok(path) = res {
            let t = file_type_of(&format!("/proc/{pid}/{link}"));
            out.push((
                path.to_string_lossy().into_owned(),
                t,
                code.code().to_string(),
            ));
        }
    }
    let Ok(fds) = p.fd() else { return out };
    for fd in fds.filter_map(|f| f.ok()) {
        let mode = fd.mode();
        let access = match (
            mode.contains(procfs::process::FDPermissions::READ),
            mode.contains(procfs::process::FDPermissions::WRITE),
        ) {
            (true, true) => "rw",
            (false, true) => "w",
            _ => "r",
        }
        .to_string();
        let (path, t) = match &fd.target {
            FDTarget::Path(path) => (
                path.to_string_lossy().into_owned(),
                file_type_of(&format!("/proc/{pid}/fd/{}", fd.fd)),
            ),
            FDTarget::Socket(i) => (format!("socket:[{i}]"), "sock".into()),
            FDTarget::Net(i) => (format!("net:[{i}]"), "sock".into()),
            FDTarget::Pipe(i) => (format!("pipe:[{i}]"), "pipe".into()),
            FDTarget::AnonInode(s) => (format!("anon_inode:{s}"), "anon_inode".into()),
            FDTarget::MemFD(s) => (format!("/memfd:{s}"), "memfd".into()),
            FDTarget::Other(s, i) => (format!("{s}:[{i}]"), "other".into()),
            FDTarget::Unknown(a, b) => (format!("{a}:{b}"), "other".into()),
        };
        out.push((path, t, access));
    }
    out
}
