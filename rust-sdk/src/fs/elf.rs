//! `FileHandle.elf_info()` (REX §2.2.2): what an ELF executable, shared object or core dump
//! says about itself.
//!
//! Unlike REX, the file is never mapped into memory (a concurrent truncation cannot raise
//! SIGBUS): the ELF header, the program headers, the note segments and the few strings needed
//! are read with bounded `pread`s through the authorized fd, and parsed with `goblin`.
//!
//! * For an executable or shared object: `interpreter` is the `PT_INTERP` path, `platform`
//!   the machine architecture (`x86_64`, `aarch64`, ...), `execfn` is `None`.
//! * For a core dump: `execfn` and `platform` are the `AT_EXECFN` and `AT_PLATFORM` strings of
//!   the dumped process (from its auxiliary vector, read out of the dumped memory), and
//!   `interpreter` the file mapped at `AT_BASE` (from the `NT_FILE` note), when present.

use std::os::unix::fs::FileExt;

use goblin::container::{Container, Ctx};
use goblin::elf::note::NoteDataIterator;
use goblin::elf::program_header::{PT_INTERP, PT_LOAD, PT_NOTE};
use goblin::elf::{Elf, ProgramHeader, header};
use rex_auth::Action;

use super::error::FsError;
use super::handle::FileHandle;
use crate::SdkContext;

/// What [`elf_info`] reports (REX's `ElfInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// The file name the dumped process was started with (core dumps only).
    pub execfn: Option<String>,
    /// The platform: the process's `AT_PLATFORM` for a core dump, else the architecture.
    pub platform: Option<String>,
    /// The program interpreter (dynamic loader), if any.
    pub interpreter: Option<String>,
    /// Whether the file is ELFCLASS64.
    pub is_64bit: bool,
}

/// Longest string read out of the file (a path).
const MAX_STRING: usize = 4096;
/// Most note bytes read from a core dump.
const MAX_NOTES: u64 = 16 << 20;
/// `NT_AUXV`.
const NT_AUXV: u32 = 6;
/// `NT_FILE`.
const NT_FILE: u32 = 0x4649_4c45;
const AT_BASE: u64 = 7;
const AT_PLATFORM: u64 = 15;
const AT_EXECFN: u64 = 31;

fn invalid(f: &FileHandle, reason: impl Into<String>) -> FsError {
    FsError::InvalidContent {
        path: f.path().as_str().to_string(),
        reason: reason.into(),
    }
}

