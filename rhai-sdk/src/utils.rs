//! The `utils` module (REX's `rhai-sdk-common-utils`, no Cedar checks): `DateTime`,
//! `random_alphanumeric` and `to_json`.
//!
//! Calendar math is proleptic Gregorian in UTC, written here on top of `std::time` (days from
//! civil and back), so no time-zone database or clock crate is involved.

use std::time::{SystemTime, UNIX_EPOCH};

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext};

use crate::binding::{Binding, NO_HOST};
use crate::error::{COMMON_SOURCE, script_err};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// The longest string `random_alphanumeric` produces (1 MiB).
pub const MAX_RANDOM_LEN: i64 = 1024 * 1024;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `DateTimeFormat::RFC3339`.
pub const RFC3339: &str = "RFC3339";
/// `DateTimeFormat::RFC2822`.
pub const RFC2822: &str = "RFC2822";

/// A UTC instant with nanosecond precision (REX's `DateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    secs: i64,
    nanos: u32,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (y, m, d) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Years accepted by the constructors (keeps all arithmetic far from overflow).
const YEAR_RANGE: std::ops::RangeInclusive<i64> = -9999..=9999;

impl DateTime {
    /// From a civil UTC date and time; every field is range-checked.
    pub fn from_parts(
        y: i64,
        mo: i64,
        d: i64,
        h: i64,
        mi: i64,
        s: i64,
        ns: i64,
    ) -> Result<Self, String> {
        if !YEAR_RANGE.contains(&y) {
            return Err(format!("year {y} out of range"));
        }
        if !(1..=12).contains(&mo) {
            return Err(format!("month {mo} out of range"));
        }
        if d < 1 || d > days_in_month(y, mo) {
            return Err(format!("day {d} out of range"));
        }
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&s) {
            return Err(format!("time {h}:{mi}:{s} out of range"));
        }
        let nanos = u32::try_from(ns)
            .ok()
            .filter(|n| i64::from(*n) < NANOS_PER_SEC)
            .ok_or_else(|| format!("nanosecond {ns} out of range"))?;
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
        Ok(Self { secs, nanos })
    }

    /// From seconds (and extra nanoseconds) since the Unix epoch.
    pub fn from_epoch(secs: i64, nanos: i64) -> Result<Self, String> {
        let extra = nanos.div_euclid(NANOS_PER_SEC);
        let nanos = u32::try_from(nanos.rem_euclid(NANOS_PER_SEC)).map_err(|e| e.to_string())?;
        let secs = secs
            .checked_add(extra)
            .ok_or_else(|| "timestamp out of range".to_string())?;
        let dt = Self { secs, nanos };
        if !YEAR_RANGE.contains(&dt.civil().0) {
            return Err("timestamp out of range".into());
        }
        Ok(dt)
    }

    /// The current time.
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Self {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(_) => Self { secs: 0, nanos: 0 },
        }
    }

    /// Seconds since the epoch.
    pub fn epoch_seconds(&self) -> i64 {
        self.secs
    }

    /// The sub-second nanoseconds.
    pub fn nanos(&self) -> i64 {
        i64::from(self.nanos)
    }

    /// (year, month, day, hour, minute, second)
    fn civil(&self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
    }

    fn month_name(&self) -> &'static str {
        let m = self.civil().1;
        usize::try_from(m - 1)
            .ok()
            .and_then(|i| MONTHS.get(i))
            .copied()
            .unwrap_or("")
    }

    /// RFC 3339 (`2024-02-29T12:00:00Z`, with `.nnnnnnnnn` when nanoseconds are set).
    pub fn to_rfc3339(&self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        let frac = if self.nanos == 0 {
            String::new()
        } else {
            format!(".{:09}", self.nanos)
        };
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
    }

    /// RFC 2822 (`Thu, 29 Feb 2024 12:00:00 +0000`).
    pub fn to_rfc2822(&self) -> String {
        let (y, _, d, h, mi, s) = self.civil();
        let weekday = usize::try_from(self.secs.div_euclid(86_400).rem_euclid(7))
            .ok()
            .map(|i| (i + 3) % 7)
            .and_then(|i| DAYS.get(i))
            .copied()
            .unwrap_or("");
        let month: String = self.month_name().chars().take(3).collect();
        format!("{weekday}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} +0000")
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`).
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        let bad = || format!("not an RFC 3339 date-time: {s:?}");
        let s = s.trim();
        let (date, rest) = s.split_once(['T', 't', ' ']).ok_or_else(bad)?;
        let mut dp = date.split('-');
        let (y, mo, d) = match (dp.next(), dp.next(), dp.next(), dp.next()) {
            (Some(y), Some(m), Some(d), None) => (num(y)?, num(m)?, num(d)?),
            _ => return Err(bad()),
        };
        let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
            (t, 0)
        } else {
            let idx = rest.rfind(['+', '-']).ok_or_else(bad)?;
            let (t, off) = rest.split_at(idx);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off
                .get(1..)
                .and_then(|o| o.split_once(':'))
                .ok_or_else(bad)?;
            (t, sign * (num(oh)? * 3600 + num(om)? * 60))
        };
        let (hms, frac) = match time.split_once('.') {
            Some((hms, f)) => (hms, f),
            None => (time, ""),
        };
        let mut tp = hms.split(':');
        let (h, mi, sec) = match (tp.next(), tp.next(), tp.next(), tp.next()) {
            (Some(h), Some(m), Some(s), None) => (num(h)?, num(m)?, num(s)?),
            _ => return Err(bad()),
        };
        let ns = parse_fraction(frac)?;
        let dt = Self::from_parts(y, mo, d, h, mi, sec, ns)?;
        Self::from_epoch(dt.secs - offset, ns)
    }

    /// Parses RFC 2822 (`[Thu, ]29 Feb 2024 12:00:00 +0000`; also `GMT`/`UT`/`Z`).
    pub fn parse_rfc2822(s: &str) -> Result<Self, String> {
        let bad = || format!("not an RFC 2822 date-time: {s:?}");
        let s = s.trim();
        let s = match s.split_once(',') {
            Some((_, rest)) => rest.trim(),
            None => s,
        };
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (d, mon, y, time, zone) = match parts.as_slice() {
            [d, m, y, t, z] => (*d, *m, *y, *t, *z),
            [d, m, y, t] => (*d, *m, *y, *t, "+0000"),
            _ => return Err(bad()),
        };
        let mo = MONTHS
            .iter()
            .position(|m| m.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(mon)))
            .ok_or_else(bad)?;
        let mo = i64::try_from(mo).map_err(|e| e.to_string())? + 1;
        let mut tp = time.split(':');
        let (h, mi, sec) = match (tp.next(), tp.next(), tp.next(), tp.next()) {
            (Some(h), Some(m), Some(s), None) => (num(h)?, num(m)?, num(s)?),
            (Some(h), Some(m), None, None) => (num(h)?, num(m)?, 0),
            _ => return Err(bad()),
        };
        let offset = match zone {
            "GMT" | "UT" | "UTC" | "Z" => 0,
            z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let hh = num(z.get(1..3).ok_or_else(bad)?)?;
                let mm = num(z.get(3..5).ok_or_else(bad)?)?;
                sign * (hh * 3600 + mm * 60)
            }
            _ => return Err(bad()),
        };
        let dt = Self::from_parts(num(y)?, mo, num(d)?, h, mi, sec, 0)?;
        Self::from_epoch(dt.secs - offset, 0)
    }

    fn format(&self, format: &str) -> Result<String, String> {
        match format {
            RFC3339 => Ok(self.to_rfc3339()),
            RFC2822 => Ok(self.to_rfc2822()),
            other => Err(format!("unknown DateTimeFormat {other:?}")),
        }
    }

    fn add_secs(&self, secs: i64) -> Result<Self, String> {
        let s = self
            .secs
            .checked_add(secs)
            .ok_or_else(|| "timestamp out of range".to_string())?;
        Self::from_epoch(s, i64::from(self.nanos))
    }
}

fn num(s: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 9 {
        return Err(format!("not a number: {s:?}"));
    }
    s.parse::<i64>().map_err(|e| e.to_string())
}

fn parse_fraction(frac: &str) -> Result<i64, String> {
    if frac.is_empty() {
        return Ok(0);
    }
    let digits: String = frac.chars().take(9).collect();
    let n = num(&digits)?;
    let scale = 10_i64.pow(u32::try_from(9 - digits.len()).map_err(|e| e.to_string())?);
    Ok(n * scale)
}

fn common_err(kind: &str, message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(COMMON_SOURCE, kind, message)
}

/// `len` random ASCII letters and digits, from the OS random source. A negative `len` or more
/// than [`MAX_RANDOM_LEN`] is refused (REX fell back to 16 for a negative length).
pub fn random_alphanumeric(len: i64) -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if !(0..=MAX_RANDOM_LEN).contains(&len) {
        return Err(format!(
            "random_alphanumeric length must be between 0 and {MAX_RANDOM_LEN}, got {len}"
        ));
    }
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 256];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
        // 62 * 4 = 248: reject bytes >= 248 to keep the distribution uniform.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            if let Some(c) = ALPHABET.get(usize::from(*b % 62)) {
                out.push(char::from(*c));
            }
        }
    }
    Ok(out)
}

/// The deepest nesting `to_json` renders (deeper values are refused, never overflow the stack).
const MAX_JSON_DEPTH: usize = 64;

/// A script value as JSON. Custom types (`DateTime`, `ServiceInfo`, ...) are rendered through
/// their registered `to_string` (REX's override), or their type name when they have none.
fn json_value(
    ctx: &NativeCallContext,
    value: &Dynamic,
    depth: usize,
) -> RResult<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(common_err(
            "FormatError",
            format!("to_json: value nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    if value.is_map() {
        let map = value
            .read_lock::<Map>()
            .map(|m| m.clone())
            .unwrap_or_default();
        let mut out = serde_json::Map::new();
        for (k, v) in &map {
            out.insert(k.to_string(), json_value(ctx, v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    if value.is_array() {
        let arr = value
            .read_lock::<Array>()
            .map(|a| a.clone())
            .unwrap_or_default();
        return arr
            .iter()
            .map(|v| json_value(ctx, v, depth + 1))
            .collect::<RResult<Vec<Value>>>()
            .map(Value::Array);
    }
    if value.is_variant() {
        let text = ctx
            .call_native_fn::<String>("to_string", (value.clone(),))
            .unwrap_or_else(|_| ctx.engine().map_type_name(value.type_name()).to_string());
        return Ok(Value::String(text));
    }
    serde_json::to_value(value).map_err(|e| common_err("FormatError", e.to_string()))
}

/// Serialises a value to JSON; custom types are rendered through their string form.
fn to_json(ctx: &NativeCallContext, value: &Dynamic) -> RResult<String> {
    // A closure stored in the array it captures is a cycle through a shared cell, which
    // serde would follow forever (issue 19): refused by a bounded walk first.
    rex_core::check_value(value).map_err(|p| common_err("FormatError", format!("to_json: {p}")))?;
    let v = json_value(ctx, value, 0)?;
    serde_json::to_string(&v).map_err(|e| common_err("FormatError", e.to_string()))
}

/// Registers `to_map()` on plain maps (returning the map itself). Rex hands REX's value
/// objects (`ProcessInfo`, `Meminfo`, `Filesystem`, `InternetConnection`, ...) to scripts as
/// maps with REX's property names, so `x.name` and `x.to_map()` both work as in REX.
pub(crate) fn register_value_maps(b: &mut Binding<'_>) {
    let mut b = b.scoped("utils");
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The map itself (REX's value objects are maps).",
        |m: &mut Map| m.clone()
    );
}

/// Registers the utils module.
pub fn register(engine: &mut Engine) {
    let mut b = Binding::new(engine, "utils");
    let b = &mut b;
    b.custom_type::<DateTime>();
    crate::declare!(
        b,
        "DateTime",
        NO_HOST,
        "`DateTime`.",
        |y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ns: i64| {
            DateTime::from_parts(y, mo, d, h, mi, s, ns)
                .map_err(|e| common_err("InvalidArguments", e))
        }
    );
    crate::declare!(
        b,
        "from_epoch_seconds",
        NO_HOST,
        "`from_epoch_seconds`.",
        |s: i64| { DateTime::from_epoch(s, 0).map_err(|e| common_err("InvalidArguments", e)) }
    );
    crate::declare!(
        b,
        "from_epoch_nanos",
        NO_HOST,
        "`from_epoch_nanos`.",
        |s: i64, ns: i64| {
            DateTime::from_epoch(s, ns).map_err(|e| common_err("InvalidArguments", e))
        }
    );
    b.func("now", [], NO_HOST, "`now`.", DateTime::now);
    crate::declare!(b, "now_nanos", NO_HOST, "`now_nanos`.", || {
        let now = DateTime::now();
        now.secs
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(i64::from(now.nanos))
    });
    crate::declare!(
        b,
        "parse_datetime",
        NO_HOST,
        "`parse_datetime`.",
        |s: &str, format: &str| {
            match format {
                RFC3339 => DateTime::parse_rfc3339(s),
                RFC2822 => DateTime::parse_rfc2822(s),
                other => Err(format!("unknown DateTimeFormat {other:?}")),
            }
            .map_err(|e| common_err("ParseError", e))
        }
    );
    crate::declare!(
        b,
        "epoch_seconds",
        NO_HOST,
        "`DateTime.epoch_seconds`.",
        |d: &mut DateTime| d.epoch_seconds()
    );
    crate::declare!(
        b,
        "nanos",
        NO_HOST,
        "`DateTime.nanos`.",
        |d: &mut DateTime| d.nanos()
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |d: &mut DateTime, format: &str| {
            d.format(format).map_err(|e| common_err("FormatError", e))
        }
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |d: &mut DateTime| d.to_rfc3339()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |d: &mut DateTime| d.to_rfc3339()
    );
    crate::declare!(
        b,
        "month_str",
        NO_HOST,
        "`DateTime.month_str`.",
        |d: &mut DateTime| d.month_name().to_string()
    );
    crate::declare!(
        b,
        "month_str_short",
        NO_HOST,
        "`DateTime.month_str_short`.",
        |d: &mut DateTime| { d.month_name().chars().take(3).collect::<String>() }
    );
    b.getter(
        "year",
        NO_HOST,
        "The `year` property.",
        |d: &mut DateTime| d.civil().0,
    );
    b.getter(
        "month",
        NO_HOST,
        "The `month` property.",
        |d: &mut DateTime| d.civil().1,
    );
    b.getter("day", NO_HOST, "The `day` property.", |d: &mut DateTime| {
        d.civil().2
    });
    b.getter(
        "hour",
        NO_HOST,
        "The `hour` property.",
        |d: &mut DateTime| d.civil().3,
    );
    b.getter(
        "minute",
        NO_HOST,
        "The `minute` property.",
        |d: &mut DateTime| d.civil().4,
    );
    b.getter(
        "second",
        NO_HOST,
        "The `second` property.",
        |d: &mut DateTime| d.civil().5,
    );
    b.getter(
        "nanosecond",
        NO_HOST,
        "The `nanosecond` property.",
        |d: &mut DateTime| d.nanos(),
    );
    crate::declare!(b, "+", NO_HOST, "`+`.", |d: DateTime, secs: i64| {
        d.add_secs(secs)
            .map_err(|e| common_err("InvalidArguments", e))
    });
    crate::declare!(b, "-", NO_HOST, "`-`.", |d: DateTime, secs: i64| {
        d.add_secs(secs.saturating_neg())
            .map_err(|e| common_err("InvalidArguments", e))
    });
    crate::declare!(b, "-", NO_HOST, "`-`.", |a: DateTime, b: DateTime| {
        a.secs.saturating_sub(b.secs)
    });
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: DateTime, b: DateTime| a
        == b);
    crate::declare!(
        b,
        "!=",
        NO_HOST,
        "Inequality.",
        |a: DateTime, b: DateTime| a != b
    );
    crate::declare!(b, "<", NO_HOST, "`<`.", |a: DateTime, b: DateTime| a < b);
    crate::declare!(b, "<=", NO_HOST, "`<=`.", |a: DateTime, b: DateTime| a <= b);
    crate::declare!(b, ">", NO_HOST, "`>`.", |a: DateTime, b: DateTime| a > b);
    crate::declare!(b, ">=", NO_HOST, "`>=`.", |a: DateTime, b: DateTime| a >= b);

    let mut formats = Module::new();
    formats.set_var(RFC3339, RFC3339.to_string());
    formats.set_var(RFC2822, RFC2822.to_string());
    b.static_module("DateTimeFormat", formats.into());

    crate::declare!(
        b,
        "random_alphanumeric",
        NO_HOST,
        "`random_alphanumeric`.",
        |len: i64| { random_alphanumeric(len).map_err(|e| common_err("InvalidArguments", e)) }
    );
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "`to_json`.",
        |ctx: NativeCallContext, value: Dynamic| { to_json(&ctx, &value) }
    );
    // exact-type overloads, so Rhai's own `Map.to_json()` is not picked first
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "`to_json`.",
        |ctx: NativeCallContext, value: Map| { to_json(&ctx, &Dynamic::from_map(value)) }
    );
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "`to_json`.",
        |ctx: NativeCallContext, value: Array| { to_json(&ctx, &Dynamic::from_array(value)) }
    );
    register_value_maps(b);
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
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn formats_and_parses() {
        let dt = DateTime::from_parts(2024, 2, 29, 12, 30, 5, 0).unwrap();
        assert_eq!(dt.to_rfc3339(), "2024-02-29T12:30:05Z");
        assert_eq!(dt.to_rfc2822(), "Thu, 29 Feb 2024 12:30:05 +0000");
        assert_eq!(
            DateTime::parse_rfc3339("2024-02-29T14:30:05+02:00").unwrap(),
            dt
        );
        assert_eq!(
            DateTime::parse_rfc2822("Thu, 29 Feb 2024 12:30:05 GMT").unwrap(),
            dt
        );
        let frac = DateTime::parse_rfc3339("1970-01-01T00:00:00.5Z").unwrap();
        assert_eq!(frac.nanos(), 500_000_000);
        assert!(DateTime::from_parts(2023, 2, 29, 0, 0, 0, 0).is_err());
        assert!(DateTime::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn random_is_capped() {
        assert_eq!(random_alphanumeric(40).unwrap().len(), 40);
        assert!(
            random_alphanumeric(40)
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(random_alphanumeric(MAX_RANDOM_LEN + 1).is_err());
        assert!(random_alphanumeric(-1).is_err());
        assert_eq!(random_alphanumeric(0).unwrap(), "");
    }
}

crate::script_types!(
    DateTime => "DateTime",
);
