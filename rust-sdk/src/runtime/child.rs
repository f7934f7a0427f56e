//! The runner's own child processes: `rex-runner mcp` runs every script in a re-executed copy
//! of itself, so that a hostile script can crash, exhaust or hang only its own process. Not a
//! script operation: no script function reaches this module, the program is always the
//! runner's own executable, and the limits only ever tighten, so there is no Cedar check.
//!
//! The server builds the command with [`command`] (its own process group, piped standard
//! streams, never a shell), spawns it, caps its address space with
//! [`limit_address_space`] *before* it sends the child its script (the child reads its
//! request first, so no script code runs before the cap), and ends the whole group with
//! [`kill_group`]. The child calls [`die_with_parent`] first thing, so a server killed
//! outright leaves no run behind.
//!
//! A program the run executes has its own process group (and may start a session of its
//! own), so killing the child's group does not reach it. The server therefore becomes a
//! subreaper ([`become_subreaper`]), ends a run with [`kill_tree`] (every descendant of the
//! child, stopped first so that none can fork while the tree is walked) and takes whatever was
//! reparented to it with [`sweep_strays`].

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::process::{
    Pid, Resource, Rlimit, Signal, getppid, kill_process_group, prlimit,
    set_parent_process_death_signal,
};

/// A command running `program` with `args` in a new process group (whose id is the child's
/// pid), with standard input and output piped and standard error discarded (a crashing child
/// cannot write into the server's streams, which may be closed). The environment
/// is the caller's. Spawn it with `std` or convert it (e.g. `tokio::process::Command::from`).
pub fn command<I, S>(program: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    cmd
}

/// Caps the address space (`RLIMIT_AS`, soft and hard) of process `pid` at `bytes`. Allocation
/// beyond it fails in the child, which then aborts; the hard limit means the child cannot
/// raise it again.
pub fn limit_address_space(pid: u32, bytes: u64) -> std::io::Result<()> {
    let pid = to_pid(pid)?;
    prlimit(
        Some(pid),
        Resource::As,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )?;
    Ok(())
}

/// Caps this process's own address space (`RLIMIT_AS`, soft and hard) at `bytes`, or at its
/// current hard limit when that is lower: only ever tightens. The command-line runner calls
/// it before a run, as the last line under the engine's memory budget (issue 29): an
/// allocation past it fails instead of taking the host's memory. Programs the script
/// executes inherit the cap.
pub fn cap_own_address_space(bytes: u64) -> std::io::Result<()> {
    let current = rustix::process::getrlimit(Resource::As);
    let hard = current.maximum.map_or(bytes, |h| h.min(bytes));
    let soft = current.current.map_or(hard, |s| s.min(hard));
    rustix::process::setrlimit(
        Resource::As,
        Rlimit {
            current: Some(soft),
            maximum: Some(hard),
        },
    )?;
    Ok(())
}

