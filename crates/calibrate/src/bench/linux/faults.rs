//! Page faults, populating, discarding and zeroing pages.
//!
//! An anonymous mapping starts with no page behind it. The first *write* to a page
//! traps into the kernel (a minor page fault): it finds the VMA, takes a free frame,
//! clears it (a process must never see another's old data), and installs the page
//! table entry. The first *read* instead maps the one shared, read-only zero page: no
//! frame, no clearing. `MAP_POPULATE` does the write-fault work for the whole range
//! inside the mmap call, without a trap per page. `madvise(MADV_DONTNEED)` throws the
//! pages away again, so the next touch faults afresh.

use std::hint::black_box;
use std::time::Instant;

use super::timing::{batches, since};
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Mapping};

const WRITE_METHOD: &str = "A fresh 1 MiB anonymous mapping (MADV_NOHUGEPAGE, so every \
fault maps one base page rather than a 2 MiB huge page) is written one byte per page, in \
address order; the time of the writes divided by the 256 pages is one sample. Mapping \
and unmapping are outside the timed part. The page-table page the range needs is \
included, spread over the pages. 1 MiB, like the mmap+munmap measurement the cost model \
compares this with: the frames come back from the kernel's per-CPU free lists each time \
(see the 16 MiB measurement for what happens beyond them).";

const LARGE_METHOD: &str = "As the write-fault loop over a 16 MiB region (in quick and \
full mode). Its frames no \
longer all come from the kernel's per-CPU lists of recently freed pages (which hold about \
a megabyte or two) but from the buddy allocator; on a virtual machine that hands free \
memory back to its host (free page reporting, ballooning) such frames must first be \
backed by the host again, which can cost several times a plain fault. Informative: the \
model's fault cost is the 1 MiB figure.";

const READ_METHOD: &str = "As the write-fault loop, but each page is read: the fault maps \
the shared zero page read-only (no frame is allocated or cleared).";

const POPULATE_METHOD: &str = "Time of one `mmap(N pages, MAP_POPULATE)` divided by N: the \
kernel allocates, clears and maps every page inside the call, without a trap per page. \
The VMA setup of the call (about one mmap) is spread over N pages and not subtracted. \
Where transparent huge pages apply without asking, the mapping is made first, marked \
MADV_NOHUGEPAGE and populated with MADV_POPULATE_WRITE instead (the same kernel path).";

const DONTNEED_METHOD: &str = "One page of a MADV_NOHUGEPAGE mapping; the loop writes one \
byte to it (a write fault, since the page was discarded) and then calls \
`madvise(page, 4096, MADV_DONTNEED)`, which unmaps the frame, frees it and flushes the \
TLB entry. Batch mean per write+madvise.";

const ZERO_METHOD: &str = "`memset(0)` of 4 KiB blocks across an already-resident buffer \
larger than any core's private L2 cache, in address order, timed over the whole buffer: \
the stores go to the last-level cache or memory, as they do when the kernel clears a \
frame it has just taken from its free lists. glibc's memset uses the same `rep stosb` \
instruction as the kernel's clear_page for this size on x86-64.";

/// Faults in one page per byte written or read, timing the whole pass.
fn fault_pass(pages: usize, page: usize, write: bool) -> Result<f64, Failure> {
    let mut r = Mapping::new(pages * page, false)?;
    r.no_huge_pages()?;
    let mut sink = 0u8;
    let t = Instant::now();
    for i in 0..pages {
        if write {
            r.write(i * page, 1);
        } else {
            sink ^= r.read(i * page);
        }
    }
    let e = since(t);
    black_box(sink);
    r.unmap()?;
    Ok(e / pages as f64)
}

