//! The runner's exit codes: distinct for every class of failure (REX exited 0 on script errors).

use rex_core::ErrorKind;

/// Process exit codes of `rex-runner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the script ran to completion.
    Success = 0,
    /// 1: the script failed to compile or raised an error.
    ScriptError = 1,
    /// 2: the command line is invalid (clap's usage error).
    Usage = 2,
    /// 3: Cedar denied an operation and the script did not handle it.
    AccessDenied = 3,
    /// 4: a limit (operations, sizes, depth, timeout) or cancellation ended the script.
    LimitExceeded = 4,
    /// 5: an input is invalid: unreadable file, invalid policy, malformed arguments.
    InvalidInput = 5,
    /// 6: an internal error (a bug, or the output could not be written).
    Internal = 6,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The exit status for a script error of this kind.
    pub fn for_error(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Compile | ErrorKind::Runtime => ExitStatus::ScriptError,
            ErrorKind::AccessDenied => ExitStatus::AccessDenied,
            ErrorKind::Limit(_) => ExitStatus::LimitExceeded,
            ErrorKind::InvalidArguments => ExitStatus::InvalidInput,
            ErrorKind::Internal => ExitStatus::Internal,
        }
    }
}