/// Reads exactly `len` bytes at `off` (fewer only at end of file), `len` bounded by callers.
fn pread(f: &FileHandle, off: u64, len: usize) -> Result<Vec<u8>, FsError> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let rest = buf.get_mut(got..).unwrap_or_default();
        let n = f
            .file
            .read_at(rest, off + got as u64)
            .map_err(|e| FsError::io("read", f.path().as_str(), e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

fn platform_name(machine: u16) -> String {
    match machine {
        header::EM_X86_64 => "x86_64".into(),
        header::EM_386 => "i386".into(),
        header::EM_AARCH64 => "aarch64".into(),
        header::EM_ARM => "arm".into(),
        header::EM_RISCV => "riscv".into(),
        header::EM_PPC64 => "ppc64".into(),
        header::EM_PPC => "ppc".into(),
        header::EM_S390 => "s390".into(),
        header::EM_MIPS => "mips".into(),
        m => header::machine_to_str(m).to_ascii_lowercase(),
    }
}

/// Reads a word of the file's class and byte order.
fn word(bytes: &[u8], ctx: Ctx, at: usize) -> Option<u64> {
    let little = ctx.le.is_little();
    if ctx.container == Container::Big {
        let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    } else {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    }
}

/// A NUL-terminated string at virtual address `addr` of a core dump's memory.
fn string_at(
    f: &FileHandle,
    phdrs: &[ProgramHeader],
    addr: u64,
) -> Result<Option<String>, FsError> {
    for ph in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let end = ph.p_vaddr.saturating_add(ph.p_filesz);
        if addr >= ph.p_vaddr && addr < end {
            let len = usize::try_from((end - addr).min(MAX_STRING as u64)).unwrap_or(MAX_STRING);
            let off = ph.p_offset.saturating_add(addr - ph.p_vaddr);
            return Ok(Some(c_string(&pread(f, off, len)?)));
        }
    }
    Ok(None)
}

/// `AT_*` values from `NT_AUXV`, and the (start, path) pairs of `NT_FILE`.
type CoreNotes = (Vec<(u64, u64)>, Vec<(u64, String)>);

fn core_notes(f: &FileHandle, phdrs: &[ProgramHeader], ctx: Ctx) -> Result<CoreNotes, FsError> {
    let wsz = if ctx.container == Container::Big {
        8
    } else {
        4
    };
    let mut auxv = Vec::new();
    let mut files = Vec::new();
    let mut budget = MAX_NOTES;
    for ph in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        if ph.p_filesz > budget {
            return Err(invalid(f, "the note segments are too large"));
        }
        budget -= ph.p_filesz;
        let data = pread(f, ph.p_offset, usize::try_from(ph.p_filesz).unwrap_or(0))?;
        let align = if ph.p_align == 8 { 8 } else { 4 };
        let it = NoteDataIterator {
            data: &data,
            size: data.len(),
            offset: 0,
            ctx: (align, ctx),
        };
        for note in it {
            let note = note.map_err(|e| invalid(f, format!("malformed note: {e}")))?;
            if note.name != "CORE" {
                continue;
            }
            match note.n_type {
                NT_AUXV => {
                    let d = note.desc;
                    let mut i = 0;
                    while let (Some(k), Some(v)) = (word(d, ctx, i), word(d, ctx, i + wsz)) {
                        if k == 0 {
                            break;
                        }
                        auxv.push((k, v));
                        i += 2 * wsz;
                    }
                }
                NT_FILE => {
                    // count, page size, count × (start, end, offset), then count names.
                    let d = note.desc;
                    let count = word(d, ctx, 0).unwrap_or(0);
                    let count = usize::try_from(count).unwrap_or(0).min(d.len() / (3 * wsz));
                    let names_at = 2 * wsz + count * 3 * wsz;
                    let mut names = d
                        .get(names_at..)
                        .unwrap_or_default()
                        .split(|b| *b == 0)
                        .map(|n| String::from_utf8_lossy(n).into_owned());
                    for k in 0..count {
                        let start = word(d, ctx, 2 * wsz + k * 3 * wsz);
                        match (start, names.next()) {
                            (Some(s), Some(n)) => files.push((s, n)),
                            _ => break,
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok((auxv, files))
}

/// Parses the ELF headers of `f` (`read` File). A file that is not ELF is a `FileReadError`.
pub fn elf_info(ctx: &SdkContext, f: &FileHandle) -> Result<ElfInfo, FsError> {
    f.permit(ctx, Action::FsRead)?;
    let head = pread(f, 0, 64)?;
    if head.get(..4) != Some(header::ELFMAG.as_slice()) {
        return Err(invalid(f, "not an ELF file"));
    }
    let h = Elf::parse_header(&head).map_err(|e| invalid(f, format!("bad ELF header: {e}")))?;
    let container = h
        .container()
        .map_err(|e| invalid(f, format!("bad ELF header: {e}")))?;
    let le = h
        .endianness()
        .map_err(|e| invalid(f, format!("bad ELF header: {e}")))?;
    let gctx = Ctx::new(container, le);
    let phlen = usize::from(h.e_phnum).saturating_mul(usize::from(h.e_phentsize));
    let phbytes = pread(f, h.e_phoff, phlen)?;
    let phdrs = ProgramHeader::parse(&phbytes, 0, usize::from(h.e_phnum), gctx)
        .map_err(|e| invalid(f, format!("bad program headers: {e}")))?;
    let is_64bit = container == Container::Big;
    if h.e_type == header::ET_CORE {
        let (auxv, files) = core_notes(f, &phdrs, gctx)?;
        let aux = |k: u64| auxv.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
        let execfn = match aux(AT_EXECFN) {
            Some(a) => string_at(f, &phdrs, a)?,
            None => None,
        };
        let platform = match aux(AT_PLATFORM) {
            Some(a) => string_at(f, &phdrs, a)?,
            None => None,
        };
        let interpreter = aux(AT_BASE)
            .filter(|b| *b != 0)
            .and_then(|b| files.iter().find(|(s, _)| *s == b).map(|(_, n)| n.clone()));
        return Ok(ElfInfo {
            execfn,
            platform: platform.or_else(|| Some(platform_name(h.e_machine))),
            interpreter,
            is_64bit,
        });
    }
    let interpreter = match phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        Some(p) => {
            let len = usize::try_from(p.p_filesz.min(MAX_STRING as u64)).unwrap_or(MAX_STRING);
            Some(c_string(&pread(f, p.p_offset, len)?))
        }
        None => None,
    };
    Ok(ElfInfo {
        execfn: None,
        platform: Some(platform_name(h.e_machine)),
        interpreter,
        is_64bit,
    })
}

impl FileHandle {
    /// ELF information of this file (`read` File); see [`elf_info`].
    pub fn elf_info(&self, ctx: &SdkContext) -> Result<ElfInfo, FsError> {
        elf_info(ctx, self)
    }
}
