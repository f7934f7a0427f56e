//! The kernel backstop's plan: which file-system rights beneath which paths, and which TCP
//! ports, for the run's principal, in two layers. rust-sdk turns the plan into Landlock
//! rulesets (`rust_sdk::runtime::sandbox`); this module only analyses policies and does no
//! OS access.
//!
//! * The **runner's layer** ([`SandboxLayers::runner`]) confines the runner itself and must
//!   **never deny what the policies allow** rust-sdk to do, including its own needs (the
//!   temporary file of a write-replace, staged archive entries, the cross-device move). It
//!   is read widely: forbids never narrow it, a condition it cannot read leaves the scope
//!   as wide as the policy's scope.
//! * The **layer of executed programs** ([`SandboxLayers::exec`]), stacked on it for every
//!   program a script runs, must **never allow more than the policies allow**: it is read
//!   exactly (see `exec`), and where Landlock cannot say a policy exactly it grants less.
//!
//! Both count a permit only for the run's principal, and only for the actions whose resource
//! types its scope can match (the schema's `appliesTo`). `unmount` cannot be allowed inside a
//! Landlock domain: it goes to a broker process forked before the domain (listed in
//! [`SandboxLayers::unmount_broker`]). The table of what each action needs is
//! `docs/SANDBOX.md`.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{Effect, EntityUid, Policy, ResourceConstraint};
use serde_json::Value;

use crate::{Action, Namespace, Policies, Principal, ResourceKind};

mod actions;
mod exec;
mod ports;
mod scope;

pub use actions::fs_needs;

/// Which Cedar requests (action, on a directory?) each Landlock right of the layer of
/// executed programs stands for: the layer grants a right beneath a path only where Cedar
/// allows every one of them for every resource beneath it. For reviewers and tests.
pub fn exec_right_needs() -> &'static [(FsRights, &'static [(Action, bool)])] {
    exec::RIGHT_NEEDS
}
use actions::*;
use exec::ExecLayer;
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
    /// Where the rule comes from, which says how it is applied.
    pub origin: RuleOrigin,
}

/// Where a rule comes from, which says how it is applied to the host's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleOrigin {
    /// A built-in need (loader, devices, resolver, ...): skipped when the path does not exist.
    Runtime,
    /// A policy's path in the runner's layer: it may not exist yet (a file the script will
    /// create), and then the rule goes on its nearest existing ancestor. A path with a
    /// symbolic link in it is skipped (rust-sdk checks the path a link resolves to as well).
    Policy,
    /// A tree of the exact layer: skipped when it does not exist or has a symbolic link in it.
    ExactTree,
    /// One file of the exact layer: applied only to a regular file (never to a directory,
    /// whose rule would reach beneath it), skipped otherwise.
    ExactFile,
}

/// The file-system part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsPlan {
    /// No file-system restriction (only [`SandboxPlan::empty`]: `--sandbox off`).
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
/// The runtime of an executed program: [`RUNTIME_READ`] without `/proc/self`, which names the
/// runner's own process (its environment among others).
const EXEC_RUNTIME_READ: &[&str] = &[
    "/dev/urandom",
    "/dev/random",
    "/etc/localtime",
    "/usr/share/zoneinfo",
];
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

/// Builds one layer.
#[derive(Default)]
struct Builder {
    rules: BTreeMap<(String, RuleOrigin), (FsRights, BTreeSet<String>)>,
    unmount: BTreeSet<String>,
    /// Files that rust-sdk may replace by a new inode (write-replace, create): a rule on the
    /// old inode would not follow, so their rights also go to their directory.
    replaced: BTreeSet<String>,
    ports: BTreeMap<u16, BTreeSet<String>>,
    net_unrestricted: Option<String>,
}

