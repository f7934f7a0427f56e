//! RFC 3339 UTC timestamps written by hand from [`SystemTime`] (no chrono/time dependency).

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `t` as an RFC 3339 UTC timestamp with microsecond precision,
/// e.g. `2026-11-23T00:50:00.123456Z`. Times before the Unix epoch are clamped to the epoch.
#[must_use]
pub fn format_rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (y, mo, da) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{da:02}T{h:02}:{m:02}:{s:02}.{micros:06}Z")
}

/// The current time as an RFC 3339 UTC timestamp (see [`format_rfc3339`]).
#[must_use]
pub fn now_rfc3339() -> String {
    format_rfc3339(SystemTime::now())
}

/// Formats `t` as an RFC 3164 (BSD syslog) timestamp in UTC, e.g. `Nov  3 04:05:06`
/// (month abbreviation, space-padded day, no year). Times before the epoch are clamped.
pub(crate) fn format_bsd_syslog(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (_, mo, da) = civil_from_days(secs / 86_400);
    let month = usize::try_from(mo.saturating_sub(1))
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("Jan");
    format!("{month} {da:>2} {h:02}:{m:02}:{s:02}")
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`, restricted to non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
    use std::time::Duration;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29T12:34:56.789Z
        let t = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        assert_eq!(format_rfc3339(t), "2000-02-29T12:34:56.789000Z");
        // 2026-11-23T00:50:00Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_395_000);
        assert_eq!(format_rfc3339(t), "2026-11-23T00:50:00.000000Z");
        // 2100-03-01 (2100 is not a leap year)
        let t = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(format_rfc3339(t), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn bsd_syslog_timestamps() {
        assert_eq!(format_bsd_syslog(UNIX_EPOCH), "Jan  1 00:00:00");
        let t = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        assert_eq!(format_bsd_syslog(t), "Feb 29 12:34:56");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_395_000);
        assert_eq!(format_bsd_syslog(t), "Nov 23 00:50:00");
        // 2026-12-31T23:59:59Z
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(format_bsd_syslog(t), "Dec 31 23:59:59");
    }

    #[test]
    fn before_epoch_is_clamped() {
        let t = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_rfc3339(t), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn now_has_rfc3339_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 27);
        assert!(s.ends_with('Z'));
        assert_eq!(&s[10..11], "T");
    }
}
