//! glibc `malloc` and `free` on their fast paths.
//!
//! A small `free` in glibc 2.26 and later puts the chunk on the thread's *tcache*, a
//! per-size singly linked list of up to 7 chunks, and the next `malloc` of that size
//! pops it: a few loads and stores, no lock, no system call. When a list is full, frees
//! go to the arena's fastbins (still no system call). This is why `malloc` "mostly
//! stays in user space".
//!
//! The fast path is not what a long-running program sees on average, though: with
//! thousands of live blocks of mixed sizes, many requests miss the tcache and go
//! through the unsorted list and the bins, and the chunks they touch are cold. The
//! steady-state measurement shows how far that is from the fast path. The cost model
//! keeps `alloc_op_ns` as the fast-path unit (allocator models charge multiples of it
//! for their slow paths); the steady figure is for comparison.

use std::hint::black_box;
use std::time::Instant;

use super::child::Recorder;
use super::timing::{SplitMix, batches, empty_loop, since};
use super::{Ctx, Desc, Failure};
use crate::bench::streams::{ONE_CHUNK_SIZE, STEADY_SEED, arena_size};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::HeapBlock;

const LOOP_METHOD: &str = "The measuring harness's batch loop around an empty body: the \
per-iteration cost that a loop of very cheap operations carries. Subtracted from the \
malloc(64)+free pair, where it is a visible fraction; negligible everywhere else.";

const TCACHE_METHOD: &str = "A loop of `p = malloc(64); free(p)` (the pointer passed \
through `black_box` so the pair cannot be optimized away). After the first round the \
chunk cycles through the tcache: malloc pops it, free pushes it back. Batch mean per \
pair, minus the harness's empty-loop cost.";

const BATCH_METHOD: &str = "1000 × `malloc(64)` into an array, then `free` of each in \
allocation order. Only 7 chunks fit in the tcache bin: the other frees go to the \
fastbin, and the next round's mallocs take them back from there (and from the top of \
the heap the first time). Time per malloc+free pair.";

const STEADY_METHOD: &str = "A pool of live blocks (4096 in quick and full mode) with \
sizes drawn from the `churn` workload's small-objects mix (93 % of 16-512 bytes, a tail \
to 64 KiB); each step frees a random live block and mallocs a new one of a fresh size. \
After one pass over the pool, a sample is the batch mean per malloc+free pair (drawing \
the slot and the size, a few ns, included). Nothing \
is written into the blocks: this is the allocator's own work (free-list and bin \
handling, consolidation, the cache misses on chunk headers), without the program's \
stores into the memory.";

const ARENA_METHOD: &str = "As the steady state above, with sizes drawn uniformly from \
1,100 to 4,000 bytes: larger than the tcache's and the fastbins' largest chunks, so \
every malloc runs `_int_malloc` (the unsorted bin, the bins, splitting, the top chunk) \
and every free runs `_int_free` (coalescing with free neighbours). Nothing is \
written. Per malloc+free pair.";

const ONE_CHUNK_METHOD: &str = "`b = malloc(2000)` and a 16-byte guard after it, then \
a loop of `free(b); b = malloc(2000)`. 2000 bytes is beyond the tcache and the \
fastbins, so each free runs `_int_free` (no free neighbour to merge: the guard is in \
use) and files the chunk in the unsorted bin, and each malloc runs `_int_malloc`, whose \
unsorted scan takes the same chunk back as an exact fit: the arena's cheapest path, \
with one chunk visited and everything in the cache. Per pair.";

const WRITTEN_METHOD: &str = "The steady state above with the same draws, where the \
program writes every new block whole (`memset`) right after its malloc, as the \
simulated program does. Minus the unwritten figure, it is the time of writing one \
block of the mix, cache misses included.";

const LARGE_METHOD: &str = "The steady state above with sizes drawn uniformly from 4 \
to 16 KiB (below the mmap threshold, all from the heap), nothing written; with its \
written twin it gives the write time of a larger block, and the two mixes together \
give a per-block and a per-byte cost of writing.";

/// Number of blocks in the batch loop.
const BATCH: usize = 1000;

