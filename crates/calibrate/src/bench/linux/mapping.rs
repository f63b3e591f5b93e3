//! `mmap`, `munmap`, `mprotect` and `mremap` of anonymous memory.
//!
//! A new anonymous mapping is only bookkeeping: the kernel finds a free range (top
//! down from `mmap_base`), allocates a VMA describing it and links it into the
//! process's tree. No frame is taken until a page is touched. Unmapping removes the
//! VMA, frees the frames of any touched pages and flushes their TLB entries, so an
//! unmap of touched memory costs far more than one of untouched memory.

use std::time::Instant;

use super::child::Recorder;
use super::timing::{batches, since};
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Mapping};

const ALONE_METHOD: &str = "A loop of `mmap(hint, 4096, PROT_READ|PROT_WRITE, \
MAP_PRIVATE|MAP_ANONYMOUS)` and `munmap`, with the clock read before the mmap, between \
the calls and after the munmap, so each call is timed on its own. One clock reading \
(measured separately) is subtracted from each call. The hole lies just below a touched \
anonymous read-write page, so the new mapping merges into that page's VMA and the munmap \
splits it again: the usual case for a program that maps block after block (consecutive \
mappings are adjacent), and what a plain C loop measures (the mapping merges with the \
anonymous area below the shared libraries). The benchmark makes the hole itself and \
passes its address as the mmap hint, which the kernel takes when the range is free \
(skipping only its search for a gap), so the neighbours are known. Batch mean per call.";

const ISOLATED_METHOD: &str = "As the merging case, but the hole lies between two \
PROT_NONE guard pages, so the mapping gets a VMA of its own and munmap removes it whole \
(no merge, no split). The difference to the merging case is the cost of VMA merging and \
splitting.";

const PAIR_UNTOUCHED_METHOD: &str = "A loop of anonymous `mmap` of the size into a hole \
below a touched anonymous page (it merges with it, as consecutive mappings do), then \
`munmap` of it (splitting it off again), no page touched: VMA work only, whatever the \
size. Batch mean per pair.";

const PAIR_TOUCHED_METHOD: &str = "The same loop, writing one byte to every page between \
mmap and munmap: each write is a page fault that allocates and zeroes a frame, and the \
munmap frees every frame and flushes the TLB. Batch mean per pair.";

const MPROTECT_METHOD: &str = "Three pages are mapped PROT_NONE and the middle one made \
read-write, giving a one-page VMA between two guard VMAs. The loop flips it between \
PROT_READ and PROT_READ|PROT_WRITE: each call rewrites the flags of the whole VMA, and \
the PROT_NONE neighbours keep it from ever merging or splitting. No page is resident, so \
no page table entry changes and no TLB flush is needed. Batch mean per call.";

const MREMAP_METHOD: &str = "A one-page mapping with a one-page hole above it (and a \
PROT_NONE guard page above the hole, so it cannot merge with whatever lies beyond) is \
grown in place to two pages with `mremap(p, 4096, 8192, 0)` and shrunk back with \
`mremap(p, 8192, 4096, 0)`. Nothing is resident, so no page table entry moves: this is \
the VMA work of mremap alone (growing extends the VMA, shrinking unmaps its tail). Batch \
mean per call, averaging the grow and the shrink.";

/// A free range of address space with chosen neighbours, where `mmap` with the hole's
/// address as hint places a new mapping. Owning the whole range (neighbours and hole)
/// lets the benchmark decide whether the new mapping merges with a neighbour.
pub(crate) struct Hole {
    whole: Mapping,
    at: *mut u8,
    len: usize,
    /// Whether [`Hole::map`] has put a mapping into the hole (so writes may go there).
    mapped: bool,
}

impl Hole {
    /// A hole of `len` bytes just below one touched anonymous read-write page (which a
    /// new mapping merges with) and above a PROT_NONE guard page (which it cannot).
    pub(crate) fn below_anon(len: usize, page: usize) -> Result<Hole, Failure> {
        let mut hole = Hole::carve(len, page)?;
        // Writing gives the anchor (the top page) its frame and anon_vma, as the memory
        // of a running program has.
        hole.whole.write(page + len, 1);
        Ok(hole)
    }

    /// A hole of `len` bytes between two PROT_NONE guard pages.
    pub(crate) fn between_guards(len: usize, page: usize) -> Result<Hole, Failure> {
        let hole = Hole::carve(len, page)?;
        // SAFETY: the top page of our own mapping, which nothing accesses.
        unsafe { mprotect(hole.at.add(len), page, libc::PROT_NONE)? };
        Ok(hole)
    }

