//! Metrics recorder, script metrics and alarms, and run metrics of Rex.
