//! The allocator contract, checked call by call.
//!
//! The [`Allocator`] trait states a contract in a few words: pointers aligned, live
//! blocks disjoint, memory only from the kernel, a bad pointer refused without harm.
//! [`Contract`] makes every word of it checkable. It owns an allocator and the kernel
//! it runs on, plays the program (it makes the calls, remembers what it holds, and
//! writes the bytes it asked for), and after every call checks the rules below. The
//! first broken rule is returned as a [`Violation`] that names the call by its number,
//! the block by its number and address, and the rule ([`Rule`]). Every family's
//! property tests run through it, and so can a grader of students' allocators or a
//! fuzzer: the calls are plain methods, and [`Op`] is a program of calls that refers
//! to blocks by index, not address, so one program runs against any allocator.
//!
//! # The rules, after every call
//! 1. **Alignment.** Every live block's pointer is a multiple of the alignment asked
//!    for ([`Contract::align`], 16 by default: what x86-64 `malloc` guarantees).
//! 2. **Inside the kernel's memory.** Every byte of every live block (one byte for a
//!    `malloc(0)`) lies in read-write VMAs of the process, and writing it (when the
//!    contract writes blocks) does not fault.
//! 3. **No overlap.** No two live blocks share a byte.
//! 4. **The heap map is a map.** [`Allocator::blocks`] lists non-empty blocks in
//!    address order, none overlapping the next, each inside a VMA.
//! 5. **The map shows the live blocks.** Each live block lies inside a `Used` block of
//!    the map, no two live blocks share one, and no `Used` block is without one. A
//!    block may reach past its map block by the overhang the allocator's layout
//!    allows ([`Contract::overhang`], 0 by default; glibc lends the last 8 bytes of a
//!    chunk's payload to the next chunk's `prev_size` field, which that chunk uses only
//!    while this one is free).
//! 6. **The statistics agree with the map** ([`HeapStats`]): `footprint` is the sum of
//!    the map's blocks and is what the kernel has mapped for the process (less what was
//!    mapped before the contract started); `arena + hblkhd <= footprint`; `allocated`
//!    is at least the `Used` bytes and at most the `Used` plus `Meta` bytes (padding an
//!    allocator keeps may count as handed out); `fordblks` is at least the `Free` and
//!    `Top` bytes and at most those plus the `Cached` ones (a cache may or may not call
//!    its blocks free); `keepcost` is at most the `Top` bytes; `largest_free` is at most
//!    the largest `Free`, `Top` or `Cached` block.
//!
//! # Calls that must succeed, and calls that must be refused
//! `free` and `realloc` of a live block must succeed (`realloc` may also answer
//! [`AllocError::OutOfMemory`] and keep the block, or, for size 0, free it and return
//! NULL as glibc does). `malloc` may answer `OutOfMemory`; any other error is a
//! violation. `free` or `realloc` of any other pointer must return
//! [`AllocError::InvalidPointer`] and **change nothing**; NULL may instead be a no-op
//! (`free(NULL)`) or a `malloc` (`realloc(NULL, n)`, which for `n = 0` may also
//! return NULL), as in C.
//!
//! "Changes nothing" means, precisely: the allocator's [`Allocator::stats`],
//! [`Allocator::blocks`] and [`Allocator::describe`] are the same before and after;
//! the kernel's memory figures ([`kernel::MemStats`]: mapped, resident and page-table
//! bytes, VMA count, break), its VMAs and the free frames are the same; its event
//! counters are the same except TLB hits and misses; and its cost ledger is the same
//! except the `User` and `Tlb` categories. So a refusal may cost time (the lookup that
//! found the pointer bad, glibc's call overhead) and may read the allocator's own
//! metadata, but it makes no syscall, takes no fault and changes no memory.
//!
//! The contract's kernel must serve this allocator alone: the checks count every
//! mapping made after [`Contract::new`] as the allocator's. After a violation the
//! state is whatever the allocator left; stop there.

