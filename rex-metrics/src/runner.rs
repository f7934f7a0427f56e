//! The runner's own metric and alarm names (REX §3.6) and helpers that record them.
//!
//! These bypass the `rex` prefix ban that applies to script metrics and alarms.
//!
//! Spelling note: the reference lists several names with an elided prefix (`…FailureCount`,
//! `…PrivilegeEscalationCount`, `…RssMemoryUsageAverage`). The alarm list's elision is
//! `RexRunner` (confirmed by `RexRunnerPrivilegeEscalation` in the exit-code table), and the
//! constants below follow that reading, except `…FailureCount`, which follows the success
//! count it is listed next to (`RexRunnerScriptExecution…`). Use these constants rather than
//! literal strings so that a correction happens in one place.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::MetricsError;
use crate::run::RunMetrics;
use crate::types::MetricUnit;

/// Script execution time (TIME, ns, `MetricInfo=Duration`).
pub const SCRIPT_EXECUTION_TIME: &str = "RexRunnerScriptExecutionTime";
/// Total runner execution time (TIME, ns, `MetricInfo=Duration`).
pub const TOTAL_EXECUTION_TIME: &str = "RexRunnerTotalExecutionTime";
/// The script succeeded (COUNT 1, `MetricInfo=SuccessCount`).
pub const SCRIPT_EXECUTION_SUCCESS_COUNT: &str = "RexRunnerScriptExecutionSuccessCount";
/// The script failed (COUNT 1, `MetricInfo=FailureCount`).
pub const SCRIPT_EXECUTION_FAILURE_COUNT: &str = "RexRunnerScriptExecutionFailureCount";
/// Access was denied (COUNT 1, `MetricInfo=FailureCount`).
pub const PRIVILEGE_ESCALATION_COUNT: &str = "RexRunnerPrivilegeEscalationCount";
/// The script did not compile (COUNT 1, `MetricInfo=FailureCount`).
pub const COMPILATION_FAILURE_COUNT: &str = "RexRunnerCompilationFailureCount";
/// The script arguments were invalid (COUNT 1, `MetricInfo=FailureCount`).
pub const SCRIPT_ARGUMENT_VALIDATION_FAILURE_COUNT: &str =
    "RexRunnerScriptArgumentValidationFailureCount";
/// CPU usage of the runner process (PERCENT, `MetricInfo=ProcessMonitoring`).
pub const PROCESS_CPU_USAGE: &str = "RexRunnerProcessCpuUsage";
/// Average RSS of the runner process (MEGABYTES, `MetricInfo=ProcessMonitoring`).
pub const RSS_MEMORY_USAGE_AVERAGE: &str = "RexRunnerRssMemoryUsageAverage";
/// Average virtual memory of the runner process (MEGABYTES, `MetricInfo=ProcessMonitoring`).
pub const VIRTUAL_MEMORY_USAGE_AVERAGE: &str = "RexRunnerVirtualMemoryUsageAverage";

/// Alarm: the script failed.
pub const ALARM_SCRIPT_EXECUTION_FAILURE: &str = "RexRunnerScriptExecutionFailure";
/// Alarm: the script did not compile.
pub const ALARM_COMPILATION_FAILURE: &str = "RexRunnerCompilationFailure";
/// Alarm: access was denied.
pub const ALARM_PRIVILEGE_ESCALATION: &str = "RexRunnerPrivilegeEscalation";
/// Alarm: the script arguments were invalid.
pub const ALARM_SCRIPT_ARGUMENT_VALIDATION_FAILURE: &str =
    "RexRunnerScriptArgumentValidationFailure";
/// Alarm: an internal runner failure (REX: SIGTERM handler registration failed).
pub const ALARM_INTERNAL: &str = "RexRunnerInternalAlarm";
/// Alarm declared by REX but never raised (left over from an old stdin protocol).
pub const ALARM_STDIN_READ_FAILURE: &str = "RexRunnerStdinReadFailure";

/// Dimension key used by every runner metric.
pub const METRIC_INFO: &str = "MetricInfo";
/// `MetricInfo` value of the time metrics.
pub const METRIC_INFO_DURATION: &str = "Duration";
/// `MetricInfo` value of the success count.
pub const METRIC_INFO_SUCCESS_COUNT: &str = "SuccessCount";
/// `MetricInfo` value of the failure counts.
pub const METRIC_INFO_FAILURE_COUNT: &str = "FailureCount";
/// `MetricInfo` value of the process metrics.
pub const METRIC_INFO_PROCESS_MONITORING: &str = "ProcessMonitoring";

/// The runner's duration metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerTime {
    /// [`SCRIPT_EXECUTION_TIME`].
    ScriptExecution,
    /// [`TOTAL_EXECUTION_TIME`].
    TotalExecution,
}

impl RunnerTime {
    /// The metric name.
    #[must_use]
    pub const fn metric_name(self) -> &'static str {
        match self {
            RunnerTime::ScriptExecution => SCRIPT_EXECUTION_TIME,
            RunnerTime::TotalExecution => TOTAL_EXECUTION_TIME,
        }
    }
}

