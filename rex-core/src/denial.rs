//! Typed script errors: the `#{kind, message, source}` map raised by native functions, and the
//! opaque [`DenialToken`] that marks a Cedar denial without relying on message text.

use std::fmt;
use std::sync::Arc;

use rex_auth::Denied;
use rhai::{Dynamic, EvalAltResult, Map, Position};

use crate::limits::LimitKind;
use crate::state::record_denial;

/// Name of the map field that carries a [`DenialToken`].
pub const DENIAL_FIELD: &str = "denial";

/// An opaque Rhai value wrapping a Cedar [`Denied`]. Registered with no constructor, so a
/// script can pass one along but never create one: only native code can.
#[derive(Clone)]
pub struct DenialToken(Arc<Denied>);

impl DenialToken {
    /// Wraps a denial. Only native (Rust) code can call this.
    pub fn new(denied: Denied) -> Self {
        Self(Arc::new(denied))
    }

    /// The wrapped denial.
    pub fn denied(&self) -> &Denied {
        &self.0
    }
}

impl fmt::Debug for DenialToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DenialToken").field(&*self.0).finish()
    }
}

impl fmt::Display for DenialToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// The value `on_progress` returns to stop a run; private, so a script cannot forge it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TerminationToken(pub(crate) LimitKind);

/// Builds the error payload native functions raise: `#{kind, message, source}`, plus a
/// `denial` field holding a [`DenialToken`] when `denial` is `Some`. A denial is also recorded
/// for the run in progress on this thread.
pub fn error_map(kind: &str, message: &str, source: &str, denial: Option<Denied>) -> Dynamic {
    let mut map = Map::new();
    map.insert("kind".into(), Dynamic::from(kind.to_string()));
    map.insert("message".into(), Dynamic::from(message.to_string()));
    map.insert("source".into(), Dynamic::from(source.to_string()));
    if let Some(denied) = denial {
        record_denial(&denied);
        // The structured denial (issue 16): what was denied and where the same action is
        // permitted. Policy text and request names only, never the resource's content.
        map.insert("action".into(), Dynamic::from(denied.action.to_string()));
        map.insert("resource".into(), Dynamic::from(denied.resource.clone()));
        map.insert("principal".into(), Dynamic::from(denied.principal.clone()));
        map.insert(
            "determining_policies".into(),
            Dynamic::from_array(denied.reasons.iter().cloned().map(Dynamic::from).collect()),
        );
        map.insert(
            "hint".into(),
            Dynamic::from_array(denied.hint.iter().cloned().map(Dynamic::from).collect()),
        );
        map.insert(DENIAL_FIELD.into(), Dynamic::from(DenialToken::new(denied)));
    }
    Dynamic::from_map(map)
}

/// Wraps an error payload (usually from [`error_map`]) into a catchable Rhai runtime error.
pub fn script_error(map: Dynamic, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(map, pos))
}

/// The [`DenialToken`] inside an error payload, if the payload is a map that carries one.
pub fn denial_in_payload(payload: &Dynamic) -> Option<Denied> {
    let map = payload.read_lock::<Map>()?;
    let token = map.get(DENIAL_FIELD)?.read_lock::<DenialToken>()?;
    Some(token.denied().clone())
}
