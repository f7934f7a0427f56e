//! Shell-style helpers: allowed effect and denied no-op for each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;
use rust_sdk::fs::commands::*;
use rust_sdk::fs::{CopyFileOptions, DiskUsageOptions, EntryType, FsErrorKind};

fn fixture() -> (tempfile::TempDir, String) {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("f.txt");
    fs::write(&f, "alpha 1\nbeta 2\nGamma 3\ndelta x\nalpha 5\n").unwrap();
    (t, s(&f))
}

#[test]
fn cat_grep_tail_wc() {
    let (t, f) = fixture();
    let c = ctx(&all(t.path()));
    assert!(cat(&c, &f, false).unwrap().starts_with("alpha 1\n"));
    let n = cat(&c, &f, true).unwrap();
    assert!(n.starts_with("     1\talpha 1\n     2\tbeta 2"));
    assert_eq!(
        grep(&c, "alpha", &f, GrepOptions::default()).unwrap(),
        vec!["alpha 1", "alpha 5"]
    );
    assert_eq!(
        grep(
            &c,
            "gamma",
            &f,
            GrepOptions {
                ignore_case: true,
                line_number: true,
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["3:Gamma 3"]
    );
    assert_eq!(
        grep(
            &c,
            "alpha",
            &f,
            GrepOptions {
                count: true,
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["2"]
    );
    assert_eq!(
        grep(
            &c,
            "a",
            &f,
            GrepOptions {
                invert: true,
                ..Default::default()
            }
        )
        .unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        grep(
            &c,
            "a",
            &f,
            GrepOptions {
                max_count: Some(1),
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["alpha 1"]
    );
    assert_eq!(
        tail(&c, &f, TailMode::Last(2)).unwrap(),
        vec!["delta x", "alpha 5"]
    );
    assert_eq!(
        tail(&c, &f, TailMode::Last(-2)).unwrap(),
        vec!["delta x", "alpha 5"]
    );
    assert_eq!(tail(&c, &f, TailMode::default()).unwrap().len(), 5);
    assert_eq!(
        tail(&c, &f, TailMode::From(4)).unwrap(),
        vec!["delta x", "alpha 5"]
    );
    assert_eq!(
        tail(&c, &f, TailMode::Range(2, 3)).unwrap(),
        vec!["beta 2", "Gamma 3"]
    );
    let w = wc(&c, &f).unwrap();
    assert_eq!((w.line_count, w.word_count, w.byte_count), (5, 10, 39));
    let c2 = ctx(&only(t.path(), &["open"]));
    denied(cat(&c2, &f, false));
    denied(grep(&c2, "a", &f, GrepOptions::default()));
    denied(tail(&c2, &f, TailMode::default()));
    denied(wc(&c2, &f));
}

#[test]
fn awk_helpers() {
    let (t, f) = fixture();
    let c = ctx(&all(t.path()));
    assert_eq!(awk_split("a  b c", " "), vec!["a", "b", "c"]);
    assert_eq!(awk_split("a,b,,c", ","), vec!["a", "b", "", "c"]);
    assert_eq!(
        awk_field(&c, 2, " ", &f).unwrap(),
        vec!["1", "2", "3", "x", "5"]
    );
    assert_eq!(awk_filter(&c, "ta", &f).unwrap(), vec!["beta 2", "delta x"]);
    assert_eq!(
        awk_filter_field(&c, 1, " ", "alp", &f).unwrap(),
        vec!["alpha 1", "alpha 5"]
    );
    assert!((awk_sum(&c, 2, " ", &f).unwrap() - 11.0).abs() < 1e-9);
    assert_eq!(awk_count_unique(&c, 1, " ", &f).unwrap()["alpha"], 2);
    assert_eq!(
        awk_filter_range(&c, 1, 2, &f).unwrap(),
        vec!["alpha 1", "beta 2"]
    );
    let c2 = ctx(&only(t.path(), &["open"]));
    denied(awk_field(&c2, 1, " ", &f));
    denied(awk_filter(&c2, "a", &f));
    denied(awk_filter_field(&c2, 1, " ", "a", &f));
    denied(awk_sum(&c2, 1, " ", &f));
    denied(awk_count_unique(&c2, 1, " ", &f));
    denied(awk_filter_range(&c2, 1, 2, &f));
    assert_eq!(seq(1, 5, 2, 100).unwrap(), vec![1, 3, 5]);
    assert_eq!(seq(3, 1, -1, 100).unwrap(), vec![3, 2, 1]);
    assert_eq!(seq(i64::MAX - 1, i64::MAX, 1, 100).unwrap().len(), 2);
    assert!(seq(0, i64::MAX, 1, 100).is_err());
    assert!(seq(0, 1, 0, 100).is_err());
}

#[test]
fn sed_in_place_and_denied() {
    let (t, f) = fixture();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let before = fs::read_to_string(&f).unwrap();
    assert_eq!(
        sed(&c, "alpha", "A", &f, SedOptions::default()).unwrap(),
        before.replacen("alpha", "A", 1)
    );
    denied(sed(
        &c,
        "alpha",
        "A",
        &f,
        SedOptions {
            in_place: true,
            ..Default::default()
        },
    ));
    assert_eq!(fs::read_to_string(&f).unwrap(), before);
    let c = ctx(&all(t.path()));
    let out = sed(
        &c,
        r"(\w+) (\d)",
        "$2-$1",
        &f,
        SedOptions {
            regex: true,
            all: true,
            in_place: true,
        },
    )
    .unwrap();
    assert!(out.starts_with("1-alpha\n2-beta"));
    assert_eq!(fs::read_to_string(&f).unwrap(), out);
    assert!(
        sed(&c, ".", "x", &f, SedOptions::default())
            .unwrap()
            .contains("1-alpha"),
        "literal by default"
    );
}

#[test]
fn write_append_replace_touch() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("w");
    let c = ctx(&only(t.path(), &["open", "create", "write"]));
    write(&c, &s(&p), "a\n", false).unwrap();
    write(&c, &s(&p), "b\n", false).unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "a\nb\n");
    write(&c, &s(&p), "c\n", true).unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "c\n");
    let c2 = ctx(&only(t.path(), &["open", "create"]));
    let ino = fs::metadata(&p).unwrap().ino();
    denied(write(&c2, &s(&p), "zzz", false));
    denied(write(&c2, &s(&p), "zzz", true));
    assert_eq!(fs::read_to_string(&p).unwrap(), "c\n");
    assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
    denied(write(&c2, &s(&t.path().join("new")), "x", false));
    assert!(!t.path().join("new").exists());
    // touch: create, then update mtime
    let tp = t.path().join("t");
    touch(&c, &s(&tp)).unwrap();
    assert!(tp.exists());
    fs::File::options()
        .write(true)
        .open(&tp)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH)
        .unwrap();
    touch(&c, &s(&tp)).unwrap();
    assert!(fs::metadata(&tp).unwrap().mtime() > 1_000_000);
    let c3 = ctx(&only(t.path(), &["open"]));
    fs::File::options()
        .write(true)
        .open(&tp)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH)
        .unwrap();
    denied(touch(&c3, &s(&tp)));
    assert_eq!(fs::metadata(&tp).unwrap().mtime(), 0);
    denied(touch(&c3, &s(&t.path().join("t2"))));
    assert!(!t.path().join("t2").exists());
}

#[test]
fn rm_mkdir_cp_mv() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let deny = ctx(&only(root, &["open", "read"]));
    let c = ctx(&all(root));
    // mkdir
    denied(mkdir(&deny, &s(&root.join("d")), false));
    denied(mkdir(&deny, &s(&root.join("p/q/r")), true));
    assert!(!root.join("d").exists() && !root.join("p").exists());
    mkdir(&c, &s(&root.join("d")), false).unwrap();
    assert!(root.join("d").is_dir());
    assert!(mkdir(&c, &s(&root.join("d")), false).is_err());
    mkdir(&c, &s(&root.join("p/q/r")), true).unwrap();
    assert!(root.join("p/q/r").is_dir());
    // cp
    fs::write(root.join("src"), "data").unwrap();
    denied(cp(
        &deny,
        &s(&root.join("src")),
        &s(&root.join("dst")),
        CopyFileOptions::default(),
    ));
    assert!(!root.join("dst").exists());
    let no_write = ctx(&only(root, &["open", "read", "create"]));
    denied(cp(
        &no_write,
        &s(&root.join("src")),
        &s(&root.join("dst")),
        CopyFileOptions::default(),
    ));
    assert!(!root.join("dst").exists());
    cp(
        &c,
        &s(&root.join("src")),
        &s(&root.join("dst")),
        CopyFileOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(root.join("dst")).unwrap(), "data");
    assert_eq!(
        cp(
            &c,
            &s(&root.join("src")),
            &s(&root.join("dst")),
            CopyFileOptions::default()
        )
        .unwrap_err()
        .kind(),
        FsErrorKind::DestinationFileNotEmptyError
    );
    cp(
        &c,
        &s(&root.join("src")),
        &s(&root.join("dst")),
        CopyFileOptions {
            force: true,
            preserve: false,
        },
    )
    .unwrap();
    // mv file and dir
    denied(mv(&deny, &s(&root.join("dst")), &s(&root.join("d/moved"))));
    assert!(root.join("dst").exists());
    mv(&c, &s(&root.join("dst")), &s(&root.join("d/moved"))).unwrap();
    assert!(!root.join("dst").exists() && root.join("d/moved").exists());
    mv(&c, &s(&root.join("p")), &s(&root.join("d/p2"))).unwrap();
    assert!(root.join("d/p2/q/r").is_dir());
    // rm: file, symlink (removes the link only), dir
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), "k").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
    denied(rm(&deny, &s(&root.join("src")), RmOptions::default()));
    denied(rm(&deny, &s(&root.join("link")), RmOptions::default()));
    denied(rm(
        &deny,
        &s(&root.join("d")),
        RmOptions {
            recursive: true,
            force: false,
        },
    ));
    assert!(root.join("src").exists() && root.join("d/p2/q/r").exists());
    rm(&c, &s(&root.join("src")), RmOptions::default()).unwrap();
    assert!(!root.join("src").exists());
    rm(&c, &s(&root.join("link")), RmOptions::default()).unwrap();
    assert!(fs::symlink_metadata(root.join("link")).is_err());
    assert!(outside.path().join("keep").exists());
    assert_eq!(
        rm(&c, &s(&root.join("d")), RmOptions::default())
            .unwrap_err()
            .kind(),
        FsErrorKind::DirectoryNotEmpty
    );
    let r = rm(
        &c,
        &s(&root.join("d")),
        RmOptions {
            recursive: true,
            force: false,
        },
    )
    .unwrap();
    assert!(!root.join("d").exists());
    assert!(r.removed.len() >= 5);
    assert_eq!(
        rm(&c, &s(&root.join("gone")), RmOptions::default())
            .unwrap_err()
            .kind(),
        FsErrorKind::NotFound
    );
    rm(
        &c,
        &s(&root.join("gone")),
        RmOptions {
            force: true,
            recursive: false,
        },
    )
    .unwrap();
}