use crate::api::{AllocError, Allocator, Block, BlockKind, HeapStats};
use kernel::{
    Access, Addr, CostCategory, Counters, Fault, Kernel, Ledger, MemStats, Prot, VmaInfo,
};
use std::collections::BTreeMap;
use std::fmt;

/// A block the program holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// Its number: how many blocks were handed out before it (a realloc keeps it).
    pub id: u64,
    /// The pointer the allocator returned.
    pub ptr: Addr,
    /// The bytes asked for.
    pub size: u64,
}

impl Live {
    /// One past the last byte it covers (a `malloc(0)` block covers one byte).
    pub fn end(&self) -> Addr {
        self.ptr.saturating_add(self.size.max(1))
    }
}

impl fmt::Display for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block #{} at {:#x} ({} bytes)",
            self.id, self.ptr, self.size
        )
    }
}

/// A call the contract made, as messages name it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `malloc(size)`, or `malloc_hinted(size, lifetime)`.
    Malloc {
        /// The bytes asked for.
        size: u64,
        /// The lifetime hint, if any.
        lifetime: Option<u8>,
    },
    /// `free(ptr)`.
    Free {
        /// The pointer.
        ptr: Addr,
    },
    /// `realloc(ptr, size)`.
    Realloc {
        /// The pointer.
        ptr: Addr,
        /// The new size.
        size: u64,
    },
    /// `malloc_trim(pad)`.
    Trim {
        /// The pad.
        pad: u64,
    },
    /// The program writing every byte of a live block.
    Write {
        /// The block's pointer.
        ptr: Addr,
    },
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Call::Malloc {
                size,
                lifetime: None,
            } => write!(f, "malloc({size})"),
            Call::Malloc {
                size,
                lifetime: Some(l),
            } => write!(f, "malloc({size}) with lifetime hint {l}"),
            Call::Free { ptr } => write!(f, "free({ptr:#x})"),
            Call::Realloc { ptr, size } => write!(f, "realloc({ptr:#x}, {size})"),
            Call::Trim { pad } => write!(f, "malloc_trim({pad})"),
            Call::Write { ptr } => write!(f, "write of the block at {ptr:#x}"),
        }
    }
}

/// Which rule a call broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A call that must succeed failed (or `malloc` failed other than out of memory).
    Failed {
        /// The error.
        error: AllocError,
    },
    /// `realloc` of a live block to a non-zero size returned NULL without an error.
    NullWithoutError,
    /// A live block is not aligned.
    Misaligned {
        /// The block.
        block: Live,
        /// The alignment expected.
        align: u64,
    },
    /// A live block is not inside read-write memory of the process.
    OutsideMemory {
        /// The block.
        block: Live,
    },
    /// Writing a live block faulted.
    WriteFaulted {
        /// The block.
        block: Live,
        /// The fault.
        fault: Fault,
    },
    /// Two live blocks overlap.
    Overlap {
        /// The lower one.
        first: Live,
        /// The one that starts inside it.
        second: Live,
    },
    /// The heap map is out of order, has overlapping or empty blocks, or a block outside
    /// every VMA.
    BadMap {
        /// The block at fault.
        block: Block,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A live block is not inside a used block of the map.
    NotInMap {
        /// The block.
        block: Live,
    },
    /// Two live blocks lie in one used block of the map.
    SharedUsedBlock {
        /// One of them.
        first: Live,
        /// The other.
        second: Live,
    },
    /// The map shows a used block no live block is in.
    UsedButNotLive {
        /// The map's block.
        block: Block,
    },
    /// A statistic disagrees with the heap map or the kernel.
    Accounting {
        /// What disagrees, in words.
        detail: String,
    },
    /// `free` or `realloc` of a pointer that is not live did not return
    /// `InvalidPointer` (`None`: it succeeded).
    NotRefused {
        /// What it returned instead.
        error: Option<AllocError>,
    },
    /// `free` or `realloc` of a pointer that is not live was refused but changed
    /// something.
    RefusalChanged {
        /// What changed.
        what: &'static str,
    },
}

