//! The classroom allocator: the one you edit.
//!
//! This crate is a malloc lab in the spirit of CS:APP's: you write `malloc`, `free`
//! and `realloc` for a heap you grow with `sbrk`, keeping your headers, footers and
//! free-list links *in the heap itself*, and a grader replays traces through your code
//! and scores it. Unlike C, a bug cannot crash the grader: the memory is the simulated
//! kernel's, so a header written over someone's data is reported with the call, the
//! block and the address.
//!
//! # Brief overview
//! - [`mm`] — **your code**: the struct [`Mm`] and its `malloc`, `free`, `realloc`,
//!   [`Mm::check_heap`] (your heap checker) and [`Mm::walk`] (your heap map). It starts
//!   as a working, wasteful implicit free list; its module documentation draws the
//!   heap layout and lists what you must keep.
//! - [`Mem`] — how your code reads and writes simulated memory and grows the heap;
//!   every access costs simulated time.
//! - [`Heap`] — the read-only, cost-free view `check_heap` and `walk` get.
//! - [`Student`] — the frame around your code that the rest of brkmap sees: it
//!   implements `malloc::Allocator`, registered as `student` (so `sim --allocator
//!   student` and `sim grade --allocator student` run it), turns your heap map into the
//!   statistics every chart reads, and offers your checker to the grader. You should
//!   not need to change it.
//!
//! # Where your code goes
//! Only in `src/mm.rs`. Change the layout, add an explicit free list, segregated lists,
//! a better `realloc`; keep `check_heap` and `walk` in step with your layout. The
//! `Mm` struct may hold a few scalars (the global variables of a C `mm.c`: a list head,
//! a rover), never a collection: every fact about a block lives in simulated memory.
//!
//! # What the contract promises, and who checks it
//! The `malloc::Allocator` trait states the contract in a few words and
//! `malloc::contract` checks every one of them after every call: pointers 16-byte
//! aligned, blocks inside memory you got from the kernel, no two live blocks
//! overlapping, a bad pointer refused without changing anything, a heap map that
//! matches the program's blocks. `sim grade` turns on its contents checks too: the
//! grader fills every block with a pattern and checks it when the block is freed or
//! reallocated, checks that `realloc` keeps the old bytes, and watches every byte
//! your allocator writes: one written inside another live block's payload is reported
//! at the call that wrote it. The first broken rule gives that trace a score of 0 and
//! a message such as `trace binary-bal, op 117 (malloc(448)): the allocator wrote 8
//! bytes at 0x555555560ff8, inside the payload of live block #41 ...`.
//!
//! # How `check_heap` works
//! Like 15-213's `mm_checkheap`, [`Mm::check_heap`] walks your heap and returns
//! `Err(message)` at the first thing that is wrong (a header that disagrees with its
//! footer, two free neighbours that were not coalesced, a block past the epilogue, a
//! free-list link that points outside the heap...). The grader calls it after every
//! call of every trace, through [`Student::check_heap`], with a [`Heap`] that reads
//! memory without faults or cost, so checking is free in simulated time: be strict.
//! A failure is reported as `check_heap: <your message>` with the trace and op.
//!
//! # Running it
//! ```text
//! cargo run -p sim -- --workload churn -a glibc,first-fit,student   # compare
//! cargo run -p sim -- --trace crates/workload/traces/textbook.trace -a student -v
//! cargo run -p sim -- grade --allocator student                     # your score
//! cargo test -p student                                             # the contract
//! ```

pub mod heap;
pub mod mem;
pub mod mm;

pub use heap::Heap;
pub use mem::Mem;
pub use mm::Mm;

use kernel::{Addr, Kernel, PAGE_SIZE};
use malloc::options::{Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The options of `student` (`--tunable chunk_size=64K`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentConfig {
    /// Bytes the heap grows by at least when no free block fits (whole pages).
    pub chunk_size: u64,
}

impl Default for StudentConfig {
    fn default() -> Self {
        StudentConfig {
            chunk_size: PAGE_SIZE,
        }
    }
}

impl Options for StudentConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[Spec::new(
            "chunk_size",
            Kind::Size {
                min: PAGE_SIZE,
                max: 1 << 30,
                off: &[],
            },
            "bytes the heap grows by at least when no free block fits",
        )],
    };

    fn check(&self) -> Result<(), OptionError> {
        if !self.chunk_size.is_multiple_of(PAGE_SIZE) {
            return Err(OptionError::invalid("chunk_size", "must be whole pages"));
        }
        Ok(())
    }
}

