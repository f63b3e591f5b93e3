//! glibc `malloc` and `free` on their fast paths.
//!
//! A small `free` in glibc 2.26 and later puts the chunk on the thread's *tcache*, a
//! per-size singly linked list of up to 7 chunks, and the next `malloc` of that size
//! pops it: a few loads and stores, no lock, no system call. When a list is full, frees
//! go to the arena's fastbins (still no system call). This is why `malloc` "mostly
//! stays in user space".

use std::hint::black_box;

use super::os::Failure;
use super::timing::{batches, empty_loop};
use super::{Ctx, Desc};
use crate::bench::{BenchError, Measurement, keys};

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

/// Number of blocks in the batch loop.
const BATCH: usize = 1000;

/// Measures malloc+free pairs.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let target = ctx.plan.target_ns;
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
        ],
        |rec| {
            empty_loop(rec, 0, target)?;
            let overhead = rec.median_of(0).max(0.0);
            batches(rec, 1, target, 1.0, overhead, || {
                // SAFETY: malloc has no preconditions; the block is freed at once.
                let p = unsafe { libc::malloc(64) };
                if p.is_null() {
                    return Err(Failure::Os {
                        call: "malloc",
                        errno: libc::ENOMEM,
                    });
                }
                black_box(p);
                // SAFETY: `p` came from malloc and is freed exactly once.
                unsafe { libc::free(p) };
                Ok(())
            })?;
            let mut blocks = vec![std::ptr::null_mut::<libc::c_void>(); BATCH];
            batches(rec, 2, target, BATCH as f64, 0.0, || {
                let mut result = Ok(());
                for b in blocks.iter_mut() {
                    // SAFETY: malloc has no preconditions.
                    *b = unsafe { libc::malloc(64) };
                    if b.is_null() {
                        result = Err(Failure::Os {
                            call: "malloc",
                            errno: libc::ENOMEM,
                        });
                    }
                }
                black_box(blocks.as_ptr());
                for b in blocks.iter_mut() {
                    // SAFETY: each pointer came from malloc (or is null, which free
                    // ignores) and is freed once, then cleared.
                    unsafe { libc::free(*b) };
                    *b = std::ptr::null_mut();
                }
                result
            })
        },
    )
}
