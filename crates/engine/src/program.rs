//! The simulated program: the one place where an op meets an allocator.
//!
//! A C program that uses `malloc` does three things with every request: it calls the
//! allocator, it keeps the pointer it got (here: a map from block id to pointer), and it
//! uses the memory (here: writes every byte of it, unless the workload says otherwise).
//! [`execute`] does exactly that for one op, and every driver in the workspace goes
//! through it: [`crate::run`] for ordinary runs and replays, [`Program`] for drivers
//! that step a workload themselves (the book's experiments that look inside an
//! allocator between ops, a classroom step-through), and [`crate::run_system`] for
//! several programs taking turns on one kernel. So a refused `free`, a fault while
//! writing a fresh block or an allocator that rejects its own pointer mean the same
//! thing everywhere.
//!
//! What a program on Linux + glibc sees decides each case:
//! - `malloc` returns NULL (the allocator is out of memory, or a syscall it needs failed
//!   with `ENOMEM`): the program stops there ([`Stepped::OutOfMemory`]).
//! - A write to a fresh block faults for lack of a frame, or a SIGSEGV: the program dies
//!   there ([`Stepped::OutOfMemory`], [`Stepped::Segv`]). The block exists all the same:
//!   the allocator handed it out, so it is recorded as live, and the program's accounts
//!   keep matching the allocator's.
//! - `free` whose `munmap` the kernel refuses (at `vm.max_map_count`, unmapping from the
//!   middle of a VMA needs one VMA more): C's `free` returns nothing, and glibc's
//!   `munmap_chunk` ignores munmap's result and leaves the mapping hanging, so the
//!   program goes on and the memory leaks ([`Stepped::FreeRefused`]).
//! - An op that names a block the program does not hold, or an allocator that rejects
//!   a pointer it handed out, is a broken workload or allocator: an error
//!   ([`RunError`]), not an outcome.

use crate::run::RunError;
use crate::summary::Outcome;
use kernel::{Access, Addr, Errno, Fault, Kernel};
use malloc::{AllocError, Allocator};
use std::collections::BTreeMap;
use workload::{AllocCall, BlockId, Op, TouchPolicy, Workload};

/// What one op did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// The op ran; `ptr` is what a malloc or realloc returned.
    Ran {
        /// Index of the op in the stream.
        index: usize,
        /// The pointer a malloc or realloc returned.
        ptr: Option<Addr>,
    },
    /// Every op has run.
    Finished,
    /// The op could not get memory (malloc returned NULL, or a page fault found no free
    /// frame): the program would die here. The op is not retried.
    OutOfMemory {
        /// Index of the op.
        index: usize,
        /// What failed.
        detail: String,
    },
    /// `free` could not give the block back: the kernel refused the `munmap`. The
    /// program goes on without the block; the memory stays mapped (it leaks).
    FreeRefused {
        /// Index of the op.
        index: usize,
        /// What the kernel said.
        detail: String,
    },
    /// An access faulted: a simulated SIGSEGV.
    Segv {
        /// Index of the op.
        index: usize,
        /// The fault.
        detail: String,
    },
}

impl Stepped {
    /// True when the program cannot go on after this step (it died, or it is done).
    pub fn ends(&self) -> bool {
        !matches!(self, Stepped::Ran { .. } | Stepped::FreeRefused { .. })
    }

    /// How the program ended, when this step killed it (out of memory, SIGSEGV).
    pub fn death(self) -> Option<Outcome> {
        match self {
            Stepped::OutOfMemory { index, detail } => Some(Outcome::OutOfMemory {
                op: index as u64,
                detail,
            }),
            Stepped::Segv { index, detail } => Some(Outcome::Segv {
                op: index as u64,
                detail,
            }),
            Stepped::Ran { .. } | Stepped::FreeRefused { .. } | Stepped::Finished => None,
        }
    }
}

/// A block the program holds: where the allocator put it and how big it asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The pointer malloc or realloc returned.
    pub ptr: Addr,
    /// The requested size.
    pub size: u64,
}

