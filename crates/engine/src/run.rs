//! Running one workload through one allocator on a fresh simulated kernel.
//!
//! The loop is the simulated program: for every op it calls the allocator, then does
//! what the program would do with the memory (write every byte it got, by default),
//! and records what changed. Sampling happens every `sample_every` ops, at phase
//! markers and at the end; peaks are tracked at every op, so they never fall between
//! two samples.

use crate::oprow::{OpRow, Region};
use crate::summary::{Outcome, Summary};
use crate::timeline::{Sample, Source, Timeline};
use kernel::{Access, Addr, CostCategory, Kernel, KernelConfig, Syscall};
use malloc::{AllocError, Allocator, Block};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use workload::{BlockId, Op, TouchPolicy, Workload};

/// How a run is set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The simulated machine.
    pub kernel: KernelConfig,
    /// Sample the metrics every this many ops (0: choose so a run has about 1000
    /// samples).
    pub sample_every: u64,
    /// Record one [`OpRow`] per allocator call (for `--emit-ops`).
    pub rows: bool,
    /// Record a heap map (every block) at each sample, for heap-map charts of small
    /// runs. Costs memory proportional to blocks x samples.
    pub heap_maps: bool,
}

/// The blocks of a heap at one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSnapshot {
    /// Ops executed when the snapshot was taken.
    pub op: u64,
    /// The heap's start (the initial program break).
    pub heap_start: Addr,
    /// The program break then.
    pub brk: Addr,
    /// Every block, in address order.
    pub blocks: Vec<Block>,
}

/// Everything a run produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Peaks and totals.
    pub summary: Summary,
    /// Sampled metrics.
    pub timeline: Timeline,
    /// One row per allocator call, when asked for.
    pub rows: Vec<OpRow>,
    /// Heap maps at the samples, when asked for.
    pub heap_maps: Vec<HeapSnapshot>,
}

/// A run that could not be carried out: the workload or the allocator is broken (not
/// the same as running out of memory, which is an [`Outcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// An op names a block that is not live (validate workloads first).
    UnknownBlock {
        /// Index of the op.
        op: u64,
        /// The block id.
        id: BlockId,
    },
    /// An op allocates a block id that is still live.
    DuplicateBlock {
        /// Index of the op.
        op: u64,
        /// The block id.
        id: BlockId,
    },
    /// The allocator broke its contract (rejected its own pointer, returned memory it
    /// does not own...).
    Allocator {
        /// Index of the op.
        op: u64,
        /// The allocator's name.
        allocator: String,
        /// What happened.
        detail: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownBlock { op, id } => {
                write!(f, "op {op}: block {id} is not allocated")
            }
            RunError::DuplicateBlock { op, id } => {
                write!(f, "op {op}: block {id} is allocated twice")
            }
            RunError::Allocator {
                op,
                allocator,
                detail,
            } => write!(f, "op {op}: allocator {allocator} failed: {detail}"),
        }
    }
}

impl std::error::Error for RunError {}

/// A live block as the simulated program sees it.
#[derive(Copy, Clone, Debug)]
struct Live {
    ptr: Addr,
    size: u64,
}

/// Tracks peaks at every op.
#[derive(Default)]
struct Peaks {
    live: u64,
    footprint: u64,
    live_at_peak_footprint: u64,
    allocated: u64,
    rss: u64,
    mapped: u64,
    pt_bytes: u64,
}

/// Runs `workload` through `allocator` on a fresh kernel configured by `config`.
pub fn run(
    workload: &Workload,
    allocator: Box<dyn Allocator>,
    config: &RunConfig,
) -> Result<RunResult, RunError> {
    run_observed(workload, allocator, config, &mut |_| {})
}

/// What an observer of [`run_observed`] sees after each op.
pub struct Step<'a> {
    /// Index of the op.
    pub index: u64,
    /// The op.
    pub op: &'a Op,
    /// The pointer a malloc or realloc returned.
    pub ptr: Option<Addr>,
    /// The allocator after the op (for [`Allocator::describe`] or heap maps).
    pub allocator: &'a dyn Allocator,
    /// The kernel after the op.
    pub kernel: &'a Kernel,
}

