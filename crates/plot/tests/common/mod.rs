//! Hand-built engine results for the chart tests: shaped like real runs (a ramp, a
//! trim, phases, munmaps) but independent of any allocator's behaviour.

#![allow(dead_code)]

use engine::{Sample, Source, Timeline};

/// A timeline of `n` samples, 100 ops apart, for allocator `name`. `variant` changes
/// the shape: 0 keeps memory in a brk heap (trims at the end), 1 maps and unmaps
/// (memory goes back at once), 2 never returns anything.
pub fn timeline(name: &str, n: usize, variant: u32) -> Timeline {
    let mut samples = Vec::with_capacity(n);
    let mut returned = [0u64; 3];
    let mut prev_footprint = 0u64;
    let mut faults = 0;
    for k in 0..n {
        let t = k as f64 / n.max(1) as f64;
        // Live rises for the first 60 %, then falls, with a wobble.
        let ramp = if t < 0.6 { t / 0.6 } else { (1.0 - t) / 0.4 };
        let wobble = ((k * 7919) % 97) as f64 / 97.0;
        let live = ((ramp * 3.0 + 0.1 * wobble) * 1024.0 * 1024.0) as u64;
        let allocated = live + live / 12 + 4096;
        let footprint = match variant {
            0 if t > 0.9 => allocated + 64 * 1024,
            0 => (allocated.max(prev_footprint)).next_multiple_of(132 * 1024),
            1 => allocated.next_multiple_of(4096),
            _ => allocated.max(prev_footprint).next_multiple_of(132 * 1024),
        };
        if footprint < prev_footprint {
            let mech = if variant == 1 { 1 } else { 0 };
            returned[mech] += prev_footprint - footprint;
        }
        if variant == 0 && k % 50 == 49 {
            returned[2] += 8192;
        }
        prev_footprint = footprint;
        faults += footprint / 4096 / 10;
        let mapped = footprint + 2 * 1024 * 1024;
        let rss = footprint - footprint / 10;
        let phase = if k + 1 == n * 6 / 10 {
            Some("grow".to_string())
        } else if k + 1 == n {
            Some("shrink".to_string())
        } else {
            None
        };
        samples.push(Sample {
            op: k as u64 * 100,
            time_ns: k as f64 * 1234.5,
            live,
            allocated,
            footprint,
            free_in_heap: footprint - allocated,
            largest_free: (footprint - allocated) / 2,
            mapped,
            rss,
            pt_bytes: 4096 * (1 + footprint / (2 << 20)),
            returned_brk: returned[0],
            returned_munmap: returned[1],
            returned_madvise: returned[2],
            syscalls: [
                k as u64 / 10,
                k as u64 / 3,
                k as u64 / 4,
                0,
                0,
                k as u64 / 50,
            ],
            minor_faults: faults,
            tlb_misses: faults * 3,
            phase,
        });
    }
    Timeline {
        allocator: name.to_string(),
        source: Some(Source::Simulated),
        samples,
    }
}

/// Three allocators' timelines of `n` samples.
pub fn three(n: usize) -> Vec<Timeline> {
    vec![
        timeline("glibc", n, 0),
        timeline("mmap", n, 1),
        timeline("first-fit", n, 2),
    ]
}

use engine::{HeapSnapshot, Outcome, Summary};
use kernel::{CostCategory, Returned, Syscall};
use malloc::{Block, BlockKind};
use std::collections::BTreeMap;

/// A summary for allocator `name`, scaled by `k` (so allocators differ).
pub fn summary(name: &str, k: f64) -> Summary {
    let cost_ns: BTreeMap<String, f64> = CostCategory::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = match c {
                CostCategory::ContextSwitch => 0.0,
                _ => (i as f64 + 1.0) * 1.0e5 * k,
            };
            (c.name().to_string(), v)
        })
        .collect();
    let syscalls: BTreeMap<String, u64> = Syscall::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.name().to_string(),
                ((i as f64 + 1.0) * 40.0 * k) as u64 * u64::from(i != 4),
            )
        })
        .collect();
    let time_ns: f64 = cost_ns.values().sum();
    Summary {
        allocator: name.to_string(),
        workload: "churn".to_string(),
        seed: Some(42),
        outcome: Outcome::Completed,
        ops: 10_000,
        peak_live: 1 << 20,
        peak_footprint: 2 << 20,
        peak_allocated: 3 << 19,
        peak_rss: 2 << 20,
        peak_mapped: 4 << 20,
        peak_pt_bytes: 16384,
        frag_max: 1.0,
        frag_peak: 1.0,
        final_live: 0,
        final_allocated: 0,
        final_footprint: 135_168,
        final_rss: 135_168,
        frees_refused: 0,
        syscalls,
        minor_faults: (600.0 * k) as u64,
        tlb_misses: 1000,
        returned: Returned::default(),
        returned_resident: Returned::default(),
        time_ns,
        ns_per_op: time_ns / 10_000.0,
        cost_ns,
    }
}

