//! REX's run metrics and alarms (names, units and dimensions of §3.6) and the script's own,
//! merged into the output document.

use std::time::Duration;

use rex_core::{ErrorKind, RunOutcome};
use rex_metrics::RunMetrics;
use rex_metrics::runner::{RunnerAlarm, RunnerCount, RunnerTime};

use crate::output::OutputDocument;

/// Records the runner's metrics and alarms for a finished run in `run`, then writes the
/// runner's and the script's metrics and alarms (in that order) into `doc`.
pub fn add_run_metrics(
    doc: &mut OutputDocument,
    run: &RunMetrics,
    outcome: &RunOutcome,
    total: Duration,
) {
    // Recording can only fail on limits that the runner's fixed names never reach; a
    // failure leaves the metric out rather than failing the run.
    let _ = run.record_execution_time(RunnerTime::ScriptExecution, outcome.timings.run);
    let _ = run.record_execution_time(RunnerTime::TotalExecution, total);
    match &outcome.error {
        None => {
            let _ = run.record_run_count(RunnerCount::Success);
        }
        Some(err) => {
            let (count, alarm) = match err.kind() {
                ErrorKind::AccessDenied => (
                    RunnerCount::PrivilegeEscalation,
                    RunnerAlarm::PrivilegeEscalation,
                ),
                ErrorKind::Compile => (
                    RunnerCount::CompilationFailure,
                    RunnerAlarm::CompilationFailure,
                ),
                ErrorKind::InvalidArguments => (
                    RunnerCount::ScriptArgumentValidationFailure,
                    RunnerAlarm::ScriptArgumentValidationFailure,
                ),
                _ => (RunnerCount::Failure, RunnerAlarm::ScriptExecutionFailure),
            };
            let _ = run.record_run_count(count);
            let details = crate::output::truncate_message(&err.to_string());
            let _ = run.raise_runner_alarm(alarm, Some(&details));
        }
    }
    let metrics = run.runner_metrics().into_iter().chain(run.script_metrics());
    doc.metrics = metrics
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    let alarms = run.runner_alarms().into_iter().chain(run.script_alarms());
    doc.alarms = alarms
        .filter_map(|a| serde_json::to_value(a).ok())
        .collect();
}
