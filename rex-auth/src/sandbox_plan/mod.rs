//! The kernel backstop's plan: which file-system rights beneath which paths, and which TCP
//! ports, the loaded policies can ever need. rust-sdk turns a plan into a Landlock ruleset
//! (`rust_sdk::runtime::sandbox`); this module only analyses policies and does no OS access.
//!
//! The plan must **never deny what the policies allow**: it is derived from the permits
//! only (forbids never narrow it, Cedar still enforces them), from their resource scopes and
//! from the `when` conditions it can analyse (conjunctions and disjunctions of
//! `resource in Dir::"X"`, `resource == File::"Y"`, `resource.port == N`); any condition it
//! cannot analyse leaves the scope as wide as the policy's scope. Landlock can only allow,
//! so a right granted beneath a directory is granted to the whole tree. The table of what each
//! action needs is `docs/SANDBOX.md`.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{Effect, EntityUid, Policy, ResourceConstraint};
use serde_json::Value;

use crate::{Action, Namespace, Policies};

mod actions;
mod ports;
mod scope;

pub use actions::fs_needs;
use actions::*;
use ports::*;
use scope::*;

/// A set of Landlock file-system rights (a subset of the kernel's, named as in `landlock`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FsRights(u16);

impl FsRights {
    /// Open a file for reading.
    pub const READ_FILE: FsRights = FsRights(1);
    /// Open a directory or list it.
    pub const READ_DIR: FsRights = FsRights(1 << 1);
    /// Open a file for writing.
    pub const WRITE_FILE: FsRights = FsRights(1 << 2);
    /// Truncate a file.
    pub const TRUNCATE: FsRights = FsRights(1 << 3);
    /// Execute (or map executable) a file.
    pub const EXECUTE: FsRights = FsRights(1 << 4);
    /// Create a regular file.
    pub const MAKE_REG: FsRights = FsRights(1 << 5);
    /// Create a directory.
    pub const MAKE_DIR: FsRights = FsRights(1 << 6);
    /// Create a symbolic link.
    pub const MAKE_SYM: FsRights = FsRights(1 << 7);
    /// Unlink or rename away a file.
    pub const REMOVE_FILE: FsRights = FsRights(1 << 8);
    /// Remove or rename away a directory.
    pub const REMOVE_DIR: FsRights = FsRights(1 << 9);
    /// Link or rename across directories.
    pub const REFER: FsRights = FsRights(1 << 10);
    /// No right.
    pub const NONE: FsRights = FsRights(0);
    /// Read a file or list a directory.
    pub const READ: FsRights = FsRights(Self::READ_FILE.0 | Self::READ_DIR.0);
    /// Every right the plan can grant.
    pub const ALL: FsRights = FsRights((1 << 11) - 1);

    const NAMES: [(FsRights, &'static str); 11] = [
        (Self::READ_FILE, "read_file"),
        (Self::READ_DIR, "read_dir"),
        (Self::WRITE_FILE, "write_file"),
        (Self::TRUNCATE, "truncate"),
        (Self::EXECUTE, "execute"),
        (Self::MAKE_REG, "make_reg"),
        (Self::MAKE_DIR, "make_dir"),
        (Self::MAKE_SYM, "make_sym"),
        (Self::REMOVE_FILE, "remove_file"),
        (Self::REMOVE_DIR, "remove_dir"),
        (Self::REFER, "refer"),
    ];

    /// The union of two sets.
    pub const fn union(self, other: FsRights) -> FsRights {
        FsRights(self.0 | other.0)
    }

    /// The rights in both sets.
    pub const fn intersect(self, other: FsRights) -> FsRights {
        FsRights(self.0 & other.0)
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: FsRights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights' names (`read_file`, `make_reg`, ...), in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(r, _)| self.contains(*r))
            .map(|(_, n)| *n)
            .collect()
    }

    /// Only the rights that apply to a regular file (a rule on a file cannot carry others).
    pub const fn file_rights(self) -> FsRights {
        FsRights(
            self.0 & (Self::READ_FILE.0 | Self::WRITE_FILE.0 | Self::TRUNCATE.0 | Self::EXECUTE.0),
        )
    }
}

impl std::ops::BitOr for FsRights {
    type Output = FsRights;
    fn bitor(self, rhs: FsRights) -> FsRights {
        self.union(rhs)
    }
}

/// One rule: `rights` beneath `path` (the path itself and everything under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRule {
    /// The absolute path (a directory, or a file for file-only rights).
    pub path: String,
    /// The rights granted beneath it.
    pub rights: FsRights,
    /// Why: the policy ids and built-in needs that asked for it.
    pub reasons: BTreeSet<String>,
    /// Whether a policy's scope asked for it. Such a path may not exist yet (a file the
    /// script will create): the rule then goes on its nearest existing ancestor. A built-in
    /// path that does not exist is skipped.
    pub from_policy: bool,
}

