//! gzip helpers on file handles, bounded by `SdkLimits::max_read_bytes`.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use rex_auth::Action;

use super::error::FsError;
use super::handle::FileHandle;
use super::text::Match;
use crate::SdkContext;

/// Sizes of a gzip file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GzipInfo {
    /// Bytes on disk.
    pub compressed_size_bytes: u64,
    /// Bytes after decompression.
    pub uncompressed_size_bytes: u64,
    /// compressed / uncompressed (0 for empty content).
    pub compression_ratio: f64,
}

/// Compresses `src` into `dest` (`read` src, `write` dest). `level` is 1..=9.
pub fn compress(
    ctx: &SdkContext,
    src: &FileHandle,
    dest: &FileHandle,
    level: u32,
) -> Result<(), FsError> {
    if !(1..=9).contains(&level) {
        return Err(FsError::InvalidArguments("level must be 1..=9".into()));
    }
    let read = src.permit(ctx, Action::FsRead)?;
    let write = dest.permit(ctx, Action::FsWrite)?;
    let data = src.read_bytes_with(ctx, &read)?;
    let dp = write.resource_id();
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(level));
    enc.write_all(&data)
        .map_err(|e| FsError::io("compress", dp, e))?;
    let bytes = enc.finish().map_err(|e| FsError::io("compress", dp, e))?;
    // Compressed first, so a failure leaves the destination as it was.
    dest.write_in_place_with(&write, &bytes)
}

/// Decompresses the whole file, bounded (`read` File).
fn decompress(ctx: &SdkContext, f: &FileHandle) -> Result<(u64, String), FsError> {
    let read = f.permit(ctx, Action::FsRead)?;
    let raw = f.read_bytes_with(ctx, &read)?;
    let limit = ctx.limits().max_read_bytes;
    let mut out = Vec::new();
    MultiGzDecoder::new(raw.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| FsError::io("decompress", f.path().as_str(), e))?;
    if out.len() as u64 > limit {
        return Err(FsError::FileTooLarge {
            path: f.path().as_str().to_string(),
            limit,
        });
    }
    Ok((raw.len() as u64, String::from_utf8_lossy(&out).into_owned()))
}

/// Lines of the decompressed content (same `start`/`count` rules as `read_lines`).
pub fn read_gzip_lines(
    ctx: &SdkContext,
    f: &FileHandle,
    start: Option<i64>,
    count: Option<i64>,
) -> Result<Vec<String>, FsError> {
    let (_, t) = decompress(ctx, f)?;
    super::text::select_lines_within(&t, start, count, &mut ctx.allowance())
}

/// Compressed and uncompressed sizes.
pub fn gzip_info(ctx: &SdkContext, f: &FileHandle) -> Result<GzipInfo, FsError> {
    let (c, t) = decompress(ctx, f)?;
    let u = t.len() as u64;
    Ok(GzipInfo {
        compressed_size_bytes: c,
        uncompressed_size_bytes: u,
        compression_ratio: if u == 0 { 0.0 } else { c as f64 / u as f64 },
    })
}

/// Searches the decompressed lines. `max_results`: +N first N, −N last N, 0 all.
pub fn search_gzip(
    ctx: &SdkContext,
    f: &FileHandle,
    pattern: &str,
    case_insensitive: bool,
    exclude_pattern: Option<&str>,
    max_results: i64,
) -> Result<Vec<Match>, FsError> {
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| FsError::InvalidArguments(e.to_string()))?;
    let ex = match exclude_pattern {
        Some(p) => {
            Some(regex::Regex::new(p).map_err(|e| FsError::InvalidArguments(e.to_string()))?)
        }
        None => None,
    };
    let (_, t) = decompress(ctx, f)?;
    let mut hits: Vec<Match> = t
        .lines()
        .enumerate()
        .filter(|(_, l)| re.is_match(l) && !ex.as_ref().is_some_and(|e| e.is_match(l)))
        .map(|(i, l)| Match {
            line_number: i + 1,
            line_content: l.to_string(),
        })
        .collect();
    let n = usize::try_from(max_results.unsigned_abs()).unwrap_or(usize::MAX);
    if max_results > 0 {
        hits.truncate(n);
    } else if max_results < 0 && hits.len() > n {
        hits.drain(..hits.len() - n);
    }
    Ok(hits)
}
