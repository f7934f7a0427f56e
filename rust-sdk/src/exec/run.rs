//! Spawning and supervising the child: output capture, timeout, cancellation, reaping.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::{ExecError, ExecuteOptions, ExecuteResult};
use crate::SdkContext;
use crate::fs::FileHandle;

/// How long one `poll` waits at most, so the timeout and the cancel flag are seen promptly.
const TICK: Duration = Duration::from_millis(50);

/// After the child exited, how long output from left-over descriptor holders (processes that
/// left the group) is still read before the pipes are abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How the child is created.
pub(super) struct Spawn {
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
    pub(super) cap: usize,
}

/// One captured stream.
struct Capture {
    file: Option<File>,
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn new(fd: OwnedFd, cap: usize) -> Result<Self, ExecError> {
        rustix::io::ioctl_fionbio(&fd, true).map_err(|e| ExecError::Io {
            op: "set non-blocking",
            source: e.into(),
        })?;
        Ok(Capture {
            file: Some(File::from(fd)),
            buf: Vec::new(),
            cap,
            truncated: false,
        })
    }

    /// Reads what is available; closes the stream at end of file or on error.
    fn drain(&mut self, scratch: &mut [u8]) {
        let Some(f) = self.file.as_mut() else { return };
        loop {
            match f.read(scratch) {
                Ok(0) => {
                    self.file = None;
                    return;
                }
                Ok(n) => {
                    let data = scratch.get(..n).unwrap_or_default();
                    let room = self.cap.saturating_sub(self.buf.len());
                    if data.len() > room {
                        self.truncated = true;
                    }
                    self.buf
                        .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.file = None;
                    return;
                }
            }
        }
    }
}

/// Creates the child from a dedicated thread that has `PR_SET_NO_NEW_PRIVS` set and its
/// ambient capabilities cleared: both are per-thread attributes inherited by a child created
/// from that thread, and the thread ends right after the spawn.
fn spawn(mut cmd: Command, path: &str) -> Result<Child, ExecError> {
    let spawn_err = |source: std::io::Error| ExecError::Spawn {
        path: path.to_string(),
        source,
    };
    std::thread::scope(|s| {
        let worker = s.spawn(move || -> Result<Child, ExecError> {
            rustix::thread::set_no_new_privs(true).map_err(|e| ExecError::Io {
                op: "prctl(PR_SET_NO_NEW_PRIVS)",
                source: e.into(),
            })?;
            match rustix::thread::clear_ambient_capability_set() {
                // EINVAL: a kernel without ambient capabilities has nothing to clear.
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => {
                    return Err(ExecError::Io {
                        op: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
                        source: e.into(),
                    });
                }
            }
            cmd.spawn().map_err(spawn_err)
        });
        worker.join().unwrap_or_else(|_| {
            Err(ExecError::Io {
                op: "spawn thread",
                source: std::io::Error::other("the spawning thread panicked"),
            })
        })
    })
}

/// Whether the child has exited, without reaping it (so its pid, which is also the process
/// group id, cannot be reused while the group is being killed).
fn exited(pid: Pid) -> Result<bool, ExecError> {
    match rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(status) => Ok(status.is_some()),
        Err(Errno::INTR) => Ok(false),
        Err(e) => Err(ExecError::Io {
            op: "waitid",
            source: e.into(),
        }),
    }
}

/// Kills the child's process group, and the child itself in case it moved to another group.
/// The child is not reaped yet, so neither id can have been reused.
fn kill_group(pid: Pid) {
    // ESRCH: already gone. Nothing else can fail for our own child and its group.
    let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    let _ = rustix::process::kill_process(pid, Signal::KILL);
}

pub(super) fn run(
    ctx: &SdkContext,
    file: &FileHandle,
    opts: &ExecuteOptions,
    how: Spawn,
) -> Result<ExecuteResult, ExecError> {
    let path = file.path.as_str();
    let mut cmd = Command::new(format!("/proc/self/fd/{}", file.file.as_raw_fd()));
    cmd.arg0(file.name.as_str())
        .args(opts.argv())
        .env_clear()
        .envs(&opts.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/")
        .process_group(0);
    // std does setgid, then setgroups([]) when a uid is set, then setuid, in the child.
    if let Some(gid) = how.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = how.uid {
        cmd.uid(uid);
    }
    let mut child = spawn(cmd, path)?;
    let pid =
        Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)).ok_or_else(|| ExecError::Io {
            op: "spawn",
            source: std::io::Error::other("invalid child pid"),
        })?;
    let outcome = supervise(ctx, &mut child, pid, opts.timeout, how.cap);
    if outcome.is_err() {
        kill_group(pid);
    }
    // The child was killed or has exited: reaping does not block for long.
    let status = child.wait().map_err(|e| ExecError::Io {
        op: "wait",
        source: e,
    });
    let (mut result, cancelled) = outcome?;
    let status = status?;
    if cancelled {
        return Err(ExecError::Cancelled);
    }
    result.exit_code = status.code();
    result.signal = status.signal();
    Ok(result)
}

/// The poll loop. Returns the captured output and whether the run was cancelled.
fn supervise(
    ctx: &SdkContext,
    child: &mut Child,
    pid: Pid,
    timeout: Duration,
    cap: usize,
) -> Result<(ExecuteResult, bool), ExecError> {
    let missing = || ExecError::Io {
        op: "spawn",
        source: std::io::Error::other("the child's pipes are missing"),
    };
    let mut out = Capture::new(OwnedFd::from(child.stdout.take().ok_or_else(missing)?), cap)?;
    let mut err = Capture::new(OwnedFd::from(child.stderr.take().ok_or_else(missing)?), cap)?;
    let start = Instant::now();
    let deadline = start.checked_add(timeout);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut timed_out = false;
    let mut cancelled = false;
    let mut drain_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Some(until) = drain_until
            && (now >= until || (out.file.is_none() && err.file.is_none()))
        {
            break;
        }
        let mut wait = TICK;
        if let Some(d) = deadline
            && !timed_out
        {
            wait = wait.min(d.saturating_duration_since(now));
        }
        {
            let mut fds: Vec<PollFd<'_>> = [&out.file, &err.file]
                .into_iter()
                .flatten()
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            let t = PollTimeout::try_from(wait).unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, t) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(ExecError::Io {
                        op: "poll",
                        source: e.into(),
                    });
                }
            }
        }
        out.drain(&mut scratch);
        err.drain(&mut scratch);
        if drain_until.is_none() {
            if exited(pid)? {
                // Nothing started by the call may outlive it.
                kill_group(pid);
                drain_until = Some(Instant::now() + DRAIN_GRACE);
                continue;
            }
            if !timed_out && !cancelled {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    timed_out = true;
                    kill_group(pid);
                } else if ctx.is_cancelled() {
                    cancelled = true;
                    kill_group(pid);
                }
            }
        }
    }
    Ok((
        ExecuteResult {
            pid: pid.as_raw_nonzero().get().unsigned_abs(),
            stdout: out.buf,
            stderr: err.buf,
            exit_code: None,
            signal: None,
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
            timed_out,
        },
        cancelled,
    ))
}
