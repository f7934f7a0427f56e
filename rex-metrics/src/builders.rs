//! Plain-Rust equivalents of REX's script builders (`MetricBuilder()`, `AlarmBuilder()`,
//! `MetricDimensionsBuilder()`). Setters take and return the builder, like REX's copies.

use std::collections::BTreeMap;

use crate::error::MetricsError;
use crate::run::RunMetrics;
use crate::types::{MetricDimensions, MetricUnit};

/// A value accepted by [`MetricBuilder::value`]: floats and integers (REX accepted only `f64`,
/// so integer literals failed; here both work). Conversion of very large integers rounds.
pub trait IntoMetricValue {
    /// The value as `f64`.
    fn into_metric_value(self) -> f64;
}

macro_rules! impl_into_metric_value {
    ($($t:ty),*) => {$(
        impl IntoMetricValue for $t {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn into_metric_value(self) -> f64 {
                self as f64
            }
        }
    )*};
}
impl_into_metric_value!(f64, f32, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// Builds and publishes one script metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricBuilder {
    name: String,
    value: Option<f64>,
    unit: MetricUnit,
    dimensions: MetricDimensions,
}

impl MetricBuilder {
    /// An empty builder (unit `UNDEFINED`, no dimensions, no value).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the metric name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the value (an `f64` or any integer).
    #[must_use]
    pub fn value(mut self, value: impl IntoMetricValue) -> Self {
        self.value = Some(value.into_metric_value());
        self
    }

    /// Sets the unit.
    #[must_use]
    pub fn unit(mut self, unit: MetricUnit) -> Self {
        self.unit = unit;
        self
    }

    /// Sets the dimensions (replacing earlier ones).
    #[must_use]
    pub fn dimensions(mut self, dimensions: MetricDimensions) -> Self {
        self.dimensions = dimensions;
        self
    }

    /// Validates the metric and stores it in `run` (overwriting a metric of the same name).
    ///
    /// Refused, with nothing stored: an empty name, a name starting with `rex` (any case), no
    /// value, a non-finite value, too many dimensions or metrics, over-long strings.
    pub fn publish(&self, run: &RunMetrics) -> Result<(), MetricsError> {
        let value = self.value.ok_or_else(|| MetricsError::MissingValue {
            name: self.name.clone(),
        })?;
        run.publish_script_metric(&self.name, value, self.unit, self.dimensions.as_map())
    }
}

/// Builds a [`MetricDimensions`] set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricDimensionsBuilder {
    dims: BTreeMap<String, String>,
}

impl MetricDimensionsBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) dimension `key` = `value`.
    #[must_use]
    pub fn add(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.dims.insert(key.into(), value.into());
        self
    }

    /// The dimension set. Limits are checked when the metric is published.
    #[must_use]
    pub fn build(self) -> MetricDimensions {
        MetricDimensions(self.dims)
    }
}

/// Builds and publishes one script alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmBuilder {
    alarm_type: String,
    details: Option<String>,
}

impl AlarmBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the alarm type (REX's `.type(..)`; `type` is a Rust keyword).
    #[must_use]
    pub fn alarm_type(mut self, alarm_type: impl Into<String>) -> Self {
        self.alarm_type = alarm_type.into();
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Validates the alarm and appends it to `run`.
    ///
    /// Refused, with nothing stored: an empty type, a type starting with `rex` (any case),
    /// too many alarms, over-long strings.
    pub fn publish(&self, run: &RunMetrics) -> Result<(), MetricsError> {
        run.publish_script_alarm(&self.alarm_type, self.details.as_deref())
    }
}
