//! Invariants over random operation streams, for the free-list presets (and variations
//! of their options) and for the size-class allocator in each return mode.
//!
//! After every operation:
//! - live blocks are aligned, do not overlap, and lie inside memory the allocator got
//!   from the kernel (the heap VMA for free lists, an allocator mapping for slabs);
//! - the heap map accounts for every byte of the footprint, its `Used` blocks are
//!   exactly the live blocks, and the statistics agree with it;
//! - what the kernel has mapped is exactly the footprint.
//!
//! And for particular operations:
//! - a freed block is reusable: `malloc` of the same size right after a `free` does not
//!   grow the footprint beyond what it was before the free;
//! - `free`/`realloc` of a pointer that is not live is rejected and changes nothing, in
//!   the allocator or in the kernel;
//! - no sequence panics.
//!
//! 64 cases per test by default; `BRKMAP_LONG=1` runs 2048.

use kernel::{Access, Kernel, KernelConfig};
use malloc::freelist::{Coalesce, FreeList, FreeListConfig};
use malloc::options::Options;
use malloc::segregated::{Segregated, SegregatedConfig};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use proptest::prelude::*;

fn cases() -> u32 {
    match std::env::var("BRKMAP_LONG") {
        Ok(v) if !v.is_empty() && v != "0" => 2048,
        _ => 64,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Malloc(u64),
    /// Free the live block at this index (modulo the number live).
    Free(usize),
    Realloc(usize, u64),
    /// Free a live block and immediately malloc its size again.
    FreeThenMalloc(usize),
    /// Free (and realloc) a pointer that is not live: a live one moved by this many
    /// bytes, or one freed earlier, or this raw value.
    Bogus(usize, u64),
    Trim(u64),
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..256,
        4 => 256u64..4096,
        2 => 4096u64..40_000,
        1 => 40_000u64..300_000,
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        10 => size().prop_map(Op::Malloc),
        6 => any::<usize>().prop_map(Op::Free),
        3 => (any::<usize>(), size()).prop_map(|(i, s)| Op::Realloc(i, s)),
        2 => any::<usize>().prop_map(Op::FreeThenMalloc),
        2 => (any::<usize>(), 1u64..100).prop_map(|(i, d)| Op::Bogus(i, d)),
        1 => (0u64..20_000).prop_map(Op::Trim),
    ];
    proptest::collection::vec(op, 1..160)
}

/// What the checks need to know about the allocator under test.
#[derive(Copy, Clone, Debug)]
enum Family {
    /// A free list over brk; `immediate` when no two free blocks may touch.
    FreeList { align: u64, immediate: bool },
    /// Slabs; blocks above `largest_class` bytes are large (own mapping).
    Segregated { largest_class: u64 },
}

struct Run {
    k: Kernel,
    a: Box<dyn Allocator>,
    family: Family,
    /// Live blocks: (pointer, requested size).
    live: Vec<(u64, u64)>,
    /// Pointers freed earlier (candidates for double frees).
    dead: Vec<u64>,
    heap_start: u64,
}

fn run(family: Family, a: Box<dyn Allocator>, kcfg: KernelConfig, ops: &[Op]) {
    let k = Kernel::new(kcfg);
    let heap_start = k.program_break();
    let mut r = Run {
        k,
        a,
        family,
        live: Vec::new(),
        dead: Vec::new(),
        heap_start,
    };
    for op in ops {
        r.step(op);
        r.check(op);
    }
    // Everything can be freed, and then nothing is allocated.
    while let Some((p, _)) = r.live.pop() {
        r.a.free(&mut r.k, p).unwrap();
        r.check(&Op::Free(0));
    }
    let s = r.a.stats();
    match r.family {
        Family::FreeList { .. } => assert_eq!(s.allocated, s.footprint - s.fordblks),
        Family::Segregated { .. } => assert_eq!(s.allocated, 0),
    }
}

