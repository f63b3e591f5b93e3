//! How a simulated machine and its processes are set up.

use crate::cost::CostModel;
use crate::types::{Addr, PAGE_SIZE, USER_SPACE_END};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest physical memory the model addresses: 2^32 frames (frame numbers are
/// `u32`), 16 TiB.
pub const MAX_PHYS_BYTES: u64 = (1u64 << 32) * PAGE_SIZE;

/// The TLB's shape, and who else uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlbConfig {
    /// Number of entries of the first-level TLB: a multiple of `ways`, and
    /// `entries / ways` (the number of sets) a power of two, because the set is chosen
    /// by the low bits of the page number.
    pub entries: u32,
    /// Associativity: entries per set.
    pub ways: u32,
    /// Process-context identifiers: with PCID a context switch keeps the TLB's entries
    /// (tagged by process); without it the switch flushes the whole TLB. Linux uses PCID
    /// since 4.14 on CPUs that have it (x86-64 CPUs since about 2013 do; this machine's
    /// `/proc/cpuinfo` lists `pcid`), so it is on by default.
    pub pcid: bool,
    /// Entries of the second-level TLB (0: none, one level only). A first-level miss
    /// looks here before it walks the page table (`tlb_l2_hit_ns` instead of
    /// `tlb_miss_ns`); a walk fills both levels. Recent x86-64 cores have one of 1536 to
    /// 4096 entries. On the machine of the book's Appendix B (an AMD EPYC virtual
    /// machine) a pointer chase with one line in each of N pages costs about 1 ns per
    /// step up to 96 pages (the first level), 2.7 ns at 112 to 128 pages, stays near
    /// 5 ns up to 2048 pages (cache misses included), then climbs, 6.8 ns at 3072, 9.9
    /// at 4096 and 30 at 16384, where every step walks: about 4096 entries. The default
    /// is that shape, 4096 entries of 16 ways. Without it every first-level miss of a
    /// heap of a few MiB was charged a walk it does not take, and `sim validate` found
    /// glibc's simulated time 1.4 to 1.8 times the real one on cache-friendly workloads.
    pub l2_entries: u32,
    /// Associativity of the second-level TLB (`l2_entries / l2_ways` sets, a power of
    /// two).
    pub l2_ways: u32,
    /// Other CPUs on which each address space is live at the same time (threads of the
    /// process running there). A call that removes or restricts translations must then
    /// reach their TLBs too: a *shootdown* (an inter-processor interrupt and a wait),
    /// `tlb_shootdown_ns` once per call. The model's processes are single-threaded on
    /// one CPU, so the default is 0: no shootdowns.
    pub remote_cpus: u32,
}

impl Default for TlbConfig {
    fn default() -> Self {
        // A typical L1 data TLB for 4 KiB pages: 64 entries, 4-way (the machine of
        // Appendix B has 96; the model keeps the common size, since a first-level miss
        // that the second level serves costs about 2 ns).
        TlbConfig {
            entries: 64,
            ways: 4,
            pcid: true,
            l2_entries: 4096,
            l2_ways: 16,
            remote_cpus: 0,
        }
    }
}

/// `vm.overcommit_memory`: how the kernel decides whether a mapping that may need
/// memory later (a private writable one) can be promised now. Linux's
/// `Documentation/mm/overcommit-accounting.rst` describes the three modes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OvercommitPolicy {
    /// Mode 0, the default: "obvious overcommits of address space are refused". One
    /// request larger than all of RAM plus swap fails with ENOMEM; anything smaller is
    /// granted however much was promised before. `MAP_NORESERVE` mappings are not
    /// checked at all.
    Heuristic,
    /// Mode 1: every request is granted; memory is only found (or not) at first touch.
    Always,
    /// Mode 2: strict accounting. The memory promised to all processes together (the
    /// *committed* memory, `Committed_AS`) may not exceed the commit limit, swap plus
    /// `ratio` percent of RAM (`CommitLimit`). `MAP_NORESERVE` is ignored.
    Never,
}

/// The overcommit policy and what it depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overcommit {
    /// `vm.overcommit_memory`.
    pub policy: OvercommitPolicy,
    /// `vm.overcommit_ratio`: the percentage of RAM in the commit limit (mode 2).
    pub ratio: u64,
    /// Swap space in bytes (the model never swaps; swap only enters the limits).
    pub swap_bytes: u64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Overcommit {
            policy: OvercommitPolicy::Heuristic,
            ratio: 50,
            swap_bytes: 0,
        }
    }
}

