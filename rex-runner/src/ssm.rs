//! `rex-runner ssm-document`: an AWS Systems Manager Command document that runs one Rex script
//! under policy on every targeted instance.
//!
//! SSM substitutes the text of each `{{ Name }}` parameter into the shell commands *before* the
//! shell reads them, so quoting inside the document protects nothing: a parameter that could
//! carry a quote, a backtick, `$(...)` or a line equal to a heredoc terminator would run as
//! code. Every free-form parameter of this document (the script, its arguments, an inline
//! policy) is therefore **base64** with an `allowedPattern` that admits only the base64
//! alphabet, pasted into a quoted heredoc and decoded by `base64 -d` into a private file; the
//! remaining parameters (a policy name, the timeout) have patterns that admit only names and
//! digits. The decoded files are handed to `rex-runner` as paths: nothing a caller sends is
//! ever parsed by the shell. `rex-runner/tests/it/cli.rs` substitutes hostile values exactly as
//! SSM does and runs the result with bash.
//!
//! This module builds the document only; it does no I/O.

use serde_json::{Value, json};

/// The `allowedPattern` of every base64 parameter: the standard alphabet with padding, on one
/// line (no newline can be pasted into the heredoc, so its terminator cannot be forged).
pub const BASE64_PATTERN: &str = r"^[A-Za-z0-9+/]*={0,2}$";

/// The `allowedPattern` of a policy name (`/etc/rex/policies/NAME.cedar`).
pub const POLICY_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

/// The `allowedPattern` of `TimeoutSeconds`: 1 to 86,400 written in decimal digits.
pub const TIMEOUT_PATTERN: &str = r"^[1-9][0-9]{0,4}$";

/// The directory that `--policy-from path` reads policies from by default.
pub const POLICY_DIR: &str = "/etc/rex/policies";

/// Where the document takes its policy from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyFrom {
    /// `Policy` is the Cedar text itself, base64-encoded (shipped with each command).
    Parameter,
    /// `Policy` names a policy installed on the instance as `/etc/rex/policies/NAME.cedar`.
    Path,
}

/// A document name SSM would refuse, or a runner path that is not an absolute plain path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsmError {
    /// SSM document names are 3 to 128 characters of `A-Za-z0-9_.-`.
    #[error("invalid document name {0:?}: use 3 to 128 characters of A-Z, a-z, 0-9, _, . and -")]
    InvalidName(String),
    /// The runner path and the policy directory are pasted into the commands, so each must be
    /// absolute and contain only characters that are inert in a shell word.
    #[error("invalid {0} {1:?}: use an absolute path of A-Z, a-z, 0-9, /, _, . and - only")]
    InvalidPath(&'static str, String),
}

/// Checks a document name against SSM's rule.
fn check_name(name: &str) -> Result<(), SsmError> {
    let ok = (3..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SsmError::InvalidName(name.to_string()))
    }
}

/// Checks that a path can be pasted into a shell command as one inert word.
fn check_path(what: &'static str, path: &str) -> Result<(), SsmError> {
    let ok = path.starts_with('/')
        && path.len() <= 4096
        && !path.split('/').any(|c| c == "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SsmError::InvalidPath(what, path.to_string()))
    }
}

/// One heredoc that decodes a base64 parameter into a file of the run's private directory.
/// The terminator cannot occur in a value that matches [`BASE64_PATTERN`] (it has `_`).
fn decode_into(parameter: &str, file: &str, commands: &mut Vec<String>) {
    let terminator = format!("REX_{}_B64_END", parameter.to_ascii_uppercase());
    commands.push(format!(
        "base64 -d > \"$REX_DIR/{file}\" <<'{terminator}' || {{ echo 'rex: parameter {parameter} is not valid base64' >&2; exit 5; }}"
    ));
    commands.push(format!("{{{{ {parameter} }}}}"));
    commands.push(terminator);
}

/// What the generated document runs, and where it finds its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmOptions {
    /// The document's name (SSM's rule: 3 to 128 of `A-Za-z0-9_.-`).
    pub name: String,
    /// Where the `Policy` parameter's policy comes from.
    pub policy_from: PolicyFrom,
    /// The absolute path of `rex-runner` on the instances.
    pub runner_path: String,
    /// With [`PolicyFrom::Path`]: the directory holding `NAME.cedar` files.
    pub policy_dir: String,
}

impl Default for SsmOptions {
    fn default() -> Self {
        Self {
            name: "Rex-RunScript".into(),
            policy_from: PolicyFrom::Path,
            runner_path: "/usr/local/bin/rex-runner".into(),
            policy_dir: POLICY_DIR.into(),
        }
    }
}

