//! Regressions found by the runner's escape suite (rex-runner/tests/it/escape_*.rs), fixed here
//! in the crate that owns them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use common::{all, ctx, denied, open_dir, s};
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

// ---- issue 19: renames over an existing destination, trees carried by a directory move,
// ---- stale handles, set-id bits kept by in-place writes

/// Every file-system action under `root`, except the `forbid` statements given.
fn ctx_with_forbids(root: &Path, forbids: &[String]) -> SdkContext {
    let mut policy = all(root);
    for f in forbids {
        policy.push('\n');
        policy.push_str(f);
    }
    ctx(&policy)
}

fn forbid(actions: &[&str], resource: &str) -> String {
    let a: Vec<String> = actions
        .iter()
        .map(|a| format!("file_system::Action::\"{a}\""))
        .collect();
    format!(
        "forbid(principal, action in [{}], resource {resource});",
        a.join(", ")
    )
}

fn ino(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(p).unwrap().ino()
}

fn root_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(t.path()).unwrap();
    (t, root)
}

/// `FileHandle::move_to` checked move/create/open, then `renameat` replaced an existing
/// destination whose write and delete were both forbidden.
#[test]
fn a_file_move_over_an_existing_file_needs_delete_on_it() {
    let (_t, root) = root_dir();
    fs::create_dir(root.join("src")).unwrap();
    fs::create_dir(root.join("dst")).unwrap();
    fs::write(root.join("src/f"), "mine").unwrap();
    fs::write(root.join("dst/victim"), "VICTIM").unwrap();
    let victim = root.join("dst/victim");
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["write", "delete"],
            &format!("== file_system::File::\"{}\"", victim.display()),
        )],
    );
    let src = open_dir(&c, &root.join("src"));
    let dst = open_dir(&c, &root.join("dst"));
    let f = src.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    denied(f.move_to(&c, &dst, "victim"));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "VICTIM");
    assert_eq!(fs::read_to_string(root.join("src/f")).unwrap(), "mine");
    // the path-string command takes the same route
    denied(rust_sdk::fs::commands::mv(
        &c,
        &s(&root.join("src/f")),
        &s(&victim),
    ));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "VICTIM");
    assert_eq!(fs::read_to_string(root.join("src/f")).unwrap(), "mine");
    // REX's behaviour is kept when deleting the destination is allowed: it is replaced
    let c = ctx_under(&root);
    let f = src.open_file(&c, "f", OpenFileOptions::read()).unwrap();
    let moved = f.move_to(&c, &dst, "victim").unwrap();
    assert_eq!(moved.path().as_str(), s(&victim));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "mine");
    assert!(!root.join("src/f").exists());
}

/// `DirHandle::move_to` replaced an existing empty directory whose delete was forbidden.
#[test]
fn a_directory_move_over_an_existing_empty_directory_needs_delete_on_it() {
    let (_t, root) = root_dir();
    fs::create_dir_all(root.join("a/d")).unwrap();
    fs::create_dir_all(root.join("b/d")).unwrap();
    let before = ino(&root.join("b/d"));
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["delete"],
            &format!("== file_system::Dir::\"{}\"", root.join("b/d").display()),
        )],
    );
    let d = open_dir(&c, &root.join("a/d"));
    let b = open_dir(&c, &root.join("b"));
    denied(d.clone().move_to(&c, &b, "d"));
    assert_eq!(
        ino(&root.join("b/d")),
        before,
        "the destination was replaced"
    );
    assert!(root.join("a/d").is_dir());
    // allowed delete: replaced, as a rename does
    let c = ctx_under(&root);
    let d = open_dir(&c, &root.join("a/d"));
    let moved_ino = ino(&root.join("a/d"));
    d.move_to(&c, &b, "d").unwrap();
    assert_eq!(ino(&root.join("b/d")), moved_ino);
    assert!(!root.join("a/d").exists());
}

