//! The memory budget inside one native call (issue 29, item 8).
//!
//! The engine compares what a run holds with [`crate::Limits::max_memory`] after every Rhai
//! operation, but one native call is one operation: `to_string` of a value that shares one
//! large string many times, `split` of a long string into one-byte pieces or the lines of a
//! large file can allocate many times the budget before the next poll. Every function whose
//! result can outgrow its inputs therefore measures what it builds against [`budget_left`]
//! as it builds ([`Budget`]), and stops at the first byte past it with the engine's own
//! memory-limit error ([`memory_limit_error`], [`crate::LimitKind::Memory`]).
//!
//! This module also registers the engine's own versions of the Rhai functions that build
//! such results: the text of arrays and maps (`to_string`, `to_debug`, `debug`, `print`,
//! which string interpolation and `+` call too), `split`, `split_rev` and `to_chars`.

use std::fmt::{self, Write as _};

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, ImmutableString, Map, NativeCallContext,
    Position,
};

use crate::denial::TerminationToken;
use crate::limits::LimitKind;
use crate::memory;
use crate::render::MAX_VALUE_DEPTH;
use crate::state;

/// A result that would pass the run's memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory limit exceeded: the result would pass the run's memory budget")]
pub struct MemoryExceeded;

/// The engine's memory-limit error for a native function to return: ends the run with
/// [`LimitKind::Memory`] (the script cannot catch it), as the engine's own poll does.
pub fn memory_limit_error() -> Box<EvalAltResult> {
    exceed_memory_budget();
    Box::new(EvalAltResult::ErrorTerminated(
        Dynamic::from(TerminationToken(LimitKind::Memory)),
        Position::NONE,
    ))
}

impl From<MemoryExceeded> for Box<EvalAltResult> {
    fn from(_: MemoryExceeded) -> Self {
        memory_limit_error()
    }
}

/// Marks the run on this thread as over its memory budget: it ends with
/// [`LimitKind::Memory`] at the engine's next poll (right after the current native call),
/// whatever the native call returns, and an error the call returns is reported as that limit.
/// For native code that refused to build a result but has no Rhai error to return (a
/// host-side SDK operation, or a `to_string` whose error Rhai would replace by the value's
/// unbounded default text). Does nothing outside a run.
pub fn exceed_memory_budget() {
    if state::current_max_memory().is_some() {
        state::terminate(LimitKind::Memory);
        memory::trip();
    }
}

/// The bytes a native function of the run on this thread may still add: the run's ceiling
/// less what the thread holds, with [`crate::CountingAllocator`]; the whole
/// [`crate::Limits::max_memory`] of the run without it (an estimate per call). `usize::MAX`
/// outside a run or for a budget of 0 ("no limit").
pub fn budget_left() -> usize {
    let configured = match state::current_max_memory() {
        None | Some(0) => usize::MAX,
        Some(max) => max,
    };
    if memory::tripped() {
        return 0;
    }
    configured.min(memory::headroom())
}

/// What one native call may still build: [`budget_left`] when the call started, less what it
/// has built since ([`Budget::spend`]). With the counting allocator the bytes the call
/// allocates also lower the live headroom; counting them here as well only errs on the
/// safe side.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    left: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

impl Budget {
    /// The budget of a call starting now.
    pub fn new() -> Self {
        Self {
            left: budget_left(),
        }
    }

    /// A budget of exactly `bytes` (for tests and for callers that know their share).
    pub fn of(bytes: usize) -> Self {
        Self { left: bytes }
    }

    /// The bytes still allowed.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Counts `bytes` more; [`MemoryExceeded`] (and nothing counted) when they do not fit.
    pub fn spend(&mut self, bytes: usize) -> Result<(), MemoryExceeded> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(MemoryExceeded),
        }
    }
}

/// Bytes one array element takes (nested data not included).
const ELEMENT_BYTES: usize = std::mem::size_of::<Dynamic>();

/// Bytes of one `ImmutableString` besides its text: the shared cell holding the inline
/// string (text up to [`INLINE_TEXT`] bytes lives inside it).
const STRING_CELL_BYTES: usize = 16 + 24;

/// The longest text a string keeps inline.
const INLINE_TEXT: usize = 23;

/// What an array element holding a string of `len` bytes costs.
fn piece_cost(len: usize) -> usize {
    let heap = if len > INLINE_TEXT { len } else { 0 };
    ELEMENT_BYTES + STRING_CELL_BYTES + heap
}

/// Text built under a [`Budget`]: every write is counted before it is made, and the buffer
/// never reserves more than the budget allows (no doubling past it).
struct BoundedText {
    text: String,
    budget: Budget,
}

