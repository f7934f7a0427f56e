//! Core dump inspection with gdb (REX §2.2 `CoreDump(exe_path, core_path)`, `.backtrace()`,
//! `.get_variables(...)`).
//!
//! The executable and the core are opened read-only through the gated file-system API
//! (`open` on their directory and file, then `read` on the file). gdb itself is located,
//! opened and run by the shared gdb runner (the same one `ProcessManager::trace` uses): opened
//! the same way and run through [`super::execute`], so `file_system::Action::"execute"` on the
//! gdb binary must be allowed (REX ran gdb without that check). gdb gets the two files as
//! `/proc/<this process>/fd/<N>` magic links of the authorized descriptors, never as paths
//! that could be swapped; it runs in batch mode with `-nx`, auto-loading off, and only fixed
//! commands: variable names must be C identifiers, so no gdb expression (which can have side
//! effects) ever reaches it.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rex_auth::{Action, Resource};

use super::gdb::{self, Target};
use super::{ExecError, ExecuteResult, open_read};
use crate::SdkContext;
use crate::fs::FileHandle;

/// How long one gdb run may take.
pub const GDB_TIMEOUT: Duration = Duration::from_secs(120);

/// Most variables one [`CoreDump::get_variables`] call accepts.
pub const MAX_VARIABLES: usize = 64;

/// Longest variable name accepted.
pub const MAX_VARIABLE_NAME: usize = 128;

/// One stack frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The frame number (`#N`).
    pub frame_number: u32,
    /// The function, `??` when unknown.
    pub function_name: String,
    /// The program counter, when gdb printed it (`0x...`).
    pub instruction_ptr: Option<String>,
    /// The source file (`at file:line`) or the shared object (`from lib.so`).
    pub source: Option<String>,
    /// The source line, when known.
    pub line_number: Option<u32>,
}

/// One thread and its frames, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracedThread {
    /// gdb's thread number.
    pub id: u32,
    /// The kernel thread id (LWP).
    pub tid: u32,
    /// The frames.
    pub frames: Vec<Frame>,
}

/// A parsed backtrace of every thread.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracedProcess {
    /// The process id: the smallest thread id (the main thread's id equals the pid).
    pub pid: u32,
    /// The threads, in gdb's order.
    pub threads: Vec<TracedThread>,
}

/// An executable and one of its core files, both authorized and open.
#[derive(Debug)]
pub struct CoreDump {
    exe: FileHandle,
    core: FileHandle,
}

/// Whether `name` is a C identifier (the only variable names passed to gdb).
pub fn is_c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name.len() <= MAX_VARIABLE_NAME
}

/// A marker line prefix that core contents cannot predict (so a printed value cannot forge
/// the start of another variable's output).
fn var_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("@@REX-VAR-{:x}-{nanos:x} ", std::process::id())
}

impl CoreDump {
    /// Opens both files read-only (`open` on each directory and file, no symlink following)
    /// and checks `read` on both.
    pub fn open(ctx: &SdkContext, exe_path: &str, core_path: &str) -> Result<Self, ExecError> {
        let exe = open_read(ctx, exe_path)?;
        let core = open_read(ctx, core_path)?;
        Self::from_handles(ctx, exe, core)
    }

    /// Uses handles that are already open; checks `read` on both.
    pub fn from_handles(
        ctx: &SdkContext,
        exe: FileHandle,
        core: FileHandle,
    ) -> Result<Self, ExecError> {
        ctx.check(Action::FsRead, &Resource::file_path(&exe.current_path()?))?;
        ctx.check(Action::FsRead, &Resource::file_path(&core.current_path()?))?;
        Ok(CoreDump { exe, core })
    }

