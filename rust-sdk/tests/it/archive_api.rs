//! Archive extraction: allowed (real files), denied (nothing created), hostile archives
//! (traversal, absolute paths, links, too many entries, size bombs) refused cleanly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use rust_sdk::SdkContext;
use rust_sdk::fs::*;

/// A sorted listing of everything below `dir` (relative paths, `/` suffix for directories).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &e.path(), out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_000_000_000);
    h
}

/// Appends a regular file whose name is written raw into the header (no validation by the
/// tar crate), so hostile names can be built.
fn raw_file(b: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
    let n = name.as_bytes();
    h.as_old_mut().name[..n.len()].copy_from_slice(n);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn good_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let h = header(tar::EntryType::Directory, 0, 0o750);
    b.append_data(&mut h.clone(), "sub/", &[][..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 5, 0o640);
    b.append_data(&mut h, "sub/a.txt", &b"hello"[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 3, 0o755);
    b.append_data(&mut h, "top.sh", &b"#!x"[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 2, 0o600);
    b.append_data(&mut h, "deep/er/c", &b"ok"[..]).unwrap();
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Fixture {
    _t: tempfile::TempDir,
    src: std::path::PathBuf,
    dest: std::path::PathBuf,
}

fn fixture(archive: &[u8]) -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let dest = t.path().join("dest");
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dest).unwrap();
    fs::write(src.join("a.tar"), archive).unwrap();
    Fixture { _t: t, src, dest }
}

fn extract(
    c: &SdkContext,
    f: &Fixture,
    opts: ExtractArchiveOptions,
) -> Result<ExtractReport, FsError> {
    let d = DirHandle::open(c, &s(&f.src), OpenDirOptions::default())?;
    let a = d.open_file(c, "a.tar", OpenFileOptions::read())?;
    let dest = DirHandle::open(c, &s(&f.dest), OpenDirOptions::default())?;
    a.extract_archive(c, &dest, opts)
}

fn both(f: &Fixture) -> String {
    format!("{}\n{}", all(&f.src), all(&f.dest))
}

#[test]
fn extract_tar_and_tar_gz_allowed() {
    for data in [good_tar(), gz(&good_tar())] {
        let f = fixture(&data);
        let c = ctx(&both(&f));
        let r = extract(&c, &f, ExtractArchiveOptions::default()).unwrap();
        assert_eq!(
            tree(&f.dest),
            vec![
                "deep/",
                "deep/er/",
                "deep/er/c",
                "sub/",
                "sub/a.txt",
                "top.sh"
            ]
        );
        assert_eq!(fs::read(f.dest.join("sub/a.txt")).unwrap(), b"hello");
        assert_eq!(fs::read(f.dest.join("deep/er/c")).unwrap(), b"ok");
        let mode = |p: &str| fs::metadata(f.dest.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("top.sh"), 0o755);
        assert_eq!(mode("sub/a.txt"), 0o640);
        assert_eq!(mode("sub"), 0o750);
        assert_eq!(mode("deep"), 0o755);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            fs::metadata(f.dest.join("top.sh")).unwrap().mtime(),
            1_000_000_000
        );
        assert_eq!(r.extracted.len(), 4);
        assert!(r.skipped.is_empty());
    }
}

#[test]
fn extract_without_preserving_uses_default_modes() {
    let f = fixture(&good_tar());
    let c = ctx(&both(&f));
    let opts = ExtractArchiveOptions {
        preserve_permissions: false,
        preserve_timestamps: false,
        ..Default::default()
    };
    extract(&c, &f, opts).unwrap();
    let mode = |p: &str| fs::metadata(f.dest.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("top.sh"), 0o644);
    assert_eq!(mode("sub"), 0o755);
}

#[test]
fn extract_overwrites_existing_file_and_merges_into_existing_dir() {
    let f = fixture(&good_tar());
    fs::create_dir(f.dest.join("sub")).unwrap();
    fs::write(f.dest.join("sub/keep"), "k").unwrap();
    fs::write(f.dest.join("top.sh"), "old").unwrap();
    let c = ctx(&both(&f));
    extract(&c, &f, ExtractArchiveOptions::default()).unwrap();
    assert_eq!(fs::read(f.dest.join("top.sh")).unwrap(), b"#!x");
    assert_eq!(fs::read(f.dest.join("sub/keep")).unwrap(), b"k");
    assert_eq!(fs::read(f.dest.join("sub/a.txt")).unwrap(), b"hello");
}

#[test]
fn extract_denied_leaves_destination_unchanged() {
    // No write permission on the destination at all.
    let f = fixture(&gz(&good_tar()));
    fs::write(f.dest.join("existing"), "x").unwrap();
    let before = tree(&f.dest);
    // a denied extraction fails and leaves the destination as it was
    let refused = |c: &SdkContext| {
        let e = extract(c, &f, ExtractArchiveOptions::default()).unwrap_err();
        assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
        assert_eq!(tree(&f.dest), before);
    };
    let pol = format!(
        "{}\npermit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"{}\");",
        all(&f.src),
        s(&f.dest)
    );
    let c = ctx(&pol);
    refused(&c);

    // Everything allowed except one file deep in the archive: still nothing is written.
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"write\", resource == file_system::File::\"{}/deep/er/c\");",
        both(&f),
        s(&f.dest)
    );
    let c = ctx(&pol);
    refused(&c);

    // chmod is needed when preserving permissions (REX's default), not otherwise.
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"chmod\", resource);",
        both(&f)
    );
    let c = ctx(&pol);
    refused(&c);
    let opts = ExtractArchiveOptions {
        preserve_permissions: false,
        ..Default::default()
    };
    extract(&c, &f, opts).unwrap();
    assert!(f.dest.join("deep/er/c").exists());
}

