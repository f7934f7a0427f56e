//! The embedded Rex Cedar schema, parsed once per process.

use std::sync::LazyLock;

use cedar_policy::Schema;

use crate::error::PolicyError;

/// The Rex schema in Cedar schema syntax, REX-compatible (see `schema/rex.cedarschema`).
pub const SCHEMA_TEXT: &str = include_str!("../schema/rex.cedarschema");

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(|| {
    Schema::from_cedarschema_str(SCHEMA_TEXT)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| e.to_string())
});

/// The parsed Rex schema. Parsed on first use; an invalid embedded schema is reported as an
/// error rather than a panic (the tests make sure it never is).
pub fn schema() -> Result<&'static Schema, PolicyError> {
    SCHEMA.as_ref().map_err(|e| PolicyError::Schema(e.clone()))
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