/// Everything that defines a simulated machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    /// Size of physical memory in bytes (a multiple of the page size, at least one
    /// page, at most [`MAX_PHYS_BYTES`]).
    pub phys_bytes: u64,
    /// Where every process's heap (the initial program break) starts. Fixed, so runs
    /// reproduce; Linux randomizes it unless ASLR is off.
    pub heap_start: Addr,
    /// The top of the mmap area: mappings are placed top-down below it.
    pub mmap_base: Addr,
    /// The lowest address `mmap` may return (`vm.mmap_min_addr`).
    pub mmap_min_addr: Addr,
    /// Everything from `mmap_base` to the end of user space is taken: by the stack and
    /// the shared libraries of a real process, which the model does not show (nor
    /// count), or by the placeholders of the real kernel-script runner. Nothing is
    /// placed (not even at a hint), grown (`mremap`, `brk`) or mapped with `MAP_FIXED`
    /// there (ENOMEM, as beyond the end of user space), and no VMA touches anything
    /// above it. Off by default: then the model only places mappings below `mmap_base`,
    /// and a hint or `MAP_FIXED` may still go above it.
    pub reserved_top: bool,
    /// `vm.max_map_count`: most VMAs a process may have.
    pub max_map_count: u64,
    /// `RLIMIT_AS` of every process at its start (change it with
    /// [`crate::Kernel::setrlimit`]): most bytes of address space a process may map
    /// (`VmSize`; `None`: unlimited). `mmap`, `brk` and a growing `mremap` that would pass it fail with
    /// ENOMEM.
    pub address_space_limit: Option<u64>,
    /// `RLIMIT_DATA` of every process at its start (change it with
    /// [`crate::Kernel::setrlimit`]): most bytes of private writable memory a process
    /// may map (`VmData`; `None`: unlimited). Since Linux 4.7 it limits not only the heap but
    /// every private writable mapping (`MAP_NORESERVE` ones too), growth by `mremap` and
    /// `mprotect` adding write access; read-only and `PROT_NONE` mappings are free of
    /// it. `brk` is also checked against the heap's own size (break minus heap start),
    /// the pre-4.7 rule, which is never the stricter one here.
    pub data_limit: Option<u64>,
    /// `vm.overcommit_memory` and the figures its modes use.
    pub overcommit: Overcommit,
    /// Back 2 MiB-aligned anonymous ranges with huge pages on first touch (THP `always`).
    /// It also implies `thp_align`.
    pub huge_pages: bool,
    /// Place an anonymous mapping whose length is a multiple of 2 MiB, asked for without
    /// a hint, at a 2 MiB-aligned address (`mmap` and a moving `mremap`), so that it could
    /// be backed by huge pages. Linux does so whenever it is built with transparent huge
    /// pages, whatever the THP mode (this machine's is `madvise`): it searches for
    /// 2 MiB more than asked and aligns inside that gap, falling back to an ordinary
    /// placement when no such gap exists.
    pub thp_align: bool,
    /// The TLB's shape.
    pub tlb: TlbConfig,
    /// The CPU cache that keeps a program's recently used memory close, in bytes: the
    /// reference machine's level-2 cache per core (1 MiB, as
    /// `/sys/devices/system/cpu/cpu0/cache/index2/size` reports). The model keeps no
    /// cache contents; an allocator model uses the size to price what it touches
    /// elsewhere in its heap: in a heap no larger than the cache a visit to another
    /// chunk finds it there, in a heap of `h` bytes a share `1 - cache_bytes / h` of
    /// such visits miss (see `CostModel::alloc_step_ns`). 0: every visit misses.
    pub cache_bytes: u64,
    /// What each event costs.
    pub cost: CostModel,
    /// Keep the bytes written to memory from the start (the byte-storing mode of
    /// [`crate::Kernel::write`] and [`crate::Kernel::read`]; see the `contents` module).
    /// Off by default, so that simulations that only need *where* memory is stay fast;
    /// a kernel with it off still turns it on at its first `write`. Left out of the
    /// JSON form while off, so existing configurations and outputs are unchanged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub store_bytes: bool,
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
            reserved_top: false,
            max_map_count: 65530,
            address_space_limit: None,
            data_limit: None,
            overcommit: Overcommit::default(),
            huge_pages: false,
            thp_align: true,
            tlb: TlbConfig::default(),
            cache_bytes: 1 << 20,
            cost: CostModel::default(),
            store_bytes: false,
        }
    }
}

