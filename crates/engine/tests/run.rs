//! The engine's contract, checked with a tiny bump allocator that lives in this test.

use engine::{Outcome, Region, RunConfig, RunError, run};
use kernel::{Addr, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot, Syscall};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use std::collections::BTreeMap;
use workload::{Op, TouchPolicy, Workload};

/// Bump allocation over brk, with blocks of 64 KiB or more in their own mapping. Never
/// reuses memory: simple enough that every expected number below is computed by hand.
#[derive(Default)]
struct Bump {
    start: Addr,
    next: Addr,
    live: BTreeMap<Addr, (u64, bool)>,
}

impl Allocator for Bump {
    fn name(&self) -> &str {
        "bump"
    }
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let len = size.max(16).next_multiple_of(16);
        if len >= 65536 {
            let p = k
                .mmap(0, len, Prot::RW, MapFlags::NONE)
                .map_err(|_| AllocError::OutOfMemory { size })?;
            self.live.insert(p, (len, true));
            return Ok(p);
        }
        if self.start == 0 {
            self.start = k.sbrk(0).unwrap();
            self.next = self.start;
        }
        let end = k.program_break();
        if self.next + len > end {
            let grow = (self.next + len - end).next_multiple_of(PAGE_SIZE);
            k.sbrk(grow as i64)
                .map_err(|_| AllocError::OutOfMemory { size })?;
        }
        let p = self.next;
        self.next += len;
        self.live.insert(p, (len, false));
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        let (len, mapped) = self
            .live
            .remove(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        if mapped {
            k.munmap(ptr, len).map_err(AllocError::Syscall)?;
        }
        Ok(())
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let p = self.malloc(k, size)?;
        self.free(k, ptr)?;
        Ok(p)
    }
    fn stats(&self) -> HeapStats {
        let arena = self.next - self.start;
        let heap_used: u64 = self.live.values().filter(|v| !v.1).map(|v| v.0).sum();
        let mapped: u64 = self.live.values().filter(|v| v.1).map(|v| v.0).sum();
        HeapStats {
            arena,
            hblks: self.live.values().filter(|v| v.1).count() as u64,
            hblkhd: mapped,
            uordblks: heap_used,
            fordblks: arena - heap_used,
            keepcost: 0,
            allocated: heap_used + mapped,
            footprint: arena + mapped,
            largest_free: 0,
        }
    }
    fn blocks(&self, out: &mut Vec<Block>) {
        for (&addr, &(size, mapped)) in &self.live {
            out.push(Block {
                addr,
                size,
                kind: BlockKind::Used,
                mapped,
            });
        }
    }
}

fn workload(ops: Vec<Op>) -> Workload {
    Workload {
        name: "test".into(),
        seed: Some(1),
        touch: TouchPolicy::WriteAll,
        ops,
        lifetimes: BTreeMap::new(),
        calls: BTreeMap::new(),
    }
}

fn m(id: u64, size: u64) -> Op {
    Op::Malloc { id, size }
}
fn f(id: u64) -> Op {
    Op::Free { id }
}

#[test]
fn live_bytes_peaks_and_fragmentation_follow_the_ops() {
    let w = workload(vec![m(0, 100), m(1, 1000), f(0), m(2, 50), f(1), f(2)]);
    let r = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap();
    let s = &r.summary;
    assert_eq!(s.outcome, Outcome::Completed);
    assert_eq!(s.ops, 6);
    assert_eq!(s.peak_live, 1100);
    assert_eq!(s.final_live, 0);
    // The bump heap grows to 112 + 1008 + 64 = 1184 bytes, never shrinks.
    assert_eq!(s.peak_footprint, 1184);
    let expect = (1184.0 - 1100.0) / 1100.0;
    assert!((s.frag_max - expect).abs() < 1e-4, "{}", s.frag_max);
    // Every written byte lives in the first heap page.
    assert_eq!(s.minor_faults, 1);
    assert_eq!(s.peak_rss, PAGE_SIZE);
    assert_eq!(s.syscall(Syscall::Brk), 1);
}

#[test]
fn write_all_faults_every_page_of_a_mapped_block_and_munmap_returns_it() {
    let w = workload(vec![m(0, 20 * PAGE_SIZE), f(0)]);
    let r = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap();
    assert_eq!(r.summary.minor_faults, 20);
    assert_eq!(r.summary.peak_rss, 20 * PAGE_SIZE);
    assert_eq!(r.summary.final_rss, 0);
    assert_eq!(r.summary.returned.munmap, 20 * PAGE_SIZE);
}

#[test]
fn touch_policy_none_leaves_memory_untouched() {
    let mut w = workload(vec![m(0, 10 * PAGE_SIZE)]);
    w.touch = TouchPolicy::None;
    let r = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap();
    assert_eq!(r.summary.minor_faults, 0);
    assert_eq!(r.summary.peak_rss, 0);
}

#[test]
fn rows_say_heap_with_offset_or_mmap() {
    let w = workload(vec![m(0, 100), m(1, 1 << 20), f(0)]);
    let cfg = RunConfig {
        rows: true,
        ..RunConfig::default()
    };
    let r = run(&w, Box::new(Bump::default()), &cfg).unwrap();
    assert_eq!(r.rows.len(), 3);
    assert_eq!(r.rows[0].region, Region::Heap(0));
    assert_eq!(r.rows[1].region, Region::Mmap);
    assert_eq!(r.rows[2].region, Region::None);
    assert_eq!(r.rows[2].kind, 'f');
    let mut csv = String::new();
    r.rows[0].write_csv(&mut csv);
    assert_eq!(csv, "0,a,0,100,heap,0,112,0,0,112,0,0\n");
}

