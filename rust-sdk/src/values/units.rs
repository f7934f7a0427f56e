//! `format_bytes`: a byte count in REX's binary units.

/// REX's `Unit` constants for [`format_bytes`].
pub const UNITS: &[(&str, i64)] = &[
    ("BYTES", 1),
    ("KILOBYTES", 1024),
    ("MEGABYTES", 1024 * 1024),
];

/// `format_bytes(size, unit)`: `size` bytes in `unit` (a `Unit::` constant), rounded down.
pub fn format_bytes(size: i64, unit: &str) -> Result<i64, String> {
    if size < 0 {
        return Err(format!(
            "format_bytes: size must not be negative, got {size}"
        ));
    }
    let divisor = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            format!("format_bytes: unknown Unit {unit:?} (BYTES, KILOBYTES, MEGABYTES)")
        })?;
    Ok(size / divisor)
}