/// A configuration field that cannot describe a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field, as named in the JSON form (`tlb.ways`, `cost.fault_ns`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid kernel configuration: {}: {}",
            self.field, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

fn err(field: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        field,
        reason: reason.into(),
    })
}

impl TlbConfig {
    /// Checks the shape: at least one way, entries a multiple of ways, a power-of-two
    /// number of sets.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ways == 0 {
            return err("tlb.ways", "must be at least 1");
        }
        if self.entries == 0 || !self.entries.is_multiple_of(self.ways) {
            return err(
                "tlb.entries",
                format!(
                    "{} is not a positive multiple of ways ({})",
                    self.entries, self.ways
                ),
            );
        }
        let sets = self.entries / self.ways;
        if !sets.is_power_of_two() {
            return err(
                "tlb.entries",
                format!("entries / ways = {sets} sets, which is not a power of two"),
            );
        }
        if self.l2_entries > 0 {
            if self.l2_ways == 0 || !self.l2_entries.is_multiple_of(self.l2_ways) {
                return err(
                    "tlb.l2_entries",
                    format!(
                        "{} is not a multiple of l2_ways ({})",
                        self.l2_entries, self.l2_ways
                    ),
                );
            }
            let sets = self.l2_entries / self.l2_ways;
            if !sets.is_power_of_two() {
                return err(
                    "tlb.l2_entries",
                    format!("l2_entries / l2_ways = {sets} sets, which is not a power of two"),
                );
            }
        }
        Ok(())
    }
}

/// The JSON names of the cost fields, in declaration order, and their paths in a
/// kernel configuration (for error messages).
const COST_FIELDS: [(&str, &str); 24] = [
    ("mode_switch_ns", "cost.mode_switch_ns"),
    ("brk_ns", "cost.brk_ns"),
    ("mmap_ns", "cost.mmap_ns"),
    ("munmap_ns", "cost.munmap_ns"),
    ("mprotect_ns", "cost.mprotect_ns"),
    ("mremap_ns", "cost.mremap_ns"),
    ("madvise_ns", "cost.madvise_ns"),
    ("fault_ns", "cost.fault_ns"),
    ("zero_page_ns", "cost.zero_page_ns"),
    ("read_fault_ns", "cost.read_fault_ns"),
    ("populate_page_ns", "cost.populate_page_ns"),
    ("free_page_ns", "cost.free_page_ns"),
    ("page_table_page_ns", "cost.page_table_page_ns"),
    ("tlb_miss_ns", "cost.tlb_miss_ns"),
    ("tlb_l2_hit_ns", "cost.tlb_l2_hit_ns"),
    ("unmap_teardown_ns", "cost.unmap_teardown_ns"),
    ("fault_after_unmap_ns", "cost.fault_after_unmap_ns"),
    ("tlb_shootdown_ns", "cost.tlb_shootdown_ns"),
    ("context_switch_ns", "cost.context_switch_ns"),
    ("alloc_op_ns", "cost.alloc_op_ns"),
    ("alloc_arena_ns", "cost.alloc_arena_ns"),
    ("alloc_step_ns", "cost.alloc_step_ns"),
    ("write_call_ns", "cost.write_call_ns"),
    ("write_byte_ns", "cost.write_byte_ns"),
];

impl CostModel {
    /// A model that charges nothing. With one cost set to 1 it counts what that cost
    /// is charged for (`sim calibrate` counts the glibc model's chunk visits so).
    pub fn zero() -> CostModel {
        let mut c = CostModel::default();
        for v in c.values_mut() {
            *v = 0.0;
        }
        c
    }

