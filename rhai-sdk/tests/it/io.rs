//! The io module from real scripts: every command allowed and denied, on real files.
// Tests set up fixtures and observe effects on the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::fs;
use std::path::Path;

use common::{allow_actions_under, allow_fs_under, assert_denied, caught, engine, ok, run};

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    fs::write(
        tmp.path().join("a.txt"),
        "alpha 1\nbeta 2\ngamma 3\nalpha 4\n",
    )
    .unwrap();
    fs::write(tmp.path().join(".hidden"), "h").unwrap();
    fs::create_dir(tmp.path().join("sub")).unwrap();
    fs::write(tmp.path().join("sub/b.log"), "x,10\ny,20\nx,5\n").unwrap();
    Fixture { _tmp: tmp, dir }
}

fn s(script: &str, dir: &str) -> String {
    script.replace("$D", dir)
}

fn lines(n: usize) -> String {
    (1..=n).map(|i| format!("l{i}\n")).collect()
}

/// A script that catches the error and returns `source/kind`.
#[test]
fn cat_allowed_and_numbered() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, &s(r#"cat("$D/a.txt")"#, &f.dir)),
        "alpha 1\nbeta 2\ngamma 3\nalpha 4\n"
    );
    let numbered = ok(&e, &s(r#"cat([cat::n], "$D/a.txt")"#, &f.dir));
    assert!(
        numbered.starts_with("     1\talpha 1\n     2\tbeta 2\n"),
        "{numbered}"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"cat([cat::number], "$D/a.txt") == cat([cat::n], "$D/a.txt")"#,
                &f.dir
            )
        ),
        "true"
    );
}

