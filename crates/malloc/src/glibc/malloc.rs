//! `_int_malloc` and `malloc_consolidate`: where a request finds its chunk.

use super::layout::*;
use super::{Glibc, State};
use kernel::Kernel;

impl Glibc {
    /// `_int_malloc`: serves a request from the arena (everything but the tcache
    /// fast path of `__libc_malloc`). Returns the chunk, or `None` when even the
    /// system cannot provide memory. The order of the searches is glibc's:
    ///
    /// 1. the fastbin of exactly this size (stashing its other chunks in the tcache);
    /// 2. the smallbin of exactly this size (likewise);
    /// 3. for a large request, a consolidation of all fastbins first;
    /// 4. the unsorted bin, oldest first: exact fits are taken (or stashed in the
    ///    tcache while it has room), the last remainder is split for a small request
    ///    when it is the only unsorted chunk, and everything else is sorted into its
    ///    small or large bin;
    /// 5. for a large request, best fit within its own largebin;
    /// 6. best fit in the next non-empty bins, found with the binmap;
    /// 7. the top chunk, after one more consolidation if fastbins hold chunks;
    /// 8. the system ([`Glibc::sysmalloc`]).
    pub(super) fn int_malloc(&mut self, k: &mut Kernel, bytes: u64) -> Option<u64> {
        let nb = checked_request2size(bytes)?;
        // Past the tcache: the arena's structures, mostly not in the caches.
        k.charge_user(k.config().cost.alloc_arena_ns);
        let tc_idx = csize2tidx(nb);
        let tcache_ok = self.tcache.is_some() && tc_idx < self.p.tcache_bins;
        let tc_idx = tc_idx as usize;

        // 1. Fastbins: a LIFO stack per size; no coalescing, so taking one is O(1).
        if nb <= self.p.max_fast {
            let idx = fastbin_index(nb);
            let victim = self.fastbins[idx];
            if victim != 0 {
                self.fastbins[idx] = self.ch(victim).fd;
                self.set_state(victim, State::InUse);
                if tcache_ok {
                    while self.tc_counts[tc_idx] < self.p.tcache_count {
                        let tv = self.fastbins[idx];
                        if tv == 0 {
                            break;
                        }
                        self.fastbins[idx] = self.ch(tv).fd;
                        self.set_state(tv, State::InUse);
                        self.tcache_put(tv, tc_idx);
                        self.visit();
                    }
                }
                return Some(victim);
            }
        }

        // 2. Smallbins hold one size each, so the oldest chunk (the tail) fits exactly.
        let mut idx;
        if in_smallbin_range(nb) {
            idx = smallbin_index(nb);
            let victim = self.bins[idx].bk;
            if !Self::is_bin(victim) {
                self.take_smallbin_tail(idx, victim, nb);
                if tcache_ok {
                    while self.tc_counts[tc_idx] < self.p.tcache_count {
                        let tv = self.bins[idx].bk;
                        if Self::is_bin(tv) {
                            break;
                        }
                        self.take_smallbin_tail(idx, tv, nb);
                        self.tcache_put(tv, tc_idx);
                        self.visit();
                    }
                }
                return Some(victim);
            }
        } else {
            // 3. A large request: fastbin chunks would only fragment the space it
            // needs, so merge them all first.
            idx = largebin_index(nb);
            if self.have_fastchunks {
                self.malloc_consolidate();
            }
        }

        // glibc's `tcache_unsorted_limit` is 0 (no limit) unless tuned, so the scan
        // never stops early to return a cached chunk.
        let tcache_nb = tcache_ok;
        let mut return_cached = false;
        loop {
            // 4. The unsorted bin, from its tail (oldest first).
            let mut iters = 0;
            loop {
                let victim = self.bins[UNSORTED].bk;
                if Self::is_bin(victim) {
                    break;
                }
                let bck = self.bk(victim);
                let size = self.size_of(victim);

                // The last remainder: for runs of small requests, keep carving the
                // same chunk so that consecutive allocations sit together.
                if in_smallbin_range(nb)
                    && bck == UNSORTED as u64
                    && victim == self.last_remainder
                    && size > nb + MINSIZE
                {
                    let rem = victim + nb;
                    self.visit();
                    self.unsorted_remove(victim);
                    self.set_state(victim, State::InUse);
                    self.chm(victim).set_size(nb);
                    self.w_head(victim);
                    self.new_chunk(rem, size - nb, true, State::InUse);
                    self.bins[UNSORTED].fd = rem;
                    self.bins[UNSORTED].bk = rem;
                    self.last_remainder = rem;
                    {
                        let c = self.chm(rem);
                        c.fd = UNSORTED as u64;
                        c.bk = UNSORTED as u64;
                    }
                    self.w(
                        rem + SIZE_SZ,
                        if in_smallbin_range(size - nb) { 24 } else { 40 },
                    );
                    self.set_state(rem, State::Bin);
                    self.unsorted_add(rem);
                    self.set_foot(rem, size - nb);
                    return Some(victim);
                }

                // Remove it from the unsorted bin.
                self.bins[UNSORTED].bk = bck;
                self.set_fd(bck, UNSORTED as u64);
                self.unsorted_remove(victim);

                if size == nb {
                    self.set_inuse_bit_at_offset(victim, size);
                    self.set_state(victim, State::InUse);
                    if tcache_nb && self.tc_counts[tc_idx] < self.p.tcache_count {
                        // Fill the tcache first; hand one out at the end.
                        self.visit();
                        self.tcache_put(victim, tc_idx);
                        return_cached = true;
                        continue;
                    }
                    return Some(victim);
                }

                // Sort it into its bin: this is the only place chunks enter bins.
                self.visit();
                let victim_index = self.bin_sorted(victim, size);
                self.mark_bin(victim_index);

                iters += 1;
                if iters >= MAX_ITERS {
                    break;
                }
            }

            if return_cached {
                return Some(self.tcache_get(tc_idx));
            }

            // 5. A large request: best fit in its own largebin, using the skip list
            // to step over runs of equal sizes, smallest first.
            if !in_smallbin_range(nb) {
                let first = self.bins[idx].fd;
                if !Self::is_bin(first) && self.size_of(first) >= nb {
                    let mut victim = self.bk_nextsize(first);
                    while self.size_of(victim) < nb {
                        victim = self.bk_nextsize(victim);
                        self.visit();
                    }
                    // Prefer the second chunk of a run so the skip list stays put.
                    let size = self.size_of(victim);
                    let vfd = self.ch(victim).fd;
                    if victim != self.bins[idx].bk
                        && !Self::is_bin(vfd)
                        && size == self.size_of(vfd)
                    {
                        victim = vfd;
                    }
                    self.unlink_chunk(victim);
                    self.take_or_split(victim, size, nb, false);
                    return Some(victim);
                }
            }

            // 6. Best fit from the next larger non-empty bin, skipping empty bins
            // 32 at a time with the binmap (whose bits may be stale: an empty bin
            // found here has its bit cleared).
            idx += 1;
            let mut block = idx >> 5;
            let mut map = self.binmap.get(block).copied().unwrap_or(0);
            let mut bit: u32 = 1u32 << (idx & 31);
            let mut bin = idx;
            let found = loop {
                if bit > map || bit == 0 {
                    loop {
                        block += 1;
                        if block >= self.binmap.len() {
                            break;
                        }
                        map = self.binmap[block];
                        if map != 0 {
                            break;
                        }
                    }
                    if block >= self.binmap.len() {
                        break None;
                    }
                    bin = block << 5;
                    bit = 1;
                }
                while bit & map == 0 {
                    bin += 1;
                    bit <<= 1;
                }
                let victim = self.bins[bin].bk;
                if Self::is_bin(victim) {
                    // A false alarm: the bin emptied since its bit was set.
                    self.visit();
                    map &= !bit;
                    self.binmap[block] = map;
                    bin += 1;
                    bit <<= 1;
                } else {
                    break Some(victim);
                }
            };
            if let Some(victim) = found {
                let size = self.size_of(victim);
                self.unlink_chunk(victim);
                self.take_or_split(victim, size, nb, in_smallbin_range(nb));
                return Some(victim);
            }

            // 7. The top chunk: split it if it leaves at least MINSIZE behind (top
            // must always exist, sysmalloc needs room for fenceposts).
            if self.top_size >= nb + MINSIZE {
                return Some(self.split_top(nb));
            } else if self.have_fastchunks {
                // Fastbin chunks next to top might make it big enough: merge and
                // search again.
                self.malloc_consolidate();
                idx = bin_index(nb);
            } else {
                // 8. Ask the system.
                return self.sysmalloc(k, nb);
            }
        }
    }

