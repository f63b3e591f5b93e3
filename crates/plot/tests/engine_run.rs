//! Charts of genuine engine results: a workload with phases run through the engine with
//! a small first-fit allocator that lives in this test (the real allocators are other
//! crates' business), so the charts see what `sim` will hand them: a first sample of
//! zeros, phase samples, heap maps, a summary.

mod xml;

use engine::{RunConfig, RunResult, run};
use kernel::{Addr, Advice, Kernel, MapFlags, PAGE_SIZE, Prot};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use plot::{ChartTitle, Style};
use std::collections::BTreeMap;
use workload::{Op, TouchPolicy, Workload};

/// Blocks this large get a mapping of their own.
const MMAP_THRESHOLD: u64 = 128 * 1024;
/// A free chunk this large has its whole pages given back with madvise.
const RELEASE_THRESHOLD: u64 = 64 * 1024;

/// First fit over an address-ordered list of chunks in the brk heap, 16-byte headers,
/// immediate coalescing, large free chunks' pages released with madvise (as
/// `malloc_trim` does inside the heap); large blocks in their own mappings.
#[derive(Default)]
struct FirstFit {
    start: Addr,
    /// Chunk start -> (size, used).
    chunks: BTreeMap<Addr, (u64, bool)>,
    /// Mapping start -> length.
    maps: BTreeMap<Addr, u64>,
}

impl FirstFit {
    fn end(&self) -> Addr {
        self.chunks
            .iter()
            .next_back()
            .map_or(self.start, |(a, c)| a + c.0)
    }

    /// Marks the chunk at `at` free and merges it with free neighbours; returns the
    /// merged chunk's start.
    fn merge(&mut self, at: Addr) -> Addr {
        let (mut start, (mut size, _)) = (at, self.chunks[&at]);
        let before = self.chunks.range(..at).next_back().map(|(&p, &c)| (p, c));
        if let Some((p, (ps, false))) = before.filter(|&(p, (ps, _))| p + ps == at) {
            self.chunks.remove(&at);
            start = p;
            size += ps;
        }
        let next = start + size;
        if let Some(&(ns, false)) = self.chunks.get(&next) {
            self.chunks.remove(&next);
            size += ns;
        }
        self.chunks.insert(start, (size, false));
        start
    }
}

impl Allocator for FirstFit {
    fn name(&self) -> &str {
        "first-fit (test)"
    }

    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        k.charge_user(3.0);
        let len = (size + 16).max(32).next_multiple_of(16);
        if len >= MMAP_THRESHOLD {
            let len = len.next_multiple_of(PAGE_SIZE);
            let p = k
                .mmap(0, len, Prot::RW, MapFlags::NONE)
                .map_err(|_| AllocError::OutOfMemory { size })?;
            self.maps.insert(p, len);
            return Ok(p + 16);
        }
        if self.start == 0 {
            self.start = k.program_break();
        }
        let fit = self
            .chunks
            .iter()
            .find(|(_, c)| !c.1 && c.0 >= len)
            .map(|(&a, &c)| (a, c.0));
        let (at, have) = match fit {
            Some(f) => f,
            None => {
                // Grow the heap; a free chunk at the end grows with it.
                let last_free = self
                    .chunks
                    .iter()
                    .next_back()
                    .filter(|(_, c)| !c.1)
                    .map(|(&a, &c)| (a, c.0));
                let need = len - last_free.map_or(0, |f| f.1);
                let grow = need.next_multiple_of(PAGE_SIZE);
                let old = k
                    .sbrk(grow as i64)
                    .map_err(|_| AllocError::OutOfMemory { size })?;
                match last_free {
                    Some((a, s)) => {
                        self.chunks.insert(a, (s + grow, false));
                        (a, s + grow)
                    }
                    None => {
                        self.chunks.insert(old, (grow, false));
                        (old, grow)
                    }
                }
            }
        };
        if have - len >= 32 {
            self.chunks.insert(at, (len, true));
            self.chunks.insert(at + len, (have - len, false));
        } else {
            self.chunks.insert(at, (have, true));
        }
        Ok(at + 16)
    }

    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        k.charge_user(3.0);
        let at = ptr - 16;
        if let Some(len) = self.maps.remove(&at) {
            return k.munmap(at, len).map_err(AllocError::Syscall);
        }
        match self.chunks.get(&at) {
            Some(&(_, true)) => {}
            _ => return Err(AllocError::InvalidPointer { ptr }),
        }
        let merged = self.merge(at);
        let (start, size) = (merged, self.chunks[&merged].0);
        if size >= RELEASE_THRESHOLD {
            // Whole pages strictly inside the chunk (its header page stays).
            let first = (start + 16).next_multiple_of(PAGE_SIZE);
            let end = (start + size) / PAGE_SIZE * PAGE_SIZE;
            if end > first {
                k.madvise(first, end - first, Advice::DontNeed)
                    .map_err(AllocError::Syscall)?;
            }
        }
        Ok(())
    }

    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let p = self.malloc(k, size)?;
        self.free(k, ptr)?;
        Ok(p)
    }

    fn stats(&self) -> HeapStats {
        let arena = self.end() - self.start.min(self.end());
        let used: u64 = self.chunks.values().filter(|c| c.1).map(|c| c.0).sum();
        let mapped: u64 = self.maps.values().sum();
        HeapStats {
            arena,
            hblks: self.maps.len() as u64,
            hblkhd: mapped,
            uordblks: used,
            fordblks: arena - used,
            keepcost: 0,
            allocated: used + mapped,
            footprint: arena + mapped,
            largest_free: self
                .chunks
                .values()
                .filter(|c| !c.1)
                .map(|c| c.0)
                .max()
                .unwrap_or(0),
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let last = self.chunks.keys().next_back().copied();
        for (&addr, &(size, used)) in &self.chunks {
            let kind = match (used, Some(addr) == last) {
                (true, _) => BlockKind::Used,
                (false, true) => BlockKind::Top,
                (false, false) => BlockKind::Free,
            };
            out.push(Block {
                addr,
                size,
                kind,
                mapped: false,
            });
        }
        for (&addr, &size) in &self.maps {
            out.push(Block {
                addr,
                size,
                kind: BlockKind::Used,
                mapped: true,
            });
        }
    }
}