#[test]
fn extract_needs_read_on_the_archive() {
    let f = fixture(&good_tar());
    let pol = format!(
        "{}\npermit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"{}\");",
        all(&f.dest),
        s(&f.src)
    );
    let c = ctx(&pol);
    let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
    assert!(tree(&f.dest).is_empty());
}

fn hostile(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Regular, 2, 0o644);
    b.append_data(&mut h, "fine.txt", &b"ok"[..]).unwrap();
    raw_file(&mut b, name, b"evil");
    b.into_inner().unwrap()
}

#[test]
fn traversal_and_absolute_paths_are_refused_with_nothing_written() {
    for name in ["../x", "a/../../x", "/tmp/rex-absolute-x", "a/.."] {
        let f = fixture(&hostile(name));
        let c = ctx(&both(&f));
        let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
        assert_eq!(e.kind(), FsErrorKind::InvalidPath, "{name}: {e:?}");
        assert!(tree(&f.dest).is_empty(), "{name}");
        assert!(!f.dest.parent().unwrap().join("x").exists());
    }
    assert!(!Path::new("/tmp/rex-absolute-x").exists());
}

#[test]
fn links_devices_and_fifos_are_skipped_and_reported() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Regular, 2, 0o644);
    b.append_data(&mut h, "fine.txt", &b"ok"[..]).unwrap();
    let mut h = header(tar::EntryType::Symlink, 0, 0o777);
    b.append_link(&mut h, "link", "/etc/passwd").unwrap();
    let mut h = header(tar::EntryType::Link, 0, 0o644);
    b.append_link(&mut h, "hard", "/etc/shadow").unwrap();
    let mut h = header(tar::EntryType::Fifo, 0, 0o644);
    b.append_data(&mut h, "fifo", &[][..]).unwrap();
    let mut h = header(tar::EntryType::Char, 0, 0o644);
    b.append_data(&mut h, "dev", &[][..]).unwrap();
    let f = fixture(&b.into_inner().unwrap());
    let c = ctx(&both(&f));
    let r = extract(&c, &f, ExtractArchiveOptions::default()).unwrap();
    assert_eq!(tree(&f.dest), vec!["fine.txt"]);
    let skipped: Vec<&str> = r
        .skipped
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(skipped, vec!["link", "hard", "fifo", "dev"]);
    assert_eq!(r.extracted, vec![format!("{}/fine.txt", s(&f.dest))]);
}

