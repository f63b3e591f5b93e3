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
//! 6. **The statistics agree with the map** ([`HeapStats`](crate::HeapStats)):
//!    `footprint` is the sum of the map's blocks and is what the kernel has mapped for
//!    the process (less what was mapped before the contract started); `arena + hblkhd <= footprint`; `allocated`
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
//! counters are the same except TLB hits and misses (second-level hits included); and
//! its cost ledger is the same except the `User` and `Tlb` categories. So a refusal may
//! cost time (the lookup that found the pointer bad, glibc's call overhead) and may read
//! the allocator's own metadata, but it makes no syscall, takes no fault and changes no
//! memory.
//!
//! # With contents, and a heap checker of the allocator's own
//! [`Contract::check_contents`] makes the program write a pattern into every block and
//! adds three rules, checked through the kernel's byte-storing mode (the `contents`
//! module says how an allocator that keeps no bytes is treated):
//! 7. **Contents intact.** A block holds what the program wrote when it is freed or
//!    reallocated ([`Rule::Corrupted`]).
//! 8. **`realloc` keeps the contents.** The first `min(old, new)` bytes of the
//!    resized block are the old ones ([`Rule::ReallocLost`]).
//! 9. **Hands off live blocks.** During a call the allocator writes no byte inside the
//!    payload of a block that was live before the call, except the block the call
//!    frees or resizes ([`Rule::WroteIntoBlock`]); a refused call writes nothing
//!    ([`Rule::RefusalWrote`]).
//!
//!
//! An allocator that keeps its metadata in Rust structures (the glibc model, the
//! textbook free lists) writes nothing through the byte interface; it tells the kernel
//! about its accesses with `touch`, which moves no bytes, and so it only *models* the
//! copy of a `realloc`. The contract tells the two kinds apart by what the allocator did
//! ([`Contract::keeps_bytes`]: it has written a byte through the interface during one
//! of its calls). For an allocator that keeps no bytes it makes the copy itself,
//! counted as the allocator's accesses ([`Contract::allocator_io`]), and rule 8 cannot
//! be checked; rules 7 and 9 still catch memory given back under a live block.
//!
//! [`Contract::heap_check`] adds the allocator's own consistency check (15-213's
//! `mm_checkheap`), run after every call, after rule 3 and before the rules that read
//! the heap map (its message says best what is wrong): 10. **The heap checker agrees**
//! ([`Rule::HeapCheck`]). A program that ends with [`Contract::free_all`] also checks
//! that every block can be freed and that nothing is left handed out: after the last
//! free, rules 5 and 6 leave no used block in the map and no more `allocated` than the
//! allocator's own metadata.
//!
//! This file holds the program's side (the calls, the live blocks); `check.rs` the
//! rules and the before-and-after comparison; `contents.rs` the contents checks;
//! `violation.rs` what is reported.
//!
//! The contract's kernel must serve this allocator alone: the checks count every
//! mapping made after [`Contract::new`] as the allocator's. After a violation the
//! state is whatever the allocator left; stop there.

mod check;
mod contents;
mod violation;

pub use contents::pattern;
pub use violation::{Call, Rule, Violation};

use crate::api::{AllocError, Allocator};
use check::covered;
use kernel::{Access, Addr, ByteStats, Kernel};
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

/// How many freed pointers are kept as candidates for double frees.
const FREED_KEPT: usize = 64;

