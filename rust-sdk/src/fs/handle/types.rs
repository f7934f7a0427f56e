//! The value types of the handles: entry types, metadata, options and reports, directory
//! entries.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rex_auth::ResourcePath;
use rustix::fs::{FileType, Stat};

use super::dir::*;
use super::file::*;
use super::names::*;
use crate::SdkContext;
use crate::fs::error::FsError;

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Unknown.
    Unknown,
}

impl EntryType {
    pub(crate) fn from_file_type(t: FileType) -> Self {
        match t {
            FileType::RegularFile => EntryType::File,
            FileType::Directory => EntryType::Dir,
            FileType::Symlink => EntryType::Symlink,
            FileType::Fifo => EntryType::Fifo,
            FileType::Socket => EntryType::Socket,
            FileType::CharacterDevice => EntryType::CharDevice,
            FileType::BlockDevice => EntryType::BlockDevice,
            _ => EntryType::Unknown,
        }
    }

    pub(crate) fn from_stat(st: &Stat) -> Self {
        Self::from_file_type(FileType::from_raw_mode(st.st_mode))
    }

    /// REX's `EntryType` constant name.
    pub fn name(self) -> &'static str {
        match self {
            EntryType::File => "FILE",
            EntryType::Dir => "DIR",
            EntryType::Symlink => "SYMLINK",
            EntryType::Fifo => "FIFO",
            EntryType::Socket => "SOCKET",
            EntryType::CharDevice => "CHAR_DEVICE",
            EntryType::BlockDevice => "BLOCK_DEVICE",
            EntryType::Unknown => "UNKNOWN",
        }
    }
}

/// `stat` information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Entry type.
    pub entry_type: EntryType,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_secs: i64,
    /// Nanosecond part of the modification time.
    pub mtime_nanos: i64,
    /// Number of hard links.
    pub nlink: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Permission bits (`mode & 0o7777`).
    pub permissions: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Inode number.
    pub inode: u64,
    /// Device number.
    pub dev: u64,
    /// The link target, for metadata taken from a [`super::SymlinkHandle`] when `read` on the
    /// link is allowed; `None` otherwise.
    pub symlink_target: Option<String>,
}

impl Metadata {
    pub(crate) fn from_stat(st: &Stat) -> Self {
        Metadata {
            entry_type: EntryType::from_stat(st),
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_secs: st.st_mtime,
            mtime_nanos: i64::try_from(st.st_mtime_nsec).unwrap_or(0),
            nlink: st.st_nlink,
            blocks: u64::try_from(st.st_blocks).unwrap_or(0),
            permissions: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            inode: st.st_ino,
            dev: st.st_dev,
            symlink_target: None,
        }
    }

    /// Owner and group names (numeric when the name cannot be resolved). No Cedar check: the
    /// ids were obtained by an authorized `stat`; this only looks the names up.
    pub fn owner(&self) -> Ownership {
        ownership_names(self.uid, self.gid)
    }

    /// Bytes allocated on disk (`blocks * 512`).
    pub fn allocated_size(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }

    /// Modification time in nanoseconds since the epoch.
    pub fn last_modified_nanos(&self) -> i128 {
        i128::from(self.mtime_secs) * 1_000_000_000 + i128::from(self.mtime_nanos)
    }
}

/// Owner and group names (numeric when the name cannot be resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// User name.
    pub user: String,
    /// Group name.
    pub group: String,
}

/// Options for [`DirHandle::open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenDirOptions {
    /// Create the directory if missing (authorizes `create`).
    pub create: bool,
    /// With `create`, also create missing ancestors (authorizes `create` on each).
    pub recursive: bool,
    /// Let the kernel follow symlinks; the resolved path must also pass `open`.
    pub follow_symlinks: bool,
}

/// Options for [`DirHandle::open_file`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenFileOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create if missing (authorizes `create`; implies write).
    pub create: bool,
    /// Mode of a created file (default 0o644, subject to the umask). Only the permission
    /// bits (`0o777`) are used: a created file never gets set-id or sticky bits.
    pub permissions: Option<u32>,
    /// Follow a symlink in the last component; the resolved path must also pass `open`.
    pub follow_symlinks: bool,
    /// Accept FIFOs, sockets and devices (refused by default).
    pub special_file: bool,
}

