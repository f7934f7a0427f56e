//! Random path strings: never panic; with a deny-all policy the disk is never touched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use proptest::prelude::*;
use rex_auth::{Authorizer, Policies, Principal};
use rust_sdk::SdkContext;
use rust_sdk::fs::commands::{self, GrepOptions, LsOptions, RmOptions};
use rust_sdk::fs::{DirHandle, OpenDirOptions};

fn tree(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let c = if p.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        v.push((p.display().to_string(), c));
    }
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_paths_deny_all(suffix in "[a-z/.\\x00-\\x1f\u{e9}*?<> ]{0,30}") {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), "x").unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        let before = tree(t.path());
        let auth = Authorizer::builder()
            .principal(Principal::user("tester").unwrap())
            .policies(Policies::deny_all())
            .build()
            .unwrap();
        let ctx = SdkContext::new(Arc::new(auth));
        for p in [format!("{}/{}", t.path().display(), suffix), suffix.clone(), format!("/{suffix}")] {
            let _ = commands::cat(&ctx, &p, false);
            let _ = commands::write(&ctx, &p, "zz", false);
            let _ = commands::write(&ctx, &p, "zz", true);
            let _ = commands::rm(&ctx, &p, RmOptions { force: true, recursive: true });
            let _ = commands::mkdir(&ctx, &p, true);
            let _ = commands::touch(&ctx, &p);
            let _ = commands::ls(&ctx, &p, LsOptions::default());
            let _ = commands::grep(&ctx, "x", &p, GrepOptions::default());
            let _ = commands::mv(&ctx, &p, &format!("{}/moved", t.path().display()));
            let _ = DirHandle::open(&ctx, &p, OpenDirOptions { create: true, recursive: true, follow_symlinks: false });
        }
        prop_assert_eq!(tree(t.path()), before);
    }
}
