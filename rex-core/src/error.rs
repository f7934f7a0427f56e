//! Typed run errors and their classification from Rhai errors (never from message text).

use std::fmt;

use rex_auth::Denied;
use rhai::{EvalAltResult, LexError, Map, ParseError, ParseErrorType, Position};
use serde::{Deserialize, Serialize};

use crate::args::ArgumentsError;
use crate::denial::{TerminationToken, denial_in_payload};
use crate::limits::LimitKind;
use crate::render::ValueProblem;

/// A place in the script (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPosition {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1 (0 when unknown).
    pub column: usize,
}

impl ScriptPosition {
    /// Converts a Rhai position; `None` when it carries no line.
    pub fn from_rhai(pos: Position) -> Option<Self> {
        Some(Self {
            line: pos.line()?,
            column: pos.position().unwrap_or(0),
        })
    }
}

/// Renders " (line L, position P)" like REX, or nothing.
struct At(Option<ScriptPosition>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " (line {}, position {})", p.line, p.column),
            None => Ok(()),
        }
    }
}

/// The category of a [`RunError`], for exit codes and error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The script does not parse (or uses a disabled symbol).
    Compile,
    /// The script raised an error while running.
    Runtime,
    /// Cedar denied an operation (classified from a [`crate::DenialToken`]).
    AccessDenied,
    /// A resource limit, the timeout or a cancellation ended the run.
    Limit(LimitKind),
    /// The script arguments were rejected before the run.
    InvalidArguments,
    /// A bug: a native function panicked, or Rhai reported an internal error.
    Internal,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The script does not parse.
    #[error("{message}{}", At(*position))]
    Compile {
        /// Rhai's description of the syntax error.
        message: String,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// The script uses a disabled symbol (`eval`, `print`, ...).
    #[error("'{symbol}' is disabled in Rex{}", At(*position))]
    DisabledSymbol {
        /// The symbol.
        symbol: String,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// `import` of a module that is not registered by the embedder (no file is ever read).
    #[error("module not found: {module:?}{}", At(*position))]
    ModuleNotFound {
        /// The requested module path.
        module: String,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// A script or native function raised an error.
    #[error("{message}{}", At(*position))]
    Runtime {
        /// For map errors `<source>: <kind>: <message>`; otherwise Rhai's text.
        message: String,
        /// The `kind` field of a map error.
        error_kind: Option<String>,
        /// The `source` field of a map error.
        error_source: Option<String>,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// Cedar denied an operation and the script did not handle it.
    #[error("{denied}{}", At(*position))]
    AccessDenied {
        /// The denial, from the typed token (never parsed from text).
        denied: Box<Denied>,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// A limit ended the run.
    #[error("Script terminated: {limit} limit exceeded{}", At(*position))]
    Limit {
        /// Which limit.
        limit: LimitKind,
        /// Where.
        position: Option<ScriptPosition>,
    },
    /// The script arguments were rejected.
    #[error(transparent)]
    InvalidArguments(#[from] ArgumentsError),
    /// The script's final value cannot be rendered (a cycle, too deep, too large); the run
    /// itself finished.
    #[error("the script's value cannot be rendered: {0}")]
    Unrenderable(ValueProblem),
    /// A native function panicked or Rhai failed internally.
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
}

impl RunError {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Compile { .. } | Self::DisabledSymbol { .. } => ErrorKind::Compile,
            Self::ModuleNotFound { .. } | Self::Runtime { .. } | Self::Unrenderable(_) => {
                ErrorKind::Runtime
            }
            Self::AccessDenied { .. } => ErrorKind::AccessDenied,
            Self::Limit { limit, .. } => ErrorKind::Limit(*limit),
            Self::InvalidArguments(_) => ErrorKind::InvalidArguments,
            Self::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Where in the script, when known.
    pub fn position(&self) -> Option<ScriptPosition> {
        match self {
            Self::Compile { position, .. }
            | Self::DisabledSymbol { position, .. }
            | Self::ModuleNotFound { position, .. }
            | Self::Runtime { position, .. }
            | Self::AccessDenied { position, .. }
            | Self::Limit { position, .. } => *position,
            Self::InvalidArguments(_) | Self::Unrenderable(_) | Self::Internal { .. } => None,
        }
    }

    /// The Cedar denial, for [`RunError::AccessDenied`].
    pub fn denied(&self) -> Option<&Denied> {
        match self {
            Self::AccessDenied { denied, .. } => Some(denied),
            _ => None,
        }
    }

    /// The limit, for [`RunError::Limit`].
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Self::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

fn data_limit(what: &str) -> LimitKind {
    let what = what.to_ascii_lowercase();
    if what.contains("map") {
        LimitKind::MapSize
    } else if what.contains("array") || what.contains("blob") {
        LimitKind::ArraySize
    } else {
        LimitKind::StringSize
    }
}

/// Classifies a parse error.
pub(crate) fn from_parse_error(err: &ParseError) -> RunError {
    let position = ScriptPosition::from_rhai(err.1);
    match &*err.0 {
        ParseErrorType::ExprTooDeep => RunError::Limit {
            limit: LimitKind::ExpressionDepth,
            position,
        },
        ParseErrorType::TooManyFunctions => RunError::Limit {
            limit: LimitKind::Functions,
            position,
        },
        ParseErrorType::LiteralTooLarge(what, _) => RunError::Limit {
            limit: data_limit(what),
            position,
        },
        ParseErrorType::BadInput(LexError::StringTooLong(_)) => RunError::Limit {
            limit: LimitKind::StringSize,
            position,
        },
        ParseErrorType::BadInput(LexError::ImproperSymbol(symbol, _))
        | ParseErrorType::Reserved(symbol)
            if crate::engine::DISABLED_SYMBOLS.contains(&symbol.as_str()) =>
        {
            RunError::DisabledSymbol {
                symbol: symbol.clone(),
                position,
            }
        }
        other => RunError::Compile {
            message: other.to_string(),
            position,
        },
    }
}

/// Classifies an evaluation error. `terminated` is the reason the progress callback recorded.
pub(crate) fn from_eval_error(err: &EvalAltResult, terminated: Option<LimitKind>) -> RunError {
    // First, an unhandled Cedar denial anywhere in the chain wins.
    if let Some((denied, pos)) = find_denial(err) {
        return RunError::AccessDenied {
            denied: Box::new(denied),
            position: ScriptPosition::from_rhai(pos),
        };
    }
    let inner = innermost(err);
    let position = ScriptPosition::from_rhai(best_position(err));
    let limit = |limit| RunError::Limit { limit, position };
    match inner {
        EvalAltResult::ErrorParsing(pt, pos) => {
            from_parse_error(&ParseError(Box::new(pt.clone()), *pos))
        }
        EvalAltResult::ErrorTooManyOperations(_) => limit(LimitKind::Operations),
        EvalAltResult::ErrorTooManyVariables(_) => limit(LimitKind::Variables),
        EvalAltResult::ErrorTooManyModules(_) => limit(LimitKind::Modules),
        EvalAltResult::ErrorStackOverflow(_) => limit(LimitKind::CallDepth),
        EvalAltResult::ErrorDataTooLarge(what, _) => limit(data_limit(what)),
        EvalAltResult::ErrorTerminated(token, _) => {
            let kind = token
                .read_lock::<TerminationToken>()
                .map(|t| t.0)
                .or(terminated)
                .unwrap_or(LimitKind::Cancelled);
            limit(kind)
        }
        EvalAltResult::ErrorModuleNotFound(module, _) => RunError::ModuleNotFound {
            module: module.clone(),
            position,
        },
        EvalAltResult::ErrorSystem(message, inner) => RunError::Internal {
            message: format!("{message}: {inner}"),
        },
        EvalAltResult::ErrorRuntime(payload, _) => {
            if let Some(map) = payload.read_lock::<Map>() {
                let field = |name: &str| map.get(name).map(|v| v.to_string());
                if let (Some(kind), Some(message)) = (field("kind"), field("message")) {
                    let source = field("source");
                    let text = match &source {
                        Some(s) => format!("{s}: {kind}: {message}"),
                        None => format!("{kind}: {message}"),
                    };
                    return RunError::Runtime {
                        message: text,
                        error_kind: Some(kind),
                        error_source: source,
                        position,
                    };
                }
            }
            RunError::Runtime {
                message: text_without_position(inner),
                error_kind: None,
                error_source: None,
                position,
            }
        }
        _ => RunError::Runtime {
            message: text_without_position(inner),
            error_kind: None,
            error_source: None,
            position,
        },
    }
}

/// Rhai's text for an error, without the " (line L, position P)" suffix (added by
/// [`RunError`]'s `Display` from the typed position instead).
fn text_without_position(err: &EvalAltResult) -> String {
    let text = err.to_string();
    let pos = err.position();
    if pos.is_none() {
        return text;
    }
    let suffix = format!(" ({pos})");
    match text.strip_suffix(&suffix) {
        Some(stripped) => stripped.to_string(),
        None => text,
    }
}

/// Unwraps `ErrorInFunctionCall` / `ErrorInModule` nesting.
fn innermost(err: &EvalAltResult) -> &EvalAltResult {
    let mut current = err;
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
            | EvalAltResult::ErrorInModule(_, inner, _) => current = inner,
            other => return other,
        }
    }
}

/// The innermost known position in the chain.
fn best_position(err: &EvalAltResult) -> Position {
    let mut best = err.position();
    let mut current = err;
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
            | EvalAltResult::ErrorInModule(_, inner, _) => {
                if !inner.position().is_none() {
                    best = inner.position();
                }
                current = inner;
            }
            _ => return best,
        }
    }
}

fn find_denial(err: &EvalAltResult) -> Option<(Denied, Position)> {
    match innermost(err) {
        EvalAltResult::ErrorRuntime(payload, _) => {
            denial_in_payload(payload).map(|d| (d, best_position(err)))
        }
        _ => None,
    }
}
