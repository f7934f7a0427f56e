//! The runner's own files (`--audit-log`, `--log-file`, `--metrics-file`, the policy `learn`
//! writes) must stay out of the script's reach: a script allowed to delete, move, create over,
//! write, chmod or chown such a file, its directory or an ancestor directory could unlink the
//! audit log (later decisions then go to the unlinked file) or put its own text where the
//! runner's output is expected. [`check_out_of_reach`] asks Cedar, with the run's policies and
//! principal, whether any request that could change the file may be allowed
//! ([`rex_auth::reach`]), and refuses the file when one may.

use std::path::{Path, PathBuf};

use rex_auth::reach::Reach;
use rex_auth::{AuthError, Authorizer, ResourcePath};

/// Why a runner's own file was refused.
#[derive(Debug, thiserror::Error)]
pub enum OwnFileError {
    /// The path cannot be resolved (its directory does not exist, it has no file name, ...).
    #[error("cannot use {what} {}: {reason}", path.display())]
    Path {
        /// What the file is, e.g. `audit log`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The policy could let the script change the file.
    #[error(
        "refusing to start: the policy could let the script modify the {what} {} ({}); \
         put it in a directory that the policy does not let the script change",
        path.display(),
        requests.join(", ")
    )]
    Reachable {
        /// What the file is.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// The requests that may be allowed, as `ACTION on RESOURCE` (at most a few).
        requests: Vec<String>,
    },
    /// The policies could not be evaluated.
    #[error("cannot decide whether the script can reach the {what}: {source}")]
    Auth {
        /// What the file is.
        what: &'static str,
        /// The evaluation error.
        source: AuthError,
    },
}

/// The paths by which the script could reach the file `path` names: its real directory
/// (symbolic links resolved) joined with its name, and, when `path` exists and resolves
/// elsewhere (a symbolic link), its target too.
// The operator's own file, resolved by the runner itself (not a script operation): no
// rust-sdk, no Cedar check.
#[allow(clippy::disallowed_methods)]
fn reach_paths(what: &'static str, path: &Path) -> Result<Vec<ResourcePath>, OwnFileError> {
    let bad = |reason: String| OwnFileError::Path {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let name = path
        .file_name()
        .ok_or_else(|| bad("the path names no file".into()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&parent)
        .map_err(|e| bad(format!("its directory {}: {e}", parent.display())))?;
    let mut out = Vec::new();
    let mut push = |p: &Path| -> Result<(), OwnFileError> {
        let rp = ResourcePath::from_bytes(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
            .map_err(|e| bad(e.to_string()))?;
        if !out.contains(&rp) {
            out.push(rp);
        }
        Ok(())
    };
    push(&dir.join(name))?;
    if let Ok(real) = std::fs::canonicalize(path) {
        push(&real)?;
    }
    Ok(out)
}

/// Refuses `path` (the runner's `what`, e.g. `audit log`) when the policies of `auth` could
/// let its principal change the file, its directory or an ancestor (in permissive mode every
/// request could be allowed, so every path is refused).
pub fn check_out_of_reach(
    auth: &Authorizer,
    what: &'static str,
    path: &Path,
) -> Result<(), OwnFileError> {
    let reach = Reach::new(&auth.policies(), auth.principal(), auth.is_permissive())
        .map_err(|source| OwnFileError::Auth { what, source })?;
    let mut requests = Vec::new();
    for p in reach_paths(what, path)? {
        requests.extend(
            reach
                .may_modify(&p)
                .map_err(|source| OwnFileError::Auth { what, source })?,
        );
    }
    if requests.is_empty() {
        return Ok(());
    }
    let more = requests.len().saturating_sub(3);
    requests.truncate(3);
    if more > 0 {
        requests.push(format!("and {more} more"));
    }
    Err(OwnFileError::Reachable {
        what,
        path: path.to_path_buf(),
        requests,
    })
}
