//! Regressions found by the runner's escape suite (rex-runner/tests/escape_*.rs), fixed here
//! in the crate that owns them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use common::{all, ctx};
use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::SdkContext;
use rust_sdk::fs::{DirHandle, FsErrorKind, OpenDirOptions, OpenFileOptions};

fn ctx_under(dir: &Path) -> SdkContext {
    ctx(&all(dir))
}

fn follow_create() -> OpenFileOptions {
    OpenFileOptions {
        write: true,
        create: true,
        follow_symlinks: true,
        ..Default::default()
    }
}

/// `open_file(create + follow_symlinks)` on a dangling symlink used to pass O_CREAT through
/// the link, creating its target outside the permitted tree before the resolved path was
/// authorized (the run was then denied, but the empty file stayed behind).
#[test]
fn follow_mode_create_never_creates_a_dangling_links_target() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("inside");
    let outside = root.path().join("outside");
    fs::create_dir(&inside).unwrap();
    fs::create_dir(&outside).unwrap();
    let target = outside.join("created");
    symlink(&target, inside.join("dangling")).unwrap();
    let c = ctx_under(&inside);
    let d = DirHandle::open(&c, inside.to_str().unwrap(), OpenDirOptions::default()).unwrap();
    let err = d
        .open_file(&c, "dangling", follow_create())
        .expect_err("creating through a dangling link must fail");
    assert_ne!(err.kind(), FsErrorKind::NotFound, "{err:?}");
    assert!(fs::symlink_metadata(&target).is_err(), "target was created");
    assert!(
        fs::symlink_metadata(inside.join("dangling"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn follow_mode_create_still_creates_a_new_name_and_follows_existing_links() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    fs::write(dir.join("real"), "old").unwrap();
    symlink(dir.join("real"), dir.join("link")).unwrap();
    let c = ctx_under(dir);
    let d = DirHandle::open(&c, dir.to_str().unwrap(), OpenDirOptions::default()).unwrap();
    // a missing name is created (as a regular file, in this directory)
    let f = d.open_file(&c, "new", follow_create()).unwrap();
    assert_eq!(f.path().as_str(), dir.join("new").to_str().unwrap());
    assert!(fs::symlink_metadata(dir.join("new")).unwrap().is_file());
    // an existing link to a permitted file is followed, and the handle names the target
    let f = d.open_file(&c, "link", follow_create()).unwrap();
    assert_eq!(f.path().as_str(), dir.join("real").to_str().unwrap());
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// A replacing write, a preserving copy and a cross-file-system move used to keep set-uid /
/// set-gid bits: with a root runner, a set-id-root file holding content the script chose.
#[test]
fn set_id_bits_are_never_carried_to_new_content() {
    use rust_sdk::fs::{CopyFileOptions, WriteOptions};
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let src = dir.join("suid");
    fs::write(&src, "orig").unwrap();
    set_mode(&src, 0o6755);
    if mode(&src) != 0o6755 {
        return; // set-id bits not supported here
    }
    let c = ctx_under(dir);
    let d = DirHandle::open(&c, dir.to_str().unwrap(), OpenDirOptions::default()).unwrap();
    // preserving copy
    let s = d.open_file(&c, "suid", OpenFileOptions::read()).unwrap();
    let dst = d.open_file(&c, "copy", OpenFileOptions::create()).unwrap();
    s.copy_to(
        &c,
        &dst,
        CopyFileOptions {
            preserve: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(mode(&dir.join("copy")), 0o755);
    // replacing write keeps the permission bits only
    let f = d.open_file(&c, "suid", OpenFileOptions::read()).unwrap();
    f.write(&c, "payload", WriteOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(&src).unwrap(), "payload");
    assert_eq!(mode(&src), 0o755);
    // cross-file-system move (copy fallback), when a second file system is at hand
    let shm = Path::new("/dev/shm");
    if let Ok(other) = tempfile::tempdir_in(shm) {
        use std::os::unix::fs::MetadataExt;
        if fs::metadata(other.path()).unwrap().dev() != fs::metadata(dir).unwrap().dev() {
            set_mode(&src, 0o6755);
            let policy_dirs = [dir, other.path()];
            let policy = policy_dirs
                .iter()
                .map(|p| {
                    format!(
                        "permit(principal, action, resource in file_system::Dir::\"{}\");",
                        p.display()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let auth = Authorizer::builder()
                .principal(Principal::user("tester").unwrap())
                .policies(Policies::parse("test", &policy).unwrap())
                .build()
                .unwrap();
            let c2 = SdkContext::new(Arc::new(auth));
            let d = DirHandle::open(&c2, dir.to_str().unwrap(), OpenDirOptions::default()).unwrap();
            let o = DirHandle::open(
                &c2,
                other.path().to_str().unwrap(),
                OpenDirOptions::default(),
            )
            .unwrap();
            let f = d.open_file(&c2, "suid", OpenFileOptions::read()).unwrap();
            f.move_to(&c2, &o, "moved").unwrap();
            assert_eq!(mode(&other.path().join("moved")), 0o755);
        }
    }
}
