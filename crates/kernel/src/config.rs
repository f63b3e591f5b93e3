//! How a simulated machine and its processes are set up.

use crate::cost::CostModel;
use crate::types::Addr;
use serde::{Deserialize, Serialize};

/// The TLB's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlbConfig {
    /// Number of entries (a power of two, a multiple of `ways`).
    pub entries: u32,
    /// Associativity: entries per set.
    pub ways: u32,
    /// Process-context identifiers: with PCID a context switch keeps the TLB's entries
    /// (tagged by process); without it the switch flushes the whole TLB.
    pub pcid: bool,
}

impl Default for TlbConfig {
    fn default() -> Self {
        // A typical L1 data TLB for 4 KiB pages: 64 entries, 4-way.
        TlbConfig {
            entries: 64,
            ways: 4,
            pcid: false,
        }
    }
}

/// Everything that defines a simulated machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    /// Size of physical memory in bytes (a multiple of the page size).
    pub phys_bytes: u64,
    /// Where every process's heap (the initial program break) starts. Fixed, so runs
    /// reproduce; Linux randomizes it unless ASLR is off.
    pub heap_start: Addr,
    /// The top of the mmap area: mappings are placed top-down below it.
    pub mmap_base: Addr,
    /// The lowest address `mmap` may return (`vm.mmap_min_addr`).
    pub mmap_min_addr: Addr,
    /// `vm.max_map_count`: most VMAs a process may have.
    pub max_map_count: u64,
    /// `RLIMIT_AS`-like limit on mapped bytes per process (`None`: unlimited).
    pub address_space_limit: Option<u64>,
    /// `RLIMIT_DATA`-like limit on the heap's size (break minus heap start).
    pub data_limit: Option<u64>,
    /// Back 2 MiB-aligned anonymous ranges with huge pages on first touch (THP `always`).
    pub huge_pages: bool,
    /// The TLB's shape.
    pub tlb: TlbConfig,
    /// What each event costs.
    pub cost: CostModel,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            phys_bytes: 4 << 30,
            // The addresses of a non-randomized x86-64 process: heap just after a small
            // PIE binary's data, mmap area just below the stack gap.
            heap_start: 0x5555_5555_9000,
            mmap_base: 0x7fff_f7ff_f000,
            mmap_min_addr: 0x1_0000,
            max_map_count: 65530,
            address_space_limit: None,
            data_limit: None,
            huge_pages: false,
            tlb: TlbConfig::default(),
            cost: CostModel::default(),
        }
    }
}