impl Run {
    fn malloc(&mut self, size: u64) {
        match self.a.malloc(&mut self.k, size) {
            Ok(p) => {
                // The program writes what it asked for, as a real one would.
                self.k.touch(p, size, Access::Write).unwrap();
                self.live.push((p, size));
            }
            Err(AllocError::OutOfMemory { .. }) => {}
            Err(e) => panic!("malloc({size}): {e}"),
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Malloc(size) => self.malloc(size),
            Op::Free(i) if !self.live.is_empty() => {
                let (p, _) = self.live.swap_remove(i % self.live.len());
                self.a.free(&mut self.k, p).unwrap();
                self.dead.push(p);
            }
            Op::Realloc(i, size) if !self.live.is_empty() => {
                let i = i % self.live.len();
                let (p, old) = self.live[i];
                match self.a.realloc(&mut self.k, p, size) {
                    Ok(q) => {
                        if q != p {
                            self.dead.push(p);
                        }
                        if size > old {
                            self.k.touch(q + old, size - old, Access::Write).unwrap();
                        }
                        self.live[i] = (q, size);
                    }
                    Err(AllocError::OutOfMemory { .. }) => {}
                    Err(e) => panic!("realloc({p:#x}, {size}): {e}"),
                }
            }
            Op::FreeThenMalloc(i) if !self.live.is_empty() => self.free_then_malloc(i),
            Op::Bogus(i, d) => self.bogus(i, d),
            Op::Trim(pad) => {
                self.a.trim(&mut self.k, pad).unwrap();
            }
            _ => {}
        }
    }

    /// A freed block is reusable: the same request right after does not grow the
    /// footprint beyond what it was before the free.
    fn free_then_malloc(&mut self, i: usize) {
        let (p, size) = self.live.swap_remove(i % self.live.len());
        let before = self.a.stats().footprint;
        self.a.free(&mut self.k, p).unwrap();
        self.malloc(size);
        assert_eq!(self.live.last().map(|l| l.1), Some(size), "malloc failed");
        assert!(
            self.a.stats().footprint <= before,
            "free + malloc({size}) grew the footprint from {before} to {}",
            self.a.stats().footprint
        );
    }

    fn bogus(&mut self, i: usize, d: u64) {
        let candidates = [
            self.live.get(i % self.live.len().max(1)).map(|l| l.0 + d),
            self.live
                .get(i % self.live.len().max(1))
                .map(|l| l.0.wrapping_sub(d)),
            self.dead.get(i % self.dead.len().max(1)).copied(),
            Some(self.heap_start + d * 16),
            Some(d),
        ];
        for ptr in candidates.into_iter().flatten() {
            if self.live.iter().any(|l| l.0 == ptr) {
                continue; // a live pointer is not bogus
            }
            let snapshot = self.snapshot();
            assert_eq!(
                self.a.free(&mut self.k, ptr),
                Err(AllocError::InvalidPointer { ptr })
            );
            assert_eq!(
                self.a.realloc(&mut self.k, ptr, d),
                Err(AllocError::InvalidPointer { ptr })
            );
            assert!(
                self.snapshot() == snapshot,
                "rejected {ptr:#x} changed state"
            );
        }
    }

    fn snapshot(
        &self,
    ) -> (
        HeapStats,
        Vec<Block>,
        kernel::Counters,
        kernel::Ledger,
        kernel::MemStats,
    ) {
        let mut m = Vec::new();
        self.a.blocks(&mut m);
        (
            self.a.stats(),
            m,
            self.k.counters().clone(),
            self.k.ledger().clone(),
            self.k.mem(),
        )
    }

