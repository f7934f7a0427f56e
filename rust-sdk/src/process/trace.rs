//! Stack traces of a running process (REX's `trace`, i.e. `pstack`).
//!
//! Checks `process_system::Action::"trace"` on the process (identified through a verified
//! pidfd, as for signals). The debugger is then opened through the file-system API (`open` on
//! Dir `/usr/bin` and File `/usr/bin/gdb`, read-only) and run through the gated
//! [`crate::exec::execute`] path, so the policy's `file_system::execute` rule (with the exact
//! arguments) applies to it as well; REX ran pstack without any `execute` check.
//! `gdb --batch -nx -p <pid> -ex "thread apply all bt"` is run with an empty environment, no
//! new privileges and a timeout. `gstack`/`pstack` are shell scripts around gdb and cannot be
//! run from a descriptor, so gdb is used directly.
//!
//! `TraceOptions.ns_pid` (tracing from inside another mount namespace) checks
//! `mount_namespace` on that process and is then refused as unsupported: the execute path
//! does not enter namespaces.

use std::time::Duration;

use rex_auth::{Action, Resource};

use super::{ProcessError, ProcessManager, pin_process, read_identity};
use crate::SdkContext;
use crate::exec::{ExecError, ExecuteOptions, execute};
use crate::fs::{DirHandle, FsError, OpenDirOptions, OpenFileOptions};

/// The directory and file name of the debugger that is run.
pub const TRACER_DIR: &str = "/usr/bin";
/// The debugger's file name in [`TRACER_DIR`].
pub const TRACER_NAME: &str = "gdb";
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

fn fs_err(e: FsError) -> ProcessError {
    match e.as_denied() {
        Some(d) => ProcessError::Denied(Box::new(d.clone())),
        None => ProcessError::Os {
            op: "open the debugger",
            source: std::io::Error::other(e.to_string()),
        },
    }
}

fn exec_err(e: ExecError) -> ProcessError {
    match e.as_denied() {
        Some(d) => ProcessError::Denied(Box::new(d.clone())),
        None => ProcessError::Os {
            op: "run the debugger",
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Parses `Thread 2 (Thread 0x7f.. (LWP 123) "name"):` headers and `#N ...` frame lines.
pub(super) fn parse_backtrace(pid: u32, text: &str) -> Vec<TracedThread> {
    let mut threads: Vec<TracedThread> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with("Thread ") && line.ends_with("):") {
            let tid = line
                .split_once("(LWP ")
                .and_then(|(_, rest)| rest.split(')').next())
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(pid);
            let name = line
                .rsplit_once(") \"")
                .and_then(|(_, rest)| rest.strip_suffix("\"):"))
                .map(str::to_string);
            threads.push(TracedThread {
                tid,
                name,
                frames: Vec::new(),
            });
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let (num, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let Ok(index) = num.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        let (address, rest) = match rest.strip_prefix("0x") {
            Some(_) => match rest.split_once(" in ") {
                Some((a, r)) => (Some(a.trim().to_string()), r),
                None => (Some(rest.to_string()), ""),
            },
            None => (None, rest),
        };
        let function = rest
            .split(" (")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let location = rest
            .rsplit_once(" at ")
            .or_else(|| rest.rsplit_once(" from "))
            .map(|(_, l)| l.trim().to_string());
        if threads.is_empty() {
            threads.push(TracedThread {
                tid: pid,
                name: None,
                frames: Vec::new(),
            });
        }
        if let Some(t) = threads.last_mut() {
            t.frames.push(StackFrame {
                index,
                address,
                function,
                location,
            });
        }
    }
    threads
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
        let dir = DirHandle::open(ctx, TRACER_DIR, OpenDirOptions::default()).map_err(fs_err)?;
        let gdb = dir
            .open_file(ctx, TRACER_NAME, OpenFileOptions::read())
            .map_err(fs_err)?;
        let mut eopts = ExecuteOptions::new()
            .arg("--batch")
            .arg("-nx")
            .arg_pair("-p", pid.to_string())
            .arg_pair("-ex", "thread apply all bt")
            .timeout(TRACE_TIMEOUT);
        eopts.max_output_bytes = Some(ctx.limits().max_output_bytes);
        let out = execute(ctx, &gdb, &eopts).map_err(exec_err)?;
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