/// A directory move checked `move` on the directory only, so a file whose read and move were
/// forbidden travelled with its parent to a path where read is allowed.
#[test]
fn a_directory_move_decides_for_every_entry_it_carries() {
    let (_t, root) = root_dir();
    fs::create_dir_all(root.join("a/d/sub")).unwrap();
    fs::create_dir(root.join("b")).unwrap();
    fs::write(root.join("a/d/plain"), "plain").unwrap();
    fs::write(root.join("a/d/sub/secret"), "SECRET").unwrap();
    let secret = root.join("a/d/sub/secret");
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["read", "move"],
            &format!("== file_system::File::\"{}\"", secret.display()),
        )],
    );
    let d = open_dir(&c, &root.join("a/d"));
    let b = open_dir(&c, &root.join("b"));
    denied(d.move_to(&c, &b, "d"));
    assert_eq!(fs::read_to_string(&secret).unwrap(), "SECRET");
    assert!(!root.join("b/d").exists());
    // `create` where an entry would land is decided too
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["create"],
            &format!(
                "== file_system::File::\"{}\"",
                root.join("b/d/plain").display()
            ),
        )],
    );
    let d = open_dir(&c, &root.join("a/d"));
    denied(d.move_to(&c, &b, "d"));
    assert!(root.join("a/d/plain").exists());
    assert!(!root.join("b/d").exists());
    // every entry allowed: the tree moves
    let c = ctx_under(&root);
    let d = open_dir(&c, &root.join("a/d"));
    d.move_to(&c, &b, "d").unwrap();
    assert_eq!(
        fs::read_to_string(root.join("b/d/sub/secret")).unwrap(),
        "SECRET"
    );
}

/// Handles authorized later calls against the path recorded at open: after their directory
/// was moved into a write-forbidden tree, the old handles still wrote there.
#[test]
fn stale_handles_are_checked_where_the_entry_is_now() {
    use rust_sdk::fs::WriteOptions;
    let (_t, root) = root_dir();
    fs::create_dir_all(root.join("w/sub")).unwrap();
    fs::create_dir(root.join("ro")).unwrap();
    let f_path = root.join("w/sub/f");
    fs::write(&f_path, "orig").unwrap();
    set_mode(&f_path, 0o644);
    set_mode(&root.join("w/sub"), 0o755);
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["write", "chmod", "chown"],
            &format!("in file_system::Dir::\"{}\"", root.join("ro").display()),
        )],
    );
    let sub = open_dir(&c, &root.join("w/sub"));
    let old_sub = sub.clone();
    let f = sub
        .open_file(&c, "f", OpenFileOptions::read_write())
        .unwrap();
    // moving the directory itself is allowed (move/create are not forbidden in `ro`)
    let ro = open_dir(&c, &root.join("ro"));
    sub.move_to(&c, &ro, "sub").unwrap();
    let moved = root.join("ro/sub/f");
    denied(f.write_in_place(&c, "pwned"));
    denied(f.append(&c, "pwned"));
    denied(f.truncate(&c, 0));
    denied(f.chmod(&c, 0o777));
    denied(f.write(&c, "pwned", WriteOptions::default()));
    denied(f.fallocate(&c, 4096));
    denied(old_sub.chmod(&c, 0o777));
    denied(old_sub.chmod_recursive(&c, 0o777));
    assert_eq!(fs::read_to_string(&moved).unwrap(), "orig");
    assert_eq!(fs::metadata(&moved).unwrap().len(), 4);
    assert_eq!(mode(&moved), 0o644);
    assert_eq!(mode(&root.join("ro/sub")), 0o755);
    assert_eq!(
        f.current_path().unwrap().as_str(),
        s(&moved),
        "the handle's path follows the fd"
    );
    // what stays allowed is still allowed, at the new path
    assert_eq!(f.read(&c).unwrap(), "orig");
    let listed = old_sub.list_entries(&c).unwrap();
    assert_eq!(
        listed["f"].path().unwrap().as_str(),
        s(&moved),
        "entries are named where they are now"
    );
}