/// Your allocator as the rest of brkmap sees it: [`Mm`] in a frame that implements
/// [`Allocator`]. After every call it reads your heap map ([`Mm::walk`], free of cost)
/// and derives the statistics from it, so what the charts and the grader see is what
/// is in your heap.
#[derive(Clone, Debug)]
pub struct Student {
    mm: Mm,
    /// The heap map after the last call.
    map: Vec<Block>,
    /// The statistics after the last call.
    stats: HeapStats,
}

impl Student {
    /// A student allocator with `config`.
    pub fn new(config: StudentConfig) -> Result<Student, OptionError> {
        config.validate()?;
        Ok(Student {
            mm: Mm::new(config.chunk_size),
            map: Vec::new(),
            stats: HeapStats::default(),
        })
    }

    /// The code you write.
    pub fn mm(&self) -> &Mm {
        &self.mm
    }

    /// Runs your heap checker on the heap in `kernel` (what the grader calls after
    /// every call).
    pub fn check_heap(&self, kernel: &Kernel) -> Result<(), String> {
        match self.mm.heap_lo() {
            Some(lo) => self.mm.check_heap(&Heap::new(kernel, lo)),
            None => Ok(()),
        }
    }

    /// Reads the heap map and the statistics after a call.
    fn refresh(&mut self, kernel: &Kernel) {
        self.map.clear();
        let Some(lo) = self.mm.heap_lo() else {
            self.stats = HeapStats::default();
            return;
        };
        self.mm.walk(&Heap::new(kernel, lo), &mut self.map);
        let sum = |kinds: &[BlockKind]| -> u64 {
            self.map
                .iter()
                .filter(|b| kinds.contains(&b.kind))
                .map(|b| b.size)
                .sum()
        };
        let heap = kernel.program_break() - lo;
        let allocated = sum(&[BlockKind::Used]);
        let top = sum(&[BlockKind::Top]);
        self.stats = HeapStats {
            arena: heap,
            uordblks: allocated,
            fordblks: sum(&[BlockKind::Free, BlockKind::Top]),
            keepcost: top,
            allocated,
            footprint: heap,
            largest_free: self
                .map
                .iter()
                .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Top))
                .map(|b| b.size)
                .max()
                .unwrap_or(0),
            ..HeapStats::default()
        };
    }

    /// Runs one call of your code with a [`Mem`], then refreshes the map.
    fn call<T>(
        &mut self,
        kernel: &mut Kernel,
        f: impl FnOnce(&mut Mm, &mut Mem) -> Result<T, AllocError>,
    ) -> Result<T, AllocError> {
        let r = f(&mut self.mm, &mut Mem::new(kernel));
        self.refresh(kernel);
        r
    }
}

impl Allocator for Student {
    fn name(&self) -> &str {
        "student"
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.call(kernel, |mm, m| mm.malloc(m, size))
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.call(kernel, |mm, m| mm.free(m, ptr))
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.call(kernel, |mm, m| mm.realloc(m, ptr, size))
    }

    fn stats(&self) -> HeapStats {
        self.stats
    }

    /// The free blocks in the textbook free lists' format (`-v`), addresses as
    /// offsets from the heap's start.
    fn describe(&self) -> Option<String> {
        let base = self.mm.heap_lo()?;
        let free: Vec<&Block> = self
            .map
            .iter()
            .filter(|b| b.kind == BlockKind::Free)
            .collect();
        let mut s = format!("Free List [ Size {} ]:", free.len());
        for b in free {
            let _ = write!(s, " [ addr:{} sz:{} ]", b.addr - base, b.size);
        }
        Some(s)
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        out.extend_from_slice(&self.map);
    }
}

impl Configurable for Student {
    type Config = StudentConfig;

    fn from_config(config: StudentConfig) -> Result<Student, OptionError> {
        Student::new(config)
    }
}
