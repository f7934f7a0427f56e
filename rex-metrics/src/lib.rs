//! Metrics recorder, script metrics and alarms, and run metrics of Rex.
//!
//! A leaf crate (no other Rex crate, no Rhai). It provides
//!
//! * the REX output types [`Metric`], [`MetricUnit`] and [`Alarm`];
//! * [`RunMetrics`], a per-run, cloneable, thread-safe collector, fed by the plain-Rust script
//!   API equivalents [`MetricBuilder`], [`MetricDimensionsBuilder`] and [`AlarmBuilder`]
//!   (names starting with `rex` are refused at publish time);
//! * the runner's own metric and alarm names ([`runner`]) and helpers that record them;
//! * [`RunRecorder`], a [`metrics::Recorder`] that collects `counter!`/`gauge!`/`histogram!`
//!   into the same run (use with [`metrics::with_local_recorder`]);
//! * hand-written Prometheus text rendering ([`RunMetrics::to_prometheus_text`]).
//!
//! ```
//! use rex_metrics::{MetricBuilder, MetricDimensionsBuilder, MetricUnit, MetricsError, RunMetrics};
//!
//! let run = RunMetrics::default();
//! MetricBuilder::new()
//!     .name("FilesCopied")
//!     .value(3)
//!     .unit(MetricUnit::COUNT)
//!     .dimensions(MetricDimensionsBuilder::new().add("Dir", "/srv").build())
//!     .publish(&run)?;
//! let refused = MetricBuilder::new().name("RexSpoof").value(1).publish(&run);
//! assert!(matches!(refused, Err(MetricsError::ReservedPrefix { .. })));
//! assert_eq!(run.metrics().len(), 1);
//!
//! metrics::with_local_recorder(&run.recorder(), || {
//!     metrics::counter!("sdk_calls", "action" => "read").increment(1);
//! });
//! assert!(run.to_prometheus_text().contains("sdk_calls{action=\"read\"} 1"));
//! # Ok::<(), MetricsError>(())
//! ```

mod builders;
mod error;
mod prometheus;
mod recorder;
mod run;
pub mod runner;
mod time;
mod types;

pub use builders::{AlarmBuilder, IntoMetricValue, MetricBuilder, MetricDimensionsBuilder};
pub use error::MetricsError;
pub use recorder::{FacadeKind, FacadeSample, RunRecorder};
pub use run::{ITEM_OVERHEAD_BYTES, MetricsLimits, RunMetrics, alarm_bytes, metric_bytes};
pub use time::{format_rfc3339, now_rfc3339};
pub use types::{Alarm, Metric, MetricDimensions, MetricUnit};
