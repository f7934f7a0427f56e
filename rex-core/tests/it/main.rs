//! The integration tests of `rex-core`, in one test binary (one link instead of one per file);
//! `tests/hostile.rs` stays apart because it installs the counting allocator.
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod arguments;
mod denials;
mod engine_api;
mod fuzz;
mod fuzz_args;
mod standard_library;
