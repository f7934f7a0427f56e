//! Hand-written Prometheus text exposition (format 0.0.4) of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::recorder::FacadeKind;
use crate::run::RunMetrics;

/// Metric family name under which alarms are exported, one series per alarm type.
const ALARM_FAMILY: &str = "rex_alarm_count";

struct Family {
    kind: &'static str,
    help: String,
    /// Label string → sample lines (suffix, labels, value). First series wins on a clash.
    samples: BTreeMap<String, Vec<(String, String)>>,
}

/// Replaces every character outside `[a-zA-Z0-9_:]` by `_` and makes sure the name does not
/// start with a digit.
fn sanitize_metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Label names allow `[a-zA-Z0-9_]`, must not start with a digit, and `__` is reserved.
fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || out.starts_with("__") {
        out.insert_str(0, "l_");
    }
    out
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn render_labels(labels: &BTreeMap<String, String>) -> String {
    let mut sanitized: BTreeMap<String, &str> = BTreeMap::new();
    for (k, v) in labels {
        sanitized
            .entry(sanitize_label_name(k))
            .or_insert(v.as_str());
    }
    if sanitized.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = sanitized
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[derive(Default)]
struct Families(BTreeMap<String, Family>);

impl Families {
    /// Adds a series; a name already used by a family of another kind gets `_` appended
    /// until it is free.
    fn add(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &str,
        labels: &BTreeMap<String, String>,
        lines: Vec<(String, f64)>,
    ) {
        let mut name = sanitize_metric_name(name);
        while self.0.get(&name).is_some_and(|f| f.kind != kind) {
            name.push('_');
        }
        let family = self.0.entry(name).or_insert_with(|| Family {
            kind,
            help: help.to_owned(),
            samples: BTreeMap::new(),
        });
        let label_str = render_labels(labels);
        family.samples.entry(label_str).or_insert_with(|| {
            lines
                .into_iter()
                .map(|(suffix, v)| (suffix, format_value(v)))
                .collect()
        });
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.0 {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, lines) in &f.samples {
                for (suffix, value) in lines {
                    let _ = writeln!(out, "{name}{suffix}{labels} {value}");
                }
            }
        }
        out
    }
}

impl RunMetrics {
    /// Renders the run in the Prometheus text format.
    ///
    /// Runner and script metrics become gauges (dimensions as labels, the unit in HELP);
    /// alarms become `rex_alarm_count{alarm_type="..."}`; facade counters, gauges and
    /// histograms become counters, gauges and summaries (`_sum`, `_count`). Names and label
    /// names are sanitized, label values escaped. When two series collide after
    /// sanitizing, the first one is kept.
    #[must_use]
    pub fn to_prometheus_text(&self) -> String {
        let mut fam = Families::default();
        for m in self.metrics() {
            fam.add(
                &m.metric_name,
                "gauge",
                &format!("{} (unit {})", m.metric_name, m.metric_unit.as_str()),
                &m.metric_dimension,
                vec![(String::new(), m.metric_value)],
            );
        }
        let mut alarm_counts: BTreeMap<String, u64> = BTreeMap::new();
        for a in self.alarms() {
            let n = alarm_counts.entry(a.alarm_type).or_insert(0);
            *n = n.saturating_add(1);
        }
        for (alarm_type, n) in alarm_counts {
            #[allow(clippy::cast_precision_loss)]
            fam.add(
                ALARM_FAMILY,
                "gauge",
                "Alarms raised during the run, by type",
                &BTreeMap::from([("alarm_type".to_owned(), alarm_type)]),
                vec![(String::new(), n as f64)],
            );
        }
        for s in self.facade_samples() {
            #[allow(clippy::cast_precision_loss)]
            match s.kind {
                FacadeKind::Counter(c) => fam.add(
                    &s.name,
                    "counter",
                    &s.name,
                    &s.labels,
                    vec![(String::new(), c as f64)],
                ),
                FacadeKind::Gauge(g) => {
                    fam.add(
                        &s.name,
                        "gauge",
                        &s.name,
                        &s.labels,
                        vec![(String::new(), g)],
                    );
                }
                FacadeKind::Histogram { count, sum, .. } => fam.add(
                    &s.name,
                    "summary",
                    &s.name,
                    &s.labels,
                    vec![
                        ("_sum".to_owned(), sum),
                        ("_count".to_owned(), count as f64),
                    ],
                ),
            }
        }
        fam.render()
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

    #[test]
    fn sanitizing_and_escaping() {
        assert_eq!(sanitize_metric_name("a.b-c:d"), "a_b_c:d");
        assert_eq!(sanitize_metric_name("9lives"), "_9lives");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(sanitize_metric_name("é"), "_");
        assert_eq!(sanitize_label_name("host-name"), "host_name");
        assert_eq!(sanitize_label_name("__name__"), "l___name__");
        assert_eq!(sanitize_label_name("1x"), "l_1x");
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(2.0), "2");
    }
}