/// The heap start the snapshots use (glibc's usual on x86-64 without ASLR).
pub const HEAP_START: u64 = 0x5555_5555_9000;
/// Where the snapshots' mappings sit.
pub const MMAP_TOP: u64 = 0x7fff_f7ff_0000;

/// `n` heap snapshots of a small first-fit heap with holes forming and closing, a
/// metadata block at the start, a top chunk, and (when `with_mappings`) large blocks in
/// mappings of their own.
pub fn snapshots(n: usize, with_mappings: bool) -> Vec<HeapSnapshot> {
    // (size, used) in address order after the metadata block.
    let mut chunks: Vec<(u64, bool)> = Vec::new();
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    let mut next_map = MMAP_TOP;
    let mut out = Vec::new();
    for k in 0..n as u64 {
        for j in 0..4 {
            let step = k * 4 + j;
            if step % 3 == 2 {
                // Free a used chunk and merge free neighbours.
                let used: Vec<usize> = (0..chunks.len()).filter(|&i| chunks[i].1).collect();
                if !used.is_empty() {
                    let i = used[(step as usize * 7) % used.len()];
                    chunks[i].1 = false;
                    let mut merged: Vec<(u64, bool)> = Vec::new();
                    for c in chunks.drain(..) {
                        match merged.last_mut() {
                            Some(last) if !last.1 && !c.1 => last.0 += c.0,
                            _ => merged.push(c),
                        }
                    }
                    chunks = merged;
                }
            } else {
                let size = 32 + (step * 37 % 200) * 16;
                match chunks.iter().position(|c| !c.1 && c.0 >= size) {
                    Some(i) => {
                        let rest = chunks[i].0 - size;
                        chunks[i] = (size, true);
                        if rest > 0 {
                            chunks.insert(i + 1, (rest, false));
                        }
                    }
                    None => chunks.push((size, true)),
                }
            }
        }
        // The last free chunk at the end is the top: trim it when it grows large.
        if chunks.last().is_some_and(|last| !last.1 && last.0 > 16384) {
            chunks.pop();
        }
        if with_mappings && k % 5 == 0 {
            next_map -= 256 * 1024;
            mapped.push((next_map, 256 * 1024));
        }
        if with_mappings && k % 7 == 3 && !mapped.is_empty() {
            mapped.remove(0);
        }
        let mut blocks = vec![Block {
            addr: HEAP_START,
            size: 592,
            kind: BlockKind::Meta,
            mapped: false,
        }];
        let mut addr = HEAP_START + 592;
        let count = chunks.len();
        for (i, &(size, used)) in chunks.iter().enumerate() {
            let kind = if used {
                BlockKind::Used
            } else if i + 1 == count {
                BlockKind::Top
            } else if size <= 128 {
                BlockKind::Cached
            } else {
                BlockKind::Free
            };
            blocks.push(Block {
                addr,
                size,
                kind,
                mapped: false,
            });
            addr += size;
        }
        let brk = (addr + 4096).next_multiple_of(4096);
        blocks.push(Block {
            addr,
            size: brk - addr,
            kind: BlockKind::Top,
            mapped: false,
        });
        let mut maps: Vec<Block> = mapped
            .iter()
            .map(|&(a, s)| Block {
                addr: a,
                size: s,
                kind: BlockKind::Used,
                mapped: true,
            })
            .collect();
        maps.sort_by_key(|b| b.addr);
        blocks.extend(maps);
        // The program's id of each used block: its offset in 16-byte units, pointer
        // after a 16-byte header.
        let ids = blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Used)
            .map(|b| (b.addr + 16, (b.addr - HEAP_START.min(b.addr)) / 16))
            .collect();
        out.push(HeapSnapshot {
            op: k * 4,
            heap_start: HEAP_START,
            brk,
            blocks,
            ids,
        });
    }
    out
}

/// Cost-model points from 16 B to 16 MiB with a crossover near 128 KiB, and a
/// "measured" variant a little off the model.
pub fn cost_points(measured: bool) -> Vec<(u64, f64, f64)> {
    (4..=24)
        .map(|e| {
            let size = 1u64 << e;
            let pages = size.div_ceil(4096) as f64;
            let malloc =
                20.0 + 1.0e-3 * size as f64 + if size >= 32768 { pages * 400.0 } else { 0.0 };
            let mmap = 4500.0 + pages * 250.0;
            if measured {
                (size, malloc * 1.3, mmap * 0.8)
            } else {
                (size, malloc, mmap)
            }
        })
        .collect()
}
