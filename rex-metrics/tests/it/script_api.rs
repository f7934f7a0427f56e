#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use rex_metrics::{
    Alarm, AlarmBuilder, Metric, MetricBuilder, MetricDimensionsBuilder, MetricUnit, MetricsError,
    MetricsLimits, RunMetrics,
};

#[test]
fn publish_metric_serializes_to_rex_shape() {
    let run = RunMetrics::default();
    let dims = MetricDimensionsBuilder::new()
        .add("Host", "a")
        .add("Zone", "b")
        .build();
    MetricBuilder::new()
        .name("Requests")
        .value(3)
        .unit(MetricUnit::COUNT)
        .dimensions(dims)
        .publish(&run)
        .unwrap();
    let v = serde_json::to_value(run.metrics()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let m = &v[0];
    assert_eq!(m["metric_name"], "Requests");
    assert_eq!(m["metric_value"], 3.0);
    assert_eq!(m["metric_unit"], "COUNT");
    assert_eq!(m["metric_dimension"]["Host"], "a");
    assert_eq!(m["metric_dimension"]["Zone"], "b");
    let ts = m["metric_timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'));
    assert_eq!(m.as_object().unwrap().len(), 5);
    let back: Vec<Metric> = serde_json::from_value(v).unwrap();
    assert_eq!(back, run.metrics());
}

#[test]
fn value_accepts_ints_and_floats() {
    let run = RunMetrics::default();
    MetricBuilder::new()
        .name("i")
        .value(7_i64)
        .publish(&run)
        .unwrap();
    MetricBuilder::new()
        .name("f")
        .value(0.25)
        .publish(&run)
        .unwrap();
    MetricBuilder::new()
        .name("u")
        .value(5_u32)
        .publish(&run)
        .unwrap();
    assert_eq!(run.metric("i").unwrap().metric_value, 7.0);
    assert_eq!(run.metric("f").unwrap().metric_value, 0.25);
    assert_eq!(run.metric("u").unwrap().metric_value, 5.0);
    assert_eq!(run.metric("i").unwrap().metric_unit, MetricUnit::UNDEFINED);
    assert!(run.metric("i").unwrap().metric_dimension.is_empty());
}

#[test]
fn units_serialize_upper_case() {
    for u in MetricUnit::ALL {
        assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        assert_eq!(
            serde_json::from_value::<MetricUnit>(serde_json::json!(u.as_str())).unwrap(),
            u
        );
    }
}

#[test]
fn same_name_overwrites() {
    let run = RunMetrics::default();
    MetricBuilder::new()
        .name("a")
        .value(1)
        .publish(&run)
        .unwrap();
    MetricBuilder::new()
        .name("b")
        .value(2)
        .publish(&run)
        .unwrap();
    MetricBuilder::new()
        .name("a")
        .value(10)
        .unit(MetricUnit::PERCENT)
        .publish(&run)
        .unwrap();
    let ms = run.metrics();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].metric_name, "a");
    assert_eq!(ms[0].metric_value, 10.0);
    assert_eq!(ms[0].metric_unit, MetricUnit::PERCENT);
    assert_eq!(ms[1].metric_name, "b");
}

#[test]
fn rex_prefix_refused_at_publish_time() {
    let run = RunMetrics::default();
    for name in [
        "rex",
        "RexRunnerScriptExecutionTime",
        "REXy",
        "rEx_custom",
        " rex",
    ] {
        let err = MetricBuilder::new()
            .name(name)
            .value(1)
            .publish(&run)
            .unwrap_err();
        assert!(
            matches!(err, MetricsError::ReservedPrefix { .. }),
            "{name}: {err}"
        );
        let err = AlarmBuilder::new()
            .alarm_type(name)
            .publish(&run)
            .unwrap_err();
        assert!(
            matches!(err, MetricsError::ReservedPrefix { .. }),
            "{name}: {err}"
        );
    }
    // Nothing was stored.
    assert!(run.metrics().is_empty());
    assert!(run.alarms().is_empty());
    // "rex" elsewhere is fine.
    MetricBuilder::new()
        .name("my_rex")
        .value(1)
        .publish(&run)
        .unwrap();
    AlarmBuilder::new()
        .alarm_type("NotRex")
        .publish(&run)
        .unwrap();
}