fn map_block(b: &Block) -> String {
    format!(
        "{:?} block [{:#x}, {:#x})",
        b.kind,
        b.addr,
        b.addr.saturating_add(b.size)
    )
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Failed { error } => write!(f, "the call failed: {error}"),
            Rule::NullWithoutError => f.write_str("returned NULL without an error"),
            Rule::Misaligned { block, align } => {
                write!(f, "{block} is not {align}-byte aligned")
            }
            Rule::OutsideMemory { block } => {
                write!(f, "{block} is not inside read-write memory of the process")
            }
            Rule::WriteFaulted { block, fault } => {
                write!(f, "writing {block} faulted: {fault}")
            }
            Rule::Overlap { first, second } => write!(f, "{first} overlaps {second}"),
            Rule::BadMap { block, problem } => {
                write!(f, "heap map: {} {problem}", map_block(block))
            }
            Rule::NotInMap { block } => {
                write!(f, "{block} is not inside a used block of the heap map")
            }
            Rule::SharedUsedBlock { first, second } => write!(
                f,
                "{first} and {second} lie in one used block of the heap map"
            ),
            Rule::UsedButNotLive { block } => {
                write!(f, "heap map: {} holds no live block", map_block(block))
            }
            Rule::Accounting { detail } => write!(f, "statistics: {detail}"),
            Rule::NotRefused { error: None } => {
                f.write_str("the pointer is not a live block, yet the call succeeded")
            }
            Rule::NotRefused { error: Some(e) } => write!(
                f,
                "the pointer is not a live block: expected an invalid-pointer error, got: {e}"
            ),
            Rule::RefusalChanged { what } => {
                write!(f, "the refused call changed the {what}")
            }
        }
    }
}

/// A broken rule: which call, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The call's number: how many calls the contract made before it.
    pub op: u64,
    /// The call.
    pub call: Call,
    /// The rule it broke.
    pub rule: Rule,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} ({}): {}", self.op, self.call, self.rule)
    }
}

impl std::error::Error for Violation {}

/// What a `realloc` did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resized {
    /// The block (in place or moved; for `realloc(NULL, n)`, a new one).
    To(Live),
    /// Out of memory: the old block is still live, unchanged.
    OutOfMemory,
    /// `realloc(p, 0)` freed the block and returned NULL (or `realloc(NULL, 0)`
    /// returned NULL).
    Freed,
    /// The pointer was not live and the call was refused.
    Refused,
}

/// A pointer that is not live, made from the program's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bad {
    /// A live block's pointer plus `delta` (inside or past it).
    After {
        /// Which live block (an index, modulo the number live).
        pick: usize,
        /// The offset.
        delta: u64,
    },
    /// A live block's pointer minus `delta`.
    Before {
        /// Which live block.
        pick: usize,
        /// The offset.
        delta: u64,
    },
    /// A pointer freed earlier (a double free, unless it was handed out again).
    Freed {
        /// Which of the recently freed pointers.
        pick: usize,
    },
    /// Any value.
    Raw(Addr),
}

/// One step of a program, referring to blocks by index so that it runs against any
/// allocator (what property tests and fuzzers generate). A step that needs a live
/// block when there is none does nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `malloc(size)`, with a lifetime hint when given.
    Malloc {
        /// The bytes.
        size: u64,
        /// The hint.
        lifetime: Option<u8>,
    },
    /// Frees a live block (an index modulo the number live, in allocation order).
    Free {
        /// Which.
        pick: usize,
    },
    /// Reallocs a live block.
    Realloc {
        /// Which.
        pick: usize,
        /// The new size.
        size: u64,
    },
    /// Writes every byte of a live block.
    Write {
        /// Which.
        pick: usize,
    },
    /// `malloc_trim(pad)`.
    Trim {
        /// The pad.
        pad: u64,
    },
    /// `free` of a pointer that is not live (skipped if the pointer is live after all).
    FreeBad(Bad),
    /// `realloc` of a pointer that is not live.
    ReallocBad(Bad, u64),
}

