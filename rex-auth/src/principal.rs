//! The principal of every request: `User::"<name>"`.

use std::fmt;

use cedar_policy::EntityUid;

use crate::error::AuthError;
use crate::resource::uid;

/// The Cedar principal, `User::"<name>"`. rex-auth does not touch the OS, so the name of the
/// effective user is resolved by the caller (see `rust_sdk::runtime::identity`) or supplied by the
/// embedder, once per authorizer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    name: String,
    uid: EntityUid,
}

impl Principal {
    /// `User::"<name>"`. The name must be non-empty and free of control characters.
    ///
    /// ```
    /// let p = rex_auth::Principal::user("alice").unwrap();
    /// assert_eq!(p.to_string(), r#"User::"alice""#);
    /// ```
    pub fn user(name: &str) -> Result<Self, AuthError> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(AuthError::InvalidValue {
                what: "principal",
                message: format!("{name:?} is not a valid user name"),
            });
        }
        Ok(Principal {
            name: name.to_string(),
            uid: uid("User", name)?,
        })
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Cedar UID.
    pub fn uid(&self) -> &EntityUid {
        &self.uid
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uid)
    }
}
