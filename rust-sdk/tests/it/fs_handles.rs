//! Handle API: every operation allowed (real effect) and denied (nothing changed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use rust_sdk::SdkLimits;
use rust_sdk::fs::*;

fn snapshot(p: &Path) -> Option<(Vec<u8>, i64, i64, u64)> {
    let m = fs::symlink_metadata(p).ok()?;
    let c = if m.is_file() {
        fs::read(p).unwrap()
    } else {
        Vec::new()
    };
    Some((c, m.mtime(), m.mtime_nsec(), m.ino()))
}

#[test]
fn open_dir_allowed_and_denied() {
    let t = tempfile::tempdir().unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    assert_eq!(d.path().as_str(), s(t.path()));
    let other = tempfile::tempdir().unwrap();
    denied(DirHandle::open(
        &c,
        &s(other.path()),
        OpenDirOptions::default(),
    ));
    // Path normalisation: `//` and trailing slash.
    let weird = format!("{}//./", s(t.path()));
    assert_eq!(
        DirHandle::open(&c, &weird, OpenDirOptions::default())
            .unwrap()
            .path()
            .as_str(),
        s(t.path())
    );
    let e = DirHandle::open(
        &c,
        &format!("{}/../x", s(t.path())),
        OpenDirOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::InvalidPath);
    let e = DirHandle::open(&c, "relative", OpenDirOptions::default()).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::InvalidPath);
}

#[test]
fn open_dir_create_recursive_checks_every_component() {
    let t = tempfile::tempdir().unwrap();
    let leaf = t.path().join("a/b/c");
    // create allowed only on the leaf: denied, nothing created.
    let pol = format!(
        "{}\npermit(principal, action == file_system::Action::\"create\", resource == file_system::Dir::\"{}\");",
        only(t.path(), &["open"]),
        s(&leaf)
    );
    let c = ctx(&pol);
    let opts = OpenDirOptions {
        create: true,
        recursive: true,
        follow_symlinks: false,
    };
    denied(DirHandle::open(&c, &s(&leaf), opts));
    assert!(!t.path().join("a").exists());
    let c = ctx(&all(t.path()));
    let d = DirHandle::open(&c, &s(&leaf), opts).unwrap();
    assert!(leaf.is_dir());
    assert_eq!(d.path().as_str(), s(&leaf));
    // Non-recursive create of a deep path fails with NotFound.
    let e = DirHandle::open(
        &c,
        &s(&t.path().join("x/y")),
        OpenDirOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::NotFound);
}

#[test]
fn open_file_read_create_and_denied() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("f"), "hello\n").unwrap();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let d = open_dir(&c, t.path());
    let f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    assert_eq!(f.read(&c).unwrap(), "hello\n");
    // create denied: file not created.
    denied(d.open_file(&c, "new", OpenFileOptions::create()));
    assert!(!t.path().join("new").exists());
    // names must be single components
    assert_eq!(
        d.open_file(&c, "../f", OpenFileOptions::read())
            .unwrap_err()
            .kind(),
        FsErrorKind::InvalidPath
    );
    assert_eq!(
        d.open_file(&c, "..", OpenFileOptions::read())
            .unwrap_err()
            .kind(),
        FsErrorKind::InvalidPath
    );
    let c2 = ctx(&all(t.path()));
    let d2 = open_dir(&c2, t.path());
    let n = d2
        .open_file(
            &c2,
            "new",
            OpenFileOptions {
                create: true,
                permissions: Some(0o600),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(t.path().join("new").exists());
    assert_eq!(n.metadata(&c2).unwrap().permissions & 0o077, 0);
    // open denied entirely
    let c3 = ctx(&only(t.path(), &["read"]));
    denied(DirHandle::open(
        &c3,
        &s(t.path()),
        OpenDirOptions::default(),
    ));
}

#[test]
fn read_limits_empty_and_large() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("empty"), "").unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    fs::write(t.path().join("big"), &big).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    assert_eq!(
        d.open_file(&c, "empty", OpenFileOptions::read())
            .unwrap()
            .read(&c)
            .unwrap(),
        ""
    );
    assert_eq!(
        d.open_file(&c, "big", OpenFileOptions::read())
            .unwrap()
            .read_bytes(&c)
            .unwrap(),
        big
    );
    let small = c.clone().with_limits(SdkLimits {
        max_read_bytes: 1024,
        ..SdkLimits::default()
    });
    let e = d
        .open_file(&small, "big", OpenFileOptions::read())
        .unwrap()
        .read(&small)
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileContentTooLargeError);
    // read denied
    let c2 = ctx(&only(t.path(), &["open"]));
    let d2 = open_dir(&c2, t.path());
    denied(
        d2.open_file(&c2, "big", OpenFileOptions::read())
            .unwrap()
            .read(&c2),
    );
}