#[test]
fn a_symlink_in_the_destination_is_not_followed() {
    // dest/sub is a symlink to a directory outside: the archive's sub/a.txt must not land there.
    let f = fixture(&good_tar());
    let outside = f.dest.parent().unwrap().join("outside");
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.dest.join("sub")).unwrap();
    let c = ctx(&format!("{}\n{}", both(&f), all(&outside)));
    let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::EntryTypeMismatchError, "{e:?}");
    assert!(fs::read_dir(&outside).unwrap().next().is_none());
    assert_eq!(tree(&f.dest), vec!["sub"]);
}

#[test]
fn entry_count_limit_ends_cleanly() {
    // 100,000 entries, built into a temp file with the tar crate.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let dest = t.path().join("dest");
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dest).unwrap();
    {
        let file = fs::File::create(src.join("a.tar")).unwrap();
        let mut b = tar::Builder::new(std::io::BufWriter::new(file));
        for i in 0..100_000 {
            let mut h = header(tar::EntryType::Regular, 1, 0o644);
            b.append_data(&mut h, format!("f{i}"), &b"x"[..]).unwrap();
        }
        b.into_inner().unwrap().flush().unwrap();
    }
    let f = Fixture { _t: t, src, dest };
    let c = ctx(&both(&f));
    let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileContentTooLargeError, "{e:?}");
    assert!(e.to_string().contains("10000 entries"), "{e}");
    assert!(tree(&f.dest).is_empty());
}

/// 3,000 files spread over ~760 nested directories, interleaved so that consecutive entries
/// rarely share a directory (more directories than the extraction keeps open at once).
fn many_nested() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for a in 0..4 {
        let mut h = header(tar::EntryType::Directory, 0, 0o750);
        b.append_data(&mut h, format!("t{a}/"), &[][..]).unwrap();
    }
    for i in 0..3000 {
        let data = format!("file {i}");
        let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o640);
        let path = format!("t{}/u{}/v{}/w/f{i}", i % 4, (i / 4) % 10, i % 9);
        b.append_data(&mut h, path, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn thousands_of_entries_in_nested_directories() {
    let f = fixture(&gz(&many_nested()));
    // One directory exists already (merged into, keeps its mode).
    fs::create_dir_all(f.dest.join("t1/u3")).unwrap();
    fs::set_permissions(f.dest.join("t1/u3"), fs::Permissions::from_mode(0o711)).unwrap();
    let c = ctx(&both(&f));
    let r = extract(&c, &f, ExtractArchiveOptions::default()).unwrap();
    assert_eq!(r.extracted.len(), 3004);
    assert!(r.skipped.is_empty());
    let t = tree(&f.dest);
    let files: Vec<&String> = t.iter().filter(|p| !p.ends_with('/')).collect();
    assert_eq!(files.len(), 3000);
    for i in 0..3000 {
        let path = format!("t{}/u{}/v{}/w/f{i}", i % 4, (i / 4) % 10, i % 9);
        assert_eq!(
            fs::read_to_string(f.dest.join(&path)).unwrap(),
            format!("file {i}"),
            "{path}"
        );
    }
    let mode = |p: &str| fs::metadata(f.dest.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("t0"), 0o750);
    assert_eq!(mode("t0/u0/v0/w"), 0o755);
    assert_eq!(mode("t1/u3"), 0o711);
    assert_eq!(mode("t2/u2/v8/w/f2330"), 0o640);
    // Nothing but the archive's paths (and the existing directory) was created.
    assert!(t.iter().all(|p| p.starts_with('t')), "{t:?}");
}

#[test]
fn thousands_of_entries_denied_or_failing_leave_nothing() {
    let f = fixture(&many_nested());
    fs::create_dir(f.dest.join("t0")).unwrap();
    fs::write(f.dest.join("t0/keep"), "k").unwrap();
    let before = tree(&f.dest);
    // The last file is refused: nothing is written, not even the directories before it.
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"write\", resource == file_system::File::\"{}/t3/u9/v2/w/f2999\");",
        both(&f),
        s(&f.dest)
    );
    let e = extract(&ctx(&pol), &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
    assert_eq!(tree(&f.dest), before);

    // The first file's path is taken by a directory: the failure comes after every entry is
    // staged (hundreds of directories created), and all of it is rolled back.
    fs::create_dir_all(f.dest.join("t0/u0/v0/w/f0")).unwrap();
    let before = tree(&f.dest);
    let e = extract(&ctx(&both(&f)), &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::EntryTypeMismatchError, "{e:?}");
    assert_eq!(tree(&f.dest), before);
}

#[test]
fn entry_count_limit_is_exact() {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..50 {
        let mut h = header(tar::EntryType::Regular, 1, 0o644);
        b.append_data(&mut h, format!("d/f{i}"), &b"x"[..]).unwrap();
    }
    let f = fixture(&b.into_inner().unwrap());
    let c = ctx(&both(&f));
    let opts = |n| ExtractArchiveOptions {
        max_entries: n,
        ..Default::default()
    };
    let e = extract(&c, &f, opts(49)).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileContentTooLargeError, "{e:?}");
    assert!(tree(&f.dest).is_empty());
    let r = extract(&c, &f, opts(50)).unwrap();
    assert_eq!(r.extracted.len(), 50);
    assert_eq!(fs::read(f.dest.join("d/f49")).unwrap(), b"x");
}