/// The file-system part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsPlan {
    /// No file-system restriction can be applied without denying something the policies
    /// allow (e.g. a permit of `unmount`: Landlock forbids unmounting in a sandbox).
    Unrestricted {
        /// Why.
        reason: String,
    },
    /// Only these rules; every handled right elsewhere is denied by the kernel.
    Rules(Vec<FsRule>),
}

/// The TCP part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetPlan {
    /// Connecting to any port stays allowed (a permit does not constrain the port).
    Unrestricted {
        /// Why.
        reason: String,
    },
    /// Only these destination ports may be connected to (empty: none).
    ConnectPorts(BTreeMap<u16, BTreeSet<String>>),
}

/// What the kernel backstop allows, derived from the permits of a policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPlan {
    /// File-system rules.
    pub fs: FsPlan,
    /// TCP connect rules.
    pub net: NetPlan,
}

/// The resources a permit can reach, as far as the analysis can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Any resource.
    Any,
    /// Paths: `(path, subtree)`; `subtree` for `in Dir`, exact otherwise (`is_dir` says
    /// whether the exact resource is a directory).
    Paths(Vec<Target>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    path: String,
    subtree: bool,
    is_dir: bool,
}

/// Read access to the files every run needs (the runner's own process, device files that
/// programs open, time zones).
const RUNTIME_READ_WRITE: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
const RUNTIME_READ: &[&str] = &[
    "/dev/urandom",
    "/dev/random",
    "/proc/self",
    "/etc/localtime",
    "/usr/share/zoneinfo",
];
/// What a program needs to start: its loader and libraries, their caches, locale data, and
/// the account databases (user and group names).
const EXEC_READ_EXECUTE: &[&str] = &[
    "/lib",
    "/lib64",
    "/lib32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/usr/libexec",
    "/usr/local/lib",
];
const EXEC_READ: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/usr/share",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/locale.alias",
];
/// Name resolution (hosts file, resolver configuration, NSS modules in the library dirs).
const RESOLVE_READ: &[&str] = &[
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/run/systemd/resolve",
    "/run/resolvconf",
];
/// TLS trust anchors.
const CA_READ: &[&str] = &[
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/usr/lib/ssl",
];
const PROC_SYS_READ: &[&str] = &["/proc", "/sys"];
const SYSINFO_READ: &[&str] = &[
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/hostname",
    "/etc/passwd",
    "/etc/group",
];
const SYSTEMD_READ: &[&str] = &["/etc/machine-id", "/var/lib/dbus/machine-id", "/proc"];
const SYSCTL_READ: &[&str] = &[
    "/etc/sysctl.conf",
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/lib/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/lib/sysctl.d",
];
const DNS_PORT: u16 = 53;

/// Builds plans; one per derivation.
struct Builder {
    rules: BTreeMap<String, (FsRights, BTreeSet<String>, bool)>,
    fs_unrestricted: Option<String>,
    ports: BTreeMap<u16, BTreeSet<String>>,
    net_unrestricted: Option<String>,
}

impl Builder {
    fn add(&mut self, path: &str, rights: FsRights, why: &str, from_policy: bool) {
        if rights.is_empty() {
            return;
        }
        let entry = self
            .rules
            .entry(path.to_string())
            .or_insert_with(|| (FsRights::NONE, BTreeSet::new(), false));
        entry.0 = entry.0 | rights;
        entry.1.insert(why.to_string());
        entry.2 |= from_policy;
    }

    /// A right a policy's scope asks for.
    fn grant(&mut self, path: &str, rights: FsRights, why: &str) {
        self.add(path, rights, why, true);
    }

    /// A right of a built-in need (loader, resolver, ...).
    fn grant_all(&mut self, paths: &[&str], rights: FsRights, why: &str) {
        for p in paths {
            self.add(p, rights, why, false);
        }
    }

    fn port(&mut self, port: u16, why: &str) {
        self.ports.entry(port).or_default().insert(why.to_string());
    }
}

/// The parent of an absolute, normalised path (`/` for `/` and top-level names).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
    }
}

impl SandboxPlan {
    /// A plan that restricts nothing (what `--sandbox off` stands for).
    pub fn empty() -> SandboxPlan {
        SandboxPlan {
            fs: FsPlan::Unrestricted {
                reason: "no plan".into(),
            },
            net: NetPlan::Unrestricted {
                reason: "no plan".into(),
            },
        }
    }