    fn check(&self, op: &Op) {
        let s = self.a.stats();
        let mut map = Vec::new();
        self.a.blocks(&mut map);
        let vmas = self.k.vmas();
        let align = match self.family {
            Family::FreeList { align, .. } => align,
            Family::Segregated { .. } => 16,
        };

        // Live blocks: aligned, disjoint, inside the allocator's memory.
        let mut live = self.live.clone();
        live.sort();
        for w in live.windows(2) {
            assert!(
                w[0].0 + w[0].1.max(1) <= w[1].0,
                "after {op:?}: live blocks overlap: {:?} {:?}",
                w[0],
                w[1]
            );
        }
        for &(p, n) in &live {
            assert_eq!(p % align, 0, "after {op:?}: {p:#x} misaligned");
            let inside = vmas.iter().any(|v| {
                v.start <= p
                    && p + n.max(1) <= v.end
                    && v.heap == matches!(self.family, Family::FreeList { .. })
            });
            assert!(
                inside,
                "after {op:?}: [{p:#x}, +{n}) outside the allocator's memory"
            );
        }

        // The heap map: sorted, disjoint, inside VMAs, summing to the footprint.
        for w in map.windows(2) {
            assert!(
                w[0].addr + w[0].size <= w[1].addr,
                "after {op:?}: map overlaps"
            );
        }
        for b in &map {
            assert!(b.size > 0);
            assert!(
                vmas.iter()
                    .any(|v| v.start <= b.addr && b.addr + b.size <= v.end),
                "after {op:?}: map block {b:?} outside every VMA"
            );
        }
        let total: u64 = map.iter().map(|b| b.size).sum();
        assert_eq!(total, s.footprint, "after {op:?}: map != footprint");
        assert_eq!(
            self.k.mem().mapped,
            s.footprint,
            "after {op:?}: VSZ != footprint"
        );

        // Used blocks are exactly the live blocks, each holding its request.
        let used: Vec<&Block> = map.iter().filter(|b| b.kind == BlockKind::Used).collect();
        assert_eq!(used.len(), live.len(), "after {op:?}: used blocks != live");
        for (b, &(p, n)) in used.iter().zip(&live) {
            assert!(
                b.addr <= p && p + n <= b.addr + b.size,
                "after {op:?}: {b:?} vs {p:#x}+{n}"
            );
        }
        let used_bytes: u64 = used.iter().map(|b| b.size).sum();
        let free_blocks: Vec<&Block> = map
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Top))
            .collect();
        let free_bytes: u64 = free_blocks.iter().map(|b| b.size).sum();
        assert_eq!(s.fordblks, free_bytes, "after {op:?}");

        match self.family {
            Family::FreeList { immediate, .. } => {
                // The heap: contiguous from its start to the break.
                let brk = self.k.program_break();
                assert_eq!(s.footprint, brk - self.heap_start, "after {op:?}");
                assert_eq!(s.arena, s.footprint);
                if let Some(first) = map.first() {
                    assert_eq!(first.addr, self.heap_start);
                    assert_eq!(map.last().map(|b| b.addr + b.size), Some(brk));
                }
                for w in map.windows(2) {
                    assert_eq!(w[0].addr + w[0].size, w[1].addr, "after {op:?}: gap");
                }
                // Accounting identities.
                assert_eq!(s.allocated + s.fordblks, s.footprint, "after {op:?}");
                let meta: u64 = map
                    .iter()
                    .filter(|b| b.kind == BlockKind::Meta)
                    .map(|b| b.size)
                    .sum();
                assert_eq!(s.allocated, used_bytes + meta, "after {op:?}");
                assert_eq!(
                    s.largest_free,
                    free_blocks.iter().map(|b| b.size).max().unwrap_or(0)
                );
                let top = map.iter().rev().find(|b| b.kind != BlockKind::Meta);
                let keep = top
                    .filter(|b| b.kind == BlockKind::Top)
                    .map_or(0, |b| b.size);
                assert_eq!(s.keepcost, keep, "after {op:?}");
                assert!(map.iter().filter(|b| b.kind == BlockKind::Top).count() <= 1);
                if immediate {
                    for w in map.windows(2) {
                        let free = |b: &Block| matches!(b.kind, BlockKind::Free | BlockKind::Top);
                        assert!(
                            !(free(&w[0]) && free(&w[1])),
                            "after {op:?}: uncoalesced neighbours"
                        );
                    }
                }
            }
            Family::Segregated { largest_class } => {
                assert_eq!(s.allocated, used_bytes, "after {op:?}");
                assert_eq!(s.footprint, s.arena + s.hblkhd);
                let large = used.iter().filter(|b| b.size > largest_class);
                assert_eq!(s.hblks as usize, large.clone().count(), "after {op:?}");
                assert_eq!(s.hblkhd, large.map(|b| b.size).sum::<u64>(), "after {op:?}");
                assert!(s.largest_free <= free_blocks.iter().map(|b| b.size).max().unwrap_or(0));
                assert_eq!(
                    self.k.program_break(),
                    self.heap_start,
                    "slabs never use brk"
                );
            }
        }
    }
}

