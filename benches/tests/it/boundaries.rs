#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The crate boundaries of docs/ARCHITECTURE.md, checked mechanically over `cargo metadata`:
//! dependencies point down, and only rust-sdk may depend on crates that reach the OS.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Crates that give direct host access (files, processes, sockets, D-Bus, /proc).
const OS_CRATES: &[&str] = &[
    "nix",
    "rustix",
    "cap-std",
    "cap-fs-ext",
    "cap-tempfile",
    "procfs",
    "sysinfo",
    "ureq",
    "reqwest",
    "zbus",
    "libc",
    "tar",
    "goblin",
    "memmap2",
    "caps",
    "landlock",
    "walkdir",
];

const INTERNAL: &[&str] = &[
    "rex-auth",
    "rex-logging",
    "rex-metrics",
    "rex-core",
    "rust-sdk",
    "rhai-sdk",
    "rex-runner",
];

/// Normal (non-dev) dependencies of every workspace member, by package name.
fn normal_deps() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap().to_string();
        let deps = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        map.insert(name, deps);
    }
    map
}

fn internal_deps(deps: &BTreeSet<String>) -> BTreeSet<&str> {
    INTERNAL
        .iter()
        .copied()
        .filter(|c| deps.contains(*c))
        .collect()
}

fn os_deps(deps: &BTreeSet<String>) -> BTreeSet<&str> {
    OS_CRATES
        .iter()
        .copied()
        .filter(|c| deps.contains(*c))
        .collect()
}

#[test]
fn dependencies_point_down() {
    let all = normal_deps();
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("rex-auth", &[][..]),
        ("rex-logging", &[][..]),
        ("rex-metrics", &[][..]),
        ("rex-core", &["rex-auth"][..]),
        ("rust-sdk", &["rex-auth"][..]),
        ("rhai-sdk", &["rex-auth", "rex-core", "rust-sdk"][..]),
        (
            "rex-runner",
            &[
                "rex-auth",
                "rex-core",
                "rust-sdk",
                "rhai-sdk",
                "rex-logging",
                "rex-metrics",
            ][..],
        ),
    ]);
    for (krate, deps) in &all {
        let Some(ok) = allowed.get(krate.as_str()) else {
            continue;
        };
        for d in internal_deps(deps) {
            assert!(ok.contains(&d), "{krate} must not depend on {d}");
        }
    }
}

#[test]
fn only_rust_sdk_depends_on_os_crates() {
    for (krate, deps) in normal_deps() {
        if !INTERNAL.contains(&krate.as_str()) || krate == "rust-sdk" {
            continue;
        }
        let os = os_deps(&deps);
        assert!(
            os.is_empty(),
            "{krate} depends on host-access crates {os:?}"
        );
    }
}

#[test]
fn rust_sdk_and_rex_auth_do_not_depend_on_rhai() {
    let all = normal_deps();
    for krate in ["rust-sdk", "rex-auth"] {
        if let Some(deps) = all.get(krate) {
            assert!(!deps.contains("rhai"), "{krate} must not depend on rhai");
        }
    }
}

#[test]
fn boundary_crates_carry_disallowed_lists() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for krate in ["rex-auth", "rex-core", "rhai-sdk", "rex-runner"] {
        let manifest = format!("{root}/{krate}/Cargo.toml");
        if !std::path::Path::new(&manifest).exists() {
            continue;
        }
        let text = std::fs::read_to_string(format!("{root}/{krate}/clippy.toml"))
            .unwrap_or_else(|_| panic!("{krate}/clippy.toml is missing"));
        for needle in [
            "disallowed-methods",
            "disallowed-types",
            "std::fs::File",
            "std::process::Command",
        ] {
            assert!(text.contains(needle), "{krate}/clippy.toml lacks {needle}");
        }
    }
}

/// The repository is self-contained: code and docs cite `docs/compat.md`, never a reference
/// file outside the repository that a reader of the crates does not have.
#[test]
fn nothing_cites_a_path_outside_the_repository() {
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // Built by concatenation so that this file does not match itself.
    let outside = ["..", "/shared/"].concat();
    let reference = ["rex-", "compat.md"].concat();
    let mut stack = vec![root.clone()];
    let mut offenders = Vec::new();
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "__pycache__") {
                    stack.push(path);
                }
                continue;
            }
            let text_like = [
                "rs", "md", "toml", "cedar", "py", "yml", "yaml", "sh", "json",
            ]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
                || name == "run";
            if !text_like {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            seen += 1;
            if text.contains(&outside) || text.contains(&reference) {
                offenders.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(
        seen > 100,
        "walked only {seen} files under {}",
        root.display()
    );
    assert!(
        offenders.is_empty(),
        "these files cite a path outside the repository (cite docs/compat.md): {offenders:?}"
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `unsafe` is allowed in two modules only (the counting allocator, the unmount broker's
/// fork), and every `unsafe` block or impl there has a `// SAFETY:` comment right above it.
#[test]
fn unsafe_lives_in_two_modules_and_every_block_says_why() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let allowed = ["rex-core/src/memory.rs", "rust-sdk/src/runtime/broker.rs"];
    let mut files = Vec::new();
    for krate in INTERNAL {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    let mut allowing = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if text.contains("allow(unsafe_code)") {
            allowing.push(rel.clone());
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !(code.contains("unsafe {") || code.contains("unsafe impl")) {
                continue;
            }
            let above = &lines[i.saturating_sub(8)..=i];
            assert!(
                above.iter().any(|l| l.contains("SAFETY:")),
                "{rel}:{}: `unsafe` without a `// SAFETY:` comment",
                i + 1
            );
        }
    }
    allowing.sort();
    assert_eq!(allowing, allowed, "modules that allow unsafe code");
}
