//! UTF-8-safe truncation (REX sliced bytes and could panic on a char boundary; this never does).

use std::borrow::Cow;

/// Suffix appended to a message that was cut to fit its byte cap.
pub const TRUNCATION_MARKER: &str = "...[truncate]";

/// Returns the longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
fn prefix_at_most(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Truncates `s` so that the result is at most `max_bytes` bytes of valid UTF-8.
///
/// If `s` fits it is returned unchanged (borrowed). Otherwise it is cut on a char boundary and
/// [`TRUNCATION_MARKER`] is appended, the marker included in the cap. If `max_bytes` is smaller
/// than the marker, the text is cut without a marker. Never panics.
#[must_use]
pub fn truncate_utf8(s: &str, max_bytes: usize) -> Cow<'_, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    match max_bytes.checked_sub(TRUNCATION_MARKER.len()) {
        Some(room) => {
            let mut out = String::with_capacity(max_bytes);
            out.push_str(prefix_at_most(s, room));
            out.push_str(TRUNCATION_MARKER);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(prefix_at_most(s, max_bytes)),
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
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_is_unchanged() {
        assert!(matches!(truncate_utf8("abc", 10), Cow::Borrowed("abc")));
        assert_eq!(truncate_utf8("", 0), "");
    }

    #[test]
    fn long_gets_marker_within_cap() {
        let s = "a".repeat(100);
        let t = truncate_utf8(&s, 20);
        assert_eq!(t.len(), 20);
        assert_eq!(t, format!("{}{}", "a".repeat(7), TRUNCATION_MARKER));
    }

    #[test]
    fn multibyte_boundary_does_not_panic() {
        // 'é' is 2 bytes, '€' 3, '😀' 4: a byte slice at the cap would split them.
        let s = "é€😀".repeat(50);
        for cap in 0..60 {
            let t = truncate_utf8(&s, cap);
            assert!(t.len() <= cap, "cap {cap}: {} bytes", t.len());
        }
        let t = truncate_utf8(&s, 15);
        assert_eq!(t, format!("é{TRUNCATION_MARKER}"));
    }

    #[test]
    fn tiny_cap_has_no_marker() {
        assert_eq!(truncate_utf8("😀😀😀😀", 5), "😀");
        assert_eq!(truncate_utf8("😀", 3), "");
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_in_cap(s in "\\PC*", cap in 0usize..64) {
            let t = truncate_utf8(&s, cap);
            prop_assert!(t.len() <= cap);
            prop_assert!(std::str::from_utf8(t.as_bytes()).is_ok());
            if s.len() <= cap {
                prop_assert_eq!(t.as_ref(), s.as_str());
            } else if cap >= TRUNCATION_MARKER.len() {
                prop_assert!(t.ends_with(TRUNCATION_MARKER));
                let body = &t[..t.len() - TRUNCATION_MARKER.len()];
                prop_assert!(s.starts_with(body));
            }
        }

        #[test]
        fn arbitrary_unicode(chars in proptest::collection::vec(any::<char>(), 0..200), cap in 0usize..300) {
            let s: String = chars.into_iter().collect();
            let t = truncate_utf8(&s, cap);
            prop_assert!(t.len() <= cap);
        }
    }
}