#[test]
fn line_operations() {
    let t = tempfile::tempdir().unwrap();
    fs::write(
        t.path().join("f"),
        "one two\nthree\nfour five six\nseven\n\x01\x02binary_string\n",
    )
    .unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let mut f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    assert_eq!(
        f.read_lines(&c, Some(2), Some(2)).unwrap(),
        vec!["three", "four five six"]
    );
    assert_eq!(
        f.read_lines(&c, None, Some(-2)).unwrap(),
        vec!["seven", "\x01\x02binary_string"]
    );
    assert_eq!(f.read_page(&c, 2).unwrap(), vec!["one two", "three"]);
    assert_eq!(f.read_page(&c, 2).unwrap(), vec!["four five six", "seven"]);
    assert_eq!(f.read_page(&c, 5).unwrap().len(), 1);
    assert!(f.read_page(&c, 5).unwrap().is_empty());
    let m = f.search(&c, "f[io]").unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].line_number, 3);
    let k = f.counts(&c).unwrap();
    assert_eq!((k.line_count, k.word_count), (5, 8));
    assert_eq!(
        f.extract_strings(&c).unwrap(),
        vec![
            "one two",
            "three",
            "four five six",
            "seven",
            "binary_string"
        ]
    );
    assert!(
        f.extract_strings(&c)
            .unwrap()
            .contains(&"binary_string".to_string())
    );
    let c2 = ctx(&only(t.path(), &["open"]));
    let mut g = open_dir(&c2, t.path())
        .open_file(&c2, "f", OpenFileOptions::read())
        .unwrap();
    denied(g.read_lines(&c2, None, None));
    denied(g.read_page(&c2, 1));
    denied(g.search(&c2, "x"));
    denied(g.counts(&c2));
    denied(g.extract_strings(&c2));
}

#[test]
fn write_is_atomic_and_keeps_mode() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f");
    fs::write(&p, "old").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
    let before = snapshot(&p).unwrap();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read_write())
        .unwrap();
    denied(f.write(&c, "new", WriteOptions::default()));
    denied(f.write_in_place(&c, "new"));
    denied(f.append(&c, "new"));
    denied(f.truncate(&c, 0));
    denied(f.touch(&c));
    assert_eq!(snapshot(&p).unwrap(), before);
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        1,
        "no temp file left"
    );
    let c = ctx(&all(t.path()));
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read_write())
        .unwrap();
    let g = f
        .write(
            &c,
            "new content",
            WriteOptions {
                preserve_ownership: true,
            },
        )
        .unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "new content");
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_ne!(fs::metadata(&p).unwrap().ino(), before.3);
    assert_eq!(g.read(&c).unwrap(), "new content");
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    g.write_in_place(&c, "abc").unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "abc");
    g.append(&c, "def").unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "abcdef");
    g.truncate(&c, 2).unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "ab");
    let m0 = fs::metadata(&p).unwrap().mtime_nsec();
    let _ = m0;
    let old = filetime_set_old(&p);
    g.touch(&c).unwrap();
    assert!(fs::metadata(&p).unwrap().mtime() > old);
}

fn filetime_set_old(p: &Path) -> i64 {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    1_000_000
}

#[test]
fn append_without_read_never_overwrites() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("log");
    fs::write(&p, "line1\n").unwrap();
    let c = ctx(&only(t.path(), &["open", "write"]));
    let f = open_dir(&c, t.path())
        .open_file(
            &c,
            "log",
            OpenFileOptions {
                write: true,
                ..Default::default()
            },
        )
        .unwrap();
    f.append(&c, "line2\n").unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "line1\nline2\n");
}

