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
    /// A miss in the first-level TLB that the second-level TLB serves (charged only
    /// when [`TlbConfig::l2_entries`](crate::TlbConfig::l2_entries) gives the model
    /// one). Pointer chasing over 96 to 1024 pages (more than the 64 first-level
    /// entries, fewer than the second level's) versus the same cache lines packed in a
    /// few pages: 1.9 to 2.0 ns in the quietest runs (about 7 cycles), so 2.
    /// `sim calibrate` chases one line in each of 512 pages against as many lines
    /// packed 64 to a page (2.7 to 2.9 on the machine of Appendix B, under load).
    pub tlb_l2_hit_ns: f64,
    /// Tearing down the translations of mapped pages when a call removes them
    /// (`munmap`, a brk shrink, a shrinking or moving `mremap`, `MAP_FIXED` over a
    /// mapping, `MADV_DONTNEED`), once per call that found any: clearing their
    /// page-table entries, the local TLB invalidation, and the cache misses that come
    /// with it. Derived from the single-page case:
    /// mmap+touch+munmap of 4 KiB - mmap - munmap - write fault - free_page
    /// = 6700 - 1150 - 2140 - 1240 - 220 = 1950.
    ///
    /// Being a difference, it holds everything an unmap of resident memory costs beyond
    /// the VMA work, the fault that made the page resident and the freeing of its frame:
    /// the page-table teardown, the invalidation itself, its aftermath (a fault right
    /// after an invalidation costs several hundred ns more than one in a run of
    /// faults, most likely because the CPU drops its cached upper page-table levels
    /// with the entry), and the cache misses on the page-table entry and frame metadata
    /// of a page that was written long ago. It is *not* a TLB shootdown: the reference
    /// process ran on one CPU, so no other CPU had to be interrupted (that is
    /// [`tlb_shootdown_ns`](CostModel::tlb_shootdown_ns)). The default uses the
    /// reference machine's hot-loop figures above, and so holds the aftermath too.
    ///
    /// `sim calibrate` measures more and splits it: from the steady state described at
    /// `mmap_ns`, this is munmap of a resident page - munmap of an untouched one -
    /// free_page (the unmap alone), and the aftermath is
    /// [`fault_after_unmap_ns`](CostModel::fault_after_unmap_ns), charged where it is
    /// paid, on the next fault.
    ///
    /// Cost files written before this field was split from the shootdown cost call it
    /// `shootdown_ns`; that name is read as this field (what it always measured).
    #[serde(alias = "shootdown_ns")]
    pub unmap_teardown_ns: f64,
    /// What the first page fault after an unmap of resident memory costs beyond a
    /// fault in a run of faults, once per unmapping call that tore down translations
    /// (charged to the next fault of the same process, whenever it comes).
    ///
    /// A steady state of one-page mappings replaced one at a time, as a
    /// mapping-per-block allocator lives, costs more per cycle than its parts measured
    /// alone: `sim calibrate` found mmap among many + write fault + munmap of a
    /// resident page among many 1.4 µs short of the whole cycle, on the machine of the
    /// book's Appendix B. Part of it is the fault after the invalidation (the CPU drops
    /// its cached upper page-table levels with the entry: a write fault right after the
    /// cycle's munmap cost 2.21 µs there against 1.44 in a run of faults), part the
    /// colder structures of a cycle among many. Charging it on the next fault, not on
    /// the munmap, is what `sim validate` asks for: with the remainder charged on the
    /// munmap, phases that only unmap (a drain of frees) were priced 15-23% above the
    /// real run while growth and steady phases were within a few percent. `sim
    /// calibrate` derives it as (mmap + write + munmap) among many - mmap among many -
    /// write fault - munmap of a resident page among many. The default is 0: the
    /// reference machine measured only the hot loop, whose cycle is one unmap and one
    /// fault after it, so its `unmap_teardown_ns` holds this cost too.
    pub fault_after_unmap_ns: f64,
    /// A TLB shootdown: when a call removes or restricts translations of an address
    /// space that other CPUs run too (threads of the process, see
    /// [`TlbConfig::remote_cpus`](crate::TlbConfig::remote_cpus)), the kernel must
    /// interrupt them (an IPI), have each invalidate its TLB, and wait for them. Charged
    /// once per such call. The same 4 KiB mmap + write + munmap cycle with a second
    /// thread of the process spinning on the other CPU, minus the cycle alone, at the
    /// 1st to 10th percentile of 200,000 cycles each (keeping only the cycles during
    /// which the other thread really ran): 11,400 to 11,600 ns, while the same cycle
    /// without the write, which leaves nothing to flush, differs by 200 ns at most.
    /// The reference machine is a virtual machine, where an IPI is a round trip
    /// through the hypervisor; on bare metal it is a few µs at most. So 11,500.
    /// `sim calibrate` measures the same way (each cycle timed alone, kept when the
    /// spinning thread's counter moved during it), where the process may use two CPUs.
    pub tlb_shootdown_ns: f64,
    /// Switching the CPU from one process to another (save/restore, scheduler, address
    /// space switch). Pipe ping-pong hop - same-process pipe round = 2084 - 494 ~ 1600.
    pub context_switch_ns: f64,
    /// User-space work of one allocator call (malloc, free or realloc) on its fast path:
    /// (malloc(64) + free) / 2 = 5.2 / 2 = 2.6. Allocators may charge multiples of it
    /// for slower paths (a bin scan, a coalesce).
    pub alloc_op_ns: f64,
    /// User-space work of an allocator call that goes past the fast path into the
    /// allocator's shared structures (glibc: a `malloc` that misses the tcache and
    /// runs `_int_malloc`, a `free` that does not fit the tcache and runs `_int_free`),
    /// on top of `alloc_op_ns`, for the call itself: the chunks it visits besides its
    /// own are `alloc_step_ns` each. `sim calibrate` measures `free(b); b =
    /// malloc(2000)` beside a guard block (the chunk cycles through the unsorted bin,
    /// no other chunk is visited): per call, minus `alloc_op_ns`. The reference machine
    /// did not measure it; the default comes from the same loop in C on the machine of
    /// the book's Appendix B (16 to 19 ns per pair in six runs; 17.2 taken): (17.2 -
    /// 5.2) / 2 = 6.
    pub alloc_arena_ns: f64,
    /// Each further chunk an arena call visits that is not in the CPU's cache: one
    /// taken off glibc's unsorted bin, a step along a largebin's list of sizes, a free
    /// neighbour merged, a remainder split off, a fastbin chunk consolidated, a chunk
    /// moved into the tcache. The visit reads and writes another chunk's header and
    /// links, elsewhere in the heap: a few ns when that chunk is in the cache, tens
    /// when it is not, which is what makes a call among thousands of live blocks of
    /// mixed sizes cost several times a call that takes the chunk it just freed back.
    /// The model keeps no cache contents: it charges each visit this cost times the
    /// share of the heap the cache cannot hold ([`cache_miss_share`] with
    /// `KernelConfig::cache_bytes`), nothing in a heap that fits. `sim calibrate`
    /// divides what malloc + free among 4096 live blocks of 1,100 to 4,000 bytes (a
    /// heap of about 10 MiB) costs beyond `alloc_op_ns` and `alloc_arena_ns` by the
    /// visits the glibc model makes for the same calls, each weighted so. Default from
    /// C loops on the machine of the book's Appendix B: that steady pair cost 128 to
    /// 187 ns in six runs (about 140 typical), the one-chunk pair 17.2 (see
    /// `alloc_arena_ns`), and the model makes 3.73 weighted visits per pair of the
    /// steady loop (4.12 visits, about 90% of a 10 MiB heap outside a 1 MiB cache):
    /// (140 - 17.2) / 3.73 = 33.
    ///
    /// Why the cache's share: with one price per visit, whatever the heap, the model
    /// charged glibc on `sawtooth` (a heap of 1.8 MiB) 1.25 times the real time and on
    /// `churn` (3.6 MiB) 0.97 times, and a loop of 1000 `malloc(64)` then 1000 `free`
    /// (80 KiB, its 34,000 tcache refills all in the cache) 34 ns per pair against 8.4
    /// measured.
    pub alloc_step_ns: f64,
    /// The program's own writes into a block it allocated (the simulated program
    /// writes every byte it asks for, as `memset` would), per block written: the
    /// call and the first cache misses. `sim calibrate` fits it with `write_byte_ns`
    /// to the write time of blocks replaced among 4096 live ones, for two size mixes
    /// (the `churn` small objects and 4 to 16 KiB): a line through the two mixes'
    /// (mean size, write time) points. On the machine of the book's Appendix B, five
    /// calibrations in a quiet hour (2026-12-07) measured 11 to 24 ns (median 12.5) for
    /// a churn block of 939 bytes on average and 184 to 275 (median 215) for one of
    /// 10 KiB: a small block costs less per byte than a large one, the line through
    /// the two points meets zero at about 370 bytes, and the per-block part came out
    /// below zero each time, so it is 0 (a model choice: small blocks are charged a
    /// few ns too much, about 8 for a churn block). (An
    /// earlier C loop had found 12 + 0.05 per byte, while another tenant of the host
    /// was loading its memory: on such a day `sim calibrate` measured 0.10 to 0.14 ns
    /// per byte. The program's writes are the cost that contention moves most.)
    pub write_call_ns: f64,
    /// The program's writes, per byte. See `write_call_ns`: 0.0185 to 0.0269 in the
    /// five quiet calibrations, median 0.022 (45 GB/s: a block just freed and
    /// allocated again, as glibc's bins and tcache hand out, is mostly in the cache).
    pub write_byte_ns: f64,
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
            tlb_l2_hit_ns: 2.0,
            unmap_teardown_ns: 1950.0,
            fault_after_unmap_ns: 0.0,
            tlb_shootdown_ns: 11500.0,
            context_switch_ns: 1600.0,
            alloc_op_ns: 2.6,
            alloc_arena_ns: 6.0,
            alloc_step_ns: 33.0,
            write_call_ns: 0.0,
            write_byte_ns: 0.022,
        }
    }
}

