//! REX's run metrics and alarms in the output document (names, units and dimensions of §3.6).

use std::time::Duration;

use rex_core::{ErrorKind, RunOutcome};
use serde_json::{Value, json};

use crate::output::OutputDocument;

fn metric(name: &str, value: f64, unit: &str, info: &str) -> Value {
    json!({
        "metric_name": name,
        "metric_value": value,
        "metric_unit": unit,
        "metric_dimension": { "MetricInfo": info },
        "metric_timestamp": rex_logging::now_rfc3339(),
    })
}

fn alarm(kind: &str, details: &str) -> Value {
    json!({ "alarm_type": kind, "alarm_details": details })
}

/// Appends the runner's metrics and alarms for a finished run.
pub fn add_run_metrics(doc: &mut OutputDocument, outcome: &RunOutcome, total: Duration) {
    let ns = |d: Duration| d.as_nanos() as f64;
    doc.metrics.push(metric(
        "RexRunnerScriptExecutionTime",
        ns(outcome.timings.run),
        "TIME",
        "Duration",
    ));
    doc.metrics.push(metric(
        "RexRunnerTotalExecutionTime",
        ns(total),
        "TIME",
        "Duration",
    ));
    match &outcome.error {
        None => doc.metrics.push(metric(
            "RexRunnerScriptExecutionSuccessCount",
            1.0,
            "COUNT",
            "SuccessCount",
        )),
        Some(err) => {
            let (count, alarm_type) = match err.kind() {
                ErrorKind::AccessDenied => (
                    "RexRunnerScriptExecutionPrivilegeEscalationCount",
                    "RexRunnerPrivilegeEscalation",
                ),
                ErrorKind::Compile => (
                    "RexRunnerScriptExecutionCompilationFailureCount",
                    "RexRunnerCompilationFailure",
                ),
                ErrorKind::InvalidArguments => (
                    "RexRunnerScriptArgumentValidationFailureCount",
                    "RexRunnerScriptArgumentValidationFailure",
                ),
                _ => (
                    "RexRunnerScriptExecutionFailureCount",
                    "RexRunnerScriptExecutionFailure",
                ),
            };
            doc.metrics
                .push(metric(count, 1.0, "COUNT", "FailureCount"));
            doc.alarms.push(alarm(alarm_type, &err.to_string()));
        }
    }
}
