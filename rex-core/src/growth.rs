//! Cheap per-value size limits: Rhai's standard functions that grow a string, array or BLOB,
//! re-registered with an O(1) check of the resulting length made *before* the value is built.
//!
//! Rhai's own data-size check walks a whole array (and every string inside it) after each
//! call that touches it, so growing an array by `push` is quadratic. When the process counts
//! allocations ([`crate::CountingAllocator`]), the engine turns Rhai's checks off and relies on
//! these functions for the per-value limits and on the memory budget for everything else
//! (built-in operators such as `+` and `+=`, map entries, nested values, closures, curried arguments).
//! Without the allocator, Rhai's checks stay on as well (see docs/EMBEDDING.md).
//!
//! Every function also refuses a value whose estimated size alone passes
//! [`crate::Limits::max_memory`], so one call cannot ask the allocator for more than the budget.

use rhai::{Array, Blob, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Position};

use crate::denial::TerminationToken;
use crate::limits::{LimitKind, Limits};
use crate::state;

type Checked<T> = Result<T, Box<EvalAltResult>>;

/// Bytes one array element takes (nested data not included).
const ELEMENT_BYTES: usize = std::mem::size_of::<Dynamic>();

/// The per-value caps, copied out of [`Limits`] (0 means "no limit", as for Rhai).
#[derive(Debug, Clone, Copy)]
struct Caps {
    string: usize,
    array: usize,
    memory: usize,
}

/// Ends the run with `kind` (not catchable by the script, like Rhai's own limit errors).
fn over(kind: LimitKind) -> Box<EvalAltResult> {
    state::terminate(kind);
    Box::new(EvalAltResult::ErrorTerminated(
        Dynamic::from(TerminationToken(kind)),
        Position::NONE,
    ))
}

fn exceeds(value: usize, cap: usize) -> bool {
    cap != 0 && value > cap
}

impl Caps {
    /// Whether an array (or BLOB, `element_bytes` 1) of `len` elements is allowed.
    fn array(self, len: usize, element_bytes: usize) -> Checked<()> {
        if exceeds(len, self.array) {
            return Err(over(LimitKind::ArraySize));
        }
        if exceeds(len.saturating_mul(element_bytes), self.memory) {
            return Err(over(LimitKind::Memory));
        }
        Ok(())
    }

    /// Whether a string of `bytes` bytes is allowed.
    fn string(self, bytes: usize) -> Checked<()> {
        if exceeds(bytes, self.string) {
            return Err(over(LimitKind::StringSize));
        }
        if exceeds(bytes, self.memory) {
            return Err(over(LimitKind::Memory));
        }
        Ok(())
    }
}

/// A requested length (`INT`) as `usize`; negative is 0, too large saturates.
fn length(len: INT) -> usize {
    if len <= 0 {
        0
    } else {
        usize::try_from(len).unwrap_or(usize::MAX)
    }
}

/// The byte Rhai stores for an `INT` pushed into a BLOB (its low 8 bits).
fn byte(value: INT) -> u8 {
    u8::try_from(value & 0xff).unwrap_or(0)
}

/// Where `insert` puts an element: Rhai's rule (negative counts from the end).
fn insert_index(len: usize, index: INT) -> usize {
    if index < 0 {
        let back = usize::try_from(index.unsigned_abs()).unwrap_or(usize::MAX);
        len.saturating_sub(back)
    } else {
        usize::try_from(index).unwrap_or(usize::MAX).min(len)
    }
}

/// Registers the checked growth functions on `engine` (they shadow the standard package's).
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    let caps = Caps {
        string: limits.max_string_size,
        array: limits.max_array_size,
        memory: limits.max_memory,
    };

    // Arrays.
    engine.register_fn("push", move |a: &mut Array, item: Dynamic| -> Checked<()> {
        caps.array(a.len().saturating_add(1), ELEMENT_BYTES)?;
        a.push(item);
        Ok(())
    });
    engine.register_fn("append", move |a: &mut Array, b: Array| -> Checked<()> {
        caps.array(a.len().saturating_add(b.len()), ELEMENT_BYTES)?;
        a.extend(b);
        Ok(())
    });
    engine.register_fn(
        "insert",
        move |a: &mut Array, index: INT, item: Dynamic| -> Checked<()> {
            caps.array(a.len().saturating_add(1), ELEMENT_BYTES)?;
            let at = insert_index(a.len(), index);
            a.insert(at, item);
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |a: &mut Array, len: INT, item: Dynamic| -> Checked<()> {
            let len = length(len);
            if len > a.len() {
                caps.array(len, ELEMENT_BYTES)?;
                a.resize(len, item);
            }
            Ok(())
        },
    );

    // BLOBs.
    engine.register_fn("blob", move |len: INT| -> Checked<Blob> {
        let len = length(len);
        caps.array(len, 1)?;
        Ok(vec![0; len])
    });
    engine.register_fn("blob", move |len: INT, value: INT| -> Checked<Blob> {
        let len = length(len);
        caps.array(len, 1)?;
        Ok(vec![byte(value); len])
    });
    for name in ["push", "append"] {
        engine.register_fn(name, move |b: &mut Blob, value: INT| -> Checked<()> {
            caps.array(b.len().saturating_add(1), 1)?;
            b.push(byte(value));
            Ok(())
        });
    }
    engine.register_fn("append", move |a: &mut Blob, b: Blob| -> Checked<()> {
        caps.array(a.len().saturating_add(b.len()), 1)?;
        a.extend(b);
        Ok(())
    });
    engine.register_fn("append", move |a: &mut Blob, s: &str| -> Checked<()> {
        caps.array(a.len().saturating_add(s.len()), 1)?;
        a.extend(s.as_bytes());
        Ok(())
    });
    engine.register_fn(
        "insert",
        move |b: &mut Blob, index: INT, value: INT| -> Checked<()> {
            caps.array(b.len().saturating_add(1), 1)?;
            let at = insert_index(b.len(), index);
            b.insert(at, byte(value));
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |b: &mut Blob, len: INT, value: INT| -> Checked<()> {
            let len = length(len);
            if len > b.len() {
                caps.array(len, 1)?;
                b.resize(len, byte(value));
            }
            Ok(())
        },
    );

    // Strings: `pad` takes a length in characters; the bytes it would add are bounded first.
    engine.register_fn(
        "pad",
        move |s: &mut ImmutableString, len: INT, c: char| -> Checked<()> {
            let len = length(len);
            let have = s.chars().count();
            if len <= have {
                return Ok(());
            }
            let add = len - have;
            caps.string(s.len().saturating_add(add.saturating_mul(c.len_utf8())))?;
            let mut buf = [0; 4];
            let unit: &str = c.encode_utf8(&mut buf);
            s.make_mut().push_str(&unit.repeat(add));
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |s: &mut ImmutableString, len: INT, padding: &str| -> Checked<()> {
            let len = length(len);
            let have = s.chars().count();
            let step = padding.chars().count();
            if len <= have || step == 0 {
                return Ok(());
            }
            let add = len - have;
            // At most `add` characters of `padding`, each at most 4 bytes but never more
            // bytes than whole copies of `padding` would take.
            let bound = add
                .saturating_mul(4)
                .min(add.div_ceil(step).saturating_mul(padding.len()));
            caps.string(s.len().saturating_add(bound))?;
            let text = s.make_mut();
            text.push_str(&padding.repeat(add / step));
            text.extend(padding.chars().take(add % step));
            Ok(())
        },
    );
}
