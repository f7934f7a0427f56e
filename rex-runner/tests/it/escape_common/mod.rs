//! Shared helpers of the escape suites: a real [`Runner`] under a tight policy, typed
//! classification of a run's failure, and snapshots proving the host did not change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The suites build hostile fixtures and observe the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rex_auth::{MemoryAuditSink, Outcome, Principal};
use rex_core::{ErrorKind, LimitKind, Limits, RunError, ScriptArgumentValue, ScriptArguments};
use rex_runner::{Input, RunReport, Runner};

/// Limits tight enough that no hostile script can keep a test busy for long.
pub fn tight_limits() -> Limits {
    Limits {
        max_operations: 2_000_000,
        max_string_size: 1 << 20,
        max_array_size: 100_000,
        max_map_size: 10_000,
        max_log_entries: 100,
        timeout: Some(Duration::from_secs(20)),
        ..Limits::default()
    }
}

/// A runner for `User::"attacker"` under `policy`, with [`tight_limits`].
pub fn runner(policy: &str) -> Runner {
    runner_with(policy, tight_limits(), None)
}

/// A runner with explicit limits and an optional audit sink.
pub fn runner_with(policy: &str, limits: Limits, sink: Option<MemoryAuditSink>) -> Runner {
    let mut b = Runner::builder()
        .principal(Principal::user("attacker").unwrap())
        .limits(limits);
    if !policy.trim().is_empty() {
        b = b.policy(Input::from_text("escape.cedar", policy));
    }
    if let Some(s) = sink {
        b = b.audit_sink(Arc::new(s));
    }
    b.build().expect("the test policy is valid")
}

/// Runs a script without arguments.
pub fn run(runner: &Runner, script: &str) -> RunReport {
    runner.run(
        &Input::from_text("hostile.rhai", script),
        &ScriptArguments::new(),
    )
}

/// Runs a script with string arguments (hostile strings reach the SDK byte for byte).
pub fn run_args(runner: &Runner, script: &str, args: &[(&str, &str)]) -> RunReport {
    let mut a = ScriptArguments::new();
    for (k, v) in args {
        a.insert(*k, ScriptArgumentValue::StringValue((*v).to_string()));
    }
    runner.run(&Input::from_text("hostile.rhai", script), &a)
}

/// Every file-system action below `dir` (and on `dir` itself) — nothing else.
pub fn allow_fs_under(dir: &Path) -> String {
    format!(
        r#"permit(principal, action in file_system::Action::"SafeIO", resource in file_system::Dir::"{}");"#,
        dir.display()
    )
}

