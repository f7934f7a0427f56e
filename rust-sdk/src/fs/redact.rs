//! Redacted reads (§3.9): an allow-list of printf-style templates. A line is kept when it
//! matches one template **as a whole line**; every other line becomes `[REDACTED]`.
//!
//! Unlike REX, literal template text is regex-escaped, templates are anchored, and the
//! compiled set is cached per dictionary file (reloaded when its size or mtime changes).
//! The dictionary is read through the gated SDK (`open` Dir, `open` + `read` File) by the
//! file handle's redacted read; this module only compiles and caches it (no I/O).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::RegexSet;

use super::error::FsError;

/// Where REX keeps the redaction dictionary.
pub const DEFAULT_REDACTION_CONFIG: &str = "/etc/opt/rex/rex_redaction.config";

/// The replacement of a line that matches no template.
const REDACTED: &str = "[REDACTED]";

/// A compiled redaction dictionary.
#[derive(Debug)]
pub struct Redactor {
    set: RegexSet,
}

impl Redactor {
    /// Compiles a dictionary text: one printf-style template per line, `#` comments.
    /// Templates with unsupported specifiers are skipped.
    pub fn from_templates(text: &str) -> Result<Self, FsError> {
        let pats: Vec<String> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.trim_start().starts_with('#'))
            .filter_map(template_to_regex)
            .collect();
        let set = RegexSet::new(&pats).map_err(|e| FsError::InvalidArguments(e.to_string()))?;
        Ok(Redactor { set })
    }

    /// Redacts `content` line by line.
    pub fn redact(&self, content: &str) -> String {
        let mut out = String::with_capacity(content.len());
        for (i, line) in content.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if line.is_empty() || self.set.is_match(line) {
                out.push_str(line);
            } else {
                out.push_str(REDACTED);
            }
        }
        out
    }
}

/// Converts one printf template into an anchored regex; `None` if it uses an unsupported
/// specifier.
fn template_to_regex(t: &str) -> Option<String> {
    let mut re = String::from("^");
    let mut lit = String::new();
    let mut it = t.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            lit.push('%');
            continue;
        }
        while it.peek().is_some_and(|c| "-+ #0".contains(*c)) {
            it.next();
        }
        while it.peek().is_some_and(char::is_ascii_digit) {
            it.next();
        }
        if it.peek() == Some(&'.') {
            it.next();
            while it.peek().is_some_and(char::is_ascii_digit) {
                it.next();
            }
        }
        while it.peek().is_some_and(|c| "hlzjt".contains(*c)) {
            it.next();
        }
        let group = match it.next()? {
            's' => r"(\S+)",
            'd' | 'i' => r"(-?\d+)",
            'u' => r"(\d+)",
            'm' => ".*?",
            _ => return None,
        };
        re.push_str(&regex::escape(&lit));
        lit.clear();
        re.push_str(group);
    }
    re.push_str(&regex::escape(&lit));
    re.push('$');
    Some(re)
}

/// The compiled dictionary's cache key: the file's mtime (seconds, nanoseconds) and size.
pub(crate) type CacheKey = (i64, i64, u64);

type Cache = Mutex<HashMap<String, (CacheKey, Arc<Redactor>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The dictionary compiled from `path` when its file still has `key`; `text` (the file's
/// content, read by the caller through the gate) is compiled and cached otherwise.
///
/// The file-system side (opening and reading the dictionary, checked) lives with the file
/// handle's redacted read: this module does no I/O.
pub(crate) fn compiled(
    path: &str,
    key: CacheKey,
    text: impl FnOnce() -> Result<String, FsError>,
) -> Result<Arc<Redactor>, FsError> {
    if let Ok(c) = cache().lock()
        && let Some((k, r)) = c.get(path)
        && *k == key
    {
        return Ok(r.clone());
    }
    let r = Arc::new(Redactor::from_templates(&text()?)?);
    if let Ok(mut c) = cache().lock() {
        c.insert(path.to_string(), (key, r.clone()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn templates_are_escaped_and_anchored() {
        let r = Redactor::from_templates("# comment\nuser %s logged in (%d)\nsize=%zu.\nbad %q\n")
            .unwrap();
        assert_eq!(
            r.redact("user bob logged in (42)"),
            "user bob logged in (42)"
        );
        assert_eq!(r.redact("xx user bob logged in (42)"), REDACTED);
        assert_eq!(r.redact("user bob logged in X42)"), REDACTED);
        assert_eq!(r.redact("size=10."), "size=10.");
        assert_eq!(r.redact("size=10x"), REDACTED);
        assert_eq!(r.redact("bad x"), REDACTED);
        assert_eq!(r.redact("a\nsize=1.\n"), format!("{REDACTED}\nsize=1.\n"));
    }
}
