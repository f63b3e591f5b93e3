//! The mmap-specific experiments of the book's fact-check chapter.
//!
//! - Claim 3, "memory from mmap cannot cause a segmentation fault": [`segv_probes`]
//!   makes the accesses that decide it (past a mapping, into a neighbour, after
//!   `munmap`, into a guard page, after a free that a cache or region keeps mapped) and
//!   records what the kernel answered. Whether an access faults depends on what is
//!   mapped at that address *now*, not on how the memory was obtained.
//! - Claim 12, "mmap splits memory into many separate areas": [`fill_mappings`]
//!   allocates until the kernel refuses, and [`punch_holes`] frees every other block;
//!   both report how many VMAs the process has, against `vm.max_map_count`. Linux
//!   merges adjacent anonymous mappings with equal protection into one VMA, so plain
//!   `mmap` blocks placed side by side cost one VMA together, while freeing every other
//!   one splits them into one VMA each; guarded blocks can never merge (two VMAs each).
//!
//! Every function runs the allocator through the kernel it is given (or fresh kernels
//! of a given configuration) and returns data; nothing is printed.

use kernel::{Access, Addr, Fault, Kernel, KernelConfig, PAGE_SIZE};
use malloc::{AllocError, Allocator};
use mmap::{GuardAllocator, MmapAllocator, MmapCacheAllocator, RegionAllocator};
use serde::Serialize;

/// One access of the claim-3 experiment and what the kernel answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegvProbe {
    /// The allocator that produced the memory (its registry name).
    pub allocator: String,
    /// A short identifier of the case (`overflow-past-mapping`, `use-after-free`, ...).
    pub case: &'static str,
    /// One sentence saying what the access does.
    pub description: &'static str,
    /// The address accessed.
    pub addr: Addr,
    /// Read or write.
    pub access: Access,
    /// `Ok` when the access went through, or the simulated SIGSEGV.
    pub outcome: Result<(), Fault>,
}

/// The size of the block every probe allocates: not a multiple of 16 or of a page, so
/// both kinds of rounding show.
pub const PROBE_SIZE: u64 = 100;

/// Runs every claim-3 probe, each in a fresh kernel of configuration `config` so that
/// the layout around the block is known. Fails only when the configuration leaves no
/// room for the probes' few pages.
pub fn segv_probes(config: &KernelConfig) -> Result<Vec<SegvProbe>, AllocError> {
    let mut probes = Vec::new();
    let mut probe =
        |allocator: &dyn Allocator, kernel: &mut Kernel, case, description, addr, access| {
            let outcome = kernel.touch(addr, 1, access);
            probes.push(SegvProbe {
                allocator: allocator.name().to_string(),
                case,
                description,
                addr,
                access,
                outcome,
            });
        };
    let w = Access::Write;
    let r = Access::Read;

    // Plain mmap: one block alone, then a block below an earlier one.
    {
        let mut k = Kernel::new(config.clone());
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, PROBE_SIZE)?;
        probe(
            &a,
            &mut k,
            "inside",
            "the last requested byte",
            p + PROBE_SIZE - 1,
            w,
        );
        probe(
            &a,
            &mut k,
            "overflow-in-page",
            "the byte after the request: still in the mapping's last page",
            p + PROBE_SIZE,
            w,
        );
        probe(
            &a,
            &mut k,
            "overflow-past-mapping",
            "the byte after the mapping, with nothing mapped above it",
            p + PAGE_SIZE,
            w,
        );
        let q = a.malloc(&mut k, PROBE_SIZE)?;
        probe(
            &a,
            &mut k,
            "overflow-into-neighbour",
            "the byte after a second mapping, placed just below the first",
            q + PAGE_SIZE,
            w,
        );
        a.free(&mut k, q)?;
        probe(&a, &mut k, "use-after-free", "a read after munmap", q, r);
    }
    // Guard pages.
    {
        let mut k = Kernel::new(config.clone());
        let mut a = GuardAllocator::default();
        let p = a.malloc(&mut k, PROBE_SIZE)?;
        let end = p + PROBE_SIZE.div_ceil(16) * 16;
        probe(
            &a,
            &mut k,
            "overflow-in-granule",
            "the byte after the request, inside its 16-byte alignment granule",
            p + PROBE_SIZE,
            w,
        );
        probe(
            &a,
            &mut k,
            "overflow-into-guard",
            "the first byte after the granule: the guard page",
            end,
            w,
        );
        probe(
            &a,
            &mut k,
            "underflow",
            "the byte before the block, in the unguarded slack below it",
            p - 1,
            w,
        );
        a.free(&mut k, p)?;
        probe(&a, &mut k, "use-after-free", "a read after munmap", p, r);
    }
    // Allocators that keep freed memory mapped.
    {
        let mut k = Kernel::new(config.clone());
        let mut a = MmapCacheAllocator::default();
        let p = a.malloc(&mut k, PROBE_SIZE)?;
        a.free(&mut k, p)?;
        probe(
            &a,
            &mut k,
            "use-after-free",
            "a write after free: the mapping waits in the cache",
            p,
            w,
        );
    }
    {
        let mut k = Kernel::new(config.clone());
        let mut a = RegionAllocator::default();
        let p = a.malloc(&mut k, PROBE_SIZE)?;
        a.free(&mut k, p)?;
        probe(
            &a,
            &mut k,
            "use-after-free",
            "a write after free: the region stays mapped",
            p,
            w,
        );
    }
    Ok(probes)
}

