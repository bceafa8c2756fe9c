//! Cost of the embedded registry: loading (indexing the compact table) and lookups.
//! The figures are quoted in docs/registry.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use whoport::port::Protocol;
use whoport::registry::iana::IanaTable;
use whoport::registry::Knowledge;

fn bench(c: &mut Criterion) {
    c.bench_function("load embedded table", |b| {
        b.iter(|| black_box(IanaTable::embedded()))
    });
    let table = IanaTable::embedded();
    c.bench_function("status of one port (80/tcp)", |b| {
        b.iter(|| black_box(table.status(black_box(80), Protocol::Tcp)))
    });
    c.bench_function("load + one full report (2668)", |b| {
        b.iter(|| {
            let mut warnings = Vec::new();
            let k = Knowledge::load(None, &mut warnings).expect("loads");
            black_box(k.report(2668, None).registry.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
