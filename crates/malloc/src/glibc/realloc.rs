//! `realloc`: `__libc_realloc` and `_int_realloc`.

use super::layout::*;
use super::{Glibc, State};
use crate::api::AllocError;
use kernel::{Addr, Kernel};

impl Glibc {
    /// `__libc_realloc` (after the caller charged the call).
    ///
    /// - `realloc(p, 0)` frees `p` and returns NULL (0); `realloc(NULL, n)` mallocs.
    /// - A mapped chunk is resized with `mremap` (it stays mapped, even when it
    ///   shrinks to a few bytes); if the kernel refuses, it is kept when it is
    ///   already big enough, else moved with malloc, copy and munmap.
    /// - A heap chunk goes through [`Glibc::int_realloc`].
    pub(super) fn libc_realloc(
        &mut self,
        k: &mut Kernel,
        ptr: Addr,
        bytes: u64,
    ) -> Result<Addr, AllocError> {
        if bytes == 0 && ptr != 0 {
            let (p, c) = self
                .owned_chunk(ptr)
                .ok_or(AllocError::InvalidPointer { ptr })?;
            self.libc_free(k, p, c);
            return self.finish(k, 0);
        }
        if ptr == 0 {
            return match self.libc_malloc(k, bytes) {
                Some((p, chunk_size)) => {
                    self.allocated = self.allocated.wrapping_add(chunk_size);
                    self.finish(k, p + CHUNK_HDR_SZ)
                }
                None => {
                    self.finish(k, ())?;
                    Err(AllocError::OutOfMemory { size: bytes })
                }
            };
        }
        let (oldp, old) = self
            .owned_chunk(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        if old.state() != State::Mmapped {
            self.maybe_init_tcache(k);
        }
        let Some(nb) = checked_request2size(bytes) else {
            self.finish(k, ())?;
            return Err(AllocError::OutOfMemory { size: bytes });
        };

        let newp = if old.state() == State::Mmapped {
            if let Some(np) = self.mremap_chunk(k, oldp, nb) {
                Some(np)
            } else if old.size() - SIZE_SZ >= nb {
                // Already big enough: keep it.
                Some(oldp)
            } else {
                // Must malloc, copy, free (the full malloc path, tcache included).
                match self.libc_malloc(k, bytes) {
                    None => None,
                    Some((np, _)) => {
                        let copy = old.size() - CHUNK_HDR_SZ;
                        self.r(ptr, copy);
                        self.w(np + CHUNK_HDR_SZ, copy);
                        k.charge_user(k.write_cost(copy));
                        self.munmap_chunk(k, oldp);
                        Some(np)
                    }
                }
            }
        } else {
            self.int_realloc(k, oldp, old.size(), nb)
        };
        match newp {
            Some(np) => {
                self.allocated = self
                    .allocated
                    .wrapping_sub(old.size())
                    .wrapping_add(self.size_of(np));
                self.finish(k, np + CHUNK_HDR_SZ)
            }
            None => {
                self.finish(k, ())?;
                Err(AllocError::OutOfMemory { size: bytes })
            }
        }
    }

    /// `_int_realloc` of heap chunk `oldp` (of `oldsize`) to chunk size `nb`:
    ///
    /// 1. already big enough: keep it and free the tail if it is at least MINSIZE;
    /// 2. next is top and top has room: grow into top;
    /// 3. next is free and together they suffice: absorb it, then free the tail;
    /// 4. otherwise malloc elsewhere, copy the old payload, free the old chunk
    ///    (unless malloc happened to return the very next chunk, which is absorbed).
    ///
    /// The freed tails go through `_int_free`, so in 2.36 they may land in the tcache.
    pub(super) fn int_realloc(
        &mut self,
        k: &mut Kernel,
        oldp: u64,
        oldsize: u64,
        nb: u64,
    ) -> Option<u64> {
        let next = oldp + oldsize;
        let nextsize = if next == self.top {
            self.top_size
        } else {
            self.size_of(next)
        };
        let newp = oldp;
        let newsize;
        if oldsize >= nb {
            newsize = oldsize;
        } else if next == self.top && oldsize + nextsize >= nb + MINSIZE {
            self.chm(oldp).set_size(nb);
            self.w_head(oldp);
            self.top = oldp + nb;
            self.top_size = oldsize + nextsize - nb;
            self.w_head(self.top);
            return Some(oldp);
        } else if next != self.top
            && self.ch(next).state() == State::Bin
            && oldsize + nextsize >= nb
        {
            self.visit();
            self.unlink_chunk(next);
            self.drop_chunk(next);
            newsize = oldsize + nextsize;
        } else {
            let np = self.int_malloc(k, nb - MALLOC_ALIGN_MASK)?;
            if np == next {
                // malloc handed out our neighbour: just absorb it.
                newsize = oldsize + self.size_of(np);
                self.drop_chunk(np);
            } else {
                let copy = oldsize - SIZE_SZ;
                self.r(oldp + CHUNK_HDR_SZ, copy);
                self.w(np + CHUNK_HDR_SZ, copy);
                // memcpy: glibc's own stores, timed as the program's writes are.
                k.charge_user(k.write_cost(copy));
                self.int_free(k, oldp, oldsize);
                return Some(np);
            }
        }

        let remainder_size = newsize - nb;
        if remainder_size < MINSIZE {
            self.chm(newp).set_size(newsize);
            self.w_head(newp);
            self.set_inuse_bit_at_offset(newp, newsize);
        } else {
            let rem = newp + nb;
            self.visit();
            self.chm(newp).set_size(nb);
            self.w_head(newp);
            self.new_chunk(rem, remainder_size, true, State::InUse);
            self.w_head(rem);
            self.set_inuse_bit_at_offset(rem, remainder_size);
            self.int_free(k, rem, remainder_size);
        }
        Some(newp)
    }
}
