//! Command execution from an authorized file handle (REX §2.2 `file.execute(opts)`, §4.5).
//!
//! Design:
//! * **The authorized inode runs.** The executable is a [`FileHandle`] that was opened
//!   **read-only** (which authorized `open`); it is executed through the magic link
//!   `/proc/self/fd/<N>` of the handle's close-on-exec descriptor, which the kernel resolves
//!   during `execve` (before it closes close-on-exec descriptors). A rename or replacement of
//!   the path after the open does not change what runs. A consequence: `#!` scripts cannot be
//!   run this way (their interpreter would be handed a descriptor path that is already closed);
//!   run the interpreter instead, with the script as an argument.
//! * **Cedar first.** `file_system::Action::"execute"` is checked on the file with the full
//!   context (arguments as REX's `Arguments` entity, the exact environment, the identity the
//!   child runs as, the requested capabilities and the PID namespace target) before anything
//!   is created. An argument, variable, user, group, capability or namespace the policy does
//!   not allow is refused before `fork`.
//! * **No shell, nothing inherited.** argv is exactly the given arguments (a `(key, value)`
//!   pair becomes two entries; `argv[0]` is the file's name), the environment is exactly the
//!   given map (not even `PATH` is inherited), stdin is `/dev/null`, and the child gets its own
//!   process group. No descriptor above 2 is inherited: the spawning thread takes a private
//!   copy of the descriptor table (`unshare(CLONE_FILES)`) and closes everything above 2 in it
//!   but the executable and the output pipes, so even a runner descriptor opened without
//!   close-on-exec stays in the runner.
//! * **No privilege gain.** The child is created from a short-lived thread that first sets
//!   `PR_SET_NO_NEW_PRIVS` and clears its ambient capabilities; both are inherited by the
//!   child, so set-uid binaries and file capabilities grant nothing. Without requested
//!   capabilities an optional user/group switch is done in the child as `setgid` →
//!   `setgroups([])` → `setuid`. No `unsafe` code is needed for any of this.
//! * **Capabilities** (`capabilities`, REX's `CAP_…` names; case and the `CAP_` prefix are
//!   optional, the Cedar context always gets the canonical `CAP_…` form, deduplicated; an
//!   unknown name is an invalid argument). The child gets **exactly** the requested set as its
//!   permitted, effective, inheritable and ambient sets, and nothing else. Because the kernel
//!   empties the ambient set when a uid-0 thread switches to another user, the identity switch
//!   then happens on the spawning thread itself, with per-thread syscalls (never glibc's
//!   process-wide `setuid`): (`setns` for a PID namespace, while the thread still has
//!   `CAP_SYS_ADMIN`) → `SECBIT_NOROOT` for a uid-0 child → `PR_SET_KEEPCAPS` → `setgid` →
//!   `setgroups([])` → `setuid` → `capset(requested)` → raise each requested capability in
//!   the ambient set → `PR_SET_NO_NEW_PRIVS` → spawn. `PR_SET_NO_NEW_PRIVS` stays set even with capabilities
//!   (ambient capabilities survive it; it is stricter than REX, which set neither). When the
//!   child runs as uid 0, the thread also sets `SECBIT_NOROOT | SECBIT_NOROOT_LOCKED`, so the
//!   child (and whatever it executes) does not get root's full capability set on `execve`,
//!   only the requested one; it still owns root's files, as any uid-0 process does. A
//!   requested capability that the runner itself does not hold is refused with
//!   [`ExecError::MissingCapabilities`] before anything is spawned. The requested capabilities
//!   are in the Cedar context (`context.capabilities`, a `Set<String>`), so a policy can
//!   allow-list them (REX §6.4 left them out). The user switch on the thread makes the
//!   kernel mark the runner non-dumpable (no core dumps, no `ptrace` but by a
//!   `CAP_SYS_PTRACE` holder); that is kept, because restoring it while another call's
//!   spawning thread still runs under the child's identity would let that identity `ptrace`
//!   the runner. One short window remains: between the thread's `setuid` and the spawn, a
//!   process of the child's identity could `tgkill` that thread, and a fatal signal ends the
//!   whole runner (a denial of service, no privilege gain).
//! * **PID namespace** (`namespace_target_pid`): the child is placed in the PID namespace of
//!   an existing process, as in REX. After the Cedar check (the context carries
//!   `namespace: {target_process_id}`), the target is pinned with a pidfd (the process module's
//!   pinning: from then on a recycled pid cannot be entered in its place; the policy only
//!   knows the number, so a pid recycled in the instant between the check and the pin is the
//!   one race left, inherent to number-based policies), and the spawning thread joins
//!   the namespace with `setns(pidfd, CLONE_NEWPID)`, which changes only that thread's
//!   namespace for children; the runner's own threads never move, and the thread ends after
//!   the spawn, so nothing needs restoring. The result's `pid` is the child's pid in the
//!   runner's namespace; the timeout, the cancellation and the final group kill work as usual
//!   from there. The child is never the namespace's init (the target namespace still has its
//!   own init, or the fork fails), so signals reach it normally. A missing target is
//!   [`ExecError::TargetProcess`], a failing `setns` (`EPERM`, `EINVAL` for a namespace that
//!   is not the runner's or a descendant of it) [`ExecError::Namespace`].
//! * **Bounded.** stdout and stderr are read concurrently (one `poll` loop), each kept up to a
//!   byte cap (the excess is read and discarded, and the truncation reported), so the child can
//!   never block on a full pipe. A timeout or the context's cancellation flag kills the whole
//!   process group with `SIGKILL`. When the child exits, whatever is left in its process group
//!   is killed too. **Descendants that left the group** (`setsid`, `setpgid`) are contained by
//!   `PR_SET_CHILD_SUBREAPER` on the runner: orphans are reparented to the runner instead of
//!   init, and a sweep (when the child exits or is killed, and again after it is reaped) kills
//!   and reaps every child of the runner that no running `execute` spawned, with everything
//!   below it, until none is left. Concurrent calls share one registry of live children, held
//!   across each spawn, so a sweep never takes another call's child (it may take another
//!   call's escaped orphan early). Without [`contain_all_children`] a sweep spares children in
//!   the process's own process group (an embedding program's own children); the runner
//!   calls it, so there every other child is swept.
//!
//! Every helper the SDK runs for itself (`sysctl --system`, gdb for core dumps and process
//! traces) is opened through the file-system API and run through [`execute`], so the same
//! `execute` policy applies to it.