#[test]
fn list_entries_and_metadata() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "1").unwrap();
    fs::create_dir(t.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.path().join("ln")).unwrap();
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(t.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")), "x").unwrap();
    }
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let l = d.list_entries(&c).unwrap();
    assert_eq!(l.len(), 4);
    assert_eq!(l["a"].entry_type, EntryType::File);
    assert_eq!(l["sub"].entry_type, EntryType::Dir);
    assert_eq!(l["ln"].entry_type, EntryType::Symlink);
    assert_eq!(
        l["a"].inode,
        fs::metadata(t.path().join("a")).unwrap().ino()
    );
    assert!(l.keys().any(|k| k.starts_with("bad")));
    assert_eq!(d.metadata(&c).unwrap().entry_type, EntryType::Dir);
    let f = l["a"].open_as_file(&c, OpenFileOptions::read()).unwrap();
    assert_eq!(f.metadata(&c).unwrap().size, 1);
    assert_eq!(
        l["sub"].open_as_dir(&c).unwrap().path().as_str(),
        s(&t.path().join("sub"))
    );
    let c2 = ctx(&only(t.path(), &["open"]));
    let d2 = open_dir(&c2, t.path());
    denied(d2.list_entries(&c2));
    denied(d2.metadata(&c2));
    denied(
        d2.open_file(&c2, "a", OpenFileOptions::read())
            .unwrap()
            .metadata(&c2),
    );
    denied(d2.get_ownership(&c2));
}

#[test]
fn chmod_and_chown() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f");
    fs::write(&p, "x").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    let c = ctx(&only(t.path(), &["open", "stat"]));
    let d = open_dir(&c, t.path());
    let f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    let uid = nix::unistd::getuid().as_raw().to_string();
    denied(f.chmod(&c, 0o644));
    denied(d.chmod(&c, 0o700));
    denied(f.set_ownership(&c, Some(&uid), None));
    denied(d.set_ownership(&c, Some(&uid), None));
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    f.chmod(&c, 0o644).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        f.chmod(&c, 0o1777).unwrap_err().kind(),
        FsErrorKind::InvalidFileMode
    );
    f.set_ownership(&c, Some(&uid), None).unwrap();
    d.set_ownership(&c, None, Some(&nix::unistd::getgid().as_raw().to_string()))
        .unwrap();
    let o = f.get_ownership(&c).unwrap();
    assert!(!o.user.is_empty());
    assert_eq!(
        f.set_ownership(&c, Some("no-such-user-rex"), None)
            .unwrap_err()
            .kind(),
        FsErrorKind::IdentityResolutionError
    );
}

#[test]
fn delete_file_and_inode_check() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f");
    fs::write(&p, "x").unwrap();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read())
        .unwrap();
    denied(f.delete(&c));
    assert!(p.exists());
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    // Swap the name to another inode: delete refuses.
    fs::rename(&p, t.path().join("g")).unwrap();
    fs::write(&p, "other").unwrap();
    assert_eq!(f.delete(&c).unwrap_err().kind(), FsErrorKind::FileError);
    assert_eq!(fs::read_to_string(&p).unwrap(), "other");
    let f = d.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    f.delete(&c).unwrap();
    assert!(!p.exists());
}

#[test]
fn delete_dir_recursive_checks_every_entry() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/keep"), "x").unwrap();
    fs::write(root.join("top"), "x").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("o"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"delete\", resource == file_system::File::\"{}\");",
        all(t.path()),
        s(&root.join("a/b/keep"))
    );
    let c = ctx(&pol);
    let d = open_dir(&c, &root);
    denied(d.delete(
        &c,
        DeleteDirOptions {
            recursive: true,
            force: false,
        },
    ));
    assert!(
        root.join("a/b/keep").exists() && root.join("top").exists() && root.join("link").exists()
    );
    // non-recursive on non-empty
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, &root);
    assert_eq!(
        d.delete(&c, DeleteDirOptions::default())
            .unwrap_err()
            .kind(),
        FsErrorKind::DirectoryNotEmpty
    );
    let r = d
        .delete(
            &c,
            DeleteDirOptions {
                recursive: true,
                force: false,
            },
        )
        .unwrap();
    assert!(!root.exists());
    assert!(r.not_removed.is_empty());
    assert_eq!(r.removed.len(), 6);
    assert_eq!(
        fs::read_to_string(outside.path().join("o")).unwrap(),
        "outside",
        "symlink target untouched"
    );
    // empty dir
    fs::create_dir(&root).unwrap();
    open_dir(&c, &root)
        .delete(&c, DeleteDirOptions::default())
        .unwrap();
    assert!(!root.exists());
}

