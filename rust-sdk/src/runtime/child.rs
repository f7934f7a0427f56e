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
