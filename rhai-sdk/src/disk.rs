//! The `disk` module (REX's `rhai-safe-disk-info`): `df()`, `iostat()`, `lsblk()` and the
//! `Filesystems(targets, local)` handle with `.filesystems()` / `.iostat()`. Errors are
//! error maps with source `DiskinfoErrorKind` (REX's wrappers raised plain strings), and
//! `unmount(UnmountOptions().path(p).build())`, which checks `file_system::unmount` on Dir
//! `<path>` and unmounts without following a symlink at the last component.
//!
//! `Filesystems` also takes REX's `FilesystemOptions().targets([..]).local(bool).build()`.
//! `format_bytes(size, Unit::MEGABYTES)` converts a byte count (binary units) and, unlike
//! REX's (registered with a `u64` parameter that Rhai integers never match), is callable.

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module};
use rust_sdk::SdkContext;
use rust_sdk::disk::{self, BlockDevice, FilesystemOptions};

use crate::binding::{Binding, NO_HOST};
use crate::error::{DISKINFO_SOURCE, script_err, to_script_error};
use rex_auth::Action;

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// REX's `Filesystems` handle.
#[derive(Debug, Clone, Default)]
pub struct Filesystems(FilesystemOptions);

fn to_dyn<T: serde::Serialize>(v: &T) -> RResult<Dynamic> {
    rhai::serde::to_dynamic(v).map_err(|e| script_err(DISKINFO_SOURCE, "Other", e.to_string()))
}

fn filesystems(ctx: &SdkContext, opts: &FilesystemOptions) -> RResult<Dynamic> {
    let list = disk::filesystems(ctx, opts).map_err(to_script_error)?;
    to_dyn(&list.filesystems)
}

fn iostat(ctx: &SdkContext) -> RResult<Dynamic> {
    to_dyn(&disk::iostat(ctx).map_err(to_script_error)?)
}

fn device_map(d: &BlockDevice) -> Map {
    let mut m = Map::new();
    m.insert("name".into(), d.name.clone().into());
    m.insert("type".into(), d.kind.clone().into());
    m.insert("maj".into(), i64::from(d.maj).into());
    m.insert("min".into(), i64::from(d.min).into());
    m.insert(
        "size_kib".into(),
        i64::try_from(d.size_kib).unwrap_or(i64::MAX).into(),
    );
    m.insert("removable".into(), d.removable.into());
    m.insert("read_only".into(), d.read_only.into());
    m.insert(
        "mount_point".into(),
        d.mount_point.clone().map_or(Dynamic::UNIT, Dynamic::from),
    );
    let children: Map = d
        .children
        .iter()
        .map(|c| (c.name.as_str().into(), Dynamic::from_map(device_map(c))))
        .collect();
    m.insert("children".into(), children.into());
    m
}

fn lsblk(ctx: &SdkContext) -> RResult<Map> {
    let devices = disk::lsblk(ctx).map_err(to_script_error)?;
    Ok(devices
        .iter()
        .map(|d| (d.name.as_str().into(), Dynamic::from_map(device_map(d))))
        .collect())
}

/// REX's `UnmountOptions` (built with `UnmountOptions().path(p).build()`).
#[derive(Debug, Clone, Default)]
pub struct UnmountOptions {
    path: Option<String>,
}

fn invalid_path(message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(DISKINFO_SOURCE, "InvalidPath", message)
}

pub use rust_sdk::values::{UNITS, format_bytes};

fn strings(what: &str, items: Array) -> RResult<Vec<String>> {
    items
        .into_iter()
        .map(|t| {
            t.into_string().map_err(|ty| {
                script_err(
                    DISKINFO_SOURCE,
                    "Other",
                    format!("{what} must be strings, got {ty}"),
                )
            })
        })
        .collect()
}

fn register_options(b: &mut Binding<'_>) {
    let mut units = Module::new();
    for (name, _) in UNITS {
        units.set_var(*name, (*name).to_string());
    }
    b.static_module("Unit", units.into());
    crate::declare!(
        b,
        "format_bytes",
        NO_HOST,
        "Formats a byte count with a unit.",
        |size: i64, unit: &str| {
            format_bytes(size, unit).map_err(|e| script_err(DISKINFO_SOURCE, "Other", e))
        }
    );

    b.custom_type::<FilesystemOptions>();
    b.func(
        "FilesystemOptions",
        [],
        NO_HOST,
        "A new `FilesystemOptions` builder with the defaults.",
        FilesystemOptions::default,
    );
    crate::declare!(
        b,
        "targets",
        NO_HOST,
        "Sets `targets` (returns the updated builder).",
        |o: &mut FilesystemOptions, t: Array| {
            Ok::<_, Box<EvalAltResult>>(FilesystemOptions {
                targets: strings("targets", t)?,
                ..o.clone()
            })
        }
    );
    crate::declare!(
        b,
        "local",
        NO_HOST,
        "Sets `local` (returns the updated builder).",
        |o: &mut FilesystemOptions, local: bool| { FilesystemOptions { local, ..o.clone() } }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut FilesystemOptions| o.clone()
    );
    crate::declare!(
        b,
        "Filesystems",
        &[Action::FsOpen, Action::FsRead, Action::FsStat],
        "The mounted file systems.",
        |o: FilesystemOptions| Filesystems(o)
    );
}