impl OpenFileOptions {
    /// Read-only.
    pub fn read() -> Self {
        OpenFileOptions {
            read: true,
            ..Default::default()
        }
    }
    /// Read and write.
    pub fn read_write() -> Self {
        OpenFileOptions {
            read: true,
            write: true,
            ..Default::default()
        }
    }
    /// Read, write and create.
    pub fn create() -> Self {
        OpenFileOptions {
            read: true,
            write: true,
            create: true,
            ..Default::default()
        }
    }
}

/// Options for [`DirHandle::delete`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteDirOptions {
    /// Remove the whole tree (every entry is authorized for `delete` first).
    pub recursive: bool,
    /// Missing entries are not an error.
    pub force: bool,
}

/// Options for [`FileHandle::copy_to`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyFileOptions {
    /// Overwrite a non-empty destination.
    pub force: bool,
    /// Copy mode and timestamps.
    pub preserve: bool,
}

/// Options for [`FileHandle::write`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Give the new file the old file's owner and group.
    pub preserve_ownership: bool,
}

/// What a delete removed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Paths removed, in removal order.
    pub removed: Vec<String>,
    /// Paths not removed, with the reason.
    pub not_removed: Vec<(String, String)>,
}

/// The [`ChangeReport::not_changed`] reason of a symlink that a recursive change skipped.
pub const SKIPPED_SYMLINK: &str = "symlink skipped";
/// The [`ChangeReport::not_changed`] reason of a FIFO, socket or device that a recursive
/// change skipped.
pub const SKIPPED_SPECIAL_FILE: &str = "special file skipped";

/// One entry of a collected tree: (parent fd, name, path, is_dir).
pub(crate) type TreeItem = (Arc<OwnedFd>, String, ResourcePath, bool);

/// What a recursive change did, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeReport {
    /// Paths changed.
    pub changed: Vec<String>,
    /// Paths not changed, with the reason: [`SKIPPED_SYMLINK`] or [`SKIPPED_SPECIAL_FILE`]
    /// for entries skipped on purpose, the OS error otherwise.
    pub not_changed: Vec<(String, String)>,
}

/// An entry of a directory listing; operations on it go through its parent's fd.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The name, lossily decoded when not UTF-8.
    pub name: String,
    /// The raw name bytes when they are not the UTF-8 of `name` (see [`DirEntry::raw_name`]).
    raw: Option<Box<[u8]>>,
    /// The type from the directory (or `fstatat` without following).
    pub entry_type: EntryType,
    /// The inode number.
    pub inode: u64,
    /// The directory, shared by every entry of one listing.
    pub(crate) parent: Arc<DirHandle>,
}

impl DirEntry {
    /// An entry from its raw name: a UTF-8 name keeps its bytes as `name` (no copy); any
    /// other is decoded lossily and its bytes kept apart.
    pub(crate) fn from_raw(
        raw: Vec<u8>,
        entry_type: EntryType,
        inode: u64,
        parent: Arc<DirHandle>,
    ) -> Self {
        let (name, raw) = match String::from_utf8(raw) {
            Ok(name) => (name, None),
            Err(e) => {
                let bytes = e.into_bytes();
                (
                    String::from_utf8_lossy(&bytes).into_owned(),
                    Some(bytes.into_boxed_slice()),
                )
            }
        };
        DirEntry {
            name,
            raw,
            entry_type,
            inode,
            parent,
        }
    }

    /// The raw name bytes, as the directory holds them.
    pub fn raw_name(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.name.as_bytes())
    }

    /// Whether the name is valid UTF-8 (`name` is then exactly the raw name).
    pub fn name_is_utf8(&self) -> bool {
        self.raw.is_none()
    }

    /// Opens the entry as a file (same checks as [`DirHandle::open_file`]).
    pub fn open_as_file(
        &self,
        ctx: &SdkContext,
        opts: OpenFileOptions,
    ) -> Result<FileHandle, FsError> {
        self.parent.open_file(ctx, &self.name, opts)
    }

    /// Opens the entry as a directory (`open` Dir).
    pub fn open_as_dir(&self, ctx: &SdkContext) -> Result<DirHandle, FsError> {
        self.parent.open_subdir(ctx, &self.name)
    }

    /// `stat` on the entry without following symlinks (`stat` on File or Dir).
    pub fn metadata(&self, ctx: &SdkContext) -> Result<Metadata, FsError> {
        self.parent
            .entry_metadata_typed(ctx, &self.name, Some(self.entry_type))
    }

    /// The full path of the entry, if it is a valid resource path.
    pub fn path(&self) -> Result<ResourcePath, FsError> {
        self.parent.path.join(&self.name).map_err(FsError::from)
    }
}
