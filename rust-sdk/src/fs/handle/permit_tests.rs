//! The handles' internals refuse a proof ([`crate::Permit`]) of another resource or action:
//! each syscall-performing internal demands the permit of what it touches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use rex_auth::AuthError;

use super::dir::*;
use super::types::*;
use crate::SdkContext;
use crate::fs::error::FsError;
use rex_auth::Action;

/// A context whose policy allows everything: these tests hand the internals wrong proofs.
fn allow_all() -> SdkContext {
    crate::context::test_context("permit(principal, action, resource);")
}

#[test]
fn a_read_demands_the_permit_of_its_own_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a"), "A").unwrap();
    std::fs::write(tmp.path().join("b"), "B").unwrap();
    let base = tmp.path().to_str().unwrap();
    let policy = format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"], resource in file_system::Dir::"{base}");"#
    );
    let auth = rex_auth::Authorizer::builder()
        .principal(rex_auth::Principal::user("tester").unwrap())
        .policies(rex_auth::Policies::parse("test", &policy).unwrap())
        .build()
        .unwrap();
    let c = SdkContext::new(Arc::new(auth));
    let d = DirHandle::open(&c, base, OpenDirOptions::default()).unwrap();
    let a = d.open_file(&c, "a", OpenFileOptions::read()).unwrap();
    let b = d.open_file(&c, "b", OpenFileOptions::read()).unwrap();
    let read_a = a.permit(&c, Action::FsRead).unwrap();
    assert_eq!(a.read_bytes_with(&c, &read_a).unwrap(), b"A");
    // The proof of another file, or of another action, reads nothing.
    let e = b.read_bytes_with(&c, &read_a).unwrap_err();
    assert!(
        matches!(e, FsError::AuthorizationError(AuthError::Config(_))),
        "{e:?}"
    );
    let stat_a = a.permit(&c, Action::FsStat).unwrap();
    let e = a.read_bytes_with(&c, &stat_a).unwrap_err();
    assert!(
        matches!(e, FsError::AuthorizationError(AuthError::Config(_))),
        "{e:?}"
    );
}

fn internal(e: &FsError) -> bool {
    matches!(e, FsError::AuthorizationError(AuthError::Config(_)))
}

#[test]
fn every_change_demands_the_permit_of_its_own_file_and_action() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::write(&pa, "A").unwrap();
    std::fs::write(&pb, "B").unwrap();
    std::fs::set_permissions(&pb, std::fs::Permissions::from_mode(0o640)).unwrap();
    let base = tmp.path().to_str().unwrap();
    let c = allow_all();
    let d = DirHandle::open(&c, base, OpenDirOptions::default()).unwrap();
    let a = d.open_file(&c, "a", OpenFileOptions::read()).unwrap();
    let b = d
        .open_file(
            &c,
            "b",
            OpenFileOptions {
                write: true,
                ..OpenFileOptions::read()
            },
        )
        .unwrap();
    // Proofs for `a`, or for `b` under another action, change nothing in `b`.
    let write_a = a.permit(&c, Action::FsWrite).unwrap();
    let chmod_b = b.permit(&c, Action::FsChmod).unwrap();
    assert!(internal(&b.chmod_with(&write_a, 0o777).unwrap_err()));
    assert!(internal(&b.truncate_with(&write_a, 0).unwrap_err()));
    assert!(internal(&b.truncate_with(&chmod_b, 0).unwrap_err()));
    assert!(internal(&b.touch_with(&chmod_b).unwrap_err()));
    assert!(internal(&b.append_with(&chmod_b, "x").unwrap_err()));
    assert!(internal(
        &b.write_in_place_with(&write_a, b"x").unwrap_err()
    ));
    assert!(internal(&b.chown_with(&write_a, None, None).unwrap_err()));
    assert!(internal(
        &b.write_with(
            &write_a,
            a.current_path().unwrap(),
            "x",
            WriteOptions::default()
        )
        .unwrap_err()
    ));
    assert!(internal(
        &a.copy_to_with(&write_a, &b, &chmod_b, CopyFileOptions::default())
            .unwrap_err()
    ));
    let b_again = d.open_file(&c, "b", OpenFileOptions::read()).unwrap();
    assert!(internal(&b_again.delete_with(&write_a).unwrap_err()));
    assert_eq!(std::fs::read(&pb).unwrap(), b"B");
    assert_eq!(
        std::fs::metadata(&pb).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // The right proof goes through.
    b.chmod_with(&chmod_b, 0o600).unwrap();
    assert_eq!(
        std::fs::metadata(&pb).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_listing_demands_read_on_its_directory_or_a_tree_proof_above_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("x/y")).unwrap();
    std::fs::create_dir_all(tmp.path().join("z")).unwrap();
    std::fs::write(tmp.path().join("x/y/f"), "").unwrap();
    let base = tmp.path().to_str().unwrap();
    let c = allow_all();
    let open = |p: &str| DirHandle::open(&c, p, OpenDirOptions::default()).unwrap();
    let x = open(&format!("{base}/x"));
    let y = open(&format!("{base}/x/y"));
    let z = open(&format!("{base}/z"));
    let read = |d: &DirHandle, a: Action| crate::fs::check_dir(&c, a, &d.path).unwrap();
    assert_eq!(
        y.raw_entries(&c, &read(&y, Action::FsRead)).unwrap().len(),
        1
    );
    for wrong in [
        read(&x, Action::FsRead),
        read(&y, Action::FsStat),
        read(&z, Action::FsRead),
    ] {
        assert!(internal(&y.raw_entries(&c, &wrong).unwrap_err()));
    }
    // A recursive operation's proof on `x` lists `x` and `x/y`, not `z`.
    let delete_x = read(&x, Action::FsDelete);
    assert_eq!(y.raw_entries_below(&c, &delete_x).unwrap().len(), 1);
    assert_eq!(x.raw_entries_below(&c, &delete_x).unwrap().len(), 1);
    assert!(internal(&z.raw_entries_below(&c, &delete_x).unwrap_err()));
    assert!(internal(
        &y.raw_entries_below(&c, &read(&x, Action::FsRead))
            .unwrap_err()
    ));
}

#[test]
fn names_that_are_not_utf8_are_listed_once_each_in_byte_order() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    // Two raw names that decode to the same lossy name, and a plain one.
    for raw in [&b"n\xff"[..], &b"n\xfe"[..], &b"m"[..]] {
        std::fs::write(tmp.path().join(OsStr::from_bytes(raw)), "").unwrap();
    }
    let c = allow_all();
    let d = DirHandle::open(&c, tmp.path().to_str().unwrap(), OpenDirOptions::default()).unwrap();
    let entries = d.sorted_entries(&c).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["m", "n\u{fffd}"]);
    // The lossy name keeps the raw name that sorts first, every time.
    assert_eq!(entries[1].raw_name(), b"n\xfe");
    assert!(!entries[1].name_is_utf8() && entries[0].name_is_utf8());
    assert_eq!(entries[0].raw_name(), b"m");
    let map = d.list_entries(&c).unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(map["n\u{fffd}"].raw_name(), b"n\xfe");

    // A UTF-8 name equal to the lossy one sorts before both raw names and is the one kept.
    std::fs::write(tmp.path().join("n\u{fffd}"), "").unwrap();
    let entries = d.sorted_entries(&c).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[1].name_is_utf8());
    assert_eq!(entries[1].raw_name(), "n\u{fffd}".as_bytes());
}
