//! The simulator's hot paths above the kernel: the glibc model's malloc and free, the
//! allocator statistics that metrics sampling (and peak tracking) read, and a whole
//! run through the engine's op loop with sampling on.
//!
//! `cargo bench -p engine` (see the README's "Benchmarks").

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::RunConfig;
use kernel::{Kernel, KernelConfig};
use malloc::Allocator;
use malloc::glibc::Glibc;
use std::hint::black_box;

/// A glibc heap holding `live` small blocks with every other one freed (so the bins
/// and the tcache are populated, as in a program that has run for a while).
fn warm_heap(live: u64) -> (Kernel, Glibc, Vec<kernel::Addr>) {
    let mut k = Kernel::new(KernelConfig::default());
    let mut a = Glibc::new();
    let mut ptrs = Vec::new();
    for i in 0..live {
        ptrs.push(a.malloc(&mut k, 16 + (i * 37) % 480).unwrap());
    }
    let mut kept = Vec::new();
    for (i, p) in ptrs.into_iter().enumerate() {
        if i % 2 == 0 {
            a.free(&mut k, p).unwrap();
        } else {
            kept.push(p);
        }
    }
    (k, a, kept)
}

fn glibc(c: &mut Criterion) {
    let mut g = c.benchmark_group("glibc model");
    for live in [1_000u64, 100_000] {
        let (mut k, mut a, _kept) = warm_heap(live);
        let mut n = 0u64;
        g.throughput(Throughput::Elements(2));
        g.bench_function(format!("malloc+free, {live} blocks in the heap"), |b| {
            b.iter(|| {
                n += 1;
                let p = a.malloc(&mut k, 24 + (n * 53) % 1000).unwrap();
                a.free(&mut k, black_box(p)).unwrap();
            })
        });
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("stats(), {live} blocks in the heap"), |b| {
            b.iter(|| black_box(a.stats()))
        });
    }
    g.finish();
}

fn run(c: &mut Criterion) {
    let w = workload::generate("churn", 1, Some(20_000)).unwrap();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(w.ops.len() as u64));
    g.sample_size(20);
    g.bench_function("run churn with glibc per op", |b| {
        b.iter(|| engine::run(&w, Box::new(Glibc::new()), &RunConfig::default()).unwrap())
    });
    let every_op = RunConfig {
        sample_every: 1,
        ..RunConfig::default()
    };
    g.bench_function("run churn with glibc, a sample every op, per op", |b| {
        b.iter(|| engine::run(&w, Box::new(Glibc::new()), &every_op).unwrap())
    });
    g.finish();
}

criterion_group!(benches, glibc, run);
criterion_main!(benches);
