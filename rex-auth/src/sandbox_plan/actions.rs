//! What each action needs of the kernel: file-system rights on its scope, and the resolver's files.

use super::*;

/// The rights one file-system action needs of the runner's own layer on its resource, and
/// those it needs on the directory that holds it: creating, removing and renaming act on the
/// parent, and rust-sdk creates entries under a temporary name that it writes, then renames
/// into place (write-replace, archive extraction, symlinks, the cross-device move), so those
/// need making, writing and removing there. `None` for actions that need no file-system right
/// of the runner (`unmount` goes to the broker: a domain cannot unmount).
pub fn fs_needs(action: Action) -> Option<(FsRights, FsRights)> {
    let make = FsRights::MAKE_REG | FsRights::MAKE_DIR | FsRights::MAKE_SYM | FsRights::REFER;
    let remove = FsRights::REMOVE_FILE | FsRights::REMOVE_DIR | FsRights::REFER;
    let written = FsRights::WRITE_FILE | FsRights::TRUNCATE | FsRights::READ;
    // Beneath a scope: new entries, staged under temporary names, written and renamed.
    let create = make | remove | written;
    Some(match action {
        // rust-sdk opens files and directories O_RDONLY for every operation (metadata
        // included): Landlock cannot tell a stat from a read of an opened file.
        Action::FsOpen
        | Action::FsRead
        | Action::FsRedactedRead
        | Action::FsStat
        | Action::FsChmod
        | Action::FsChown
        | Action::FsSetXAttr
        | Action::FsNetworkNamespace => (FsRights::READ, FsRights::NONE),
        // Write-replace: a temporary file beside it, written, renamed over the name.
        Action::FsWrite => (
            written,
            FsRights::MAKE_REG | FsRights::REMOVE_FILE | written,
        ),
        Action::FsExecute => (FsRights::EXECUTE | FsRights::READ_FILE, FsRights::NONE),
        Action::FsCreate => (create, create),
        Action::FsDelete | Action::FsMove => (remove | FsRights::READ, remove | FsRights::READ_DIR),
        _ => return None,
    })
}

pub(super) fn apply_action(
    b: &mut Builder,
    action: Action,
    scope: &Scope,
    policy: &Policy,
    when: &[Value],
    id: &str,
) {
    match action.namespace() {
        Namespace::FileSystem => {
            if action == Action::FsUnmount {
                // A domain cannot unmount: the broker forked before it does (re-checking Cedar).
                b.unmount.insert(id.to_string());
                return;
            }
            if action == Action::FsExecute {
                b.grant_all(
                    EXEC_READ_EXECUTE,
                    FsRights::READ | FsRights::EXECUTE,
                    "execute: loader and libraries",
                );
                b.grant_all(EXEC_READ, FsRights::READ, "execute: program start-up");
            }
            let Some((own, on_parent)) = fs_needs(action) else {
                return;
            };
            let why = format!("{id}: {}", action.name());
            match scope {
                Scope::Any => b.grant("/", own | on_parent, &why),
                Scope::Paths(targets) => {
                    // In the parent, only the entry itself is created or removed: a directory
                    // for a `Dir` scope; for a `File`, the file and the temporary files that
                    // replace it.
                    let dir_entry = FsRights::MAKE_DIR
                        | FsRights::REMOVE_DIR
                        | FsRights::REFER
                        | FsRights::READ_DIR;
                    let file_entry = FsRights::ALL.file_rights()
                        | FsRights::MAKE_REG
                        | FsRights::MAKE_SYM
                        | FsRights::REMOVE_FILE
                        | FsRights::REFER
                        | FsRights::READ_DIR;
                    for t in targets {
                        let kind = if t.is_dir {
                            ResourceKind::Dir
                        } else {
                            ResourceKind::File
                        };
                        if !t.subtree && !action.applies_to_kind(kind) {
                            continue;
                        }
                        if t.subtree {
                            // Beneath the directory (its entries' parent is inside too),
                            // and the directory itself (`in` is reflexive) as an entry of
                            // its parent.
                            b.grant(&t.path, own | on_parent, &why);
                            b.grant(parent(&t.path), on_parent.intersect(dir_entry), &why);
                        } else if t.is_dir {
                            b.grant(&t.path, own, &why);
                            b.grant(parent(&t.path), on_parent.intersect(dir_entry), &why);
                        } else {
                            // A path that does not exist yet gets its rule on the nearest
                            // existing ancestor when applied.
                            b.grant(&t.path, own.file_rights(), &why);
                            b.grant(parent(&t.path), on_parent.intersect(file_entry), &why);
                            if matches!(action, Action::FsWrite | Action::FsCreate) {
                                b.replaced.insert(t.path.clone());
                            }
                        }
                    }
                }
            }
        }
        Namespace::ProcessSystem => {
            b.grant_all(PROC_SYS_READ, FsRights::READ, "process_system");
            b.grant_all(SYSINFO_READ, FsRights::READ, "process_system: user names");
        }
        Namespace::Sysinfo => {
            b.grant_all(PROC_SYS_READ, FsRights::READ, "sysinfo");
            b.grant_all(SYSINFO_READ, FsRights::READ, "sysinfo");
            if action == Action::SysinfoResolveHostname {
                resolver(b, "sysinfo: resolve_hostname");
            }
        }
        Namespace::Network => {
            resolver(b, "network");
            b.grant_all(CA_READ, FsRights::READ, "network: TLS roots");
            let why = format!("{id}: {}", action.name());
            match ports_of(policy, when) {
                Some(ports) => {
                    for p in ports {
                        b.port(p, &why);
                    }
                }
                None => {
                    b.net_unrestricted
                        .get_or_insert(format!("{id} does not constrain the port"));
                }
            }
        }
        Namespace::Systemd => {
            b.grant_all(SYSTEMD_READ, FsRights::READ, "systemd: D-Bus client");
        }
        Namespace::Sysctl => {
            b.grant_all(
                &["/proc/sys"],
                FsRights::READ | FsRights::WRITE_FILE,
                "sysctl",
            );
            b.grant_all(SYSCTL_READ, FsRights::READ, "sysctl: configuration");
        }
    }
}

pub(super) fn resolver(b: &mut Builder, why: &str) {
    b.grant_all(RESOLVE_READ, FsRights::READ, why);
    b.grant_all(
        EXEC_READ_EXECUTE,
        FsRights::READ | FsRights::EXECUTE,
        "name service modules",
    );
    b.port(DNS_PORT, why);
}