/// Builds the Command document (schemaVersion 2.2, one `aws:runShellScript` step).
///
/// ```
/// use rex_runner::ssm::{SsmOptions, ssm_document};
/// let doc = ssm_document(&SsmOptions::default()).unwrap();
/// assert_eq!(doc["schemaVersion"], "2.2");
/// assert!(doc["parameters"]["Script"]["allowedPattern"].is_string());
/// ```
pub fn ssm_document(options: &SsmOptions) -> Result<Value, SsmError> {
    let SsmOptions {
        name,
        policy_from,
        runner_path,
        policy_dir,
    } = options;
    let policy_from = *policy_from;
    check_name(name)?;
    check_path("runner path", runner_path)?;
    check_path("policy directory", policy_dir)?;
    let policy = match policy_from {
        PolicyFrom::Parameter => json!({
            "type": "String",
            "description": "The Cedar policy text, base64-encoded (base64 -w0 policy.cedar).",
            "allowedPattern": BASE64_PATTERN,
        }),
        PolicyFrom::Path => json!({
            "type": "String",
            "description": format!("The name of a policy installed on the instance as {policy_dir}/NAME.cedar."),
            "allowedPattern": POLICY_NAME_PATTERN,
        }),
    };
    let mut commands: Vec<String> = vec![
        "#!/bin/bash".into(),
        "# Generated by `rex-runner ssm-document`. Every parameter below is base64 or a plain"
            .into(),
        "# name/number (see allowedPattern): none is ever read by the shell as code.".into(),
        "set -u".into(),
        "umask 077".into(),
        "REX_DIR=$(mktemp -d) || exit 6".into(),
        "trap 'rm -rf -- \"$REX_DIR\"' EXIT".into(),
    ];
    decode_into("Script", "script.rhai", &mut commands);
    decode_into("Args", "args.json", &mut commands);
    match policy_from {
        PolicyFrom::Parameter => {
            decode_into("Policy", "policy.cedar", &mut commands);
            commands.push("REX_POLICY=\"$REX_DIR/policy.cedar\"".into());
        }
        PolicyFrom::Path => {
            commands.push("REX_POLICY_NAME='{{ Policy }}'".into());
            commands.push(format!(
                "REX_POLICY=\"{policy_dir}/$REX_POLICY_NAME.cedar\""
            ));
        }
    }
    commands.push("REX_TIMEOUT='{{ TimeoutSeconds }}'".into());
    commands.push(
        "case \"$REX_TIMEOUT\" in ''|*[!0-9]*) echo 'rex: TimeoutSeconds must be digits' >&2; exit 5;; esac"
            .into(),
    );
    commands.push(format!(
        "{runner_path} -s \"$REX_DIR/script.rhai\" -p \"$REX_POLICY\" -a \"$REX_DIR/args.json\" --timeout \"$REX_TIMEOUT\" -o json"
    ));
    commands.push("exit $?".into());

    Ok(json!({
        "schemaVersion": "2.2",
        "description": format!(
            "{name}: run a Rex script under Cedar policy (rex-runner). Script, Args{} are base64; \
             the output is Rex's JSON document; the exit code is rex-runner's \
             (0 success, 1 script error, 3 access denied, 4 limit, 5 invalid input).",
            if policy_from == PolicyFrom::Parameter { " and Policy" } else { "" }
        ),
        "parameters": {
            "Script": {
                "type": "String",
                "description": "The Rhai script, base64-encoded (base64 -w0 script.rhai).",
                "allowedPattern": BASE64_PATTERN,
            },
            "Policy": policy,
            "Args": {
                "type": "String",
                "description": "Script arguments in REX's JSON form, base64-encoded (default {}).",
                "default": "e30=",
                "allowedPattern": BASE64_PATTERN,
            },
            "TimeoutSeconds": {
                "type": "String",
                "description": "Stop the script after this many seconds.",
                "default": "60",
                "allowedPattern": TIMEOUT_PATTERN,
            },
        },
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "runRexScript",
            "precondition": { "StringEquals": ["platformType", "Linux"] },
            "inputs": {
                "timeoutSeconds": "86460",
                "runCommand": commands,
            },
        }],
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn doc(name: &str, runner: &str, dir: &str) -> Result<Value, SsmError> {
        ssm_document(&SsmOptions {
            name: name.into(),
            runner_path: runner.into(),
            policy_dir: dir.into(),
            ..SsmOptions::default()
        })
    }

    #[test]
    fn names_and_paths_are_checked() {
        let (r, d) = ("/usr/bin/rex-runner", "/etc/rex/policies");
        assert!(doc("ab", r, d).is_err());
        assert!(doc("a b c", r, d).is_err());
        assert!(doc("Rex", "rex-runner", d).is_err());
        assert!(doc("Rex", "/usr/bin/rex runner", d).is_err());
        assert!(doc("Rex", "/usr/$(id)/rex", d).is_err());
        assert!(doc("Rex", "/usr/../tmp/rex", d).is_err());
        assert!(doc("Rex", r, "/etc/rex/`id`").is_err());
        assert!(doc("Rex", r, "etc").is_err());
        assert!(doc("Rex", r, d).is_ok());
    }

    #[test]
    fn every_placeholder_is_a_declared_parameter() {
        for policy_from in [PolicyFrom::Parameter, PolicyFrom::Path] {
            let doc = ssm_document(&SsmOptions {
                policy_from,
                ..SsmOptions::default()
            })
            .unwrap();
            let text = doc["mainSteps"][0]["inputs"]["runCommand"].to_string();
            for name in ["Script", "Args", "Policy", "TimeoutSeconds"] {
                assert!(text.contains(&format!("{{{{ {name} }}}}")), "{name}");
                assert!(
                    doc["parameters"][name]["allowedPattern"].is_string(),
                    "{name}"
                );
            }
        }
    }
}
