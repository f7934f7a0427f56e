//! The per-run collector.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::MetricsError;
use crate::recorder::FacadeEntry;
use crate::time::now_rfc3339;
use crate::types::{Alarm, Metric, MetricUnit};

/// Limits of one run's metrics and alarms. Exceeding one is a typed error at publish time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsLimits {
    /// Distinct metric names a script may publish (overwrites do not count).
    pub max_metrics: usize,
    /// Alarms a script may publish.
    pub max_alarms: usize,
    /// Dimensions of one metric.
    pub max_dimensions: usize,
    /// Bytes of a metric name or alarm type.
    pub max_name_bytes: usize,
    /// Bytes of a dimension key or value.
    pub max_dimension_bytes: usize,
    /// Bytes of alarm details.
    pub max_details_bytes: usize,
    /// Distinct series (name + labels) the `metrics` facade recorder keeps.
    pub max_facade_series: usize,
    /// Total size, in bytes, of every script metric and alarm kept (names, dimensions,
    /// details and a fixed overhead per item, see [`metric_bytes`] and [`alarm_bytes`]).
    /// Without it the per-item caps allow about 60 MB (issue 19).
    pub max_total_bytes: usize,
}

/// Fixed per-item overhead counted by [`MetricsLimits::max_total_bytes`]: about what the
/// JSON field names, unit, value and timestamp of one item take in the output document.
pub const ITEM_OVERHEAD_BYTES: usize = 128;

/// The size [`MetricsLimits::max_total_bytes`] counts for a metric.
#[must_use]
pub fn metric_bytes(metric: &Metric) -> usize {
    metric.metric_dimension.iter().fold(
        ITEM_OVERHEAD_BYTES + metric.metric_name.len(),
        |n, (k, v)| n.saturating_add(k.len() + v.len() + 8),
    )
}

/// The size [`MetricsLimits::max_total_bytes`] counts for an alarm.
#[must_use]
pub fn alarm_bytes(alarm: &Alarm) -> usize {
    ITEM_OVERHEAD_BYTES
        + alarm.alarm_type.len()
        + alarm.alarm_details.as_ref().map_or(0, String::len)
}

impl Default for MetricsLimits {
    fn default() -> Self {
        MetricsLimits {
            max_metrics: 1000,
            max_alarms: 1000,
            max_dimensions: 30,
            max_name_bytes: 255,
            max_dimension_bytes: 1024,
            max_details_bytes: 4096,
            max_facade_series: 1000,
            max_total_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    runner_metrics: Vec<Metric>,
    script_metrics: Vec<Metric>,
    runner_alarms: Vec<Alarm>,
    script_alarms: Vec<Alarm>,
    /// What [`MetricsLimits::max_total_bytes`] counts of the script's metrics and alarms.
    script_bytes: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    pub(crate) facade: Mutex<HashMap<metrics::Key, FacadeEntry>>,
    pub(crate) facade_overflow: std::sync::atomic::AtomicU64,
}

/// Metrics and alarms of one run. Cheap to clone; clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    limits: MetricsLimits,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `name` uses the reserved `rex` prefix (ASCII case-insensitive, leading
/// whitespace ignored).
fn is_reserved(name: &str) -> bool {
    name.trim_start()
        .as_bytes()
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"rex"))
}

fn upsert(list: &mut Vec<Metric>, metric: Metric, cap: usize) -> Result<(), MetricsError> {
    if let Some(slot) = list
        .iter_mut()
        .find(|m| m.metric_name == metric.metric_name)
    {
        *slot = metric;
        return Ok(());
    }
    if list.len() >= cap {
        return Err(MetricsError::TooManyMetrics { limit: cap });
    }
    list.push(metric);
    Ok(())
}

impl RunMetrics {
    /// An empty collector with the given limits.
    #[must_use]
    pub fn new(limits: MetricsLimits) -> Self {
        RunMetrics {
            limits,
            shared: Arc::default(),
        }
    }

