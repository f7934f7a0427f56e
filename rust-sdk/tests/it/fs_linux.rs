//! Linux handle operations (symlink handles, fallocate, SELinux labels), `find_each` with time
//! filters and the largest-subdirectory tracking of `disk_usage`: allowed (real effect) and
//! denied (nothing changed).
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
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;
use proptest::prelude::*;
use rust_sdk::fs::*;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn link_fixture() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("target.txt"), "x").unwrap();
    std::os::unix::fs::symlink("target.txt", t.path().join("ln")).unwrap();
    t
}

#[test]
fn symlink_metadata_has_target_only_when_read_is_allowed() {
    let t = link_fixture();
    let c = ctx(&all(t.path()));
    let h = open_dir(&c, t.path()).open_symlink(&c, "ln").unwrap();
    let m = h.metadata(&c).unwrap();
    assert_eq!(m.entry_type, EntryType::Symlink);
    assert_eq!(m.symlink_target.as_deref(), Some("target.txt"));
    assert_eq!(h.symlink_target(&c).unwrap(), "target.txt");

    let c2 = ctx(&only(t.path(), &["open", "stat"]));
    let h2 = open_dir(&c2, t.path()).open_symlink(&c2, "ln").unwrap();
    let m2 = h2.metadata(&c2).unwrap();
    assert_eq!(m2.entry_type, EntryType::Symlink);
    assert_eq!(m2.symlink_target, None);
    denied(h2.symlink_target(&c2));
}

#[test]
fn open_symlink_denied_and_type_checked() {
    let t = link_fixture();
    let c = ctx(&only(t.path(), &["read"]));
    let d = DirHandle::open(
        &ctx(&all(t.path())),
        &s(t.path()),
        OpenDirOptions::default(),
    )
    .unwrap();
    denied(d.open_symlink(&c, "ln"));
    let c = ctx(&all(t.path()));
    let e = open_dir(&c, t.path())
        .open_symlink(&c, "target.txt")
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::EntryTypeMismatchError);
    let c = ctx(&only(t.path(), &["open"]));
    let h = open_dir(&ctx(&all(t.path())), t.path())
        .open_symlink(&c, "ln")
        .unwrap();
    denied(h.metadata(&c));
}

#[test]
fn symlink_set_ownership_changes_the_link_not_the_target() {
    if !is_root() {
        eprintln!("skipped: chown needs root");
        return;
    }
    let t = link_fixture();
    let before_target = fs::metadata(t.path().join("target.txt")).unwrap().uid();
    let c = ctx(&all(t.path()));
    let h = open_dir(&c, t.path()).open_symlink(&c, "ln").unwrap();
    h.set_ownership(&c, Some("1"), Some("1")).unwrap();
    let l = fs::symlink_metadata(t.path().join("ln")).unwrap();
    assert_eq!((l.uid(), l.gid()), (1, 1));
    assert_eq!(
        fs::metadata(t.path().join("target.txt")).unwrap().uid(),
        before_target
    );

    let c2 = ctx(&only(t.path(), &["open", "stat", "read"]));
    let h2 = open_dir(&c2, t.path()).open_symlink(&c2, "ln").unwrap();
    denied(h2.set_ownership(&c2, Some("2"), Some("2")));
    let l = fs::symlink_metadata(t.path().join("ln")).unwrap();
    assert_eq!((l.uid(), l.gid()), (1, 1));
}

#[test]
fn fallocate_grows_the_file_and_denial_leaves_it() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("f"), "ab").unwrap();
    let c = ctx(&all(t.path()));
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read_write())
        .unwrap();
    f.fallocate(&c, 8192).unwrap();
    let m = fs::metadata(t.path().join("f")).unwrap();
    assert_eq!(m.len(), 8192);
    assert!(m.blocks() * 512 >= 8192);
    assert_eq!(
        f.fallocate(&c, 0).unwrap_err().kind(),
        FsErrorKind::InvalidArguments
    );

    fs::write(t.path().join("g"), "ab").unwrap();
    let c2 = ctx(&only(t.path(), &["open", "read"]));
    let g = open_dir(&c2, t.path())
        .open_file(&c2, "g", OpenFileOptions::read_write())
        .unwrap();
    denied(g.fallocate(&c2, 8192));
    assert_eq!(fs::metadata(t.path().join("g")).unwrap().len(), 2);
}

