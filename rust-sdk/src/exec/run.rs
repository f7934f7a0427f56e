//! Spawning and supervising the child: output capture, timeout, cancellation, reaping.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rex_auth::Action;
use rustix::io::Errno;
use rustix::process::{Gid, Pid, Signal, Uid, WaitId, WaitIdOptions};
use rustix::thread::{CapabilitiesSecureBits, CapabilitySet, CapabilitySets, ThreadNameSpaceType};

use super::reap::*;
use super::{ExecError, ExecuteOptions, ExecuteResult, caps};
use crate::fs::FileHandle;
use crate::{Permit, SdkContext};

/// How long one `poll` waits at most, so the timeout and the cancel flag are seen promptly.
const TICK: Duration = Duration::from_millis(50);

/// After the child exited, how long output from left-over descriptor holders (processes that
/// left the group) is still read before the pipes are abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The child's stdout and stderr: the runner's read ends and the write ends handed to the
/// child.
struct Pipes {
    out_r: OwnedFd,
    out_w: OwnedFd,
    err_r: OwnedFd,
    err_w: OwnedFd,
}

impl Pipes {
    fn new() -> Result<Self, ExecError> {
        let pair = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(os("pipe"));
        let (out_r, out_w) = pair()?;
        let (err_r, err_w) = pair()?;
        Ok(Pipes {
            out_r,
            out_w,
            err_r,
            err_w,
        })
    }
}

/// Gives the calling (spawning) thread its own copy of the descriptor table and closes every
/// descriptor above 2 in that copy except `keep`, so a child created from this thread inherits
/// nothing but what is handed to it, whether or not the runner's descriptors are
/// close-on-exec.
///
/// Sound without `unsafe` in spirit too: after `unshare(CLONE_FILES)` the numbers closed here
/// name entries of this thread's private table only; the runner's own descriptors (and every
/// `OwnedFd` other threads hold) live in the shared table and are untouched, and this thread
/// holds no descriptor of its own table but those in `keep` until the spawn. The private table
/// is released when the thread ends.
fn private_fd_table(keep: &[RawFd]) -> Result<(), ExecError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FILES).map_err(|e| ExecError::Io {
        op: "unshare(CLONE_FILES)",
        source: e.into(),
    })?;
    let listed: Vec<RawFd> = std::fs::read_dir("/proc/thread-self/fd")
        .map_err(|e| ExecError::Io {
            op: "list /proc/thread-self/fd",
            source: e,
        })?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    for fd in listed {
        if fd > 2 && !keep.contains(&fd) {
            // EBADF: the directory stream's own descriptor, already closed.
            let _ = nix::unistd::close(fd);
        }
    }
    Ok(())
}

