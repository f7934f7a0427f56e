//! The integration tests of `rhai-sdk`, in one test binary (one link instead of one per file).
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod archive;
mod common;
mod disk_sysctl;
mod exec;
mod handles;
mod io;
mod modules;
mod reachable;
mod rex_api_coverage;
mod rex_io_coverage;
mod sdk_ops;
mod systemd;
mod unbuilt_options;
