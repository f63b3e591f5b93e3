//! The contract's contents rules (7 to 10): the program's bytes survive, `realloc`
//! keeps them, the allocator keeps its hands off live blocks, and its own heap checker
//! agrees. Each rule is shown to catch a planted defect with its message, and every
//! family of the crate keeps the rules on random programs.

mod strategies;

use kernel::{Addr, Advice, Kernel, KernelConfig, PAGE_SIZE};
use malloc::contract::{Contract, Rule};
use malloc::freelist::FreeList;
use malloc::glibc::Glibc;
use malloc::segregated::{Segregated, SegregatedConfig};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// What is wrong with a [`Tagged`] allocator.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Defect {
    None,
    /// `realloc` moves the block without copying its bytes.
    ReallocForgets,
    /// Every malloc after the first also writes a "footer" 8 bytes into the payload of
    /// the block before it.
    FooterOnNeighbour,
    /// A refused free clears the header word it looked at.
    RefusalScribbles,
    /// `check_heap` finds fault with any heap of three blocks or more.
    PickyChecker,
}

/// A bump allocator that keeps a 16-byte header in simulated memory before every
/// block (its size and a magic word), as C allocators do: the smallest allocator that
/// writes bytes. Its map lives on the side, for the tools.
struct Tagged {
    defect: Defect,
    start: Option<Addr>,
    top: Addr,
    /// Block start (header) -> (bytes, used).
    map: BTreeMap<Addr, (u64, bool)>,
    last: Option<Addr>,
}

const MAGIC: u64 = 0xA110_C8ED;
const ARENA: u64 = 64 << 20;

impl Tagged {
    fn new(defect: Defect) -> Tagged {
        Tagged {
            defect,
            start: None,
            top: 0,
            map: BTreeMap::new(),
            last: None,
        }
    }

    fn used(&self, ptr: Addr) -> Option<u64> {
        match self.map.get(&ptr.wrapping_sub(16)) {
            Some(&(span, true)) => Some(span),
            _ => None,
        }
    }

    fn check(&self, k: &Kernel) -> Result<(), String> {
        let used = self.map.values().filter(|b| b.1).count();
        if self.defect == Defect::PickyChecker && used >= 3 {
            return Err(format!("{used} blocks is too many"));
        }
        for (&at, &(span, u)) in &self.map {
            if u && k.peek_u64(at + 8) != Ok(MAGIC) {
                return Err(format!("block at {at:#x} lost its magic word"));
            }
            if u && k.peek_u64(at) != Ok(span) {
                return Err(format!(
                    "block at {at:#x}: header says {:?}",
                    k.peek_u64(at)
                ));
            }
        }
        Ok(())
    }
}

impl Allocator for Tagged {
    fn name(&self) -> &str {
        "tagged"
    }

    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let oom = AllocError::OutOfMemory { size };
        let span = size
            .max(1)
            .checked_next_multiple_of(16)
            .and_then(|s| s.checked_add(16))
            .ok_or(oom.clone())?;
        let start = match self.start {
            Some(s) => s,
            None => {
                let s = k.program_break();
                k.brk(s + ARENA);
                if k.program_break() != s + ARENA {
                    return Err(oom);
                }
                self.start = Some(s);
                self.top = s;
                s
            }
        };
        if span > start + ARENA - self.top {
            return Err(oom);
        }
        let at = self.top;
        self.top += span;
        k.write_u64(at, span)?;
        k.write_u64(at + 8, MAGIC)?;
        if self.defect == Defect::FooterOnNeighbour
            && let Some(prev) = self.last
        {
            let (pspan, _) = self.map[&prev];
            // The footer of the previous block, 8 bytes too early.
            k.write_u64(prev + pspan - 16, pspan)?;
        }
        self.map.insert(at, (span, true));
        self.last = Some(at);
        Ok(at + 16)
    }

    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        let Some(span) = self.used(ptr) else {
            if self.defect == Defect::RefusalScribbles && self.start.is_some_and(|s| ptr > s) {
                let _ = k.write_u64(ptr.wrapping_sub(16) & !7, 0);
            }
            return Err(AllocError::InvalidPointer { ptr });
        };
        k.write_u64(ptr - 8, 0)?; // the magic word goes: free
        self.map.insert(ptr - 16, (span, false));
        Ok(())
    }

    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let span = self.used(ptr).ok_or(AllocError::InvalidPointer { ptr })?;
        let new = self.malloc(k, size)?;
        if self.defect != Defect::ReallocForgets {
            k.copy(new, ptr, (span - 16).min(size))?;
        }
        self.free(k, ptr)?;
        Ok(new)
    }

    fn stats(&self) -> HeapStats {
        let footprint = if self.start.is_some() { ARENA } else { 0 };
        let allocated: u64 = self.map.values().filter(|b| b.1).map(|b| b.0).sum();
        let dead: u64 = self.map.values().filter(|b| !b.1).map(|b| b.0).sum();
        HeapStats {
            arena: footprint,
            uordblks: allocated,
            fordblks: footprint - allocated,
            keepcost: footprint - allocated - dead,
            allocated,
            footprint,
            largest_free: footprint - allocated - dead,
            ..HeapStats::default()
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let Some(start) = self.start else {
            return;
        };
        for (&addr, &(size, used)) in &self.map {
            let kind = if used {
                BlockKind::Used
            } else {
                BlockKind::Free
            };
            out.push(Block {
                addr,
                size,
                kind,
                mapped: false,
            });
        }
        out.push(Block {
            addr: self.top,
            size: start + ARENA - self.top,
            kind: BlockKind::Top,
            mapped: false,
        });
    }
}

