//! The embedded Rex Cedar schema, parsed once per process.

use std::sync::LazyLock;

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};

use crate::error::PolicyError;

/// The Rex schema in Cedar schema syntax, REX-compatible (see `schema/rex.cedarschema`).
/// This is the source of truth that people read and edit.
pub const SCHEMA_TEXT: &str = include_str!("../schema/rex.cedarschema");

/// The same schema in Cedar's JSON form (`schema/rex.cedarschema.json`), which is what the
/// runtime parses: about 2.5× cheaper than the text syntax, and it keeps the policy parser
/// out of the start-up of a run without policies. A test checks that it is exactly
/// [`SCHEMA_TEXT`] converted.
pub const SCHEMA_JSON: &str = include_str!("../schema/rex.cedarschema.json");

static SCHEMA: LazyLock<Result<Schema, String>> =
    LazyLock::new(|| Schema::from_json_str(SCHEMA_JSON).map_err(|e| e.to_string()));

/// The parsed Rex schema. Parsed on first use; an invalid embedded schema is reported as an
/// error rather than a panic (the tests make sure it never is).
pub fn schema() -> Result<&'static Schema, PolicyError> {
    SCHEMA.as_ref().map_err(|e| PolicyError::Schema(e.clone()))
}

/// A validator over the Rex schema, built once per process (building one copies the schema).
static VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| {
    SCHEMA
        .as_ref()
        .map(|s| Validator::new(s.clone()))
        .map_err(Clone::clone)
});

/// The validator of every policy load: strict validation against [`schema`].
pub(crate) fn validator() -> Result<&'static Validator, PolicyError> {
    VALIDATOR
        .as_ref()
        .map_err(|e| PolicyError::Schema(e.clone()))
}

/// A policy that goes through every parser and checker a policy load and the sandbox plan
/// use: the policy-set grammar, the validator's type checker, and the single-policy grammar
/// behind a policy's JSON form. Cedar builds each grammar's lexer once per process, on
/// first use.
const WARM_UP_POLICY: &str = r#"permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/") when { resource.path like "/*" };"#;

/// Does ahead of time the largest one-off costs of a process's first policy load: building
/// the schema (with Cedar's name parser and extensions), the validator, and Cedar's policy
/// grammars (each built once per process on first use).
///
/// Nothing depends on it having run; it only makes the first [`crate::Policies`] load faster
/// when called on another thread early, e.g. while a command line is parsed and the script
/// engine is built:
///
/// ```
/// let warm = std::thread::spawn(rex_auth::warm_up);
/// // ... other start-up work ...
/// let policies = rex_auth::Policies::parse("p.cedar", "permit(principal, action, resource);");
/// assert!(policies.is_ok());
/// warm.join().unwrap();
/// ```
pub fn warm_up() {
    // An invalid schema is reported by the policy load that needs it.
    let Ok(validator) = validator() else {
        return;
    };
    if let Ok(set) = WARM_UP_POLICY.parse::<PolicySet>() {
        let _ = validator.validate(&set, ValidationMode::Strict);
        for policy in set.policies() {
            let _ = policy.to_json();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    use crate::action::Action;

    /// `REX_WRITE_SCHEMA_JSON=1 cargo test -p rex-auth json_form` regenerates the JSON
    /// after an edit of the text schema.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn json_form_is_the_text_schema_converted() {
        let (fragment, _) =
            cedar_policy::SchemaFragment::from_cedarschema_str(SCHEMA_TEXT).unwrap();
        let converted = fragment.to_json_value().unwrap();
        if std::env::var_os("REX_WRITE_SCHEMA_JSON").is_some() {
            let text = serde_json::to_string_pretty(&converted).unwrap() + "\n";
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/rex.cedarschema.json");
            std::fs::write(path, text).unwrap();
            return;
        }
        let committed: serde_json::Value = serde_json::from_str(SCHEMA_JSON).unwrap();
        assert_eq!(
            committed, converted,
            "schema/rex.cedarschema.json is stale: run REX_WRITE_SCHEMA_JSON=1 cargo test -p rex-auth json_form"
        );
    }

    /// The warm-up policy must reach the type checker and have a `when` clause, or the
    /// warm-up would skip the work it exists to do.
    #[test]
    fn the_warm_up_policy_is_valid_and_has_a_condition() {
        let set: PolicySet = WARM_UP_POLICY.parse().unwrap();
        let result = validator().unwrap().validate(&set, ValidationMode::Strict);
        assert!(result.validation_passed());
        assert!(set.policies().all(|p| p.has_non_scope_constraint()));
        warm_up();
    }

    #[test]
    fn schema_parses_and_declares_every_action() {
        let s = schema().unwrap();
        let declared: Vec<String> = s.actions().map(|a| a.to_string()).collect();
        for a in Action::ALL {
            assert!(declared.contains(&a.uid_text()), "{a} missing from schema");
        }
        // 31 concrete actions + 6 groups.
        assert_eq!(declared.len(), 37);
        // 13 entity types.
        assert_eq!(s.entity_types().count(), 13);
    }

    #[test]
    fn applies_to_matches_the_schema() {
        let s = schema().unwrap();
        for a in Action::ALL {
            let uid = a.uid_text().parse().unwrap();
            let mut from_schema: Vec<String> = s
                .resources_for_action(&uid)
                .unwrap()
                .map(|t| t.to_string())
                .collect();
            from_schema.sort();
            let mut ours: Vec<String> = a
                .applies_to()
                .iter()
                .map(|k| k.type_name().to_string())
                .collect();
            ours.sort();
            assert_eq!(from_schema, ours, "{a}");
        }
    }
}
