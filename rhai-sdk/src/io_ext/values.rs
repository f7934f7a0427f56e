//! The value types the handle API returns (`Ownership`, `DiskUsageResult`, `GzipInfo`,
//! `SymlinkHandle`, ...).

use super::*;

// ---------------------------------------------------------------------------------------------
// Value types

pub(super) fn du_entry_map(e: &DiskUsageEntry) -> Map {
    let mut m = Map::new();
    m.insert("path".into(), e.path.clone().into());
    m.insert("size_bytes".into(), int(e.size_bytes).into());
    m.insert("inode_count".into(), int(e.inode_count).into());
    m
}

pub(super) fn gzip_info_map(g: &GzipInfo) -> Map {
    let mut m = Map::new();
    m.insert(
        "compressed_size_bytes".into(),
        int(g.compressed_size_bytes).into(),
    );
    m.insert(
        "uncompressed_size_bytes".into(),
        int(g.uncompressed_size_bytes).into(),
    );
    m.insert("compression_ratio".into(), g.compression_ratio.into());
    m
}

/// The result of `DirHandle.disk_usage`: `entries` (Array of `DiskUsageEntry`) and
/// `largest_subdir_handle` (a `DirHandle`, or `()` unless `track_largest_subdir` found one).
#[derive(Debug, Clone)]
pub struct ScriptDiskUsageResult {
    pub(super) entries: Vec<DiskUsageEntry>,
    pub(super) largest_subdir_handle: Option<DirHandle>,
    pub(super) total_size_bytes: u64,
    pub(super) total_inode_count: u64,
}

/// A symlink opened itself (`DirHandle.open_symlink`).
#[derive(Debug, Clone)]
pub struct ScriptSymlinkHandle(pub(super) Arc<SymlinkHandle>);

pub(super) fn register_values(b: &mut Binding<'_>) {
    b.custom_type::<Ownership>();
    b.getter(
        "user",
        NO_HOST,
        "The `user` property.",
        |o: &mut Ownership| o.user.clone(),
    );
    b.getter(
        "group",
        NO_HOST,
        "The `group` property.",
        |o: &mut Ownership| o.group.clone(),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |o: &mut Ownership| ownership_map(o)
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |o: &mut Ownership| { format!("{}:{}", o.user, o.group) }
    );

    b.custom_type::<DiskUsageEntry>();
    b.getter(
        "path",
        NO_HOST,
        "The `path` property.",
        |e: &mut DiskUsageEntry| e.path.clone(),
    );
    b.getter(
        "size_bytes",
        NO_HOST,
        "The `size_bytes` property.",
        |e: &mut DiskUsageEntry| int(e.size_bytes),
    );
    b.getter(
        "inode_count",
        NO_HOST,
        "The `inode_count` property.",
        |e: &mut DiskUsageEntry| int(e.inode_count),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |e: &mut DiskUsageEntry| du_entry_map(e)
    );

    b.custom_type::<ScriptDiskUsageResult>();
    b.getter(
        "entries",
        NO_HOST,
        "The `entries` property.",
        |r: &mut ScriptDiskUsageResult| {
            r.entries
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<Array>()
        },
    );
    b.getter(
        "largest_subdir_handle",
        NO_HOST,
        "The `largest_subdir_handle` property.",
        |r: &mut ScriptDiskUsageResult| {
            r.largest_subdir_handle
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        },
    );
    b.getter(
        "total_size_bytes",
        NO_HOST,
        "The `total_size_bytes` property.",
        |r: &mut ScriptDiskUsageResult| int(r.total_size_bytes),
    );
    b.getter(
        "total_inode_count",
        NO_HOST,
        "The `total_inode_count` property.",
        |r: &mut ScriptDiskUsageResult| int(r.total_inode_count),
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |r: &mut ScriptDiskUsageResult| {
            let mut m = Map::new();
            m.insert(
                "entries".into(),
                r.entries
                    .iter()
                    .map(|e| Dynamic::from_map(du_entry_map(e)))
                    .collect::<Array>()
                    .into(),
            );
            m.insert(
                "largest_subdir".into(),
                r.largest_subdir_handle
                    .as_ref()
                    .map_or(Dynamic::UNIT, |d| d.path().as_str().to_string().into()),
            );
            m.insert("total_size_bytes".into(), int(r.total_size_bytes).into());
            m.insert("total_inode_count".into(), int(r.total_inode_count).into());
            m
        }
    );

    b.custom_type::<GzipInfo>();
    b.getter(
        "compressed_size_bytes",
        NO_HOST,
        "The `compressed_size_bytes` property.",
        |g: &mut GzipInfo| int(g.compressed_size_bytes),
    );
    b.getter(
        "uncompressed_size_bytes",
        NO_HOST,
        "The `uncompressed_size_bytes` property.",
        |g: &mut GzipInfo| int(g.uncompressed_size_bytes),
    );
    b.getter(
        "compression_ratio",
        NO_HOST,
        "The `compression_ratio` property.",
        |g: &mut GzipInfo| g.compression_ratio,
    );
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The value as a map.",
        |g: &mut GzipInfo| gzip_info_map(g)
    );

    b.custom_type::<ScriptSymlinkHandle>();
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |h: &mut ScriptSymlinkHandle| { h.0.path().as_str().to_string() }
    );

    // Metadata additions.
    crate::declare!(
        b,
        "symlink_target",
        NO_HOST,
        "The target, for a symlink.",
        |m: &mut Metadata| {
            m.symlink_target
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        }
    );
    b.getter(
        "owner",
        NO_HOST,
        "The `owner` property.",
        |m: &mut Metadata| m.owner(),
    );

    // Maps returned where REX returns a serialisable value (`counts()`, `search()` matches)
    // answer `to_map()` too.
    crate::utils::register_value_maps(b);
}
