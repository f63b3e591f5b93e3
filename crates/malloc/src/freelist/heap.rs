//! The heap: every block, used or free, in address order from the heap's start to the
//! program break.
//!
//! Blocks tile the heap: each starts where the one before ends, and its header (and,
//! with boundary tags, its footer) says its size and whether it is in use. That
//! physical order is what coalescing looks at (a freed block merges with the blocks
//! just before and after it in memory, whatever their places in the list) and what
//! the kernel sees: the heap grows by raising the break (`sbrk`) when no free block
//! fits, and shrinks by lowering it when the free block at the end is large. The
//! simulator keeps the blocks in an ordered map by address ([`Blk`] is what a header
//! says).

use super::list::{Key, Place};
use super::{Coalesce, FreeList, Order};
use crate::api::AllocError;
use kernel::{Access, Addr, Kernel, PAGE_SIZE, page_align_up};

/// The allocator never asks for a break or a block beyond the 47-bit user address space
/// of x86-64; larger requests fail as out of memory without a syscall.
pub(super) const ADDR_LIMIT: u64 = 1 << 47;

/// What the simulator knows about one block of the heap (what its header says).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Blk {
    /// Bytes of the block, header and footer included.
    pub(super) size: u64,
    /// `Some(list position)` when the block is free, `None` when it is in use.
    pub(super) key: Option<Key>,
}

impl FreeList {
    // ----- layout ---------------------------------------------------------------------

    /// The block size serving a `size`-byte request: header, payload and footer rounded
    /// up to the alignment, and at least the minimum block. `None` when absurdly large.
    pub(super) fn block_size(&self, size: u64) -> Option<u64> {
        let raw = size.checked_add(self.cfg.header + self.cfg.footer)?;
        if raw > ADDR_LIMIT {
            return None;
        }
        Some(raw.next_multiple_of(self.cfg.align).max(self.min_block))
    }

    /// The highest block boundary (an address whose payload would be aligned) at or
    /// below `x`. Only called with `x >= self.first`.
    pub(super) fn boundary_le(&self, x: Addr) -> Addr {
        let h = self.cfg.header;
        ((x + h) & !(self.cfg.align - 1)) - h
    }

    /// Records the heap start on first use: the current break.
    pub(super) fn init(&mut self, kernel: &Kernel) {
        if self.heap_start.is_none() {
            let b = kernel.program_break();
            self.heap_start = Some(b);
            self.brk = b;
            self.first = (b + self.cfg.header).next_multiple_of(self.cfg.align) - self.cfg.header;
            self.end = self.first;
        }
    }

    /// The block at the end of the heap when it is free: (address, size, list key).
    pub(super) fn top(&self) -> Option<(Addr, u64, Key)> {
        let (&a, b) = self.blocks.last_key_value()?;
        b.key.map(|k| (a, b.size, k))
    }

    /// The used block whose payload starts at `ptr`: (block address, size).
    pub(super) fn lookup_used(&self, ptr: Addr) -> Option<(Addr, u64)> {
        let addr = ptr.checked_sub(self.cfg.header)?;
        match self.blocks.get(&addr) {
            Some(&Blk { size, key: None }) => Some((addr, size)),
            _ => None,
        }
    }

    // ----- metadata writes --------------------------------------------------------------

    pub(super) fn write(kernel: &mut Kernel, addr: Addr, len: u64) -> Result<(), AllocError> {
        if len == 0 {
            return Ok(());
        }
        kernel.touch(addr, len, Access::Write)?;
        Ok(())
    }

    /// Writes a block's boundary tags: its header, and its footer (the last bytes).
    pub(super) fn write_tags(
        &self,
        kernel: &mut Kernel,
        addr: Addr,
        size: u64,
    ) -> Result<(), AllocError> {
        Self::write(kernel, addr, self.cfg.header)?;
        Self::write(kernel, addr + size - self.cfg.footer, self.cfg.footer)
    }

    /// Records `[addr, addr+size)` as a block in use (books only).
    pub(super) fn set_used(&mut self, addr: Addr, size: u64) {
        match self.blocks.insert(addr, Blk { size, key: None }) {
            Some(old) => self.used -= old.size,
            None => self.heap_index.insert((addr, 0), 0),
        }
        self.used += size;
    }

    // ----- growing, coalescing, freeing, trimming ---------------------------------------

    /// Grows the heap so that a block of `asize` fits at its end: extends the free top
    /// block when there is one (and coalescing is on), else appends a new free block.
    /// Returns the free block to place into.
    pub(super) fn grow(
        &mut self,
        kernel: &mut Kernel,
        asize: u64,
        size: u64,
    ) -> Result<(Addr, u64, Key), AllocError> {
        let oom = AllocError::OutOfMemory { size };
        let top = match self.cfg.coalesce {
            Coalesce::None => None,
            _ => self.top(),
        };
        let t = top.map_or(self.end, |(a, _, _)| a);
        let want = t
            .checked_add(asize)
            .ok_or_else(|| oom.clone())?
            .max(self.brk.saturating_add(self.cfg.grow));
        if want > ADDR_LIMIT {
            return Err(oom);
        }
        // The heap must be contiguous: if something else moved the break, give up.
        if kernel.program_break() != self.brk {
            return Err(oom);
        }
        let new_brk = page_align_up(want);
        kernel
            .sbrk((new_brk - self.brk) as i64)
            .map_err(|_| oom.clone())?;
        self.brk = new_brk;
        let old_end = self.end;
        self.end = self.boundary_le(new_brk);
        let key = match top {
            Some((a, s, key)) => {
                self.list_remove(kernel, a, s, key)?;
                self.list_insert(kernel, a, self.end - a, Place::Keep(key))?
            }
            None => self.list_insert(
                kernel,
                old_end,
                self.end - old_end,
                Place::New { walked: false },
            )?,
        };
        Ok((t, self.end - t, key))
    }

