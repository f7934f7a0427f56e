//! Core dump inspection with gdb (REX §2.2 `CoreDump(exe_path, core_path)`, `.backtrace()`,
//! `.get_variables(...)`).
//!
//! The executable and the core are opened read-only through the gated file-system API
//! (`open` on their directory and file, then `read` on the file). gdb itself is opened the same
//! way and run through [`super::execute`], so `file_system::Action::"execute"` on the gdb
//! binary must be allowed (REX ran gdb without that check). gdb gets the two files as
//! `/proc/<this process>/fd/<N>` magic links of the authorized descriptors, never as paths
//! that could be swapped; it runs in batch mode with `-nx`, auto-loading off, and only fixed
//! commands: variable names must be C identifiers, so no gdb expression (which can have side
//! effects) ever reaches it.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rex_auth::{Action, Resource};

use super::{ExecError, ExecuteOptions, ExecuteResult, open_helper, open_read};
use crate::SdkContext;
use crate::fs::FileHandle;

/// Where gdb is looked for, in order.
pub const GDB_BINARIES: &[&str] = &["/usr/bin/gdb"];

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
        ctx.check(Action::FsRead, &Resource::file_path(exe.path()))?;
        ctx.check(Action::FsRead, &Resource::file_path(core.path()))?;
        Ok(CoreDump { exe, core })
    }

    fn fd_path(f: &FileHandle) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), f.file.as_raw_fd())
    }

    fn gdb(&self, ctx: &SdkContext, commands: &[String]) -> Result<ExecuteResult, ExecError> {
        let gdb = open_helper(ctx, GDB_BINARIES)?;
        let mut opts = ExecuteOptions::new()
            .arg("-nx")
            .arg("-batch")
            .arg_pair("-iex", "set auto-load off")
            .arg_pair("-iex", "set debuginfod enabled off")
            .arg_pair("-ex", "set pagination off")
            .arg_pair("-ex", "set width 0")
            .env("LC_ALL", "C")
            .timeout(GDB_TIMEOUT);
        for c in commands {
            opts = opts.arg_pair("-ex", c.as_str());
        }
        opts = opts
            .arg(Self::fd_path(&self.exe))
            .arg(Self::fd_path(&self.core));
        gdb.execute(ctx, &opts)
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

fn parse_u32(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses one `#N ...` frame line of a gdb backtrace.
fn parse_frame(line: &str) -> Option<Frame> {
    let rest = line.strip_prefix('#')?;
    let frame_number = parse_u32(rest)?;
    let rest = rest
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    let (instruction_ptr, rest) = match rest.strip_prefix("0x") {
        Some(hex) => {
            let end = hex
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(hex.len());
            let (addr, after) = hex.split_at(end);
            let after = after.trim_start();
            let after = after.strip_prefix("in ").unwrap_or(after);
            (Some(format!("0x{addr}")), after)
        }
        None => (None, rest),
    };
    let function_name = match rest.find(" (") {
        Some(i) => rest.get(..i).unwrap_or(rest),
        None => rest.split_whitespace().next().unwrap_or("??"),
    }
    .to_string();
    let (source, line_number) = if let Some(i) = rest.rfind(" at ") {
        let loc = rest.get(i + 4..).unwrap_or_default().trim();
        match loc.rsplit_once(':') {
            Some((file, ln)) if parse_u32(ln).is_some() => (Some(file.to_string()), parse_u32(ln)),
            _ => (Some(loc.to_string()), None),
        }
    } else if let Some(i) = rest.rfind(" from ") {
        (
            Some(rest.get(i + 6..).unwrap_or_default().trim().to_string()),
            None,
        )
    } else {
        (None, None)
    };
    Some(Frame {
        frame_number,
        function_name,
        instruction_ptr,
        source,
        line_number,
    })
}

/// Parses the output of gdb's `thread apply all bt`: `Thread N (... LWP T ...)` headers, each
/// followed by `#K ...` frame lines. Lines before the first header are ignored.
pub fn parse_backtrace(text: &str) -> TracedProcess {
    let mut threads: Vec<TracedThread> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Thread ") {
            let Some(id) = parse_u32(rest) else { continue };
            let tid = rest
                .find("LWP ")
                .and_then(|i| rest.get(i + 4..))
                .and_then(parse_u32)
                .unwrap_or(0);
            threads.push(TracedThread {
                id,
                tid,
                frames: Vec::new(),
            });
        } else if let (Some(t), Some(frame)) = (threads.last_mut(), parse_frame(line)) {
            t.frames.push(frame);
        }
    }
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
            let _ = parse_frame(&s);
        }

        #[test]
        fn identifiers_contain_only_safe_characters(s in "\\PC{0,40}") {
            if is_c_identifier(&s) {
                proptest::prop_assert!(s.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()));
            }
        }
    }
}