impl Builder {
    /// A builder with the runtime every layer has: the `/dev` files read and written, and
    /// `read` (the runner's or a program's read-only runtime set).
    fn with_runtime(read: &[&str]) -> Builder {
        let mut b = Builder::default();
        b.grant_all(
            RUNTIME_READ_WRITE,
            FsRights::READ_FILE | FsRights::WRITE_FILE,
            "runtime",
        );
        b.grant_all(read, FsRights::READ, "runtime");
        b
    }

    fn add(&mut self, path: &str, rights: FsRights, why: &str, origin: RuleOrigin) {
        if rights.is_empty() {
            return;
        }
        let entry = self
            .rules
            .entry((path.to_string(), origin))
            .or_insert_with(|| (FsRights::NONE, BTreeSet::new()));
        entry.0 = entry.0 | rights;
        entry.1.insert(why.to_string());
    }

    /// A right a policy's scope asks for.
    fn grant(&mut self, path: &str, rights: FsRights, why: &str) {
        self.add(path, rights, why, RuleOrigin::Policy);
    }

    /// A right of a built-in need (loader, resolver, ...).
    fn grant_all(&mut self, paths: &[&str], rights: FsRights, why: &str) {
        for p in paths {
            self.add(p, rights, why, RuleOrigin::Runtime);
        }
    }

    fn port(&mut self, port: u16, why: &str) {
        self.ports.entry(port).or_default().insert(why.to_string());
    }

    /// Copies the rights of every replaced file to its directory.
    fn follow_replacements(&mut self) {
        let mut moved = Vec::new();
        for f in &self.replaced {
            if let Some((rights, why)) = self.rules.get(&(f.clone(), RuleOrigin::Policy)) {
                moved.push((parent(f).to_string(), *rights, why.clone()));
            }
        }
        for (dir, rights, why) in moved {
            for w in why {
                self.add(
                    &dir,
                    rights,
                    &format!("{w} (replaced in place)"),
                    RuleOrigin::Policy,
                );
            }
        }
    }

    fn rules(self) -> Vec<FsRule> {
        self.rules
            .into_iter()
            .map(|((path, origin), (rights, reasons))| FsRule {
                path,
                rights,
                reasons,
                origin,
            })
            .collect()
    }
}

/// The parent of an absolute, normalised path (`/` for `/` and top-level names).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
    }
}

/// The two layers of the kernel backstop for one principal, and what goes to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLayers {
    /// The runner's own layer: at least everything Cedar can allow rust-sdk to do.
    pub runner: SandboxPlan,
    /// The layer of executed programs, stacked on the runner's: at most what Cedar allows.
    pub exec: SandboxPlan,
    /// The permits that may allow `unmount` (which no Landlock domain can do): when not empty,
    /// a broker forked before the domain performs unmounts, re-checking Cedar itself.
    pub unmount_broker: BTreeSet<String>,
}

impl SandboxLayers {
    /// Layers that restrict nothing (what `--sandbox off` stands for).
    pub fn empty() -> SandboxLayers {
        SandboxLayers {
            runner: SandboxPlan::empty(),
            exec: SandboxPlan::empty(),
            unmount_broker: BTreeSet::new(),
        }
    }

