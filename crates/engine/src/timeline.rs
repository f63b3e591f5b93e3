//! Metrics sampled over a run: the `Timeline`.
//!
//! One schema for simulated and real runs, so charts can overlay them. Definitions are
//! those of DESIGN.md ("Metrics"); a real run fills what it can measure and leaves the
//! rest at 0 (its `source` says which it is).

use serde::{Deserialize, Serialize};

/// Where a timeline's numbers come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The simulator.
    Simulated,
    /// A real run on this machine.
    Real,
}

/// The metrics at one moment of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Ops executed so far (the sample is taken after op `op - 1`).
    pub op: u64,
    /// Nanoseconds so far: simulated, or measured since the run started.
    pub time_ns: f64,
    /// Sum of requested sizes of live blocks.
    pub live: u64,
    /// Bytes of chunks handed out, headers and padding included.
    pub allocated: u64,
    /// Bytes the allocator holds from the OS (brk heap + its mappings).
    pub footprint: u64,
    /// `footprint - allocated`.
    pub free_in_heap: u64,
    /// The largest free block the allocator could hand out without a syscall.
    pub largest_free: u64,
    /// Mapped bytes of the process's anonymous memory (heap included).
    pub mapped: u64,
    /// Resident bytes.
    pub rss: u64,
    /// Bytes of page-table pages.
    pub pt_bytes: u64,
    /// Cumulative bytes given back by lowering the break.
    pub returned_brk: u64,
    /// Cumulative bytes given back by munmap.
    pub returned_munmap: u64,
    /// Cumulative bytes given back by madvise.
    pub returned_madvise: u64,
    /// Cumulative syscalls, by kind: brk, mmap, munmap, mprotect, mremap, madvise.
    pub syscalls: [u64; 6],
    /// Cumulative minor faults.
    pub minor_faults: u64,
    /// Cumulative TLB misses (simulated runs only).
    pub tlb_misses: u64,
    /// The phase that starts here, when the sample was taken at a phase marker. An
    /// `Op::Phase` names the ops that *follow* it, so this sample (the state after
    /// the marker) is the first of that phase; the phase lasts until the next marker.
    pub phase: Option<String>,
}

/// A run's samples, in op order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Allocator (or real strategy) name.
    pub allocator: String,
    /// Simulated or real.
    pub source: Option<Source>,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Timeline {
    /// The phase each sample lies in: the name of the last phase marker at or before
    /// it (`None` before the first marker), one entry per sample.
    pub fn phase_of_each(&self) -> Vec<Option<&str>> {
        let mut current = None;
        self.samples
            .iter()
            .map(|s| {
                if let Some(p) = &s.phase {
                    current = Some(p.as_str());
                }
                current
            })
            .collect()
    }
}
