//! An options value passed to a function without `build()` is checked like `build()` checks
//! it: an invalid field gives the same error, and nothing happens on the host.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests set up fixtures and observe effects on the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{allow_fs_under, engine, ok};
use rex_core::RexEngine;

/// A script giving `"<source>/<kind>: <message>"` of the error `call` raises, or "no error".
fn error_of(call: &str) -> String {
    format!(
        r#"let r = "no error"; try {{ {call}; }} catch (e) {{ r = e.source + "/" + e.kind + ": " + e.message; }} r"#
    )
}

/// Asserts that `use_unbuilt` (which passes `options` without `build()`) fails with exactly
/// the error of `options.build()`, and returns that error.
fn same_error(e: &RexEngine, prelude: &str, options: &str, use_unbuilt: &str) -> String {
    let built = ok(
        e,
        &format!("{prelude}\n{}", error_of(&format!("({options}).build()"))),
    );
    assert_ne!(built, "no error", "{options} builds");
    let unbuilt = ok(
        e,
        &format!("{prelude}\nlet o = {options};\n{}", error_of(use_unbuilt)),
    );
    assert_eq!(unbuilt, built, "{use_unbuilt} with {options}");
    built
}

struct Fixture {
    _t: tempfile::TempDir,
    dir: String,
    e: RexEngine,
    prelude: String,
}

fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_str().unwrap().to_string();
    fs::write(t.path().join("f.txt"), "one\ntwo\nthree\n").unwrap();
    fs::write(t.path().join("g.gz"), "").unwrap();
    fs::create_dir(t.path().join("d")).unwrap();
    std::os::unix::fs::symlink("f.txt", t.path().join("link")).unwrap();
    let e = engine(&allow_fs_under(&dir));
    let prelude = r#"
let dir = DirConfig().path("$D").build().open(OpenDirOptions().build());
let sub = DirConfig().path("$D/d").build().open(OpenDirOptions().build());
let ro = OpenFileOptions().read(true).build();
let rw = OpenFileOptions().read(true).write(true).build();
let f = dir.open_file("f.txt", rw);
let gz = dir.open_file("g.gz", rw);
let link = dir.open_symlink("link");
let seen = [];
"#
    .replace("$D", &dir);
    Fixture {
        _t: t,
        dir,
        e,
        prelude,
    }
}

#[test]
fn find_options() {
    let x = fixture();
    for options in [
        r#"FindOptions().name("*.txt").regex(".*")"#,
        r#"FindOptions().regex("(")"#,
        r#"FindOptions().min_depth(3).max_depth(1)"#,
    ] {
        let err = same_error(
            &x.e,
            &x.prelude,
            options,
            "dir.find(o, |e| seen.push(e.name))",
        );
        assert!(err.contains("ValidationError"), "{err}");
    }
    // The callback never ran (the walk did not start).
    assert_eq!(
        ok(
            &x.e,
            &format!(
                "{}\ntry {{ dir.find(FindOptions().name(\"*\").iname(\"*\"), |e| seen.push(e.name)); }} catch {{}}\nseen.len()",
                x.prelude
            )
        ),
        "0"
    );
}

