//! Script arguments in REX's JSON format (`{"name": {"stringValue": "x"}, ...}`).

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, Map, Scope};
use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// One argument value: an externally tagged, camelCase enum, exactly like REX's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScriptArgumentValue {
    /// `{"stringValue": "x"}`: a Rhai string.
    StringValue(String),
    /// `{"integerValue": 5}` (32-bit): a Rhai `i64`.
    IntegerValue(i32),
    /// `{"longValue": 5}` (64-bit): a Rhai `i64`.
    LongValue(i64),
    /// `{"doubleValue": 1.5}`: a Rhai `f64`.
    DoubleValue(f64),
    /// `{"booleanValue": true}`: a Rhai `bool`.
    BooleanValue(bool),
    /// `{"listValue": [...]}`: a Rhai array.
    ListValue(Vec<ScriptArgumentValue>),
    /// `{"mapValue": {...}}`: a Rhai object map.
    MapValue(BTreeMap<String, ScriptArgumentValue>),
}

impl ScriptArgumentValue {
    /// Converts the value into a Rhai value.
    pub fn to_dynamic(&self) -> Dynamic {
        match self {
            Self::StringValue(s) => Dynamic::from(s.clone()),
            Self::IntegerValue(i) => Dynamic::from(i64::from(*i)),
            Self::LongValue(i) => Dynamic::from(*i),
            Self::DoubleValue(d) => Dynamic::from(*d),
            Self::BooleanValue(b) => Dynamic::from(*b),
            Self::ListValue(items) => {
                Dynamic::from(items.iter().map(Self::to_dynamic).collect::<Array>())
            }
            Self::MapValue(entries) => Dynamic::from(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.to_dynamic()))
                    .collect::<Map>(),
            ),
        }
    }
}

/// Why script arguments were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentsError {
    /// The JSON text is not a valid arguments document.
    #[error("malformed script arguments: {0}")]
    Malformed(String),
    /// A top-level key cannot be a Rhai variable name.
    #[error("invalid script argument name {key:?}: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A value is nested deeper than allowed.
    #[error("script argument {key:?} is nested {depth} levels deep; the maximum is {max}")]
    TooDeep {
        /// The top-level argument holding the value.
        key: String,
        /// The depth that was found.
        depth: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A value is larger than the engine's limits allow.
    #[error("script argument {key:?}: {what} is {size}, over the limit of {max}")]
    TooLarge {
        /// The top-level argument holding the value.
        key: String,
        /// What is too large (`string`, `list`, `map`, `argument count`).
        what: &'static str,
        /// The size found.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// Words that Rhai reserves; an argument with one of these names could never be read.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "let",
    "const",
    "if",
    "else",
    "switch",
    "do",
    "while",
    "until",
    "loop",
    "for",
    "in",
    "break",
    "continue",
    "return",
    "throw",
    "try",
    "catch",
    "fn",
    "private",
    "import",
    "export",
    "as",
    "global",
    "Fn",
    "call",
    "curry",
    "this",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "type_of",
    "print",
    "debug",
    "eval",
    "var",
    "static",
    "shared",
    "goto",
    "exit",
    "match",
    "case",
    "public",
    "protected",
    "new",
    "use",
    "with",
    "module",
    "package",
    "super",
    "thread",
    "spawn",
    "go",
    "await",
    "async",
    "sync",
    "yield",
    "default",
    "void",
    "null",
    "nil",
    "spec",
    "is",
    "def",
];

/// Checks that `key` can be a Rhai variable name.
pub fn validate_identifier(key: &str) -> Result<(), ArgumentsError> {
    let invalid = |reason: &str| ArgumentsError::InvalidKey {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if key.is_empty() {
        return Err(invalid("empty name"));
    }
    if !key.is_ascii() {
        return Err(invalid("only ASCII letters, digits and '_' are allowed"));
    }
    let valid_chars = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let first_non_underscore = key.chars().find(|c| *c != '_');
    if !valid_chars || !first_non_underscore.is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(invalid("not a valid Rhai identifier"));
    }
    if RESERVED.contains(&key) {
        return Err(invalid("a reserved Rhai keyword"));
    }
    if key.starts_with("__") {
        return Err(invalid("names starting with '__' are reserved"));
    }
    Ok(())
}

/// The script arguments: a map from variable name to value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScriptArguments {
    /// The arguments, by variable name.
    pub values: BTreeMap<String, ScriptArgumentValue>,
}

impl ScriptArguments {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one argument. Validation happens in [`ScriptArguments::validate`].
    pub fn insert(&mut self, name: impl Into<String>, value: ScriptArgumentValue) -> &mut Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Parses REX's JSON format and validates it against `limits`.
    pub fn from_json_str(json: &str, limits: &Limits) -> Result<Self, ArgumentsError> {
        let args: Self =
            serde_json::from_str(json).map_err(|e| ArgumentsError::Malformed(e.to_string()))?;
        args.validate(limits)?;
        Ok(args)
    }

    /// Checks names, nesting depth and sizes.
    pub fn validate(&self, limits: &Limits) -> Result<(), ArgumentsError> {
        if self.values.len() > limits.max_variables {
            return Err(ArgumentsError::TooLarge {
                key: String::new(),
                what: "argument count",
                size: self.values.len(),
                max: limits.max_variables,
            });
        }
        for (key, value) in &self.values {
            validate_identifier(key)?;
            check_value(key, value, 1, limits)?;
        }
        Ok(())
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A fresh Rhai scope holding one variable per argument.
    pub fn to_scope(&self) -> Scope<'static> {
        let mut scope = Scope::with_capacity(self.values.len());
        for (key, value) in &self.values {
            scope.push_dynamic(key.as_str(), value.to_dynamic());
        }
        scope
    }
}

fn check_value(
    key: &str,
    value: &ScriptArgumentValue,
    depth: usize,
    limits: &Limits,
) -> Result<(), ArgumentsError> {
    if depth > limits.max_argument_depth {
        return Err(ArgumentsError::TooDeep {
            key: key.to_string(),
            depth,
            max: limits.max_argument_depth,
        });
    }
    let too_large = |what, size, max| ArgumentsError::TooLarge {
        key: key.to_string(),
        what,
        size,
        max,
    };
    match value {
        ScriptArgumentValue::StringValue(s) => {
            if limits.max_string_size > 0 && s.len() > limits.max_string_size {
                return Err(too_large("string", s.len(), limits.max_string_size));
            }
        }
        ScriptArgumentValue::ListValue(items) => {
            if limits.max_array_size > 0 && items.len() > limits.max_array_size {
                return Err(too_large("list", items.len(), limits.max_array_size));
            }
            for item in items {
                check_value(key, item, depth + 1, limits)?;
            }
        }
        ScriptArgumentValue::MapValue(entries) => {
            if limits.max_map_size > 0 && entries.len() > limits.max_map_size {
                return Err(too_large("map", entries.len(), limits.max_map_size));
            }
            for (k, item) in entries {
                if limits.max_string_size > 0 && k.len() > limits.max_string_size {
                    return Err(too_large("map key", k.len(), limits.max_string_size));
                }
                check_value(key, item, depth + 1, limits)?;
            }
        }
        ScriptArgumentValue::IntegerValue(_)
        | ScriptArgumentValue::LongValue(_)
        | ScriptArgumentValue::DoubleValue(_)
        | ScriptArgumentValue::BooleanValue(_) => {}
    }
    Ok(())
}
