#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use rex_metrics::runner::RunnerCount;
use rex_metrics::{AlarmBuilder, MetricBuilder, MetricDimensionsBuilder, MetricUnit, RunMetrics};

/// Every non-comment line must be `name{labels} value` with a valid name and parsable value.
fn check_exposition(text: &str) {
    for line in text.lines() {
        if line.starts_with('#') {
            let parts: Vec<&str> = line.splitn(4, ' ').collect();
            assert!(parts[1] == "HELP" || parts[1] == "TYPE", "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let v = value.to_ascii_lowercase();
        assert!(
            v.parse::<f64>().is_ok() || ["nan", "+inf", "-inf"].contains(&v.as_str()),
            "{line}"
        );
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(!name.is_empty());
        assert!(!name.starts_with(|c: char| c.is_ascii_digit()), "{line}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(!series.contains('\n'));
    }
}

#[test]
fn renders_metrics_alarms_and_facade() {
    let run = RunMetrics::default();
    run.record_run_count(RunnerCount::Success).unwrap();
    let dims = MetricDimensionsBuilder::new()
        .add("path", "C:\\dir \"quoted\"\nline2")
        .add("bad-key", "x")
        .build();
    MetricBuilder::new()
        .name("my.metric")
        .value(1.5)
        .unit(MetricUnit::PERCENT)
        .dimensions(dims)
        .publish(&run)
        .unwrap();
    AlarmBuilder::new()
        .alarm_type("Disk\"Full")
        .publish(&run)
        .unwrap();
    AlarmBuilder::new()
        .alarm_type("Disk\"Full")
        .publish(&run)
        .unwrap();
    metrics::with_local_recorder(&run.recorder(), || {
        metrics::counter!("ops_total", "action" => "read").increment(4);
        metrics::histogram!("lat").record(2.0);
    });
    let text = run.to_prometheus_text();
    check_exposition(&text);
    assert!(text.contains("# TYPE RexRunnerScriptExecutionSuccessCount gauge\n"));
    assert!(text.contains("RexRunnerScriptExecutionSuccessCount{MetricInfo=\"SuccessCount\"} 1\n"));
    assert!(
        text.contains("my_metric{bad_key=\"x\",path=\"C:\\\\dir \\\"quoted\\\"\\nline2\"} 1.5\n")
    );
    assert!(text.contains("# HELP my_metric my.metric (unit PERCENT)\n"));
    assert!(text.contains("rex_alarm_count{alarm_type=\"Disk\\\"Full\"} 2\n"));
    assert!(text.contains("# TYPE ops_total counter\n"));
    assert!(text.contains("ops_total{action=\"read\"} 4\n"));
    assert!(text.contains("# TYPE lat summary\n"));
    assert!(text.contains("lat_sum 2\n"));
    assert!(text.contains("lat_count 1\n"));
    // One TYPE line per family.
    let types = text
        .lines()
        .filter(|l| l.starts_with("# TYPE my_metric "))
        .count();
    assert_eq!(types, 1);
}

#[test]
fn kind_collision_gets_distinct_family() {
    let run = RunMetrics::default();
    MetricBuilder::new()
        .name("ops")
        .value(1)
        .publish(&run)
        .unwrap();
    metrics::with_local_recorder(&run.recorder(), || {
        metrics::counter!("ops").increment(2);
    });
    let text = run.to_prometheus_text();
    check_exposition(&text);
    assert!(text.contains("# TYPE ops gauge\n"));
    assert!(text.contains("# TYPE ops_ counter\n"));
    assert!(text.contains("ops_ 2\n"));
}

#[test]
fn empty_run_renders_empty() {
    assert_eq!(RunMetrics::default().to_prometheus_text(), "");
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

mod props {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_label_value_round_trips(value in "\\PC{0,30}|[\\\\\"\n a-z]{0,30}") {
            let run = RunMetrics::default();
            let dims = MetricDimensionsBuilder::new().add("k", value.clone()).build();
            MetricBuilder::new().name("m").value(1).dimensions(dims).publish(&run).unwrap();
            let text = run.to_prometheus_text();
            check_exposition(&text);
            let sample = text.lines().find(|l| l.starts_with("m{")).unwrap();
            let inner = sample.strip_prefix("m{k=\"").unwrap().strip_suffix("\"} 1").unwrap();
            prop_assert_eq!(unescape(inner), value);
        }
    }
}