/// Why a cost file could not be read: one line naming the cost concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostError(pub String);

impl std::fmt::Display for CostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CostError {}

/// The share of an allocator's visits to other chunks of a heap of `heap_bytes` that
/// miss a cache of `cache_bytes` ([`crate::KernelConfig::cache_bytes`]): 0 while the
/// heap fits, else `1 - cache_bytes / heap_bytes` (the cache holds that much of the
/// heap, and a visit lands anywhere in it). A model choice, first order only: a real
/// cache also holds the program's own data, and what it keeps depends on the order
/// of the accesses, not only on the heap's size.
pub fn cache_miss_share(heap_bytes: u64, cache_bytes: u64) -> f64 {
    if heap_bytes <= cache_bytes {
        0.0
    } else {
        1.0 - cache_bytes as f64 / heap_bytes as f64
    }
}

impl CostModel {
    /// The user-space time of writing `bytes` bytes into memory already mapped (the
    /// stores themselves; the faults they cause are charged separately). 0 for 0 bytes.
    pub fn write_ns(&self, bytes: u64) -> f64 {
        if bytes == 0 {
            return 0.0;
        }
        self.write_call_ns + bytes as f64 * self.write_byte_ns
    }

    /// Parses a cost model from JSON. Missing fields keep their defaults; unknown
    /// fields are an error, so a typo in a calibration file is not silently ignored.
    /// A file from before the teardown/shootdown split loads as it was meant: its
    /// `shootdown_ns` becomes `unmap_teardown_ns`, and the new fields take their
    /// defaults.
    ///
    /// The file is checked field by field, so that a mistake is named: it must be a
    /// JSON object (an array is not read by position), every key a cost of the model,
    /// every value a number of nanoseconds that is finite, not negative and at most
    /// [`CostModel::MAX_NS`] (one simulated second per event: more is a typo, and it
    /// would make a long run's total time overflow).
    pub fn from_json(text: &str) -> Result<CostModel, CostError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CostError(format!("not JSON: {e}")))?;
        let serde_json::Value::Object(fields) = &value else {
            return Err(CostError(
                "a cost model is a JSON object of named costs, such as {\"fault_ns\": 1240}"
                    .to_string(),
            ));
        };
        let known: Vec<String> = match serde_json::to_value(CostModel::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        for (key, v) in fields {
            if !known.contains(key) && key != "shootdown_ns" {
                return Err(CostError(format!(
                    "unknown cost `{key}` (the costs: {})",
                    known.join(", ")
                )));
            }
            let Some(ns) = v.as_f64() else {
                return Err(CostError(format!(
                    "cost `{key}`: {v} is not a number of ns"
                )));
            };
            if ns < 0.0 {
                return Err(CostError(format!("cost `{key}`: {v} is negative")));
            }
            if ns > Self::MAX_NS {
                return Err(CostError(format!(
                    "cost `{key}`: {v} ns is over the limit of {} ns (one second per event)",
                    Self::MAX_NS
                )));
            }
        }
        serde_json::from_value(value).map_err(|e| CostError(e.to_string()))
    }

    /// The largest cost of one event a cost file may give: one second. Real costs are
    /// microseconds; the limit keeps every sum of a run finite (a billion events of a
    /// second each is 1e18 ns), so tables, JSON and charts get numbers, not
    /// infinities. [`CostModel::validate`] holds a model built in code to it too.
    pub const MAX_NS: f64 = 1e9;

    /// Serializes the model as pretty JSON (field order is fixed, so output is stable).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("CostModel serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_an_old_file_loads_as_it_was_meant() {
        let c = CostModel::default();
        assert_eq!(CostModel::from_json(&c.to_json()).unwrap(), c);
        assert!(c.to_json().contains("\"unmap_teardown_ns\""));
        // Before the split, the teardown remainder was called `shootdown_ns`.
        let old = CostModel::from_json(r#"{ "shootdown_ns": 1234.0, "fault_ns": 800.0 }"#).unwrap();
        assert_eq!(old.unmap_teardown_ns, 1234.0);
        assert_eq!(
            old.tlb_shootdown_ns, c.tlb_shootdown_ns,
            "the new cost: its default"
        );
        assert_eq!(old.tlb_l2_hit_ns, c.tlb_l2_hit_ns);
        assert_eq!(old.fault_ns, 800.0);
        assert!(
            CostModel::from_json(r#"{ "shootdown": 1 }"#).is_err(),
            "typos fail"
        );
    }

    #[test]
    fn a_bad_cost_file_names_the_cost() {
        for (text, says) in [
            ("[1, 2, 3]", "JSON object"),
            ("[]", "JSON object"),
            ("17", "JSON object"),
            ("{", "not JSON"),
            (r#"{"fault_ns": -5}"#, "cost `fault_ns`: -5 is negative"),
            (r#"{"fault_ns": "fast"}"#, "is not a number"),
            (r#"{"fault_ns": 1e300}"#, "over the limit"),
            (r#"{"fault_nss": 3}"#, "unknown cost `fault_nss`"),
        ] {
            let e = CostModel::from_json(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(CostModel::from_json("{}").unwrap(), CostModel::default());
    }

    /// Found by the `cost_model` fuzz target: `{ "shootdown_ns": -1}` loaded, and a
    /// kernel then ran on the default instead of the number in the file.
    #[test]
    fn a_cost_the_model_cannot_use_is_an_error_not_a_silent_default() {
        for (text, key) in [
            (r#"{ "shootdown_ns": -1}"#, "shootdown_ns"),
            (r#"{ "fault_ns": -0.5 }"#, "fault_ns"),
            (r#"{ "alloc_op_ns": -1e-300 }"#, "alloc_op_ns"),
        ] {
            let e = CostModel::from_json(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("cost `{key}`")) && e.contains("is negative"),
                "{text}: {e}"
            );
        }
        assert!(
            CostModel::from_json(r#"{ "fault_ns": 0 }"#).is_ok(),
            "free is fine"
        );
    }

    /// Found by the `cost_model` fuzz target: `2E-24` loaded as 2e-24, `to_json` wrote
    /// `2e-24`, and that loaded as 2.0000000000000002e-24 (serde_json parses floats
    /// exactly only with its `float_roundtrip` feature), so a cost file written by
    /// `sim calibrate` did not load back to the model it was written from.
    #[test]
    fn every_cost_reads_back_exactly() {
        let text = r#"{ "munmap_ns": 2E-24, "mremap_ns": 0.003, "madvise_ns": 63E-4 }"#;
        let c = CostModel::from_json(text).unwrap();
        assert_eq!(c.munmap_ns, 2e-24);
        assert_eq!(CostModel::from_json(&c.to_json()).unwrap(), c);
        for v in [
            2e-24,
            0.1,
            1.0 / 3.0,
            123.456789,
            9.999999999999999e8,
            5e-324,
        ] {
            let c = CostModel {
                fault_ns: v,
                ..CostModel::default()
            };
            let back = CostModel::from_json(&c.to_json()).unwrap();
            assert_eq!(back.fault_ns.to_bits(), v.to_bits(), "{v:e}");
        }
    }

    /// Found by hand next to the `cost_model` fuzz finding above (the target checks it
    /// now): a cost of `1e308` ns was valid, and two such events made the ledger
    /// infinite (`sim` then failed to draw its cost chart). One second per event is
    /// the limit now.
    #[test]
    fn a_cost_above_a_second_per_event_is_refused() {
        let e = CostModel::from_json(r#"{ "mode_switch_ns": 1e308 }"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cost `mode_switch_ns`: 1e+308 ns is over the limit"),
            "{e}"
        );
        assert!(CostModel::from_json(r#"{ "tlb_shootdown_ns": 1e9 }"#).is_ok());
        assert!(CostModel::from_json(r#"{ "tlb_shootdown_ns": 1.5e9 }"#).is_err());
        let k = crate::KernelConfig {
            cost: CostModel {
                mode_switch_ns: 1e308,
                ..CostModel::default()
            },
            ..crate::KernelConfig::default()
        };
        assert!(k.validate().is_err());
        assert_eq!(
            k.normalized().cost,
            CostModel::default(),
            "Kernel::new's fallback"
        );
    }
}
