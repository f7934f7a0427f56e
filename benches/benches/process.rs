//! Whole processes (issue 14): what a short run costs from `exec` to exit, beside the floors
//! that code Rex does not own sets under it.
//!
//! `cargo build --release -p rex-runner && cargo bench -p rex-benches --bench process`
//!
//! The runner measured is the release binary `rex-runner` next to this bench's own directory
//! (`target/release/rex-runner`), or the one `REX_RUNNER_BIN` names; without either, its
//! benches are skipped with a note on standard error. `cedar-floor` is this crate's binary as
//! the bench profile builds it (thin LTO); `REX_CEDAR_FLOOR_BIN` names another build, e.g.
//! one of the release profile (`cargo build --release -p rex-benches --bin cedar-floor` into
//! another `CARGO_TARGET_DIR`), which is what compares with the shipped `rex-runner`.
//!
//! * `process/true`: spawning `/bin/true`, the cost of `exec` itself on this host.
//! * `process/cedar_floor`: spawning `cedar-floor` (this crate's binary): only Cedar's
//!   one-time work of a run, Rex's schema parsed, one policy parsed and strictly validated.
//!   No Rex start-up can be cheaper than this one.
//! * `process/rex_runner_1_plus_1`: `rex-runner -s 1+1.rhai -p p.cedar -o json`.
//! * `process/readdir_floor_100x1000`: in this process, 100 times `open` + `getdents64` into a
//!   64 KiB buffer + `close` of a 1,000-entry directory, nothing done per entry: the
//!   kernel's share of the `ls` workload below, which no listing can beat.
//! * `process/rex_runner_ls_100x1000`: a run of `for i in 0..100 { n += ls(d).len(); }`.
//!
//! Measured (bench profile for `cedar-floor`, release `rex-runner`, ext4, shared 2-core VM,
//! 2026-12-03, means): `true` 0.95 ms, `cedar_floor` 5.16 ms, `rex_runner_1_plus_1` 9.06 ms;
//! `readdir_floor_100x1000` 33.2 ms, `rex_runner_ls_100x1000` 76.7 ms. Issue 14's start-up
//! goal (2 ms for the whole `1 + 1` process) is thus below what Cedar alone costs here, and
//! its `ls` goal (twice REX's 63 ms, 31.5 ms) below what the kernel's readdir alone costs.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rustix::fs::{Mode, OFlags, RawDir};

fn fail<T, E: std::fmt::Display>(e: E) -> T {
    eprintln!("process bench: {e}");
    std::process::exit(1)
}

/// Runs `exe args` with its output discarded; a failing exit ends the bench (a bench of a
/// command that fails measures the wrong thing).
fn spawn(exe: &Path, args: &[&str]) {
    let status = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(fail);
    if !status.success() {
        fail::<(), _>(format!("{} {args:?} exited with {status}", exe.display()));
    }
}

/// The release `rex-runner`: `REX_RUNNER_BIN`, or `rex-runner` in the profile directory
/// above this bench's `deps/`.
fn runner_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REX_RUNNER_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("rex-runner");
    candidate.is_file().then_some(candidate)
}

/// `open` + `getdents64` until the end + `close`, counting the bytes returned.
fn read_dir_raw(dir: &Path, buf: &mut [MaybeUninit<u8>]) -> usize {
    let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
        .unwrap_or_else(fail);
    let mut raw = RawDir::new(&fd, buf);
    let mut n = 0;
    while let Some(entry) = raw.next() {
        n += usize::from(entry.is_ok());
    }
    n
}

fn process(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap_or_else(fail);
    let root = tmp.path();
    let d = root.join("d");
    std::fs::create_dir(&d).unwrap_or_else(fail);
    for i in 0..1000 {
        std::fs::write(d.join(format!("file-{i:04}.log")), b"").unwrap_or_else(fail);
    }
    let write = |name: &str, text: String| {
        let p = root.join(name);
        std::fs::write(&p, text).unwrap_or_else(fail);
        p.to_string_lossy().into_owned()
    };
    let one = write("one.rhai", "1 + 1\n".into());
    let never = write(
        "never.cedar",
        "permit(principal, action, resource) when { false };\n".into(),
    );
    let d_s = d.to_string_lossy().into_owned();
    let ls = write(
        "ls.rhai",
        format!("let n = 0;\nfor i in 0..100 {{ n += ls(\"{d_s}\").len(); }}\nn\n"),
    );
    let list = write(
        "ls.cedar",
        format!(
            "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource == file_system::Dir::\"{d_s}\");\n"
        ),
    );
    // The bench profile's build of `cedar-floor` (thin LTO), or the one `REX_CEDAR_FLOOR_BIN`
    // names: built with the release profile (fat LTO, as `rex-runner` ships) it is faster.
    let floor = std::env::var_os("REX_CEDAR_FLOOR_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_cedar-floor")),
        PathBuf::from,
    );
    let floor = floor.as_path();
    let runner = runner_binary();

    let mut group = c.benchmark_group("process");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("true", |b| b.iter(|| spawn(Path::new("/bin/true"), &[])));
    group.bench_function("cedar_floor", |b| b.iter(|| spawn(floor, &[&never])));
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    group.bench_function("readdir_floor_100x1000", |b| {
        b.iter(|| {
            let mut n = 0;
            for _ in 0..100 {
                n += read_dir_raw(&d, &mut buf);
            }
            black_box(n)
        })
    });
    match &runner {
        Some(rex) => {
            group.bench_function("rex_runner_1_plus_1", |b| {
                b.iter(|| spawn(rex, &["-s", &one, "-p", &never, "-o", "json"]))
            });
            group.bench_function("rex_runner_ls_100x1000", |b| {
                b.iter(|| spawn(rex, &["-s", &ls, "-p", &list, "-o", "json"]))
            });
        }
        None => eprintln!(
            "process bench: no release rex-runner found (cargo build --release -p rex-runner, \
             or set REX_RUNNER_BIN); its benches are skipped"
        ),
    }
    group.finish();
}

criterion_group!(benches, process);
criterion_main!(benches);