    fn fd_path(f: &FileHandle) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), f.file.as_raw_fd())
    }

    fn gdb(&self, ctx: &SdkContext, commands: &[String]) -> Result<ExecuteResult, ExecError> {
        let target = Target::Core {
            exe: Self::fd_path(&self.exe),
            core: Self::fd_path(&self.core),
        };
        gdb::run(ctx, &target, commands, GDB_TIMEOUT)
    }

    /// The backtrace of every thread (`thread apply all bt`).
    pub fn backtrace(&self, ctx: &SdkContext) -> Result<TracedProcess, ExecError> {
        let r = self.gdb(ctx, &["thread apply all bt".to_string()])?;
        let traced = parse_backtrace(&r.stdout_text());
        if traced.threads.is_empty() {
            return Err(tool_error("gdb printed no backtrace", &r));
        }
        Ok(traced)
    }

    /// The values of variables in a frame (of the given gdb thread, or the current one), as
    /// gdb prints them. A variable gdb cannot find maps to `None`. Names must be C
    /// identifiers; anything else is refused before gdb runs.
    pub fn get_variables(
        &self,
        ctx: &SdkContext,
        thread: Option<u32>,
        frame: u32,
        names: &[String],
    ) -> Result<BTreeMap<String, Option<String>>, ExecError> {
        if names.is_empty() || names.len() > MAX_VARIABLES {
            return Err(ExecError::InvalidArguments(format!(
                "give between 1 and {MAX_VARIABLES} variable names"
            )));
        }
        if let Some(bad) = names.iter().find(|n| !is_c_identifier(n)) {
            return Err(ExecError::InvalidArguments(format!(
                "`{bad}` is not a variable name (C identifiers only)"
            )));
        }
        let marker = var_marker();
        let mut cmds = Vec::new();
        if let Some(t) = thread {
            cmds.push(format!("thread {t}"));
        }
        cmds.push(format!("frame {frame}"));
        for n in names {
            cmds.push(format!("echo \\n{marker}{n}\\n"));
            cmds.push(format!("output {n}"));
        }
        cmds.push("echo \\n".to_string());
        let r = self.gdb(ctx, &cmds)?;
        let text = r.stdout_text();
        // gdb goes on after a failed `thread`/`frame` command: make sure the selection
        // happened, or the values would come from another frame.
        let Some((selection, _)) = text.split_once(marker.as_str()) else {
            return Err(tool_error("gdb could not evaluate the frame", &r));
        };
        if let Some(t) = thread
            && !selection.contains(&format!("[Switching to thread {t} "))
        {
            return Err(tool_error(&format!("no thread {t} in the core"), &r));
        }
        if !selection
            .lines()
            .any(|l| l.starts_with(&format!("#{frame} ")))
        {
            return Err(tool_error(&format!("no frame {frame}"), &r));
        }
        let mut out = parse_variables(&text, &marker);
        for n in names {
            out.entry(n.clone()).or_insert(None);
        }
        Ok(out)
    }
}

fn tool_error(what: &str, r: &ExecuteResult) -> ExecError {
    let mut err = r.stderr_text();
    if err.len() > 4096 {
        let mut cut = 4096;
        while !err.is_char_boundary(cut) {
            cut -= 1;
        }
        err.truncate(cut);
    }
    ExecError::ToolOutput(format!(
        "{what} (exit {:?}, signal {:?}): {}",
        r.exit_code,
        r.signal,
        err.trim()
    ))
}