#[test]
fn copy_and_move() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("dst")).unwrap();
    let src = t.path().join("src");
    fs::write(&src, "payload").unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o604)).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let dd = open_dir(&c, &t.path().join("dst"));
    let f = d.open_file(&c, "src", OpenFileOptions::read()).unwrap();
    let g = dd.open_file(&c, "copy", OpenFileOptions::create()).unwrap();
    f.copy_to(
        &c,
        &g,
        CopyFileOptions {
            force: false,
            preserve: true,
        },
    )
    .unwrap();
    let cp = t.path().join("dst/copy");
    assert_eq!(fs::read_to_string(&cp).unwrap(), "payload");
    assert_eq!(
        fs::metadata(&cp).unwrap().permissions().mode() & 0o777,
        0o604
    );
    assert_eq!(
        fs::metadata(&cp).unwrap().mtime(),
        fs::metadata(&src).unwrap().mtime()
    );
    assert_eq!(
        f.copy_to(&c, &g, CopyFileOptions::default())
            .unwrap_err()
            .kind(),
        FsErrorKind::DestinationFileNotEmptyError
    );
    // move denied (no `move`), nothing moved
    let c2 = ctx(&only(t.path(), &["open", "read", "create", "write"]));
    let f2 = open_dir(&c2, t.path())
        .open_file(&c2, "src", OpenFileOptions::read())
        .unwrap();
    denied(f2.move_to(&c2, &open_dir(&c2, &t.path().join("dst")), "moved"));
    assert!(src.exists() && !t.path().join("dst/moved").exists());
    let m = f.move_to(&c, &dd, "moved").unwrap();
    assert!(!src.exists());
    assert_eq!(
        fs::read_to_string(t.path().join("dst/moved")).unwrap(),
        "payload"
    );
    assert_eq!(m.path().as_str(), s(&t.path().join("dst/moved")));
    // move with a destination-conditioned policy
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"move\", resource) when {{ context.destination.name == \"secret\" }};",
        all(t.path())
    );
    let c3 = ctx(&pol);
    let m = open_dir(&c3, &t.path().join("dst"))
        .open_file(&c3, "moved", OpenFileOptions::read())
        .unwrap();
    denied(m.move_to(&c3, &d, "secret"));
    assert!(!t.path().join("secret").exists());
    // directory move
    fs::create_dir(t.path().join("sub")).unwrap();
    let sub = open_dir(&c, &t.path().join("sub"));
    let moved = sub.move_to(&c, &dd, "sub2").unwrap();
    assert!(t.path().join("dst/sub2").is_dir());
    assert_eq!(moved.path().as_str(), s(&t.path().join("dst/sub2")));
}

