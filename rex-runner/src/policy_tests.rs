//! `rex-runner test`: a policy's intended behaviour, kept as test cases in TOML.
//!
//! ```toml
//! [[case]]
//! name = "agents read nginx logs"
//! principal = "ci-bot"                      # optional; default: the effective user
//! action = 'file_system::Action::"read"'    # or the short form file_system::read
//! resource = "/var/log/nginx/access.log"    # a path, or an entity UID
//! context = { arguments = ["--now"] }       # optional; the shapes `explain --context` takes
//! expect = "allow"                          # allow | deny
//! determined_by = ["logs-read"]             # optional: exactly the policies that decide it
//! ```
//!
//! A path is a `file_system::File`, or a `file_system::Dir` when the action applies only to
//! directories (`unmount`) or the path ends with `/`; write the entity UID
//! (`file_system::Dir::"/srv"`) to say it exactly. Each case is decided by
//! [`rex_auth::explain`], the code path of `explain` and of runs.

use std::fmt::Write as _;

use rex_auth::{Action, Outcome, Principal, ResourceKind};
use serde::{Deserialize, Serialize};

use crate::explain::parse_request;

/// Why a test file cannot be run (exit 5), with its place in the file.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    /// Not TOML, or not the shape of a test file.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A case names an invalid principal, action, resource or context.
    #[error("{file}:{line}: case {name:?}: {message}")]
    Case {
        /// The file's name.
        file: String,
        /// 1-based line of the case.
        line: usize,
        /// The case's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The file has no case.
    #[error("{0}: no [[case]] in the file")]
    Empty(String),
}

/// The decision a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The request is allowed.
    Allow,
    /// The request is denied (by no permit, a forbid, or an evaluation error).
    Deny,
    /// The request is allowed only once a person approves it (`@approval("required")`).
    #[serde(rename = "allow-if-approved")]
    AllowIfApproved,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    case: Vec<toml::Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    principal: Option<String>,
    action: String,
    resource: String,
    context: Option<toml::Table>,
    expect: Expect,
    determined_by: Option<Vec<String>>,
}

/// One case, parsed into the request it stands for.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its name.
    pub name: String,
    /// Its 1-based line in the file.
    pub line: usize,
    principal: Option<Principal>,
    action: Action,
    resource: rex_auth::Resource,
    context: rex_auth::RequestContext,
    /// The expected decision.
    pub expect: Expect,
    /// The policies that must determine it, if given.
    pub determined_by: Option<Vec<String>>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Its line in the file.
    pub line: usize,
    /// Whether it passed.
    pub passed: bool,
    /// The principal it was decided for.
    pub principal: String,
    /// The action (Cedar text).
    pub action: String,
    /// The resource (Cedar text).
    pub resource: String,
    /// What was expected.
    pub expected: Expect,
    /// The decision: `allow`, `deny`, or `error` (an evaluation error, which denies).
    pub actual: &'static str,
    /// The determining policies.
    pub determining_policies: Vec<String>,
    /// Why it failed (empty when it passed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The results of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestReport {
    /// The file's name.
    pub file: String,
    /// One per case, in file order.
    pub cases: Vec<CaseResult>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
}

fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// Parses a test file. Every case is checked (action, resource, context, principal) before
/// any is decided: one invalid case makes the whole file invalid.
pub fn parse_tests(file: &str, text: &str) -> Result<Vec<TestCase>, TestFileError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_of(text, s.start));
        TestFileError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    if raw.case.is_empty() {
        return Err(TestFileError::Empty(file.to_string()));
    }
    raw.case
        .into_iter()
        .map(|spanned| {
            let (line, _) = line_of(text, spanned.span().start);
            let case = spanned.into_inner();
            let fail = |message: String| TestFileError::Case {
                file: file.to_string(),
                line,
                name: case.name.clone(),
                message,
            };
            let principal = case
                .principal
                .as_deref()
                .map(Principal::user)
                .transpose()
                .map_err(|e| fail(e.to_string()))?;
            let action: Action = case.action.parse().map_err(|e| fail(format!("{e}")))?;
            let resource = resource_text(action, &case.resource);
            let context = case
                .context
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| fail(format!("context: {e}")))?;
            let (action, resource, context) =
                parse_request(&action.to_string(), &resource, context.as_deref())
                    .map_err(|e| fail(e.to_string()))?;
            if !action.applies_to_kind(resource.kind()) {
                return Err(fail(format!(
                    "{action} does not apply to {}",
                    resource.kind().type_name()
                )));
            }
            Ok(TestCase {
                name: case.name,
                line,
                principal,
                action,
                resource,
                context,
                expect: case.expect,
                determined_by: case.determined_by,
            })
        })
        .collect()
}

/// A case's resource as an entity UID: a UID as given, a path as a `File` (a `Dir` when the
/// action applies only to directories or the path ends with `/`).
fn resource_text(action: Action, resource: &str) -> String {
    let trimmed = resource.trim();
    if !trimmed.starts_with('/') {
        return trimmed.to_string();
    }
    let dir_only =
        action.applies_to_kind(ResourceKind::Dir) && !action.applies_to_kind(ResourceKind::File);
    let kind = if dir_only || (trimmed.len() > 1 && trimmed.ends_with('/')) {
        ResourceKind::Dir
    } else {
        ResourceKind::File
    };
    let path = if trimmed.len() > 1 {
        trimmed.trim_end_matches('/')
    } else {
        trimmed
    };
    // serde_json's string escaping is a valid Cedar string literal for paths.
    format!(
        "{}::{}",
        kind.type_name(),
        serde_json::Value::String(path.to_string())
    )
}

