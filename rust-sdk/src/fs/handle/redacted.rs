//! The redacted read of a [`FileHandle`] (§3.9): `read`, or when that is denied and
//! `redacted_read` is allowed, the content filtered through the redaction dictionary (loaded
//! through the gate).

use std::sync::Arc;

use rex_auth::Action;

use super::dir::DirHandle;
use super::file::FileHandle;
use super::types::{OpenDirOptions, OpenFileOptions};
use crate::SdkContext;
use crate::fs::error::FsError;
use crate::fs::{check_file, redact, rpath};

impl FileHandle {
    /// Content with REX's fallback: `read` File, or when that is denied and `redacted_read` is
    /// allowed, the redacted content (§3.9). Otherwise the original denial.
    pub(super) fn read_text_or_redacted(&self, ctx: &SdkContext) -> Result<String, FsError> {
        let path = self.current_path()?;
        match check_file(ctx, Action::FsRead, &path) {
            Ok(permit) => {
                let b = self.read_bytes_with(ctx, &permit)?;
                Ok(String::from_utf8_lossy(&b).into_owned())
            }
            Err(FsError::PermissionDenied(d)) => {
                let Ok(permit) = check_file(ctx, Action::FsRedactedRead, &path) else {
                    return Err(FsError::PermissionDenied(d));
                };
                let cfg = self
                    .redaction_config
                    .as_deref()
                    .unwrap_or(ctx.redaction_config());
                if rpath(cfg).ok().as_ref() == Some(&path) {
                    return Err(FsError::PermissionDenied(d));
                }
                let redactor = match load_redactor(ctx, cfg) {
                    Ok(r) => r,
                    Err(_) => return Err(FsError::PermissionDenied(d)),
                };
                let b = self.read_bytes_with(ctx, &permit)?;
                Ok(redactor.redact(&String::from_utf8_lossy(&b)))
            }
            Err(e) => Err(e),
        }
    }
}

/// Loads (through the gated SDK: `open` Dir, `open` + `read` File) and compiles the redaction
/// dictionary at `path`, cached by [`redact::compiled`].
fn load_redactor(ctx: &SdkContext, path: &str) -> Result<Arc<redact::Redactor>, FsError> {
    let p = rpath(path)?;
    let parent = p
        .parent()
        .ok_or_else(|| FsError::InvalidArguments("no redaction dictionary".into()))?;
    let dir = DirHandle::open(ctx, parent.as_str(), OpenDirOptions::default())?;
    let fh = dir.open_file(ctx, p.file_name(), OpenFileOptions::read())?;
    // `read` is checked strictly: the dictionary itself is never read in redacted mode.
    let read = fh.permit(ctx, Action::FsRead)?;
    let st = rustix::fs::fstat(&fh.file).map_err(|e| FsError::os("fstat", path, e))?;
    let key = (
        st.st_mtime,
        i64::try_from(st.st_mtime_nsec).unwrap_or(0),
        u64::try_from(st.st_size).unwrap_or(0),
    );
    redact::compiled(p.as_str(), key, || {
        Ok(String::from_utf8_lossy(&fh.read_bytes_with(ctx, &read)?).into_owned())
    })
}
