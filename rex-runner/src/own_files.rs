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

/// The most symbolic links followed from the path given (as the kernel's `ELOOP` limit).
const MAX_LINKS: usize = 40;

/// The paths by which the script could change what `path` names: the path itself with its
/// directory resolved (symbolic links in the directory followed), and, while the file there
/// is a symbolic link, each link's target in the same way (also a dangling one, which
/// opening the path would create). Changing any of them changes what the runner opens.
// The operator's own file, resolved by the runner itself (not a script operation): no
// rust-sdk, no Cedar check.
#[allow(clippy::disallowed_methods)]
fn reach_paths(what: &'static str, path: &Path) -> Result<Vec<ResourcePath>, OwnFileError> {
    let bad = |reason: String| OwnFileError::Path {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let mut out = Vec::new();
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let name = current
            .file_name()
            .ok_or_else(|| bad(format!("{} names no file", current.display())))?;
        let parent = match current.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&parent)
            .map_err(|e| bad(format!("its directory {}: {e}", parent.display())))?;
        let here = dir.join(name);
        let rp = ResourcePath::from_bytes(std::os::unix::ffi::OsStrExt::as_bytes(here.as_os_str()))
            .map_err(|e| bad(e.to_string()))?;
        if !out.contains(&rp) {
            out.push(rp);
        }
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&here)
                    .map_err(|e| bad(format!("the link {}: {e}", here.display())))?;
                current = dir.join(target);
            }
            _ => return Ok(out),
        }
    }
    Err(bad("too many levels of symbolic links".into()))
}

/// Refuses `path` (the runner's `what`, e.g. `audit log`) when the policies of `auth` could
/// let its principal change the file, its directory or an ancestor.
///
/// In permissive mode (`--permissive`, for trying a policy on a script one trusts) Cedar
/// confines nothing, so every path is within the script's reach: refusing them all would
/// refuse the audit log that permissive mode is for. The check is then the one the policies
/// would make if they were enforced: a file they let the script change is refused in both
/// modes; one they do not is kept, opened (appending) before the script runs and written
/// through that descriptor. A permissive run's script can still unlink or replace such a
/// file (nothing stops it): its records are then in the unlinked file. docs/THREAT_MODEL.md
/// says so.
pub fn check_out_of_reach(
    auth: &Authorizer,
    what: &'static str,
    path: &Path,
) -> Result<(), OwnFileError> {
    // Permissive or not, the policies as they would be enforced (see above).
    let reach = Reach::new(&auth.policies(), auth.principal(), false)
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