/// The path of `UnmountOptions`: the check of its `build()`, also run by `unmount`, so an
/// unbuilt value gets the same error.
fn unmount_path(o: &UnmountOptions) -> RResult<&str> {
    match &o.path {
        Some(p) if p.starts_with('/') => Ok(p),
        Some(p) => Err(invalid_path(format!(
            "unmount path must be absolute: {p:?}"
        ))),
        None => Err(invalid_path("UnmountOptions needs a path")),
    }
}

/// Registers the disk module.
pub fn register(engine: &mut Engine, sdk: &SdkContext) {
    let mut b = Binding::new(engine, "disk");
    let b = &mut b;
    register_options(b);
    crate::utils::register_value_maps(b);
    b.custom_type::<UnmountOptions>();
    b.func(
        "UnmountOptions",
        [],
        NO_HOST,
        "A new `UnmountOptions` builder with the defaults.",
        UnmountOptions::default,
    );
    crate::declare!(
        b,
        "path",
        NO_HOST,
        "Sets `path` (returns the updated builder).",
        |_this: &mut UnmountOptions, p: &str| UnmountOptions {
            path: Some(p.to_string()),
        }
    );
    crate::declare!(
        b,
        "build",
        NO_HOST,
        "Checks the options and returns them.",
        |o: &mut UnmountOptions| {
            unmount_path(o)?;
            Ok::<_, Box<EvalAltResult>>(o.clone())
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "unmount",
        &[Action::FsUnmount],
        "Unmounts a file system.",
        |o: UnmountOptions| { disk::unmount(&c, unmount_path(&o)?).map_err(to_script_error) }
    );

    let c = sdk.clone();
    crate::declare!(
        b,
        "df",
        &[Action::FsOpen, Action::FsRead, Action::FsStat],
        "File-system usage of the mounted file systems.",
        || filesystems(&c, &FilesystemOptions::default())
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "iostat",
        &[Action::FsOpen, Action::FsRead],
        "Per-device I/O counters.",
        || iostat(&c)
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "lsblk",
        &[Action::FsOpen, Action::FsRead],
        "The block devices of the host.",
        || lsblk(&c)
    );

    b.custom_type::<Filesystems>();
    crate::declare!(
        b,
        "Filesystems",
        &[Action::FsOpen, Action::FsRead, Action::FsStat],
        "The mounted file systems.",
        |targets: Array, local: bool| {
            let targets = strings("targets", targets)?;
            Ok::<_, Box<EvalAltResult>>(Filesystems(FilesystemOptions { targets, local }))
        }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "filesystems",
        &[Action::FsOpen, Action::FsRead],
        "The selected mounted file systems.",
        |f: &mut Filesystems| { filesystems(&c, &f.0) }
    );
    let c = sdk.clone();
    crate::declare!(
        b,
        "iostat",
        &[Action::FsOpen, Action::FsRead],
        "Per-device I/O counters.",
        |_this: &mut Filesystems| iostat(&c)
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn format_bytes_rounds_down_in_binary_units() {
        for (size, unit, want) in [
            (0, "BYTES", 0),
            (1023, "KILOBYTES", 0),
            (1024, "KILOBYTES", 1),
            (5 * 1024 * 1024 - 1, "MEGABYTES", 4),
            (i64::MAX, "BYTES", i64::MAX),
            (i64::MAX, "MEGABYTES", i64::MAX / (1024 * 1024)),
        ] {
            assert_eq!(format_bytes(size, unit).unwrap(), want, "{size} {unit}");
        }
        // the result times the unit never exceeds the size, and the remainder is < one unit
        for size in [1_i64, 999, 4096, 123_456_789, i64::MAX - 1] {
            for (unit, div) in UNITS {
                let n = format_bytes(size, unit).unwrap();
                assert!(n * div <= size && size - n * div < *div);
            }
        }
        assert!(format_bytes(-1, "BYTES").is_err());
        assert!(format_bytes(1, "GIGABYTES").is_err());
        assert!(format_bytes(1, "bytes").is_err());
    }
}

crate::script_types!(
    FilesystemOptions => "FilesystemOptions",
    UnmountOptions => "UnmountOptions",
    Filesystems => "Filesystems",
);
