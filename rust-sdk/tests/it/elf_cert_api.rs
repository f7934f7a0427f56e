//! `elf_info` and certificate verification: allowed (real parse / real verification) and
//! denied (no read).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use rust_sdk::SdkContext;
use rust_sdk::fs::*;

fn open_only(dir: &Path) -> String {
    format!(
        "permit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"{}\");",
        dir.display()
    )
}

fn open(c: &SdkContext, dir: &Path, name: &str) -> FileHandle {
    DirHandle::open(c, &s(dir), OpenDirOptions::default())
        .unwrap()
        .open_file(c, name, OpenFileOptions::read())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// ELF

#[test]
fn elf_info_of_a_real_executable() {
    let c = ctx(&all(Path::new("/usr/bin")));
    let f = open(&c, Path::new("/usr/bin"), "ls");
    let info = f.elf_info(&c).unwrap();
    assert_eq!(info.is_64bit, cfg!(target_pointer_width = "64"));
    assert_eq!(info.platform.as_deref(), Some(std::env::consts::ARCH));
    let interp = info.interpreter.unwrap();
    assert!(interp.starts_with('/') && interp.contains("ld"), "{interp}");
    assert_eq!(info.execfn, None);
}

#[test]
fn elf_info_of_a_static_program_has_no_interpreter() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("p.c");
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let out = t.path().join("p");
    let ok = std::process::Command::new("gcc")
        .args(["-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: gcc -static is not available");
        return;
    }
    let c = ctx(&all(t.path()));
    let info = open(&c, t.path(), "p").elf_info(&c).unwrap();
    assert_eq!(info.interpreter, None);
    assert_eq!(info.platform.as_deref(), Some(std::env::consts::ARCH));
}

#[test]
fn elf_info_denied_without_read() {
    let c = ctx(&open_only(Path::new("/usr/bin")));
    let f = open(&c, Path::new("/usr/bin"), "ls");
    let e = f.elf_info(&c).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
}

#[test]
fn elf_info_of_non_elf_and_truncated_files_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("text"), "just text, not an executable\n").unwrap();
    fs::write(t.path().join("empty"), "").unwrap();
    fs::write(t.path().join("magic"), b"\x7fELF\x02\x01").unwrap();
    let ls = fs::read("/usr/bin/ls").unwrap();
    fs::write(t.path().join("cut"), &ls[..80]).unwrap();
    let c = ctx(&all(t.path()));
    for name in ["text", "empty", "magic", "cut"] {
        let e = open(&c, t.path(), name).elf_info(&c).unwrap_err();
        assert_eq!(e.kind(), FsErrorKind::FileReadError, "{name}: {e:?}");
    }
    let e = open(&c, t.path(), "text").elf_info(&c).unwrap_err();
    assert!(e.to_string().contains("not an ELF file"), "{e}");
}

