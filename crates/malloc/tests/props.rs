//! Random programs through the free-list presets (and variations of their options)
//! and the size-class allocator in each return mode.
//!
//! Every call is checked against the allocator contract ([`malloc::contract`]:
//! alignment, no overlap, memory only from the kernel, a heap map and statistics that
//! agree with the live blocks and the kernel, refused bad pointers that change
//! nothing). On top of it, each family's own promises after every call:
//! - free lists: the heap map tiles the heap from its start to the break, the
//!   statistics are exact (`allocated + fordblks = footprint`, `keepcost` is the free
//!   block at the end, `largest_free` the largest free block), and with immediate
//!   coalescing no two free blocks touch;
//! - size classes: `allocated` is exactly the used slots and large blocks, large
//!   blocks are exactly `hblks`/`hblkhd`, and the break never moves;
//! - both: a freed block is reusable: `malloc` of the same size right after a `free`
//!   does not grow the footprint beyond what it was before the free.
//!
//! 64 cases per test by default; `BRKMAP_LONG=1` runs 2048.

mod strategies;

use kernel::{Kernel, KernelConfig};
use malloc::contract::{Contract, Op};
use malloc::freelist::{Coalesce, FreeList, FreeListConfig};
use malloc::options::Options;
use malloc::segregated::{Segregated, SegregatedConfig};
use malloc::{Allocator, Block, BlockKind};
use proptest::prelude::*;
use strategies::{cases, fail, heap_sizes, op};

/// A step: a contract op, or a free of a live block followed by a malloc of its size.
#[derive(Clone, Debug)]
enum Step {
    Op(Op),
    FreeThenMalloc(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        12 => op(heap_sizes(), false).prop_map(Step::Op),
        1 => any::<usize>().prop_map(Step::FreeThenMalloc),
    ];
    proptest::collection::vec(step, 1..160)
}

/// What the family checks need to know about the allocator under test.
#[derive(Copy, Clone, Debug)]
enum Family {
    /// A free list over brk; `immediate` when no two free blocks may touch.
    FreeList { immediate: bool },
    /// Slabs; blocks above `largest_class` bytes are large (own mapping).
    Segregated { largest_class: u64 },
}

fn run<A: Allocator>(
    family: Family,
    mut c: Contract<A>,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let heap_start = c.kernel().program_break();
    for step in steps {
        match *step {
            Step::Op(op) => c.step(&op).map_err(fail)?,
            Step::FreeThenMalloc(pick) => free_then_malloc(&mut c, pick)?,
        }
        family_check(&c, family, heap_start)?;
    }
    c.free_all().map_err(fail)?;
    let s = c.allocator().stats();
    match family {
        Family::FreeList { .. } => prop_assert_eq!(s.allocated, s.footprint - s.fordblks),
        Family::Segregated { .. } => prop_assert_eq!(s.allocated, 0),
    }
    Ok(())
}

/// A freed block is reusable: the same request right after does not grow the
/// footprint beyond what it was before the free.
fn free_then_malloc<A: Allocator>(c: &mut Contract<A>, pick: usize) -> Result<(), TestCaseError> {
    let Some(b) = c.pick(pick) else {
        return Ok(());
    };
    let before = c.allocator().stats().footprint;
    c.free(b.ptr).map_err(fail)?;
    let again = c.malloc(b.size).map_err(fail)?;
    prop_assert!(again.is_some(), "malloc({}) after a free failed", b.size);
    let after = c.allocator().stats().footprint;
    prop_assert!(
        after <= before,
        "free + malloc({}) grew the footprint from {} to {}",
        b.size,
        before,
        after
    );
    Ok(())
}

