//! The text commands of the shell-style helpers (`awk_*`, `seq`), re-exported by
//! [`super::commands`]. The file is read as `cat` reads it (`read`, or redacted with
//! `redacted_read`).

use std::collections::BTreeMap;

use super::commands::{open_file, read_text};
use super::error::FsError;
use super::handle::OpenFileOptions;
use crate::SdkContext;

/// Splits a line into fields: whitespace runs when `delim` is empty or a single space.
pub fn awk_split(text: &str, delim: &str) -> Vec<String> {
    if delim.is_empty() || delim == " " {
        text.split_whitespace().map(str::to_string).collect()
    } else {
        text.split(delim).map(str::to_string).collect()
    }
}

fn field(line: &str, n: usize, delim: &str) -> Option<String> {
    awk_split(line, delim).into_iter().nth(n.checked_sub(1)?)
}

/// The 1-based field `n` of every line that has it (`read` File).
pub fn awk_field(
    ctx: &SdkContext,
    n: usize,
    delim: &str,
    path: &str,
) -> Result<Vec<String>, FsError> {
    let t = read_text(ctx, path)?;
    Ok(t.lines().filter_map(|l| field(l, n, delim)).collect())
}

/// Lines containing `substr` (`read` File).
pub fn awk_filter(ctx: &SdkContext, substr: &str, path: &str) -> Result<Vec<String>, FsError> {
    let t = read_text(ctx, path)?;
    Ok(t.lines()
        .filter(|l| l.contains(substr))
        .map(str::to_string)
        .collect())
}

/// Lines whose field `n` contains `substr` (`read` File).
pub fn awk_filter_field(
    ctx: &SdkContext,
    n: usize,
    delim: &str,
    substr: &str,
    path: &str,
) -> Result<Vec<String>, FsError> {
    let t = read_text(ctx, path)?;
    Ok(t.lines()
        .filter(|l| field(l, n, delim).is_some_and(|f| f.contains(substr)))
        .map(str::to_string)
        .collect())
}

/// Sum of field `n` (unparsable fields skipped) (`read` File).
pub fn awk_sum(ctx: &SdkContext, n: usize, delim: &str, path: &str) -> Result<f64, FsError> {
    let t = read_text(ctx, path)?;
    Ok(t.lines()
        .filter_map(|l| field(l, n, delim)?.trim().parse::<f64>().ok())
        .sum())
}

/// Occurrences of each value of field `n` (`read` File).
pub fn awk_count_unique(
    ctx: &SdkContext,
    n: usize,
    delim: &str,
    path: &str,
) -> Result<BTreeMap<String, u64>, FsError> {
    let t = read_text(ctx, path)?;
    let mut m = BTreeMap::new();
    for f in t.lines().filter_map(|l| field(l, n, delim)) {
        *m.entry(f).or_insert(0u64) += 1;
    }
    Ok(m)
}

/// Lines `start..=end` (1-based) (`read` File).
pub fn awk_filter_range(
    ctx: &SdkContext,
    start: i64,
    end: i64,
    path: &str,
) -> Result<Vec<String>, FsError> {
    if start < 1 || end < start {
        return Err(FsError::InvalidArguments(
            "awk_filter_range needs 1 <= start <= end".into(),
        ));
    }
    open_file(ctx, path, true, OpenFileOptions::read())?.read_lines(
        ctx,
        Some(start),
        Some(end.saturating_sub(start).saturating_add(1)),
    )
}

/// Inclusive integer range with `step` (non-zero), at most `max_len` values (a longer range
/// is refused before anything is allocated); never overflows near `i64::MAX`.
pub fn seq(start: i64, end: i64, step: i64, max_len: usize) -> Result<Vec<i64>, FsError> {
    if step == 0 {
        return Err(FsError::InvalidArguments("seq::step must not be 0".into()));
    }
    let (a, b, s) = (i128::from(start), i128::from(end), i128::from(step));
    if (b - a).signum() * s.signum() < 0 {
        return Ok(Vec::new());
    }
    let len = (b - a) / s + 1;
    if len > i128::try_from(max_len).unwrap_or(i128::MAX) {
        return Err(FsError::InvalidArguments(format!(
            "seq would produce {len} values, more than the limit of {max_len}"
        )));
    }
    let len = usize::try_from(len).map_err(|e| FsError::InvalidArguments(e.to_string()))?;
    let mut out = Vec::with_capacity(len);
    let mut v = a;
    for _ in 0..len {
        out.push(i64::try_from(v).map_err(|e| FsError::InvalidArguments(e.to_string()))?);
        v += s;
    }
    Ok(out)
}