    /// Merges every run of adjacent free blocks (deferred coalescing). One pass over
    /// the heap, charged one node per block. Returns true when anything merged.
    pub(super) fn coalesce_all(&mut self, kernel: &mut Kernel) -> Result<bool, AllocError> {
        self.visits += self.blocks.len() as u64;
        let mut runs: Vec<Vec<(Addr, u64, Key)>> = Vec::new();
        let mut run: Vec<(Addr, u64, Key)> = Vec::new();
        for (&a, b) in &self.blocks {
            match b.key {
                Some(key) => run.push((a, b.size, key)),
                None => {
                    if run.len() >= 2 {
                        runs.push(std::mem::take(&mut run));
                    }
                    run.clear();
                }
            }
        }
        if run.len() >= 2 {
            runs.push(run);
        }
        let merged = !runs.is_empty();
        for run in runs {
            let (start, _, first_key) = run[0];
            let mut len = 0;
            for &(a, s, key) in &run {
                self.list_remove(kernel, a, s, key)?;
                len += s;
            }
            let place = match self.cfg.order {
                Order::Address => Place::Keep(first_key),
                _ => Place::New { walked: false },
            };
            self.list_insert(kernel, start, len, place)?;
        }
        Ok(merged)
    }

    /// Frees the used block `[addr, addr+size)`: coalesces as configured, links it,
    /// trims the heap when the top grew past the threshold.
    /// `prev_used` says the caller knows the block before is in use (the tail cut off a
    /// shrinking block), so no backward look is needed.
    pub(super) fn free_block(
        &mut self,
        kernel: &mut Kernel,
        addr: Addr,
        size: u64,
        prev_used: bool,
    ) -> Result<(), AllocError> {
        if self.blocks.remove(&addr).is_some() {
            self.heap_index.remove((addr, 0));
        }
        self.used -= size;
        let (mut start, mut len) = (addr, size);
        let mut place = Place::New { walked: false };
        if self.cfg.coalesce == Coalesce::Immediate {
            let address_order = self.cfg.order == Order::Address;
            // Forward: the next block's header says whether it is free (one read).
            self.visits += 1;
            if let Some(&Blk {
                size: nsize,
                key: Some(nkey),
            }) = self.blocks.get(&(addr + size))
            {
                self.list_remove(kernel, addr + size, nsize, nkey)?;
                len += nsize;
                if address_order {
                    place = Place::Keep(nkey);
                }
            }
            // Backward: with a footer, the word below our header (one read); without,
            // a walk of the address-ordered list to our place, or a scan of the heap.
            let mut walked = false;
            if prev_used {
                // Nothing to look at.
            } else if self.cfg.footer > 0 {
                self.visits += 1;
            } else if address_order {
                self.visits += self.index.rank((addr, 0));
                walked = true;
            } else {
                self.visits += self.heap_index.rank((addr, 0));
            }
            let prev = match prev_used {
                true => None,
                false => self.blocks.range(..addr).next_back().map(|(&a, &b)| (a, b)),
            };
            if let Some((
                paddr,
                Blk {
                    size: psize,
                    key: Some(pkey),
                },
            )) = prev
            {
                self.list_remove(kernel, paddr, psize, pkey)?;
                start = paddr;
                len += psize;
                if address_order {
                    place = Place::Keep(pkey);
                }
            }
            if let Place::New { .. } = place {
                place = Place::New { walked };
            }
        }
        self.list_insert(kernel, start, len, place)?;
        if let (Some(threshold), Some((_, top_size, _))) = (self.cfg.trim_threshold, self.top())
            && top_size > threshold
        {
            self.release_top(kernel, 0)?;
        }
        Ok(())
    }

    /// Gives back the whole pages of the free top block beyond its first `keep` bytes by
    /// lowering the break. The part kept stays a free block (at least a minimum block),
    /// or vanishes when the top started on the new break. Returns true when the break
    /// moved.
    pub(super) fn release_top(
        &mut self,
        kernel: &mut Kernel,
        keep: u64,
    ) -> Result<bool, AllocError> {
        let Some((t, s, key)) = self.top() else {
            return Ok(false);
        };
        let mut p = page_align_up(t.saturating_add(keep).min(ADDR_LIMIT));
        loop {
            let e = self.boundary_le(p);
            if e == t || e - t >= self.min_block {
                break;
            }
            p += PAGE_SIZE;
        }
        if p >= self.brk || kernel.program_break() != self.brk {
            return Ok(false);
        }
        kernel
            .sbrk(-((self.brk - p) as i64))
            .map_err(AllocError::Syscall)?;
        self.brk = p;
        self.end = self.boundary_le(p);
        self.list_remove(kernel, t, s, key)?;
        if self.end > t {
            self.list_insert(kernel, t, self.end - t, Place::Keep(key))?;
        }
        Ok(true)
    }
}
