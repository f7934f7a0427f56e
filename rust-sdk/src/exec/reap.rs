//! The runner as a subreaper: the live children it started, reaping, and the sweep that kills
//! what a child left behind.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::ExecError;

/// How many kill-and-reap rounds one sweep makes at most (each round takes the processes that
/// were reparented to the runner since the previous one).
const SWEEP_ROUNDS: usize = 64;

/// How long a sweep waits at most for one killed process to become reapable.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// The children `execute` spawned and has not reaped yet, process-wide. The lock is held
/// across a spawn and its registration, and across a sweep, so a sweep never takes another
/// call's new child for an escaped descendant.
pub(super) static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Whether a sweep takes every unregistered child of the process (see
/// [`super::contain_all_children`]).
static CONTAIN_ALL: AtomicBool = AtomicBool::new(false);

/// Whether `PR_SET_CHILD_SUBREAPER` is set on the process (set once, at the first spawn).
static SUBREAPER: OnceLock<Result<(), Errno>> = OnceLock::new();

/// The runner's own helper children that a sweep must leave alone (the unmount broker).
static EXEMPT: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Keeps the runner's own helper child `pid` out of every sweep.
pub(crate) fn exempt(pid: i32) {
    EXEMPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(pid);
}

pub(super) fn set_contain_all(on: bool) {
    CONTAIN_ALL.store(on, Ordering::SeqCst);
}

pub(super) fn live() -> MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the runner the reaper of every orphaned descendant of its children, so a process
/// that leaves the child's group or session (`setsid`) is reparented to the runner instead of
/// init, where a sweep finds it.
pub(super) fn become_subreaper() -> Result<(), ExecError> {
    SUBREAPER
        .get_or_init(|| rustix::process::set_child_subreaper(Some(rustix::process::getpid())))
        .map_err(|e| ExecError::Io {
            op: "prctl(PR_SET_CHILD_SUBREAPER)",
            source: e.into(),
        })
}

/// One row of the process table.
struct Row {
    ppid: i32,
    pgid: i32,
    starttime: u64,
}

fn process_table() -> HashMap<i32, Row> {
    let mut rows = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return rows;
    };
    for p in all.filter_map(Result::ok) {
        if let Ok(st) = p.stat() {
            rows.insert(
                st.pid,
                Row {
                    ppid: st.ppid,
                    pgid: st.pgrp,
                    starttime: st.starttime,
                },
            );
        }
    }
    rows
}

/// Sends `signal` to `pid`, a process that is not our child (so its pid could be reused):
/// via a pidfd, and only if it is still the process seen in the table (same start time).
/// Shared with the MCP server's tree kill (`runtime::child`).
pub(crate) fn signal_pinned(pid: i32, starttime: u64, signal: Signal) {
    let Some(rpid) = Pid::from_raw(pid) else {
        return;
    };
    let Ok(pidfd) = rustix::process::pidfd_open(rpid, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    let same = procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|st| st.starttime == starttime);
    if same {
        let _ = rustix::process::pidfd_send_signal(&pidfd, signal);
    }
}

/// Reaps our child `pid` once it has exited, waiting at most [`REAP_WAIT`].
pub(super) fn reap(pid: i32) {
    let Some(rpid) = Pid::from_raw(pid) else {
        return;
    };
    let start = Instant::now();
    loop {
        match rustix::process::waitid(
            WaitId::Pid(rpid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(_)) | Err(Errno::CHILD) => return,
            Ok(None) | Err(Errno::INTR) => {}
            Err(_) => return,
        }
        if start.elapsed() >= REAP_WAIT {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills and reaps every descendant of an `execute` that escaped the child's process group:
/// whatever was reparented to the runner (it is the subreaper) and is not a child `execute`
/// is still running, together with everything below it. Without [`CONTAIN_ALL`], children in
/// the runner's own process group are left alone (an embedding program's own children; an
/// `execute` child always has its own group). Repeated until nothing is left, because each
/// kill reparents the next level to the runner.
pub(super) fn sweep() {
    let live = live();
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let my_pgid = rustix::process::getpgrp().as_raw_nonzero().get();
    let all = CONTAIN_ALL.load(Ordering::SeqCst);
    let exempt = EXEMPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for _ in 0..SWEEP_ROUNDS {
        let table = process_table();
        let roots: Vec<i32> = table
            .iter()
            .filter(|(pid, r)| {
                r.ppid == me
                    && !live.contains(*pid)
                    && !exempt.contains(*pid)
                    && (all || r.pgid != my_pgid)
            })
            .map(|(pid, _)| *pid)
            .collect();
        if roots.is_empty() {
            return;
        }
        // Everything below the roots first (pinned, since those pids are not ours), then the
        // roots themselves (our unreaped children: their pids cannot be reused).
        let mut below: Vec<i32> = Vec::new();
        let mut frontier: BTreeSet<i32> = roots.iter().copied().collect();
        while !frontier.is_empty() {
            let next: BTreeSet<i32> = table
                .iter()
                .filter(|(_, r)| frontier.contains(&r.ppid))
                .map(|(pid, _)| *pid)
                .collect();
            below.extend(next.iter().copied());
            frontier = next;
            if below.len() > table.len() {
                break;
            }
        }
        for pid in &below {
            if let Some(r) = table.get(pid) {
                signal_pinned(*pid, r.starttime, Signal::KILL);
            }
        }
        for pid in &roots {
            if let Some(p) = Pid::from_raw(*pid) {
                let _ = rustix::process::kill_process(p, Signal::KILL);
            }
        }
        for pid in &roots {
            reap(*pid);
        }
    }
}