fn freelist(preset: &str, opts: &[&str]) -> (Family, Box<dyn Allocator>) {
    let pairs: Vec<(&str, &str)> = opts.iter().filter_map(|o| o.split_once('=')).collect();
    let (cfg, _) = FreeListConfig::preset(preset)
        .unwrap()
        .apply(&pairs)
        .unwrap();
    let family = Family::FreeList {
        align: cfg.align,
        immediate: cfg.coalesce == Coalesce::Immediate,
    };
    (family, Box::new(FreeList::new(cfg).unwrap()))
}

fn segregated(opts: &[&str]) -> (Family, Box<dyn Allocator>) {
    let pairs: Vec<(&str, &str)> = opts.iter().filter_map(|o| o.split_once('=')).collect();
    let (cfg, _) = SegregatedConfig::from_settings(&pairs).unwrap();
    let a = Segregated::new(cfg).unwrap();
    let largest_class = a.classes().last().map_or(0, |c| c.size);
    (Family::Segregated { largest_class }, Box::new(a))
}

fn check_freelist(preset: &str, opts: &[&str], ops: &[Op]) {
    let (f, a) = freelist(preset, opts);
    run(f, a, KernelConfig::default(), ops);
}

fn check_segregated(opts: &[&str], ops: &[Op]) {
    let (f, a) = segregated(opts);
    run(f, a, KernelConfig::default(), ops);
}

// The free-then-malloc property needs trimming not to give back less than the heap
// then grows by (`grow`), and a trimmed top to be extendable (coalescing on) or
// trimming off; every variation below satisfies that.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn first_fit(ops in ops()) {
        check_freelist("first-fit", &[], &ops);
    }

    #[test]
    fn first_fit_lifo_deferred_no_footer(ops in ops()) {
        check_freelist("first-fit", &["order=lifo", "coalesce=deferred", "footer=0", "trim=8k"], &ops);
    }

    #[test]
    fn next_fit(ops in ops()) {
        check_freelist("next-fit", &[], &ops);
    }

    #[test]
    fn next_fit_fifo_wide_layout(ops in ops()) {
        check_freelist(
            "next-fit",
            &["order=fifo", "header=16", "footer=0", "align=32", "grow=64k", "trim=256k"],
            &ops,
        );
    }

    #[test]
    fn best_fit(ops in ops()) {
        check_freelist("best-fit", &[], &ops);
    }

    #[test]
    fn best_fit_size_sorted_without_coalescing(ops in ops()) {
        check_freelist("best-fit", &["order=size_asc", "coalesce=none", "split=64", "trim=never"], &ops);
    }

    #[test]
    fn worst_fit(ops in ops()) {
        check_freelist("worst-fit", &[], &ops);
    }

    #[test]
    fn worst_fit_size_desc_deferred_headerless(ops in ops()) {
        check_freelist(
            "worst-fit",
            &["order=size_desc", "coalesce=deferred", "header=0", "footer=0"],
            &ops,
        );
    }

    #[test]
    fn first_fit_under_a_data_limit(ops in ops()) {
        // The kernel refuses to grow the heap past 256 KiB: mallocs fail as out of
        // memory and everything else must still hold.
        let (f, a) = freelist("first-fit", &[]);
        let kcfg = KernelConfig { data_limit: Some(256 * 1024), ..KernelConfig::default() };
        run(f, a, kcfg, &ops);
    }

    #[test]
    fn segregated_madvise(ops in ops()) {
        check_segregated(&["return=madvise"], &ops);
    }

    #[test]
    fn segregated_munmap(ops in ops()) {
        check_segregated(&["return=munmap"], &ops);
    }

    #[test]
    fn segregated_keep(ops in ops()) {
        check_segregated(&["return=keep"], &ops);
    }

    #[test]
    fn segregated_munmap_retaining_and_coarse_classes(ops in ops()) {
        check_segregated(
            &["return=munmap", "retain_empty=2", "quantum=32", "steps=2", "max_small=4k", "slab_pages=4"],
            &ops,
        );
    }
}
