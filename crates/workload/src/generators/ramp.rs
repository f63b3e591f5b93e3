//! `ramp`: build a big structure, keep one late block, free the rest.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::{BlockId, MAX_SIZE, Workload};
use serde::{Deserialize, Serialize};

/// In which order a generator frees a group of blocks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FreeOrder {
    /// Oldest first, as a program walking a list from its head.
    Forward,
    /// Newest first, as a stack unwinding.
    Reverse,
    /// A random order, as a hash table being cleared. The default.
    #[default]
    Random,
}

/// Parameters of `ramp`: one live block at the top pins everything below it.
///
/// **What it imitates.** A program that loads its input into memory (parses a file into
/// a tree, fills a hash table), then allocates one small block that outlives the data
/// (a result string, an error message, an entry in a global cache, a lazily created
/// singleton), then frees the data and goes on running with little live memory.
///
/// **What it shows.** Claim 9, "memory from malloc is never given back unless the break
/// moves": the late block sits at the top of the brk heap, so after the `shrink` phase
/// nearly all of the heap is free but the break cannot move below that block. glibc's
/// automatic top trimming does nothing; the `trim` phase's `malloc_trim(0)` can still
/// return the free pages in the middle with `madvise(MADV_DONTNEED)` (RSS drops, the
/// mapping stays); `unpin` frees the last block: a free list's top then comes down,
/// while glibc parks the small freed chunk in its per-thread cache, which neither trim
/// empties, so its break stays where it was.
/// Run it with `pin: false` for the contrast: the break follows the frees down.
///
/// **Shape.** Phases `grow` (mallocs), `pin` (one malloc of `pin_size`), `shrink`
/// (frees of the grown blocks in `free_order`), `trim` (one `malloc_trim(0)`, when
/// `trim`), `unpin` (the pin's free). With an odd `ops` one grown block is realloc'd
/// at the end of `grow`.
///
/// **Defaults.** 20 000 calls (9 999 grown blocks, about 6.5 MiB live at the peak), sizes
/// [`SizeDist::small_objects`], a 32-byte pin, random free order, trim on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RampParams {
    /// Allocator calls. Default 20 000.
    pub ops: u64,
    /// Sizes of the grown blocks. Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
    /// Whether one block allocated after the others stays live through `shrink`.
    /// Default true.
    pub pin: bool,
    /// Size of that block. Default 32.
    pub pin_size: u64,
    /// Order in which `shrink` frees the grown blocks. Default random.
    pub free_order: FreeOrder,
    /// Whether a `malloc_trim(0)` follows `shrink`. Default true.
    pub trim: bool,
}

impl RampParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 20_000;
    const NAME: &'static str = "ramp";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        let pin_calls = if self.pin { 2 } else { 0 };
        check_ops(Self::NAME, self.ops, 2 + pin_calls)?;
        self.sizes.check(Self::NAME, "sizes")?;
        require(
            (1..=MAX_SIZE).contains(&self.pin_size),
            Self::NAME,
            "pin_size",
            || format!("{} is not in 1..=2^48", self.pin_size),
        )?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        let mut grown = Pool::default();

        b.phase("grow");
        // Leave room for the pin's malloc and free.
        while b.slack() >= 2 + pin_calls {
            let size = self.sizes.sample(&mut b.rng);
            let id = b.malloc(size);
            grown.push(id, size);
        }
        // With an odd budget, a buffer grows once more before loading ends.
        let odd = b.slack() % 2 == 1;
        let grows = if odd {
            grown.pick_random(&mut b.rng)
        } else {
            None
        };
        if let Some(block) = grows {
            let (id, old) = *block;
            let new = old.saturating_mul(2).min(MAX_SIZE);
            block.1 = new;
            b.realloc(id, old, new);
        }

        let pin: Option<BlockId> = if self.pin {
            b.phase("pin");
            Some(b.malloc(self.pin_size))
        } else {
            None
        };

        b.phase("shrink");
        let mut blocks = grown.take_all();
        match self.free_order {
            FreeOrder::Forward => {}
            FreeOrder::Reverse => blocks.reverse(),
            FreeOrder::Random => {
                let mut pool = Pool::default();
                for (id, size) in blocks.drain(..) {
                    pool.push(id, size);
                }
                while let Some(block) = pool.take_random(&mut b.rng) {
                    blocks.push(block);
                }
            }
        }
        for (id, _) in blocks {
            b.free(id);
        }

        if self.trim {
            b.phase("trim");
            b.trim(0);
        }
        if let Some(id) = pin {
            b.phase("unpin");
            b.free(id);
        }
        Ok(b.finish())
    }
}

impl Default for RampParams {
    fn default() -> Self {
        RampParams {
            ops: Self::DEFAULT_OPS,
            sizes: SizeDist::small_objects(),
            pin: true,
            pin_size: 32,
            free_order: FreeOrder::Random,
            trim: true,
        }
    }
}
