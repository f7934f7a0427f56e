//! The runner's own helpers: not script operations, so they have no Cedar check. Nothing
//! here is reachable from a script, and each acts only on the runner's own process (or the
//! children it starts of its own binary).
//!
//! * [`sandbox`]: the kernel backstop, applying a `rex_auth::sandbox_plan::SandboxPlan`
//!   with Landlock to the runner (and a stricter layer on `execute`'s spawning thread).
//! * [`child`]: the MCP server's re-executions of its own binary (process group,
//!   `RLIMIT_AS`, group kill, death with the parent).
//! * [`monitor`]: the runner's CPU and memory counters (REX's run metrics).
//! * [`identity`]: the effective user, for the default principal.
//! * [`sched`]: starting a start-up helper thread on another core.

pub(crate) mod broker;
pub mod child;
pub mod identity;
pub mod monitor;
pub mod sandbox;
pub mod sched;
