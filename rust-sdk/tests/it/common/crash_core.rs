//! A core file of a small crashing C program, for the core-dump tests of rust-sdk
//! (`tests/exec_api.rs`) and rhai-sdk (`tests/exec.rs`), which both include this file with
//! `#[path = ...] mod crash_core;`.
// The including test crates allow unwrap; rhai-sdk's clippy.toml also needs this for the
// gcc and gdb child processes.
#![allow(dead_code, clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::Path;

/// Builds a tiny C program that aborts three calls deep and a core of it (made by gdb's
/// `generate-core-file`, independent of the host's core_pattern). `None` when gcc, gdb or
/// ptrace is unavailable.
pub fn make_core(dir: &Path) -> Option<(String, String)> {
    let src = dir.join("t.c");
    std::fs::write(
        &src,
        "#include <stdlib.h>\nint counter = 41;\n\
static void crash(int depth) { int local_value = depth * 2 + 1; if (depth == 0) abort(); crash(depth - 1); (void)local_value; }\n\
int main(void) { counter++; crash(2); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("t");
    let core = dir.join("core");
    let cc = std::process::Command::new("gcc")
        .args(["-g", "-O0", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .ok()?;
    if !cc.success() {
        return None;
    }
    let gen_core = format!("generate-core-file {}", core.display());
    std::process::Command::new("/usr/bin/gdb")
        .args(["-nx", "-batch", "-ex", "run", "-ex", &gen_core])
        .arg(&exe)
        .output()
        .ok()?;
    core.exists().then(|| {
        (
            exe.to_str().unwrap().to_string(),
            core.to_str().unwrap().to_string(),
        )
    })
}
