//! Archive, ELF and certificate methods of `FileHandle` (REX §2.2.2):
//!
//! * `file.extract_archive(dest_dir, ExtractArchiveOptions().build())`: tar or gzip'd tar into
//!   an open `DirHandle`. Every entry is authorized before anything is written; a refusal, a
//!   hostile path (`..`, absolute), a limit (entries, total size) or a broken archive ends the
//!   call with an error map and **nothing written**. Links, devices and FIFOs are skipped (as
//!   in REX) and reported: the call returns `#{extracted: [paths], skipped: [#{path, reason}]}`
//!   where REX returned `()`.
//! * `ExtractArchiveOptions()` with REX's setters `preserve_permissions` [true],
//!   `preserve_ownership` [false], `preserve_timestamps` [true], plus `max_entries(n)`
//!   [10,000] and `max_total_bytes(n)` [1 GiB].
//! * `file.elf_info()` → `ElfInfo` with the properties `execfn`, `platform`, `interpreter`
//!   (each a string or `()`), `is_64bit`, and `to_map()`.
//! * `cert.verify_cert(root)` / `cert.verify_cert_chain(root, [intermediates])`: `()` or an
//!   error map (`ValidationError` when the chain does not verify). Unlike REX, `read` is
//!   checked on every handle.

use std::sync::MutexGuard;

use rhai::{Array, Dynamic, EvalAltResult, Map};
use rust_sdk::SdkContext;
use rust_sdk::fs::{DirHandle, ElfInfo, ExtractArchiveOptions, FileHandle};

use crate::binding::{Binding, NO_HOST};
use crate::error::{IO_SOURCE, script_err, to_script_error};
use crate::handles::ScriptFileHandle;
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

fn opt(v: &Option<String>) -> Dynamic {
    v.clone().map_or(Dynamic::UNIT, Dynamic::from)
}

fn elf_map(i: &ElfInfo) -> Map {
    let mut m = Map::new();
    m.insert("execfn".into(), opt(&i.execfn));
    m.insert("platform".into(), opt(&i.platform));
    m.insert("interpreter".into(), opt(&i.interpreter));
    m.insert("is_64bit".into(), i.is_64bit.into());
    m
}

fn positive(what: &str, n: i64) -> RResult<u64> {
    u64::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
        script_err(
            IO_SOURCE,
            "ValidationError",
            format!("{what} must be > 0, got {n}"),
        )
    })
}

