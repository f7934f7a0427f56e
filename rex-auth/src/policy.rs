//! Loading policies: parse, strict validation against the Rex schema, stable policy ids.

use std::collections::HashSet;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, ValidationMode};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource};

use crate::error::{PolicyDiagnostic, PolicyError};
use crate::schema::validator;

/// A strictly validated policy set with stable, human-meaningful policy ids.
///
/// Ids are the `@id("...")` annotation when present, else `<source name>:<line>`.
///
/// ```
/// use rex_auth::Policies;
/// let p = Policies::parse("ops.cedar", r#"
///     @id("read-logs")
///     permit(principal, action == file_system::Action::"read",
///            resource in file_system::Dir::"/var/log");
/// "#).unwrap();
/// assert_eq!(p.ids(), ["read-logs"]);
///
/// // Unknown actions are rejected at load, never silently inert.
/// let err = Policies::parse("bad.cedar",
///     r#"permit(principal, action == file_system::Action::"raed", resource);"#).unwrap_err();
/// assert!(err.to_string().contains("bad.cedar"));
/// ```
#[derive(Debug, Clone)]
pub struct Policies {
    set: PolicySet,
    ids: Vec<String>,
    warnings: Vec<PolicyDiagnostic>,
}

impl Policies {
    /// Parses and strictly validates one policy source.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, PolicyError> {
        Self::from_sources([(source_name, text)])
    }

    /// Parses and strictly validates several sources (e.g. files) into one set. Any error in
    /// any source fails the whole load.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyError> {
        // Every source is parsed before the validator is asked for: in a process's first
        // load the schema behind it may still be being built on another thread
        // (`warm_up`), and parsing needs only Cedar's policy grammar. Parse and validation
        // errors are still reported for the first failing source, in order.
        let parsed: Vec<_> = sources
            .into_iter()
            .map(|(name, text)| (name, text, PolicySet::from_str(text)))
            .collect();
        if parsed.is_empty() {
            return Err(PolicyError::Empty);
        }
        let validator = validator()?;
        let mut set = PolicySet::new();
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        let mut warnings = Vec::new();
        for (name, text, result) in parsed {
            let parsed = result.map_err(|errs| {
                PolicyError::Parse(errs.iter().map(|e| diagnostic(name, text, e)).collect())
            })?;
            if let Some(t) = parsed.templates().next() {
                return Err(PolicyError::Template(format!(
                    "{name}: template {}",
                    t.id()
                )));
            }
            let result = validator.validate(&parsed, ValidationMode::Strict);
            if !result.validation_passed() {
                return Err(PolicyError::Validation(
                    result
                        .validation_errors()
                        .map(|e| diagnostic(name, text, e))
                        .collect(),
                ));
            }
            warnings.extend(
                result
                    .validation_warnings()
                    .map(|w| diagnostic(name, text, w)),
            );
            let lines = policy_start_lines(text);
            let count = parsed.policies().count();
            for index in 0..count {
                let old = PolicyId::new(format!("policy{index}"));
                let policy = parsed.policy(&old).ok_or_else(|| {
                    PolicyError::Schema(format!("{name}: policy {index} missing after parse"))
                })?;
                let id = match policy.annotation("id") {
                    Some(id) => id.to_string(),
                    // Several policies on one line (common when a policy is embedded as a
                    // one-line string, e.g. in an SSM document) get `file:line`, then
                    // `file:line#2`, `file:line#3`, ...
                    None => unique_id(
                        match (lines.len() == count, lines.get(index)) {
                            (true, Some(line)) => format!("{name}:{line}"),
                            _ => format!("{name}#{index}"),
                        },
                        &seen,
                    ),
                };
                if !seen.insert(id.clone()) {
                    return Err(PolicyError::DuplicateId(id));
                }
                check_approval_annotations(&id, policy)?;
                set.add(policy.new_id(PolicyId::new(&id)))
                    .map_err(|e| PolicyError::DuplicateId(format!("{id}: {e}")))?;
                ids.push(id);
            }
        }
        Ok(Policies { set, ids, warnings })
    }

    /// A set built inside this crate from policies that are already validated (e.g. the
    /// upper bound of [`crate::reach`], whose policies are validated ones with fewer
    /// conditions).
    pub(crate) fn from_validated(set: PolicySet, ids: Vec<String>) -> Self {
        Policies {
            set,
            ids,
            warnings: Vec::new(),
        }
    }

    /// An empty policy set: everything is denied.
    pub fn deny_all() -> Self {
        Policies {
            set: PolicySet::new(),
            ids: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The policy ids, in source order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the set has no policy (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Validation warnings (the policies still loaded).
    pub fn warnings(&self) -> &[PolicyDiagnostic] {
        &self.warnings
    }

    /// The validated Cedar policy set.
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    /// Iterates the policies.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.set.policies()
    }
}

/// `@approval` means something to Rex: only `"required"`, only on a permit; `@approvers`
/// only beside it. Anything else is an error, never silently an unconditional permit.
fn check_approval_annotations(id: &str, policy: &Policy) -> Result<(), PolicyError> {
    use crate::approval::{APPROVAL_ANNOTATION, APPROVERS_ANNOTATION};
    let bad = |message: &str| PolicyError::Annotation {
        id: id.to_string(),
        message: message.to_string(),
    };
    match policy.annotation(APPROVAL_ANNOTATION) {
        None if policy.annotation(APPROVERS_ANNOTATION).is_some() => {
            Err(bad("@approvers needs @approval(\"required\")"))
        }
        None => Ok(()),
        Some("required") if policy.effect() == cedar_policy::Effect::Permit => Ok(()),
        Some("required") => Err(bad("@approval(\"required\") applies to permits only")),
        Some(other) => Err(bad(&format!(
            "@approval({other:?}): the only value is \"required\""
        ))),
    }
}

impl Policies {
    /// The policies of this set that need approval (`@approval("required")`), each with its
    /// `@approvers` text if any.
    pub fn approvals(&self) -> std::collections::HashMap<String, Option<String>> {
        self.set
            .policies()
            .filter(|p| p.annotation(crate::approval::APPROVAL_ANNOTATION) == Some("required"))
            .map(|p| {
                (
                    p.id().to_string(),
                    p.annotation(crate::approval::APPROVERS_ANNOTATION)
                        .map(str::to_string),
                )
            })
            .collect()
    }
}

/// Renders a Cedar diagnostic against its source, and extracts line and column.
fn diagnostic(
    name: &str,
    text: &str,
    err: &(dyn Diagnostic + Send + Sync + 'static),
) -> PolicyDiagnostic {
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let (line, column) = match offset {
        Some(off) => {
            let (l, c) = line_col(text, off);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    let mut message = err.to_string();
    if let Some(help) = err.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    let report = SourcedDiagnostic {
        inner: err,
        source: NamedSource::new(name, text.to_string()),
    };
    let mut rendered = String::new();
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
    if handler.render_report(&mut rendered, &report).is_err() {
        rendered = message.clone();
    }
    PolicyDiagnostic {
        source_name: name.to_string(),
        line,
        column,
        message,
        rendered,
    }
}

/// Wraps a diagnostic so it renders against a named source.
struct SourcedDiagnostic<'a> {
    inner: &'a (dyn Diagnostic + Send + Sync + 'static),
    source: NamedSource<String>,
}

impl std::fmt::Debug for SourcedDiagnostic<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.inner, f)
    }
}

