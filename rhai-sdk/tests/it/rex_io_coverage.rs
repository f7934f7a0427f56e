//! REX's file-system script API (compat notes §2.2, totals §2.9) called with REX's names and
//! argument shapes on real files: every shell-style command overload and flag, every handle
//! method registration, every option builder with each setter and its `build()` validation,
//! every value getter and constant. Nothing may fail with "Function not found" or a missing
//! property, and where REX specifies a result shape it is checked.
//!
//! The gated additions also have allowed (real effect) and denied (nothing changed) cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests build fixtures and observe effects on the host directly, outside the SDK.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{assert_denied, engine, missing_api, run};
use rex_core::RexEngine;
use serde_json::Value;

struct Fx {
    _t: tempfile::TempDir,
    d: String,
}

impl Fx {
    fn p(&self, name: &str) -> std::path::PathBuf {
        Path::new(&self.d).join(name)
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn fixture() -> Fx {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_str().unwrap().to_string();
    let p = |n: &str| t.path().join(n);
    fs::write(p("f.txt"), "alpha\nbeta\ngamma error\ndelta\n").unwrap();
    fs::write(p("csv.txt"), "a,1\nb,2\na,3\n").unwrap();
    fs::write(p(".hidden"), "h").unwrap();
    fs::create_dir(p("sub")).unwrap();
    fs::write(p("sub/inner.txt"), "inner\n").unwrap();
    fs::create_dir(p("big")).unwrap();
    fs::write(p("big/blob"), vec![7u8; 50_000]).unwrap();
    std::os::unix::fs::symlink("f.txt", p("ln")).unwrap();
    fs::write(p("data.gz"), gz(b"one\ntwo error\nthree\nfour error\n")).unwrap();
    fs::write(p("bin.dat"), b"\x00\x01printable\x02ab\x03more text\x00").unwrap();
    fs::write(p("empty"), "").unwrap();
    fs::copy("/bin/true", p("true")).unwrap();
    fs::set_permissions(p("true"), fs::Permissions::from_mode(0o755)).unwrap();
    // A gzip'd tar with one file.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "x.txt", &b"abc"[..]).unwrap();
    fs::write(p("a.tar.gz"), gz(&b.into_inner().unwrap())).unwrap();
    fs::create_dir(p("out")).unwrap();
    Fx { _t: t, d }
}

/// Everything under the fixture (the brief's policy: `in` the tmp dir, `open` on it).
fn full_policy(d: &str) -> String {
    format!(
        r#"permit(principal, action, resource in file_system::Dir::"{d}");
permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{d}");"#
    )
}

const PRELUDE: &str = r#"
let dir = DirConfig().path("$D").build().open(OpenDirOptions().build());
let ro = OpenFileOptions().read(true).build();
let rw = OpenFileOptions().read(true).write(true).build();
"#;

fn script(d: &str, body: &str) -> String {
    format!("{PRELUDE}{body}").replace("$D", d)
}

/// Runs `body` (after the prelude); it must succeed. Returns the value as JSON.
fn value(e: &RexEngine, d: &str, body: &str) -> Value {
    let s = script(d, body);
    let out = run(e, &s);
    if let Some(err) = &out.error {
        let msg = format!("{err}");
        if let Some(m) = missing_api(&msg) {
            panic!("missing REX API ({m}) in `{body}`: {msg}");
        }
        panic!("`{body}` failed: {msg}");
    }
    out.value
}

/// Runs `body`; it may fail, but never for a missing name. Returns the error text, if any.
fn exists(e: &RexEngine, d: &str, body: &str) -> Option<String> {
    let out = run(e, &script(d, body));
    out.error.map(|err| {
        let msg = format!("{err}");
        assert!(
            missing_api(&msg).is_none(),
            "missing REX API in `{body}`: {msg}"
        );
        msg
    })
}

/// `body` raises a script error; returns `source/kind`.
fn caught(e: &RexEngine, d: &str, body: &str) -> String {
    let v = value(
        e,
        d,
        &format!(
            r#"let r = "no error"; try {{ {body}; }} catch (err) {{ r = err.source + "/" + err.kind; }} r"#
        ),
    );
    v.as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// §2.2.1 shell-style commands: 22 names, 36 overloads

/// (name, call). Each call is REX's shape; flagged overloads use a real flag.
const COMMANDS: &[(&str, &str)] = &[
    ("cat", r#"cat("$D/f.txt")"#),
    ("cat", r#"cat([cat::number], "$D/f.txt")"#),
    ("ls", r#"ls("$D")"#),
    ("ls", r#"ls([ls::all], "$D")"#),
    ("grep", r#"grep("error", "$D/f.txt")"#),
    ("grep", r#"grep([grep::count], "a", "$D/f.txt")"#),
    ("tail", r#"tail("$D/f.txt")"#),
    ("tail", r#"tail([tail::n(2)], "$D/f.txt")"#),
    ("sed", r#"sed("alpha", "ALPHA", "$D/f.txt")"#),
    ("sed", r#"sed([sed::all], "a", "A", "$D/f.txt")"#),
    ("rm", r#"write("$D/rm1", "x"); rm("$D/rm1")"#),
    (
        "rm",
        r#"mkdir([mkdir::parents], "$D/rmd/x"); rm([rm::recursive], "$D/rmd")"#,
    ),
    ("seq", r#"seq(1, 3)"#),
    ("seq", r#"seq([seq::step(2)], 1, 5)"#),
    ("find_files", r#"find_files("*.txt", "$D")"#),
    (
        "find_files",
        r#"find_files([glob::recursive], "*.txt", "$D")"#,
    ),
    ("awk_split", r#"awk_split("a b  c", " ")"#),
    ("awk_field", r#"awk_field(1, ",", "$D/csv.txt")"#),
    ("awk_filter", r#"awk_filter("a", "$D/csv.txt")"#),
    (
        "awk_filter_field",
        r#"awk_filter_field(1, ",", "a", "$D/csv.txt")"#,
    ),
    ("awk_sum", r#"awk_sum(2, ",", "$D/csv.txt")"#),
    (
        "awk_count_unique",
        r#"awk_count_unique(1, ",", "$D/csv.txt")"#,
    ),
    ("awk_filter_range", r#"awk_filter_range(2, 3, "$D/f.txt")"#),
    ("wc", r#"wc("$D/f.txt")"#),
    ("wc", r#"wc([wc::lines], "$D/f.txt")"#),
    ("cp", r#"cp("$D/f.txt", "$D/cp1")"#),
    ("cp", r#"cp([cp::force], "$D/f.txt", "$D/cp2")"#),
    ("mv", r#"write("$D/mv0", "m"); mv("$D/mv0", "$D/mv1")"#),
    (
        "mv",
        r#"write("$D/mv2", "m"); mv([mv::verbose], "$D/mv2", "$D/mv3")"#,
    ),
    ("mkdir", r#"mkdir("$D/mk1")"#),
    ("mkdir", r#"mkdir([mkdir::parents], "$D/mk2/a/b")"#),
    ("du", r#"du("$D")"#),
    ("du", r#"du([du::summarize], "$D")"#),
    ("touch", r#"touch("$D/t1")"#),
    ("write", r#"write("$D/w1", "x")"#),
    ("write", r#"write([write::replace], "$D/w2", "y")"#),
];

#[test]
fn every_command_overload_runs() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let names: BTreeSet<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 22, "REX has 22 command names");
    assert_eq!(COMMANDS.len(), 36, "REX has 36 command overloads");
    for (_, call) in COMMANDS {
        value(&e, &fx.d, call);
    }
}

#[test]
fn command_result_shapes() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let d = &fx.d;
    // cat -n: right-aligned 6-wide number, then a tab.
    let v = value(&e, d, r#"cat([cat::n], "$D/f.txt")"#);
    assert!(
        v.as_str()
            .unwrap()
            .starts_with("     1\talpha\n     2\tbeta")
    );
    // ls: Map name -> DirEntry (with `name` property, `type()`), hidden dropped unless all.
    let v = value(
        &e,
        d,
        r#"let m = ls("$D"); [m.contains(".hidden"), m["f.txt"].name, m["sub"].type() == EntryType::DIR, m["f.txt"].inode > 0]"#,
    );
    assert_eq!(v, serde_json::json!([false, "f.txt", true, true]));
    let v = value(&e, d, r#"ls([ls::a], "$D").contains(".hidden")"#);
    assert_eq!(v, Value::Bool(true));
    // grep count returns ["<n>"].
    assert_eq!(
        value(&e, d, r#"grep([grep::c], "a", "$D/f.txt")"#),
        serde_json::json!(["4"])
    );
    assert_eq!(
        value(&e, d, r#"grep([grep::m(1)], "a", "$D/f.txt")"#),
        serde_json::json!(["alpha"])
    );
    // wc: only the requested keys.
    assert_eq!(
        value(&e, d, r#"wc([wc::l, wc::c], "$D/f.txt")"#),
        serde_json::json!({"lines": 4, "bytes": 29})
    );
    // du: {entries:[{path,size_bytes,inode_count}], total_size_bytes, total_inode_count}.
    let v = value(&e, d, r#"du([du::s], "$D")"#);
    assert!(v["total_size_bytes"].as_i64().unwrap() > 0);
    assert!(v["total_inode_count"].as_i64().unwrap() > 5);
    let first = &v["entries"][0];
    for k in ["path", "size_bytes", "inode_count"] {
        assert!(first.get(k).is_some(), "du entry lacks {k}: {first}");
    }
    assert_eq!(
        value(&e, d, "seq([seq::step(2)], 1, 6)"),
        serde_json::json!([1, 3, 5])
    );
    assert_eq!(
        value(&e, d, r#"awk_sum(2, ",", "$D/csv.txt")"#),
        serde_json::json!(6.0)
    );
}

/// Every flag value, alias and flag function of the 14 flag modules.
const FLAGS: &[(&str, &str)] = &[
    ("cat", "cat::number, cat::n"),
    (
        "ls",
        "ls::all, ls::a, ls::long, ls::l, ls::recursive, ls::R",
    ),
    (
        "grep",
        "grep::ignore_case, grep::i, grep::count, grep::c, grep::invert, grep::v, grep::line_number, grep::n, grep::max_count(2), grep::m(2)",
    ),
    ("tail", "tail::n(5), tail::from(2), tail::range(1, 2)"),
    ("sed", "sed::regex, sed::all, sed::g, sed::in_place, sed::i"),
    ("rm", "rm::force, rm::f, rm::recursive, rm::r"),
    ("seq", "seq::step(3)"),
    ("glob", "glob::recursive, glob::r"),
    ("cp", "cp::force, cp::f, cp::preserve, cp::p"),
    ("mv", "mv::backup, mv::b, mv::verbose, mv::v"),
    ("mkdir", "mkdir::parents, mkdir::p"),
    ("wc", "wc::lines, wc::l, wc::words, wc::w, wc::bytes, wc::c"),
    (
        "du",
        "du::summarize, du::s, du::all_files, du::a, du::apparent_size, du::max_depth(1), du::d(1)",
    ),
    ("write", "write::append, write::a, write::replace, write::r"),
];

#[test]
fn every_flag_exists_and_wrong_flags_are_named() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    assert_eq!(FLAGS.len(), 14);
    for (module, flags) in FLAGS {
        let v = value(&e, &fx.d, &format!("[{flags}].len()"));
        assert_eq!(
            v.as_i64().unwrap() as usize,
            flags.split("::").count() - 1,
            "{module}"
        );
    }
    // A flag of another command: an InvalidArguments error naming the expected flag type.
    let out = run(
        &e,
        &script(
            &fx.d,
            r#"let r = ""; try { cat([ls::all], "$D/f.txt"); } catch (err) { r = err.kind + ": " + err.message; } r"#,
        ),
    );
    assert!(out.output.starts_with("InvalidArguments"), "{}", out.output);
    assert!(out.output.contains("cat"), "{}", out.output);
    // The sed in-place flag and tail::n really act.
    value(
        &e,
        &fx.d,
        r#"sed([sed::i, sed::g], "a", "A", "$D/csv.txt")"#,
    );
    assert_eq!(
        fs::read_to_string(fx.p("csv.txt")).unwrap(),
        "A,1\nb,2\nA,3\n"
    );
    assert_eq!(
        value(&e, &fx.d, r#"tail([tail::n(2)], "$D/f.txt")"#),
        serde_json::json!(["gamma error", "delta"])
    );
}

// ---------------------------------------------------------------------------------------------
// §2.2.2 handle functions: 43 distinct names, 55 registrations

/// (name, receiver, call). `exists_only` calls need a tool or fixture this host may lack, and
/// only prove that the binding exists with REX's shape.
struct HandleCall {
    name: &'static str,
    receiver: &'static str,
    call: &'static str,
    exists_only: bool,
}

const fn hc(name: &'static str, receiver: &'static str, call: &'static str) -> HandleCall {
    HandleCall {
        name,
        receiver,
        call,
        exists_only: false,
    }
}

const fn hx(name: &'static str, receiver: &'static str, call: &'static str) -> HandleCall {
    HandleCall {
        name,
        receiver,
        call,
        exists_only: true,
    }
}

const HANDLE_CALLS: &[HandleCall] = &[
    hc(
        "open",
        "DirConfig",
        r#"DirConfig().path("$D").build().open(OpenDirOptions().follow_symlinks(true).build())"#,
    ),
    hc("open_file", "DirHandle", r#"dir.open_file("f.txt", ro)"#),
    hc("list_entries", "DirHandle", r#"dir.list_entries()"#),
    hc(
        "find",
        "DirHandle",
        r#"let n = []; dir.find(FindOptions().name("*.txt").build(), |e| n.push(e.name)); n"#,
    ),
    hc(
        "delete",
        "DirHandle",
        r#"let x = DirConfig().path("$D/deld").build().open(OpenDirOptions().create(true).build()); x.delete(DeleteDirOptions().recursive(true).force(true).build())"#,
    ),
    hc("metadata", "DirHandle", r#"dir.metadata()"#),
    hc(
        "read_link_target",
        "DirHandle",
        r#"dir.read_link_target("ln")"#,
    ),
    hc("get_ownership", "DirHandle", r#"dir.get_ownership()"#),
    hc(
        "chmod",
        "DirHandle",
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.chmod(ChmodDirOptions().permissions(0o755).recursive(true).build())"#,
    ),
    hc(
        "create_symlink",
        "DirHandle",
        r#"dir.create_symlink("f.txt", "ln2", CreateSymlinkOptions().force(true).build())"#,
    ),
    hc(
        "disk_usage",
        "DirHandle",
        r#"dir.disk_usage(DiskUsageOptions().track_largest_subdir(true).build())"#,
    ),
    hc(
        "set_ownership",
        "DirHandle",
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.set_ownership(SetOwnershipOptions().user("root").group("root").recursive(true).build())"#,
    ),
    hc(
        "move",
        "DirHandle",
        r#"let s = DirConfig().path("$D/mvsrc").build().open(OpenDirOptions().create(true).build()); s.move(dir, "mvdst", MoveOptions().build())"#,
    ),
    hc("open_symlink", "DirHandle", r#"dir.open_symlink("ln")"#),
    hc("read", "FileHandle", r#"dir.open_file("f.txt", ro).read()"#),
    hc(
        "read_lines",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).read_lines(ReadLinesOptions().start(2).count(2).build())"#,
    ),
    hc(
        "read_page",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).read_page(ReadPageOptions().num_lines(2).build())"#,
    ),
    hc(
        "write",
        "FileHandle",
        r#"dir.open_file("w.txt", OpenFileOptions().create(true).build()).write("a")"#,
    ),
    hc(
        "write",
        "FileHandle",
        r#"dir.open_file("w2.txt", OpenFileOptions().create(true).build()).write("a", WriteOptions().preserve_ownership(true).build())"#,
    ),
    hc(
        "write_in_place",
        "FileHandle",
        r#"dir.open_file("w3.txt", OpenFileOptions().create(true).read(true).build()).write_in_place("b")"#,
    ),
    hc(
        "copy",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).copy(dir.open_file("cp.txt", OpenFileOptions().create(true).build()), CopyFileOptions().force(true).preserve(true).build())"#,
    ),
    hc(
        "move",
        "FileHandle",
        r#"dir.open_file("mvf", OpenFileOptions().create(true).build()).move(dir, "mvf2", MoveOptions().backup(true).verbose(true).build())"#,
    ),
    hc(
        "delete",
        "FileHandle",
        r#"dir.open_file("delf", OpenFileOptions().create(true).build()).delete(DeleteFileOptions().force(true).build())"#,
    ),
    hc(
        "metadata",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).metadata()"#,
    ),
    hc(
        "search",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).search("err")"#,
    ),
    hc(
        "counts",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).counts()"#,
    ),
    hc(
        "extract_strings",
        "FileHandle",
        r#"dir.open_file("bin.dat", ro).extract_strings()"#,
    ),
    hc(
        "compress_gzip",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).compress_gzip(dir.open_file("f.gz", OpenFileOptions().create(true).build()), CompressGzipOptions().level(9).build())"#,
    ),
    hc(
        "read_gzip_lines",
        "FileHandle",
        r#"dir.open_file("data.gz", ro).read_gzip_lines(ReadLinesOptions().count(2).build())"#,
    ),
    hc(
        "gzip_info",
        "FileHandle",
        r#"dir.open_file("data.gz", ro).gzip_info()"#,
    ),
    hc(
        "search_gzip",
        "FileHandle",
        r#"dir.open_file("data.gz", ro).search_gzip("error", SearchGzipOptions().build())"#,
    ),
    hc(
        "search_gzip_exists",
        "FileHandle",
        r#"dir.open_file("data.gz", ro).search_gzip_exists("error", SearchGzipOptions().build())"#,
    ),
    hx(
        "verify_cert",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).verify_cert(dir.open_file("csv.txt", ro))"#,
    ),
    hx(
        "verify_cert_chain",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).verify_cert_chain(dir.open_file("csv.txt", ro), [dir.open_file("empty", ro)])"#,
    ),
    hc(
        "chmod",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).chmod(0o644)"#,
    ),
    hc(
        "get_ownership",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).get_ownership()"#,
    ),
    hc(
        "get_last_modified_time",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).get_last_modified_time()"#,
    ),
    hc(
        "disk_usage",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).disk_usage(DiskUsageOptions().build())"#,
    ),
    hc(
        "set_ownership",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).set_ownership(SetOwnershipOptions().user("root").build())"#,
    ),
    hc(
        "truncate",
        "FileHandle",
        r#"dir.open_file("tr", OpenFileOptions().create(true).build()).truncate(TruncateOptions().size(1).format(SizeUnit::KIBIBYTES).build())"#,
    ),
    hc(
        "fallocate",
        "FileHandle",
        r#"dir.open_file("fa", OpenFileOptions().create(true).build()).fallocate(FallocateOptions().length(4).format(SizeUnit::KILOBYTES).build())"#,
    ),
    hc(
        "set_extended_attr",
        "FileHandle",
        r#"dir.open_file("f.txt", ro).set_extended_attr(SetXAttrOptions().name("security.selinux").selinux_user("system_u").selinux_role("object_r").selinux_type("tmp_t").selinux_level("s0").build())"#,
    ),
    hc(
        "extract_archive",
        "FileHandle",
        r#"dir.open_file("a.tar.gz", ro).extract_archive(DirConfig().path("$D/out").build().open(OpenDirOptions().build()), ExtractArchiveOptions().build())"#,
    ),
    hc(
        "elf_info",
        "FileHandle",
        r#"dir.open_file("true", ro).elf_info()"#,
    ),
    hc(
        "execute",
        "FileHandle",
        r#"dir.open_file("true", ro).execute(ExecuteOptions().build())"#,
    ),
    hc(
        "metadata",
        "SymlinkHandle",
        r#"dir.open_symlink("ln").metadata()"#,
    ),
    hc(
        "set_ownership",
        "SymlinkHandle",
        r#"dir.open_symlink("ln").set_ownership(SetOwnershipOptions().group("root").build())"#,
    ),
    hc(
        "open_as_file",
        "DirEntry",
        r#"dir.list_entries()["f.txt"].open_as_file(ro).read()"#,
    ),
    hc(
        "open_as_dir",
        "DirEntry",
        r#"dir.list_entries()["sub"].open_as_dir(OpenDirOptions().build()).list_entries()"#,
    ),
    hc(
        "metadata",
        "DirEntry",
        r#"dir.list_entries()["sub"].metadata()"#,
    ),
    hc(
        "replace_text",
        "free",
        r#"replace_text("a-a", "a", "b", ReplacementOptions().replace_all(true).build())"#,
    ),
    hx("CoreDump", "free", r#"CoreDump("$D/true", "$D/empty")"#),
    hx(
        "backtrace",
        "CoreDump",
        r#"CoreDump("$D/true", "$D/empty").backtrace()"#,
    ),
    hx(
        "get_variables",
        "CoreDump",
        r#"CoreDump("$D/true", "$D/empty").get_variables(0, ["x"])"#,
    ),
    hx(
        "get_variables",
        "CoreDump",
        r#"CoreDump("$D/true", "$D/empty").get_variables(1, 0, ["x"])"#,
    ),
];

#[test]
fn every_handle_registration_runs() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let names: BTreeSet<&str> = HANDLE_CALLS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 43, "REX has 43 handle function names");
    assert_eq!(HANDLE_CALLS.len(), 55, "REX has 55 handle registrations");
    for c in HANDLE_CALLS {
        if c.exists_only {
            exists(&e, &fx.d, c.call);
        } else {
            value(&e, &fx.d, c.call);
        }
    }
    // The exists-only methods of CoreDump are registered with REX's arity.
    let sigs = e.function_signatures(false).join("\n");
    for sig in [
        "backtrace(d: &mut CoreDump)",
        "get_variables(d: &mut CoreDump, frame: i64, names: Array)",
    ] {
        let name = sig.split('(').next().unwrap();
        assert!(sigs.contains(&format!("{name}(")), "{sig} not registered");
    }
    // Every receiver of §2.2.2 is covered.
    let receivers: BTreeSet<&str> = HANDLE_CALLS.iter().map(|c| c.receiver).collect();
    for r in [
        "DirConfig",
        "DirHandle",
        "FileHandle",
        "SymlinkHandle",
        "DirEntry",
        "CoreDump",
        "free",
    ] {
        assert!(receivers.contains(r), "{r}");
    }
}

#[test]
fn handle_result_shapes() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let d = &fx.d;
    let v = value(
        &e,
        d,
        r#"let m = dir.open_file("f.txt", ro).metadata();
[m.type(), m.file_size(), m.last_modified_time() > 0, m.last_modified_time_nanos_component() >= 0,
 m.num_hardlinks(), m.blocks() >= 0, m.allocated_size() >= 0, m.permissions() > 0,
 m.symlink_target(), m.owner.user != "", m.owner.group != "", m.to_map().file_size]"#,
    );
    assert_eq!(
        v,
        serde_json::json!([
            "FILE", 29, true, true, 1, true, true, true, null, true, true, 29
        ])
    );
    let v = value(
        &e,
        d,
        r#"let h = dir.open_symlink("ln"); let m = h.metadata(); [m.type(), m.symlink_target(), m.type() == EntryType::SYMLINK, h.symlink_target()]"#,
    );
    assert_eq!(v, serde_json::json!(["SYMLINK", "f.txt", true, "f.txt"]));
    let v = value(
        &e,
        d,
        r#"let e = dir.list_entries()["f.txt"]; let m = e.to_map(); [e.name, e.inode == m.inode, e.type(), m.name, m.type]"#,
    );
    assert_eq!(
        v,
        serde_json::json!(["f.txt", true, "FILE", "f.txt", "FILE"])
    );
    let v = value(
        &e,
        d,
        r#"let c = dir.open_file("f.txt", ro).counts(); [c.line_count, c.word_count, c.byte_count, c.to_map().line_count]"#,
    );
    assert_eq!(v, serde_json::json!([4, 5, 29, 4]));
    let v = value(
        &e,
        d,
        r#"let m = dir.open_file("f.txt", ro).search("err"); [m.len(), m[0].line_number, m[0].line_content]"#,
    );
    assert_eq!(v, serde_json::json!([1, 3, "gamma error"]));
    let v = value(
        &e,
        d,
        r#"let o = dir.get_ownership(); [o.user != "", o.group != "", o.to_map().keys()]"#,
    );
    assert_eq!(v[2], serde_json::json!(["group", "user"]));
    let v = value(
        &e,
        d,
        r#"let g = dir.open_file("data.gz", ro).gzip_info();
[g.compressed_size_bytes > 0, g.uncompressed_size_bytes, g.compression_ratio > 0.0, g.to_map().uncompressed_size_bytes]"#,
    );
    assert_eq!(v, serde_json::json!([true, 31, true, 31]));
    let v = value(
        &e,
        d,
        r#"let r = dir.disk_usage(DiskUsageOptions().track_largest_subdir(true).apparent_size(true).build());
let e0 = r.entries[0];
[r.largest_subdir_handle.to_string(), e0.path != "", e0.size_bytes >= 0, e0.inode_count >= 1, type_of(r.to_map())]"#,
    );
    assert_eq!(v[0], Value::String(format!("{d}/big")));
    assert_eq!(v[4], Value::String("map".into()));
    let v = value(
        &e,
        d,
        r#"let u = dir.open_file("f.txt", ro).disk_usage(DiskUsageOptions().apparent_size(true).build()); [u.path, u.size_bytes, u.inode_count, u.to_map().size_bytes]"#,
    );
    assert_eq!(v, serde_json::json!([format!("{d}/f.txt"), 29, 1, 29]));
    let v = value(
        &e,
        d,
        r#"let t = dir.open_file("f.txt", ro).get_last_modified_time(); let m = dir.open_file("f.txt", ro).metadata();
t == m.last_modified_time() * 1000000000 + m.last_modified_time_nanos_component()"#,
    );
    assert_eq!(v, Value::Bool(true));
    let v = value(&e, d, r#"dir.open_file("bin.dat", ro).extract_strings()"#);
    assert_eq!(v, serde_json::json!(["printable", "more text"]));
    let v = value(
        &e,
        d,
        r#"let f = dir.open_file("f.txt", ro); let o = ReadPageOptions().num_lines(3).build(); [f.read_page(o), f.read_page(o), f.read_page(o)]"#,
    );
    assert_eq!(
        v,
        serde_json::json!([["alpha", "beta", "gamma error"], ["delta"], []])
    );
    let v = value(
        &e,
        d,
        r#"let f = dir.open_file("data.gz", ro);
[f.read_gzip_lines(ReadLinesOptions().count(-1).build()),
 f.search_gzip("ERROR", SearchGzipOptions().case_insensitive(true).max_results(-1).build()),
 f.search_gzip("error", SearchGzipOptions().exclude_pattern("four").build()).len(),
 f.search_gzip_exists("nothing", SearchGzipOptions().build())]"#,
    );
    assert_eq!(
        v,
        serde_json::json!([["four error"], [{"line_number": 4, "line_content": "four error"}], 1, false])
    );
    let v = value(
        &e,
        d,
        r#"[replace_text("a-a", "a", "b", ReplacementOptions().build()),
 replace_text("a1-a2", "a(\\d)", "$1", ReplacementOptions().is_regex(true).replace_all(true).build())]"#,
    );
    assert_eq!(v, serde_json::json!(["b-a", "1-2"]));
    let v = value(
        &e,
        d,
        r#"let n = []; dir.find(FindOptions().iname("*.TXT").max_depth(1).build(), |e| n.push(e.name)); n.sort(); n"#,
    );
    assert_eq!(v, serde_json::json!(["csv.txt", "f.txt"]));
    let v = value(
        &e,
        d,
        r#"let n = []; dir.find(FindOptions().name("b*").size_range(SizeRange::min_only(10, SizeUnit::KILOBYTES)).build(), |e| n.push(e.name)); n"#,
    );
    assert_eq!(v, serde_json::json!(["blob"]));
    let v = value(
        &e,
        d,
        r#"let n = []; dir.find(FindOptions().regex(".*/sub/.*").min_depth(2).build(), |e| n.push(e.open_as_file(ro).read())); n"#,
    );
    assert_eq!(v, serde_json::json!(["inner\n"]));
}

// ---------------------------------------------------------------------------------------------
// Option builders (24) with every setter, and `.build()` validation

const BUILDERS: &[(&str, &str)] = &[
    ("DirConfig", r#"DirConfig().path("$D").build()"#),
    (
        "OpenDirOptions",
        "OpenDirOptions().create(false).recursive(false).follow_symlinks(true).build()",
    ),
    (
        "OpenFileOptions",
        "OpenFileOptions().read(true).write(true).create(true).permissions(0o600).follow_symlinks(false).build()",
    ),
    (
        "DeleteDirOptions",
        "DeleteDirOptions().force(true).recursive(true).build()",
    ),
    (
        "DeleteFileOptions",
        "DeleteFileOptions().force(true).build()",
    ),
    (
        "ReadLinesOptions",
        "ReadLinesOptions().count(-3).start(1).build()",
    ),
    ("ReadPageOptions", "ReadPageOptions().num_lines(10).build()"),
    (
        "CopyFileOptions",
        "CopyFileOptions().force(true).preserve(true).build()",
    ),
    (
        "WriteOptions",
        "WriteOptions().preserve_ownership(false).build()",
    ),
    (
        "ReplacementOptions",
        "ReplacementOptions().is_regex(true).replace_all(true).build()",
    ),
    (
        "MoveOptions",
        "MoveOptions().backup(true).verbose(true).build()",
    ),
    (
        "FindOptions",
        r#"FindOptions().name("*.log").negate_name(true).size_range(SizeRange::between(1, 2, SizeUnit::MEBIBYTES)).min_depth(1).max_depth(3)
            .min_creation_time(from_epoch_seconds(0)).max_creation_time(now()).min_modification_time(from_epoch_seconds(0)).max_modification_time(now())
            .follow_symlinks(true).build(); FindOptions().iname("x").build(); FindOptions().regex("a.*").build()"#,
    ),
    (
        "SearchGzipOptions",
        r#"SearchGzipOptions().exclude_pattern("x").case_insensitive(true).max_results(-5).build()"#,
    ),
    (
        "CompressGzipOptions",
        "CompressGzipOptions().level(1).build()",
    ),
    (
        "ChmodDirOptions",
        "ChmodDirOptions().permissions(0o700).recursive(true).build()",
    ),
    (
        "SetOwnershipOptions",
        r#"SetOwnershipOptions().user("root").group("root").recursive(true).build()"#,
    ),
    (
        "ExtractArchiveOptions",
        "ExtractArchiveOptions().preserve_permissions(false).preserve_ownership(true).preserve_timestamps(false).build()",
    ),
    (
        "DiskUsageOptions",
        "DiskUsageOptions().summarize(false).all_files(true).one_file_system(true).count_hard_links(true).apparent_size(true).max_depth(2).track_largest_subdir(true).build()",
    ),
    (
        "CreateSymlinkOptions",
        "CreateSymlinkOptions().force(true).build()",
    ),
    (
        "TruncateOptions",
        "TruncateOptions().size(0).format(SizeUnit::GIGABYTES).build()",
    ),
    (
        "FallocateOptions",
        "FallocateOptions().length(1).format(SizeUnit::MEGABYTES).build()",
    ),
    (
        "ChildNamespaceOptions",
        "ChildNamespaceOptions().target_process(1).build()",
    ),
    (
        "ExecuteOptions",
        r#"ExecuteOptions().args(["-a", ["--k", "v"]]).env(#{"A": "1"}).user("root").group("root").build()"#,
    ),
    (
        "SetXAttrOptions",
        r#"SetXAttrOptions().name("security.selinux").selinux_type("t").selinux_user("u").selinux_role("r").selinux_level("s0").build()"#,
    ),
];

#[test]
fn every_builder_and_setter() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    assert_eq!(BUILDERS.len(), 24, "REX has 24 option builders");
    for (_, b) in BUILDERS {
        value(&e, &fx.d, b);
    }
    // The capabilities setter exists (Rex refuses child capabilities at build time).
    value(
        &e,
        &fx.d,
        r#"ExecuteOptions().capabilities(["CAP_CHOWN"]).namespace(ChildNamespaceOptions().target_process(1).build()); true"#,
    );
}

#[test]
fn builders_validate_on_build() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let d = &fx.d;
    for bad in [
        r#"FindOptions().name("a").iname("b").build()"#,
        r#"FindOptions().name("a").regex("b").build()"#,
        r#"FindOptions().regex("(").build()"#,
        "FindOptions().min_depth(3).max_depth(1).build()",
        "FindOptions().max_depth(-1).build()",
        "SizeRange::between(5, 1, SizeUnit::BYTES)",
        "SizeRange::min_only(-1, SizeUnit::BYTES)",
        "ReadPageOptions().num_lines(0).build()",
        "ReadPageOptions().build()",
        "CompressGzipOptions().level(0).build()",
        "CompressGzipOptions().level(10).build()",
        "ChmodDirOptions().build()",
        "SetOwnershipOptions().build()",
        r#"SetOwnershipOptions().user("").build()"#,
        "DiskUsageOptions().summarize(true).all_files(true).build()",
        "DiskUsageOptions().max_depth(-1).build()",
        "TruncateOptions().size(-1).build()",
        "TruncateOptions().build()",
        "FallocateOptions().length(0).build()",
        "FallocateOptions().length(9223372036854775807).format(SizeUnit::GIBIBYTES).build()",
        r#"SetXAttrOptions().name("user.x").selinux_type("t").build()"#,
        r#"SetXAttrOptions().name("security.selinux").selinux_type("a:b").build()"#,
        r#"SetXAttrOptions().name("security.selinux").selinux_level("s0 x").build()"#,
        r#"SetXAttrOptions().name("security.selinux").build()"#,
        r#"SearchGzipOptions().exclude_pattern("(").build()"#,
        "ReadLinesOptions().start(0).build()",
        r#"DirConfig().build()"#,
    ] {
        assert_eq!(
            caught(&e, d, bad),
            "IoErrorKind/ValidationError",
            "{bad} should fail validation"
        );
    }
    assert_eq!(
        caught(&e, d, "ChmodDirOptions().permissions(0o1777).build()"),
        "IoErrorKind/InvalidFileMode"
    );
    assert_eq!(
        caught(&e, d, "OpenFileOptions().permissions(0o7777)"),
        "IoErrorKind/InvalidFileMode"
    );
}

#[test]
fn constants() {
    let fx = fixture();
    let e = engine(&full_policy(&fx.d));
    let v = value(
        &e,
        &fx.d,
        r#"[SizeUnit::BYTES, SizeUnit::KILOBYTES, SizeUnit::KIBIBYTES, SizeUnit::MEGABYTES, SizeUnit::MEBIBYTES, SizeUnit::GIGABYTES, SizeUnit::GIBIBYTES].map(|u| u.to_string())"#,
    );
    assert_eq!(
        v,
        serde_json::json!([
            "BYTES",
            "KILOBYTES",
            "KIBIBYTES",
            "MEGABYTES",
            "MEBIBYTES",
            "GIGABYTES",
            "GIBIBYTES"
        ])
    );
    assert_eq!(
        value(
            &e,
            &fx.d,
            "[SizeUnit::BYTES == SizeUnit::BYTES, SizeUnit::BYTES != SizeUnit::KILOBYTES, SizeRange::max_only(1, SizeUnit::KIBIBYTES).max, SizeRange::min_only(2, SizeUnit::KILOBYTES).min]"
        ),
        serde_json::json!([true, true, 1024, 2000])
    );
    let v = value(
        &e,
        &fx.d,
        "[EntryType::FILE, EntryType::DIR, EntryType::SYMLINK, EntryType::UNKNOWN, EntryType::FIFO, EntryType::SOCKET, EntryType::CHAR_DEVICE, EntryType::BLOCK_DEVICE, EntryType::FILE != EntryType::DIR]",
    );
    assert_eq!(v.as_array().unwrap().len(), 9);
    for kind in [
        "InvalidPath",
        "InvalidArguments",
        "InvalidFileMode",
        "ValidationError",
        "DirectoryOpenError",
        "DirectoryError",
        "FileError",
        "DestinationFileNotEmptyError",
        "NotFound",
        "DirectoryNotEmpty",
        "PermissionDenied",
        "AuthorizationError",
        "IdentityResolutionError",
        "UnsupportedOperationError",
        "FileContentTooLargeError",
        "FileCopyError",
        "FileReadError",
        "EntryTypeMismatchError",
        "IoError",
        "TryFromIntError",
        "RustixError",
        "Utf8Error",
        "CallbackError",
        "ProcessNamespaceFatalError",
        "Other",
    ] {
        assert_eq!(
            value(&e, &fx.d, &format!("IoErrorKind::{kind}")),
            Value::String(kind.into())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Gated additions: allowed (real effect) and denied (nothing changed)

/// Grants only the listed actions under the fixture, plus `open` on the fixture directory
/// itself (so the prelude's `dir` opens).
fn only(d: &str, actions: &[&str]) -> String {
    let mut rules: Vec<String> = actions
        .iter()
        .map(|a| {
            format!(
                r#"permit(principal, action == file_system::Action::"{a}", resource in file_system::Dir::"{d}");"#
            )
        })
        .collect();
    rules.push(format!(
        r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{d}");"#
    ));
    rules.join("\n")
}

fn denied_run(e: &RexEngine, d: &str, body: &str) {
    let out = run(e, &script(d, body));
    assert_denied(&out);
}

#[test]
fn fallocate_and_truncate_allowed_and_denied() {
    let fx = fixture();
    let d = &fx.d;
    fs::write(fx.p("g"), "abc").unwrap();
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"dir.open_file("g", rw).fallocate(FallocateOptions().length(2).format(SizeUnit::KIBIBYTES).build())"#,
    );
    assert_eq!(fs::metadata(fx.p("g")).unwrap().len(), 2048);
    value(
        &e,
        d,
        r#"dir.open_file("g", rw).truncate(TruncateOptions().size(1).build())"#,
    );
    assert_eq!(fs::read(fx.p("g")).unwrap(), b"a");

    let e = engine(&only(d, &["open", "read"]));
    denied_run(
        &e,
        d,
        r#"dir.open_file("g", rw).fallocate(FallocateOptions().length(4096).build())"#,
    );
    denied_run(
        &e,
        d,
        r#"dir.open_file("g", rw).truncate(TruncateOptions().size(0).build())"#,
    );
    assert_eq!(fs::read(fx.p("g")).unwrap(), b"a");
}

fn selinux_of(p: &Path) -> Option<String> {
    let mut buf = [0u8; 512];
    rustix::fs::getxattr(p, "security.selinux", &mut buf[..])
        .ok()
        .map(|n| {
            String::from_utf8_lossy(&buf[..n])
                .trim_end_matches('\0')
                .to_string()
        })
}

#[test]
fn set_extended_attr_allowed_and_denied() {
    let fx = fixture();
    let d = &fx.d;
    let policy = format!(
        r#"{}
permit(principal, action == file_system::Action::"set_x_attr", resource in file_system::Dir::"{d}") when {{ context.xattr.name == "security.selinux" }};"#,
        only(d, &["open", "read"])
    );
    let e = engine(&policy);
    let set_all = r#"dir.open_file("f.txt", ro).set_extended_attr(SetXAttrOptions().name("security.selinux").selinux_user("system_u").selinux_role("object_r").selinux_type("tmp_t").selinux_level("s0").build())"#;
    if let Some(err) = exists(&e, d, set_all) {
        // Not root, or a file system without security xattrs: the check passed (no denial).
        assert!(!err.contains("ermission denied: "), "{err}");
        assert!(!rustix::process::geteuid().is_root(), "{err}");
        return;
    }
    assert_eq!(
        selinux_of(&fx.p("f.txt")).as_deref(),
        Some("system_u:object_r:tmp_t:s0")
    );
    value(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).set_extended_attr(SetXAttrOptions().name("security.selinux").selinux_type("var_log_t").build())"#,
    );
    assert_eq!(
        selinux_of(&fx.p("f.txt")).as_deref(),
        Some("system_u:object_r:var_log_t:s0")
    );
    let e = engine(&full_policy(d).replace(
        "permit(principal, action,",
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"write"],"#,
    ));
    denied_run(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).set_extended_attr(SetXAttrOptions().name("security.selinux").selinux_type("etc_t").build())"#,
    );
    assert_eq!(
        selinux_of(&fx.p("f.txt")).as_deref(),
        Some("system_u:object_r:var_log_t:s0")
    );
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn set_ownership_file_dir_recursive_and_symlink() {
    if !is_root() {
        eprintln!("skipped: chown needs root");
        return;
    }
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).set_ownership(SetOwnershipOptions().user("1").group("1").build())"#,
    );
    assert_eq!(fs::metadata(fx.p("f.txt")).unwrap().uid(), 1);
    value(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.set_ownership(SetOwnershipOptions().user("2").recursive(true).build())"#,
    );
    assert_eq!(fs::metadata(fx.p("sub")).unwrap().uid(), 2);
    assert_eq!(fs::metadata(fx.p("sub/inner.txt")).unwrap().uid(), 2);
    value(
        &e,
        d,
        r#"dir.open_symlink("ln").set_ownership(SetOwnershipOptions().user("3").build())"#,
    );
    assert_eq!(fs::symlink_metadata(fx.p("ln")).unwrap().uid(), 3);
    assert_eq!(
        fs::metadata(fx.p("f.txt")).unwrap().uid(),
        1,
        "target unchanged"
    );

    // Denied: recursive chown with one entry not granted changes nothing at all.
    let policy = format!(
        r#"{}
forbid(principal, action == file_system::Action::"chown", resource == file_system::File::"{d}/sub/inner.txt");"#,
        full_policy(d)
    );
    let e = engine(&policy);
    denied_run(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.set_ownership(SetOwnershipOptions().user("4").recursive(true).build())"#,
    );
    assert_eq!(fs::metadata(fx.p("sub")).unwrap().uid(), 2);
    assert_eq!(fs::metadata(fx.p("sub/inner.txt")).unwrap().uid(), 2);
    let e = engine(&only(d, &["open", "read", "stat"]));
    denied_run(
        &e,
        d,
        r#"dir.open_symlink("ln").set_ownership(SetOwnershipOptions().user("5").build())"#,
    );
    denied_run(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).set_ownership(SetOwnershipOptions().user("5").build())"#,
    );
    assert_eq!(fs::symlink_metadata(fx.p("ln")).unwrap().uid(), 3);
    assert_eq!(fs::metadata(fx.p("f.txt")).unwrap().uid(), 1);
}

#[test]
fn chmod_dir_recursive_authorizes_every_entry() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.chmod(ChmodDirOptions().permissions(0o700).recursive(true).build())"#,
    );
    let mode = |p: &str| fs::metadata(fx.p(p)).unwrap().mode() & 0o777;
    assert_eq!((mode("sub"), mode("sub/inner.txt")), (0o700, 0o700));
    let policy = format!(
        r#"{}
forbid(principal, action == file_system::Action::"chmod", resource == file_system::File::"{d}/sub/inner.txt");"#,
        full_policy(d)
    );
    denied_run(
        &engine(&policy),
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.chmod(ChmodDirOptions().permissions(0o755).recursive(true).build())"#,
    );
    assert_eq!((mode("sub"), mode("sub/inner.txt")), (0o700, 0o700));
}

#[test]
fn create_symlink_authorizes_the_target() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"dir.create_symlink("f.txt", "l1", CreateSymlinkOptions().build())"#,
    );
    assert_eq!(fs::read_link(fx.p("l1")).unwrap().to_str(), Some("f.txt"));
    value(
        &e,
        d,
        r#"dir.create_symlink("csv.txt", "l1", CreateSymlinkOptions().force(true).build())"#,
    );
    assert_eq!(fs::read_link(fx.p("l1")).unwrap().to_str(), Some("csv.txt"));
    // The target is outside the grant: nothing is created.
    denied_run(
        &e,
        d,
        r#"dir.create_symlink("/etc/shadow", "l2", CreateSymlinkOptions().build())"#,
    );
    assert!(fs::symlink_metadata(fx.p("l2")).is_err());
}

#[test]
fn moves_allowed_and_denied() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); let m = s.move(dir, "sub2", MoveOptions().build()); m.list_entries().keys()"#,
    );
    assert!(fx.p("sub2/inner.txt").exists() && !fx.p("sub").exists());
    value(
        &e,
        d,
        r#"dir.open_file("csv.txt", ro).move(dir, "csv2.txt", MoveOptions().build()).read()"#,
    );
    assert!(fx.p("csv2.txt").exists() && !fx.p("csv.txt").exists());

    let e = engine(&only(d, &["open", "read", "create"]));
    denied_run(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub2").build().open(OpenDirOptions().build()); s.move(dir, "sub3", MoveOptions().build())"#,
    );
    denied_run(
        &e,
        d,
        r#"dir.open_file("csv2.txt", ro).move(dir, "csv3.txt", MoveOptions().build())"#,
    );
    assert!(fx.p("sub2").exists() && !fx.p("sub3").exists());
    assert!(fx.p("csv2.txt").exists() && !fx.p("csv3.txt").exists());
}

#[test]
fn delete_file_and_write_with_options_allowed_and_denied() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"dir.open_file("csv.txt", ro).delete(DeleteFileOptions().build())"#,
    );
    assert!(!fx.p("csv.txt").exists());
    value(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).write("new", WriteOptions().build())"#,
    );
    assert_eq!(fs::read_to_string(fx.p("f.txt")).unwrap(), "new");

    let e = engine(&only(d, &["open", "read"]));
    denied_run(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).delete(DeleteFileOptions().force(true).build())"#,
    );
    denied_run(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).write("x", WriteOptions().build())"#,
    );
    assert_eq!(fs::read_to_string(fx.p("f.txt")).unwrap(), "new");
}

#[test]
fn compress_gzip_allowed_and_denied() {
    let fx = fixture();
    let d = &fx.d;
    fs::write(fx.p("out.gz"), "").unwrap();
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).compress_gzip(dir.open_file("out.gz", rw), CompressGzipOptions().build())"#,
    );
    assert_eq!(
        gunzip(&fs::read(fx.p("out.gz")).unwrap()),
        "alpha\nbeta\ngamma error\ndelta\n"
    );
    fs::write(fx.p("out2.gz"), "keep").unwrap();
    let e = engine(&only(d, &["open", "read"]));
    denied_run(
        &e,
        d,
        r#"dir.open_file("f.txt", ro).compress_gzip(dir.open_file("out2.gz", rw), CompressGzipOptions().build())"#,
    );
    assert_eq!(fs::read(fx.p("out2.gz")).unwrap(), b"keep");
}

#[test]
fn symlink_handle_and_read_link_target_denied() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&only(d, &["read"]));
    denied_run(&e, d, r#"dir.open_symlink("ln")"#);
    // stat without read: no target in the metadata.
    let e = engine(&only(d, &["open", "stat"]));
    let v = value(
        &e,
        d,
        r#"dir.open_symlink("ln").metadata().symlink_target()"#,
    );
    assert_eq!(v, Value::Null);
    denied_run(&e, d, r#"dir.read_link_target("ln")"#);
    denied_run(&e, d, r#"dir.list_entries()"#);
}

#[test]
fn find_callback_and_denials() {
    let fx = fixture();
    let d = &fx.d;
    // read on the start directory denied: the walk never calls the callback.
    let e = engine(&only(d, &["open"]));
    let out = run(
        &e,
        &script(
            d,
            r#"let n = 0; let r = ""; try { dir.find(FindOptions().build(), |e| n += 1); } catch (err) { r = err.kind; } [r, n]"#,
        ),
    );
    assert_eq!(out.output, r#"["PermissionDenied", 0]"#);
    // A time filter needs `stat` on each entry.
    let e = engine(&only(d, &["open", "read"]));
    denied_run(
        &e,
        d,
        r#"dir.find(FindOptions().min_modification_time(from_epoch_seconds(0)).build(), |e| ())"#,
    );
    // An error thrown by the callback ends the walk and reaches the script unchanged.
    let e = engine(&full_policy(d));
    let v = value(
        &e,
        d,
        r#"let n = 0; let r = ""; try { dir.find(FindOptions().build(), |e| { n += 1; throw "stop"; }); } catch (err) { r = err; } [r, n]"#,
    );
    assert_eq!(v, serde_json::json!(["stop", 1]));
    // mtime filters select by modification time.
    let old = fs::File::options()
        .write(true)
        .open(fx.p("csv.txt"))
        .unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    let v = value(
        &e,
        d,
        r#"let n = []; dir.find(FindOptions().max_modification_time(from_epoch_seconds(2000000)).build(), |e| n.push(e.name)); n"#,
    );
    assert_eq!(v, serde_json::json!(["csv.txt"]));
}

#[test]
fn rm_on_a_symlink_removes_the_link() {
    let fx = fixture();
    let d = &fx.d;
    std::os::unix::fs::symlink(fx.p("sub"), fx.p("dirlink")).unwrap();
    let e = engine(&full_policy(d));
    value(&e, d, r#"rm("$D/ln")"#);
    value(&e, d, r#"rm([rm::r, rm::f], "$D/dirlink")"#);
    assert!(fs::symlink_metadata(fx.p("ln")).is_err());
    assert!(fs::symlink_metadata(fx.p("dirlink")).is_err());
    assert!(fx.p("f.txt").exists());
    assert!(
        fx.p("sub/inner.txt").exists(),
        "the link's target is untouched"
    );
}

#[test]
fn dir_entry_opens_and_metadata_are_gated() {
    let fx = fixture();
    let d = &fx.d;
    let e = engine(&only(d, &["open", "read"]));
    let v = value(
        &e,
        d,
        r#"let es = dir.list_entries(); [es["f.txt"].open_as_file(ro).read(), es["sub"].open_as_dir(OpenDirOptions().build()).list_entries().keys()]"#,
    );
    assert_eq!(
        v,
        serde_json::json!(["alpha\nbeta\ngamma error\ndelta\n", ["inner.txt"]])
    );
    denied_run(&e, d, r#"dir.list_entries()["f.txt"].metadata()"#);
    let e = engine(&only(d, &["read"]));
    denied_run(&e, d, r#"dir.list_entries()["f.txt"].open_as_file(ro)"#);
}

#[test]
fn ls_on_a_symlink_returns_the_link_itself() {
    let fx = fixture();
    let d = &fx.d;
    std::os::unix::fs::symlink(fx.p("sub"), fx.p("dirlink")).unwrap();
    let e = engine(&full_policy(d));
    for link in ["ln", "dirlink"] {
        let v = value(
            &e,
            d,
            &format!(r#"let m = ls("$D/{link}"); [m.keys(), m["{link}"].type()]"#),
        );
        assert_eq!(v, serde_json::json!([[link], "SYMLINK"]));
    }
    // A plain directory is listed as before.
    let v = value(&e, d, r#"ls("$D/sub").keys()"#);
    assert_eq!(v, serde_json::json!(["inner.txt"]));
    // `open` on the link denied: no entry, the original error stands.
    let policy = format!(
        r#"{}
forbid(principal, action == file_system::Action::"open", resource == file_system::File::"{d}/ln");"#,
        full_policy(d)
    );
    let out = run(&engine(&policy), &script(d, r#"ls("$D/ln")"#));
    assert!(out.error.is_some());
}

#[test]
fn recursive_delete_authorizes_every_entry() {
    let fx = fixture();
    let d = &fx.d;
    let policy = format!(
        r#"{}
forbid(principal, action == file_system::Action::"delete", resource == file_system::File::"{d}/sub/inner.txt");"#,
        full_policy(d)
    );
    let e = engine(&policy);
    denied_run(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.delete(DeleteDirOptions().recursive(true).build())"#,
    );
    denied_run(&e, d, r#"rm([rm::recursive, rm::force], "$D/sub")"#);
    assert!(fx.p("sub/inner.txt").exists(), "nothing was removed");
    let e = engine(&full_policy(d));
    value(
        &e,
        d,
        r#"let s = DirConfig().path("$D/sub").build().open(OpenDirOptions().build()); s.delete(DeleteDirOptions().recursive(true).build())"#,
    );
    assert!(!fx.p("sub").exists());
}
