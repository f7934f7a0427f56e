//! The runner's own script built-ins (REX §2.1): `MetricBuilder()`,
//! `MetricDimensionsBuilder()`, `MetricUnitType::*` and `AlarmBuilder()`.
//!
//! Published metrics and alarms go to the [`RunMetrics`] attached to the run as a
//! [`rex_core::RunExtensions`] value, so concurrent runs of one engine never mix. A metric
//! name or alarm type starting with `rex` (any case) is refused **when `publish()` is
//! called**, with a catchable script error, before the script can do anything else (REX
//! only rejected it after the run, when the side effects had already happened).

use rex_core::rhai::{Engine, EvalAltResult, Module, NativeCallContext};
use rex_core::{error_map, run_extension, script_error};
use rex_metrics::{
    AlarmBuilder, MetricBuilder, MetricDimensions, MetricDimensionsBuilder, MetricUnit,
    MetricsError, RunMetrics,
};

/// The `source` of the error maps these functions raise.
const SOURCE: &str = "Metrics";

type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

fn metrics_error(ctx: &NativeCallContext, err: &MetricsError) -> Box<EvalAltResult> {
    let kind = match err {
        MetricsError::ReservedPrefix { .. } => "ReservedName",
        _ => "ValidationError",
    };
    script_error(
        error_map(kind, &err.to_string(), SOURCE, None),
        ctx.call_position(),
    )
}

fn current_run(ctx: &NativeCallContext) -> ScriptResult<std::sync::Arc<RunMetrics>> {
    run_extension::<RunMetrics>().ok_or_else(|| {
        script_error(
            error_map(
                "Unavailable",
                "metrics and alarms are not collected in this run",
                SOURCE,
                None,
            ),
            ctx.call_position(),
        )
    })
}

/// Registers the built-ins on `engine`.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<MetricBuilder>("MetricBuilder")
        .register_type_with_name::<MetricDimensionsBuilder>("MetricDimensionsBuilder")
        .register_type_with_name::<MetricDimensions>("MetricDimensions")
        .register_type_with_name::<MetricUnit>("MetricUnitType")
        .register_type_with_name::<AlarmBuilder>("AlarmBuilder");

    engine.register_fn("MetricBuilder", MetricBuilder::new);
    engine.register_fn("name", |b: &mut MetricBuilder, name: &str| {
        b.clone().name(name)
    });
    engine.register_fn("value", |b: &mut MetricBuilder, v: f64| b.clone().value(v));
    engine.register_fn("value", |b: &mut MetricBuilder, v: i64| b.clone().value(v));
    engine.register_fn("unit", |b: &mut MetricBuilder, u: MetricUnit| {
        b.clone().unit(u)
    });
    engine.register_fn(
        "dimensions",
        |b: &mut MetricBuilder, d: MetricDimensions| b.clone().dimensions(d),
    );
    engine.register_fn(
        "publish",
        |ctx: NativeCallContext, b: &mut MetricBuilder| -> ScriptResult<()> {
            let run = current_run(&ctx)?;
            b.publish(&run).map_err(|e| metrics_error(&ctx, &e))
        },
    );

    engine.register_fn("MetricDimensionsBuilder", MetricDimensionsBuilder::new);
    engine.register_fn(
        "add",
        |b: &mut MetricDimensionsBuilder, k: &str, v: &str| b.clone().add(k, v),
    );
    engine.register_fn("build", |b: &mut MetricDimensionsBuilder| b.clone().build());

    engine.register_fn("AlarmBuilder", AlarmBuilder::new);
    engine.register_fn("type", |b: &mut AlarmBuilder, t: &str| {
        b.clone().alarm_type(t)
    });
    engine.register_fn("details", |b: &mut AlarmBuilder, d: &str| {
        b.clone().details(d)
    });
    engine.register_fn(
        "publish",
        |ctx: NativeCallContext, b: &mut AlarmBuilder| -> ScriptResult<()> {
            let run = current_run(&ctx)?;
            b.publish(&run).map_err(|e| metrics_error(&ctx, &e))
        },
    );

    let mut units = Module::new();
    for unit in MetricUnit::ALL {
        units.set_var(unit.as_str(), unit);
    }
    engine.register_static_module("MetricUnitType", units.into());
    engine.register_fn("to_string", |u: &mut MetricUnit| u.as_str().to_string());
    engine.register_fn("==", |a: MetricUnit, b: MetricUnit| a == b);
}