impl std::fmt::Display for SourcedDiagnostic<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for SourcedDiagnostic<'_> {}

impl Diagnostic for SourcedDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.inner.code()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `base` if no policy has it yet, else the first free `base#2`, `base#3`, ...
fn unique_id(base: String, seen: &HashSet<String>) -> String {
    if !seen.contains(&base) {
        return base;
    }
    (2..=usize::MAX)
        .map(|k| format!("{base}#{k}"))
        .find(|candidate| !seen.contains(candidate))
        .unwrap_or(base)
}

/// The 1-based line on which each policy of `text` starts (its first annotation or its
/// effect), found by a scanner that understands strings and `//` comments.
fn policy_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut line = 1;
    let mut in_policy = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' => {
                if !in_policy {
                    in_policy = true;
                    starts.push(line);
                }
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => line += usize::from(chars.next() == Some('\n')),
                        '\n' => line += 1,
                        '"' => break,
                        _ => {}
                    }
                }
            }
            ';' => in_policy = false,
            c if c.is_whitespace() => {}
            _ => {
                if !in_policy {
                    in_policy = true;
                    starts.push(line);
                }
            }
        }
    }
    starts
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

    #[test]
    fn ids_from_annotations_and_lines() {
        let text = "// header; with a semicolon\n\
            permit(principal, action == file_system::Action::\"read\", resource)\n\
              when { resource.path like \"/tmp/;*\" };\n\
            \n\
            @id(\"no-shadow\")\n\
            forbid(principal, action, resource == file_system::File::\"/etc/shadow\");\n\
            permit(principal, action == sysinfo::Action::\"list\", resource);";
        let p = Policies::parse("p.cedar", text).unwrap();
        assert_eq!(p.ids(), ["p.cedar:2", "no-shadow", "p.cedar:7"]);
    }

    #[test]
    fn parse_errors_have_positions() {
        let err = Policies::parse(
            "x.cedar",
            "permit(principal, action, resource)\nwhen { 1 + };",
        )
        .unwrap_err();
        let d = err.diagnostics();
        assert!(!d.is_empty());
        assert_eq!(d[0].line, Some(2));
        assert!(d[0].rendered.contains("x.cedar"), "{}", d[0].rendered);
    }

    #[test]
    fn strict_validation_rejects_unknowns() {
        for bad in [
            r#"permit(principal, action == file_system::Action::"frobnicate", resource);"#,
            r#"permit(principal, action, resource is file_system::Symlink);"#,
            r#"permit(principal, action == file_system::Action::"read", resource) when { resource.owner == "root" };"#,
            r#"permit(principal, action == process_system::Action::"kill", resource) when { resource.path == "/x" };"#,
        ] {
            match Policies::parse("bad.cedar", bad) {
                Err(PolicyError::Validation(d)) => {
                    assert!(!d.is_empty());
                    assert_eq!(d[0].line, Some(1));
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn duplicate_ids_and_templates_are_rejected() {
        let dup = "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") forbid(principal, action, resource);";
        assert!(matches!(
            Policies::parse("d", dup),
            Err(PolicyError::DuplicateId(_))
        ));
        let tpl = "permit(principal == ?principal, action, resource);";
        assert!(matches!(
            Policies::parse("t", tpl),
            Err(PolicyError::Template(_))
        ));
    }

    #[test]
    fn multiple_sources() {
        let p = Policies::from_sources([
            ("a.cedar", "permit(principal, action, resource);"),
            ("b.cedar", "\n\nforbid(principal, action, resource);"),
        ])
        .unwrap();
        assert_eq!(p.ids(), ["a.cedar:1", "b.cedar:3"]);
        // Several policies on one line (a policy embedded as a one-line string) load, each
        // with its own id.
        let one_line = Policies::parse(
            "ssm.cedar",
            "permit(principal, action == sysinfo::Action::\"list\", resource); \
             forbid(principal, action, resource is sysinfo::Uname); \
             permit(principal, action == sysctl::Action::\"load\", resource);\n\
             permit(principal, action, resource);",
        )
        .unwrap();
        assert_eq!(
            one_line.ids(),
            [
                "ssm.cedar:1",
                "ssm.cedar:1#2",
                "ssm.cedar:1#3",
                "ssm.cedar:2"
            ]
        );
        assert!(matches!(
            Policies::from_sources(std::iter::empty()),
            Err(PolicyError::Empty)
        ));
    }
}
