//! The cost of a TLB miss, by pointer chasing.
//!
//! Every memory access needs its virtual page translated to a physical frame. The TLB
//! caches recent translations; a miss makes the CPU walk the page table (four levels
//! on x86-64, each a memory read, and under a hypervisor each of those needs its own
//! translation too). To see that cost we chase pointers: every load's address comes
//! from the previous load, so the CPU cannot overlap them, and the time per step is
//! the latency of one load *including its translation*.
//!
//! The trick is to change only the translation. One small shared-memory file (a
//! `memfd`) of F pages is mapped twice:
//! - **dense**: once, F consecutive pages: few enough to stay inside the second-level
//!   TLB's reach, so loads hit in the TLB;
//! - **sparse**: M times side by side, F·M pages, each node using a different virtual
//!   page, far beyond the TLB's reach, so nearly every load misses.
//!
//! Each node is one cache line of the file; the dense and the sparse chase visit the
//! *same physical lines in the same order*, so they touch the same caches and differ
//! only in which virtual pages they go through. Sparse minus dense is the TLB miss.
//! A third chase inside one page (no miss, L1 hits) shows the floor.

use std::hint::black_box;
use std::time::Instant;

use super::timing::{SplitMix, since};
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Mapping};

/// Bytes per cache line (x86-64 and most arm64 parts).
const LINE: usize = 64;

const SPARSE_METHOD: &str = "Pointer chase, one dependent load per step, through N = F·M \
nodes in a random cyclic order (fixed seed). A memfd of F pages is mapped M times side \
by side (MADV_NOHUGEPAGE) and each node is one cache line in its own virtual page: node \
s lives in frame s mod F, reached through copy s div F, at a line chosen so that no two \
nodes share a line. In quick and full mode, with N = 16384 pages (64 MiB of address \
space) the chase runs far past the second-level TLB (1.5-4 K entries on current x86 \
cores, about 4 K on the machine of the book's Appendix B), while the data (N lines, 1 MiB) and the page-table entries (128 KiB) stay in the \
caches. Time per step.";

const DENSE_METHOD: &str = "The same nodes, same physical cache lines, same order, \
reached through a single mapping of the memfd: F pages (512 in quick and full mode), \
inside the second-level TLB's reach, so loads hit in the TLB (they may still miss the \
small first-level TLB, whose refill from the second level costs a few cycles). Time per \
step.";

const ONE_PAGE_METHOD: &str = "A random cyclic chase over the 64 cache lines of a single \
page: every load hits the L1 data cache and the L1 TLB. The floor of a chase step.";

const MISS_METHOD: &str = "Per sample, the sparse chase step minus the dense chase step: \
what one page walk adds to a load when the walk's own reads (the page-table entries) come \
from the data caches. Limits: a few percent of sparse steps still hit the TLB (so the \
figure is slightly low), the dense chase pays first-level TLB refills (also slightly \
low), the page-walk caches keep the upper levels, and under a hypervisor the walk is \
two-dimensional (guest and host tables), which is much dearer than on bare metal.";

const SPREAD_METHOD: &str = "A random cyclic chase over F nodes (512 in quick and full \
mode), one cache line in each of the F pages of the memfd's single mapping: more pages \
than the first-level data TLB holds (64 to 96 entries on current x86 cores), fewer than the \
second level's, so a load misses the first level and the second level serves it. Time \
per step.";

const PACKED_METHOD: &str = "The same number of nodes, chased in a random cycle, packed \
64 to a page into F / 64 pages (8 in quick and full mode): every translation stays in the \
first-level TLB. The data is as large (F lines) and fits the same caches, but the lines \
are other ones. Time per step.";

const L2_METHOD: &str = "Per sample, the spread chase step minus the packed chase step: \
what a first-level TLB miss that the second level serves adds to a load. Limits: the \
two chases read different cache lines (the same amount of data), and the hardware may \
prefetch translations.";