/// The program's side of the memory: the blocks it holds, by id, and their bytes.
///
/// This is all a C program knows about its heap: the pointers in its variables. The
/// allocator's own view (chunks, bins, mappings) is in the allocator.
///
/// Every op looks a block up by id, so this is on the simulator's hot path. Ids are
/// usually small and dense (a trace numbers its blocks from 0; generators count up), so
/// the blocks live in a table indexed by id: a lookup is one bounds check and two loads
/// (the page, then the slot), with no hashing and no tree walk. An id far beyond the
/// ids seen so far (more than twice the table's length plus [`Blocks::DENSE_SLACK`])
/// goes to an ordered map instead, so a stream that names a block `10^15` does not
/// make the table huge; when the table later grows over such ids they move into it.
///
/// The table is a vector of pages of [`Blocks::PAGE`] ids, not one vector of slots:
/// growing it adds pages and moves nothing. A single vector would copy itself into a
/// larger allocation as it grows, and the host's malloc keeps the freed copies, 16 MiB
/// and less, in its heap, resident, beside the 32 MiB a run of 10^6 live blocks
/// needs.
///
/// The table costs 8 bytes per id below its length, live or not, and a generator that
/// numbers every malloc afresh leaves most of them dead (a churn around 10^6 live
/// blocks over 8 * 10^6 calls uses 4 * 10^6 ids), so a slot is one packed word
/// (`Slot`): the pointer and the size of a [`Held`] take 16 bytes, but a pointer
/// malloc returns is 16-byte aligned and below 2^48 (44 significant bits) and almost
/// every request is below 1 MiB (20 bits). A block that does not fit (a larger
/// request, an allocator returning an odd pointer) keeps its slot marked and its
/// [`Held`] in the ordered map, beside the far ids: rare, and a tree lookup instead of
/// a load when it happens.
#[derive(Clone, Default)]
pub struct Blocks {
    /// The slots of ids below `pages.len() * PAGE`, packed (see [`Slot`]).
    pages: Vec<Box<[Slot; Blocks::PAGE]>>,
    /// Ids at or above the table's length, and the blocks below it that do not pack.
    sparse: BTreeMap<BlockId, Held>,
    /// Blocks held.
    count: usize,
    live: u64,
}

/// One id's slot in [`Blocks`]' table, a [`Held`] in 8 bytes: bits 0-43 are the
/// pointer divided by 16, bits 44-63 the size plus one. The size field 0 marks an id
/// not held (the whole word is 0), and its largest value ([`Slot::SPILLED`]) an id
/// whose block is in the ordered map.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Slot(u64);

impl Slot {
    /// Bits of the pointer field (the pointer's bits 4-47).
    const PTR_BITS: u32 = 44;
    const PTR_MASK: u64 = (1 << Self::PTR_BITS) - 1;
    /// The size field's value for a block kept in the ordered map.
    const SPILLED_CODE: u64 = u64::MAX >> Self::PTR_BITS;
    /// An id not held.
    const EMPTY: Slot = Slot(0);
    /// An id whose block is in the ordered map.
    const SPILLED: Slot = Slot(Self::SPILLED_CODE << Self::PTR_BITS);

    /// `held` packed, when it fits: a 16-byte aligned pointer below 2^48 and a size
    /// below 2^20 - 2.
    #[inline]
    fn pack(held: Held) -> Option<Slot> {
        let code = held.size.wrapping_add(1);
        let fits = held.ptr & 15 == 0
            && held.ptr >> (Self::PTR_BITS + 4) == 0
            && code != 0
            && code < Self::SPILLED_CODE;
        fits.then_some(Slot(held.ptr >> 4 | code << Self::PTR_BITS))
    }

    /// The size field: 0 not held, [`Slot::SPILLED_CODE`] in the map, else size + 1.
    #[inline]
    fn code(self) -> u64 {
        self.0 >> Self::PTR_BITS
    }

    /// The block of a packed slot (neither empty nor spilled).
    #[inline]
    fn unpack(self) -> Held {
        Held {
            ptr: (self.0 & Self::PTR_MASK) << 4,
            size: self.code() - 1,
        }
    }
}

impl Blocks {
    /// How far past twice the table's length an id may be and still grow the table.
    pub const DENSE_SLACK: u64 = 1 << 16;

    /// Ids per page of the table (8 KiB of slots): small enough that a short trace
    /// pays little to clear its first page (a 64 KiB page was 40% of the instructions
    /// of a 21-op trace), large enough that 10^6 live blocks need only some thousands
    /// of page pointers.
    pub const PAGE: usize = 1 << Self::PAGE_BITS;
    const PAGE_BITS: u32 = 10;