#[test]
fn file_options() {
    let x = fixture();
    let p = &x.prelude;
    same_error(&x.e, p, "ReadPageOptions()", "f.read_page(o)");
    same_error(&x.e, p, "ReadPageOptions().num_lines(0)", "f.read_page(o)");
    same_error(
        &x.e,
        p,
        r#"SearchGzipOptions().exclude_pattern("(")"#,
        r#"gz.search_gzip("x", o)"#,
    );
    same_error(
        &x.e,
        p,
        r#"SearchGzipOptions().exclude_pattern("[")"#,
        r#"gz.search_gzip_exists("x", o)"#,
    );
    same_error(
        &x.e,
        p,
        "CompressGzipOptions().level(0)",
        "f.compress_gzip(gz, o)",
    );
    same_error(&x.e, p, "TruncateOptions()", "f.truncate(o)");
    same_error(&x.e, p, "TruncateOptions().size(-1)", "f.truncate(o)");
    same_error(&x.e, p, "FallocateOptions()", "f.fallocate(o)");
    same_error(&x.e, p, "FallocateOptions().length(0)", "f.fallocate(o)");
    same_error(&x.e, p, "SetXAttrOptions()", "f.set_extended_attr(o)");
    same_error(
        &x.e,
        p,
        r#"SetXAttrOptions().name("security.selinux").selinux_type("a:b")"#,
        "f.set_extended_attr(o)",
    );
    same_error(
        &x.e,
        p,
        "DiskUsageOptions().summarize(true).all_files(true)",
        "f.disk_usage(o)",
    );
    // Nothing was written: the file and the gzip target are as they were.
    let t = std::path::Path::new(&x.dir);
    assert_eq!(
        fs::read_to_string(t.join("f.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    assert_eq!(fs::metadata(t.join("f.txt")).unwrap().len(), 14);
    assert_eq!(fs::metadata(t.join("g.gz")).unwrap().len(), 0);
}

#[test]
fn ownership_and_mode_options() {
    let x = fixture();
    let p = &x.prelude;
    let t = std::path::Path::new(&x.dir);
    let before = fs::metadata(t.join("d")).unwrap();
    for options in ["ChmodDirOptions()", "ChmodDirOptions().permissions(0o4777)"] {
        same_error(&x.e, p, options, "sub.chmod(o)");
    }
    let err = same_error(
        &x.e,
        p,
        "ChmodDirOptions().permissions(0o4777)",
        "sub.chmod(o)",
    );
    assert!(err.contains("InvalidFileMode"), "{err}");
    for options in [
        "SetOwnershipOptions()",
        r#"SetOwnershipOptions().user("a:b")"#,
        r#"SetOwnershipOptions().group("")"#,
    ] {
        for call in [
            "sub.set_ownership(o)",
            "f.set_ownership(o)",
            "link.set_ownership(o)",
        ] {
            same_error(&x.e, p, options, call);
        }
    }
    same_error(
        &x.e,
        p,
        "DiskUsageOptions().summarize(true).all_files(true)",
        "dir.disk_usage(o)",
    );
    let after = fs::metadata(t.join("d")).unwrap();
    assert_eq!(after.permissions().mode(), before.permissions().mode());
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
}

#[test]
fn dir_config_unmount_resolve_and_namespaces() {
    let e = engine("");
    let err = same_error(&e, "", "DirConfig()", "o.open(OpenDirOptions().build())");
    assert!(err.contains("ValidationError"), "{err}");
    same_error(&e, "", r#"UnmountOptions()"#, "unmount(o)");
    same_error(
        &e,
        "",
        r#"UnmountOptions().path("relative/mnt")"#,
        "unmount(o)",
    );
    same_error(
        &e,
        "",
        "ResolveOptions()",
        "SystemInfo().resolve_hostname(o)",
    );
    same_error(
        &e,
        "",
        "ChildNamespaceOptions()",
        "ExecuteOptions().namespace(o)",
    );
    same_error(
        &e,
        "",
        "MonitorProcessesCpuOptions().batches(0)",
        "ProcessManager().monitor_processes_cpu(o)",
    );
    same_error(&e, "", "KillOptions()", "ProcessManager().kill(o)");
    same_error(
        &e,
        "",
        "KillOptions().pid(1).process_name(\"x\")",
        "ProcessManager().kill(o)",
    );
    same_error(
        &e,
        "",
        "NamespaceOptions().pid(1)",
        "ProcessManager().nsenter(o, || 1)",
    );
}

#[test]
fn execute_options() {
    // The SDK validates ExecuteOptions itself, before the execute check.
    let e = engine(
        r#"permit(principal, action == file_system::Action::"open", resource in file_system::Dir::"/usr/bin");"#,
    );
    let prelude = r#"let t = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build()).open_file("true", OpenFileOptions().read(true).build());"#;
    same_error(
        &e,
        prelude,
        r#"ExecuteOptions().env(#{"A=B": "x"})"#,
        "t.execute(o)",
    );
}