/// Measures chase steps and derives the TLB miss.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let page = ctx.page;
    let frames = ctx.plan.tlb_frames.max(2);
    let maps = ctx.plan.tlb_maps.clamp(1, page / LINE);
    let steps = ((ctx.plan.target_ns / 20.0) as usize).max(frames * maps);
    ctx.run(
        "TLB misses",
        vec![
            Desc::new(
                keys::CHASE_SPARSE,
                "pointer chase, one line per page, many pages",
                "ns per step",
                SPARSE_METHOD,
            ),
            Desc::new(
                keys::CHASE_DENSE,
                "pointer chase, same lines packed in few pages",
                "ns per step",
                DENSE_METHOD,
            ),
            Desc::new(
                keys::CHASE_ONE_PAGE,
                "pointer chase within one page",
                "ns per step",
                ONE_PAGE_METHOD,
            ),
            Desc::new(
                keys::TLB_MISS,
                "TLB miss (sparse - dense step)",
                "ns per miss",
                MISS_METHOD,
            ),
            Desc::new(
                keys::CHASE_SPREAD,
                "pointer chase, one line in each of a few hundred pages",
                "ns per step",
                SPREAD_METHOD,
            ),
            Desc::new(
                keys::CHASE_PACKED,
                "pointer chase, as many lines packed 64 to a page",
                "ns per step",
                PACKED_METHOD,
            ),
            Desc::new(
                keys::TLB_L2_HIT,
                "second-level TLB hit (spread - packed step)",
                "ns per hit",
                L2_METHOD,
            ),
        ],
        |rec| {
            let mem = Layout::build(page, frames, maps)?;
            for s in 0..7 {
                rec.set_inner(s, steps);
            }
            let pass = |base: *const u8, start: usize, word: usize| {
                let t = Instant::now();
                // SAFETY: `base` is one of our two mappings of the memfd and every
                // offset in the chain was written by `Layout::build` to stay inside it.
                let end = unsafe { chase(base, start, word, steps) };
                black_box(end);
                since(t) / steps as f64
            };
            let sparse = || pass(mem.sparse.as_ptr(), mem.sparse_start, 0);
            let dense = || pass(mem.dense.as_ptr(), mem.dense_start, 1);
            let one = || pass(mem.dense.as_ptr(), mem.one_page_start, 2);
            let spread = || pass(mem.dense.as_ptr(), mem.spread_start, 3);
            let packed = || pass(mem.dense.as_ptr(), mem.packed_start, 4);
            // Warm-up: faults every sparse page in and fills the caches.
            sparse();
            dense();
            one();
            spread();
            packed();
            for _ in 0..rec.reps() {
                let s = sparse();
                let d = dense();
                rec.push(0, s)?;
                rec.push(1, d)?;
                rec.push(2, one())?;
                rec.push(3, s - d)?;
                let (sp, pk) = (spread(), packed());
                rec.push(4, sp)?;
                rec.push(5, pk)?;
                rec.push(6, sp - pk)?;
            }
            Ok(())
        },
    )
}

/// Follows `steps` links: each node's word `word` holds the offset of the next node.
///
/// # Safety
/// Every offset reachable from `start` (plus `8 * word`) must lie inside the readable
/// mapping at `base`.
unsafe fn chase(base: *const u8, start: usize, word: usize, steps: usize) -> usize {
    let mut off = start;
    for _ in 0..steps {
        // SAFETY: guaranteed by the caller; the load is volatile so each step really
        // reads memory, and it depends on the previous one.
        off = unsafe { base.add(off + 8 * word).cast::<usize>().read_volatile() };
    }
    off
}

/// The two mappings of the memfd and where each chase starts.
struct Layout {
    dense: Mapping,
    sparse: Mapping,
    sparse_start: usize,
    dense_start: usize,
    one_page_start: usize,
    /// One node in each frame (word 3), for the second-level TLB chase.
    spread_start: usize,
    /// As many nodes packed 64 to a page into the first frames (word 4).
    packed_start: usize,
}