    /// Requested bytes of the blocks held.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the program holds no block.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The table's length: ids below it have a slot.
    #[inline]
    fn covered(&self) -> u64 {
        (self.pages.len() as u64) << Self::PAGE_BITS
    }

    /// The slot of `id`, below [`Blocks::covered`].
    #[inline]
    fn slot_mut(&mut self, id: BlockId) -> &mut Slot {
        &mut self.pages[(id >> Self::PAGE_BITS) as usize][id as usize & (Self::PAGE - 1)]
    }

    /// The block named `id`, if the program holds it.
    #[inline]
    pub fn get(&self, id: BlockId) -> Option<Held> {
        if let Some(page) = self.pages.get((id >> Self::PAGE_BITS) as usize) {
            let slot = page[id as usize & (Self::PAGE - 1)];
            match slot.code() {
                0 => None,
                Slot::SPILLED_CODE => self.sparse.get(&id).copied(),
                _ => Some(slot.unpack()),
            }
        } else {
            self.sparse.get(&id).copied()
        }
    }

    /// Every block held, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (BlockId, Held)> + '_ {
        let dense = self
            .pages
            .iter()
            .flat_map(|page| page.iter())
            .enumerate()
            .filter_map(move |(id, &slot)| {
                let id = id as BlockId;
                match slot.code() {
                    0 => None,
                    Slot::SPILLED_CODE => self.sparse.get(&id).map(|&h| (id, h)),
                    _ => Some((id, slot.unpack())),
                }
            });
        let far = self.sparse.range(self.covered()..);
        dense.chain(far.map(|(&id, &h)| (id, h)))
    }

    #[inline]
    fn insert(&mut self, id: BlockId, held: Held) {
        // The common case inline: a block that packs, into a slot the table has, not
        // replacing a spilled block.
        if let Some(packed) = Slot::pack(held)
            && let Some(page) = self.pages.get_mut((id >> Self::PAGE_BITS) as usize)
        {
            let slot = &mut page[id as usize & (Self::PAGE - 1)];
            match slot.code() {
                0 => self.count += 1,
                Slot::SPILLED_CODE => return self.insert_slow(id, held),
                _ => self.live -= slot.unpack().size,
            }
            *slot = packed;
            self.live += held.size;
            return;
        }
        self.insert_slow(id, held);
    }

    /// [`Blocks::insert`] in every case: growing the table, the map, spilled blocks.
    #[inline(never)]
    fn insert_slow(&mut self, id: BlockId, held: Held) {
        let len = self.covered();
        if id >= len && id < len.saturating_mul(2).saturating_add(Self::DENSE_SLACK) {
            self.grow_to(id);
        }
        let old = if id < self.covered() {
            let slot = *self.slot_mut(id);
            let old = match slot.code() {
                0 => None,
                Slot::SPILLED_CODE => self.sparse.remove(&id),
                _ => Some(slot.unpack()),
            };
            *self.slot_mut(id) = match Slot::pack(held) {
                Some(packed) => packed,
                None => {
                    self.sparse.insert(id, held);
                    Slot::SPILLED
                }
            };
            old
        } else {
            self.sparse.insert(id, held)
        };
        match old {
            Some(old) => self.live -= old.size,
            None => self.count += 1,
        }
        self.live += held.size;
    }

    /// Adds pages to the table until it covers `id`, moving the ids they cover out of
    /// the map (those whose block does not pack stay, marked).
    #[cold]
    fn grow_to(&mut self, id: BlockId) {
        let old_len = self.covered();
        while self.covered() <= id {
            let page = vec![Slot::EMPTY; Self::PAGE].into_boxed_slice();
            self.pages
                .push(page.try_into().expect("a page is PAGE slots long"));
        }
        let mut moving = self.sparse.split_off(&old_len);
        let mut above = moving.split_off(&self.covered());
        for (id, h) in moving {
            let slot = match Slot::pack(h) {
                Some(packed) => packed,
                None => {
                    self.sparse.insert(id, h);
                    Slot::SPILLED
                }
            };
            *self.slot_mut(id) = slot;
        }
        self.sparse.append(&mut above);
    }

    #[inline]
    fn remove(&mut self, id: BlockId) -> Option<Held> {
        // The common case inline: a packed block, or none.
        if let Some(page) = self.pages.get_mut((id >> Self::PAGE_BITS) as usize) {
            let slot = &mut page[id as usize & (Self::PAGE - 1)];
            match slot.code() {
                0 => return None,
                Slot::SPILLED_CODE => {}
                _ => {
                    let h = slot.unpack();
                    *slot = Slot::EMPTY;
                    self.count -= 1;
                    self.live -= h.size;
                    return Some(h);
                }
            }
        }
        self.remove_slow(id)
    }

    /// [`Blocks::remove`] of a block in the map (spilled or far).
    #[inline(never)]
    fn remove_slow(&mut self, id: BlockId) -> Option<Held> {
        let h = self.sparse.remove(&id)?;
        if id < self.covered() {
            *self.slot_mut(id) = Slot::EMPTY;
        }
        self.count -= 1;
        self.live -= h.size;
        Some(h)
    }
}

