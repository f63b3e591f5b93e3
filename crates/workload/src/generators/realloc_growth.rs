//! `realloc-growth`: growing arrays and strings.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::{BlockId, MAX_SIZE, Workload};
use crate::rng;
use serde::{Deserialize, Serialize};

/// Parameters of `realloc-growth`: dynamic arrays that grow by a factor.
///
/// **What it imitates.** Every growable container: C++ `std::vector`, Rust `Vec` and
/// `String`, Python lists, a line buffer that reads input of unknown length. Each
/// buffer starts small and, when full, is `realloc`'d to a size larger by a constant
/// factor (`growth_percent` 100 doubles, 50 grows by half) until it is dropped and a new
/// one starts. Between growth steps the program allocates and frees small objects.
///
/// **What it shows.** When `realloc` can grow a block in place (the next chunk is free
/// or is the heap top) and when it must move it (a small object was placed right
/// after it): a move costs a copy and leaves a hole behind. A buffer that grows past
/// the mmap threshold moves to its own mapping (claim 1), after which glibc grows it
/// with `mremap` instead of copying; doubling against 1.5x growth changes how many
/// moves and how much slack memory a program pays for (claim 5's cost per size).
///
/// **Shape.** Phase `grow`: each step, with probability `between_permille`/1000, a small
/// allocation step (malloc below `small_live`, else a free of a random small block);
/// otherwise one of `buffers` buffers (chosen at random) advances: it is created at
/// `initial_size`, grown by `growth_percent`, or, once it reached `max_size`, freed (to
/// start again on its next turn). Phase `drain` frees everything.
///
/// **Defaults.** 10 000 calls, 4 buffers from 16 bytes doubling up to 1 MiB, 30 %
/// small steps around 64 live blocks from [`SizeDist::small_objects`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReallocGrowthParams {
    /// Allocator calls. Default 10 000.
    pub ops: u64,
    /// Number of growing buffers. Default 4.
    pub buffers: u64,
    /// A buffer's first size. Default 16.
    pub initial_size: u64,
    /// Growth per step in percent of the current size (at least 1 byte). Default 100.
    pub growth_percent: u64,
    /// The size at which a buffer is dropped and started again. Default 1 MiB.
    pub max_size: u64,
    /// Per mille of steps that allocate or free a small object instead. Default 300.
    pub between_permille: u32,
    /// Small objects the program keeps live. Default 64.
    pub small_live: u64,
    /// Sizes of small objects. Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
}

impl ReallocGrowthParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 10_000;
    const NAME: &'static str = "realloc-growth";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        check_ops(Self::NAME, self.ops, 2)?;
        self.sizes.check(Self::NAME, "sizes")?;
        require(
            (1..=1000).contains(&self.buffers),
            Self::NAME,
            "buffers",
            || format!("{} is not in 1..=1000", self.buffers),
        )?;
        require(
            1 <= self.initial_size
                && self.initial_size <= self.max_size
                && self.max_size <= MAX_SIZE,
            Self::NAME,
            "max_size",
            || {
                format!(
                    "initial_size {} and max_size {} must have 1 <= initial_size <= max_size <= 2^48",
                    self.initial_size, self.max_size
                )
            },
        )?;
        require(
            (1..=1000).contains(&self.growth_percent),
            Self::NAME,
            "growth_percent",
            || format!("{} is not in 1..=1000", self.growth_percent),
        )?;
        require(
            self.between_permille <= 1000,
            Self::NAME,
            "between_permille",
            || format!("{} is above 1000", self.between_permille),
        )?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        let mut small = Pool::default();
        // Each buffer: its id and size while it exists.
        let mut buffers: Vec<Option<(BlockId, u64)>> = vec![None; self.buffers as usize];

        b.phase("grow");
        while b.slack() > 0 {
            if b.slack() == 1 {
                // An odd call count: spend it on a growth step (or any realloc).
                let grown = buffers
                    .iter_mut()
                    .flatten()
                    .find(|(_, size)| *size < self.max_size);
                if let Some((id, size)) = grown {
                    let new = self.grow(*size);
                    b.realloc(*id, *size, new);
                    *size = new;
                } else {
                    b.settle(&mut small, &self.sizes);
                }
                continue;
            }
            if rng::chance(&mut b.rng, self.between_permille) {
                let lean = if (small.len() as u64) < self.small_live {
                    700
                } else {
                    300
                };
                if small.is_empty() || rng::chance(&mut b.rng, lean) {
                    let size = self.sizes.sample(&mut b.rng);
                    let id = b.malloc(size);
                    small.push(id, size);
                } else if let Some((id, _)) = small.take_random(&mut b.rng) {
                    b.free(id);
                }
                continue;
            }
            let which = rng::below(&mut b.rng, self.buffers) as usize;
            let Some(slot) = buffers.get_mut(which) else {
                continue;
            };
            match *slot {
                None => {
                    let id = b.malloc(self.initial_size);
                    *slot = Some((id, self.initial_size));
                }
                Some((id, size)) if size >= self.max_size => {
                    // Full: the container is dropped; a new one starts next turn.
                    b.free(id);
                    *slot = None;
                }
                Some((id, size)) => {
                    let new = self.grow(size);
                    b.realloc(id, size, new);
                    *slot = Some((id, new));
                }
            }
        }

        b.phase("drain");
        for (id, size) in buffers.into_iter().flatten() {
            small.push(id, size);
        }
        b.drain_random(&mut small);
        Ok(b.finish())
    }

    /// The next size of a buffer of `size` bytes: `growth_percent` more, at least one
    /// byte more, at most `max_size`.
    fn grow(&self, size: u64) -> u64 {
        let step = (size.saturating_mul(self.growth_percent) / 100).max(1);
        size.saturating_add(step).min(self.max_size)
    }
}

impl Default for ReallocGrowthParams {
    fn default() -> Self {
        ReallocGrowthParams {
            ops: Self::DEFAULT_OPS,
            buffers: 4,
            initial_size: 16,
            growth_percent: 100,
            max_size: 1 << 20,
            between_permille: 300,
            small_live: 64,
            sizes: SizeDist::small_objects(),
        }
    }
}
