//! `extract_archive`, `elf_info`, `verify_cert(_chain)` and redacted reads from real scripts,
//! allowed and denied.
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
use std::io::Write;
use std::path::Path;

use common::{allow_actions_under, allow_fs_under, assert_denied, engine, ok, run};
use rex_core::RexEngine;
use rhai_sdk::RexModules;

fn tar_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        let n = name.as_bytes();
        // Written raw so that hostile names reach the SDK unvalidated.
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "link", "/etc/passwd").unwrap();
    let tar = b.into_inner().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).unwrap();
    e.finish().unwrap()
}

struct Dirs {
    _t: tempfile::TempDir,
    src: String,
    dest: String,
}

fn dirs(archive: &[u8]) -> Dirs {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("src")).unwrap();
    fs::create_dir(t.path().join("dest")).unwrap();
    fs::write(t.path().join("src/a.tgz"), archive).unwrap();
    let p = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    Dirs {
        src: p("src"),
        dest: p("dest"),
        _t: t,
    }
}

fn listing(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn extract_script(d: &Dirs, opts: &str) -> String {
    format!(
        r#"
let src = DirConfig().path("{}").build().open(OpenDirOptions().build());
let dest = DirConfig().path("{}").build().open(OpenDirOptions().build());
let a = src.open_file("a.tgz", OpenFileOptions().read(true).build());
let r = a.extract_archive(dest, ExtractArchiveOptions(){opts}.build());
"#,
        d.src, d.dest
    )
}

#[test]
fn extract_archive_allowed() {
    let d = dirs(&tar_bytes(&[("x/one.txt", b"1"), ("two.txt", b"22")]));
    let e = engine(&format!(
        "{}\n{}",
        allow_fs_under(&d.src),
        allow_fs_under(&d.dest)
    ));
    let out = ok(
        &e,
        &(extract_script(&d, "")
            + "`${r.extracted.len()} ${r.skipped.len()} ${r.skipped[0].path}`"),
    );
    assert_eq!(out, format!("2 1 {}/link", d.dest));
    assert_eq!(listing(&d.dest), vec!["two.txt", "x"]);
    assert_eq!(fs::read(format!("{}/x/one.txt", d.dest)).unwrap(), b"1");
    assert_eq!(fs::read(format!("{}/two.txt", d.dest)).unwrap(), b"22");
}

#[test]
fn extract_archive_denied_writes_nothing() {
    let d = dirs(&tar_bytes(&[("x/one.txt", b"1"), ("two.txt", b"22")]));
    let e = engine(&format!(
        "{}\n{}",
        allow_fs_under(&d.src),
        allow_actions_under(&d.dest, &["open", "create"])
    ));
    let out = run(&e, &extract_script(&d, ""));
    assert_denied(&out);
    assert!(listing(&d.dest).is_empty());
}

#[test]
fn extract_archive_refuses_traversal_and_limits() {
    let d = dirs(&tar_bytes(&[("ok.txt", b"1"), ("../escape.txt", b"2")]));
    let e = engine(&format!(
        "{}\n{}",
        allow_fs_under(&d.src),
        allow_fs_under(&d.dest)
    ));
    let caught = |opts: &str| {
        ok(
            &e,
            &format!(
                "let k = \"none\"; try {{ {} }} catch (err) {{ k = err.source + \"/\" + err.kind; }} k",
                extract_script(&d, opts)
            ),
        )
    };
    assert_eq!(caught(""), "IoErrorKind/InvalidPath");
    assert!(listing(&d.dest).is_empty());
    assert!(
        !Path::new(&d.dest)
            .parent()
            .unwrap()
            .join("escape.txt")
            .exists()
    );

    let d2 = dirs(&tar_bytes(&[("a", b"1"), ("b", b"2"), ("c", b"3")]));
    let e2 = engine(&format!(
        "{}\n{}",
        allow_fs_under(&d2.src),
        allow_fs_under(&d2.dest)
    ));
    let out = ok(
        &e2,
        &format!(
            "let k = \"none\"; try {{ {} }} catch (err) {{ k = err.kind; }} k",
            extract_script(&d2, ".max_entries(2)")
        ),
    );
    assert_eq!(out, "FileContentTooLargeError");
    assert!(listing(&d2.dest).is_empty());
    let out = run(&e2, &extract_script(&d2, ".max_entries(0)"));
    assert!(out.error.is_some());
    assert!(listing(&d2.dest).is_empty());
    ok(
        &e2,
        &(extract_script(
            &d2,
            ".preserve_permissions(false).preserve_timestamps(false).preserve_ownership(false).max_total_bytes(3)",
        ) + "r.extracted.len()"),
    );
    assert_eq!(listing(&d2.dest), vec!["a", "b", "c"]);
}

// ---------------------------------------------------------------------------------------------

const LS: &str = r#"
let d = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = d.open_file("ls", OpenFileOptions().read(true).build());
"#;

#[test]
fn elf_info_allowed_and_denied() {
    let e = engine(&allow_fs_under("/usr/bin"));
    let out = ok(
        &e,
        &format!(
            "{LS} let i = f.elf_info(); `${{i.is_64bit}} ${{i.platform}} ${{i.execfn == ()}} ${{i.interpreter.contains(\"ld\")}} ${{i.to_map().len()}}`"
        ),
    );
    assert_eq!(
        out,
        format!(
            "{} {} true true 4",
            cfg!(target_pointer_width = "64"),
            std::env::consts::ARCH
        )
    );
    let e = engine(&allow_actions_under("/usr/bin", &["open"]));
    assert_denied(&run(&e, &format!("{LS} f.elf_info()")));
}

#[test]
fn elf_info_of_a_text_file_is_an_error_map() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("t"), "text").unwrap();
    let d = t.path().to_str().unwrap();
    let e = engine(&allow_fs_under(d));
    let out = ok(
        &e,
        &format!(
            r#"let f = DirConfig().path("{d}").build().open(OpenDirOptions().build()).open_file("t", OpenFileOptions().read(true).build());
let k = ""; try {{ f.elf_info(); }} catch (err) {{ k = err.kind; }} k"#
        ),
    );
    assert_eq!(out, "FileReadError");
}

