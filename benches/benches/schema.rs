//! Start-up cost of the embedded schema: parsing the Cedar schema text (what the authorizer
//! does once per process) against parsing the same schema in Cedar's JSON form.
//!
//! `cargo bench -p rex-benches --bench schema`

use std::hint::black_box;

use cedar_policy::{Schema, SchemaFragment};
use criterion::{Criterion, criterion_group, criterion_main};
use rex_auth::SCHEMA_TEXT;

fn schema(c: &mut Criterion) {
    let json = SchemaFragment::from_cedarschema_str(SCHEMA_TEXT)
        .ok()
        .and_then(|(f, _)| f.to_json_string().ok())
        .unwrap_or_else(|| std::process::exit(1));
    let mut group = c.benchmark_group("schema");
    group.bench_function("parse_cedarschema_text", |b| {
        b.iter(|| black_box(Schema::from_cedarschema_str(black_box(SCHEMA_TEXT)).is_ok()))
    });
    group.bench_function("parse_json", |b| {
        b.iter(|| black_box(Schema::from_json_str(black_box(&json)).is_ok()))
    });
    group.finish();
}

criterion_group!(benches, schema);
criterion_main!(benches);
