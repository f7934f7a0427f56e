//! # rhai-sdk
//!
//! The script API of Rex: Rhai modules that expose rust-sdk to scripts with REX's names,
//! flag modules and error maps. This crate performs no host operation itself; every one goes
//! through rust-sdk, which asks Cedar first.
//!
//! Compose the modules with [`RexModules`] and register them on a `rex_core` engine:
//!
//! ```
//! use std::sync::Arc;
//! use rex_auth::{Authorizer, Policies, Principal};
//! use rhai_sdk::RexModules;
//! use rust_sdk::SdkContext;
//!
//! let auth = Authorizer::builder()
//!     .principal(Principal::user("alice").unwrap())
//!     .policies(Policies::deny_all())
//!     .build()
//!     .unwrap();
//! let sdk = SdkContext::new(Arc::new(auth));
//! let modules = RexModules::none().io().utils();
//! let engine = rex_core::RexEngine::builder()
//!     .register(|e| modules.register(e, &sdk))
//!     .build();
//! let out = engine.run("seq(1, 3).len()", &rex_core::ScriptArguments::default());
//! assert_eq!(out.output, "3");
//! ```
//!
//! Every script function is declared once through [`binding`] (name, argument names, the
//! Cedar actions it checks, a one-line doc); the catalog (`rex_core::RexEngine::catalog`,
//! [`function_catalog`], `--print-functions`) is generated from those declarations as
//! registered into the engine at hand. The behaviour lives in rust-sdk: this crate converts
//! values and errors.
//!
//! The [`SdkContext`] is cloned into the registration closures; scripts can neither see nor
//! replace it. Errors become `#{kind, message, source}` maps ([`error`]); Cedar denials carry
//! a typed token so the run is classified as access denied.

pub mod archive;
pub mod binding;
pub mod catalog;
pub mod disk;
pub mod error;
pub mod exec;
pub mod handles;
pub mod io;
pub mod io_ext;
pub mod network;
pub mod process;
pub mod sysctl;
pub mod system;
pub mod systemd;
pub mod utils;
pub mod vendor;

pub use catalog::{FunctionInfo, function_catalog};
pub use error::{SdkErrorInfo, to_script_error};
pub use vendor::VendorModule;

use rhai::Engine;
use rust_sdk::SdkContext;

/// The names accepted by [`RexModules::from_names`], in registration order.
pub const MODULE_NAMES: &[&str] = &[
    "io", "process", "system", "network", "disk", "sysctl", "utils", "systemd",
];

/// A module name that [`RexModules::from_names`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown rhai-sdk module `{0}` (known: io, process, system, network, disk, sysctl, utils, systemd)"
)]
pub struct UnknownModule(pub String);

/// Which rhai-sdk modules to register. The kind modules (`IoErrorKind`, ...) are always
/// registered, so scripts can compare error kinds whatever the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RexModules {
    io: bool,
    process: bool,
    system: bool,
    network: bool,
    disk: bool,
    sysctl: bool,
    utils: bool,
    systemd: bool,
}

impl RexModules {
    /// Every module.
    pub fn all() -> Self {
        Self {
            io: true,
            process: true,
            system: true,
            network: true,
            disk: true,
            sysctl: true,
            utils: true,
            systemd: true,
        }
    }

    /// No module (add some with the builder methods).
    pub fn none() -> Self {
        Self::default()
    }

    /// Selects modules by name (see [`MODULE_NAMES`]).
    pub fn from_names<I, S>(names: I) -> Result<Self, UnknownModule>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .try_fold(Self::none(), |m, name| m.with(name.as_ref()))
    }

    /// Adds one module by name.
    pub fn with(mut self, name: &str) -> Result<Self, UnknownModule> {
        match name {
            "io" => self.io = true,
            "process" => self.process = true,
            "system" => self.system = true,
            "network" => self.network = true,
            "disk" => self.disk = true,
            "sysctl" => self.sysctl = true,
            "utils" => self.utils = true,
            "systemd" => self.systemd = true,
            other => return Err(UnknownModule(other.to_string())),
        }
        Ok(self)
    }

    /// Adds the file-system module (shell-style commands).
    #[must_use]
    pub fn io(mut self) -> Self {
        self.io = true;
        self
    }

    /// Adds the process module (`ps`, `kill`, `ProcessManager`).
    #[must_use]
    pub fn process(mut self) -> Self {
        self.process = true;
        self
    }

    /// Adds the system-information module (`SystemInfo`, `hostname`, `uname`, ...).
    #[must_use]
    pub fn system(mut self) -> Self {
        self.system = true;
        self
    }

    /// Adds the network module (`Client`, `curl`, `connect`).
    #[must_use]
    pub fn network(mut self) -> Self {
        self.network = true;
        self
    }

    /// Adds the disk-information module.
    #[must_use]
    pub fn disk(mut self) -> Self {
        self.disk = true;
        self
    }

    /// Adds the sysctl module.
    #[must_use]
    pub fn sysctl(mut self) -> Self {
        self.sysctl = true;
        self
    }

    /// Adds the utilities module (`DateTime`, `random_alphanumeric`, `to_json`).
    #[must_use]
    pub fn utils(mut self) -> Self {
        self.utils = true;
        self
    }

    /// Adds the systemd module (`SystemctlManager`, on the system bus).
    #[must_use]
    pub fn systemd(mut self) -> Self {
        self.systemd = true;
        self
    }

    /// The names of the selected modules.
    pub fn names(&self) -> Vec<&'static str> {
        let flags = [
            self.io,
            self.process,
            self.system,
            self.network,
            self.disk,
            self.sysctl,
            self.utils,
            self.systemd,
        ];
        MODULE_NAMES
            .iter()
            .zip(flags)
            .filter_map(|(n, on)| on.then_some(*n))
            .collect()
    }

    /// Whether the named module is selected.
    pub fn contains(&self, name: &str) -> bool {
        self.names().contains(&name)
    }

    /// Registers the selected modules (and the error kind modules) on `engine`. `sdk` is
    /// cloned into the native functions.
    pub fn register(&self, engine: &mut Engine, sdk: &SdkContext) {
        error::register_kind_modules(engine);
        if self.io {
            io::register(engine, sdk);
        }
        if self.process {
            process::register(engine, sdk);
        }
        if self.system {
            system::register(engine, sdk);
        }
        if self.network {
            network::register(engine, sdk);
        }
        if self.disk {
            disk::register(engine, sdk);
        }
        if self.sysctl {
            sysctl::register(engine, sdk);
        }
        if self.utils {
            utils::register(engine);
        }
        if self.systemd {
            systemd::register(engine, sdk);
        }
    }

    /// The catalog of the selected modules, generated from what they register (an engine
    /// at hand, with vendor modules, reports its own: [`rex_core::RexEngine::catalog`]).
    pub fn functions(&self) -> Vec<FunctionInfo> {
        catalog::catalog_of(self)
    }
}

/// The module-writing guide (`docs/MODULES.md`), included here so that its example is
/// compiled and run as a doctest.
#[doc = include_str!("../../docs/MODULES.md")]
pub mod module_guide {}
