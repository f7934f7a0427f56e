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
//! * `permit_tests` (tests only): each internal refuses the proof of anything else.
//!
//! Checked by construction: each public operation asks Cedar and hands the
//! [`Permit`](crate::Permit) it got to an internal (`*_with`) that holds the system calls and
//! first refuses, fail closed, a proof of another resource or action: reading content
//! (`read_bytes_with`, `read_page_with`), `stat`, every change of a file (`write_with`,
//! `write_in_place_with`, `append_with`, `copy_to_with`, `delete_with`, `chmod_with`,
//! `chown_with`, `truncate_with`, `touch_with`), opening a subdirectory, and every listing:
//! `raw_entries` demands `read` on the directory itself and `raw_entries_below` a recursive
//! operation's proof on the directory or an ancestor (every listed entry is then checked on
//! its own before anything changes); the `getdents` beneath them is private to `dir`.
//! `permit_tests` proves each refusal.

mod at;
mod dir;
mod file;
mod names;
mod redacted;
mod tree;
mod tree_copy;
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

#[cfg(test)]
mod permit_tests;