    /// The limits of this run.
    #[must_use]
    pub fn limits(&self) -> MetricsLimits {
        self.limits
    }

    fn check_len(&self, what: &'static str, s: &str, limit: usize) -> Result<(), MetricsError> {
        if s.len() > limit {
            return Err(MetricsError::TooLong {
                what,
                len: s.len(),
                limit,
            });
        }
        Ok(())
    }

    fn build_metric(
        &self,
        name: &str,
        value: f64,
        unit: MetricUnit,
        dimensions: &BTreeMap<String, String>,
    ) -> Result<Metric, MetricsError> {
        if name.trim().is_empty() {
            return Err(MetricsError::EmptyName {
                what: "metric name",
            });
        }
        self.check_len("metric name", name, self.limits.max_name_bytes)?;
        if !value.is_finite() {
            return Err(MetricsError::NonFiniteValue {
                name: name.to_owned(),
                value,
            });
        }
        if dimensions.len() > self.limits.max_dimensions {
            return Err(MetricsError::TooManyDimensions {
                name: name.to_owned(),
                count: dimensions.len(),
                limit: self.limits.max_dimensions,
            });
        }
        for (k, v) in dimensions {
            self.check_len("dimension key", k, self.limits.max_dimension_bytes)?;
            self.check_len("dimension value", v, self.limits.max_dimension_bytes)?;
        }
        Ok(Metric {
            metric_name: name.to_owned(),
            metric_value: value,
            metric_unit: unit,
            metric_dimension: dimensions.clone(),
            metric_timestamp: now_rfc3339(),
        })
    }

    fn build_alarm(&self, alarm_type: &str, details: Option<&str>) -> Result<Alarm, MetricsError> {
        if alarm_type.trim().is_empty() {
            return Err(MetricsError::EmptyName { what: "alarm type" });
        }
        self.check_len("alarm type", alarm_type, self.limits.max_name_bytes)?;
        if let Some(d) = details {
            self.check_len("alarm details", d, self.limits.max_details_bytes)?;
        }
        Ok(Alarm {
            alarm_type: alarm_type.to_owned(),
            alarm_details: details.map(str::to_owned),
        })
    }

    /// Publishes a script metric (what [`MetricBuilder::publish`](crate::MetricBuilder::publish)
    /// calls). A later publish with the same name overwrites the earlier one.
    pub fn publish_script_metric(
        &self,
        name: &str,
        value: f64,
        unit: MetricUnit,
        dimensions: &BTreeMap<String, String>,
    ) -> Result<(), MetricsError> {
        if is_reserved(name) {
            return Err(MetricsError::ReservedPrefix {
                what: "metric name",
                name: name.to_owned(),
            });
        }
        let metric = self.build_metric(name, value, unit, dimensions)?;
        let mut store = lock(&self.shared.store);
        let replaced = store
            .script_metrics
            .iter()
            .find(|m| m.metric_name == metric.metric_name)
            .map_or(0, metric_bytes);
        let total = store
            .script_bytes
            .saturating_sub(replaced)
            .saturating_add(metric_bytes(&metric));
        if total > self.limits.max_total_bytes {
            return Err(MetricsError::TotalTooLarge {
                limit: self.limits.max_total_bytes,
            });
        }
        upsert(&mut store.script_metrics, metric, self.limits.max_metrics)?;
        store.script_bytes = total;
        Ok(())
    }