/// Everything "changes nothing" compares (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    stats: HeapStats,
    blocks: Vec<Block>,
    describe: Option<String>,
    mem: MemStats,
    vmas: Vec<VmaInfo>,
    free_frames: u64,
    counters: Counters,
    ledger: Ledger,
}

/// How many freed pointers are kept as candidates for double frees.
const FREED_KEPT: usize = 64;

/// An allocator on its kernel, with the program's view of it; see the
/// [module documentation](self).
pub struct Contract<A: Allocator> {
    allocator: A,
    kernel: Kernel,
    align: u64,
    overhang: u64,
    write: bool,
    /// Live blocks by pointer.
    live: BTreeMap<Addr, Live>,
    /// Live pointers in allocation order (realloc keeps the place), for picks.
    order: Vec<Addr>,
    /// Recently freed pointers.
    freed: Vec<Addr>,
    next_id: u64,
    calls: u64,
    /// Bytes the kernel had mapped before the contract began.
    mapped_before: u64,
}

impl<A: Allocator> Contract<A> {
    /// The contract for `allocator` on `kernel`, expecting 16-byte alignment and
    /// writing every block the program gets.
    pub fn new(allocator: A, kernel: Kernel) -> Contract<A> {
        let mapped_before = kernel.mem().mapped;
        Contract {
            allocator,
            kernel,
            align: 16,
            overhang: 0,
            write: true,
            live: BTreeMap::new(),
            order: Vec::new(),
            freed: Vec::new(),
            next_id: 0,
            calls: 0,
            mapped_before,
        }
    }

    /// Expects pointers aligned to `align` bytes (a power of two).
    pub fn align(mut self, align: u64) -> Contract<A> {
        self.align = align.max(1);
        self
    }

    /// Lets a live block reach up to `bytes` past the end of its used block in the heap
    /// map (rule 5): 8 for glibc's chunks.
    pub fn overhang(mut self, bytes: u64) -> Contract<A> {
        self.overhang = bytes;
        self
    }

    /// Whether the program writes every byte it gets (default yes, as a real program
    /// that uses its memory does; the kernel then sees the faults).
    pub fn write_blocks(mut self, on: bool) -> Contract<A> {
        self.write = on;
        self
    }

    /// The allocator.
    pub fn allocator(&self) -> &A {
        &self.allocator
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The allocator and the kernel, ending the contract.
    pub fn into_parts(self) -> (A, Kernel) {
        (self.allocator, self.kernel)
    }

    /// Calls made so far (the number the next one gets).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The live blocks, in address order.
    pub fn live(&self) -> impl Iterator<Item = Live> + '_ {
        self.live.values().copied()
    }

    /// The live block at `ptr`, if it is one.
    pub fn live_at(&self, ptr: Addr) -> Option<Live> {
        self.live.get(&ptr).copied()
    }

    /// The live block number `pick` modulo the number live, in allocation order.
    pub fn pick(&self, pick: usize) -> Option<Live> {
        if self.order.is_empty() {
            return None;
        }
        self.live_at(self.order[pick % self.order.len()])
    }

    fn violation(&self, call: Call, rule: Rule) -> Violation {
        Violation {
            op: self.calls,
            call,
            rule,
        }
    }

    /// Ends a call: the checks, then the count.
    fn end(&mut self, call: Call) -> Result<(), Violation> {
        let r = self.check_as(call);
        self.calls += 1;
        r
    }

