//! `churn`: a long-running program in steady state.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::Workload;
use crate::rng;
use serde::{Deserialize, Serialize};

/// Parameters of `churn`: the steady state of a long-running program.
///
/// **What it imitates.** A server, an interpreter or a desktop application that has been
/// running for a while: it holds a roughly constant number of objects (connections,
/// cache entries, AST nodes, strings) and keeps replacing them, each step freeing a
/// random old object or allocating a new one, now and then resizing one (a string that
/// grows). The live set stays near `live_blocks` but its members and sizes keep
/// changing, which is what slowly breaks a heap into holes.
///
/// **What it shows.** The per-op cost of an allocator when almost every call can be
/// served from its own free lists: for glibc few syscalls, for an mmap-per-block
/// allocator one `mmap` and one `munmap` per block (claim 7, "many small chunks with
/// mmap is expensive", and claim 4 on syscalls per op); the page-rounding waste of
/// mmap against malloc's headers on the same sizes (claim 6); the number of VMAs
/// an mmap-per-block allocator needs (claim 12).
///
/// **Shape.** Phase `warm-up` allocates `live_blocks` blocks; phase `steady` makes
/// random choices: with probability `realloc_permille`/1000 a realloc of a random live
/// block to a new size, otherwise a malloc (60 % when below `live_blocks`, 40 % above)
/// or the free of a random live block; phase `drain` frees what is left.
///
/// **Defaults.** 40 000 calls, 4 000 live blocks, 5 % reallocs, sizes from
/// [`SizeDist::small_objects`]: peak live about 2.5–3 MiB, a run that takes well under
/// a second in the simulator with every byte written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnParams {
    /// Allocator calls (malloc, free, realloc). Default 40 000.
    pub ops: u64,
    /// Live blocks the program hovers around. Default 4 000.
    pub live_blocks: u64,
    /// Per mille of steady-state steps that realloc a live block. Default 50.
    pub realloc_permille: u32,
    /// Request sizes (for mallocs and reallocs). Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
}

impl ChurnParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 40_000;
    const NAME: &'static str = "churn";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        check_ops(Self::NAME, self.ops, 2)?;
        require(self.live_blocks >= 1, Self::NAME, "live_blocks", || {
            "must be at least 1".to_string()
        })?;
        require(
            self.realloc_permille <= 1000,
            Self::NAME,
            "realloc_permille",
            || format!("{} is above 1000", self.realloc_permille),
        )?;
        self.sizes.check(Self::NAME, "sizes")?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        let mut pool = Pool::default();

        b.phase("warm-up");
        while (pool.len() as u64) < self.live_blocks && b.slack() >= 2 {
            let size = self.sizes.sample(&mut b.rng);
            let id = b.malloc(size);
            pool.push(id, size);
        }

        b.phase("steady");
        while b.slack() > 0 {
            let realloc = rng::chance(&mut b.rng, self.realloc_permille);
            if (realloc || b.slack() == 1) && !pool.is_empty() {
                if let Some(block) = pool.pick_random(&mut b.rng) {
                    let (id, old) = *block;
                    let new = self.sizes.sample(&mut b.rng);
                    block.1 = new;
                    b.realloc(id, old, new);
                }
                continue;
            }
            // A random walk around the target: lean towards malloc below it and
            // towards free above it, so the live count wanders but does not drift.
            let lean = if (pool.len() as u64) < self.live_blocks {
                600
            } else {
                400
            };
            let malloc = pool.is_empty() || rng::chance(&mut b.rng, lean);
            if malloc && b.slack() >= 2 {
                let size = self.sizes.sample(&mut b.rng);
                let id = b.malloc(size);
                pool.push(id, size);
            } else if let Some((id, _)) = pool.take_random(&mut b.rng) {
                b.free(id);
            } else {
                // Nothing live and a single call left.
                b.settle(&mut pool, &self.sizes);
            }
        }

        b.phase("drain");
        b.drain_random(&mut pool);
        Ok(b.finish())
    }
}

impl Default for ChurnParams {
    fn default() -> Self {
        ChurnParams {
            ops: Self::DEFAULT_OPS,
            live_blocks: 4_000,
            realloc_permille: 50,
            sizes: SizeDist::small_objects(),
        }
    }
}