/// Decides every case under `policies` (cases without a principal use `default_principal`).
pub fn run_tests(
    file: &str,
    policies: &rex_auth::Policies,
    cases: &[TestCase],
    default_principal: &Principal,
) -> Result<TestReport, rex_auth::AuthError> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let principal = case.principal.as_ref().unwrap_or(default_principal);
        let e = rex_auth::explain(
            policies,
            principal,
            case.action,
            &case.resource,
            &case.context,
        )?;
        let (actual, actual_expect) = match e.outcome {
            Outcome::Allow if e.needs_approval() => ("allow-if-approved", Expect::AllowIfApproved),
            Outcome::Allow => ("allow", Expect::Allow),
            Outcome::Deny => ("deny", Expect::Deny),
            Outcome::Error => ("error", Expect::Deny),
        };
        let mut message = String::new();
        if actual_expect != case.expect {
            message = format!(
                "expected {}, got {}",
                expect_text(case.expect),
                actual.to_uppercase()
            );
        } else if let Some(want) = &case.determined_by {
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            let mut got: Vec<&str> = e.determining_policies.iter().map(String::as_str).collect();
            want.sort_unstable();
            want.dedup();
            got.sort_unstable();
            got.dedup();
            if want != got {
                message = format!(
                    "expected determining policies [{}], got [{}]",
                    want.join(", "),
                    got.join(", ")
                );
            }
        }
        results.push(CaseResult {
            name: case.name.clone(),
            line: case.line,
            passed: message.is_empty(),
            principal: principal.to_string(),
            action: case.action.to_string(),
            resource: case.resource.to_string(),
            expected: case.expect,
            actual,
            determining_policies: e.determining_policies,
            message,
        });
    }
    let passed = results.iter().filter(|r| r.passed).count();
    Ok(TestReport {
        file: file.to_string(),
        failed: results.len() - passed,
        passed,
        cases: results,
    })
}

fn expect_text(e: Expect) -> &'static str {
    match e {
        Expect::Allow => "ALLOW",
        Expect::Deny => "DENY",
        Expect::AllowIfApproved => "ALLOW-IF-APPROVED",
    }
}

impl TestReport {
    /// One line per case, then the summary.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        for c in &self.cases {
            let policies = if c.determining_policies.is_empty() {
                String::new()
            } else {
                format!(" by {}", c.determining_policies.join(", "))
            };
            let _ = write!(
                out,
                "{} {}: {}{}",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.actual.to_uppercase(),
                policies
            );
            if !c.passed {
                let _ = write!(out, " ({}; {}:{})", c.message, self.file, c.line);
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} passed, {} failed, {} cases",
            self.passed,
            self.failed,
            self.cases.len()
        );
        out
    }

    /// JUnit XML (one `testsuite` named for the file, one `testcase` per case).
    pub fn to_junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites tests=\"{n}\" failures=\"{f}\">\n  <testsuite name=\"{file}\" tests=\"{n}\" failures=\"{f}\" errors=\"0\">",
            n = self.cases.len(),
            f = self.failed,
            file = xml_escape(&self.file),
        );
        for c in &self.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                xml_escape(&c.name),
                xml_escape(&c.action)
            );
            if c.passed {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{} {} {}: {}</failure>\n    </testcase>",
                    xml_escape(&c.message),
                    xml_escape(&c.principal),
                    xml_escape(&c.action),
                    xml_escape(&c.resource),
                    xml_escape(&c.actual.to_uppercase()),
                );
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Escapes text for an XML attribute or element; characters XML 1.0 cannot carry at all
/// (most control characters) are written as `\u{..}`.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn paths_become_files_or_dirs() {
        assert_eq!(
            resource_text(Action::FsRead, "/var/log/x"),
            r#"file_system::File::"/var/log/x""#
        );
        assert_eq!(
            resource_text(Action::FsRead, "/var/log/"),
            r#"file_system::Dir::"/var/log""#
        );
        assert_eq!(
            resource_text(Action::FsUnmount, "/mnt"),
            r#"file_system::Dir::"/mnt""#
        );
        assert_eq!(
            resource_text(Action::FsRead, "/"),
            r#"file_system::File::"/""#
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse_tests("t.toml", "[[case]]\nname = \"a\"\nactoin = 1\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("t.toml:"), "{text}");
        let err = parse_tests("t.toml", "[[case]]\nname = \"x\"\naction = \"file_system::nope\"\nresource = \"/a\"\nexpect = \"allow\"\n").unwrap_err();
        assert!(matches!(err, TestFileError::Case { line: 1, .. }), "{err}");
    }

    #[test]
    fn xml_escape_keeps_documents_well_formed() {
        assert_eq!(
            xml_escape("a<b>&\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;&apos;\\u{1}"
        );
    }
}