mod caps;
mod coredump;
mod error;
pub(crate) mod gdb;
mod options;
pub(crate) mod reap;
mod run;

use std::collections::BTreeMap;
use std::time::Duration;

use rex_auth::{Action, ExecuteContext, Identity, RequestContext, Resource};
use rustix::fs::OFlags;

use crate::SdkContext;
use crate::fs::{EntryType, FileHandle};

pub use coredump::{
    CoreDump, Frame, TracedProcess, TracedThread, is_c_identifier, parse_backtrace,
};
pub use error::{ExecError, ExecErrorKind};
pub use gdb::GDB_BINARIES;
pub use options::ExecuteOptions;

/// Makes every later sweep take **all** children of this process that no running `execute`
/// spawned, not only those outside the process's own process group. An embedding program
/// whose only children are `execute`'s (the runner) calls this once at start, so a
/// descendant that joined the runner's process group before being orphaned is killed too.
/// Programs that spawn children of their own must not call it.
pub fn contain_all_children() {
    reap::set_contain_all(true);
}

/// Timeout used by [`ExecuteOptions::default`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Most argument elements accepted.
pub const MAX_ARGS: usize = 4096;

/// Most environment variables accepted.
pub const MAX_ENV: usize = 1024;

/// Largest total size of argv plus environment, in bytes.
pub const MAX_ARG_BYTES: usize = 1024 * 1024;

/// What a finished child produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteResult {
    /// The child's pid in the runner's PID namespace, also when it ran in another one (also
    /// its process group id; the group no longer exists on return).
    pub pid: u32,
    /// Captured stdout, at most the cap.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most the cap.
    pub stderr: Vec<u8>,
    /// The exit status, when the child exited normally.
    pub exit_code: Option<i32>,
    /// The signal that killed the child, when it was killed.
    pub signal: Option<i32>,
    /// stdout went over the cap; the rest was discarded.
    pub stdout_truncated: bool,
    /// stderr went over the cap; the rest was discarded.
    pub stderr_truncated: bool,
    /// The timeout expired and the process group was killed.
    pub timed_out: bool,
}

