//! Helpers for tool vendors who write their own gated module.
//!
//! A vendor function is a plain Rust function `Fn(&SdkContext, args...) -> Result<T, E>` where
//! `E: Into<SdkErrorInfo>`, with any number of arguments. [`VendorModule::func`] declares it
//! exactly as the built-in modules declare theirs ([`crate::binding`]): script name, argument
//! names, the Cedar actions it checks, a one-line doc. The module captures the [`SdkContext`]
//! (scripts never see it) and turns an `Err` into the standard error map
//! `#{kind, message, source}`; a Cedar denial carries its typed token, so the run is
//! classified as access denied exactly as for the built-in modules. The declaration is in the
//! engine's catalog ([`rex_core::RexEngine::catalog`], `--print-functions`, MCP's
//! `list_functions`) as soon as the module is registered.
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
//! /// Any number of arguments: the declaration names each one.
//! fn config_line(ctx: &SdkContext, path: String, section: String, key: String, n: i64)
//!     -> Result<String, ToolError> {
//!     ctx.check(Action::FsRead, &Resource::file(&path)?)?;
//!     Ok(format!("{section}.{key}#{n}"))
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
//!             .func("config_size", ["path"], &[Action::FsRead], "Size of a config file.", config_size)
//!             .func(
//!                 "config_line",
//!                 ["path", "section", "key", "n"],
//!                 &[Action::FsRead],
//!                 "One line of a config file.",
//!                 config_line,
//!             )
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
//! let line = engine.run(r#"tool::config_line("/etc/tool.conf", "a", "b", 2)"#, &args);
//! assert_eq!(line.output, "a.b#2");
//! // The engine's catalog lists the declarations, in script types.
//! let catalog = engine.catalog();
//! let f = catalog.iter().find(|f| f.name == "config_line").unwrap();
//! assert_eq!(f.module, "tool");
//! assert_eq!(
//!     f.signature,
//!     "tool::config_line(path: String, section: String, key: String, n: int) -> String"
//! );
//! assert_eq!(f.actions, vec![Action::FsRead]);
//! ```

use rhai::{Dynamic, Engine, EvalAltResult, Module};
use rust_sdk::SdkContext;

use crate::binding::{Binding, HostAccess, SdkFn};
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
    /// An empty module named `name` (the static namespace used by [`Self::register_static`],
    /// and the module name in the catalog). `sdk` is cloned into every function.
    pub fn new(name: &str, sdk: &SdkContext) -> Self {
        Self {
            name: name.to_string(),
            sdk: sdk.clone(),
            module: Module::new(),
        }
    }

    /// Declares function `name`, of any number of arguments: `f` is
    /// `Fn(&SdkContext, args...) -> R` (`R` a value or `Result<T, E: Into<SdkErrorInfo>>`),
    /// `params` names its script arguments, `access` lists the Cedar actions it checks (or
    /// [`crate::binding::NO_HOST`]) and `doc` is its one-line description.
    #[must_use]
    pub fn func<M, const N: usize, F: SdkFn<M, N>>(
        mut self,
        name: &str,
        params: [&str; N],
        access: impl Into<HostAccess>,
        doc: &str,
        f: F,
    ) -> Self {
        Binding::into_module(&mut self.module, &self.name)
            .func_with_sdk(name, params, access, doc, &self.sdk, f);
        self
    }

    /// Declares into the module with a [`Binding`] (custom types, methods, getters).
    #[must_use]
    pub fn declare(mut self, f: impl FnOnce(&mut Binding<'_>, &SdkContext)) -> Self {
        let sdk = self.sdk.clone();
        f(
            &mut Binding::into_module(&mut self.module, &self.name),
            &sdk,
        );
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
