//! Reading the runner's own inputs: the script, the policy files and the arguments file.
//!
//! These are configuration inputs of the runner, not host operations of a script, so they are
//! read here directly (the only place in this crate that touches the file system; the clippy
//! boundary list is relaxed for this module alone). A policy file that other users can write
//! is refused: whoever can write the policy decides what every script may do.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Largest script, policy or arguments file accepted, in bytes.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which input.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_INPUT_BYTES`].
    #[error("{what} {path} is larger than {MAX_INPUT_BYTES} bytes")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("{what} {path} is not valid UTF-8")]
    NotUtf8 {
        /// Which input.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A policy file that users other than its owner (or root) can modify.
    #[error(
        "policy file {path} is writable by group or others (mode {mode:o}); \
         fix it with `chmod go-w` (or pass --allow-writable-policy)"
    )]
    WritablePolicy {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The text of an input and its SHA-256.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it came from (`-` for standard input).
    pub name: String,
    /// The text.
    pub text: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

impl Input {
    /// An input given directly as text (for embedders).
    pub fn from_text(name: &str, text: &str) -> Self {
        Input {
            name: name.to_string(),
            text: text.to_string(),
            sha256: sha256_hex(text.as_bytes()),
        }
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a UTF-8 input file (or standard input for `-`), bounded by [`MAX_INPUT_BYTES`].
pub fn read_input(what: &'static str, path: &Path) -> Result<Input, InputError> {
    let mut bytes = Vec::new();
    let read_err = |source| InputError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_err)?;
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            what,
            path: path.to_path_buf(),
        });
    }
    let sha256 = sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| InputError::NotUtf8 {
        what,
        path: path.to_path_buf(),
    })?;
    Ok(Input {
        name: path.display().to_string(),
        text,
        sha256,
    })
}

/// Reads a policy file, refusing one that group or others can write (unless allowed).
pub fn read_policy(path: &Path, allow_writable: bool) -> Result<Input, InputError> {
    if !allow_writable && path != Path::new("-") {
        let meta = std::fs::metadata(path).map_err(|source| InputError::Read {
            what: "policy file",
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(InputError::WritablePolicy {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    read_input("policy file", path)
}