#[test]
fn size_bomb_ends_in_a_clear_error() {
    // 64 MiB of zeros in one entry compresses to ~64 KiB.
    let size: u64 = 64 << 20;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut enc);
        let mut h = header(tar::EntryType::Regular, size, 0o644);
        b.append_data(&mut h, "zeros", std::io::repeat(0).take_n(size))
            .unwrap();
        b.finish().unwrap();
    }
    let data = enc.finish().unwrap();
    assert!(data.len() < 1 << 20);
    let f = fixture(&data);
    let c = ctx(&both(&f));
    let opts = ExtractArchiveOptions {
        max_total_bytes: 1 << 20,
        ..Default::default()
    };
    let e = extract(&c, &f, opts).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileContentTooLargeError, "{e:?}");
    assert!(e.to_string().contains("1048576 bytes"), "{e}");
    assert!(tree(&f.dest).is_empty());

    // A gzip of plain zeros (not a tar): the decompressed stream cap ends it too.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::copy(&mut std::io::repeat(1).take_n(8 << 20), &mut enc).unwrap();
    let f = fixture(&enc.finish().unwrap());
    let c = ctx(&both(&f));
    let e = extract(&c, &f, opts).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            FsErrorKind::FileContentTooLargeError | FsErrorKind::FileReadError
        ),
        "{e:?}"
    );
    assert!(tree(&f.dest).is_empty());
}

#[test]
fn garbage_is_a_clear_error() {
    let f = fixture(b"this is not a tar archive at all, just some text that is long enough");
    let c = ctx(&both(&f));
    let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileReadError, "{e:?}");
    assert!(tree(&f.dest).is_empty());
}

#[test]
fn truncated_archive_rolls_back() {
    let mut data = gz(&{
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 5, 0o644);
        b.append_data(&mut h, "d/one", &b"first"[..]).unwrap();
        let big = vec![7u8; 200_000];
        let mut h = header(tar::EntryType::Regular, big.len() as u64, 0o644);
        b.append_data(&mut h, "d/two", &big[..]).unwrap();
        b.into_inner().unwrap()
    });
    data.truncate(data.len() / 2);
    let f = fixture(&data);
    let c = ctx(&both(&f));
    assert!(extract(&c, &f, ExtractArchiveOptions::default()).is_err());
    assert!(tree(&f.dest).is_empty());
}

#[test]
fn duplicate_and_conflicting_entries_are_refused() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Regular, 1, 0o644);
    b.append_data(&mut h, "a", &b"1"[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 1, 0o644);
    b.append_data(&mut h, "a/b", &b"2"[..]).unwrap();
    let f = fixture(&b.into_inner().unwrap());
    let c = ctx(&both(&f));
    let e = extract(&c, &f, ExtractArchiveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileReadError, "{e:?}");
    assert!(tree(&f.dest).is_empty());
}

trait TakeN: std::io::Read + Sized {
    fn take_n(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeN for R {}
