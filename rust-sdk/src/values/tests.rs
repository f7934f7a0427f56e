#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::datetime::{civil_from_days, days_from_civil};
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