/// How a claim-12 run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapCountRun {
    /// Live blocks the run's allocator holds at the end (their pointers, in the order
    /// they were allocated).
    pub live: Vec<Addr>,
    /// Calls that succeeded (mallocs for [`fill_mappings`], frees for [`punch_holes`]).
    pub succeeded: u64,
    /// VMAs of the process at the end.
    pub vmas: u64,
    /// The most VMAs seen after any call.
    pub peak_vmas: u64,
    /// The error that stopped the run, if one did.
    pub stopped_by: Option<AllocError>,
}

/// Mallocs blocks of `block_size` bytes until `max_blocks` are live or a malloc fails.
pub fn fill_mappings(
    allocator: &mut dyn Allocator,
    kernel: &mut Kernel,
    block_size: u64,
    max_blocks: u64,
) -> MapCountRun {
    let mut run = MapCountRun {
        live: Vec::new(),
        succeeded: 0,
        vmas: kernel.mem().vmas,
        peak_vmas: kernel.mem().vmas,
        stopped_by: None,
    };
    while run.succeeded < max_blocks {
        match allocator.malloc(kernel, block_size) {
            Ok(p) => {
                run.live.push(p);
                run.succeeded += 1;
            }
            Err(e) => {
                run.stopped_by = Some(e);
                break;
            }
        }
        run.peak_vmas = run.peak_vmas.max(kernel.mem().vmas);
    }
    run.vmas = kernel.mem().vmas;
    run
}

/// Frees every other block of `live` (the 2nd, 4th, ...), stopping at the first free
/// that fails: with mappings merged into one VMA, each free in the middle splits it and
/// needs one more VMA, which the kernel refuses at `vm.max_map_count`.
pub fn punch_holes(
    allocator: &mut dyn Allocator,
    kernel: &mut Kernel,
    live: &[Addr],
) -> MapCountRun {
    let mut run = MapCountRun {
        live: Vec::new(),
        succeeded: 0,
        vmas: kernel.mem().vmas,
        peak_vmas: kernel.mem().vmas,
        stopped_by: None,
    };
    // Blocks at odd indices below `freed_below` have been freed.
    let mut freed_below = 0;
    for (i, &p) in live.iter().enumerate().skip(1).step_by(2) {
        if let Err(e) = allocator.free(kernel, p) {
            run.stopped_by = Some(e);
            break;
        }
        freed_below = i + 1;
        run.succeeded += 1;
        run.peak_vmas = run.peak_vmas.max(kernel.mem().vmas);
    }
    run.live = live
        .iter()
        .enumerate()
        .filter(|&(i, _)| i % 2 == 0 || i >= freed_below)
        .map(|(_, &p)| p)
        .collect();
    run.vmas = kernel.mem().vmas;
    run
}
