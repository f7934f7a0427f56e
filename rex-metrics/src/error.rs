//! Error type of the crate.

/// Errors returned when publishing metrics or alarms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The metric name or alarm type is empty (or only whitespace).
    #[error("{what} must not be empty")]
    EmptyName {
        /// `"metric name"` or `"alarm type"`.
        what: &'static str,
    },
    /// Script metrics and alarms may not use the runner's reserved `rex` prefix.
    #[error(
        "{what} {name:?} is reserved: names starting with \"rex\" (any case) belong to the runner"
    )]
    ReservedPrefix {
        /// `"metric name"` or `"alarm type"`.
        what: &'static str,
        /// The refused name.
        name: String,
    },
    /// A required builder field was not set.
    #[error("metric {name:?} has no value")]
    MissingValue {
        /// The metric name.
        name: String,
    },
    /// The value is NaN or infinite.
    #[error("metric {name:?} has a non-finite value {value}")]
    NonFiniteValue {
        /// The metric name.
        name: String,
        /// The refused value.
        value: f64,
    },
    /// A name, key, value or details string is longer than allowed.
    #[error("{what} is {len} bytes long; the limit is {limit}")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The run already holds the maximum number of distinct metrics.
    #[error("too many metrics: the limit is {limit}")]
    TooManyMetrics {
        /// The limit.
        limit: usize,
    },
    /// The run already holds the maximum number of alarms.
    #[error("too many alarms: the limit is {limit}")]
    TooManyAlarms {
        /// The limit.
        limit: usize,
    },
    /// The script's metrics and alarms together would exceed
    /// [`MetricsLimits::max_total_bytes`](crate::MetricsLimits::max_total_bytes).
    #[error("the script's metrics and alarms would exceed {limit} bytes in total")]
    TotalTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A metric has more dimensions than allowed.
    #[error("metric {name:?} has {count} dimensions; the limit is {limit}")]
    TooManyDimensions {
        /// The metric name.
        name: String,
        /// How many dimensions it has.
        count: usize,
        /// The limit.
        limit: usize,
    },
}
