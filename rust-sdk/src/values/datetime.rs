//! `DateTime`: calendar arithmetic and formatting (pure value code, no host access).

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;
pub(crate) const MONTHS: [&str; 12] = [
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
pub(crate) const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `DateTimeFormat::RFC3339`.
pub const RFC3339: &str = "RFC3339";
/// `DateTimeFormat::RFC2822`.
pub const RFC2822: &str = "RFC2822";

/// A UTC instant with nanosecond precision (REX's `DateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (y, m, d) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Years accepted by the constructors (keeps all arithmetic far from overflow).
pub(crate) const YEAR_RANGE: std::ops::RangeInclusive<i64> = -9999..=9999;

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

    /// Nanoseconds since the epoch (saturating).
    pub fn epoch_nanos(&self) -> i64 {
        self.secs
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(self.nanos())
    }

    /// Whole seconds from `earlier` to this instant (saturating; negative when `earlier` is
    /// later).
    pub fn seconds_since(&self, earlier: &DateTime) -> i64 {
        self.secs.saturating_sub(earlier.secs)
    }

    /// The calendar fields in UTC: (year, month, day, hour, minute, second).
    pub fn civil(&self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// The English name of the month (`January` ...).
    pub fn month_name(&self) -> &'static str {
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

    /// The instant in `format` (`RFC3339` or `RFC2822`, REX's `DateTimeFormat` names).
    pub fn format(&self, format: &str) -> Result<String, String> {
        match format {
            RFC3339 => Ok(self.to_rfc3339()),
            RFC2822 => Ok(self.to_rfc2822()),
            other => Err(format!("unknown DateTimeFormat {other:?}")),
        }
    }

    /// This instant moved by `secs` seconds; an error past the representable range.
    pub fn add_secs(&self, secs: i64) -> Result<Self, String> {
        let s = self
            .secs
            .checked_add(secs)
            .ok_or_else(|| "timestamp out of range".to_string())?;
        Self::from_epoch(s, i64::from(self.nanos))
    }
}

pub(crate) fn num(s: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 9 {
        return Err(format!("not a number: {s:?}"));
    }
    s.parse::<i64>().map_err(|e| e.to_string())
}

pub(crate) fn parse_fraction(frac: &str) -> Result<i64, String> {
    if frac.is_empty() {
        return Ok(0);
    }
    let digits: String = frac.chars().take(9).collect();
    let n = num(&digits)?;
    let scale = 10_i64.pow(u32::try_from(9 - digits.len()).map_err(|e| e.to_string())?);
    Ok(n * scale)
}