impl Layout {
    fn build(page: usize, frames: usize, maps: usize) -> Result<Layout, Failure> {
        let lines = page / LINE;
        let file_len = frames * page;
        let fd = sys::memfd(c"brkmap-tlb", file_len)?;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let d = sys::mmap(
            std::ptr::null_mut(),
            file_len,
            rw,
            libc::MAP_SHARED,
            fd.raw(),
        )?;
        // SAFETY: `d` is the read-write mapping of the file just made, owned from here
        // on by the Mapping.
        let dense = unsafe { Mapping::from_raw(d, file_len) };
        let reserve = sys::mmap_anon(maps * file_len, libc::PROT_NONE, libc::MAP_NORESERVE)?;
        // SAFETY: the reservation is ours, and the loop right below maps the file over
        // every byte of it read-write before anything else happens.
        let sparse = unsafe { Mapping::from_raw(reserve, maps * file_len) };
        for m in 0..maps {
            // SAFETY: copy m lies inside the PROT_NONE reservation this function owns,
            // so only that reservation is replaced.
            unsafe {
                sys::mmap_fixed(
                    reserve.add(m * file_len),
                    file_len,
                    rw,
                    libc::MAP_SHARED,
                    fd.raw(),
                )?
            };
        }
        dense.no_huge_pages()?;
        sparse.no_huge_pages()?;

        // Node s: frame s % frames, copy s / frames, line rotated per frame so that no
        // two nodes of a frame share a line and the lines spread over cache sets.
        let mut rng = SplitMix(0x6272_6b6d_6170_746c); // "brkmaptl"
        let rot: Vec<usize> = (0..frames).map(|_| rng.below(lines)).collect();
        let n = frames * maps;
        let line_of = |s: usize| (s / frames + rot[s % frames]) % lines;
        // Copy m maps frame f at page m * frames + f of the sparse range: node s's page is s.
        let sparse_off = |s: usize| s * page + line_of(s) * LINE;
        let dense_off = |s: usize| (s % frames) * page + line_of(s) * LINE;
        let mut order: Vec<usize> = (0..n).collect();
        shuffle(&mut order, &mut rng);
        let put = |off: usize, word: usize, value: usize| {
            // SAFETY: `off` is a line start inside the dense mapping (frame < frames,
            // line < lines) and `word < 8` stays inside that line.
            unsafe {
                dense
                    .as_ptr()
                    .add(off + 8 * word)
                    .cast::<usize>()
                    .write(value)
            }
        };
        for i in 0..n {
            let (a, b) = (order[i], order[(i + 1) % n]);
            put(dense_off(a), 0, sparse_off(b));
            put(dense_off(a), 1, dense_off(b));
        }
        let mut ring: Vec<usize> = (0..lines).collect();
        shuffle(&mut ring, &mut rng);
        for i in 0..lines {
            put(ring[i] * LINE, 2, ring[(i + 1) % lines] * LINE);
        }
        // The second-level TLB chases: node j in frame j at its rotated line, and the
        // same count of nodes packed into the first frames, each in a cycle of its own.
        let mut spread: Vec<usize> = (0..frames).map(|f| f * page + rot[f] * LINE).collect();
        shuffle(&mut spread, &mut rng);
        let mut packed: Vec<usize> = (0..frames)
            .map(|j| (j / lines) * page + (j % lines) * LINE)
            .collect();
        shuffle(&mut packed, &mut rng);
        for i in 0..frames {
            put(spread[i], 3, spread[(i + 1) % frames]);
            put(packed[i], 4, packed[(i + 1) % frames]);
        }
        Ok(Layout {
            spread_start: spread[0],
            packed_start: packed[0],
            sparse_start: sparse_off(order[0]),
            dense_start: dense_off(order[0]),
            one_page_start: ring[0] * LINE,
            dense,
            sparse,
        })
    }
}

/// Fisher-Yates shuffle: every order equally likely. Linking the shuffled nodes in
/// sequence, last back to first, gives one cycle through all of them.
fn shuffle(v: &mut [usize], rng: &mut SplitMix) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}