/// A handle whose name was removed has no path to authorize against: it fails closed (here
/// the inode is still linked where writes are forbidden).
#[test]
fn a_handle_whose_name_was_removed_fails_closed() {
    let (_t, root) = root_dir();
    fs::create_dir(root.join("w")).unwrap();
    fs::create_dir(root.join("ro")).unwrap();
    fs::write(root.join("ro/f"), "PROTECTED").unwrap();
    fs::hard_link(root.join("ro/f"), root.join("w/f")).unwrap();
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["write"],
            &format!("in file_system::Dir::\"{}\"", root.join("ro").display()),
        )],
    );
    let w = open_dir(&c, &root.join("w"));
    let f = w.open_file(&c, "f", OpenFileOptions::read_write()).unwrap();
    // the allowed name goes away; the inode stays linked in `ro`
    w.open_file(&c, "f", OpenFileOptions::read())
        .unwrap()
        .delete(&c)
        .unwrap();
    let e = f.write_in_place(&c, "pwned").unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileError, "{e:?}");
    assert_eq!(f.current_path().unwrap_err().kind(), FsErrorKind::FileError);
    assert_eq!(fs::read_to_string(root.join("ro/f")).unwrap(), "PROTECTED");
}

/// One host operation of a test table.
type Op<'a> = Box<dyn Fn() -> Result<(), rust_sdk::fs::FsError> + 'a>;

