//! Tracing setup, bounded script-log capture and the audit-log sink of Rex.