fn family_check<A: Allocator>(
    c: &Contract<A>,
    family: Family,
    heap_start: u64,
) -> Result<(), TestCaseError> {
    let a = c.allocator();
    let s = a.stats();
    let mut map = Vec::new();
    a.blocks(&mut map);
    let bytes = |kinds: &[BlockKind]| -> u64 {
        map.iter()
            .filter(|b| kinds.contains(&b.kind))
            .map(|b| b.size)
            .sum()
    };
    let free_bytes = bytes(&[BlockKind::Free, BlockKind::Top]);
    let largest_free = map
        .iter()
        .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Top))
        .map(|b| b.size)
        .max()
        .unwrap_or(0);
    let op = c.calls();
    prop_assert_eq!(s.fordblks, free_bytes, "after call {}", op);
    match family {
        Family::FreeList { immediate } => {
            // The heap: contiguous from its start to the break.
            let brk = c.kernel().program_break();
            prop_assert_eq!(s.footprint, brk - heap_start, "after call {}", op);
            prop_assert_eq!(s.arena, s.footprint);
            if let Some(first) = map.first() {
                prop_assert_eq!(first.addr, heap_start);
                prop_assert_eq!(map.last().map(|b| b.addr + b.size), Some(brk));
            }
            for w in map.windows(2) {
                prop_assert_eq!(w[0].addr + w[0].size, w[1].addr, "gap after call {}", op);
            }
            // Exact accounting.
            prop_assert_eq!(s.allocated + s.fordblks, s.footprint, "after call {}", op);
            prop_assert_eq!(
                s.allocated,
                bytes(&[BlockKind::Used, BlockKind::Meta]),
                "after call {}",
                op
            );
            prop_assert_eq!(s.largest_free, largest_free);
            let top = map.iter().rev().find(|b| b.kind != BlockKind::Meta);
            let keep = top
                .filter(|b| b.kind == BlockKind::Top)
                .map_or(0, |b| b.size);
            prop_assert_eq!(s.keepcost, keep, "after call {}", op);
            prop_assert!(map.iter().filter(|b| b.kind == BlockKind::Top).count() <= 1);
            if immediate {
                let free = |b: &Block| matches!(b.kind, BlockKind::Free | BlockKind::Top);
                for w in map.windows(2) {
                    prop_assert!(
                        !(free(&w[0]) && free(&w[1])),
                        "uncoalesced neighbours after call {}",
                        op
                    );
                }
            }
        }
        Family::Segregated { largest_class } => {
            prop_assert_eq!(s.allocated, bytes(&[BlockKind::Used]), "after call {}", op);
            prop_assert_eq!(s.footprint, s.arena + s.hblkhd);
            let large: Vec<&Block> = map
                .iter()
                .filter(|b| b.kind == BlockKind::Used && b.size > largest_class)
                .collect();
            prop_assert_eq!(s.hblks as usize, large.len(), "after call {}", op);
            prop_assert_eq!(s.hblkhd, large.iter().map(|b| b.size).sum::<u64>());
            prop_assert!(s.largest_free <= largest_free);
            prop_assert_eq!(
                c.kernel().program_break(),
                heap_start,
                "slabs never use brk"
            );
        }
    }
    Ok(())
}

fn settings(opts: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    opts.iter().filter_map(|o| o.split_once('=')).collect()
}