    /// Derives the layers of a validated policy set for `principal`.
    ///
    /// ```
    /// use rex_auth::{Policies, Principal, sandbox_plan::{FsRights, SandboxLayers}};
    /// let p = Policies::parse("p.cedar", r#"permit(principal,
    ///     action in [file_system::Action::"open", file_system::Action::"read"],
    ///     resource in file_system::Dir::"/srv/app/public");
    ///     permit(principal == User::"alice", action, resource);"#).unwrap();
    /// let layers = SandboxLayers::derive(&p, &Principal::user("agent").unwrap());
    /// assert!(layers.exec.allows("/srv/app/public/index.html", FsRights::READ_FILE));
    /// assert!(!layers.exec.allows("/srv/app/secret.txt", FsRights::READ_FILE));
    /// // alice's permit is not the agent's.
    /// assert!(!layers.runner.allows("/srv/app/secret.txt", FsRights::READ_FILE));
    /// ```
    pub fn derive(policies: &Policies, principal: &Principal) -> SandboxLayers {
        let who = principal.uid();
        let mut b = Builder::with_runtime(RUNTIME_READ);
        let mut exec = ExecLayer::default();
        for policy in policies.policies() {
            if !principal_matches(policy, who) {
                continue;
            }
            let conditions = conditions_of(policy);
            let when = conditions.as_ref().map_or(&[][..], |c| c.when.as_slice());
            let scope = scope_of(policy, when, who);
            if scope == Scope::Paths(Vec::new()) {
                // No resource can satisfy it (disjoint paths, another principal).
                continue;
            }
            let kinds = constraint_kinds(&policy.resource_constraint());
            // Strict validation admits only the schema's actions, all of them in `Action::ALL`;
            // an action counts only when the scope can match a resource it applies to.
            let constraint = policy.action_constraint();
            let actions: Vec<Action> = Action::ALL
                .iter()
                .copied()
                .filter(|a| crate::explain::covers(&constraint, *a))
                .filter(|a| a.applies_to().iter().any(|k| kinds.contains(k)))
                .filter(|a| scope == Scope::Any || a.namespace() == Namespace::FileSystem)
                .collect();
            if policy.effect() == Effect::Forbid {
                exec.forbid(&scope, &kinds, &actions);
                continue;
            }
            let id = policy.id().to_string();
            for &action in &actions {
                apply_action(&mut b, action, &scope, policy, when, &id);
            }
            exec.permit(policy, conditions.as_ref(), &kinds, &actions, who);
        }
        b.follow_replacements();
        let unmount_broker = std::mem::take(&mut b.unmount);
        let net = match b.net_unrestricted.take() {
            Some(reason) => NetPlan::Unrestricted { reason },
            None => NetPlan::ConnectPorts(std::mem::take(&mut b.ports)),
        };
        SandboxLayers {
            runner: SandboxPlan {
                fs: FsPlan::Rules(b.rules()),
                net,
            },
            exec: exec.build(),
            unmount_broker,
        }
    }

    /// The layers as JSON (`sandbox-plan -o json`).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "runner": self.runner.to_json(),
            "executed_programs": self.exec.to_json(),
            "unmount_broker": {
                "started": !self.unmount_broker.is_empty(),
                "reasons": self.unmount_broker,
            },
        })
    }

    /// The layers as text for a reviewer.
    pub fn render_text(&self) -> String {
        let mut out = String::from(
            "runner layer (what rust-sdk may do after Cedar said yes; at least what Cedar allows):\n",
        );
        out.push_str(&self.runner.render_text());
        out.push_str(
            "\nexecuted programs (stacked on the runner layer; at most what Cedar allows, plus the runtime a program needs to start):\n",
        );
        out.push_str(&self.exec.render_text());
        out.push_str("  signals and abstract UNIX sockets: scoped to the program's own domain\n");
        if self.unmount_broker.is_empty() {
            out.push_str("\nunmount broker: not started (no permit allows unmount)\n");
        } else {
            out.push_str(&format!(
                "\nunmount broker: started before the domain, re-checks Cedar ({})\n",
                self.unmount_broker
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
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

    fn layers(text: &str) -> SandboxLayers {
        SandboxLayers::derive(
            &Policies::parse("t.cedar", text).unwrap(),
            &Principal::user("agent").unwrap(),
        )
    }

    fn plan(text: &str) -> SandboxPlan {
        layers(text).runner
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
        let l = layers(r#"permit(principal, action, resource);"#);
        // unmount goes to the broker: the file system stays restricted, to everything.
        assert!(matches!(l.runner.fs, FsPlan::Rules(_)));
        assert!(l.runner.allows("/etc/shadow", FsRights::ALL));
        assert!(!l.unmount_broker.is_empty());
        assert!(matches!(l.runner.net, NetPlan::Unrestricted { .. }));
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
