//! The runner's own helpers: not script operations, so they have no Cedar check. Nothing
//! here is reachable from a script, and each acts only on the runner's own process (or the
//! children it starts of its own binary).
//!
//! * [`sandbox`]: the kernel backstop, applying the runner's layer of
//!   `rex_auth::sandbox_plan::SandboxLayers` with Landlock to the runner, and the layer of
//!   executed programs on `execute`'s spawning thread.
//! * `broker` (crate-private): the unmount broker, forked before the domain; it re-checks
//!   Cedar and carries out `disk::unmount`, which no Landlock domain can do.
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

/// `O_NOFOLLOW` for `std::os::unix::fs::OpenOptionsExt::custom_flags`, for the runner's own
/// files (learn's output): the value differs between architectures, and crates above
/// rust-sdk take no OS crate of their own.
#[allow(clippy::cast_possible_wrap)]
pub const O_NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