fn tagged(defect: Defect) -> Contract<Tagged> {
    Contract::new(Tagged::new(defect), Kernel::new(KernelConfig::default()))
        .check_contents(true)
        .heap_check(Tagged::check)
}

#[test]
fn an_allocator_that_keeps_bytes_passes_and_its_accesses_are_counted() {
    let mut c = tagged(Defect::None);
    let a = c.malloc(100).unwrap().unwrap();
    let b = c.malloc(5000).unwrap().unwrap();
    assert!(c.keeps_bytes(), "it wrote its headers");
    let io = c.allocator_io();
    assert_eq!(
        (io.writes, io.lines_written),
        (4, 4),
        "two words per header"
    );
    c.realloc(a.ptr, 3000).unwrap();
    let io = c.allocator_io();
    assert_eq!(
        io.bytes_read, 112,
        "the copy read the old block's usable bytes"
    );
    c.free(b.ptr).unwrap();
    c.free(b.ptr).unwrap(); // refused, nothing written
    c.free_all().unwrap();
}

#[test]
fn realloc_that_loses_the_data_is_caught() {
    let mut c = tagged(Defect::ReallocForgets);
    let a = c.malloc(40).unwrap().unwrap();
    let v = c.realloc(a.ptr, 80).unwrap_err();
    assert!(matches!(v.rule, Rule::ReallocLost { offset: 0, .. }), "{v}");
    let text = v.to_string();
    let new = a.ptr + 48 + 16;
    assert!(
        text.starts_with(&format!(
            "op 1 (realloc({:#x}, 80)): realloc did not keep the contents of block #0 (40 bytes at {:#x}, now 80 bytes at {new:#x}): byte 0 (at {new:#x}) is 0x00, was 0x",
            a.ptr, a.ptr
        )),
        "{text}"
    );
}

#[test]
fn a_footer_written_over_a_neighbour_is_caught_where_it_is_written() {
    let mut c = tagged(Defect::FooterOnNeighbour);
    let a = c.malloc(24).unwrap().unwrap();
    let v = c.malloc(24).unwrap_err();
    assert_eq!(
        v.to_string(),
        format!(
            "op 1 (malloc(24)): the allocator wrote 8 bytes at {:#x}, inside the payload of live block #0 at {:#x} (24 bytes) (offset 16)",
            a.ptr + 16,
            a.ptr
        )
    );
}

#[test]
fn a_refusal_that_writes_is_caught() {
    let mut c = tagged(Defect::RefusalScribbles);
    let a = c.malloc(64).unwrap().unwrap();
    let v = c.free(a.ptr + 32).unwrap_err();
    assert_eq!(
        v.rule,
        Rule::RefusalWrote {
            addr: a.ptr + 16,
            len: 8
        }
    );
}

#[test]
fn the_allocators_own_checker_runs_after_every_call() {
    let mut c = tagged(Defect::PickyChecker);
    c.malloc(1).unwrap();
    c.malloc(1).unwrap();
    let v = c.malloc(1).unwrap_err();
    assert_eq!(
        v.to_string(),
        "op 2 (malloc(1)): check_heap: 3 blocks is too many"
    );
}