fn selinux_of(p: &Path) -> Option<String> {
    let mut buf = [0u8; 512];
    rustix::fs::getxattr(p, SELINUX_XATTR, &mut buf[..])
        .ok()
        .map(|n| {
            String::from_utf8_lossy(&buf[..n])
                .trim_end_matches('\0')
                .to_string()
        })
}

fn xattr_opts(user: &str, role: &str, ty: &str, level: &str) -> SetXAttrOptions {
    SetXAttrOptions {
        name: SELINUX_XATTR.into(),
        selinux_user: Some(user.into()),
        selinux_role: Some(role.into()),
        selinux_type: Some(ty.into()),
        selinux_level: Some(level.into()),
    }
}

#[test]
fn set_extended_attr_edits_the_selinux_context() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("f"), "x").unwrap();
    let policy = format!(
        "{}\npermit(principal, action == file_system::Action::\"set_x_attr\", resource in file_system::Dir::\"{}\") when {{ context.xattr.name == \"security.selinux\" }};",
        only(t.path(), &["open", "read"]),
        t.path().display()
    );
    let c = ctx(&policy);
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read())
        .unwrap();
    match f.set_extended_attr(&c, &xattr_opts("system_u", "object_r", "tmp_t", "s0")) {
        Ok(()) => {}
        Err(e) if e.errno().is_some() && !is_root() => {
            eprintln!("skipped: security.selinux not settable here: {e}");
            return;
        }
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(
        selinux_of(&t.path().join("f")).as_deref(),
        Some("system_u:object_r:tmp_t:s0")
    );
    let only_type = SetXAttrOptions {
        name: SELINUX_XATTR.into(),
        selinux_type: Some("var_log_t".into()),
        ..Default::default()
    };
    f.set_extended_attr(&c, &only_type).unwrap();
    assert_eq!(
        selinux_of(&t.path().join("f")).as_deref(),
        Some("system_u:object_r:var_log_t:s0")
    );

    // Denied: no set_x_attr grant; the label stays.
    let c2 = ctx(&only(t.path(), &["open", "read", "write"]));
    let f2 = open_dir(&c2, t.path())
        .open_file(&c2, "f", OpenFileOptions::read())
        .unwrap();
    denied(f2.set_extended_attr(&c2, &xattr_opts("u", "r", "etc_t", "s0")));
    assert_eq!(
        selinux_of(&t.path().join("f")).as_deref(),
        Some("system_u:object_r:var_log_t:s0")
    );
    // Another attribute name is refused before Cedar is asked.
    let bad = SetXAttrOptions {
        name: "user.x".into(),
        ..xattr_opts("u", "r", "t", "s0")
    };
    assert_eq!(
        f.set_extended_attr(&c, &bad).unwrap_err().kind(),
        FsErrorKind::InvalidArguments
    );
}

#[test]
fn merge_selinux_context_rules() {
    let o = SetXAttrOptions {
        name: SELINUX_XATTR.into(),
        selinux_level: Some("s1".into()),
        ..Default::default()
    };
    assert_eq!(
        merge_selinux_context(Some("u:r:t:s0:c1,c2\0"), &o).unwrap(),
        "u:r:t:s1"
    );
    assert!(merge_selinux_context(None, &o).is_err());
    assert!(merge_selinux_context(Some("garbage"), &o).is_err());
    assert!(validate_selinux_component("t", "a:b").is_err());
    assert!(validate_selinux_component("t", "a b").is_err());
    assert!(validate_selinux_component("t", "").is_err());
    assert!(validate_selinux_component("t", "tmp_t").is_ok());
}