impl ExecuteResult {
    /// stdout decoded as UTF-8 (invalid sequences replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr decoded as UTF-8 (invalid sequences replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Whether the child exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The identity the child will run as, and whether a switch is needed.
struct Target {
    identity: Identity,
    switch_uid: Option<u32>,
    switch_gid: Option<u32>,
}

fn resolve_target(opts: &ExecuteOptions) -> Result<Target, ExecError> {
    let (uid, user_gid) = match &opts.user {
        None => (nix::unistd::geteuid().as_raw(), None),
        Some(name) => match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => (u.uid.as_raw(), Some(u.gid.as_raw())),
            _ => match name.parse::<u32>() {
                Ok(uid) => (uid, None),
                Err(_) => return Err(ExecError::IdentityResolution(format!("user `{name}`"))),
            },
        },
    };
    let gid = match &opts.group {
        None => user_gid.unwrap_or_else(|| nix::unistd::getegid().as_raw()),
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => g.gid.as_raw(),
            _ => name
                .parse::<u32>()
                .map_err(|_| ExecError::IdentityResolution(format!("group `{name}`")))?,
        },
    };
    let switch_gid = (opts.user.is_some() || opts.group.is_some()).then_some(gid);
    let names = crate::fs::ownership_names(uid, gid);
    Ok(Target {
        identity: Identity {
            username: names.user,
            uid,
            groupname: names.group,
            gid,
        },
        switch_uid: opts.user.is_some().then_some(uid),
        switch_gid,
    })
}

/// The Cedar context of an `execute` request for these options (the identity resolved, the
/// capability names canonical).
pub fn execute_context(opts: &ExecuteOptions) -> Result<ExecuteContext, ExecError> {
    let target = resolve_target(opts)?;
    let (_, capabilities) = caps::parse(&opts.capabilities)?;
    Ok(context_of(opts, &target, capabilities))
}

fn context_of(opts: &ExecuteOptions, target: &Target, capabilities: Vec<String>) -> ExecuteContext {
    ExecuteContext {
        arguments: opts.args.clone(),
        environment: opts.env.clone(),
        identity: target.identity.clone(),
        namespace_target_pid: opts.namespace_target_pid,
        capabilities,
    }
}

/// Runs the file behind `file` (see the module documentation).
///
/// Order: option validation (including the capability names), the handle must be read-only,
/// identity resolution, the Cedar `execute` check, the regular-file check on the fd, pinning
/// the PID namespace target, then the spawn.
pub fn execute(
    ctx: &SdkContext,
    file: &FileHandle,
    opts: &ExecuteOptions,
) -> Result<ExecuteResult, ExecError> {
    opts.validate()?;
    let path = file.path.as_str().to_string();
    let fl = rustix::fs::fcntl_getfl(&file.file).map_err(|e| ExecError::Io {
        op: "fcntl",
        source: e.into(),
    })?;
    if fl.intersects(OFlags::WRONLY | OFlags::RDWR | OFlags::PATH) {
        return Err(ExecError::NotReadOnly(path));
    }
    let target = resolve_target(opts)?;
    let (cap_set, cap_names) = caps::parse(&opts.capabilities)?;
    let context = RequestContext::Execute(Box::new(context_of(opts, &target, cap_names)));
    let permit = ctx.authorize(
        Action::FsExecute,
        &Resource::file_path(&file.current_path()?),
        &context,
    )?;
    let st = rustix::fs::fstat(&file.file).map_err(|e| ExecError::Io {
        op: "fstat",
        source: e.into(),
    })?;
    let t = EntryType::from_stat(&st);
    if t != EntryType::File {
        return Err(ExecError::NotRegularFile {
            path,
            found: t.name(),
        });
    }
    let interpreter = script_interpreter(ctx, file, &context);
    // Pinned after the check (nothing touches the host before it) and before the spawn thread
    // starts, so the namespace joined is that of the process alive under the pid now.
    let pid_namespace = opts
        .namespace_target_pid
        .map(|pid| {
            crate::process::pin_pidfd(&permit, pid)
                .map(|fd| (pid, fd))
                .map_err(ExecError::TargetProcess)
        })
        .transpose()?;
    if ctx.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    let cap = opts
        .max_output_bytes
        .unwrap_or(u64::MAX)
        .min(ctx.limits().max_output_bytes);
    run::run(
        ctx,
        file,
        opts,
        run::Spawn {
            uid: target.switch_uid,
            gid: target.switch_gid,
            capabilities: (!opts.capabilities.is_empty()).then_some(cap_set),
            root_child: target.identity.uid == 0,
            pid_namespace,
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            interpreter,
        },
        permit,
    )
}

