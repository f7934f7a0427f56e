//! Running a Rust callback inside another process's mount and/or network namespace
//! (REX's `nsenter`).
//!
//! The callback runs on a **dedicated thread** that joins the target namespaces with
//! `setns(2)` and then ends: the caller's thread never changes namespace, so there is nothing
//! to restore and nothing can be left behind in a foreign namespace. For a mount namespace the
//! thread first unshares its filesystem attributes (`unshare(CLONE_FS)`), which the kernel
//! requires of a thread in a multi-threaded process. By PID the namespaces are joined through
//! a pidfd that was verified to belong to the authorized process (same start time before and
//! after it was opened), so a recycled PID cannot redirect the call. (`setns` on a pidfd needs
//! Linux 5.8 or later; older kernels report a `NamespaceOperationError`.)
//!
//! Caution (REX §6.14): SDK calls made by the callback are still authorized with host-looking
//! paths, but inside a foreign mount namespace those paths name other files. Policies that
//! allow `mount_namespace` must be written with that in mind. Script callbacks are therefore
//! not supported (see rhai-sdk's `nsenter`).

use std::os::fd::OwnedFd;

use nix::sched::CloneFlags;
use rex_auth::{Action, Resource};

use super::signal::pin_process;
use super::{ProcessError, ProcessManager};
use crate::SdkContext;

/// Which namespace to enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceTarget {
    /// The namespaces of this process.
    Pid(u32),
    /// A named network namespace (`/run/netns/<name>`, as created by `ip netns add`).
    NetNsName(String),
}

/// Options of [`ProcessManager::nsenter`] (REX's `NamespaceOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceOptions {
    /// Enter the mount namespace (only with [`NamespaceTarget::Pid`]).
    pub mount: bool,
    /// Enter the network namespace.
    pub net: bool,
    /// Whose namespaces.
    pub target: NamespaceTarget,
}

/// A namespace file to join, already opened after the checks.
enum Joined {
    Pidfd(OwnedFd, CloneFlags),
    NsFile(OwnedFd),
}

fn ns_err(op: &'static str, e: nix::Error) -> ProcessError {
    ProcessError::Namespace {
        op,
        source: std::io::Error::from(e),
    }
}

fn valid_netns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.bytes().any(|b| b < 0x20 || b == 0x7f)
}

impl ProcessManager {
    /// Makes the Cedar checks of [`ProcessManager::nsenter`] without entering anything:
    /// `mount_namespace` and/or `network_namespace` on the process (by PID), or `open` and
    /// `file_system::network_namespace` on File `/run/netns/<name>` (by name).
    pub fn check_nsenter(
        &mut self,
        ctx: &SdkContext,
        opts: &NamespaceOptions,
    ) -> Result<(), ProcessError> {
        self.authorize_nsenter(ctx, opts).map(|_| ())
    }

    /// Validates, authorizes and (for a PID) opens the verified pidfd.
    fn authorize_nsenter(
        &mut self,
        ctx: &SdkContext,
        opts: &NamespaceOptions,
    ) -> Result<Option<OwnedFd>, ProcessError> {
        if !opts.mount && !opts.net {
            return Err(ProcessError::Validation(
                "nsenter needs mount and/or net".into(),
            ));
        }
        match &opts.target {
            NamespaceTarget::Pid(pid) => {
                let (pidfd, after) = pin_process(*pid, &mut self.users)?;
                let resource = Resource::process(after.attrs);
                if opts.mount {
                    ctx.check(Action::ProcessMountNamespace, &resource)?;
                }
                if opts.net {
                    ctx.check(Action::ProcessNetworkNamespace, &resource)?;
                }
                Ok(Some(pidfd))
            }
            NamespaceTarget::NetNsName(name) => {
                if opts.mount {
                    return Err(ProcessError::Validation(
                        "a named namespace is a network namespace; mount needs a pid".into(),
                    ));
                }
                if !valid_netns_name(name) {
                    return Err(ProcessError::Validation(format!(
                        "invalid network namespace name {name:?}"
                    )));
                }
                let file = Resource::file(&format!("/run/netns/{name}"))?;
                ctx.check(Action::FsOpen, &file)?;
                ctx.check(Action::FsNetworkNamespace, &file)?;
                Ok(None)
            }
        }
    }

    /// Runs `f` inside the target's mount and/or network namespace and returns its result
    /// (see the module documentation). Every check is made, and every namespace file opened,
    /// before the thread is started; a denial leaves `f` unrun.
    pub fn nsenter<R, F>(
        &mut self,
        ctx: &SdkContext,
        opts: &NamespaceOptions,
        f: F,
    ) -> Result<R, ProcessError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let pidfd = self.authorize_nsenter(ctx, opts)?;
        let joined = match (pidfd, &opts.target) {
            (Some(fd), _) => {
                let mut flags = CloneFlags::empty();
                if opts.mount {
                    flags |= CloneFlags::CLONE_NEWNS;
                }
                if opts.net {
                    flags |= CloneFlags::CLONE_NEWNET;
                }
                Joined::Pidfd(fd, flags)
            }
            (None, NamespaceTarget::NetNsName(name)) => {
                let path = format!("/run/netns/{name}");
                let fd = rustix::fs::open(
                    path.as_str(),
                    rustix::fs::OFlags::RDONLY
                        | rustix::fs::OFlags::CLOEXEC
                        | rustix::fs::OFlags::NOFOLLOW,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| ProcessError::Namespace {
                    op: "open network namespace",
                    source: e.into(),
                })?;
                Joined::NsFile(fd)
            }
            (None, NamespaceTarget::Pid(pid)) => {
                return Err(ProcessError::NotFound { pid: *pid });
            }
        };
        if ctx.is_cancelled() {
            return Err(ProcessError::Validation("cancelled".into()));
        }
        let mount = opts.mount;
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("rex-nsenter".into())
                .spawn_scoped(s, move || -> Result<R, ProcessError> {
                    if mount {
                        nix::sched::unshare(CloneFlags::CLONE_FS)
                            .map_err(|e| ns_err("unshare(CLONE_FS)", e))?;
                    }
                    match &joined {
                        Joined::Pidfd(fd, flags) => {
                            nix::sched::setns(fd, *flags).map_err(|e| ns_err("setns", e))?
                        }
                        Joined::NsFile(fd) => nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
                            .map_err(|e| ns_err("setns", e))?,
                    }
                    Ok(f())
                })
                .map_err(|e| ProcessError::Os {
                    op: "spawn namespace thread",
                    source: e,
                })?;
            handle
                .join()
                .map_err(|_| ProcessError::Callback("the callback panicked".into()))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_netns_name;

    #[test]
    fn netns_names() {
        assert!(valid_netns_name("blue"));
        assert!(!valid_netns_name(""));
        assert!(!valid_netns_name(".."));
        assert!(!valid_netns_name("a/b"));
        assert!(!valid_netns_name("a\nb"));
    }
}
