//! The closed set of Cedar actions Rex checks, with their namespaces, groups and the resource
//! types each applies to.

use std::fmt;
use std::str::FromStr;

use crate::error::AuthError;
use crate::resource::ResourceKind;

/// The namespace an action (and its group) lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// `file_system`: files, directories, execution.
    FileSystem,
    /// `process_system`: processes.
    ProcessSystem,
    /// `systemd`: services.
    Systemd,
    /// `sysinfo`: system information and name resolution.
    Sysinfo,
    /// `network`: HTTP and connection probes.
    Network,
    /// `sysctl`: kernel parameters.
    Sysctl,
}

impl Namespace {
    /// The Cedar namespace name.
    pub const fn name(self) -> &'static str {
        match self {
            Namespace::FileSystem => "file_system",
            Namespace::ProcessSystem => "process_system",
            Namespace::Systemd => "systemd",
            Namespace::Sysinfo => "sysinfo",
            Namespace::Network => "network",
            Namespace::Sysctl => "sysctl",
        }
    }

    /// The name of the namespace's group action, which every action of the namespace is `in`.
    pub const fn group(self) -> &'static str {
        match self {
            Namespace::FileSystem => "SafeIO",
            Namespace::ProcessSystem => "ProcessAction",
            Namespace::Systemd => "SystemdAction",
            Namespace::Sysinfo => "SysinfoAction",
            Namespace::Network => "NetworkAction",
            Namespace::Sysctl => "SysctlAction",
        }
    }
}

macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident => ($ns:ident, $name:literal, [$($kind:ident),+]) ),+ $(,)?) => {
        /// A concrete Cedar action. Every host operation maps to one or more of these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( $(#[$doc])* $variant, )+
        }

        impl Action {
            /// Every action, in declaration order (the order of [`Action::index`]).
            pub const ALL: &'static [Action] = &[ $( Action::$variant, )+ ];

            /// The namespace of the action.
            pub const fn namespace(self) -> Namespace {
                match self { $( Action::$variant => Namespace::$ns, )+ }
            }

            /// The action's name inside its namespace, e.g. `read` or `GET`.
            pub const fn name(self) -> &'static str {
                match self { $( Action::$variant => $name, )+ }
            }

            /// The resource kinds the schema lets this action apply to.
            pub const fn applies_to(self) -> &'static [ResourceKind] {
                match self { $( Action::$variant => &[ $( ResourceKind::$kind, )+ ], )+ }
            }
        }
    };
}

