//! File-system escapes through the real runner: a policy permits one temp subtree
//! (`inside`), and hostile scripts try to read, write, delete or move what lies beside it
//! (`outside`). Every attack must fail with a typed error, leave `outside` byte-for-byte
//! unchanged and never put the secret into the output document.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The tests build hostile fixtures (symlinks, FIFOs, hard links) and observe the host directly.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::escape_common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use escape_common::{
    Fixture, SECRET, assert_denied, assert_no_leak, assert_refused, kind, run, run_args,
};
use rex_core::ErrorKind;

/// The typed refusals a path attack may legitimately get besides a Cedar denial.
const PATH_REFUSALS: &[&str] = &[
    "InvalidPath",
    "NotFound",
    "IoError",
    "EntryTypeMismatchError",
    "FileError",
];

/// Every command that takes a path, with `p` as the hostile path.
const PATH_SCRIPTS: &[&str] = &[
    "cat(p)",
    "ls(p)",
    "grep(\"S\", p)",
    "tail(p)",
    "wc(p)",
    "awk_filter(\"S\", p)",
    "write(p, \"pwned\")",
    "write([write::replace], p, \"pwned\")",
    "touch(p)",
    "rm(p)",
    "rm([rm::recursive, rm::force], p)",
    "mkdir([mkdir::parents], p + \"/sub\")",
    "cp(p, inside + \"/copy.txt\")",
    "cp([cp::force], inside + \"/ok.txt\", p)",
    "mv(p, inside + \"/moved.txt\")",
    "mv(inside + \"/ok.txt\", p)",
    "sed([sed::in_place], \"S\", \"X\", p)",
    "du(p)",
    "find_files(\"*\", p)",
    "DirConfig().path(p).build().open(OpenDirOptions().follow_symlinks(true).build()).list_entries()",
];

fn assert_outside_intact(fx: &Fixture, before: &escape_common::Snapshot) {
    assert_eq!(&fx.outside_snapshot(), before, "the outside tree changed");
    assert_eq!(fs::read_to_string(&fx.secret).unwrap(), SECRET);
}

/// Runs every path command with `path` and checks refusal, no leak and an intact host.
fn attack_all_commands(fx: &Fixture, path: &str) {
    attack(fx, path, PATH_SCRIPTS);
}

/// Runs `scripts` (each using `p` and `inside`) and checks refusal, no leak, intact host.
fn attack(fx: &Fixture, path: &str, scripts: &[&str]) {
    let runner = fx.runner();
    let before = fx.outside_snapshot();
    for script in scripts {
        let report = run_args(
            &runner,
            script,
            &[("p", path), ("inside", fx.inside.to_str().unwrap())],
        );
        assert!(
            report.outcome.error.is_some(),
            "{script} with {path:?} succeeded: {}",
            report.outcome.output
        );
        assert_refused(&report, PATH_REFUSALS);
        assert_no_leak(&report, SECRET);
        assert_outside_intact(fx, &before);
    }
    // nothing was copied or moved in from outside
    assert!(!fx.inside.join("copy.txt").exists());
    assert!(!fx.inside.join("moved.txt").exists());
}

#[test]
fn traversal_spellings_are_refused_before_any_syscall() {
    let fx = Fixture::new();
    let i = fx.inside.to_str().unwrap();
    let o = fx.outside.to_str().unwrap();
    let spellings = [
        format!("{i}/../outside/secret.txt"),
        format!("{i}/./../outside/secret.txt"),
        format!("{i}//..//outside//secret.txt"),
        format!("{i}/../outside/secret.txt/"),
        format!("{i}/../outside/secret.txt/."),
        format!("{i}/sub/../../outside/secret.txt"),
        format!("{i}/.."),
        format!("{i}/ok.txt\0/../../outside/secret.txt"),
        format!("{o}/secret.txt\0"),
        format!("{i}/ok.txt\n{o}/secret.txt"),
        "../outside/secret.txt".to_string(),
        "outside/secret.txt".to_string(),
        String::new(),
    ];
    for p in &spellings {
        attack_all_commands(&fx, p);
    }
}

#[test]
fn direct_and_normalised_outside_paths_are_denied() {
    let fx = Fixture::new();
    let o = fx.outside.to_str().unwrap();
    for p in [
        format!("{o}/secret.txt"),
        format!("{o}//secret.txt"),
        format!("{o}/./secret.txt"),
        format!("{o}/secret.txt/"),
        format!("{o}/victim_dir"),
        format!("{o}/victim_dir/"),
        format!("/proc/self/root{o}/secret.txt"),
    ] {
        attack_all_commands(&fx, &p);
    }
    // a plain read of the secret is a Cedar denial, not an OS error
    let report = run_args(&fx.runner(), "cat(p)", &[("p", &format!("{o}/secret.txt"))]);
    assert_denied(&report);
}