    /// Records a new live block and writes it.
    fn add(
        &mut self,
        call: Call,
        ptr: Addr,
        size: u64,
        id: Option<u64>,
    ) -> Result<Live, Violation> {
        let id = id.unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id - 1
        });
        let block = Live { id, ptr, size };
        if let Some(old) = self.live.insert(ptr, block) {
            // The allocator handed out a live block again.
            return Err(self.violation(
                call,
                Rule::Overlap {
                    first: old,
                    second: block,
                },
            ));
        }
        self.freed.retain(|&p| p != ptr);
        if self.write {
            self.write_range(call, block, 0)?;
        }
        Ok(block)
    }

    /// Writes `[ptr + from, end)` of a live block, as the program would; a block
    /// outside read-write memory is reported as such and not written.
    fn write_range(&mut self, call: Call, block: Live, from: u64) -> Result<(), Violation> {
        if block.size <= from {
            return Ok(());
        }
        if !covered(&self.kernel.vmas(), block.ptr, block.end(), true) {
            return Err(self.violation(call, Rule::OutsideMemory { block }));
        }
        self.kernel
            .touch(block.ptr + from, block.size - from, Access::Write)
            .map_err(|fault| self.violation(call, Rule::WriteFaulted { block, fault }))
    }

    fn remove(&mut self, ptr: Addr) {
        if self.live.remove(&ptr).is_some() {
            self.order.retain(|&p| p != ptr);
            self.freed.push(ptr);
            if self.freed.len() > FREED_KEPT {
                self.freed.remove(0);
            }
        }
    }

    /// `malloc(size)`: the block, or `None` when the allocator is out of memory.
    pub fn malloc(&mut self, size: u64) -> Result<Option<Live>, Violation> {
        self.malloc_with(size, None)
    }

    /// `malloc_hinted(size, lifetime)`.
    pub fn malloc_hinted(&mut self, size: u64, lifetime: u8) -> Result<Option<Live>, Violation> {
        self.malloc_with(size, Some(lifetime))
    }

    fn malloc_with(&mut self, size: u64, lifetime: Option<u8>) -> Result<Option<Live>, Violation> {
        let call = Call::Malloc { size, lifetime };
        let r = match lifetime {
            Some(l) => self.allocator.malloc_hinted(&mut self.kernel, size, l),
            None => self.allocator.malloc(&mut self.kernel, size),
        };
        let block = match r {
            Ok(ptr) => {
                let b = self.add(call, ptr, size, None)?;
                self.order.push(ptr);
                Some(b)
            }
            Err(AllocError::OutOfMemory { .. }) => None,
            Err(error) => return Err(self.violation(call, Rule::Failed { error })),
        };
        self.end(call)?;
        Ok(block)
    }

    /// `free(ptr)`: of a live block it must succeed; of anything else it must be
    /// refused and change nothing (`free(NULL)` may also be a no-op).
    pub fn free(&mut self, ptr: Addr) -> Result<(), Violation> {
        let call = Call::Free { ptr };
        if self.live.contains_key(&ptr) {
            if let Err(error) = self.allocator.free(&mut self.kernel, ptr) {
                return Err(self.violation(call, Rule::Failed { error }));
            }
            self.remove(ptr);
        } else {
            let before = self.snapshot();
            let r = self.allocator.free(&mut self.kernel, ptr);
            match r {
                Err(AllocError::InvalidPointer { ptr: p }) if p == ptr => {}
                Ok(()) if ptr == 0 => {}
                Ok(()) => return Err(self.violation(call, Rule::NotRefused { error: None })),
                Err(e) => {
                    return Err(self.violation(call, Rule::NotRefused { error: Some(e) }));
                }
            }
            self.unchanged(call, &before)?;
        }
        self.end(call)
    }

    /// `realloc(ptr, size)`; see [`Resized`] for the outcomes the contract accepts.
    pub fn realloc(&mut self, ptr: Addr, size: u64) -> Result<Resized, Violation> {
        let call = Call::Realloc { ptr, size };
        let Some(old) = self.live_at(ptr) else {
            return self.realloc_not_live(call, ptr, size);
        };
        let outcome = match self.allocator.realloc(&mut self.kernel, ptr, size) {
            Ok(0) if size == 0 => {
                self.remove(ptr);
                Resized::Freed
            }
            Ok(0) => return Err(self.violation(call, Rule::NullWithoutError)),
            Ok(q) => {
                let place = self.order.iter().position(|&p| p == ptr);
                self.live.remove(&ptr);
                let moved = q != ptr;
                let block = if moved {
                    let write = std::mem::replace(&mut self.write, false);
                    let b = self.add(call, q, size, Some(old.id));
                    self.write = write;
                    self.freed.push(ptr);
                    b?
                } else {
                    let b = Live { size, ..old };
                    self.live.insert(ptr, b);
                    b
                };
                if let Some(i) = place {
                    self.order[i] = q;
                }
                if self.write {
                    // The copy kept the old bytes; the program writes the new ones.
                    self.write_range(call, block, old.size)?;
                }
                Resized::To(block)
            }
            Err(AllocError::OutOfMemory { .. }) => Resized::OutOfMemory,
            Err(error) => return Err(self.violation(call, Rule::Failed { error })),
        };
        self.end(call)?;
        Ok(outcome)
    }

    fn realloc_not_live(&mut self, call: Call, ptr: Addr, size: u64) -> Result<Resized, Violation> {
        let before = self.snapshot();
        let outcome = match self.allocator.realloc(&mut self.kernel, ptr, size) {
            Err(AllocError::InvalidPointer { ptr: p }) if p == ptr => {
                self.unchanged(call, &before)?;
                Resized::Refused
            }
            // realloc(NULL, 0) may answer NULL.
            Ok(0) if ptr == 0 && size == 0 => Resized::Freed,
            // realloc(NULL, n) is malloc(n).
            Ok(q) if ptr == 0 && q != 0 => {
                let b = self.add(call, q, size, None)?;
                self.order.push(q);
                Resized::To(b)
            }
            Err(AllocError::OutOfMemory { .. }) if ptr == 0 => Resized::OutOfMemory,
            Ok(_) => return Err(self.violation(call, Rule::NotRefused { error: None })),
            Err(e) => return Err(self.violation(call, Rule::NotRefused { error: Some(e) })),
        };
        self.end(call)?;
        Ok(outcome)
    }

    /// `malloc_trim(pad)`: true when memory went back.
    pub fn trim(&mut self, pad: u64) -> Result<bool, Violation> {
        let call = Call::Trim { pad };
        let released = self
            .allocator
            .trim(&mut self.kernel, pad)
            .map_err(|error| self.violation(call, Rule::Failed { error }))?;
        self.end(call)?;
        Ok(released)
    }

    /// The program writes every byte of the live block at `ptr` (nothing when `ptr`
    /// is not live).
    pub fn write(&mut self, ptr: Addr) -> Result<(), Violation> {
        let call = Call::Write { ptr };
        if let Some(block) = self.live_at(ptr) {
            self.write_range(call, block, 0)?;
        }
        self.end(call)
    }

    /// Frees every live block, in allocation order, checking after each.
    pub fn free_all(&mut self) -> Result<(), Violation> {
        for ptr in self.order.clone() {
            self.free(ptr)?;
        }
        Ok(())
    }

    /// Runs one step of a program.
    pub fn step(&mut self, op: &Op) -> Result<(), Violation> {
        let picked = |c: &Contract<A>, pick: usize| c.pick(pick).map(|b| b.ptr);
        match *op {
            Op::Malloc { size, lifetime } => {
                self.malloc_with(size, lifetime)?;
            }
            Op::Free { pick } => {
                if let Some(p) = picked(self, pick) {
                    self.free(p)?;
                }
            }
            Op::Realloc { pick, size } => {
                if let Some(p) = picked(self, pick) {
                    self.realloc(p, size)?;
                }
            }
            Op::Write { pick } => {
                if let Some(p) = picked(self, pick) {
                    self.write(p)?;
                }
            }
            Op::Trim { pad } => {
                self.trim(pad)?;
            }
            Op::FreeBad(bad) => {
                if let Some(p) = self.bad_pointer(bad) {
                    self.free(p)?;
                }
            }
            Op::ReallocBad(bad, size) => {
                if let Some(p) = self.bad_pointer(bad) {
                    self.realloc(p, size)?;
                }
            }
        }
        Ok(())
    }

    /// Runs a program, step by step.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), Violation> {
        ops.iter().try_for_each(|op| self.step(op))
    }

    /// The pointer `bad` stands for, unless it is live (or cannot be made).
    fn bad_pointer(&self, bad: Bad) -> Option<Addr> {
        let p = match bad {
            Bad::After { pick, delta } => self.pick(pick)?.ptr.wrapping_add(delta),
            Bad::Before { pick, delta } => self.pick(pick)?.ptr.wrapping_sub(delta),
            Bad::Freed { pick } => *self.freed.get(pick % self.freed.len().max(1))?,
            Bad::Raw(p) => p,
        };
        (!self.live.contains_key(&p)).then_some(p)
    }

    fn snapshot(&self) -> Snapshot {
        let mut blocks = Vec::new();
        self.allocator.blocks(&mut blocks);
        let mut counters = self.kernel.counters().clone();
        counters.tlb_hits = 0;
        counters.tlb_misses = 0;
        let mut ledger = self.kernel.ledger().clone();
        ledger.ns[CostCategory::User as usize] = 0.0;
        ledger.ns[CostCategory::Tlb as usize] = 0.0;
        Snapshot {
            stats: self.allocator.stats(),
            blocks,
            describe: self.allocator.describe(),
            mem: self.kernel.mem(),
            vmas: self.kernel.vmas(),
            free_frames: self.kernel.phys().free_frames,
            counters,
            ledger,
        }
    }

    /// Checks a refused call against the state before it.
    fn unchanged(&self, call: Call, before: &Snapshot) -> Result<(), Violation> {
        let after = self.snapshot();
        let what = if after.stats != before.stats {
            "allocator's statistics"
        } else if after.blocks != before.blocks {
            "heap map"
        } else if after.describe != before.describe {
            "allocator's description"
        } else if after.mem != before.mem || after.free_frames != before.free_frames {
            "kernel's memory figures"
        } else if after.vmas != before.vmas {
            "VMAs"
        } else if after.counters != before.counters {
            "kernel's event counters"
        } else if after.ledger != before.ledger {
            "kernel's cost ledger"
        } else {
            return Ok(());
        };
        Err(self.violation(call, Rule::RefusalChanged { what }))
    }

    /// Checks every rule after `call` (rules 1 to 6 of the module documentation).
    fn check_as(&self, call: Call) -> Result<(), Violation> {
        let fail = |rule| Err(self.violation(call, rule));
        let vmas = self.kernel.vmas();
        // 1-3: the live blocks.
        let mut prev: Option<Live> = None;
        for &b in self.live.values() {
            if !b.ptr.is_multiple_of(self.align) {
                return fail(Rule::Misaligned {
                    block: b,
                    align: self.align,
                });
            }
            if !covered(&vmas, b.ptr, b.end(), true) {
                return fail(Rule::OutsideMemory { block: b });
            }
            if let Some(p) = prev
                && p.end() > b.ptr
            {
                return fail(Rule::Overlap {
                    first: p,
                    second: b,
                });
            }
            prev = Some(b);
        }
        // 4: the heap map.
        let mut map = Vec::new();
        self.allocator.blocks(&mut map);
        let mut end = 0;
        for b in &map {
            let problem = if b.size == 0 {
                "is empty"
            } else if b.addr < end {
                "overlaps the block before it or is out of order"
            } else if !covered(&vmas, b.addr, b.addr.saturating_add(b.size), false) {
                "is not mapped"
            } else {
                ""
            };
            if !problem.is_empty() {
                return fail(Rule::BadMap { block: *b, problem });
            }
            end = b.addr.saturating_add(b.size);
        }
        // 5: live blocks <-> used blocks.
        let mut holder: BTreeMap<Addr, Live> = BTreeMap::new();
        for &b in self.live.values() {
            let i = map.partition_point(|m| m.addr <= b.ptr);
            let used = i.checked_sub(1).map(|i| map[i]).filter(|m| {
                m.kind == BlockKind::Used
                    && b.end() <= m.addr.saturating_add(m.size).saturating_add(self.overhang)
            });
            let Some(used) = used else {
                return fail(Rule::NotInMap { block: b });
            };
            if let Some(first) = holder.insert(used.addr, b) {
                return fail(Rule::SharedUsedBlock { first, second: b });
            }
        }
        if let Some(b) = map
            .iter()
            .find(|m| m.kind == BlockKind::Used && !holder.contains_key(&m.addr))
        {
            return fail(Rule::UsedButNotLive { block: *b });
        }
        // 6: the statistics.
        if let Some(detail) = self.accounting(&map) {
            return fail(Rule::Accounting { detail });
        }
        Ok(())
    }

    /// What is wrong with the statistics, if anything (rule 6).
    fn accounting(&self, map: &[Block]) -> Option<String> {
        let s = self.allocator.stats();
        // Saturating sums: a broken allocator's absurd map must not crash the checker.
        let sum = |kinds: &[BlockKind]| -> u64 {
            map.iter()
                .filter(|b| kinds.contains(&b.kind))
                .fold(0u64, |n, b| n.saturating_add(b.size))
        };
        use BlockKind::{Cached, Free, Meta, Top, Used};
        let total = map.iter().fold(0u64, |n, b| n.saturating_add(b.size));
        let mapped = self.kernel.mem().mapped.saturating_sub(self.mapped_before);
        let (used, meta) = (sum(&[Used]), sum(&[Meta]));
        let (free, cached, top) = (sum(&[Free, Top]), sum(&[Cached]), sum(&[Top]));
        let largest = map
            .iter()
            .filter(|b| matches!(b.kind, Free | Top | Cached))
            .map(|b| b.size)
            .max()
            .unwrap_or(0);
        let problem = if s.footprint != total {
            format!(
                "footprint is {} bytes, the heap map's blocks {total}",
                s.footprint
            )
        } else if s.footprint != mapped {
            format!(
                "footprint is {} bytes, the kernel has mapped {mapped} for the allocator",
                s.footprint
            )
        } else if s.arena.saturating_add(s.hblkhd) > s.footprint {
            format!(
                "arena {} + hblkhd {} exceed the footprint {}",
                s.arena, s.hblkhd, s.footprint
            )
        } else if s.allocated < used || s.allocated > used.saturating_add(meta) {
            format!(
                "allocated is {} bytes, the map's used blocks {used} (and meta {meta})",
                s.allocated
            )
        } else if s.fordblks < free || s.fordblks > free.saturating_add(cached) {
            format!(
                "fordblks is {} bytes, the map's free and top blocks {free} (and cached {cached})",
                s.fordblks
            )
        } else if s.keepcost > top {
            format!("keepcost is {} bytes, the map's top {top}", s.keepcost)
        } else if s.largest_free > largest {
            format!(
                "largest_free is {} bytes, the map's largest free block {largest}",
                s.largest_free
            )
        } else {
            return None;
        };
        Some(problem)
    }
}

/// True when every byte of `[start, end)` lies in `vmas` (sorted), read-write ones if
/// `rw`.
fn covered(vmas: &[VmaInfo], start: Addr, end: Addr, rw: bool) -> bool {
    let mut at = start;
    let i = vmas.partition_point(|v| v.end <= at);
    for v in &vmas[i..] {
        if v.start > at || (rw && !v.prot.contains(Prot::RW)) {
            return false;
        }
        at = v.end;
        if at >= end {
            return true;
        }
    }
    false
}

impl<A: Allocator> fmt::Debug for Contract<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("allocator", &self.allocator.name())
            .field("calls", &self.calls)
            .field("live", &self.live.len())
            .finish()
    }
}