/// Measures malloc+free pairs.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (target, live) = (ctx.plan.target_ns, ctx.plan.steady_live);
    ctx.run(
        "malloc and free",
        vec![
            Desc::new(
                keys::LOOP_OVERHEAD,
                "harness loop, empty body",
                "ns per iteration",
                LOOP_METHOD,
            ),
            Desc::new(
                keys::MALLOC_FREE_TCACHE,
                "malloc(64) + free, tcache path",
                "ns per pair",
                TCACHE_METHOD,
            ),
            Desc::new(
                keys::MALLOC_FREE_BATCH,
                "1000 x malloc(64) then 1000 x free",
                "ns per pair",
                BATCH_METHOD,
            ),
            Desc {
                key: keys::MALLOC_FREE_STEADY.to_string(),
                label: format!("malloc + free among {live} live blocks of mixed sizes"),
                unit: "ns per pair",
                method: STEADY_METHOD,
            },
            Desc {
                key: keys::MALLOC_FREE_ARENA.to_string(),
                label: format!("malloc + free among {live} live blocks of 1,100-4,000 bytes"),
                unit: "ns per pair",
                method: ARENA_METHOD,
            },
            Desc {
                key: keys::STEADY_WRITTEN.to_string(),
                label: "as the mixed sizes, every new block written".to_string(),
                unit: "ns per pair",
                method: WRITTEN_METHOD,
            },
            Desc {
                key: keys::STEADY_LARGE.to_string(),
                label: format!("malloc + free among {live} live blocks of 4-16 KiB"),
                unit: "ns per pair",
                method: LARGE_METHOD,
            },
            Desc {
                key: keys::STEADY_LARGE_WRITTEN.to_string(),
                label: "as 4-16 KiB, every new block written".to_string(),
                unit: "ns per pair",
                method: WRITTEN_METHOD,
            },
            Desc::new(
                keys::MALLOC_FREE_ARENA_ONE,
                "free + malloc(2000), one chunk through the unsorted bin",
                "ns per pair",
                ONE_CHUNK_METHOD,
            ),
        ],
        |rec| {
            empty_loop(rec, 0, target)?;
            let overhead = rec.median_of(0).max(0.0);
            // First, while the heap has no free chunks of this size to split: `b`
            // and its guard come from top, side by side, as in the model's stream.
            let mut b = Some(HeapBlock::new(ONE_CHUNK_SIZE)?);
            let guard = HeapBlock::new(16)?;
            batches(rec, 8, target, 1.0, overhead, || {
                b = None;
                let block = HeapBlock::new(ONE_CHUNK_SIZE)?;
                black_box(block.as_ptr());
                b = Some(block);
                Ok(())
            })?;
            drop(b);
            drop(guard);
            batches(rec, 1, target, 1.0, overhead, || {
                let block = HeapBlock::new(64)?;
                black_box(block.as_ptr());
                drop(block);
                Ok(())
            })?;
            let mut blocks: Vec<Option<HeapBlock>> = (0..BATCH).map(|_| None).collect();
            batches(rec, 2, target, BATCH as f64, 0.0, || {
                let mut result = Ok(());
                for b in blocks.iter_mut() {
                    match HeapBlock::new(64) {
                        Ok(block) => *b = Some(block),
                        Err(e) => result = Err(e.into()),
                    }
                }
                black_box(blocks.as_ptr());
                for b in blocks.iter_mut() {
                    // Dropping the block frees it.
                    *b = None;
                }
                result
            })?;
            let small = Sizes::small_objects();
            steady(rec, 3, live, target, |r| small.draw(r), false)?;
            steady(rec, 4, live, target, arena_size, false)?;
            steady(rec, 5, live, target, |r| small.draw(r), true)?;
            steady(rec, 6, live, target, |r| uniform(r, 4096, 16384), false)?;
            steady(rec, 7, live, target, |r| uniform(r, 4096, 16384), true)
        },
    )
}

/// Draws request sizes from the `churn` workload's small-objects mix.
struct Sizes {
    buckets: Vec<workload::SizeBucket>,
    total: u64,
}

impl Sizes {
    fn small_objects() -> Sizes {
        let buckets = workload::SizeDist::small_objects().buckets;
        let total = buckets
            .iter()
            .map(|b| u64::from(b.weight))
            .sum::<u64>()
            .max(1);
        Sizes { buckets, total }
    }

    /// A weighted bucket, then a uniform size inside it.
    fn draw(&self, rng: &mut SplitMix) -> usize {
        let mut pick = rng.next_u64() % self.total;
        for b in &self.buckets {
            let w = u64::from(b.weight);
            if pick < w {
                let span = b.max.saturating_sub(b.min) + 1;
                return (b.min + rng.next_u64() % span) as usize;
            }
            pick -= w;
        }
        64
    }
}

/// A size drawn uniformly from `lo..=hi`.
fn uniform(rng: &mut SplitMix, lo: usize, hi: usize) -> usize {
    lo + rng.below(hi - lo + 1)
}

/// Frees the block in `slot` and mallocs a new one of a fresh size in its place (in
/// that order: the free first, as a program replacing an object does); with `write`,
/// the program then writes the new block whole.
fn replace(slot: &mut Option<HeapBlock>, size: usize, write: bool) -> Result<(), Failure> {
    *slot = None;
    let mut block = HeapBlock::new(size)?;
    if write {
        block.fill(0xA5);
    }
    black_box(block.as_ptr());
    *slot = Some(block);
    Ok(())
}

/// Measures malloc+free pairs among `live` blocks with sizes from `draw` into series
/// `s`, each new block written whole when `write`. The draws start from the same seed
/// in every series, so a written and an unwritten series see the same sizes. (On an
/// error the pool is left to the child's exit.)
fn steady(
    rec: &mut Recorder,
    s: usize,
    live: usize,
    target: f64,
    draw: impl Fn(&mut SplitMix) -> usize,
    write: bool,
) -> Result<(), Failure> {
    let mut rng = SplitMix(STEADY_SEED);
    let mut pool: Vec<Option<HeapBlock>> = (0..live.max(1)).map(|_| None).collect();
    for slot in pool.iter_mut() {
        replace(slot, draw(&mut rng), write)?;
    }
    let mut step = |pool: &mut [Option<HeapBlock>]| {
        let k = rng.below(pool.len());
        replace(&mut pool[k], draw(&mut rng), write)
    };
    // One pass of replacements settles the heap and sizes the batches.
    let t = Instant::now();
    for _ in 0..pool.len() {
        step(&mut pool)?;
    }
    let inner = ((target / (since(t) / pool.len() as f64).max(0.1)) as usize).max(1);
    rec.set_inner(s, inner);
    for _ in 0..rec.reps() {
        let t = Instant::now();
        for _ in 0..inner {
            step(&mut pool)?;
        }
        rec.push(s, since(t) / inner as f64)?;
    }
    // Dropping the pool frees every block, in order.
    drop(pool);
    Ok(())
}
