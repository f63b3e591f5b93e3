//! Loading op streams: parsing (and checking) a CS:APP `.rep` trace and a native trace
//! of 100 000 ops, and checking a workload already in memory.
//!
//! `cargo bench -p workload` (see the README's "Benchmarks").

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn parsing(c: &mut Criterion) {
    let w = workload::generate("churn", 1, Some(100_000)).unwrap();
    let rep = workload::write_rep(&workload::lossy_for_rep(&w)).unwrap();
    let native = workload::write_native(&w);
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(w.ops.len() as u64));
    g.bench_function("parse .rep per op", |b| {
        b.iter(|| workload::parse_rep(black_box(&rep), "churn.rep").unwrap())
    });
    g.bench_function("parse native per op", |b| {
        b.iter(|| workload::parse_native(black_box(&native), "churn.trace").unwrap())
    });
    g.bench_function("validate per op", |b| {
        b.iter(|| workload::validate(black_box(&w)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, parsing);
criterion_main!(benches);
