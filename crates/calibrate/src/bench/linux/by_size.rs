//! `malloc`+`free` against `mmap`+`munmap`, block size by block size.
//!
//! Both sides write every byte of the block, as a program that uses its memory does:
//! for `mmap` that means a page fault per page, every time; for `malloc` the memory
//! usually stays resident between calls and is simply reused.
//!
//! glibc serves requests of 128 KiB and more with their own `mmap` at first, but when
//! such a block is freed it raises its mmap threshold to the block's size (up to
//! 32 MiB), so from the second round on the same request is carved from the heap.
//! A loop therefore measures glibc's steady state, heap path, at every size here; the
//! first call at 128 KiB or more was an mmap.

use std::hint::black_box;

use super::mapping::Hole;
use super::timing::batches;
use super::{Ctx, Desc};
use crate::bench::{BenchError, SizeCost};
use crate::sys::{self, HeapBlock};

const MALLOC_METHOD: &str = "malloc(size), memset of all of it, free; batch mean per cycle.";
const MMAP_METHOD: &str = "mmap(size rounded up to pages) into a hole below an anonymous \
mapping (it merges, as consecutive mappings do), memset of size bytes, munmap; batch mean \
per cycle.";

/// Measures one block size both ways, in a fresh child.
pub(crate) fn measure(ctx: &Ctx, size: usize) -> Result<SizeCost, BenchError> {
    let (target, page) = (ctx.plan.target_ns, ctx.page);
    let len = sys::align_up(size, page);
    let ms = ctx.run(
        "cost by size",
        vec![
            Desc::new(
                "size.malloc-free",
                "malloc + write + free",
                "ns per cycle",
                MALLOC_METHOD,
            ),
            Desc::new(
                "size.mmap-munmap",
                "mmap + write + munmap",
                "ns per cycle",
                MMAP_METHOD,
            ),
        ],
        |rec| {
            batches(rec, 0, target, 1.0, 0.0, || {
                let mut block = HeapBlock::new(size)?;
                block.fill(0x5a);
                black_box(block.as_ptr());
                drop(block);
                Ok(())
            })?;
            let mut hole = Hole::below_anon(len, page)?;
            batches(rec, 1, target, 1.0, 0.0, || {
                let p = hole.map()?;
                hole.fill(size, 0x5a);
                black_box(p);
                hole.unmap()
            })?;
            hole.release()
        },
    )?;
    match ms.as_slice() {
        [m, n] => Ok(SizeCost {
            size,
            malloc_free_ns: m.median_ns,
            malloc_free_spread: m.spread,
            mmap_munmap_ns: n.median_ns,
            mmap_munmap_spread: n.spread,
        }),
        _ => Err(BenchError::Child {
            bench: "cost by size",
            detail: "missing series".into(),
        }),
    }
}