    /// Maps `[guard | hole | top]` read-write, protects the guard, unmaps the hole.
    fn carve(len: usize, page: usize) -> Result<Hole, Failure> {
        let whole = Mapping::new(len + 2 * page, false)?;
        let base = whole.as_ptr();
        // SAFETY: the guard page is our own and is never accessed.
        unsafe { mprotect(base, page, libc::PROT_NONE)? };
        // SAFETY: the hole starts one page into our mapping.
        let at = unsafe { base.add(page) };
        // SAFETY: the hole is ours and nothing refers to it; the Hole only writes there
        // while `map` has put a mapping back.
        unsafe { sys::munmap(at, len)? };
        Ok(Hole {
            whole,
            at,
            len,
            mapped: false,
        })
    }

    /// Maps fresh anonymous read-write memory into the hole (the hole's address as the
    /// hint, which the kernel takes when the range is free).
    pub(crate) fn map(&mut self) -> Result<*mut u8, Failure> {
        let p = sys::mmap(
            self.at,
            self.len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        )?;
        if p != self.at {
            // SAFETY: `p` is the mapping the kernel just made for us elsewhere.
            unsafe { sys::munmap(p, self.len)? };
            return Err(Failure::Unexpected(
                "the kernel did not map into the free hole offered",
            ));
        }
        self.mapped = true;
        Ok(self.at)
    }

    /// Writes `byte` into the first `len` bytes of what [`Hole::map`] put into the hole
    /// (a `memset`); nothing when the hole is empty.
    pub(crate) fn fill(&mut self, len: usize, byte: u8) {
        if self.mapped {
            // SAFETY: the hole holds our read-write mapping of `self.len` bytes, and
            // the write stays inside it.
            unsafe { self.at.write_bytes(byte, len.min(self.len)) }
        }
    }

    /// Writes one byte into every page of the mapping in the hole (each write is a page
    /// fault); nothing when the hole is empty.
    pub(crate) fn touch_pages(&mut self, page: usize) {
        if self.mapped {
            for off in (0..self.len).step_by(page) {
                // SAFETY: `off < len`, inside the read-write mapping in the hole.
                unsafe { self.at.add(off).write_volatile(1) };
            }
        }
    }

    /// Unmaps what [`Hole::map`] put into the hole.
    pub(crate) fn unmap(&mut self) -> Result<(), Failure> {
        self.mapped = false;
        // SAFETY: only the hole is unmapped; nothing holds references into it.
        Ok(unsafe { sys::munmap(self.at, self.len) }?)
    }

    /// Unmaps the whole range, neighbours included.
    pub(crate) fn release(self) -> Result<(), Failure> {
        Ok(self.whole.unmap()?)
    }
}

/// Times mmap and munmap of one page into `hole`, separately, into series `s` and
/// `s + 1`.
fn time_alone(
    rec: &mut Recorder,
    s: usize,
    hole: &mut Hole,
    target: f64,
    timer: f64,
) -> Result<(), Failure> {
    let mut pair = || -> Result<(f64, f64), Failure> {
        let t0 = Instant::now();
        hole.map()?;
        let t1 = Instant::now();
        hole.unmap()?;
        let t2 = Instant::now();
        Ok(((t1 - t0).as_nanos() as f64, (t2 - t1).as_nanos() as f64))
    };
    // Warm up (and size the batch) over about half a sample.
    let t = Instant::now();
    let mut warm = 0usize;
    while warm < 2 || since(t) < target / 2.0 {
        pair()?;
        warm += 1;
    }
    let inner = ((target / (since(t) / warm as f64)) as usize).max(1);
    rec.set_inner(s, inner);
    rec.set_inner(s + 1, inner);
    for _ in 0..rec.reps() {
        let (mut a, mut b) = (0.0, 0.0);
        for _ in 0..inner {
            let (x, y) = pair()?;
            a += x;
            b += y;
        }
        rec.push(s, a / inner as f64 - timer)?;
        rec.push(s + 1, b / inner as f64 - timer)?;
    }
    Ok(())
}

/// Measures mmap alone and munmap alone of one page, merging and isolated.
pub(crate) fn run_alone(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (target, page, timer) = (ctx.plan.target_ns, ctx.page, ctx.timer_ns);
    let desc =
        |key: &str, label: &str, method: &'static str| Desc::new(key, label, "ns per call", method);
    ctx.run(
        "mmap and munmap alone",
        vec![
            desc(
                keys::MMAP_CALL,
                "mmap alone, 4 KiB (merges with a neighbour)",
                ALONE_METHOD,
            ),
            desc(
                keys::MUNMAP_CALL,
                "munmap alone, 4 KiB (splits it off)",
                ALONE_METHOD,
            ),
            desc(
                keys::MMAP_CALL_ISOLATED,
                "mmap alone, 4 KiB, own VMA",
                ISOLATED_METHOD,
            ),
            desc(
                keys::MUNMAP_CALL_ISOLATED,
                "munmap alone, 4 KiB, whole VMA",
                ISOLATED_METHOD,
            ),
        ],
        |rec| {
            let mut merging = Hole::below_anon(page, page)?;
            time_alone(rec, 0, &mut merging, target, timer)?;
            merging.release()?;
            let mut isolated = Hole::between_guards(page, page)?;
            time_alone(rec, 2, &mut isolated, target, timer)?;
            isolated.release()
        },
    )
}

