#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use rex_metrics::runner::{self, ProcessUsage, RunnerAlarm, RunnerCount, RunnerTime};
use rex_metrics::{MetricBuilder, MetricUnit, MetricsError, RunMetrics};

#[test]
fn times_are_ns_with_duration_dimension() {
    let run = RunMetrics::default();
    run.record_execution_time(RunnerTime::ScriptExecution, Duration::from_millis(3))
        .unwrap();
    run.record_execution_time(RunnerTime::TotalExecution, Duration::from_nanos(42))
        .unwrap();
    let m = run.metric("RexRunnerScriptExecutionTime").unwrap();
    assert_eq!(m.metric_value, 3_000_000.0);
    assert_eq!(m.metric_unit, MetricUnit::TIME);
    assert_eq!(m.metric_dimension.get("MetricInfo").unwrap(), "Duration");
    let t = run.metric("RexRunnerTotalExecutionTime").unwrap();
    assert_eq!(t.metric_value, 42.0);
}

#[test]
fn counts_have_rex_names_and_metric_info() {
    let run = RunMetrics::default();
    let cases = [
        (
            RunnerCount::Success,
            "RexRunnerScriptExecutionSuccessCount",
            "SuccessCount",
        ),
        (
            RunnerCount::Failure,
            "RexRunnerScriptExecutionFailureCount",
            "FailureCount",
        ),
        (
            RunnerCount::PrivilegeEscalation,
            "RexRunnerPrivilegeEscalationCount",
            "FailureCount",
        ),
        (
            RunnerCount::CompilationFailure,
            "RexRunnerCompilationFailureCount",
            "FailureCount",
        ),
        (
            RunnerCount::ScriptArgumentValidationFailure,
            "RexRunnerScriptArgumentValidationFailureCount",
            "FailureCount",
        ),
    ];
    for (which, name, info) in cases {
        assert_eq!(which.metric_name(), name);
        run.record_run_count(which).unwrap();
        let m = run.metric(name).unwrap();
        assert_eq!(m.metric_value, 1.0);
        assert_eq!(m.metric_unit, MetricUnit::COUNT);
        assert_eq!(m.metric_dimension.get("MetricInfo").unwrap(), info);
    }
    // Recording twice overwrites (still 1.0, one entry).
    run.record_run_count(RunnerCount::Success).unwrap();
    assert_eq!(run.runner_metrics().len(), 5);
}

#[test]
fn process_usage() {
    let run = RunMetrics::default();
    run.record_process_usage(ProcessUsage {
        cpu_percent: 12.5,
        rss_megabytes_average: 30.0,
        virtual_megabytes_average: 200.0,
    })
    .unwrap();
    let cpu = run.metric(runner::PROCESS_CPU_USAGE).unwrap();
    assert_eq!(cpu.metric_name, "RexRunnerProcessCpuUsage");
    assert_eq!(cpu.metric_unit, MetricUnit::PERCENT);
    assert_eq!(cpu.metric_value, 12.5);
    let rss = run.metric("RexRunnerRssMemoryUsageAverage").unwrap();
    assert_eq!(rss.metric_unit, MetricUnit::MEGABYTES);
    assert_eq!(
        rss.metric_dimension.get("MetricInfo").unwrap(),
        "ProcessMonitoring"
    );
    let vm = run.metric("RexRunnerVirtualMemoryUsageAverage").unwrap();
    assert_eq!(vm.metric_value, 200.0);
    // Non-finite input is refused even for the runner.
    assert!(matches!(
        run.record_process_usage(ProcessUsage {
            cpu_percent: f64::NAN,
            ..ProcessUsage::default()
        }),
        Err(MetricsError::NonFiniteValue { .. })
    ));
}

#[test]
fn runner_alarms_bypass_prefix_ban_and_come_first() {
    let run = RunMetrics::default();
    rex_metrics::AlarmBuilder::new()
        .alarm_type("ScriptAlarm")
        .publish(&run)
        .unwrap();
    let cases = [
        (
            RunnerAlarm::ScriptExecutionFailure,
            "RexRunnerScriptExecutionFailure",
        ),
        (
            RunnerAlarm::CompilationFailure,
            "RexRunnerCompilationFailure",
        ),
        (
            RunnerAlarm::PrivilegeEscalation,
            "RexRunnerPrivilegeEscalation",
        ),
        (
            RunnerAlarm::ScriptArgumentValidationFailure,
            "RexRunnerScriptArgumentValidationFailure",
        ),
        (RunnerAlarm::Internal, "RexRunnerInternalAlarm"),
    ];
    for (which, name) in cases {
        assert_eq!(which.alarm_type(), name);
        run.raise_runner_alarm(which, Some("why")).unwrap();
    }
    let alarms = run.alarms();
    assert_eq!(alarms.len(), 6);
    assert_eq!(alarms[0].alarm_type, "RexRunnerScriptExecutionFailure");
    assert_eq!(alarms[0].alarm_details.as_deref(), Some("why"));
    assert_eq!(alarms[5].alarm_type, "ScriptAlarm");
    assert_eq!(run.script_alarms().len(), 1);
    assert_eq!(run.runner_alarms().len(), 5);
    assert_eq!(
        runner::ALARM_STDIN_READ_FAILURE,
        "RexRunnerStdinReadFailure"
    );
}

#[test]
fn script_cannot_touch_runner_metrics() {
    let run = RunMetrics::default();
    run.record_run_count(RunnerCount::Success).unwrap();
    let err = MetricBuilder::new()
        .name("RexRunnerScriptExecutionSuccessCount")
        .value(0)
        .publish(&run)
        .unwrap_err();
    assert!(matches!(err, MetricsError::ReservedPrefix { .. }));
    assert_eq!(
        run.metric("RexRunnerScriptExecutionSuccessCount")
            .unwrap()
            .metric_value,
        1.0
    );
    // Output order: runner metrics first, then script metrics.
    MetricBuilder::new()
        .name("mine")
        .value(2)
        .publish(&run)
        .unwrap();
    let names: Vec<String> = run.metrics().into_iter().map(|m| m.metric_name).collect();
    assert_eq!(names, ["RexRunnerScriptExecutionSuccessCount", "mine"]);
    assert_eq!(run.script_metrics().len(), 1);
}
