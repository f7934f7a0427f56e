//! The policy lifecycle commands: `test`, `replay` and `fmt`.

use std::io::Write;
use std::path::{Path, PathBuf};

use rex_runner::{ExitStatus, read_input};

use crate::commands::{load_policy_files, principal_of};

/// `test`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TestFormat {
    /// One line per case and a summary.
    Human,
    /// The results as one JSON document.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

/// `replay`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReplayFormat {
    /// The summary and the groups of changes.
    Human,
    /// The report as one JSON document.
    Json,
}

fn print(text: &str) -> Result<(), ExitStatus> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|_| ExitStatus::Internal)
}

/// `test`: exit 0 when every case passes, 1 when one fails, 5 for invalid input.
pub(crate) fn test(policies: &[PathBuf], tests: &Path, format: TestFormat) -> ExitStatus {
    let set = match load_policy_files(policies) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let input = match read_input("test file", tests) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let cases = match rex_runner::policy_tests::parse_tests(&input.name, &input.text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    // The effective user is looked up only when a case names no principal.
    let default = match principal_of(None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let report = match rex_runner::policy_tests::run_tests(&input.name, &set, &cases, &default) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let text = match format {
        TestFormat::Human => report.to_human(),
        TestFormat::Junit => report.to_junit(),
        TestFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(t) => t + "\n",
            Err(_) => return ExitStatus::Internal,
        },
    };
    if let Err(status) = print(&text) {
        return status;
    }
    if report.failed == 0 {
        ExitStatus::Success
    } else {
        // Exit 1: a case failed (the code a failed script has).
        ExitStatus::ScriptError
    }
}

/// `replay`: exit 0 when no decision changes, 1 when some narrow only, 3 when any widens, 5
/// for invalid input.
pub(crate) fn replay(policies: &[PathBuf], audits: &[PathBuf], format: ReplayFormat) -> ExitStatus {
    let set = match load_policy_files(policies) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let mut logs = Vec::new();
    for path in audits {
        match read_input("audit log", path) {
            Ok(i) => logs.push(rex_runner::replay::AuditText {
                name: i.name,
                text: i.text,
            }),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::InvalidInput;
            }
        }
    }
    let report = match rex_runner::replay::replay(&set, &logs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let text = match format {
        ReplayFormat::Human => report.to_human(),
        ReplayFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(t) => t + "\n",
            Err(_) => return ExitStatus::Internal,
        },
    };
    if let Err(status) = print(&text) {
        return status;
    }
    if report.widened_count() > 0 {
        // Exit 3: the new policies allow what was denied (the code of a denial).
        ExitStatus::AccessDenied
    } else if report.narrowed_count() > 0 {
        ExitStatus::ScriptError
    } else {
        ExitStatus::Success
    }
}

/// `fmt`: formats policy files in place with Cedar's own formatter (after checking that the
/// result is the same policies); with `check`, changes nothing and exits 1 when a file is
/// not formatted.
pub(crate) fn fmt(policies: &[PathBuf], check: bool) -> ExitStatus {
    let mut unformatted = Vec::new();
    for path in policies {
        let input = match read_input("policy file", path) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::InvalidInput;
            }
        };
        let formatted = match rex_runner::policy_fmt::format_policies(&input.name, &input.text) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::InvalidInput;
            }
        };
        if formatted == input.text {
            continue;
        }
        let unnamed = rex_runner::policy_fmt::unannotated(&input.name, &input.text);
        if unnamed > 0 {
            eprintln!(
                "warning: {}: {unnamed} policies have no @id; their ids (file:line) change with formatting",
                path.display()
            );
        }
        if check {
            println!("not formatted: {}", path.display());
            unformatted.push(path);
            continue;
        }
        if let Err(e) = rewrite_in_place(path, &formatted) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return if e.kind() == std::io::ErrorKind::InvalidInput {
                ExitStatus::InvalidInput
            } else {
                ExitStatus::Internal
            };
        }
        println!("formatted: {}", path.display());
    }
    if unformatted.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::ScriptError
    }
}

/// Replaces `path` with `text`: a new file beside it (created exclusively: `O_EXCL` never
/// follows a symlink, with the original's permission bits), then renamed over it, so a reader sees
/// the old policy or the new one, never half of one.
// The operator's own policy file, not a script operation (no script runs in `fmt`).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn rewrite_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a symlink is never rewritten)",
        ));
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".rex-fmt.tmp");
    let tmp = path.with_file_name(tmp_name);
    let mode = meta.permissions().mode() & 0o7777 & !0o6000;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
