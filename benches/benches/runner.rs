//! Script throughput and start-up of the whole runner (engine + rhai-sdk + Cedar).
//!
//! `cargo bench -p rex-benches --bench runner`
//!
//! * `startup/engine_all_modules`: the sandboxed engine with every rhai-sdk module;
//!   `startup/engine_all_modules_without_catalog` the same without the function catalog, as
//!   the CLI builds it for a run.
//! * `startup/policies_*`: parse + validate the policies, build the engine, register every module.
//! * `run/trivial`: one run of `40 + 2` (per-run overhead: thread, scope, output document,
//!   process monitor); `run/trivial_without_process_monitor` the same with the CPU/RSS
//!   sampling off.
//! * `run/loop_10k`: 10,000 loop iterations of pure Rhai (the interpreter's speed under the
//!   operation/limit checks).
//! * `run/cat_allowed` and `run/cat_denied`: one gated file read end to end — Cedar checks,
//!   openat, read, output — and the same read denied (no syscall reached).
//! * `reads_10k/*`: 10,000 gated reads in one script, through an open handle and through
//!   `cat`, beside 10,000 `std::fs::read` calls.

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, criterion_group, criterion_main};
use rex_auth::Principal;
use rex_benches::policy_set;
use rex_core::ScriptArguments;
use rex_runner::{Input, Runner};

fn fail<T, E>(_: E) -> T {
    std::process::exit(1)
}

fn runner(policy: &str) -> Runner {
    Runner::builder()
        .principal(Principal::user("bench").unwrap_or_else(fail))
        .policy(Input::from_text("bench.cedar", policy))
        .build()
        .unwrap_or_else(fail)
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    // The engine alone: every rhai-sdk module and the runner's built-ins registered, with
    // an authorizer already built (what `RunnerBuilder::build` does after the policies).
    let auth = std::sync::Arc::new(
        rex_auth::Authorizer::builder()
            .principal(Principal::user("bench").unwrap_or_else(fail))
            .build()
            .unwrap_or_else(fail),
    );
    let sdk = rust_sdk::SdkContext::new(auth);
    group.bench_function("engine_all_modules", |b| {
        b.iter(|| {
            black_box(
                rex_core::RexEngine::builder()
                    .register(|e| rhai_sdk::RexModules::all().register(e, &sdk))
                    .build(),
            )
        })
    });
    // The same without the function catalog (no argument names, docs or catalog tags
    // stored), as the CLI builds it for a run.
    group.bench_function("engine_all_modules_without_catalog", |b| {
        b.iter(|| {
            black_box(rhai_sdk::binding::without_declarations(|| {
                rex_core::RexEngine::builder()
                    .register(|e| rhai_sdk::RexModules::all().register(e, &sdk))
                    .build()
            }))
        })
    });
    // What the CLI builds for one script: declarations the script cannot reach left out,
    // the standard library lazy, no catalog.
    for (name, script) in [
        ("engine_for_script_1_plus_1", "1 + 1"),
        (
            "engine_for_script_ls_loop",
            r#"let n = 0; for i in 0..100 { n += ls("/tmp").len(); } n"#,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(rhai_sdk::binding::only_reachable_from(script, || {
                    rhai_sdk::binding::without_declarations(|| {
                        rex_core::RexEngine::builder_with(rex_core::StandardLibrary::Lazy)
                            .register(|e| rhai_sdk::RexModules::all().register(e, &sdk))
                            .build()
                    })
                }))
            })
        });
    }
    // Rhai's standard library, built once per process: every function registered, or
    // found in the manifests on first call.
    group.bench_function("standard_library_eager", |b| {
        b.iter(|| black_box(rex_core::rhai::packages::StandardPackage::new()))
    });
    group.bench_function("standard_library_lazy", |b| {
        b.iter(|| black_box(rex_core::rhai::packages::StandardPackage::new_lazy()))
    });
    for n in [10usize, 1000] {
        let policy = policy_set(n);
        group.bench_function(format!("policies_{n}"), |b| {
            b.iter(|| black_box(runner(black_box(&policy))))
        });
    }
    group.finish();
}

