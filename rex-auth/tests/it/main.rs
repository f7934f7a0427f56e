//! The integration tests of `rex-auth`, in one test binary (one link instead of one per file).
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod approval;
mod authorizer;
mod equivalence;
mod fuzz_path;
mod fuzz_policy;
mod rex_policies;
