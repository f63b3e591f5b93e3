//! The names of all measurements, so callers and the derivation look them up without
//! spelling strings twice. Each constant's doc says what one value is.

/// Reading the monotonic clock once (`Instant::now`), ns per read. Subtracted where a
/// single call is timed on its own.
pub const TIMER_READ: &str = "timer.read";
/// `syscall(SYS_getppid)`, ns per call: a mode switch with no work inside.
pub const NULL_SYSCALL: &str = "syscall.null";
/// `sbrk(+page)` then `sbrk(-page)`, page untouched, ns per pair.
pub const BRK_PAIR_UNTOUCHED: &str = "brk.pair.untouched";
/// `sbrk(+page)`, write one byte, `sbrk(-page)`, ns per pair.
pub const BRK_PAIR_TOUCHED: &str = "brk.pair.touched";
/// `mmap` of one untouched page next to an anonymous mapping it merges with, timed
/// on its own, ns per call.
pub const MMAP_CALL: &str = "mmap.call";
/// `munmap` of that page (splitting the merged mapping again), ns per call.
pub const MUNMAP_CALL: &str = "munmap.call";
/// `mmap` of one page between guard pages (a VMA of its own), ns per call.
pub const MMAP_CALL_ISOLATED: &str = "mmap.call.isolated";
/// `munmap` of that page (removing the whole VMA), ns per call.
pub const MUNMAP_CALL_ISOLATED: &str = "munmap.call.isolated";
/// `mmap(NULL)` of one page in a steady state of many live one-page mappings (it lands
/// in a hole between live blocks and merges with them), nothing touched, ns per call.
pub const STEADY_MMAP: &str = "steady.mmap";
/// `munmap` of an old untouched block in that steady state (cutting it out of the
/// middle of a VMA), ns per call.
pub const STEADY_MUNMAP: &str = "steady.munmap";
/// As [`STEADY_MMAP`] when every block is written after its mmap, ns per call.
pub const STEADY_TOUCHED_MMAP: &str = "steady.touched.mmap";
/// The first write to the freshly mapped page in that state (a page fault), ns.
pub const STEADY_TOUCHED_WRITE: &str = "steady.touched.write";
/// `munmap` of an old, written block in that state (frees its frame, flushes its TLB
/// entry), ns per call.
pub const STEADY_TOUCHED_MUNMAP: &str = "steady.touched.munmap";
/// mmap + first write + munmap of an old block, per block, in that state: the sum of
/// the three above.
pub const STEADY_TOUCHED_CYCLE: &str = "steady.touched.cycle";
/// `mprotect` of a one-page mapping, ns per call.
pub const MPROTECT_CALL: &str = "mprotect.call";
/// `mremap` growing or shrinking an untouched mapping in place, ns per call.
pub const MREMAP_CALL: &str = "mremap.call";
/// First write to an untouched anonymous page, ns per page.
pub const FAULT_WRITE: &str = "fault.write";
/// First write to an untouched page of a large region (16 MiB in quick and full
/// mode), ns per page: more frames than the kernel's per-CPU free lists hold.
pub const FAULT_WRITE_LARGE: &str = "fault.write.large";
/// A write fault timed alone right after two `mprotect` calls on an untouched page
/// (nothing to invalidate), ns per fault.
pub const FAULT_AFTER_MPROTECT: &str = "fault.after-mprotect";
/// A write fault timed alone right after two `mprotect` calls on a resident page (each
/// invalidates its TLB entry), ns per fault.
pub const FAULT_AFTER_INVALIDATION: &str = "fault.after-invalidation";
/// First read of an untouched anonymous page (maps the zero page), ns per page.
pub const FAULT_READ: &str = "fault.read";
/// `MAP_POPULATE` of an anonymous mapping, ns per page.
pub const POPULATE_PAGE: &str = "populate.page";
/// Write one byte to a page, then `madvise(MADV_DONTNEED)` it, ns per page.
pub const DONTNEED_PAGE: &str = "dontneed.page";
/// Zeroing 4 KiB of memory from user space (`memset`), ns per page.
pub const ZERO_PAGE: &str = "zero.page";
/// Write fault on the first page of a fresh 2 MiB-aligned range, ns per fault.
pub const FAULT_FIRST_IN_TABLE: &str = "fault.first-in-table";
/// Write fault on the page next to a resident one, ns per fault.
pub const FAULT_NEXT_TO_RESIDENT: &str = "fault.next-to-resident";
/// The difference of the two: allocating one page-table page, ns.
pub const PAGE_TABLE_PAGE: &str = "page-table.page";
/// Pointer chase inside one page (L1 cache, no TLB miss), ns per step.
pub const CHASE_ONE_PAGE: &str = "chase.one-page";
/// Pointer chase over lines packed into few pages (TLB reach), ns per step.
pub const CHASE_DENSE: &str = "chase.dense";
/// The same lines chased with one line per page over many pages, ns per step.
pub const CHASE_SPARSE: &str = "chase.sparse";
/// Pointer chase over one line in each of a few hundred pages (past the first-level
/// TLB, inside the second level), ns per step.
pub const CHASE_SPREAD: &str = "chase.spread";
/// As many lines packed 64 to a page (first-level TLB hits), ns per step.
pub const CHASE_PACKED: &str = "chase.packed";
/// Spread minus packed: a first-level TLB miss served by the second level, ns.
pub const TLB_L2_HIT: &str = "tlb.l2-hit";
/// `mmap` of a page, a write to it and `munmap`, the only thread running, ns per cycle.
pub const CYCLE_ALONE: &str = "cycle.4KiB.alone";
/// The same cycle with a second thread of the process spinning on another CPU, ns.
pub const CYCLE_WITH_THREAD: &str = "cycle.4KiB.with-thread";
/// The difference: one TLB shootdown, ns.
pub const TLB_SHOOTDOWN: &str = "tlb.shootdown";
/// Sparse minus dense: the cost of one TLB miss (a page walk), ns.
pub const TLB_MISS: &str = "tlb.miss";
/// The measurement harness's own loop with an empty body, ns per iteration.
pub const LOOP_OVERHEAD: &str = "loop.empty";
/// `malloc(64)` then `free` of it, repeated (the tcache fast path), ns per pair.
pub const MALLOC_FREE_TCACHE: &str = "malloc-free.64.tcache";
/// 1000 × `malloc(64)` then 1000 × `free`, ns per malloc+free pair.
pub const MALLOC_FREE_BATCH: &str = "malloc-free.64.batch";
/// `free` of a random block and `malloc` of a new one, among thousands of live blocks
/// of mixed sizes (the `churn` size mix), ns per malloc+free pair.
pub const MALLOC_FREE_STEADY: &str = "malloc-free.steady";
/// As [`MALLOC_FREE_STEADY`] with sizes of 1,100 to 4,000 bytes (beyond the tcache and
/// the fastbins: every call runs `_int_malloc` or `_int_free`), ns per pair.
pub const MALLOC_FREE_ARENA: &str = "malloc-free.steady.arena";
/// `free(b); b = malloc(2000)` with a guard block after `b`: one chunk cycling through
/// glibc's unsorted bin (`_int_free` files it, `_int_malloc` takes it back as an exact
/// fit), the cheapest arena path; ns per pair.
pub const MALLOC_FREE_ARENA_ONE: &str = "malloc-free.arena.one-chunk";
/// As [`MALLOC_FREE_STEADY`], with every new block written whole (`memset`), ns per
/// pair: the difference is the program's write of a block of the `churn` mix.
pub const STEADY_WRITTEN: &str = "malloc-free.steady.written";
/// As [`MALLOC_FREE_STEADY`] with sizes of 4 to 16 KiB, nothing written, ns per pair.
pub const STEADY_LARGE: &str = "malloc-free.steady.large";
/// As [`STEADY_LARGE`] with every new block written whole, ns per pair.
pub const STEADY_LARGE_WRITTEN: &str = "malloc-free.steady.large.written";
/// One-byte pipe write then read in the same process, ns per write+read.
pub const PIPE_SAME_PROCESS: &str = "pipe.same-process";
/// Pipe ping-pong between two processes on one CPU, ns per one-way hop.
pub const PIPE_HOP_PROCESSES: &str = "pipe.hop.processes";
/// Pipe ping-pong between two threads of one process on one CPU, ns per hop.
pub const PIPE_HOP_THREADS: &str = "pipe.hop.threads";
/// `sched_yield` with (usually) nothing else runnable on the CPU, ns per call.
pub const SCHED_YIELD: &str = "sched.yield";

