//! Invariants of every allocator of this crate over random op streams.
//!
//! Each case runs a random stream of mallocs (with lifetime hints), frees, reallocs,
//! touches and bad frees through one allocator on a fresh kernel, and after every op
//! checks what the `Allocator` contract and the metrics promise:
//! - a pointer is 16-aligned and its bytes lie in read-write VMAs (a write to its first
//!   and last byte succeeds);
//! - no two live blocks overlap;
//! - the heap map (`blocks`) is sorted, non-overlapping, inside mapped memory, covers
//!   exactly `footprint` bytes, and its used blocks sum to `allocated`;
//! - `footprint` equals the bytes the kernel has mapped (nothing else maps here), and
//!   `allocated` covers the live requested bytes;
//! - a bad free or realloc returns `InvalidPointer` and changes nothing.
//!
//! At the end, after freeing everything, it checks that the memory was returned (or is
//! held only within the allocator's documented retention).
//!
//! 64 cases per allocator by default; `BRKMAP_LONG=1` runs 2048.

use kernel::{Access, Addr, Kernel, KernelConfig, PAGE_SIZE, Prot};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use mmap::{
    CachedPages, GuardAllocator, GuardConfig, GuardPlacement, LifetimeArenas, LifetimeConfig,
    MmapAllocator, MmapCacheAllocator, MmapCacheConfig, MmapConfig, RegionAllocator, RegionConfig,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn cases() -> u32 {
    if std::env::var_os("BRKMAP_LONG").is_some() {
        2048
    } else {
        64
    }
}

#[derive(Clone, Debug)]
enum Op {
    Malloc {
        size: u64,
        lifetime: u8,
    },
    /// Frees the live block at this index (modulo the live count).
    Free(usize),
    Realloc(usize, u64),
    /// Writes the whole block (what a program's memset does).
    Touch(usize),
    /// Frees an address that is not a live block: a live pointer plus an offset.
    BadFree(usize, u64),
    Trim,
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..512,
        3 => 512u64..20_000,
        1 => 20_000u64..(3 << 20),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (size(), 0u8..4).prop_map(|(size, lifetime)| Op::Malloc { size, lifetime }),
        5 => any::<usize>().prop_map(Op::Free),
        3 => (any::<usize>(), size()).prop_map(|(i, s)| Op::Realloc(i, s)),
        2 => any::<usize>().prop_map(Op::Touch),
        1 => (any::<usize>(), 1u64..5000).prop_map(|(i, d)| Op::BadFree(i, d)),
        1 => Just(Op::Trim),
    ]
}

/// Every byte of `[addr, addr + len)` lies in read-write VMAs.
fn in_rw_vmas(kernel: &Kernel, addr: Addr, len: u64) -> bool {
    let mut at = addr;
    let end = addr + len.max(1);
    for v in kernel.vmas() {
        if v.start <= at && at < v.end {
            if !v.prot.contains(Prot::RW) {
                return false;
            }
            at = v.end;
            if at >= end {
                return true;
            }
        }
    }
    false
}

/// Every byte of `[addr, addr + len)` is mapped (any protection).
fn mapped(kernel: &Kernel, addr: Addr, len: u64) -> bool {
    let mut at = addr;
    let end = addr + len;
    for v in kernel.vmas() {
        if v.start <= at && at < v.end {
            at = v.end;
            if at >= end {
                return true;
            }
        }
    }
    len == 0
}

struct Harness {
    kernel: Kernel,
    alloc: Box<dyn Allocator>,
    /// Live pointer -> requested size.
    live: BTreeMap<Addr, u64>,
    order: Vec<Addr>,
}

impl Harness {
    fn new(alloc: Box<dyn Allocator>) -> Harness {
        Harness {
            kernel: Kernel::new(KernelConfig::default()),
            alloc,
            live: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    fn pick(&self, i: usize) -> Option<Addr> {
        (!self.order.is_empty()).then(|| self.order[i % self.order.len()])
    }

    fn add_live(&mut self, p: Addr, size: u64) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            p % 16,
            0,
            "{} returned an unaligned {:#x}",
            self.alloc.name(),
            p
        );
        prop_assert!(
            in_rw_vmas(&self.kernel, p, size),
            "block {:#x}+{} is not inside read-write VMAs",
            p,
            size
        );
        let end = p + size.max(1);
        if let Some((&q, &qs)) = self.live.range(..end).next_back() {
            prop_assert!(
                q + qs.max(1) <= p,
                "{:#x}+{} overlaps {:#x}+{}",
                p,
                size,
                q,
                qs
            );
        }
        self.kernel.touch(p, 1, Access::Write).unwrap();
        self.kernel.touch(end - 1, 1, Access::Write).unwrap();
        self.live.insert(p, size);
        self.order.push(p);
        Ok(())
    }