/// The interpreter a `#!` script names, opened (`O_PATH`), when executed programs get their
/// own kernel layer and Cedar allows executing the interpreter with the same context: the
/// program's layer then lets it run, and lets it read the script. Read from the open file, so
/// it is the line of the file that was checked. Without Cedar's yes the interpreter gets no
/// right, and the kernel refuses to start it.
fn script_interpreter(
    ctx: &SdkContext,
    file: &FileHandle,
    context: &RequestContext,
) -> Option<std::os::fd::OwnedFd> {
    if !crate::runtime::sandbox::child_layer_active() {
        return None;
    }
    let mut head = [0u8; 256];
    let n = rustix::io::pread(&file.file, &mut head, 0).ok()?;
    let line = head.get(..n)?.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let interp = std::str::from_utf8(line).ok()?.split_whitespace().next()?;
    let resource = Resource::file(interp).ok()?;
    let allowed = ctx
        .authorizer()?
        .is_allowed(Action::FsExecute, &resource, context)
        .ok()?;
    if !allowed {
        return None;
    }
    // The kernel follows links when it starts the interpreter; so does the rule's anchor.
    rustix::fs::open(
        interp,
        OFlags::PATH | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()
}

/// Opens the first of `candidates` (absolute paths) that exists, read-only and without
/// following symlinks, through the gated file-system API (`open` on the directory and on the
/// file). Used for the helper binaries the SDK runs for itself. A denial or an authorization
/// failure is returned at once (no fallback to another candidate); other errors (missing file,
/// a symlinked directory) move on to the next candidate, and the last one is returned.
pub fn open_helper(ctx: &SdkContext, candidates: &[&str]) -> Result<FileHandle, ExecError> {
    let mut last = ExecError::InvalidArguments("no helper path given".into());
    for path in candidates {
        match open_read(ctx, path) {
            Ok(f) => return Ok(f),
            Err(ExecError::Fs(e))
                if !matches!(
                    e.kind(),
                    crate::fs::FsErrorKind::PermissionDenied
                        | crate::fs::FsErrorKind::AuthorizationError
                        | crate::fs::FsErrorKind::InvalidPath
                ) =>
            {
                last = ExecError::Fs(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Opens the absolute `path` read-only, without following symlinks, through the gated
/// file-system API (`open` on the directory and on the file).
fn open_read(ctx: &SdkContext, path: &str) -> Result<FileHandle, ExecError> {
    let (dir, name) = match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => {
            return Err(ExecError::InvalidArguments(format!(
                "`{path}` is not an absolute path"
            )));
        }
    };
    let d = crate::fs::DirHandle::open(ctx, dir, crate::fs::OpenDirOptions::default())?;
    Ok(d.open_file(ctx, name, crate::fs::OpenFileOptions::read())?)
}

impl FileHandle {
    /// Executes this file; see [`execute`].
    pub fn execute(
        &self,
        ctx: &SdkContext,
        opts: &ExecuteOptions,
    ) -> Result<ExecuteResult, ExecError> {
        execute(ctx, self, opts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    proptest::proptest! {
        /// argv is the arguments flattened in order, pairs as two entries.
        #[test]
        fn argv_flattens_in_order(args in proptest::collection::vec(
            ("\\PC{0,8}", proptest::option::of("\\PC{0,8}")), 0..12)) {
            let opts = ExecuteOptions { args: args.clone(), ..ExecuteOptions::default() };
            let expected: Vec<&str> = args
                .iter()
                .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(v.as_deref()))
                .collect();
            proptest::prop_assert_eq!(opts.argv(), expected);
        }

        /// Validation accepts exactly the options without empty or NUL-containing parts.
        #[test]
        fn validation_matches_the_rules(
            args in proptest::collection::vec(("[a\\-\\x00]{0,3}", proptest::option::of("[b\\x00]{0,2}")), 0..5),
            env in proptest::collection::btree_map("[A=\\x00]{0,3}", "[c\\x00]{0,2}", 0..4),
        ) {
            let opts = ExecuteOptions { args: args.clone(), env: env.clone(), ..ExecuteOptions::default() };
            let arg_ok = args.iter().all(|(k, v)| {
                !k.is_empty() && !k.contains('\0')
                    && v.as_ref().is_none_or(|v| !v.is_empty() && !v.contains('\0'))
            });
            let env_ok = env.iter().all(|(k, v)| {
                !k.is_empty() && !k.contains(['=', '\0']) && !v.is_empty() && !v.contains('\0')
            });
            // tag collisions (a key also lone, a key with two values) are refused too
            let tags_ok = rex_auth::check_arguments(&args).is_ok();
            proptest::prop_assert_eq!(opts.validate().is_ok(), arg_ok && env_ok && tags_ok);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let many = ExecuteOptions {
            args: vec![("a".into(), None); MAX_ARGS + 1],
            ..ExecuteOptions::default()
        };
        assert!(matches!(
            many.validate(),
            Err(ExecError::InvalidArguments(_))
        ));
        let big = ExecuteOptions::new().arg("x".repeat(MAX_ARG_BYTES));
        assert!(matches!(
            big.validate(),
            Err(ExecError::InvalidArguments(_))
        ));
        assert!(
            ExecuteOptions::new()
                .arg("x".repeat(1000))
                .validate()
                .is_ok()
        );
    }
}