#[test]
fn encoded_and_lookalike_dots_are_literal_names() {
    let fx = Fixture::new();
    let i = fx.inside.to_str().unwrap();
    for dots in [
        "%2e%2e",
        "%2E%2E",
        "..%2f",
        "%252e%252e",
        "\u{FF0E}\u{FF0E}", // fullwidth full stops
        "\u{2024}\u{2024}", // one-dot leaders
        "\u{2025}",         // two-dot leader
        "..\u{200B}",       // dots + zero-width space
        "\u{FE52}\u{FE52}", // small full stops
        ".\u{0338}.",       // combining overlay
        "\u{202E}..",       // right-to-left override
    ] {
        // (`mkdir -p` would legitimately create the look-alike tree inside: not an attack)
        let scripts: Vec<&str> = PATH_SCRIPTS
            .iter()
            .copied()
            .filter(|s| !s.starts_with("mkdir"))
            .collect();
        attack(&fx, &format!("{i}/{dots}/outside/secret.txt"), &scripts);
    }
    // The look-alike names are ordinary names inside the permitted tree: creating one works
    // and stays inside.
    let runner = fx.runner();
    let report = run_args(
        &runner,
        "mkdir(p); write(p + \"/f\", \"x\"); ls(p).len()",
        &[("p", &format!("{i}/\u{FF0E}\u{FF0E}"))],
    );
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert_eq!(
        fs::read_to_string(fx.inside.join("\u{FF0E}\u{FF0E}").join("f")).unwrap(),
        "x"
    );
}

