//! Fixtures shared by the end-to-end tests of the `rex-runner` binary (`tests/cli*.rs`).
// Test helpers create real files, processes and sockets to observe effects on the host.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
// The including test crates allow unwrap/expect/panic/indexing and std::process.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A temp dir holding a test's scripts, policies and data files.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The temp dir's path as Cedar sees it (no symlinks on the way).
    pub fn root(&self) -> String {
        fs::canonicalize(self.dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Writes `text` to `name` (mode 0644) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    }
}

/// The `rex-runner` binary, without an inherited `LOG_LEVEL`.
pub fn rex() -> Command {
    let mut c = Command::cargo_bin("rex-runner").unwrap();
    c.env_remove("LOG_LEVEL");
    c
}

/// What a finished `rex-runner` process left.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as the JSON output document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `cmd` to completion.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A policy that lets scripts open the temp dir and open + read the named file in it.
pub fn read_policy(fx: &Fixture, file: &str) -> String {
    let root = fx.root();
    format!(
        r#"@id("open-dir")
permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{root}");
@id("read-file")
permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
       resource == file_system::File::"{root}/{file}");
"#
    )
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