proptest! {
    /// Whatever the components, a merged context has exactly four `:`-separated parts, and
    /// each given component appears unchanged in its slot.
    #[test]
    fn merged_context_has_four_parts(
        u in "[a-z_]{1,8}", r in "[a-z_]{1,8}", t in "[a-z_]{1,8}", l in "[a-z0-9]{1,8}",
        cur in proptest::option::of("[a-z_]{1,6}:[a-z_]{1,6}:[a-z_]{1,6}:[a-z0-9:,]{1,10}"),
        keep in proptest::collection::vec(any::<bool>(), 4),
    ) {
        let given = [u, r, t, l];
        let pick = |i: usize| (cur.is_none() || keep[i]).then(|| given[i].clone());
        let o = SetXAttrOptions {
            name: SELINUX_XATTR.into(),
            selinux_user: pick(0),
            selinux_role: pick(1),
            selinux_type: pick(2),
            selinux_level: pick(3),
        };
        let out = merge_selinux_context(cur.as_deref(), &o).unwrap();
        let parts: Vec<&str> = out.splitn(4, ':').collect();
        prop_assert_eq!(parts.len(), 4);
        for (i, part) in parts.iter().take(3).enumerate() {
            if let Some(v) = pick(i) {
                prop_assert_eq!(*part, v.as_str());
            }
        }
    }
}

fn set_mtime(p: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn find_each_gives_dir_entries_and_filters_by_mtime() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("old.log"), "o").unwrap();
    fs::write(t.path().join("new.log"), "n").unwrap();
    let now = SystemTime::now();
    set_mtime(
        &t.path().join("old.log"),
        now - Duration::from_secs(10 * 86400),
    );
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let cutoff = now - Duration::from_secs(86400);
    let cutoff_ns = i128::try_from(
        cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap();
    let mut seen = Vec::new();
    d.find_each::<FsError>(
        &c,
        &FindOptions {
            min_mtime_nanos: Some(cutoff_ns),
            ..Default::default()
        },
        &mut |e, found| {
            // The entry is usable: read it through its parent's fd.
            let text = e.open_as_file(&c, OpenFileOptions::read())?.read(&c)?;
            seen.push((found.name.clone(), text));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, vec![("new.log".to_string(), "n".to_string())]);

    let old: Vec<String> = d
        .find(
            &c,
            &FindOptions {
                max_mtime_nanos: Some(cutoff_ns),
                ..Default::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(old, vec!["old.log".to_string()]);

    // A callback error stops the walk and is returned as is.
    let mut calls = 0;
    let r = d.find_each::<FsError>(&c, &FindOptions::default(), &mut |_, _| {
        calls += 1;
        Err(FsError::InvalidArguments("stop".into()))
    });
    assert_eq!(r.unwrap_err().kind(), FsErrorKind::InvalidArguments);
    assert_eq!(calls, 1);
}

#[test]
fn find_time_filter_needs_stat() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "a").unwrap();
    let c = ctx(&only(t.path(), &["open", "read"]));
    let d = open_dir(&c, t.path());
    assert_eq!(d.find(&c, &FindOptions::default()).unwrap().len(), 1);
    denied(d.find(
        &c,
        &FindOptions {
            min_mtime_nanos: Some(0),
            ..Default::default()
        },
    ));
    denied(d.find(
        &c,
        &FindOptions {
            min_btime_nanos: Some(0),
            ..Default::default()
        },
    ));
}

#[test]
fn disk_usage_tracks_the_largest_subdir() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("small")).unwrap();
    fs::create_dir_all(t.path().join("big/inner")).unwrap();
    fs::write(t.path().join("small/f"), vec![1u8; 10]).unwrap();
    fs::write(t.path().join("big/inner/f"), vec![1u8; 200_000]).unwrap();
    let c = ctx(&all(t.path()));
    let r = open_dir(&c, t.path())
        .disk_usage(
            &c,
            DiskUsageOptions {
                summarize: true,
                apparent_size: true,
                ..Default::default()
            },
        )
        .unwrap();
    let l = r.largest_subdir.unwrap();
    assert_eq!(l.path, s(&t.path().join("big")));
    assert!(l.size_bytes >= 200_000);
}