impl BoundedText {
    fn new(budget: Budget) -> Self {
        Self {
            text: String::new(),
            budget,
        }
    }

    fn push(&mut self, s: &str) -> Result<(), MemoryExceeded> {
        self.budget.spend(s.len())?;
        let free = self.text.capacity() - self.text.len();
        if s.len() > free {
            // Grow geometrically, but never past what the budget still allows.
            let wanted = self.text.capacity().max(s.len());
            let grow = wanted.min(self.budget.left().saturating_add(s.len()));
            self.text.reserve_exact(grow.max(s.len()));
        }
        self.text.push_str(s);
        Ok(())
    }
}

impl fmt::Write for BoundedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s).map_err(|_| fmt::Error)
    }
}

/// Why a rendering stopped.
enum Stop {
    Over,
}

impl From<MemoryExceeded> for Stop {
    fn from(_: MemoryExceeded) -> Self {
        Stop::Over
    }
}

impl From<fmt::Error> for Stop {
    fn from(_: fmt::Error) -> Self {
        Stop::Over
    }
}

/// Renders arrays and maps as Rhai's standard package does (`[a, b]`, `#{"k": v}`, elements
/// in their debug form), into one [`BoundedText`], following shared cells with a bounded
/// path (a cycle prints as `<cycle>`, a cell being written as `<locked>`, past
/// [`MAX_VALUE_DEPTH`] as `...`).
struct Renderer<'a, 'c> {
    ctx: &'a NativeCallContext<'c>,
    out: BoundedText,
    path: Vec<*const Dynamic>,
}

impl Renderer<'_, '_> {
    fn value(&mut self, value: &Dynamic, depth: usize) -> Result<(), Stop> {
        if depth > MAX_VALUE_DEPTH {
            return Ok(self.out.push("...")?);
        }
        if value.is_shared() {
            let Some(inner) = value.read_lock::<Dynamic>() else {
                return Ok(self.out.push("<locked>")?);
            };
            let address: *const Dynamic = &*inner;
            if self.path.contains(&address) {
                return Ok(self.out.push("<cycle>")?);
            }
            self.path.push(address);
            let result = self.value(&inner, depth);
            self.path.pop();
            return result;
        }
        if let Some(array) = value.read_lock::<Array>() {
            return self.array(&array, depth);
        }
        if let Some(map) = value.read_lock::<Map>() {
            return self.map(&map, depth);
        }
        if let Some(s) = value.read_lock::<ImmutableString>() {
            return Ok(write!(self.out, "{:?}", s.as_str())?);
        }
        self.leaf(value)
    }

    fn array(&mut self, array: &Array, depth: usize) -> Result<(), Stop> {
        self.out.push("[")?;
        for (i, item) in array.iter().enumerate() {
            if i > 0 {
                self.out.push(", ")?;
            }
            self.value(item, depth + 1)?;
        }
        Ok(self.out.push("]")?)
    }

    fn map(&mut self, map: &Map, depth: usize) -> Result<(), Stop> {
        self.out.push("#{")?;
        for (i, (key, item)) in map.iter().enumerate() {
            if i > 0 {
                self.out.push(", ")?;
            }
            write!(self.out, "{:?}: ", key.as_str())?;
            self.value(item, depth + 1)?;
        }
        Ok(self.out.push("}")?)
    }

    /// Any other value: its registered `to_debug` (as Rhai's `print_with_func`), else its
    /// default debug text. A function pointer prints its name only.
    fn leaf(&mut self, value: &Dynamic) -> Result<(), Stop> {
        if let Some(f) = value.read_lock::<FnPtr>() {
            return Ok(write!(self.out, "Fn({})", f.fn_name())?);
        }
        let mut arg = value.clone();
        match self
            .ctx
            .call_native_fn_raw("to_debug", true, &mut [&mut arg])
        {
            Ok(text) if text.is_string() => {
                let text = text.into_immutable_string().unwrap_or_default();
                Ok(self.out.push(&text)?)
            }
            Ok(other) => Ok(self
                .out
                .push(self.ctx.engine().map_type_name(other.type_name()))?),
            Err(_) => {
                let name = self.ctx.engine().map_type_name(value.type_name());
                Ok(self.out.push(name)?)
            }
        }
    }
}