/// The runner's outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerCount {
    /// [`SCRIPT_EXECUTION_SUCCESS_COUNT`].
    Success,
    /// [`SCRIPT_EXECUTION_FAILURE_COUNT`].
    Failure,
    /// [`PRIVILEGE_ESCALATION_COUNT`].
    PrivilegeEscalation,
    /// [`COMPILATION_FAILURE_COUNT`].
    CompilationFailure,
    /// [`SCRIPT_ARGUMENT_VALIDATION_FAILURE_COUNT`].
    ScriptArgumentValidationFailure,
}

impl RunnerCount {
    /// The metric name.
    #[must_use]
    pub const fn metric_name(self) -> &'static str {
        match self {
            RunnerCount::Success => SCRIPT_EXECUTION_SUCCESS_COUNT,
            RunnerCount::Failure => SCRIPT_EXECUTION_FAILURE_COUNT,
            RunnerCount::PrivilegeEscalation => PRIVILEGE_ESCALATION_COUNT,
            RunnerCount::CompilationFailure => COMPILATION_FAILURE_COUNT,
            RunnerCount::ScriptArgumentValidationFailure => {
                SCRIPT_ARGUMENT_VALIDATION_FAILURE_COUNT
            }
        }
    }

    /// The `MetricInfo` dimension value (`SuccessCount` or `FailureCount`).
    #[must_use]
    pub const fn metric_info(self) -> &'static str {
        match self {
            RunnerCount::Success => METRIC_INFO_SUCCESS_COUNT,
            _ => METRIC_INFO_FAILURE_COUNT,
        }
    }
}

/// The runner's alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerAlarm {
    /// [`ALARM_SCRIPT_EXECUTION_FAILURE`].
    ScriptExecutionFailure,
    /// [`ALARM_COMPILATION_FAILURE`].
    CompilationFailure,
    /// [`ALARM_PRIVILEGE_ESCALATION`].
    PrivilegeEscalation,
    /// [`ALARM_SCRIPT_ARGUMENT_VALIDATION_FAILURE`].
    ScriptArgumentValidationFailure,
    /// [`ALARM_INTERNAL`].
    Internal,
}

impl RunnerAlarm {
    /// The alarm type.
    #[must_use]
    pub const fn alarm_type(self) -> &'static str {
        match self {
            RunnerAlarm::ScriptExecutionFailure => ALARM_SCRIPT_EXECUTION_FAILURE,
            RunnerAlarm::CompilationFailure => ALARM_COMPILATION_FAILURE,
            RunnerAlarm::PrivilegeEscalation => ALARM_PRIVILEGE_ESCALATION,
            RunnerAlarm::ScriptArgumentValidationFailure => {
                ALARM_SCRIPT_ARGUMENT_VALIDATION_FAILURE
            }
            RunnerAlarm::Internal => ALARM_INTERNAL,
        }
    }
}

/// Process usage sampled by the runner.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessUsage {
    /// CPU usage in percent.
    pub cpu_percent: f64,
    /// Average resident set size in megabytes.
    pub rss_megabytes_average: f64,
    /// Average virtual memory size in megabytes.
    pub virtual_megabytes_average: f64,
}

fn metric_info(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(METRIC_INFO.to_owned(), value.to_owned())])
}

impl RunMetrics {
    /// Records a runner duration metric in nanoseconds (TIME, `MetricInfo=Duration`).
    pub fn record_execution_time(
        &self,
        which: RunnerTime,
        elapsed: Duration,
    ) -> Result<(), MetricsError> {
        #[allow(clippy::cast_precision_loss)]
        let ns = elapsed.as_nanos() as f64;
        self.record_runner_metric(
            which.metric_name(),
            ns,
            MetricUnit::TIME,
            &metric_info(METRIC_INFO_DURATION),
        )
    }

    /// Records a runner outcome count (COUNT 1.0, `MetricInfo=SuccessCount|FailureCount`).
    pub fn record_run_count(&self, which: RunnerCount) -> Result<(), MetricsError> {
        self.record_runner_metric(
            which.metric_name(),
            1.0,
            MetricUnit::COUNT,
            &metric_info(which.metric_info()),
        )
    }

    /// Records the three process metrics (`MetricInfo=ProcessMonitoring`).
    pub fn record_process_usage(&self, usage: ProcessUsage) -> Result<(), MetricsError> {
        let dims = metric_info(METRIC_INFO_PROCESS_MONITORING);
        self.record_runner_metric(
            PROCESS_CPU_USAGE,
            usage.cpu_percent,
            MetricUnit::PERCENT,
            &dims,
        )?;
        self.record_runner_metric(
            RSS_MEMORY_USAGE_AVERAGE,
            usage.rss_megabytes_average,
            MetricUnit::MEGABYTES,
            &dims,
        )?;
        self.record_runner_metric(
            VIRTUAL_MEMORY_USAGE_AVERAGE,
            usage.virtual_megabytes_average,
            MetricUnit::MEGABYTES,
            &dims,
        )
    }

    /// Raises a runner alarm.
    pub fn raise_runner_alarm(
        &self,
        which: RunnerAlarm,
        details: Option<&str>,
    ) -> Result<(), MetricsError> {
        self.record_runner_alarm(which.alarm_type(), details)
    }
}
