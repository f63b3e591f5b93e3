//! Chunks: the records of the heap's pieces, and how their headers reach memory.
//!
//! glibc's heap is a sequence of chunks, each starting with two words: `prev_size`
//! (the size of the chunk before, meaningful only while that one is free) and `size`
//! (this chunk's size, with the `PREV_INUSE` bit saying whether the one before is in
//! use). A free chunk also keeps list links in its payload. The model keeps one
//! `Chunk` record per chunk in a map keyed by address, with the `State` glibc would
//! deduce from its bins and bits, and keeps running sums of the binned and fastbin
//! bytes so that `mallinfo2` costs nothing.
//!
//! Every metadata write glibc makes is also performed on the simulated kernel, so the
//! pages the real allocator dirties become resident here too: writes are queued during
//! a call (`w`), merged when they fall on a page already written, and flushed before
//! each syscall and at the end of the call (`flush`).

use super::Glibc;
use super::layout::SIZE_SZ;
use kernel::{Access, Kernel, PAGE_SIZE};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a chunk is, from glibc's point of view.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum State {
    /// Handed out to the program (or being handed out).
    #[default]
    InUse,
    /// The tcache structure: in use, but glibc's own.
    Meta,
    /// A fencepost glibc writes at the end of a heap region it leaves behind.
    Fence,
    /// In a tcache bin.
    Tcache,
    /// In a fastbin.
    Fast,
    /// In the unsorted bin, a smallbin or a largebin.
    Bin,
    /// A chunk in a mapping of its own.
    Mmapped,
}

/// One chunk's header and links. Top is not stored here (it is `Glibc::top`).
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Chunk {
    /// Chunk size, flags excluded.
    pub(super) size: u64,
    /// The previous chunk's size, meaningful only when `prev_inuse` is false; for a
    /// mapped chunk, the offset of the chunk in its mapping (always 0 on x86-64).
    pub(super) prev_size: u64,
    /// Forward link (bins, fastbins, tcache).
    pub(super) fd: u64,
    /// Backward link (bins).
    pub(super) bk: u64,
    /// Largebins: next smaller size run (0 = NULL).
    pub(super) fd_nextsize: u64,
    /// Largebins: next larger size run (0 = NULL).
    pub(super) bk_nextsize: u64,
    /// What the chunk is.
    pub(super) state: State,
    /// The PREV_INUSE bit: false when the chunk before is free (in a bin).
    pub(super) prev_inuse: bool,
    /// In the unsorted bin (its size is counted in `Glibc::unsorted_sizes`). Not
    /// glibc's: the model's bookkeeping, so that `largest_free` need not walk the bin.
    pub(super) unsorted: bool,
}