/// Maps and populates `pages` pages, timing the population.
fn populate_pass(pages: usize, page: usize, thp_without_asking: bool) -> Result<f64, Failure> {
    let len = pages * page;
    if !thp_without_asking {
        let t = Instant::now();
        let m = Mapping::new(len, true)?;
        let e = since(t);
        m.unmap()?;
        return Ok(e / pages as f64);
    }
    let r = Mapping::new(len, false)?;
    r.no_huge_pages()?;
    let t = Instant::now();
    r.populate_write()?;
    let e = since(t);
    r.unmap()?;
    Ok(e / pages as f64)
}

/// Measures write faults, read faults, populate and touch+DONTNEED, per page.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (target, page, pages) = (ctx.plan.target_ns, ctx.page, ctx.plan.fault_pages);
    let large = ctx.plan.large_fault_pages;
    let thp = ctx.thp_without_asking;
    ctx.run(
        "page faults",
        vec![
            Desc::new(
                keys::FAULT_WRITE,
                "first-touch write fault, anonymous page (no THP)",
                "ns per page",
                WRITE_METHOD,
            ),
            Desc {
                key: keys::FAULT_WRITE_LARGE.to_string(),
                label: format!(
                    "first-touch write fault, {} region",
                    keys::size_name(large * page)
                ),
                unit: "ns per page",
                method: LARGE_METHOD,
            },
            Desc::new(
                keys::FAULT_READ,
                "first-touch read fault (maps the zero page)",
                "ns per page",
                READ_METHOD,
            ),
            Desc::new(
                keys::POPULATE_PAGE,
                "MAP_POPULATE",
                "ns per page",
                POPULATE_METHOD,
            ),
            Desc::new(
                keys::DONTNEED_PAGE,
                "touch + madvise(DONTNEED), one page",
                "ns per page",
                DONTNEED_METHOD,
            ),
        ],
        |rec| {
            for s in [0, 2, 3] {
                rec.set_inner(s, pages);
            }
            rec.set_inner(1, large);
            // One untimed pass of each warms the kernel's free lists and slab caches.
            fault_pass(pages, page, true)?;
            fault_pass(large, page, true)?;
            fault_pass(pages, page, false)?;
            populate_pass(pages, page, thp)?;
            for _ in 0..rec.reps() {
                rec.push(0, fault_pass(pages, page, true)?)?;
                rec.push(1, fault_pass(large, page, true)?)?;
                rec.push(2, fault_pass(pages, page, false)?)?;
                rec.push(3, populate_pass(pages, page, thp)?)?;
            }
            let mut r = Mapping::new(page, false)?;
            r.no_huge_pages()?;
            batches(rec, 4, target, 1.0, 0.0, || {
                r.write(0, 1);
                Ok(r.discard(0, page)?)
            })?;
            Ok(r.unmap()?)
        },
    )
}

/// Measures clearing one page's worth of memory from user space.
pub(crate) fn run_zero(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (page, bytes) = (ctx.page, ctx.plan.zero_bytes);
    ctx.run(
        "page zeroing",
        vec![Desc::new(
            keys::ZERO_PAGE,
            "memset of one 4 KiB page",
            "ns per page",
            ZERO_METHOD,
        )],
        |rec| {
            let pages = (bytes / page).max(1);
            let mut r = Mapping::new(pages * page, false)?;
            rec.set_inner(0, pages);
            let mut pass = || {
                let t = Instant::now();
                for i in 0..pages {
                    r.fill(i * page, page, 0);
                    black_box(r.as_ptr());
                }
                since(t) / pages as f64
            };
            // Two untimed passes: the first faults the buffer in, the second settles it.
            pass();
            pass();
            for _ in 0..rec.reps() {
                rec.push(0, pass())?;
            }
            Ok(r.unmap()?)
        },
    )
}

const AFTER_MPROTECT_METHOD: &str = "A fresh 1 MiB MADV_NOHUGEPAGE mapping is written one \
byte per page, each write timed on its own (one clock reading subtracted). Before each \
write, untimed, an unrelated page that was never touched is made read-only and \
read-write again with two `mprotect` calls: with nothing resident there, the kernel has \
no TLB entry to invalidate. Sample = mean over the pages. The baseline for the next \
measurement: the same syscalls before every fault.";

