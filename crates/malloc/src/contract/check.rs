//! The checks: the rules after every call, and "a refused call changes nothing".

use super::{Call, Contract, Live, Rule, Violation};
use crate::api::{Allocator, Block, BlockKind, HeapStats};
use kernel::{Addr, CostCategory, Counters, Ledger, MemStats, Prot, VmaInfo};

/// Everything "changes nothing" compares (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Snapshot {
    stats: HeapStats,
    blocks: Vec<Block>,
    describe: Option<String>,
    mem: MemStats,
    vmas: Vec<VmaInfo>,
    free_frames: u64,
    counters: Counters,
    ledger: Ledger,
}

impl<A: Allocator> Contract<A> {
    pub(super) fn snapshot(&self) -> Snapshot {
        let mut blocks = Vec::new();
        self.allocator.blocks(&mut blocks);
        let mut counters = self.kernel.counters().clone();
        counters.tlb_hits = 0;
        counters.tlb_misses = 0;
        counters.tlb_l2_hits = 0;
        let mut ledger = self.kernel.ledger().clone();
        ledger.ns[CostCategory::User as usize] = 0.0;
        ledger.ns[CostCategory::Tlb as usize] = 0.0;
        Snapshot {
            stats: self.allocator.stats(),
            blocks,
            describe: self.allocator.describe(),
            mem: self.kernel.mem(),
            vmas: self.kernel.vmas(),
            free_frames: self.kernel.phys().free_frames,
            counters,
            ledger,
        }
    }

    /// Checks a refused call against the state before it.
    pub(super) fn unchanged(&self, call: Call, before: &Snapshot) -> Result<(), Violation> {
        if !self.checked {
            return Ok(());
        }
        let after = self.snapshot();
        let what = if after.stats != before.stats {
            "allocator's statistics"
        } else if after.blocks != before.blocks {
            "heap map"
        } else if after.describe != before.describe {
            "allocator's description"
        } else if after.mem != before.mem || after.free_frames != before.free_frames {
            "kernel's memory figures"
        } else if after.vmas != before.vmas {
            "VMAs"
        } else if after.counters != before.counters {
            "kernel's event counters"
        } else if after.ledger != before.ledger {
            "kernel's cost ledger"
        } else {
            return Ok(());
        };
        Err(self.violation(call, Rule::RefusalChanged { what }))
    }

    /// Checks every rule after `call` (rules 1 to 3, 10, then 4 to 6 of the module
    /// documentation).
    pub(super) fn check_as(&self, call: Call) -> Result<(), Violation> {
        let fail = |rule| Err(self.violation(call, rule));
        let vmas = self.kernel.vmas();
        // 1-3: the live blocks.
        let mut prev: Option<Live> = None;
        for &b in self.live.values() {
            if !b.ptr.is_multiple_of(self.align) {
                return fail(Rule::Misaligned {
                    block: b,
                    align: self.align,
                });
            }
            if !covered(&vmas, b.ptr, b.end(), true) {
                return fail(Rule::OutsideMemory { block: b });
            }
            if let Some(p) = prev
                && p.end() > b.ptr
            {
                return fail(Rule::Overlap {
                    first: p,
                    second: b,
                });
            }
            prev = Some(b);
        }
        // 10: the allocator's own checker, before the rules that read its heap map,
        // since it says best what is wrong with the heap.
        if let Some(check) = self.heap_check
            && let Err(message) = check(&self.allocator, &self.kernel)
        {
            return fail(Rule::HeapCheck { message });
        }
        // 4: the heap map.
        let mut map = Vec::new();
        self.allocator.blocks(&mut map);
        let mut end = 0;
        for b in &map {
            let problem = if b.size == 0 {
                "is empty"
            } else if b.addr < end {
                "overlaps the block before it or is out of order"
            } else if !covered(&vmas, b.addr, b.addr.saturating_add(b.size), false) {
                "is not mapped"
            } else {
                ""
            };
            if !problem.is_empty() {
                return fail(Rule::BadMap { block: *b, problem });
            }
            end = b.addr.saturating_add(b.size);
        }
        // 5: live blocks <-> used blocks. `holder[i]`: the live block in map block i.
        let mut holder: Vec<Option<Live>> = vec![None; map.len()];
        for &b in self.live.values() {
            let i = map.partition_point(|m| m.addr <= b.ptr);
            let used = i.checked_sub(1).filter(|&i| {
                let m = map[i];
                m.kind == BlockKind::Used
                    && b.end() <= m.addr.saturating_add(m.size).saturating_add(self.overhang)
            });
            let Some(used) = used else {
                return fail(Rule::NotInMap { block: b });
            };
            if let Some(first) = holder[used].replace(b) {
                return fail(Rule::SharedUsedBlock { first, second: b });
            }
        }
        if let Some((b, _)) = map
            .iter()
            .zip(&holder)
            .find(|(m, h)| m.kind == BlockKind::Used && h.is_none())
        {
            return fail(Rule::UsedButNotLive { block: *b });
        }
        // 6: the statistics.
        if let Some(detail) = self.accounting(&map) {
            return fail(Rule::Accounting { detail });
        }
        Ok(())
    }

