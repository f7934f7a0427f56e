//! Staging the extracted entries in temporary names and committing them.

use super::*;

/// What staging created, for rollback or commit.
#[derive(Default)]
pub(super) struct Staged {
    /// Directories created, parents first.
    pub(super) dirs: Vec<Vec<String>>,
    /// (directory components, temp name, final name, path).
    pub(super) files: Vec<(Vec<String>, String, String, String)>,
}

impl Staged {
    /// Removes every temp file and created directory (children first). Best effort.
    pub(super) fn rollback(&self, dirs: &mut DirCache<'_>) {
        for (dir, tmp, _, p) in &self.files {
            if let Ok(fd) = dirs.open(dir, p) {
                let _ = rustix::fs::unlinkat(&fd, tmp.as_str(), AtFlags::empty());
            }
        }
        for d in self.dirs.iter().rev() {
            if let Some((name, parent)) = d.split_last()
                && let Ok(fd) = dirs.open(parent, "")
            {
                let _ = rustix::fs::unlinkat(&fd, name.as_str(), AtFlags::REMOVEDIR);
            }
        }
    }
}

fn set_times(file: &File, mtime: u64, p: &str) -> Result<(), FsError> {
    let t = rustix::fs::Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    rustix::fs::futimens(
        file,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
    )
    .map_err(|e| FsError::os("utimens", p, e))
}

fn ids(e: &Planned) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        u32::try_from(e.uid).ok().map(rustix::fs::Uid::from_raw),
        u32::try_from(e.gid).ok().map(rustix::fs::Gid::from_raw),
    )
}

/// Second pass: creates new directories and writes file contents to temp files.
pub(super) fn stage(
    ctx: &SdkContext,
    f: &FileHandle,
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
    staged: &mut Staged,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    let ap = f.path().as_str();
    for (comps, state) in states {
        if *state != DirState::New {
            continue;
        }
        let p = join(&dest.path, comps)?;
        let (name, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::InvalidArguments("empty directory path".into()))?;
        let pfd = dirs.open(parent, p.as_str())?;
        rustix::fs::mkdirat(&pfd, name.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| FsError::os("mkdir", p.as_str(), e))?;
        staged.dirs.push(comps.clone());
    }
    let mut ar = tar::Archive::new(archive_reader(f, opts)?);
    let mut entries = ar.entries().map_err(|e| stream_error(ap, e))?;
    for planned in plan {
        if ctx.is_cancelled() {
            return Err(FsError::Cancelled);
        }
        let changed = || FsError::Changed(ap.to_string());
        let mut entry = entries
            .next()
            .ok_or_else(changed)?
            .map_err(|e| stream_error(ap, e))?;
        if planned.kind == Kind::Meta {
            continue;
        }
        let comps = entry_components(ap, &entry.path_bytes())?;
        let size = if planned.kind == Kind::File {
            entry.size()
        } else {
            0
        };
        if comps != planned.comps || size != planned.size {
            return Err(changed());
        }
        if planned.kind != Kind::File {
            continue;
        }
        let p = join(&dest.path, &comps)?;
        let (name, parent) = comps.split_last().ok_or_else(changed)?;
        let dfd = dirs.open(parent, p.as_str())?;
        let tmp = temp_name();
        let fd = rustix::fs::openat(
            &dfd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| FsError::os("create", p.as_str(), e))?;
        staged
            .files
            .push((parent.to_vec(), tmp, name.clone(), p.as_str().to_string()));
        let mut out = File::from(fd);
        let copied =
            std::io::copy(&mut (&mut entry).take(planned.size), &mut out).map_err(|e| {
                match stream_error(ap, e) {
                    FsError::InvalidContent { path, reason } => FsError::InvalidContent {
                        path,
                        reason: format!("extracting `{}`: {reason}", comps.join("/")),
                    },
                    other => other,
                }
            })?;
        if copied != planned.size {
            return Err(changed());
        }
        out.flush()
            .map_err(|e| FsError::io("write", p.as_str(), e))?;
        let mode = if opts.preserve_permissions {
            planned.mode
        } else {
            0o644
        };
        if opts.preserve_ownership {
            let (u, g) = ids(planned);
            rustix::fs::fchown(&out, u, g).map_err(|e| FsError::os("chown", p.as_str(), e))?;
        }
        rustix::fs::fchmod(&out, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", p.as_str(), e))?;
        if opts.preserve_timestamps {
            set_times(&out, planned.mtime, p.as_str())?;
        }
    }
    Ok(())
}

/// Renames the staged files into place and sets the metadata of new directories.
pub(super) fn commit(
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
    staged: &Staged,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    for (dir, tmp, name, p) in &staged.files {
        let fd = dirs.open(dir, p)?;
        match rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if EntryType::from_stat(&st) == EntryType::Dir => {
                return Err(FsError::EntryTypeMismatch {
                    path: p.clone(),
                    expected: "file",
                    found: "DIR",
                });
            }
            _ => {}
        }
        rustix::fs::renameat(&fd, tmp.as_str(), &fd, name.as_str())
            .map_err(|e| FsError::os("rename", p, e))?;
    }
    // Directory metadata last, so that a read-only mode does not block the writes above.
    let explicit: BTreeMap<&Vec<String>, &Planned> = plan
        .iter()
        .filter(|e| e.kind == Kind::Dir)
        .map(|e| (&e.comps, e))
        .collect();
    for comps in states
        .iter()
        .filter(|(_, s)| **s == DirState::New)
        .map(|(c, _)| c)
        .rev()
    {
        let p = join(&dest.path, comps)?;
        let fd = dirs.open(comps, p.as_str())?;
        let e = explicit.get(comps);
        let mode = match e {
            Some(e) if opts.preserve_permissions => e.mode,
            _ => 0o755,
        };
        if opts.preserve_ownership
            && let Some(e) = e
        {
            let (u, g) = ids(e);
            rustix::fs::fchown(&fd, u, g).map_err(|e| FsError::os("chown", p.as_str(), e))?;
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", p.as_str(), e))?;
    }
    Ok(())
}
