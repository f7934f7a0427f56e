//! The allocation loop of `growth`'s `allocator/counting` under the system allocator (this
//! binary installs none), to measure what the counting allocator costs.
//!
//! `cargo bench -p rex-benches --bench alloc_plain`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn allocator(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_plain");
    group.bench_function("system", |b| {
        b.iter(|| {
            for i in 0..10_000u32 {
                black_box(Box::new([i; 16]));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, allocator);
criterion_main!(benches);