/// Sizes at which [`mmap_munmap_untouched`] and [`mmap_munmap_touched`] are measured.
pub const MMAP_SIZES: &[usize] = &[4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/// `mmap` + `munmap` of `size` bytes, no page touched, ns per pair
/// (e.g. `mmap-munmap.untouched.4KiB`).
pub fn mmap_munmap_untouched(size: usize) -> String {
    format!("mmap-munmap.untouched.{}", size_name(size))
}

/// `mmap` + write one byte to every page + `munmap` of `size` bytes, ns per pair
/// (e.g. `mmap-munmap.touched.1MiB`).
pub fn mmap_munmap_touched(size: usize) -> String {
    format!("mmap-munmap.touched.{}", size_name(size))
}

/// `4096` → `4KiB`, `1048576` → `1MiB`, `100` → `100B`.
pub fn size_name(size: usize) -> String {
    if size >= 1 << 20 && size & ((1 << 20) - 1) == 0 {
        format!("{}MiB", size >> 20)
    } else if size >= 1 << 10 && size & ((1 << 10) - 1) == 0 {
        format!("{}KiB", size >> 10)
    } else {
        format!("{size}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_names_use_the_largest_exact_unit() {
        assert_eq!(size_name(4096), "4KiB");
        assert_eq!(size_name(1 << 20), "1MiB");
        assert_eq!(size_name(96 << 10), "96KiB");
        assert_eq!(size_name(1536), "1536B");
        assert_eq!(mmap_munmap_touched(1 << 20), "mmap-munmap.touched.1MiB");
    }
}
