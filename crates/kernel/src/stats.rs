//! What the kernel counts: memory use, events, and the cost ledger.

use crate::types::Syscall;
use serde::{Deserialize, Serialize};

/// Memory use of one process at one moment. Exact at every moment, not sampled.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemStats {
    /// Bytes of virtual address space mapped (VSZ of the anonymous memory, heap included).
    pub mapped: u64,
    /// Resident bytes: pages backed by a private frame, times the page size. Pages that
    /// map the shared zero page are not counted (Linux counts them neither).
    pub rss: u64,
    /// Bytes of page-table pages (PML4, PDPT, PD and PT pages) the process owns.
    pub pt_bytes: u64,
    /// Number of VMAs.
    pub vmas: u64,
    /// The program break.
    pub brk: u64,
    /// Resident bytes given up with `MADV_FREE` and not yet reclaimed nor written again
    /// (included in `rss`, as in Linux, where smaps shows them as `LazyFree`).
    #[serde(default)]
    pub lazy_free: u64,
    /// Resident bytes mapped by 2 MiB huge pages (included in `rss`; Linux's
    /// `AnonHugePages`).
    #[serde(default)]
    pub huge: u64,
    /// Bytes of private writable mappings (Linux's `VmData`, what `RLIMIT_DATA` limits).
    #[serde(default)]
    pub data: u64,
    /// Bytes of accounted mappings: what this process adds to the machine's committed
    /// memory (`Committed_AS`).
    #[serde(default)]
    pub committed: u64,
}

/// Physical memory, shared by every process.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysStats {
    /// Frames in the pool.
    pub total_frames: u64,
    /// Frames not in use.
    pub free_frames: u64,
}

/// Bytes given back to the OS, by mechanism.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Returned {
    /// Address range released by lowering the program break.
    pub brk: u64,
    /// Address range released by `munmap` (and by `mremap` shrinking).
    pub munmap: u64,
    /// Address range passed to `madvise(MADV_DONTNEED or MADV_FREE)`.
    pub madvise: u64,
}

impl Returned {
    /// The sum over every mechanism.
    pub fn total(&self) -> u64 {
        self.brk + self.munmap + self.madvise
    }
}

/// Event counters of one process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Syscalls made, by kind (index with [`Counters::syscall`]).
    pub syscalls: [u64; Syscall::ALL.len()],
    /// Minor faults: page faults that mapped a page (write faults, zero-page read
    /// faults, copy-on-write of the zero page), including the faults `MAP_POPULATE`
    /// takes on the process's behalf (as Linux's `getrusage` counts them).
    pub minor_faults: u64,
    /// Faults on a first read that mapped the shared zero page (a subset of `minor_faults`).
    pub zero_page_maps: u64,
    /// TLB lookups that hit.
    pub tlb_hits: u64,
    /// TLB lookups that missed and needed a page walk.
    pub tlb_misses: u64,
    /// TLB shootdowns: invalidations that had to interrupt other CPUs running the
    /// address space (none while the process runs on one CPU).
    pub tlb_shootdowns: u64,
    /// Context switches *to* this process.
    pub context_switches: u64,
    /// Address range given back to the OS, by mechanism.
    pub returned: Returned,
    /// Resident bytes freed by giving memory back, by mechanism. For `MADV_FREE` the
    /// bytes count when reclaim actually drops the pages.
    pub returned_resident: Returned,
    /// Faults that mapped a 2 MiB huge page (a subset of `minor_faults`).
    #[serde(default)]
    pub huge_faults: u64,
    /// Pages filled in without a trap by `MAP_POPULATE` (a subset of `minor_faults`).
    #[serde(default)]
    pub populated_pages: u64,
    /// Bytes of `MADV_FREE` pages that reclaim dropped because memory ran short.
    #[serde(default)]
    pub reclaimed: u64,
    /// Whole-TLB flushes of this address space: context switches without PCID, and
    /// invalidations of ranges too long to flush page by page.
    #[serde(default)]
    pub tlb_flushes: u64,
    /// Calls that invalidated TLB entries of this process (on its own CPU), because they
    /// removed or restricted translations.
    #[serde(default)]
    pub tlb_invalidations: u64,
    /// First-level TLB misses that the second-level TLB served (a subset of
    /// `tlb_hits`; 0 without a second level).
    #[serde(default)]
    pub tlb_l2_hits: u64,
}

impl Counters {
    /// How many times `call` was made.
    pub fn syscall(&self, call: Syscall) -> u64 {
        self.syscalls[call as usize]
    }

    /// All syscalls together.
    pub fn total_syscalls(&self) -> u64 {
        self.syscalls.iter().sum()
    }
}

/// A category of simulated time in the ledger.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostCategory {
    /// Entering and leaving the kernel (per syscall and per fault trap).
    ModeSwitch,
    /// Kernel work inside syscalls (VMA bookkeeping and the like).
    Syscall,
    /// Page-fault handling, zeroing excluded.
    Fault,
    /// Clearing frames before a process gets them.
    Zeroing,
    /// Allocating page-table pages.
    PageTable,
    /// TLB misses (page walks, and second-level hits).
    Tlb,
    /// Tearing down the translations of mapped pages a call removes (page-table
    /// entries, the local TLB invalidation, the cache misses that come with them).
    Teardown,
    /// TLB shootdowns: interrupting the other CPUs that run the address space.
    Shootdown,
    /// Switching between processes.
    ContextSwitch,
    /// The allocator's own user-space work.
    User,
    /// The program's own writes into the memory it allocated.
    Writes,
}

impl CostCategory {
    /// Every category, in a fixed order (for tables, stacked bars and CSV columns).
    pub const ALL: [CostCategory; 11] = [
        CostCategory::ModeSwitch,
        CostCategory::Syscall,
        CostCategory::Fault,
        CostCategory::Zeroing,
        CostCategory::PageTable,
        CostCategory::Tlb,
        CostCategory::Teardown,
        CostCategory::Shootdown,
        CostCategory::ContextSwitch,
        CostCategory::User,
        CostCategory::Writes,
    ];

    /// A short snake_case name, used in JSON and CSV.
    pub const fn name(self) -> &'static str {
        match self {
            CostCategory::ModeSwitch => "mode_switch",
            CostCategory::Syscall => "syscall",
            CostCategory::Fault => "fault",
            CostCategory::Zeroing => "zeroing",
            CostCategory::PageTable => "page_table",
            CostCategory::Tlb => "tlb",
            CostCategory::Teardown => "teardown",
            CostCategory::Shootdown => "shootdown",
            CostCategory::ContextSwitch => "context_switch",
            CostCategory::User => "user",
            CostCategory::Writes => "writes",
        }
    }
}

/// Simulated nanoseconds spent, by category.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Nanoseconds per category, indexed by `CostCategory as usize`.
    pub ns: [f64; CostCategory::ALL.len()],
}

impl Ledger {
    /// Adds `ns` nanoseconds to `category`.
    pub fn charge(&mut self, category: CostCategory, ns: f64) {
        self.ns[category as usize] += ns;
    }

    /// Nanoseconds charged to `category`.
    pub fn get(&self, category: CostCategory) -> f64 {
        self.ns[category as usize]
    }

    /// All categories together.
    pub fn total(&self) -> f64 {
        self.ns.iter().sum()
    }
}
