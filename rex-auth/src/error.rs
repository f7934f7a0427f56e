//! Errors of rex-auth. A denial is a typed value ([`Denied`]), never a message to parse.

use std::fmt;

use crate::action::Action;

/// A request that Cedar denied: no policy permits it, or a `forbid` policy matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The principal, as Cedar text (`User::"alice"`).
    pub principal: String,
    /// The action that was denied.
    pub action: Action,
    /// The resource, as Cedar text (`file_system::File::"/etc/shadow"`).
    pub resource: String,
    /// The ids of the `forbid` policies that matched; empty when no `permit` applied.
    pub reasons: Vec<String>,
    /// Where this policy set permits the same action: the resource scope of each permit that
    /// covers it (e.g. `resource in file_system::Dir::"/var/log"`), so the caller can retry
    /// within bounds. Policy text only: never the resource's content.
    pub hint: Vec<String>,
    /// Why, when it is not the policies' decision alone: `approval required` (the permits
    /// that allow it carry `@approval("required")` and no approval was given),
    /// `approval declined`, `approval timed out`. `None` for a plain denial.
    pub reason: Option<String>,
}

impl Denied {
    /// A one-line explanation of why the request was denied, for people and agents.
    pub fn explanation(&self) -> String {
        if let Some(reason) = &self.reason {
            return format!("{reason} (policy {})", self.reasons.join(", "));
        }
        if self.reasons.is_empty() {
            "no policy permits it".to_string()
        } else {
            format!("forbidden by policy {}", self.reasons.join(", "))
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Permission denied: {} unauthorized to perform {} for {} ({})",
            self.principal,
            self.action,
            self.resource,
            self.explanation()
        )
    }
}

impl std::error::Error for Denied {}

/// Why a path cannot name a file-system resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// The path is empty.
    Empty,
    /// The path does not start with `/`.
    NotAbsolute,
    /// The path has a `..` component.
    ParentComponent,
    /// The path contains NUL or another control character.
    ControlCharacter,
    /// The path is not valid UTF-8.
    NotUtf8,
    /// The path is longer than `PATH_MAX` or a component longer than `NAME_MAX`.
    TooLong,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "the path is empty",
            PathProblem::NotAbsolute => "the path must be absolute",
            PathProblem::ParentComponent => "`..` components are not allowed",
            PathProblem::ControlCharacter => "the path contains a NUL or control character",
            PathProblem::NotUtf8 => "the path is not valid UTF-8",
            PathProblem::TooLong => "the path or one of its components is too long",
        })
    }
}

/// Every way an authorization can fail. All of them mean "do not perform the operation".
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Cedar denied the request.
    #[error(transparent)]
    Denied(Box<Denied>),
    /// An action name that Rex does not know.
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    /// A path that cannot be turned into a `File`/`Dir` entity; nothing was evaluated.
    #[error("invalid path `{path}`: {problem}")]
    InvalidPath {
        /// The path as given (lossily decoded).
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A resource or context value that cannot be represented (e.g. an empty name).
    #[error("invalid {what}: {message}")]
    InvalidValue {
        /// What was being built.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The action does not apply to this kind of resource according to the schema.
    #[error("action {action} does not apply to a resource of type {resource_type}")]
    ActionMismatch {
        /// The action requested.
        action: Action,
        /// The Cedar type of the resource.
        resource_type: &'static str,
    },
    /// Cedar could not evaluate the request (an erroring policy or an invalid request). The
    /// operation is refused (fail closed).
    #[error("authorization of {action} on {resource} failed: {message}")]
    Evaluation {
        /// The action requested.
        action: Action,
        /// The resource, as Cedar text.
        resource: String,
        /// The ids of the policies whose evaluation failed, if any.
        policies: Vec<String>,
        /// What went wrong.
        message: String,
    },
    /// The authorizer was configured incorrectly (e.g. no principal).
    #[error("authorizer configuration error: {0}")]
    Config(String),
    /// The arguments of an `execute` request cannot be described to a policy without
    /// ambiguity (see [`crate::check_arguments`]); nothing was evaluated.
    #[error("invalid execute arguments: {0}")]
    InvalidArguments(ArgumentProblem),
}

/// Why an `execute` argument list is refused: two tags of the `Arguments` entity would have
/// the same name, so a policy could see a different command from the one that runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentProblem {
    /// A `[key, value]` pair whose key is a reserved position tag (`$ARG<i>`).
    #[error(
        "`{0}` is reserved for positional tags and cannot be a [key, value] key; pass it as a lone argument"
    )]
    ReservedKey(String),
    /// A name given both as a `[key, value]` key and as a lone argument.
    #[error(
        "`{0}` is given both as a [key, value] key and as a lone argument; pass both as lone arguments"
    )]
    KeyAlsoLone(String),
    /// A `[key, value]` key given twice with different values.
    #[error(
        "the [key, value] key `{0}` is given twice with different values; pass them as lone arguments"
    )]
    ConflictingValues(String),
}

