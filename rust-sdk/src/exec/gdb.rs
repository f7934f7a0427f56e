//! The one place where gdb is located and run, and the one parser of its backtraces.
//!
//! Both users of gdb, core dumps ([`super::CoreDump`]) and stack traces of running processes
//! (`ProcessManager::trace`), go through [`run`]: gdb is opened from [`GDB_BINARIES`] through
//! the gated file-system API ([`super::open_helper`]: `open` on the directory and the file,
//! read-only, no symlink following) and executed through the gated [`super::execute`]
//! (`file_system::Action::"execute"` on the binary, with the exact arguments), always with the
//! same fixed preamble: `-nx -batch`, auto-loading of scripts and debuginfod off, no
//! pagination, unlimited width, `LC_ALL=C`, and a timeout. Only fixed commands are passed.
//!
//! [`parse_backtrace`] reads the output of `thread apply all bt` for both; each caller turns
//! the result into its own public types.

use std::time::Duration;

use super::{ExecError, ExecuteOptions, ExecuteResult, open_helper};
use crate::SdkContext;

/// Where gdb is looked for, in order.
pub const GDB_BINARIES: &[&str] = &["/usr/bin/gdb"];

/// What gdb looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A running process (`-p PID`).
    Process(u32),
    /// An executable and its core file, as paths gdb opens (the callers pass
    /// `/proc/self/fd` links of authorized descriptors).
    Core {
        /// The executable.
        exe: String,
        /// The core file.
        core: String,
    },
}

/// The arguments of one gdb run: the fixed preamble, `commands` as `-ex`, then the target.
/// The repeated `-iex`/`-ex` options are lone arguments, not `[key, value]` pairs: one key
/// with several values cannot be described by the `Arguments` tags and is refused (a policy
/// sees the whole command in `context.arguments.argv`).
pub(crate) fn options(target: &Target, commands: &[String], timeout: Duration) -> ExecuteOptions {
    let mut opts = ExecuteOptions::new()
        .arg("-nx")
        .arg("-batch")
        .arg("-iex")
        .arg("set auto-load off")
        .arg("-iex")
        .arg("set debuginfod enabled off")
        .arg("-ex")
        .arg("set pagination off")
        .arg("-ex")
        .arg("set width 0")
        .env("LC_ALL", "C")
        .timeout(timeout);
    for c in commands {
        opts = opts.arg("-ex").arg(c.as_str());
    }
    match target {
        Target::Process(pid) => opts.arg_pair("-p", pid.to_string()),
        Target::Core { exe, core } => opts.arg(exe.as_str()).arg(core.as_str()),
    }
}

/// Locates, opens and runs gdb on `target` with `commands` (see the module documentation).
/// A denial of `open` or `execute` on gdb is returned as such; nothing runs then.
pub(crate) fn run(
    ctx: &SdkContext,
    target: &Target,
    commands: &[String],
    timeout: Duration,
) -> Result<ExecuteResult, ExecError> {
    let gdb = open_helper(ctx, GDB_BINARIES)?;
    gdb.execute(ctx, &options(target, commands, timeout))
}

/// Where a frame is: a source position (`at FILE[:LINE]`) or a shared object (`from LIB`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// `at FILE:LINE` (`line` is `None` when gdb printed no line number).
    Source {
        /// The text after `at`, as printed.
        raw: String,
        /// The file.
        file: String,
        /// The line.
        line: Option<u32>,
    },
    /// `from LIB`.
    Library(String),
}

impl Location {
    /// The text gdb printed after `at` / `from`.
    pub(crate) fn raw(&self) -> &str {
        match self {
            Location::Source { raw, .. } => raw,
            Location::Library(l) => l,
        }
    }

    /// The source file or the library, and the line when known.
    pub(crate) fn source_and_line(&self) -> (String, Option<u32>) {
        match self {
            Location::Source { file, line, .. } => (file.clone(), *line),
            Location::Library(l) => (l.clone(), None),
        }
    }
}

/// One `#N ...` frame line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GdbFrame {
    /// The frame number.
    pub(crate) number: u32,
    /// The program counter (`0x...`), when printed (not for `<unavailable>`).
    pub(crate) address: Option<String>,
    /// The function, `??` when unknown.
    pub(crate) function: String,
    /// Where the frame is, when printed.
    pub(crate) location: Option<Location>,
}

