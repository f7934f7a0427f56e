//! The `sysctl` module (REX's `SysctlManager` and `sysctl_*` wrappers).
//!
//! rust-sdk has no sysctl API yet, so this module registers nothing but its error kinds
//! (`SysteminfoErrorKind`).

use rhai::Engine;
use rust_sdk::SdkContext;

use crate::catalog::FunctionInfo;

/// Registers the sysctl module (currently nothing: rust-sdk has no sysctl API yet).
pub fn register(_engine: &mut Engine, _sdk: &SdkContext) {}

/// The functions of this module, for `--print-functions`.
pub(crate) const FUNCTIONS: &[FunctionInfo] = &[];