    /// Publishes a script alarm (what [`AlarmBuilder::publish`](crate::AlarmBuilder::publish)
    /// calls). Alarms accumulate; they are not keyed.
    pub fn publish_script_alarm(
        &self,
        alarm_type: &str,
        details: Option<&str>,
    ) -> Result<(), MetricsError> {
        if is_reserved(alarm_type) {
            return Err(MetricsError::ReservedPrefix {
                what: "alarm type",
                name: alarm_type.to_owned(),
            });
        }
        let alarm = self.build_alarm(alarm_type, details)?;
        let mut store = lock(&self.shared.store);
        if store.script_alarms.len() >= self.limits.max_alarms {
            return Err(MetricsError::TooManyAlarms {
                limit: self.limits.max_alarms,
            });
        }
        let total = store.script_bytes.saturating_add(alarm_bytes(&alarm));
        if total > self.limits.max_total_bytes {
            return Err(MetricsError::TotalTooLarge {
                limit: self.limits.max_total_bytes,
            });
        }
        store.script_alarms.push(alarm);
        store.script_bytes = total;
        Ok(())
    }

    /// Records a runner metric. Runner-internal: the `rex` prefix is allowed here, and runner
    /// metrics are kept apart from (and cannot be overwritten by) script metrics. Same-name
    /// records overwrite. The other checks (empty name, finite value, limits) still apply.
    pub fn record_runner_metric(
        &self,
        name: &str,
        value: f64,
        unit: MetricUnit,
        dimensions: &BTreeMap<String, String>,
    ) -> Result<(), MetricsError> {
        let metric = self.build_metric(name, value, unit, dimensions)?;
        upsert(
            &mut lock(&self.shared.store).runner_metrics,
            metric,
            self.limits.max_metrics,
        )
    }

    /// Records a runner alarm (the `rex` prefix is allowed).
    pub fn record_runner_alarm(
        &self,
        alarm_type: &str,
        details: Option<&str>,
    ) -> Result<(), MetricsError> {
        let alarm = self.build_alarm(alarm_type, details)?;
        let mut store = lock(&self.shared.store);
        if store.runner_alarms.len() >= self.limits.max_alarms {
            return Err(MetricsError::TooManyAlarms {
                limit: self.limits.max_alarms,
            });
        }
        store.runner_alarms.push(alarm);
        Ok(())
    }

    /// All metrics for the output: runner metrics first, then script metrics (as REX merges
    /// script metrics in after the run), each in first-publication order.
    #[must_use]
    pub fn metrics(&self) -> Vec<Metric> {
        let store = lock(&self.shared.store);
        store
            .runner_metrics
            .iter()
            .chain(store.script_metrics.iter())
            .cloned()
            .collect()
    }

    /// All alarms for the output: runner alarms first, then script alarms.
    #[must_use]
    pub fn alarms(&self) -> Vec<Alarm> {
        let store = lock(&self.shared.store);
        store
            .runner_alarms
            .iter()
            .chain(store.script_alarms.iter())
            .cloned()
            .collect()
    }

    /// Metrics published by the script.
    #[must_use]
    pub fn script_metrics(&self) -> Vec<Metric> {
        lock(&self.shared.store).script_metrics.clone()
    }

    /// Metrics recorded by the runner.
    #[must_use]
    pub fn runner_metrics(&self) -> Vec<Metric> {
        lock(&self.shared.store).runner_metrics.clone()
    }

    /// Alarms published by the script.
    #[must_use]
    pub fn script_alarms(&self) -> Vec<Alarm> {
        lock(&self.shared.store).script_alarms.clone()
    }

    /// Alarms recorded by the runner.
    #[must_use]
    pub fn runner_alarms(&self) -> Vec<Alarm> {
        lock(&self.shared.store).runner_alarms.clone()
    }

    /// The metric named `name` (runner metrics searched first).
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<Metric> {
        let store = lock(&self.shared.store);
        store
            .runner_metrics
            .iter()
            .chain(store.script_metrics.iter())
            .find(|m| m.metric_name == name)
            .cloned()
    }
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
    fn reserved_prefix() {
        assert!(is_reserved("rex"));
        assert!(is_reserved("RexRunnerX"));
        assert!(is_reserved("REX_foo"));
        assert!(is_reserved("  rEx"));
        assert!(!is_reserved("re"));
        assert!(!is_reserved("myrex"));
        assert!(!is_reserved("é€"));
        assert!(!is_reserved(""));
    }
}
