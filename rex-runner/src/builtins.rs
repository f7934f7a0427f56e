//! The runner's own script built-ins (REX §2.1): `MetricBuilder()`,
//! `MetricDimensionsBuilder()`, `MetricUnitType::*` and `AlarmBuilder()`, each declared once
//! ([`rex_core::declaration`], module `runner`) so that they are in the engine's catalog.
//!
//! Published metrics and alarms go to the [`RunMetrics`] attached to the run as a
//! [`rex_core::RunExtensions`] value, so concurrent runs of one engine never mix. A metric
//! name or alarm type starting with `rex` (any case) is refused **when `publish()` is
//! called**, with a catchable script error, before the script can do anything else (REX
//! only rejected it after the run, when the side effects had already happened).

use rex_core::HostAccess;
use rex_core::rhai::{Engine, EvalAltResult, FuncRegistration, Module, NativeCallContext};
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

/// One declaration of a built-in: module `runner`, no host access (see
/// [`rex_core::declaration`]); the catalog, `--print-functions` and MCP's `list_functions`
/// read it back from the engine.
fn builtin(name: &str, params: &[&str], returns: &str, doc: &str) -> FuncRegistration {
    rex_core::declaration(name, params, returns, "runner", HostAccess::None, doc)
}

/// Registers the built-ins on `engine`.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<MetricBuilder>("MetricBuilder")
        .register_type_with_name::<MetricDimensionsBuilder>("MetricDimensionsBuilder")
        .register_type_with_name::<MetricDimensions>("MetricDimensions")
        .register_type_with_name::<MetricUnit>("MetricUnitType")
        .register_type_with_name::<AlarmBuilder>("AlarmBuilder");

    const M: &str = "self: MetricBuilder";
    builtin(
        "MetricBuilder",
        &[],
        "MetricBuilder",
        "A new metric, published in the run's document by `publish()`.",
    )
    .register_into_engine(engine, MetricBuilder::new);
    builtin(
        "name",
        &[M, "name: String"],
        "MetricBuilder",
        "The metric's name (not starting with `rex`).",
    )
    .register_into_engine(engine, |b: &mut MetricBuilder, name: &str| {
        b.clone().name(name)
    });
    builtin(
        "value",
        &[M, "value: float"],
        "MetricBuilder",
        "The metric's value.",
    )
    .register_into_engine(engine, |b: &mut MetricBuilder, v: f64| b.clone().value(v));
    builtin(
        "value",
        &[M, "value: int"],
        "MetricBuilder",
        "The metric's value.",
    )
    .register_into_engine(engine, |b: &mut MetricBuilder, v: i64| b.clone().value(v));
    builtin(
        "unit",
        &[M, "unit: MetricUnitType"],
        "MetricBuilder",
        "The metric's unit (`MetricUnitType::*`).",
    )
    .register_into_engine(engine, |b: &mut MetricBuilder, u: MetricUnit| {
        b.clone().unit(u)
    });
    builtin(
        "dimensions",
        &[M, "dimensions: MetricDimensions"],
        "MetricBuilder",
        "The metric's dimensions.",
    )
    .register_into_engine(engine, |b: &mut MetricBuilder, d: MetricDimensions| {
        b.clone().dimensions(d)
    });
    builtin(
        "publish",
        &[M],
        "",
        "Adds the metric to the run's document.",
    )
    .register_into_engine(
        engine,
        |ctx: NativeCallContext, b: &mut MetricBuilder| -> ScriptResult<()> {
            let run = current_run(&ctx)?;
            b.publish(&run).map_err(|e| metrics_error(&ctx, &e))
        },
    );

    const D: &str = "self: MetricDimensionsBuilder";
    builtin(
        "MetricDimensionsBuilder",
        &[],
        "MetricDimensionsBuilder",
        "A new set of metric dimensions.",
    )
    .register_into_engine(engine, MetricDimensionsBuilder::new);
    builtin(
        "add",
        &[D, "name: String", "value: String"],
        "MetricDimensionsBuilder",
        "Adds one dimension.",
    )
    .register_into_engine(
        engine,
        |b: &mut MetricDimensionsBuilder, k: &str, v: &str| b.clone().add(k, v),
    );
    builtin(
        "build",
        &[D],
        "MetricDimensions",
        "The dimensions, for `MetricBuilder.dimensions`.",
    )
    .register_into_engine(engine, |b: &mut MetricDimensionsBuilder| b.clone().build());

    const A: &str = "self: AlarmBuilder";
    builtin(
        "AlarmBuilder",
        &[],
        "AlarmBuilder",
        "A new alarm, published in the run's document by `publish()`.",
    )
    .register_into_engine(engine, AlarmBuilder::new);
    builtin(
        "type",
        &[A, "alarm_type: String"],
        "AlarmBuilder",
        "The alarm's type (not starting with `rex`).",
    )
    .register_into_engine(engine, |b: &mut AlarmBuilder, t: &str| {
        b.clone().alarm_type(t)
    });
    builtin(
        "details",
        &[A, "details: String"],
        "AlarmBuilder",
        "The alarm's details.",
    )
    .register_into_engine(engine, |b: &mut AlarmBuilder, d: &str| b.clone().details(d));
    builtin("publish", &[A], "", "Adds the alarm to the run's document.").register_into_engine(
        engine,
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
    const U: &str = "self: MetricUnitType";
    builtin(
        "to_string",
        &[U],
        "String",
        "The unit's name (`SECONDS`, `COUNT`, ...).",
    )
    .register_into_engine(engine, |u: &mut MetricUnit| u.as_str().to_string());
    builtin(
        "==",
        &["a: MetricUnitType", "b: MetricUnitType"],
        "bool",
        "Whether two units are the same.",
    )
    .register_into_engine(engine, |a: MetricUnit, b: MetricUnit| a == b);
}
