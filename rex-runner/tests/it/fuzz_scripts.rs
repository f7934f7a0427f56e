//! Fuzz-style harness: whole scripts built from a grammar of SDK calls with arbitrary
//! arguments, run by a deny-all runner. Whatever the script does: no host effect (a sentinel
//! tree is unchanged), no panic (never an internal error), no hang (the run ends within its
//! limits), no allow decision, and the output document always serialises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The harness builds a sentinel tree and observes it directly.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::escape_common;

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::time::Duration;

use escape_common::{snapshot, tight_limits};
use proptest::prelude::*;
use rex_auth::{MemoryAuditSink, Outcome, Principal};
use rex_core::{ErrorKind, Limits, ScriptArgumentValue, ScriptArguments};
use rex_runner::{Input, Runner};

/// Call templates: `S` is replaced by a string argument, `N` by an integer argument.
const CALLS: &[&str] = &[
    "cat(S)",
    "cat([cat::number], S)",
    "ls(S)",
    "ls([ls::all, ls::long, ls::recursive], S)",
    "grep(S, S)",
    "grep([grep::ignore_case, grep::count], S, S)",
    "tail(S)",
    "tail([tail::n(N)], S)",
    "sed(S, S, S)",
    "sed([sed::in_place, sed::regex, sed::all], S, S, S)",
    "rm(S)",
    "rm([rm::recursive, rm::force], S)",
    "seq(N, N)",
    "find_files(S, S)",
    "find_files([glob::recursive], S, S)",
    "awk_split(S, S)",
    "awk_field(N, S, S)",
    "awk_filter(S, S)",
    "awk_sum(N, S, S)",
    "awk_filter_range(N, N, S)",
    "wc(S)",
    "cp(S, S)",
    "cp([cp::force, cp::preserve], S, S)",
    "mv(S, S)",
    "mkdir(S)",
    "mkdir([mkdir::parents], S)",
    "du(S)",
    "touch(S)",
    "write(S, S)",
    "write([write::replace], S, S)",
    "DirConfig().path(S).build().open(OpenDirOptions().create(true).recursive(true).build())",
    "DirConfig().path(S).build().open(OpenDirOptions().follow_symlinks(true).build()).list_entries()",
    "DirConfig().path(S).build().open(OpenDirOptions().build()).open_file(S, OpenFileOptions().read(true).write(true).create(true).build()).write(S)",
    "DirConfig().path(S).build().open(OpenDirOptions().build()).delete(DeleteDirOptions().recursive(true).force(true).build())",
    "curl(S)",
    "Client().max_text_bytes(N).get(S).send()",
    "connect(S, N, \"TCP\")",
    "connect(S, N, \"UDP\")",
    "resolve(S)",
    "kill(N)",
    "kill([kill::signal(N)], N)",
    "ProcessManager().kill(N, N)",
    "ps()",
    "hostname()",
    "uname()",
    "nproc()",
    "free()",
    "df()",
    "sysctl_read(S)",
    "sysctl_write(S, S)",
    "sysctl_find(S)",
    "random_alphanumeric(N)",
    "from_epoch_seconds(N)",
    "to_json(S)",
    "info(S)",
    "debug(S)",
];

#[derive(Debug, Clone)]
struct Call {
    template: usize,
    args: Vec<usize>,
    guarded: bool,
}

fn call() -> impl Strategy<Value = Call> {
    (
        0..CALLS.len(),
        proptest::collection::vec(0usize..6, 4),
        any::<bool>(),
    )
        .prop_map(|(template, args, guarded)| Call {
            template,
            args,
            guarded,
        })
}

/// Renders a call, taking argument variables `s0..s5` / `n0..n5` in the order given.
fn render(c: &Call) -> String {
    let mut out = String::new();
    let mut i = 0;
    for ch in CALLS[c.template].chars() {
        match ch {
            'S' | 'N' => {
                let v = c.args[i % c.args.len()];
                i += 1;
                out.push_str(&format!("{}{v}", if ch == 'S' { 's' } else { 'n' }));
            }
            other => out.push(other),
        }
    }
    if c.guarded {
        format!("try {{ {out}; }} catch (e) {{ e.kind; }}\n")
    } else {
        format!("{out};\n")
    }
}

