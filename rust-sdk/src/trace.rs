//! Stack traces of a running process (REX's `trace`, i.e. `pstack`): [`ProcessManager::trace`].
//!
//! A module of its own, above both [`crate::process`] (the verified pidfd, the process
//! identity) and [`crate::exec`] (the gated gdb runner), so that neither of those two depends
//! on the other in both directions: `exec` uses `process` (the PID namespace an `execute`
//! joins), `trace` uses both.
//!
//! Checks `process_system::Action::"trace"` on the process (identified through a verified
//! pidfd, as for signals). The debugger is then located, opened and run by the same gdb runner
//! as core dumps: opened through the file-system API (`open` on Dir `/usr/bin` and File
//! `/usr/bin/gdb`, read-only) and run through the gated [`crate::exec::execute`] path, so the
//! policy's `file_system::execute` rule (with the exact arguments) applies to it as well; REX
//! ran pstack without any `execute` check. gdb runs as `gdb -nx -batch -iex "set auto-load
//! off" -iex "set debuginfod enabled off" -ex "set pagination off" -ex "set width 0" -ex
//! "thread apply all bt" -p <pid>` with only `LC_ALL=C` in its environment, no new privileges
//! and a timeout. `gstack`/`pstack` are shell scripts around gdb and cannot be run from a
//! descriptor, so gdb is used directly. Its output is read by the same parser as a core
//! dump's backtrace.
//!
//! `TraceOptions.ns_pid` (tracing from inside another mount namespace) checks
//! `mount_namespace` on that process and is then refused as unsupported: the execute path
//! does not enter namespaces.

use std::time::Duration;

use rex_auth::{Action, Resource};

use crate::SdkContext;
use crate::exec::ExecError;
use crate::exec::gdb::{self, Target};
use crate::process::{ProcessError, ProcessManager, pin_process, read_identity};

/// How long the debugger may run.
pub const TRACE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of [`ProcessManager::trace`] (REX's `TraceOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceOptions {
    /// Trace from inside this process's mount namespace (not supported; checked, then
    /// refused).
    pub ns_pid: Option<u32>,
}

/// One stack frame, as the debugger printed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackFrame {
    /// Frame number (0 is the innermost).
    pub index: u32,
    /// The program counter (`0x...`), when printed.
    pub address: Option<String>,
    /// The function (`??` when unknown).
    pub function: String,
    /// `file:line` or the library the function is in, when printed.
    pub location: Option<String>,
}

/// The stack of one thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TracedThread {
    /// The thread id (LWP).
    pub tid: u32,
    /// The thread name, when printed.
    pub name: Option<String>,
    /// Frames, innermost first.
    pub frames: Vec<StackFrame>,
}

/// The result of [`ProcessManager::trace`] (REX's `TracedProcess`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TracedProcess {
    /// The traced process.
    pub pid: u32,
    /// Its threads.
    pub threads: Vec<TracedThread>,
}

fn exec_err(e: ExecError) -> ProcessError {
    match (e.as_denied(), &e) {
        (Some(d), _) => ProcessError::Denied(Box::new(d.clone())),
        (None, ExecError::Fs(_)) => ProcessError::Os {
            op: "open the debugger",
            source: std::io::Error::other(e.to_string()),
        },
        (None, _) => ProcessError::Os {
            op: "run the debugger",
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Reads gdb's `thread apply all bt` output with the shared parser; frames printed before any
/// thread header belong to the process itself (`pid`).
pub(super) fn parse_backtrace(pid: u32, text: &str) -> Vec<TracedThread> {
    gdb::parse_backtrace(text)
        .into_iter()
        .map(|t| {
            let (tid, name) = match t.header {
                Some(h) => (h.tid.unwrap_or(pid), h.name),
                None => (pid, None),
            };
            TracedThread {
                tid,
                name,
                frames: t
                    .frames
                    .into_iter()
                    .map(|f| StackFrame {
                        index: f.number,
                        address: f.address,
                        function: f.function,
                        location: f.location.as_ref().map(|l| l.raw().to_string()),
                    })
                    .collect(),
            }
        })
        .collect()
}

impl ProcessManager {
    /// The stack of every thread of `pid` (see the module documentation). Checks `trace` on
    /// the process first; then `open` on the debugger and `execute` with its arguments.
    pub fn trace(
        &mut self,
        ctx: &SdkContext,
        pid: u32,
        opts: &TraceOptions,
    ) -> Result<TracedProcess, ProcessError> {
        let (_pidfd, after) = pin_process(pid, &mut self.users)?;
        ctx.check(Action::ProcessTrace, &Resource::process(after.attrs))?;
        if let Some(ns_pid) = opts.ns_pid {
            let (ns_ident, _) = read_identity(ns_pid, &mut self.users)?;
            ctx.check(
                Action::ProcessMountNamespace,
                &Resource::process(ns_ident.attrs),
            )?;
            return Err(ProcessError::Unsupported(
                "tracing from another mount namespace (ns_pid): the execute path does not \
                 enter namespaces"
                    .into(),
            ));
        }
        let out = gdb::run(
            ctx,
            &Target::Process(pid),
            &["thread apply all bt".to_string()],
            TRACE_TIMEOUT,
        )
        .map_err(exec_err)?;
        let threads = parse_backtrace(pid, &out.stdout_text());
        if threads.is_empty() {
            let err = out.stderr_text();
            let first = err.lines().rev().find(|l| !l.trim().is_empty());
            return Err(ProcessError::Os {
                op: "trace",
                source: std::io::Error::other(format!(
                    "the debugger printed no stack (exit {:?}{}): {}",
                    out.exit_code,
                    if out.timed_out { ", timed out" } else { "" },
                    first.unwrap_or("no output")
                )),
            });
        }
        Ok(TracedProcess { pid, threads })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::parse_backtrace;

    #[test]
    fn parses_gdb_output() {
        let text = "__GI___clock_nanosleep (clock_id=0) at x.c:71\n\
71\tx.c: No such file or directory.\n\
\n\
Thread 2 (Thread 0x7f00 (LWP 43) \"worker\"):\n\
#0  0x00007f7f36306e53 in __GI___nanosleep (req=<optimized out>) at ../nanosleep.c:25\n\
#1  0x000055a8655cd4af in ?? ()\n\
\n\
Thread 1 (Thread 0x7f7f (LWP 42) \"sleep\"):\n\
#0  __GI___clock_nanosleep (clock_id=clock_id@entry=0) at ../clock_nanosleep.c:71\n\
#1  0x00007f in foo () from /lib/libc.so.6\n";
        let t = parse_backtrace(42, text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].tid, 43);
        assert_eq!(t[0].name.as_deref(), Some("worker"));
        assert_eq!(t[0].frames.len(), 2);
        assert_eq!(
            t[0].frames[0].address.as_deref(),
            Some("0x00007f7f36306e53")
        );
        assert_eq!(t[0].frames[0].function, "__GI___nanosleep");
        assert_eq!(
            t[0].frames[0].location.as_deref(),
            Some("../nanosleep.c:25")
        );
        assert_eq!(t[0].frames[1].function, "??");
        assert_eq!(t[1].tid, 42);
        assert_eq!(t[1].frames[0].address, None);
        assert_eq!(t[1].frames[0].function, "__GI___clock_nanosleep");
        assert_eq!(t[1].frames[1].location.as_deref(), Some("/lib/libc.so.6"));
        // frames without a thread header belong to the process
        let t = parse_backtrace(7, "#0  main () at a.c:1\n");
        assert_eq!(t[0].tid, 7);
        assert!(parse_backtrace(7, "nothing").is_empty());
    }
}