#[test]
fn ls_find_files_du() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::write(root.join("a.log"), "1").unwrap();
    fs::write(root.join(".hidden"), "1").unwrap();
    fs::write(root.join("sub/b.log"), "22").unwrap();
    fs::write(root.join("sub/deeper/c.log"), "333").unwrap();
    let c = ctx(&all(root));
    let l = ls(&c, &s(root), LsOptions::default()).unwrap();
    assert_eq!(l.keys().collect::<Vec<_>>(), vec!["a.log", "sub"]);
    let l = ls(
        &c,
        &s(root),
        LsOptions {
            all: true,
            long: true,
            recursive: true,
        },
    )
    .unwrap();
    assert!(l.contains_key(".hidden") && l.contains_key("sub/deeper/c.log"));
    assert_eq!(l["sub/deeper/c.log"].metadata.as_ref().unwrap().size, 3);
    assert_eq!(l["sub"].entry_type, EntryType::Dir);
    std::os::unix::fs::symlink("/etc", root.join("etclink")).unwrap();
    let l = ls(&c, &s(&root.join("etclink")), LsOptions::default()).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l["etclink"].entry_type, EntryType::Symlink);
    let mut f = find_files(&c, "*.log", &s(root), true).unwrap();
    f.sort();
    assert_eq!(
        f,
        vec![
            s(&root.join("a.log")),
            s(&root.join("sub/b.log")),
            s(&root.join("sub/deeper/c.log"))
        ]
    );
    assert_eq!(
        find_files(&c, "*.log", &s(root), false).unwrap(),
        vec![s(&root.join("a.log"))]
    );
    let d = du(
        &c,
        &s(root),
        DiskUsageOptions {
            apparent_size: true,
            all_files: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        d.entries
            .iter()
            .any(|e| e.path == s(&root.join("sub/deeper/c.log")) && e.size_bytes == 3)
    );
    let d1 = du(
        &c,
        &s(root),
        DiskUsageOptions {
            max_depth: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d1.entries.iter().all(|e| !e.path.contains("deeper")));
    let deny = ctx(&only(root, &["open"]));
    denied(ls(&deny, &s(root), LsOptions::default()));
    denied(find_files(&deny, "*", &s(root), true));
    denied(du(&deny, &s(root), DiskUsageOptions::default()));
}

#[test]
fn replace_text_pure() {
    use rust_sdk::fs::{ReplacementOptions, replace_text};
    assert_eq!(
        replace_text("a.a.a", ".", "-", ReplacementOptions::default()).unwrap(),
        "a-a.a"
    );
    assert_eq!(
        replace_text(
            "a.a.a",
            ".",
            "-",
            ReplacementOptions {
                is_regex: true,
                replace_all: true
            }
        )
        .unwrap(),
        "-----"
    );
}