    fn remove_live(&mut self, p: Addr) {
        self.live.remove(&p);
        self.order.retain(|&q| q != p);
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let picked = match *op {
            Op::Free(i) | Op::Realloc(i, _) | Op::Touch(i) | Op::BadFree(i, _) => self.pick(i),
            Op::Malloc { .. } | Op::Trim => None,
        };
        let k = &mut self.kernel;
        match *op {
            Op::Malloc { size, lifetime } => {
                let p = self.alloc.malloc_hinted(k, size, lifetime).unwrap();
                self.add_live(p, size)?;
            }
            Op::Free(_) => {
                if let Some(p) = picked {
                    self.alloc.free(k, p).unwrap();
                    self.remove_live(p);
                }
            }
            Op::Realloc(_, size) => {
                if let Some(p) = picked {
                    let q = self.alloc.realloc(k, p, size).unwrap();
                    self.remove_live(p);
                    self.add_live(q, size)?;
                }
            }
            Op::Touch(_) => {
                if let Some(p) = picked {
                    let len = self.live[&p];
                    k.touch(p, len, Access::Write).unwrap();
                }
            }
            Op::BadFree(_, delta) => {
                let bad = picked.map_or(0x1000, |p| p + delta);
                if !self.live.contains_key(&bad) {
                    let stats = self.alloc.stats();
                    let counters = k.counters().clone();
                    let mapped = k.mem().mapped;
                    prop_assert_eq!(
                        self.alloc.free(k, bad),
                        Err(AllocError::InvalidPointer { ptr: bad })
                    );
                    prop_assert_eq!(
                        self.alloc.realloc(k, bad, 8),
                        Err(AllocError::InvalidPointer { ptr: bad })
                    );
                    prop_assert_eq!(self.alloc.stats(), stats);
                    prop_assert_eq!(k.counters(), &counters);
                    prop_assert_eq!(k.mem().mapped, mapped);
                }
            }
            Op::Trim => {
                self.alloc.trim(k, 0).unwrap();
            }
        }
        self.check()
    }

    /// The invariants that hold after every op.
    fn check(&self) -> Result<(), TestCaseError> {
        let s = self.alloc.stats();
        prop_assert_eq!(s.footprint, self.kernel.mem().mapped, "footprint != mapped");
        prop_assert_eq!(s.arena, 0);
        prop_assert_eq!(s.keepcost, 0);
        prop_assert_eq!(s.uordblks, s.allocated);
        prop_assert!(s.allocated + s.fordblks <= s.footprint);
        prop_assert!(s.hblkhd <= s.footprint);
        let live_bytes: u64 = self.live.values().map(|&n| n.max(1)).sum();
        prop_assert!(s.allocated >= live_bytes, "allocated < live");

        let mut map: Vec<Block> = Vec::new();
        self.alloc.blocks(&mut map);
        let mut end = 0;
        let (mut total, mut used) = (0, 0);
        for b in &map {
            prop_assert!(
                b.addr >= end,
                "heap map unsorted or overlapping at {:#x}",
                b.addr
            );
            prop_assert!(b.mapped);
            prop_assert!(
                mapped(&self.kernel, b.addr, b.size),
                "block {:?} unmapped",
                b
            );
            end = b.addr + b.size;
            total += b.size;
            if b.kind == BlockKind::Used {
                used += b.size;
            }
        }
        prop_assert_eq!(total, s.footprint, "the heap map covers the footprint");
        prop_assert_eq!(used, s.allocated, "used blocks sum to allocated");
        // Every live pointer lies in a used block of the map.
        for (&p, &n) in &self.live {
            let i = map.partition_point(|b| b.addr <= p);
            prop_assert!(i > 0);
            let b = map[i - 1];
            prop_assert!(
                b.kind == BlockKind::Used && p + n.max(1) <= b.addr + b.size,
                "live {:#x}+{} not in a used block ({:?})",
                p,
                n,
                b
            );
        }
        Ok(())
    }

    /// Frees everything and returns the final stats.
    fn free_all(&mut self) -> Result<HeapStats, TestCaseError> {
        for p in self.order.clone() {
            self.alloc.free(&mut self.kernel, p).unwrap();
            self.remove_live(p);
            self.check()?;
        }
        let s = self.alloc.stats();
        prop_assert_eq!(s.allocated, 0);
        prop_assert_eq!(s.hblks, 0);
        Ok(s)
    }
}