/// String arguments: sentinel paths, hostile paths, URLs, hosts and arbitrary text.
fn string_arg(sentinel: String) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("secret.txt".to_string()),
        Just("dir".to_string()),
        Just("link".to_string()),
        Just("%2e%2e".to_string()),
        Just("\0".to_string()),
        "[a-z]{1,3}",
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..4)
            .prop_map(move |v| format!("{sentinel}/{}", v.join("/"))),
        Just("/".to_string()),
        Just("/etc/passwd".to_string()),
        Just("/proc/self/root/etc/passwd".to_string()),
        Just("http://127.0.0.1:1/x".to_string()),
        Just("127.0.0.1".to_string()),
        Just("kernel.hostname".to_string()),
        Just(".*".to_string()),
        Just("*".to_string()),
        "\\PC{0,16}",
    ]
}

fn int_arg() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(9),
        Just(i64::MAX),
        Just(i64::MIN),
        Just(i64::from(std::process::id())),
        Just(1 << 40),
        -100i64..70_000,
    ]
}

struct Harness {
    runner: Runner,
    sink: MemoryAuditSink,
    sentinel: tempfile::TempDir,
    path: String,
}

fn harness() -> Harness {
    let sentinel = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(sentinel.path()).unwrap();
    fs::write(root.join("secret.txt"), "sentinel").unwrap();
    fs::create_dir(root.join("dir")).unwrap();
    fs::write(root.join("dir").join("f"), "f").unwrap();
    symlink(root.join("secret.txt"), root.join("link")).unwrap();
    let sink = MemoryAuditSink::new();
    let runner = Runner::builder()
        .principal(Principal::user("fuzz").unwrap())
        .limits(Limits {
            max_operations: 200_000,
            max_string_size: 64 * 1024,
            timeout: Some(Duration::from_secs(10)),
            ..tight_limits()
        })
        .audit_sink(Arc::new(sink.clone()))
        .build()
        .unwrap();
    Harness {
        runner,
        sink,
        path: root.to_str().unwrap().to_string(),
        sentinel,
    }
}

/// Cases per property: the given default, or `REX_FUZZ_CASES` for a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("REX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    #[test]
    fn deny_all_scripts_have_no_host_effect(
        calls in proptest::collection::vec(call(), 1..8),
        strings in proptest::collection::vec(string_arg("SENTINEL".into()), 6),
        ints in proptest::collection::vec(int_arg(), 6),
    ) {
        let h = harness();
        let before = snapshot(h.sentinel.path());
        let mut args = ScriptArguments::new();
        for (i, s) in strings.iter().enumerate() {
            args.insert(format!("s{i}"), ScriptArgumentValue::StringValue(s.replace("SENTINEL", &h.path)));
        }
        for (i, n) in ints.iter().enumerate() {
            args.insert(format!("n{i}"), ScriptArgumentValue::LongValue(*n));
        }
        let script: String = calls.iter().map(render).collect();
        let report = h.runner.run(&Input::from_text("fuzz.rhai", &script), &args);
        if let Some(e) = &report.outcome.error {
            prop_assert_ne!(e.kind(), ErrorKind::Internal, "{}\n{:?}", script, e);
        }
        prop_assert_eq!(snapshot(h.sentinel.path()), before, "host changed by:\n{}", script);
        prop_assert!(
            h.sink.records().iter().all(|r| r.outcome != Outcome::Allow),
            "a deny-all runner allowed something:\n{}", script
        );
        prop_assert!(!escape_common::document_text(&report).is_empty());
    }
}

#[test]
fn every_template_names_a_registered_function() {
    // A template that does not resolve would only ever test "function not found".
    let catalog = rhai_sdk::function_catalog();
    let names: Vec<&str> = catalog.iter().map(|f| f.name.as_str()).collect();
    for t in CALLS {
        let name = t.split(['(', '.']).next().unwrap();
        let builtin = [
            "info",
            "debug",
            "DirConfig",
            "Client",
            "ProcessManager",
            "to_json",
        ];
        assert!(
            names.contains(&name) || builtin.contains(&name),
            "{name} is not a script function"
        );
    }
}
