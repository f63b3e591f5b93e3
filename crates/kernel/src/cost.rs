//! The cost model: how many simulated nanoseconds each kernel event costs.
//!
//! Every number here is a *default* measured on a reference machine (a 2-vCPU AMD EPYC
//! virtual machine, Linux 6.18, glibc 2.36; see the book's cost chapter). `sim calibrate`
//! measures the same quantities on the user's machine and writes a JSON file of this
//! shape, which `--cost FILE` loads.
//!
//! The model separates a **mode switch** (entering and leaving the kernel on a syscall or
//! a fault, the same process keeps running) from a **context switch** (the CPU changes
//! from one process to another). Popular explanations often confuse the two.

use serde::{Deserialize, Serialize};

// ANCHOR: cost_model
/// Simulated costs in nanoseconds. Field docs say exactly when each one is charged, and
/// how `sim calibrate` derives it from a measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostModel {
    /// Entering and leaving the kernel once: charged on every syscall.
    /// Measured as a `syscall(SYS_getppid)` loop (lmbench `lat_syscall null`): 120.
    pub mode_switch_ns: f64,
    /// Kernel work of one `brk` call beyond the mode switch.
    /// (sbrk(+4096) + sbrk(-4096), untouched) / 2 - mode switch = 2212/2 - 120 = 986.
    pub brk_ns: f64,
    /// Kernel work of one `mmap` call beyond the mode switch (VMA setup, no pages).
    /// mmap alone of 4 KiB - mode switch = 1150 - 120 = 1030.
    ///
    /// `sim calibrate` measures the call in a *steady state* rather than in a hot loop:
    /// a process holding thousands of one-page mappings maps a new page (into a hole
    /// between live blocks, merging with them) as it replaces a random old one. A loop
    /// that maps and unmaps one page at one address keeps the VMA, the tree nodes above
    /// it and everything else the call touches in the CPU caches, and measures a best
    /// case that a program with many long-lived mappings never sees. The reference
    /// machine measured only the hot loop, so the default is that figure.
    pub mmap_ns: f64,
    /// Kernel work of one `munmap` call beyond the mode switch, for a range with no
    /// resident pages. munmap alone of 4 KiB - mode switch = 2140 - 120 = 2020.
    ///
    /// Calibrated, like `mmap_ns`, in the steady state: the unmapped block is an old
    /// one, usually cut out of the middle of a VMA (which splits it twice), among
    /// thousands of live mappings. The default is the reference machine's hot-loop
    /// figure.
    pub munmap_ns: f64,
    /// Kernel work of one `mprotect` call beyond the mode switch (not measured on the
    /// reference machine; taken equal to `mmap_ns`).
    pub mprotect_ns: f64,
    /// Kernel work of one `mremap` call beyond the mode switch, page moves excluded
    /// (not measured on the reference machine; taken equal to `mmap_ns`).
    pub mremap_ns: f64,
    /// Kernel work of one `madvise` call beyond the mode switch, freed pages excluded.
    /// touch + madvise(DONTNEED) of one page - write fault - mode switch - free_page
    /// = 2660 - 1240 - 120 - 220 = 1080.
    pub madvise_ns: f64,
    /// Handling one minor page fault (trap, VMA lookup, frame allocation, PTE install),
    /// zeroing excluded. Write fault per page - zeroing = 1240 - 400 = 840.
    pub fault_ns: f64,
    /// Clearing one 4 KiB frame before it is handed to a process (the kernel never hands
    /// out another process's data). About 10 GB/s on the reference machine: 400.
    pub zero_page_ns: f64,
    /// A first *read* of an untouched anonymous page: the fault maps the shared zero
    /// page, no frame is taken and nothing is zeroed. Measured: 627.
    pub read_fault_ns: f64,
    /// Populating one page without a trap (`MAP_POPULATE`, or a fault-around), zeroing
    /// excluded. MAP_POPULATE per page - zeroing = 1160 - 400 = 760.
    pub populate_page_ns: f64,
    /// Giving one resident frame back when a range is unmapped or advised away.
    /// (1 MiB mmap + touch all + munmap) per page - write fault = 1460 - 1240 = 220.
    pub free_page_ns: f64,
    /// Allocating (and zeroing) one page-table page, charged when a walk needs a table
    /// that does not exist yet. Estimated; calibrated as the extra cost of the first
    /// fault in a fresh 2 MiB-aligned region over a fault next to a resident page.
    pub page_table_page_ns: f64,
    /// One TLB miss: a 4-level page walk (mostly served from the data caches).
    /// Calibrated by pointer chasing across pages versus within one page: 30.
    pub tlb_miss_ns: f64,
    /// Flushing the TLB entries of a range that had resident pages, with the batch of
    /// freed frames (`munmap`, `mprotect`, `madvise`, brk shrink). One process on one
    /// CPU, so no inter-processor interrupt is needed. Derived from the single-page case:
    /// mmap+touch+munmap of 4 KiB - mmap - munmap - write fault - free_page
    /// = 6700 - 1150 - 2140 - 1240 - 220 = 1950.
    ///
    /// Being a difference, it holds everything an unmap of resident memory costs beyond
    /// the VMA work, the fault that made the page resident and the freeing of its frame:
    /// the invalidation itself, its aftermath (a fault right after an invalidation costs
    /// several hundred ns more than one in a run of faults, most likely because the
    /// CPU drops its cached upper page-table levels with the entry), and the
    /// cache misses on the page-table entry and frame metadata of a page that was
    /// written long ago. `sim calibrate` takes the cycle, mmap and munmap from the
    /// steady state described at `mmap_ns`:
    /// (mmap + write + munmap) - mmap - munmap - write fault - free_page. The default
    /// uses the reference machine's hot-loop figures above.
    pub shootdown_ns: f64,
    /// Switching the CPU from one process to another (save/restore, scheduler, address
    /// space switch). Pipe ping-pong hop - same-process pipe round = 2084 - 494 ~ 1600.
    pub context_switch_ns: f64,
    /// User-space work of one allocator call (malloc, free or realloc) on its fast path:
    /// (malloc(64) + free) / 2 = 5.2 / 2 = 2.6. Allocators may charge multiples of it
    /// for slower paths (a bin scan, a coalesce).
    pub alloc_op_ns: f64,
}
// ANCHOR_END: cost_model

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            mode_switch_ns: 120.0,
            brk_ns: 986.0,
            mmap_ns: 1030.0,
            munmap_ns: 2020.0,
            mprotect_ns: 1030.0,
            mremap_ns: 1030.0,
            madvise_ns: 1080.0,
            fault_ns: 840.0,
            zero_page_ns: 400.0,
            read_fault_ns: 627.0,
            populate_page_ns: 760.0,
            free_page_ns: 220.0,
            page_table_page_ns: 300.0,
            tlb_miss_ns: 30.0,
            shootdown_ns: 1950.0,
            context_switch_ns: 1600.0,
            alloc_op_ns: 2.6,
        }
    }
}

impl CostModel {
    /// Parses a cost model from JSON. Missing fields keep their defaults; unknown
    /// fields are an error, so a typo in a calibration file is not silently ignored.
    pub fn from_json(text: &str) -> Result<CostModel, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Serializes the model as pretty JSON (field order is fixed, so output is stable).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("CostModel serializes");
        s.push('\n');
        s
    }
}
