//! Helpers for tool vendors who write their own gated module.
//!
//! A vendor function is a plain Rust function `Fn(&SdkContext, args...) -> Result<T, E>` where
//! `E: Into<SdkErrorInfo>`. [`VendorModule`] captures the [`SdkContext`] (scripts never see
//! it), registers the function under a script name, and turns an `Err` into the standard
//! error map `#{kind, message, source}`; a Cedar denial carries its typed token, so the run is
//! classified as access denied exactly as for the built-in modules.
//!
//! ```
//! use std::sync::Arc;
//! use rex_auth::{Action, AuthError, Authorizer, Denied, Policies, Principal, Resource};
//! use rhai_sdk::{SdkErrorInfo, VendorModule};
//! use rust_sdk::SdkContext;
//!
//! /// The vendor's own error type.
//! #[derive(Debug)]
//! enum ToolError {
//!     Denied(Box<Denied>),
//!     Other(String),
//! }
//!
//! impl From<AuthError> for ToolError {
//!     fn from(e: AuthError) -> Self {
//!         match e {
//!             AuthError::Denied(d) => ToolError::Denied(d),
//!             other => ToolError::Other(other.to_string()),
//!         }
//!     }
//! }
//!
//! impl From<ToolError> for SdkErrorInfo {
//!     fn from(e: ToolError) -> Self {
//!         match e {
//!             ToolError::Denied(d) => SdkErrorInfo::denied("ToolErrorKind", &d),
//!             ToolError::Other(m) => SdkErrorInfo::new("ToolErrorKind", "Other", m),
//!         }
//!     }
//! }
//!
//! /// A gated vendor operation: asks Cedar before doing anything.
//! fn config_size(ctx: &SdkContext, path: String) -> Result<i64, ToolError> {
//!     ctx.check(Action::FsRead, &Resource::file(&path)?)?;
//!     Ok(42) // a real tool would now call rust-sdk
//! }
//!
//! let policies = Policies::parse(
//!     "vendor.cedar",
//!     r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/etc/tool.conf");"#,
//! )
//! .unwrap();
//! let auth = Authorizer::builder()
//!     .principal(Principal::user("alice").unwrap())
//!     .policies(policies)
//!     .build()
//!     .unwrap();
//! let sdk = SdkContext::new(Arc::new(auth));
//! let engine = rex_core::RexEngine::builder()
//!     .register(|e| {
//!         VendorModule::new("tool", &sdk)
//!             .gated_fn1("config_size", config_size)
//!             .register_static(e)
//!     })
//!     .build();
//! let args = rex_core::ScriptArguments::default();
//! assert_eq!(engine.run(r#"tool::config_size("/etc/tool.conf")"#, &args).output, "42");
//! let denied = engine.run(r#"tool::config_size("/etc/shadow")"#, &args);
//! assert_eq!(denied.error.unwrap().kind(), rex_core::ErrorKind::AccessDenied);
//! let caught = engine.run(
//!     r#"let r = ""; try { tool::config_size("/etc/shadow"); } catch (e) { r = e.source + "/" + e.kind; } r"#,
//!     &args,
//! );
//! assert_eq!(caught.output, "ToolErrorKind/PermissionDenied");
//! ```

use rhai::{Dynamic, Engine, EvalAltResult, Module};
use rust_sdk::SdkContext;

use crate::error::{SdkErrorInfo, to_script_error};

/// Converts a vendor result into a script result: `Ok` passes through, `Err` becomes the
/// standard error map (with the denial token for a Cedar denial).
pub fn gated<T, E: Into<SdkErrorInfo>>(result: Result<T, E>) -> Result<T, Box<EvalAltResult>> {
    result.map_err(to_script_error)
}

/// A vendor's module of gated functions; see the [module docs](self).
pub struct VendorModule {
    name: String,
    sdk: SdkContext,
    module: Module,
}

impl std::fmt::Debug for VendorModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorModule")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl VendorModule {
    /// An empty module named `name` (the static namespace used by [`Self::register_static`]).
    /// `sdk` is cloned into every function.
    pub fn new(name: &str, sdk: &SdkContext) -> Self {
        Self {
            name: name.to_string(),
            sdk: sdk.clone(),
            module: Module::new(),
        }
    }

    /// Adds a gated function without arguments.
    #[must_use]
    pub fn gated_fn0<T, E, F>(mut self, name: &str, f: F) -> Self
    where
        T: Clone + Send + Sync + 'static,
        E: Into<SdkErrorInfo>,
        F: Fn(&SdkContext) -> Result<T, E> + Send + Sync + 'static,
    {
        let sdk = self.sdk.clone();
        self.module.set_native_fn(name, move || gated(f(&sdk)));
        self
    }

    /// Adds a gated function of one argument.
    #[must_use]
    pub fn gated_fn1<A, T, E, F>(mut self, name: &str, f: F) -> Self
    where
        A: Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Into<SdkErrorInfo>,
        F: Fn(&SdkContext, A) -> Result<T, E> + Send + Sync + 'static,
    {
        let sdk = self.sdk.clone();
        self.module
            .set_native_fn(name, move |a: A| gated(f(&sdk, a)));
        self
    }

    /// Adds a gated function of two arguments.
    #[must_use]
    pub fn gated_fn2<A, B, T, E, F>(mut self, name: &str, f: F) -> Self
    where
        A: Clone + Send + Sync + 'static,
        B: Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Into<SdkErrorInfo>,
        F: Fn(&SdkContext, A, B) -> Result<T, E> + Send + Sync + 'static,
    {
        let sdk = self.sdk.clone();
        self.module
            .set_native_fn(name, move |a: A, b: B| gated(f(&sdk, a, b)));
        self
    }

    /// Adds a gated function of three arguments.
    #[must_use]
    pub fn gated_fn3<A, B, C, T, E, F>(mut self, name: &str, f: F) -> Self
    where
        A: Clone + Send + Sync + 'static,
        B: Clone + Send + Sync + 'static,
        C: Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Into<SdkErrorInfo>,
        F: Fn(&SdkContext, A, B, C) -> Result<T, E> + Send + Sync + 'static,
    {
        let sdk = self.sdk.clone();
        self.module
            .set_native_fn(name, move |a: A, b: B, c: C| gated(f(&sdk, a, b, c)));
        self
    }

    /// Adds a constant (e.g. a kind name) to the module.
    #[must_use]
    pub fn constant(mut self, name: &str, value: impl Clone + Send + Sync + 'static) -> Self {
        self.module.set_var(name, Dynamic::from(value));
        self
    }

    /// Registers the functions under the static namespace (`name::f(..)`).
    pub fn register_static(self, engine: &mut Engine) {
        engine.register_static_module(self.name.as_str(), self.module.into());
    }

    /// Registers the functions globally (`f(..)`, like the built-in modules).
    pub fn register_global(self, engine: &mut Engine) {
        engine.register_global_module(self.module.into());
    }
}
