//! Moving the program break: `sbrk(+page)` and `sbrk(-page)`.
//!
//! The break is the end of the heap segment; `brk`/`sbrk` grow or shrink that one VMA.
//! glibc's `malloc` moves the same break, so the loop must run where no allocation can
//! happen between the two calls: in the single-threaded benchmark child, with the
//! sample storage reserved beforehand. The break is restored at the end.
//!
//! One detail of `fork` matters here. The child's heap VMA is a copy of the parent's
//! and stays linked to the parent's anonymous memory (its `anon_vma` chain has two
//! links), and the kernel will not extend such a VMA: every `sbrk(+page)` would create
//! a separate little VMA and every `sbrk(-page)` delete it whole, which is cheaper than
//! what a normal program sees. So the benchmark first grows the heap by one page and
//! writes to it. That page is a VMA of the child's own, as the top of any heap that
//! malloc has used is, and the measured calls then extend it and cut it back.

use super::timing::batches;
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys;

const UNTOUCHED_METHOD: &str = "In the single-threaded benchmark child (so nothing else \
moves the break, and nothing is allocated inside the loop) the break is first aligned to \
a page and the heap given a touched top page of the child's own (a forked heap VMA \
cannot be extended). Then `sbrk(+page)` followed by `sbrk(-page)` is repeated: two brk \
system calls, one extending the heap VMA by a page and one cutting it back (splitting \
the VMA and unmapping the page; with nothing resident there is no frame to free and no \
TLB entry to flush). Batch mean per pair.";

const TOUCHED_METHOD: &str = "The same loop, writing one byte to the new page between the \
two calls: the write takes a page fault that allocates and zeroes a frame, and the shrink \
then unmaps it, frees the frame and flushes its TLB entry. Batch mean per pair.";

/// Moves the break by `delta` bytes (negative shrinks) and returns the old break.
fn sbrk(delta: isize) -> Result<*mut u8, Failure> {
    // SAFETY: this runs only in the single-threaded benchmark child, where nothing
    // else moves the break between the calls (no allocation happens in the loop); the
    // child's heap below the break stays as it is, and every shrink gives back only
    // pages this benchmark added above it.
    Ok(unsafe { sys::sbrk(delta) }?)
}

/// Measures sbrk grow+shrink pairs, untouched and touched.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let target = ctx.plan.target_ns;
    let page = ctx.page;
    ctx.run(
        "sbrk grow and shrink",
        vec![
            Desc::new(
                keys::BRK_PAIR_UNTOUCHED,
                "sbrk(+4096) + sbrk(-4096), untouched",
                "ns per pair",
                UNTOUCHED_METHOD,
            ),
            Desc::new(
                keys::BRK_PAIR_TOUCHED,
                "sbrk(+4096) + sbrk(-4096), touching the page",
                "ns per pair",
                TOUCHED_METHOD,
            ),
        ],
        |rec| {
            let start = sbrk(0)? as usize;
            let pad = sys::align_up(start, page) - start;
            sbrk(pad as isize)?;
            let step = page as isize;
            // The heap's own top page (see the module comment).
            let own = sbrk(step)?;
            // SAFETY: `own` is the page sbrk has just added; nothing else uses it.
            unsafe { own.write_volatile(1) };
            let result = batches(rec, 0, target, 1.0, 0.0, || {
                sbrk(step)?;
                sbrk(-step)?;
                Ok(())
            })
            .and_then(|()| {
                batches(rec, 1, target, 1.0, 0.0, || {
                    let p = sbrk(step)?;
                    // SAFETY: `p` is the start of the page sbrk has just added to the
                    // heap; it is mapped read-write and nothing else uses it.
                    unsafe { p.write_volatile(1) };
                    sbrk(-step)?;
                    Ok(())
                })
            });
            sbrk(-(pad as isize) - step)?;
            result
        },
    )
}