impl PartialEq for Blocks {
    /// The same blocks held, whatever the layout.
    fn eq(&self, other: &Blocks) -> bool {
        self.count == other.count && self.live == other.live && self.iter().eq(other.iter())
    }
}

impl Eq for Blocks {}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Executes op `index` of `workload` (which is `op`): calls the allocator, keeps the
/// pointer in `blocks`, and writes the bytes the workload's touch policy asks for.
pub fn execute(
    index: usize,
    op: &Op,
    workload: &Workload,
    blocks: &mut Blocks,
    kernel: &mut Kernel,
    allocator: &mut dyn Allocator,
) -> Result<Stepped, RunError> {
    let write_all = workload.touch == TouchPolicy::WriteAll;
    let broken = |e: AllocError, allocator: &dyn Allocator| RunError::Allocator {
        op: index as u64,
        allocator: allocator.name().to_string(),
        detail: e.to_string(),
    };
    let ptr = match *op {
        Op::Malloc { id, size } => {
            if blocks.get(id).is_some() {
                return Err(RunError::DuplicateBlock {
                    op: index as u64,
                    id,
                });
            }
            // The call the program made: a trace recorded from a real program says
            // which blocks came from calloc or an aligned function.
            let got = match (workload.calls.get(&id), workload.lifetimes.get(&id)) {
                (Some(&AllocCall::Calloc { count, size }), _) => {
                    allocator.calloc(kernel, count, size)
                }
                (Some(&AllocCall::Aligned { align, .. }), _) => {
                    allocator.memalign(kernel, align, size)
                }
                (None, Some(&class)) => allocator.malloc_hinted(kernel, size, class),
                (None, None) => allocator.malloc(kernel, size),
            };
            let ptr = match got {
                Ok(p) => p,
                Err(e) => return stopped(index, e).map_err(|e| broken(e, allocator)),
            };
            blocks.insert(id, Held { ptr, size });
            if write_all {
                // The stores cost time of their own, beyond the faults they cause.
                kernel.charge_writes(size);
                if let Err(f) = kernel.touch(ptr, size, Access::Write) {
                    return Ok(fault(index, f));
                }
            }
            Some(ptr)
        }
        Op::Free { id } => {
            let Some(held) = blocks.remove(id) else {
                return Err(RunError::UnknownBlock {
                    op: index as u64,
                    id,
                });
            };
            match allocator.free(kernel, held.ptr) {
                Ok(()) => None,
                Err(AllocError::Syscall(Errno::ENOMEM)) => {
                    return Ok(Stepped::FreeRefused {
                        index,
                        detail: "munmap refused with ENOMEM".to_string(),
                    });
                }
                Err(e) => return stopped(index, e).map_err(|e| broken(e, allocator)),
            }
        }
        Op::Realloc { id, size } => {
            let Some(old) = blocks.get(id) else {
                return Err(RunError::UnknownBlock {
                    op: index as u64,
                    id,
                });
            };
            let ptr = match allocator.realloc(kernel, old.ptr, size) {
                Ok(p) => p,
                Err(e) => return stopped(index, e).map_err(|e| broken(e, allocator)),
            };
            blocks.insert(id, Held { ptr, size });
            // realloc copied the old bytes; the program writes the ones it gained.
            if write_all && size > old.size {
                kernel.charge_writes(size - old.size);
                if let Err(f) = kernel.touch(ptr + old.size, size - old.size, Access::Write) {
                    return Ok(fault(index, f));
                }
            }
            Some(ptr)
        }
        Op::Touch {
            id,
            offset,
            len,
            write,
        } => {
            let Some(held) = blocks.get(id) else {
                return Err(RunError::UnknownBlock {
                    op: index as u64,
                    id,
                });
            };
            let access = if write { Access::Write } else { Access::Read };
            if write {
                kernel.charge_writes(len);
            }
            if let Err(f) = kernel.touch(held.ptr + offset, len, access) {
                return Ok(fault(index, f));
            }
            None
        }
        Op::Trim { pad } => {
            if let Err(e) = allocator.trim(kernel, pad) {
                return stopped(index, e).map_err(|e| broken(e, allocator));
            }
            None
        }
        Op::Phase { .. } => None,
    };
    Ok(Stepped::Ran { index, ptr })
}