#[test]
fn symlinks_create_read_and_escape() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "SECRET").unwrap();
    fs::write(t.path().join("inside"), "ok").unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    // target outside the grant: refused, no link created
    denied(d.create_symlink(&c, &s(&outside.path().join("secret")), "l", false));
    assert!(fs::symlink_metadata(t.path().join("l")).is_err());
    d.create_symlink(&c, "inside", "l", false).unwrap();
    assert_eq!(d.read_link_target(&c, "l").unwrap(), "inside");
    d.create_symlink(&c, &s(&t.path().join("inside")), "l", true)
        .unwrap();
    assert_eq!(
        fs::read_link(t.path().join("l")).unwrap(),
        t.path().join("inside")
    );
    // a link to outside, created behind the SDK's back
    std::os::unix::fs::symlink(outside.path().join("secret"), t.path().join("esc")).unwrap();
    let e = d.open_file(&c, "esc", OpenFileOptions::read()).unwrap_err();
    assert_eq!(e.errno(), Some(nix::libc::ELOOP));
    denied(d.open_file(
        &c,
        "esc",
        OpenFileOptions {
            read: true,
            follow_symlinks: true,
            ..Default::default()
        },
    ));
    // following an inside link works
    let f = d
        .open_file(
            &c,
            "l",
            OpenFileOptions {
                read: true,
                follow_symlinks: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(f.read(&c).unwrap(), "ok");
    // directory symlink: no-follow fails, follow checks the real path
    std::os::unix::fs::symlink(outside.path(), t.path().join("dlink")).unwrap();
    assert!(DirHandle::open(&c, &s(&t.path().join("dlink")), OpenDirOptions::default()).is_err());
    denied(DirHandle::open(
        &c,
        &s(&t.path().join("dlink")),
        OpenDirOptions {
            follow_symlinks: true,
            ..Default::default()
        },
    ));
    let c2 = ctx(&only(t.path(), &["open"]));
    denied(open_dir(&c2, t.path()).read_link_target(&c2, "l"));
}

#[test]
fn fifo_does_not_hang_and_hard_links() {
    let t = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(
        &t.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let e = d
        .open_file(&c, "fifo", OpenFileOptions::read())
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::EntryTypeMismatchError);
    assert!(
        d.open_file(
            &c,
            "fifo",
            OpenFileOptions {
                read: true,
                special_file: true,
                ..Default::default()
            }
        )
        .is_ok()
    );
    assert_eq!(
        d.open_file(&c, ".", OpenFileOptions::read())
            .unwrap_err()
            .kind(),
        FsErrorKind::InvalidPath
    );
    fs::create_dir(t.path().join("sub")).unwrap();
    assert_eq!(
        d.open_file(&c, "sub", OpenFileOptions::read())
            .unwrap_err()
            .kind(),
        FsErrorKind::EntryTypeMismatchError
    );
    // hard link: each name authorized by its own path
    fs::write(t.path().join("h1"), "hl").unwrap();
    fs::hard_link(t.path().join("h1"), t.path().join("h2")).unwrap();
    assert_eq!(
        d.open_file(&c, "h2", OpenFileOptions::read())
            .unwrap()
            .read(&c)
            .unwrap(),
        "hl"
    );
}

#[test]
fn find_and_disk_usage() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("a/b")).unwrap();
    fs::write(t.path().join("x.LOG"), vec![0u8; 5000]).unwrap();
    fs::write(t.path().join("a/y.log"), "12").unwrap();
    fs::write(t.path().join("a/b/z.txt"), "1").unwrap();
    fs::hard_link(t.path().join("x.LOG"), t.path().join("a/b/x2")).unwrap();
    std::os::unix::fs::symlink("/", t.path().join("root")).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let names = |o: FindOptions| {
        let mut v: Vec<String> = d
            .find(&c, &o)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(FindOptions {
            name: Some("*.log".into()),
            ..Default::default()
        }),
        vec!["y.log"]
    );
    assert_eq!(
        names(FindOptions {
            iname: Some("*.log".into()),
            ..Default::default()
        }),
        vec!["x.LOG", "y.log"]
    );
    assert_eq!(
        names(FindOptions {
            regex: Some("/a/b/".into()),
            ..Default::default()
        }),
        vec!["x2", "z.txt"]
    );
    assert_eq!(
        names(FindOptions {
            min_size: Some(100),
            entry_type: Some(EntryType::File),
            ..Default::default()
        }),
        vec!["x.LOG", "x2"]
    );
    assert_eq!(
        names(FindOptions {
            max_depth: Some(1),
            entry_type: Some(EntryType::Dir),
            ..Default::default()
        }),
        vec!["a"]
    );
    assert_eq!(
        names(FindOptions {
            min_depth: 3,
            ..Default::default()
        }),
        vec!["x2", "z.txt"]
    );
    let found = d
        .find(
            &c,
            &FindOptions {
                name: Some("z.txt".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(found[0].path, s(&t.path().join("a/b/z.txt")));
    let small = c.clone().with_limits(SdkLimits {
        max_entries: 2,
        ..SdkLimits::default()
    });
    assert!(matches!(
        d.find(&small, &FindOptions::default()),
        Err(FsError::TooManyEntries(2))
    ));
    let du = d
        .disk_usage(
            &c,
            DiskUsageOptions {
                apparent_size: true,
                all_files: true,
                ..Default::default()
            },
        )
        .unwrap();
    let file_bytes = 5000 + 2 + 1; // x2 is a hard link: counted once
    let dir_bytes: u64 = ["", "a", "a/b"]
        .iter()
        .map(|p| fs::metadata(t.path().join(p)).unwrap().len())
        .sum();
    let link_bytes = fs::symlink_metadata(t.path().join("root")).unwrap().len();
    assert_eq!(du.total_size_bytes, file_bytes + dir_bytes + link_bytes);
    assert_eq!(du.entries.last().unwrap().path, s(t.path()));
    let du2 = d
        .disk_usage(
            &c,
            DiskUsageOptions {
                apparent_size: true,
                count_hard_links: true,
                summarize: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(du2.total_size_bytes, du.total_size_bytes + 5000);
    assert_eq!(du2.entries.len(), 1);
    let c2 = ctx(&only(t.path(), &["open"]));
    let d2 = open_dir(&c2, t.path());
    denied(d2.find(&c2, &FindOptions::default()));
    denied(d2.disk_usage(&c2, DiskUsageOptions::default()));
}

#[test]
fn redacted_read_fallback() {
    let t = tempfile::tempdir().unwrap();
    let conf_dir = t.path().join("etc");
    fs::create_dir(&conf_dir).unwrap();
    let conf = conf_dir.join("rex_redaction.config");
    fs::write(&conf, "# allowed\nuser %s logged in (%d)\n").unwrap();
    fs::write(
        t.path().join("log"),
        "user bob logged in (3)\npassword=hunter2\nuser bob logged in (3) extra\n",
    )
    .unwrap();
    let pol = format!(
        "{}\npermit(principal, action == file_system::Action::\"redacted_read\", resource in file_system::Dir::\"{}\");\npermit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource in file_system::Dir::\"{}\");",
        only(t.path(), &["open"]),
        s(t.path()),
        s(&conf_dir)
    );
    let c = ctx(&pol);
    let f = open_dir(&c, t.path())
        .open_file(&c, "log", OpenFileOptions::read())
        .unwrap()
        .with_redaction_config(&s(&conf));
    assert_eq!(
        f.read(&c).unwrap(),
        "user bob logged in (3)\n[REDACTED]\n[REDACTED]\n"
    );
    let m = f.search(&c, "bob").unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].line_number, 1);
    denied(f.read_lines(&c, None, None));
    // without redacted_read: the original denial
    let c2 = ctx(&only(t.path(), &["open"]));
    let f2 = open_dir(&c2, t.path())
        .open_file(&c2, "log", OpenFileOptions::read())
        .unwrap()
        .with_redaction_config(&s(&conf));
    denied(f2.read(&c2));
    // dictionary unreadable: the original denial
    let pol3 = format!(
        "{}\npermit(principal, action == file_system::Action::\"redacted_read\", resource in file_system::Dir::\"{}\");",
        only(t.path(), &["open"]),
        s(t.path())
    );
    let c3 = ctx(&pol3);
    let f3 = open_dir(&c3, t.path())
        .open_file(&c3, "log", OpenFileOptions::read())
        .unwrap()
        .with_redaction_config(&s(&conf));
    denied(f3.read(&c3));
}

#[test]
fn gzip_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    fs::write(t.path().join("plain"), &text).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let src = d.open_file(&c, "plain", OpenFileOptions::read()).unwrap();
    let dst = d
        .open_file(&c, "plain.gz", OpenFileOptions::create())
        .unwrap();
    gzip::compress(&c, &src, &dst, 6).unwrap();
    let gz = d
        .open_file(&c, "plain.gz", OpenFileOptions::read())
        .unwrap();
    assert_eq!(
        gzip::read_gzip_lines(&c, &gz, None, Some(-2)).unwrap(),
        vec!["line 99", "line 100"]
    );
    let info = gzip::gzip_info(&c, &gz).unwrap();
    assert_eq!(info.uncompressed_size_bytes, text.len() as u64);
    assert!(info.compression_ratio < 1.0);
    let hits = gzip::search_gzip(&c, &gz, "LINE 1\\d$", true, Some("13"), 3).unwrap();
    assert_eq!(
        hits.iter().map(|m| m.line_number).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    let small = c.clone().with_limits(SdkLimits {
        max_read_bytes: 100,
        ..SdkLimits::default()
    });
    assert_eq!(
        gzip::gzip_info(&small, &gz).unwrap_err().kind(),
        FsErrorKind::FileContentTooLargeError
    );
    let c2 = ctx(&only(t.path(), &["open", "create"]));
    let d2 = open_dir(&c2, t.path());
    let gz2 = d2
        .open_file(&c2, "plain.gz", OpenFileOptions::read())
        .unwrap();
    denied(gzip::read_gzip_lines(&c2, &gz2, None, None));
    denied(gzip::gzip_info(&c2, &gz2));
    denied(gzip::search_gzip(&c2, &gz2, "x", false, None, 0));
    let before = fs::read(t.path().join("plain.gz")).unwrap();
    let out = d2
        .open_file(&c2, "plain.gz", OpenFileOptions::read_write())
        .unwrap();
    denied(gzip::compress(&c2, &gz2, &out, 6));
    assert_eq!(fs::read(t.path().join("plain.gz")).unwrap(), before);
}

#[test]
fn recursive_chmod_and_chown_check_every_entry() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    fs::create_dir_all(root.join("a")).unwrap();
    fs::write(root.join("a/f"), "x").unwrap();
    fs::write(root.join("g"), "x").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("o"), "x").unwrap();
    fs::set_permissions(outside.path().join("o"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(outside.path().join("o"), root.join("ln")).unwrap();
    for p in ["a/f", "g"] {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"chmod\", resource == file_system::File::\"{}\");",
        all(t.path()),
        s(&root.join("a/f"))
    );
    let c = ctx(&pol);
    let d = open_dir(&c, &root);
    denied(d.chmod_recursive(&c, 0o640));
    assert_eq!((mode("a/f"), mode("g")), (0o600, 0o600));
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, &root);
    let r = d.chmod_recursive(&c, 0o640).unwrap();
    assert_eq!((mode("a/f"), mode("g"), mode("a")), (0o640, 0o640, 0o640));
    assert_eq!(
        fs::metadata(outside.path().join("o"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "link target untouched"
    );
    assert_eq!(r.not_changed.len(), 1);
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o755)).unwrap();
    let uid = nix::unistd::getuid().as_raw().to_string();
    let r = d.set_ownership_recursive(&c, Some(&uid), None).unwrap();
    assert!(r.not_changed.is_empty(), "{r:?}");
    assert_eq!(r.changed.len(), 5);
    let c2 = ctx(&only(t.path(), &["open", "chmod"]));
    denied(open_dir(&c2, &root).set_ownership_recursive(&c2, Some(&uid), None));
}

#[test]
fn copy_denied_and_entry_metadata() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("src"), "payload").unwrap();
    fs::write(t.path().join("dst"), "").unwrap();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let d = open_dir(&c, t.path());
    let f = d.open_file(&c, "src", OpenFileOptions::read()).unwrap();
    let g = d
        .open_file(&c, "dst", OpenFileOptions::read_write())
        .unwrap();
    denied(f.copy_to(&c, &g, CopyFileOptions::default()));
    assert_eq!(fs::read(t.path().join("dst")).unwrap(), b"");
    let e = &d.list_entries(&c).unwrap()["src"];
    denied(e.metadata(&c));
    let c2 = ctx(&all(t.path()));
    let d2 = open_dir(&c2, t.path());
    let e = &d2.list_entries(&c2).unwrap()["src"];
    assert_eq!(e.metadata(&c2).unwrap().size, 7);
    assert_eq!(
        d2.entry_metadata(&c2, "src").unwrap().entry_type,
        EntryType::File
    );
}

