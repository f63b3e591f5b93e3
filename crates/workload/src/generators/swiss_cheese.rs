//! `swiss-cheese`: a heap full of holes too small to use.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::Workload;
use serde::{Deserialize, Serialize};

/// Parameters of `swiss-cheese`: free memory everywhere, none of it usable.
///
/// **What it imitates.** A program that allocates many objects in a row and then drops
/// every other one (a cache evicting half its entries, a list losing its odd nodes, a
/// garbage collector's survivors scattered through old data), and afterwards asks for
/// objects bigger than the ones it dropped.
///
/// **What it shows.** External fragmentation and claim 9 ("one live block can pin
/// everything below it", here many at once). After `free-every-other` about half of the
/// heap is free, but in holes between live blocks: the break cannot move, glibc's
/// `malloc_trim` can return only the pages that lie wholly inside a hole (none with
/// the default sizes, which are below a page; try `sizes` of 8–64 KiB to see
/// `madvise` release whole pages), and the `big-requests`, larger than any hole, must
/// come from the top: the heap grows while half of it is free. A size-class allocator
/// reuses the holes for same-sized objects only; an mmap-per-block allocator has no
/// holes at all, and pays for that in syscalls and page rounding.
///
/// **Shape.** Phase `fill` allocates blocks from `sizes`; phase `free-every-other`
/// frees all but every `keep_every`-th block (and always keeps the last one, so the
/// top stays pinned); phase `trim` calls `malloc_trim(0)` (when `trim`); phase
/// `big-requests` allocates blocks from `big_sizes`, `big_percent` as many as were
/// filled; phase `drain` frees everything.
///
/// **Defaults.** 20 000 calls (about 8 900 fill blocks and 1 070 big ones), fill sizes
/// log-uniform 64–512 bytes, big sizes log-uniform 1–2 KiB (bigger than any hole, since
/// holes are single freed blocks), keep every 2nd block, trim on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwissCheeseParams {
    /// Allocator calls. Default 20 000.
    pub ops: u64,
    /// Sizes of the fill blocks. Default log-uniform 64–512 bytes.
    pub sizes: SizeDist,
    /// One in `keep_every` fill blocks stays live; the others are freed. Default 2.
    pub keep_every: u64,
    /// Whether a `malloc_trim(0)` follows the frees. Default true.
    pub trim: bool,
    /// Big requests, as a percentage of the number of fill blocks. Default 12.
    pub big_percent: u64,
    /// Sizes of the big requests. Default log-uniform 1024–2048 bytes.
    pub big_sizes: SizeDist,
}

impl SwissCheeseParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 20_000;
    const NAME: &'static str = "swiss-cheese";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        check_ops(Self::NAME, self.ops, 4)?;
        self.sizes.check(Self::NAME, "sizes")?;
        self.big_sizes.check(Self::NAME, "big_sizes")?;
        require(
            (2..=1000).contains(&self.keep_every),
            Self::NAME,
            "keep_every",
            || format!("{} is not in 2..=1000", self.keep_every),
        )?;
        require(self.big_percent <= 1000, Self::NAME, "big_percent", || {
            format!("{} is above 1000", self.big_percent)
        })?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        // Every block costs a malloc and a free: 2 * (fill + fill * big_percent / 100).
        let fill = (self.ops * 100 / (2 * (100 + self.big_percent))).max(1);

        b.phase("fill");
        let mut filled = Vec::new();
        while (filled.len() as u64) < fill && b.slack() >= 2 {
            let size = self.sizes.sample(&mut b.rng);
            filled.push((b.malloc(size), size));
        }

        b.phase("free-every-other");
        let mut kept = Pool::default();
        let count = filled.len();
        for (i, (id, size)) in filled.into_iter().enumerate() {
            let keep = i as u64 % self.keep_every == self.keep_every - 1 || i + 1 == count;
            if keep {
                kept.push(id, size);
            } else {
                b.free(id);
            }
        }

        if self.trim {
            b.phase("trim");
            b.trim(0);
        }

        b.phase("big-requests");
        let mut big = Pool::default();
        while b.slack() >= 2 {
            let size = self.big_sizes.sample(&mut b.rng);
            let id = b.malloc(size);
            big.push(id, size);
        }
        if b.slack() == 1 {
            if big.is_empty() {
                b.settle(&mut kept, &self.sizes);
            } else {
                b.settle(&mut big, &self.big_sizes);
            }
        }

        b.phase("drain");
        for (id, size) in big.take_all() {
            kept.push(id, size);
        }
        b.drain_random(&mut kept);
        Ok(b.finish())
    }
}

impl Default for SwissCheeseParams {
    fn default() -> Self {
        SwissCheeseParams {
            ops: Self::DEFAULT_OPS,
            sizes: SizeDist::log_uniform(64, 512),
            keep_every: 2,
            trim: true,
            big_percent: 12,
            big_sizes: SizeDist::log_uniform(1024, 2048),
        }
    }
}
