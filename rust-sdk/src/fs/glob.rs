//! A small shell glob matcher (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`).

/// Whether `name` matches the glob `pat`. With `ignore_case` both sides are compared
/// case-insensitively (Unicode lowercase).
pub fn glob_match(pat: &str, name: &str, ignore_case: bool) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pat.to_lowercase().chars().collect(),
            name.to_lowercase().chars().collect(),
        )
    } else {
        (pat.chars().collect(), name.chars().collect())
    };
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    // Iterative matching with backtracking on the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let c = n.get(ni).copied();
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some('[') => {
                if let Some(ch) = c {
                    match class(p.get(pi..).unwrap_or_default(), ch) {
                        Some((true, len)) => {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                        Some((false, _)) => {}
                        None if ch == '[' => {
                            pi += 1;
                            ni += 1;
                            continue;
                        }
                        None => {}
                    }
                }
            }
            Some(&x) if Some(x) == c => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&x| x == '*')
}

/// Parses a `[...]` class at the start of `p`; returns (matched, length of the class).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut ok = false;
    let mut first = true;
    loop {
        let x = *p.get(i)?;
        if x == ']' && !first {
            return Some((ok != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&y| y != ']') {
            let hi = *p.get(i + 2)?;
            if x <= c && c <= hi {
                ok = true;
            }
            i += 3;
        } else {
            if x == c {
                ok = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*.log", "a.log", false));
        assert!(!glob_match("*.log", "a.LOG", false));
        assert!(glob_match("*.log", "a.LOG", true));
        assert!(glob_match("a?c", "abc", false));
        assert!(glob_match("[a-c]x*", "bxyz", false));
        assert!(!glob_match("[!a-c]x", "bx", false));
        assert!(glob_match("*", "", false));
        assert!(glob_match("a*b*c", "aXbYbZc", false));
        assert!(!glob_match("a*b", "aXc", false));
        assert!(glob_match("[", "[", false));
    }
}