/// Parses the output of `-ex "output NAME"` commands separated by marker lines.
fn parse_variables(text: &str, marker: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let mut flush = |cur: Option<(String, Vec<&str>)>| {
        if let Some((name, lines)) = cur {
            let v = lines.join("\n").trim().to_string();
            out.insert(name, (!v.is_empty()).then_some(v));
        }
    };
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(marker).filter(|n| is_c_identifier(n)) {
            flush(current.take());
            current = Some((name.to_string(), Vec::new()));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    flush(current);
    out
}

/// Parses the output of gdb's `thread apply all bt` (see the shared gdb parser):
/// `Thread N (... LWP T ...)` headers, each followed by `#K ...` frame lines. Lines before the
/// first header (the crashing frame gdb prints when it loads a core) are ignored.
pub fn parse_backtrace(text: &str) -> TracedProcess {
    let threads: Vec<TracedThread> = gdb::parse_backtrace(text)
        .into_iter()
        .filter_map(|t| {
            let h = t.header?;
            Some(TracedThread {
                id: h.id,
                tid: h.tid.unwrap_or(0),
                frames: t
                    .frames
                    .into_iter()
                    .map(|f| {
                        let (source, line_number) = match f.location {
                            Some(l) => {
                                let (s, n) = l.source_and_line();
                                (Some(s), n)
                            }
                            None => (None, None),
                        };
                        Frame {
                            frame_number: f.number,
                            function_name: f.function,
                            instruction_ptr: f.address,
                            source,
                            line_number,
                        }
                    })
                    .collect(),
            })
        })
        .collect();
    let pid = threads
        .iter()
        .map(|t| t.tid)
        .filter(|t| *t > 0)
        .min()
        .unwrap_or(0);
    TracedProcess { pid, threads }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const BT: &str = "[New LWP 4165]\n\
Core was generated by `/tmp/cdt/t'.\n\
Program terminated with signal SIGABRT, Aborted.\n\
#0  __pthread_kill_implementation (threadid=<optimized out>, signo=signo@entry=6) at ./nptl/pthread_kill.c:44\n\
\n\
Thread 2 (LWP 4170):\n\
#0  0x00007ffff7e5a0d6 in __futex_abstimed_wait_common () from /lib/x86_64-linux-gnu/libc.so.6\n\
#1  0x0000000000000000 in ?? ()\n\
\n\
Thread 1 (Thread 0x7ffff7dd2740 (LWP 4165)):\n\
#0  __pthread_kill_implementation (threadid=<optimized out>, signo=signo@entry=6) at ./nptl/pthread_kill.c:44\n\
#4  0x0000555555555157 in crash (depth=0) at t.c:3\n\
#7  0x0000555555555184 in main () at t.c:4\n";

    #[test]
    fn parses_threads_and_frames() {
        let p = parse_backtrace(BT);
        assert_eq!(p.pid, 4165);
        assert_eq!(p.threads.len(), 2);
        assert_eq!((p.threads[0].id, p.threads[0].tid), (2, 4170));
        let f = &p.threads[0].frames[0];
        assert_eq!(f.function_name, "__futex_abstimed_wait_common");
        assert_eq!(f.instruction_ptr.as_deref(), Some("0x00007ffff7e5a0d6"));
        assert_eq!(f.source.as_deref(), Some("/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(f.line_number, None);
        assert_eq!(p.threads[0].frames[1].function_name, "??");
        let t1 = &p.threads[1];
        assert_eq!(t1.frames.len(), 3);
        assert_eq!(t1.frames[0].instruction_ptr, None);
        assert_eq!(
            t1.frames[0].source.as_deref(),
            Some("./nptl/pthread_kill.c")
        );
        assert_eq!(t1.frames[0].line_number, Some(44));
        assert_eq!(t1.frames[1].frame_number, 4);
        assert_eq!(t1.frames[1].function_name, "crash");
        assert_eq!(t1.frames[2].function_name, "main");
        assert_eq!(t1.frames[2].line_number, Some(4));
    }

    #[test]
    fn parses_variables() {
        let text = "#4  0x0000555555555157 in crash (depth=0) at t.c:3\n\
\n@@M local_value\n0\n@@M nope\n\n@@M s\n{a = 1,\n  b = 2}\n@@X t\n";
        let v = parse_variables(text, "@@M ");
        assert_eq!(v["local_value"].as_deref(), Some("0"));
        assert_eq!(v["nope"], None);
        assert_eq!(v["s"].as_deref(), Some("{a = 1,\n  b = 2}\n@@X t"));
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn identifiers() {
        for ok in ["a", "_x", "counter2", "A_B"] {
            assert!(is_c_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "a.b",
            "a->b",
            "$_shell(\"id\")",
            "x=1",
            "a[0]",
            "é",
        ] {
            assert!(!is_c_identifier(bad), "{bad}");
        }
        assert!(!is_c_identifier(&"a".repeat(MAX_VARIABLE_NAME + 1)));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = parse_backtrace(&s);
            let _ = parse_variables(&s, "@@M ");
        }

        #[test]
        fn identifiers_contain_only_safe_characters(s in "\\PC{0,40}") {
            if is_c_identifier(&s) {
                proptest::prop_assert!(s.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()));
            }
        }
    }
}
