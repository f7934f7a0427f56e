//! Open files of processes (`lsof`) and the processes using a path (`fuser`).

use super::*;

/// How a process uses a path (`fuser` access codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Access {
    /// An open file descriptor (`f`).
    File,
    /// The current directory (`c`).
    Cwd,
    /// The root directory (`r`).
    Root,
    /// The executable (`e`).
    Exe,
}

impl Access {
    /// The `fuser` letter.
    pub fn code(self) -> &'static str {
        match self {
            Access::File => "f",
            Access::Cwd => "c",
            Access::Root => "r",
            Access::Exe => "e",
        }
    }
}

/// One open file of one process (REX's `OpenFileInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenFileInfo {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub process_name: String,
    /// Owner's user name.
    pub user: String,
    /// Command line.
    pub command: String,
    /// The path (or `socket:[inode]`, `pipe:[inode]`, ...).
    pub file_path: String,
    /// `REG`/`DIR`/`CHR`/`BLK`/`FIFO`/`SOCK`/`LNK`/`unknown` for paths, else `sock`, `pipe`,
    /// `anon_inode`, `memfd`, `other`.
    pub file_type: String,
    /// `r`, `w` or `rw` for descriptors; the access code for cwd/root/exe.
    pub access: String,
}

/// Options of [`ProcessManager::list_open_files`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LsofOptions {
    /// Only files at this path (or under it with `include_subdir`).
    pub path: Option<PathBuf>,
    /// Include files below `path`.
    pub include_subdir: bool,
    /// Only this process.
    pub pid: Option<u32>,
}

/// A process using a path (REX's `FuserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FuserInfo {
    /// Owner's user name.
    pub user: String,
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub command: String,
    /// How the path is used (`f`, `c`, `r`, `e`, joined).
    pub access: String,
}