/// A cheap hasher for chunk addresses (16-byte aligned integers). The chunk map is
/// never iterated into output in hash order.
#[derive(Default)]
pub(super) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (x >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

pub(super) type ChunkMap = HashMap<u64, Chunk, BuildHasherDefault<AddrHasher>>;

pub(super) const EMPTY_CHUNK: Chunk = Chunk {
    size: 0,
    prev_size: 0,
    fd: 0,
    bk: 0,
    fd_nextsize: 0,
    bk_nextsize: 0,
    state: State::InUse,
    prev_inuse: true,
    unsorted: false,
};

impl Glibc {
    // ----- the chunk map -------------------------------------------------------

    pub(super) fn ch(&self, a: u64) -> &Chunk {
        match self.chunks.get(&a) {
            Some(c) => c,
            None => {
                debug_assert!(false, "glibc model: no chunk at {a:#x}");
                &EMPTY_CHUNK
            }
        }
    }

    pub(super) fn chm(&mut self, a: u64) -> &mut Chunk {
        match self.chunks.get_mut(&a) {
            Some(c) => c,
            None => {
                debug_assert!(false, "glibc model: no chunk at {a:#x}");
                &mut self.scratch
            }
        }
    }

    pub(super) fn size_of(&self, a: u64) -> u64 {
        self.ch(a).size
    }

    /// Adds a chunk record (its state counted in the statistics).
    pub(super) fn new_chunk(&mut self, a: u64, size: u64, prev_inuse: bool, state: State) {
        let c = Chunk {
            size,
            prev_inuse,
            state,
            ..EMPTY_CHUNK
        };
        self.count_in(state, size);
        if let Some(old) = self.chunks.insert(a, c) {
            self.count_out(old.state, old.size);
            self.forget_unsorted(&old);
        }
    }

    /// Forgets a chunk that was merged into a neighbour.
    pub(super) fn drop_chunk(&mut self, a: u64) {
        if let Some(old) = self.chunks.remove(&a) {
            self.count_out(old.state, old.size);
            self.forget_unsorted(&old);
        }
    }

    /// Counts chunk `a` (its size set) as a member of the unsorted bin.
    pub(super) fn unsorted_add(&mut self, a: u64) {
        let c = self.chm(a);
        if c.unsorted {
            return;
        }
        c.unsorted = true;
        let size = c.size;
        *self.unsorted_sizes.entry(size).or_insert(0) += 1;
    }

    /// Chunk `a` leaves the unsorted bin (nothing happens when it was not in it).
    pub(super) fn unsorted_remove(&mut self, a: u64) {
        let c = self.chm(a);
        if !c.unsorted {
            return;
        }
        let old = *c;
        c.unsorted = false;
        self.forget_unsorted(&old);
    }

    fn forget_unsorted(&mut self, old: &Chunk) {
        if !old.unsorted {
            return;
        }
        if let Some(n) = self.unsorted_sizes.get_mut(&old.size) {
            *n -= 1;
            if *n == 0 {
                self.unsorted_sizes.remove(&old.size);
            }
        } else {
            debug_assert!(false, "glibc model: unsorted size {} not counted", old.size);
        }
    }

    pub(super) fn set_state(&mut self, a: u64, s: State) {
        let c = self.chm(a);
        let (old, size) = (c.state, c.size);
        c.state = s;
        self.count_out(old, size);
        self.count_in(s, size);
    }

    pub(super) fn count_in(&mut self, s: State, size: u64) {
        match s {
            State::Bin => {
                self.binned_count += 1;
                self.binned_bytes = self.binned_bytes.wrapping_add(size);
            }
            State::Fast => {
                self.fast_count += 1;
                self.fast_bytes = self.fast_bytes.wrapping_add(size);
            }
            _ => {}
        }
    }

    pub(super) fn count_out(&mut self, s: State, size: u64) {
        match s {
            State::Bin => {
                self.binned_count = self.binned_count.wrapping_sub(1);
                self.binned_bytes = self.binned_bytes.wrapping_sub(size);
            }
            State::Fast => {
                self.fast_count = self.fast_count.wrapping_sub(1);
                self.fast_bytes = self.fast_bytes.wrapping_sub(size);
            }
            _ => {}
        }
    }

    // ----- metadata writes, queued and flushed to the kernel ----------------------

    /// Queues a write of `len` bytes at `addr` (glibc storing metadata). A write
    /// within one page already written in this batch adds nothing at page level and
    /// is merged away.
    pub(super) fn w(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let page = addr / PAGE_SIZE;
        let one_page = addr.saturating_add(len - 1) / PAGE_SIZE == page;
        if one_page {
            if page == self.last_dirty_page {
                return;
            }
            let recent = self.dirty.len().saturating_sub(8);
            if self.dirty[recent..].iter().any(|&(a, l, acc)| {
                acc == Access::Write && a / PAGE_SIZE == page && (a + l - 1) / PAGE_SIZE == page
            }) {
                self.last_dirty_page = page;
                return;
            }
        }
        self.last_dirty_page = if one_page { page } else { u64::MAX };
        self.dirty.push((addr, len, Access::Write));
    }

    /// Queues a read (memcpy's source).
    pub(super) fn r(&mut self, addr: u64, len: u64) {
        if len > 0 {
            self.dirty.push((addr, len, Access::Read));
            self.last_dirty_page = u64::MAX;
        }
    }

    /// Performs the queued accesses; the first fault is kept for the caller.
    pub(super) fn flush(&mut self, k: &mut Kernel) {
        for (addr, len, access) in self.dirty.drain(..) {
            if let Err(f) = k.touch(addr, len, access) {
                self.fault.get_or_insert(f);
            }
        }
        self.last_dirty_page = u64::MAX;
    }

    /// `set_head`: writes a chunk's size word.
    pub(super) fn w_head(&mut self, p: u64) {
        self.w(p + SIZE_SZ, SIZE_SZ);
    }

    // ----- boundary tags of the next chunk ----------------------------------------

    /// `set_foot`: a free chunk's size is repeated in the next chunk's `prev_size`,
    /// so that a later free of that next chunk can find the start of this one.
    pub(super) fn set_foot(&mut self, p: u64, size: u64) {
        let next = p + size;
        if next != self.top {
            self.chm(next).prev_size = size;
        }
        self.w(next, SIZE_SZ);
    }

    /// `set_inuse_bit_at_offset`: marks the chunk at `p + size` as having a busy
    /// predecessor.
    pub(super) fn set_inuse_bit_at_offset(&mut self, p: u64, size: u64) {
        let next = p + size;
        if next != self.top {
            self.chm(next).prev_inuse = true;
        }
        self.w_head(next);
    }
}