#[test]
fn empty_missing_and_non_finite_refused() {
    let run = RunMetrics::default();
    assert!(matches!(
        MetricBuilder::new().value(1).publish(&run),
        Err(MetricsError::EmptyName { .. })
    ));
    assert!(matches!(
        MetricBuilder::new().name("  ").value(1).publish(&run),
        Err(MetricsError::EmptyName { .. })
    ));
    assert!(matches!(
        MetricBuilder::new().name("x").publish(&run),
        Err(MetricsError::MissingValue { .. })
    ));
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            MetricBuilder::new().name("x").value(v).publish(&run),
            Err(MetricsError::NonFiniteValue { .. })
        ));
    }
    assert!(matches!(
        AlarmBuilder::new().details("d").publish(&run),
        Err(MetricsError::EmptyName { .. })
    ));
    assert!(run.metrics().is_empty());
    assert!(run.alarms().is_empty());
}

#[test]
fn caps_are_typed_errors() {
    let run = RunMetrics::new(MetricsLimits {
        max_metrics: 2,
        max_alarms: 1,
        max_dimensions: 1,
        max_name_bytes: 8,
        max_dimension_bytes: 4,
        max_details_bytes: 5,
        ..MetricsLimits::default()
    });
    MetricBuilder::new()
        .name("a")
        .value(1)
        .publish(&run)
        .unwrap();
    MetricBuilder::new()
        .name("b")
        .value(1)
        .publish(&run)
        .unwrap();
    assert_eq!(
        MetricBuilder::new().name("c").value(1).publish(&run),
        Err(MetricsError::TooManyMetrics { limit: 2 })
    );
    // Overwriting an existing name is still allowed at the cap.
    MetricBuilder::new()
        .name("a")
        .value(5)
        .publish(&run)
        .unwrap();
    assert_eq!(run.metric("a").unwrap().metric_value, 5.0);

    let two = MetricDimensionsBuilder::new()
        .add("k", "v")
        .add("k2", "v")
        .build();
    assert_eq!(two.len(), 2);
    assert!(matches!(
        MetricBuilder::new()
            .name("a")
            .value(1)
            .dimensions(two)
            .publish(&run),
        Err(MetricsError::TooManyDimensions {
            count: 2,
            limit: 1,
            ..
        })
    ));
    let long = MetricDimensionsBuilder::new().add("k", "vvvvv").build();
    assert!(matches!(
        MetricBuilder::new()
            .name("a")
            .value(1)
            .dimensions(long)
            .publish(&run),
        Err(MetricsError::TooLong { .. })
    ));
    assert!(matches!(
        MetricBuilder::new()
            .name("123456789")
            .value(1)
            .publish(&run),
        Err(MetricsError::TooLong { .. })
    ));
    assert_eq!(run.metric("a").unwrap().metric_value, 5.0);

    assert!(matches!(
        AlarmBuilder::new()
            .alarm_type("x")
            .details("123456")
            .publish(&run),
        Err(MetricsError::TooLong { .. })
    ));
    AlarmBuilder::new().alarm_type("x").publish(&run).unwrap();
    assert_eq!(
        AlarmBuilder::new().alarm_type("y").publish(&run),
        Err(MetricsError::TooManyAlarms { limit: 1 })
    );
    assert_eq!(run.alarms().len(), 1);
}