fn check_freelist(
    preset: &str,
    opts: &[&'static str],
    kcfg: KernelConfig,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let (cfg, _) = FreeListConfig::preset(preset)
        .unwrap()
        .apply(&settings(opts))
        .unwrap();
    let family = Family::FreeList {
        immediate: cfg.coalesce == Coalesce::Immediate,
    };
    let align = cfg.align;
    let c = Contract::new(FreeList::new(cfg).unwrap(), Kernel::new(kcfg)).align(align);
    run(family, c, steps)
}

fn check_segregated(opts: &[&'static str], steps: &[Step]) -> Result<(), TestCaseError> {
    let (cfg, _) = SegregatedConfig::from_settings(&settings(opts)).unwrap();
    let a = Segregated::new(cfg).unwrap();
    let largest_class = a.classes().last().map_or(0, |c| c.size);
    let c = Contract::new(a, Kernel::new(KernelConfig::default()));
    run(Family::Segregated { largest_class }, c, steps)
}

// The free-then-malloc property needs trimming not to give back less than the heap
// then grows by (`grow`), and a trimmed top to be extendable (coalescing on) or
// trimming off; every variation below satisfies that.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn first_fit(steps in steps()) {
        check_freelist("first-fit", &[], KernelConfig::default(), &steps)?;
    }

    #[test]
    fn first_fit_lifo_deferred_no_footer(steps in steps()) {
        check_freelist(
            "first-fit",
            &["order=lifo", "coalesce=deferred", "footer=0", "trim=8k"],
            KernelConfig::default(),
            &steps,
        )?;
    }

    #[test]
    fn next_fit(steps in steps()) {
        check_freelist("next-fit", &[], KernelConfig::default(), &steps)?;
    }

    #[test]
    fn next_fit_fifo_wide_layout(steps in steps()) {
        check_freelist(
            "next-fit",
            &["order=fifo", "header=16", "footer=0", "align=32", "grow=64k", "trim=256k"],
            KernelConfig::default(),
            &steps,
        )?;
    }

    #[test]
    fn best_fit(steps in steps()) {
        check_freelist("best-fit", &[], KernelConfig::default(), &steps)?;
    }

    #[test]
    fn best_fit_size_sorted_without_coalescing(steps in steps()) {
        check_freelist(
            "best-fit",
            &["order=size_asc", "coalesce=none", "split=64", "trim=never"],
            KernelConfig::default(),
            &steps,
        )?;
    }

    #[test]
    fn worst_fit(steps in steps()) {
        check_freelist("worst-fit", &[], KernelConfig::default(), &steps)?;
    }

    #[test]
    fn worst_fit_size_desc_deferred_headerless(steps in steps()) {
        check_freelist(
            "worst-fit",
            &["order=size_desc", "coalesce=deferred", "header=0", "footer=0"],
            KernelConfig::default(),
            &steps,
        )?;
    }

    #[test]
    fn first_fit_under_a_data_limit(steps in steps()) {
        // The kernel refuses to grow the heap past 256 KiB: mallocs fail as out of
        // memory and everything else must still hold.
        let kcfg = KernelConfig { data_limit: Some(256 * 1024), ..KernelConfig::default() };
        check_freelist("first-fit", &[], kcfg, &steps)?;
    }

    #[test]
    fn segregated_madvise(steps in steps()) {
        check_segregated(&["return=madvise"], &steps)?;
    }

    #[test]
    fn segregated_munmap(steps in steps()) {
        check_segregated(&["return=munmap"], &steps)?;
    }

    #[test]
    fn segregated_keep(steps in steps()) {
        check_segregated(&["return=keep"], &steps)?;
    }

    #[test]
    fn segregated_munmap_retaining_and_coarse_classes(steps in steps()) {
        check_segregated(
            &["return=munmap", "retain_empty=2", "quantum=32", "steps=2", "max_small=4k", "slab_pages=4"],
            &steps,
        )?;
    }
}

/// The checker catches what it promises to catch: an allocator that breaks a rule is
/// reported at the call that broke it, with the rule.
mod the_checker_bites {
    use super::*;
    use kernel::{Addr, Kernel};
    use malloc::contract::Rule;
    use malloc::{AllocError, HeapStats};

    /// A first-fit free list with one defect switched on.
    struct Broken {
        inner: FreeList,
        defect: Defect,
        mallocs: u64,
    }

    #[derive(Copy, Clone, PartialEq)]
    enum Defect {
        /// The third malloc returns the first block again.
        Overlap,
        /// Every pointer is 8 bytes off.
        Misalign,
        /// Every pointer is a GiB past the heap.
        OutsideHeap,
        /// A refused free moves the break up a page.
        BadFreeGrowsHeap,
        /// A bad free succeeds.
        BadFreeAccepted,
        /// `allocated` reports a MiB too many.
        Accounting,
    }