actions! {
    /// `file_system::Action::"open"`
    FsOpen => (FileSystem, "open", [File, Dir]),
    /// `file_system::Action::"read"`
    FsRead => (FileSystem, "read", [File, Dir]),
    /// `file_system::Action::"redacted_read"`
    FsRedactedRead => (FileSystem, "redacted_read", [File]),
    /// `file_system::Action::"write"`
    FsWrite => (FileSystem, "write", [File]),
    /// `file_system::Action::"create"`
    FsCreate => (FileSystem, "create", [File, Dir]),
    /// `file_system::Action::"delete"`
    FsDelete => (FileSystem, "delete", [File, Dir]),
    /// `file_system::Action::"stat"`
    FsStat => (FileSystem, "stat", [File, Dir]),
    /// `file_system::Action::"chmod"`
    FsChmod => (FileSystem, "chmod", [File, Dir]),
    /// `file_system::Action::"chown"`
    FsChown => (FileSystem, "chown", [File, Dir]),
    /// `file_system::Action::"set_x_attr"` (context: `xattr.name`)
    FsSetXAttr => (FileSystem, "set_x_attr", [File, Dir]),
    /// `file_system::Action::"execute"` (context: arguments, environment, user, group, ...)
    FsExecute => (FileSystem, "execute", [File]),
    /// `file_system::Action::"move"` (context: destination)
    FsMove => (FileSystem, "move", [File, Dir]),
    /// `file_system::Action::"unmount"`
    FsUnmount => (FileSystem, "unmount", [Dir]),
    /// `file_system::Action::"network_namespace"`
    FsNetworkNamespace => (FileSystem, "network_namespace", [File]),
    /// `process_system::Action::"list"`
    ProcessList => (ProcessSystem, "list", [Process]),
    /// `process_system::Action::"list_fds"`
    ProcessListFds => (ProcessSystem, "list_fds", [Process]),
    /// `process_system::Action::"mount_namespace"`
    ProcessMountNamespace => (ProcessSystem, "mount_namespace", [Process]),
    /// `process_system::Action::"network_namespace"`
    ProcessNetworkNamespace => (ProcessSystem, "network_namespace", [Process]),
    /// `process_system::Action::"kill"`
    ProcessKill => (ProcessSystem, "kill", [Process]),
    /// `process_system::Action::"interrupt"` (SIGHUP)
    ProcessInterrupt => (ProcessSystem, "interrupt", [Process]),
    /// `process_system::Action::"trace"`
    ProcessTrace => (ProcessSystem, "trace", [Process]),
    /// `systemd::Action::"start"`
    SystemdStart => (Systemd, "start", [Service]),
    /// `systemd::Action::"stop"`
    SystemdStop => (Systemd, "stop", [Service]),
    /// `systemd::Action::"restart"`
    SystemdRestart => (Systemd, "restart", [Service]),
    /// `systemd::Action::"status"`
    SystemdStatus => (Systemd, "status", [Service]),
    /// `systemd::Action::"daemon_reload"`
    SystemdDaemonReload => (Systemd, "daemon_reload", [Systemd]),
    /// `sysinfo::Action::"list"`
    SysinfoList => (Sysinfo, "list", [Uname, Sysinfo]),
    /// `sysinfo::Action::"resolve_hostname"` (context: optional resolver)
    SysinfoResolveHostname => (Sysinfo, "resolve_hostname", [Hostname]),
    /// `network::Action::"GET"`
    NetworkGet => (Network, "GET", [Url]),
    /// `network::Action::"connect"`
    NetworkConnect => (Network, "connect", [Url]),
    /// `sysctl::Action::"load"`
    SysctlLoad => (Sysctl, "load", [Sysctl]),
}

impl Action {
    /// A dense index in `0..Action::ALL.len()`, used to look up per-action data.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The full Cedar UID text, e.g. `file_system::Action::"read"`.
    pub fn uid_text(self) -> String {
        format!("{}::Action::\"{}\"", self.namespace().name(), self.name())
    }

    /// Whether a request for this action applies to a resource of `kind`.
    pub fn applies_to_kind(self, kind: ResourceKind) -> bool {
        self.applies_to().contains(&kind)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::Action::\"{}\"",
            self.namespace().name(),
            self.name()
        )
    }
}

impl FromStr for Action {
    type Err = AuthError;

    /// Parses either the full UID (`file_system::Action::"read"`) or `namespace::name`
    /// (`file_system::read`). An unknown action is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Action::ALL
            .iter()
            .copied()
            .find(|a| {
                let ns = a.namespace().name();
                s == a.uid_text()
                    || s.strip_prefix(ns)
                        .and_then(|rest| rest.strip_prefix("::"))
                        .is_some_and(|rest| rest == a.name())
            })
            .ok_or_else(|| AuthError::UnknownAction(s.to_string()))
    }
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
    fn thirty_one_actions_with_unique_uids() {
        assert_eq!(Action::ALL.len(), 31);
        let mut uids: Vec<_> = Action::ALL.iter().map(|a| a.uid_text()).collect();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), 31);
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
    }

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for a in Action::ALL {
            assert_eq!(a.uid_text().parse::<Action>().unwrap(), *a);
            let short = format!("{}::{}", a.namespace().name(), a.name());
            assert_eq!(short.parse::<Action>().unwrap(), *a);
        }
        assert!(
            "file_system::Action::\"frobnicate\""
                .parse::<Action>()
                .is_err()
        );
        assert!("read".parse::<Action>().is_err());
    }
}