/// A first-fit free list that, on every free, gives back the page of the lowest live
/// block with `MADV_DONTNEED` (a trim gone wrong): the bytes of that block are gone.
struct Trimmer(FreeList, Vec<Addr>);

impl Allocator for Trimmer {
    fn name(&self) -> &str {
        "trimmer"
    }
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let p = self.0.malloc(k, size)?;
        self.1.push(p);
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.0.free(k, ptr)?;
        self.1.retain(|&p| p != ptr);
        if let Some(&low) = self.1.iter().min() {
            let page = low & !(PAGE_SIZE - 1);
            k.madvise(page, PAGE_SIZE, Advice::DontNeed)
                .map_err(AllocError::Syscall)?;
        }
        Ok(())
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.0.realloc(k, ptr, size)
    }
    fn stats(&self) -> HeapStats {
        self.0.stats()
    }
    fn blocks(&self, out: &mut Vec<Block>) {
        self.0.blocks(out)
    }
}

#[test]
fn memory_given_back_under_a_live_block_is_caught_when_the_block_is_freed() {
    let inner = FreeList::preset("first-fit").unwrap();
    let mut c = Contract::new(
        Trimmer(inner, Vec::new()),
        Kernel::new(KernelConfig::default()),
    )
    .check_contents(true);
    let a = c.malloc(100).unwrap().unwrap();
    let b = c.malloc(100).unwrap().unwrap();
    c.free(b.ptr).unwrap(); // drops a's page
    let v = c.free(a.ptr).unwrap_err();
    assert!(
        matches!(
            v.rule,
            Rule::Corrupted {
                offset: 0,
                found: 0,
                ..
            }
        ),
        "{v}"
    );
    assert!(
        v.to_string().starts_with(&format!(
            "op 3 (free({:#x})): block #0 at {:#x} (100 bytes) lost its contents: byte 0 (at {:#x}) is 0x00, the program wrote 0x",
            a.ptr, a.ptr, a.ptr
        )),
        "{v}"
    );
    assert!(!c.keeps_bytes(), "a model allocator");
}

#[test]
fn a_model_allocator_gets_its_realloc_copy_made_and_charged() {
    let mut c = Contract::new(
        FreeList::preset("first-fit").unwrap(),
        Kernel::new(KernelConfig::default()),
    )
    .check_contents(true);
    let a = c.malloc(1000).unwrap().unwrap();
    c.malloc(10).unwrap();
    let moved = match c.realloc(a.ptr, 5000).unwrap() {
        malloc::contract::Resized::To(b) => b,
        r => panic!("{r:?}"),
    };
    assert_ne!(moved.ptr, a.ptr);
    let io = c.allocator_io();
    assert_eq!((io.bytes_read, io.bytes_written), (1000, 1000));
    assert!(io.lines_read >= 16 && io.lines_written >= 16);
    c.free_all().unwrap();
}

fn run_family<A: Allocator>(a: A, ops: &[malloc::contract::Op]) -> Result<(), TestCaseError> {
    let mut c = Contract::new(a, Kernel::new(KernelConfig::default())).check_contents(true);
    c.run(ops).map_err(strategies::fail)?;
    c.free_all().map_err(strategies::fail)?;
    prop_assert!(!c.keeps_bytes());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(strategies::cases()))]

    /// The allocator that keeps bytes keeps every rule on random programs.
    #[test]
    fn the_tagged_allocator_keeps_the_contents_rules(
        ops in strategies::program(strategies::heap_sizes(), false, 120),
    ) {
        let mut c = tagged(Defect::None);
        c.run(&ops).map_err(strategies::fail)?;
        c.free_all().map_err(strategies::fail)?;
    }

    /// The families that keep no bytes keep rules 7 and 9 (no memory given back
    /// under a live block, nothing written) on random programs.
    #[test]
    fn every_family_keeps_the_contents_rules(
        ops in strategies::program(strategies::heap_sizes(), false, 120),
    ) {
        let g = Glibc::new();
        let mut c = Contract::new(g, Kernel::new(KernelConfig::default()))
            .overhang(8)
            .check_contents(true);
        c.run(&ops).map_err(strategies::fail)?;
        c.free_all().map_err(strategies::fail)?;
        for preset in ["first-fit", "best-fit", "next-fit"] {
            run_family(FreeList::preset(preset).unwrap(), &ops)?;
        }
        run_family(Segregated::new(SegregatedConfig::default()).unwrap(), &ops)?;
    }
}
