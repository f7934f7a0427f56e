//! The io handle API from real scripts, allowed and denied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests set up fixtures and observe effects on the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::path::Path;

use common::{allow_actions_under, allow_fs_under, assert_denied, caught, engine, ok, run};

fn setup() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    fs::write(tmp.path().join("f.txt"), "one\ntwo\nthree\n").unwrap();
    fs::create_dir(tmp.path().join("d")).unwrap();
    (tmp, dir)
}

const PRELUDE: &str = r#"
let dir = DirConfig().path("$D").build().open(OpenDirOptions().build());
let ro = OpenFileOptions().read(true).build();
let rw = OpenFileOptions().read(true).write(true).build();
"#;

fn s(body: &str, dir: &str) -> String {
    format!("{PRELUDE}{body}").replace("$D", dir)
}

#[test]
fn read_search_counts_metadata() {
    let (_t, d) = setup();
    let e = engine(&allow_fs_under(&d));
    assert_eq!(
        ok(&e, &s(r#"dir.open_file("f.txt", ro).read()"#, &d)),
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"dir.open_file("f.txt", ro).read_lines(ReadLinesOptions().count(-2).build())"#,
                &d
            )
        ),
        r#"["two", "three"]"#
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = dir.open_file("f.txt", ro).search("t"); m[1].line_number + ":" + m[1].line_content"#,
                &d
            )
        ),
        "3:three"
    );
    assert_eq!(
        ok(
            &e,
            &s(r#"dir.open_file("f.txt", ro).counts().line_count"#, &d)
        ),
        "3"
    );
    assert_eq!(
        ok(
            &e,
            &s(
                r#"let m = dir.open_file("f.txt", ro).metadata(); [m.type(), m.file_size()]"#,
                &d
            )
        ),
        r#"["FILE", 14]"#
    );
    assert_eq!(ok(&e, &s(r#"dir.metadata().type()"#, &d)), "DIR");
    assert_eq!(ok(&e, &s(r#"dir.list_entries().keys().len()"#, &d)), "2");
}

#[test]
fn read_denied() {
    let (_t, d) = setup();
    let e = engine(&allow_actions_under(&d, &["open"]));
    assert_denied(&run(&e, &s(r#"dir.open_file("f.txt", ro).read()"#, &d)));
    assert_eq!(
        ok(&e, &caught(&s(r#"dir.list_entries()"#, &d))),
        "IoErrorKind/PermissionDenied"
    );
    let e = engine("");
    assert_denied(&run(&e, &s("dir", &d)));
}

#[test]
fn write_create_and_in_place() {
    let (t, d) = setup();
    let e = engine(&allow_fs_under(&d));
    ok(
        &e,
        &s(
            r#"let f = dir.open_file("new.txt", OpenFileOptions().create(true).permissions(0o640).build()); f.write("hello")"#,
            &d,
        ),
    );
    assert_eq!(
        fs::read_to_string(t.path().join("new.txt")).unwrap(),
        "hello"
    );
    ok(
        &e,
        &s(r#"dir.open_file("f.txt", rw).write_in_place("x")"#, &d),
    );
    assert_eq!(fs::read_to_string(t.path().join("f.txt")).unwrap(), "x");
    assert_eq!(
        ok(
            &e,
            &caught(&s(r#"OpenFileOptions().permissions(0o7777)"#, &d))
        ),
        "IoErrorKind/InvalidFileMode"
    );
}

#[test]
fn write_denied_changes_nothing() {
    let (t, d) = setup();
    let e = engine(&allow_actions_under(&d, &["open", "read"]));
    assert_denied(&run(
        &e,
        &s(r#"dir.open_file("f.txt", rw).write("new")"#, &d),
    ));
    assert_denied(&run(
        &e,
        &s(
            r#"dir.open_file("n.txt", OpenFileOptions().create(true).build())"#,
            &d,
        ),
    ));
    assert_eq!(
        fs::read_to_string(t.path().join("f.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    assert!(!t.path().join("n.txt").exists());
}

#[test]
fn copy_move_delete() {
    let (t, d) = setup();
    let e = engine(&allow_fs_under(&d));
    ok(
        &e,
        &s(
            r#"let dst = dir.open_file("c.txt", OpenFileOptions().create(true).build()); dir.open_file("f.txt", ro).copy(dst, CopyFileOptions().build())"#,
            &d,
        ),
    );
    assert_eq!(
        fs::read_to_string(t.path().join("c.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    ok(
        &e,
        &s(
            r#"let sub = DirConfig().path("$D/d").build().open(OpenDirOptions().build()); dir.open_file("c.txt", ro).move(sub, "m.txt")"#,
            &d,
        ),
    );
    assert!(!t.path().join("c.txt").exists());
    assert!(t.path().join("d/m.txt").exists());
    assert_eq!(
        ok(
            &e,
            &caught(&s(
                r#"let f = dir.open_file("f.txt", ro); f.delete(); f.read()"#,
                &d
            ))
        ),
        "IoErrorKind/FileError"
    );
    assert!(!t.path().join("f.txt").exists());
    ok(
        &e,
        &s(
            r#"DirConfig().path("$D/d").build().open(OpenDirOptions().build()).delete(DeleteDirOptions().recursive(true).build())"#,
            &d,
        ),
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn copy_move_delete_denied() {
    let (t, d) = setup();
    let e = engine(&allow_actions_under(&d, &["open", "read", "create"]));
    assert_denied(&run(
        &e,
        &s(
            r#"let dst = dir.open_file("c.txt", OpenFileOptions().create(true).build()); dir.open_file("f.txt", ro).copy(dst, CopyFileOptions().build())"#,
            &d,
        ),
    ));
    assert_eq!(fs::read_to_string(t.path().join("c.txt")).unwrap(), "");
    assert_denied(&run(
        &e,
        &s(
            r#"let sub = DirConfig().path("$D/d").build().open(OpenDirOptions().build()); dir.open_file("f.txt", ro).move(sub, "m.txt")"#,
            &d,
        ),
    ));
    assert!(t.path().join("f.txt").exists());
    assert_denied(&run(&e, &s(r#"dir.open_file("f.txt", ro).delete()"#, &d)));
    assert!(t.path().join("f.txt").exists());
    assert_denied(&run(
        &e,
        &s(
            r#"DirConfig().path("$D/d").build().open(OpenDirOptions().build()).delete(DeleteDirOptions().build())"#,
            &d,
        ),
    ));
    assert!(Path::new(&d).join("d").exists());
}

#[test]
fn chmod_allowed_and_denied() {
    use std::os::unix::fs::PermissionsExt;
    let (t, d) = setup();
    let mode = |p: &str| fs::metadata(t.path().join(p)).unwrap().permissions().mode() & 0o777;
    let e = engine(&allow_actions_under(&d, &["open", "read"]));
    let before = mode("f.txt");
    assert_denied(&run(
        &e,
        &s(r#"dir.open_file("f.txt", ro).chmod(0o600)"#, &d),
    ));
    assert_eq!(mode("f.txt"), before);
    let e = engine(&allow_fs_under(&d));
    ok(&e, &s(r#"dir.open_file("f.txt", ro).chmod(0o600)"#, &d));
    assert_eq!(mode("f.txt"), 0o600);
    ok(&e, &s(r#"dir.chmod(0o700)"#, &d));
    assert_eq!(
        fs::metadata(&d).unwrap().permissions().mode() & 0o777,
        0o700
    );
}