/// Measures mmap+munmap pairs by size, untouched and with every page touched.
pub(crate) fn run_pairs(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (target, page) = (ctx.plan.target_ns, ctx.page);
    let sizes: Vec<usize> = if ctx.plan.all_mmap_sizes {
        keys::MMAP_SIZES.to_vec()
    } else {
        vec![4 << 10, 1 << 20]
    };
    let mut descs = Vec::new();
    for &size in &sizes {
        let name = keys::size_name(size);
        descs.push(Desc {
            key: keys::mmap_munmap_untouched(size),
            label: format!("mmap + munmap {name}, untouched"),
            unit: "ns per pair",
            method: PAIR_UNTOUCHED_METHOD,
        });
        descs.push(Desc {
            key: keys::mmap_munmap_touched(size),
            label: format!("mmap + munmap {name}, every page touched"),
            unit: "ns per pair",
            method: PAIR_TOUCHED_METHOD,
        });
    }
    ctx.run("mmap + munmap by size", descs, |rec| {
        for (i, &size) in sizes.iter().enumerate() {
            let len = sys::align_up(size, page);
            let mut hole = Hole::below_anon(len, page)?;
            batches(rec, 2 * i, target, 1.0, 0.0, || {
                hole.map()?;
                hole.unmap()
            })?;
            batches(rec, 2 * i + 1, target, 1.0, 0.0, || {
                hole.map()?;
                hole.touch_pages(page);
                hole.unmap()
            })?;
            hole.release()?;
        }
        Ok(())
    })
}

/// `mprotect(p, len, prot)` of a range we own.
///
/// # Safety
/// `[p, p + len)` must be part of the benchmark's own mappings, holding no Rust values,
/// and never accessed while the protection forbids it.
unsafe fn mprotect(p: *mut u8, len: usize, prot: libc::c_int) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    Ok(unsafe { sys::mprotect(p, len, prot) }?)
}

/// Measures one mprotect call and one mremap call on an isolated one-page VMA.
pub(crate) fn run_mprotect_mremap(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (target, page) = (ctx.plan.target_ns, ctx.page);
    ctx.run(
        "mprotect and mremap",
        vec![
            Desc::new(
                keys::MPROTECT_CALL,
                "mprotect of a one-page VMA",
                "ns per call",
                MPROTECT_METHOD,
            ),
            Desc::new(
                keys::MREMAP_CALL,
                "mremap grow or shrink in place, untouched",
                "ns per call",
                MREMAP_METHOD,
            ),
        ],
        |rec| {
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            // mprotect: [guard | page | guard].
            let base = sys::mmap_anon(3 * page, libc::PROT_NONE, 0)?;
            // SAFETY: the middle page is inside the three pages just mapped, which
            // nothing but these calls ever touches.
            let mid = unsafe { base.add(page) };
            // SAFETY: as above; the page is never accessed, whatever its protection.
            unsafe { mprotect(mid, page, rw)? };
            batches(rec, 0, target, 2.0, 0.0, || {
                // SAFETY: as above.
                unsafe {
                    mprotect(mid, page, libc::PROT_READ)?;
                    mprotect(mid, page, rw)
                }
            })?;
            // SAFETY: the three pages are our own mapping and are not used again.
            unsafe { sys::munmap(base, 3 * page)? };

            // mremap: [page | hole | guard].
            let p = sys::mmap_anon(3 * page, rw, 0)?;
            // SAFETY: `p + page` and `p + 2 page` are inside the mapping just made.
            let (hole, guard) = unsafe { (p.add(page), p.add(2 * page)) };
            // SAFETY: the guard is our own page and is never accessed.
            unsafe { mprotect(guard, page, libc::PROT_NONE)? };
            // SAFETY: the middle page is ours and unused.
            unsafe { sys::munmap(hole, page)? };
            let remap = |old: usize, new: usize| -> Result<(), Failure> {
                // SAFETY: resizes our own untouched mapping in place (no MAYMOVE flag,
                // so it never moves); the grow only takes the hole we made.
                let q = unsafe { sys::mremap(p, old, new, 0) }?;
                if q != p {
                    return Err(Failure::Unexpected(
                        "mremap without MAYMOVE moved a mapping",
                    ));
                }
                Ok(())
            };
            let result = batches(rec, 1, target, 2.0, 0.0, || {
                remap(page, 2 * page)?;
                remap(2 * page, page)
            });
            // SAFETY: the first page and the guard are still ours; the hole is empty
            // (or holds the grown part), either way the whole range is our mapping.
            unsafe { sys::munmap(p, 3 * page)? };
            result
        },
    )
}