const AFTER_INVALIDATION_METHOD: &str = "As the fault after mprotect, but the page flipped \
to read-only and back is resident, so each `mprotect` must invalidate its TLB entry. The \
two loops run interleaved, sample by sample. A fault that follows an invalidation costs \
more than one that follows the same syscalls without it. The likely reason: \
invalidating one entry also empties the CPU's caches of upper page-table levels for \
the address space (Intel's `invlpg` does), so the next fault's page walks fetch every \
level again. The cost model charges that aftermath to the flush (`shootdown_ns`).";

/// Faults in `pages` pages of a fresh region, each timed alone right after two
/// `mprotect` calls that flip `flip` to read-only and back. Returns ns per fault.
fn faults_after_flips(
    pages: usize,
    page: usize,
    flip: *mut u8,
    timer: f64,
) -> Result<f64, Failure> {
    let mut r = Mapping::new(pages * page, false)?;
    r.no_huge_pages()?;
    let mut total = 0.0;
    for i in 0..pages {
        // SAFETY: `flip` is a page of the caller's flip region (see `protect`).
        unsafe {
            protect(flip, page, libc::PROT_READ)?;
            protect(flip, page, libc::PROT_READ | libc::PROT_WRITE)?;
        }
        let t = Instant::now();
        r.write(i * page, 1);
        total += since(t);
    }
    r.unmap()?;
    Ok(total / pages as f64 - timer)
}

/// `mprotect` of one page of the benchmark's own flip region.
///
/// # Safety
/// `p` must be a page of the benchmark's own mapping, holding no Rust values and not
/// accessed while the protection forbids it.
unsafe fn protect(p: *mut u8, len: usize, prot: libc::c_int) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    Ok(unsafe { sys::mprotect(p, len, prot) }?)
}

/// Measures a write fault right after mprotect calls that do or do not invalidate a
/// TLB entry.
pub(crate) fn run_after_invalidation(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (page, pages, timer) = (ctx.page, ctx.plan.fault_pages, ctx.timer_ns);
    ctx.run(
        "faults after a TLB invalidation",
        vec![
            Desc::new(
                keys::FAULT_AFTER_MPROTECT,
                "write fault after mprotect of an untouched page",
                "ns per fault",
                AFTER_MPROTECT_METHOD,
            ),
            Desc::new(
                keys::FAULT_AFTER_INVALIDATION,
                "write fault after mprotect of a resident page (TLB invalidation)",
                "ns per fault",
                AFTER_INVALIDATION_METHOD,
            ),
        ],
        |rec| {
            rec.set_inner(0, pages);
            rec.set_inner(1, pages);
            // Two pages with a guard between them, so flipping one never merges with or
            // splits the other's VMA differently: [untouched | guard | resident].
            // Only the last page is ever written (right below), and only through
            // `flips`, before any flip; the others are never accessed.
            let mut flips = Mapping::new(3 * page, false)?;
            flips.no_huge_pages()?;
            // SAFETY: the middle page of our own three-page mapping, never accessed.
            unsafe { protect(flips.as_ptr().add(page), page, libc::PROT_NONE)? };
            flips.write(2 * page, 1);
            let untouched = flips.as_ptr();
            // SAFETY: the last page of the same mapping.
            let resident = unsafe { flips.as_ptr().add(2 * page) };
            // One untimed round of each warms the paths.
            faults_after_flips(pages, page, untouched, timer)?;
            faults_after_flips(pages, page, resident, timer)?;
            for _ in 0..rec.reps() {
                rec.push(0, faults_after_flips(pages, page, untouched, timer)?)?;
                rec.push(1, faults_after_flips(pages, page, resident, timer)?)?;
            }
            Ok(flips.unmap()?)
        },
    )
}