/// An allocator error as the program's fate (out of memory, SIGSEGV), or back as the
/// error when the allocator broke its contract. A syscall refused with ENOMEM is the
/// kernel running out (of frames, address space or VMAs): malloc returns NULL.
fn stopped(index: usize, e: AllocError) -> Result<Stepped, AllocError> {
    match e {
        AllocError::OutOfMemory { .. } | AllocError::Syscall(Errno::ENOMEM) => {
            Ok(Stepped::OutOfMemory {
                index,
                detail: e.to_string(),
            })
        }
        AllocError::Fault(f) => Ok(fault(index, f)),
        other => Err(other),
    }
}

fn fault(index: usize, f: Fault) -> Stepped {
    match f {
        Fault::OutOfMemory { .. } => Stepped::OutOfMemory {
            index,
            detail: f.to_string(),
        },
        Fault::Segv { .. } => Stepped::Segv {
            index,
            detail: f.to_string(),
        },
    }
}

/// A workload being executed one op at a time, for drivers that need more control
/// than [`crate::run`] gives: several programs on one kernel taking turns, or an
/// experiment that reads the allocator's state between two ops. It leaves the kernel
/// and the allocator to the caller, who may switch processes between two steps.
#[derive(Clone, Debug)]
pub struct Program {
    workload: Workload,
    next: usize,
    blocks: Blocks,
}

impl Program {
    /// A program at the start of `workload`.
    pub fn new(workload: Workload) -> Program {
        Program {
            workload,
            next: 0,
            blocks: Blocks::default(),
        }
    }

    /// The workload.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Index of the next op to run.
    pub fn position(&self) -> usize {
        self.next
    }

    /// The next op to run, if any.
    pub fn next_op(&self) -> Option<&Op> {
        self.workload.ops.get(self.next)
    }

    /// True when every op has run.
    pub fn finished(&self) -> bool {
        self.next >= self.workload.ops.len()
    }

    /// Requested bytes of the live blocks.
    pub fn live(&self) -> u64 {
        self.blocks.live()
    }

