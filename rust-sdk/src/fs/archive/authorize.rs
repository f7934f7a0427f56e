//! Authorizing a planned extraction: the state of every destination directory and the
//! checks on every entry, all before the first write.

use super::*;

/// A directory that the extraction needs, and whether it exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirState {
    Exists,
    New,
}

/// The most directory fds a [`DirCache`] keeps open at once. Archives list a directory's
/// entries together, so a small cache serves nearly every lookup, and a directory-heavy
/// archive cannot exhaust the process's file descriptors.
pub(super) const DIR_CACHE_MAX: usize = 256;

/// Directory fds of one extraction, by path relative to the destination.
///
/// Every fd is opened from its parent's fd (the destination's own fd for the first level)
/// with [`dir_flags`] (`O_NOFOLLOW | O_DIRECTORY`), one component at a time, so a cached fd
/// is always a directory reached below the destination without following a symlink, exactly
/// like reopening the chain from the destination each time, but each directory is opened
/// once instead of once per entry below it (O(entries + dirs) opens, not O(entries × depth)).
/// The cache is cleared when it holds [`DIR_CACHE_MAX`] fds; the `Arc`s handed out stay
/// valid after that.
pub(super) struct DirCache<'a> {
    pub(super) dest: &'a DirHandle,
    pub(super) fds: HashMap<Vec<String>, Arc<OwnedFd>>,
    /// How many directories were opened (for tests of the cache itself).
    pub(super) opens: usize,
}

impl<'a> DirCache<'a> {
    pub(super) fn new(dest: &'a DirHandle) -> Self {
        DirCache {
            dest,
            fds: HashMap::new(),
            opens: 0,
        }
    }

    /// The fd of `comps` below the root; `path` names the entry in errors.
    pub(super) fn open(&mut self, comps: &[String], path: &str) -> Result<Arc<OwnedFd>, FsError> {
        if let Some(fd) = self.fds.get(comps) {
            return Ok(Arc::clone(fd));
        }
        // The nearest cached ancestor (or the root), then the missing components below it.
        let mut known = comps.len();
        let mut base: Option<Arc<OwnedFd>> = None;
        while known > 0 {
            known -= 1;
            if let Some(fd) = comps.get(..known).and_then(|p| self.fds.get(p)) {
                base = Some(Arc::clone(fd));
                break;
            }
        }
        let mut fd = match base {
            Some(fd) => fd,
            None => {
                known = 0;
                let fd = rustix::fs::openat(&self.dest.fd, ".", dir_flags(), Mode::empty())
                    .map_err(|e| FsError::os("open", path, e))?;
                self.opens += 1;
                let fd = Arc::new(fd);
                self.insert(Vec::new(), Arc::clone(&fd));
                fd
            }
        };
        for i in known..comps.len() {
            let (Some(c), Some(prefix)) = (comps.get(i), comps.get(..=i)) else {
                break;
            };
            let next = rustix::fs::openat(&*fd, c.as_str(), dir_flags(), Mode::empty())
                .map_err(|e| FsError::os("open", path, e))?;
            self.opens += 1;
            fd = Arc::new(next);
            self.insert(prefix.to_vec(), Arc::clone(&fd));
        }
        Ok(fd)
    }

    pub(super) fn insert(&mut self, comps: Vec<String>, fd: Arc<OwnedFd>) {
        if self.fds.len() >= DIR_CACHE_MAX {
            self.fds.clear();
        }
        self.fds.insert(comps, fd);
    }
}

/// Which directories exist (probing from the destination fd without following symlinks).
pub(super) fn dir_states(
    fds: &mut DirCache<'_>,
    plan: &[Planned],
) -> Result<BTreeMap<Vec<String>, DirState>, FsError> {
    let dest = fds.dest;
    let mut dirs: BTreeSet<Vec<String>> = BTreeSet::new();
    for e in plan
        .iter()
        .filter(|e| matches!(e.kind, Kind::File | Kind::Dir))
    {
        let n = if e.kind == Kind::Dir {
            e.comps.len()
        } else {
            e.comps.len().saturating_sub(1)
        };
        for i in 1..=n {
            if let Some(p) = e.comps.get(..i) {
                dirs.insert(p.to_vec());
            }
        }
    }
    let mut states: BTreeMap<Vec<String>, DirState> = BTreeMap::new();
    // BTreeSet order puts every parent before its children.
    for d in dirs {
        let (parent, name) = match d.split_last() {
            Some((n, p)) => (p, n),
            None => continue,
        };
        let path = join(&dest.path, &d)?;
        let state = if parent.is_empty() || states.get(parent) == Some(&DirState::Exists) {
            let pfd = fds.open(parent, path.as_str())?;
            match rustix::fs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if EntryType::from_stat(&st) == EntryType::Dir => DirState::Exists,
                Ok(st) => {
                    return Err(FsError::EntryTypeMismatch {
                        path: path.as_str().to_string(),
                        expected: "directory",
                        found: EntryType::from_stat(&st).name(),
                    });
                }
                Err(Errno::NOENT) => DirState::New,
                Err(e) => return Err(FsError::os("stat", path.as_str(), e)),
            }
        } else {
            DirState::New
        };
        states.insert(d, state);
    }
    Ok(states)
}

/// Asks Cedar about every entry; the first refusal ends the extraction. A file entry whose
/// path already holds something other than a regular file (a symlink, FIFO, socket or
/// device) replaces it, which deletes it: `delete` File is checked on it too. (Replacing a
/// regular file's content is what `write` allows, as for [`FileHandle::write`].)
pub(super) fn authorize(
    ctx: &SdkContext,
    dirs: &mut DirCache<'_>,
    plan: &[Planned],
    states: &BTreeMap<Vec<String>, DirState>,
    opts: &ExtractArchiveOptions,
) -> Result<(), FsError> {
    let dest = dirs.dest;
    for (comps, state) in states {
        let p = join(&dest.path, comps)?;
        match state {
            DirState::Exists => {
                check_dir(ctx, Action::FsOpen, &p)?;
            }
            DirState::New => {
                check_dir(ctx, Action::FsCreate, &p)?;
                if opts.preserve_permissions {
                    check_dir(ctx, Action::FsChmod, &p)?;
                }
                if opts.preserve_ownership {
                    check_dir(ctx, Action::FsChown, &p)?;
                }
            }
        }
    }
    for e in plan.iter().filter(|e| e.kind == Kind::File) {
        let p = join(&dest.path, &e.comps)?;
        check_file(ctx, Action::FsCreate, &p)?;
        check_file(ctx, Action::FsWrite, &p)?;
        if let Some((name, parent)) = e.comps.split_last()
            && (parent.is_empty() || states.get(parent) == Some(&DirState::Exists))
        {
            let pfd = dirs.open(parent, p.as_str())?;
            match rustix::fs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st)
                    if !matches!(EntryType::from_stat(&st), EntryType::File | EntryType::Dir) =>
                {
                    check_file(ctx, Action::FsDelete, &p)?;
                }
                Ok(_) | Err(Errno::NOENT) => {}
                Err(e) => return Err(FsError::os("stat", p.as_str(), e)),
            }
        }
        if opts.preserve_permissions {
            check_file(ctx, Action::FsChmod, &p)?;
        }
        if opts.preserve_ownership {
            check_file(ctx, Action::FsChown, &p)?;
        }
    }
    Ok(())
}