impl AuthError {
    /// The typed denial, if this error is one.
    pub fn as_denied(&self) -> Option<&Denied> {
        match self {
            AuthError::Denied(d) => Some(d),
            _ => None,
        }
    }

    /// Whether this error is a policy denial (as opposed to invalid input or a failed evaluation).
    pub fn is_denied(&self) -> bool {
        matches!(self, AuthError::Denied(_))
    }
}

/// One problem found while loading policies, with its position in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// The source name (usually the file path) the policy came from.
    pub source_name: String,
    /// 1-based line of the problem, when Cedar reported a location.
    pub line: Option<usize>,
    /// 1-based column of the problem, when Cedar reported a location.
    pub column: Option<usize>,
    /// The problem, in one line.
    pub message: String,
    /// The full diagnostic with a source snippet, as rendered by miette (no colours).
    pub rendered: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.source_name, self.message),
            _ => write!(f, "{}: {}", self.source_name, self.message),
        }
    }
}

/// Why a policy set could not be loaded. Loading never yields a partially valid set.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid Cedar.
    #[error("policy parse error: {}", first(.0))]
    Parse(Vec<PolicyDiagnostic>),
    /// The policies are valid Cedar but fail strict validation against the Rex schema
    /// (unknown action, entity type or attribute, type error, ...).
    #[error("policy validation error: {}", first(.0))]
    Validation(Vec<PolicyDiagnostic>),
    /// Two policies carry the same id.
    #[error("duplicate policy id `{0}`")]
    DuplicateId(String),
    /// Policy templates (with `?principal`/`?resource` slots) are not supported.
    #[error("{0}: policy templates are not supported; write static policies")]
    Template(String),
    /// The set contains no policy source at all.
    #[error("no policy source was given")]
    Empty,
    /// The embedded schema failed to parse (a build defect; reported rather than panicking).
    #[error("the Rex schema is invalid: {0}")]
    Schema(String),
    /// An annotation Rex gives a meaning to is misused: `@approval` with another value than
    /// `"required"` or on a `forbid`, `@approvers` without `@approval`.
    #[error("policy {id}: {message}")]
    Annotation {
        /// The policy's id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// All diagnostics of this error (empty for errors without a source position).
    pub fn diagnostics(&self) -> &[PolicyDiagnostic] {
        match self {
            PolicyError::Parse(d) | PolicyError::Validation(d) => d,
            _ => &[],
        }
    }

    /// Every diagnostic rendered with its source snippet, separated by blank lines.
    pub fn render(&self) -> String {
        let d = self.diagnostics();
        if d.is_empty() {
            self.to_string()
        } else {
            d.iter()
                .map(|d| d.rendered.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

fn first(d: &[PolicyDiagnostic]) -> String {
    match d {
        [] => "unknown error".to_string(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} (and {} more)", rest.len()),
    }
}
