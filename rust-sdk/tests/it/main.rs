//! The integration tests of `rust-sdk`, in one test binary (one link instead of one per file).
//! Each module is one former `tests/*.rs` file; shared helpers are the non-test modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod archive_api;
mod common;
mod context_slot;
mod disk_api;
mod elf_cert_api;
mod exec_api;
mod exec_caps_ns;
mod fs_commands;
mod fs_escape_regressions;
mod fs_follow_mode;
mod fs_handles;
mod fs_linux;
mod fs_proptest;
mod fs_race;
mod network_api;
mod network_escape_regressions;
mod process_api;
mod process_more;
mod redaction_golden;
mod sysctl_api;
mod system_api;
mod systemd_api;
