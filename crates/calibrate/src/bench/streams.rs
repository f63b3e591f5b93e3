//! The allocator benchmarks' calls, as op streams the glibc model can run.
//!
//! `sim calibrate` times glibc's arena paths with two loops (see `linux/malloc.rs`):
//! one chunk cycling through the unsorted bin, and replacements among thousands of
//! live blocks of 1,100 to 4,000 bytes. Time alone cannot say how much of the second
//! is the call itself and how much the other chunks the call visits (bins sorted,
//! neighbours merged, remainders split). The glibc model can: it runs the very same
//! calls (these functions draw the sizes and slots the benchmarks draw, from the same
//! seed) and counts its visits. This crate does not know allocator models, so it hands
//! out the streams and takes the counts back ([`VisitCounts`]); `sim` runs the model.

use workload::{Op, TouchPolicy, Workload};

/// A small, fast, seedable generator (SplitMix64). Benchmarks need a reproducible
/// stream of draws that costs a few nanoseconds, not statistical quality.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0); the tiny modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The seed of every steady-state series ("brkmapmf"), so that series with the same
/// draw function see the same sizes.
pub(crate) const STEADY_SEED: u64 = 0x6272_6b6d_6170_6d66;

/// The request size of the one-chunk loop: above the tcache's largest (1,032 bytes)
/// and the fastbins', so each call runs `_int_malloc` or `_int_free`.
pub(crate) const ONE_CHUNK_SIZE: usize = 2000;

/// The arena benchmark's sizes: uniform in 1,100 to 4,000 bytes.
pub(crate) fn arena_size(rng: &mut SplitMix) -> usize {
    1100 + rng.below(4000 - 1100 + 1)
}

/// One benchmark's calls: the set-up (`warm` ops, not timed) and then `pairs`
/// free + malloc pairs, as the benchmark makes them.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The measurement key the benchmark reports under.
    pub key: &'static str,
    /// Every call, set-up first. Nothing is written into the blocks (as in the
    /// benchmark).
    pub workload: Workload,
    /// Ops of the set-up.
    pub warm: usize,
    /// Timed free + malloc pairs after it.
    pub pairs: usize,
}

/// What answers the visit counts of [`arena_streams`]' two streams (`sim`, which runs
/// the glibc model on them).
pub type VisitCounter<'a> = &'a dyn Fn(&[Stream; 2]) -> VisitCounts;

/// The chunks the glibc model visited per timed free + malloc pair of each stream of
/// [`arena_streams`] (the `alloc_step_ns` unit of `kernel::CostModel`).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct VisitCounts {
    /// The one-chunk loop.
    pub one_chunk: f64,
    /// Replacements among the live blocks.
    pub steady: f64,
}

/// The streams of the two arena benchmarks with `live` blocks, `pairs` timed pairs
/// each: first the one-chunk loop, then the steady state.
pub fn arena_streams(live: usize, pairs: usize) -> [Stream; 2] {
    // One chunk: b = malloc(2000), a guard so that b never borders top, then
    // free(b); b = malloc(2000) again and again.
    let mut one = Workload::new("one chunk through the unsorted bin");
    one.touch = TouchPolicy::None;
    let size = ONE_CHUNK_SIZE as u64;
    one.ops.push(Op::Malloc { id: 0, size });
    one.ops.push(Op::Malloc { id: 1, size: 16 });
    let mut id = 0;
    for _ in 0..pairs {
        one.ops.push(Op::Free { id });
        id = if id == 0 { 2 } else { id + 1 };
        one.ops.push(Op::Malloc { id, size });
    }
    // The steady state: fill `live` slots, one settling pass of replacements, then
    // the timed ones (the benchmark draws slot, then size, per replacement).
    let mut steady = Workload::new("replacements among live blocks of 1,100-4,000 bytes");
    steady.touch = TouchPolicy::None;
    let mut rng = SplitMix(STEADY_SEED);
    let live = live.max(1);
    let mut slots: Vec<u64> = Vec::with_capacity(live);
    let mut next = 0u64;
    for _ in 0..live {
        let size = arena_size(&mut rng) as u64;
        steady.ops.push(Op::Malloc { id: next, size });
        slots.push(next);
        next += 1;
    }
    let mut warm = live * 2;
    for i in 0..live + pairs {
        if i == live {
            warm = steady.ops.len();
        }
        let k = rng.below(live);
        let size = arena_size(&mut rng) as u64;
        steady.ops.push(Op::Free { id: slots[k] });
        steady.ops.push(Op::Malloc { id: next, size });
        slots[k] = next;
        next += 1;
    }
    if pairs == 0 {
        warm = steady.ops.len();
    }
    [
        Stream {
            key: super::keys::MALLOC_FREE_ARENA_ONE,
            workload: one,
            warm: 2,
            pairs,
        },
        Stream {
            key: super::keys::MALLOC_FREE_ARENA,
            workload: steady,
            warm,
            pairs,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streams_have_their_set_up_and_their_pairs() {
        let [one, steady] = arena_streams(8, 5);
        assert_eq!(one.workload.ops.len(), 2 + 2 * 5);
        assert_eq!(one.warm, 2);
        assert_eq!(steady.workload.ops.len(), 8 + 2 * 8 + 2 * 5);
        assert_eq!(steady.warm, 8 + 2 * 8);
        assert!(workload::validate(&steady.workload).is_ok());
        assert!(workload::validate(&one.workload).is_ok());
        // Sizes as the benchmark draws them.
        let mut rng = SplitMix(STEADY_SEED);
        let first = arena_size(&mut rng) as u64;
        assert_eq!(steady.workload.ops[0], Op::Malloc { id: 0, size: first });
    }
}
