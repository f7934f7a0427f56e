//! The `utils` module (REX's `rhai-sdk-common-utils`, no Cedar checks): `DateTime`,
//! `random_alphanumeric` and `to_json`. The values and their logic are rust-sdk's
//! ([`rust_sdk::values`]); this module converts them for scripts (and renders script values
//! as JSON, which is Rhai value conversion).

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext};

pub use rust_sdk::values::{DateTime, MAX_RANDOM_LEN, RFC2822, RFC3339, random_alphanumeric};

use crate::binding::{Binding, NO_HOST};
use crate::error::{COMMON_SOURCE, script_err};

type RResult<T> = Result<T, Box<EvalAltResult>>;

fn common_err(kind: &str, message: impl Into<String>) -> Box<EvalAltResult> {
    script_err(COMMON_SOURCE, kind, message)
}

/// The deepest nesting `to_json` renders (deeper values are refused, never overflow the stack).
const MAX_JSON_DEPTH: usize = 64;

/// A script value as JSON. Custom types (`DateTime`, `ServiceInfo`, ...) are rendered through
/// their registered `to_string` (REX's override), or their type name when they have none.
fn json_value(
    ctx: &NativeCallContext,
    value: &Dynamic,
    depth: usize,
) -> RResult<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(common_err(
            "FormatError",
            format!("to_json: value nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    if value.is_map() {
        let map = value
            .read_lock::<Map>()
            .map(|m| m.clone())
            .unwrap_or_default();
        let mut out = serde_json::Map::new();
        for (k, v) in &map {
            out.insert(k.to_string(), json_value(ctx, v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    if value.is_array() {
        let arr = value
            .read_lock::<Array>()
            .map(|a| a.clone())
            .unwrap_or_default();
        return arr
            .iter()
            .map(|v| json_value(ctx, v, depth + 1))
            .collect::<RResult<Vec<Value>>>()
            .map(Value::Array);
    }
    if value.is_variant() {
        let text = ctx
            .call_native_fn::<String>("to_string", (value.clone(),))
            .unwrap_or_else(|_| ctx.engine().map_type_name(value.type_name()).to_string());
        return Ok(Value::String(text));
    }
    serde_json::to_value(value).map_err(|e| common_err("FormatError", e.to_string()))
}

/// Serialises a value to JSON; custom types are rendered through their string form.
fn to_json(ctx: &NativeCallContext, value: &Dynamic) -> RResult<String> {
    // A closure stored in the array it captures is a cycle through a shared cell, which
    // serde would follow forever (issue 19): refused by a bounded walk first.
    rex_core::check_value(value).map_err(|p| common_err("FormatError", format!("to_json: {p}")))?;
    let v = json_value(ctx, value, 0)?;
    serde_json::to_string(&v).map_err(|e| common_err("FormatError", e.to_string()))
}

/// Registers `to_map()` on plain maps (returning the map itself). Rex hands REX's value
/// objects (`ProcessInfo`, `Meminfo`, `Filesystem`, `InternetConnection`, ...) to scripts as
/// maps with REX's property names, so `x.name` and `x.to_map()` both work as in REX.
pub(crate) fn register_value_maps(b: &mut Binding<'_>) {
    let mut b = b.scoped("utils");
    crate::declare!(
        b,
        "to_map",
        NO_HOST,
        "The map itself (REX's value objects are maps).",
        |m: &mut Map| m.clone()
    );
}

/// Registers the utils module.
pub fn register(engine: &mut Engine) {
    let mut b = Binding::new(engine, "utils");
    let b = &mut b;
    b.custom_type::<DateTime>();
    crate::declare!(
        b,
        "DateTime",
        NO_HOST,
        "A DateTime from its calendar fields (UTC).",
        |y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ns: i64| {
            DateTime::from_parts(y, mo, d, h, mi, s, ns)
                .map_err(|e| common_err("InvalidArguments", e))
        }
    );
    crate::declare!(
        b,
        "from_epoch_seconds",
        NO_HOST,
        "A DateTime from seconds since the epoch.",
        |s: i64| { DateTime::from_epoch(s, 0).map_err(|e| common_err("InvalidArguments", e)) }
    );
    crate::declare!(
        b,
        "from_epoch_nanos",
        NO_HOST,
        "A DateTime from nanoseconds since the epoch.",
        |s: i64, ns: i64| {
            DateTime::from_epoch(s, ns).map_err(|e| common_err("InvalidArguments", e))
        }
    );
    b.func("now", [], NO_HOST, "The current time.", DateTime::now);
    crate::declare!(
        b,
        "now_nanos",
        NO_HOST,
        "The current time in nanoseconds since the epoch.",
        || { DateTime::now().epoch_nanos() }
    );
    crate::declare!(
        b,
        "parse_datetime",
        NO_HOST,
        "Parses an RFC 3339 date and time.",
        |s: &str, format: &str| {
            match format {
                RFC3339 => DateTime::parse_rfc3339(s),
                RFC2822 => DateTime::parse_rfc2822(s),
                other => Err(format!("unknown DateTimeFormat {other:?}")),
            }
            .map_err(|e| common_err("ParseError", e))
        }
    );
    crate::declare!(
        b,
        "epoch_seconds",
        NO_HOST,
        "Seconds since the epoch.",
        |d: &mut DateTime| d.epoch_seconds()
    );
    crate::declare!(
        b,
        "nanos",
        NO_HOST,
        "The nanosecond part.",
        |d: &mut DateTime| d.nanos()
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |d: &mut DateTime, format: &str| {
            d.format(format).map_err(|e| common_err("FormatError", e))
        }
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |d: &mut DateTime| d.to_rfc3339()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |d: &mut DateTime| d.to_rfc3339()
    );
    crate::declare!(
        b,
        "month_str",
        NO_HOST,
        "The month name.",
        |d: &mut DateTime| d.month_name().to_string()
    );
    crate::declare!(
        b,
        "month_str_short",
        NO_HOST,
        "The three-letter month name.",
        |d: &mut DateTime| { d.month_name().chars().take(3).collect::<String>() }
    );
    b.getter(
        "year",
        NO_HOST,
        "The `year` property.",
        |d: &mut DateTime| d.civil().0,
    );
    b.getter(
        "month",
        NO_HOST,
        "The `month` property.",
        |d: &mut DateTime| d.civil().1,
    );
    b.getter("day", NO_HOST, "The `day` property.", |d: &mut DateTime| {
        d.civil().2
    });
    b.getter(
        "hour",
        NO_HOST,
        "The `hour` property.",
        |d: &mut DateTime| d.civil().3,
    );
    b.getter(
        "minute",
        NO_HOST,
        "The `minute` property.",
        |d: &mut DateTime| d.civil().4,
    );
    b.getter(
        "second",
        NO_HOST,
        "The `second` property.",
        |d: &mut DateTime| d.civil().5,
    );
    b.getter(
        "nanosecond",
        NO_HOST,
        "The `nanosecond` property.",
        |d: &mut DateTime| d.nanos(),
    );
    crate::declare!(b, "+", NO_HOST, "`+`.", |d: DateTime, secs: i64| {
        d.add_secs(secs)
            .map_err(|e| common_err("InvalidArguments", e))
    });
    crate::declare!(b, "-", NO_HOST, "`-`.", |d: DateTime, secs: i64| {
        d.add_secs(secs.saturating_neg())
            .map_err(|e| common_err("InvalidArguments", e))
    });
    crate::declare!(b, "-", NO_HOST, "`-`.", |a: DateTime, b: DateTime| {
        a.seconds_since(&b)
    });
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: DateTime, b: DateTime| a
        == b);
    crate::declare!(
        b,
        "!=",
        NO_HOST,
        "Inequality.",
        |a: DateTime, b: DateTime| a != b
    );
    crate::declare!(b, "<", NO_HOST, "`<`.", |a: DateTime, b: DateTime| a < b);
    crate::declare!(b, "<=", NO_HOST, "`<=`.", |a: DateTime, b: DateTime| a <= b);
    crate::declare!(b, ">", NO_HOST, "`>`.", |a: DateTime, b: DateTime| a > b);
    crate::declare!(b, ">=", NO_HOST, "`>=`.", |a: DateTime, b: DateTime| a >= b);

    let mut formats = Module::new();
    formats.set_var(RFC3339, RFC3339.to_string());
    formats.set_var(RFC2822, RFC2822.to_string());
    b.static_module("DateTimeFormat", formats.into());

    crate::declare!(
        b,
        "random_alphanumeric",
        NO_HOST,
        "A random alphanumeric string of the given length (bounded).",
        |len: i64| { random_alphanumeric(len).map_err(|e| common_err("InvalidArguments", e)) }
    );
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "The value as JSON text (bounded depth).",
        |ctx: NativeCallContext, value: Dynamic| { to_json(&ctx, &value) }
    );
    // exact-type overloads, so Rhai's own `Map.to_json()` is not picked first
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "The value as JSON text (bounded depth).",
        |ctx: NativeCallContext, value: Map| { to_json(&ctx, &Dynamic::from_map(value)) }
    );
    crate::declare!(
        b,
        "to_json",
        NO_HOST,
        "The value as JSON text (bounded depth).",
        |ctx: NativeCallContext, value: Array| { to_json(&ctx, &Dynamic::from_array(value)) }
    );
    register_value_maps(b);
}

crate::script_types!(
    DateTime => "DateTime",
);