#[test]
fn samples_are_taken_at_the_interval_at_phases_and_at_the_end() {
    let mut ops = Vec::new();
    for i in 0..10 {
        ops.push(m(i, 32));
    }
    ops.insert(3, Op::Phase { name: "mid".into() });
    let w = workload(ops);
    let cfg = RunConfig {
        sample_every: 4,
        ..RunConfig::default()
    };
    let r = run(&w, Box::new(Bump::default()), &cfg).unwrap();
    let at: Vec<u64> = r.timeline.samples.iter().map(|s| s.op).collect();
    // The phase marker is op 3, so its sample (after 4 ops) is also the interval's.
    assert_eq!(at, vec![0, 4, 8, 11]);
    assert_eq!(r.timeline.samples[1].phase.as_deref(), Some("mid"));
    assert_eq!(r.timeline.samples.last().unwrap().live, 320);
}

#[test]
fn running_out_of_physical_memory_is_an_outcome_not_an_error() {
    let w = workload(vec![m(0, 1 << 20), m(1, 1 << 20), m(2, 1 << 20)]);
    let cfg = RunConfig {
        kernel: KernelConfig {
            phys_bytes: 1536 * 1024,
            ..KernelConfig::default()
        },
        ..RunConfig::default()
    };
    let r = run(&w, Box::new(Bump::default()), &cfg).unwrap();
    match r.summary.outcome {
        Outcome::OutOfMemory { op, .. } => assert_eq!(op, 1),
        ref other => panic!("expected an OOM outcome, got {other:?}"),
    }
}

#[test]
fn broken_streams_are_errors_naming_the_op() {
    let w = workload(vec![m(0, 8), f(1)]);
    let e = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap_err();
    assert_eq!(e, RunError::UnknownBlock { op: 1, id: 1 });
    assert_eq!(e.to_string(), "op 1: block 1 is not allocated");
    let w = workload(vec![m(0, 8), m(0, 8)]);
    let e = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap_err();
    assert_eq!(e, RunError::DuplicateBlock { op: 1, id: 0 });
}

#[test]
fn the_same_inputs_give_the_same_result() {
    let ops: Vec<Op> = (0..200)
        .flat_map(|i| {
            if i % 3 == 2 {
                vec![m(i, 40 + i * 7), f(i)]
            } else {
                vec![m(i, 40 + i * 7)]
            }
        })
        .collect();
    let w = workload(ops);
    let a = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap();
    let b = run(&w, Box::new(Bump::default()), &RunConfig::default()).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a.summary).unwrap(),
        serde_json::to_string(&b.summary).unwrap()
    );
}

#[test]
fn a_free_refused_at_the_vma_limit_is_a_leak_and_the_run_goes_on() {
    // 64 KiB blocks get their own mappings, which merge into one VMA; freeing every
    // other one splits it until vm.max_map_count refuses the next munmap. As with
    // glibc's free (munmap_chunk ignores munmap's result), the program goes on and
    // the mapping stays: a leak.
    let mut ops: Vec<Op> = (0..40).map(|i| m(i, 65536)).collect();
    ops.extend((0..40).step_by(2).map(f));
    let w = workload(ops);
    let cfg = RunConfig {
        kernel: KernelConfig {
            max_map_count: 8,
            ..KernelConfig::default()
        },
        ..RunConfig::default()
    };
    let r = run(&w, Box::new(Bump::default()), &cfg).unwrap();
    assert_eq!(r.summary.outcome, Outcome::Completed);
    assert_eq!(r.summary.ops, 60, "every call ran, the refused frees too");
    assert!(r.summary.frees_refused > 0);
    assert_eq!(
        r.summary.syscall(Syscall::Munmap),
        20,
        "every free called munmap, refused or not"
    );
    assert_eq!(
        r.summary.final_live,
        20 * 65536,
        "the program let go of every block"
    );
    assert_eq!(
        r.timeline.samples.last().unwrap().mapped,
        (20 + r.summary.frees_refused) * 65536,
        "the held blocks and the refused ones stay mapped"
    );
}

#[test]
fn heap_maps_name_the_block_each_pointer_belongs_to_and_observers_see_the_program() {
    let w = workload(vec![m(7, 32), m(3, 100_000), m(9, 48), f(7)]);
    let config = RunConfig {
        sample_every: 1,
        heap_maps: true,
        ..RunConfig::default()
    };
    let mut live_seen = Vec::new();
    let r = engine::run_observed(&w, Box::new(Bump::default()), &config, &mut |step| {
        live_seen.push((step.blocks.len(), step.blocks.live()));
    })
    .unwrap();
    // After op 3 (ops executed: 3) the program holds 7, 3 and 9; after the free, 3 and 9.
    let at = |op: u64| r.heap_maps.iter().find(|s| s.op == op).unwrap();
    let ids = |op: u64| at(op).ids.iter().map(|p| p.1).collect::<Vec<_>>();
    // In pointer order: the two heap blocks (7 below 9), then the mapping far above.
    assert_eq!(ids(3), [7, 9, 3]);
    assert_eq!(ids(4), [9, 3]);
    for s in &r.heap_maps {
        for &(ptr, _) in &s.ids {
            assert!(
                s.blocks
                    .iter()
                    .any(|b| b.kind == BlockKind::Used && b.addr <= ptr && ptr < b.addr + b.size),
                "pointer {ptr:#x} lies in a used block"
            );
        }
    }
    assert_eq!(
        live_seen,
        [(1, 32), (2, 100_032), (3, 100_080), (2, 100_048)]
    );
}