/// Sends `SIGKILL` to every process of group `pgid` (a child made with [`command`] and
/// whatever it started). A group that no longer exists is not an error.
pub fn kill_group(pgid: u32) -> std::io::Result<()> {
    let pid = to_pid(pgid)?;
    match kill_process_group(pid, Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// In a child: asks the kernel to send this process `SIGKILL` when its parent exits, and
/// exits at once if the parent is already gone (re-parented before the request took effect).
pub fn die_with_parent() -> std::io::Result<()> {
    set_parent_process_death_signal(Some(Signal::KILL))?;
    if getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        std::process::exit(137);
    }
    Ok(())
}

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`): a
/// process whose parent dies is reparented here instead of to init, where [`sweep_strays`]
/// finds it.
pub fn become_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

/// Parent and start time of every process (start times pin a pid against reuse).
fn process_table() -> HashMap<i32, (i32, u64)> {
    let mut rows = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return rows;
    };
    for p in all.filter_map(Result::ok) {
        if let Ok(st) = p.stat() {
            rows.insert(st.pid, (st.ppid, st.starttime));
        }
    }
    rows
}

/// The descendants of `roots` in `table` (not the roots themselves).
fn descendants(table: &HashMap<i32, (i32, u64)>, roots: &BTreeSet<i32>) -> BTreeSet<i32> {
    let mut found = BTreeSet::new();
    let mut frontier = roots.clone();
    while !frontier.is_empty() {
        let next: BTreeSet<i32> = table
            .iter()
            .filter(|(pid, (ppid, _))| frontier.contains(ppid) && !found.contains(*pid))
            .map(|(pid, _)| *pid)
            .collect();
        found.extend(next.iter().copied());
        frontier = next;
    }
    found
}

/// How many walk-and-stop rounds [`kill_tree`] makes at most.
const TREE_ROUNDS: usize = 64;

/// Kills every descendant of `pid` (whatever group or session it moved to), then `pid`'s own
/// process group. Descendants are stopped (`SIGSTOP`) round by round until a walk finds no
/// new one, so that none can fork or escape while the tree is walked; then all get
/// `SIGKILL`. `pid` must be a child of this process that is not yet reaped (its pid cannot be
/// reused); descendants are signalled through pidfds pinned to their start time.
pub fn kill_tree(pid: u32) {
    let Ok(root) = i32::try_from(pid) else {
        return;
    };
    let roots: BTreeSet<i32> = [root].into_iter().collect();
    let mut stopped: HashMap<i32, u64> = HashMap::new();
    for _ in 0..TREE_ROUNDS {
        let table = process_table();
        let fresh: Vec<(i32, u64)> = descendants(&table, &roots)
            .into_iter()
            .filter(|p| !stopped.contains_key(p))
            .filter_map(|p| table.get(&p).map(|(_, st)| (p, *st)))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for (p, st) in fresh {
            crate::exec::reap::signal_pinned(p, st, Signal::STOP);
            stopped.insert(p, st);
        }
    }
    for (p, st) in &stopped {
        crate::exec::reap::signal_pinned(*p, *st, Signal::KILL);
    }
    let _ = kill_group(pid);
}

/// Kills, with their descendants, and reaps every child of this process that is not in
/// `live` (the runs still registered): processes that a run left behind and that were
/// reparented here because this process is a subreaper. Waits at most about two seconds for
/// each killed child to become reapable. See [`kill_strays`] and [`reap_strays`] for the two
/// halves, to hold a lock only over the first.
pub fn sweep_strays(live: &BTreeSet<u32>) {
    for _ in 0..TREE_ROUNDS {
        let strays = kill_strays(live);
        if strays.is_empty() {
            return;
        }
        reap_strays(&strays);
    }
}

/// The first half of a sweep, which never waits: sends `SIGKILL` to every child of this
/// process that is not in `live` and to its descendants, and returns their pids for
/// [`reap_strays`]. `live` must be complete while this runs (a run spawned meanwhile and
/// not yet in it would be taken for a stray); the reaping needs no such guarantee, since the
/// returned processes are already killed and are nobody else's to reap.
pub fn kill_strays(live: &BTreeSet<u32>) -> Vec<i32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let table = process_table();
    let strays: Vec<i32> = table
        .iter()
        .filter(|(pid, (ppid, _))| {
            *ppid == me && u32::try_from(**pid).is_ok_and(|p| !live.contains(&p))
        })
        .map(|(pid, _)| *pid)
        .collect();
    for p in &strays {
        if let Ok(raw) = u32::try_from(*p) {
            kill_tree(raw);
        }
        if let Some(rpid) = Pid::from_raw(*p) {
            let _ = rustix::process::kill_process(rpid, Signal::KILL);
        }
    }
    strays
}

/// The second half of a sweep: reaps the processes [`kill_strays`] killed, waiting at most
/// about two seconds for each (call it off any async worker).
pub fn reap_strays(strays: &[i32]) {
    for p in strays {
        reap(*p);
    }
}

/// Reaps our child `pid` once it has exited, waiting at most two seconds.
fn reap(pid: i32) {
    use rustix::process::{WaitId, WaitIdOptions};
    let Some(rpid) = Pid::from_raw(pid) else {
        return;
    };
    for _ in 0..2000 {
        match rustix::process::waitid(
            WaitId::Pid(rpid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(_)) | Err(rustix::io::Errno::CHILD) => return,
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// This process's soft open-file limit (`RLIMIT_NOFILE`), if it has one.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(Resource::Nofile).current
}

fn to_pid(raw: u32) -> std::io::Result<Pid> {
    i32::try_from(raw)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_limited_child_cannot_exceed_its_cap_and_its_group_is_killed() {
        let mut child = command(Path::new("/bin/sh"), ["-c", "read x; sleep 30"])
            .spawn()
            .unwrap();
        limit_address_space(child.id(), 512 * 1024 * 1024).unwrap();
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max address space"))
            .unwrap();
        assert!(line.contains("536870912"), "{line}");
        kill_group(child.id()).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        // The group is gone: killing it again is not an error.
        kill_group(child.id()).unwrap();
    }
}