fn run(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(fail);
    let root = std::fs::canonicalize(dir.path()).unwrap_or_else(fail);
    let root = root.to_string_lossy();
    let mut f = std::fs::File::create(dir.path().join("data.txt")).unwrap_or_else(fail);
    f.write_all(b"line one\nline two\n").unwrap_or_else(fail);
    let policy = format!(
        "permit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{root}\");\n\
         permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource == file_system::File::\"{root}/data.txt\");\n"
    );
    let r = runner(&policy);
    let args = ScriptArguments::new();
    let script = |text: &str| Input::from_text("bench.rhai", text);
    let trivial = script("40 + 2");
    let looped = script("let s = 0; for i in 0..10000 { s += i; } s");
    let cat = script(&format!("cat(\"{root}/data.txt\")"));
    let denied = script(&format!("cat(\"{root}/other.txt\")"));
    let handle_reads = script(&format!(
        "let d = DirConfig().path(\"{root}\").build().open(OpenDirOptions().build());\n\
         let f = d.open_file(\"data.txt\", OpenFileOptions().read(true).build());\n\
         let n = 0; for i in 0..10000 {{ n += f.read().len(); }} n"
    ));
    let cat_reads = script(&format!(
        "let n = 0; for i in 0..10000 {{ n += cat(\"{root}/data.txt\").len(); }} n"
    ));

    let mut group = c.benchmark_group("run");
    group.bench_function("trivial", |b| b.iter(|| black_box(r.run(&trivial, &args))));
    let quiet = Runner::builder()
        .principal(Principal::user("bench").unwrap_or_else(fail))
        .policy(Input::from_text("bench.cedar", &policy))
        .process_monitoring(false)
        .build()
        .unwrap_or_else(fail);
    group.bench_function("trivial_without_process_monitor", |b| {
        b.iter(|| black_box(quiet.run(&trivial, &args)))
    });
    group.bench_function("loop_10k", |b| b.iter(|| black_box(r.run(&looped, &args))));
    group.bench_function("cat_allowed", |b| b.iter(|| black_box(r.run(&cat, &args))));
    group.bench_function("cat_denied", |b| {
        b.iter(|| black_box(r.run(&denied, &args)))
    });
    group.finish();

    // 10,000 gated reads from one script: through an open handle (Cedar `read` per call),
    // and through `cat` (REX's command: opens the directory and the file every time).
    let mut group = c.benchmark_group("reads_10k");
    group.sample_size(10);
    group.bench_function("handle_read", |b| {
        b.iter(|| black_box(r.run(&handle_reads, &args)))
    });
    group.bench_function("cat", |b| b.iter(|| black_box(r.run(&cat_reads, &args))));
    group.bench_function("raw_std_fs_read", |b| {
        let p = dir.path().join("data.txt");
        b.iter(|| {
            let mut n = 0;
            for _ in 0..10_000 {
                n += std::fs::read(&p).map(|v| v.len()).unwrap_or(0);
            }
            black_box(n)
        })
    });
    group.finish();
}

/// The kernel backstop's start-up work that can be repeated in-process: deriving the plan
/// from the policies (applying it confines the thread for good, so it is measured whole-process;
/// see docs/SANDBOX.md).
fn sandbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox");
    let scoped = rex_auth::Policies::parse(
        "scoped.cedar",
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
                  resource in file_system::Dir::"/srv/app/public");
permit(principal, action == file_system::Action::"execute", resource == file_system::File::"/usr/bin/cat")
  when { context.arguments.flags.isEmpty() };
permit(principal, action == network::Action::"GET", resource == network::url::"https://example.com/x");"#,
    )
    .unwrap_or_else(fail);
    let agent = rex_auth::Principal::user("agent").unwrap_or_else(fail);
    group.bench_function("derive_3_policies", |b| {
        b.iter(|| {
            black_box(rex_auth::sandbox_plan::SandboxLayers::derive(
                black_box(&scoped),
                &agent,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, startup, run, sandbox);
criterion_main!(benches);