/// The text of `value` (an array or map) within the run's budget. Over it, the run is
/// marked over budget and an empty string returned: Rhai replaces an error of `to_string`
/// during interpolation by the value's unbounded default text, so no error is returned; the
/// run ends at the next poll (or when the script's value is taken).
fn render(
    ctx: &NativeCallContext,
    build: impl FnOnce(&mut Renderer<'_, '_>) -> Result<(), Stop>,
) -> ImmutableString {
    let mut r = Renderer {
        ctx,
        out: BoundedText::new(Budget::new()),
        path: Vec::new(),
    };
    match build(&mut r) {
        Ok(()) => r.out.text.into(),
        Err(Stop::Over) => {
            drop(r);
            exceed_memory_budget();
            ImmutableString::new()
        }
    }
}

type Checked<T> = Result<T, Box<EvalAltResult>>;

/// Collects string pieces into an array under the run's budget.
fn pieces<'a>(iter: impl Iterator<Item = &'a str>) -> Checked<Array> {
    let mut budget = Budget::new();
    let mut out = Array::new();
    for piece in iter {
        budget.spend(piece_cost(piece.len()))?;
        if out.len() == out.capacity() {
            // Grow geometrically, but never past what the budget still allows.
            let room = budget.left() / ELEMENT_BYTES;
            out.reserve_exact(out.len().max(4).min(room.max(1)));
        }
        out.push(piece.into());
    }
    Ok(out)
}

/// Rhai's rule for a split: the whole string, alone, when it is empty or has no delimiter.
fn whole(s: &ImmutableString) -> Array {
    vec![s.clone().into()]
}

fn segments(n: INT) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Registers the budget-aware functions (they shadow the standard package's).
pub(crate) fn register(engine: &mut Engine) {
    for name in ["to_string", "to_debug", "debug", "print"] {
        engine.register_fn(name, |ctx: NativeCallContext, a: &mut Array| {
            render(&ctx, |r| r.array(a, 0))
        });
        engine.register_fn(name, |ctx: NativeCallContext, m: &mut Map| {
            render(&ctx, |r| r.map(m, 0))
        });
    }

    engine.register_fn("to_chars", |s: &str| -> Checked<Array> {
        let mut budget = Budget::new();
        budget.spend(s.chars().count().saturating_mul(ELEMENT_BYTES))?;
        Ok(s.chars().map(Dynamic::from).collect())
    });
    engine.register_fn("split", |s: &mut ImmutableString| -> Checked<Array> {
        if s.is_empty() {
            return Ok(whole(s));
        }
        pieces(s.split_whitespace())
    });
    engine.register_fn(
        "split",
        |s: &mut ImmutableString, d: &str| -> Checked<Array> {
            if s.is_empty() || (!d.is_empty() && !s.contains(d)) {
                return Ok(whole(s));
            }
            pieces(s.split(d))
        },
    );
    engine.register_fn(
        "split",
        |s: &mut ImmutableString, d: &str, n: INT| -> Checked<Array> {
            if n <= 1 || s.is_empty() || (!d.is_empty() && !s.contains(d)) {
                return Ok(whole(s));
            }
            pieces(s.splitn(segments(n), d))
        },
    );
    engine.register_fn(
        "split",
        |s: &mut ImmutableString, d: char| -> Checked<Array> {
            if s.is_empty() || !s.contains(d) {
                return Ok(whole(s));
            }
            pieces(s.split(d))
        },
    );
    engine.register_fn(
        "split",
        |s: &mut ImmutableString, d: char, n: INT| -> Checked<Array> {
            if n <= 1 || s.is_empty() || !s.contains(d) {
                return Ok(whole(s));
            }
            pieces(s.splitn(segments(n), d))
        },
    );
    engine.register_fn(
        "split_rev",
        |s: &mut ImmutableString, d: &str| -> Checked<Array> {
            if s.is_empty() || (!d.is_empty() && !s.contains(d)) {
                return Ok(whole(s));
            }
            pieces(s.rsplit(d))
        },
    );
    engine.register_fn(
        "split_rev",
        |s: &mut ImmutableString, d: &str, n: INT| -> Checked<Array> {
            if n <= 1 || s.is_empty() || (!d.is_empty() && !s.contains(d)) {
                return Ok(whole(s));
            }
            pieces(s.rsplitn(segments(n), d))
        },
    );
    engine.register_fn(
        "split_rev",
        |s: &mut ImmutableString, d: char| -> Checked<Array> {
            if s.is_empty() || !s.contains(d) {
                return Ok(whole(s));
            }
            pieces(s.rsplit(d))
        },
    );
    engine.register_fn(
        "split_rev",
        |s: &mut ImmutableString, d: char, n: INT| -> Checked<Array> {
            if n <= 1 || s.is_empty() || !s.contains(d) {
                return Ok(whole(s));
            }
            pieces(s.rsplitn(segments(n), d))
        },
    );
}