    impl Allocator for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
            self.mallocs += 1;
            let p = self.inner.malloc(k, size)?;
            Ok(match self.defect {
                Defect::Overlap if self.mallocs == 3 => {
                    let mut map = Vec::new();
                    self.inner.blocks(&mut map);
                    map.iter().find(|b| b.kind == BlockKind::Used).unwrap().addr + 8
                }
                Defect::Misalign => p + 8,
                Defect::OutsideHeap => p + (1 << 30),
                _ => p,
            })
        }
        fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
            let ptr = if self.defect == Defect::Misalign {
                ptr - 8
            } else {
                ptr
            };
            match self.inner.free(k, ptr) {
                Err(AllocError::InvalidPointer { .. })
                    if self.defect == Defect::BadFreeAccepted =>
                {
                    Ok(())
                }
                Err(e @ AllocError::InvalidPointer { .. })
                    if self.defect == Defect::BadFreeGrowsHeap =>
                {
                    let b = k.program_break();
                    let _ = k.brk(b + 4096);
                    Err(e)
                }
                r => r,
            }
        }
        fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
            self.inner.realloc(k, ptr, size)
        }
        fn stats(&self) -> HeapStats {
            let mut s = self.inner.stats();
            if self.defect == Defect::Accounting && s.allocated > 0 {
                s.allocated += 1 << 20;
            }
            s
        }
        fn blocks(&self, out: &mut Vec<Block>) {
            self.inner.blocks(out)
        }
    }

    fn contract(defect: Defect) -> Contract<Broken> {
        let inner = FreeList::preset("first-fit").unwrap();
        Contract::new(
            Broken {
                inner,
                defect,
                mallocs: 0,
            },
            Kernel::new(KernelConfig::default()),
        )
    }

    #[test]
    fn an_overlap_names_both_blocks() {
        let mut c = contract(Defect::Overlap);
        c.malloc(100).unwrap();
        c.malloc(100).unwrap();
        let v = c.malloc(100).unwrap_err();
        assert_eq!(v.op, 2);
        assert!(matches!(v.rule, Rule::Overlap { .. }), "{v}");
        let text = v.to_string();
        assert!(
            text.starts_with("op 2 (malloc(100)): block #0 at 0x"),
            "{text}"
        );
        assert!(text.contains("overlaps block #2 at 0x"), "{text}");
    }

    #[test]
    fn misalignment_is_caught_at_the_first_malloc() {
        let mut c = contract(Defect::Misalign);
        let v = c.malloc(1).unwrap_err();
        assert_eq!(v.op, 0);
        assert!(matches!(v.rule, Rule::Misaligned { align: 16, .. }), "{v}");
    }

    #[test]
    fn a_block_outside_the_process_memory_is_caught_before_it_is_written() {
        let mut c = contract(Defect::OutsideHeap);
        let v = c.malloc(64).unwrap_err();
        assert!(matches!(v.rule, Rule::OutsideMemory { .. }), "{v}");
        assert!(
            v.to_string()
                .ends_with("(64 bytes) is not inside read-write memory of the process"),
            "{v}"
        );
    }

    #[test]
    fn a_refusal_that_changes_the_kernel_is_caught() {
        let mut c = contract(Defect::BadFreeGrowsHeap);
        let b = c.malloc(100).unwrap().unwrap();
        let v = c.free(b.ptr + 16).unwrap_err();
        assert_eq!(
            v.to_string(),
            format!(
                "op 1 (free({:#x})): the refused call changed the kernel's memory figures",
                b.ptr + 16
            )
        );
    }

    #[test]
    fn an_accepted_double_free_is_caught() {
        let mut c = contract(Defect::BadFreeAccepted);
        let b = c.malloc(100).unwrap().unwrap();
        c.malloc(100).unwrap();
        c.free(b.ptr).unwrap();
        let v = c.free(b.ptr).unwrap_err();
        assert_eq!(v.rule, Rule::NotRefused { error: None });
    }

    #[test]
    fn statistics_that_disagree_with_the_map_are_caught() {
        let mut c = contract(Defect::Accounting);
        let v = c.malloc(100).unwrap_err();
        assert!(v.to_string().contains("statistics: allocated is"), "{v}");
    }

    #[test]
    fn the_sound_allocator_passes() {
        let mut c = Contract::new(
            FreeList::preset("first-fit").unwrap(),
            Kernel::new(KernelConfig::default()),
        );
        let a = c.malloc(100).unwrap().unwrap();
        let b = c.malloc(5000).unwrap().unwrap();
        c.realloc(a.ptr, 300).unwrap();
        c.free(b.ptr).unwrap();
        c.free(b.ptr).unwrap(); // refused, and nothing changed
        c.free(0).unwrap(); // refused, and nothing changed
        c.trim(0).unwrap();
        c.free_all().unwrap();
        assert_eq!(c.live().count(), 0);
        assert_eq!(c.calls(), 8);
    }
}