/// In-place writes, appends, truncation, preallocation and copies into an existing file kept
/// S_ISUID/S_ISGID when the runner is root (the kernel clears them only for unprivileged
/// writers): a set-uid-root file ended up with script-chosen bytes.
#[test]
fn content_changing_writes_clear_set_id_bits() {
    use rust_sdk::fs::CopyFileOptions;
    let (_t, root) = root_dir();
    let suid = root.join("suid");
    fs::write(&suid, "orig").unwrap();
    fs::write(root.join("src"), "payload").unwrap();
    set_mode(&suid, 0o6755);
    if mode(&suid) != 0o6755 {
        return; // set-id bits not supported here
    }
    let c = ctx_under(&root);
    let d = open_dir(&c, &root);
    let f = d
        .open_file(&c, "suid", OpenFileOptions::read_write())
        .unwrap();
    let src = d.open_file(&c, "src", OpenFileOptions::read()).unwrap();
    let ops: Vec<(&str, Op<'_>)> = vec![
        ("write_in_place", Box::new(|| f.write_in_place(&c, "p1"))),
        ("append", Box::new(|| f.append(&c, "p2"))),
        ("truncate", Box::new(|| f.truncate(&c, 1))),
        ("fallocate", Box::new(|| f.fallocate(&c, 8192))),
        (
            "copy_to",
            Box::new(|| {
                src.copy_to(
                    &c,
                    &f,
                    CopyFileOptions {
                        force: true,
                        ..Default::default()
                    },
                )
            }),
        ),
        (
            "gzip compress",
            Box::new(|| rust_sdk::fs::gzip::compress(&c, &src, &f, 6)),
        ),
    ];
    for (what, op) in ops {
        set_mode(&suid, 0o6755);
        op().unwrap();
        assert_eq!(mode(&suid), 0o755, "{what} kept set-id bits");
    }
    // the command helpers take the same paths
    set_mode(&suid, 0o6755);
    rust_sdk::fs::commands::write(&c, &s(&suid), "more", false).unwrap();
    assert_eq!(mode(&suid), 0o755, "write (append) kept set-id bits");
    set_mode(&suid, 0o6755);
    rust_sdk::fs::commands::cp(
        &c,
        &s(&root.join("src")),
        &s(&suid),
        CopyFileOptions {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(mode(&suid), 0o755, "cp kept set-id bits");
    assert_eq!(fs::read_to_string(&suid).unwrap(), "payload");
}

/// An archive entry landing on a symlink (or FIFO, socket, device) replaces it, which deletes
/// it: `create` + `write` were checked, `delete` was not.
#[test]
fn an_archive_entry_replacing_a_symlink_needs_delete_on_it() {
    use rust_sdk::fs::ExtractArchiveOptions;
    let (_t, root) = root_dir();
    fs::create_dir(root.join("dest")).unwrap();
    let link = root.join("dest/link");
    symlink("/nonexistent-target", &link).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "link", &b"hi"[..]).unwrap();
    fs::write(root.join("a.tar"), b.into_inner().unwrap()).unwrap();
    let c = ctx_with_forbids(
        &root,
        &[forbid(
            &["delete"],
            &format!("== file_system::File::\"{}\"", link.display()),
        )],
    );
    let d = open_dir(&c, &root);
    let dest = open_dir(&c, &root.join("dest"));
    let a = d.open_file(&c, "a.tar", OpenFileOptions::read()).unwrap();
    denied(a.extract_archive(&c, &dest, ExtractArchiveOptions::default()));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // with `delete` allowed the link is replaced (never followed)
    let c = ctx_under(&root);
    a.extract_archive(&c, &dest, ExtractArchiveOptions::default())
        .unwrap();
    assert_eq!(fs::read_to_string(&link).unwrap(), "hi");
}

/// `OpenFileOptions::permissions` kept set-id bits on a created file (the Rust API took
/// `0o7777`; scripts were already limited to `0o777`).
#[test]
fn created_files_never_get_set_id_bits() {
    let (_t, root) = root_dir();
    let c = ctx_under(&root);
    let d = open_dir(&c, &root);
    d.open_file(
        &c,
        "new",
        OpenFileOptions {
            permissions: Some(0o6755),
            ..OpenFileOptions::create()
        },
    )
    .unwrap();
    assert_eq!(mode(&root.join("new")) & 0o6000, 0);
}

/// Issue 15: the Landlock backstop catches an SDK bug. Code confined by a ruleset derived from
/// a policy that reads only `inside` calls `std::fs::read` (no Cedar check at all, as a bug in
/// rust-sdk would) on a file outside the scopes, and the kernel refuses it.
///
/// `apply` also sets the process-wide layer of executed programs (every program the SDK runs
/// afterwards is confined to this policy), so the test runs in a fresh copy of the test
/// binary: in one process with the others (plain `cargo test`), it confined the `gdb` of the
/// trace tests, which then could not attach (issue 29).
#[test]
fn the_kernel_backstop_refuses_a_raw_read_outside_the_policy() {
    const IN_CHILD: &str = "REX_TEST_BACKSTOP_CHILD";
    if std::env::var_os(IN_CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fs_escape_regressions::the_kernel_backstop_refuses_a_raw_read_outside_the_policy",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(IN_CHILD, "1")
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{log}");
        // The child ran the test (and did not filter it out).
        assert!(log.contains("1 passed"), "{log}");
        return;
    }
    use rust_sdk::runtime::sandbox::{SandboxMode, SandboxStatus, apply};
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let inside = root.join("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("ok.txt"), "ok").unwrap();
    std::fs::write(root.join("secret.txt"), "TOP-SECRET").unwrap();
    let policies = rex_auth::Policies::parse(
        "p.cedar",
        &format!(
            r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
                      resource in file_system::Dir::"{}");"#,
            inside.display()
        ),
    )
    .unwrap();
    let plan = rex_auth::sandbox_plan::SandboxLayers::derive(
        &policies,
        &rex_auth::Principal::user("agent").unwrap(),
    );
    // Landlock confines the thread that applies it (and what it creates), so the confined
    // code runs on its own thread and the test harness stays free.
    let (status, inside_read, outside_read) = std::thread::spawn(move || {
        let report = apply(&plan, SandboxMode::BestEffort, None).unwrap();
        (
            report.status,
            std::fs::read_to_string(inside.join("ok.txt")),
            std::fs::read_to_string(root.join("secret.txt")),
        )
    })
    .join()
    .unwrap();
    if status == SandboxStatus::NotEnforced {
        eprintln!("SKIPPED: this kernel does not enforce Landlock");
        return;
    }
    assert_eq!(status, SandboxStatus::FullyEnforced);
    assert_eq!(inside_read.unwrap(), "ok");
    let err = outside_read.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(13), "{err}");
    // The test's own thread was never confined.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(),
        "TOP-SECRET"
    );
}