#[test]
fn disk_usage_with_largest_subdir_opens_it() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("small")).unwrap();
    fs::create_dir_all(t.path().join("big/inner")).unwrap();
    fs::write(t.path().join("small/f"), vec![1u8; 10]).unwrap();
    fs::write(t.path().join("big/inner/f"), vec![1u8; 200_000]).unwrap();
    let opts = DiskUsageOptions {
        apparent_size: true,
        ..Default::default()
    };
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let (r, h) = d.disk_usage_with_largest_subdir(&c, opts).unwrap();
    assert_eq!(r, d.disk_usage(&c, opts).unwrap());
    let h = h.unwrap();
    assert_eq!(h.path().as_str(), s(&t.path().join("big")));
    assert!(h.list_entries(&c).unwrap().contains_key("inner"));

    // A directory Cedar refuses is neither counted as the largest nor handed out.
    let c2 = ctx(&format!(
        "{}\nforbid(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{}\");",
        all(t.path()),
        s(&t.path().join("big"))
    ));
    let (r, h) = d.disk_usage_with_largest_subdir(&c2, opts).unwrap();
    assert!(r.skipped.contains(&s(&t.path().join("big"))), "{r:?}");
    assert_eq!(h.unwrap().path().as_str(), s(&t.path().join("small")));

    // No subdirectory: no handle. No `stat` on the start: refused.
    let (_, h) = open_dir(&c, &t.path().join("small"))
        .disk_usage_with_largest_subdir(&c, opts)
        .unwrap();
    assert!(h.is_none());
    let c3 = ctx(&only(t.path(), &["open", "read"]));
    denied(open_dir(&c3, t.path()).disk_usage_with_largest_subdir(&c3, opts));
}

#[test]
fn file_disk_usage_is_its_size() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("f"), vec![7u8; 10]).unwrap();
    let c = ctx(&all(t.path()));
    let f = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read())
        .unwrap();
    let apparent = f
        .disk_usage(
            &c,
            DiskUsageOptions {
                apparent_size: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(apparent.path, s(&t.path().join("f")));
    assert_eq!((apparent.size_bytes, apparent.inode_count), (10, 1));
    let allocated = f.disk_usage(&c, DiskUsageOptions::default()).unwrap();
    assert_eq!(
        allocated.size_bytes,
        fs::metadata(t.path().join("f")).unwrap().blocks() * 512
    );
    let c2 = ctx(&only(t.path(), &["open", "read"]));
    denied(f.disk_usage(&c2, DiskUsageOptions::default()));
}

#[test]
fn entry_open_as_dir_with_options() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("real/x")).unwrap();
    std::os::unix::fs::symlink("real", t.path().join("ln")).unwrap();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let l = d.list_entries(&c).unwrap();
    // Plain: through the parent's fd.
    let h = l["real"]
        .open_as_dir_with(&c, OpenDirOptions::default())
        .unwrap();
    assert_eq!(h.path().as_str(), s(&t.path().join("real")));
    assert!(h.list_entries(&c).unwrap().contains_key("x"));
    // A symlink is not followed unless asked.
    assert!(
        l["ln"]
            .open_as_dir_with(&c, OpenDirOptions::default())
            .is_err()
    );
    let follow = OpenDirOptions {
        follow_symlinks: true,
        ..Default::default()
    };
    let h = l["ln"].open_as_dir_with(&c, follow).unwrap();
    assert!(h.list_entries(&c).unwrap().contains_key("x"));
    // Following checks the resolved path too.
    let c2 = ctx(&format!(
        "{}\nforbid(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{}\");",
        all(t.path()),
        s(&t.path().join("real"))
    ));
    denied(l["ln"].open_as_dir_with(&c2, follow));
    denied(l["real"].open_as_dir_with(&c2, OpenDirOptions::default()));
}

#[test]
fn metadata_owner_names_the_ids() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("f"), "x").unwrap();
    let c = ctx(&all(t.path()));
    let m = open_dir(&c, t.path())
        .open_file(&c, "f", OpenFileOptions::read())
        .unwrap()
        .metadata(&c)
        .unwrap();
    let o = m.owner();
    if m.uid == 0 {
        assert_eq!(o.user, "root");
    } else {
        assert!(!o.user.is_empty());
    }
}

#[test]
fn symlink_entry_checks_open_on_the_link() {
    let t = link_fixture();
    let c = ctx(&all(t.path()));
    let d = open_dir(&c, t.path());
    let e = d.symlink_entry(&c, "ln").unwrap().unwrap();
    assert_eq!((e.name.as_str(), e.entry_type), ("ln", EntryType::Symlink));
    assert!(d.symlink_entry(&c, "target.txt").unwrap().is_none());
    assert!(d.symlink_entry(&c, "missing").unwrap().is_none());
    let c2 = ctx(&only(t.path(), &["read"]));
    denied(d.symlink_entry(&c2, "ln"));
}