/// How the child is created.
pub(super) struct Spawn {
    /// Switch to this uid.
    pub(super) uid: Option<u32>,
    /// Switch to this gid.
    pub(super) gid: Option<u32>,
    /// `Some`: the child gets exactly these capabilities, and the identity switch happens on
    /// the spawning thread. `None`: no capability, the switch happens in the child.
    pub(super) capabilities: Option<CapabilitySet>,
    /// The child runs as uid 0.
    pub(super) root_child: bool,
    /// Join the PID namespace of this process (pid, pinned pidfd) before the spawn.
    pub(super) pid_namespace: Option<(u32, OwnedFd)>,
    /// Cap on each captured stream.
    pub(super) cap: usize,
    /// A `#!` script's interpreter that Cedar allows (see `script_interpreter`).
    pub(super) interpreter: Option<OwnedFd>,
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

fn os(op: &'static str) -> impl Fn(Errno) -> ExecError {
    move |e| ExecError::Io {
        op,
        source: e.into(),
    }
}

/// `PR_SET_NO_NEW_PRIVS` on the calling thread.
fn no_new_privs() -> Result<(), ExecError> {
    rustix::thread::set_no_new_privs(true).map_err(os("prctl(PR_SET_NO_NEW_PRIVS)"))
}

/// Empties the calling thread's ambient set.
fn clear_ambient() -> Result<(), ExecError> {
    match rustix::thread::clear_ambient_capability_set() {
        // EINVAL: a kernel without ambient capabilities has nothing to clear.
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(e) => Err(os("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")(e)),
    }
}

/// Prepares the calling (spawning) thread so that a child it creates runs as `how.uid`/`how.gid`
/// with exactly `caps` as its permitted, effective, inheritable and ambient sets (see the
/// module documentation of `exec` for the order and why it is done on the thread).
fn grant(caps: CapabilitySet, how: &Spawn) -> Result<(), ExecError> {
    let held = rustix::thread::capabilities(None).map_err(os("capget"))?;
    let mut missing = caps.difference(held.permitted);
    for (_, bit) in caps.iter_names() {
        if !rustix::thread::capability_is_in_bounding_set(bit).unwrap_or(false) {
            missing |= bit;
        }
    }
    if !missing.is_empty() {
        return Err(ExecError::MissingCapabilities {
            missing: caps::names_of(missing),
            needed_for: "grant it to the child",
        });
    }
    if how.root_child {
        // Root would get the full bounding set on execve; with NOROOT it gets only its ambient
        // set. Locked, so neither the child nor anything it runs can turn it off.
        let root_only = || ExecError::MissingCapabilities {
            missing: vec!["CAP_SETPCAP".into()],
            needed_for: "keep a uid-0 child to the requested capabilities",
        };
        if !held.effective.contains(CapabilitySet::SETPCAP) {
            return Err(root_only());
        }
        let bits =
            rustix::thread::capabilities_secure_bits().map_err(os("prctl(PR_GET_SECUREBITS)"))?;
        let want = bits | CapabilitiesSecureBits::NO_ROOT | CapabilitiesSecureBits::NO_ROOT_LOCKED;
        if want != bits {
            rustix::thread::set_capabilities_secure_bits(want).map_err(|e| {
                if e == Errno::PERM {
                    root_only()
                } else {
                    os("prctl(PR_SET_SECUREBITS)")(e)
                }
            })?;
        }
    }
    if how.uid.is_some() {
        // Keep the permitted set across the uid change; the ambient set is emptied by it, so
        // it is raised only afterwards.
        rustix::thread::set_keep_capabilities(true).map_err(os("prctl(PR_SET_KEEPCAPS)"))?;
    }
    // Per-thread syscalls, in the order std uses in a child: setgid, setgroups([]) (when root
    // switches user), setuid.
    if let Some(gid) = how.gid {
        rustix::thread::set_thread_gid(Gid::from_raw(gid)).map_err(os("setgid"))?;
    }
    if let Some(uid) = how.uid {
        if rustix::process::getuid().is_root() {
            rustix::thread::set_thread_groups(&[]).map_err(os("setgroups"))?;
        }
        rustix::thread::set_thread_uid(Uid::from_raw(uid)).map_err(os("setuid"))?;
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: caps,
            permitted: caps,
            inheritable: caps,
        },
    )
    .map_err(os("capset"))?;
    clear_ambient()?;
    for (_, bit) in caps.iter_names() {
        rustix::thread::configure_capability_in_ambient_set(bit, true).map_err(|e| {
            if e == Errno::INVAL {
                ExecError::Unsupported("this kernel has no ambient capabilities".into())
            } else {
                os("prctl(PR_CAP_AMBIENT_RAISE)")(e)
            }
        })?;
    }
    no_new_privs()
}