/// An allocator's own heap checker (15-213's `mm_checkheap`): reads the heap (with
/// [`Kernel::peek`], which costs nothing) and says what is wrong, if anything.
pub type HeapCheck<A> = fn(&A, &Kernel) -> Result<(), String>;

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
    /// Rules 7 to 9: the program writes patterns and checks them.
    contents: bool,
    /// Rule 10: the allocator's own checker.
    heap_check: Option<HeapCheck<A>>,
    /// The allocator has written through the byte interface.
    keeps_bytes: bool,
    /// The kernel's byte figures before the current allocator call.
    io_before: ByteStats,
    /// The allocator's byte accesses (and the copies made for it).
    allocator_io: ByteStats,
    /// The rules are checked (else the contract only plays the program).
    checked: bool,
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
            contents: false,
            heap_check: None,
            keeps_bytes: false,
            io_before: ByteStats::default(),
            allocator_io: ByteStats::default(),
            checked: true,
        }
    }

    /// Whether the rules are checked after every call (default yes). Off, the contract
    /// only plays the program: the same calls, the same writes, the same copies, so the
    /// kernel sees exactly what it sees with the checks, which only read (a grader's
    /// reference run, whose correctness its own tests establish, runs so).
    pub fn check_rules(mut self, on: bool) -> Contract<A> {
        self.checked = on;
        self
    }

    /// Turns the contents checks on (rules 7 to 9 of the [module documentation](self)):
    /// the program writes a [`pattern`] into every block through the kernel's byte
    /// interface (which this turns on, with the kernel's write log) instead of
    /// touching it, and checks it at every `free` and `realloc`.
    pub fn check_contents(mut self, on: bool) -> Contract<A> {
        self.contents = on;
        self.write |= on;
        self.kernel.log_writes(on);
        self
    }

    /// Runs `check` on the allocator and the kernel after every call (rule 10).
    pub fn heap_check(mut self, check: HeapCheck<A>) -> Contract<A> {
        self.heap_check = Some(check);
        self
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
    /// that uses its memory does; the kernel then sees the faults). The contents checks
    /// always write.
    pub fn write_blocks(mut self, on: bool) -> Contract<A> {
        self.write = on || self.contents;
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
        let r = if self.checked {
            self.check_as(call)
        } else {
            Ok(())
        };
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
        if let Some(&old) = self.live.get(&ptr) {
            // The allocator handed out a live block again.
            return Err(self.violation(
                call,
                Rule::HandedOutTwice {
                    live: old,
                    again: block,
                },
            ));
        }
        self.live.insert(ptr, block);
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
        let r = if self.contents {
            let bytes = contents::pattern_range(block.id, from, block.size);
            self.kernel.write(block.ptr + from, &bytes)
        } else {
            self.kernel
                .touch(block.ptr + from, block.size - from, Access::Write)
        };
        r.map_err(|fault| self.violation(call, Rule::WriteFaulted { block, fault }))
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

    /// `malloc(size)` of a block the program names `id` (a trace's block id) instead
    /// of numbering it: violations name the block by that id.
    pub fn malloc_as(&mut self, size: u64, id: u64) -> Result<Option<Live>, Violation> {
        self.malloc_inner(size, None, Some(id))
    }

    fn malloc_with(&mut self, size: u64, lifetime: Option<u8>) -> Result<Option<Live>, Violation> {
        self.malloc_inner(size, lifetime, None)
    }

    fn malloc_inner(
        &mut self,
        size: u64,
        lifetime: Option<u8>,
        id: Option<u64>,
    ) -> Result<Option<Live>, Violation> {
        let call = Call::Malloc { size, lifetime };
        self.begin_io();
        let r = match lifetime {
            Some(l) => self.allocator.malloc_hinted(&mut self.kernel, size, l),
            None => self.allocator.malloc(&mut self.kernel, size),
        };
        let writes = self.end_io();
        self.check_writes(call, &writes, None)?;
        let block = match r {
            Ok(ptr) => {
                let b = self.add(call, ptr, size, id)?;
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
        if let Some(block) = self.live_at(ptr) {
            self.verify(call, block)?;
            self.begin_io();
            let r = self.allocator.free(&mut self.kernel, ptr);
            let writes = self.end_io();
            if let Err(error) = r {
                return Err(self.violation(call, Rule::Failed { error }));
            }
            self.check_writes(call, &writes, Some(ptr))?;
            self.remove(ptr);
        } else {
            let before = self.snapshot();
            self.begin_io();
            let r = self.allocator.free(&mut self.kernel, ptr);
            let writes = self.end_io();
            self.check_no_writes(call, &writes)?;
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
        self.verify(call, old)?;
        self.begin_io();
        let r = self.allocator.realloc(&mut self.kernel, ptr, size);
        let writes = self.end_io();
        let own = match r {
            Err(AllocError::OutOfMemory { .. }) => None,
            _ => Some(ptr),
        };
        self.check_writes(call, &writes, own)?;
        let outcome = match r {
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
                self.check_kept(call, old, block)?;
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
        self.begin_io();
        let r = self.allocator.realloc(&mut self.kernel, ptr, size);
        let writes = self.end_io();
        let outcome = match r {
            Err(AllocError::InvalidPointer { ptr: p }) if p == ptr => {
                self.check_no_writes(call, &writes)?;
                self.unchanged(call, &before)?;
                Resized::Refused
            }
            // realloc(NULL, 0) may answer NULL.
            Ok(0) if ptr == 0 && size == 0 => Resized::Freed,
            // realloc(NULL, n) is malloc(n).
            Ok(q) if ptr == 0 && q != 0 => {
                self.check_writes(call, &writes, None)?;
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
        self.begin_io();
        let r = self.allocator.trim(&mut self.kernel, pad);
        let writes = self.end_io();
        let released = r.map_err(|error| self.violation(call, Rule::Failed { error }))?;
        self.check_writes(call, &writes, None)?;
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
