//! The one parser of every numeric command-line value (issue 29, item 11): sizes with an
//! optional `K`/`M`/`G` suffix and durations in seconds. NaN, infinities, negatives, zero
//! where it means nothing, and values past what the type holds are refused with a message
//! (clap turns it into a usage error, exit 2), never read as "no limit".

use std::time::Duration;

/// A size in bytes: digits with an optional `K`, `M` or `G` suffix (powers of 1024, either
/// case). Zero, signs, fractions and values past `u64` are refused.
///
/// ```
/// use rex_runner::numbers::parse_size;
/// assert_eq!(parse_size("64M"), Ok(64 << 20));
/// assert_eq!(parse_size("1g"), Ok(1 << 30));
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert!(parse_size("-1").is_err());
/// assert!(parse_size("0").is_err());
/// assert!(parse_size("1.5G").is_err());
/// assert!(parse_size("99999999999G").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M or G)")),
            };
            (s.get(..i).unwrap_or_default(), m)
        }
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid size {s:?} (digits with an optional K, M or G)"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size {s:?} (zero, or too large)"))
}

/// [`parse_size`] as a `usize` (the engine's limits).
pub fn parse_size_usize(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    usize::try_from(n).map_err(|_| format!("size {s:?} is too large"))
}

/// A duration in seconds, whole or fractional (`30`, `0.5`): finite, positive and
/// representable. `nan`, `inf`, negatives, zero and overflow are refused.
///
/// ```
/// use std::time::Duration;
/// use rex_runner::numbers::parse_seconds;
/// assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
/// for bad in ["nan", "NaN", "inf", "-inf", "infinity", "-1", "0", "1e300", ""] {
///     assert!(parse_seconds(bad).is_err(), "{bad}");
/// }
/// ```
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of seconds {s:?}"))?;
    seconds(value).map_err(|why| format!("invalid number of seconds {s:?}: {why}"))
}

/// A number of seconds already parsed (a JSON or TOML number): finite, positive and
/// representable as a [`Duration`].
pub fn seconds(value: f64) -> Result<Duration, &'static str> {
    if !value.is_finite() {
        return Err("not a finite number");
    }
    if value <= 0.0 {
        return Err("must be positive");
    }
    Duration::try_from_secs_f64(value).map_err(|_| "too large")
}

/// A count (`--max-operations`, `--max-array-size`, ...): a positive integer. Zero is
/// refused: the engine would read it as "no limit".
///
/// ```
/// use rex_runner::numbers::parse_count;
/// assert_eq!(parse_count("1000"), Ok(1000));
/// for bad in ["0", "-1", "1.5", "nan", "99999999999999999999999", ""] {
///     assert!(parse_count(bad).is_err(), "{bad}");
/// }
/// ```
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid count {s:?} (a positive integer)"));
    }
    t.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid count {s:?} (zero, or too large)"))
}

/// [`parse_count`] as a `usize`.
pub fn parse_count_usize(s: &str) -> Result<usize, String> {
    let n = parse_count(s)?;
    usize::try_from(n).map_err(|_| format!("count {s:?} is too large"))
}
