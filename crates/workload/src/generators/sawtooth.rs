//! `sawtooth`: batch cycles that grow and shrink the working set.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::Workload;
use crate::rng;
use serde::{Deserialize, Serialize};

/// Parameters of `sawtooth`: the working set climbs and falls back, again and again.
///
/// **What it imitates.** A program that works in batches: a compiler translating one
/// file after another, a server handling bursts of requests, a game loading and
/// unloading levels. Each cycle allocates a working set and frees it at the end; a few
/// objects of each cycle survive it (an interned string, a cache entry, a log line)
/// and stay until the program ends.
///
/// **What it shows.** Whether an allocator's footprint follows live memory down after
/// each cycle or stays at the high-water mark (claim 9): glibc shrinks the heap top
/// once more than `M_TRIM_THRESHOLD` (128 KiB) is free there, but a survivor left high
/// in the heap stops that, and survivors accumulate. With several programs at once,
/// memory kept at the high-water mark is memory the others cannot use (claim 10); an
/// mmap-backed allocator returns each cycle's memory as it goes (claim 8).
///
/// **Shape.** For each cycle `k` (from 1): phase `grow-k` allocates the cycle's blocks,
/// each becoming a survivor with probability `survivor_permille`/1000; phase
/// `shrink-k` frees the cycle's other blocks in a random order (followed by a
/// `malloc_trim(0)` when `trim_each_cycle`). Phase `drain` frees the survivors. The
/// calls are split evenly between cycles; with fewer than 2 calls per cycle there are
/// fewer cycles.
///
/// **Defaults.** 24 000 calls in 6 cycles (2 000 blocks, about 1.5 MiB live at each
/// peak), 2 % survivors, sizes [`SizeDist::small_objects`], no explicit trims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SawtoothParams {
    /// Allocator calls. Default 24 000.
    pub ops: u64,
    /// Number of grow/shrink cycles. Default 6.
    pub cycles: u64,
    /// Per mille of each cycle's blocks that survive to the end. Default 20.
    pub survivor_permille: u32,
    /// Request sizes. Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
    /// Whether each `shrink` ends with a `malloc_trim(0)`. Default false.
    pub trim_each_cycle: bool,
}

impl SawtoothParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 24_000;
    const NAME: &'static str = "sawtooth";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        require(
            (1..=10_000).contains(&self.cycles),
            Self::NAME,
            "cycles",
            || format!("{} is not in 1..=10000", self.cycles),
        )?;
        check_ops(Self::NAME, self.ops, 2)?;
        require(
            self.survivor_permille <= 1000,
            Self::NAME,
            "survivor_permille",
            || format!("{} is above 1000", self.survivor_permille),
        )?;
        self.sizes.check(Self::NAME, "sizes")?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        let mut survivors = Pool::default();
        // Every cycle needs at least one block (a malloc and a free).
        let cycles = self.cycles.min(self.ops / 2);
        let per_cycle = self.ops / 2 / cycles;

        for cycle in 1..=cycles {
            b.phase(&format!("grow-{cycle}"));
            let mut working = Pool::default();
            let last = cycle == cycles;
            let mut made = 0;
            // The last cycle takes whatever the even split left over.
            while b.slack() >= 2 && (last || made < per_cycle) {
                let size = self.sizes.sample(&mut b.rng);
                let id = b.malloc(size);
                if rng::chance(&mut b.rng, self.survivor_permille) {
                    survivors.push(id, size);
                } else {
                    working.push(id, size);
                }
                made += 1;
            }
            if last && b.slack() == 1 {
                // An odd call count: one block grows before the cycle ends.
                if working.is_empty() {
                    b.settle(&mut survivors, &self.sizes);
                } else {
                    b.settle(&mut working, &self.sizes);
                }
            }
            b.phase(&format!("shrink-{cycle}"));
            b.drain_random(&mut working);
            if self.trim_each_cycle {
                b.trim(0);
            }
        }

        b.phase("drain");
        b.drain_random(&mut survivors);
        Ok(b.finish())
    }
}

impl Default for SawtoothParams {
    fn default() -> Self {
        SawtoothParams {
            ops: Self::DEFAULT_OPS,
            cycles: 6,
            survivor_permille: 20,
            sizes: SizeDist::small_objects(),
            trim_each_cycle: false,
        }
    }
}
