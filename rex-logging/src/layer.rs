//! A `tracing` layer that copies script-log events into a [`ScriptLogs`] buffer.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::level::LogLevel;
use crate::script_logs::ScriptLogs;

/// Target of events meant for the script log (REX's `runner_target_for_script_logs`).
///
/// Events with this target, or a target below it (`rex_script::...`), are captured by
/// [`ScriptLogLayer`]. Recognized fields: `message`, `line_number` (integer) and
/// `rhai_api_name` (string); any other field is appended to the message as ` key=value`.
pub const SCRIPT_LOG_TARGET: &str = "rex_script";

/// A [`Layer`] that records events whose target is [`SCRIPT_LOG_TARGET`] into a
/// [`ScriptLogs`] (subject to its level filter and caps). Other events are ignored.
#[derive(Debug, Clone)]
pub struct ScriptLogLayer {
    logs: ScriptLogs,
}

impl ScriptLogLayer {
    /// A layer writing into `logs`.
    #[must_use]
    pub fn new(logs: ScriptLogs) -> Self {
        ScriptLogLayer { logs }
    }

    /// Whether an event with `target` is captured.
    #[must_use]
    pub fn captures(target: &str) -> bool {
        target
            .strip_prefix(SCRIPT_LOG_TARGET)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    extra: String,
    line_number: Option<u32>,
    rhai_api_name: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "rhai_api_name" => self.rhai_api_name = Some(value.to_owned()),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "line_number" {
            self.line_number = u32::try_from(value).ok();
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "line_number" {
            self.line_number = u32::try_from(value).ok();
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "rhai_api_name" => self.rhai_api_name = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for ScriptLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !Self::captures(meta.target()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields.message.push_str(&fields.extra);
        self.logs.log(
            LogLevel::from_tracing(meta.level()),
            &fields.message,
            fields.line_number,
            fields.rhai_api_name.as_deref(),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use crate::script_logs::ScriptLogsConfig;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn target_matching() {
        assert!(ScriptLogLayer::captures("rex_script"));
        assert!(ScriptLogLayer::captures("rex_script::io"));
        assert!(!ScriptLogLayer::captures("rex_scripts"));
        assert!(!ScriptLogLayer::captures("rust_sdk"));
    }

    #[test]
    fn captures_script_events_only() {
        let logs = ScriptLogs::new(ScriptLogsConfig::default());
        let subscriber = tracing_subscriber::registry().with(ScriptLogLayer::new(logs.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "rex_script", line_number = 7, rhai_api_name = "cat", "read {} bytes", 12);
            tracing::warn!(target: "rex_script::io", path = "/tmp/x", "slow");
            tracing::debug!(target: "rex_script", "below INFO: dropped by the buffer filter");
            tracing::error!(target: "rust_sdk", "not a script log");
            tracing::error!("default target: not a script log");
        });
        let e = logs.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].message, "read 12 bytes");
        assert_eq!(e[0].line_number, Some(7));
        assert_eq!(e[0].rhai_api_name.as_deref(), Some("cat"));
        assert_eq!(e[0].level, LogLevel::Info);
        assert_eq!(e[1].message, "slow path=/tmp/x");
        assert_eq!(e[1].level, LogLevel::Warn);
        assert_eq!(e[1].line_number, None);
    }
}
