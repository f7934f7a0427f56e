//! The identity of the running process, for the default Cedar principal.

use rex_auth::{AuthError, Principal};

/// `User::"<name of the effective user>"`, resolved through the user database. Falls back to
/// the numeric uid as the name when the uid has no entry.
pub fn effective_user_principal() -> Result<Principal, AuthError> {
    let uid = nix::unistd::geteuid();
    let name = match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => uid.as_raw().to_string(),
    };
    Principal::user(&name)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    #[test]
    fn resolves_the_current_user() {
        let p = super::effective_user_principal().unwrap();
        assert!(!p.name().is_empty());
    }
}