/// A `Thread N (...):` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThreadHeader {
    /// gdb's thread number.
    pub(crate) id: u32,
    /// The kernel thread id (`LWP N`, or `process N` for a single-threaded process).
    pub(crate) tid: Option<u32>,
    /// The thread name, when printed (`"name"` at the end of the header).
    pub(crate) name: Option<String>,
}

/// One thread of a backtrace. `header` is `None` for frames printed before any thread
/// header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GdbThread {
    /// The header, when the frames followed one.
    pub(crate) header: Option<ThreadHeader>,
    /// The frames, innermost first.
    pub(crate) frames: Vec<GdbFrame>,
}

/// The leading decimal digits of `s` as a `u32`.
fn leading_u32(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.get(..end)?.parse().ok()
}

/// Parses `Thread N (...):` (`Thread 2 (Thread 0x7f.. (LWP 43) "worker"):`,
/// `Thread 2 (LWP 4170):`, `Thread 1 (process 99):`).
pub(crate) fn parse_thread_header(line: &str) -> Option<ThreadHeader> {
    let rest = line.strip_prefix("Thread ")?;
    let id = leading_u32(rest)?;
    let inner = rest
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .strip_prefix(" (")?
        .strip_suffix("):")?;
    // The name is the quoted text at the end; nothing before it is quoted.
    let (ids, name) = match inner.strip_suffix('"').and_then(|s| s.split_once('"')) {
        Some((ids, name)) => (ids, Some(name.to_string())),
        None => (inner, None),
    };
    // `LWP N` / `process N`, at the start or right after a `(`.
    let tid = ["LWP ", "process "].iter().find_map(|marker| {
        ids.match_indices(marker)
            .find(|(i, _)| *i == 0 || ids.get(..*i).is_some_and(|p| p.ends_with('(')))
            .and_then(|(i, _)| ids.get(i + marker.len()..))
            .and_then(leading_u32)
    });
    Some(ThreadHeader { id, tid, name })
}

