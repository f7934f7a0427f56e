//! Slab allocator statistics (`/proc/slabinfo`).

use super::*;

/// One slab cache of `/proc/slabinfo` (REX's `SlabEntry`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlabEntry {
    /// Cache name.
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Allocated objects.
    pub num_objs: u64,
    /// Object size in bytes.
    pub obj_size: u64,
    /// Objects per slab.
    pub objs_per_slab: u64,
    /// Pages per slab.
    pub pages_per_slab: u64,
    /// Slabs with at least one object in use.
    pub active_slabs: u64,
    /// Allocated slabs.
    pub num_slabs: u64,
    /// `num_slabs * pages_per_slab * page size`, in bytes.
    pub cache_size: u64,
}

/// Totals over every slab cache, like `slabtop`'s header (REX's `SlabSummary`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlabSummary {
    /// Objects in use, all caches.
    pub active_objects: u64,
    /// Allocated objects.
    pub total_objects: u64,
    /// Active objects in percent of allocated ones.
    pub active_objects_percent: f64,
    /// Active slabs.
    pub active_slabs: u64,
    /// Allocated slabs.
    pub total_slabs: u64,
    /// Caches with an object in use.
    pub active_caches: u64,
    /// Caches.
    pub total_caches: u64,
    /// Bytes of objects in use.
    pub active_size: u64,
    /// Bytes of all slabs.
    pub total_size: u64,
    /// Smallest object size in bytes (0 without caches).
    pub min_obj_size: u64,
    /// Average object size in bytes over allocated objects.
    pub avg_obj_size: u64,
    /// Largest object size in bytes.
    pub max_obj_size: u64,
}

/// `/proc/slabinfo` (REX's `SlabInfo`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlabInfo {
    /// Every cache, in file order.
    pub slabs: Vec<SlabEntry>,
    /// Totals.
    pub summary: SlabSummary,
}

/// Parses `/proc/slabinfo` version 2.x text. `page_size` is in bytes.
pub fn parse_slabinfo(text: &str, page_size: u64) -> Result<SlabInfo, SysinfoError> {
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    if !version.starts_with("slabinfo - version: 2.") {
        return Err(SysinfoError::InvalidValue(format!(
            "unsupported slabinfo header `{version}`"
        )));
    }
    let mut slabs = Vec::new();
    for line in lines {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_whitespace();
        let name = f.next().unwrap_or_default().to_string();
        let mut num = || -> Result<u64, SysinfoError> {
            f.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })
        };
        let active_objs = num()?;
        let num_objs = num()?;
        let obj_size = num()?;
        let objs_per_slab = num()?;
        let pages_per_slab = num()?;
        // `: tunables <limit> <batchcount> <sharedfactor> : slabdata <active> <num> <shared>`
        let rest: Vec<&str> = line.split_whitespace().collect();
        let slabdata = rest
            .iter()
            .position(|w| *w == "slabdata")
            .and_then(|i| rest.get(i.saturating_add(1)..i.saturating_add(3)))
            .ok_or_else(|| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })?;
        let parse = |v: &str| -> Result<u64, SysinfoError> {
            v.parse().map_err(|_| {
                SysinfoError::InvalidValue(format!("malformed slabinfo line `{line}`"))
            })
        };
        let active_slabs = parse(slabdata.first().copied().unwrap_or_default())?;
        let num_slabs = parse(slabdata.get(1).copied().unwrap_or_default())?;
        slabs.push(SlabEntry {
            name,
            active_objs,
            num_objs,
            obj_size,
            objs_per_slab,
            pages_per_slab,
            active_slabs,
            num_slabs,
            cache_size: num_slabs
                .saturating_mul(pages_per_slab)
                .saturating_mul(page_size),
        });
    }
    let sum = |f: fn(&SlabEntry) -> u64| slabs.iter().fold(0u64, |a, e| a.saturating_add(f(e)));
    let active_objects = sum(|e| e.active_objs);
    let total_objects = sum(|e| e.num_objs);
    let total_obj_bytes = sum(|e| e.num_objs.saturating_mul(e.obj_size));
    let summary = SlabSummary {
        active_objects,
        total_objects,
        active_objects_percent: if total_objects > 0 {
            active_objects as f64 / total_objects as f64 * 100.0
        } else {
            0.0
        },
        active_slabs: sum(|e| e.active_slabs),
        total_slabs: sum(|e| e.num_slabs),
        active_caches: slabs.iter().filter(|e| e.active_objs > 0).count() as u64,
        total_caches: slabs.len() as u64,
        active_size: sum(|e| e.active_objs.saturating_mul(e.obj_size)),
        total_size: sum(|e| e.cache_size),
        min_obj_size: slabs.iter().map(|e| e.obj_size).min().unwrap_or(0),
        avg_obj_size: total_obj_bytes.checked_div(total_objects).unwrap_or(0),
        max_obj_size: slabs.iter().map(|e| e.obj_size).max().unwrap_or(0),
    };
    Ok(SlabInfo { slabs, summary })
}

/// Slab allocator statistics from `/proc/slabinfo` (readable by root only on most kernels).
/// Checks `open` on Dir `/proc`, then `open` and `read` on File `/proc/slabinfo`. At most
/// `max_read_bytes` are read.
pub fn slab_info(ctx: &SdkContext) -> Result<SlabInfo, SysinfoError> {
    let text = crate::proc_file::read_one::<SysinfoError>(ctx, "/proc", "slabinfo")?;
    parse_slabinfo(&text, procfs::page_size())
}