fn run(
    alloc: Box<dyn Allocator>,
    ops: &[Op],
    retained: impl Fn(&HeapStats) -> bool,
) -> Result<(), TestCaseError> {
    let mut h = Harness::new(alloc);
    for op in ops {
        h.step(op)?;
    }
    let s = h.free_all()?;
    prop_assert!(
        retained(&s),
        "{} retains too much after freeing all: {:?}",
        h.alloc.name(),
        s
    );
    Ok(())
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn mmap_per_block(ops in ops(), populate in any::<bool>()) {
        let a = MmapAllocator::new(MmapConfig { populate });
        run(Box::new(a), &ops, |s| s.footprint == 0)?;
    }

    #[test]
    fn mmap_guard(ops in ops(), start in any::<bool>()) {
        let placement = if start { GuardPlacement::Start } else { GuardPlacement::End };
        let a = GuardAllocator::new(GuardConfig { placement });
        run(Box::new(a), &ops, |s| s.footprint == 0)?;
    }

    #[test]
    fn mmap_cache(
        ops in ops(),
        max_count in 0u64..6,
        max_pages in 0u64..40,
        excess in prop_oneof![Just(0u32), 0u32..300],
        pages in prop_oneof![
            Just(CachedPages::Keep),
            Just(CachedPages::DontNeed),
            Just(CachedPages::Free)
        ],
    ) {
        let config = MmapCacheConfig {
            max_count,
            max_bytes: max_pages * PAGE_SIZE,
            max_excess_percent: excess,
            pages,
        };
        let a = MmapCacheAllocator::new(config.clone());
        run(Box::new(a), &ops, |s| {
            s.footprint == s.fordblks && s.footprint <= config.max_bytes
        })?;
    }

    #[test]
    fn regions(ops in ops(), region_pages in 1u64..300, keep in any::<bool>()) {
        let region_size = region_pages * PAGE_SIZE;
        let a = RegionAllocator::new(RegionConfig { region_size, keep_empty_current: keep })
            .unwrap();
        // At most the (emptied) current region stays mapped.
        let bound = if keep { region_size } else { 0 };
        run(Box::new(a), &ops, |s| s.footprint <= bound)?;
    }

    #[test]
    fn lifetime_arenas(ops in ops(), region_pages in 1u64..300, keep in any::<bool>()) {
        let region_size = region_pages * PAGE_SIZE;
        let a = LifetimeArenas::new(LifetimeConfig {
            region_size,
            keep_empty_current: keep,
            default_class: 0,
        })
        .unwrap();
        // At most one emptied current region per class (hints are 0..4).
        let bound = if keep { 4 * region_size } else { 0 };
        run(Box::new(a), &ops, |s| s.footprint <= bound)?;
    }

    #[test]
    fn default_configs(ops in ops(), which in 0usize..5) {
        let a: Box<dyn Allocator> = match which {
            0 => Box::new(MmapAllocator::default()),
            1 => Box::new(GuardAllocator::default()),
            2 => Box::new(MmapCacheAllocator::default()),
            3 => Box::new(RegionAllocator::default()),
            _ => Box::new(LifetimeArenas::default()),
        };
        run(a, &ops, |s| s.footprint <= 4 * mmap::DEFAULT_REGION_SIZE)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Without hints, `lifetime-arenas` is `regions`: same pointers, same syscalls,
    /// same accounting after every op.
    #[test]
    fn unhinted_lifetime_arenas_equal_regions(ops in ops(), region_pages in 1u64..64) {
        let region_size = region_pages * PAGE_SIZE;
        let mut la = Harness::new(Box::new(
            LifetimeArenas::new(LifetimeConfig { region_size, ..LifetimeConfig::default() })
                .unwrap(),
        ));
        let mut ra = Harness::new(Box::new(
            RegionAllocator::new(RegionConfig { region_size, keep_empty_current: true })
                .unwrap(),
        ));
        for op in &ops {
            let op = match *op {
                Op::Malloc { size, .. } => Op::Malloc { size, lifetime: 0 },
                ref other => other.clone(),
            };
            la.step(&op)?;
            ra.step(&op)?;
            prop_assert_eq!(&la.order, &ra.order);
            prop_assert_eq!(la.alloc.stats(), ra.alloc.stats());
            prop_assert_eq!(la.kernel.counters(), ra.kernel.counters());
        }
    }

    /// Every block lives in a region of its own class (or in a mapping of its own).
    #[test]
    fn lifetime_classes_never_share_a_region(
        allocs in prop::collection::vec((size(), 0u8..6), 1..120),
        frees in prop::collection::vec(any::<usize>(), 0..60),
    ) {
        let mut k = Kernel::new(KernelConfig::default());
        let mut a = LifetimeArenas::new(LifetimeConfig {
            region_size: 8 * PAGE_SIZE,
            ..LifetimeConfig::default()
        })
        .unwrap();
        let mut live = Vec::new();
        for &(size, class) in &allocs {
            live.push((a.malloc_hinted(&mut k, size, class).unwrap(), class));
        }
        for &i in &frees {
            if !live.is_empty() {
                let (p, _) = live.remove(i % live.len());
                a.free(&mut k, p).unwrap();
            }
        }
        let regions = a.regions();
        for &(p, class) in &live {
            prop_assert_eq!(a.class_of(p), Some(class));
            if let Some((rc, _)) = regions.iter().find(|(_, r)| r.start <= p && p < r.start + r.len) {
                prop_assert_eq!(*rc, class, "block {:#x} of class {} in a class-{} region", p, class, rc);
            }
        }
        // Each class's live blocks are counted in its own regions only.
        for class in 0u8..6 {
            let in_class: u64 = regions
                .iter()
                .filter(|(c, _)| *c == class)
                .map(|(_, r)| r.live_blocks)
                .sum();
            let small = live
                .iter()
                .filter(|&&(p, c)| c == class && regions.iter().any(|(_, r)| r.start <= p && p < r.start + r.len))
                .count() as u64;
            prop_assert_eq!(in_class, small);
        }
    }
}
