//! The tcache: a per-thread cache of small freed chunks, checked before anything else.
//!
//! 64 singly linked stacks, one per chunk size from 32 to 1040 bytes, each holding at
//! most `tcache_count` chunks (7 by default). `free` pushes a chunk on its stack and
//! `malloc` pops one without looking at any bin; chunks in the tcache are never
//! coalesced and count as in use in `mallinfo2`. The stacks' counts and heads live in
//! the 640-byte `tcache_perthread_struct`, itself a chunk carved from the heap by the
//! thread's first malloc (or free); each cached chunk's `next` and `key` words are
//! written into its freed payload.

use super::Glibc;
use super::chunks::State;
use super::layout::{CHUNK_HDR_SZ, SIZE_SZ, TCACHE_MAX_BINS, TCACHE_STRUCT_SIZE};
use kernel::Kernel;

impl Glibc {
    /// Address of tcache count `idx` and list head `idx` inside the tcache chunk.
    pub(super) fn w_tcache_slot(&mut self, idx: usize) {
        if let Some(t) = self.tcache {
            let mem = t + CHUNK_HDR_SZ;
            let first = mem + 2 * idx as u64;
            let last = mem + 2 * TCACHE_MAX_BINS as u64 + 8 * idx as u64 + 8;
            self.w(first, last - first);
        }
    }

    /// `tcache_put`: pushes chunk `p` on tcache bin `idx`. The entry's `next` and
    /// `key` words are written into the freed payload.
    pub(super) fn tcache_put(&mut self, p: u64, idx: usize) {
        let head = self.tc_entries[idx];
        let c = self.chm(p);
        c.fd = head;
        let (old, size) = (c.state(), c.size());
        c.set_state(State::Tcache);
        self.count_out(old, size);
        self.w(p + CHUNK_HDR_SZ, 2 * SIZE_SZ);
        self.tc_entries[idx] = p;
        self.tc_counts[idx] += 1;
        self.w_tcache_slot(idx);
    }

    /// `tcache_get`: pops the most recently cached chunk of bin `idx`.
    pub(super) fn tcache_get(&mut self, idx: usize) -> u64 {
        let e = self.tc_entries[idx];
        let c = self.chm(e);
        c.set_state(State::InUse);
        self.tc_entries[idx] = c.fd;
        self.tc_counts[idx] -= 1;
        self.w_tcache_slot(idx);
        // e->key = 0: the "is in tcache" mark is cleared in the payload.
        self.w(e + CHUNK_HDR_SZ + SIZE_SZ, SIZE_SZ);
        e
    }

    /// `MAYBE_INIT_TCACHE`: the first malloc (or free) of the thread carves the
    /// 640-byte `tcache_perthread_struct` out of the heap and zeroes it. If that
    /// fails the tcache stays off and is tried again on the next call.
    pub(super) fn maybe_init_tcache(&mut self, k: &mut Kernel) {
        if self.tcache.is_some() {
            return;
        }
        if let Some(p) = self.int_malloc(k, TCACHE_STRUCT_SIZE) {
            self.set_state(p, State::Meta);
            self.tcache = Some(p);
            self.w(p + CHUNK_HDR_SZ, TCACHE_STRUCT_SIZE);
        }
    }
}