/// Creates the child from a dedicated thread that has `PR_SET_NO_NEW_PRIVS` set and its
/// ambient capabilities cleared (or, with requested capabilities, exactly those), and that
/// has joined the target's PID namespace if one was asked for: all of these are per-thread
/// attributes inherited by a child created from that thread, and the thread ends right after
/// the spawn.
fn spawn(
    mut cmd: Command,
    path: &str,
    how: &Spawn,
    pipes: &Pipes,
    exe: std::os::fd::BorrowedFd<'_>,
) -> Result<Child, ExecError> {
    let spawn_err = |source: std::io::Error| ExecError::Spawn {
        path: path.to_string(),
        source,
    };
    // A credential change on the thread makes the kernel mark the whole process non-dumpable.
    // That is left as it is: restoring it while another call's spawning thread still runs
    // under the child's identity would let that identity ptrace the runner.
    std::thread::scope(|s| {
        let worker = s.spawn(move || -> Result<Child, ExecError> {
            if let Some((pid, pidfd)) = &how.pid_namespace {
                // Only this thread's namespace for children changes; it is never restored
                // because the thread ends after the spawn.
                rustix::thread::move_into_thread_name_spaces(
                    pidfd.as_fd(),
                    ThreadNameSpaceType::PROCESS_ID,
                )
                .map_err(|e| ExecError::Namespace {
                    pid: *pid,
                    source: e.into(),
                })?;
            }
            let (out_w, err_w) = (pipes.out_w.as_raw_fd(), pipes.err_w.as_raw_fd());
            let mut keep = vec![exe.as_raw_fd(), out_w, err_w];
            keep.extend(crate::runtime::sandbox::child_layer_fds());
            keep.extend(how.interpreter.as_ref().map(AsRawFd::as_raw_fd));
            private_fd_table(&keep)?;
            // The program gets the layer of executed programs: at most what the policies
            // allow, the runtime it needs to start, and itself.
            crate::runtime::sandbox::confine_child(&crate::runtime::sandbox::ChildProgram {
                program: exe,
                interpreter: how.interpreter.as_ref().map(AsFd::as_fd),
            })
            .map_err(|e| ExecError::Io {
                op: "landlock",
                source: std::io::Error::other(e.to_string()),
            })?;
            // Duplicates in the private table; std hands them to the child as 1 and 2 and
            // closes them after the spawn.
            let dup = |fd: &OwnedFd| {
                fd.try_clone().map_err(|e| ExecError::Io {
                    op: "dup",
                    source: e,
                })
            };
            cmd.stdout(Stdio::from(dup(&pipes.out_w)?))
                .stderr(Stdio::from(dup(&pipes.err_w)?));
            match how.capabilities {
                Some(caps) => grant(caps, how)?,
                None => {
                    no_new_privs()?;
                    clear_ambient()?;
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

/// Spawns and supervises the child. `permit` is the proof of the `execute` check on `file`
/// (consumed: one spawn per decision); any other proof is refused before anything is spawned.
pub(super) fn run(
    ctx: &SdkContext,
    file: &FileHandle,
    opts: &ExecuteOptions,
    how: Spawn,
    permit: Permit,
) -> Result<ExecuteResult, ExecError> {
    file.require(&permit, &[Action::FsExecute])?;
    let path = file.path.as_str();
    let mut cmd = Command::new(format!("/proc/self/fd/{}", file.file.as_raw_fd()));
    cmd.arg0(file.name.as_str())
        .args(opts.argv())
        .env_clear()
        .envs(&opts.env)
        .stdin(Stdio::null())
        .current_dir("/")
        .process_group(0);
    // Without capabilities, std does setgid, then setgroups([]) when root switches user, then
    // setuid, in the child. With capabilities, `grant` does the same on the spawning thread.
    if how.capabilities.is_none() {
        if let Some(gid) = how.gid {
            cmd.gid(gid);
        }
        if let Some(uid) = how.uid {
            cmd.uid(uid);
        }
    }
    become_subreaper()?;
    let pipes = Pipes::new()?;
    let mut child = {
        let mut live = live();
        let child = spawn(cmd, path, &how, &pipes, file.file.as_fd())?;
        if let Ok(raw) = i32::try_from(child.id()) {
            live.insert(raw);
        }
        child
    };
    let Pipes {
        out_r,
        out_w,
        err_r,
        err_w,
    } = pipes;
    // Only the child (and what it starts) holds the write ends now: end of file comes when
    // they are all gone.
    drop((out_w, err_w));
    let raw = i32::try_from(child.id()).unwrap_or(0);
    let Some(pid) = Pid::from_raw(raw) else {
        return Err(ExecError::Io {
            op: "spawn",
            source: std::io::Error::other("invalid child pid"),
        });
    };
    let outcome = supervise(ctx, pid, (out_r, err_r), opts.timeout, how.cap);
    if outcome.is_err() {
        kill_group(pid);
    }
    // The child was killed or has exited: reaping does not block for long.
    let status = child.wait().map_err(|e| ExecError::Io {
        op: "wait",
        source: e,
    });
    live().remove(&raw);
    // Whatever the child left behind (reparented to the runner meanwhile) goes too.
    sweep();
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
    pid: Pid,
    (out_r, err_r): (OwnedFd, OwnedFd),
    timeout: Duration,
    cap: usize,
) -> Result<(ExecuteResult, bool), ExecError> {
    let mut out = Capture::new(out_r, cap)?;
    let mut err = Capture::new(err_r, cap)?;
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
                // Nothing started by the call may outlive it: its group, then whatever left
                // the group and was reparented to the runner.
                kill_group(pid);
                sweep();
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
