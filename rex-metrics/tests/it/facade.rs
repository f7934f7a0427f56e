#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use rex_metrics::{FacadeKind, MetricUnit, MetricsLimits, RunMetrics};

#[test]
fn local_recorder_collects_into_run() {
    let run = RunMetrics::default();
    let recorder = run.recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("sdk_ops", "action" => "read").increment(2);
        metrics::counter!("sdk_ops", "action" => "read").increment(3);
        metrics::counter!("sdk_ops", "action" => "write").increment(1);
        metrics::gauge!("open_fds").set(7.0);
        metrics::gauge!("open_fds").increment(1.0);
        let h = metrics::histogram!("decision_ns");
        h.record(10.0);
        h.record(30.0);
        h.record(f64::NAN); // ignored
    });
    // Outside the scope nothing is recorded here.
    metrics::counter!("sdk_ops", "action" => "read").increment(100);

    let samples = run.facade_samples();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[0].name, "decision_ns");
    assert_eq!(
        samples[0].kind,
        FacadeKind::Histogram {
            count: 2,
            sum: 40.0,
            min: 10.0,
            max: 30.0
        }
    );
    assert_eq!(samples[1].name, "open_fds");
    assert_eq!(samples[1].kind, FacadeKind::Gauge(8.0));
    assert_eq!(samples[2].labels.get("action").unwrap(), "read");
    assert_eq!(samples[2].kind, FacadeKind::Counter(5));
    assert_eq!(samples[3].kind, FacadeKind::Counter(1));

    let as_metrics = run.facade_as_metrics();
    let names: Vec<&str> = as_metrics.iter().map(|m| m.metric_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "decision_ns.count",
            "decision_ns.sum",
            "open_fds",
            "sdk_ops",
            "sdk_ops"
        ]
    );
    assert_eq!(as_metrics[0].metric_unit, MetricUnit::COUNT);
    assert_eq!(as_metrics[1].metric_value, 40.0);
    assert_eq!(
        as_metrics[3].metric_dimension.get("action").unwrap(),
        "read"
    );
    // Facade series are not script metrics.
    assert!(run.metrics().is_empty());
}

#[test]
fn kind_mismatch_and_series_cap_get_noop_handles() {
    let run = RunMetrics::new(MetricsLimits {
        max_facade_series: 2,
        ..MetricsLimits::default()
    });
    let recorder = run.recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("a").increment(1);
        metrics::gauge!("a").set(5.0); // same key, other kind: no-op
        metrics::counter!("b").increment(1);
        metrics::counter!("c").increment(1); // over the cap: no-op
    });
    let samples = run.facade_samples();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].kind, FacadeKind::Counter(1));
    assert_eq!(run.facade_overflow_count(), 1);
}
