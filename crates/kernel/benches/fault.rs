//! The kernel's hot paths: a first touch (page fault, frame, zeroing, page-table
//! entry) and a touch of pages that are resident and in the TLB.
//!
//! `cargo bench -p kernel` (see the README's "Benchmarks").

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kernel::{Access, Kernel, KernelConfig, MapFlags, Prot};
use std::hint::black_box;

const PAGES: u64 = 256;
const LEN: u64 = PAGES * 4096;

fn fault_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel");
    g.throughput(Throughput::Elements(PAGES));
    // Every iteration maps 256 fresh pages and writes them all: 256 minor faults.
    g.bench_function("first touch (fault) per page", |b| {
        b.iter_batched(
            || {
                let mut k = Kernel::new(KernelConfig::default());
                let at = k.mmap(0, LEN, Prot::RW, MapFlags::NONE).unwrap();
                (k, at)
            },
            |(mut k, at)| {
                k.touch(at, LEN, Access::Write).unwrap();
                black_box(k)
            },
            BatchSize::SmallInput,
        )
    });
    // The same pages again: resident, and (256 pages fit the TLB model) TLB-hot.
    let mut k = Kernel::new(KernelConfig::default());
    let at = k.mmap(0, LEN, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(at, LEN, Access::Write).unwrap();
    g.bench_function("resident touch per page", |b| {
        b.iter(|| k.touch(black_box(at), LEN, Access::Write).unwrap())
    });
    // One small write inside a resident page: what the engine does for most blocks.
    g.throughput(Throughput::Elements(1));
    g.bench_function("resident touch of 48 bytes", |b| {
        b.iter(|| k.touch(black_box(at + 4000), 48, Access::Write).unwrap())
    });
    g.finish();
}

criterion_group!(benches, fault_path);
criterion_main!(benches);
