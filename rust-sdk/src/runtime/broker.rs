//! The unmount broker: a process forked before the runner's Landlock domain is applied, so
//! outside it, that performs `unmount` (which no Landlock domain can do) for the runner.
//!
//! It is started only when some permit of the run's principal may allow `unmount`. It holds
//! its own authorizer (of the same policies), serves one typed request only, an unmount of a
//! path, over a socket pair, decides it again with Cedar, performs it with the same fd-based
//! code as an unconfined runner (`disk::unmount`), and answers. It never runs script code, it
//! dies with the runner (parent-death signal, and end of file on its socket), and it exits
//! when the runner closes the socket.
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

use super::sandbox::SandboxError;
use crate::SdkContext;

/// The runner's end of the broker's socket.
static BROKER: OnceLock<Mutex<UnixStream>> = OnceLock::new();

/// The longest path a request may carry.
const MAX_PATH: usize = 4096;

/// Answer codes.
const OK: u8 = 0;
const DENIED: u8 = 1;
const FAILED: u8 = 2;

/// How the broker answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Unmounted.
    Done,
    /// Cedar refused it in the broker (it had been allowed in the runner).
    Denied(String),
    /// The unmount failed (the message says why; `errno` when a system call failed).
    Failed {
        /// The OS error number, when there was one.
        errno: Option<i32>,
        /// What failed.
        message: String,
    },
}

/// The number of threads of this process.
#[allow(clippy::disallowed_methods)]
fn thread_count() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Forks the broker, deciding with `ctx`. The process must have exactly one thread: a forked
/// copy of a process with others could hold their locks forever.
pub(crate) fn start(ctx: SdkContext) -> Result<(), SandboxError> {
    let broker_err = |m: String| SandboxError::Broker(m);
    if BROKER.get().is_some() {
        return Ok(());
    }
    // A thread that was just joined leaves `/proc/self/task` a moment after its joiner wakes.
    let mut threads = 0;
    for _ in 0..200 {
        threads = thread_count().map_err(|e| broker_err(format!("cannot count threads: {e}")))?;
        if threads == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if threads != 1 {
        return Err(broker_err(format!(
            "the runner has {threads} threads when the sandbox is applied; the broker is forked only from a single-threaded process"
        )));
    }
    let (ours, theirs) = UnixStream::pair().map_err(|e| broker_err(format!("socketpair: {e}")))?;
    let parent = rustix::process::getpid();
    // SAFETY: the process has exactly one thread (checked just above, and nothing between
    // the check and the fork starts one), so the child is a complete copy with no lock held
    // by a thread that does not exist in it. The child only runs `serve`, which uses the
    // copied authorizer and the fd-based unmount, and leaves with `_exit`, never returning
    // into the runner's code or running its exit handlers.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ours);
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            if rustix::process::getppid() == Some(parent) {
                serve(&ctx, theirs);
            }
            // SAFETY: `_exit` ends the process at once without running exit handlers or
            // destructors of the runner's state copied by the fork; it takes no pointers.
            unsafe { nix::libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(theirs);
            // The broker is the runner's own child: the sweep after an `execute` (which
            // kills every other child) leaves it alone.
            crate::exec::reap::exempt(child.as_raw());
            let _ = BROKER.set(Mutex::new(ours));
            Ok(())
        }
        Err(e) => Err(broker_err(format!("fork: {e}"))),
    }
}

/// Asks the broker to unmount `path` (the path the script named). `None` when no broker runs.
pub(crate) fn unmount(path: &str) -> Option<Answer> {
    let lock = BROKER.get()?;
    let mut stream = match lock.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    Some(
        exchange(&mut stream, path).unwrap_or_else(|e| Answer::Failed {
            errno: None,
            message: format!("the unmount broker did not answer: {e}"),
        }),
    )
}

fn exchange(stream: &mut UnixStream, path: &str) -> std::io::Result<Answer> {
    let len = u32::try_from(path.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(path.as_bytes())?;
    let mut head = [0u8; 9];
    stream.read_exact(&mut head)?;
    let [code, e0, e1, e2, e3, l0, l1, l2, l3] = head;
    let errno = i32::from_le_bytes([e0, e1, e2, e3]);
    let n = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    if n > MAX_PATH * 2 {
        return Err(std::io::Error::other("oversized answer"));
    }
    let mut message = vec![0u8; n];
    stream.read_exact(&mut message)?;
    let message = String::from_utf8_lossy(&message).into_owned();
    Ok(match code {
        OK => Answer::Done,
        DENIED => Answer::Denied(message),
        _ => Answer::Failed {
            errno: (errno != 0).then_some(errno),
            message,
        },
    })
}

/// The broker's loop: one request at a time until the runner closes its end.
fn serve(ctx: &SdkContext, mut stream: UnixStream) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_PATH {
            return;
        }
        let mut path = vec![0u8; n];
        if stream.read_exact(&mut path).is_err() {
            return;
        }
        let (code, errno, message) = match String::from_utf8(path) {
            Err(_) => (FAILED, 0, "the path is not UTF-8".to_string()),
            Ok(path) => match crate::disk::unmount(ctx, &path) {
                Ok(()) => (OK, 0, String::new()),
                Err(e @ crate::disk::DiskError::Denied(_)) => (DENIED, 0, e.to_string()),
                Err(crate::disk::DiskError::System { op, source }) => (
                    FAILED,
                    source.raw_os_error().unwrap_or(0),
                    format!("{op} failed: {source}"),
                ),
                Err(e) => (FAILED, 0, e.to_string()),
            },
        };
        let msg = message.as_bytes();
        let msg = msg.get(..msg.len().min(MAX_PATH)).unwrap_or_default();
        let mut out = Vec::with_capacity(9 + msg.len());
        out.push(code);
        out.extend_from_slice(&errno.to_le_bytes());
        out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        out.extend_from_slice(msg);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}
