//! Container growth (issue 14): the same loop in the sandboxed engine and in plain Rhai (no
//! limits set), at 10k, 100k and 1M elements, with the counting allocator installed as the
//! rex-runner binary installs it; and the cost of that allocator.
//!
//! `cargo bench -p rex-benches --bench growth` (`-- --quick` for a short sample).
//!
//! * `growth/{array,map,string,blob}/{rex,rhai}/N`: `N` pushes (array), inserts (map),
//!   appends (string `+=`) or pushes (BLOB) in one script. Goal: `rex` within 3x of `rhai`
//!   at 1M (it was quadratic: Rhai's data-size check walked the whole array on every push).
//! * `allocator/{counting,probe}`: 10,000 allocations and frees of 64 bytes through the
//!   global (counting) allocator, and the budget probe (`thread_held_bytes`) alone; compare
//!   `allocator/counting` with `alloc_plain/system` of the `alloc_plain` bench, which runs
//!   the same loop under the system allocator.
//!
//! Measured (`-- --quick`, bench profile, shared 2-core machine, 2026-12-02), rex / rhai:
//! array 3.5 / 2.5 ms at 10k, 34 / 31 ms at 100k, 341 / 312 ms at 1M (1.09x; before issue 14
//! 50k pushes took 665 ms, quadratic); map 1.23 / 1.91 s at 1M; string `+=` 199 / 193 ms at
//! 1M; BLOB 300 / 282 ms at 1M. Allocator: 10,000 alloc+free of 64 bytes 84 µs counting vs
//! 105 µs system (within noise); the budget probe 0.33 ns.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rex_core::{Limits, RexEngine, ScriptArguments};

#[global_allocator]
static ALLOCATOR: rex_core::CountingAllocator = rex_core::CountingAllocator::new();

/// The loop of each workload, for `n` iterations.
fn script(kind: &str, n: usize) -> String {
    match kind {
        "array" => format!("let v = []; for i in 0..{n} {{ v.push(i); }} v.len()"),
        "map" => format!("let m = #{{}}; for i in 0..{n} {{ m[`k${{i}}`] = i; }} m.len()"),
        "string" => format!("let s = \"\"; for i in 0..{n} {{ s += \"x\"; }} s.len()"),
        _ => format!("let b = blob(); for i in 0..{n} {{ b.push(i); }} b.len()"),
    }
}

fn growth(c: &mut Criterion) {
    // Limits large enough for the 1M runs (the per-value limits are still checked).
    let rex = RexEngine::builder()
        .limits(Limits {
            max_map_size: 2_000_000,
            max_array_size: 2_000_000,
            ..Limits::default()
        })
        .build();
    let plain = rex_core::rhai::Engine::new();
    let args = ScriptArguments::new();
    let mut group = c.benchmark_group("growth");
    group.sample_size(10);
    for kind in ["array", "map", "string", "blob"] {
        for n in [10_000usize, 100_000, 1_000_000] {
            let text = script(kind, n);
            let ast = plain
                .compile(&text)
                .unwrap_or_else(|_| std::process::exit(1));
            let compiled = rex
                .compile(&text, &args)
                .unwrap_or_else(|_| std::process::exit(1));
            group.bench_with_input(BenchmarkId::new(format!("{kind}/rex"), n), &n, |b, _| {
                b.iter(|| {
                    let out = rex.run_compiled(&compiled, &args, &rex_core::RunOptions::default());
                    if !out.is_success() {
                        std::process::exit(1);
                    }
                    black_box(out)
                })
            });
            group.bench_with_input(BenchmarkId::new(format!("{kind}/rhai"), n), &n, |b, _| {
                b.iter(|| black_box(plain.eval_ast::<rex_core::rhai::Dynamic>(&ast).ok()))
            });
        }
    }
    group.finish();
}

fn allocator(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocator");
    group.bench_function("counting", |b| {
        b.iter(|| {
            for i in 0..10_000u32 {
                black_box(Box::new([i; 16]));
            }
        })
    });
    group.bench_function("probe", |b| {
        b.iter(|| black_box(rex_core::thread_held_bytes()))
    });
    group.finish();
}

criterion_group!(benches, growth, allocator);
criterion_main!(benches);