    /// Every cost as (JSON field name, value), in declaration order.
    pub fn fields(&self) -> [(&'static str, f64); 24] {
        let mut out = [("", 0.0); 24];
        for (slot, (v, (name, _))) in out
            .iter_mut()
            .zip(self.values().into_iter().zip(COST_FIELDS))
        {
            *slot = (name, v);
        }
        out
    }

    fn values(&self) -> [f64; 24] {
        [
            self.mode_switch_ns,
            self.brk_ns,
            self.mmap_ns,
            self.munmap_ns,
            self.mprotect_ns,
            self.mremap_ns,
            self.madvise_ns,
            self.fault_ns,
            self.zero_page_ns,
            self.read_fault_ns,
            self.populate_page_ns,
            self.free_page_ns,
            self.page_table_page_ns,
            self.tlb_miss_ns,
            self.tlb_l2_hit_ns,
            self.unmap_teardown_ns,
            self.fault_after_unmap_ns,
            self.tlb_shootdown_ns,
            self.context_switch_ns,
            self.alloc_op_ns,
            self.alloc_arena_ns,
            self.alloc_step_ns,
            self.write_call_ns,
            self.write_byte_ns,
        ]
    }

    fn values_mut(&mut self) -> [&mut f64; 24] {
        [
            &mut self.mode_switch_ns,
            &mut self.brk_ns,
            &mut self.mmap_ns,
            &mut self.munmap_ns,
            &mut self.mprotect_ns,
            &mut self.mremap_ns,
            &mut self.madvise_ns,
            &mut self.fault_ns,
            &mut self.zero_page_ns,
            &mut self.read_fault_ns,
            &mut self.populate_page_ns,
            &mut self.free_page_ns,
            &mut self.page_table_page_ns,
            &mut self.tlb_miss_ns,
            &mut self.tlb_l2_hit_ns,
            &mut self.unmap_teardown_ns,
            &mut self.fault_after_unmap_ns,
            &mut self.tlb_shootdown_ns,
            &mut self.context_switch_ns,
            &mut self.alloc_op_ns,
            &mut self.alloc_arena_ns,
            &mut self.alloc_step_ns,
            &mut self.write_call_ns,
            &mut self.write_byte_ns,
        ]
    }

    /// Checks that every cost is a finite, non-negative number of nanoseconds, and at
    /// most [`CostModel::MAX_NS`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (v, (_, path)) in self.values().into_iter().zip(COST_FIELDS) {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError {
                    field: path,
                    reason: format!("{v} is not a finite, non-negative number of ns"),
                });
            }
            if v > CostModel::MAX_NS {
                return Err(ConfigError {
                    field: path,
                    reason: format!("{v:e} ns is over the limit of one second per event"),
                });
            }
        }
        Ok(())
    }

    /// The same model with every cost that fails [`CostModel::validate`] replaced by its
    /// default.
    fn normalized(&self) -> CostModel {
        let mut c = self.clone();
        let d = CostModel::default().values();
        for (v, dv) in c.values_mut().into_iter().zip(d) {
            if !(v.is_finite() && *v >= 0.0 && *v <= CostModel::MAX_NS) {
                *v = dv;
            }
        }
        c
    }
}

impl KernelConfig {
    /// The end of the address space a process may use: `mmap_base` when the top is
    /// reserved ([`KernelConfig::reserved_top`]), else the end of user space.
    pub fn usable_end(&self) -> Addr {
        if self.reserved_top {
            self.mmap_base
        } else {
            USER_SPACE_END
        }
    }

    /// The machine of the kernel scripts (`KERNEL-SCRIPTS.md`): a process laid out like
    /// the real script runner's, with `ram` bytes of physical memory. The *floor*
    /// (`mmap_base`) is 512 GiB-aligned and everything from it up is reserved, so every
    /// mapping goes below it into an address space whose page tables are empty (the
    /// first touch costs a PDPT, a PD and a PT); the heap starts 16 TiB below the floor.
    /// The machine is this one's: THP alignment on, no huge pages on fault (THP
    /// `madvise`), heuristic overcommit, no swap.
    pub fn script_machine(ram: u64) -> KernelConfig {
        let floor: Addr = 0x7f80_0000_0000;
        KernelConfig {
            phys_bytes: ram,
            heap_start: floor - (16 << 40),
            mmap_base: floor,
            reserved_top: true,
            ..KernelConfig::default()
        }
    }

