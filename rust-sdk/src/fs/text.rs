//! Pure text helpers shared by the handle API and the shell-style commands.

use super::error::FsError;
use crate::context::Allowance;

/// A search hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// 1-based line number.
    pub line_number: usize,
    /// The line, without its newline.
    pub line_content: String,
}

/// `wc`-style counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Newline characters.
    pub line_count: u64,
    /// Whitespace-separated words.
    pub word_count: u64,
    /// Bytes.
    pub byte_count: u64,
}

/// Options for [`replace_text`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplacementOptions {
    /// The pattern is a regex (replacement may use `$1`).
    pub is_regex: bool,
    /// Replace every match instead of the first.
    pub replace_all: bool,
}

/// Selects lines: `start` is 1-based (default 1); `count` `None` = all from `start`,
/// positive = that many from `start`, negative = the last `-count` lines of the file.
pub fn select_lines(
    t: &str,
    start: Option<i64>,
    count: Option<i64>,
) -> Result<Vec<String>, FsError> {
    select_lines_within(t, start, count, &mut Allowance::unlimited())
}

/// Bytes one returned line of `len` bytes costs its caller: the `String` here and the script
/// value it usually becomes (an array element holding a shared string), both alive while
/// the result is converted.
pub fn line_cost(len: usize) -> usize {
    LINE_OVERHEAD.saturating_add(len.saturating_mul(2))
}

/// A `String` (24 bytes) and a script array element with its shared string cell (56 bytes).
const LINE_OVERHEAD: usize = 80;

/// [`select_lines`], counting every line it returns against `allowance` (issue 29: the lines
/// of a 60 MB file of short lines take over 2 GB).
pub fn select_lines_within(
    t: &str,
    start: Option<i64>,
    count: Option<i64>,
    allowance: &mut Allowance<'_>,
) -> Result<Vec<String>, FsError> {
    let total = t.lines().count();
    let start = start.unwrap_or(1);
    if start < 1 {
        return Err(FsError::InvalidArguments("start must be >= 1".into()));
    }
    let from = usize::try_from(start - 1).unwrap_or(usize::MAX).min(total);
    let rest = total - from;
    let (skip, take) = match count {
        None => (from, rest),
        Some(c) if c >= 0 => (from, usize::try_from(c).unwrap_or(usize::MAX).min(rest)),
        Some(c) => {
            let n = usize::try_from(c.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(rest);
            (total - n, n)
        }
    };
    let mut out = Vec::new();
    for line in t.lines().skip(skip).take(take) {
        allowance.charge(line_cost(line.len()))?;
        out.push(line.to_string());
    }
    Ok(out)
}

/// Lines matching `re`.
pub(crate) fn search(t: &str, re: &regex::Regex) -> Vec<Match> {
    t.lines()
        .enumerate()
        .filter(|(_, l)| re.is_match(l))
        .map(|(i, l)| Match {
            line_number: i + 1,
            line_content: l.to_string(),
        })
        .collect()
}

/// Counts lines (newlines), words and bytes.
pub(crate) fn counts(b: &[u8]) -> Counts {
    let mut c = Counts {
        byte_count: b.len() as u64,
        ..Default::default()
    };
    let mut in_word = false;
    for &x in b {
        if x == b'\n' {
            c.line_count += 1;
        }
        if x.is_ascii_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            c.word_count += 1;
        }
    }
    c
}

/// Printable ASCII runs (space..=`~` and tab) of at least 4 characters.
pub fn extract_strings(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for &x in b {
        if x == b'\t' || (0x20..0x7f).contains(&x) {
            cur.push(char::from(x));
        } else {
            if cur.len() >= 4 {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    if cur.len() >= 4 {
        out.push(cur);
    }
    out
}

/// Replaces `old` with `new` in `text`: literal first match by default.
pub fn replace_text(
    text: &str,
    old: &str,
    new: &str,
    opts: ReplacementOptions,
) -> Result<String, FsError> {
    if opts.is_regex {
        let re = regex::Regex::new(old).map_err(|e| FsError::InvalidArguments(e.to_string()))?;
        Ok(if opts.replace_all {
            re.replace_all(text, new).into_owned()
        } else {
            re.replace(text, new).into_owned()
        })
    } else if old.is_empty() {
        Err(FsError::InvalidArguments("empty pattern".into()))
    } else if opts.replace_all {
        Ok(text.replace(old, new))
    } else {
        Ok(text.replacen(old, new, 1))
    }
}
