//! Invariants of every allocator of this crate over random programs.
//!
//! Each case runs a random program of mallocs (with lifetime hints), frees, reallocs,
//! writes, trims and bad frees through one allocator on a fresh kernel, checked call
//! by call against the allocator contract ([`malloc::contract`]: alignment, no
//! overlap, blocks in read-write memory of the process, a heap map and statistics that
//! agree with the live blocks and with what the kernel mapped, refused bad pointers
//! that change nothing). On top of it, what this crate promises after every call:
//! nothing lives in the brk heap (`arena` and `keepcost` are 0), `uordblks` is
//! `allocated`, and every block of the map is mapped memory.
//!
//! At the end, after freeing everything, it checks that the memory was returned (or is
//! held only within the allocator's documented retention).
//!
//! 64 cases per allocator by default; `BRKMAP_LONG=1` runs 2048.

#[path = "../../malloc/tests/strategies/mod.rs"]
mod strategies;

use kernel::{Kernel, KernelConfig, PAGE_SIZE};
use malloc::contract::{Contract, Op};
use malloc::{Allocator, HeapStats};
use mmap::{
    CachedPages, GuardAllocator, GuardConfig, GuardPlacement, LifetimeArenas, LifetimeConfig,
    MmapAllocator, MmapCacheAllocator, MmapCacheConfig, MmapConfig, RegionAllocator, RegionConfig,
};
use proptest::prelude::*;
use strategies::{cases, fail, mapped_sizes, program};

fn ops() -> impl Strategy<Value = Vec<Op>> {
    program(mapped_sizes(), true, 80)
}

fn contract<A: Allocator>(a: A) -> Contract<A> {
    Contract::new(a, Kernel::new(KernelConfig::default()))
}

/// What this crate promises beyond the contract.
fn family_check<A: Allocator>(c: &Contract<A>) -> Result<(), TestCaseError> {
    let s = c.allocator().stats();
    prop_assert_eq!(s.arena, 0);
    prop_assert_eq!(s.keepcost, 0);
    prop_assert_eq!(s.uordblks, s.allocated);
    prop_assert_eq!(c.kernel().program_break(), c.kernel().config().heap_start);
    let mut map = Vec::new();
    c.allocator().blocks(&mut map);
    prop_assert!(map.iter().all(|b| b.mapped), "every block is in a mapping");
    Ok(())
}

/// Runs `ops`, frees everything, and checks what is left with `retained`.
fn run<A: Allocator>(
    a: A,
    ops: &[Op],
    retained: impl Fn(&HeapStats) -> bool,
) -> Result<(), TestCaseError> {
    let mut c = contract(a);
    for op in ops {
        c.step(op).map_err(fail)?;
        family_check(&c)?;
    }
    c.free_all().map_err(fail)?;
    let s = c.allocator().stats();
    prop_assert_eq!(s.allocated, 0);
    prop_assert_eq!(s.hblks, 0);
    prop_assert!(
        retained(&s),
        "{} retains too much after freeing all: {:?}",
        c.allocator().name(),
        s
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn mmap_per_block(ops in ops(), populate in any::<bool>()) {
        let a = MmapAllocator::new(MmapConfig { populate });
        run(a, &ops, |s| s.footprint == 0)?;
    }

    #[test]
    fn mmap_guard(ops in ops(), start in any::<bool>()) {
        let placement = if start { GuardPlacement::Start } else { GuardPlacement::End };
        let a = GuardAllocator::new(GuardConfig { placement });
        run(a, &ops, |s| s.footprint == 0)?;
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
        run(a, &ops, |s| {
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
        run(a, &ops, |s| s.footprint <= bound)?;
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
        run(a, &ops, |s| s.footprint <= bound)?;
    }

    #[test]
    fn default_configs(ops in ops(), which in 0usize..5) {
        let bound = |s: &HeapStats| s.footprint <= 4 * mmap::DEFAULT_REGION_SIZE;
        match which {
            0 => run(MmapAllocator::default(), &ops, bound)?,
            1 => run(GuardAllocator::default(), &ops, bound)?,
            2 => run(MmapCacheAllocator::default(), &ops, bound)?,
            3 => run(RegionAllocator::default(), &ops, bound)?,
            _ => run(LifetimeArenas::default(), &ops, bound)?,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Without hints, `lifetime-arenas` is `regions`: same pointers, same syscalls,
    /// same accounting after every op.
    #[test]
    fn unhinted_lifetime_arenas_equal_regions(ops in ops(), region_pages in 1u64..64) {
        let region_size = region_pages * PAGE_SIZE;
        let mut la = contract(
            LifetimeArenas::new(LifetimeConfig { region_size, ..LifetimeConfig::default() })
                .unwrap(),
        );
        let mut ra = contract(
            RegionAllocator::new(RegionConfig { region_size, keep_empty_current: true })
                .unwrap(),
        );
        for op in &ops {
            let op = match *op {
                Op::Malloc { size, .. } => Op::Malloc { size, lifetime: None },
                other => other,
            };
            la.step(&op).map_err(fail)?;
            ra.step(&op).map_err(fail)?;
            let (l, r): (Vec<_>, Vec<_>) = (la.live().collect(), ra.live().collect());
            prop_assert_eq!(l, r);
            prop_assert_eq!(la.allocator().stats(), ra.allocator().stats());
            prop_assert_eq!(la.kernel().counters(), ra.kernel().counters());
        }
    }

    /// Every block lives in a region of its own class (or in a mapping of its own).
    #[test]
    fn lifetime_classes_never_share_a_region(
        allocs in prop::collection::vec((mapped_sizes(), 0u8..6), 1..120),
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
