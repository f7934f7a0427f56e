//! Authorization overhead: Rex's sliced/cached authorizer against the REX-style baseline.
//!
//! `cargo bench -p rex-benches --bench authz`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rex_auth::{Action, Authorizer, Principal, RequestContext, Resource};
use rex_benches::{policies, policies_with, rex_style_decision};

fn authz(c: &mut Criterion) {
    let principal = Principal::user("alice").unwrap_or_else(|_| std::process::exit(1));
    let path = "/var/log/app/current.log";
    let mut group = c.benchmark_group("authz");
    for n in [10usize, 100, 1000] {
        let set = policies(n);
        assert_eq!(set.len(), n, "generated policy set must validate");
        let build = |cache: usize| {
            Authorizer::builder()
                .principal(principal.clone())
                .policies(set.clone())
                .cache_capacity(cache)
                .build()
                .unwrap_or_else(|_| std::process::exit(1))
        };
        let uncached = build(0);
        let cached = build(4096);
        let none = RequestContext::None;
        group.bench_with_input(BenchmarkId::new("rex_uncached", n), &n, |b, _| {
            b.iter(|| {
                let r = Resource::file(black_box(path)).unwrap_or_else(|_| std::process::exit(1));
                black_box(uncached.authorize(Action::FsRead, &r, &none).is_ok())
            })
        });
        group.bench_with_input(BenchmarkId::new("rex_cached", n), &n, |b, _| {
            let r = Resource::file(path).unwrap_or_else(|_| std::process::exit(1));
            b.iter(|| {
                black_box(
                    cached
                        .authorize(Action::FsRead, black_box(&r), &none)
                        .is_ok(),
                )
            })
        });
        group.bench_with_input(
            BenchmarkId::new("rex_cached_incl_resource_build", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let r =
                        Resource::file(black_box(path)).unwrap_or_else(|_| std::process::exit(1));
                    black_box(cached.authorize(Action::FsRead, &r, &none).is_ok())
                })
            },
        );
        let conditional = Authorizer::builder()
            .principal(principal.clone())
            .policies(policies_with(n, true))
            .cache_capacity(0)
            .build()
            .unwrap_or_else(|_| std::process::exit(1));
        group.bench_with_input(
            BenchmarkId::new("rex_uncached_conditional", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let r =
                        Resource::file(black_box(path)).unwrap_or_else(|_| std::process::exit(1));
                    black_box(conditional.authorize(Action::FsRead, &r, &none).is_ok())
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("rex_style_baseline", n), &n, |b, _| {
            b.iter(|| black_box(rex_style_decision(&set, &principal, black_box(path))))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = authz
}
criterion_main!(benches);