#[test]
fn cat_denied_is_access_denied_with_error_map() {
    let f = fixture();
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    let out = run(&e, &s(r#"cat("$D/a.txt")"#, &f.dir));
    assert_denied(&out);
    assert_eq!(
        ok(&e, &caught(&s(r#"cat("$D/a.txt")"#, &f.dir))),
        "IoErrorKind/PermissionDenied"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let r = false; try { cat("$D/a.txt"); } catch (e) { r = e.kind == IoErrorKind::PermissionDenied; } r"#,
                &f.dir
            )
        ),
        "true"
    );
    // A caught denial is still recorded for the run.
    let out = run(&e, &caught(&s(r#"cat("$D/a.txt")"#, &f.dir)));
    assert!(out.is_success());
    assert_eq!(out.denials.len(), 1);
}

#[test]
fn invalid_path_and_wrong_flag_are_typed_errors() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, &caught(r#"cat("relative.txt")"#)),
        "IoErrorKind/InvalidPath"
    );
    assert_eq!(
        ok(&e, &caught(&s(r#"cat([ls::a], "$D/a.txt")"#, &f.dir))),
        "IoErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(&e, &caught(&s(r#"cat(["n"], "$D/a.txt")"#, &f.dir))),
        "IoErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(&e, &caught(&s(r#"cat("$D/missing")"#, &f.dir))),
        "IoErrorKind/NotFound"
    );
}

#[test]
fn ls_hides_dotfiles_unless_all() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, &s(r#"let m = ls("$D"); m.keys().len()"#, &f.dir)),
        "2"
    );
    assert_eq!(ok(&e, &s(r#"ls([ls::a], "$D").keys().len()"#, &f.dir)), "3");
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = ls("$D"); m["sub"].type() + " " + m["a.txt"].name"#,
                &f.dir
            )
        ),
        "DIR a.txt"
    );
    assert_eq!(
        ok(
            &e,
            &s(r#"ls("$D")["sub"].type() == EntryType::DIR"#, &f.dir)
        ),
        "true"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = ls([ls::l], "$D"); m["a.txt"].metadata.file_size"#,
                &f.dir
            )
        ),
        "31"
    );
    let rec = ok(&e, &s(r#"ls([ls::R], "$D").keys()"#, &f.dir));
    assert!(rec.contains("sub/b.log"), "{rec}");
}

#[test]
fn ls_denied() {
    let f = fixture();
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"ls("$D")"#, &f.dir)));
}

#[test]
fn grep_flags() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, &s(r#"grep("alpha", "$D/a.txt")"#, &f.dir)),
        r#"["alpha 1", "alpha 4"]"#
    );
    assert_eq!(
        ok(
            &e,
            &s(r#"grep([grep::i, grep::n], "ALPHA", "$D/a.txt")"#, &f.dir)
        ),
        r#"["1:alpha 1", "4:alpha 4"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"grep([grep::c], "a", "$D/a.txt")"#, &f.dir)),
        r#"["4"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"grep([grep::v], "alpha", "$D/a.txt")"#, &f.dir)),
        r#"["beta 2", "gamma 3"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"grep([grep::m(1)], "alpha", "$D/a.txt")"#, &f.dir)),
        r#"["alpha 1"]"#
    );
    assert_eq!(
        ok(&e, &caught(&s(r#"grep("(", "$D/a.txt")"#, &f.dir))),
        "IoErrorKind/InvalidArguments"
    );
}

#[test]
fn grep_denied() {
    let f = fixture();
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"grep("a", "$D/a.txt")"#, &f.dir)));
}

#[test]
fn tail_n_returns_the_last_lines() {
    let f = fixture();
    fs::write(Path::new(&f.dir).join("long.txt"), lines(20)).unwrap();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(ok(&e, &s(r#"tail("$D/long.txt").len()"#, &f.dir)), "10");
    assert_eq!(ok(&e, &s(r#"tail("$D/long.txt")[0]"#, &f.dir)), "l11");
    assert_eq!(
        ok(&e, &s(r#"tail([tail::n(5)], "$D/long.txt")"#, &f.dir)),
        r#"["l16", "l17", "l18", "l19", "l20"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"tail([tail::n(-2)], "$D/long.txt")"#, &f.dir)),
        r#"["l19", "l20"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"tail([tail::from(19)], "$D/long.txt")"#, &f.dir)),
        r#"["l19", "l20"]"#
    );
    assert_eq!(
        ok(
            &e,
            &s(r#"tail([tail::range(2, 3)], "$D/long.txt")"#, &f.dir)
        ),
        r#"["l2", "l3"]"#
    );
}

#[test]
fn tail_denied() {
    let f = fixture();
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"tail("$D/a.txt")"#, &f.dir)));
}

#[test]
fn sed_in_place_allowed_and_denied() {
    let f = fixture();
    let path = Path::new(&f.dir).join("a.txt");
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, &s(r#"sed("alpha", "ALPHA", "$D/a.txt")"#, &f.dir)),
        "ALPHA 1\nbeta 2\ngamma 3\nalpha 4\n"
    );
    assert_eq!(
        ok(&e, &s(r#"sed([sed::g], "alpha", "A", "$D/a.txt")"#, &f.dir)),
        "A 1\nbeta 2\ngamma 3\nA 4\n"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"sed([sed::regex, sed::g], "(\\w+) (\\d)", "$2-$1", "$D/a.txt")"#,
                &f.dir
            )
        ),
        "1-alpha\n2-beta\n3-gamma\n4-alpha\n"
    );
    // Not in place: the file is unchanged.
    assert!(fs::read_to_string(&path).unwrap().starts_with("alpha 1"));
    ok(
        &e,
        &s(r#"sed([sed::i], "beta", "BETA", "$D/a.txt")"#, &f.dir),
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "alpha 1\nBETA 2\ngamma 3\nalpha 4\n"
    );

    let e = engine(&allow_actions_under(&f.dir, &["open", "read"]));
    assert_denied(&run(
        &e,
        &s(r#"sed([sed::i], "gamma", "G", "$D/a.txt")"#, &f.dir),
    ));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "alpha 1\nBETA 2\ngamma 3\nalpha 4\n"
    );
}

#[test]
fn rm_allowed_and_denied() {
    let f = fixture();
    let file = Path::new(&f.dir).join("a.txt");
    let e = engine(&allow_actions_under(&f.dir, &["open", "read"]));
    assert_denied(&run(&e, &s(r#"rm("$D/a.txt")"#, &f.dir)));
    assert!(file.exists());
    assert_denied(&run(&e, &s(r#"rm([rm::r], "$D/sub")"#, &f.dir)));
    assert!(Path::new(&f.dir).join("sub/b.log").exists());

    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"rm("$D/a.txt")"#, &f.dir));
    assert!(!file.exists());
    assert_eq!(
        ok(&e, &caught(&s(r#"rm("$D/sub")"#, &f.dir)))
            .split('/')
            .next()
            .unwrap(),
        "IoErrorKind"
    );
    assert!(Path::new(&f.dir).join("sub").exists());
    ok(&e, &s(r#"rm([rm::recursive], "$D/sub")"#, &f.dir));
    assert!(!Path::new(&f.dir).join("sub").exists());
    ok(&e, &s(r#"rm([rm::f], "$D/never-existed")"#, &f.dir));
}

#[cfg(unix)]
#[test]
fn rm_on_symlink_removes_the_link_not_the_target() {
    let f = fixture();
    let link = Path::new(&f.dir).join("link");
    std::os::unix::fs::symlink(Path::new(&f.dir).join("sub"), &link).unwrap();
    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"rm("$D/link")"#, &f.dir));
    assert!(fs::symlink_metadata(&link).is_err());
    assert!(Path::new(&f.dir).join("sub/b.log").exists());
}

#[test]
fn seq_and_its_cap() {
    let e = engine("");
    assert_eq!(ok(&e, "seq(1, 5)"), "[1, 2, 3, 4, 5]");
    assert_eq!(ok(&e, "seq([seq::step(2)], 1, 6)"), "[1, 3, 5]");
    assert_eq!(ok(&e, "seq(3, 1)"), "[3, 2, 1]");
    assert_eq!(ok(&e, "seq([seq::step(1)], 3, 1)"), "[]");
    assert_eq!(
        ok(&e, &caught("seq(0, 9223372036854775807)")),
        "IoErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(&e, &caught("seq([seq::step(0)], 1, 2)")),
        "IoErrorKind/InvalidArguments"
    );
    assert_eq!(
        ok(
            &e,
            &caught("seq(-9223372036854775807, 9223372036854775807)")
        ),
        "IoErrorKind/InvalidArguments"
    );
}

#[test]
fn find_files_returns_paths() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(ok(&e, &s(r#"find_files("*.log", "$D")"#, &f.dir)), "[]");
    assert_eq!(
        ok(&e, &s(r#"find_files([glob::r], "*.log", "$D")"#, &f.dir)),
        format!(r#"["{}/sub/b.log"]"#, f.dir)
    );
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"find_files("*", "$D")"#, &f.dir)));
}

#[test]
fn awk_family() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(&e, r#"awk_split("a,b,,c", ",")"#),
        r#"["a", "b", "", "c"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"awk_field(1, ",", "$D/sub/b.log")"#, &f.dir)),
        r#"["x", "y", "x"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"awk_filter("y,", "$D/sub/b.log")"#, &f.dir)),
        r#"["y,20"]"#
    );
    assert_eq!(
        ok(
            &e,
            &s(r#"awk_filter_field(1, ",", "x", "$D/sub/b.log")"#, &f.dir)
        ),
        r#"["x,10", "x,5"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"awk_sum(2, ",", "$D/sub/b.log")"#, &f.dir)),
        "35.0"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = awk_count_unique(1, ",", "$D/sub/b.log"); m.x * 10 + m.y"#,
                &f.dir
            )
        ),
        "21"
    );
    assert_eq!(
        ok(&e, &s(r#"awk_filter_range(2, 3, "$D/a.txt")"#, &f.dir)),
        r#"["beta 2", "gamma 3"]"#
    );
    assert_eq!(
        ok(&e, &s(r#"awk_field(2, " ", "$D/a.txt")"#, &f.dir)),
        r#"["1", "2", "3", "4"]"#
    );
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    for call in [
        r#"awk_field(1, ",", "$D/sub/b.log")"#,
        r#"awk_filter("y", "$D/sub/b.log")"#,
        r#"awk_filter_field(1, ",", "x", "$D/sub/b.log")"#,
        r#"awk_sum(2, ",", "$D/sub/b.log")"#,
        r#"awk_count_unique(1, ",", "$D/sub/b.log")"#,
        r#"awk_filter_range(1, 2, "$D/sub/b.log")"#,
    ] {
        assert_denied(&run(&e, &s(call, &f.dir)));
    }
}

#[test]
fn wc_counts() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = wc("$D/a.txt"); [m.lines, m.words, m.bytes]"#,
                &f.dir
            )
        ),
        "[4, 8, 31]"
    );
    assert_eq!(
        ok(&e, &s(r#"wc([wc::l], "$D/a.txt").keys()"#, &f.dir)),
        r#"["lines"]"#
    );
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"wc("$D/a.txt")"#, &f.dir)));
}

#[test]
fn cp_allowed_and_denied() {
    let f = fixture();
    let dst = Path::new(&f.dir).join("copy.txt");
    let e = engine(&allow_actions_under(&f.dir, &["open", "read"]));
    assert_denied(&run(&e, &s(r#"cp("$D/a.txt", "$D/copy.txt")"#, &f.dir)));
    assert!(!dst.exists());

    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"cp("$D/a.txt", "$D/copy.txt")"#, &f.dir));
    assert_eq!(
        fs::read_to_string(&dst).unwrap(),
        fs::read_to_string(Path::new(&f.dir).join("a.txt")).unwrap()
    );
    assert_eq!(
        ok(
            &e,
            &caught(&s(r#"cp("$D/sub/b.log", "$D/copy.txt")"#, &f.dir))
        ),
        "IoErrorKind/DestinationFileNotEmptyError"
    );
    ok(
        &e,
        &s(r#"cp([cp::f], "$D/sub/b.log", "$D/copy.txt")"#, &f.dir),
    );
    assert_eq!(fs::read_to_string(&dst).unwrap(), "x,10\ny,20\nx,5\n");
}

#[test]
fn mv_allowed_and_denied() {
    let f = fixture();
    let src = Path::new(&f.dir).join("a.txt");
    let dst = Path::new(&f.dir).join("sub/moved.txt");
    let e = engine(&allow_actions_under(&f.dir, &["open", "read", "create"]));
    assert_denied(&run(
        &e,
        &s(r#"mv("$D/a.txt", "$D/sub/moved.txt")"#, &f.dir),
    ));
    assert!(src.exists() && !dst.exists());

    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"mv("$D/a.txt", "$D/sub/moved.txt")"#, &f.dir));
    assert!(!src.exists());
    assert!(fs::read_to_string(&dst).unwrap().starts_with("alpha 1"));
}

#[test]
fn mkdir_allowed_and_denied() {
    let f = fixture();
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"mkdir("$D/new")"#, &f.dir)));
    assert!(!Path::new(&f.dir).join("new").exists());

    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"mkdir("$D/new")"#, &f.dir));
    assert!(Path::new(&f.dir).join("new").is_dir());
    ok(&e, &s(r#"mkdir([mkdir::p], "$D/x/y/z")"#, &f.dir));
    assert!(Path::new(&f.dir).join("x/y/z").is_dir());
}

#[test]
fn du_allowed_and_denied() {
    let f = fixture();
    let e = engine(&allow_fs_under(&f.dir));
    let out = ok(
        &e,
        &s(
            r#"let d = du([du::s], "$D"); d.total_inode_count > 0 && d.total_size_bytes > 0"#,
            &f.dir,
        ),
    );
    assert_eq!(out, "true");
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    let out = run(&e, &s(r#"du("$D")"#, &f.dir));
    assert_denied(&out);
}

#[test]
fn touch_creates_and_updates() {
    let f = fixture();
    let path = Path::new(&f.dir).join("t.txt");
    let e = engine(&allow_actions_under(&f.dir, &["open"]));
    assert_denied(&run(&e, &s(r#"touch("$D/t.txt")"#, &f.dir)));
    assert!(!path.exists());

    let e = engine(&allow_fs_under(&f.dir));
    ok(&e, &s(r#"touch("$D/t.txt")"#, &f.dir));
    assert!(path.is_file());
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    ok(&e, &s(r#"touch("$D/t.txt")"#, &f.dir));
    assert!(fs::metadata(&path).unwrap().modified().unwrap() > old);
}

#[test]
fn write_append_and_replace() {
    let f = fixture();
    let path = Path::new(&f.dir).join("w.txt");
    let e = engine(&allow_fs_under(&f.dir));
    ok(
        &e,
        &s(
            r#"write("$D/w.txt", "one\n"); write([write::a], "$D/w.txt", "two\n")"#,
            &f.dir,
        ),
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    ok(
        &e,
        &s(r#"write([write::replace], "$D/w.txt", "new")"#, &f.dir),
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");

    // Write denied: nothing changes.
    let e = engine(&allow_actions_under(&f.dir, &["open", "create", "read"]));
    assert_denied(&run(&e, &s(r#"write("$D/w.txt", "more")"#, &f.dir)));
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
}

#[test]
fn append_without_read_permission_never_overwrites() {
    // REX §6 item 10: append with write-but-no-read overwrote the file.
    let f = fixture();
    let path = Path::new(&f.dir).join("a.txt");
    let e = engine(&allow_actions_under(&f.dir, &["open", "create", "write"]));
    ok(&e, &s(r#"write("$D/a.txt", "tail\n")"#, &f.dir));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "alpha 1\nbeta 2\ngamma 3\nalpha 4\ntail\n"
    );
}
