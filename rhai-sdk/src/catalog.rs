//! The catalog of script functions, generated from what was registered.
//!
//! Every rhai-sdk function is declared through [`crate::binding`], which stores its script
//! signature, module, Cedar actions and doc in the engine's own function metadata;
//! [`rex_core::function_catalog`] (and [`rex_core::RexEngine::catalog`]) read it back. This
//! module only builds a throw-away engine for callers that have none at hand.

use std::sync::Arc;

use rex_auth::{Authorizer, Policies, Principal};
use rhai::Engine;
use rust_sdk::SdkContext;

pub use rex_core::FunctionInfo;

use crate::RexModules;

/// A context that is never used: catalog engines run no script.
fn catalog_context() -> Option<SdkContext> {
    let auth = Authorizer::builder()
        .principal(Principal::user("catalog").ok()?)
        .policies(Policies::deny_all())
        .build()
        .ok()?;
    Some(SdkContext::new(Arc::new(auth)))
}

/// The catalog of `modules` as registered into a fresh engine.
pub(crate) fn catalog_of(modules: &RexModules) -> Vec<FunctionInfo> {
    let Some(sdk) = catalog_context() else {
        return Vec::new();
    };
    let mut engine = Engine::new_raw();
    modules.register(&mut engine, &sdk);
    rex_core::function_catalog(&engine)
}

/// Every script function of every rhai-sdk module, sorted by module then name (one entry per
/// name and arity). An engine at hand reports its own catalog: [`rex_core::RexEngine::catalog`].
pub fn function_catalog() -> Vec<FunctionInfo> {
    catalog_of(&RexModules::all())
}