    /// Takes `victim`, the tail of smallbin `idx`, out for a request of `nb`.
    fn take_smallbin_tail(&mut self, idx: usize, victim: u64, nb: u64) {
        let bck = self.bk(victim);
        self.set_inuse_bit_at_offset(victim, nb);
        self.bins[idx].bk = bck;
        self.set_fd(bck, idx as u64);
        self.set_state(victim, State::InUse);
    }

    /// After `victim` (of `size`) left its bin: hand it out whole if the rest would
    /// be smaller than MINSIZE, else split off the rest to the unsorted bin's head
    /// (advertised as the last remainder when `advertise`).
    fn take_or_split(&mut self, victim: u64, size: u64, nb: u64, advertise: bool) {
        let remainder_size = size - nb;
        if remainder_size < MINSIZE {
            self.set_inuse_bit_at_offset(victim, size);
            return;
        }
        let rem = victim + nb;
        self.visit();
        self.chm(victim).set_size(nb);
        self.chm(victim).set_prev_inuse(true);
        self.w_head(victim);
        self.new_chunk(rem, remainder_size, true, State::InUse);
        self.w_head(rem);
        self.link_unsorted_head(rem);
        if advertise {
            self.last_remainder = rem;
        }
        self.set_foot(rem, remainder_size);
    }

