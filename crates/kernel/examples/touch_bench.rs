//! How fast the simulator itself runs (wall-clock time of the host, not simulated
//! time): the engine touches every allocated byte of long traces, so `touch` on a
//! resident page must be cheap, and syscalls must stay fast with many VMAs.
//!
//! Run with `cargo run -p kernel --release --example touch_bench`.

use kernel::{Access, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot};
use std::hint::black_box;
use std::time::Instant;

fn per_op(label: &str, n: u64, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<58} {ns:>9.1} ns");
}

fn main() {
    let mut k = Kernel::new(KernelConfig::default());
    let a = k.mmap(0, 1 << 30, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(a, 64, Access::Write).unwrap();

    let n = 20_000_000;
    per_op("touch(64 B) of one resident page (TLB hit)", n, || {
        for i in 0..n {
            black_box(k.touch(black_box(a + (i & 63) * 8), 64, Access::Write)).unwrap();
        }
    });

    // 256 resident pages touched round-robin: the 64-entry TLB misses on every page,
    // so each touch walks the 4-level page table.
    k.touch(a, 256 * PAGE_SIZE, Access::Write).unwrap();
    let n = 5_000_000;
    per_op(
        "touch(8 B) of a resident page, TLB miss + page walk",
        n,
        || {
            for i in 0..n {
                let addr = a + (i * 67 % 256) * PAGE_SIZE;
                black_box(k.touch(black_box(addr), 8, Access::Write)).unwrap();
            }
        },
    );

    let n = 2_000_000;
    per_op("touch(1 MiB) of resident pages, per 4 KiB page", n, || {
        for _ in 0..n / 256 {
            black_box(k.touch(black_box(a), 1 << 20, Access::Read)).unwrap();
        }
    });

    let pages = 150_000u64;
    let b = a + (256 << 20);
    per_op("first-touch write fault, per page", pages, || {
        k.touch(b, pages * PAGE_SIZE, Access::Write).unwrap();
    });

    let n = 200_000u64;
    let mut k = Kernel::new(KernelConfig::default());
    per_op("mmap + touch + munmap, empty address space", n, || {
        for i in 0..n {
            let len = (1 + i % 17) * PAGE_SIZE;
            let m = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
            k.touch(m, 8, Access::Write).unwrap();
            k.munmap(m, len).unwrap();
        }
    });

    // Many VMAs with holes of every size: mmap's top-down search uses the gap index.
    let mut k = Kernel::new(KernelConfig::default());
    let mut maps = Vec::new();
    for i in 0..50_000u64 {
        let len = (1 + i % 13) * PAGE_SIZE;
        let p = if i % 2 == 0 { Prot::RW } else { Prot::READ };
        maps.push((k.mmap(0, len, p, MapFlags::NONE).unwrap(), len));
    }
    for (i, &(addr, len)) in maps.iter().enumerate() {
        if i % 3 == 0 {
            k.munmap(addr, len).unwrap();
        }
    }
    let n = 200_000u64;
    per_op(
        "mmap + touch + munmap with ~33k VMAs and many holes",
        n,
        || {
            for i in 0..n {
                let len = (1 + i % 17) * PAGE_SIZE;
                let m = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
                k.touch(m, 8, Access::Write).unwrap();
                k.munmap(m, len).unwrap();
            }
        },
    );
    println!("VMAs at the end: {}", k.mem().vmas);
}