/// The byte index of the `(` that opens the parenthesized list ending `s` (which ends with
/// `)`), when it is preceded by a space; `None` when the parentheses do not balance (a quoted
/// value with a parenthesis in it).
fn args_start(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (i > 0 && s.get(..i)?.ends_with(' ')).then_some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses one `#N ...` frame line: `#0  0x00007f.. in poll () from /lib/libc.so.6`,
/// `#1  main (argc=1) at t.c:4`, `#2  <unavailable> in ?? ()`, `#3  <signal handler called>`.
pub(crate) fn parse_frame(line: &str) -> Option<GdbFrame> {
    let rest = line.trim_end().strip_prefix('#')?;
    let number = leading_u32(rest)?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let rest = rest.trim_start();
    let (address, rest) = if let Some(hex) = rest.strip_prefix("0x") {
        let end = hex
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(hex.len());
        let (digits, after) = hex.split_at(end);
        let after = after.trim_start();
        (
            Some(format!("0x{digits}")),
            after.strip_prefix("in ").unwrap_or(after),
        )
    } else if let Some(after) = rest.strip_prefix("<unavailable> in ") {
        (None, after)
    } else {
        (None, rest)
    };
    // The location follows the argument list: `) at FILE:LINE` or `) from LIB` (without an
    // argument list, the last ` at ` / ` from `). A line ending in `)` has no location.
    let found = if rest.ends_with(')') {
        None
    } else {
        // (start of the separator, start of the location, whether it is a source position)
        let last = |at: &str, from: &str, head: usize| {
            let at = rest.rfind(at).map(|i| (i + head, i + at.len(), true));
            let from = rest.rfind(from).map(|i| (i + head, i + from.len(), false));
            at.into_iter()
                .chain(from)
                .max_by_key(|(_, start, _)| *start)
        };
        last(") at ", ") from ", 1).or_else(|| last(" at ", " from ", 0))
    };
    let (head, location) = match found {
        Some((head_end, loc_start, source)) => {
            let loc = rest.get(loc_start..).unwrap_or_default().trim().to_string();
            let location = if source {
                let (file, line) = match loc.rsplit_once(':') {
                    Some((f, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
                        (f.to_string(), l.parse().ok())
                    }
                    _ => (loc.clone(), None),
                };
                Location::Source {
                    raw: loc,
                    file,
                    line,
                }
            } else {
                Location::Library(loc)
            };
            (rest.get(..head_end).unwrap_or(rest), Some(location))
        }
        None => (rest, None),
    };
    let head = head.trim();
    let function = if head.ends_with(')') {
        match args_start(head).or_else(|| head.find(" (").map(|i| i + 1)) {
            Some(i) => head.get(..i).unwrap_or(head).trim_end(),
            None => head,
        }
    } else {
        head
    };
    let function = if function.is_empty() { "??" } else { function };
    Some(GdbFrame {
        number,
        address,
        function: function.to_string(),
        location,
    })
}

/// Parses the output of `thread apply all bt`: thread headers, each followed by frame lines.
/// Frames before the first header form a thread without a header; every other line (gdb's
/// messages, source lines, `Backtrace stopped: ...`) is ignored.
pub(crate) fn parse_backtrace(text: &str) -> Vec<GdbThread> {
    let mut threads: Vec<GdbThread> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(header) = parse_thread_header(line) {
            threads.push(GdbThread {
                header: Some(header),
                frames: Vec::new(),
            });
        } else if let Some(frame) = parse_frame(line) {
            match threads.last_mut() {
                Some(t) => t.frames.push(frame),
                None => threads.push(GdbThread {
                    header: None,
                    frames: vec![frame],
                }),
            }
        }
    }
    threads
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// `thread apply all bt` of a live three-thread process, as gdb 13 prints it.
    const LIVE: &str = "\
[Thread debugging using libthread_db enabled]
Using host libthread_db library \"/lib/x86_64-linux-gnu/libthread_db.so.1\".
0x00007f7f36306e53 in __GI___clock_nanosleep (clock_id=clock_id@entry=0, flags=flags@entry=0, req=0x7ffd, rem=0x7ffd) at ../sysdeps/unix/sysv/linux/clock_nanosleep.c:71
71\t../sysdeps/unix/sysv/linux/clock_nanosleep.c: No such file or directory.

Thread 3 (Thread 0x7f7f35a00640 (LWP 4312) \"tokio-rt-worker\"):
#0  syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38
#1  0x000055a8655cd4af in parking_lot_core::thread_parker::imp::ThreadParker::futex_wait (self=0x7f7f, ts=...) at src/thread_parker/linux.rs:112
#2  0x000055a8655c0001 in core::ops::function::FnOnce::call_once<fn(), ()> () at /rustc/abc/library/core/src/ops/function.rs:250
#3  0x00007f7f36294ac3 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442
#4  0x00007f7f36326850 in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81

Thread 2 (Thread 0x7f7f36201640 (LWP 4311) \"odd) \\\"name\"):
#0  0x00007f7f36306e53 in __GI___nanosleep (req=<optimized out>, rem=<unavailable>) at ../nanosleep.c:25
#1  <unavailable> in ?? ()
Backtrace stopped: not enough registers or memory available to unwind further

Thread 1 (Thread 0x7f7f36202740 (LWP 4310) \"sleep\"):
#0  0x00007f7f36306e53 in __GI___clock_nanosleep (clock_id=clock_id@entry=0) at ../sysdeps/unix/sysv/linux/clock_nanosleep.c:71
#1  0x00007f7f3630b8a7 in __GI___nanosleep (req=<optimized out>, rem=<optimized out>) at ../sysdeps/unix/sysv/linux/nanosleep.c:25
#2  0x000055a8655cd4af in ?? ()
#3  0x00007f7f36229d90 in __libc_start_call_main (main=main@entry=0x55a8655ca9a0, argc=argc@entry=2, argv=argv@entry=0x7ffd) at ../sysdeps/nptl/libc_start_call_main.h:58
#4  0x00007f7f3622a04a in foo (s=0x4005 \"look) at me\") from /lib/x86_64-linux-gnu/libc.so.6
#5  0x000055a8655cb0f5 in _start ()
[Inferior 1 (process 4310) detached]
";

    /// A core file's backtrace (gdb prints the crashing frame before the threads).
    const CORE: &str = "\
[New LWP 4165]
[New LWP 4170]
Core was generated by `/tmp/cdt/t'.
Program terminated with signal SIGABRT, Aborted.
#0  __pthread_kill_implementation (threadid=<optimized out>, signo=signo@entry=6) at ./nptl/pthread_kill.c:44
44\t./nptl/pthread_kill.c: No such file or directory.
[Current thread is 1 (Thread 0x7ffff7dd2740 (LWP 4165))]

Thread 2 (LWP 4170):
#0  0x00007ffff7e5a0d6 in __futex_abstimed_wait_common () from /lib/x86_64-linux-gnu/libc.so.6
#1  0x0000000000000000 in ?? ()

Thread 1 (Thread 0x7ffff7dd2740 (LWP 4165)):
#0  __pthread_kill_implementation (threadid=<optimized out>, signo=signo@entry=6) at ./nptl/pthread_kill.c:44
#1  <signal handler called>
#4  0x0000555555555157 in crash (depth=0) at t.c:3
#7  0x0000555555555184 in main () at t.c:4
";

    fn src(file: &str, line: Option<u32>) -> Option<(String, Option<u32>)> {
        Some((file.to_string(), line))
    }

    #[test]
    fn live_process_threads_and_frames() {
        let t = parse_backtrace(LIVE);
        // The frame printed on attach has no `#`: no header-less thread.
        assert_eq!(t.len(), 3);
        let h: Vec<_> = t.iter().map(|t| t.header.clone().unwrap()).collect();
        assert_eq!((h[0].id, h[0].tid), (3, Some(4312)));
        assert_eq!(h[0].name.as_deref(), Some("tokio-rt-worker"));
        // A name with `)` and quotes in it does not confuse the ids.
        assert_eq!((h[1].id, h[1].tid), (2, Some(4311)));
        assert_eq!(h[1].name.as_deref(), Some("odd) \\\"name"));
        assert_eq!(h[2].name.as_deref(), Some("sleep"));

        let f = &t[0].frames;
        assert_eq!(f.len(), 5);
        // Without an address.
        assert_eq!(f[0].address, None);
        assert_eq!(f[0].function, "syscall");
        assert_eq!(
            f[0].location.as_ref().unwrap().raw(),
            "../sysdeps/unix/sysv/linux/x86_64/syscall.S:38"
        );
        assert_eq!(
            f[1].function,
            "parking_lot_core::thread_parker::imp::ThreadParker::futex_wait"
        );
        assert_eq!(
            f[1].location.as_ref().map(Location::source_and_line),
            src("src/thread_parker/linux.rs", Some(112))
        );
        // Generic arguments with ` (` in the name.
        assert_eq!(
            f[2].function,
            "core::ops::function::FnOnce::call_once<fn(), ()>"
        );
        assert_eq!(f[4].number, 4);

        let f = &t[1].frames;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].function, "__GI___nanosleep");
        assert_eq!(f[0].address.as_deref(), Some("0x00007f7f36306e53"));
        // An unavailable program counter.
        assert_eq!(
            (f[1].address.as_deref(), f[1].function.as_str()),
            (None, "??")
        );
        assert_eq!(f[1].location, None);

        let f = &t[2].frames;
        assert_eq!(f.len(), 6);
        assert_eq!(f[2].function, "??");
        assert_eq!(f[2].location, None);
        assert_eq!(f[3].function, "__libc_start_call_main");
        // A quoted argument with `) at ` in it: the location is the real one.
        assert_eq!(f[4].function, "foo");
        assert_eq!(
            f[4].location,
            Some(Location::Library("/lib/x86_64-linux-gnu/libc.so.6".into()))
        );
        assert_eq!(f[5].function, "_start");
        assert_eq!(f[5].location, None);
    }

    #[test]
    fn core_file_threads_and_frames() {
        let t = parse_backtrace(CORE);
        assert_eq!(t.len(), 3);
        // The crashing frame printed before the threads.
        assert_eq!(t[0].header, None);
        assert_eq!(t[0].frames.len(), 1);
        let h = t[1].header.clone().unwrap();
        assert_eq!((h.id, h.tid, h.name), (2, Some(4170), None));
        let f = &t[1].frames[0];
        assert_eq!(f.function, "__futex_abstimed_wait_common");
        assert_eq!(
            f.location.as_ref().map(Location::source_and_line),
            src("/lib/x86_64-linux-gnu/libc.so.6", None)
        );
        let f = &t[2].frames;
        assert_eq!(f.len(), 4);
        assert_eq!(
            f[0].location.as_ref().map(Location::source_and_line),
            src("./nptl/pthread_kill.c", Some(44))
        );
        assert_eq!(f[1].function, "<signal handler called>");
        assert_eq!(f[1].location, None);
        assert_eq!((f[2].number, f[2].function.as_str()), (4, "crash"));
        assert_eq!(
            f[3].location.as_ref().map(Location::source_and_line),
            src("t.c", Some(4))
        );
    }

    #[test]
    fn headers() {
        let h = parse_thread_header("Thread 1 (process 99):").unwrap();
        assert_eq!((h.id, h.tid, h.name), (1, Some(99), None));
        let h = parse_thread_header("Thread 7 (Thread 0x7f (LWP 12) \"a b\"):").unwrap();
        assert_eq!((h.id, h.tid, h.name.as_deref()), (7, Some(12), Some("a b")));
        // A name that looks like an LWP does not give the tid.
        let h = parse_thread_header("Thread 7 (Thread 0x7f \"(LWP 5)\"):").unwrap();
        assert_eq!((h.tid, h.name.as_deref()), (None, Some("(LWP 5)")));
        for bad in [
            "Thread 5 exited",
            "Thread x (LWP 1):",
            "Thread 2 (LWP 4170)",
            "[Switching to thread 2 (LWP 4170)]",
            "Thread ",
        ] {
            assert_eq!(parse_thread_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn garbage_lines_are_ignored() {
        let text = "\
#
#x  main () at a.c:1
#12abc foo ()
# 1 foo ()
warning: Could not load vsyscall page
Thread 2 exited
(gdb) bt
#0  ok () at a.c:1
";
        let t = parse_backtrace(text);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].header, None);
        assert_eq!(t[0].frames.len(), 1);
        assert_eq!(t[0].frames[0].function, "ok");
        assert!(parse_backtrace("").is_empty());
        assert!(parse_backtrace("no frames here\n\n").is_empty());
        // A bare frame number.
        let f = parse_frame("#3").unwrap();
        assert_eq!((f.number, f.function.as_str(), f.address), (3, "??", None));
        // A frame number too large.
        assert_eq!(parse_frame("#99999999999  main ()"), None);
        // Unbalanced parentheses in a quoted value fall back to the first ` (`.
        let f = parse_frame("#0  f (s=0x1 \"a(b\") at x.c:2").unwrap();
        assert_eq!(f.function, "f");
        assert_eq!(
            f.location.unwrap().source_and_line(),
            ("x.c".into(), Some(2))
        );
        // A location without a line number.
        let f = parse_frame("#0  f () at x.c").unwrap();
        assert_eq!(f.location.unwrap().source_and_line(), ("x.c".into(), None));
    }

    #[test]
    fn options_are_the_fixed_preamble_then_commands_then_target() {
        let o = options(
            &Target::Process(42),
            &["thread apply all bt".into()],
            Duration::from_secs(5),
        );
        let argv: Vec<String> = o
            .args
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.clone()))
            .collect();
        assert_eq!(
            argv,
            [
                "-nx",
                "-batch",
                "-iex",
                "set auto-load off",
                "-iex",
                "set debuginfod enabled off",
                "-ex",
                "set pagination off",
                "-ex",
                "set width 0",
                "-ex",
                "thread apply all bt",
                "-p",
                "42"
            ]
        );
        assert_eq!(o.env.get("LC_ALL").map(String::as_str), Some("C"));
        assert_eq!(o.timeout, Duration::from_secs(5));
        let o = options(
            &Target::Core {
                exe: "/proc/1/fd/3".into(),
                core: "/proc/1/fd/4".into(),
            },
            &[],
            Duration::from_secs(5),
        );
        let tail: Vec<&(String, Option<String>)> = o.args.iter().rev().take(2).collect();
        assert_eq!(tail[0].0, "/proc/1/fd/4");
        assert_eq!(tail[1].0, "/proc/1/fd/3");
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = parse_backtrace(&s);
            let _ = parse_frame(&s);
            let _ = parse_thread_header(&s);
        }

        #[test]
        fn frame_lines_keep_their_number(n in 0u32..100_000, tail in "[ -~]{0,60}") {
            let line = format!("#{n}  {tail}");
            let f = parse_frame(&line).unwrap();
            proptest::prop_assert_eq!(f.number, n);
            proptest::prop_assert!(!f.function.is_empty());
        }
    }
}
