//! `_int_free`: where a freed heap chunk goes.

use super::layout::*;
use super::{Glibc, State};
use kernel::Kernel;

impl Glibc {
    // ANCHOR: int_free
    /// `_int_free` for a heap chunk `p` of `size` bytes that is in no list. In order:
    ///
    /// 1. the tcache bin of its size, if that bin holds fewer than `tcache_count`;
    /// 2. its fastbin, if it is at most `max_fast` (no coalescing);
    /// 3. otherwise it is coalesced with free neighbours and goes to the unsorted bin,
    ///    or into top if it borders top. A result of 64 KiB or more then consolidates
    ///    the fastbins and, if top reached the trim threshold, shrinks the heap.
    pub(super) fn int_free(&mut self, k: &mut Kernel, p: u64, size: u64) {
        if self.tcache.is_some() {
            let tc_idx = csize2tidx(size);
            if tc_idx < self.p.tcache_bins && self.tc_counts[tc_idx as usize] < self.p.tcache_count
            {
                self.tcache_put(p, tc_idx as usize);
                return;
            }
        }
        // Past the tcache: a fastbin or the bins, with the neighbours' headers.
        k.charge_user(k.config().cost.alloc_arena_ns);

        if size <= self.p.max_fast {
            self.have_fastchunks = true;
            let idx = fastbin_index(size);
            let old = self.fastbins[idx];
            let c = self.chm(p);
            c.fd = old;
            c.set_state(State::Fast);
            self.count_in(State::Fast, size);
            self.w(p + 2 * SIZE_SZ, SIZE_SZ);
            self.fastbins[idx] = p;
            return;
        }

        let merged = self.merge_free(p);
        if merged >= FASTBIN_CONSOLIDATION_THRESHOLD {
            // Fastbin chunks may border top; without merging them we cannot tell
            // whether top is really large. Consolidating on every free would be too
            // slow, so glibc does it only after a large free.
            if self.have_fastchunks {
                self.malloc_consolidate();
            }
            if self.top_size >= self.p.trim_threshold {
                self.systrim(k, self.p.top_pad);
            }
        }
    }
    // ANCHOR_END: int_free
}
