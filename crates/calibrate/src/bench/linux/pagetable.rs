//! The cost of allocating a page-table page.
//!
//! On x86-64 the last level of the page table (the PT) is one 4 KiB page of 512
//! entries and maps one 2 MiB-aligned range. The first fault anywhere in such a range
//! finds no PT and the kernel must allocate and clear one, and link it into the level
//! above, before it can install the entry; the next fault in the same range finds the
//! PT in place. Timing the two faults back to back isolates that extra work.

use std::time::Instant;

use super::{Ctx, Desc};
use crate::bench::stats::median;
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Mapping};

/// The range one last-level page-table page maps on x86-64 (and with 4 KiB pages on
/// arm64): 512 entries of 4 KiB.
const TABLE_SPAN: usize = 2 << 20;

const FIRST_METHOD: &str = "A fresh mapping of K+1 aligned 2 MiB ranges (MADV_NOHUGEPAGE) \
is faulted in range by range: a write to the first page of a range, timed alone, then a \
write to the second page, timed alone. The first write needs a new page-table page; the \
second finds it. One clock reading is subtracted from each. The first range is touched \
untimed beforehand, so the once-per-VMA setup (the anon_vma) is not counted. A sample is \
the median over the K ranges of one fresh mapping.";

const DIFF_METHOD: &str = "Per range, the first-fault time minus the next-page fault time \
(the clock cost cancels); a sample is the median over the K ranges. This is the \
page-table page allocation (and clearing and linking) that the first fault pays, plus a \
little more: the second fault also finds the page-table entries' cache line already \
warm.";

/// Measures the first fault in a 2 MiB range against the fault next to it.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (page, chunks, timer) = (ctx.page, ctx.plan.pt_chunks.max(2), ctx.timer_ns);
    ctx.run(
        "page-table pages",
        vec![
            Desc::new(
                keys::FAULT_FIRST_IN_TABLE,
                "write fault, first page of a fresh 2 MiB range",
                "ns per fault",
                FIRST_METHOD,
            ),
            Desc::new(
                keys::FAULT_NEXT_TO_RESIDENT,
                "write fault, page next to a resident one",
                "ns per fault",
                FIRST_METHOD,
            ),
            Desc::new(
                keys::PAGE_TABLE_PAGE,
                "page-table page (first fault minus next fault)",
                "ns per table page",
                DIFF_METHOD,
            ),
        ],
        |rec| {
            for s in 0..3 {
                rec.set_inner(s, chunks - 1);
            }
            let mut first = Vec::with_capacity(chunks);
            let mut next = Vec::with_capacity(chunks);
            let mut diff = Vec::with_capacity(chunks);
            // One untimed round warms the fault path; then the timed ones.
            for round in 0..=rec.reps() {
                first.clear();
                next.clear();
                diff.clear();
                let mut r = Mapping::new((chunks + 1) * TABLE_SPAN, false)?;
                r.no_huge_pages()?;
                let base = sys::align_up(r.as_ptr() as usize, TABLE_SPAN) - r.as_ptr() as usize;
                r.write(base, 1);
                for c in 1..chunks {
                    let at = base + c * TABLE_SPAN;
                    let t0 = Instant::now();
                    r.write(at, 1);
                    let t1 = Instant::now();
                    r.write(at + page, 1);
                    let t2 = Instant::now();
                    let a = (t1 - t0).as_nanos() as f64;
                    let b = (t2 - t1).as_nanos() as f64;
                    first.push(a - timer);
                    next.push(b - timer);
                    diff.push(a - b);
                }
                r.unmap()?;
                if round > 0 {
                    rec.push(0, median(&first))?;
                    rec.push(1, median(&next))?;
                    rec.push(2, median(&diff))?;
                }
            }
            Ok(())
        },
    )
}
