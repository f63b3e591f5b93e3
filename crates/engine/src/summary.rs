//! The summary of one run: what the comparison table and `summary.json` show.

use kernel::{CostCategory, Returned, Syscall};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Every op ran.
    Completed,
    /// The allocator could not get memory (malloc returned NULL) at op `op`; the run
    /// stopped there. A result, not an error: it is what running out looks like.
    OutOfMemory {
        /// Index of the op that failed.
        op: u64,
        /// What failed, in words.
        detail: String,
    },
    /// A memory access faulted (a simulated SIGSEGV) at op `op`; the run stopped there.
    Segv {
        /// Index of the op that faulted.
        op: u64,
        /// The fault, in words.
        detail: String,
    },
}

/// Peak and final figures of one allocator on one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Allocator name.
    pub allocator: String,
    /// Workload or trace name.
    pub workload: String,
    /// The generator's seed (none for traces).
    pub seed: Option<u64>,
    /// How the run ended.
    pub outcome: Outcome,
    /// Allocator calls made (malloc, free, realloc, trim).
    pub ops: u64,
    /// Largest sum of requested sizes of live blocks.
    pub peak_live: u64,
    /// Largest footprint (bytes held from the OS).
    pub peak_footprint: u64,
    /// Largest allocated (chunks handed out, headers and padding included).
    pub peak_allocated: u64,
    /// Largest resident set.
    pub peak_rss: u64,
    /// Largest mapped size.
    pub peak_mapped: u64,
    /// Largest page-table size.
    pub peak_pt_bytes: u64,
    /// Johnstone & Wilson's measure 4: (max footprint - max live) / max live.
    pub frag_max: f64,
    /// Johnstone & Wilson's measure 3: (footprint - live) / live at the moment of peak
    /// footprint.
    pub frag_peak: f64,
    /// Live, allocated and footprint at the end.
    pub final_live: u64,
    /// Allocated bytes at the end.
    pub final_allocated: u64,
    /// Footprint at the end.
    pub final_footprint: u64,
    /// Resident bytes at the end.
    pub final_rss: u64,
    /// Frees the kernel refused (a `munmap` that would pass `vm.max_map_count`): the
    /// program went on and the block stayed mapped, a leak.
    #[serde(default)]
    pub frees_refused: u64,
    /// Syscalls by name.
    pub syscalls: BTreeMap<String, u64>,
    /// Minor page faults.
    pub minor_faults: u64,
    /// TLB misses.
    pub tlb_misses: u64,
    /// Bytes of address range given back to the OS, by mechanism.
    pub returned: Returned,
    /// Resident bytes freed by giving memory back, by mechanism.
    pub returned_resident: Returned,
    /// Simulated nanoseconds, total.
    pub time_ns: f64,
    /// Simulated nanoseconds per op.
    pub ns_per_op: f64,
    /// Simulated nanoseconds by cost category.
    pub cost_ns: BTreeMap<String, f64>,
}

impl Summary {
    /// The number of `call` syscalls.
    pub fn syscall(&self, call: Syscall) -> u64 {
        self.syscalls.get(call.name()).copied().unwrap_or(0)
    }

    /// Simulated nanoseconds charged to `category`.
    pub fn cost(&self, category: CostCategory) -> f64 {
        self.cost_ns.get(category.name()).copied().unwrap_or(0.0)
    }
}