    /// Derives the plan of a validated policy set.
    ///
    /// ```
    /// use rex_auth::{Policies, sandbox_plan::{FsPlan, FsRights, SandboxPlan}};
    /// let p = Policies::parse("p.cedar", r#"permit(principal,
    ///     action in [file_system::Action::"open", file_system::Action::"read"],
    ///     resource in file_system::Dir::"/srv/app/public");"#).unwrap();
    /// let plan = SandboxPlan::derive(&p);
    /// assert!(plan.allows("/srv/app/public/index.html", FsRights::READ_FILE));
    /// assert!(!plan.allows("/srv/app/secret.txt", FsRights::READ_FILE));
    /// ```
    pub fn derive(policies: &Policies) -> SandboxPlan {
        let mut b = Builder {
            rules: BTreeMap::new(),
            fs_unrestricted: None,
            ports: BTreeMap::new(),
            net_unrestricted: None,
        };
        b.grant_all(
            RUNTIME_READ_WRITE,
            FsRights::READ_FILE | FsRights::WRITE_FILE,
            "runtime",
        );
        b.grant_all(RUNTIME_READ, FsRights::READ, "runtime");
        for policy in policies.policies() {
            if policy.effect() != Effect::Permit {
                continue;
            }
            let id = policy.id().to_string();
            // Strict validation admits only the schema's actions, all of them in `Action::ALL`.
            let constraint = policy.action_constraint();
            let actions = Action::ALL
                .iter()
                .copied()
                .filter(|a| crate::explain::covers(&constraint, *a));
            let when = when_bodies(policy);
            let scope = scope_of(policy, &when);
            for action in actions {
                apply_action(&mut b, action, &scope, policy, &when, &id);
            }
        }
        let fs = match b.fs_unrestricted {
            Some(reason) => FsPlan::Unrestricted { reason },
            None => FsPlan::Rules(
                b.rules
                    .into_iter()
                    .map(|(path, (rights, reasons, from_policy))| FsRule {
                        path,
                        rights,
                        reasons,
                        from_policy,
                    })
                    .collect(),
            ),
        };
        let net = match b.net_unrestricted {
            Some(reason) => NetPlan::Unrestricted { reason },
            None => NetPlan::ConnectPorts(b.ports),
        };
        SandboxPlan { fs, net }
    }

    /// Whether the plan lets `rights` be used at `path` (an absolute, normalised path): some
    /// rule on the path or one of its ancestors grants them (Landlock's rule: the rights of
    /// every rule on the way down add up).
    pub fn allows(&self, path: &str, rights: FsRights) -> bool {
        match &self.fs {
            FsPlan::Unrestricted { .. } => true,
            FsPlan::Rules(rules) => {
                let mut have = FsRights::NONE;
                for r in rules {
                    if is_within(path, &r.path) {
                        have = have | r.rights;
                    }
                }
                have.contains(rights)
            }
        }
    }

    /// Whether TCP connect to `port` stays allowed.
    pub fn allows_port(&self, port: u16) -> bool {
        match &self.net {
            NetPlan::Unrestricted { .. } => true,
            NetPlan::ConnectPorts(p) => p.contains_key(&port),
        }
    }

    /// The plan as JSON (`--print-sandbox -o json`).
    pub fn to_json(&self) -> Value {
        let fs = match &self.fs {
            FsPlan::Unrestricted { reason } => {
                serde_json::json!({ "restricted": false, "reason": reason })
            }
            FsPlan::Rules(rules) => serde_json::json!({
                "restricted": true,
                "rules": rules.iter().map(|r| serde_json::json!({
                    "path": r.path,
                    "rights": r.rights.names(),
                    "reasons": r.reasons,
                })).collect::<Vec<_>>(),
            }),
        };
        let net = match &self.net {
            NetPlan::Unrestricted { reason } => {
                serde_json::json!({ "restricted": false, "reason": reason })
            }
            NetPlan::ConnectPorts(ports) => serde_json::json!({
                "restricted": true,
                "tcp_connect": ports.iter().map(|(p, why)| serde_json::json!({
                    "port": p, "reasons": why,
                })).collect::<Vec<_>>(),
            }),
        };
        serde_json::json!({ "file_system": fs, "network": net })
    }

