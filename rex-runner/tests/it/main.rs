//! The integration tests of `rex-runner`, in one test binary (one link instead of one per file);
//! `tests/embedding.rs` stays apart because it installs the counting allocator.
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod cli;
mod cli_budget;
mod cli_logging;
mod common_cli;
mod escape_common;
mod escape_engine;
mod escape_fs;
mod escape_network;
mod escape_process;
mod fuzz_scripts;
mod mcp;
mod mcp_abuse;
mod rex_scenarios;
