//! Shell-style helpers.
