//! The `disk` module (REX's `rhai-safe-disk-info`).
//!
//! rust-sdk has no disk API yet, so this module registers nothing but its error kinds
//! (`DiskinfoErrorKind`, registered with the other kind modules).

use rhai::Engine;
use rust_sdk::SdkContext;

use crate::catalog::FunctionInfo;

/// Registers the disk module (currently nothing: rust-sdk has no disk API yet).
pub fn register(_engine: &mut Engine, _sdk: &SdkContext) {}

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[];
