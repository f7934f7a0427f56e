//! A [`metrics::Recorder`] that collects into a [`RunMetrics`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

use crate::run::{RunMetrics, lock};
use crate::time::now_rfc3339;
use crate::types::{Metric, MetricUnit};

/// Running summary of a facade histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct HistSummary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

#[derive(Debug, Default)]
pub(crate) struct HistCell(Mutex<HistSummary>);

impl HistogramFn for HistCell {
    fn record(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut h = lock(&self.0);
        if h.count == 0 {
            h.min = value;
            h.max = value;
        } else {
            h.min = h.min.min(value);
            h.max = h.max.max(value);
        }
        h.count = h.count.saturating_add(1);
        h.sum += value;
    }
}

#[derive(Debug, Clone)]
pub(crate) enum FacadeEntry {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<HistCell>),
}

/// The current value of one facade series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FacadeKind {
    /// A `counter!`.
    Counter(u64),
    /// A `gauge!`.
    Gauge(f64),
    /// A `histogram!`, summarized.
    Histogram {
        /// Number of recorded values.
        count: u64,
        /// Sum of recorded values.
        sum: f64,
        /// Smallest recorded value (0 if none).
        min: f64,
        /// Largest recorded value (0 if none).
        max: f64,
    },
}

/// One series recorded through the `metrics` facade.
#[derive(Debug, Clone, PartialEq)]
pub struct FacadeSample {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Kind and value.
    pub kind: FacadeKind,
}

/// A [`metrics::Recorder`] storing counters, gauges and histograms in a [`RunMetrics`].
///
/// Use it for one run with [`metrics::with_local_recorder`]. Series beyond
/// [`MetricsLimits::max_facade_series`](crate::MetricsLimits::max_facade_series), and a key
/// re-registered as a different kind, get a no-op handle. Descriptions are ignored.
#[derive(Debug, Clone)]
pub struct RunRecorder {
    run: RunMetrics,
}

impl RunRecorder {
    /// A recorder writing into `run`.
    #[must_use]
    pub fn new(run: RunMetrics) -> Self {
        RunRecorder { run }
    }

    /// The run this recorder writes into.
    #[must_use]
    pub fn run(&self) -> &RunMetrics {
        &self.run
    }

    fn register(&self, key: &Key, make: impl FnOnce() -> FacadeEntry) -> Option<FacadeEntry> {
        let mut map = lock(&self.run.shared.facade);
        if let Some(e) = map.get(key) {
            return Some(e.clone());
        }
        if map.len() >= self.run.limits().max_facade_series {
            self.run
                .shared
                .facade_overflow
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let e = make();
        map.insert(key.clone(), e.clone());
        Some(e)
    }
}

impl Recorder for RunRecorder {
    fn describe_counter(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}
    fn describe_gauge(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}
    fn describe_histogram(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.register(key, || FacadeEntry::Counter(Arc::default())) {
            Some(FacadeEntry::Counter(c)) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.register(key, || FacadeEntry::Gauge(Arc::default())) {
            Some(FacadeEntry::Gauge(g)) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.register(key, || FacadeEntry::Histogram(Arc::default())) {
            Some(FacadeEntry::Histogram(h)) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

impl RunMetrics {
    /// A [`metrics::Recorder`] that records into this run.
    #[must_use]
    pub fn recorder(&self) -> RunRecorder {
        RunRecorder::new(self.clone())
    }

    /// Series registered through the facade beyond the limit (given no-op handles).
    #[must_use]
    pub fn facade_overflow_count(&self) -> u64 {
        self.shared.facade_overflow.load(Ordering::Relaxed)
    }

    /// Current values of every facade series, sorted by name then labels.
    #[must_use]
    pub fn facade_samples(&self) -> Vec<FacadeSample> {
        let map = lock(&self.shared.facade);
        let mut out: Vec<FacadeSample> = map
            .iter()
            .map(|(key, entry)| FacadeSample {
                name: key.name().to_owned(),
                labels: key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                kind: match entry {
                    FacadeEntry::Counter(c) => FacadeKind::Counter(c.load(Ordering::Relaxed)),
                    FacadeEntry::Gauge(g) => {
                        FacadeKind::Gauge(f64::from_bits(g.load(Ordering::Relaxed)))
                    }
                    FacadeEntry::Histogram(h) => {
                        let s = *lock(&h.0);
                        FacadeKind::Histogram {
                            count: s.count,
                            sum: s.sum,
                            min: s.min,
                            max: s.max,
                        }
                    }
                },
            })
            .collect();
        drop(map);
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
        out
    }

    /// The facade series as output [`Metric`]s (labels become dimensions): a counter is a
    /// `COUNT`, a gauge `UNDEFINED`, a histogram two metrics `<name>.count` (`COUNT`) and
    /// `<name>.sum` (`UNDEFINED`). Names may repeat with different dimensions. Non-finite
    /// gauge values are skipped.
    #[must_use]
    pub fn facade_as_metrics(&self) -> Vec<Metric> {
        let ts = now_rfc3339();
        let mk = |name: String, value: f64, unit, dims: &BTreeMap<String, String>| Metric {
            metric_name: name,
            metric_value: value,
            metric_unit: unit,
            metric_dimension: dims.clone(),
            metric_timestamp: ts.clone(),
        };
        let mut out = Vec::new();
        for s in self.facade_samples() {
            match s.kind {
                #[allow(clippy::cast_precision_loss)]
                FacadeKind::Counter(c) => {
                    out.push(mk(s.name, c as f64, MetricUnit::COUNT, &s.labels));
                }
                FacadeKind::Gauge(g) if g.is_finite() => {
                    out.push(mk(s.name, g, MetricUnit::UNDEFINED, &s.labels));
                }
                FacadeKind::Gauge(_) => {}
                #[allow(clippy::cast_precision_loss)]
                FacadeKind::Histogram { count, sum, .. } => {
                    out.push(mk(
                        format!("{}.count", s.name),
                        count as f64,
                        MetricUnit::COUNT,
                        &s.labels,
                    ));
                    if sum.is_finite() {
                        out.push(mk(
                            format!("{}.sum", s.name),
                            sum,
                            MetricUnit::UNDEFINED,
                            &s.labels,
                        ));
                    }
                }
            }
        }
        out
    }
}
