//! The server's configuration: the named policy sets (validated at start-up) and, for HTTP,
//! the agents of `AGENTS.toml` with the digests of their bearer tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rex_auth::cedar_policy::{ActionConstraint, Effect, ResourceConstraint};
use rex_runner::{Input, read_policy, sha256_hex};
use serde::Deserialize;

use super::child::PolicySource;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// `--policy` is not `NAME=FILE` or the name is not a plain identifier.
    #[error(
        "--policy {0:?}: expected NAME=FILE with NAME made of letters, digits, '-', '_' or '.'"
    )]
    PolicyArg(String),
    /// `--shadow-policy` is not `NAME=FILE`, or names no policy set.
    #[error("--shadow-policy {0:?}: expected NAME=FILE where NAME is a --policy set")]
    ShadowArg(String),
    /// A policy file cannot be read.
    #[error(transparent)]
    Input(#[from] rex_runner::InputError),
    /// A policy set is invalid (rendered with `rex-runner validate`'s diagnostics).
    #[error("policy set {name:?} is invalid:\n{rendered}")]
    Invalid {
        /// The set's name.
        name: String,
        /// The located diagnostics.
        rendered: String,
    },
    /// `AGENTS.toml` is malformed.
    #[error("agents file {path}: {message}")]
    Agents {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One named policy set.
#[derive(Debug, Clone)]
pub(crate) struct PolicySet {
    /// Its name (what tool calls pass as `policy`).
    pub name: String,
    /// Its sources, as read and validated at start-up.
    pub sources: Vec<Input>,
    /// SHA-256 of the sources' hashes joined by `,` (a single file: the file's own hash).
    pub sha256: String,
    /// One line per policy: what it permits or forbids.
    pub rules: Vec<Rule>,
    /// Its shadow policies (`--shadow-policy NAME=FILE`): decided beside it, never enforced.
    pub shadow: Vec<Input>,
}

/// A policy's scope, summarised for agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The policy id (`file:line` or its `@id`).
    pub id: String,
    /// `permit` or `forbid`.
    pub permit: bool,
    /// Cedar action UIDs (empty: any action).
    pub actions: Vec<String>,
    /// The resource scope, as Cedar text (`in file_system::Dir::"/var/log"`), or `any resource`.
    pub resource: String,
    /// Whether `when`/`unless` conditions narrow it further.
    pub conditional: bool,
}

impl Rule {
    /// One line: `permit file_system::Action::"read" on resource in file_system::Dir::"/x" (when ...)`.
    pub(crate) fn describe(&self) -> String {
        let actions = if self.actions.is_empty() {
            "any action".to_string()
        } else {
            self.actions.join(", ")
        };
        format!(
            "{} {} on {}{} [{}]",
            if self.permit { "permit" } else { "forbid" },
            actions,
            self.resource,
            if self.conditional {
                " (with conditions)"
            } else {
                ""
            },
            self.id
        )
    }
}

impl PolicySet {
    /// The sources to hand to a child.
    pub(crate) fn child_sources(&self) -> Vec<PolicySource> {
        self.sources
            .iter()
            .map(|s| PolicySource {
                name: s.name.clone(),
                text: s.text.clone(),
            })
            .collect()
    }

    /// The shadow sources to hand to a child.
    pub(crate) fn child_shadow_sources(&self) -> Vec<PolicySource> {
        self.shadow
            .iter()
            .map(|s| PolicySource {
                name: s.name.clone(),
                text: s.text.clone(),
            })
            .collect()
    }

    /// The full text (each source headed by its name).
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sources {
            out.push_str(&format!("// ---- {} (sha256 {})\n", s.name, s.sha256));
            out.push_str(&s.text);
            if !s.text.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Reads `--policy NAME=FILE` arguments (a name given several times combines its files) and
/// validates each set as `rex-runner validate` does.
/// Adds the shadow sets of `--shadow-policy NAME=FILE` to `sets`: each names an existing
/// set and is validated as strictly as an enforced one (an invalid shadow set stops the
/// server).
pub(crate) fn load_shadow_policies(
    sets: &mut BTreeMap<String, PolicySet>,
    args: &[String],
    allow_writable: bool,
) -> Result<(), ConfigError> {
    for a in args {
        let Some((name, file)) = a.split_once('=') else {
            return Err(ConfigError::ShadowArg(a.clone()));
        };
        let set = sets
            .get_mut(name)
            .filter(|_| !file.is_empty())
            .ok_or_else(|| ConfigError::ShadowArg(a.clone()))?;
        set.shadow
            .push(read_policy(&PathBuf::from(file), allow_writable)?);
    }
    for set in sets.values() {
        if set.shadow.is_empty() {
            continue;
        }
        rex_auth::Policies::from_sources(
            set.shadow
                .iter()
                .map(|s| (s.name.as_str(), s.text.as_str())),
        )
        .map_err(|e| ConfigError::Invalid {
            name: format!("{} (shadow)", set.name),
            rendered: e.render(),
        })?;
    }
    Ok(())
}

pub(crate) fn load_policies(
    args: &[String],
    allow_writable: bool,
) -> Result<BTreeMap<String, PolicySet>, ConfigError> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for a in args {
        let Some((name, file)) = a.split_once('=') else {
            return Err(ConfigError::PolicyArg(a.clone()));
        };
        if !valid_name(name) || file.is_empty() {
            return Err(ConfigError::PolicyArg(a.clone()));
        }
        files
            .entry(name.to_string())
            .or_default()
            .push(PathBuf::from(file));
    }
    let mut sets = BTreeMap::new();
    for (name, paths) in files {
        let mut sources = Vec::new();
        for p in &paths {
            sources.push(read_policy(p, allow_writable)?);
        }
        let parsed = rex_auth::Policies::from_sources(
            sources.iter().map(|s| (s.name.as_str(), s.text.as_str())),
        )
        .map_err(|e| ConfigError::Invalid {
            name: name.clone(),
            rendered: e.render(),
        })?;
        let rules = parsed.policies().map(rule_of).collect();
        let sha256 = match sources.as_slice() {
            [one] => one.sha256.clone(),
            many => sha256_hex(
                many.iter()
                    .map(|s| s.sha256.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
                    .as_bytes(),
            ),
        };
        sets.insert(
            name.clone(),
            PolicySet {
                name,
                sources,
                sha256,
                rules,
                shadow: Vec::new(),
            },
        );
    }
    Ok(sets)
}

fn rule_of(p: &rex_auth::cedar_policy::Policy) -> Rule {
    let actions = match p.action_constraint() {
        ActionConstraint::Any => Vec::new(),
        ActionConstraint::Eq(uid) => vec![uid.to_string()],
        ActionConstraint::In(uids) => uids.iter().map(|u| u.to_string()).collect(),
    };
    let resource = match p.resource_constraint() {
        ResourceConstraint::Any => "any resource".to_string(),
        ResourceConstraint::Eq(uid) => uid.to_string(),
        ResourceConstraint::In(uid) => format!("{uid} and everything in it"),
        ResourceConstraint::Is(t) => format!("any {t}"),
        ResourceConstraint::IsIn(t, uid) => format!("any {t} in {uid}"),
    };
    Rule {
        id: p.id().to_string(),
        permit: p.effect() == Effect::Permit,
        actions,
        resource,
        conditional: p.has_non_scope_constraint(),
    }
}

/// Names of policy sets and agents: letters, digits, `-`, `_`, `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One agent of `AGENTS.toml`.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// Its name (audit log, and its Cedar principal `User::"<name>"`).
    pub name: String,
    /// SHA-256 of its bearer token.
    pub token_sha256: [u8; 32],
    /// The policy sets it may use.
    pub policies: Vec<String>,
    /// Most runs it may have at once (`max_concurrent`; default: the server's per-agent
    /// default, capped by `--max-concurrent`).
    pub max_concurrent: Option<usize>,
    /// Most sessions it may hold open at once (`max_sessions`; default: the server's
    /// `--max-sessions-per-agent`).
    pub max_sessions: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    agent: Vec<AgentEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    name: String,
    token_sha256: String,
    policies: Vec<String>,
    #[serde(default)]
    max_concurrent: Option<i64>,
    #[serde(default)]
    max_sessions: Option<i64>,
}

/// A positive count of AGENTS.toml (`key` of agent `agent`).
fn positive(agent: &str, key: &str, value: Option<i64>) -> Result<Option<usize>, String> {
    match value {
        None => Ok(None),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n >= 1 && *n <= 1_000_000)
            .map(Some)
            .ok_or_else(|| {
                format!("agent {agent:?}: {key} must be a whole number from 1 to 1000000")
            }),
    }
}

/// Reads `AGENTS.toml`; every agent's policies must be configured sets.
pub(crate) fn load_agents(
    path: &Path,
    sets: &BTreeMap<String, PolicySet>,
) -> Result<Vec<Agent>, ConfigError> {
    let bad = |message: String| ConfigError::Agents {
        path: path.to_path_buf(),
        message,
    };
    // The agents file decides who may run what, like a policy: refuse one others can write.
    let input = read_policy(path, false).map_err(|e| match e {
        rex_runner::InputError::WritablePolicy { .. } => {
            bad("is writable by group or others; fix it with `chmod go-w`".into())
        }
        other => ConfigError::Input(other),
    })?;
    let file: AgentsFile = toml::from_str(&input.text).map_err(|e| bad(e.to_string()))?;
    let mut agents: Vec<Agent> = Vec::new();
    for a in file.agent {
        if !valid_name(&a.name) {
            return Err(bad(format!(
                "agent name {:?}: use letters, digits, '-', '_' or '.'",
                a.name
            )));
        }
        if agents.iter().any(|x| x.name == a.name) {
            return Err(bad(format!("agent {:?} is listed twice", a.name)));
        }
        let digest = hex::decode(a.token_sha256.trim())
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| {
                bad(format!(
                    "agent {:?}: token_sha256 must be 64 hex digits (sha256 of the token)",
                    a.name
                ))
            })?;
        if agents.iter().any(|x| x.token_sha256 == digest) {
            return Err(bad(format!(
                "agent {:?} has the same token as another agent",
                a.name
            )));
        }
        for p in &a.policies {
            if !sets.contains_key(p) {
                return Err(bad(format!(
                    "agent {:?}: policy set {p:?} is not configured (--policy {p}=FILE)",
                    a.name
                )));
            }
        }
        let max_concurrent = positive(&a.name, "max_concurrent", a.max_concurrent).map_err(bad)?;
        let max_sessions = positive(&a.name, "max_sessions", a.max_sessions).map_err(bad)?;
        agents.push(Agent {
            name: a.name,
            token_sha256: digest,
            policies: a.policies,
            max_concurrent,
            max_sessions,
        });
    }
    if agents.is_empty() {
        return Err(bad("defines no [[agent]]".into()));
    }
    Ok(agents)
}

/// The agent whose token is `token`: its SHA-256 is compared with every agent's digest in
/// constant time (all digests are compared, whatever matches).
pub(crate) fn authenticate<'a>(
    agents: &'a [std::sync::Arc<Agent>],
    token: &str,
) -> Option<&'a std::sync::Arc<Agent>> {
    let digest: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        token.as_bytes(),
    ))
    .into();
    let mut found = None;
    for a in agents {
        if constant_time_eq(&a.token_sha256, &digest) {
            found = Some(a);
        }
    }
    found
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn tokens_are_matched_by_digest() {
        let agents = vec![std::sync::Arc::new(Agent {
            name: "a".into(),
            token_sha256: <[u8; 32]>::try_from(hex::decode(sha256_hex(b"secret-token")).unwrap())
                .unwrap(),
            policies: vec![],
            max_concurrent: None,
            max_sessions: None,
        })];
        assert_eq!(authenticate(&agents, "secret-token").unwrap().name, "a");
        assert!(authenticate(&agents, "secret-tokem").is_none());
        assert!(authenticate(&agents, "").is_none());
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("read-only_1.x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a\"b"));
    }
}