/// Only the given file-system actions below `dir`.
pub fn allow_actions_under(dir: &Path, actions: &[&str]) -> String {
    actions
        .iter()
        .map(|a| {
            format!(
                r#"permit(principal, action == file_system::Action::"{a}", resource in file_system::Dir::"{}");"#,
                dir.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The engine's typed error kind of a failed run (`None` on success).
pub fn kind(report: &RunReport) -> Option<ErrorKind> {
    report.outcome.error.as_ref().map(RunError::kind)
}

/// The `kind` field of the script error map (`IoErrorKind::InvalidPath` → `InvalidPath`),
/// taken from the structured error, never from message text.
pub fn script_kind(report: &RunReport) -> Option<String> {
    match report.outcome.error.as_ref()? {
        RunError::Runtime { error_kind, .. } => error_kind.clone(),
        _ => None,
    }
}

/// The run failed with a Cedar denial (typed token) and the output says so.
pub fn assert_denied(report: &RunReport) {
    assert_eq!(
        kind(report),
        Some(ErrorKind::AccessDenied),
        "expected a denial, got {:?}",
        report.outcome.error
    );
    assert!(!report.outcome.denials.is_empty());
    assert!(report.document.denial.is_some());
}

/// The run failed with a typed refusal: a denial, or an SDK error map whose kind is one of
/// `kinds`.
pub fn assert_refused(report: &RunReport, kinds: &[&str]) {
    let k = kind(report);
    if k == Some(ErrorKind::AccessDenied) {
        assert_denied(report);
        return;
    }
    let sk = script_kind(report);
    assert!(
        sk.as_deref().is_some_and(|s| kinds.contains(&s)),
        "expected a denial or one of {kinds:?}, got {:?}",
        report.outcome.error
    );
}

/// The run was ended by `limit`.
pub fn assert_limit(report: &RunReport, limit: LimitKind) {
    assert_eq!(
        kind(report),
        Some(ErrorKind::Limit(limit)),
        "{:?}",
        report.outcome.error
    );
}

/// The whole output document (output, error, logs, denial) as JSON text.
pub fn document_text(report: &RunReport) -> String {
    serde_json::to_string(&report.document).unwrap()
}

/// The secret appears nowhere in the output document.
pub fn assert_no_leak(report: &RunReport, secret: &str) {
    let doc = document_text(report);
    assert!(
        !doc.contains(secret),
        "secret leaked into the output: {doc}"
    );
    assert!(!report.outcome.output.contains(secret));
}

/// What a directory tree looks like: per relative path, its type, inode, size, mode and
/// content (files) or target (symlinks). Never follows symlinks.
pub type Snapshot = BTreeMap<PathBuf, String>;

/// Snapshots `root` recursively.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    snap(root, root, &mut out);
    out
}

fn snap(root: &Path, dir: &Path, out: &mut Snapshot) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let p = e.path();
        let md = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let ft = md.file_type();
        let desc = if ft.is_symlink() {
            format!("link -> {}", fs::read_link(&p).unwrap().display())
        } else if ft.is_dir() {
            format!("dir ino={} mode={:o}", md.ino(), md.mode())
        } else if ft.is_file() {
            format!(
                "file ino={} mode={:o} nlink={} content={:?}",
                md.ino(),
                md.mode(),
                md.nlink(),
                fs::read(&p).unwrap()
            )
        } else if ft.is_fifo() {
            "fifo".to_string()
        } else {
            format!("special mode={:o}", md.mode())
        };
        out.insert(rel, desc);
        if ft.is_dir() {
            snap(root, &p, out);
        }
    }
}

/// A hostile fixture: `root/inside` is the only subtree the policy permits; `root/outside`
/// holds a secret file and a directory the script must never touch.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub inside: PathBuf,
    pub outside: PathBuf,
    pub secret: PathBuf,
}

/// The secret's content (never expected in any output).
pub const SECRET: &str = "TOP-SECRET-7f3a9c";

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let inside = root.join("inside");
        let outside = root.join("outside");
        fs::create_dir(&inside).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::create_dir(outside.join("victim_dir")).unwrap();
        fs::write(outside.join("victim_dir").join("keep.txt"), "keep").unwrap();
        let secret = outside.join("secret.txt");
        fs::write(&secret, SECRET).unwrap();
        fs::write(inside.join("ok.txt"), "fine").unwrap();
        Fixture {
            tmp,
            inside,
            outside,
            secret,
        }
    }

    /// The policy: every file-system action, only below `inside`.
    pub fn policy(&self) -> String {
        allow_fs_under(&self.inside)
    }

    /// A runner under [`Fixture::policy`].
    pub fn runner(&self) -> Runner {
        runner(&self.policy())
    }

    /// `$IN` and `$OUT` in `script` become the two directories.
    pub fn script(&self, script: &str) -> String {
        script
            .replace("$IN", self.inside.to_str().unwrap())
            .replace("$OUT", self.outside.to_str().unwrap())
    }

    /// The outside tree as it is now.
    pub fn outside_snapshot(&self) -> Snapshot {
        snapshot(&self.outside)
    }
}

/// Every decision in the sink that was an allow on a resource outside `inside`.
pub fn allows_outside(sink: &MemoryAuditSink, inside: &Path) -> Vec<String> {
    let needle = inside.to_str().unwrap();
    sink.records()
        .into_iter()
        .filter(|r| r.outcome == Outcome::Allow && r.enforced && !r.resource.contains(needle))
        .map(|r| r.resource)
        .collect()
}
