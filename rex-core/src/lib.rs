//! The sandboxed Rhai engine of Rex.