/// A three-phase workload: grow a heap of mixed sizes (some large), free every other
/// block (holes), then allocate again into the holes and free almost everything.
fn workload() -> Workload {
    let mut ops = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let size = |r: u64| {
        if r.trailing_zeros() >= 5 {
            200_000 + r % 100_000
        } else {
            16 + r % 2000
        }
    };
    for id in 0..600 {
        ops.push(Op::Malloc {
            id,
            size: size(next()),
        });
    }
    ops.push(Op::Phase {
        name: "grow".into(),
    });
    for id in (0..600).step_by(2) {
        ops.push(Op::Free { id });
    }
    ops.push(Op::Phase {
        name: "punch holes".into(),
    });
    for id in 600..900 {
        ops.push(Op::Malloc {
            id,
            size: size(next()) / 2,
        });
    }
    ops.push(Op::Phase {
        name: "refill".into(),
    });
    for id in (1..600).step_by(2).chain(600..899) {
        ops.push(Op::Free { id });
    }
    ops.push(Op::Phase {
        name: "drain".into(),
    });
    Workload {
        name: "holes".into(),
        seed: Some(1),
        touch: TouchPolicy::WriteAll,
        ops,
        lifetimes: BTreeMap::new(),
        calls: BTreeMap::new(),
    }
}

fn result() -> RunResult {
    let config = RunConfig {
        sample_every: 10,
        heap_maps: true,
        ..RunConfig::default()
    };
    run(&workload(), Box::new(FirstFit::default()), &config)
        .expect("the test allocator keeps its contract")
}

#[test]
fn charts_of_an_engine_run_are_well_formed_and_labelled() {
    let r = result();
    let style = Style::default();
    let title = ChartTitle::from_summaries(std::slice::from_ref(&r.summary), "default");
    let timelines = [r.timeline.clone()];
    let charts = [
        (
            "timeline",
            plot::timeline_chart(&title, &timelines, &style).unwrap(),
        ),
        (
            "fragmentation",
            plot::fragmentation_chart(&title, &timelines, &style).unwrap(),
        ),
        (
            "returned",
            plot::returned_chart(&title, &timelines, &style).unwrap(),
        ),
        (
            "cost",
            plot::cost_chart(&title, std::slice::from_ref(&r.summary), &style).unwrap(),
        ),
        (
            "heapmap",
            plot::heap_map_chart(&title, &r.summary.allocator, &r.heap_maps, &style).unwrap(),
        ),
    ];
    for (name, svg) in &charts {
        let doc = xml::check(svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            doc.has_text("workload holes (seed 1)"),
            "{name}: {:?}",
            doc.texts
        );
        assert!(doc.has_text("first-fit (test)"), "{name}");
    }
    let timeline = xml::check(&charts[0].1).unwrap();
    for phase in ["grow", "punch holes", "refill", "drain"] {
        assert!(timeline.has_text(phase), "phase {phase} not labelled");
    }
    // The run released free pages and unmapped large blocks: both show as returned.
    assert!(r.summary.returned.madvise > 0 && r.summary.returned.munmap > 0);
    let returned = xml::check(&charts[2].1).unwrap();
    assert!(!returned.has_text("nothing returned"));
    let heap = xml::check(&charts[4].1).unwrap();
    for kind in ["used (brk heap)", "free", "top chunk", "used (own mapping)"] {
        assert!(heap.has_text(kind), "heap map lacks {kind}");
    }
    if let Some(dir) = std::env::var_os("BRKMAP_PLOT_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, svg) in &charts {
            std::fs::write(dir.join(format!("engine-{name}.svg")), svg).unwrap();
        }
    }
}
