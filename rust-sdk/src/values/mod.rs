//! Value helpers of the script API that touch no resource a policy governs: the `DateTime`
//! calendar arithmetic and formatting (proleptic Gregorian in UTC, on top of `std::time`, so
//! no time-zone database or clock crate is involved), `random_alphanumeric` (the kernel's
//! random source) and `format_bytes`. They live here, not in rhai-sdk, so that rhai-sdk only
//! converts values and errors.

mod datetime;
mod random;
mod units;

pub use datetime::{DateTime, NANOS_PER_SEC, RFC2822, RFC3339};
pub use random::{MAX_RANDOM_LEN, random_alphanumeric};
pub use units::{UNITS, format_bytes};

#[cfg(test)]
mod tests;