/// A minimal ELF64 little-endian core file: a PT_NOTE with NT_AUXV and NT_FILE, and a
/// PT_LOAD holding the AT_EXECFN and AT_PLATFORM strings.
fn synthetic_core() -> Vec<u8> {
    fn note(out: &mut Vec<u8>, ty: u32, desc: &[u8]) {
        out.extend(5u32.to_le_bytes());
        out.extend((desc.len() as u32).to_le_bytes());
        out.extend(ty.to_le_bytes());
        out.extend(b"CORE\0\0\0\0");
        out.extend(desc);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    let base_vaddr: u64 = 0x40_0000;
    let mem = b"/usr/bin/testprog\0x86_64\0";
    let ld_base: u64 = 0x7f00_0000;
    let mut auxv = Vec::new();
    for (k, v) in [
        (31u64, base_vaddr),
        (15, base_vaddr + 18),
        (7, ld_base),
        (0, 0),
    ] {
        auxv.extend(k.to_le_bytes());
        auxv.extend(v.to_le_bytes());
    }
    let mut nt_file = Vec::new();
    for w in [2u64, 4096, 0x1000, 0x2000, 0, ld_base, ld_base + 0x1000, 0] {
        nt_file.extend(w.to_le_bytes());
    }
    nt_file.extend(b"/usr/bin/testprog\0/lib/ld-test.so.1\0");
    let mut notes = Vec::new();
    note(&mut notes, 6, &auxv);
    note(&mut notes, 0x4649_4c45, &nt_file);

    let phoff = 64u64;
    let notes_off = phoff + 2 * 56;
    let mem_off = notes_off + notes.len() as u64;
    let mut f = Vec::new();
    f.extend(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    f.extend(4u16.to_le_bytes()); // ET_CORE
    f.extend(62u16.to_le_bytes()); // EM_X86_64
    f.extend(1u32.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // entry
    f.extend(phoff.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // shoff
    f.extend(0u32.to_le_bytes()); // flags
    f.extend(64u16.to_le_bytes());
    f.extend(56u16.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(64u16.to_le_bytes());
    f.extend(0u16.to_le_bytes());
    f.extend(0u16.to_le_bytes());
    assert_eq!(f.len(), 64);
    let phdr = |f: &mut Vec<u8>, ty: u32, off: u64, vaddr: u64, size: u64, align: u64| {
        f.extend(ty.to_le_bytes());
        f.extend(4u32.to_le_bytes());
        f.extend(off.to_le_bytes());
        f.extend(vaddr.to_le_bytes());
        f.extend(0u64.to_le_bytes());
        f.extend(size.to_le_bytes());
        f.extend(size.to_le_bytes());
        f.extend(align.to_le_bytes());
    };
    phdr(&mut f, 4, notes_off, 0, notes.len() as u64, 4);
    phdr(&mut f, 1, mem_off, base_vaddr, mem.len() as u64, 0x1000);
    f.extend(&notes);
    f.extend(mem);
    f
}

#[test]
fn elf_info_of_a_core_dump_reads_the_auxiliary_vector() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("core"), synthetic_core()).unwrap();
    let c = ctx(&all(t.path()));
    let info = open(&c, t.path(), "core").elf_info(&c).unwrap();
    assert_eq!(
        info,
        ElfInfo {
            execfn: Some("/usr/bin/testprog".into()),
            platform: Some("x86_64".into()),
            interpreter: Some("/lib/ld-test.so.1".into()),
            is_64bit: true,
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Certificates

fn certs() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs");
    for e in fs::read_dir(&fixtures).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
    }
    let p = t.path().to_path_buf();
    (t, p)
}

#[test]
fn verify_cert_against_its_root() {
    let (_t, d) = certs();
    let c = ctx(&all(&d));
    let root = open(&c, &d, "root.pem");
    open(&c, &d, "direct.pem").verify_cert(&c, &root).unwrap();
    open(&c, &d, "direct.der").verify_cert(&c, &root).unwrap();
    let other = open(&c, &d, "other_root.pem");
    let e = open(&c, &d, "direct.pem")
        .verify_cert(&c, &other)
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::ValidationError, "{e:?}");
    // The leaf is signed by the intermediate: the root alone is not enough.
    let e = open(&c, &d, "leaf.pem").verify_cert(&c, &root).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::ValidationError, "{e:?}");
}

#[test]
fn verify_cert_chain_through_an_intermediate() {
    let (_t, d) = certs();
    let c = ctx(&all(&d));
    let root = open(&c, &d, "root.pem");
    let inter = open(&c, &d, "intermediate.pem");
    let leaf = open(&c, &d, "leaf.pem");
    leaf.verify_cert_chain(&c, &root, &[&inter]).unwrap();
    let other = open(&c, &d, "other_root.pem");
    let e = leaf.verify_cert_chain(&c, &other, &[&inter]).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::ValidationError, "{e:?}");
    // A chain file (leaf followed by its intermediate) verifies with the root alone.
    let mut chain = fs::read(d.join("leaf.pem")).unwrap();
    chain.extend(fs::read(d.join("intermediate.pem")).unwrap());
    fs::write(d.join("chain.pem"), chain).unwrap();
    open(&c, &d, "chain.pem").verify_cert(&c, &root).unwrap();
}

#[test]
fn verify_cert_requires_read_on_every_handle() {
    let (_t, d) = certs();
    let names = ["leaf.pem", "root.pem", "intermediate.pem"];
    for denied in names {
        let pol = format!(
            "{}\nforbid(principal, action == file_system::Action::\"read\", resource == file_system::File::\"{}/{}\");",
            all(&d),
            s(&d),
            denied
        );
        let c = ctx(&pol);
        let [leaf, root, inter] = names.map(|n| open(&c, &d, n));
        let e = leaf.verify_cert_chain(&c, &root, &[&inter]).unwrap_err();
        assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{denied}: {e:?}");
        assert!(e.to_string().contains(denied), "{e}");
    }
}

#[test]
fn verify_cert_rejects_garbage() {
    let (_t, d) = certs();
    fs::write(d.join("junk.pem"), "not a certificate").unwrap();
    fs::write(
        d.join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let c = ctx(&all(&d));
    let root = open(&c, &d, "root.pem");
    for n in ["junk.pem", "bad.pem"] {
        let e = open(&c, &d, n).verify_cert(&c, &root).unwrap_err();
        assert_eq!(e.kind(), FsErrorKind::FileReadError, "{n}: {e:?}");
    }
    let e = open(&c, &d, "direct.pem")
        .verify_cert(&c, &open(&c, &d, "junk.pem"))
        .unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::FileReadError, "{e:?}");
}
