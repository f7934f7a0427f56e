//! A directory is swapped with a symlink to an outside directory while the SDK reads through
//! it: outside content must never come back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::SdkContext;
use rust_sdk::fs::commands::cat;
use rust_sdk::fs::{DirHandle, OpenDirOptions, OpenFileOptions};

#[test]
fn swap_dir_with_symlink_never_leaks() {
    let granted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let g = granted.path().to_path_buf();
    fs::create_dir(g.join("d")).unwrap();
    fs::write(g.join("d/f"), "inside").unwrap();
    fs::write(outside.path().join("f"), "OUTSIDE").unwrap();
    let pol = format!(
        "permit(principal, action, resource in file_system::Dir::\"{}\");",
        g.display()
    );
    let auth = Authorizer::builder()
        .principal(Principal::user("tester").unwrap())
        .policies(Policies::parse("t", &pol).unwrap())
        .build()
        .unwrap();
    let ctx = SdkContext::new(Arc::new(auth));
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let g = g.clone();
        let out = outside.path().to_path_buf();
        std::thread::spawn(move || {
            std::os::unix::fs::symlink(&out, g.join("link")).unwrap();
            while !stop.load(Ordering::Relaxed) {
                // d (real dir) <-> link (symlink to outside), atomically via rename.
                let _ = fs::rename(g.join("d"), g.join("tmpd"));
                let _ = fs::rename(g.join("link"), g.join("d"));
                let _ = fs::rename(g.join("d"), g.join("link"));
                let _ = fs::rename(g.join("tmpd"), g.join("d"));
            }
        })
    };
    let path = format!("{}/d/f", g.display());
    let mut ok = 0;
    for i in 0..2500 {
        let r = if i % 2 == 0 {
            cat(&ctx, &path, false)
        } else {
            DirHandle::open(
                &ctx,
                &format!("{}/d", g.display()),
                OpenDirOptions::default(),
            )
            .and_then(|d| d.open_file(&ctx, "f", OpenFileOptions::read()))
            .and_then(|f| f.read(&ctx))
        };
        if let Ok(s) = r {
            assert_eq!(s, "inside", "outside content leaked");
            ok += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(ok > 0, "some reads should have succeeded");
}