    /// What is wrong with the statistics, if anything (rule 6).
    pub(super) fn accounting(&self, map: &[Block]) -> Option<String> {
        let s = self.allocator.stats();
        // Saturating sums: a broken allocator's absurd map must not crash the checker.
        let sum = |kinds: &[BlockKind]| -> u64 {
            map.iter()
                .filter(|b| kinds.contains(&b.kind))
                .fold(0u64, |n, b| n.saturating_add(b.size))
        };
        use BlockKind::{Cached, Free, Meta, Top, Used};
        let total = map.iter().fold(0u64, |n, b| n.saturating_add(b.size));
        let mapped = self.kernel.mem().mapped.saturating_sub(self.mapped_before);
        let (used, meta) = (sum(&[Used]), sum(&[Meta]));
        let (free, cached, top) = (sum(&[Free, Top]), sum(&[Cached]), sum(&[Top]));
        let largest = map
            .iter()
            .filter(|b| matches!(b.kind, Free | Top | Cached))
            .map(|b| b.size)
            .max()
            .unwrap_or(0);
        let problem = if s.footprint != total {
            format!(
                "footprint is {} bytes, the heap map's blocks {total}",
                s.footprint
            )
        } else if s.footprint != mapped {
            format!(
                "footprint is {} bytes, the kernel has mapped {mapped} for the allocator",
                s.footprint
            )
        } else if s.arena.saturating_add(s.hblkhd) > s.footprint {
            format!(
                "arena {} + hblkhd {} exceed the footprint {}",
                s.arena, s.hblkhd, s.footprint
            )
        } else if s.allocated < used || s.allocated > used.saturating_add(meta) {
            format!(
                "allocated is {} bytes, the map's used blocks {used} (and meta {meta})",
                s.allocated
            )
        } else if s.fordblks < free || s.fordblks > free.saturating_add(cached) {
            format!(
                "fordblks is {} bytes, the map's free and top blocks {free} (and cached {cached})",
                s.fordblks
            )
        } else if s.keepcost > top {
            format!("keepcost is {} bytes, the map's top {top}", s.keepcost)
        } else if s.largest_free > largest {
            format!(
                "largest_free is {} bytes, the map's largest free block {largest}",
                s.largest_free
            )
        } else {
            return None;
        };
        Some(problem)
    }
}

/// True when every byte of `[start, end)` lies in `vmas` (sorted), read-write ones if
/// `rw`.
pub(super) fn covered(vmas: &[VmaInfo], start: Addr, end: Addr, rw: bool) -> bool {
    let mut at = start;
    let i = vmas.partition_point(|v| v.end <= at);
    for v in &vmas[i..] {
        if v.start > at || (rw && !v.prot.contains(Prot::RW)) {
            return false;
        }
        at = v.end;
        if at >= end {
            return true;
        }
    }
    false
}
