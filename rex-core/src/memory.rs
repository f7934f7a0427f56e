//! The memory budget of a run ([`crate::Limits::max_memory`]): a counting global allocator
//! with per-thread attribution, and the per-thread ceiling the engine polls.
//!
//! A run is evaluated on one thread (its own, see [`crate::Limits::stack_size`]). When the
//! process installs [`CountingAllocator`] as its `#[global_allocator]`, every allocation adds
//! its size to a counter of the thread that makes it and every free subtracts it, so the
//! counter of a run's thread, less its value when the run started, is the memory the run holds.
//! The engine compares it with the run's ceiling after every Rhai operation (the progress
//! callback) and ends the run with [`crate::LimitKind::Memory`]; the allocator itself never
//! refuses an allocation (a null return would abort the process).
//!
//! Without the allocator (an embedder that does not install it) the counters stay at zero:
//! [`counting_allocator_installed`] says so, and the engine falls back to an estimate (see
//! docs/EMBEDDING.md, "Memory budget").

// The one module of rex-core with unsafe code: `GlobalAlloc` is an unsafe trait. Each unsafe
// block only forwards to `System` with the caller's own arguments.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (frees of memory another thread
    /// allocated make it smaller, even negative). `const`, no destructor: the allocator may
    /// touch it at any time, even while the thread exits.
    static HELD: Cell<isize> = const { Cell::new(0) };
    /// The value of [`HELD`] past which the run on this thread is over its budget
    /// (`isize::MAX` outside a run).
    static CEILING: Cell<isize> = const { Cell::new(isize::MAX) };
}

/// A global allocator that forwards to [`System`] and counts, per thread, the bytes each
/// thread holds. Install it in a binary (or test binary) with
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: rex_core::CountingAllocator = rex_core::CountingAllocator::new();
/// ```
///
/// so that [`crate::Limits::max_memory`] counts what a run really holds. The cost is two
/// thread-local additions per allocation (see `benches/benches/growth.rs`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// The allocator (a unit value; usable in a `static`).
    pub const fn new() -> Self {
        Self
    }
}

#[inline]
fn add(delta: isize) {
    // `try_with`: during thread teardown the slot may be gone; the count is then lost, which
    // only matters for a thread that is exiting.
    let _ = HELD.try_with(|held| held.set(held.get().wrapping_add(delta)));
}

#[inline]
fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the arguments it was given, so `System`'s
// guarantees are ours; the counting touches only a const thread-local `Cell`, allocates
// nothing and cannot unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            add(signed(layout.size()));
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(signed(layout.size()));
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        add(signed(layout.size()).wrapping_neg());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller's contract for
        // `realloc` is `System.realloc`'s.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(signed(new_size).wrapping_sub(signed(layout.size())));
        }
        new
    }
}

/// Bytes held by the current thread according to [`CountingAllocator`] (always 0 when it is
/// not the global allocator).
pub fn thread_held_bytes() -> isize {
    HELD.try_with(Cell::get).unwrap_or(0)
}

/// Whether [`CountingAllocator`] is the process's global allocator (probed once: an
/// allocation that does not move this thread's counter means it is not).
pub fn counting_allocator_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let before = thread_held_bytes();
        let probe = std::hint::black_box(vec![0u8; 4096]);
        let during = thread_held_bytes();
        drop(probe);
        during != before
    })
}

/// Sets this thread's ceiling for a run that may hold `max` more bytes than now (combined
/// with an enclosing run's ceiling), and returns the previous ceiling for [`restore_ceiling`].
pub(crate) fn set_run_ceiling(max: usize) -> isize {
    let previous = CEILING.try_with(Cell::get).unwrap_or(isize::MAX);
    let ceiling = thread_held_bytes()
        .saturating_add(signed(max))
        .min(previous);
    let _ = CEILING.try_with(|c| c.set(ceiling));
    previous
}

/// Puts back the ceiling [`set_run_ceiling`] returned.
pub(crate) fn restore_ceiling(previous: isize) {
    let _ = CEILING.try_with(|c| c.set(previous));
}

/// Whether the run on this thread holds more than its budget. Two thread-local reads: cheap
/// enough for every Rhai operation.
#[inline]
pub(crate) fn over_budget() -> bool {
    thread_held_bytes() > CEILING.try_with(Cell::get).unwrap_or(isize::MAX)
}

/// The bytes the run on this thread may still allocate before it is over its budget: its
/// ceiling less what it holds (0 when over). `usize::MAX` outside a run or without
/// [`CountingAllocator`] (see [`crate::budget_left`] for the estimate used then).
pub(crate) fn headroom() -> usize {
    let ceiling = CEILING.try_with(Cell::get).unwrap_or(isize::MAX);
    if ceiling == isize::MAX || !counting_allocator_installed() {
        return usize::MAX;
    }
    usize::try_from(ceiling.saturating_sub(thread_held_bytes())).unwrap_or(0)
}

/// Puts the run on this thread over its budget for good: the engine's next poll (after the
/// current native call returns) ends the run with [`crate::LimitKind::Memory`], with or
/// without [`CountingAllocator`]. For a native function that refused to build a value but
/// must still return one (Rhai replaces an error of a `to_string` called for interpolation
/// by the value's unbounded default text).
pub(crate) fn trip() {
    let _ = CEILING.try_with(|c| c.set(isize::MIN));
}

/// Whether [`trip`] was called during the run on this thread.
pub(crate) fn tripped() -> bool {
    CEILING.try_with(Cell::get).is_ok_and(|c| c == isize::MIN)
}