    /// Checks that the configuration describes a machine the model can run: physical
    /// memory of whole pages (at least one, for the first process's PML4), a page-aligned
    /// address layout with `mmap_min_addr <= heap_start < mmap_base <= USER_SPACE_END`,
    /// a valid TLB shape and valid costs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.phys_bytes < PAGE_SIZE || !self.phys_bytes.is_multiple_of(PAGE_SIZE) {
            return err(
                "phys_bytes",
                format!(
                    "{} is not a positive multiple of the page size",
                    self.phys_bytes
                ),
            );
        }
        if self.phys_bytes > MAX_PHYS_BYTES {
            return err(
                "phys_bytes",
                format!(
                    "{} is above the model's limit of {MAX_PHYS_BYTES}",
                    self.phys_bytes
                ),
            );
        }
        for (field, v) in [
            ("heap_start", self.heap_start),
            ("mmap_base", self.mmap_base),
            ("mmap_min_addr", self.mmap_min_addr),
        ] {
            if v % PAGE_SIZE != 0 {
                return err(field, format!("{v:#x} is not page-aligned"));
            }
        }
        if self.mmap_base > USER_SPACE_END {
            return err(
                "mmap_base",
                format!(
                    "{:#x} is above the end of user space {USER_SPACE_END:#x}",
                    self.mmap_base
                ),
            );
        }
        if self.heap_start < self.mmap_min_addr {
            return err("heap_start", "is below mmap_min_addr");
        }
        if self.heap_start >= self.mmap_base {
            return err("heap_start", "must be below mmap_base");
        }
        self.tlb.validate()?;
        self.cost.validate()
    }

    /// A valid configuration close to `self`: every field that fails
    /// [`KernelConfig::validate`] is replaced by its default (and the whole address
    /// layout by the default layout if the fields still do not fit together).
    /// [`crate::Kernel::new`] runs on this, so it never fails.
    pub fn normalized(&self) -> KernelConfig {
        let d = KernelConfig::default();
        let mut c = self.clone();
        if c.phys_bytes < PAGE_SIZE || c.phys_bytes > MAX_PHYS_BYTES {
            c.phys_bytes = d.phys_bytes;
        }
        c.phys_bytes -= c.phys_bytes % PAGE_SIZE;
        let layout_ok = |c: &KernelConfig| {
            c.heap_start.is_multiple_of(PAGE_SIZE)
                && c.mmap_base.is_multiple_of(PAGE_SIZE)
                && c.mmap_min_addr.is_multiple_of(PAGE_SIZE)
                && c.mmap_base <= USER_SPACE_END
                && c.mmap_min_addr <= c.heap_start
                && c.heap_start < c.mmap_base
        };
        if !layout_ok(&c) {
            c.heap_start = d.heap_start;
            c.mmap_base = d.mmap_base;
            c.mmap_min_addr = d.mmap_min_addr;
        }
        if c.tlb.validate().is_err() {
            c.tlb = TlbConfig {
                pcid: c.tlb.pcid,
                remote_cpus: c.tlb.remote_cpus,
                ..d.tlb
            };
        }
        c.cost = c.cost.normalized();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(KernelConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let c = KernelConfig {
            phys_bytes: 1000,
            ..KernelConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "phys_bytes");
        let mut c = KernelConfig::default();
        c.tlb.entries = 48;
        c.tlb.ways = 4; // 12 sets
        assert_eq!(c.validate().unwrap_err().field, "tlb.entries");
        let mut c = KernelConfig::default();
        c.cost.fault_ns = f64::NAN;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "cost.fault_ns");
        assert!(e.to_string().contains("cost.fault_ns"));
        let c = KernelConfig {
            heap_start: 0x1001,
            ..KernelConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "heap_start");
        let c = KernelConfig {
            heap_start: 0x7fff_f800_0000,
            ..KernelConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "heap_start");
    }

    #[test]
    fn normalized_is_always_valid() {
        let mut c = KernelConfig {
            phys_bytes: 5,
            heap_start: 3,
            mmap_base: u64::MAX,
            ..KernelConfig::default()
        };
        c.tlb.ways = 0;
        c.cost.tlb_miss_ns = -1.0;
        let n = c.normalized();
        assert_eq!(n.validate(), Ok(()));
        assert_eq!(n.cost.tlb_miss_ns, CostModel::default().tlb_miss_ns);
        // Valid fields survive.
        let ok = KernelConfig {
            phys_bytes: 1 << 20,
            huge_pages: true,
            ..KernelConfig::default()
        };
        assert_eq!(ok.normalized(), ok);
    }
}
