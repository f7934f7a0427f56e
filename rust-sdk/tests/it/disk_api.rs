//! df, iostat, lsblk and unmount on this machine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::user_ctx as ctx;
use rust_sdk::disk::{self, DiskErrorKind, FilesystemOptions};

const PROC_READS: &str = r#"permit(principal, action == file_system::Action::"read", resource)
    when { resource == file_system::File::"/proc/mounts" || resource == file_system::File::"/proc/diskstats"
           || resource == file_system::File::"/proc/stat" };"#;

#[test]
fn filesystems_allowed_for_root_only() {
    let c = ctx(&format!(
        r#"{PROC_READS}
        permit(principal, action == file_system::Action::"stat", resource == file_system::Dir::"/");"#
    ));
    let list = disk::filesystems(&c, &FilesystemOptions::default()).unwrap();
    assert_eq!(list.filesystems.len(), 1, "{:?}", list.filesystems);
    let root = &list.filesystems[0];
    assert_eq!(root.mounted_on, "/");
    assert!(root.size > 0);
    assert!(root.block_use_percent >= 0.0 && root.block_use_percent <= 100.0);
    assert!(!root.mount_options.is_empty());
    // every other mount point was denied and counted (/proc at least)
    assert!(list.denied_count >= 1);
    // targets filter
    let only = disk::filesystems(
        &c,
        &FilesystemOptions {
            targets: vec!["/proc".into()],
            local: false,
        },
    )
    .unwrap();
    assert!(only.filesystems.is_empty());
}

#[test]
fn filesystems_denied_without_proc_mounts() {
    let c = ctx(r#"permit(principal, action == file_system::Action::"stat", resource);"#);
    let err = disk::filesystems(&c, &FilesystemOptions::default()).unwrap_err();
    assert_eq!(err.kind(), DiskErrorKind::PermissionDenied);
}

#[test]
fn iostat_allowed_and_denied() {
    let c = ctx(PROC_READS);
    let s = disk::iostat(&c).unwrap();
    let cpu = s.cpu_stats;
    let sum = cpu.user_percent
        + cpu.nice_percent
        + cpu.system_percent
        + cpu.iowait_percent
        + cpu.steal_percent
        + cpu.idle_percent;
    assert!((sum - 100.0).abs() < 1.0, "{sum}");
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/stat");"#,
    );
    assert_eq!(
        disk::iostat(&c).unwrap_err().kind(),
        DiskErrorKind::PermissionDenied
    );
}

#[test]
fn lsblk_allowed_and_denied() {
    let c = ctx(&format!(
        r#"{PROC_READS}
        permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::Dir::"/sys/block");"#
    ));
    let devs = disk::lsblk(&c).unwrap();
    let names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(devs.len(), names.len());
    for d in &devs {
        assert!(names.contains(&d.name));
        for p in &d.children {
            assert_eq!(p.kind, "part");
        }
    }
    let c = ctx(PROC_READS);
    assert_eq!(
        disk::lsblk(&c).unwrap_err().kind(),
        DiskErrorKind::PermissionDenied
    );
}

fn is_mount_point(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path))
}

/// Mounts a tmpfs on a fresh temp dir when the test has the privilege; `None` otherwise.
fn tmpfs() -> Option<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "rex-test", &path])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some((dir, path))
}

#[test]
fn unmount_allowed() {
    let Some((_dir, path)) = tmpfs() else {
        // no mount privilege: the check passes and the kernel reports the failure
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_str().unwrap();
        let c = ctx(r#"permit(principal, action == file_system::Action::"unmount", resource);"#);
        assert_eq!(
            disk::unmount(&c, p).unwrap_err().kind(),
            DiskErrorKind::SystemError
        );
        return;
    };
    assert!(is_mount_point(&path));
    let c = ctx(&format!(
        r#"permit(principal, action == file_system::Action::"unmount", resource == file_system::Dir::"{path}");"#
    ));
    disk::unmount(&c, &path).unwrap();
    assert!(!is_mount_point(&path));
}

#[test]
fn unmount_denied_leaves_mount() {
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"unmount", resource == file_system::Dir::"/elsewhere");"#,
    );
    assert_eq!(
        disk::unmount(&c, "relative").unwrap_err().kind(),
        DiskErrorKind::InvalidPath
    );
    let Some((_dir, path)) = tmpfs() else {
        let err = disk::unmount(&c, "/tmp").unwrap_err();
        assert_eq!(err.kind(), DiskErrorKind::PermissionDenied);
        return;
    };
    let err = disk::unmount(&c, &path).unwrap_err();
    assert_eq!(err.kind(), DiskErrorKind::PermissionDenied);
    assert!(is_mount_point(&path), "still mounted");
    let _ = std::process::Command::new("umount").arg(&path).status();
}

/// Unmounts `0` lazily on drop, so a failing assertion leaves no mount behind.
struct Mounted(String);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.0])
            .status();
    }
}

/// Mounts a tmpfs on the existing directory `path`; `None` without the privilege.
fn mount_tmpfs(path: &str) -> Option<Mounted> {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "rex-test", path])
        .status()
        .is_ok_and(|s| s.success())
        .then(|| Mounted(path.to_string()))
}

/// Issue 19 (4): `UMOUNT_NOFOLLOW` covers only the last component, so a symlink earlier in the
/// path used to unmount a file system outside the grant. The path must have no symlink, and
/// the mount outside stays.
#[test]
fn unmount_through_symlinked_parent_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().canonicalize().unwrap();
    let allowed = base.join("allowed");
    let target = base.join("outside").join("mnt");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    let target_s = target.to_str().unwrap().to_string();
    let Some(_outside) = mount_tmpfs(&target_s) else {
        return; // no mount privilege: nothing to unmount
    };
    std::os::unix::fs::symlink(base.join("outside"), allowed.join("link")).unwrap();
    std::os::unix::fs::symlink(&target, allowed.join("last")).unwrap();
    let c = ctx(&format!(
        r#"permit(principal, action == file_system::Action::"unmount", resource in file_system::Dir::"{}");"#,
        allowed.display()
    ));
    let via_parent = format!("{}/link/mnt", allowed.display());
    let err = disk::unmount(&c, &via_parent).unwrap_err();
    assert_eq!(err.kind(), DiskErrorKind::InvalidPath, "{err:?}");
    assert!(
        is_mount_point(&target_s),
        "the mount outside the grant is still there"
    );
    // A symlink as the last component is not followed either.
    let via_last = format!("{}/last", allowed.display());
    assert!(disk::unmount(&c, &via_last).is_err());
    assert!(
        is_mount_point(&target_s),
        "still mounted after the last-component link"
    );
    // A mount point inside the grant, reached without a symlink, is unmounted.
    let inside = allowed.join("m");
    std::fs::create_dir(&inside).unwrap();
    let inside_s = inside.to_str().unwrap().to_string();
    let _inside = mount_tmpfs(&inside_s).unwrap();
    disk::unmount(&c, &inside_s).unwrap();
    assert!(!is_mount_point(&inside_s));
    assert!(is_mount_point(&target_s));
}
