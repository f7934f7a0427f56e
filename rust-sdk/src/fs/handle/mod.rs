//! The handles: [`DirHandle`] and [`FileHandle`], split by concern.
//!
//! * `types`: the value types they take and return (entry types, metadata, options,
//!   reports, [`DirEntry`]).
//! * `at`: descriptor-level helpers (open flags, following opens, the fd-resolved path,
//!   set-id clearing, the replace-checked rename, descriptor copies).
//! * `dir`: opening a directory, listing, metadata, permissions, links.
//! * `tree`: whole-tree operations of a directory (recursive `chmod`/`chown`, `delete`,
//!   `move_to`).
//! * `names`: name and identity helpers (name-still-refers check, move contexts, lexical
//!   resolution, temporary names, modes, owner names).
//! * `file`: reading, writing, copying, moving one file; `redacted`: its redacted read.
//!
//! Every system call that reads a file's content demands the [`Permit`](crate::Permit) of the
//! `read`/`redacted_read` check that allowed it (`FileHandle::read_bytes_with`).

mod at;
mod dir;
mod file;
mod names;
mod redacted;
mod tree;
mod types;

pub(crate) use at::{clear_set_id, dir_flags, fd_real_path};
pub use dir::DirHandle;
pub use file::FileHandle;
pub(crate) use names::{IdCache, ownership_names, temp_name};
pub use types::{
    ChangeReport, CopyFileOptions, DeleteDirOptions, DeleteReport, DirEntry, EntryType, Metadata,
    OpenDirOptions, OpenFileOptions, Ownership, SKIPPED_SPECIAL_FILE, SKIPPED_SYMLINK,
    WriteOptions,
};