    /// The plan as text for a reviewer.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        match &self.fs {
            FsPlan::Unrestricted { reason } => {
                out.push_str(&format!("file system: not restricted ({reason})\n"));
            }
            FsPlan::Rules(rules) => {
                out.push_str("file system: only these rights, beneath these paths:\n");
                for r in rules {
                    out.push_str(&format!(
                        "  {:<40} {}    ({})\n",
                        r.path,
                        r.rights.names().join(","),
                        r.reasons.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        match &self.net {
            NetPlan::Unrestricted { reason } => {
                out.push_str(&format!("tcp connect: any port ({reason})\n"));
            }
            NetPlan::ConnectPorts(ports) if ports.is_empty() => {
                out.push_str("tcp connect: no port\n");
            }
            NetPlan::ConnectPorts(ports) => {
                out.push_str("tcp connect: only these ports:\n");
                for (p, why) in ports {
                    out.push_str(&format!(
                        "  {p:<6} ({})\n",
                        why.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    fn plan(text: &str) -> SandboxPlan {
        SandboxPlan::derive(&Policies::parse("t.cedar", text).unwrap())
    }

    #[test]
    fn scoped_read_is_granted_beneath_its_directory_only() {
        let p = plan(
            r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
                      resource in file_system::Dir::"/srv/app/public");"#,
        );
        assert!(p.allows("/srv/app/public", FsRights::READ_DIR));
        assert!(p.allows("/srv/app/public/a/b.txt", FsRights::READ_FILE));
        assert!(!p.allows("/srv/app/secret.txt", FsRights::READ_FILE));
        assert!(!p.allows("/srv/app/publicity", FsRights::READ_FILE));
        assert!(!p.allows("/srv/app/public/x", FsRights::WRITE_FILE));
        assert!(!p.allows("/usr/bin/cat", FsRights::EXECUTE));
        assert_eq!(p.net, NetPlan::ConnectPorts(BTreeMap::new()));
    }

    #[test]
    fn execute_of_one_binary_grants_it_and_the_loader() {
        let p = plan(
            r#"permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cat");"#,
        );
        assert!(p.allows("/usr/bin/cat", FsRights::EXECUTE | FsRights::READ_FILE));
        assert!(!p.allows("/usr/bin/touch", FsRights::EXECUTE));
        assert!(p.allows("/usr/lib/x86_64-linux-gnu/libc.so.6", FsRights::EXECUTE));
        assert!(p.allows("/etc/ld.so.cache", FsRights::READ_FILE));
        assert!(!p.allows("/etc/shadow", FsRights::READ_FILE));
    }

    #[test]
    fn unconstrained_resources_and_unmount_widen() {
        let p = plan(r#"permit(principal, action == file_system::Action::"read", resource);"#);
        assert!(p.allows("/etc/shadow", FsRights::READ_FILE));
        assert!(!p.allows("/etc/shadow", FsRights::WRITE_FILE));
        let p = plan(r#"permit(principal, action, resource);"#);
        assert!(matches!(p.fs, FsPlan::Unrestricted { .. }));
        assert!(matches!(p.net, NetPlan::Unrestricted { .. }));
    }

    #[test]
    fn forbids_never_narrow_and_when_clauses_do() {
        let p = plan(
            r#"permit(principal, action == file_system::Action::"read", resource)
                 when { resource in file_system::Dir::"/var/log" || resource == file_system::File::"/etc/hosts" };
               forbid(principal, action == file_system::Action::"read", resource in file_system::Dir::"/var/log/private");"#,
        );
        assert!(p.allows("/var/log/syslog", FsRights::READ_FILE));
        assert!(p.allows("/var/log/private/x", FsRights::READ_FILE));
        assert!(p.allows("/etc/hosts", FsRights::READ_FILE));
        assert!(!p.allows("/etc/passwd", FsRights::READ_FILE));
        // An unanalysable condition leaves the scope as is.
        let p = plan(
            r#"permit(principal, action == file_system::Action::"read", resource)
                 when { resource.path like "/var/log/*" };"#,
        );
        assert!(p.allows("/etc/passwd", FsRights::READ_FILE));
    }

    #[test]
    fn create_and_delete_act_on_the_parent() {
        let p = plan(
            r#"permit(principal, action in [file_system::Action::"create", file_system::Action::"delete"],
                      resource == file_system::File::"/srv/out/report.txt");"#,
        );
        assert!(p.allows("/srv/out", FsRights::MAKE_REG | FsRights::REMOVE_FILE));
        assert!(!p.allows("/srv", FsRights::MAKE_REG));
    }

    #[test]
    fn network_ports_come_from_urls_and_conditions() {
        let p = plan(
            r#"permit(principal, action == network::Action::"GET", resource == network::url::"https://example.com/x");
               permit(principal, action == network::Action::"connect", resource) when { resource.port == 5432 };
               permit(principal, action == network::Action::"connect", resource) when { [6379, 6380].contains(resource.port) };"#,
        );
        for port in [443, 5432, 6379, 6380, 53] {
            assert!(p.allows_port(port), "{port}");
        }
        assert!(!p.allows_port(22));
        let p = plan(r#"permit(principal, action == network::Action::"connect", resource);"#);
        assert!(p.allows_port(22));
    }

    #[test]
    fn url_ports() {
        assert_eq!(url_port("https://h/x"), Some(443));
        assert_eq!(url_port("http://h:8080/x"), Some(8080));
        assert_eq!(url_port("http://u:p@h/x"), Some(80));
        assert_eq!(url_port("h.example"), None);
        assert_eq!(url_port("ftp://h/x"), None);
    }
}
