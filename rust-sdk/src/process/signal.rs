//! Signalling processes (`kill`) through a pidfd pinned to the identity that was authorized.

use super::*;

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

    pub(super) fn raw(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Quit => rustix::process::Signal::QUIT,
            Signal::Hup => rustix::process::Signal::HUP,
            Signal::Kill => rustix::process::Signal::KILL,
        }
    }
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

impl ProcessManager {
    /// Signals one process by PID. The check is `kill` (or `interrupt` for SIGHUP) on the
    /// process as identified through its pidfd.
    pub fn kill_pid(
        &mut self,
        ctx: &SdkContext,
        pid: u32,
        signal: Signal,
    ) -> Result<Killed, ProcessError> {
        let (pidfd, after) = pin_process(pid, &mut self.users)?;
        let permit = ctx.check(signal.action(), &Resource::process(after.attrs.clone()))?;
        send_signal(&pidfd, pid, signal, &permit)?;
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
}

/// A file-system error met while authorizing a path, as a process error.
/// Sends `signal` through the pinned `pidfd` of `pid`. `permit` is the proof that Cedar allowed
/// the signal's action on that process; any other proof is refused before the syscall.
fn send_signal(
    pidfd: &rustix::fd::OwnedFd,
    pid: u32,
    signal: Signal,
    permit: &Permit,
) -> Result<(), ProcessError> {
    permit.require(&[signal.action()], ResourceKind::Process, &pid.to_string())?;
    rustix::process::pidfd_send_signal(pidfd, signal.raw()).map_err(|e| {
        if e == rustix::io::Errno::SRCH {
            ProcessError::NotFound { pid }
        } else {
            ProcessError::Os {
                op: "pidfd_send_signal",
                source: e.into(),
            }
        }
    })
}

/// Opens a pidfd on `pid` and reads the process's identity on both sides of the open: the
/// identity returned is that of the process the pidfd refers to (same start time before and
/// after), so a recycled pid cannot be authorized in place of another process. Pid 0 is a
/// validation error.
pub(crate) fn pin_process(
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
/// `execute` is the proof of the `execute` whose context named that namespace.
pub(crate) fn pin_pidfd(
    execute: &crate::Permit,
    pid: u32,
) -> Result<rustix::fd::OwnedFd, ProcessError> {
    execute
        .require_action(&[rex_auth::Action::FsExecute])
        .map_err(ProcessError::Auth)?;
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
