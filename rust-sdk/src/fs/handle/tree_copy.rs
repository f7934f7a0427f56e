//! The cross-device fallback of a directory move: the tree is copied into a temporary
//! directory beside the destination, renamed into place, and only then is the source removed.
//! A failure before the rename removes the copy and leaves the source as it was.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::at::{copy_to_new, dir_flags, rename_no_replace};
use super::names::temp_name;
use super::types::TreeItem;
use crate::fs::error::FsError;

/// One end of a cross-device directory move: the directory that holds the entry, the
/// entry's name there and its full path (for messages).
pub(super) struct End<'a> {
    /// The directory holding the entry.
    pub(super) parent: BorrowedFd<'a>,
    /// The entry's name in `parent`.
    pub(super) name: &'a str,
    /// The entry's path.
    pub(super) path: &'a str,
}

/// Copies the directory `src` (open; its entries, pre-order, are `tree`) to `to`, then
/// removes the source entries and the source itself. `replace`: an existing (empty)
/// destination may be replaced (its deletion was authorized).
pub(super) fn move_dir_across(
    src: BorrowedFd<'_>,
    from: &End<'_>,
    tree: &[TreeItem],
    to: &End<'_>,
    replace: bool,
) -> Result<(), FsError> {
    let (src_parent, src_name, src_path) = (from.parent, from.name, from.path);
    let (dest_parent, dest_name, dest_path) = (to.parent, to.name, to.path);
    let tmp = temp_name();
    let root_mode = rustix::fs::fstat(src)
        .map_err(|e| FsError::os("stat", src_path, e))?
        .st_mode
        & 0o777;
    rustix::fs::mkdirat(dest_parent, tmp.as_str(), Mode::from_raw_mode(0o700))
        .map_err(|e| FsError::os("mkdir", dest_path, e))?;
    let copied = (|| {
        let top = Arc::new(
            rustix::fs::openat(dest_parent, tmp.as_str(), dir_flags(), Mode::empty())
                .map_err(|e| FsError::os("open", dest_path, e))?,
        );
        copy_entries(src_path, tree, &top, dest_path)?;
        rustix::fs::fchmod(&*top, Mode::from_raw_mode(root_mode))
            .map_err(|e| FsError::os("chmod", dest_path, e))?;
        rustix::fs::fsync(&*top).map_err(|e| FsError::os("fsync", dest_path, e))?;
        rename_no_replace(dest_parent, tmp.as_str(), dest_parent, dest_name, replace)
            .map_err(|e| FsError::os("rename", dest_path, e))
    })();
    if let Err(e) = copied {
        remove_tree_at(dest_parent, &tmp);
        return Err(e);
    }
    // The copy is in place: remove the source, children before parents.
    let mut left = Vec::new();
    for (fd, name, path, is_dir) in tree.iter().rev() {
        let flags = if *is_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        if let Err(e) = rustix::fs::unlinkat(&**fd, name.as_str(), flags) {
            left.push(format!("{}: {e}", path.as_str()));
        }
    }
    if let Err(e) = rustix::fs::unlinkat(src_parent, src_name, AtFlags::REMOVEDIR) {
        left.push(format!("{src_path}: {e}"));
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(FsError::InvalidArguments(format!(
            "{src_path} was copied to {dest_path} (another file system), but these source entries could not be removed: {}",
            left.join("; ")
        )))
    }
}

/// Recreates every entry of `tree` (beneath `src_path`) beneath `top`: directories, regular
/// files (content and permission bits, never set-id bits) and symbolic links (as links).
/// Devices, FIFOs and sockets cannot be moved by copying: the move fails.
fn copy_entries(
    src_path: &str,
    tree: &[TreeItem],
    top: &Arc<OwnedFd>,
    dest_path: &str,
) -> Result<(), FsError> {
    let mut dirs: HashMap<&str, Arc<OwnedFd>> = HashMap::new();
    dirs.insert(src_path, top.clone());
    let mut modes: Vec<(Arc<OwnedFd>, u32)> = Vec::new();
    for (parent, name, path, is_dir) in tree {
        let p = path.as_str();
        let parent_path = p.rsplit_once('/').map_or("/", |(a, _)| a);
        let parent_path = if parent_path.is_empty() {
            "/"
        } else {
            parent_path
        };
        let Some(out_dir) = dirs.get(parent_path).cloned() else {
            return Err(FsError::InvalidArguments(format!(
                "{p}: its directory was not copied"
            )));
        };
        let st = rustix::fs::statat(&**parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::os("stat", p, e))?;
        let mode = st.st_mode & 0o777;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory if *is_dir => {
                rustix::fs::mkdirat(&*out_dir, name.as_str(), Mode::from_raw_mode(0o700))
                    .map_err(|e| FsError::os("mkdir", dest_path, e))?;
                let fd = Arc::new(
                    rustix::fs::openat(&*out_dir, name.as_str(), dir_flags(), Mode::empty())
                        .map_err(|e| FsError::os("open", dest_path, e))?,
                );
                modes.push((fd.clone(), mode));
                dirs.insert(p, fd);
            }
            FileType::RegularFile => {
                let from = rustix::fs::openat(
                    &**parent,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| FsError::os("open", p, e))?;
                copy_to_new(&File::from(from), &*out_dir, name, mode, dest_path)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&**parent, name.as_str(), Vec::new())
                    .map_err(|e| FsError::os("readlink", p, e))?;
                rustix::fs::symlinkat(target.as_c_str(), &*out_dir, name.as_str())
                    .map_err(|e| FsError::os("symlink", dest_path, e))?;
            }
            other => {
                return Err(FsError::InvalidArguments(format!(
                    "cannot move {p} to another file system: a {other:?} cannot be copied"
                )));
            }
        }
    }
    // Directories get their permission bits last (a read-only directory could not be filled).
    for (fd, mode) in modes {
        rustix::fs::fchmod(&*fd, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::os("chmod", dest_path, e))?;
    }
    Ok(())
}

/// Best-effort removal of the temporary copy `name` in `parent` (never follows links).
fn remove_tree_at(parent: BorrowedFd<'_>, name: &str) {
    if let Ok(fd) = rustix::fs::openat(parent, name, dir_flags(), Mode::empty()) {
        let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
        remove_children(fd.as_fd(), 0);
    }
    let _ = rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR);
}

fn remove_children(dir: BorrowedFd<'_>, depth: usize) {
    if depth > 256 {
        return;
    }
    let Ok(mut entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    let mut names = Vec::new();
    while let Some(Ok(e)) = entries.next() {
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((
                e.file_name().to_owned(),
                e.file_type() == FileType::Directory,
            ));
        }
    }
    for (n, is_dir) in names {
        if is_dir {
            if let Ok(fd) = rustix::fs::openat(dir, n.as_c_str(), dir_flags(), Mode::empty()) {
                let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
                remove_children(fd.as_fd(), depth + 1);
            }
            let _ = rustix::fs::unlinkat(dir, n.as_c_str(), AtFlags::REMOVEDIR);
        } else {
            let _ = rustix::fs::unlinkat(dir, n.as_c_str(), AtFlags::empty());
        }
    }
}
