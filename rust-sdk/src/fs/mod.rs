//! File-system operations, authorized by Cedar before every system call.
//!
//! Design:
//! * **Handles, not paths.** [`DirHandle`] holds a directory fd; it is opened from `/` one
//!   component at a time with `O_NOFOLLOW|O_DIRECTORY` (no-follow mode), so no symlink is ever
//!   traversed and a concurrent swap of a component by a symlink makes the open fail instead of
//!   escaping. In follow mode the kernel resolves the path and the **fd-resolved real path**
//!   (`/proc/self/fd/N`) must pass `open` as well as the requested one.
//! * [`FileHandle`]s are opened relative to their parent's fd with a single-component name,
//!   `O_NOFOLLOW` (unless following) and `O_NONBLOCK` so a FIFO never blocks; the type is then
//!   checked with `fstat` and anything but a regular file is refused unless asked for.
//! * Every operation makes REX's Cedar checks (§1.4/§2.2 of the compat notes) **before** the
//!   system call; a denial is [`FsError::PermissionDenied`]. The internals that open a file
//!   or read its content demand the [`Permit`](crate::Permit) of the check that allowed it.
//! * The shell-style helpers in [`commands`] take absolute path strings and are built on the
//!   handles.

mod archive;
mod cert;
mod elf;
mod error;
mod glob;
mod handle;
mod linux;
mod redact;
mod text;
mod walk;

mod awk;
pub mod commands;
pub mod gzip;
pub mod listing;

pub use archive::{ExtractArchiveOptions, ExtractReport, extract_archive};
pub use cert::{MAX_CERT_FILE_BYTES, verify_cert, verify_cert_chain};
pub use elf::{ElfInfo, elf_info};
pub use error::{FsError, FsErrorKind};
pub use glob::glob_match;
pub(crate) use handle::ownership_names;
pub use handle::{
    ChangeReport, CopyFileOptions, DeleteDirOptions, DeleteReport, DirEntry, DirHandle, EntryType,
    FileHandle, Metadata, OpenDirOptions, OpenFileOptions, Ownership, SKIPPED_SPECIAL_FILE,
    SKIPPED_SYMLINK, WriteOptions,
};
pub use linux::{
    SELINUX_XATTR, SetXAttrOptions, SymlinkHandle, merge_selinux_context,
    validate_selinux_component,
};
pub use redact::{DEFAULT_REDACTION_CONFIG, Redactor};
pub use text::{
    Counts, Match, ReplacementOptions, extract_strings, line_cost, replace_text, select_lines,
    select_lines_within,
};
pub use walk::{
    DiskUsageEntry, DiskUsageOptions, DiskUsageResult, FindCallback, FindOptions, FoundEntry,
};

use rex_auth::{Action, Resource, ResourcePath};

use crate::{Permit, SdkContext};

/// Asks Cedar about a `File`.
pub(crate) fn check_file(
    ctx: &SdkContext,
    action: Action,
    p: &ResourcePath,
) -> Result<Permit, FsError> {
    ctx.check(action, &Resource::file_path(p))
        .map_err(FsError::from)
}

/// Asks Cedar about a `Dir`.
pub(crate) fn check_dir(
    ctx: &SdkContext,
    action: Action,
    p: &ResourcePath,
) -> Result<Permit, FsError> {
    ctx.check(action, &Resource::dir_path(p))
        .map_err(FsError::from)
}

/// Validates and normalises a path string.
pub(crate) fn rpath(path: &str) -> Result<ResourcePath, FsError> {
    ResourcePath::new(path).map_err(FsError::from)
}
