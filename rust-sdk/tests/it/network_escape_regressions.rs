//! Regressions found by the runner's escape suite (rex-runner/tests/it/escape_network.rs),
//! fixed here in the crate that owns them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use common::*;
use rust_sdk::network::{self, HttpOptions, NetworkError, normalize_url};

/// A path-prefix grant (`like "/public/*"`) used to match `/public/../secret`, which the
/// server then resolved to `/secret`.
#[test]
fn dot_segments_cannot_escape_a_path_prefix_grant() {
    // port 1 on loopback: nothing listens, so a request that passed authorization would
    // fail as a connection error, not as an invalid URL
    let c = ctx(
        r#"permit(principal, action == network::Action::"GET", resource)
             when { resource.host == "127.0.0.1" && resource.path like "/public/*" };"#,
    );
    let opts = HttpOptions {
        use_env_proxy: false,
        ..HttpOptions::default()
    };
    for path in [
        "/public/../secret",
        "/public/./x",
        "/public/%2e%2e/secret",
        "/public/%2E./secret",
        "/public/..;/secret",
        "/public/..%2fsecret",
        "/public/..%5Csecret",
        "/public\\..\\secret",
        "/public/a/..",
    ] {
        let url = format!("http://127.0.0.1:1{path}");
        let err = network::http_get(&c, &url, &opts).unwrap_err();
        assert!(
            matches!(err, NetworkError::InvalidUrl { .. }),
            "{path}: {err:?}"
        );
    }
}

#[test]
fn ordinary_paths_with_dots_are_still_accepted() {
    for path in [
        "/a.b/c",
        "/.well-known/x",
        "/a/...",
        "/v1.2/..x",
        "/%2e%2ex",
        "/a;b/c",
    ] {
        let u = normalize_url(&format!("https://example.com{path}")).unwrap();
        assert_eq!(u.path, path);
    }
}