#[test]
fn follow_mode_checks_apply_to_the_target() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "SECRET").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), t.path().join("l")).unwrap();
    // open (not read) on the outside target: the link opens, but reading checks the target.
    let pol = format!("{}\n{}", all(t.path()), only(outside.path(), &["open"]));
    let c = ctx(&pol);
    let f = open_dir(&c, t.path())
        .open_file(
            &c,
            "l",
            OpenFileOptions {
                read: true,
                follow_symlinks: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(f.path().as_str(), s(&outside.path().join("secret")));
    denied(f.read(&c));
}

#[test]
fn move_across_filesystems_and_one_file_system() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir()
        || fs::metadata(shm).unwrap().dev() == fs::metadata(std::env::temp_dir()).unwrap().dev()
    {
        return; // needs a second file system
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir_in(shm).unwrap();
    fs::write(a.path().join("f"), "cross").unwrap();
    let pol = format!("{}\n{}", all(a.path()), all(b.path()));
    let c = ctx(&pol);
    let f = open_dir(&c, a.path())
        .open_file(&c, "f", OpenFileOptions::read())
        .unwrap();
    let m = f.move_to(&c, &open_dir(&c, b.path()), "g").unwrap();
    assert!(!a.path().join("f").exists());
    assert_eq!(fs::read_to_string(b.path().join("g")).unwrap(), "cross");
    assert_eq!(m.read(&c).unwrap(), "cross");
}

/// Issue 28: a directory moves across file systems (copy, rename into place, then remove the
/// source), keeping modes and links; one it cannot copy (a FIFO inside) fails with the source
/// untouched and no temporary copy left behind; a forbidden entry fails before any copy.
#[test]
fn directory_move_across_filesystems_copies_then_removes() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir()
        || fs::metadata(shm).unwrap().dev() == fs::metadata(std::env::temp_dir()).unwrap().dev()
    {
        eprintln!("SKIPPED: needs /dev/shm on another file system");
        return;
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir_in(shm).unwrap();
    let src = a.path().join("vault");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    fs::write(src.join("top.txt"), "top").unwrap();
    fs::write(src.join("sub/deeper/leaf.txt"), "leaf").unwrap();
    fs::set_permissions(src.join("top.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("top.txt", src.join("link")).unwrap();
    let pol = format!("{}\n{}", all(a.path()), all(b.path()));
    let c = ctx(&pol);
    let d = open_dir(&c, &src);
    let moved = d.move_to(&c, &open_dir(&c, b.path()), "vault2").unwrap();
    let dest = b.path().join("vault2");
    assert!(!src.exists());
    assert_eq!(moved.path().as_str(), s(&dest));
    assert_eq!(fs::read_to_string(dest.join("top.txt")).unwrap(), "top");
    assert_eq!(
        fs::read_to_string(dest.join("sub/deeper/leaf.txt")).unwrap(),
        "leaf"
    );
    assert_eq!(
        fs::metadata(dest.join("top.txt")).unwrap().mode() & 0o777,
        0o640
    );
    assert_eq!(
        fs::metadata(dest.join("sub")).unwrap().mode() & 0o777,
        0o750
    );
    assert_eq!(
        fs::read_link(dest.join("link")).unwrap(),
        Path::new("top.txt")
    );
    let leftovers = |dir: &Path| {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".rex-tmp")
            })
            .count()
    };
    assert_eq!(leftovers(b.path()), 0);

    // A FIFO cannot be copied: the move fails, nothing moved, no copy left.
    let src2 = a.path().join("with-fifo");
    fs::create_dir(&src2).unwrap();
    fs::write(src2.join("keep.txt"), "keep").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src2.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let e = open_dir(&c, &src2)
        .move_to(&c, &open_dir(&c, b.path()), "with-fifo")
        .unwrap_err();
    assert!(e.to_string().contains("cannot be copied"), "{e}");
    assert_eq!(fs::read_to_string(src2.join("keep.txt")).unwrap(), "keep");
    assert!(!b.path().join("with-fifo").exists());
    assert_eq!(leftovers(b.path()), 0);

    // A carried entry whose move is forbidden: refused before anything is copied.
    let src3 = a.path().join("guarded");
    fs::create_dir(&src3).unwrap();
    fs::write(src3.join("secret.txt"), "s").unwrap();
    let pol = format!(
        "{}\n{}\nforbid(principal, action == file_system::Action::\"move\", resource == file_system::File::\"{}\");",
        all(a.path()),
        all(b.path()),
        src3.join("secret.txt").display()
    );
    let c = ctx(&pol);
    denied(open_dir(&c, &src3).move_to(&c, &open_dir(&c, b.path()), "guarded"));
    assert!(src3.join("secret.txt").exists());
    assert!(!b.path().join("guarded").exists());
}

#[test]
fn recursive_delete_with_non_utf8_name_fails_closed() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("ok"), "x").unwrap();
    fs::write(root.join(std::ffi::OsStr::from_bytes(b"bad\xff")), "x").unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, &root);
    let e = d
        .delete(
            &c,
            DeleteDirOptions {
                recursive: true,
                force: false,
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::InvalidPath);
    assert!(root.join("ok").exists());
    let r = DirHandle::open(&c, "/", OpenDirOptions::default());
    denied(r);
}
