//! `calloc` and the aligned functions: two ways into `_int_malloc` that skip the tcache.
//!
//! A program that asks for zeroed memory or for an alignment larger than 16 bytes does
//! not go through `__libc_malloc`, so in glibc 2.36 neither request is served from the
//! tcache: `calloc` calls `_int_malloc` directly (and then clears what it must), and
//! `memalign`, `posix_memalign` and `aligned_alloc` (all `_mid_memalign`) ask
//! `_int_malloc` for a chunk large enough to hold an aligned one and give the pieces
//! before and after it back with `_int_free`. The same request can therefore return a
//! different chunk from `malloc` of the same size: the trace's rows show it.

use super::layout::*;
use super::{Glibc, State};
use kernel::Kernel;

impl Glibc {
    // ANCHOR: libc_calloc
    /// `__libc_calloc` of `bytes` (already `count * size`), without the charge.
    /// Returns the chunk and its size.
    ///
    /// Zeroing is a `memset` of the chunk's payload, with two savings glibc makes:
    /// a mapped chunk is fresh from the kernel and already zero, and memory carved from
    /// the part of top that the heap never held before (above `sbrk_base +
    /// max_system_mem`) came zeroed from `sbrk`. Only the bytes glibc clears are
    /// written, so the pages it does not clear stay unfaulted until the program
    /// writes them.
    pub(super) fn libc_calloc(&mut self, k: &mut Kernel, bytes: u64) -> Option<(u64, u64)> {
        checked_request2size(bytes)?;
        self.maybe_init_tcache(k);
        let oldtop = self.top;
        let mut oldtopsize = self.top_size;
        // "Only newly allocated memory is guaranteed to be cleared": memory below the
        // heap's high-water mark may have held data before a trim. (Pointer arithmetic
        // in C: a top outside the brk heap wraps, and then everything is cleared.)
        let fresh_from = self
            .sbrk_base
            .wrapping_add(self.max_system_mem)
            .wrapping_sub(oldtop);
        if oldtopsize < fresh_from {
            oldtopsize = fresh_from;
        }
        let p = self.int_malloc(k, bytes)?;
        let c = *self.ch(p);
        if c.state() == State::Mmapped {
            return Some((p, c.size()));
        }
        let mut csz = c.size();
        if p == oldtop && csz > oldtopsize {
            csz = oldtopsize;
        }
        let clear = csz.saturating_sub(SIZE_SZ);
        self.w(p + CHUNK_HDR_SZ, clear);
        k.charge_user(k.write_cost(clear));
        Some((p, c.size()))
    }
    // ANCHOR_END: libc_calloc

    // ANCHOR: mid_memalign
    /// `_mid_memalign`, the common core of `memalign`, `posix_memalign` and
    /// `aligned_alloc`, without the charge. Returns the chunk and its size.
    pub(super) fn libc_memalign(
        &mut self,
        k: &mut Kernel,
        alignment: u64,
        bytes: u64,
    ) -> Option<(u64, u64)> {
        // An alignment malloc gives anyway: a plain malloc (tcache included).
        if alignment <= MALLOC_ALIGNMENT {
            return self.libc_malloc(k, bytes);
        }
        // At least a minimum chunk, and a power of two.
        let mut alignment = alignment.max(MINSIZE);
        if alignment > (u64::MAX >> 1) + 1 {
            return None;
        }
        if !alignment.is_power_of_two() {
            alignment = alignment.next_power_of_two();
        }
        let p = self.int_memalign(k, alignment, bytes)?;
        Some((p, self.size_of(p)))
    }
    // ANCHOR_END: mid_memalign

    // ANCHOR: int_memalign
    /// `_int_memalign`: asks `_int_malloc` for `nb + alignment + MINSIZE` bytes, so
    /// that an aligned chunk of `nb` fits inside with room for a whole chunk before it,
    /// then frees the leading piece (if the chunk was not aligned already) and the
    /// trailing one (if at least MINSIZE) with `_int_free`: they go to the tcache,
    /// a fastbin or the unsorted bin like any freed chunk.
    fn int_memalign(&mut self, k: &mut Kernel, alignment: u64, bytes: u64) -> Option<u64> {
        let nb = checked_request2size(bytes)?;
        let padded = nb.checked_add(alignment)?.checked_add(MINSIZE)?;
        let mut p = self.int_malloc(k, padded)?;
        let mem = p + CHUNK_HDR_SZ;
        if !mem.is_multiple_of(alignment) {
            // The first aligned payload with at least MINSIZE in front of its chunk.
            let mut newp = ((mem + alignment - 1) & !(alignment - 1)) - CHUNK_HDR_SZ;
            if newp - p < MINSIZE {
                newp += alignment;
            }
            let leadsize = newp - p;
            let c = *self.ch(p);
            let newsize = c.size() - leadsize;
            if c.state() == State::Mmapped {
                // A mapped chunk just starts later in its mapping: prev_size keeps the
                // offset, so munmap still finds the mapping's start.
                self.drop_chunk(p);
                self.new_chunk(newp, newsize, true, State::Mmapped);
                self.chm(newp).prev_size = c.prev_size + leadsize;
                self.w(newp, 2 * SIZE_SZ);
                return Some(newp);
            }
            self.new_chunk(newp, newsize, true, State::InUse);
            self.w_head(newp);
            self.set_inuse_bit_at_offset(newp, newsize);
            self.chm(p).set_size(leadsize);
            self.w_head(p);
            self.int_free(k, p, leadsize);
            p = newp;
        }
        let c = *self.ch(p);
        if c.state() != State::Mmapped && c.size() > nb + MINSIZE {
            // Give back the spare room at the end.
            let remainder = p + nb;
            let remainder_size = c.size() - nb;
            self.chm(p).set_size(nb);
            self.w_head(p);
            self.new_chunk(remainder, remainder_size, true, State::InUse);
            self.w_head(remainder);
            self.int_free(k, remainder, remainder_size);
        }
        Some(p)
    }
    // ANCHOR_END: int_memalign
}
