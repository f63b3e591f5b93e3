//! A process: an address space (VMAs, page table, program break) plus its accounts.
//!
//! Processes share the physical frame pool and the CPU's TLB, but each has its own
//! page table (its own CR3), so the same virtual address means different memory in
//! different processes.

use crate::page_table::PageTable;
use crate::stats::{CostCategory, Counters, Ledger, MemStats};
use crate::types::{Addr, HUGE_PAGE_SIZE, PAGE_SIZE, Pid};
use crate::vma::VmaMap;

/// One simulated process.
#[derive(Clone, Debug)]
pub struct Process {
    /// Its id; also the TLB's address-space tag (PCID).
    pub pid: Pid,
    /// What may be mapped.
    pub vmas: VmaMap,
    /// What is mapped now.
    pub pt: PageTable,
    /// The program break (not page-aligned in general).
    pub brk: Addr,
    /// Private frames mapped, in 4 KiB pages (RSS / 4096).
    pub rss_pages: u64,
    /// Pages marked by `MADV_FREE` and still resident.
    pub lazy_pages: u64,
    /// Huge pages mapped.
    pub huge_pages: u64,
    /// Events.
    pub counters: Counters,
    /// Simulated time.
    pub ledger: Ledger,
    /// `RLIMIT_DATA` (soft limit, bytes; `None`: unlimited).
    pub rlimit_data: Option<u64>,
    /// `RLIMIT_AS` (soft limit, bytes; `None`: unlimited).
    pub rlimit_as: Option<u64>,
    /// `oom_score_adj`, from -1000 (never chosen by the OOM killer) to 1000.
    pub oom_score_adj: i32,
    /// Killed by the OOM killer: its memory is gone, it waits to be reaped.
    pub killed: bool,
    /// A call tore down translations of resident pages since this process's last page
    /// fault: the next fault pays `fault_after_unmap_ns` on top (see that cost).
    pub unmapped_since_fault: bool,
}

impl Process {
    /// A process with an empty address space and its break at `heap_start`. The page
    /// table has no PML4 yet; the kernel allocates it right away.
    pub fn new(pid: Pid, heap_start: Addr) -> Process {
        Process {
            pid,
            vmas: VmaMap::new(),
            pt: PageTable::new(),
            brk: heap_start,
            rss_pages: 0,
            lazy_pages: 0,
            huge_pages: 0,
            counters: Counters::default(),
            ledger: Ledger::default(),
            rlimit_data: None,
            rlimit_as: None,
            oom_score_adj: 0,
            killed: false,
            unmapped_since_fault: false,
        }
    }

    /// The TLB tag of this address space.
    pub fn asid(&self) -> u32 {
        self.pid.0
    }

    /// Adds `ns` to `category` in this process's ledger.
    #[inline]
    pub fn charge(&mut self, category: CostCategory, ns: f64) {
        self.ledger.charge(category, ns);
    }

    /// Memory use right now.
    pub fn mem(&self) -> MemStats {
        MemStats {
            mapped: self.vmas.mapped(),
            rss: self.rss_pages * PAGE_SIZE,
            pt_bytes: self.pt.pages() * PAGE_SIZE,
            vmas: self.vmas.len(),
            brk: self.brk,
            lazy_free: self.lazy_pages * PAGE_SIZE,
            huge: self.huge_pages * HUGE_PAGE_SIZE,
            data: self.vmas.data(),
            committed: self.vmas.committed(),
        }
    }
}