#[test]
fn symlinks_out_of_the_subtree_are_not_followed() {
    let fx = Fixture::new();
    let i = fx.inside.to_str().unwrap();
    symlink(&fx.secret, fx.inside.join("abs_link")).unwrap();
    symlink("../outside/secret.txt", fx.inside.join("rel_link")).unwrap();
    symlink(&fx.outside, fx.inside.join("dir_link")).unwrap();
    symlink("../outside", fx.inside.join("rel_dir_link")).unwrap();
    symlink("/proc/self/root", fx.inside.join("proc_root")).unwrap();
    let o_rel = fx.outside.strip_prefix("/").unwrap().to_str().unwrap();
    for p in [
        format!("{i}/dir_link/secret.txt"),
        format!("{i}/rel_dir_link/secret.txt"),
        format!("{i}/dir_link/victim_dir"),
        format!("{i}/dir_link/victim_dir/keep.txt"),
        format!("{i}/proc_root/{o_rel}/secret.txt"),
    ] {
        attack_all_commands(&fx, &p);
    }
    // Reading through a link to a file: refused (O_NOFOLLOW) or denied (resolved path).
    let runner = fx.runner();
    let before = fx.outside_snapshot();
    for link in ["abs_link", "rel_link"] {
        let p = format!("{i}/{link}");
        for script in [
            "cat(p)",
            "grep(\"S\", p)",
            "tail(p)",
            "write(p, \"pwned\")",
            "write([write::replace], p, \"pwned\")",
            "sed([sed::in_place], \"S\", \"X\", p)",
            "cp(p, inside + \"/copy.txt\")",
            "cp([cp::force], inside + \"/ok.txt\", p)",
            "touch(p)",
            "mv(p, inside + \"/moved.txt\")",
        ] {
            let r = run_args(&runner, script, &[("p", &p), ("inside", i)]);
            assert!(r.outcome.error.is_some(), "{script} on {link} succeeded");
            assert_refused(&r, PATH_REFUSALS);
            assert_no_leak(&r, SECRET);
        }
        // The handle API in follow mode resolves the link and authorizes the target: denied.
        let script = format!(
            r#"let d = DirConfig().path("{i}").build().open(OpenDirOptions().build());
               let f = d.open_file("{link}", OpenFileOptions().read(true).follow_symlinks(true).build());
               f.read()"#
        );
        let r = run(&runner, &script);
        assert_denied(&r);
        assert_no_leak(&r, SECRET);
    }
    // Following a link to a directory is denied too.
    let r = run(
        &runner,
        &format!(
            r#"DirConfig().path("{i}/dir_link").build().open(OpenDirOptions().follow_symlinks(true).build()).list_entries()"#
        ),
    );
    assert_denied(&r);
    assert_outside_intact(&fx, &before);
    // rm of a link removes the link (inside), never the target.
    let r = run(
        &runner,
        &format!(r#"rm("{i}/abs_link"); rm([rm::recursive], "{i}/dir_link")"#),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert!(fs::symlink_metadata(fx.inside.join("abs_link")).is_err());
    assert!(fs::symlink_metadata(fx.inside.join("dir_link")).is_err());
    assert_outside_intact(&fx, &before);
}

#[test]
fn recursive_delete_does_not_descend_through_symlinks() {
    let fx = Fixture::new();
    let tree = fx.inside.join("tree");
    fs::create_dir_all(tree.join("a/b")).unwrap();
    fs::write(tree.join("a/b/f.txt"), "x").unwrap();
    symlink(&fx.outside, tree.join("a/to_outside")).unwrap();
    symlink(&fx.secret, tree.join("a/b/to_secret")).unwrap();
    let before = fx.outside_snapshot();
    let runner = fx.runner();
    let r = run(&runner, &fx.script(r#"rm([rm::recursive], "$IN/tree")"#));
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert!(!tree.exists());
    assert_outside_intact(&fx, &before);
    // The same through the handle API.
    fs::create_dir_all(tree.join("a")).unwrap();
    symlink(&fx.outside, tree.join("a/to_outside")).unwrap();
    let r = run(
        &runner,
        &fx.script(
            r#"DirConfig().path("$IN/tree").build().open(OpenDirOptions().build())
                 .delete(DeleteDirOptions().recursive(true).build())"#,
        ),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert!(!tree.exists());
    assert_outside_intact(&fx, &before);
}

#[test]
fn creating_through_a_dangling_symlink_never_creates_the_target() {
    let fx = Fixture::new();
    let target = fx.outside.join("created.txt");
    symlink(&target, fx.inside.join("dangling")).unwrap();
    let before = fx.outside_snapshot();
    let runner = fx.runner();
    for script in [
        r#"write("$IN/dangling", "pwned")"#,
        r#"write([write::replace], "$IN/dangling", "pwned")"#,
        r#"touch("$IN/dangling")"#,
        r#"cp("$IN/ok.txt", "$IN/dangling")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           d.open_file("dangling", OpenFileOptions().write(true).create(true).build())"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           d.open_file("dangling", OpenFileOptions().write(true).create(true).follow_symlinks(true).build())"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           d.open_file("dangling", OpenFileOptions().read(true).create(true).follow_symlinks(true).build())"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert!(r.outcome.error.is_some(), "{script} succeeded");
        assert_refused(&r, PATH_REFUSALS);
        assert!(
            fs::symlink_metadata(&target).is_err(),
            "{script} created the symlink's target outside the permitted tree"
        );
        assert_outside_intact(&fx, &before);
    }
}

#[test]
fn hard_links_placed_by_the_host_are_not_an_escape_for_writes() {
    // A hard link inside the permitted tree names the same inode as the outside file; the
    // policy grants the *name*, so reading it is allowed (documented in THREAT_MODEL.md).
    // Scripts cannot create hard links, and a replacing write swaps the name atomically, so
    // the outside file's content never changes through it.
    let fx = Fixture::new();
    fs::hard_link(&fx.secret, fx.inside.join("hl")).unwrap();
    let runner = fx.runner();
    let r = run(
        &runner,
        &fx.script(r#"write([write::replace], "$IN/hl", "replaced")"#),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(
        fs::read_to_string(fx.inside.join("hl")).unwrap(),
        "replaced"
    );
    assert_eq!(fs::read_to_string(&fx.secret).unwrap(), SECRET);
    // removing the inside name leaves the outside name intact
    fs::remove_file(fx.inside.join("hl")).unwrap();
    fs::hard_link(&fx.secret, fx.inside.join("hl")).unwrap();
    let r = run(&runner, &fx.script(r#"rm("$IN/hl")"#));
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(fs::read_to_string(&fx.secret).unwrap(), SECRET);
    // no script function creates hard links
    let catalog = rhai_sdk::function_catalog();
    let names: Vec<&str> = catalog.iter().map(|f| f.name.as_str()).collect();
    for forbidden in ["link", "hard_link", "ln", "linkat"] {
        assert!(!names.contains(&forbidden), "{forbidden} is scriptable");
    }
}

#[test]
fn scripts_cannot_plant_symlinks_that_point_outside() {
    // `create_symlink` authorizes `open` on the (lexically resolved) target, so a link out of
    // the granted tree is refused before it exists; a link planted anyway (by the host) is
    // never followed without authorizing the resolved path (tests above).
    let fx = Fixture::new();
    let runner = fx.runner();
    let before = fx.outside_snapshot();
    for target in [
        "$OUT/secret.txt",
        "$OUT",
        "../outside/secret.txt",
        "$IN/../outside/secret.txt",
        "/proc/self/root$OUT/secret.txt",
        "/etc/passwd",
    ] {
        let script = fx.script(&format!(
            r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
               d.create_symlink("{target}", "planted", CreateSymlinkOptions().build());"#
        ));
        let r = run(&runner, &script);
        assert!(r.outcome.error.is_some(), "a link to {target} was created");
        assert_refused(&r, PATH_REFUSALS);
        assert!(fs::symlink_metadata(fx.inside.join("planted")).is_err());
    }
    // A target that is inside lexically but outside physically (through a host-placed
    // directory link) may be created, but following it authorizes the real path: denied.
    symlink(fx.outside.join("victim_dir"), fx.inside.join("dl")).unwrap();
    let script = fx.script(
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           d.create_symlink("dl/../secret.txt", "planted", CreateSymlinkOptions().build());
           let f = d.open_file("planted", OpenFileOptions().read(true).follow_symlinks(true).build());
           f.read()"#,
    );
    let r = run(&runner, &script);
    assert_denied(&r);
    assert_no_leak(&r, SECRET);
    assert!(fs::symlink_metadata(fx.inside.join("planted")).is_ok());
    let r = run(&runner, &fx.script(r#"cat("$IN/planted")"#));
    assert_refused(&r, PATH_REFUSALS);
    assert_no_leak(&r, SECRET);
    assert_outside_intact(&fx, &before);
}

#[test]
fn fifos_and_devices_fail_fast_and_are_never_read() {
    let fx = Fixture::new();
    let i = fx.inside.to_str().unwrap();
    let fifo = fx.inside.join("fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    // an outside FIFO reached through a symlink
    let out_fifo = fx.outside.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&out_fifo)
            .status()
            .unwrap()
            .success()
    );
    symlink(&out_fifo, fx.inside.join("fifo_link")).unwrap();
    symlink("/dev/zero", fx.inside.join("zero_link")).unwrap();
    symlink("/dev/urandom", fx.inside.join("urandom_link")).unwrap();
    // a device node inside the permitted tree (needs CAP_MKNOD; skipped without it)
    let have_dev = std::process::Command::new("mknod")
        .arg(fx.inside.join("zero_dev"))
        .args(["c", "1", "5"])
        .status()
        .is_ok_and(|s| s.success());
    let runner = fx.runner();
    let mut names = vec!["fifo", "fifo_link", "zero_link", "urandom_link"];
    if have_dev {
        names.push("zero_dev");
    }
    for name in names {
        let p = format!("{i}/{name}");
        for script in [
            "cat(p)",
            "tail(p)",
            "wc(p)",
            "grep(\"x\", p)",
            "write(p, \"x\")",
            "write([write::replace], p, \"x\")",
            "cp(p, inside + \"/copy\")",
            r#"let d = DirConfig().path(inside).build().open(OpenDirOptions().build());
               d.open_file(name, OpenFileOptions().read(true).build()).read()"#,
            r#"let d = DirConfig().path(inside).build().open(OpenDirOptions().build());
               d.open_file(name, OpenFileOptions().read(true).follow_symlinks(true).build()).read()"#,
        ] {
            let r = run_args(&runner, script, &[("p", &p), ("inside", i), ("name", name)]);
            assert!(r.outcome.error.is_some(), "{script} on {name} succeeded");
            assert_refused(&r, PATH_REFUSALS);
        }
    }
    // the FIFOs are still FIFOs (nothing replaced them) and the device is untouched
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        fs::symlink_metadata(&out_fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(!fx.inside.join("copy").exists());
}

#[test]
fn proc_magic_links_do_not_bypass_policy() {
    let fx = Fixture::new();
    let i = fx.inside.to_str().unwrap();
    symlink("/proc/self/fd", fx.inside.join("fds")).unwrap();
    symlink("/proc/self/cwd", fx.inside.join("cwd")).unwrap();
    let runner = fx.runner();
    // The script holds an open handle on the secret's directory? No: it cannot open it.
    // It holds one on a permitted file, then tries to reach other fds by number.
    for n in 0..16 {
        for p in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/thread-self/fd/{n}"),
            format!("/dev/fd/{n}"),
            format!("{i}/fds/{n}"),
        ] {
            let r = run_args(
                &runner,
                r#"let d = DirConfig().path(inside).build().open(OpenDirOptions().build());
                   let keep = d.open_file("ok.txt", OpenFileOptions().read(true).build());
                   cat(p)"#,
                &[("p", &p), ("inside", i)],
            );
            assert!(r.outcome.error.is_some(), "reading {p} succeeded");
            assert_refused(&r, PATH_REFUSALS);
            assert_no_leak(&r, SECRET);
        }
    }
    for p in [
        format!("{i}/fds"),
        format!("{i}/cwd"),
        "/proc/self/root".to_string(),
        "/proc/self/environ".to_string(),
        "/proc/self/mem".to_string(),
    ] {
        let r = run_args(&runner, "cat(p)", &[("p", &p)]);
        assert!(r.outcome.error.is_some(), "reading {p} succeeded");
        assert_refused(&r, PATH_REFUSALS);
    }
    // ls through the fd-directory link is denied after resolution
    let r = run_args(
        &runner,
        "DirConfig().path(p).build().open(OpenDirOptions().follow_symlinks(true).build()).list_entries()",
        &[("p", &format!("{i}/fds"))],
    );
    assert_denied(&r);
}

#[test]
fn moving_or_copying_across_the_boundary_is_denied() {
    let fx = Fixture::new();
    let before = fx.outside_snapshot();
    let runner = fx.runner();
    for script in [
        r#"mv("$IN/ok.txt", "$OUT/ok.txt")"#,
        r#"mv("$OUT/secret.txt", "$IN/stolen.txt")"#,
        r#"mv("$OUT/victim_dir", "$IN/stolen_dir")"#,
        r#"cp("$OUT/secret.txt", "$IN/stolen.txt")"#,
        r#"cp("$IN/ok.txt", "$OUT/planted.txt")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let o = DirConfig().path("$OUT").build().open(OpenDirOptions().build());"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("ok.txt", OpenFileOptions().read(true).build());
           f.move(DirConfig().path("$OUT").build().open(OpenDirOptions().build()), "ok.txt")"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert_eq!(
            kind(&r),
            Some(ErrorKind::AccessDenied),
            "{script}: {:?}",
            r.outcome.error
        );
        assert_no_leak(&r, SECRET);
        assert_outside_intact(&fx, &before);
    }
    assert!(fx.inside.join("ok.txt").exists());
    assert!(!fx.inside.join("stolen.txt").exists());
    assert!(!fx.inside.join("stolen_dir").exists());
}

#[test]
fn a_subtree_grant_is_not_a_sibling_prefix_grant() {
    // `/x/inside` must not grant `/x/inside-evil` or `/x/insidefoo` (string-prefix confusion).
    let fx = Fixture::new();
    let sibling = fx.inside.with_file_name("inside-evil");
    fs::create_dir(&sibling).unwrap();
    fs::write(sibling.join("s.txt"), SECRET).unwrap();
    let runner = fx.runner();
    let p = sibling.join("s.txt");
    let r = run_args(&runner, "cat(p)", &[("p", p.to_str().unwrap())]);
    assert_denied(&r);
    assert_no_leak(&r, SECRET);
    let r = run_args(&runner, "rm(p)", &[("p", p.to_str().unwrap())]);
    assert_denied(&r);
    assert!(Path::new(&p).exists());
}

/// A thread that keeps swapping `path` between the real entry (kept at `stash`) and a
/// symlink to `target`, until dropped. Every step ignores errors (the script under test
/// races it and may remove things); `restore` recreates the stash when it went missing.
struct Swapper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cycles: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Swapper {
    fn start(
        path: std::path::PathBuf,
        stash: std::path::PathBuf,
        target: std::path::PathBuf,
        restore: fn(&Path),
    ) -> Swapper {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let cycles = std::sync::Arc::new(AtomicUsize::new(0));
        let (s2, c2) = (stop.clone(), cycles.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                let _ = fs::rename(&path, &stash);
                if fs::symlink_metadata(&stash).is_err() {
                    restore(&stash);
                }
                let _ = symlink(&target, &path);
                std::thread::yield_now();
                if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                    let _ = fs::remove_file(&path);
                }
                let _ = fs::rename(&stash, &path);
                std::thread::yield_now();
                c2.fetch_add(1, Ordering::SeqCst);
            }
        });
        Swapper {
            stop,
            cycles,
            thread: Some(thread),
        }
    }

    /// Stops the thread and returns how many swap cycles it completed.
    fn finish(mut self) -> usize {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.cycles.load(Ordering::SeqCst)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Iterations of each race script (each iteration makes several racing calls).
const RACE_ITERATIONS: usize = 2000;

/// A runner for the race scripts: the timeout is only a safety stop (a loaded CI machine
/// may take a while), never an assertion.
fn race_runner(fx: &Fixture) -> rex_runner::Runner {
    escape_common::runner_with(
        &fx.policy(),
        rex_core::Limits {
            max_operations: 20_000_000,
            timeout: Some(std::time::Duration::from_secs(300)),
            ..escape_common::tight_limits()
        },
        None,
    )
}

#[test]
fn directory_swapped_for_a_symlink_mid_operation_never_redirects_outside() {
    let fx = Fixture::new();
    let sub = fx.inside.join("sub");
    fs::create_dir(&sub).unwrap();
    for (name, content) in [("secret.txt", "decoy"), ("victim.txt", "v"), ("a.txt", "a")] {
        fs::write(sub.join(name), content).unwrap();
        // same names outside, so a redirected call would hit them
        if name != "secret.txt" {
            fs::write(fx.outside.join(name), "outside original").unwrap();
        }
    }
    let before = fx.outside_snapshot();
    let swapper = Swapper::start(
        sub.clone(),
        fx.inside.join(".stash"),
        fx.outside.clone(),
        |p| fs::create_dir_all(p).unwrap(),
    );
    let script = fx.script(&format!(
        r#"
        let leaks = 0;
        for i in 0..{RACE_ITERATIONS} {{
            try {{ if cat("$IN/sub/secret.txt").contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ for l in grep("SECRET", "$IN/sub/secret.txt") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ write([write::replace], "$IN/sub/w.txt", "pwned"); }} catch (e) {{}}
            try {{ write("$IN/sub/victim.txt", "pwned"); }} catch (e) {{}}
            try {{ mv("$IN/sub/a.txt", "$IN/sub/b.txt"); mv("$IN/sub/b.txt", "$IN/sub/a.txt"); }} catch (e) {{}}
            try {{ mkdir([mkdir::parents], "$IN/sub/d/e"); }} catch (e) {{}}
            try {{ rm([rm::recursive, rm::force], "$IN/sub/d"); }} catch (e) {{}}
            try {{ touch("$IN/sub/t.txt"); }} catch (e) {{}}
            try {{ cp([cp::force], "$IN/sub/secret.txt", "$IN/copy.txt"); if cat("$IN/copy.txt").contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            if i % 50 == 0 {{ try {{ rm("$IN/sub/victim.txt"); }} catch (e) {{}} }}
        }}
        leaks
        "#
    ));
    let report = run(&race_runner(&fx), &script);
    let cycles = swapper.finish();
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert_eq!(
        report.outcome.output, "0",
        "the secret was read through the swap"
    );
    assert_no_leak(&report, SECRET);
    assert!(cycles > 0, "the swapper never ran");
    assert_outside_intact(&fx, &before);
    for name in ["w.txt", "b.txt", "d", "t.txt"] {
        assert!(
            !fx.outside.join(name).exists(),
            "{name} was created outside"
        );
    }
}

#[test]
fn file_swapped_for_a_symlink_mid_operation_never_touches_the_target() {
    let fx = Fixture::new();
    let f = fx.inside.join("f.txt");
    fs::write(&f, "inside content").unwrap();
    let before = fx.outside_snapshot();
    let swapper = Swapper::start(
        f.clone(),
        fx.inside.join(".fstash"),
        fx.secret.clone(),
        |p| fs::write(p, "inside content").unwrap(),
    );
    let script = fx.script(&format!(
        r#"
        let leaks = 0;
        let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
        for i in 0..{RACE_ITERATIONS} {{
            try {{ if cat("$IN/f.txt").contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ if tail("$IN/f.txt").len() > 0 && tail("$IN/f.txt")[0].contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ let h = d.open_file("f.txt", OpenFileOptions().read(true).build()); if h.read().contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ let h = d.open_file("f.txt", OpenFileOptions().read(true).write(true).build()); h.write_in_place("pwned"); }} catch (e) {{}}
            try {{ let h = d.open_file("f.txt", OpenFileOptions().read(true).write(true).build()); h.write("pwned"); }} catch (e) {{}}
            try {{ write("$IN/f.txt", "+append"); }} catch (e) {{}}
            try {{ write([write::replace], "$IN/f.txt", "replaced"); }} catch (e) {{}}
            try {{ sed([sed::in_place], "e", "E", "$IN/f.txt"); }} catch (e) {{}}
            try {{ touch("$IN/f.txt"); }} catch (e) {{}}
            try {{ cp([cp::force], "$IN/f.txt", "$IN/copy.txt"); if cat("$IN/copy.txt").contains("TOP-SECRET") {{ leaks += 1; }} }} catch (e) {{}}
            try {{ mv("$IN/f.txt", "$IN/g.txt"); mv("$IN/g.txt", "$IN/f.txt"); }} catch (e) {{}}
            try {{ let h = d.open_file("f.txt", OpenFileOptions().read(true).build()); h.delete(); }} catch (e) {{}}
            if i % 10 == 0 {{ try {{ rm("$IN/f.txt"); }} catch (e) {{}} }}
        }}
        leaks
        "#
    ));
    let report = run(&race_runner(&fx), &script);
    let cycles = swapper.finish();
    assert!(report.outcome.error.is_none(), "{:?}", report.outcome.error);
    assert_eq!(
        report.outcome.output, "0",
        "the secret was read through the swap"
    );
    assert_no_leak(&report, SECRET);
    assert!(cycles > 0, "the swapper never ran");
    assert_outside_intact(&fx, &before);
    // whatever copy.txt holds now came from the inside file
    if let Ok(c) = fs::read_to_string(fx.inside.join("copy.txt")) {
        assert!(!c.contains(SECRET));
    }
}

#[test]
fn recursive_listings_do_not_descend_through_symlinks() {
    let fx = Fixture::new();
    fs::create_dir(fx.inside.join("tree")).unwrap();
    symlink(&fx.outside, fx.inside.join("tree").join("out")).unwrap();
    symlink("../../outside", fx.inside.join("tree").join("rel_out")).unwrap();
    let runner = fx.runner();
    for script in [
        r#"find_files([glob::recursive], "*", "$IN")"#,
        r#"find_files([glob::recursive], "*.txt", "$IN/tree")"#,
        r#"ls([ls::recursive, ls::all, ls::long], "$IN")"#,
        r#"du([du::all_files], "$IN")"#,
    ] {
        let r = run(&runner, &fx.script(script));
        // either a typed refusal, or a listing that never names what lies outside
        if r.outcome.error.is_some() {
            assert_refused(&r, PATH_REFUSALS);
        }
        let doc = escape_common::document_text(&r);
        for outside_name in ["keep.txt", "victim_dir", "secret.txt"] {
            assert!(
                !doc.contains(outside_name),
                "{script} listed {outside_name}: {doc}"
            );
        }
        assert_no_leak(&r, SECRET);
    }
}

#[test]
fn copies_and_rewrites_never_carry_setuid_or_setgid_bits() {
    // With a root runner, a set-id bit kept on a file whose content the script chose (a
    // replacing write, a preserving copy) would be a set-id-root program of its making.
    // Scripts cannot set these bits with chmod (0..=0o777); no other path may keep them.
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let suid = fx.inside.join("suid");
    fs::write(&suid, "orig").unwrap();
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o6755)).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    if mode(&suid) & 0o6000 != 0o6000 {
        return; // the file system refused set-id bits (nosuid mounts keep them, so unlikely)
    }
    let runner = fx.runner();
    let r = run(
        &runner,
        &fx.script(r#"cp([cp::preserve], "$IN/suid", "$IN/copy")"#),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(
        mode(&fx.inside.join("copy")),
        0o755,
        "cp -p kept set-id bits"
    );
    let r = run(
        &runner,
        &fx.script(r#"write([write::replace], "$IN/suid", "payload")"#),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(fs::read_to_string(&suid).unwrap(), "payload");
    assert_eq!(mode(&suid), 0o755, "a replacing write kept set-id bits");
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o6755)).unwrap();
    let r = run(
        &runner,
        &fx.script(
            r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
               d.open_file("suid", OpenFileOptions().read(true).write(true).build()).write("payload2")"#,
        ),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(mode(&suid), 0o755, "a handle write kept set-id bits");
}

#[test]
fn redacted_read_never_unlocks_full_content_through_another_api() {
    // Only `redacted_read` (plus what copying needs) is granted. With no redaction dictionary
    // the redacted fallback fails closed, so every API that yields content must refuse: none
    // may read with a check weaker than `read`.
    let fx = Fixture::new();
    fs::write(fx.inside.join("data.txt"), format!("line one\n{SECRET}\n")).unwrap();
    let policy = escape_common::allow_actions_under(
        &fx.inside,
        &["open", "redacted_read", "stat", "create", "write"],
    );
    let runner = escape_common::runner(&policy);
    let before = fx.outside_snapshot();
    for script in [
        r#"cat("$IN/data.txt")"#,
        r#"grep("SECRET", "$IN/data.txt")"#,
        r#"grep([grep::invert], "zzz", "$IN/data.txt")"#,
        r#"tail("$IN/data.txt")"#,
        r#"awk_filter("SECRET", "$IN/data.txt")"#,
        r#"awk_field(1, " ", "$IN/data.txt")"#,
        r#"awk_filter_range(1, 2, "$IN/data.txt")"#,
        r#"awk_count_unique(1, " ", "$IN/data.txt")"#,
        r#"sed("x", "y", "$IN/data.txt")"#,
        r#"wc("$IN/data.txt")"#,
        r#"cp("$IN/data.txt", "$IN/copy.txt"); cat("$IN/copy.txt")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build()); f.read()"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build()); f.read_lines(ReadLinesOptions().build())"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build()); f.search("SECRET")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build()); f.extract_strings()"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build());
           let c = d.open_file("copy2.txt", OpenFileOptions().write(true).create(true).build());
           f.copy(c, CopyFileOptions().build()); cat("$IN/copy2.txt")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build());
           f.read_page(ReadPageOptions().num_lines(10).build())"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("data.txt", OpenFileOptions().read(true).build());
           let z = d.open_file("data.gz", OpenFileOptions().write(true).create(true).build());
           f.compress_gzip(z, CompressGzipOptions().build());
           z.read_gzip_lines(ReadLinesOptions().build())"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert!(r.outcome.error.is_some(), "{script} returned content");
        assert_refused(&r, PATH_REFUSALS);
        assert_no_leak(&r, SECRET);
    }
    for copy in ["copy.txt", "copy2.txt"] {
        if let Ok(c) = fs::read_to_string(fx.inside.join(copy)) {
            assert!(!c.contains(SECRET), "{copy} received the content");
        }
    }
    // the gzip target was created (open + create are granted) but received nothing
    assert_eq!(
        fs::metadata(fx.inside.join("data.gz")).map_or(0, |m| m.len()),
        0
    );
    assert_outside_intact(&fx, &before);
}

/// Builds a gzip'd tar with hostile entries using Python's tarfile (skipped without python3).
fn hostile_archive(path: &Path, outside: &Path) -> bool {
    let py = r##"
import io, sys, tarfile
out, outside = sys.argv[1], sys.argv[2]
def add(t, name, data=b"pwned", **kw):
    i = tarfile.TarInfo(name)
    for k, v in kw.items(): setattr(i, k, v)
    if i.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        i.size = len(data); t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)
with tarfile.open(out, "w:gz", format=tarfile.GNU_FORMAT) as t:
    add(t, "ok.txt", b"fine")
    add(t, "../outside/evil1.txt")
    add(t, outside + "/evil2.txt")
    add(t, "a/../../outside/evil3.txt")
    add(t, "./../outside/evil4.txt")
    add(t, "link", type=tarfile.SYMTYPE, linkname=outside)
    add(t, "link/evil5.txt")
    add(t, "hl", type=tarfile.LNKTYPE, linkname="../outside/secret.txt")
    add(t, "suid", b"#!/bin/sh\n", mode=0o6755)
    add(t, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    add(t, "fifo", type=tarfile.FIFOTYPE)
"##;
    std::process::Command::new("python3")
        .args(["-c", py])
        .arg(path)
        .arg(outside)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn hostile_archives_extract_nothing_outside() {
    let fx = Fixture::new();
    let staging = fx.tmp.path().join("staging");
    fs::create_dir(&staging).unwrap();
    let archive = fx.inside.join("evil.tar.gz");
    if !hostile_archive(&archive, &fx.outside) {
        eprintln!("skipped: python3 is not available to build the archive");
        return;
    }
    fs::create_dir(fx.inside.join("dest")).unwrap();
    let before = fx.outside_snapshot();
    let runner = fx.runner();
    for opts in [
        "ExtractArchiveOptions().build()",
        "ExtractArchiveOptions().preserve_permissions(true).preserve_ownership(true).build()",
    ] {
        let script = fx.script(&format!(
            r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
               let dest = DirConfig().path("$IN/dest").build().open(OpenDirOptions().build());
               let a = d.open_file("evil.tar.gz", OpenFileOptions().read(true).build());
               a.extract_archive(dest, {opts})"#
        ));
        let r = run(&runner, &script);
        if r.outcome.error.is_some() {
            assert_refused(
                &r,
                &["InvalidPath", "ValidationError", "FileError", "IoError"],
            );
        }
        assert_outside_intact(&fx, &before);
        // nothing that could lead out was created, and no set-id bit survived
        for e in walk(&fx.inside.join("dest")) {
            let md = fs::symlink_metadata(&e).unwrap();
            let ft = md.file_type();
            assert!(
                ft.is_file() || ft.is_dir(),
                "{} is neither a file nor a directory",
                e.display()
            );
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(md.permissions().mode() & 0o6000, 0, "{}", e.display());
            if ft.is_file() {
                use std::os::unix::fs::MetadataExt;
                assert_eq!(md.nlink(), 1, "{} is a hard link", e.display());
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                out.extend(walk(&p));
            }
        }
    }
    out
}

// ---- issue 19: renames over an existing destination, directory moves that carry a tree,
// ---- stale handles, set-id bits kept by in-place writes

/// The fixture's policy plus `forbid` statements (Cedar: a forbid overrides every permit).
fn fixture_runner_with_forbids(fx: &Fixture, forbids: &[String]) -> rex_runner::Runner {
    let mut policy = fx.policy();
    for f in forbids {
        policy.push('\n');
        policy.push_str(f);
    }
    escape_common::runner(&policy)
}

fn forbid_on(actions: &[&str], resource: &str) -> String {
    let a: Vec<String> = actions
        .iter()
        .map(|a| format!("file_system::Action::\"{a}\""))
        .collect();
    format!(
        "forbid(principal, action in [{}], resource {resource});",
        a.join(", ")
    )
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(p).unwrap().ino()
}

#[test]
fn renames_over_an_existing_destination_need_delete_on_it() {
    // `mv`/`move` onto a file whose write and delete are forbidden used to replace it, and a
    // directory move used to replace an empty directory whose delete is forbidden.
    let fx = Fixture::new();
    let keep = fx.inside.join("keep.txt");
    let keep_dir = fx.inside.join("keep_dir");
    fs::write(&keep, "KEEP").unwrap();
    fs::create_dir(&keep_dir).unwrap();
    fs::create_dir(fx.inside.join("src_dir")).unwrap();
    let keep_dir_ino = inode(&keep_dir);
    let runner = fixture_runner_with_forbids(
        &fx,
        &[
            forbid_on(
                &["write", "delete"],
                &format!("== file_system::File::\"{}\"", keep.display()),
            ),
            forbid_on(
                &["delete"],
                &format!("== file_system::Dir::\"{}\"", keep_dir.display()),
            ),
        ],
    );
    for script in [
        r#"mv("$IN/ok.txt", "$IN/keep.txt")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("ok.txt", OpenFileOptions().read(true).build());
           f.move(d, "keep.txt")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let f = d.open_file("ok.txt", OpenFileOptions().read(true).build());
           f.move(d, "keep.txt", MoveOptions().build())"#,
        r#"mv("$IN/src_dir", "$IN/keep_dir")"#,
        r#"let p = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let s = DirConfig().path("$IN/src_dir").build().open(OpenDirOptions().build());
           s.move(p, "keep_dir", MoveOptions().build())"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert_denied(&r);
        assert_eq!(fs::read_to_string(&keep).unwrap(), "KEEP", "{script}");
        assert_eq!(inode(&keep_dir), keep_dir_ino, "{script}");
        assert_eq!(
            fs::read_to_string(fx.inside.join("ok.txt")).unwrap(),
            "fine"
        );
        assert!(fx.inside.join("src_dir").is_dir());
    }
    // REX's replace-on-rename stays where the destination may be deleted
    let r = run(
        &fx.runner(),
        &fx.script(r#"mv("$IN/ok.txt", "$IN/keep.txt")"#),
    );
    assert!(r.outcome.error.is_none(), "{:?}", r.outcome.error);
    assert_eq!(fs::read_to_string(&keep).unwrap(), "fine");
}

#[test]
fn a_directory_move_never_carries_an_entry_whose_move_is_forbidden() {
    // The file may be neither read nor moved; moving its parent used to carry it to a path
    // where reading it is allowed.
    let fx = Fixture::new();
    fs::create_dir_all(fx.inside.join("box/inner")).unwrap();
    let locked = fx.inside.join("box/inner/locked.txt");
    fs::write(&locked, SECRET).unwrap();
    let runner = fixture_runner_with_forbids(
        &fx,
        &[forbid_on(
            &["read", "move"],
            &format!("== file_system::File::\"{}\"", locked.display()),
        )],
    );
    for script in [
        r#"mv("$IN/box", "$IN/open_box"); cat("$IN/open_box/inner/locked.txt")"#,
        r#"let p = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           let b = DirConfig().path("$IN/box").build().open(OpenDirOptions().build());
           b.move(p, "open_box", MoveOptions().build());
           cat("$IN/open_box/inner/locked.txt")"#,
    ] {
        let r = run(&runner, &fx.script(script));
        assert_denied(&r);
        assert_no_leak(&r, SECRET);
        assert_eq!(fs::read_to_string(&locked).unwrap(), SECRET, "{script}");
        assert!(!fx.inside.join("open_box").exists(), "{script}");
    }
}

#[test]
fn stale_handles_are_authorized_where_their_directory_moved() {
    // A handle opened in a writable directory kept writing after the directory was moved
    // into a write-forbidden tree (the check used the path recorded at open).
    let fx = Fixture::new();
    fs::create_dir(fx.inside.join("w")).unwrap();
    fs::create_dir(fx.inside.join("ro")).unwrap();
    fs::write(fx.inside.join("w/f.txt"), "orig").unwrap();
    let runner = fixture_runner_with_forbids(
        &fx,
        &[forbid_on(
            &["write", "chmod"],
            &format!(
                "in file_system::Dir::\"{}\"",
                fx.inside.join("ro").display()
            ),
        )],
    );
    let moved = fx.inside.join("ro/w/f.txt");
    for (i, op) in [
        r#"f.write_in_place("pwned")"#,
        r#"f.write("pwned")"#,
        r#"f.chmod(511)"#,
        r#"w.chmod(ChmodDirOptions().permissions(511).build())"#,
    ]
    .iter()
    .enumerate()
    {
        // each round moves `w` into `ro`, then back for the next one (by the host)
        let script = format!(
            r#"let w = DirConfig().path("$IN/w").build().open(OpenDirOptions().build());
               let f = w.open_file("f.txt", OpenFileOptions().read(true).write(true).build());
               let ro = DirConfig().path("$IN/ro").build().open(OpenDirOptions().build());
               w.move(ro, "w", MoveOptions().build());
               {op}"#
        );
        let r = run(&runner, &fx.script(&script));
        assert_denied(&r);
        assert_eq!(
            fs::read_to_string(&moved).unwrap(),
            "orig",
            "round {i}: {op}"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_ne!(
            fs::metadata(&moved).unwrap().permissions().mode() & 0o777,
            0o777,
            "{op}"
        );
        fs::rename(fx.inside.join("ro/w"), fx.inside.join("w")).unwrap();
    }
}

#[test]
fn in_place_writes_clear_setuid_and_setgid_bits() {
    // Appends, in-place writes and copies into an existing file kept S_ISUID/S_ISGID with a
    // root runner (the kernel clears them only for unprivileged writers).
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let suid = fx.inside.join("suid");
    fs::write(&suid, "orig").unwrap();
    let set = || fs::set_permissions(&suid, fs::Permissions::from_mode(0o6755)).unwrap();
    let mode = || fs::metadata(&suid).unwrap().permissions().mode() & 0o7777;
    set();
    if mode() != 0o6755 {
        return; // the file system refused set-id bits
    }
    let runner = fx.runner();
    for script in [
        r#"write("$IN/suid", "appended")"#,
        r#"write([write::append], "$IN/suid", "appended")"#,
        r#"cp([cp::force], "$IN/ok.txt", "$IN/suid")"#,
        r#"let d = DirConfig().path("$IN").build().open(OpenDirOptions().build());
           d.open_file("suid", OpenFileOptions().read(true).write(true).build()).write_in_place("p")"#,
    ] {
        set();
        let r = run(&runner, &fx.script(script));
        assert!(r.outcome.error.is_none(), "{script}: {:?}", r.outcome.error);
        assert_eq!(mode(), 0o755, "{script} kept set-id bits");
    }
}