impl ProcessManager {
    /// Open files of processes (`lsof`). Checks `open`+`read` on Dir `/proc`; with a `path`,
    /// authorizes it as [`authorized_target`] describes; then `list_fds` per process; denied
    /// processes are left out and counted.
    pub fn list_open_files(
        &mut self,
        ctx: &SdkContext,
        opts: &LsofOptions,
    ) -> Result<Filtered<OpenFileInfo>, ProcessError> {
        check_list_dir_proc(ctx)?;
        let target = match &opts.path {
            Some(p) => Some(authorized_target(ctx, p)?),
            None => None,
        };
        let pids = match opts.pid {
            Some(pid) => vec![pid],
            None => all_pids()?,
        };
        let mut out = Filtered::default();
        for pid in pids {
            if ctx.is_cancelled() || out.items.len() >= ctx.limits().max_entries {
                break;
            }
            let (ident, p) = match read_identity(pid, &mut self.users) {
                Ok(v) => v,
                Err(e) if opts.pid.is_some() => return Err(e),
                Err(_) => continue,
            };
            if !allowed(ctx, Action::ProcessListFds, &ident.attrs)? {
                out.denied_count += 1;
                continue;
            }
            for (path, file_type, access) in open_files(&p) {
                let keep = match &target {
                    None => true,
                    Some(t) => {
                        let fp = Path::new(&path);
                        fp == t.as_path() || (opts.include_subdir && fp.starts_with(t))
                    }
                };
                if keep {
                    out.items.push(OpenFileInfo {
                        pid,
                        process_name: ident.attrs.name.clone(),
                        user: ident.attrs.username.clone(),
                        command: ident.attrs.command.clone(),
                        file_path: path,
                        file_type,
                        access,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Processes using `path` (`fuser`): as an open file, cwd, root or executable. Checks
    /// `open`+`read` on Dir `/proc`, then authorizes the path as [`authorized_target`]
    /// describes (`stat` on it, `open` on its parent; no symlink in it), then `list_fds` per
    /// process; denied processes are left out and counted. Unlike REX, the path is never
    /// canonicalized by name: a path through a symlink is refused (give the real path).
    pub fn processes_using_path(
        &mut self,
        ctx: &SdkContext,
        path: &Path,
    ) -> Result<Filtered<FuserInfo>, ProcessError> {
        check_list_dir_proc(ctx)?;
        let target = authorized_target(ctx, path)?;
        let mut out = Filtered::default();
        for pid in all_pids()? {
            if ctx.is_cancelled() || out.items.len() >= ctx.limits().max_entries {
                break;
            }
            let Ok((ident, p)) = read_identity(pid, &mut self.users) else {
                continue;
            };
            if !allowed(ctx, Action::ProcessListFds, &ident.attrs)? {
                out.denied_count += 1;
                continue;
            }
            let mut codes: Vec<Access> = Vec::new();
            if p.cwd().is_ok_and(|c| c == target) {
                codes.push(Access::Cwd);
            }
            if p.root().is_ok_and(|c| c == target) {
                codes.push(Access::Root);
            }
            if p.exe().is_ok_and(|c| c == target) {
                codes.push(Access::Exe);
            }
            if let Ok(fds) = p.fd() {
                let hit = fds.filter_map(|f| f.ok()).any(
                    |f| matches!(&f.target, FDTarget::Path(fp) if fp.as_path() == target.as_path()),
                );
                if hit {
                    codes.push(Access::File);
                }
            }
            if !codes.is_empty() {
                out.items.push(FuserInfo {
                    user: ident.attrs.username,
                    pid,
                    command: ident.attrs.name,
                    access: codes.iter().map(|c| c.code()).collect(),
                });
            }
        }
        Ok(out)
    }
}

/// Authorizes the script's path for `fuser`/`lsof` before anything touches it, and returns
/// it as the path to match.
///
/// Checks, in order: `stat` on the path as a `Dir` and as a `File` (at least one must be
/// allowed; this runs before any system call), `open` on Dir `<parent>` (the parent is opened
/// through [`DirHandle::open`] without following symlinks), then, by what the entry turns out
/// to be (`fstatat` without following), `stat` on that type must be allowed. A missing entry is
/// reported as missing only when both types may be `stat`ed; otherwise it gets the same denial
/// as an existing entry of the denied type, so a denied path answers the same whether or not
/// it exists. A symlink anywhere in the path is refused (unlike REX, which canonicalized by
/// name); since no symlink was crossed, the path is the real path the kernel reports for the
/// processes' files.
fn authorized_target(ctx: &SdkContext, path: &Path) -> Result<PathBuf, ProcessError> {
    let text = path
        .to_str()
        .ok_or_else(|| ProcessError::Validation("the path is not valid UTF-8".into()))?;
    let p = ResourcePath::new(text)?;
    let decide = |r: Resource| match ctx.check(Action::FsStat, &r) {
        Ok(_) => Ok(None),
        Err(AuthError::Denied(d)) => Ok(Some(d)),
        Err(e) => Err(ProcessError::Auth(e)),
    };
    let dir_denied = decide(Resource::dir_path(&p))?;
    let file_denied = decide(Resource::file_path(&p))?;
    let (dir_denied, file_denied) = match (dir_denied, file_denied) {
        (Some(d), Some(_)) => return Err(ProcessError::Denied(d)),
        other => other,
    };
    let Some(parent) = p.parent() else {
        // `/`: a directory that always exists.
        return match dir_denied {
            Some(d) => Err(ProcessError::Denied(d)),
            None => Ok(PathBuf::from("/")),
        };
    };
    let dir = DirHandle::open(ctx, parent.as_str(), OpenDirOptions::default()).map_err(from_fs)?;
    let kind = match rustix::fs::statat(&*dir.fd, p.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => EntryType::from_stat(&st),
        Err(rustix::io::Errno::NOENT) => {
            return match dir_denied.or(file_denied) {
                Some(d) => Err(ProcessError::Denied(d)),
                None => Err(ProcessError::Os {
                    op: "stat",
                    source: std::io::Error::from_raw_os_error(
                        rustix::io::Errno::NOENT.raw_os_error(),
                    ),
                }),
            };
        }
        Err(e) => {
            return Err(ProcessError::Os {
                op: "stat",
                source: e.into(),
            });
        }
    };
    let denied = if kind == EntryType::Dir {
        dir_denied
    } else {
        file_denied
    };
    if let Some(d) = denied {
        return Err(ProcessError::Denied(d));
    }
    if kind == EntryType::Symlink {
        return Err(ProcessError::Validation(format!(
            "`{p}` is a symlink; give the path it points to"
        )));
    }
    Ok(PathBuf::from(p.as_str()))
}

fn from_fs(e: FsError) -> ProcessError {
    match e {
        FsError::PermissionDenied(d) => ProcessError::Denied(d),
        FsError::AuthorizationError(a) => ProcessError::Auth(a),
        FsError::Io { op, source, .. } => ProcessError::Os { op, source },
        other => ProcessError::Validation(other.to_string()),
    }
}

/// The type of what a `/proc/<pid>/{fd/<n>,cwd,root,exe}` magic link refers to: the open
/// object itself (never a lookup of the path name it displays, which may name another file or
/// none, and would probe a name the policy never opened).
fn file_type_of(link: &str) -> String {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(link) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_file() {
                "REG"
            } else if t.is_dir() {
                "DIR"
            } else if t.is_char_device() {
                "CHR"
            } else if t.is_block_device() {
                "BLK"
            } else if t.is_fifo() {
                "FIFO"
            } else if t.is_socket() {
                "SOCK"
            } else {
                "LNK"
            }
        }
        Err(_) => "unknown",
    }
    .to_string()
}

fn open_files(p: &Process) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let pid = p.pid();
    for (res, code, link) in [
        (p.cwd(), Access::Cwd, "cwd"),
        (p.root(), Access::Root, "root"),
        (p.exe(), Access::Exe, "exe"),
    ] {
        if let Ok(path) = res {
            let t = file_type_of(&format!("/proc/{pid}/{link}"));
            out.push((
                path.to_string_lossy().into_owned(),
                t,
                code.code().to_string(),
            ));
        }
    }
    let Ok(fds) = p.fd() else { return out };
    for fd in fds.filter_map(|f| f.ok()) {
        let mode = fd.mode();
        let access = match (
            mode.contains(procfs::process::FDPermissions::READ),
            mode.contains(procfs::process::FDPermissions::WRITE),
        ) {
            (true, true) => "rw",
            (false, true) => "w",
            _ => "r",
        }
        .to_string();
        let (path, t) = match &fd.target {
            FDTarget::Path(path) => (
                path.to_string_lossy().into_owned(),
                file_type_of(&format!("/proc/{pid}/fd/{}", fd.fd)),
            ),
            FDTarget::Socket(i) => (format!("socket:[{i}]"), "sock".into()),
            FDTarget::Net(i) => (format!("net:[{i}]"), "sock".into()),
            FDTarget::Pipe(i) => (format!("pipe:[{i}]"), "pipe".into()),
            FDTarget::AnonInode(s) => (format!("anon_inode:{s}"), "anon_inode".into()),
            FDTarget::MemFD(s) => (format!("/memfd:{s}"), "memfd".into()),
            FDTarget::Other(s, i) => (format!("{s}:[{i}]"), "other".into()),
            FDTarget::Unknown(a, b) => (format!("{a}:{b}"), "other".into()),
        };
        out.push((path, t, access));
    }
    out
}
