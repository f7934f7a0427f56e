//! # rust-sdk
//!
//! The only layer of Rex that performs host operations. Every public operation takes an
//! [`SdkContext`] (which carries the [`rex_auth::Authorizer`]) and asks Cedar before it makes
//! the system call; when the answer is no, the kernel is never reached.
//!
//! This crate does not depend on Rhai: it is a plain Rust API on its own.

pub mod child;
pub mod context;
pub mod disk;
pub mod exec;
pub mod fs;
pub mod identity;
pub mod monitor;
pub mod network;
mod proc_file;
pub mod process;
pub mod sandbox;
pub mod sched;
pub mod sysctl;
pub mod system;
pub mod systemd;

pub use context::{AuthorizerSlot, InterruptCheck, SdkContext, SdkLimits};