fn register_options(b: &mut Binding<'_>) {
    b.custom_type::<ExtractArchiveOptions>();
    b.func(
        "ExtractArchiveOptions",
        [],
        NO_HOST,
        "A new `ExtractArchiveOptions` builder with the defaults.",
        ExtractArchiveOptions::default,
    );
    crate::declare!(
        b,
        "preserve_permissions",
        NO_HOST,
        "Sets `preserve_permissions` (returns the updated builder).",
        |o: &mut ExtractArchiveOptions, v: bool| ExtractArchiveOptions {
            preserve_permissions: v,
            ..*o
        }
    );
    crate::declare!(
        b,
        "preserve_ownership",
        NO_HOST,
        "Sets `preserve_ownership` (returns the updated builder).",
        |o: &mut ExtractArchiveOptions, v: bool| ExtractArchiveOptions {
            preserve_ownership: v,
            ..*o
        }
    );
    crate::declare!(
        b,
        "preserve_timestamps",
        NO_HOST,
        "Sets `preserve_timestamps` (returns the updated builder).",
        |o: &mut ExtractArchiveOptions, v: bool| ExtractArchiveOptions {
            preserve_timestamps: v,
            ..*o
        }
    );
    crate::declare!(
        b,
        "max_entries",
        NO_HOST,
        "Sets `max_entries` (returns the updated builder).",
        |o: &mut ExtractArchiveOptions, n: i64| {
            let n = positive("max_entries", n)?;
            Ok::<_, Box<EvalAltResult>>(ExtractArchiveOptions {
                max_entries: usize::try_from(n).unwrap_or(usize::MAX),
                ..*o
            })
        }
    );
    crate::declare!(
        b,
        "max_total_bytes",
        NO_HOST,
        "Sets `max_total_bytes` (returns the updated builder).",
        |o: &mut ExtractArchiveOptions, n: i64| {
            let n = positive("max_total_bytes", n)?;
            Ok::<_, Box<EvalAltResult>>(ExtractArchiveOptions {
                max_total_bytes: n,
                ..*o
            })
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut ExtractArchiveOptions| *o
    );

    b.custom_type::<ElfInfo>();
    b.getter(
        "execfn",
        NO_HOST,
        "The `execfn` property.",
        |i: &mut ElfInfo| opt(&i.execfn),
    );
    b.getter(
        "platform",
        NO_HOST,
        "The `platform` property.",
        |i: &mut ElfInfo| opt(&i.platform),
    );
    b.getter(
        "interpreter",
        NO_HOST,
        "The `interpreter` property.",
        |i: &mut ElfInfo| opt(&i.interpreter),
    );
    b.getter(
        "is_64bit",
        NO_HOST,
        "The `is_64bit` property.",
        |i: &mut ElfInfo| i.is_64bit,
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |i: &mut ElfInfo| elf_map(i)
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |i: &mut ElfInfo| format!("{:?}", elf_map(i))
    );
}

/// Locks several script handles at once (each distinct handle once, so passing the same
/// handle twice cannot deadlock) and runs `f` on the file handles, in argument order.
fn with_many<R>(
    handles: &[&ScriptFileHandle],
    f: impl FnOnce(&[&FileHandle]) -> RResult<R>,
) -> RResult<R> {
    let mut unique: Vec<&ScriptFileHandle> = Vec::new();
    let mut index = Vec::with_capacity(handles.len());
    for h in handles {
        match unique.iter().position(|u| u.same_as(h)) {
            Some(i) => index.push(i),
            None => {
                index.push(unique.len());
                unique.push(h);
            }
        }
    }
    let guards: Vec<MutexGuard<'_, Option<FileHandle>>> = unique
        .iter()
        .map(|h| h.lock())
        .collect::<RResult<Vec<_>>>()?;
    let refs: Vec<&FileHandle> = index
        .iter()
        .map(|i| {
            guards
                .get(*i)
                .and_then(|g| g.as_ref())
                .ok_or_else(crate::handles::closed)
        })
        .collect::<RResult<Vec<_>>>()?;
    f(&refs)
}

/// Registers the option builder, `ElfInfo` and the `FileHandle` methods.
pub(crate) fn register(b: &mut Binding<'_>, sdk: &SdkContext) {
    register_options(b);

    let c = sdk.clone();
    crate::declare!(
        b,
        "extract_archive",
        &[
            Action::FsRead,
            Action::FsOpen,
            Action::FsCreate,
            Action::FsWrite,
            Action::FsChmod,
            Action::FsChown
        ],
        "Extracts the (tar.gz) archive into a directory.",
        |f: &mut ScriptFileHandle, dest: DirHandle, opts: ExtractArchiveOptions| {
            let report = f.with(|h| h.extract_archive(&c, &dest, opts).map_err(to_script_error))?;
            let mut m = Map::new();
            m.insert(
                "extracted".into(),
                report
                    .extracted
                    .into_iter()
                    .map(Dynamic::from)
                    .collect::<Array>()
                    .into(),
            );
            m.insert(
                "skipped".into(),
                report
                    .skipped
                    .into_iter()
                    .map(|(path, reason)| {
                        let mut e = Map::new();
                        e.insert("path".into(), path.into());
                        e.insert("reason".into(), reason.into());
                        Dynamic::from_map(e)
                    })
                    .collect::<Array>()
                    .into(),
            );
            Ok::<Map, Box<EvalAltResult>>(m)
        }
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "elf_info",
        &[Action::FsRead],
        "ELF header information of the file.",
        |f: &mut ScriptFileHandle| { f.with(|h| h.elf_info(&c).map_err(to_script_error)) }
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "verify_cert",
        &[Action::FsRead],
        "Verifies the PEM certificate in the file.",
        |f: &mut ScriptFileHandle, root: ScriptFileHandle| {
            let me = f.clone();
            with_many(&[&me, &root], |hs| match hs {
                [cert, root] => cert.verify_cert(&c, root).map_err(to_script_error),
                _ => Err(script_err(IO_SOURCE, "Other", "handle lookup failed")),
            })
        }
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "verify_cert_chain",
        &[Action::FsRead],
        "Verifies the PEM certificate chain in the file.",
        |f: &mut ScriptFileHandle, root: ScriptFileHandle, intermediates: Array| {
            let inter: Vec<ScriptFileHandle> = intermediates
                .into_iter()
                .map(|d| {
                    let t = d.type_name();
                    d.try_cast::<ScriptFileHandle>().ok_or_else(|| {
                        script_err(
                            IO_SOURCE,
                            "InvalidArguments",
                            format!("intermediates must be FileHandles, got {t}"),
                        )
                    })
                })
                .collect::<RResult<_>>()?;
            let me = f.clone();
            let mut all: Vec<&ScriptFileHandle> = vec![&me, &root];
            all.extend(inter.iter());
            with_many(&all, |hs| match hs {
                [cert, root, rest @ ..] => cert
                    .verify_cert_chain(&c, root, rest)
                    .map_err(to_script_error),
                _ => Err(script_err(IO_SOURCE, "Other", "handle lookup failed")),
            })
        }
    );
}

crate::script_types!(
    ExtractArchiveOptions => "ExtractArchiveOptions",
    ElfInfo => "ElfInfo",
);
