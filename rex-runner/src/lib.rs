//! # rex-runner
//!
//! Runs Rhai scripts under Cedar policies: the embeddable [`Runner`] and the `rex-runner`
//! CLI, a drop-in for REX's (same flags, same output document) with distinct exit codes.
//!
//! ```no_run
//! use rex_runner::{Input, Runner};
//! use rex_core::ScriptArguments;
//!
//! let runner = Runner::builder()
//!     .policy(Input::from_text("inline.cedar", "permit(principal, action == sysinfo::Action::\"list\", resource);"))
//!     .build()
//!     .unwrap();
//! let report = runner.run(&Input::from_text("script.rhai", "40 + 2"), &ScriptArguments::new());
//! assert_eq!(report.document.output, "42");
//! ```

mod audit;
mod builtins;
mod exit;
pub mod explain;
mod inputs;
pub mod learn;
pub mod learn_tests;
mod metrics;
pub mod numbers;
mod output;
pub mod own_files;
pub mod policy_fmt;
pub mod policy_tests;
pub mod replay;
mod runner;
pub mod ssm;

pub use audit::{
    AuditLogSink, DeferredAuditLogSink, RUNNER_LOG_TARGET, TracingAuditSink, audit_decision,
};
pub use exit::ExitStatus;
pub use inputs::{Input, InputError, MAX_INPUT_BYTES, read_input, read_policy, sha256_hex};
pub use output::{
    DEFAULT_MAX_DOCUMENT_BYTES, DenialInfo, DroppedInfo, ErrorInfo, ErrorType,
    MAX_ERROR_MESSAGE_CHARS, OutputDocument, OutputFormat, Rendered, Status, cap_document, render,
    truncate_message,
};
pub use runner::{ModuleRegistrar, RunReport, Runner, RunnerBuilder, RunnerError};

/// The embedding guide (`docs/EMBEDDING.md`), included here so that its examples are
/// compiled and run as doctests.
#[doc = include_str!("../../docs/EMBEDDING.md")]
pub mod embedding_guide {}
