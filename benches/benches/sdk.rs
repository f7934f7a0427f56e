//! Gated file-system operations against the raw system calls they make, in the same run.
//!
//! `cargo bench -p rex-benches --bench sdk`
//!
//! * `read_4k/*`: open a 4 KiB file relative to an already open directory and read it.
//!   `raw` is `openat` + `fstat` + `read` + `close` through rustix (no end-of-file probe);
//!   `raw_std_fs_read` is `std::fs::read` of the path; `gated_cached` is
//!   `DirHandle::open_file` + `FileHandle::read_bytes` (Cedar `open` + `read`) with a warm
//!   decision cache; `gated_uncached` the same with the cache off.
//! * `cat_small/*` (issue 30): a whole script-level `cat` of a 64-byte file by path, as a
//!   script calls it: `raw` is `open` of the absolute path + `fstat` + `read` + `close`;
//!   `gated_cat` is `rust_sdk::fs::cat` (Cedar `open` Dir, `open` File, `read` File, the
//!   descriptor walk, no `/proc/self/fd` lookup) with a warm decision cache.
//! * `stat/*`: `fstatat` against `DirHandle::entry_metadata` (Cedar `stat`).
//! * `list_1000/*`: the names of a 1,000-entry directory: `std::fs::read_dir` against
//!   `DirHandle::list_entries` (Cedar `read` on the directory).

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::SdkContext;
use rust_sdk::fs::{DirHandle, OpenDirOptions, OpenFileOptions};
use rustix::fs::{AtFlags, Mode, OFlags};

fn fail<T, E>(_: E) -> T {
    std::process::exit(1)
}

fn ctx(root: &str, cache: usize) -> SdkContext {
    let policy = format!("permit(principal, action, resource in file_system::Dir::\"{root}\");");
    let auth = Authorizer::builder()
        .principal(Principal::user("bench").unwrap_or_else(fail))
        .policies(Policies::parse("bench.cedar", &policy).unwrap_or_else(fail))
        .cache_capacity(cache)
        .build()
        .unwrap_or_else(fail);
    SdkContext::new(Arc::new(auth))
}

fn sdk(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(fail);
    let root_path = std::fs::canonicalize(dir.path()).unwrap_or_else(fail);
    let root = root_path.to_string_lossy().into_owned();
    let mut f = std::fs::File::create(root_path.join("data.bin")).unwrap_or_else(fail);
    f.write_all(&[b'x'; 4096]).unwrap_or_else(fail);
    let many = root_path.join("many");
    std::fs::create_dir(&many).unwrap_or_else(fail);
    for i in 0..1000 {
        std::fs::File::create(many.join(format!("f{i:04}"))).unwrap_or_else(fail);
    }

    let cached = ctx(&root, 4096);
    let uncached = ctx(&root, 0);
    let handle = |ctx: &SdkContext, p: &str| {
        DirHandle::open(ctx, p, OpenDirOptions::default()).unwrap_or_else(fail)
    };
    let dir_cached = handle(&cached, &root);
    let dir_uncached = handle(&uncached, &root);
    let raw_dir = std::fs::File::open(&root_path).unwrap_or_else(fail);

    let mut group = c.benchmark_group("read_4k");
    group.bench_function("raw", |b| {
        b.iter(|| {
            let fd = rustix::fs::openat(
                &raw_dir,
                "data.bin",
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .unwrap_or_else(fail);
            let st = rustix::fs::fstat(&fd).unwrap_or_else(fail);
            let mut buf = vec![0u8; usize::try_from(st.st_size).unwrap_or(0)];
            let n = rustix::io::read(&fd, &mut buf).unwrap_or_else(fail);
            black_box(n)
        })
    });
    let data = root_path.join("data.bin");
    group.bench_function("raw_std_fs_read", |b| {
        b.iter(|| black_box(std::fs::read(&data).unwrap_or_else(fail).len()))
    });
    for (name, ctx, d) in [
        ("gated_cached", &cached, &dir_cached),
        ("gated_uncached", &uncached, &dir_uncached),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let file = d
                    .open_file(ctx, "data.bin", OpenFileOptions::read())
                    .unwrap_or_else(fail);
                black_box(file.read_bytes(ctx).unwrap_or_else(fail).len())
            })
        });
    }
    group.finish();

    let small = root_path.join("small.txt");
    std::fs::write(&small, [b'y'; 64]).unwrap_or_else(fail);
    let small_s = small.to_string_lossy().into_owned();
    let mut group = c.benchmark_group("cat_small");
    group.bench_function("raw", |b| {
        b.iter(|| {
            let fd = rustix::fs::open(
                &small,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .unwrap_or_else(fail);
            let st = rustix::fs::fstat(&fd).unwrap_or_else(fail);
            let mut buf = vec![0u8; usize::try_from(st.st_size).unwrap_or(0) + 1];
            let n = rustix::io::read(&fd, &mut buf).unwrap_or_else(fail);
            buf.truncate(n);
            black_box(String::from_utf8_lossy(&buf).into_owned())
        })
    });
    group.bench_function("gated_cat", |b| {
        b.iter(|| {
            black_box(rust_sdk::fs::commands::cat(&cached, &small_s, false).unwrap_or_else(fail))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("stat");
    group.bench_function("raw", |b| {
        b.iter(|| {
            black_box(
                rustix::fs::statat(&raw_dir, "data.bin", AtFlags::SYMLINK_NOFOLLOW)
                    .unwrap_or_else(fail)
                    .st_size,
            )
        })
    });
    group.bench_function("gated_cached", |b| {
        b.iter(|| {
            black_box(
                dir_cached
                    .entry_metadata(&cached, "data.bin")
                    .unwrap_or_else(fail),
            )
        })
    });
    group.finish();

    let many_s = many.to_string_lossy().into_owned();
    let many_dir = handle(&cached, &many_s);
    let mut group = c.benchmark_group("list_1000");
    group.bench_function("raw", |b| {
        b.iter(|| {
            let names: Vec<_> = std::fs::read_dir(&many)
                .unwrap_or_else(fail)
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            black_box(names.len())
        })
    });
    group.bench_function("gated_cached", |b| {
        b.iter(|| black_box(many_dir.list_entries(&cached).unwrap_or_else(fail).len()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = sdk
}
criterion_main!(benches);
