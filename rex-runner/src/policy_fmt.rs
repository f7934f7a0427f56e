//! `rex-runner fmt`: Cedar's own formatter (`cedar-policy-formatter`, the crate of the Cedar
//! version in use), with Rex's checks around it: the input must be valid Rex policy, and the
//! output must be the same policies (same ids, same text once parsed).

use cedar_policy_formatter::{Config, policies_str_to_pretty};

/// Why a file cannot be formatted.
#[derive(Debug, thiserror::Error)]
pub enum FmtError {
    /// The file is not valid Rex policy (the diagnostics of `validate`).
    #[error("{0}")]
    Invalid(String),
    /// Cedar's formatter refused the file.
    #[error("{name}: the formatter refused it: {message}")]
    Formatter {
        /// The file.
        name: String,
        /// The formatter's message.
        message: String,
    },
    /// The formatted text would not be the same policies (never written).
    #[error("{0}: formatting would change the policies; the file is left as it is")]
    Changed(String),
}

/// How many policies of `text` have no `@id`: their ids are `file:line`, which formatting
/// can move (decisions, audit records and `determined_by` then name other lines).
pub fn unannotated(name: &str, text: &str) -> usize {
    rex_auth::Policies::parse(name, text)
        .map(|p| {
            p.policies()
                .filter(|p| p.annotation("id").is_none())
                .count()
        })
        .unwrap_or(0)
}

/// The formatted text of one policy file (80 columns, 2-space indent, Cedar's defaults).
///
/// ```
/// let text = "permit(principal,action==file_system::Action::\"read\",resource in file_system::Dir::\"/var/log\");";
/// let out = rex_runner::policy_fmt::format_policies("p.cedar", text).unwrap();
/// assert_eq!(rex_runner::policy_fmt::format_policies("p.cedar", &out).unwrap(), out);
/// assert!(out.contains("action == file_system::Action::\"read\""));
/// ```
pub fn format_policies(name: &str, text: &str) -> Result<String, FmtError> {
    let before =
        rex_auth::Policies::parse(name, text).map_err(|e| FmtError::Invalid(e.render()))?;
    let formatted =
        policies_str_to_pretty(text, &Config::default()).map_err(|e| FmtError::Formatter {
            name: name.to_string(),
            message: format!("{e}"),
        })?;
    let after =
        rex_auth::Policies::parse(name, &formatted).map_err(|_| FmtError::Changed(name.into()))?;
    // Ids taken from `@id` must stay; ids made from line numbers (`file:line`) move with
    // the text, which `unannotated` reports.
    let same = before.len() == after.len()
        && before.policies().zip(after.policies()).all(|(a, b)| {
            // The JSON form is the policy's syntax tree: free of layout and comments.
            let (Ok(ja), Ok(jb)) = (a.to_json(), b.to_json()) else {
                return false;
            };
            a.annotation("id") == b.annotation("id") && ja == jb
        });
    if !same {
        return Err(FmtError::Changed(name.into()));
    }
    Ok(formatted)
}
