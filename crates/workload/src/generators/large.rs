//! `large`: small objects mixed with big buffers around the mmap threshold.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::Workload;
use crate::rng;
use serde::{Deserialize, Serialize};

/// Parameters of `large`: big buffers among small objects.
///
/// **What it imitates.** Programs that handle whole files, images or network payloads:
/// alongside the usual small objects they allocate buffers of tens of kilobytes to
/// megabytes (read buffers, decoded images, big arrays), use them briefly, and free
/// them. A handful of buffers are live at a time.
///
/// **What it shows.** Claim 1, "malloc is built partly on mmap": glibc serves requests
/// of at least `M_MMAP_THRESHOLD` (128 KiB at start) with their own mapping, and
/// freeing such a chunk raises the threshold to its size (the *dynamic* threshold), so
/// later buffers of that size come from the heap. Sizes are log-uniform between
/// `large_min` and `large_max`, so some fall below the initial threshold and many
/// above. Claim 8: every free of an mmapped block is an immediate `munmap` (RSS and
/// mapped memory drop at once). Claim 5: the cost of these requests against the small
/// ones, per byte and per call. Claim 6: page rounding on big blocks is small relative
/// to their size. With `touch_percent` below 100 the program writes only the start of
/// each block, which shows demand paging: mapped memory that is never touched never
/// becomes resident.
///
/// **Shape.** Phase `warm-up` allocates `small_live` small blocks; phase `mixed` picks,
/// for each step, the large pool with probability `large_permille`/1000 and the small
/// one otherwise, and in that pool mallocs (mostly while below its target) or frees a
/// random block; phase `drain` frees everything.
///
/// **Defaults.** 2 000 calls, 256 small blocks live from
/// [`SizeDist::small_objects`], 4 large buffers live, 10 % of steps on the large pool,
/// large sizes log-uniform 64 KiB–4 MiB (peak live around 12 MiB, about 100 MB
/// requested over the run), every byte written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LargeParams {
    /// Allocator calls. Default 2 000.
    pub ops: u64,
    /// Small blocks the program keeps live. Default 256.
    pub small_live: u64,
    /// Sizes of small blocks. Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
    /// Large buffers the program keeps live. Default 4.
    pub large_live: u64,
    /// Per mille of steps that act on a large buffer. Default 100.
    pub large_permille: u32,
    /// Sizes of large buffers. Default log-uniform 64 KiB–4 MiB.
    pub large_sizes: SizeDist,
    /// Percentage of each block the program writes (from its start). Default 100: every
    /// byte, [`crate::TouchPolicy::WriteAll`]. Below 100 the workload uses
    /// [`crate::TouchPolicy::None`] with an explicit write touch per malloc and realloc.
    pub touch_percent: u64,
}

impl LargeParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 2_000;
    const NAME: &'static str = "large";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        check_ops(Self::NAME, self.ops, 2)?;
        self.sizes.check(Self::NAME, "sizes")?;
        self.large_sizes.check(Self::NAME, "large_sizes")?;
        require(
            self.large_permille <= 1000,
            Self::NAME,
            "large_permille",
            || format!("{} is above 1000", self.large_permille),
        )?;
        require(
            self.touch_percent <= 100,
            Self::NAME,
            "touch_percent",
            || format!("{} is above 100", self.touch_percent),
        )?;
        require(
            self.small_live + self.large_live >= 1,
            Self::NAME,
            "small_live",
            || "small_live and large_live cannot both be 0".to_string(),
        )?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        b.touch_only(self.touch_percent);
        let mut small = Pool::default();
        let mut large = Pool::default();

        b.phase("warm-up");
        // Leave half the calls for the mixed phase.
        while (small.len() as u64) < self.small_live && b.slack() >= 2 + self.ops / 2 {
            let size = self.sizes.sample(&mut b.rng);
            let id = b.malloc(size);
            small.push(id, size);
        }

        b.phase("mixed");
        while b.slack() >= 2 {
            let on_large = rng::chance(&mut b.rng, self.large_permille);
            let (pool, target, sizes) = if on_large {
                (&mut large, self.large_live, &self.large_sizes)
            } else {
                (&mut small, self.small_live, &self.sizes)
            };
            let lean = if (pool.len() as u64) < target {
                700
            } else {
                300
            };
            if pool.is_empty() || rng::chance(&mut b.rng, lean) {
                let size = sizes.sample(&mut b.rng);
                let id = b.malloc(size);
                pool.push(id, size);
            } else if let Some((id, _)) = pool.take_random(&mut b.rng) {
                b.free(id);
            }
        }
        if b.slack() == 1 {
            if small.is_empty() {
                b.settle(&mut large, &self.large_sizes);
            } else {
                b.settle(&mut small, &self.sizes);
            }
        }

        b.phase("drain");
        for (id, size) in large.take_all() {
            small.push(id, size);
        }
        b.drain_random(&mut small);
        Ok(b.finish())
    }
}

impl Default for LargeParams {
    fn default() -> Self {
        LargeParams {
            ops: Self::DEFAULT_OPS,
            small_live: 256,
            sizes: SizeDist::small_objects(),
            large_live: 4,
            large_permille: 100,
            large_sizes: SizeDist::log_uniform(64 << 10, 4 << 20),
            touch_percent: 100,
        }
    }
}
