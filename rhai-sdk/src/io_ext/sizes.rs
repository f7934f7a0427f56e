//! `SizeUnit` constants and the `SizeRange` constructors of `FindOptions`.

use super::*;

// ---------------------------------------------------------------------------------------------
// SizeUnit, SizeRange

/// A size unit (`SizeUnit::KILOBYTES`, ...): a name and a factor in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeUnit {
    pub(super) name: &'static str,
    pub(super) factor: u64,
}

/// REX's size units.
pub const SIZE_UNITS: &[(&str, u64)] = &[
    ("BYTES", 1),
    ("KILOBYTES", 1_000),
    ("KIBIBYTES", 1 << 10),
    ("MEGABYTES", 1_000_000),
    ("MEBIBYTES", 1 << 20),
    ("GIGABYTES", 1_000_000_000),
    ("GIBIBYTES", 1 << 30),
];

pub(super) const BYTES: SizeUnit = SizeUnit {
    name: "BYTES",
    factor: 1,
};

impl SizeUnit {
    /// `n` of this unit in bytes; negative or overflowing values are refused.
    pub fn bytes(self, what: &str, n: i64) -> Result<u64, String> {
        let n = u64::try_from(n).map_err(|_| format!("{what} must be >= 0, got {n}"))?;
        n.checked_mul(self.factor)
            .ok_or_else(|| format!("{what} of {n} {} overflows", self.name))
    }
}

/// A size filter of `FindOptions` (bytes, inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeRange {
    pub(super) min: Option<u64>,
    pub(super) max: Option<u64>,
}

pub(super) fn register_sizes(b: &mut Binding<'_>) {
    b.custom_type::<SizeUnit>();
    crate::declare!(b, "==", NO_HOST, "Equality.", |a: SizeUnit, b: SizeUnit| a
        == b);
    crate::declare!(
        b,
        "!=",
        NO_HOST,
        "Inequality.",
        |a: SizeUnit, b: SizeUnit| a != b
    );
    crate::declare!(
        b,
        "to_string",
        NO_HOST,
        "The display text.",
        |u: &mut SizeUnit| u.name.to_string()
    );
    crate::declare!(
        b,
        "to_debug",
        NO_HOST,
        "The debug text.",
        |u: &mut SizeUnit| { format!("SizeUnit::{}", u.name) }
    );
    let mut units = Module::new();
    for (name, factor) in SIZE_UNITS {
        units.set_var(
            *name,
            SizeUnit {
                name,
                factor: *factor,
            },
        );
    }
    b.static_module("SizeUnit", units.into());

    b.custom_type::<SizeRange>();
    b.getter(
        "min",
        NO_HOST,
        "The `min` property.",
        |r: &mut SizeRange| r.min.map_or(Dynamic::UNIT, |v| Dynamic::from(int(v))),
    );
    b.getter(
        "max",
        NO_HOST,
        "The `max` property.",
        |r: &mut SizeRange| r.max.map_or(Dynamic::UNIT, |v| Dynamic::from(int(v))),
    );
    let mut ranges = Module::new();
    let mut r = Binding::into_module(&mut ranges, "io");
    crate::declare!(
        r,
        "min_only",
        NO_HOST,
        "At least `n` units.",
        |n: i64, u: SizeUnit| {
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: Some(u.bytes("size", n).map_err(invalid)?),
                max: None,
            })
        }
    );
    crate::declare!(
        r,
        "max_only",
        NO_HOST,
        "At most `n` units.",
        |n: i64, u: SizeUnit| {
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: None,
                max: Some(u.bytes("size", n).map_err(invalid)?),
            })
        }
    );
    crate::declare!(
        r,
        "between",
        NO_HOST,
        "Between `a` and `b` units (inclusive).",
        |a: i64, b: i64, u: SizeUnit| {
            let (a, b) = (
                u.bytes("size", a).map_err(invalid)?,
                u.bytes("size", b).map_err(invalid)?,
            );
            if a > b {
                return Err(invalid(format!(
                    "SizeRange::between needs min <= max ({a} > {b})"
                )));
            }
            Ok::<_, Box<EvalAltResult>>(SizeRange {
                min: Some(a),
                max: Some(b),
            })
        }
    );
    b.static_module("SizeRange", ranges.into());
}