    /// The blocks the program holds.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// Runs the next op against `kernel` (its current process) and `allocator`.
    pub fn step(
        &mut self,
        kernel: &mut Kernel,
        allocator: &mut dyn Allocator,
    ) -> Result<Stepped, RunError> {
        let Some(op) = self.workload.ops.get(self.next) else {
            return Ok(Stepped::Finished);
        };
        let index = self.next;
        self.next += 1;
        execute(
            index,
            op,
            &self.workload,
            &mut self.blocks,
            kernel,
            allocator,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::KernelConfig;
    use malloc::glibc::Glibc;

    #[test]
    fn a_program_runs_to_the_end_and_frees_everything() {
        let w = workload::generate("churn", 3, Some(400)).unwrap();
        let n = w.ops.len();
        let mut k = Kernel::new(KernelConfig::default());
        let mut a = Glibc::new();
        let mut p = Program::new(w);
        let mut ran = 0;
        loop {
            match p.step(&mut k, &mut a).unwrap() {
                Stepped::Ran { index, .. } => {
                    assert_eq!(index, ran);
                    ran += 1;
                }
                Stepped::Finished => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ran, n);
        assert!(p.finished());
        assert_eq!(p.live(), 0);
        assert!(p.blocks().is_empty());
        assert!(k.mem().rss > 0, "the program wrote its blocks");
    }

    #[test]
    fn running_out_of_frames_is_an_outcome_and_the_block_is_still_held() {
        let cfg = KernelConfig {
            phys_bytes: 64 * 4096,
            ..KernelConfig::default()
        };
        let mut k = Kernel::new(cfg);
        let mut w = Workload::new("big");
        // Below the mmap threshold, so glibc extends the heap and hands the block out;
        // writing it then runs out of frames.
        w.ops.push(Op::Malloc {
            id: 0,
            size: 100 << 10,
        });
        w.ops.push(Op::Malloc {
            id: 1,
            size: 100 << 10,
        });
        w.ops.push(Op::Malloc {
            id: 2,
            size: 100 << 10,
        });
        let mut p = Program::new(w);
        let mut a = Glibc::new();
        let index = loop {
            match p.step(&mut k, &mut a).unwrap() {
                Stepped::Ran { .. } => continue,
                Stepped::OutOfMemory { index, .. } => break index,
                other => panic!("expected OOM, got {other:?}"),
            }
        };
        assert!(index >= 1, "the first block fits in 64 frames");
        assert_eq!(p.blocks().len(), index + 1, "the faulting block is held");
        assert_eq!(p.live(), (index as u64 + 1) * (100 << 10));
    }

    #[test]
    fn blocks_keep_dense_and_far_ids_in_id_order() {
        let h = |ptr, size| Held { ptr, size };
        let mut b = Blocks::default();
        let far = 1 << 40;
        b.insert(far, h(1, 10));
        b.insert(3, h(2, 20));
        b.insert(0, h(3, 30));
        assert_eq!((b.len(), b.live()), (3, 60));
        assert_eq!(b.get(far), Some(h(1, 10)));
        assert_eq!(b.get(3), Some(h(2, 20)));
        assert_eq!(b.get(2), None);
        // Re-inserting an id replaces its block.
        b.insert(3, h(4, 5));
        assert_eq!((b.len(), b.live()), (3, 45));
        let ids: Vec<_> = b.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [0, 3, far]);
        // An id beyond the table but near it grows the table; order is kept.
        let mut c = Blocks::default();
        c.insert(Blocks::DENSE_SLACK * 3, h(9, 1));
        c.insert(Blocks::DENSE_SLACK - 1, h(8, 1));
        c.insert(Blocks::DENSE_SLACK * 2, h(7, 1));
        assert_eq!(c.get(Blocks::DENSE_SLACK * 3), Some(h(9, 1)));
        let ids: Vec<_> = c.iter().map(|(id, _)| id).collect();
        assert_eq!(
            ids,
            [
                Blocks::DENSE_SLACK - 1,
                Blocks::DENSE_SLACK * 2,
                Blocks::DENSE_SLACK * 3
            ]
        );
        assert_eq!(c.remove(Blocks::DENSE_SLACK * 3), Some(h(9, 1)));
        assert_eq!(c.remove(Blocks::DENSE_SLACK * 3), None);
        assert_eq!(c.remove(5), None);
        assert_eq!((c.len(), c.live()), (2, 2));
        // Equality is about the blocks held, not the layout.
        let mut d = Blocks::default();
        d.insert(Blocks::DENSE_SLACK * 2, h(7, 1));
        d.insert(Blocks::DENSE_SLACK - 1, h(8, 1));
        assert_eq!(c, d);
    }

    /// A block packs into its slot when its pointer is 16-byte aligned below 2^48 and
    /// its size below 2^20 - 2; any other is kept in the map, and reads back the same.
    #[test]
    fn blocks_that_do_not_pack_read_back_the_same() {
        let h = |ptr, size| Held { ptr, size };
        let cases = [
            h(0, 0),
            h(0x10, (1 << 20) - 3),
            h(0x10, (1 << 20) - 2),
            h(0x10, 1 << 40),
            h(0x7fff_ffff_fff0, 1),
            h(1 << 48, 1),
            h(0x18, 24),
            h(u64::MAX, 5),
        ];
        let mut b = Blocks::default();
        let mut live = 0u64;
        for (id, &held) in cases.iter().enumerate() {
            b.insert(id as BlockId, held);
            live += held.size;
        }
        assert_eq!(Slot::pack(cases[1]).map(Slot::unpack), Some(cases[1]));
        assert_eq!(Slot::pack(cases[2]), None);
        assert_eq!(Slot::pack(h(0x10, u64::MAX)), None);
        assert_eq!(b.len(), cases.len());
        assert_eq!(b.live(), live);
        for (id, &held) in cases.iter().enumerate() {
            assert_eq!(b.get(id as BlockId), Some(held), "id {id}");
        }
        let all: Vec<_> = b.iter().map(|(_, h)| h).collect();
        assert_eq!(all, cases);
        // Replacing a packed block by one that does not pack, and back.
        b.insert(1, h(0x18, 1));
        assert_eq!(b.get(1), Some(h(0x18, 1)));
        b.insert(1, h(0x20, 2));
        assert_eq!(b.get(1), Some(h(0x20, 2)));
        assert_eq!(b.remove(3), Some(cases[3]));
        assert_eq!(b.get(3), None);
        assert_eq!(b.remove(3), None);
        // Far blocks wait in the map; when the table grows over them, one that packs
        // moves into its slot and one that does not stays, its slot marked.
        let far = Blocks::DENSE_SLACK * 3;
        b.insert(far, h(0x18, 7));
        b.insert(far + 1, h(0x40, 9));
        assert_eq!(
            b.covered(),
            Blocks::PAGE as u64,
            "far from the table: in the map"
        );
        b.insert(Blocks::DENSE_SLACK, h(0x40, 8));
        assert!(b.covered() <= far);
        b.insert(far + 10, h(0x40, 8));
        assert!(b.covered() > far, "the table grew over it");
        assert_eq!(*b.slot_mut(far), Slot::SPILLED);
        assert_eq!(b.get(far), Some(h(0x18, 7)));
        assert_eq!(*b.slot_mut(far + 1), Slot::pack(h(0x40, 9)).unwrap());
        let last: Vec<_> = b.iter().skip(b.len() - 3).collect();
        assert_eq!(
            last,
            [
                (far, h(0x18, 7)),
                (far + 1, h(0x40, 9)),
                (far + 10, h(0x40, 8))
            ]
        );
        assert_eq!(b.remove(far), Some(h(0x18, 7)));
        assert!(b.sparse.values().all(|h| Slot::pack(*h).is_none()));
    }

    #[test]
    fn a_bad_stream_is_an_error() {
        let mut w = Workload::new("bad");
        w.ops.push(Op::Free { id: 7 });
        let mut p = Program::new(w);
        let mut k = Kernel::new(KernelConfig::default());
        let err = p.step(&mut k, &mut Glibc::new()).unwrap_err();
        assert_eq!(err, RunError::UnknownBlock { op: 0, id: 7 });
    }

    #[test]
    fn a_refused_munmap_is_a_leak_and_the_program_goes_on() {
        // An allocator whose munmap the kernel refuses (as at vm.max_map_count, when
        // unmapping from the middle of a VMA would need one VMA more).
        let mut k = Kernel::new(KernelConfig::default());
        let mut w = Workload::new("holes");
        for id in 0..3 {
            w.ops.push(Op::Malloc { id, size: 8192 });
        }
        w.ops.push(Op::Free { id: 1 });
        w.ops.push(Op::Malloc { id: 9, size: 16 });
        let mut a = SplitRefusing;
        let mut p = Program::new(w);
        let mut seen = Vec::new();
        loop {
            let s = p.step(&mut k, &mut a).unwrap();
            if s == Stepped::Finished {
                break;
            }
            seen.push(s);
        }
        assert!(matches!(seen[3], Stepped::FreeRefused { index: 3, .. }));
        assert!(
            matches!(seen[4], Stepped::Ran { index: 4, .. }),
            "the program goes on"
        );
        assert_eq!(p.blocks().get(1), None, "the program dropped the block");
    }

    /// An allocator whose free always meets a refusing munmap.
    #[derive(Default)]
    struct SplitRefusing;

    impl Allocator for SplitRefusing {
        fn name(&self) -> &str {
            "refusing"
        }
        fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
            let len = kernel::page_align_up(size.max(1));
            kernel
                .mmap(0, len, kernel::Prot::RW, kernel::MapFlags::NONE)
                .map_err(AllocError::Syscall)
        }
        fn free(&mut self, _: &mut Kernel, _: Addr) -> Result<(), AllocError> {
            Err(AllocError::Syscall(Errno::ENOMEM))
        }
        fn realloc(&mut self, _: &mut Kernel, p: Addr, _: u64) -> Result<Addr, AllocError> {
            Err(AllocError::InvalidPointer { ptr: p })
        }
        fn stats(&self) -> malloc::HeapStats {
            malloc::HeapStats::default()
        }
        fn blocks(&self, _: &mut Vec<malloc::Block>) {}
    }
}
