//! `mmap`, `munmap`, `mprotect` and `mremap` of anonymous memory.
//!
//! A new anonymous mapping is only bookkeeping: the kernel finds a free range (top
//! down from `mmap_base`), allocates a VMA describing it and links it into the
//! process's tree. No frame is taken until a page is touched. Unmapping removes the
//! VMA, frees the frames of any touched pages and flushes their TLB entries, so an
//! unmap of touched memory costs far more than one of untouched memory.

use std::time::Instant;

use super::child::Recorder;
use super::os::{self, Failure};
use super::timing::{batches, since};
use super::{Ctx, Desc};
use crate::bench::{BenchError, Measurement, keys};

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
    whole: os::Region,
    at: *mut u8,
    len: usize,
}

impl Hole {
    /// A hole of `len` bytes just below one touched anonymous read-write page (which a
    /// new mapping merges with) and above a PROT_NONE guard page (which it cannot).
    pub(crate) fn below_anon(len: usize, page: usize) -> Result<Hole, Failure> {
        let hole = Hole::carve(len, page)?;
        // SAFETY: the anchor page is the top page of our own read-write mapping.
        let anchor = unsafe { hole.at.add(len) };
        // SAFETY: as above; writing gives the anchor its frame and anon_vma, as the
        // memory of a running program has.
        unsafe { anchor.write_volatile(1) };
        Ok(hole)
    }

    /// A hole of `len` bytes between two PROT_NONE guard pages.
    pub(crate) fn between_guards(len: usize, page: usize) -> Result<Hole, Failure> {
        let hole = Hole::carve(len, page)?;
        // SAFETY: the top page of our own mapping.
        mprotect(unsafe { hole.at.add(len) }, page, libc::PROT_NONE)?;
        Ok(hole)
    }

    /// Maps `[guard | hole | top]` read-write, protects the guard, unmaps the hole.
    fn carve(len: usize, page: usize) -> Result<Hole, Failure> {
        let base = os::mmap_anon(len + 2 * page, 0)?;
        // SAFETY: the range was just mapped and is owned by the Region from here on.
        let whole = unsafe { os::Region::from_raw(base, len + 2 * page) };
        mprotect(base, page, libc::PROT_NONE)?;
        // SAFETY: the hole starts one page into our mapping.
        let at = unsafe { base.add(page) };
        // SAFETY: the hole is ours and nothing refers to it.
        unsafe { os::munmap(at, len)? };
        Ok(Hole { whole, at, len })
    }

    /// Maps fresh anonymous read-write memory into the hole.
    pub(crate) fn map(&self) -> Result<*mut u8, Failure> {
        // SAFETY: the hint is the free hole we own; without MAP_FIXED the kernel would
        // go elsewhere rather than replace anything.
        let p = unsafe {
            libc::mmap(
                self.at.cast(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os::os_failure("mmap"));
        }
        if p.cast::<u8>() != self.at {
            // SAFETY: `p` is the mapping the kernel just made for us elsewhere.
            unsafe { os::munmap(p.cast(), self.len)? };
            return Err(Failure::Unexpected(
                "the kernel did not map into the free hole offered",
            ));
        }
        Ok(self.at)
    }

    /// Unmaps what [`Hole::map`] put into the hole.
    pub(crate) fn unmap(&self) -> Result<(), Failure> {
        // SAFETY: only the hole is unmapped; callers hold no references into it.
        unsafe { os::munmap(self.at, self.len) }
    }

    /// Unmaps the whole range, neighbours included.
    pub(crate) fn release(self) -> Result<(), Failure> {
        self.whole.unmap()
    }
}

/// Times mmap and munmap of one page into `hole`, separately, into series `s` and
/// `s + 1`.
fn time_alone(
    rec: &mut Recorder,
    s: usize,
    hole: &Hole,
    target: f64,
    timer: f64,
) -> Result<(), Failure> {
    let pair = || -> Result<(f64, f64), Failure> {
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
            let merging = Hole::below_anon(page, page)?;
            time_alone(rec, 0, &merging, target, timer)?;
            merging.release()?;
            let isolated = Hole::between_guards(page, page)?;
            time_alone(rec, 2, &isolated, target, timer)?;
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
            let len = os::align_up(size, page);
            let hole = Hole::below_anon(len, page)?;
            batches(rec, 2 * i, target, 1.0, 0.0, || {
                hole.map()?;
                hole.unmap()
            })?;
            batches(rec, 2 * i + 1, target, 1.0, 0.0, || {
                let p = hole.map()?;
                for off in (0..len).step_by(page) {
                    // SAFETY: `off < len`, inside the read-write mapping just made.
                    unsafe { p.add(off).write_volatile(1) };
                }
                hole.unmap()
            })?;
            hole.release()?;
        }
        Ok(())
    })
}

/// `mprotect(p, len, prot)` of a range we own.
fn mprotect(p: *mut u8, len: usize, prot: libc::c_int) -> Result<(), Failure> {
    // SAFETY: only called on the benchmark's own mappings, which hold no Rust values
    // and are never accessed while protection forbids it.
    if unsafe { libc::mprotect(p.cast(), len, prot) } != 0 {
        return Err(os::os_failure("mprotect"));
    }
    Ok(())
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
            let base = os::mmap_anon_prot(3 * page, libc::PROT_NONE, 0)?;
            // SAFETY: the three pages are our fresh mapping, owned by this Region.
            let guarded = unsafe { os::Region::from_raw(base, 3 * page) };
            // SAFETY: the middle page is inside `guarded`.
            let mid = unsafe { base.add(page) };
            mprotect(mid, page, rw)?;
            batches(rec, 0, target, 2.0, 0.0, || {
                mprotect(mid, page, libc::PROT_READ)?;
                mprotect(mid, page, rw)
            })?;
            guarded.unmap()?;

            // mremap: [page | hole | guard].
            let p = os::mmap_anon(3 * page, 0)?;
            // SAFETY: `p + page` and `p + 2 page` are inside the mapping just made.
            let (hole, guard) = unsafe { (p.add(page), p.add(2 * page)) };
            mprotect(guard, page, libc::PROT_NONE)?;
            // SAFETY: the middle page is ours and unused.
            unsafe { os::munmap(hole, page)? };
            let remap = |old: usize, new: usize| -> Result<(), Failure> {
                // SAFETY: resizes our own untouched mapping in place (no MAYMOVE flag,
                // so it never moves); the grow only takes the hole we made.
                let q = unsafe { libc::mremap(p.cast(), old, new, 0) };
                if q == libc::MAP_FAILED {
                    return Err(os::os_failure("mremap"));
                }
                if q.cast::<u8>() != p {
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
            unsafe { os::munmap(p, 3 * page)? };
            result
        },
    )
}
