//! REX output types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Unit of a metric, serialized in upper case as in REX (`"COUNT"`, ...).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MetricUnit {
    /// No unit.
    #[default]
    UNDEFINED,
    /// A count.
    COUNT,
    /// A duration; the runner uses nanoseconds.
    TIME,
    /// Megabytes.
    MEGABYTES,
    /// A percentage.
    PERCENT,
}

impl MetricUnit {
    /// All units.
    pub const ALL: [MetricUnit; 5] = [
        MetricUnit::UNDEFINED,
        MetricUnit::COUNT,
        MetricUnit::TIME,
        MetricUnit::MEGABYTES,
        MetricUnit::PERCENT,
    ];

    /// The upper-case name, as serialized.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricUnit::UNDEFINED => "UNDEFINED",
            MetricUnit::COUNT => "COUNT",
            MetricUnit::TIME => "TIME",
            MetricUnit::MEGABYTES => "MEGABYTES",
            MetricUnit::PERCENT => "PERCENT",
        }
    }
}

/// One metric of the run output:
/// `{"metric_name", "metric_value", "metric_unit", "metric_dimension", "metric_timestamp"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name (unique within a run: a later publish with the same name overwrites).
    pub metric_name: String,
    /// Value (always finite).
    pub metric_value: f64,
    /// Unit.
    pub metric_unit: MetricUnit,
    /// Dimensions (key → value).
    pub metric_dimension: BTreeMap<String, String>,
    /// RFC 3339 UTC time of publication.
    pub metric_timestamp: String,
}

/// One alarm of the run output: `{"alarm_type", "alarm_details"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Alarm {
    /// Alarm type.
    pub alarm_type: String,
    /// Optional details; omitted from JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_details: Option<String>,
}

/// An opaque set of metric dimensions, built with
/// [`MetricDimensionsBuilder`](crate::MetricDimensionsBuilder).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricDimensions(pub(crate) BTreeMap<String, String>);

impl MetricDimensions {
    /// The dimensions as a map.
    #[must_use]
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Number of dimensions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no dimensions.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Consumes the set into its map.
    #[must_use]
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}
