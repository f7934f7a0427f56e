//! # rust-sdk
//!
//! The only layer of Rex that performs host operations. Every public operation takes an
//! [`SdkContext`] (which carries the [`rex_auth::Authorizer`]) and asks Cedar before it makes
//! the system call; when the answer is no, the kernel is never reached.
//!
//! This crate does not depend on Rhai: it is a plain Rust API on its own.
//!
//! ## Public face
//!
//! * [`SdkContext`], [`AuthorizerSlot`], [`SdkLimits`], [`InterruptCheck`]: what every
//!   operation takes (the authorizer, limits, cancellation); [`Permit`], the proof of one
//!   Allow that the syscall-performing internals require.
//! * [`SdkError`] and [`error::kind_module`]: what every error type shows a binding (REX's
//!   kind name and error module, the typed denial).
//! * One module per script category, each gated by Cedar: [`fs`] (files, directories,
//!   archives, shell-style commands), [`exec`] (running authorized executables, core dumps,
//!   gdb), [`process`], [`system`], [`disk`], [`network`], [`sysctl`], [`systemd`].
//! * [`runtime`]: the runner's own helpers (kernel sandbox, child processes, resource
//!   monitor, identity, thread placement). They act only on the runner's own process, no
//!   script reaches them, and they make no Cedar check.

mod context;
pub mod disk;
pub mod error;
pub mod exec;
pub mod fs;
pub mod network;
mod proc_file;
pub mod process;
pub mod runtime;
pub mod sysctl;
pub mod system;
pub mod systemd;
pub mod trace;
pub mod values;

pub use context::{
    Allowance, AuthorizerSlot, BudgetExceeded, InterruptCheck, MemoryBudget, Permit, SdkContext,
    SdkLimits,
};
pub use error::SdkError;
