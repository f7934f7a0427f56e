//! The integration tests of `rex-metrics`, in one test binary (one link instead of one per file).
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod facade;
mod prometheus;
mod runner_metrics;
mod script_api;
