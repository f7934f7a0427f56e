//! Follow-mode opens (the path helpers `cat`, `ls`, ... use them): a path without symlinks is
//! resolved by the kernel with `RESOLVE_NO_SYMLINKS` and names itself; a path through a
//! symlink still names (and authorizes) its target; a directory opened this way finds its
//! parent from the authorized path when it is deleted or moved, and refuses if that path no
//! longer names it. Whole-file reads return exactly the content at every size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::fs;
use std::path::Path;

use common::*;
use proptest::prelude::*;
use rust_sdk::fs::*;

fn follow(c: &rust_sdk::SdkContext, p: &Path) -> Result<DirHandle, FsError> {
    DirHandle::open(
        c,
        &s(p),
        OpenDirOptions {
            follow_symlinks: true,
            ..Default::default()
        },
    )
}

#[test]
fn follow_open_without_symlinks_names_the_path_and_can_delete_it() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("a/b");
    fs::create_dir_all(&d).unwrap();
    let c = ctx(&all(t.path()));
    let h = follow(&c, &d).unwrap();
    assert_eq!(h.path().as_str(), s(&d));
    h.delete(&c, DeleteDirOptions::default()).unwrap();
    assert!(!d.exists());
    assert!(
        t.path().join("a").is_dir(),
        "only the directory itself went"
    );
}

#[test]
fn follow_open_delete_denied_leaves_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("keep");
    fs::create_dir(&d).unwrap();
    let c = ctx(&only(t.path(), &["open"]));
    let h = follow(&c, &d).unwrap();
    denied(h.delete(&c, DeleteDirOptions::default()));
    assert!(d.is_dir());
}

#[test]
fn follow_open_delete_acts_on_the_held_directory_where_it_is_now() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("x");
    fs::create_dir(&d).unwrap();
    fs::create_dir(t.path().join("elsewhere")).unwrap();
    let c = ctx(&all(t.path()));
    let h = follow(&c, &d).unwrap();
    // The held directory moves away and another one takes its name. The handle's path is
    // re-derived from its fd (issue 19), so the delete is authorized at, and removes, the
    // held directory at its new path; the newcomer is never touched.
    fs::rename(&d, t.path().join("elsewhere/x")).unwrap();
    fs::create_dir(&d).unwrap();
    h.delete(&c, DeleteDirOptions::default()).unwrap();
    assert!(d.is_dir(), "the newcomer at the opened path is kept");
    assert!(!t.path().join("elsewhere/x").exists());
}

#[test]
fn follow_open_delete_is_authorized_where_the_directory_moved() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("x");
    fs::create_dir(&d).unwrap();
    fs::create_dir(t.path().join("kept")).unwrap();
    let kept = t.path().join("kept");
    let c = ctx(&format!(
        "{}\nforbid(principal, action == file_system::Action::\"delete\", resource in file_system::Dir::\"{}\");",
        all(t.path()),
        kept.display()
    ));
    let h = follow(&c, &d).unwrap();
    fs::rename(&d, kept.join("x")).unwrap();
    denied(h.delete(&c, DeleteDirOptions::default()));
    assert!(kept.join("x").is_dir());
}

#[test]
fn follow_open_dir_can_be_moved() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("from");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), "x").unwrap();
    let c = ctx(&all(t.path()));
    let h = follow(&c, &d).unwrap();
    let dest = open_dir(&c, t.path());
    let moved = h.move_to(&c, &dest, "to").unwrap();
    assert_eq!(moved.path().as_str(), s(&t.path().join("to")));
    assert!(!d.exists());
    assert_eq!(fs::read_to_string(t.path().join("to/f")).unwrap(), "x");
}

#[test]
fn follow_open_through_a_symlink_names_and_authorizes_the_target() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir(outside.path().join("real")).unwrap();
    fs::write(outside.path().join("real/f"), "target").unwrap();
    std::os::unix::fs::symlink(outside.path().join("real"), t.path().join("link")).unwrap();
    // Allowed under `t` only: the target is refused.
    let c = ctx(&all(t.path()));
    denied(follow(&c, &t.path().join("link")));
    // Allowed on both: the handle names the target.
    let c = ctx(&format!("{}\n{}", all(t.path()), all(outside.path())));
    let h = follow(&c, &t.path().join("link")).unwrap();
    assert_eq!(h.path().as_str(), s(&outside.path().join("real")));
    let f = h.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    assert_eq!(f.read(&c).unwrap(), "target");
    // Deleting through the resolved handle removes the target directory, not the link.
    fs::remove_file(outside.path().join("real/f")).unwrap();
    h.delete(&c, DeleteDirOptions::default()).unwrap();
    assert!(!outside.path().join("real").exists());
    assert!(fs::symlink_metadata(t.path().join("link")).is_ok());
}

#[test]
fn follow_mode_file_through_a_symlink_is_checked_on_the_target() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "SECRET").unwrap();
    fs::write(t.path().join("plain"), "plain").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), t.path().join("l")).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let opts = OpenFileOptions {
        read: true,
        follow_symlinks: true,
        ..Default::default()
    };
    let plain = d.open_file(&c, "plain", opts).unwrap();
    assert_eq!(plain.path().as_str(), s(&t.path().join("plain")));
    assert_eq!(plain.read(&c).unwrap(), "plain");
    denied(d.open_file(&c, "l", opts));
}

#[test]
fn whole_file_reads_at_buffer_boundaries() {
    let t = tempfile::tempdir().unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    for size in [0usize, 1, 4095, 4096, 4097, 8192, 65_537, 1_048_583] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(t.path().join("f"), &data).unwrap();
        let got = d
            .open_file(&c, "f", OpenFileOptions::read())
            .unwrap()
            .read_bytes(&c)
            .unwrap();
        assert_eq!(got.len(), size);
        assert!(got == data, "content differs at size {size}");
    }
}

#[test]
fn whole_file_read_of_a_file_without_a_size() {
    // procfs reports size 0 for its files; the read must not trust the size.
    let c = user_ctx(&all(Path::new("/proc")));
    let Ok(d) = follow(&c, Path::new("/proc/self")) else {
        eprintln!("skipped: /proc/self cannot be opened here");
        return;
    };
    let text = d
        .open_file(&c, "status", OpenFileOptions::read())
        .unwrap()
        .read(&c)
        .unwrap();
    assert!(text.contains("Name:") && text.contains("Pid:"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn whole_file_read_returns_exactly_the_content(data in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("f"), &data).unwrap();
        let c = ctx(&all(t.path()));
        let got = open_dir(&c, t.path())
            .open_file(&c, "f", OpenFileOptions::read())
            .unwrap()
            .read_bytes(&c)
            .unwrap();
        prop_assert_eq!(got, data);
    }
}