    /// Splits `nb` bytes off the front of top.
    pub(super) fn split_top(&mut self, nb: u64) -> u64 {
        let victim = self.top;
        self.top = victim + nb;
        self.top_size -= nb;
        self.new_chunk(victim, nb, true, State::InUse);
        self.w_head(victim);
        self.w_head(self.top);
        victim
    }

    /// Places `victim` (just taken off the unsorted bin) in its small or large bin;
    /// returns the bin index. Smallbins get it at the head; largebins keep chunks
    /// sorted by decreasing size, a new size starting a run (linked into the
    /// nextsize list) and an existing size joining its run in second place.
    fn bin_sorted(&mut self, victim: u64, size: u64) -> usize {
        let victim_index;
        let mut bck;
        let mut fwd;
        if in_smallbin_range(size) {
            victim_index = smallbin_index(size);
            bck = victim_index as u64;
            fwd = self.bins[victim_index].fd;
        } else {
            victim_index = largebin_index(size);
            bck = victim_index as u64;
            fwd = self.bins[victim_index].fd;
            if fwd != bck {
                let smallest = self.bins[victim_index].bk;
                if size < self.size_of(smallest) {
                    // Smaller than everything: append, as a new run at the end.
                    fwd = bck;
                    bck = smallest;
                    let first = self.bins[victim_index].fd;
                    let first_bkn = self.bk_nextsize(first);
                    self.set_fd_nextsize(victim, first);
                    self.set_bk_nextsize(victim, first_bkn);
                    self.set_bk_nextsize(first, victim);
                    self.set_fd_nextsize(first_bkn, victim);
                } else {
                    while size < self.size_of(fwd) {
                        fwd = self.fd_nextsize(fwd);
                        self.visit();
                    }
                    if size == self.size_of(fwd) {
                        // Always insert in the second position of the run.
                        fwd = self.ch(fwd).fd;
                    } else {
                        let fwd_bkn = self.bk_nextsize(fwd);
                        self.set_fd_nextsize(victim, fwd);
                        self.set_bk_nextsize(victim, fwd_bkn);
                        self.set_bk_nextsize(fwd, victim);
                        self.set_fd_nextsize(fwd_bkn, victim);
                    }
                    bck = self.bk(fwd);
                }
            } else {
                self.set_fd_nextsize(victim, victim);
                self.set_bk_nextsize(victim, victim);
            }
        }
        {
            let c = self.chm(victim);
            c.bk = bck;
            c.fd = fwd;
        }
        self.w(victim + 2 * SIZE_SZ, 2 * SIZE_SZ);
        self.set_bk(fwd, victim);
        self.set_fd(bck, victim);
        victim_index
    }

    /// `malloc_consolidate`: empties every fastbin (smallest size first, each from
    /// its head), merging each chunk with free neighbours; the results go to the
    /// unsorted bin's head, or into top when they border it.
    pub(super) fn malloc_consolidate(&mut self) {
        self.have_fastchunks = false;
        for i in 0..NFASTBINS {
            let mut p = std::mem::take(&mut self.fastbins[i]);
            while p != 0 {
                let nextp = self.ch(p).fd;
                self.set_state(p, State::InUse);
                self.visit();
                self.merge_free(p);
                p = nextp;
            }
        }
    }

    /// The coalescing core shared by free and consolidation: merges chunk `p` (not in
    /// any list) with a free predecessor and a free successor, then files the result
    /// in the unsorted bin or merges it into top. Returns the merged size.
    pub(super) fn merge_free(&mut self, p: u64) -> u64 {
        let c = *self.ch(p);
        let mut size = c.size();
        let nextchunk = p + size;
        let nextsize = if nextchunk == self.top {
            self.top_size
        } else {
            self.size_of(nextchunk)
        };
        let mut p = p;
        if !c.prev_inuse() {
            // Consolidate backward: prev_size tells where the free predecessor starts.
            let prevsize = c.prev_size;
            self.visit();
            self.drop_chunk(p);
            p -= prevsize;
            size += prevsize;
            self.unlink_chunk(p);
        }
        if nextchunk != self.top {
            if self.ch(nextchunk).state() == State::Bin {
                // Consolidate forward.
                self.visit();
                self.unlink_chunk(nextchunk);
                self.drop_chunk(nextchunk);
                size += nextsize;
            } else {
                // clear_inuse_bit_at_offset: the successor now has a free predecessor.
                self.chm(nextchunk).set_prev_inuse(false);
                self.w_head(nextchunk);
            }
            self.chm(p).set_size(size);
            self.chm(p).set_prev_inuse(true);
            self.w_head(p);
            self.link_unsorted_head(p);
            self.set_foot(p, size);
        } else {
            // Borders top: becomes part of it.
            size += nextsize;
            self.drop_chunk(p);
            self.top = p;
            self.top_size = size;
            self.w_head(p);
        }
        size
    }
}