// ---------------------------------------------------------------------------------------------

fn certs() -> (tempfile::TempDir, String) {
    let t = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-sdk/tests/fixtures/certs");
    for e in fs::read_dir(&fixtures).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
    }
    let d = t.path().to_str().unwrap().to_string();
    (t, d)
}

fn cert_script(d: &str, body: &str) -> String {
    format!(
        r#"
let d = DirConfig().path("{d}").build().open(OpenDirOptions().build());
let ro = OpenFileOptions().read(true).build();
let root = d.open_file("root.pem", ro);
let other = d.open_file("other_root.pem", ro);
let inter = d.open_file("intermediate.pem", ro);
let leaf = d.open_file("leaf.pem", ro);
let direct = d.open_file("direct.pem", ro);
{body}"#
    )
}

#[test]
fn verify_cert_and_chain_from_scripts() {
    let (_t, d) = certs();
    let e = engine(&allow_fs_under(&d));
    ok(
        &e,
        &cert_script(
            &d,
            "direct.verify_cert(root); leaf.verify_cert_chain(root, [inter]);",
        ),
    );
    let out = ok(
        &e,
        &cert_script(
            &d,
            r#"let k = []; try { direct.verify_cert(other); } catch (err) { k.push(err.kind); }
try { leaf.verify_cert_chain(root, []); } catch (err) { k.push(err.kind); }
try { leaf.verify_cert_chain(root, [42]); } catch (err) { k.push(err.kind); }
try { root.verify_cert(root); } catch (err) { k.push("root:" + err.kind); }
k"#,
        ),
    );
    // The same handle twice does not deadlock; a CA is refused as an end entity.
    assert_eq!(
        out,
        r#"["ValidationError", "ValidationError", "InvalidArguments", "root:ValidationError"]"#
    );
}

#[test]
fn verify_cert_needs_read_on_every_handle() {
    let (_t, d) = certs();
    let pol = format!(
        "{}\nforbid(principal, action == file_system::Action::\"read\", resource == file_system::File::\"{d}/intermediate.pem\");",
        allow_fs_under(&d)
    );
    let e = engine(&pol);
    assert_denied(&run(
        &e,
        &cert_script(&d, "leaf.verify_cert_chain(root, [inter]);"),
    ));
    ok(&e, &cert_script(&d, "direct.verify_cert(root);"));
}

// ---------------------------------------------------------------------------------------------

#[test]
fn redacted_read_through_read_search_and_cat() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let etc = t.path().join("etc");
    fs::create_dir(&data).unwrap();
    fs::create_dir(&etc).unwrap();
    fs::write(
        data.join("log"),
        "login ok for (bob)\nsecret=42\nlogin ok for bob\n",
    )
    .unwrap();
    let conf = etc.join("rex_redaction.config");
    fs::write(&conf, "login ok for (%s)\n").unwrap();
    let (data, etc) = (data.to_str().unwrap(), etc.to_str().unwrap());
    let pol = format!(
        "{}\n{}",
        allow_actions_under(data, &["open", "redacted_read"]),
        allow_actions_under(etc, &["open", "read"])
    );
    let sdk = common::sdk(&pol).with_redaction_config(conf.to_str().unwrap());
    let modules = RexModules::all();
    let e = RexEngine::builder()
        .register(|en| modules.register(en, &sdk))
        .build();
    let expected = "login ok for (bob)\n[REDACTED]\n[REDACTED]\n";
    let open = format!(
        r#"let f = DirConfig().path("{data}").build().open(OpenDirOptions().build()).open_file("log", OpenFileOptions().read(true).build());"#
    );
    assert_eq!(ok(&e, &format!("{open} f.read()")), expected);
    assert_eq!(
        ok(
            &e,
            &format!("{open} let m = f.search(\"bob|42\"); `${{m.len()}} ${{m[0].line_number}}`")
        ),
        "1 1"
    );
    assert_eq!(ok(&e, &format!("cat(\"{data}/log\")")), expected);
    assert_denied(&run(
        &e,
        &format!("{open} f.read_lines(ReadLinesOptions().build())"),
    ));
    // Without a dictionary the original denial stands.
    let e2 = engine(&allow_actions_under(data, &["open", "redacted_read"]));
    assert_denied(&run(&e2, &format!("cat(\"{data}/log\")")));
}