#[test]
fn alarms_serialize_and_skip_missing_details() {
    let run = RunMetrics::default();
    AlarmBuilder::new()
        .alarm_type("DiskFull")
        .details("/var at 99%")
        .publish(&run)
        .unwrap();
    AlarmBuilder::new()
        .alarm_type("Plain")
        .publish(&run)
        .unwrap();
    AlarmBuilder::new()
        .alarm_type("Plain")
        .publish(&run)
        .unwrap();
    let v = serde_json::to_value(run.alarms()).unwrap();
    assert_eq!(v[0]["alarm_type"], "DiskFull");
    assert_eq!(v[0]["alarm_details"], "/var at 99%");
    assert_eq!(v[1].as_object().unwrap().len(), 1);
    assert_eq!(v[1]["alarm_type"], "Plain");
    assert_eq!(v.as_array().unwrap().len(), 3);
    let back: Vec<Alarm> = serde_json::from_value(v).unwrap();
    assert_eq!(back, run.alarms());
}

#[test]
fn clones_share_across_threads() {
    let run = RunMetrics::default();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let run = run.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    MetricBuilder::new()
                        .name(format!("t{t}_{i}"))
                        .value(i)
                        .publish(&run)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(run.metrics().len(), 100);
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<RunMetrics>();
}

#[test]
fn dimensions_builder_replaces_duplicate_keys() {
    let d = MetricDimensionsBuilder::new()
        .add("k", "1")
        .add("k", "2")
        .build();
    assert_eq!(d.as_map().get("k").map(String::as_str), Some("2"));
    assert_eq!(d.len(), 1);
    assert!(!d.is_empty());
    assert!(MetricDimensionsBuilder::new().build().is_empty());
}

mod props {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn publish_never_panics_and_prefix_rule_holds(name in "\\PC{0,40}", value in any::<f64>()) {
            let run = RunMetrics::default();
            let res = MetricBuilder::new().name(name.clone()).value(value).publish(&run);
            let reserved = name.trim_start().to_ascii_lowercase().starts_with("rex");
            if reserved {
                let is_reserved_err = matches!(res, Err(MetricsError::ReservedPrefix { .. }));
                prop_assert!(is_reserved_err);
            }
            if res.is_ok() {
                prop_assert!(!reserved && value.is_finite() && !name.trim().is_empty());
                prop_assert_eq!(run.metrics().len(), 1);
                let text = run.to_prometheus_text();
                prop_assert!(text.contains("# TYPE "));
            } else {
                prop_assert!(run.metrics().is_empty());
            }
        }
    }
}

/// Issue 19, item 12: per-item caps alone allowed about 60 MB of script metrics and alarms.
/// Their total is capped; overwriting a metric counts its new size only.
#[test]
fn script_metrics_and_alarms_are_capped_in_total() {
    let run = RunMetrics::new(MetricsLimits {
        max_total_bytes: 1100,
        ..MetricsLimits::default()
    });
    let big = "v".repeat(300);
    let dims = MetricDimensionsBuilder::new()
        .add("k", big.as_str())
        .build();
    let metric = |name: &str| {
        MetricBuilder::new()
            .name(name)
            .value(1)
            .dimensions(dims.clone())
            .publish(&run)
    };
    metric("a").unwrap();
    metric("b").unwrap();
    // overwriting keeps the total
    metric("a").unwrap();
    assert_eq!(
        metric("c"),
        Err(MetricsError::TotalTooLarge { limit: 1100 })
    );
    assert_eq!(
        AlarmBuilder::new()
            .alarm_type("x")
            .details(&big)
            .publish(&run),
        Err(MetricsError::TotalTooLarge { limit: 1100 })
    );
    AlarmBuilder::new()
        .alarm_type("small")
        .publish(&run)
        .unwrap();
    assert_eq!(run.script_metrics().len(), 2);
    assert_eq!(run.script_alarms().len(), 1);
    let kept: usize = run
        .script_metrics()
        .iter()
        .map(rex_metrics::metric_bytes)
        .chain(run.script_alarms().iter().map(rex_metrics::alarm_bytes))
        .sum();
    assert!(kept <= 1100);
}