/// Like [`run`], calling `observe` after every op that ran (the verbose mode of `sim`
/// prints the free list there).
pub fn run_observed(
    workload: &Workload,
    mut allocator: Box<dyn Allocator>,
    config: &RunConfig,
    observe: &mut dyn FnMut(&Step),
) -> Result<RunResult, RunError> {
    let mut kernel = Kernel::new(config.kernel.clone());
    let heap_start = kernel.program_break();
    let every = if config.sample_every > 0 {
        config.sample_every
    } else {
        (workload.ops.len() as u64 / 1000).max(1)
    };

    let mut blocks: BTreeMap<BlockId, Live> = BTreeMap::new();
    let mut live: u64 = 0;
    let mut peaks = Peaks::default();
    let mut timeline = Timeline {
        allocator: allocator.name().to_string(),
        source: Some(Source::Simulated),
        samples: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut heap_maps = Vec::new();
    let mut outcome = Outcome::Completed;
    let mut done: u64 = 0;
    let name = allocator.name().to_string();
    let broken = |op: u64, e: AllocError| RunError::Allocator {
        op,
        allocator: name.clone(),
        detail: e.to_string(),
    };

    sample(&kernel, allocator.as_ref(), 0, live, None, &mut timeline);
    for (i, op) in workload.ops.iter().enumerate() {
        let i = i as u64;
        let step = execute(
            op,
            workload,
            &mut kernel,
            allocator.as_mut(),
            &mut blocks,
            &mut live,
        );
        match step {
            Ok(Some((kind, id, size, ptr))) => {
                done += 1;
                observe(&Step {
                    index: i,
                    op,
                    ptr,
                    allocator: allocator.as_ref(),
                    kernel: &kernel,
                });
                if config.rows {
                    let stats = allocator.stats();
                    let region = match ptr {
                        None => Region::None,
                        Some(p) if p >= heap_start && p < kernel.program_break() => {
                            Region::Heap(p - heap_start)
                        }
                        Some(_) => Region::Mmap,
                    };
                    rows.push(OpRow {
                        op: i,
                        kind,
                        id,
                        size,
                        region,
                        arena: stats.arena,
                        hblks: stats.hblks,
                        hblkhd: stats.hblkhd,
                        uordblks: stats.uordblks,
                        fordblks: stats.fordblks,
                        keepcost: stats.keepcost,
                    });
                }
            }
            Ok(None) => observe(&Step {
                index: i,
                op,
                ptr: None,
                allocator: allocator.as_ref(),
                kernel: &kernel,
            }),
            Err(Stop::Oom(detail)) => {
                outcome = Outcome::OutOfMemory { op: i, detail };
            }
            Err(Stop::Segv(detail)) => {
                outcome = Outcome::Segv { op: i, detail };
            }
            Err(Stop::Broken(e)) => return Err(broken(i, e)),
            Err(Stop::Unknown(id)) => return Err(RunError::UnknownBlock { op: i, id }),
            Err(Stop::Duplicate(id)) => return Err(RunError::DuplicateBlock { op: i, id }),
        }
        track_peaks(&kernel, allocator.as_ref(), live, &mut peaks);
        let phase = match op {
            Op::Phase { name } => Some(name.clone()),
            _ => None,
        };
        let stopped = outcome != Outcome::Completed;
        if phase.is_some() || (i + 1).is_multiple_of(every) || stopped {
            sample(
                &kernel,
                allocator.as_ref(),
                i + 1,
                live,
                phase,
                &mut timeline,
            );
            if config.heap_maps {
                heap_maps.push(snapshot(&kernel, allocator.as_ref(), i + 1, heap_start));
            }
        }
        if stopped {
            break;
        }
    }
    let n = workload.ops.len() as u64;
    if timeline.samples.last().is_none_or(|s| s.op != n) && outcome == Outcome::Completed {
        sample(&kernel, allocator.as_ref(), n, live, None, &mut timeline);
        if config.heap_maps {
            heap_maps.push(snapshot(&kernel, allocator.as_ref(), n, heap_start));
        }
    }

    let summary = summarize(
        workload,
        allocator.as_ref(),
        &kernel,
        &peaks,
        live,
        done,
        outcome,
    );
    Ok(RunResult {
        summary,
        timeline,
        rows,
        heap_maps,
    })
}

/// Why the op loop stopped early.
enum Stop {
    Oom(String),
    Segv(String),
    Broken(AllocError),
    Unknown(BlockId),
    Duplicate(BlockId),
}

fn classify(e: AllocError) -> Stop {
    match e {
        AllocError::OutOfMemory { .. } => Stop::Oom(e.to_string()),
        AllocError::Fault(kernel::Fault::OutOfMemory { .. }) => Stop::Oom(e.to_string()),
        // A munmap refused with ENOMEM: splitting a VMA would pass vm.max_map_count.
        // The program's free cannot fail, so the memory is stuck: the kernel has run
        // out of something, as with an OOM.
        AllocError::Syscall(kernel::Errno::ENOMEM) => Stop::Oom(e.to_string()),
        AllocError::Fault(kernel::Fault::Segv { .. }) => Stop::Segv(e.to_string()),
        other => Stop::Broken(other),
    }
}

fn touch_fault(f: kernel::Fault) -> Stop {
    match f {
        kernel::Fault::OutOfMemory { .. } => Stop::Oom(f.to_string()),
        kernel::Fault::Segv { .. } => Stop::Segv(f.to_string()),
    }
}

/// What an allocator call leaves for the per-op row: kind, id, size, pointer.
type Call = (char, u64, u64, Option<Addr>);

/// Executes one op. Returns the row data for allocator calls.
fn execute(
    op: &Op,
    workload: &Workload,
    kernel: &mut Kernel,
    allocator: &mut dyn Allocator,
    blocks: &mut BTreeMap<BlockId, Live>,
    live: &mut u64,
) -> Result<Option<Call>, Stop> {
    let write_all = workload.touch == TouchPolicy::WriteAll;
    match *op {
        Op::Malloc { id, size } => {
            if blocks.contains_key(&id) {
                return Err(Stop::Duplicate(id));
            }
            let ptr = match workload.lifetimes.get(&id) {
                Some(&class) => allocator.malloc_hinted(kernel, size, class),
                None => allocator.malloc(kernel, size),
            }
            .map_err(classify)?;
            if write_all {
                kernel
                    .touch(ptr, size, Access::Write)
                    .map_err(touch_fault)?;
            }
            blocks.insert(id, Live { ptr, size });
            *live += size;
            Ok(Some(('a', id, size, Some(ptr))))
        }
        Op::Free { id } => {
            let b = blocks.remove(&id).ok_or(Stop::Unknown(id))?;
            allocator.free(kernel, b.ptr).map_err(classify)?;
            *live -= b.size;
            Ok(Some(('f', id, 0, None)))
        }
        Op::Realloc { id, size } => {
            let b = *blocks.get(&id).ok_or(Stop::Unknown(id))?;
            let ptr = allocator.realloc(kernel, b.ptr, size).map_err(classify)?;
            if write_all && size > b.size {
                kernel
                    .touch(ptr + b.size, size - b.size, Access::Write)
                    .map_err(touch_fault)?;
            }
            blocks.insert(id, Live { ptr, size });
            *live = *live - b.size + size;
            Ok(Some(('r', id, size, Some(ptr))))
        }
        Op::Touch {
            id,
            offset,
            len,
            write,
        } => {
            let b = *blocks.get(&id).ok_or(Stop::Unknown(id))?;
            let access = if write { Access::Write } else { Access::Read };
            kernel
                .touch(b.ptr + offset, len, access)
                .map_err(touch_fault)?;
            Ok(None)
        }
        Op::Trim { pad } => {
            allocator.trim(kernel, pad).map_err(classify)?;
            Ok(Some(('t', 0, pad, None)))
        }
        Op::Phase { .. } => Ok(None),
    }
}

fn track_peaks(kernel: &Kernel, allocator: &dyn Allocator, live: u64, peaks: &mut Peaks) {
    let stats = allocator.stats();
    let mem = kernel.mem();
    peaks.live = peaks.live.max(live);
    if stats.footprint > peaks.footprint {
        peaks.footprint = stats.footprint;
        peaks.live_at_peak_footprint = live;
    }
    peaks.allocated = peaks.allocated.max(stats.allocated);
    peaks.rss = peaks.rss.max(mem.rss);
    peaks.mapped = peaks.mapped.max(mem.mapped);
    peaks.pt_bytes = peaks.pt_bytes.max(mem.pt_bytes);
}

fn sample(
    kernel: &Kernel,
    allocator: &dyn Allocator,
    op: u64,
    live: u64,
    phase: Option<String>,
    timeline: &mut Timeline,
) {
    let stats = allocator.stats();
    let mem = kernel.mem();
    let c = kernel.counters();
    let mut syscalls = [0u64; 6];
    for (slot, call) in syscalls.iter_mut().zip(Syscall::ALL) {
        *slot = c.syscall(call);
    }
    timeline.samples.push(Sample {
        op,
        time_ns: kernel.ledger().total(),
        live,
        allocated: stats.allocated,
        footprint: stats.footprint,
        free_in_heap: stats.footprint.saturating_sub(stats.allocated),
        largest_free: stats.largest_free,
        mapped: mem.mapped,
        rss: mem.rss,
        pt_bytes: mem.pt_bytes,
        returned_brk: c.returned.brk,
        returned_munmap: c.returned.munmap,
        returned_madvise: c.returned.madvise,
        syscalls,
        minor_faults: c.minor_faults,
        tlb_misses: c.tlb_misses,
        phase,
    });
}

fn snapshot(kernel: &Kernel, allocator: &dyn Allocator, op: u64, heap_start: Addr) -> HeapSnapshot {
    let mut blocks = Vec::new();
    allocator.blocks(&mut blocks);
    HeapSnapshot {
        op,
        heap_start,
        brk: kernel.program_break(),
        blocks,
    }
}

/// Rounds to a fixed number of decimals so JSON output stays short and stable.
fn round(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// Fragmentation as a ratio of overhead to live bytes (0 when nothing was live).
fn frag(footprint: u64, live: u64) -> f64 {
    if live == 0 {
        0.0
    } else {
        round((footprint as f64 - live as f64) / live as f64, 4)
    }
}

fn summarize(
    workload: &Workload,
    allocator: &dyn Allocator,
    kernel: &Kernel,
    peaks: &Peaks,
    live: u64,
    done: u64,
    outcome: Outcome,
) -> Summary {
    let stats = allocator.stats();
    let c = kernel.counters();
    let ledger = kernel.ledger();
    let time_ns = ledger.total();
    Summary {
        allocator: allocator.name().to_string(),
        workload: workload.name.clone(),
        seed: workload.seed,
        outcome,
        ops: done,
        peak_live: peaks.live,
        peak_footprint: peaks.footprint,
        peak_allocated: peaks.allocated,
        peak_rss: peaks.rss,
        peak_mapped: peaks.mapped,
        peak_pt_bytes: peaks.pt_bytes,
        frag_max: frag(peaks.footprint, peaks.live),
        frag_peak: frag(peaks.footprint, peaks.live_at_peak_footprint),
        final_live: live,
        final_allocated: stats.allocated,
        final_footprint: stats.footprint,
        final_rss: kernel.mem().rss,
        syscalls: Syscall::ALL
            .iter()
            .map(|&s| (s.name().to_string(), c.syscall(s)))
            .collect(),
        minor_faults: c.minor_faults,
        tlb_misses: c.tlb_misses,
        returned: c.returned,
        returned_resident: c.returned_resident,
        time_ns: round(time_ns, 1),
        ns_per_op: if done == 0 {
            0.0
        } else {
            round(time_ns / done as f64, 2)
        },
        cost_ns: CostCategory::ALL
            .iter()
            .map(|&cat| (cat.name().to_string(), round(ledger.get(cat), 1)))
            .collect(),
    }
}
