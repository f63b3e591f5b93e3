//! Building an op stream: live blocks to pick from, and the exact budget of calls.
//!
//! Every generator promises exactly `ops` allocator calls and a stream that ends with
//! every block freed. [`Builder`] keeps that promise by bookkeeping alone (the budget
//! rule below), so a generator only decides *what* to do next; [`Pool`] holds the live
//! blocks of one kind for picking one at random.

use super::SizeDist;
use crate::op::{BlockId, Op, TouchPolicy, Workload};
use crate::rng;
use rand_chacha::ChaCha8Rng;

/// Live blocks of one kind, for picking one at random.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    blocks: Vec<(BlockId, u64)>,
}

impl Pool {
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) fn push(&mut self, id: BlockId, size: u64) {
        self.blocks.push((id, size));
    }

    /// Removes and returns a random block (swap-remove: O(1), order deterministic).
    pub(crate) fn take_random(&mut self, rng: &mut ChaCha8Rng) -> Option<(BlockId, u64)> {
        if self.blocks.is_empty() {
            return None;
        }
        let i = rng::below(rng, self.blocks.len() as u64) as usize;
        Some(self.blocks.swap_remove(i))
    }

    /// A random block, left in the pool; the caller may change its size.
    pub(crate) fn pick_random(&mut self, rng: &mut ChaCha8Rng) -> Option<&mut (BlockId, u64)> {
        if self.blocks.is_empty() {
            return None;
        }
        let i = rng::below(rng, self.blocks.len() as u64) as usize;
        self.blocks.get_mut(i)
    }

    /// Removes every block, oldest first.
    pub(crate) fn take_all(&mut self) -> Vec<(BlockId, u64)> {
        std::mem::take(&mut self.blocks)
    }
}

/// Builds an op stream with an exact budget of allocator calls.
///
/// The budget rule: at any time `slack = budget - emitted - live` is the number of
/// calls left over after one `free` per live block. A malloc costs 2 of it (itself and
/// its eventual free), a realloc 1, a free 0. A generator mallocs only while
/// `slack >= 2`, reallocs only while `slack >= 1`, and when slack reaches 0 it drains:
/// the stream then ends with every block freed and exactly `budget` calls.
pub(crate) struct Builder {
    pub(crate) rng: ChaCha8Rng,
    workload: Workload,
    budget: u64,
    emitted: u64,
    live: u64,
    next_id: BlockId,
    /// Percent of each block's bytes written by explicit touches, when below 100.
    touch_percent: u64,
    /// Lifetime hint for a block that [`Builder::settle`] leaves live to the end.
    pub(crate) leftover_lifetime: Option<u8>,
}

impl Builder {
    pub(crate) fn new(name: &str, seed: u64, budget: u64) -> Builder {
        let mut workload = Workload::new(name);
        workload.seed = Some(seed);
        // Reserve for the calls plus a few markers; the budget was checked against
        // MAX_OPS before.
        workload.ops.reserve(budget as usize + 16);
        Builder {
            rng: rng::seeded(seed),
            workload,
            budget,
            emitted: 0,
            live: 0,
            next_id: 0,
            touch_percent: 100,
            leftover_lifetime: None,
        }
    }

    /// Writes only `percent` of each block (from its start) with explicit touches,
    /// instead of every byte; `percent >= 100` keeps [`TouchPolicy::WriteAll`].
    pub(crate) fn touch_only(&mut self, percent: u64) {
        if percent < 100 {
            self.touch_percent = percent;
            self.workload.touch = TouchPolicy::None;
        }
    }

    pub(crate) fn slack(&self) -> u64 {
        self.budget.saturating_sub(self.emitted + self.live)
    }

    pub(crate) fn phase(&mut self, name: &str) {
        self.workload.ops.push(Op::Phase {
            name: name.to_string(),
        });
    }

    pub(crate) fn trim(&mut self, pad: u64) {
        self.workload.ops.push(Op::Trim { pad });
    }

    /// Mallocs a fresh id. Callers keep `slack() >= 2`.
    pub(crate) fn malloc(&mut self, size: u64) -> BlockId {
        debug_assert!(self.slack() >= 2);
        self.live += 1;
        self.malloc_unfreed(size)
    }

    /// Mallocs a fresh id that will never be freed: it costs one call, not two.
    fn malloc_unfreed(&mut self, size: u64) -> BlockId {
        let id = self.next_id;
        self.next_id += 1;
        self.workload.ops.push(Op::Malloc { id, size });
        self.emitted += 1;
        self.touch_range(id, 0, size);
        id
    }

    /// Mallocs a block with a lifetime hint.
    pub(crate) fn malloc_with_lifetime(&mut self, size: u64, class: u8) -> BlockId {
        let id = self.malloc(size);
        self.workload.lifetimes.insert(id, class);
        id
    }

    pub(crate) fn free(&mut self, id: BlockId) {
        debug_assert!(self.live > 0);
        self.workload.ops.push(Op::Free { id });
        self.emitted += 1;
        self.live = self.live.saturating_sub(1);
    }

    /// Reallocs `id` from `old` to `new` bytes. Callers keep `slack() >= 1`.
    pub(crate) fn realloc(&mut self, id: BlockId, old: u64, new: u64) {
        debug_assert!(self.slack() >= 1);
        self.workload.ops.push(Op::Realloc { id, size: new });
        self.emitted += 1;
        if new > old {
            self.touch_range(id, old, new);
        }
    }

    /// With partial touching on, writes the first `touch_percent` of `start..end`.
    fn touch_range(&mut self, id: BlockId, start: u64, end: u64) {
        if self.workload.touch == TouchPolicy::None {
            let len = (end - start) * self.touch_percent / 100;
            if len > 0 {
                self.workload.ops.push(Op::Touch {
                    id,
                    offset: start,
                    len,
                    write: true,
                });
            }
        }
    }

    /// Spends the remaining slack: mallocs into `pool` while it is at least 2, then an
    /// odd last unit on the realloc of a random block of `pool` (to a size from
    /// `sizes`), or, when `pool` is empty, on one malloc that is never freed.
    pub(crate) fn settle(&mut self, pool: &mut Pool, sizes: &SizeDist) {
        while self.slack() > 0 {
            if self.slack() >= 2 {
                let size = sizes.sample(&mut self.rng);
                let id = self.malloc(size);
                pool.push(id, size);
            } else if let Some(block) = pool.pick_random(&mut self.rng) {
                let (id, old) = *block;
                let new = sizes.sample(&mut self.rng);
                block.1 = new;
                self.realloc(id, old, new);
            } else {
                // The pool is empty and one call is left: a malloc the program never
                // frees (real programs leave blocks live at exit). Being never freed,
                // it costs one call, which is exactly what is left.
                let size = sizes.sample(&mut self.rng);
                let id = self.malloc_unfreed(size);
                if let Some(class) = self.leftover_lifetime {
                    self.workload.lifetimes.insert(id, class);
                }
            }
        }
    }

    /// Frees every block of `pool` in a random order.
    pub(crate) fn drain_random(&mut self, pool: &mut Pool) {
        while let Some((id, _)) = pool.take_random(&mut self.rng) {
            self.free(id);
        }
    }

    pub(crate) fn finish(self) -> Workload {
        debug_assert_eq!(self.emitted, self.budget);
        self.workload
    }
}
